//! The raw export file of a dossier ledger, `dossier-export/1` (docs/FORMAT.md §7.4): a ledger's
//! sealed batches, each framed as `dossier-batch/1` (§7.2) with its carrier fields, and the
//! report texts they reference, as one byte-exact, length-prefixed stream.
//!
//! ```text
//! file    = header section* end
//! header  = "dossier-export/1" (16 bytes) || ledger id (16) || first seq (8) || last seq (8)
//! section = text | batch
//! text    = "T" || BLAKE3(bytes) (32) || length (4) || bytes
//! batch   = "B" || first seq (8) || count (4) || seal hash (32) || frame length (4) || frame
//! end     = "E" || batches (8) || records (8) || texts (8) || head hash (32)
//! ```
//!
//! Integers are unsigned and big-endian. [`Writer`] writes a file and [`Reader`] reads one,
//! each over any [`Write`] or [`Read`] and one section at a time, so memory stays flat however
//! long the ledger is (at most one framed batch, ≤ 1 MiB, or one text, ≤ [`MAX_TEXT_BYTES`]).
//!
//! This crate checks the container: the header, the order and contiguity of batches, each
//! carrier's bounds, each text against its hash, the end marker's totals, and that nothing
//! follows it. The framing of each batch is checked by [`Batch::records`] (the checks of §7.2),
//! and the records themselves are verified as any records are, by `dossier_chain::Verifier`:
//! the container is how records travel, never a reason to trust them.
//!
//! Invariant: no I/O of its own (the caller hands in the reader or writer; wrap files in
//! `BufReader`/`BufWriter`), no clock.

use std::io::{self, Read, Write};

use dossier_chain::{
    Declared, Frames, Hash, MAX_BATCH_RECORDS, MAX_FRAMED_BATCH_BYTES, frame_batch,
};
use uuid::Uuid;

/// The version of the file format defined here, which is also its first 16 bytes.
pub const EXPORT_FORMAT: &str = "dossier-export/1";

/// The largest report text a file may carry, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024 * 1024;

const MAGIC: &[u8; 16] = b"dossier-export/1";
/// The family of the magic, without the version: a file starting so is an export of another
/// version.
const FAMILY: &[u8] = b"dossier-export/";
const TAG_TEXT: u8 = b'T';
const TAG_BATCH: u8 = b'B';
const TAG_END: u8 = b'E';

/// The header's size in bytes.
pub const HEADER_BYTES: usize = 16 + 16 + 8 + 8;

/// What a file holds: the ledger's id and the seq range of its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The ledger id (the genesis's `ledger`).
    pub ledger: Uuid,
    /// The seq of the first record (1 for a full or prefix export); the first record of a batch.
    pub first: u64,
    /// The seq of the last record, a seal; `first - 1` for a file that holds no batch.
    pub last: u64,
}

/// The end marker's totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    /// Batch sections.
    pub batches: u64,
    /// Records in them.
    pub records: u64,
    /// Text sections.
    pub texts: u64,
    /// The record hash of the last record (the last batch's seal); zeros when there is none.
    pub head: Hash,
}

impl Default for Totals {
    fn default() -> Totals {
        Totals {
            batches: 0,
            records: 0,
            texts: 0,
            head: Hash([0; 32]),
        }
    }
}

/// One batch section: a sealed batch framed as `dossier-batch/1`, with its carrier fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The seq of its first record.
    pub first: u64,
    /// Its number of records, seal included.
    pub count: usize,
    /// Its seal's record hash.
    pub seal: Hash,
    /// The framed batch.
    pub frame: Vec<u8>,
}

impl Batch {
    /// The seq of its last record (the seal).
    #[must_use]
    pub fn last(&self) -> u64 {
        self.first + self.count as u64 - 1
    }

    /// Its records' bytes, checked against the carrier fields as §7.2 prescribes: an `Err`
    /// ends the iteration at the entry where the framing fails (at seq `first + index`).
    #[must_use]
    pub fn records(&self) -> Frames<'_> {
        Frames::new(
            &self.frame,
            Declared {
                count: Some(self.count),
                seal: Some(self.seal),
            },
        )
    }
}

/// One section of a file, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Section {
    /// A report text, already checked against its hash, which the next batch references.
    Text {
        /// BLAKE3 of its bytes (the content store's key).
        hash: Hash,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// A sealed batch (its framing is checked by [`Batch::records`]).
    Batch(Batch),
}

