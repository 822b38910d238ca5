//! The routes: parameters checked and named, answers typed, every read through `query`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use dossier_chain::{Hash, RecordView};
use dossier_log::EventLog;
use dossier_model::Timestamp;
use dossier_proofs::ProofBundle;
use dossier_query::{Answer, ServedRecord};
use serde::{Deserialize, Serialize};

use crate::App;
use crate::auth::{self, Authenticator, Principal, Role};
use crate::problem::{ApiError, ProblemKind};
use crate::query;

/// The query parameters of a request, each known name at most once.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Checks the query against the route's `known` parameters.
    pub(crate) fn new(
        q: Result<Query<Vec<(String, String)>>, QueryRejection>,
        known: &[&str],
    ) -> Result<Params, ApiError> {
        let Query(pairs) = q.map_err(|e| {
            ApiError::new(ProblemKind::BadParameter, format!("the query string: {e}"))
        })?;
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !known.contains(&name.as_str()) {
                let expected = if known.is_empty() {
                    "this route takes no parameters".to_owned()
                } else {
                    format!("expected one of: {}", known.join(", "))
                };
                return Err(ApiError::bad_parameter(
                    name,
                    format!("unknown parameter; {expected}"),
                ));
            }
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(ApiError::bad_parameter(name, "given more than once"));
            }
        }
        Ok(Params(pairs))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `as_of`: RFC 3339, or a date (the end of that day, UTC); the fixed-width recorded-time
    /// form the views compare against.
    pub(crate) fn as_of(&self) -> Result<Option<String>, ApiError> {
        self.get("as_of")
            .map(|s| {
                Timestamp::parse_as_of(s)
                    .map(|t| dossier_chain::format_recorded(t.to_offset_datetime()))
                    .map_err(|e| ApiError::bad_parameter("as_of", e))
            })
            .transpose()
    }

    /// `at`: a valid time, RFC 3339 or a date (the end of that day, UTC).
    pub(crate) fn at(&self) -> Result<Option<Timestamp>, ApiError> {
        self.get("at")
            .map(|s| Timestamp::parse_as_of(s).map_err(|e| ApiError::bad_parameter("at", e)))
            .transpose()
    }

    /// A non-negative integer parameter.
    pub(crate) fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.get(name)
            .map(|s| {
                s.parse::<u64>().map_err(|_| {
                    ApiError::bad_parameter(name, format!("{s:?} is not a non-negative integer"))
                })
            })
            .transpose()
    }
}

/// A sequence number in a path.
fn seq_param(name: &str, s: &str) -> Result<u64, ApiError> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(ApiError::bad_parameter(
            name,
            format!("{s:?} is not a sequence number (1 or more)"),
        )),
    }
}

/// A page of records, as the principal may see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecordPage {
    /// The records in sequence order: whole where visible, `{seq, hash}` where above the
    /// clearance (and left out when a `type` or `entity` filter is given: a withheld record
    /// cannot be matched without revealing what it is).
    pub records: Vec<ServedRecord>,
    /// Where the next page starts (`from`), if there may be more up to the views' seq.
    pub next: Option<u64>,
}

/// One record, as the principal may see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SingleRecord {
    /// The record.
    pub record: ServedRecord,
}

/// The auditor's latest signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CheckpointAnswer {
    /// The checkpoint (the signed note is what `dossier verify --checkpoint` reads).
    pub checkpoint: dossier_auditor::StoredCheckpoint,
}

/// A record's inclusion in the ledger the auditor's latest checkpoint commits to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InclusionProof {
    /// The proof bundle, as `dossier check-proof` reads it.
    pub proof: ProofBundle,
}

/// The consistency of the ledger at the auditor's latest checkpoint with its first `from`
/// records (a checkpoint of that size the client holds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConsistencyProof {
    /// The ledger id.
    pub ledger: String,
    /// The older tree size.
    pub from: u64,
    /// The newer tree size (the checkpoint's).
    pub size: u64,
    /// The consistency proof (hex hashes).
    pub proof: Vec<String>,
    /// The newer signed checkpoint (C2SP tlog-checkpoint note).
    pub checkpoint: String,
}

/// The auditor's verdict, as the status route shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditorStatus {
    /// No alarm was ever recorded.
    pub healthy: bool,
    /// Alarms recorded.
    pub alarms: u64,
    /// Records the latest checkpoint covers, if any.
    pub checkpoint_size: Option<u64>,
}

