//! Errors of the application layer: each with a [`ErrorKind`], none with advice for a particular
//! face (no flag names, no commands to run): the CLI and the HTTP service add their own.

use std::path::PathBuf;

use dossier_jetstream::JetStreamError;
use dossier_log::migrate::MigrateError;
use dossier_log::{AppendError, LogError, PublishError};
use serde::Serialize;

use crate::bundles::{Conflict, Problem};

/// What kind of failure an [`AppError`] is: what a face maps to its exit code or status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input is bad (the problems say where); nothing was appended.
    Invalid,
    /// The input contradicts what is recorded; nothing was appended.
    Conflict,
    /// There is no ledger (or no key, no genesis) where one was expected.
    NotFound,
    /// The stored ledger is not what dossier wrote.
    Integrity,
    /// The ledger server failed or could not be reached; the same request may succeed later.
    Unavailable,
    /// Anything else: local I/O, a database, a setting.
    Internal,
}

/// Which backend a data directory keeps its ledger in (for messages about it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// `ledger.db` in the data directory.
    Sqlite,
    /// A JetStream stream.
    JetStream,
}

/// An application-layer operation failed.
///
/// `Display` is the operation that failed; [`std::error::Error::source`] the cause (so that a
/// face printing the cause chain prints what it printed before the move into this crate).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No data directory was given and the platform default cannot be found.
    #[error("no data directory: neither XDG_DATA_HOME nor HOME is set")]
    NoDataDir,
    /// The data directory (or the JetStream server) holds no ledger.
    #[error("no ledger in {place}")]
    NoLedger {
        /// The data directory or the stream, as [`crate::Home::describe`] names it.
        place: String,
        /// Where the ledger was looked for.
        backend: BackendKind,
    },
    /// The data directory (or the stream) already holds a ledger: nothing was changed.
    #[error("{place} already holds a ledger; nothing was changed")]
    LedgerExists {
        /// The data directory or the stream, as [`crate::Home::describe`] names it.
        place: String,
        /// Set when another creation appended the genesis first (the refused append).
        #[source]
        source: Option<AppendError>,
    },
    /// A migration did not happen; the old ledger is untouched.
    #[error("migrating {}: {problem}", ledger.display())]
    Migrate {
        /// The ledger file (or `stream <name>` for a JetStream ledger).
        ledger: PathBuf,
        /// Why.
        #[source]
        problem: crate::migrate::MigrateProblem,
    },
    /// An export did not happen, or stopped (the file written so far is incomplete: it has no
    /// end marker).
    #[error("exporting the log: {problem}")]
    Export {
        /// Why (in the message: it is the one line to show).
        problem: crate::export::ExportProblem,
    },
    /// An import refused its file, or stopped: the ledger holds the verified records up to
    /// `head` (nothing of the batch at fault, or after it).
    #[error("importing the log: {problem} (the ledger now ends at seq {head})")]
    Import {
        /// The ledger's head after the import.
        head: u64,
        /// Why (in the message: it is the one line to show).
        problem: crate::export::ImportProblem,
    },
    /// The genesis record could not be built.
    #[error("building the genesis record")]
    BuildGenesis {
        /// The cause.
        #[source]
        source: dossier_chain::BuildError,
    },
    /// The genesis record could not be written.
    #[error("writing the genesis record")]
    WriteGenesis {
        /// The cause.
        #[source]
        source: AppendError,
    },
    /// The ledger has no genesis record.
    #[error("the ledger is empty")]
    EmptyLedger,
    /// No producer key is configured in the data directory.
    #[error("no producer key configured ({} is missing)", path.display())]
    NoProducer {
        /// The missing `producer` file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// A key file is missing, unreadable or holds another key.
    #[error("{what}")]
    Key {
        /// What went wrong, naming the key and the file.
        what: String,
        /// The cause, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A key file is encrypted and no passphrase was given.
    #[error("{} is encrypted and no passphrase was given", path.display())]
    NoPassphrase {
        /// The key file.
        path: PathBuf,
    },
    /// The passphrase given does not decrypt a key file.
    #[error("wrong passphrase for {}", path.display())]
    WrongPassphrase {
        /// The key file.
        path: PathBuf,
    },
    /// The passphrase for a key file could not be read.
    #[error("reading the passphrase for {}: {what}", path.display())]
    Passphrase {
        /// The key file.
        path: PathBuf,
        /// Why.
        what: String,
    },
    /// A key change breaks a rule of the ledger's keys; nothing was appended.
    #[error("{0}; nothing was appended")]
    KeyRefused(crate::keys::KeyRefusal),
    /// A keys backup could not be made or restored; nothing was restored.
    #[error("{what}")]
    Backup {
        /// What is wrong.
        what: String,
    },
    /// A tile already written differs from the ledger's: tiles never change, so the ledger's
    /// history differs from the one the directory was written from. Nothing was overwritten.
    #[error(
        "{path} already holds a different tile: the ledger's history differs from the one these tiles were written from"
    )]
    TileDiffers {
        /// The tile file.
        path: String,
    },
    /// A file of the data directory could not be read or written.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A query of the belief views failed (an unknown question, views that fail their checks).
    #[error("{what}")]
    Query {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: dossier_query::QueryError,
    },
    /// The ledger holds something an export cannot describe (a record that does not parse).
    #[error("{what}")]
    Exchange {
        /// What is wrong.
        what: String,
    },
    /// The ledger could not be read or opened.
    #[error("{what}")]
    Log {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: LogError,
    },
    /// The JetStream ledger could not be opened.
    #[error("{what}")]
    JetStream {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: JetStreamError,
    },
    /// Bundles were refused: every problem found (and any conflict found beside them).
    #[error("{} error(s) in the input; nothing was appended", problems.len())]
    Invalid {
        /// Each problem, with its file and JSON Pointer.
        problems: Vec<Problem>,
        /// Conflicts found in the same run.
        conflicts: Vec<Conflict>,
    },
    /// Bundles define events already recorded (or defined by an earlier bundle of the run) with
    /// different content.
    #[error("{} conflict(s) with the ledger; nothing was appended", conflicts.len())]
    Conflict {
        /// Each conflict, naming the entity and where the other version is.
        conflicts: Vec<Conflict>,
    },
    /// Publishing a bundle failed; the bundles before it are committed, it and those after it
    /// are not.
    #[error("publishing {file}")]
    Publish {
        /// The bundle that failed.
        file: String,
        /// How many bundles were committed before it.
        committed: usize,
        /// The cause.
        #[source]
        source: PublishError,
    },
}