/// Why a file cannot be written or read. [`ExportError::seq`] says where in the ledger a
/// problem of the file shows.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading or writing failed.
    #[error("reading or writing the export file: {0}")]
    Io(#[from] io::Error),
    /// The bytes do not start with an export header.
    #[error("not a dossier export file (it does not start with \"{EXPORT_FORMAT}\")")]
    NotAnExport,
    /// An export of another version.
    #[error("the file is an export of format {found}; this version reads {EXPORT_FORMAT}")]
    UnknownVersion {
        /// The format the file names.
        found: String,
    },
    /// The header's range is not one.
    #[error(
        "the header's range {first}..={last} is not a range of records starting at seq 1 or later"
    )]
    BadRange {
        /// First seq.
        first: u64,
        /// Last seq.
        last: u64,
    },
    /// The file ends inside a section.
    #[error("the file is cut short inside {what}, at seq {seq}")]
    Truncated {
        /// The seq where it shows.
        seq: u64,
        /// What was being read.
        what: &'static str,
    },
    /// The file ends between sections, without its end marker.
    #[error("the file ends without its end marker: the records from seq {seq} on are missing")]
    Unfinished {
        /// The first missing seq.
        seq: u64,
    },
    /// A section starts with an unknown tag.
    #[error("unknown section tag 0x{tag:02x} at byte {offset}, where seq {seq} was expected")]
    BadTag {
        /// The tag.
        tag: u8,
        /// Its byte offset.
        offset: u64,
        /// The seq expected next.
        seq: u64,
    },
    /// A text does not hash to the hash it is announced under.
    #[error("a text before seq {seq} is announced as {declared} but hashes to {found}")]
    TextHash {
        /// The first seq of the batch it precedes.
        seq: u64,
        /// The hash announced.
        declared: Hash,
        /// The hash of its bytes.
        found: Hash,
    },
    /// A text announces more bytes than a text may have.
    #[error(
        "a text before seq {seq} announces {length} bytes, more than the {MAX_TEXT_BYTES} allowed"
    )]
    TextTooLarge {
        /// The first seq of the batch it precedes.
        seq: u64,
        /// The announced length.
        length: u64,
    },
    /// Texts after the last batch (a text precedes the batch that references it).
    #[error("{count} text(s) after the last batch, referenced by no batch")]
    StrayTexts {
        /// How many.
        count: usize,
    },
    /// A batch is not the one that comes next (batches deleted, repeated or reordered).
    #[error("the batch at seq {found} is out of place: the batch at seq {seq} comes next")]
    OutOfOrder {
        /// The seq expected next.
        seq: u64,
        /// The first seq the batch carries.
        found: u64,
    },
    /// A batch's carrier fields are out of bounds, or it ends past the header's range.
    #[error("the batch at seq {seq}: {detail}")]
    BadCarrier {
        /// Its first seq.
        seq: u64,
        /// What is wrong.
        detail: String,
    },
    /// The end marker disagrees with what the file holds, or comes before the range's end.
    #[error("the end marker: {detail}")]
    BadEnd {
        /// The seq where it shows (one past the last batch read).
        seq: u64,
        /// What is wrong.
        detail: String,
    },
    /// Bytes follow the end marker.
    #[error("bytes follow the end marker")]
    TrailingBytes,
    /// A batch cannot be framed (writing).
    #[error("the batch at seq {seq} cannot be framed: {source}")]
    Frame {
        /// Its first seq.
        seq: u64,
        /// Why.
        #[source]
        source: dossier_chain::FrameError,
    },
}

impl ExportError {
    /// The seq where the problem shows, for the problems that are located in the ledger.
    #[must_use]
    pub fn seq(&self) -> Option<u64> {
        match self {
            ExportError::Truncated { seq, .. }
            | ExportError::Unfinished { seq }
            | ExportError::BadTag { seq, .. }
            | ExportError::TextHash { seq, .. }
            | ExportError::TextTooLarge { seq, .. }
            | ExportError::OutOfOrder { seq, .. }
            | ExportError::BadCarrier { seq, .. }
            | ExportError::BadEnd { seq, .. }
            | ExportError::Frame { seq, .. } => Some(*seq),
            _ => None,
        }
    }
}