/// Where the views stand against the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ViewsStatus {
    /// The last record applied to the views.
    pub applied: u64,
    /// The ledger's head (its last record).
    pub head: u64,
    /// The digest of the belief lines visible at the clearance, at `applied`.
    pub views_digest: Option<String>,
    /// The auditor's verdict, where an auditor runs on this ledger.
    pub auditor: Option<AuditorStatus>,
}

/// The answer of `/healthz` and `/readyz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// For `/readyz`: the last record applied to the views.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<u64>,
    /// For `/readyz`: the ledger's head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<u64>,
}

type AppState<L> = State<Arc<App<L>>>;
pub(crate) type QueryArg = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The whole router.
pub(crate) fn router<L: EventLog + 'static>(
    app: Arc<App<L>>,
    auth: Arc<dyn Authenticator>,
) -> Router {
    let ledger = Router::new()
        .route("/beliefs", get(beliefs::<L>))
        .route("/beliefs/{id}", get(line::<L>))
        .route("/questions/{id}", get(question::<L>))
        .route("/questions/{id}/history", get(history::<L>))
        .route("/questions/{id}/provenance", get(provenance::<L>))
        .route(
            "/reports/{report}/export",
            get(crate::exchange::report::<L>),
        )
        .route("/stix", get(crate::exchange::ledger_stix::<L>))
        .route("/records", get(records::<L>))
        .route("/records/{seq}", get(record::<L>))
        .route("/records/{seq}/raw", get(record_raw::<L>))
        .route("/texts/{hash}", get(text::<L>))
        .route("/checkpoint", get(checkpoint::<L>))
        .route("/proofs/inclusion/{seq}", get(inclusion::<L>))
        .route("/proofs/consistency", get(consistency::<L>))
        .route("/tlog/checkpoint", get(tlog_checkpoint::<L>))
        .route("/tlog/tile/{*tile}", get(tlog_tile::<L>))
        .route("/status", get(status::<L>))
        .route("/bundles", post(bundles::<L>))
        .route(
            "/reports/{report}/redaction",
            post(crate::redaction::redact::<L>),
        )
        .route("/events/records", get(crate::sse::records::<L>))
        .route("/events/beliefs", get(crate::sse::beliefs::<L>))
        .route(
            "/watches",
            get(crate::watches::list::<L>).post(crate::watches::create::<L>),
        )
        .route("/watches/{id}", delete(crate::watches::remove::<L>))
        .route("/dead-letters", get(crate::watches::dead_letters::<L>))
        .route(
            "/dead-letters/{id}/replay",
            post(crate::watches::replay::<L>),
        )
        .route_layer(from_fn_with_state(app.clone(), check_ledger::<L>))
        .route_layer(from_fn_with_state(auth, auth::authenticate));
    let metrics = Arc::clone(&app.metrics);
    Router::new()
        .nest("/v1/ledgers/{ledger}", ledger)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<L>))
        .route("/metrics", get(metrics_text::<L>))
        .route("/openapi.json", get(openapi))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(app.config.body_limit))
        .layer(from_fn_with_state(metrics, crate::metrics::observe))
        .with_state(app)
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("no such route")
}

async fn wrong_method(req: Request) -> ApiError {
    ApiError::new(
        ProblemKind::MethodNotAllowed,
        format!("{} is not allowed on this route", req.method()),
    )
}

/// Middleware: any ledger but the served one is unknown.
async fn check_ledger<L: EventLog>(
    State(app): AppState<L>,
    params: RawPathParams,
    req: Request,
    next: Next,
) -> Response {
    let named = params.iter().find(|(k, _)| *k == "ledger").map(|(_, v)| v);
    if named != Some(app.config.ledger.as_str()) {
        return ApiError::not_found("no such ledger").into_response();
    }
    next.run(req).await
}

/// Every question's line as of a recorded time, or belief at a valid time.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/beliefs", tag = "beliefs",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("as_of" = Option<String>, Query, description = "What was believed as of this recorded time: RFC 3339, or a date (the end of that day, UTC)"),
        ("at" = Option<String>, Query, description = "The beliefs about the world at this valid time: RFC 3339, or a date"),
    ),
    responses(
        (status = 200, description = "Every question's line visible at the clearance", body = crate::openapi::BeliefsAnswerDoc),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn beliefs<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    q: QueryArg,
) -> Result<Json<Answer<dossier_query::Beliefs>>, ApiError> {
    let params = Params::new(q, &["as_of", "at"])?;
    let (as_of, at) = (params.as_of()?, params.at()?);
    let r = query::reader(&app).await?;
    let a = query::beliefs(r, p.clearance, as_of, at).await?;
    let marking = match &a.answer.beliefs {
        dossier_query::BeliefList::Lines(l) => l.iter().map(|x| x.marking).max(),
        dossier_query::BeliefList::AtValidTime(b) => b.iter().map(|x| x.marking).max(),
    };
    if let Some(m) = marking {
        query::log_read(
            &app,
            &p,
            "GET /v1/ledgers/{ledger}/beliefs",
            || "beliefs".into(),
            m,
        )?;
    }
    Ok(Json(a))
}

