//! The storage abstraction.

use std::future::Future;
use std::ops::ControlFlow;
use std::time::Duration;

use dossier_chain::{EncodedRecord, EventId, Hash, Head, StoredRecord};

use crate::{AppendError, LogError};

/// What the event index knows about a recorded event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// Where it is.
    pub seq: u64,
    /// Its [`content_digest`](dossier_chain::content_digest) (marking and body).
    pub digest: Hash,
}

/// Where an append landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendReceipt {
    /// First sequence number of the batch.
    pub first: u64,
    /// Last sequence number of the batch (its seal).
    pub last: u64,
}

/// What verification reads from a log: records, and what the carrier found wrong with how it
/// holds them (backends that store batches framed, docs/FORMAT.md §7.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadItem {
    /// A record, at its storage position.
    Record(StoredRecord),
    /// A framed batch fails the framing's checks at `position`, or the backend's index of it
    /// disagrees with it there (verification reports `bad_frame`).
    BadFrame {
        /// The position of the entry where the failure shows.
        position: u64,
        /// Where the next blob starts, when the rest of this one is lost (`None`: the records
        /// around it were read as usual).
        resume_at: Option<u64>,
        /// What is wrong, for a person.
        detail: String,
    },
    /// The event ids the carrier stores beside the batch starting at `first` (16 bytes per
    /// record, in order), read before its records: verification compares each with the id in
    /// the record's bytes and reports `derived_mismatch` where they differ.
    Ids {
        /// The batch's first position.
        first: u64,
        /// The stored ids.
        ids: Vec<u8>,
    },
    /// A value the carrier stores beside a batch, derived from its records, disagrees with
    /// them (verification reports `derived_mismatch` at `position`).
    Derived {
        /// The position of the record the value was derived from.
        position: u64,
        /// What disagrees, for a person.
        detail: String,
    },
}

impl ReadItem {
    /// The storage position it is about.
    #[must_use]
    pub fn position(&self) -> u64 {
        match self {
            ReadItem::Record(r) => r.position,
            ReadItem::BadFrame { position, .. } | ReadItem::Derived { position, .. } => *position,
            ReadItem::Ids { first, .. } => *first,
        }
    }
}

/// A totally ordered, append-only log of records.
///
/// Every backend passes the same conformance suite (`dossier_log::conformance`, feature
/// `conformance`). The contract:
///
/// - [`append`](EventLog::append) stores a whole batch or nothing, and only if the head is
///   still `expected`; otherwise it fails with [`AppendError::Conflict`] and stores nothing.
/// - Readers never see part of a batch.
/// - Stored bytes are returned exactly as appended.
pub trait EventLog: Send + Sync {
    /// The current head.
    fn head(&self) -> impl Future<Output = Result<Head, LogError>> + Send;

    /// Appends `records` (sequence numbers `expected + 1 ..`) and stores `contents` (report
    /// texts, keyed by their BLAKE3 hash) atomically.
    fn append(
        &self,
        expected: u64,
        records: &[EncodedRecord],
        contents: &[Vec<u8>],
    ) -> impl Future<Output = Result<AppendReceipt, AppendError>> + Send;

    /// Up to `max` records from sequence `from` on, in order.
    fn read(
        &self,
        from: u64,
        max: usize,
    ) -> impl Future<Output = Result<Vec<StoredRecord>, LogError>> + Send;

    /// Up to `max` records from sequence `from` on, in order, as verification reads them:
    /// unlike [`read`](EventLog::read), a batch whose framing or index is damaged is not an
    /// error but a [`ReadItem::BadFrame`] among the records. Backends that do not frame batches
    /// keep the default (every record of [`read`](EventLog::read)). A backend may return fewer
    /// than `max` records before the end (SQLite stops before a stored batch that does not fit
    /// whole); only an empty answer means that nothing is stored at or after `from`.
    fn read_checked(
        &self,
        from: u64,
        max: usize,
    ) -> impl Future<Output = Result<Vec<ReadItem>, LogError>> + Send {
        async move {
            Ok(self
                .read(from, max)
                .await?
                .into_iter()
                .map(ReadItem::Record)
                .collect())
        }
    }

