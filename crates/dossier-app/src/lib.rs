//! The application layer of a dossier ledger, shared by the faces that serve it (the `dossier`
//! command, the HTTP service): the data directory and its layout ([`Home`]), the backend the
//! ledger lives in ([`Backend`]: SQLite or JetStream), creating a ledger ([`create`]), checking report bundles with every
//! problem returned as data ([`check`]), the publish flow ([`publish`]), and the raw export and
//! import of the log ([`export`]).
//!
//! Errors are [`AppError`]s: each has a [`ErrorKind`] a face maps to its exit code or status,
//! and none carries advice for a particular face (flags, commands to run): the faces add it.

mod backend;
mod backup;
mod bundles;
mod error;
pub mod exchange;
pub mod export;
mod home;
mod init;
pub mod keyfiles;
pub mod keys;
pub mod migrate;
pub mod tiles;

pub use backend::Backend;
pub use backup::{BACKUP_FORMAT, KeysBackup};
pub use bundles::{
    BundleResult, BundleStatus, CheckReport, Checked, Conflict, ConflictWith, Input, Problem,
    ReportText, check, publish,
};
pub use error::{AppError, AppResult, BackendKind, ErrorKind};
pub use home::{Home, private_umask};
pub use init::{Created, create};
pub use keyfiles::{KeyFiles, KeyNotice, PassphraseSource, PassphraseUse};
