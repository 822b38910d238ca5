//! Raw export and import of a ledger's log (`dossier export --format log`, `dossier import`),
//! in the file format `dossier-export/2` (docs/FORMAT.md §7.4, the codec in `dossier-export`;
//! files of `dossier-export/1` are still read).
//!
//! **Export** reads the exact stored records of a seq range (whole sealed batches: the range
//! starts at a batch's first record and ends at the last seal at or before its end) from
//! either backend, a page at a time, and writes each sealed batch with the report texts its
//! records reference just before it. Nothing is filtered: a raw export is for those who may
//! read everything (administrators and auditors). A range starting past seq 1 first carries
//! its key context: a checkpoint of the records before it, signed with a key the ledger allows
//! to sign checkpoints at that size, and the batches its seals depend on, each with an
//! inclusion proof, so that the file verifies offline ([`check`], `dossier import
//! --check-only`).
//!
//! **Import** appends a file's batches to a ledger on either backend. The ledger must be empty
//! (the file then starts at seq 1) or hold a verified prefix of the file (the ledger's records
//! are verified with the same pinned root, and those the file also holds must be byte for byte
//! the file's). Every record of the file is verified by `dossier_chain::Verifier` (chain, seals,
//! keys, the pinned founding key) before its batch is appended, and every text is checked
//! against its hash; the first batch that does not verify is refused, naming the seq, and
//! nothing from it on is written. Each batch is appended atomically on the head the one before
//! it left, so an import that is killed leaves a verified prefix, which a second import of the
//! same file completes.
//!
//! A range file imports only onto a ledger that holds the records before it (its key context is
//! checked too, and its checkpoint's head must be that ledger's record before the range); into
//! an empty ledger only a file from seq 1 imports.
//!
//! The file is read and verified on a thread of its own, which hands each verified batch
//! (through a channel holding at most a few) to the appender on the caller's task: verifying a
//! batch overlaps appending the ones before it.

use std::io::{Read, Write};

use dossier_chain::{
    EncodedRecord, EventId, Failure, Hash, RecordView, StoredRecord, TrustRoot, Verifier, control,
};
use dossier_export::{
    ContextBuilder, ContextCheck, ContextError, ExportError, Header, Reader, Section, Writer,
};
use dossier_log::{AppendError, EventLog};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{AppError, AppResult};

/// Records read from the ledger at a time.
const PAGE: usize = 4096;
/// Verified batches handed to the backend at once (each still atomic on its own).
const GROUP_BATCHES: usize = 64;
/// ... or fewer, when they hold this many bytes.
const GROUP_BYTES: usize = 8 * 1024 * 1024;

/// What an export wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Exported {
    /// The ledger id.
    pub ledger: Uuid,
    /// The first seq exported.
    pub first: u64,
    /// The last seq exported (a seal).
    pub last: u64,
    /// Sealed batches written.
    pub batches: u64,
    /// Records written.
    pub records: u64,
    /// Report texts written.
    pub texts: u64,
    /// The hash of the last record (hex).
    pub head: String,
}

/// What an import did.
#[derive(Clone, Debug, Serialize)]
pub struct Imported {
    /// The ledger id.
    pub ledger: Uuid,
    /// The file's range.
    pub first: u64,
    /// The file's last seq.
    pub last: u64,
    /// Records of the file the ledger already held (verified equal).
    pub already: u64,
    /// Records appended.
    pub appended: u64,
    /// Batches appended.
    pub batches: u64,
    /// Report texts stored with them.
    pub texts: u64,
    /// Texts of the file not stored because their redaction is recorded (in the ledger, or
    /// earlier in the file).
    pub redacted_texts: u64,
    /// The ledger's head after the import (hex).
    pub head: String,
}

