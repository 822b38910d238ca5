//! The notifier of a dossier ledger: principals watch questions (one, or all matching a
//! filter), and each change of belief that fires a watch is delivered to its webhook as a
//! signed JSON payload, at least once, with retries and a dead-letter list (docs/NOTIFY.md).
//!
//! - [`watch`]: what a watch follows and what fires it (pure).
//! - [`sign`]: secrets and `webhook-signature`s, per the Standard Webhooks convention (pure).
//! - [`store`]: `notify.db` — watches, the delivery queue, dead letters, and the position.
//! - [`run`]: the service. It never folds beliefs: the changes come from the projector's
//!   views through `dossier-query` ([`dossier_query::Reader::changes_since`], the read API's
//!   answer for a clearance — the one the live stream `events/beliefs` sends), read once per
//!   clearance that some watch holds, so a watch sees exactly what its principal's reads would.
//!   Its queuing task commits the deliveries of a run of records and the position after them
//!   in one transaction; its sending task posts due deliveries and records each outcome.

mod allow;
pub mod service;
pub mod sign;
pub mod store;
pub mod watch;

use dossier_beliefs::BeliefChange;
use dossier_projector::Marked;
use serde::{Deserialize, Serialize};

pub use allow::{AllowEntry, WebhookPolicy};
pub use service::{Event, Options, run};
pub use store::{DeadLetter, Position, Running, STORE_FILE, Store, webhook_id};
pub use watch::{Scope, Threshold, Trigger, Watch, WatchError, WatchSpec};

/// The payload of a delivery: every change of belief one record caused that fires the watch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Notification {
    /// Always `belief.changed`.
    #[serde(rename = "type")]
    pub kind: NotificationType,
    /// The ledger id.
    pub ledger: String,
    /// The watch that fired.
    pub watch: String,
    /// The causing record's seq.
    pub seq: u64,
    /// The causing record's hash (hex).
    pub hash: String,
    /// The changes (one per question), as the read API serves them (`history`,
    /// `events/beliefs`): the question, the belief before and after, the causing event's seq,
    /// hash, time and type, the reason line, and the marking of the causing event.
    pub changes: Vec<Marked<BeliefChange>>,
}

/// The type of a [`Notification`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum NotificationType {
    /// Beliefs changed.
    #[serde(rename = "belief.changed")]
    BeliefChanged,
}

/// What kind of failure a [`NotifyError`] is, for a face to choose its status or exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyErrorKind {
    /// The request was malformed (a bad watch definition).
    Invalid,
    /// Nothing by that id.
    NotFound,
    /// Anything else: storage, I/O.
    Internal,
}

/// A failure of the notifier or its store.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A watch definition was refused.
    #[error(transparent)]
    Invalid(#[from] WatchError),
    /// No such watch or dead letter.
    #[error("{0}")]
    NotFound(String),
    /// The store failed.
    #[error("notify store: {0}")]
    Store(#[from] rusqlite::Error),
    /// The store holds something it could not have written.
    #[error("notify store: {0}")]
    Corrupt(String),
    /// A file could not be created.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The ledger failed.
    #[error(transparent)]
    Log(#[from] dossier_log::LogError),
    /// The access grants or the access log could not be read.
    #[error(transparent)]
    Access(#[from] dossier_access::AccessError),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl NotifyError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> NotifyErrorKind {
        match self {
            NotifyError::Invalid(_) => NotifyErrorKind::Invalid,
            NotifyError::NotFound(_) => NotifyErrorKind::NotFound,
            _ => NotifyErrorKind::Internal,
        }
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> NotifyError {
        NotifyError::Internal(e.to_string())
    }
}

/// Milliseconds since the Unix epoch, now.
#[must_use]
pub fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
    )
    .unwrap_or(i64::MAX)
}