/// One question's line: its judgment without provenance, as in the list of beliefs.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/beliefs/{id}", tag = "beliefs",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("id" = String, Path, description = "The question id, e.g. `question:dam-strike`"),
        ("as_of" = Option<String>, Query, description = "As of this recorded time: RFC 3339, or a date"),
    ),
    responses(
        (status = 200, description = "The question's line", body = crate::openapi::LineAnswerDoc),
        (status = 404, description = "No such question visible at the clearance", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn line<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    Path(path): Path<(String, String)>,
    q: QueryArg,
) -> Result<Json<Answer<dossier_projector::Marked<dossier_beliefs::BeliefLine>>>, ApiError> {
    let id = path.1;
    let params = Params::new(q, &["as_of"])?;
    let as_of = params.as_of()?;
    let r = query::reader(&app).await?;
    let a = query::line(r, p.clearance, id.clone(), as_of).await?;
    let route = "GET /v1/ledgers/{ledger}/beliefs/{id}";
    query::log_read(&app, &p, route, || id.clone(), a.answer.marking)?;
    Ok(Json(a))
}

/// One question's belief with its provenance.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/questions/{id}", tag = "beliefs",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("id" = String, Path, description = "The question id, e.g. `question:dam-strike`"),
        ("as_of" = Option<String>, Query, description = "As of this recorded time: RFC 3339, or a date"),
        ("at" = Option<String>, Query, description = "At this valid time: RFC 3339, or a date"),
    ),
    responses(
        (status = 200, description = "The belief with provenance", body = crate::openapi::WhyAnswerDoc),
        (status = 404, description = "No such question visible at the clearance", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn question<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    Path(path): Path<(String, String)>,
    q: QueryArg,
) -> Result<Json<Answer<dossier_query::Why>>, ApiError> {
    let id = path.1;
    let params = Params::new(q, &["as_of", "at"])?;
    let (as_of, at) = (params.as_of()?, params.at()?);
    let r = query::reader(&app).await?;
    let a = query::why(r, p.clearance, id.clone(), as_of, at).await?;
    let route = "GET /v1/ledgers/{ledger}/questions/{id}";
    query::log_read(&app, &p, route, || id.clone(), a.answer.marking)?;
    Ok(Json(a))
}

/// A question in an exchange format: a PROV-JSON document (the W3C PROV-JSON submission,
/// docs/PROV.md: `prefix`, the statements, one `bundle` per sealed batch) or a STIX 2.1 bundle
/// (docs/STIX.md: `type` `bundle`, its `id` and `objects`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
#[schemars(title = "ExchangeDocument")]
pub struct ExchangeDocument(pub serde_json::Map<String, serde_json::Value>);

/// One question's belief with its provenance in an exchange format, through the same
/// application functions as the CLI: PROV-JSON (`dossier why --format prov-json`) or STIX 2.1
/// (`dossier export --format stix --question`).
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/questions/{id}/provenance", tag = "beliefs",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("id" = String, Path, description = "The question id, e.g. `question:dam-strike`"),
        ("format" = Option<String>, Query, description = "`prov-json` (the default) or `stix`"),
        ("as_of" = Option<String>, Query, description = "As of this recorded time: RFC 3339, or a date"),
        ("at" = Option<String>, Query, description = "At this valid time: RFC 3339, or a date (prov-json only)"),
    ),
    responses(
        (status = 200, description = "The PROV-JSON document or STIX bundle, holding only what the clearance sees", body = crate::openapi::ExchangeDocumentDoc),
        (status = 404, description = "No such question visible at the clearance", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn provenance<L: EventLog + 'static>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    Path(path): Path<(String, String)>,
    q: QueryArg,
) -> Result<Response, ApiError> {
    let id = path.1;
    let params = Params::new(q, &["as_of", "at", "format"])?;
    let (as_of, at) = (params.as_of()?, params.at()?);
    let r = query::reader(&app).await?;
    let (body, marking) = match params.get("format") {
        None | Some("prov-json") => {
            let prov = query::prov(&app, r, p.clearance, id.clone(), as_of, at).await?;
            let body = serde_json::to_vec(&prov.document).map_err(ApiError::internal)?;
            (body, prov.marking)
        }
        Some("stix") if at.is_some() => {
            return Err(ApiError::bad_parameter(
                "at",
                "a STIX export is of the current view (as of a recorded time), not at a valid time",
            ));
        }
        Some("stix") => query::stix(&app, r, p.clearance, id.clone(), as_of).await?,
        Some(other) => {
            return Err(ApiError::bad_parameter(
                "format",
                format!("{other:?} is not a format of this route; expected prov-json or stix"),
            ));
        }
    };
    let route = "GET /v1/ledgers/{ledger}/questions/{id}/provenance";
    query::log_read(&app, &p, route, || id.clone(), marking)?;
    Ok(crate::exchange::json(body))
}

/// One question's changes of belief.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/questions/{id}/history", tag = "beliefs",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("id" = String, Path, description = "The question id"),
        ("as_of" = Option<String>, Query, description = "The changes recorded by this time: RFC 3339, or a date"),
    ),
    responses(
        (status = 200, description = "The question's changes of belief", body = crate::openapi::HistoryAnswerDoc),
        (status = 404, description = "No such question visible at the clearance", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn history<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    Path(path): Path<(String, String)>,
    q: QueryArg,
) -> Result<Json<Answer<dossier_query::History>>, ApiError> {
    let id = path.1;
    let params = Params::new(q, &["as_of"])?;
    let as_of = params.as_of()?;
    let r = query::reader(&app).await?;
    let a = query::history(r, p.clearance, id.clone(), as_of).await?;
    if let Some(m) = a.answer.changes.iter().map(|c| c.marking).max() {
        let route = "GET /v1/ledgers/{ledger}/questions/{id}/history";
        query::log_read(&app, &p, route, || id.clone(), m)?;
    }
    Ok(Json(a))
}

/// The most records one page holds.
const MAX_PAGE: u64 = 1000;

/// A range of records, up to the views' seq.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/records", tag = "records",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("from" = Option<u64>, Query, minimum = 1, description = "The first seq (default 1)"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "Records read (default 100, at most 1000)"),
        ("type" = Option<String>, Query, description = "Only records of this type, e.g. `claim.recorded`"),
        ("entity" = Option<String>, Query, description = "Only records of this entity id"),
    ),
    responses(
        (status = 200, description = "The records read", body = crate::openapi::RecordPageAnswerDoc),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn records<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    q: QueryArg,
) -> Result<Json<Answer<RecordPage>>, ApiError> {
    let params = Params::new(q, &["from", "limit", "type", "entity"])?;
    let from = params.u64("from")?.unwrap_or(1);
    if from == 0 {
        return Err(ApiError::bad_parameter(
            "from",
            "sequence numbers start at 1",
        ));
    }
    let limit = params.u64("limit")?.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_parameter(
            "limit",
            format!("must be 1 to {MAX_PAGE}"),
        ));
    }
    let (kind, entity) = (params.get("type"), params.get("entity"));
    let r = query::reader(&app).await?;
    let applied = r.progress().applied;
    let mut out = Vec::new();
    let mut next = None;
    if from <= applied {
        let n = limit.min(applied - from + 1);
        let page = app
            .log
            .read(from, n as usize)
            .await
            .map_err(ApiError::internal)?;
        if let Some(last) = page.last()
            && last.position < applied
        {
            next = Some(last.position + 1);
        }
        for (rec, served) in page.iter().zip(query::served_all(&r, p.clearance, &page)?) {
            let keep = match (&served, kind.is_some() || entity.is_some()) {
                (ServedRecord::Withheld { .. }, filtered) => !filtered,
                (ServedRecord::Visible { event_type, .. }, _) => {
                    kind.is_none_or(|k| k == event_type)
                        && entity.is_none_or(|e| {
                            RecordView::parse(&rec.bytes).is_ok_and(|v| v.entity == e)
                        })
                }
            };
            if keep {
                out.push(served);
            }
        }
    }
    query::log_read(
        &app,
        &p,
        "GET /v1/ledgers/{ledger}/records",
        || format!("records from {from}, limit {limit}"),
        query::records_marking(&out),
    )?;
    Ok(Json(query::envelope(
        &r,
        p.clearance,
        RecordPage { records: out, next },
    )))
}

