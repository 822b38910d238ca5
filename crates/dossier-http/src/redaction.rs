//! `POST reports/{report}/redaction` (admin): redacts a report's text through
//! `dossier-redact`, the function `dossier redact` calls: the `report.redacted` record first,
//! then the erase (docs/FORMAT.md §5.5).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use dossier_log::EventLog;
use dossier_redact::{Outcome, RedactError, RedactErrorKind, Redacted};
use serde::{Deserialize, Serialize};

use crate::App;
use crate::auth::{Principal, Role, require};
use crate::problem::{ApiError, ProblemKind};
use crate::routes::{Params, QueryArg};

/// A redaction to record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRedaction {
    /// Why (1 to 1,000 characters, not blank, no control characters). Recorded `TLP:RED`.
    pub reason: String,
}

fn redact_error(e: RedactError) -> ApiError {
    match (&e, e.kind()) {
        (_, RedactErrorKind::Invalid) => ApiError::new(ProblemKind::BadBody, e.to_string()),
        (_, RedactErrorKind::NotFound) => ApiError::not_found(e.to_string()),
        (RedactError::Log(l) | RedactError::Erase { source: l, .. }, _) if l.is_transient() => {
            ApiError::new(ProblemKind::Unavailable, e.to_string())
        }
        _ => ApiError::internal(e),
    }
}

/// Redacts the text of a report (admin): records `report.redacted` (who: the principal, via
/// the service's key; when; why) and erases the text from the content store. The chain,
/// checkpoints and proofs stay valid; the claims and their quotes stay.
#[utoipa::path(post, path = "/v1/ledgers/{ledger}/reports/{report}/redaction", tag = "redaction",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("report" = String, Path, description = "The report id, e.g. `report:yonhap/2024-03-05` (its `/` may be sent as `%2F`)"),
    ),
    request_body(content = crate::openapi::NewRedactionDoc, content_type = "application/json", description = "Why the text is redacted"),
    responses(
        (status = 201, description = "Recorded, and the text erased", body = crate::openapi::RedactedDoc),
        (status = 200, description = "Already redacted (`outcome` `already_redacted`; or `completed`: recorded before, the erase finished now): nothing recorded", body = crate::openapi::RedactedDoc),
        (status = 400, description = "A blank or malformed reason, or not a report id", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such report", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "No producer key, the ledger's server unreachable, or recorded but not yet erased", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn redact<L: EventLog>(
    State(app): State<Arc<App<L>>>,
    Extension(p): Extension<Principal>,
    Path(path): Path<(String, String)>,
    headers: HeaderMap,
    q: QueryArg,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Redacted>), ApiError> {
    require(&p, &[Role::Admin], "redacting a report")?;
    Params::new(q, &[])?;
    let report = path.1;
    dossier_redact::record::check_report_id(&report)
        .map_err(|e| ApiError::bad_parameter("report", e))?;
    let new: NewRedaction = crate::body::json(&headers, body, "redaction")?;
    let signer = crate::routes::signer_for(&app, &p)?;
    let done = dossier_redact::redact(&*app.log, &signer, &report, &new.reason)
        .await
        .map_err(redact_error)?;
    // The answer holds the redaction's reason, marked TLP:RED.
    crate::query::log_read(
        &app,
        &p,
        "POST /v1/ledgers/{ledger}/reports/{report}/redaction",
        || report.clone(),
        dossier_redact::MARKING,
    )?;
    tracing::info!(
        principal = %p.name,
        grant = %p.grant,
        report = %report,
        seq = done.redaction.seq,
        outcome = ?done.outcome,
        "report redacted"
    );
    let status = match done.outcome {
        Outcome::Redacted => StatusCode::CREATED,
        Outcome::Completed | Outcome::AlreadyRedacted => StatusCode::OK,
    };
    Ok((status, Json(done)))
}
