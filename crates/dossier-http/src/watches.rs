//! Watches (`watches`, each principal's own) and the notifier's dead letters (`dead-letters`,
//! admin), over the notifier's store (`dossier-notify`). The notifier that delivers them runs
//! beside the service (`dossier serve --listen`); docs/NOTIFY.md.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use dossier_log::EventLog;
use dossier_notify::{DeadLetter, NotifyError, NotifyErrorKind, Store, Trigger, Watch, WatchSpec};
use serde::{Deserialize, Serialize};

use crate::App;
use crate::auth::{Principal, Role, require};
use crate::problem::{ApiError, ProblemKind};
use crate::routes::{Params, QueryArg};

/// A watch to create.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWatch {
    /// The question to follow (`question:…`); absent: every question visible at the
    /// principal's clearance.
    #[serde(default)]
    pub question: Option<String>,
    /// What fires it (default `{"on": "change"}`).
    #[serde(default)]
    pub trigger: Trigger,
    /// The webhook's URL (http or https).
    pub url: String,
}

/// The principal's watches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WatchList {
    /// Oldest first.
    pub watches: Vec<Watch>,
}

/// A watch just created, with its secret: shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreatedWatch {
    /// The watch.
    pub watch: Watch,
    /// The secret its deliveries are signed with (`whsec_…`, Standard Webhooks).
    pub secret: String,
}

/// The notifier's dead letters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeadLetterList {
    /// Oldest first.
    pub dead_letters: Vec<DeadLetter>,
}

/// A dead letter queued again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Replayed {
    /// The dead letter as it was.
    pub replayed: DeadLetter,
}

type AppState<L> = State<Arc<App<L>>>;

fn store<L>(app: &App<L>) -> Result<Arc<Store>, ApiError> {
    app.notify.clone().ok_or_else(|| {
        ApiError::new(
            ProblemKind::Unavailable,
            "this service keeps no watches (no notifier store is configured)",
        )
    })
}

fn notify_error(e: NotifyError) -> ApiError {
    match e.kind() {
        NotifyErrorKind::Invalid => ApiError::new(ProblemKind::BadBody, e.to_string()),
        NotifyErrorKind::NotFound => ApiError::not_found(e.to_string()),
        NotifyErrorKind::Internal => ApiError::internal(e),
    }
}

/// Runs a store call on a thread for blocking work (SQLite).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NotifyError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(notify_error)
}

/// The principal's own watches.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/watches", tag = "watches", operation_id = "watches_list",
    params(("ledger" = String, Path, description = "The ledger id")),
    responses(
        (status = 200, description = "The principal's watches (secrets are never shown again)", body = crate::openapi::WatchListDoc),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "This service keeps no watches", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn list<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    q: QueryArg,
) -> Result<Json<WatchList>, ApiError> {
    Params::new(q, &[])?;
    let store = store(&app)?;
    let name = p.name.clone();
    let watches = blocking(move || store.watches(Some(&name))).await?;
    Ok(Json(WatchList { watches }))
}

/// Creates a watch for the principal, with its clearance: it fires only on changes the
/// principal could read.
#[utoipa::path(post, path = "/v1/ledgers/{ledger}/watches", tag = "watches", operation_id = "watches_create",
    params(("ledger" = String, Path, description = "The ledger id")),
    request_body(content = crate::openapi::NewWatchDoc, content_type = "application/json", description = "What to follow, what fires it, where to deliver"),
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = crate::openapi::CreatedWatchDoc),
        (status = 400, description = "A malformed definition", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "This service keeps no watches", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn create<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    q: QueryArg,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CreatedWatch>), ApiError> {
    Params::new(q, &[])?;
    let new: NewWatch = crate::body::json(&headers, body, "watch")?;
    let spec = WatchSpec {
        question: new.question,
        trigger: new.trigger,
        url: new.url,
    };
    let store = store(&app)?;
    let head = app.log.head().await.map_err(ApiError::internal)?.seq;
    let principal = p.clone();
    let (watch, secret) = blocking(move || store.add_watch(&principal, &spec, head)).await?;
    tracing::info!(principal = %p.name, grant = %p.grant, watch = %watch.id, "watch created");
    Ok((StatusCode::CREATED, Json(CreatedWatch { watch, secret })))
}

/// Removes one of the principal's watches, with its queued deliveries.
#[utoipa::path(delete, path = "/v1/ledgers/{ledger}/watches/{id}", tag = "watches", operation_id = "watches_remove",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("id" = String, Path, description = "The watch id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "The principal has no such watch", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "This service keeps no watches", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn remove<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    Path(path): Path<(String, String)>,
    q: QueryArg,
) -> Result<StatusCode, ApiError> {
    Params::new(q, &[])?;
    let id = path.1;
    let store = store(&app)?;
    let name = p.name.clone();
    let removed = {
        let id = id.clone();
        blocking(move || store.remove_watch(&id, Some(&name))).await?
    };
    if !removed {
        return Err(ApiError::not_found("no such watch"));
    }
    tracing::info!(principal = %p.name, watch = %id, "watch removed");
    Ok(StatusCode::NO_CONTENT)
}

/// The deliveries that failed every attempt (admin).
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/dead-letters", tag = "watches", operation_id = "dead_letters_list",
    params(("ledger" = String, Path, description = "The ledger id")),
    responses(
        (status = 200, description = "The dead letters", body = crate::openapi::DeadLetterListDoc),
        (status = 403, description = "Not an admin", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "This service keeps no watches", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn dead_letters<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    q: QueryArg,
) -> Result<Json<DeadLetterList>, ApiError> {
    require(&p, &[Role::Admin], "listing dead letters")?;
    Params::new(q, &[])?;
    let store = store(&app)?;
    let dead_letters = blocking(move || store.dead_letters()).await?;
    Ok(Json(DeadLetterList { dead_letters }))
}

/// Queues a dead letter again: due now, its attempts counted afresh, the same `webhook-id` and
/// body (admin).
#[utoipa::path(post, path = "/v1/ledgers/{ledger}/dead-letters/{id}/replay", tag = "watches", operation_id = "dead_letters_replay",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("id" = i64, Path, description = "The dead letter's id"),
    ),
    responses(
        (status = 200, description = "Queued again", body = crate::openapi::ReplayedDoc),
        (status = 403, description = "Not an admin", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such dead letter", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "This service keeps no watches", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn replay<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    Path(path): Path<(String, String)>,
    q: QueryArg,
) -> Result<Json<Replayed>, ApiError> {
    require(&p, &[Role::Admin], "replaying dead letters")?;
    Params::new(q, &[])?;
    let id: i64 = path.1.parse().map_err(|_| {
        ApiError::bad_parameter("id", format!("{:?} is not a dead letter id", path.1))
    })?;
    let store = store(&app)?;
    let found = blocking(move || store.replay(id, dossier_notify::now_ms())).await?;
    let replayed = found.ok_or_else(|| ApiError::not_found("no such dead letter"))?;
    tracing::info!(principal = %p.name, dead_letter = id, "dead letter replayed");
    Ok(Json(Replayed { replayed }))
}