/// Reads record `seq` as served to `p`, if the views applied it.
async fn served_record<L: EventLog>(
    app: &App<L>,
    p: &Principal,
    seq: u64,
) -> Result<
    (
        dossier_query::Reader,
        dossier_chain::StoredRecord,
        ServedRecord,
    ),
    ApiError,
> {
    let r = query::reader(app).await?;
    let missing = || ApiError::not_found(format!("no record {seq}"));
    if seq > r.progress().applied {
        return Err(missing());
    }
    let rec = app
        .log
        .read(seq, 1)
        .await
        .map_err(ApiError::internal)?
        .pop()
        .filter(|x| x.position == seq)
        .ok_or_else(missing)?;
    let served = query::served(&r, p.clearance, &rec)?;
    Ok((r, rec, served))
}

/// One record: whole if visible at the clearance, else its seq and hash.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/records/{seq}", tag = "records",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("seq" = u64, Path, minimum = 1, description = "The record's sequence number"),
    ),
    responses(
        (status = 200, description = "The record", body = crate::openapi::SingleRecordAnswerDoc),
        (status = 404, description = "No such record (yet)", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn record<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    Path(path): Path<(String, String)>,
) -> Result<Json<Answer<SingleRecord>>, ApiError> {
    let seq = path.1;
    let seq = seq_param("seq", &seq)?;
    let (r, _, served) = served_record(&app, &p, seq).await?;
    let route = "GET /v1/ledgers/{ledger}/records/{seq}";
    let marking = query::records_marking([&served]);
    query::log_read(&app, &p, route, || format!("record {seq}"), marking)?;
    Ok(Json(query::envelope(
        &r,
        p.clearance,
        SingleRecord { record: served },
    )))
}

/// One record's exact stored bytes, if visible at the clearance.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/records/{seq}/raw", tag = "records",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("seq" = u64, Path, minimum = 1, description = "The record's sequence number"),
    ),
    responses(
        (status = 200, description = "The record's exact bytes, a JSON object (hash them to check the record hash)", content_type = "application/json", body = Object),
        (status = 404, description = "No such record visible at the clearance", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn record_raw<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    Path(path): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let seq = path.1;
    let seq = seq_param("seq", &seq)?;
    let (_, rec, served) = served_record(&app, &p, seq).await?;
    match served {
        ServedRecord::Visible { marking, .. } => {
            let route = "GET /v1/ledgers/{ledger}/records/{seq}/raw";
            query::log_read(&app, &p, route, || format!("record {seq}"), marking)?;
            Ok((
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                rec.bytes,
            )
                .into_response())
        }
        ServedRecord::Withheld { .. } => Err(ApiError::not_found(format!(
            "no record {seq} visible at this clearance"
        ))),
    }
}

/// A report's text, by its content hash, if a report with that text is visible.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/texts/{hash}", tag = "records",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("hash" = String, Path, description = "The text's BLAKE3 content hash (64 hex digits)"),
    ),
    responses(
        (status = 200, description = "The text", content_type = "text/plain; charset=utf-8", body = String),
        (status = 404, description = "No report with that text visible at the clearance", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 410, description = "The text was redacted: who, when and why in the detail at clearance TLP:RED", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn text<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    Path(path): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let hash = path.1;
    let parsed = Hash::from_hex(&hash)
        .map_err(|e| ApiError::bad_parameter("hash", format!("not a 64-digit hex hash: {e}")))?;
    let missing = || ApiError::not_found(format!("no text {hash}"));
    let r = query::reader(&app).await?;
    // A text is served (or said to be redacted) if a report that names it is visible (the
    // views file every report).
    let visible = query::text_marking(&r, p.clearance, &parsed.to_hex())?;
    let Some(marking) = visible else {
        return Err(missing());
    };
    let bytes = match dossier_redact::text(app.log.as_ref(), &parsed)
        .await
        .map_err(ApiError::internal)?
    {
        dossier_redact::Text::Stored(bytes) => bytes,
        dossier_redact::Text::Missing => return Err(missing()),
        dossier_redact::Text::Redacted(r) => {
            let detail = if dossier_redact::Redaction::details_visible(p.clearance) {
                query::log_read(
                    &app,
                    &p,
                    "GET /v1/ledgers/{ledger}/texts/{hash}",
                    || format!("redaction of text {hash}"),
                    dossier_redact::MARKING,
                )?;
                format!(
                    "text {hash} of {} was redacted at seq {} by key {} ({}), recorded {}: {}",
                    r.report, r.seq, r.key, r.by, r.recorded, r.reason
                )
            } else {
                format!("text {hash} was redacted")
            };
            return Err(ApiError::new(ProblemKind::Redacted, detail));
        }
    };
    query::log_read(
        &app,
        &p,
        "GET /v1/ledgers/{ledger}/texts/{hash}",
        || format!("text {hash}"),
        marking,
    )?;
    let text = String::from_utf8(bytes).map_err(ApiError::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

/// The auditor's latest checkpoint.
fn latest_checkpoint<L>(app: &App<L>) -> Result<dossier_auditor::StoredCheckpoint, ApiError> {
    let none = || ApiError::not_found("the auditor has signed no checkpoint of this ledger yet");
    let Some(path) = app.config.auditor.as_ref().filter(|p| p.is_file()) else {
        return Err(none());
    };
    dossier_auditor::status(path)
        .map_err(ApiError::internal)?
        .last_checkpoint
        .ok_or_else(none)
}

/// The current signed checkpoint (the auditor's latest).
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/checkpoint", tag = "proofs",
    params(("ledger" = String, Path, description = "The ledger id")),
    responses(
        (status = 200, description = "The checkpoint", body = crate::openapi::CheckpointAnswerDoc),
        (status = 404, description = "No checkpoint yet", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn checkpoint<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
) -> Result<Json<Answer<CheckpointAnswer>>, ApiError> {
    let r = query::reader(&app).await?;
    let checkpoint = latest_checkpoint(&app)?;
    Ok(Json(query::envelope(
        &r,
        p.clearance,
        CheckpointAnswer { checkpoint },
    )))
}

/// The tree a stored checkpoint signs.
fn tree(cp: &dossier_auditor::StoredCheckpoint) -> Result<dossier_query::Tree<'_>, ApiError> {
    dossier_query::Tree::of(cp).map_err(query::query_error)
}

/// A record's inclusion proof against the current checkpoint.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/proofs/inclusion/{seq}", tag = "proofs",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("seq" = u64, Path, minimum = 1, description = "The record's sequence number"),
    ),
    responses(
        (status = 200, description = "The proof bundle", body = crate::openapi::InclusionAnswerDoc),
        (status = 404, description = "No such record visible, or not covered by a checkpoint yet", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn inclusion<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    Path(path): Path<(String, String)>,
) -> Result<Json<Answer<InclusionProof>>, ApiError> {
    let seq = path.1;
    let seq = seq_param("seq", &seq)?;
    let (r, rec, served) = served_record(&app, &p, seq).await?;
    let ServedRecord::Visible {
        record, marking, ..
    } = served
    else {
        return Err(ApiError::not_found(format!(
            "no record {seq} visible at this clearance"
        )));
    };
    let cp = latest_checkpoint(&app)?;
    if seq > cp.size {
        return Err(ApiError::not_found(format!(
            "record {seq} is not covered by a checkpoint yet (the latest covers {})",
            cp.size
        )));
    }
    let proof = app
        .leaves
        .inclusion(&*app.log, tree(&cp)?, seq)
        .await
        .map_err(query::query_error)?;
    let route = "GET /v1/ledgers/{ledger}/proofs/inclusion/{seq}";
    query::log_read(&app, &p, route, || format!("record {seq}"), marking)?;
    drop(rec);
    let bundle = ProofBundle::Inclusion {
        ledger: cp.ledger.clone(),
        seq,
        record,
        proof: proof.iter().map(Hash::to_hex).collect(),
        checkpoint: cp.note.clone(),
    };
    Ok(Json(query::envelope(
        &r,
        p.clearance,
        InclusionProof { proof: bundle },
    )))
}

/// The consistency proof from an older tree size to the current checkpoint.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/proofs/consistency", tag = "proofs",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("from" = u64, Query, minimum = 1, description = "The older tree size (that of a checkpoint the client holds)"),
    ),
    responses(
        (status = 200, description = "The proof", body = crate::openapi::ConsistencyAnswerDoc),
        (status = 404, description = "No checkpoint yet", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn consistency<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    q: QueryArg,
) -> Result<Json<Answer<ConsistencyProof>>, ApiError> {
    let params = Params::new(q, &["from"])?;
    let from = params
        .u64("from")?
        .ok_or_else(|| ApiError::bad_parameter("from", "required: the older tree size"))?;
    let r = query::reader(&app).await?;
    let cp = latest_checkpoint(&app)?;
    if from == 0 || from > cp.size {
        return Err(ApiError::bad_parameter(
            "from",
            format!("must be 1 to {}, the latest checkpoint's size", cp.size),
        ));
    }
    let proof = app
        .leaves
        .consistency(&*app.log, from, tree(&cp)?)
        .await
        .map_err(query::query_error)?;
    Ok(Json(query::envelope(
        &r,
        p.clearance,
        ConsistencyProof {
            ledger: cp.ledger.clone(),
            from,
            size: cp.size,
            proof: proof.iter().map(Hash::to_hex).collect(),
            checkpoint: cp.note.clone(),
        },
    )))
}

/// The auditor's latest checkpoint as C2SP `tlog-tiles` serves it: the signed note alone, as
/// text (the log's `<prefix>/checkpoint`, the prefix being `/v1/ledgers/{ledger}/tlog`).
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/tlog/checkpoint", tag = "proofs",
    params(("ledger" = String, Path, description = "The ledger id")),
    responses(
        (status = 200, description = "The signed checkpoint note (C2SP tlog-checkpoint); the tiles under tlog/tile/ are of its tree", content_type = "text/plain; charset=utf-8", body = String),
        (status = 404, description = "No checkpoint yet", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn tlog_checkpoint<L: EventLog>(
    State(app): AppState<L>,
) -> Result<Response, ApiError> {
    let cp = latest_checkpoint(&app)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=5"),
            ),
        ],
        cp.note,
    )
        .into_response())
}

/// A C2SP `tlog-tiles` tile or entry bundle of the auditor's latest checkpoint's tree:
/// `tlog/tile/<L>/<N>[.p/<W>]` or `tlog/tile/entries/<N>[.p/<W>]` (docs/PROOFS.md §8). Entries
/// are the 32-byte record hashes only, so any reader may fetch them, whatever their clearance.
/// Not in the OpenAPI document: a tile's path has a varying number of segments.
pub(crate) async fn tlog_tile<L: EventLog>(
    State(app): AppState<L>,
    Path(path): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let cp = latest_checkpoint(&app)?;
    let data = app
        .leaves
        .tile(&*app.log, tree(&cp)?, &format!("tile/{}", path.1))
        .await
        .map_err(query::query_error)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=31536000, immutable"),
            ),
        ],
        data,
    )
        .into_response())
}