fn check_range(first: u64, last: u64) -> Result<(), ExportError> {
    if first == 0 || last < first - 1 {
        return Err(ExportError::BadRange { first, last });
    }
    Ok(())
}

/// Writes an export file, one section at a time.
///
/// # Examples
/// ```
/// use dossier_export::{Header, Reader, Section, Writer};
/// let header = Header { ledger: uuid::Uuid::nil(), first: 1, last: 2 };
/// let mut w = Writer::new(Vec::new(), header).unwrap();
/// w.text(b"a report's text").unwrap();
/// w.batch([b"{\"seq\":1}".as_slice(), b"{\"seq\":2}"]).unwrap();
/// let (file, totals) = w.finish().unwrap();
/// assert_eq!((totals.batches, totals.records, totals.texts), (1, 2, 1));
///
/// let mut r = Reader::new(file.as_slice()).unwrap();
/// assert_eq!(r.header(), &header);
/// assert!(matches!(r.next_section().unwrap(), Some(Section::Text { .. })));
/// let Some(Section::Batch(b)) = r.next_section().unwrap() else { panic!() };
/// assert_eq!(b.records().count(), 2);
/// assert!(r.next_section().unwrap().is_none());
/// ```
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    header: Header,
    next: u64,
    totals: Totals,
    frame: Vec<u8>,
}

impl<W: Write> Writer<W> {
    /// Writes the header.
    ///
    /// # Errors
    /// [`ExportError::BadRange`]; [`ExportError::Io`].
    pub fn new(mut out: W, header: Header) -> Result<Writer<W>, ExportError> {
        check_range(header.first, header.last)?;
        out.write_all(MAGIC)?;
        out.write_all(header.ledger.as_bytes())?;
        out.write_all(&header.first.to_be_bytes())?;
        out.write_all(&header.last.to_be_bytes())?;
        Ok(Writer {
            out,
            header,
            next: header.first,
            totals: Totals::default(),
            frame: Vec::new(),
        })
    }

    /// Writes a text section (a text the next batch references); returns its hash.
    ///
    /// # Errors
    /// [`ExportError::TextTooLarge`]; [`ExportError::Io`].
    pub fn text(&mut self, bytes: &[u8]) -> Result<Hash, ExportError> {
        if bytes.len() > MAX_TEXT_BYTES {
            return Err(ExportError::TextTooLarge {
                seq: self.next,
                length: bytes.len() as u64,
            });
        }
        let hash = Hash::of_bytes(bytes);
        self.out.write_all(&[TAG_TEXT])?;
        self.out.write_all(&hash.0)?;
        self.out.write_all(&u32_len(bytes.len()).to_be_bytes())?;
        self.out.write_all(bytes)?;
        self.totals.texts += 1;
        Ok(hash)
    }

    /// Writes the next sealed batch: its records, in order, the last being its seal.
    ///
    /// # Errors
    /// [`ExportError::Frame`] for a batch the framing refuses; [`ExportError::BadCarrier`] for
    /// one that ends past the header's last seq; [`ExportError::Io`].
    pub fn batch<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), ExportError> {
        let first = self.next;
        self.frame.clear();
        let mut count = 0usize;
        let mut seal = &[][..];
        frame_batch(
            records.into_iter().inspect(|r| {
                count += 1;
                seal = r;
            }),
            &mut self.frame,
        )
        .map_err(|source| ExportError::Frame { seq: first, source })?;
        let seal = Hash::of_record(seal);
        let last = first + count as u64 - 1;
        if last > self.header.last {
            return Err(ExportError::BadCarrier {
                seq: first,
                detail: format!(
                    "it ends at seq {last}, past the range's last seq {}",
                    self.header.last
                ),
            });
        }
        self.out.write_all(&[TAG_BATCH])?;
        self.out.write_all(&first.to_be_bytes())?;
        self.out.write_all(&u32_len(count).to_be_bytes())?;
        self.out.write_all(&seal.0)?;
        self.out
            .write_all(&u32_len(self.frame.len()).to_be_bytes())?;
        self.out.write_all(&self.frame)?;
        self.next = last + 1;
        self.totals.batches += 1;
        self.totals.records += count as u64;
        self.totals.head = seal;
        Ok(())
    }

    /// Writes the end marker and flushes; returns the writer and the totals.
    ///
    /// # Errors
    /// [`ExportError::BadEnd`] if the batches written do not reach the header's last seq;
    /// [`ExportError::Io`].
    pub fn finish(mut self) -> Result<(W, Totals), ExportError> {
        if self.next != self.header.last + 1 {
            return Err(ExportError::BadEnd {
                seq: self.next,
                detail: format!(
                    "the batches end at seq {}, the range at seq {}",
                    self.next - 1,
                    self.header.last
                ),
            });
        }
        let t = self.totals;
        self.out.write_all(&[TAG_END])?;
        self.out.write_all(&t.batches.to_be_bytes())?;
        self.out.write_all(&t.records.to_be_bytes())?;
        self.out.write_all(&t.texts.to_be_bytes())?;
        self.out.write_all(&t.head.0)?;
        self.out.flush()?;
        Ok((self.out, t))
    }
}

