//! The raw export file of a dossier ledger, `dossier-export/2` (docs/FORMAT.md §7.4): a ledger's
//! sealed batches, each framed as `dossier-batch/1` (§7.2) with its carrier fields, and the
//! report texts they reference, as one byte-exact, length-prefixed stream. A file of a range
//! that starts past seq 1 also carries its **key context**: a signed checkpoint of the records
//! before the range and the batches its seals depend on (the genesis batch and every batch
//! holding a key event), each with an inclusion proof in that checkpoint's tree, so that it
//! verifies offline. Files of `dossier-export/1` (no key context) are still read.
//!
//! ```text
//! file    = header context? section* end
//! header  = "dossier-export/2" (16 bytes) || ledger id (16) || first seq (8) || last seq (8)
//! context = checkpoint keybatch+          (exactly when first seq > 1)
//! checkpoint = "C" || note length (4) || signed note || path length (1) || last-leaf proof
//! keybatch   = "K" || first seq (8) || count (4) || seal hash (32) || frame length (4) || frame
//!              || path length (1) || inclusion proof of its seal
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

pub mod context;
pub use context::{BuildError, ContextBuilder, ContextCheck, ContextError, KeyContext};

/// The version of the file format written here, which is also its first 16 bytes.
pub const EXPORT_FORMAT: &str = "dossier-export/2";

/// The earlier version, still read: no key context (a file starting past seq 1 is verified
/// only with the ledger it continues).
pub const EXPORT_FORMAT_V1: &str = "dossier-export/1";

/// The largest signed checkpoint note a key context may carry, in bytes.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// The most hashes a proof may have (a tree of at most 2^64 - 1 leaves).
pub const MAX_PROOF_HASHES: usize = 64;

/// The largest report text a file may carry, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024 * 1024;

const MAGIC: &[u8; 16] = b"dossier-export/2";
const MAGIC_V1: &[u8; 16] = b"dossier-export/1";
/// The family of the magic, without the version: a file starting so is an export of another
/// version.
const FAMILY: &[u8] = b"dossier-export/";
const TAG_TEXT: u8 = b'T';
const TAG_BATCH: u8 = b'B';
const TAG_END: u8 = b'E';
const TAG_CHECKPOINT: u8 = b'C';
const TAG_KEY_BATCH: u8 = b'K';

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
    /// The key context's checkpoint (first section of a file starting past seq 1): a signed
    /// checkpoint (docs/PROOFS.md §6) of the records before the range, unchecked here.
    Checkpoint {
        /// The signed note, as text.
        note: String,
        /// The inclusion proof of its last leaf (its head), which binds chain and tree
        /// (docs/PROOFS.md §6.3).
        last_leaf: Vec<Hash>,
    },
    /// A batch of the key context (before the range): the genesis batch or one holding a key
    /// event, with the inclusion proof of its seal in the checkpoint's tree (unchecked here).
    KeyBatch {
        /// The batch.
        batch: Batch,
        /// The audit path of its seal (leaf `batch.last() - 1`), leaf to root.
        proof: Vec<Hash>,
    },
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
    /// The key context is missing, out of place or out of bounds.
    #[error("the key context, at seq {seq}: {detail}")]
    Context {
        /// The seq where it shows: a key batch's first seq, or for the checkpoint the last seq
        /// it covers (the one before the range).
        seq: u64,
        /// What is wrong.
        detail: String,
    },
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
            | ExportError::Context { seq, .. }
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

/// Where a file is in its key context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The checkpoint section comes next.
    Checkpoint,
    /// Key batches: the next one starts at `next` or later (the first one at 1); `any` once
    /// one was read.
    Keys { next: u64, any: bool },
    /// The range's sections (texts, batches, the end).
    Range,
}

impl Phase {
    /// The phase a file of `version` whose range starts at `first` begins in.
    fn start(version: u8, first: u64) -> Phase {
        if version >= 2 && first > 1 {
            Phase::Checkpoint
        } else {
            Phase::Range
        }
    }