/// The auditor's verdict, if it runs here.
fn auditor_status<L>(app: &App<L>) -> Result<Option<AuditorStatus>, ApiError> {
    let Some(path) = app.config.auditor.as_ref().filter(|p| p.is_file()) else {
        return Ok(None);
    };
    let s = dossier_auditor::status(path).map_err(ApiError::internal)?;
    Ok(Some(AuditorStatus {
        healthy: s.healthy,
        alarms: s.alarm_count,
        checkpoint_size: s.last_checkpoint.map(|c| c.size),
    }))
}

/// Where the views stand: applied seq, head, lag, digest, the auditor's verdict.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/status", tag = "operations",
    params(("ledger" = String, Path, description = "The ledger id")),
    responses(
        (status = 200, description = "The status", body = crate::openapi::StatusAnswerDoc),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn status<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
) -> Result<Json<Answer<ViewsStatus>>, ApiError> {
    let r = query::reader(&app).await?;
    let progress = r.progress();
    let digest = query::digest(&r, p.clearance)?;
    Ok(Json(query::envelope(
        &r,
        p.clearance,
        ViewsStatus {
            applied: progress.applied,
            head: progress.head,
            views_digest: Some(digest),
            auditor: auditor_status(&app)?,
        },
    )))
}

/// Publishes a report bundle (producer role).
#[utoipa::path(post, path = "/v1/ledgers/{ledger}/bundles", tag = "bundles",
    params(("ledger" = String, Path, description = "The ledger id")),
    request_body(content = crate::openapi::BundleDoc, content_type = "application/json", description = "A report bundle (`docs/FORMAT.md`)"),
    responses(
        (status = 200, description = "Committed: what was appended, or that every event was already recorded", body = crate::openapi::PublishedDoc),
        (status = 409, description = "An event conflicts with the ledger; nothing was appended", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The role may not publish", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "Publishing is not available on this service", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn bundles<L: EventLog>(
    State(app): AppState<L>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<dossier_app::BundleResult>, ApiError> {
    auth::require(&p, &[Role::Producer, Role::Admin], "publishing bundles")?;
    let body = crate::body::json_bytes(&headers, body, "bundle")?;
    if let Err(e) = std::str::from_utf8(&body) {
        return Err(ApiError::new(
            ProblemKind::BadBody,
            format!(
                "the body is not UTF-8: invalid byte at offset {}",
                e.valid_up_to()
            ),
        ));
    }
    // The same checks as `dossier publish`: parsing, validation against the ledger, event ids
    // against its index (identical events are already recorded, different ones conflict).
    let report = dossier_app::check(
        Some(&*app.log),
        [dossier_app::Input::bytes("bundle", body.to_vec())],
    )
    .await
    .map_err(app_error)?;
    let checked = report.accept().map_err(app_error)?;
    let signer = signer_for(&app, &p)?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut results = Vec::new();
    dossier_app::publish(&*app.log, &signer, &checked, &stop, |_, r| results.push(r))
        .await
        .map_err(app_error)?;
    let result = results
        .pop()
        .ok_or_else(|| ApiError::internal("the publish committed no bundle"))?;
    tracing::info!(
        principal = %p.name,
        grant = %p.grant,
        first_seq = ?result.first_seq,
        last_seq = ?result.last_seq,
        new = result.new,
        "bundle published"
    );
    Ok(Json(result))
}

/// The service's producer key, named for the principal it records for: the records carry the
/// service's key (`actor.key`, which seals them) and the principal (`actor.name`).
pub(crate) fn signer_for<L>(
    app: &App<L>,
    p: &Principal,
) -> Result<dossier_chain::Signer, ApiError> {
    let Some(signer) = app.config.producer.as_ref() else {
        return Err(ApiError::new(
            ProblemKind::Unavailable,
            "this service has no producer key to sign batches with",
        ));
    };
    Ok(signer.with_name(&format!("{} (via {})", p.name, signer.name())))
}

/// The problem for a failed check, publish or export.
pub(crate) fn app_error(e: dossier_app::AppError) -> ApiError {
    use dossier_app::{AppError, ErrorKind};
    match e {
        AppError::Query { source, .. } => query::query_error(source),
        AppError::Invalid { problems, .. } => {
            let first = problems.first();
            let mut err = ApiError::new(
                ProblemKind::BadBody,
                first.map_or_else(
                    || "the bundle is invalid".to_owned(),
                    |f| {
                        let at = if f.pointer.is_empty() {
                            String::new()
                        } else {
                            format!(" at {}", f.pointer)
                        };
                        format!("the bundle is invalid{at}: {}", f.message)
                    },
                ),
            );
            err.problem.pointer = first.map(|f| f.pointer.clone());
            err
        }
        AppError::Conflict { conflicts } => {
            let detail = conflicts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            ApiError::new(
                ProblemKind::Conflict,
                format!("nothing was appended: {detail}"),
            )
        }
        e => match e.kind() {
            ErrorKind::Conflict => ApiError::new(ProblemKind::Conflict, e.to_string()),
            ErrorKind::Unavailable => ApiError::new(ProblemKind::Unavailable, e.to_string()),
            ErrorKind::Integrity => ApiError::new(ProblemKind::Distrusted, e.to_string()),
            _ => ApiError::internal(e),
        },
    }
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = crate::openapi::HealthDoc)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        applied: None,
        head: None,
    })
}