/// Why an export did not happen, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportProblem {
    /// The ledger holds no record.
    #[error("the ledger is empty")]
    Empty,
    /// `from` is past the ledger's head.
    #[error("the ledger ends at seq {head}, before seq {from}")]
    BeyondHead {
        /// The first seq asked for.
        from: u64,
        /// The head.
        head: u64,
    },
    /// `from` is not the first record of a batch.
    #[error("seq {from} is not the first record of a batch (the record before it is no seal)")]
    NotBatchStart {
        /// The first seq asked for.
        from: u64,
    },
    /// No seal closes a batch in the range.
    #[error("no sealed batch lies between seq {from} and seq {to}")]
    NoBatch {
        /// The first seq asked for.
        from: u64,
        /// The last.
        to: u64,
    },
    /// A record read from the ledger is not a record (the ledger does not verify).
    #[error("seq {seq} is not a record of this format: {detail}")]
    Malformed {
        /// Where.
        seq: u64,
        /// What is wrong.
        detail: String,
    },
    /// A report references a text whose bytes do not hash to it.
    #[error("the text {hash} referenced at seq {seq} does not match its hash in the content store")]
    BadText {
        /// Where it is referenced.
        seq: u64,
        /// The hash.
        hash: Hash,
    },
    /// Writing the file failed.
    #[error(transparent)]
    Write(#[from] ExportError),
    /// A range starting past seq 1 carries a checkpoint, and no key to sign it was given.
    #[error(
        "seq {from} is past seq 1: the file carries a checkpoint of seqs 1..={}, and no key may sign it here (the ledger's log key signs checkpoints; the founding key while it has none)",
        from - 1
    )]
    NoContextSigner {
        /// The first seq asked for.
        from: u64,
    },
    /// The key context of the range could not be built.
    #[error(transparent)]
    Context(#[from] dossier_export::BuildError),
}

/// Why an import refused a file, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportProblem {
    /// Import verifies against a pinned founding key, and none was given.
    #[error("no founding key is pinned: an import verifies every record against one")]
    Unpinned,
    /// The file's container is damaged (truncated, reordered, a text that does not match its
    /// hash, totals that disagree, ...).
    #[error(transparent)]
    File(#[from] ExportError),
    /// A record of the file does not verify.
    #[error("the file does not verify at seq {}: {} ({})", failure.seq, failure.kind, failure.detail)]
    DoesNotVerify {
        /// The first failure.
        failure: Failure,
    },
    /// A batch of the file does not end with a seal that verifies.
    #[error("the batch ending at seq {seq} is not closed by a seal")]
    Unsealed {
        /// Its last seq.
        seq: u64,
    },
    /// A text of the file is referenced by no record of the batch after it.
    #[error("the text {hash} before seq {seq} is referenced by no record of its batch")]
    StrayText {
        /// The batch's first seq.
        seq: u64,
        /// The text's hash.
        hash: Hash,
    },
    /// The file holds another ledger than the one imported into.
    #[error("the file holds ledger {file}, the ledger imported into is {ledger}")]
    OtherLedger {
        /// The file's ledger id.
        file: Uuid,
        /// The ledger's.
        ledger: Uuid,
    },
    /// The file's header names another ledger than its records.
    #[error("the file's header names ledger {header}, its records belong to ledger {records}")]
    HeaderLedger {
        /// The header's ledger id.
        header: Uuid,
        /// The records'.
        records: Uuid,
    },
    /// The file starts past what the ledger holds.
    #[error(
        "the file starts at seq {first}, and the ledger holds records up to seq {head}: it continues a ledger that holds seqs 1 to {} (a range file is imported only there; check it offline with `dossier import --check-only`)",
        first - 1
    )]
    NotContinued {
        /// The file's first seq.
        first: u64,
        /// The ledger's head.
        head: u64,
    },
    /// The ledger holds more than the file.
    #[error("the ledger holds records up to seq {head}, past the file's last seq {last}")]
    LedgerAhead {
        /// The ledger's head.
        head: u64,
        /// The file's last seq.
        last: u64,
    },
    /// The ledger's records differ from the file's.
    #[error("the ledger diverges from the file at seq {seq}")]
    Diverges {
        /// The first seq where they differ.
        seq: u64,
    },
    /// The ledger imported into does not verify.
    #[error("the ledger imported into does not verify at seq {}: {} ({})", failure.seq, failure.kind, failure.detail)]
    LedgerDoesNotVerify {
        /// Its first failure.
        failure: Failure,
    },
    /// The file's key context does not hold (docs/FORMAT.md §7.4).
    #[error(transparent)]
    Context(#[from] ContextError),
    /// A file of `dossier-export/1` starting past seq 1 carries no key context: it is verified
    /// only with the ledger it continues.
    #[error(
        "the file starts at seq {first} and is of format dossier-export/1, which carries no key context: it verifies only with a ledger holding seqs 1 to {}",
        first - 1
    )]
    NoContext {
        /// The file's first seq.
        first: u64,
    },
    /// Appending a verified batch failed.
    #[error("appending the batch at seq {seq}: {source}")]
    Append {
        /// Its first seq.
        seq: u64,
        /// The cause.
        #[source]
        source: AppendError,
    },
}

