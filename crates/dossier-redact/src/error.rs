//! Errors of redaction.

use dossier_log::{LogError, PublishError};

/// What went wrong, by kind (for a service to choose its status, a CLI its exit code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedactErrorKind {
    /// The request is not acceptable (a report id or a reason).
    Invalid,
    /// The report named is not recorded.
    NotFound,
    /// The ledger could not be read or written, or its storage cannot erase texts.
    Storage,
    /// What is stored is not what this version wrote.
    Corrupt,
}

/// A redaction failed. Whether anything was recorded is said by the variant.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// The request is not acceptable; nothing was recorded.
    #[error("{0}")]
    Invalid(String),
    /// No report has this id; nothing was recorded.
    #[error("no report {0} is recorded in this ledger")]
    UnknownReport(String),
    /// Recording the redaction failed; nothing was recorded.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The ledger could not be read (before anything was recorded).
    #[error(transparent)]
    Log(#[from] LogError),
    /// The redaction is recorded at `seq`, but the text could not be erased; redacting the
    /// report again finishes the erase.
    #[error("the redaction is recorded at seq {seq}, but the text could not be erased: {source}")]
    Erase {
        /// Where the `report.redacted` record is.
        seq: u64,
        /// Why the erase failed.
        source: LogError,
    },
    /// Stored data is not what this version wrote.
    #[error("{0}")]
    Corrupt(String),
}

impl RedactError {
    /// The error's kind.
    #[must_use]
    pub fn kind(&self) -> RedactErrorKind {
        match self {
            RedactError::Invalid(_) => RedactErrorKind::Invalid,
            RedactError::UnknownReport(_) => RedactErrorKind::NotFound,
            RedactError::Publish(_) | RedactError::Log(_) | RedactError::Erase { .. } => {
                RedactErrorKind::Storage
            }
            RedactError::Corrupt(_) => RedactErrorKind::Corrupt,
        }
    }
}
