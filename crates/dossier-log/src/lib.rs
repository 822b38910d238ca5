//! Where a dossier ledger's records are kept, and how they get there.
//!
//! - [`EventLog`] is the storage abstraction every backend implements: append a batch against
//!   an expected head (optimistic concurrency), read from a sequence number, look events up by
//!   id, fetch report texts from the content store, and wait for new records.
//! - [`SqliteLog`] is the embedded default: one ledger per SQLite file, WAL, one transaction
//!   per batch.
//! - [`Publisher`] is the backend-agnostic writer: it checks idempotency against the index,
//!   chains and seals a batch on the current head, and retries on conflicts.
//! - [`ledger`] reads what validation needs from a ledger (entities a bundle refers to).
//! - `conformance` (feature `conformance`) is the test suite every backend must pass.
//!
//! Invariant: stored bytes are never rewritten. Backends only ever append whole batches.

mod error;
pub mod fault;
mod idset;
pub mod ledger;
mod log;
pub mod migrate;
mod outage;
mod publish;
mod sqlite;
mod verify;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "tamper")]
#[allow(clippy::missing_panics_doc, clippy::expect_used)]
pub mod tamper;
mod unique;

pub use error::{AppendError, LogError};
pub use idset::{BulkLoad, IdSet, id_key, ids_in};
pub use log::{
    AppendReceipt, EventLog, IndexEntry, OnStored, ReadItem, append_one_by_one, for_each_record,
};
pub use outage::Outage;
pub use publish::{
    PendingEvent, PublishError, PublishOutcome, Publisher, correction_hint, seal_batch,
};
pub use sqlite::{LAYOUT_BATCHES, LAYOUT_PER_RECORD, SqliteLayout, SqliteLog};
pub use verify::verify_log;