impl ImportProblem {
    /// The seq where the problem shows, when it has one.
    #[must_use]
    pub fn seq(&self) -> Option<u64> {
        match self {
            ImportProblem::File(e) => e.seq(),
            ImportProblem::DoesNotVerify { failure }
            | ImportProblem::LedgerDoesNotVerify { failure } => Some(failure.seq),
            ImportProblem::Unsealed { seq }
            | ImportProblem::StrayText { seq, .. }
            | ImportProblem::Diverges { seq }
            | ImportProblem::Append { seq, .. } => Some(*seq),
            ImportProblem::NotContinued { first, .. } | ImportProblem::NoContext { first } => {
                Some(*first)
            }
            ImportProblem::Context(e) => Some(e.seq()),
            ImportProblem::LedgerAhead { last, .. } => Some(last + 1),
            ImportProblem::Unpinned
            | ImportProblem::OtherLedger { .. }
            | ImportProblem::HeaderLedger { .. } => None,
        }
    }
}

fn export_problem(problem: impl Into<ExportProblem>) -> AppError {
    AppError::Export {
        problem: problem.into(),
    }
}

/// The text hashes a record references: a `report.recorded` body's `content_hash`.
fn referenced_text(event_type: &str, body: &str) -> Option<Hash> {
    #[derive(Deserialize)]
    struct Report<'a> {
        #[serde(borrow)]
        content_hash: Option<&'a str>,
    }
    if event_type != dossier_model::event::REPORT_RECORDED {
        return None;
    }
    let report: Report<'_> = serde_json::from_str(body).ok()?;
    Hash::from_hex(report.content_hash?).ok()
}

/// The type of a stored record and the text it references.
fn envelope(bytes: &[u8], scratch: &mut String) -> Option<(bool, Option<Hash>)> {
    let (view, body) = RecordView::parse_envelope(bytes, scratch)?;
    Some((
        view.event_type == control::SEAL,
        referenced_text(view.event_type, body),
    ))
}

fn malformed(seq: u64) -> AppError {
    export_problem(ExportProblem::Malformed {
        seq,
        detail: "its envelope does not parse".to_owned(),
    })
}

async fn is_seal<L: EventLog + ?Sized>(log: &L, seq: u64) -> AppResult<bool> {
    let mut scratch = String::new();
    let page = log
        .read(seq, 1)
        .await
        .map_err(|e| AppError::log(format!("reading seq {seq}"), e))?;
    let r = page
        .first()
        .filter(|r| r.position == seq)
        .ok_or_else(|| malformed(seq))?;
    envelope(&r.bytes, &mut scratch)
        .map(|(seal, _)| seal)
        .ok_or_else(|| malformed(seq))
}

/// The ledger id of the log's genesis.
async fn ledger_id<L: EventLog + ?Sized>(log: &L) -> AppResult<Uuid> {
    let page = log
        .read(1, 1)
        .await
        .map_err(|e| AppError::log("reading the genesis", e))?;
    page.first()
        .and_then(|r| RecordView::parse(&r.bytes).ok()?.ledger.parse().ok())
        .ok_or_else(|| malformed(1))
}

