//! Who is asking: principals, roles, and the authentication of a request.
//!
//! Every `/v1` route runs behind [`authenticate`]: it reads the bearer token, asks the
//! service's [`Authenticator`], and puts the [`Principal`] into the request (handlers take it
//! with `Extension<Principal>`) and into the response (for the request log). Any failure —
//! no credentials, a malformed header, an unknown, expired or revoked token — is the same
//! 401 problem, so that an answer says nothing about which tokens exist.
//!
//! The grants themselves (ledger events, tokens hashed, expiry, revocation) belong to the
//! access crate; an [`Authenticator`] is the one seam to plug them in. [`TokenTable`] is a
//! fixed table of tokens, for a service configured by hand and for tests.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dossier_model::Marking;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::problem::{ApiError, ProblemKind};

/// What a principal may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads what its clearance allows.
    Reader,
    /// Reads, and publishes bundles (implies TLP:RED: validation reveals what exists).
    Producer,
    /// Reads, checkpoints and proofs (implies TLP:RED).
    Auditor,
    /// Everything, including access administration.
    Admin,
}

impl Role {
    /// Whether this role may publish bundles.
    #[must_use]
    pub fn may_publish(self) -> bool {
        matches!(self, Role::Producer | Role::Admin)
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The grant's name (who).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The most restrictive marking it may read.
    pub clearance: Marking,
}

/// Why credentials were refused (logged, never answered: every refusal is the same 401).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No grant holds these credentials.
    #[error("unknown credentials")]
    Unknown,
    /// The grant was revoked.
    #[error("revoked grant")]
    Revoked,
    /// The grant expired.
    #[error("expired grant")]
    Expired,
}

/// Turns credentials into a principal. Implementations must be cheap: one runs per request.
pub trait Authenticator: Send + Sync + 'static {
    /// The principal holding bearer token `token` at `now`.
    ///
    /// # Errors
    /// The token is unknown, or its grant was revoked or has expired.
    fn authenticate_token(&self, token: &str, now: OffsetDateTime) -> Result<Principal, AuthError>;
}

/// One grant of a [`TokenTable`].
#[derive(Clone, Debug)]
struct TableEntry {
    principal: Principal,
    expires: Option<OffsetDateTime>,
    revoked: bool,
}

/// A fixed table of bearer tokens, kept by the BLAKE3 hash of each token (never the token).
#[derive(Clone, Debug, Default)]
pub struct TokenTable {
    entries: HashMap<[u8; 32], TableEntry>,
}

impl TokenTable {
    /// An empty table (every token refused).
    #[must_use]
    pub fn new() -> TokenTable {
        TokenTable::default()
    }

    /// Grants `principal` to holders of `token` until `expires` (`None`: no expiry).
    pub fn grant(&mut self, token: &str, principal: Principal, expires: Option<OffsetDateTime>) {
        self.entries.insert(
            *blake3::hash(token.as_bytes()).as_bytes(),
            TableEntry {
                principal,
                expires,
                revoked: false,
            },
        );
    }

    /// Grants `principal` to holders of the token whose BLAKE3 hash is `hash`.
    pub fn grant_hashed(
        &mut self,
        hash: [u8; 32],
        principal: Principal,
        expires: Option<OffsetDateTime>,
    ) {
        self.entries.insert(
            hash,
            TableEntry {
                principal,
                expires,
                revoked: false,
            },
        );
    }

    /// Reads a table from text: one grant per line, `NAME ROLE CLEARANCE BLAKE3-OF-TOKEN`
    /// (role `reader`, `producer`, `auditor` or `admin`; clearance e.g. `TLP:AMBER`; the
    /// token's BLAKE3 hash as 64 hex digits, so the file holds no token); `#` starts a comment.
    ///
    /// # Errors
    /// The line number and what is wrong with it.
    pub fn parse(text: &str) -> Result<TokenTable, String> {
        let mut table = TokenTable::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let at = |why: String| format!("line {}: {why}", i + 1);
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, role, clearance, hash] = fields[..] else {
                return Err(at("expected NAME ROLE CLEARANCE BLAKE3-OF-TOKEN".into()));
            };
            let role = match role {
                "reader" => Role::Reader,
                "producer" => Role::Producer,
                "auditor" => Role::Auditor,
                "admin" => Role::Admin,
                other => return Err(at(format!("unknown role {other:?}"))),
            };
            let clearance: Marking = clearance
                .parse()
                .map_err(|_| at(format!("unknown clearance {clearance:?}")))?;
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hash, &mut bytes)
                .map_err(|e| at(format!("the token hash is not 64 hex digits: {e}")))?;
            let principal = Principal {
                name: name.to_owned(),
                role,
                clearance,
            };
            table.grant_hashed(bytes, principal, None);
        }
        Ok(table)
    }

    /// Revokes the grant of `token`, if any.
    pub fn revoke(&mut self, token: &str) {
        if let Some(e) = self
            .entries
            .get_mut(blake3::hash(token.as_bytes()).as_bytes())
        {
            e.revoked = true;
        }
    }
}

impl Authenticator for TokenTable {
    fn authenticate_token(&self, token: &str, now: OffsetDateTime) -> Result<Principal, AuthError> {
        let entry = self
            .entries
            .get(blake3::hash(token.as_bytes()).as_bytes())
            .ok_or(AuthError::Unknown)?;
        if entry.revoked {
            return Err(AuthError::Revoked);
        }
        if entry.expires.is_some_and(|t| t <= now) {
            return Err(AuthError::Expired);
        }
        Ok(entry.principal.clone())
    }
}

/// The bearer token of a request, if its `Authorization` header holds one.
fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Middleware: authenticates the request (see the module documentation).
pub(crate) async fn authenticate(
    State(auth): State<Arc<dyn Authenticator>>,
    mut req: Request,
    next: Next,
) -> Response {
    let outcome = match bearer(&req) {
        None => Err(None),
        Some(token) => auth
            .authenticate_token(token, OffsetDateTime::now_utc())
            .map_err(Some),
    };
    match outcome {
        Ok(principal) => {
            req.extensions_mut().insert(principal.clone());
            let mut response = next.run(req).await;
            response.extensions_mut().insert(principal);
            response
        }
        Err(why) => {
            let why = why.map_or("no bearer token", |e| match e {
                AuthError::Unknown => "unknown token",
                AuthError::Revoked => "revoked grant",
                AuthError::Expired => "expired grant",
            });
            tracing::info!(reason = why, "authentication refused");
            ApiError::unauthenticated().into_response()
        }
    }
}

/// Refuses principals whose role may not publish.
pub(crate) fn require_publisher(p: &Principal) -> Result<(), ApiError> {
    if p.role.may_publish() {
        Ok(())
    } else {
        Err(ApiError::new(
            ProblemKind::Forbidden,
            "publishing bundles needs the producer role",
        ))
    }
}
