//! The batch framing, `dossier-batch/1` (docs/FORMAT.md §7.2): how one sealed batch of records
//! is carried as one blob — a broker message, a database row, a stretch of an export file.
//!
//! A framed batch is its records' exact stored bytes, in order, each preceded by its length as
//! an unsigned 32-bit big-endian integer, and nothing else:
//!
//! ```text
//! framed batch = entry{1..=1000}
//! entry        = length (4 bytes, big-endian, 1..=262,144) || record bytes (length bytes)
//! ```
//!
//! The last entry is the batch's seal. A framed batch is at most [`MAX_FRAMED_BATCH_BYTES`],
//! so that every batch of every ledger fits one message of a NATS server with the default
//! 1 MiB payload limit, with room for headers. The framing carries no sequence numbers, counts
//! or hashes of its own: the carrier records the first record's position, the count and the
//! seal's hash beside the blob, and [`Frames`] checks a blob against them. The records
//! themselves are then verified as any records are (§6): the framing changes how a batch is
//! carried, never its bytes, hashes, seals or chain.

use std::fmt;

use crate::hash::Hash;
use crate::record::{MAX_BATCH_RECORDS, MAX_RECORD_BYTES};

/// The version of the framing defined here.
pub const BATCH_FRAMING: &str = "dossier-batch/1";

/// The largest framed batch, in bytes: 1 MiB less 8 KiB left for a carrier's headers.
pub const MAX_FRAMED_BATCH_BYTES: usize = 1024 * 1024 - 8 * 1024;

/// Bytes of framing per record.
pub const ENTRY_OVERHEAD: usize = 4;

/// What is wrong with a framed batch, and at which entry (0-based; the record at position
/// `first + index` of the batch, where the carrier says the batch starts at `first`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    /// The entry where the framing fails.
    pub index: usize,
    /// What fails there.
    pub kind: FrameErrorKind,
}