    /// Moves to the range's sections, once the key context is whole.
    fn enter_range(&mut self, first: u64) -> Result<(), ExportError> {
        match *self {
            Phase::Checkpoint => Err(ExportError::Context {
                seq: first - 1,
                detail: "the checkpoint section is missing: a file of a range starting past seq 1 begins with its key context".to_owned(),
            }),
            Phase::Keys { any: false, .. } => Err(ExportError::Context {
                seq: 1,
                detail: "no key batch follows the checkpoint: the key context holds the genesis batch at least".to_owned(),
            }),
            Phase::Keys { any: true, .. } | Phase::Range => {
                *self = Phase::Range;
                Ok(())
            }
        }
    }

    /// Checks the checkpoint section's place.
    fn checkpoint(&mut self, first: u64) -> Result<(), ExportError> {
        if *self != Phase::Checkpoint {
            return Err(ExportError::Context {
                seq: first - 1,
                detail: "a checkpoint section where none belongs (a file's key context comes first, once, and only in a file starting past seq 1)".to_owned(),
            });
        }
        *self = Phase::Keys {
            next: 1,
            any: false,
        };
        Ok(())
    }

    /// Checks a key batch's place: after the checkpoint, after the key batch before it, the
    /// first at seq 1, all before the range's first seq.
    fn key_batch(&mut self, first: u64, bfirst: u64, last: u64) -> Result<(), ExportError> {
        let Phase::Keys { next, any } = *self else {
            return Err(ExportError::Context {
                seq: bfirst,
                detail: "a key batch outside the key context (it follows the checkpoint section, before the range)".to_owned(),
            });
        };
        let bad = |detail: String| {
            Err(ExportError::Context {
                seq: bfirst,
                detail,
            })
        };
        if !any && bfirst != 1 {
            return bad("the first key batch is not the genesis batch at seq 1".to_owned());
        }
        if bfirst < next {
            return bad(format!(
                "the key batch overlaps or precedes the one before it, which ends at seq {}",
                next - 1
            ));
        }
        if last >= first {
            return bad(format!(
                "the key batch ends at seq {last}, not before the range's first seq {first}"
            ));
        }
        *self = Phase::Keys {
            next: last + 1,
            any: true,
        };
        Ok(())
    }
}

/// A proof's hashes as bytes: its length (1 byte) and the hashes.
fn write_path(out: &mut impl Write, path: &[Hash], seq: u64) -> Result<(), ExportError> {
    let Ok(n) = u8::try_from(path.len()) else {
        return Err(too_long_path(seq, path.len()));
    };
    if path.len() > MAX_PROOF_HASHES {
        return Err(too_long_path(seq, path.len()));
    }
    out.write_all(&[n])?;
    for h in path {
        out.write_all(&h.0)?;
    }
    Ok(())
}

fn too_long_path(seq: u64, n: usize) -> ExportError {
    ExportError::Context {
        seq,
        detail: format!("a proof of {n} hashes (at most {MAX_PROOF_HASHES})"),
    }
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
    phase: Phase,
}

