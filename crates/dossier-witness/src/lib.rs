//! `dossier witness`: a C2SP `tlog-witness` for dossier ledgers (and any log of C2SP
//! checkpoints over an RFC 6962 tree signed with an Ed25519 signed-note key).
//!
//! A witness is configured with the logs it witnesses (origin and the log's verifier key). For
//! each log it keeps the size and root of the latest checkpoint it cosigned, in SQLite, written
//! and synced before it answers, and it never goes backwards: `add-checkpoint` cosigns a
//! checkpoint only if its signature verifies under the log's key, the request's old size is the
//! witness's, and the consistency proof from the witness's tree to the new one verifies (or, at
//! the same size, the roots are equal: another root at the same size is a fork, refused and
//! kept as evidence). A witness sees only checkpoints, never a record's content.
//!
//! - [`request`]: the `add-checkpoint` request body, parsed strictly.
//! - [`store`]: `witness.db` (the logs, the latest cosigned tree per log, refusals kept as
//!   evidence).
//! - [`key`]: the witness's Ed25519 key file.
//! - [`witness`]: [`Witness::add_checkpoint`], the checks and the cosignature.
//! - [`http`]: the axum service (`POST /add-checkpoint`).
//! - [`backup`]: the key file and a consistent copy of `witness.db` as one document, and its
//!   restoration into an empty directory.
//!
//! Described in `docs/WITNESS.md`.

pub mod backup;
pub mod http;
pub mod key;
pub mod request;
pub mod store;
pub mod witness;

pub use backup::{BACKUP_FORMAT, WitnessBackup};
pub use key::{KEY_FILE, WitnessKeyFile};
pub use request::AddCheckpoint;
pub use store::{LogState, STORE_FILE, Store};
pub use witness::{Refusal, Witness, WitnessError};
