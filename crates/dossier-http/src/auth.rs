//! Who is asking: principals, roles, and the authentication of a request.
//!
//! Every `/v1` route runs behind [`authenticate`]: it reads the bearer token, asks the
//! service's [`Authenticator`], and puts the [`Principal`] into the request (handlers take it
//! with `Extension<Principal>`) and into the response (for the request log). Any failure —
//! no credentials, a malformed header, an unknown, expired or revoked token — is the same
//! 401 problem, so that an answer says nothing about which tokens exist.
//!
//! The grants themselves are ledger events (`dossier-access`): [`LedgerGrants`] authenticates
//! against them; an [`Authenticator`] is the one seam.

use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dossier_access::Grants;
pub use dossier_access::{AuthError, Principal, Role};
use dossier_log::EventLog;
use dossier_model::Timestamp;

use crate::problem::{ApiError, ProblemKind};

/// A boxed future, for the object-safe [`Authenticator`].
pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = Result<Principal, AuthError>> + Send + 'a>>;

/// Turns credentials into a principal; one call per request.
pub trait Authenticator: Send + Sync + 'static {
    /// The principal holding bearer token `token` now.
    ///
    /// # Errors
    /// The token is unknown, or its grant was revoked or has expired.
    fn authenticate_token<'a>(&'a self, token: &'a str) -> AuthFuture<'a>;

    /// The principal holding the client certificate whose SubjectPublicKeyInfo hashes (SHA-256)
    /// to `spki_sha256`, verified by the TLS layer against the configured CA.
    ///
    /// # Errors
    /// No grant holds it, or every grant holding it was revoked or has expired.
    fn authenticate_cert<'a>(&'a self, spki_sha256: &'a [u8; 32]) -> AuthFuture<'a>;
}

/// The access grants recorded in the ledger (`dossier-access`), caught up from the ledger
/// before each authentication, so that a grant or a revocation made through any node of the
/// ledger counts from the next request on.
pub struct LedgerGrants<L> {
    log: Arc<L>,
    grants: tokio::sync::Mutex<Grants>,
}

impl<L> std::fmt::Debug for LedgerGrants<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerGrants").finish_non_exhaustive()
    }
}

impl<L: EventLog> LedgerGrants<L> {
    /// Grants of the ledger `log`, read on first use.
    #[must_use]
    pub fn new(log: Arc<L>) -> LedgerGrants<L> {
        LedgerGrants {
            log,
            grants: tokio::sync::Mutex::new(Grants::new()),
        }
    }
}

impl<L: EventLog> LedgerGrants<L> {
    /// The grants caught up to the ledger's head, and the time now; fails closed: without the
    /// ledger's current grants, nobody is let in.
    async fn current(&self) -> Result<(tokio::sync::MutexGuard<'_, Grants>, Timestamp), AuthError> {
        let mut grants = self.grants.lock().await;
        if let Err(e) = grants.catch_up(&*self.log).await {
            tracing::error!(error = %e, "reading the access grants");
            return Err(AuthError::Unknown);
        }
        let now = Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc())
            .map_err(|_| AuthError::Unknown)?;
        Ok((grants, now))
    }
}

impl<L: EventLog + 'static> Authenticator for LedgerGrants<L> {
    fn authenticate_token<'a>(&'a self, token: &'a str) -> AuthFuture<'a> {
        Box::pin(async move {
            let (grants, now) = self.current().await?;
            grants.authenticate_token(token, now)
        })
    }

    fn authenticate_cert<'a>(&'a self, spki_sha256: &'a [u8; 32]) -> AuthFuture<'a> {
        Box::pin(async move {
            let (grants, now) = self.current().await?;
            grants.authenticate_cert(spki_sha256, now)
        })
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
    let cert = req
        .extensions()
        .get::<crate::tls::ClientCert>()
        .and_then(|c| c.0);
    let outcome = match (bearer(&req), cert) {
        (Some(token), _) => auth.authenticate_token(token).await.map_err(Some),
        (None, Some(spki)) => auth.authenticate_cert(&spki).await.map_err(Some),
        (None, None) => Err(None),
    };
    match outcome {
        Ok(principal) => {
            req.extensions_mut().insert(principal.clone());
            let mut response = next.run(req).await;
            response.extensions_mut().insert(principal);
            response
        }
        Err(why) => {
            let why = why.map_or("no credentials", |e| match e {
                AuthError::Unknown => "unknown credentials",
                AuthError::Revoked => "revoked grant",
                AuthError::Expired => "expired grant",
            });
            tracing::info!(reason = why, "authentication refused");
            ApiError::unauthenticated().into_response()
        }
    }
}

/// Refuses principals whose role is not among `roles`: `what` (e.g. "publishing bundles")
/// needs the first of them.
pub(crate) fn require(p: &Principal, roles: &[Role], what: &str) -> Result<(), ApiError> {
    if roles.contains(&p.role) {
        return Ok(());
    }
    let needed = roles.first().map_or("another", |r| r.as_str());
    Err(ApiError::new(
        ProblemKind::Forbidden,
        format!("{what} needs the {needed} role"),
    ))
}