/// Writes the sealed batches of `from ..= to` (default: the whole ledger) with the texts they
/// reference to `out` as a `dossier-export/2` file; calls `progress` with the records written.
/// `from` must be the first record of a batch; the export ends at the last seal at or before
/// `to` (clamped to the head). A range starting past seq 1 carries its key context, whose
/// checkpoint `signer` signs (a key the ledger allows to sign checkpoints of the records before
/// the range: [`crate::keys::checkpoint_signers_at`]). Returns the writer (flushed) and what
/// was written.
///
/// # Errors
/// [`AppError::Export`] for a range that holds no whole batch, a record that does not parse,
/// a text that does not match its hash, a range past seq 1 without a signer, or a failed
/// write; storage failures.
pub async fn export<L: EventLog + ?Sized, W: Write>(
    log: &L,
    (from, to): (Option<u64>, Option<u64>),
    signer: Option<&dossier_chain::Signer>,
    out: W,
    mut progress: impl FnMut(u64),
) -> AppResult<(W, Exported)> {
    let head = log
        .head()
        .await
        .map_err(|e| AppError::log("reading the head", e))?;
    if head.seq == 0 {
        return Err(export_problem(ExportProblem::Empty));
    }
    let first = from.unwrap_or(1).max(1);
    if first > head.seq {
        return Err(export_problem(ExportProblem::BeyondHead {
            from: first,
            head: head.seq,
        }));
    }
    if first > 1 && !is_seal(log, first - 1).await? {
        return Err(export_problem(ExportProblem::NotBatchStart { from: first }));
    }
    let to = to.unwrap_or(head.seq).min(head.seq);
    let last = last_seal(log, first, to).await?;
    let ledger = ledger_id(log).await?;
    let mut w = Writer::new(
        out,
        Header {
            ledger,
            first,
            last,
        },
    )
    .map_err(export_problem)?;
    if first > 1 {
        let signer =
            signer.ok_or_else(|| export_problem(ExportProblem::NoContextSigner { from: first }))?;
        let context = key_context(log, first, &ledger, signer).await?;
        w.context(&context).map_err(export_problem)?;
    }
    let mut scratch = String::new();
    let mut batch: Vec<StoredRecord> = Vec::new();
    let mut texts: Vec<(u64, Hash)> = Vec::new();
    let mut next = first;
    let mut written = 0u64;
    while next <= last {
        let want = usize::try_from(last - next + 1).unwrap_or(PAGE).min(PAGE);
        let page = log
            .read(next, want)
            .await
            .map_err(|e| AppError::log(format!("reading from seq {next}"), e))?;
        if page.is_empty() {
            return Err(AppError::log(
                format!("reading from seq {next}"),
                dossier_log::LogError::Corrupt(format!("seq {next} is missing")),
            ));
        }
        for r in page {
            if r.position != next {
                return Err(malformed(next));
            }
            next += 1;
            let (seal, text) =
                envelope(&r.bytes, &mut scratch).ok_or_else(|| malformed(r.position))?;
            if let Some(hash) = text
                && !texts.iter().any(|(_, h)| *h == hash)
            {
                texts.push((r.position, hash));
            }
            batch.push(r);
            if seal {
                for (seq, hash) in texts.drain(..) {
                    // A redacted text (even one whose erase was interrupted and is still
                    // stored) or a text missing from the content store is not carried; a text
                    // that does not match its key is refused.
                    let dossier_redact::Text::Stored(bytes) = dossier_redact::text(log, &hash)
                        .await
                        .map_err(|e| AppError::log(format!("reading the text {hash}"), e))?
                    else {
                        continue;
                    };
                    if Hash::of_bytes(&bytes) != hash {
                        return Err(export_problem(ExportProblem::BadText { seq, hash }));
                    }
                    w.text(&bytes).map_err(export_problem)?;
                }
                w.batch(batch.iter().map(|r| r.bytes.as_slice()))
                    .map_err(export_problem)?;
                written += batch.len() as u64;
                batch.clear();
                progress(written);
            }
        }
    }
    let (out, totals) = w.finish().map_err(export_problem)?;
    Ok((
        out,
        Exported {
            ledger,
            first,
            last,
            batches: totals.batches,
            records: totals.records,
            texts: totals.texts,
            head: totals.head.to_hex(),
        },
    ))
}

/// The key context of a range starting at `first` > 1: the records before it read once, their
/// tree signed by `signer`.
async fn key_context<L: EventLog + ?Sized>(
    log: &L,
    first: u64,
    ledger: &Uuid,
    signer: &dossier_chain::Signer,
) -> AppResult<dossier_export::KeyContext> {
    let mut builder = ContextBuilder::new();
    let mut next = 1;
    while next < first {
        let want = usize::try_from(first - next).unwrap_or(PAGE).min(PAGE);
        let page = log
            .read(next, want)
            .await
            .map_err(|e| AppError::log(format!("reading from seq {next}"), e))?;
        if page.is_empty() {
            return Err(malformed(next));
        }
        for r in page {
            if r.position != next {
                return Err(malformed(next));
            }
            builder.push(&r.bytes).map_err(export_problem)?;
            next += 1;
        }
    }
    builder
        .finish(&ledger.hyphenated().to_string(), signer)
        .map_err(export_problem)
}

/// The last seal in `first ..= to` (a batch holds at most 1,000 records, so it is among the
/// last 1,000).
async fn last_seal<L: EventLog + ?Sized>(log: &L, first: u64, to: u64) -> AppResult<u64> {
    let lo = to
        .saturating_sub(dossier_chain::MAX_BATCH_RECORDS as u64 - 1)
        .max(first);
    let page = log
        .read(lo, usize::try_from(to + 1 - lo).unwrap_or(usize::MAX))
        .await
        .map_err(|e| AppError::log(format!("reading from seq {lo}"), e))?;
    let mut scratch = String::new();
    let mut found = None;
    for r in page.iter().filter(|r| r.position <= to) {
        if envelope(&r.bytes, &mut scratch)
            .ok_or_else(|| malformed(r.position))?
            .0
        {
            found = Some(r.position);
        }
    }
    found.ok_or_else(|| export_problem(ExportProblem::NoBatch { from: first, to }))
}

