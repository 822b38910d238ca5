//! Errors of access management.

use dossier_log::{LogError, PublishError};

/// What went wrong, by kind (for a service to choose its status, a CLI its exit code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessErrorKind {
    /// The request is not acceptable (a name, role, clearance, expiry, reason or certificate).
    Invalid,
    /// The grant named does not exist.
    NotFound,
    /// The change contradicts what is recorded (a grant revoked before for another reason).
    Conflict,
    /// The ledger or the access log could not be read or written.
    Storage,
    /// What is stored is not what this version wrote.
    Corrupt,
}

/// An access operation failed; nothing was recorded.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The request is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// A certificate could not be read.
    #[error("certificate: {0}")]
    Certificate(String),
    /// No grant has this id.
    #[error("no grant {0} is recorded in this ledger")]
    UnknownGrant(String),
    /// The grant was already revoked, with another reason.
    #[error("grant {grant} was already revoked at seq {seq}")]
    AlreadyRevoked {
        /// The grant id.
        grant: String,
        /// Where the revocation is.
        seq: u64,
    },
    /// Publishing failed.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The ledger could not be read.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The access log's database failed.
    #[error("access log: {0}")]
    Store(#[from] rusqlite::Error),
    /// Stored data is not what this version wrote, or records came out of order.
    #[error("{0}")]
    Corrupt(String),
}

impl AccessError {
    /// The error's kind.
    #[must_use]
    pub fn kind(&self) -> AccessErrorKind {
        match self {
            AccessError::Invalid(_) | AccessError::Certificate(_) => AccessErrorKind::Invalid,
            AccessError::UnknownGrant(_) => AccessErrorKind::NotFound,
            AccessError::AlreadyRevoked { .. }
            | AccessError::Publish(PublishError::ContentConflict { .. }) => {
                AccessErrorKind::Conflict
            }
            AccessError::Publish(_) | AccessError::Log(_) | AccessError::Store(_) => {
                AccessErrorKind::Storage
            }
            AccessError::Corrupt(_) => AccessErrorKind::Corrupt,
        }
    }
}
