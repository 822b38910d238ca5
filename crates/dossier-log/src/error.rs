//! Errors of the storage layer.

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The stored data is not what this version of dossier wrote.
    #[error("corrupt ledger: {0}")]
    Corrupt(String),
    /// The server holding the ledger failed a request, did not answer, or could not be reached.
    /// Nothing says the stored ledger is damaged; the same request may succeed later.
    #[error("ledger server: {0}")]
    Server(String),
    /// The database was written by a newer or unknown schema.
    #[error("{0}")]
    Incompatible(String),
    /// The file has an older layout, which this version reads but no longer appends to; it can
    /// be converted (the migration keeps the old file).
    #[error(
        "{} has the per-record layout {layout}: it can be read, but appending needs the batch layout it can be migrated to",
        path.display()
    )]
    ReadOnlyLayout {
        /// The ledger file.
        path: std::path::PathBuf,
        /// Its layout version.
        layout: i64,
    },
    /// Another process holds the ledger where this operation needs it alone.
    #[error("{0}")]
    Busy(String),
}

/// An append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The log's head moved since the batch was built: re-read the head, rebuild, retry.
    #[error("the ledger head is at {actual}, not {expected}: another producer appended first")]
    Conflict {
        /// The head the batch was built on.
        expected: u64,
        /// The head found.
        actual: u64,
    },
    /// The batch is not a contiguous run of records starting right after the expected head.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// An event with this id is already in the log (callers check the index first).
    #[error("event {0} is already recorded")]
    DuplicateEvent(String),
    /// The backend failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

impl AppendError {
    /// Whether re-reading the head and retrying can succeed.
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        matches!(self, AppendError::Conflict { .. })
    }
}