/// Verified batches the verifying thread may hand over ahead of the appender.
const AHEAD: usize = 4;

/// What the verifying thread hands the appender: a verified batch, or the end of the file
/// (with the hash of its last record, hex).
enum Step {
    Batch(Checked),
    End(String),
}

/// A batch of the file, verified: its records as the backends append them, the texts carried
/// before it, and the texts its records redact.
struct Checked {
    first: u64,
    last: u64,
    records: Vec<EncodedRecord>,
    texts: Vec<(Hash, Vec<u8>)>,
    redacted: Vec<Hash>,
}

/// A file being read and verified, one batch at a time: its key context first (a range
/// starting past seq 1), then its batches.
struct FileCheck<R: Read> {
    reader: Reader<R>,
    header: Header,
    /// The key context still to check (a file of version 2 starting past seq 1).
    context: Option<ContextCheck>,
    /// The verifier of the range's records: given (an import, which verified the ledger's
    /// records before the file), or made from the key context (offline).
    v: Option<Verifier>,
    key_batches: u64,
    texts: Vec<(Hash, Vec<u8>)>,
    scratch: String,
}

impl<R: Read> FileCheck<R> {
    /// `v` verifies the range (it has seen the records before it); `None` to verify a range
    /// starting past seq 1 from its key context alone.
    fn new(reader: Reader<R>, trust: TrustRoot, v: Option<Verifier>) -> FileCheck<R> {
        let header = *reader.header();
        let context = (reader.version() >= 2 && header.first > 1)
            .then(|| ContextCheck::new(header, trust.clone()));
        let v = v.or_else(|| (header.first == 1).then(|| Verifier::new(trust)));
        FileCheck {
            reader,
            header,
            context,
            v,
            key_batches: 0,
            texts: Vec::new(),
            scratch: String::new(),
        }
    }

    /// The next verified batch, or the end of the file.
    fn step(&mut self) -> Result<Step, ImportProblem> {
        loop {
            match self.reader.next_section()? {
                Some(Section::Checkpoint { note, last_leaf }) => {
                    self.context()?.checkpoint(note, &last_leaf)?;
                }
                Some(Section::KeyBatch { batch, proof }) => {
                    self.context()?.key_batch(&batch, &proof)?;
                    self.key_batches += 1;
                }
                Some(Section::Text { hash, bytes }) => {
                    self.range()?;
                    self.texts.push((hash, bytes));
                }
                Some(Section::Batch(batch)) => {
                    let texts = std::mem::take(&mut self.texts);
                    let header = self.header;
                    let mut scratch = std::mem::take(&mut self.scratch);
                    let checked = check_batch(&batch, self.range()?, &header, texts, &mut scratch);
                    self.scratch = scratch;
                    return checked.map(Step::Batch);
                }
                None => {
                    self.range()?;
                    return Ok(Step::End(self.reader.totals().head.to_hex()));
                }
            }
        }
    }

    fn context(&mut self) -> Result<&mut ContextCheck, ImportProblem> {
        let first = self.header.first;
        self.context
            .as_mut()
            .ok_or(ImportProblem::NoContext { first })
    }

    /// The verifier of the range, once the key context (if any) holds: a given verifier's
    /// head (the ledger's record before the range) must be the context checkpoint's.
    fn range(&mut self) -> Result<&mut Verifier, ImportProblem> {
        let first = self.header.first;
        if let Some(context) = self.context.take() {
            let (from_context, cp) = context.finish()?;
            match &self.v {
                None => self.v = Some(from_context),
                Some(v) if v.head().hash != cp.tree.head => {
                    return Err(ImportProblem::Diverges { seq: first - 1 });
                }
                Some(_) => {}
            }
        }
        self.v.as_mut().ok_or(ImportProblem::NoContext { first })
    }
}

/// Reads and verifies the file, handing each verified batch on through `tx`, until the end of
/// the file (sent as [`Step::End`]), the first problem (sent), or the receiver's going away.
fn check_file<R: Read>(
    mut file: FileCheck<R>,
    tx: &tokio::sync::mpsc::Sender<Result<Step, ImportProblem>>,
) {
    loop {
        let step = file.step();
        let go_on = matches!(step, Ok(Step::Batch(_)));
        if tx.blocking_send(step).is_err() || !go_on {
            return;
        }
    }
}