/// Readiness: the views are within the configured bound of the ledger's head.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = crate::openapi::HealthDoc),
        (status = 503, description = "Not ready", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ))]
pub(crate) async fn readyz<L: EventLog>(State(app): AppState<L>) -> Result<Json<Health>, ApiError> {
    let p = dossier_projector::status(&*app.log, &app.config.views)
        .await
        .map_err(|e| {
            ApiError::new(
                ProblemKind::Unavailable,
                format!("the views cannot be read: {e}"),
            )
        })?;
    if p.lag() > app.config.ready_lag {
        return Err(ApiError::new(
            ProblemKind::Unavailable,
            format!(
                "the views are {} records behind the head (ready within {})",
                p.lag(),
                app.config.ready_lag
            ),
        ));
    }
    if auditor_status(&app)
        .ok()
        .flatten()
        .is_some_and(|a| !a.healthy)
    {
        return Err(ApiError::new(
            ProblemKind::Unavailable,
            "the auditor raised an alarm on this ledger",
        ));
    }
    Ok(Json(Health {
        status: "ok".into(),
        applied: Some(p.applied),
        head: Some(p.head),
    }))
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "The metrics", content_type = "application/openmetrics-text", body = String)))]
pub(crate) async fn metrics_text<L: EventLog>(
    State(app): AppState<L>,
) -> Result<Response, ApiError> {
    if let Ok(p) = dossier_projector::status(&*app.log, &app.config.views).await {
        app.metrics
            .lag
            .set(i64::try_from(p.lag()).unwrap_or(i64::MAX));
        app.metrics
            .applied
            .set(i64::try_from(p.applied).unwrap_or(i64::MAX));
    }
    if let Ok(Some(a)) = auditor_status(&app) {
        app.metrics
            .alarms
            .set(i64::try_from(a.alarms).unwrap_or(i64::MAX));
    }
    let text = app.metrics.encode().map_err(ApiError::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub(crate) async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        crate::openapi::openapi_json(),
    )
        .into_response()
}