/// A length this crate has already bounded (records, frames, texts) as 4 bytes.
fn u32_len(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Reads an export file, one section at a time, checking the container as it goes.
#[derive(Debug)]
pub struct Reader<R: Read> {
    input: R,
    header: Header,
    next: u64,
    offset: u64,
    totals: Totals,
    /// Texts read since the last batch.
    pending_texts: usize,
    done: bool,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the header.
    ///
    /// # Errors
    /// [`ExportError::NotAnExport`], [`ExportError::UnknownVersion`],
    /// [`ExportError::BadRange`]; [`ExportError::Io`].
    pub fn new(mut input: R) -> Result<Reader<R>, ExportError> {
        let mut head = [0u8; HEADER_BYTES];
        let got = read_full(&mut input, &mut head)?;
        let magic = &head[..16.min(got)];
        if magic != &MAGIC[..magic.len()] {
            if magic.starts_with(FAMILY) {
                let end = magic.iter().position(|&b| b == 0).unwrap_or(magic.len());
                return Err(ExportError::UnknownVersion {
                    found: String::from_utf8_lossy(&magic[..end]).into_owned(),
                });
            }
            return Err(ExportError::NotAnExport);
        }
        if got < HEADER_BYTES {
            return Err(ExportError::Truncated {
                seq: 0,
                what: "the header",
            });
        }
        let ledger = Uuid::from_bytes(array(&head[16..32]));
        let first = u64::from_be_bytes(array(&head[32..40]));
        let last = u64::from_be_bytes(array(&head[40..48]));
        check_range(first, last)?;
        Ok(Reader {
            input,
            header: Header {
                ledger,
                first,
                last,
            },
            next: first,
            offset: HEADER_BYTES as u64,
            totals: Totals::default(),
            pending_texts: 0,
            done: false,
        })
    }

    /// The header.
    #[must_use]
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The seq the next batch must start at.
    #[must_use]
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// What was read so far (after the end, the file's totals).
    #[must_use]
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Bytes read so far.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), ExportError> {
        let got = read_full(&mut self.input, buf)?;
        self.offset += got as u64;
        if got < buf.len() {
            return Err(ExportError::Truncated {
                seq: self.next,
                what,
            });
        }
        Ok(())
    }

    /// The next section; `None` after the end marker, once its totals and the end of the input
    /// are checked.
    ///
    /// # Errors
    /// Every [`ExportError`] of a damaged container, located at its seq: a truncated file, an
    /// unknown tag, a text that does not match its hash, a batch out of order or with carrier
    /// fields out of bounds, an end marker that disagrees or comes early, bytes after it.
    pub fn next_section(&mut self) -> Result<Option<Section>, ExportError> {
        if self.done {
            return Ok(None);
        }
        let mut tag = [0u8; 1];
        if read_full(&mut self.input, &mut tag)? == 0 {
            return Err(ExportError::Unfinished { seq: self.next });
        }
        let at = self.offset;
        self.offset += 1;
        match tag[0] {
            TAG_TEXT => self.text().map(Some),
            TAG_BATCH => self.batch().map(|b| Some(Section::Batch(b))),
            TAG_END => {
                self.end()?;
                Ok(None)
            }
            tag => Err(ExportError::BadTag {
                tag,
                offset: at,
                seq: self.next,
            }),
        }
    }

    fn text(&mut self) -> Result<Section, ExportError> {
        let mut fixed = [0u8; 36];
        self.exact(&mut fixed, "a text's header")?;
        let declared = Hash(array(&fixed[..32]));
        let length = u32::from_be_bytes(array(&fixed[32..]));
        if length as usize > MAX_TEXT_BYTES {
            return Err(ExportError::TextTooLarge {
                seq: self.next,
                length: u64::from(length),
            });
        }
        // Read as it arrives, so that a length a damaged file announces is never allocated up
        // front.
        let mut bytes = Vec::new();
        let got = (&mut self.input)
            .take(u64::from(length))
            .read_to_end(&mut bytes)?;
        self.offset += got as u64;
        if got < length as usize {
            return Err(ExportError::Truncated {
                seq: self.next,
                what: "a text",
            });
        }
        let found = Hash::of_bytes(&bytes);
        if found != declared {
            return Err(ExportError::TextHash {
                seq: self.next,
                declared,
                found,
            });
        }
        self.totals.texts += 1;
        self.pending_texts += 1;
        Ok(Section::Text {
            hash: declared,
            bytes,
        })
    }

    fn batch(&mut self) -> Result<Batch, ExportError> {
        let mut fixed = [0u8; 48];
        self.exact(&mut fixed, "a batch's carrier fields")?;
        let first = u64::from_be_bytes(array(&fixed[..8]));
        let count = u32::from_be_bytes(array(&fixed[8..12])) as usize;
        let seal = Hash(array(&fixed[12..44]));
        let length = u32::from_be_bytes(array(&fixed[44..48])) as usize;
        if first != self.next {
            return Err(ExportError::OutOfOrder {
                seq: self.next,
                found: first,
            });
        }
        let bad = |detail: String| ExportError::BadCarrier { seq: first, detail };
        if count == 0 || count > MAX_BATCH_RECORDS {
            return Err(bad(format!(
                "it announces {count} records (1..={MAX_BATCH_RECORDS} allowed)"
            )));
        }
        if length == 0 || length > MAX_FRAMED_BATCH_BYTES {
            return Err(bad(format!(
                "it announces a frame of {length} bytes (1..={MAX_FRAMED_BATCH_BYTES} allowed)"
            )));
        }
        let last = first + count as u64 - 1;
        if last > self.header.last {
            return Err(bad(format!(
                "it ends at seq {last}, past the range's last seq {}",
                self.header.last
            )));
        }
        let mut frame = vec![0u8; length];
        self.exact(&mut frame, "a framed batch")?;
        self.next = last + 1;
        self.totals.batches += 1;
        self.totals.records += count as u64;
        self.totals.head = seal;
        self.pending_texts = 0;
        Ok(Batch {
            first,
            count,
            seal,
            frame,
        })
    }

    fn end(&mut self) -> Result<(), ExportError> {
        let mut fixed = [0u8; 56];
        self.exact(&mut fixed, "the end marker")?;
        let declared = Totals {
            batches: u64::from_be_bytes(array(&fixed[..8])),
            records: u64::from_be_bytes(array(&fixed[8..16])),
            texts: u64::from_be_bytes(array(&fixed[16..24])),
            head: Hash(array(&fixed[24..56])),
        };
        let seq = self.next;
        if self.next != self.header.last + 1 {
            return Err(ExportError::BadEnd {
                seq,
                detail: format!(
                    "it comes after seq {}, before the range's last seq {}: the records from seq {seq} on are missing",
                    self.next - 1,
                    self.header.last
                ),
            });
        }
        if self.pending_texts > 0 {
            return Err(ExportError::StrayTexts {
                count: self.pending_texts,
            });
        }
        if declared != self.totals {
            return Err(ExportError::BadEnd {
                seq,
                detail: format!(
                    "it announces {} batches, {} records, {} texts and head {}; the file holds {} batches, {} records, {} texts and head {}",
                    declared.batches,
                    declared.records,
                    declared.texts,
                    declared.head,
                    self.totals.batches,
                    self.totals.records,
                    self.totals.texts,
                    self.totals.head
                ),
            });
        }
        let mut more = [0u8; 1];
        if read_full(&mut self.input, &mut more)? > 0 {
            return Err(ExportError::TrailingBytes);
        }
        self.done = true;
        Ok(())
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A fixed-size array from a slice of that size (callers slice exactly).
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