/// What an offline check of an export file found.
#[derive(Clone, Debug, Serialize)]
pub struct FileChecked {
    /// The ledger id.
    pub ledger: Uuid,
    /// The file's format version (`dossier-export/2`: 2).
    pub version: u8,
    /// The first seq of its range.
    pub first: u64,
    /// The last.
    pub last: u64,
    /// Batches of the range, verified.
    pub batches: u64,
    /// Records of the range, verified.
    pub records: u64,
    /// Report texts, checked against their hashes.
    pub texts: u64,
    /// Batches of the key context (before the range), verified and proven in its checkpoint.
    pub key_batches: u64,
    /// The hash of the file's last record (hex).
    pub head: String,
}

/// Checks an export file offline (`dossier import --check-only`), writing nothing: its
/// container, its key context (a range starting past seq 1: the checkpoint, its signer, each
/// key batch's inclusion proof and records) and every record of its range, pinned with
/// `trust`.
///
/// # Errors
/// [`AppError::Import`] naming the problem and its seq (as an import would refuse the file).
pub fn check<R: Read>(input: R, trust: TrustRoot) -> AppResult<FileChecked> {
    let refused = |problem: ImportProblem| AppError::Import { head: 0, problem };
    if matches!(trust, TrustRoot::Unpinned) {
        return Err(refused(ImportProblem::Unpinned));
    }
    let reader = Reader::new(input).map_err(|e| refused(e.into()))?;
    let header = *reader.header();
    let version = reader.version();
    let mut file = FileCheck::new(reader, trust, None);
    let mut batches = 0;
    let head = loop {
        match file.step().map_err(refused)? {
            Step::Batch(_) => batches += 1,
            Step::End(head) => break head,
        }
    };
    let totals = file.reader.totals();
    Ok(FileChecked {
        ledger: header.ledger,
        version,
        first: header.first,
        last: header.last,
        batches,
        records: totals.records,
        texts: totals.texts,
        key_batches: file.key_batches,
        head,
    })
}

/// Verifies one batch of the file (every record, its seal, the texts before it).
fn check_batch(
    batch: &dossier_export::Batch,
    v: &mut Verifier,
    header: &Header,
    texts: Vec<(Hash, Vec<u8>)>,
    scratch: &mut String,
) -> Result<Checked, ImportProblem> {
    let mut records = Vec::with_capacity(batch.count);
    let mut referenced: Vec<Hash> = Vec::new();
    let mut redacted = Vec::new();
    for (i, entry) in batch.records().enumerate() {
        let seq = batch.first + i as u64;
        let bytes = entry.map_err(|e| ImportProblem::DoesNotVerify {
            failure: Failure {
                seq: batch.first + e.index as u64,
                kind: dossier_chain::FailureKind::BadFrame,
                detail: e.to_string(),
            },
        })?;
        if seq == header.first
            && let Some(ledger) = RecordView::parse(bytes)
                .ok()
                .and_then(|r| r.ledger.parse::<Uuid>().ok())
            && ledger != header.ledger
        {
            return Err(ImportProblem::OtherLedger {
                file: header.ledger,
                ledger,
            });
        }
        let hash = Hash::of_record(bytes);
        let stored = StoredRecord {
            position: seq,
            stored_hash: None,
            bytes: bytes.to_vec(),
        };
        v.push_hashed(&stored, hash);
        if let Some(failure) = v.failures().first() {
            return Err(ImportProblem::DoesNotVerify {
                failure: failure.clone(),
            });
        }
        // The verifier accepted it, so its envelope parses.
        let (record, text) = encoded(seq, stored.bytes, hash, scratch).ok_or_else(|| {
            ImportProblem::DoesNotVerify {
                failure: Failure {
                    seq,
                    kind: dossier_chain::FailureKind::Malformed,
                    detail: "its envelope does not parse".to_owned(),
                },
            }
        })?;
        referenced.extend(text);
        if let Ok(view) = RecordView::parse(&record.bytes)
            && view.event_type == dossier_redact::REDACTED
            && let Ok(body) = serde_json::from_str::<dossier_redact::RedactBody>(view.body.get())
            && let Ok(h) = Hash::from_hex(&body.content_hash)
        {
            redacted.push(h);
        }
        records.push(record);
    }
    if v.last_sealed() != batch.last() {
        return Err(ImportProblem::Unsealed { seq: batch.last() });
    }
    if let Some((hash, _)) = texts.iter().find(|(h, _)| !referenced.contains(h)) {
        return Err(ImportProblem::StrayText {
            seq: batch.first,
            hash: *hash,
        });
    }
    Ok(Checked {
        first: batch.first,
        last: batch.last(),
        records,
        texts,
        redacted,
    })
}

