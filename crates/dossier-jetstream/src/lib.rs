//! The distributed backend of a dossier ledger: NATS JetStream.
//!
//! One stream per ledger (`DOSSIER_<LEDGER>`, subject `dossier.<ledger>.records`) holds the
//! records, one per message, so the stream sequence *is* the record sequence. Report texts live
//! in the object store bucket `dossier-<ledger>-content`, named by their BLAKE3 hash. This is
//! the only crate that imports `async-nats`. The auditor's signed checkpoints and alarms go to
//! a stream of their own, `DOSSIER_<LEDGER>_CHECKPOINTS` (subjects `dossier.<ledger>.checkpoints`
//! and `dossier.<ledger>.alarms`), through an [`Announcer`].
//!
//! How the [`EventLog`](dossier_log::EventLog) contract is kept:
//!
//! - **Optimistic concurrency**: every batch carries `Nats-Expected-Last-Sequence` (the
//!   whole-stream header; DESIGN.md §12 explains why not the per-subject or message-id ones).
//! - **All or nothing**: a batch is published with JetStream's atomic batch protocol (ADR-50,
//!   server 2.12+, stream option `allow_atomic_publish`). On a stream without it, records are
//!   published one by one and only the seal closes the batch: a batch cut short leaves records
//!   after the last seal, which verification reports and readers never treat as complete.
//! - **Permanent idempotency**: a local SQLite index of event ids (next to the producer's
//!   data) is brought up to date from the stream before every lookup and append, checking each
//!   record's chain link as it goes; an append holding an id already indexed is refused. The
//!   stream's duplicate window is only a second line of defence. When batches are pipelined,
//!   the check runs while the first is staged and before anything is committed, and each
//!   stored batch is indexed on a blocking thread while the next commits; every one is
//!   indexed before the append returns.
//! - **Safe streams only**: on start the stream is created, or its configuration checked, so
//!   that nothing can be deleted, purged, rolled up, expired or dropped by limits; an unsafe
//!   existing stream is refused unless explicitly allowed.

mod announce;
mod carrier;
mod config;
mod error;
mod index;
mod log;

pub use announce::{Announcer, CHECKPOINT_SIZE_HEADER};
pub use carrier::{COUNT_HEADER, FIRST_HEADER, Layout, MAX_MESSAGE_BYTES};
pub use config::{Credentials, JetStreamConfig};
pub use error::JetStreamError;
pub use log::JetStreamLog;
