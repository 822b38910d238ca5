//! How a sealed batch is carried on a layout-2 stream (docs/FORMAT.md §7.3): one message per
//! batch, its body the batch framed as `dossier-batch/1`, its first record's seq, its count
//! and its seal hash in headers. Pure: building the headers, reading messages back into the
//! records (and framing failures) verification sees, and the positions learned on the way.

use std::collections::BTreeMap;

use async_nats::HeaderMap;
use bytes::Bytes;
use dossier_chain::{
    BATCH_FRAMING, Declared, EncodedRecord, FrameError, Frames, Hash, StoredRecord, frame_batch,
    framed_len,
};
use dossier_log::{AppendError, ReadItem};

/// The stream metadata key naming the stream's layout (`2`; absent on per-record streams).
pub const LAYOUT_KEY: &str = "dossier_layout";
/// The stream metadata key naming the batch framing of a layout-2 stream.
pub const FRAMING_KEY: &str = "dossier_framing";
/// The value of [`LAYOUT_KEY`] on a stream of one message per batch.
pub const BATCHES_LAYOUT: &str = "2";
/// The header holding the seq of the batch's first record.
pub const FIRST_HEADER: &str = "Dossier-First-Seq";
/// The header holding the batch's number of records, seal included.
pub const COUNT_HEADER: &str = "Dossier-Count";
/// The stream's message size limit: the server's default `max_payload` (1 MiB). A framed batch
/// is at most [`dossier_chain::MAX_FRAMED_BATCH_BYTES`] (1 MiB less 8 KiB), which leaves room
/// for the headers.
pub const MAX_MESSAGE_BYTES: i32 = 1024 * 1024;

/// How a ledger's records are laid out in its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Layout 1, written by earlier versions: one message per record, the stream sequence
    /// being the record's seq. Read, never appended to (`dossier migrate` converts it).
    PerRecord,
    /// Layout 2: one message per sealed batch (docs/FORMAT.md §7.3).
    Batches,
}

impl Layout {
    /// The layout a stream's metadata declares: [`Layout::Batches`] with the framing this
    /// version reads, [`Layout::PerRecord`] without a layout key.
    ///
    /// # Errors
    /// An unknown layout or framing, as a sentence.
    pub fn of(metadata: &std::collections::HashMap<String, String>) -> Result<Layout, String> {
        match metadata.get(LAYOUT_KEY).map(String::as_str) {
            None => Ok(Layout::PerRecord),
            Some(BATCHES_LAYOUT) => match metadata.get(FRAMING_KEY).map(String::as_str) {
                Some(BATCH_FRAMING) => Ok(Layout::Batches),
                other => Err(format!(
                    "the stream declares batch framing {other:?}; this version reads {BATCH_FRAMING}"
                )),
            },
            Some(other) => Err(format!(
                "the stream declares layout {other:?}; this version reads layouts 1 and 2"
            )),
        }
    }
}

/// A batch ready to publish: its framed body and what its headers declare.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// The seq of its first record.
    pub first: u64,
    /// Its number of records.
    pub count: usize,
    /// Its seal's record hash (the message id).
    pub seal: Hash,
    /// The records framed as `dossier-batch/1`.
    pub body: Bytes,
}

impl Outgoing {
    /// Frames a sealed batch.
    ///
    /// # Errors
    /// [`AppendError::InvalidBatch`] for an empty batch, or one whose framing exceeds the
    /// budget (saying its size and the limit).
    pub fn frame(records: &[EncodedRecord]) -> Result<Outgoing, AppendError> {
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Err(AppendError::InvalidBatch("no records".into()));
        };
        let mut body = Vec::with_capacity(framed_len(records.iter().map(|r| r.bytes.len())));
        frame_batch(records.iter().map(|r| r.bytes.as_slice()), &mut body)
            .map_err(|e| AppendError::InvalidBatch(format!("batch from seq {}: {e}", first.seq)))?;
        Ok(Outgoing {
            first: first.seq,
            count: records.len(),
            seal: last.hash,
            body: Bytes::from(body),
        })
    }

    /// Its headers: first seq, count, the message id (the seal's hash), and the stream
    /// sequence of the message it must follow (the batch before it).
    #[must_use]
    pub fn headers(&self, expected_stream: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(FIRST_HEADER, self.first.to_string().as_str());
        h.insert(COUNT_HEADER, self.count.to_string().as_str());
        h.insert("Nats-Msg-Id", self.seal.to_hex().as_str());
        h.insert(
            "Nats-Expected-Last-Sequence",
            expected_stream.to_string().as_str(),
        );
        h
    }
}