/// A verified batch waiting to be appended.
struct Verified {
    records: Vec<EncodedRecord>,
    texts: Vec<Vec<u8>>,
}

/// Appends verified batches, a group at a time.
struct Appender<'a, L: EventLog + ?Sized> {
    log: &'a L,
    head: u64,
    group: Vec<(Vec<EncodedRecord>, Vec<Vec<u8>>)>,
    bytes: usize,
    appended: u64,
    batches: u64,
    texts: u64,
}

impl<L: EventLog + ?Sized> Appender<'_, L> {
    async fn push(&mut self, batch: Verified) -> Result<(), ImportProblem> {
        self.bytes += batch.records.iter().map(|r| r.bytes.len()).sum::<usize>()
            + batch.texts.iter().map(Vec::len).sum::<usize>();
        self.group.push((batch.records, batch.texts));
        if self.group.len() >= GROUP_BATCHES || self.bytes >= GROUP_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ImportProblem> {
        if self.group.is_empty() {
            return Ok(());
        }
        let group = std::mem::take(&mut self.group);
        self.bytes = 0;
        let (receipts, error) = self
            .log
            .append_all(self.head, &group, &mut |_| {
                std::ops::ControlFlow::Continue(())
            })
            .await;
        for (r, (records, texts)) in receipts.iter().zip(&group) {
            self.head = r.last;
            self.appended += records.len() as u64;
            self.texts += texts.len() as u64;
            self.batches += 1;
        }
        match error {
            Some(source) => Err(ImportProblem::Append {
                seq: self.head + 1,
                source,
            }),
            None => Ok(()),
        }
    }
}

/// A verified record as the backends append it, and the text it references.
fn encoded(
    seq: u64,
    bytes: Vec<u8>,
    hash: Hash,
    scratch: &mut String,
) -> Option<(EncodedRecord, Option<Hash>)> {
    let (view, body) = RecordView::parse_envelope(&bytes, scratch)?;
    let text = referenced_text(view.event_type, body);
    let record = EncodedRecord {
        seq,
        hash,
        event_id: EventId::from_hex(view.id).ok()?,
        event_type: view.event_type.to_owned(),
        recorded: view.recorded.to_owned(),
        bytes: Vec::new(),
    };
    Some((EncodedRecord { bytes, ..record }, text))
}

/// Imports a `dossier-export/1` file into `log` (see the module documentation), verifying
/// with `trust` (which must pin the founding key); calls `progress` with the last seq verified
/// and the file's last seq.
///
/// # Errors
/// [`AppError::Import`] naming the problem and, where it has one, the seq: a damaged file, a
/// record that does not verify, another ledger, a ledger that is not a verified prefix of the
/// file, a failed append (the batches before it are appended); storage failures.
pub async fn import<L: EventLog + ?Sized, R: Read + Send + 'static>(
    log: &L,
    input: R,
    trust: TrustRoot,
    progress: impl FnMut(u64, u64),
) -> AppResult<Imported> {
    let mut head_after = None;
    let result = import_inner(log, input, trust, progress, &mut head_after).await;
    result.map_err(|problem| match problem {
        Inner::App(e) => e,
        Inner::Problem(problem) => AppError::Import {
            head: head_after.unwrap_or(0),
            problem,
        },
    })
}

enum Inner {
    App(AppError),
    Problem(ImportProblem),
}

impl From<AppError> for Inner {
    fn from(e: AppError) -> Inner {
        Inner::App(e)
    }
}

impl From<ImportProblem> for Inner {
    fn from(e: ImportProblem) -> Inner {
        Inner::Problem(e)
    }
}

impl From<ExportError> for Inner {
    fn from(e: ExportError) -> Inner {
        Inner::Problem(ImportProblem::File(e))
    }
}