impl<W: Write> Writer<W> {
    /// Writes the header. A file whose range starts past seq 1 then takes its key context
    /// ([`Writer::checkpoint`], then [`Writer::key_batch`] for each of its batches) before
    /// anything else.
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
            phase: Phase::start(2, header.first),
        })
    }

    /// Writes the key context's checkpoint: the signed checkpoint note of the records before
    /// the range and the inclusion proof of its last leaf.
    ///
    /// # Errors
    /// [`ExportError::Context`] out of place (a file starting at seq 1, or a second one), for
    /// a note over [`MAX_NOTE_BYTES`] or empty, or a proof over [`MAX_PROOF_HASHES`];
    /// [`ExportError::Io`].
    pub fn checkpoint(&mut self, note: &str, last_leaf: &[Hash]) -> Result<(), ExportError> {
        let seq = self.header.first - 1;
        self.phase.checkpoint(self.header.first)?;
        if note.is_empty() || note.len() > MAX_NOTE_BYTES {
            return Err(ExportError::Context {
                seq,
                detail: format!(
                    "a checkpoint note of {} bytes (1..={MAX_NOTE_BYTES} allowed)",
                    note.len()
                ),
            });
        }
        self.out.write_all(&[TAG_CHECKPOINT])?;
        self.out.write_all(&u32_len(note.len()).to_be_bytes())?;
        self.out.write_all(note.as_bytes())?;
        write_path(&mut self.out, last_leaf, seq)
    }

    /// Writes a whole key context ([`Writer::checkpoint`], then each [`Writer::key_batch`]).
    ///
    /// # Errors
    /// As those.
    pub fn context(&mut self, context: &KeyContext) -> Result<(), ExportError> {
        self.checkpoint(&context.note, &context.last_leaf)?;
        for (first, records, proof) in &context.batches {
            self.key_batch(*first, records.iter().map(Vec::as_slice), proof)?;
        }
        Ok(())
    }

    /// Writes a batch of the key context: its records (the last its seal), starting at seq
    /// `first`, and the inclusion proof of its seal in the checkpoint's tree.
    ///
    /// # Errors
    /// [`ExportError::Context`] out of place (before the checkpoint, after a range section,
    /// not after the key batch before it, the first not at seq 1, ending at or past the
    /// range's first seq); [`ExportError::Frame`]; [`ExportError::Io`].
    pub fn key_batch<'a>(
        &mut self,
        first: u64,
        records: impl IntoIterator<Item = &'a [u8]>,
        proof: &[Hash],
    ) -> Result<(), ExportError> {
        let (count, seal) = self.frame(first, records)?;
        let last = first + count as u64 - 1;
        self.phase.key_batch(self.header.first, first, last)?;
        self.out.write_all(&[TAG_KEY_BATCH])?;
        self.carrier(first, count, seal)?;
        write_path(&mut self.out, proof, last)
    }

    /// Frames `records` into `self.frame`; returns their count and the seal's hash.
    fn frame<'a>(
        &mut self,
        first: u64,
        records: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(usize, Hash), ExportError> {
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
        Ok((count, Hash::of_record(seal)))
    }

    /// The carrier fields and the frame of a batch.
    fn carrier(&mut self, first: u64, count: usize, seal: Hash) -> Result<(), ExportError> {
        self.out.write_all(&first.to_be_bytes())?;
        self.out.write_all(&u32_len(count).to_be_bytes())?;
        self.out.write_all(&seal.0)?;
        self.out
            .write_all(&u32_len(self.frame.len()).to_be_bytes())?;
        self.out.write_all(&self.frame)?;
        Ok(())
    }

    /// Writes a text section (a text the next batch references); returns its hash.
    ///
    /// # Errors
    /// [`ExportError::TextTooLarge`]; [`ExportError::Io`].
    pub fn text(&mut self, bytes: &[u8]) -> Result<Hash, ExportError> {
        self.phase.enter_range(self.header.first)?;
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
        self.phase.enter_range(self.header.first)?;
        let (count, seal) = self.frame(first, records)?;
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
        self.carrier(first, count, seal)?;
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
        self.phase.enter_range(self.header.first)?;
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
    /// The file's format version (1 or 2).
    version: u8,
    phase: Phase,
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
        let version = if magic == &MAGIC_V1[..magic.len()] {
            1
        } else {
            2
        };
        if magic != &MAGIC[..magic.len()] && version != 1 {
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
            version,
            phase: Phase::start(version, first),
        })
    }

    /// The file's format version: 2 (`dossier-export/2`), or 1 for a file of the earlier
    /// version, which carries no key context.
    #[must_use]
    pub fn version(&self) -> u8 {
        self.version
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
            TAG_CHECKPOINT if self.version >= 2 => self.checkpoint().map(Some),
            TAG_KEY_BATCH if self.version >= 2 => self.key_batch().map(Some),
            TAG_TEXT => {
                self.phase.enter_range(self.header.first)?;
                self.text().map(Some)
            }
            TAG_BATCH => {
                self.phase.enter_range(self.header.first)?;
                self.batch().map(|b| Some(Section::Batch(b)))
            }
            TAG_END => {
                self.phase.enter_range(self.header.first)?;
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

    fn checkpoint(&mut self) -> Result<Section, ExportError> {
        let seq = self.header.first - 1;
        self.phase.checkpoint(self.header.first)?;
        let mut fixed = [0u8; 4];
        self.exact(&mut fixed, "the checkpoint's length")?;
        let length = u32::from_be_bytes(fixed) as usize;
        if length == 0 || length > MAX_NOTE_BYTES {
            return Err(ExportError::Context {
                seq,
                detail: format!(
                    "a checkpoint note of {length} bytes (1..={MAX_NOTE_BYTES} allowed)"
                ),
            });
        }
        let mut note = vec![0u8; length];
        self.exact(&mut note, "the checkpoint")?;
        let note = String::from_utf8(note).map_err(|_| ExportError::Context {
            seq,
            detail: "the checkpoint note is not UTF-8".to_owned(),
        })?;
        let last_leaf = self.path(seq)?;
        Ok(Section::Checkpoint { note, last_leaf })
    }

    fn key_batch(&mut self) -> Result<Section, ExportError> {
        let (first, count, seal, length) = self.carrier_fields()?;
        let batch = self.carried(
            first,
            count,
            seal,
            length,
            (self.header.first - 1, "the last seq before the range,"),
        )?;
        self.phase
            .key_batch(self.header.first, first, batch.last())?;
        let proof = self.path(batch.last())?;
        Ok(Section::KeyBatch { batch, proof })
    }

    /// A proof: its length (1 byte, at most [`MAX_PROOF_HASHES`]) and its hashes.
    fn path(&mut self, seq: u64) -> Result<Vec<Hash>, ExportError> {
        let mut n = [0u8; 1];
        self.exact(&mut n, "a proof")?;
        let n = usize::from(n[0]);
        if n > MAX_PROOF_HASHES {
            return Err(too_long_path(seq, n));
        }
        let mut bytes = vec![0u8; n * 32];
        self.exact(&mut bytes, "a proof")?;
        Ok(bytes.chunks_exact(32).map(|c| Hash(array(c))).collect())
    }

    /// A batch's carrier fields: first seq, count, seal hash, frame length.
    fn carrier_fields(&mut self) -> Result<(u64, usize, Hash, usize), ExportError> {
        let mut fixed = [0u8; 48];
        self.exact(&mut fixed, "a batch's carrier fields")?;
        Ok((
            u64::from_be_bytes(array(&fixed[..8])),
            u32::from_be_bytes(array(&fixed[8..12])) as usize,
            Hash(array(&fixed[12..44])),
            u32::from_be_bytes(array(&fixed[44..48])) as usize,
        ))
    }

    /// A batch whose carrier fields were read: their bounds checked (it may end at `limit` at
    /// the latest), its frame read.
    fn carried(
        &mut self,
        first: u64,
        count: usize,
        seal: Hash,
        length: usize,
        (limit, what): (u64, &str),
    ) -> Result<Batch, ExportError> {
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
        let last = first.saturating_add(count as u64 - 1);
        if last > limit {
            return Err(bad(format!("it ends at seq {last}, past {what} {limit}")));
        }
        let mut frame = vec![0u8; length];
        self.exact(&mut frame, "a framed batch")?;
        Ok(Batch {
            first,
            count,
            seal,
            frame,
        })
    }

    fn batch(&mut self) -> Result<Batch, ExportError> {
        let (first, count, seal, length) = self.carrier_fields()?;
        if first != self.next {
            return Err(ExportError::OutOfOrder {
                seq: self.next,
                found: first,
            });
        }
        let batch = self.carried(
            first,
            count,
            seal,
            length,
            (self.header.last, "the range's last seq"),
        )?;
        let last = batch.last();
        self.next = last + 1;
        self.totals.batches += 1;
        self.totals.records += count as u64;
        self.totals.head = seal;
        self.pending_texts = 0;
        Ok(batch)
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