/// A batch message as read back.
#[derive(Clone, Debug)]
pub struct Carried {
    /// Its stream sequence.
    pub stream_seq: u64,
    /// The first-seq header, if present and a positive integer.
    pub first: Option<u64>,
    /// The count header, if present and 1..=1000.
    pub count: Option<usize>,
    /// The message id, if 64 lowercase hex (the seal's hash).
    pub seal: Option<Hash>,
    /// The body.
    pub body: Bytes,
}

impl Carried {
    /// Reads the headers of a stored message.
    #[must_use]
    pub fn new(stream_seq: u64, headers: Option<&HeaderMap>, body: Bytes) -> Carried {
        let get = |name: &str| {
            headers
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_owned())
        };
        Carried {
            stream_seq,
            first: get(FIRST_HEADER)
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|&f| f >= 1),
            count: get(COUNT_HEADER)
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&c| (1..=dossier_chain::MAX_BATCH_RECORDS).contains(&c)),
            seal: get("Nats-Msg-Id").and_then(|v| Hash::from_hex(&v).ok()),
            body,
        }
    }

    /// The records of the message, from position `from` on and at most `room` of them, and
    /// what is wrong with how it carries them: a header missing or invalid, or the framing
    /// failing its checks against the headers (§7.2), each a [`ReadItem::BadFrame`] at the
    /// position where it shows (`expected`: where the message should start, used when it does
    /// not say). Returns the items and whether the whole message was read (not cut by `room`).
    #[must_use]
    pub fn items(&self, from: u64, room: usize, expected: u64) -> (Vec<ReadItem>, bool) {
        let mut out = Vec::new();
        let (Some(first), Some(count)) = (self.first, self.count) else {
            let position = self.first.unwrap_or(expected).max(from);
            let detail = format!(
                "stream message {}: the {} header is missing or invalid",
                self.stream_seq,
                if self.first.is_none() {
                    FIRST_HEADER
                } else {
                    COUNT_HEADER
                }
            );
            out.push(ReadItem::BadFrame {
                position,
                resume_at: None,
                detail,
            });
            return (out, true);
        };
        let declared = Declared {
            count: Some(count),
            // A message id that is not a hash matches no seal: the seal check fails.
            seal: Some(self.seal.unwrap_or(Hash([0xff; 32]))),
        };
        let mut taken = 0;
        for (i, entry) in Frames::new(&self.body, declared).enumerate() {
            let position = first + i as u64;
            match entry {
                Ok(bytes) => {
                    if position < from {
                        continue;
                    }
                    if taken >= room {
                        return (out, false);
                    }
                    out.push(ReadItem::Record(StoredRecord {
                        position,
                        stored_hash: None,
                        bytes: bytes.to_vec(),
                    }));
                    taken += 1;
                }
                Err(e) => {
                    let position = first + e.index as u64;
                    if position >= from {
                        out.push(bad_frame(
                            self.stream_seq,
                            position,
                            &e,
                            self.seal.is_none(),
                        ));
                    }
                    break;
                }
            }
        }
        (out, true)
    }

    /// The position one past its last record, as its headers say.
    #[must_use]
    pub fn end(&self) -> Option<u64> {
        Some(self.first? + self.count? as u64)
    }
}

fn bad_frame(stream_seq: u64, position: u64, e: &FrameError, no_id: bool) -> ReadItem {
    let detail = if no_id && matches!(e.kind, dossier_chain::FrameErrorKind::SealMismatch { .. }) {
        format!("stream message {stream_seq}: its Nats-Msg-Id is not a seal hash ({e})")
    } else {
        format!("stream message {stream_seq}: {e}")
    };
    ReadItem::BadFrame {
        position,
        resume_at: None,
        detail,
    }
}