impl AppError {
    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            AppError::NoLedger { .. } | AppError::EmptyLedger | AppError::NoProducer { .. } => {
                ErrorKind::NotFound
            }
            AppError::Invalid { .. } | AppError::Backup { .. } | AppError::KeyRefused(_) => {
                ErrorKind::Invalid
            }
            AppError::Conflict { .. } | AppError::LedgerExists { .. } => ErrorKind::Conflict,
            AppError::TileDiffers { .. } => ErrorKind::Integrity,
            AppError::WriteGenesis {
                source: AppendError::Log(e),
            } => log_kind(e),
            AppError::Log { source, .. } => log_kind(source),
            AppError::Query { source, .. } => match source.kind() {
                dossier_query::QueryErrorKind::NotFound => ErrorKind::NotFound,
                dossier_query::QueryErrorKind::Integrity => ErrorKind::Integrity,
                dossier_query::QueryErrorKind::Mismatch
                | dossier_query::QueryErrorKind::Internal => ErrorKind::Internal,
            },
            AppError::Exchange { .. } => ErrorKind::Integrity,
            AppError::JetStream { source, .. } => match source {
                JetStreamError::Connect { .. } | JetStreamError::Api(_) => ErrorKind::Unavailable,
                JetStreamError::NoLedger { .. } => ErrorKind::NotFound,
                JetStreamError::Index(e) => log_kind(e),
                JetStreamError::Config(_)
                | JetStreamError::UnsafeStream { .. }
                | JetStreamError::Layout(_) => ErrorKind::Internal,
            },
            AppError::Publish { source, .. } => match source {
                PublishError::ContentConflict { .. } => ErrorKind::Conflict,
                PublishError::KeyNotRegistered { .. } | PublishError::KeyRevoked { .. } => {
                    ErrorKind::Invalid
                }
                PublishError::NotInitialized => ErrorKind::NotFound,
                PublishError::TooManyConflicts { .. } => ErrorKind::Unavailable,
                PublishError::Log(e) | PublishError::Append(AppendError::Log(e)) => log_kind(e),
                PublishError::Build(_) | PublishError::Append(_) => ErrorKind::Internal,
            },
            AppError::Migrate { problem, .. } => {
                use crate::migrate::MigrateProblem as P;
                match problem {
                    P::AlreadyMigrated | P::TargetExists(_) => ErrorKind::Conflict,
                    P::Abandoned { .. } => ErrorKind::Unavailable,
                    P::NeedsTarget | P::SameTarget | P::NoTextsStream => ErrorKind::Invalid,
                    P::DoesNotVerify(_) | P::Differs(_) => ErrorKind::Integrity,
                    P::Copy(
                        MigrateError::OversizedBatch { .. } | MigrateError::Unsealed { .. },
                    ) => ErrorKind::Invalid,
                    P::Copy(_) => ErrorKind::Internal,
                }
            }
            AppError::Export { problem } => {
                use crate::export::ExportProblem as P;
                match problem {
                    P::Empty => ErrorKind::NotFound,
                    P::BeyondHead { .. }
                    | P::NotBatchStart { .. }
                    | P::NoBatch { .. }
                    | P::NoContextSigner { .. } => ErrorKind::Invalid,
                    P::Malformed { .. } | P::BadText { .. } | P::Context(_) => ErrorKind::Integrity,
                    P::Write(_) => ErrorKind::Internal,
                }
            }
            AppError::Import { problem, .. } => {
                use crate::export::ImportProblem as P;
                match problem {
                    P::Unpinned | P::NotContinued { .. } | P::NoContext { .. } => {
                        ErrorKind::Invalid
                    }
                    P::File(dossier_export::ExportError::Io(_)) => ErrorKind::Internal,
                    P::File(_)
                    | P::DoesNotVerify { .. }
                    | P::Unsealed { .. }
                    | P::StrayText { .. }
                    | P::HeaderLedger { .. }
                    | P::Context(_)
                    | P::LedgerDoesNotVerify { .. } => ErrorKind::Integrity,
                    P::OtherLedger { .. } | P::LedgerAhead { .. } | P::Diverges { .. } => {
                        ErrorKind::Conflict
                    }
                    P::Append {
                        source: AppendError::Log(e),
                        ..
                    } => log_kind(e),
                    P::Append {
                        source: AppendError::Conflict { .. },
                        ..
                    } => ErrorKind::Conflict,
                    P::Append {
                        source: AppendError::DuplicateEvent(_),
                        ..
                    } => ErrorKind::Integrity,
                    P::Append { .. } => ErrorKind::Internal,
                }
            }
            AppError::NoDataDir
            | AppError::Key { .. }
            | AppError::NoPassphrase { .. }
            | AppError::WrongPassphrase { .. }
            | AppError::Passphrase { .. }
            | AppError::Io { .. }
            | AppError::BuildGenesis { .. }
            | AppError::WriteGenesis { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn log(what: impl Into<String>, source: LogError) -> AppError {
        AppError::Log {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> AppError {
        AppError::Io {
            what: what.into(),
            source,
        }
    }
}

fn log_kind(e: &LogError) -> ErrorKind {
    match e {
        LogError::Corrupt(_) => ErrorKind::Integrity,
        LogError::Server(_) => ErrorKind::Unavailable,
        LogError::Sqlite(_)
        | LogError::Incompatible(_)
        | LogError::ReadOnlyLayout { .. }
        | LogError::Busy(_) => ErrorKind::Internal,
    }
}

/// Result of an application-layer operation.
pub type AppResult<T> = Result<T, AppError>;
