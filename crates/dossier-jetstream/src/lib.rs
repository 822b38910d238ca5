//! The distributed backend of a dossier ledger: NATS JetStream.
//!
//! One stream per ledger (`DOSSIER_<LEDGER>`, subject `dossier.<ledger>.records`) holds one
//! message per sealed batch (layout 2, docs/FORMAT.md §7.3): its body the batch framed as
//! `dossier-batch/1`, headers naming its first seq, its count and its seal's hash
//! ([`carrier`]). Streams of earlier versions, one message per record (layout 1), are read and
//! verified, never appended to. Report texts live in the object store bucket
//! `dossier-<ledger>-content`, named by their BLAKE3 hash. This is the only crate that imports
//! `async-nats`. The auditor's signed checkpoints and alarms go to a stream of their own,
//! `DOSSIER_<LEDGER>_CHECKPOINTS` (subjects `dossier.<ledger>.checkpoints` and
//! `dossier.<ledger>.alarms`), through an [`Announcer`].
//!
//! How the [`EventLog`](dossier_log::EventLog) contract is kept:
//!
//! - **Optimistic concurrency**: every batch message carries `Nats-Expected-Last-Sequence`,
//!   the stream sequence of the batch message it follows (the whole-stream header; DESIGN.md
//!   §12 explains why not the per-subject or message-id ones).
//! - **All or nothing**: a batch is one message. A pipelined run sends each batch once the one
//!   before is confirmed (by default; [`JetStreamConfig::in_flight`] sends ahead, each message
//!   naming the batch before it with `Nats-Expected-Last-Msg-Id`): no batch is stored behind
//!   one that failed.
//! - **Permanent idempotency**: a local SQLite index of event ids (next to the producer's
//!   data) is brought up to date from the stream before every lookup and append, checking each
//!   record's chain link as it goes; an append holding an id already indexed is refused. The
//!   seal hash as `Nats-Msg-Id` (the stream's duplicate window) is only a second line of
//!   defence.
//! - **Readers without consumers**: records are read by stream sequence ranges with batched
//!   direct gets; a record is found by seq by binary search over the batch messages' first-seq
//!   headers (positions learned are remembered).
//! - **Safe streams only**: on start the stream is created, or its configuration checked, so
//!   that nothing can be deleted, purged, rolled up, expired or dropped by limits; an unsafe
//!   existing stream is refused unless explicitly allowed.

mod announce;
pub mod carrier;
mod config;
mod error;
mod index;
mod log;
pub mod migrate;
pub mod retext;
mod retry;
mod texts;

pub use announce::{Announcer, CHECKPOINT_SIZE_HEADER};
pub use carrier::{COUNT_HEADER, FIRST_HEADER, Layout, MAX_MESSAGE_BYTES};
pub use config::{Credentials, JetStreamConfig};
pub use error::JetStreamError;
pub use log::JetStreamLog;
pub use texts::{CHUNK_BYTES, CHUNKS_HEADER, LENGTH_HEADER};