/// Where batches are in the stream, as learned from the messages read: stream sequence ↔ the
/// first seq and count its headers declare. Bounded: forgotten wholesale past a size.
#[derive(Debug, Default)]
pub struct Positions {
    by_stream: BTreeMap<u64, (u64, u64)>,
    by_first: BTreeMap<u64, u64>,
}

/// Entries kept (about 48 bytes each).
const POSITIONS_KEPT: usize = 1 << 20;

/// Where to look for the message holding a seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// This message holds it.
    At(u64),
    /// The message at `lo` starts right after a known message that ends just before the seq:
    /// it is the one, in a stream that is not damaged.
    Next(u64),
    /// Somewhere in `lo..=hi` (stream sequences); `hi` is `None` when unbounded above.
    Between(u64, Option<u64>),
}

impl Positions {
    /// Notes a message's place.
    pub fn learn(&mut self, stream_seq: u64, first: u64, count: u64) {
        if self.by_stream.len() >= POSITIONS_KEPT {
            self.by_stream.clear();
            self.by_first.clear();
        }
        self.by_stream.insert(stream_seq, (first, count));
        self.by_first.insert(first, stream_seq);
    }

    /// What the message at a stream sequence declares (first, count), if known.
    #[must_use]
    pub fn at(&self, stream_seq: u64) -> Option<(u64, u64)> {
        self.by_stream.get(&stream_seq).copied()
    }

    /// Where the message holding `seq` is, as far as known.
    #[must_use]
    pub fn place(&self, seq: u64) -> Place {
        let below = self.by_first.range(..=seq).next_back();
        if let Some((&first, &stream)) = below
            && let Some(&(_, count)) = self.by_stream.get(&stream)
        {
            if seq < first + count {
                return Place::At(stream);
            }
            if seq == first + count {
                return Place::Next(stream + 1);
            }
        }
        let lo = below.map_or(1, |(_, &s)| s + 1);
        let hi = self
            .by_first
            .range(seq + 1..)
            .next()
            .map(|(_, &s)| s.saturating_sub(1));
        Place::Between(lo, hi)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn places_are_found_from_what_was_learned() {
        let mut p = Positions::default();
        assert_eq!(p.place(5), Place::Between(1, None));
        p.learn(1, 1, 2);
        p.learn(2, 3, 4);
        p.learn(7, 40, 10);
        assert_eq!(p.place(1), Place::At(1));
        assert_eq!(p.place(6), Place::At(2));
        assert_eq!(p.place(7), Place::Next(3));
        assert_eq!(p.place(20), Place::Between(3, Some(6)));
        assert_eq!(p.place(49), Place::At(7));
        assert_eq!(p.place(50), Place::Next(8));
        assert_eq!(p.place(60), Place::Between(8, None));
    }

    #[test]
    fn layouts_are_read_from_the_metadata() {
        let mut m = std::collections::HashMap::new();
        assert_eq!(Layout::of(&m), Ok(Layout::PerRecord));
        m.insert(LAYOUT_KEY.to_owned(), "2".to_owned());
        assert!(Layout::of(&m).is_err(), "a layout without its framing");
        m.insert(FRAMING_KEY.to_owned(), BATCH_FRAMING.to_owned());
        assert_eq!(Layout::of(&m), Ok(Layout::Batches));
        m.insert(LAYOUT_KEY.to_owned(), "3".to_owned());
        assert!(Layout::of(&m).unwrap_err().contains("\"3\""));
    }

    #[test]
    fn a_message_without_headers_is_a_bad_frame_where_it_should_start() {
        let c = Carried::new(9, None, Bytes::from_static(b"\0\0\0\x02{}"));
        let (items, whole) = c.items(1, 10, 33);
        assert!(whole);
        assert!(
            matches!(&items[..], [ReadItem::BadFrame { position: 33, detail, .. }] if detail.contains(FIRST_HEADER)),
            "{items:?}"
        );
    }
}