/// The ways a framed batch can be wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameErrorKind {
    /// The blob holds no entry.
    Empty,
    /// The blob ends inside an entry's length or its bytes (a truncated blob, or a record that
    /// went on in another blob): `missing` bytes more were announced.
    Truncated {
        /// Bytes announced but not there.
        missing: usize,
    },
    /// An entry's length is 0 or above the record limit (262,144 bytes).
    BadLength {
        /// The length the entry announces.
        length: u32,
    },
    /// The blob holds more entries than a batch may (1,000), or than the carrier said.
    TooManyRecords {
        /// The most it may hold.
        limit: usize,
    },
    /// The blob holds fewer entries than the carrier said.
    TooFewRecords {
        /// Entries found.
        found: usize,
        /// Entries the carrier said.
        declared: usize,
    },
    /// The last entry does not hash to the seal hash the carrier recorded.
    SealMismatch {
        /// The hash of the last entry.
        found: Hash,
        /// The hash the carrier recorded.
        declared: Hash,
    },
    /// The blob is larger than [`MAX_FRAMED_BATCH_BYTES`].
    TooLarge {
        /// Its size.
        bytes: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.index;
        match &self.kind {
            FrameErrorKind::Empty => write!(f, "the framed batch holds no record"),
            FrameErrorKind::Truncated { missing } => write!(
                f,
                "record {i} of the framed batch is cut short: {missing} more byte(s) were announced"
            ),
            FrameErrorKind::BadLength { length } => write!(
                f,
                "record {i} of the framed batch announces {length} bytes (1..={MAX_RECORD_BYTES} allowed)"
            ),
            FrameErrorKind::TooManyRecords { limit } => write!(
                f,
                "the framed batch holds more than {limit} record(s): record {i} is one too many"
            ),
            FrameErrorKind::TooFewRecords { found, declared } => write!(
                f,
                "the framed batch holds {found} record(s), its carrier says {declared}"
            ),
            FrameErrorKind::SealMismatch { found, declared } => write!(
                f,
                "the framed batch's last record hashes to {found}, its carrier recorded seal {declared}"
            ),
            FrameErrorKind::TooLarge { bytes } => write!(
                f,
                "the framed batch is {bytes} bytes, more than the {MAX_FRAMED_BATCH_BYTES} allowed"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// The size of the framed batch of records of these sizes.
#[must_use]
pub fn framed_len(record_sizes: impl IntoIterator<Item = usize>) -> usize {
    record_sizes.into_iter().map(|n| n + ENTRY_OVERHEAD).sum()
}

/// Frames a batch: appends to `out` each record preceded by its length.
///
/// # Errors
/// [`FrameErrorKind::Empty`], [`FrameErrorKind::BadLength`] for an empty or oversized record,
/// [`FrameErrorKind::TooManyRecords`], and [`FrameErrorKind::TooLarge`] for a batch over
/// [`MAX_FRAMED_BATCH_BYTES`]; `out` is left as it was.
///
/// # Examples
/// ```
/// let mut out = Vec::new();
/// dossier_chain::frame_batch([b"{\"a\":1}".as_slice(), b"{}"], &mut out).unwrap();
/// assert_eq!(out, b"\0\0\0\x07{\"a\":1}\0\0\0\x02{}");
/// ```
pub fn frame_batch<'a>(
    records: impl IntoIterator<Item = &'a [u8]>,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let start = out.len();
    let mut count = 0;
    let result = (|| {
        for (index, record) in records.into_iter().enumerate() {
            if index >= MAX_BATCH_RECORDS {
                return Err(FrameError {
                    index,
                    kind: FrameErrorKind::TooManyRecords {
                        limit: MAX_BATCH_RECORDS,
                    },
                });
            }
            let length = u32::try_from(record.len())
                .ok()
                .filter(|&n| n > 0 && n as usize <= MAX_RECORD_BYTES)
                .ok_or(FrameError {
                    index,
                    kind: FrameErrorKind::BadLength {
                        length: u32::try_from(record.len()).unwrap_or(u32::MAX),
                    },
                })?;
            out.extend_from_slice(&length.to_be_bytes());
            out.extend_from_slice(record);
            count += 1;
        }
        if count == 0 {
            return Err(FrameError {
                index: 0,
                kind: FrameErrorKind::Empty,
            });
        }
        let bytes = out.len() - start;
        if bytes > MAX_FRAMED_BATCH_BYTES {
            return Err(FrameError {
                index: 0,
                kind: FrameErrorKind::TooLarge { bytes },
            });
        }
        Ok(())
    })();
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// What a carrier recorded beside a framed batch, to check it against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Declared {
    /// The number of records (seal included), if recorded.
    pub count: Option<usize>,
    /// The seal's record hash, if recorded.
    pub seal: Option<Hash>,
}

/// The records of a framed batch, in order: each `Ok` entry is one record's bytes (as stored;
/// verify them as records); an `Err` ends the iteration, at the entry where the framing fails,
/// after every whole entry before it.
///
/// Checks, in this order: the blob's size; each entry's length and bytes; the number of entries
/// against the batch limit and the declared count; the last entry's hash against the declared
/// seal hash.
///
/// # Examples
/// ```
/// use dossier_chain::{Declared, Frames};
/// let blob = b"\0\0\0\x02{}\0\0\0\x09{\"seal\":1";
/// let mut frames = Frames::new(blob, Declared::default());
/// assert_eq!(frames.next(), Some(Ok(b"{}".as_slice())));
/// let err = frames.next().unwrap().unwrap_err();
/// assert_eq!(err.index, 1);
/// assert_eq!(frames.next(), None);
/// ```
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    rest: &'a [u8],
    index: usize,
    declared: Declared,
    last: Option<&'a [u8]>,
    done: bool,
}

impl<'a> Frames<'a> {
    /// Reads `blob` as a framed batch checked against what its carrier `declared`.
    #[must_use]
    pub fn new(blob: &'a [u8], declared: Declared) -> Frames<'a> {
        Frames {
            rest: blob,
            index: 0,
            declared,
            last: None,
            done: false,
        }
    }

    fn fail(&mut self, index: usize, kind: FrameErrorKind) -> Option<Result<&'a [u8], FrameError>> {
        self.done = true;
        Some(Err(FrameError { index, kind }))
    }

    /// The checks at the end of the blob: the count, and the seal's hash.
    fn end(&mut self) -> Option<Result<&'a [u8], FrameError>> {
        self.done = true;
        let found = self.index;
        if found == 0 {
            return self.fail(0, FrameErrorKind::Empty);
        }
        if let Some(declared) = self.declared.count
            && found < declared
        {
            return self.fail(found, FrameErrorKind::TooFewRecords { found, declared });
        }
        if let (Some(declared), Some(last)) = (self.declared.seal, self.last) {
            let found_hash = Hash::of_record(last);
            if found_hash != declared {
                return self.fail(
                    found - 1,
                    FrameErrorKind::SealMismatch {
                        found: found_hash,
                        declared,
                    },
                );
            }
        }
        None
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8], FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.index == 0 && self.last.is_none() && self.rest.len() > MAX_FRAMED_BATCH_BYTES {
            let bytes = self.rest.len();
            return self.fail(0, FrameErrorKind::TooLarge { bytes });
        }
        if self.rest.is_empty() {
            return self.end();
        }
        let index = self.index;
        let limit = self
            .declared
            .count
            .map_or(MAX_BATCH_RECORDS, |c| c.min(MAX_BATCH_RECORDS));
        if index >= limit {
            return self.fail(index, FrameErrorKind::TooManyRecords { limit });
        }
        let Some((len, after)) = self.rest.split_first_chunk::<4>() else {
            let missing = 4 - self.rest.len();
            return self.fail(index, FrameErrorKind::Truncated { missing });
        };
        let length = u32::from_be_bytes(*len);
        if length == 0 || length as usize > MAX_RECORD_BYTES {
            return self.fail(index, FrameErrorKind::BadLength { length });
        }
        let length = length as usize;
        if after.len() < length {
            let missing = length - after.len();
            return self.fail(index, FrameErrorKind::Truncated { missing });
        }
        let (record, rest) = after.split_at(length);
        self.rest = rest;
        self.index += 1;
        self.last = Some(record);
        Some(Ok(record))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn frames(blob: &[u8], declared: Declared) -> (Vec<&[u8]>, Option<FrameError>) {
        let mut ok = Vec::new();
        for f in Frames::new(blob, declared) {
            match f {
                Ok(r) => ok.push(r),
                Err(e) => return (ok, Some(e)),
            }
        }
        (ok, None)
    }

    #[test]
    fn round_trip_and_every_failure_at_its_entry() {
        let records: [&[u8]; 3] = [b"{\"a\":\"line\nbreak\"}", b"{}", b"{\"seal\":true}"];
        let mut blob = Vec::new();
        frame_batch(records, &mut blob).unwrap();
        assert_eq!(blob.len(), framed_len(records.iter().map(|r| r.len())));
        let seal = Hash::of_record(records[2]);
        let good = Declared {
            count: Some(3),
            seal: Some(seal),
        };
        assert_eq!(frames(&blob, good), (records.to_vec(), None));

        let (ok, err) = frames(&blob[..blob.len() - 1], good);
        assert_eq!(ok.len(), 2);
        assert_eq!(
            err.unwrap(),
            FrameError {
                index: 2,
                kind: FrameErrorKind::Truncated { missing: 1 }
            }
        );
        let (_, err) = frames(
            &blob,
            Declared {
                count: Some(4),
                ..good
            },
        );
        assert_eq!(
            err.unwrap().kind,
            FrameErrorKind::TooFewRecords {
                found: 3,
                declared: 4
            }
        );
        let (ok, err) = frames(
            &blob,
            Declared {
                count: Some(2),
                ..good
            },
        );
        assert_eq!((ok.len(), err.unwrap().index), (2, 2));
        let other = Hash::of_record(b"{}");
        let (_, err) = frames(
            &blob,
            Declared {
                seal: Some(other),
                ..good
            },
        );
        assert_eq!(err.unwrap().index, 2);
        assert_eq!(frames(b"", good).1.unwrap().kind, FrameErrorKind::Empty);
        assert_eq!(
            frames(b"\0\0\0\0", good).1.unwrap().kind,
            FrameErrorKind::BadLength { length: 0 }
        );
        assert_eq!(
            frames(b"\0\0", good).1.unwrap().kind,
            FrameErrorKind::Truncated { missing: 2 }
        );
    }

    #[test]
    fn framing_refuses_what_a_batch_may_not_be() {
        let mut out = b"kept".to_vec();
        let empty: [&[u8]; 0] = [];
        assert_eq!(
            frame_batch(empty, &mut out).unwrap_err().kind,
            FrameErrorKind::Empty
        );
        let big = vec![b'x'; MAX_RECORD_BYTES + 1];
        assert_eq!(
            frame_batch([big.as_slice()], &mut out).unwrap_err().index,
            0
        );
        let many = vec![b"{}".as_slice(); MAX_BATCH_RECORDS + 1];
        assert_eq!(
            frame_batch(many, &mut out).unwrap_err().index,
            MAX_BATCH_RECORDS
        );
        let large = vec![b'x'; MAX_RECORD_BYTES];
        let four = vec![large.as_slice(); 4];
        assert!(matches!(
            frame_batch(four, &mut out).unwrap_err().kind,
            FrameErrorKind::TooLarge { .. }
        ));
        assert_eq!(out, b"kept");
    }
}