    /// Looks events up by id; the result has one entry per id, in order.
    fn lookup(
        &self,
        ids: &[EventId],
    ) -> impl Future<Output = Result<Vec<Option<IndexEntry>>, LogError>> + Send;

    /// A report text by its BLAKE3 hash.
    fn content(
        &self,
        hash: &Hash,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, LogError>> + Send;

    /// Erases a report text from the content store, for a redaction (docs/FORMAT.md §5.5):
    /// the text is removed and its bytes overwritten wherever the backend kept them (SQLite:
    /// the row deleted with `secure_delete` and the WAL checkpointed and truncated; JetStream:
    /// the text's chunk messages erased in place). Returns whether a text was stored. Erasing
    /// a text that is not stored changes nothing (but still finishes the overwriting of an
    /// earlier erase that was interrupted). Only the redaction flow calls it, after recording
    /// the `report.redacted` event. Backends that cannot erase keep the default, an error.
    fn erase_content(&self, hash: &Hash) -> impl Future<Output = Result<bool, LogError>> + Send {
        let _ = hash;
        async move {
            Err(LogError::Incompatible(
                "this ledger's storage cannot erase report texts".to_owned(),
            ))
        }
    }

    /// Waits until the head is beyond `after` or `timeout` passes; returns the head's sequence.
    fn wait_for(
        &self,
        after: u64,
        timeout: Duration,
    ) -> impl Future<Output = Result<u64, LogError>> + Send;

    /// Appends several batches in order, the first on `expected`, each on the one before it;
    /// each batch is atomic on its own. Calls `stored` with each batch's receipt, in order, as
    /// soon as that batch and every one before it are stored (on JetStream: confirmed by the
    /// server); if it answers [`ControlFlow::Break`], no further batch is committed. Returns the
    /// receipts of the batches stored (always a prefix of `batches`) and the error that stopped
    /// the rest, if any (none when `stored` stopped the run). Backends that can have several
    /// batches in flight (JetStream) override this; the default appends one by one.
    fn append_all(
        &self,
        expected: u64,
        batches: &[(Vec<EncodedRecord>, Vec<Vec<u8>>)],
        stored: &mut OnStored<'_>,
    ) -> impl Future<Output = (Vec<AppendReceipt>, Option<AppendError>)> + Send {
        append_one_by_one(self, expected, batches, stored)
    }
}

/// What [`EventLog::append_all`] calls with each batch it stored, in order; `Break` stops the
/// run before the next batch is committed.
pub type OnStored<'a> = dyn FnMut(AppendReceipt) -> ControlFlow<()> + Send + 'a;

/// [`EventLog::append_all`] without pipelining: each batch appended after the one before.
pub async fn append_one_by_one<L: EventLog + ?Sized>(
    log: &L,
    expected: u64,
    batches: &[(Vec<EncodedRecord>, Vec<Vec<u8>>)],
    stored: &mut OnStored<'_>,
) -> (Vec<AppendReceipt>, Option<AppendError>) {
    let mut receipts = Vec::with_capacity(batches.len());
    let mut head = expected;
    for (records, contents) in batches {
        match log.append(head, records, contents).await {
            Ok(r) => {
                head = r.last;
                receipts.push(r);
                if stored(r).is_break() {
                    break;
                }
            }
            Err(e) => return (receipts, Some(e)),
        }
    }
    (receipts, None)
}

/// Calls `f` with every record from `from` on, in order, reading a page at a time (constant
/// memory); stops at the first error `f` returns.
///
/// # Errors
/// The backend's, or `f`'s.
pub async fn for_each_record<L, E>(
    log: &L,
    from: u64,
    mut f: impl FnMut(&StoredRecord) -> Result<(), E>,
) -> Result<(), E>
where
    L: EventLog + ?Sized,
    E: From<LogError>,
{
    let mut next = from.max(1);
    loop {
        let page = log.read(next, 4096).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        next = last.position + 1;
        for r in &page {
            f(r)?;
        }
    }
}
