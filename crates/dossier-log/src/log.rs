//! The storage abstraction.

use std::future::Future;
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
    fn read(&self, from: u64, max: usize) -> impl Future<Output = Result<Vec<StoredRecord>, LogError>> + Send;

    /// Looks events up by id; the result has one entry per id, in order.
    fn lookup(&self, ids: &[EventId]) -> impl Future<Output = Result<Vec<Option<IndexEntry>>, LogError>> + Send;

    /// A report text by its BLAKE3 hash.
    fn content(&self, hash: &Hash) -> impl Future<Output = Result<Option<Vec<u8>>, LogError>> + Send;

    /// Waits until the head is beyond `after` or `timeout` passes; returns the head's sequence.
    fn wait_for(&self, after: u64, timeout: Duration) -> impl Future<Output = Result<u64, LogError>> + Send;
}