async fn import_inner<L: EventLog + ?Sized, R: Read + Send + 'static>(
    log: &L,
    input: R,
    trust: TrustRoot,
    mut progress: impl FnMut(u64, u64),
    head_after: &mut Option<u64>,
) -> Result<Imported, Inner> {
    if matches!(trust, TrustRoot::Unpinned) {
        return Err(ImportProblem::Unpinned.into());
    }
    let reader = Reader::new(input)?;
    let header = *reader.header();
    let head = log
        .head()
        .await
        .map_err(|e| AppError::log("reading the head", e))?;
    *head_after = Some(head.seq);
    let mut v = Verifier::new(trust.clone());
    if head.seq == 0 {
        if header.first != 1 {
            return Err(ImportProblem::NotContinued {
                first: header.first,
                head: 0,
            }
            .into());
        }
    } else {
        let ledger = ledger_id(log).await?;
        if ledger != header.ledger {
            return Err(ImportProblem::OtherLedger {
                file: header.ledger,
                ledger,
            }
            .into());
        }
        if header.first > head.seq + 1 {
            return Err(ImportProblem::NotContinued {
                first: header.first,
                head: head.seq,
            }
            .into());
        }
        if head.seq > header.last {
            return Err(ImportProblem::LedgerAhead {
                head: head.seq,
                last: header.last,
            }
            .into());
        }
        // The ledger's records before the file's: verified, for the keys they register.
        let mut next = 1;
        while next < header.first {
            let want = usize::try_from(header.first - next)
                .unwrap_or(PAGE)
                .min(PAGE);
            let page = log
                .read(next, want)
                .await
                .map_err(|e| AppError::log(format!("reading from seq {next}"), e))?;
            if page.is_empty() {
                break;
            }
            for r in &page {
                v.push(r);
                next = r.position + 1;
            }
            if let Some(failure) = v.failures().first() {
                return Err(ImportProblem::LedgerDoesNotVerify {
                    failure: failure.clone(),
                }
                .into());
            }
        }
    }
    let mut appender = Appender {
        log,
        head: head.seq,
        group: Vec::new(),
        bytes: 0,
        appended: 0,
        batches: 0,
        texts: 0,
    };
    let mut already = 0u64;
    let mut redacted_in_file: Vec<Hash> = Vec::new();
    let mut redacted_texts_n = 0u64;
    let redacted_texts = &mut redacted_texts_n;
    // The file is read and verified on a thread of its own, which hands each verified batch to
    // the appender here, so that verifying a batch overlaps appending the ones before it.
    let (tx, mut rx) = tokio::sync::mpsc::channel(AHEAD);
    std::thread::Builder::new()
        .name("import-verify".to_owned())
        .spawn(move || check_file(FileCheck::new(reader, trust, Some(v)), &tx))
        .map_err(|source| AppError::Io {
            what: "starting the import's verifying thread".to_owned(),
            source,
        })?;
    let mut file_head = None;
    let outcome: Result<(), Inner> = async {
        while let Some(step) = rx.recv().await {
            let batch = match step? {
                Step::Batch(b) => b,
                Step::End(head) => {
                    file_head = Some(head);
                    break;
                }
            };
            redacted_in_file.extend(batch.redacted);
            let (first, last) = (batch.first, batch.last);
            if first <= head.seq {
                // Already in the ledger: it must be this very batch.
                let stored = log
                    .read(first, batch.records.len())
                    .await
                    .map_err(|e| AppError::log(format!("reading from seq {first}"), e))?;
                for (i, r) in batch.records.iter().enumerate() {
                    let same = stored
                        .get(i)
                        .is_some_and(|s| s.position == r.seq && s.bytes == r.bytes);
                    if !same {
                        return Err(ImportProblem::Diverges { seq: r.seq }.into());
                    }
                }
                already += batch.records.len() as u64;
            } else {
                // A text whose redaction is recorded never comes back.
                let mut kept = Vec::with_capacity(batch.texts.len());
                for (hash, bytes) in batch.texts {
                    let redacted = redacted_in_file.contains(&hash)
                        || dossier_redact::redaction(log, &hash)
                            .await
                            .map_err(|e| {
                                AppError::log(format!("looking up the redaction of {hash}"), e)
                            })?
                            .is_some();
                    if redacted {
                        *redacted_texts += 1;
                    } else {
                        kept.push(bytes);
                    }
                }
                appender
                    .push(Verified {
                        records: batch.records,
                        texts: kept,
                    })
                    .await?;
                *head_after = Some(appender.head);
            }
            progress(last, header.last);
        }
        Ok(())
    }
    .await;
    // Stops the verifying thread if it is still reading.
    drop(rx);
    // Whatever stopped the file, the batches verified before it are appended.
    let flushed = appender.flush().await;
    *head_after = Some(appender.head);
    outcome?;
    flushed?;
    // A redaction the file carries is completed here: a text this ledger held from an earlier
    // import (of an export taken before the redaction) is erased as `dossier redact` would.
    for hash in &redacted_in_file {
        log.erase_content(hash)
            .await
            .map_err(|e| AppError::log(format!("erasing the redacted text {hash}"), e))?;
    }
    Ok(Imported {
        ledger: header.ledger,
        first: header.first,
        last: header.last,
        already,
        appended: appender.appended,
        batches: appender.batches,
        texts: appender.texts,
        redacted_texts: redacted_texts_n,
        head: file_head.unwrap_or_default(),
    })
}
