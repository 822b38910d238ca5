//! What can go wrong while projecting or querying.

use std::path::PathBuf;

use dossier_log::LogError;

/// A projector or view-store failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger backend failed.
    #[error("reading the ledger: {0}")]
    Log(#[from] LogError),
    /// The view store (SQLite) failed.
    #[error("view store: {0}")]
    Store(#[from] rusqlite::Error),
    /// A record does not link to the one before it, or its bytes changed: the projector stops.
    #[error("broken chain at seq {seq}: {reason}; run `dossier verify`")]
    BrokenChain {
        /// The record that does not link.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// The ledger no longer holds, at the store's checkpoint, the record the views applied
    /// there: records were changed or removed after the views read them. Nothing should be
    /// answered from those views before `dossier verify` has located the change.
    #[error("the ledger changed under the views at seq {seq}: {reason}; run `dossier verify`")]
    Rewritten {
        /// The views' checkpoint.
        seq: u64,
        /// What differs.
        reason: String,
    },
    /// A record could not be parsed or its domain event decoded.
    #[error("record {seq} cannot be read: {reason}; run `dossier verify`")]
    Corrupt {
        /// The record.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// The store was built by another version of dossier: another layout of its tables or
    /// another belief policy. Views are derived, so [`refresh`](crate::refresh) and
    /// [`run`](crate::run) rebuild such a store from the ledger; [`catch_up`](crate::catch_up)
    /// refuses it.
    #[error("the view store {} was built by another version: {reason}; rebuild it", path.display())]
    Outdated {
        /// The store.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// The store does not fit this ledger (another ledger, a shorter ledger).
    #[error("the view store {} does not match: {reason}; rebuild it", path.display())]
    Mismatch {
        /// The store.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// There is no view store at the path.
    #[error("no view store at {}", .0.display())]
    NoStore(PathBuf),
    /// A file operation on the store failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A view could not be encoded or decoded as JSON.
    #[error("view JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The engines' snapshot could not be encoded.
    #[error("encoding the snapshot of the views' engines: {0}")]
    Snapshot(String),
    /// An earlier failure left this projector unusable; open a new one.
    #[error("the projector stopped after an earlier error; restart it")]
    Stopped,
}
