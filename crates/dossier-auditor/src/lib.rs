//! The continuous auditor of a dossier ledger.
//!
//! An [`Auditor`] follows any [`EventLog`](dossier_log::EventLog) (SQLite or JetStream) and:
//!
//! - verifies every record as it arrives with the chain [`Verifier`](dossier_chain::Verifier)
//!   (position, links, envelope, event ids, recorded time, batches, seals, signatures, key
//!   registrations and revocations, the pinned founding key);
//! - feeds every record hash into a streaming Merkle [`RootBuilder`](dossier_proofs::RootBuilder)
//!   (the RFC 6962 SHA-256 tree of `docs/PROOFS.md` version 2; a store left with a version-1
//!   checkpoint is re-read and re-signed in version 2 on start, §11);
//! - every N records or T seconds (at a batch boundary) signs a C2SP checkpoint with its key
//!   and stores it in its own SQLite file, [`STORE_FILE`] (`auditor.db`), outside the ledger;
//! - raises an [`Alarm`] the moment a record fails to verify, or the ledger is no longer
//!   consistent with what it verified and signed (it shrank; the record at its head no longer
//!   hashes to the head; on a rescan, the records up to its checkpoint no longer hash to its
//!   root): an error-level `tracing` event, a row in the `alarms` table, and an unhealthy
//!   [`Report`] / [`Status`]. After an alarm it signs nothing more.
//!
//! Checkpoints and alarms can also be published elsewhere through an [`Announce`] sink
//! ([`Auditor::with_announcer`]; on JetStream, the ledger's checkpoint stream), after they are
//! stored in `auditor.db`, which stays the source of truth.
//!
//! # Restarting without re-reading the ledger
//!
//! At each checkpoint the auditor stores, in the same transaction: the tree's frontier (one
//! hash per set bit of the size, [`RootBuilder::frontier`](dossier_proofs::RootBuilder::frontier)),
//! the chain head, the records of every batch that registers or revokes a key (and the genesis
//! batch), and the records of the batch ending at the checkpoint. The chain `Verifier` has no
//! way to be constructed mid-ledger, so on restart the auditor rebuilds it by replaying those
//! kept records (its own copies, not the ledger's) at their positions: the verifier reports
//! the holes between them as gaps (which the auditor expects and discards), re-checks the key
//! batches' seals and signatures, and ends on exactly the checkpoint's head and recorded time,
//! with the same key set. The tree resumes from the frontier. Restarting therefore reads from
//! the ledger only the record at the checkpoint (to check that it still hashes to the head)
//! and the records after it; memory and restart time depend on the number of key batches, not
//! on the ledger's length.
//!
//! What a restart cannot see without re-reading is a record changed in place *before* the
//! checkpoint that leaves the checkpoint's own record intact; [`Options::rescan_on_start`] and
//! [`Options::rescan_interval`] re-read the checkpointed prefix, recompute its root and compare
//! it with the signed one.

mod announce;
mod auditor;
mod store;
pub mod witnessing;

pub use announce::{Announce, AnnounceError, NoAnnounce};
pub use auditor::{Auditor, Event, Options, Report, Status, alarms, status};
pub use store::{Alarm, STORE_FILE, Store, StoredCheckpoint, snapshot as snapshot_store};
pub use witnessing::WitnessConfig;

/// What can stop the auditor (other than an alarm, which is reported, not returned).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger's backend failed.
    #[error("reading the ledger: {0}")]
    Log(#[from] dossier_log::LogError),
    /// `auditor.db` failed.
    #[error("auditor.db: {0}")]
    Store(#[from] rusqlite::Error),
    /// A checkpoint could not be built or signed.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] dossier_proofs::CheckpointError),
    /// The Merkle frontier kept in `auditor.db` is invalid.
    #[error("tree: {0}")]
    Tree(#[from] dossier_proofs::ProofError),
    /// The auditor's own state is inconsistent (its file was damaged, or the trust root changed).
    #[error("auditor state: {0}")]
    State(String),
    /// There is no `auditor.db` (the auditor never ran here).
    #[error("no auditor state at {0}: the auditor has not run against this ledger")]
    NoStore(String),
}
