//! Who may read a dossier ledger: access grants recorded in the ledger itself, authentication
//! against them, and the local log of reads of `TLP:RED` material.
//!
//! - [`record`](mod@record): the `access.granted` and `access.revoked` records (`docs/FORMAT.md`
//!   §5.4): bodies, entity keys and event ids, the checks every writer and reader applies,
//!   token and certificate hashing. Pure.
//! - [`Grants`]: the fold of those records, caught up from any [`dossier_log::EventLog`], so
//!   every API node of one JetStream ledger sees the same grants; authenticates a bearer token
//!   or a client certificate's public key to a [`Principal`]. Pure but for
//!   [`Grants::catch_up`].
//! - [`grant`] and [`revoke`]: build the record, publish it as an ordinary sealed batch, and
//!   report what was recorded; the CLI and the HTTP service both call them.
//! - [`AccessLog`]: `access.db`, a local append-only SQLite file of reads.
//!
//! Invariants:
//!
//! - **A token exists only in the answer to [`grant`]**: the ledger holds its SHA-256, and
//!   authentication compares SHA-256 hashes in constant time.
//! - **Every access record is marked `TLP:RED`**, and a grant whose role is not `reader`
//!   has clearance `TLP:RED`; records that break these rules are never honoured.
//! - **An access record takes effect when its batch's seal is read**, and only if the sealing
//!   key was trusted before the batch (as key events do).

mod access_log;
mod error;
mod flow;
mod grants;
pub mod record;

pub use access_log::{ACCESS_LOG_FILE, AccessEntry, AccessLog};
pub use error::{AccessError, AccessErrorKind};
pub use flow::{CredentialRequest, GrantRequest, Granted, Revoked, grant, new_grant, revoke};
pub use grants::{AuthError, GrantInfo, GrantState, Grants, Principal, Rejected, RevocationInfo};
pub use record::{
    Credential, DEFAULT_EXPIRY, Expiry, GrantBody, RevokeBody, Role, spki_sha256_from_der,
    spki_sha256_from_pem, token_sha256,
};
