//! The analysts' web page of a dossier ledger: the query layer's typed answers
//! (`dossier_query::Answer`, `Marked`, `ServedRecord`) rendered as HTML on the server, for the
//! reader's clearance.
//!
//! [`router`] gives an axum [`Router`] that the HTTP service serves beside its API
//! (`dossier_http::Server::with_page`), so that `dossier serve --listen ADDR` opens the page at
//! `/`. Its routes:
//!
//! | Path | Page |
//! |------|------|
//! | `GET /` | redirects to `/beliefs` |
//! | `GET /sign-in`, `POST /sign-in`, `POST /sign-out` | a bearer token in, a cookie out |
//! | `GET /beliefs?status=&q=&sort=&page=` | every question's line: filter by status, search ids and texts, sort by question or last change, pages of 100 |
//! | `GET /question?id=` | a belief with its provenance tree and its history |
//! | `GET /reports/{seq}` | a report (its `report.recorded` record): metadata, text, every claim's quote highlighted |
//! | `GET /records?from=&type=&entity=`, `GET /records/{seq}` | the log, and one record's exact bytes |
//! | `GET /status` | the views' seq, head, lag, digest, and the auditor's verdict |
//! | `GET /live?after=` | a Server-Sent Events stream: one `records` event whenever the views apply records after `after` (see [`live`]) |
//! | `GET /assets/…` | the style sheet, the script and the icon, embedded in the binary |
//!
//! Every page but sign-in takes `as_of` (a recorded time) and `at` (a valid time) in its URL,
//! the same forms as the API's, and carries them in every link it renders.
//!
//! **Who reads.** Signing in checks the token with the service's own
//! [`dossier_http::Authenticator`] and, if it is accepted, sets it as an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` when [`WebConfig::secure_cookies`]); every request checks
//! the cookie's token again (a revoked grant is out on its next request). Every page shows the
//! reader's name and clearance and is computed by the query layer for that clearance: nothing
//! here filters or folds events. Refusals redirect to the sign-in page without saying why.
//!
//! **Markup.** Pages are `maud` templates: compile-time checked, and every value they insert
//! is escaped. Responses carry a `Content-Security-Policy` that allows only this origin's
//! script and style, and `Cache-Control: no-store` (what a page holds depends on who reads).

mod pages;
mod timeline;
pub mod words;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dossier_chain::{RecordView, StoredRecord};
use dossier_http::{Authenticator, Principal};
use dossier_log::EventLog;
use dossier_model::{Marking, Timestamp};
use dossier_query::{QueryError, QueryErrorKind, Reader, ServedRecord, Sources, Staleness};
use serde::Deserialize;

/// The name of the cookie that holds the reader's token.
pub const COOKIE: &str = "dossier_token";

/// How the page is set up.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// The belief views (`views.db`).
    pub views: PathBuf,
    /// The auditor's store (`auditor.db`), if one may exist.
    pub auditor: Option<PathBuf>,
    /// How long a page waits for a running projector to reach the head.
    pub wait: Duration,
    /// The access log (`access.db`) where every page holding TLP:RED material is recorded
    /// before it is sent, as the API records its reads; `None`: not recorded.
    pub access_log: Option<PathBuf>,
    /// The verifier key of the checkpoints (`name+keyid+base64`, docs/PROOFS.md §5.2) that the
    /// sign-in page shows and the reader's browser pins, to check records' inclusion proofs
    /// itself; `None`: not shown, and record pages cannot be checked in the browser.
    pub checkpoint_key: Option<String>,
    /// Whether the sign-in cookie is marked `Secure` (set it when the page is served over TLS,
    /// directly or behind a proxy).
    pub secure_cookies: bool,
}

impl WebConfig {
    /// A configuration with the defaults: no auditor, no wait, cookies not marked `Secure`.
    #[must_use]
    pub fn new(views: PathBuf) -> WebConfig {
        WebConfig {
            views,
            auditor: None,
            wait: Duration::ZERO,
            access_log: None,
            checkpoint_key: None,
            secure_cookies: false,
        }
    }
}

/// What every page handler shares.
pub(crate) struct Web<L> {
    pub(crate) log: Arc<L>,
    pub(crate) config: WebConfig,
    pub(crate) sources: Sources,
    pub(crate) auth: Arc<dyn Authenticator>,
    pub(crate) access_log: Option<dossier_access::AccessLog>,
    /// The record hashes read so far, for records' inclusion proofs.
    pub(crate) leaves: dossier_query::Leaves,
}

type WebState<L> = State<Arc<Web<L>>>;

/// The page's routes (see the crate documentation), to be merged into the HTTP service's
/// router. They hold no fallback, so the service's own answers every other path.
///
/// # Errors
/// The access log cannot be opened.
pub fn router<L: EventLog + 'static>(
    config: WebConfig,
    log: Arc<L>,
    auth: Arc<dyn Authenticator>,
) -> Result<Router, dossier_access::AccessError> {
    let access_log = config
        .access_log
        .as_deref()
        .map(dossier_access::AccessLog::open)
        .transpose()?;
    let sources = Sources {
        views: config.views.clone(),
        auditor: config.auditor.clone(),
        wait: config.wait,
    };
    let web = Arc::new(Web {
        log,
        config,
        sources,
        auth,
        access_log,
        leaves: dossier_query::Leaves::new(),
    });
    Ok(Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_form::<L>).post(sign_in::<L>))
        .route("/sign-out", axum::routing::post(sign_out::<L>))
        .route("/beliefs", get(beliefs::<L>))
        .route("/question", get(question::<L>))
        .route("/reports/{seq}", get(report::<L>))
        .route("/records", get(records::<L>))
        .route("/records/{seq}", get(record::<L>))
        .route("/records/{seq}/raw", get(record_raw::<L>))
        .route("/records/{seq}/proof", get(record_proof::<L>))
        .route("/status", get(status::<L>))
        .route("/live", get(live::<L>))
        .route("/assets/style.css", get(style))
        .route("/assets/page.js", get(script))
        .route("/assets/verify.js", get(verify_script))
        .route("/assets/icon.svg", get(icon))
        .with_state(web))
}

/// Records a page holding TLP:RED material in the access log, if one is kept, before the page
/// is sent; a page that cannot be recorded is not sent.
fn log_read<L>(
    web: &Web<L>,
    p: &Principal,
    route: &str,
    what: impl FnOnce() -> String,
    marking: Marking,
) -> Result<(), WebError> {
    let Some(log) = web.access_log.as_ref() else {
        return Ok(());
    };
    log.record_red_read(p, route, what, marking)
        .map_err(WebError::internal)
}

/// The most restrictive marking among records as served (withheld ones hold nothing).
fn records_marking<'a>(records: impl IntoIterator<Item = &'a ServedRecord>) -> Marking {
    records
        .into_iter()
        .filter_map(|r| match r {
            ServedRecord::Visible { marking, .. } => Some(*marking),
            ServedRecord::Withheld { .. } => None,
        })
        .max()
        .unwrap_or(Marking::Clear)
}

/// Why a page was not rendered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebError {
    /// No valid sign-in: answered with a redirect to the sign-in page.
    #[error("sign in to read this ledger")]
    SignIn,
    /// A parameter is malformed.
    #[error("{name}: {detail}")]
    BadParameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Nothing by that name visible at the clearance (the same whether unknown or not cleared).
    #[error("{0}")]
    NotFound(String),
    /// The ledger failed a check: nothing is shown from the views.
    #[error("the ledger failed a check: {0}")]
    Distrusted(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl WebError {
    fn internal(e: impl std::fmt::Display) -> WebError {
        WebError::Internal(e.to_string())
    }
}

impl From<QueryError> for WebError {
    fn from(e: QueryError) -> WebError {
        match e.kind() {
            QueryErrorKind::NotFound => WebError::NotFound(e.to_string()),
            QueryErrorKind::Integrity => WebError::Distrusted(e.to_string()),
            QueryErrorKind::Mismatch | QueryErrorKind::Internal => WebError::internal(e),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match &self {
            WebError::SignIn => {
                return (
                    StatusCode::SEE_OTHER,
                    [(header::LOCATION, HeaderValue::from_static("/sign-in"))],
                )
                    .into_response();
            }
            WebError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Distrusted(_) => StatusCode::CONFLICT,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %self, "rendering a page");
        }
        page_response(status, pages::error(status, &self.to_string()))
    }
}

/// A rendered page with the headers every page carries.
fn page_response(status: StatusCode, markup: maud::Markup) -> Response {
    let mut r = (status, markup.into_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// The token in the request's cookie, if any.
fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Whether a token can be put in a cookie as it is (tokens are `dossier_` and hex digits).
fn cookie_safe(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 512
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

/// The signed-in principal, or [`WebError::SignIn`].
async fn principal<L>(web: &Web<L>, headers: &HeaderMap) -> Result<Principal, WebError> {
    let token = cookie_token(headers).ok_or(WebError::SignIn)?;
    match web.auth.authenticate_token(token).await {
        Ok(p) => Ok(p),
        Err(why) => {
            tracing::info!(reason = %why, "page sign-in refused");
            Err(WebError::SignIn)
        }
    }
}

/// Opens a reader on the views (checked against the ledger and the auditor, brought up to date).
async fn reader<L: EventLog>(web: &Web<L>) -> Result<Reader, WebError> {
    Ok(Reader::open(&*web.log, &web.sources, Staleness::Refused).await?)
}

/// The as-of and valid times of a page, as given in its URL and as the query layer takes them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Times {
    /// `as_of` as given.
    pub(crate) as_of: Option<String>,
    /// `at` as given.
    pub(crate) at: Option<String>,
    /// `as_of` in the fixed-width recorded form.
    pub(crate) as_of_fixed: Option<String>,
    /// `at` parsed.
    pub(crate) at_time: Option<Timestamp>,
    /// The views' applied seq the page was rendered at (where the live stream starts).
    pub(crate) seq: Option<u64>,
}

impl Times {
    fn parse(as_of: Option<&str>, at: Option<&str>) -> Result<Times, WebError> {
        let as_of = as_of.map(str::trim).filter(|s| !s.is_empty());
        let at = at.map(str::trim).filter(|s| !s.is_empty());
        let as_of_fixed = as_of
            .map(|s| {
                Timestamp::parse_as_of(s)
                    .map(|t| dossier_chain::format_recorded(t.to_offset_datetime()))
                    .map_err(|e| WebError::BadParameter {
                        name: "as_of",
                        detail: e.to_string(),
                    })
            })
            .transpose()?;
        let at_time = at
            .map(|s| {
                Timestamp::parse_as_of(s).map_err(|e| WebError::BadParameter {
                    name: "at",
                    detail: e.to_string(),
                })
            })
            .transpose()?;
        Ok(Times {
            as_of: as_of.map(str::to_owned),
            at: at.map(str::to_owned),
            as_of_fixed,
            at_time,
            seq: None,
        })
    }

    /// The query-string pairs that carry these times.
    pub(crate) fn pairs(&self) -> [(&'static str, Option<&str>); 2] {
        [("as_of", self.as_of.as_deref()), ("at", self.at.as_deref())]
    }

    /// A link to `path` with `extra` parameters and these times.
    pub(crate) fn link(&self, path: &str, extra: &[(&str, Option<&str>)]) -> String {
        let mut pairs: Vec<(&str, Option<&str>)> = extra.to_vec();
        pairs.extend(self.pairs());
        format!("{path}{}", words::query(&pairs))
    }
}

/// The parameters any page takes.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageParams {
    as_of: Option<String>,
    at: Option<String>,
    id: Option<String>,
    status: Option<String>,
    q: Option<String>,
    page: Option<String>,
    sort: Option<String>,
    from: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    entity: Option<String>,
    after: Option<String>,
}

impl PageParams {
    fn times(&self) -> Result<Times, WebError> {
        Times::parse(self.as_of.as_deref(), self.at.as_deref())
    }
}

fn number_param(name: &'static str, v: Option<&str>) -> Result<Option<u64>, WebError> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>().map_err(|_| WebError::BadParameter {
                name,
                detail: format!("{s:?} is not a non-negative integer"),
            })
        })
        .transpose()
}

fn params(q: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>) -> PageParams {
    q.map(|Query(p)| p).unwrap_or_default()
}

type PageQuery = Result<Query<PageParams>, axum::extract::rejection::QueryRejection>;

async fn home() -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, HeaderValue::from_static("/beliefs"))],
    )
        .into_response()
}

async fn sign_in_form<L>(State(web): WebState<L>) -> Response {
    page_response(
        StatusCode::OK,
        pages::sign_in(None, web.config.checkpoint_key.as_deref()),
    )
}

/// The sign-in form's fields.
#[derive(Deserialize)]
struct SignInForm {
    token: String,
}

async fn sign_in<L: EventLog>(
    State(web): WebState<L>,
    form: Result<Form<SignInForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let refused = || {
        page_response(
            StatusCode::UNAUTHORIZED,
            pages::sign_in(
                Some("That token was not accepted."),
                web.config.checkpoint_key.as_deref(),
            ),
        )
    };
    let Ok(Form(form)) = form else {
        return refused();
    };
    let token = form.token.trim();
    if !cookie_safe(token) {
        return refused();
    }
    if web.auth.authenticate_token(token).await.is_err() {
        return refused();
    }
    let secure = if web.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
    let Ok(cookie) = HeaderValue::from_str(&cookie) else {
        return refused();
    };
    let mut r = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, HeaderValue::from_static("/beliefs"))],
    )
        .into_response();
    r.headers_mut().insert(header::SET_COOKIE, cookie);
    r
}

async fn sign_out<L: EventLog>(State(web): WebState<L>) -> Response {
    let secure = if web.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    let mut r = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, HeaderValue::from_static("/sign-in"))],
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Beliefs per page.
pub(crate) const PAGE_SIZE: usize = 100;

async fn beliefs<L: EventLog>(
    State(web): WebState<L>,
    headers: HeaderMap,
    q: PageQuery,
) -> Result<Response, WebError> {
    let p = principal(&web, &headers).await?;
    let params = params(q);
    let mut times = params.times()?;
    let page = number_param("page", params.page.as_deref())?
        .unwrap_or(1)
        .max(1);
    let r = reader(&web).await?;
    times.seq = Some(r.progress().applied);
    let answer = r.beliefs(p.clearance, times.as_of_fixed.as_deref(), times.at_time)?;
    let most = match &answer.answer.beliefs {
        dossier_query::BeliefList::Lines(l) => l.iter().map(|m| m.marking).max(),
        dossier_query::BeliefList::AtValidTime(l) => l.iter().map(|m| m.marking).max(),
    };
    log_read(
        &web,
        &p,
        "/beliefs",
        || "beliefs".to_owned(),
        most.unwrap_or(Marking::Clear),
    )?;
    let sort = match params.sort.as_deref().map(str::trim) {
        None | Some("" | "question") => pages::Sort::Question,
        Some("changed") => pages::Sort::Changed,
        Some(other) => {
            return Err(WebError::BadParameter {
                name: "sort",
                detail: format!("{other:?}: sort by \"question\" or \"changed\""),
            });
        }
    };
    let filter = pages::BeliefFilter {
        status: params.status.filter(|s| !s.is_empty()),
        q: params.q.filter(|s| !s.trim().is_empty()),
        page,
        sort,
    };
    let index: std::collections::HashMap<String, dossier_query::LineIndex> = r
        .line_index(p.clearance, times.as_of_fixed.as_deref())?
        .into_iter()
        .map(|l| (l.question.clone(), l))
        .collect();
    Ok(page_response(
        StatusCode::OK,
        pages::beliefs(&p, &times, &answer, &index, &filter),
    ))
}

/// A record of the ledger and how the reader may see it.
async fn served<L: EventLog>(
    web: &Web<L>,
    r: &Reader,
    clearance: Marking,
    seq: u64,
) -> Result<Option<(StoredRecord, ServedRecord)>, WebError> {
    if seq == 0 || seq > r.progress().applied {
        return Ok(None);
    }
    let Some(rec) = web
        .log
        .read(seq, 1)
        .await
        .map_err(WebError::internal)?
        .pop()
        .filter(|x| x.position == seq)
    else {
        return Ok(None);
    };
    let served = r.served_record(clearance, &rec)?;
    Ok(Some((rec, served)))
}

async fn question<L: EventLog>(
    State(web): WebState<L>,
    headers: HeaderMap,
    q: PageQuery,
) -> Result<Response, WebError> {
    let p = principal(&web, &headers).await?;
    let params = params(q);
    let mut times = params.times()?;
    let id = params
        .id
        .filter(|s| !s.is_empty())
        .ok_or(WebError::BadParameter {
            name: "id",
            detail: "required: the question id".into(),
        })?;
    let r = reader(&web).await?;
    times.seq = Some(r.progress().applied);
    let why = r.why(
        p.clearance,
        &id,
        times.as_of_fixed.as_deref(),
        times.at_time,
    )?;
    let history = r.history(p.clearance, &id, times.as_of_fixed.as_deref())?;
    // Each claim's own marking, as its record is served to this reader.
    let prov = &why.answer.belief.provenance;
    let mut markings = std::collections::HashMap::new();
    for c in prov
        .supporting
        .iter()
        .chain(&prov.contradicting)
        .chain(&prov.other)
        .chain(&prov.superseded)
        .chain(&prov.retracted)
    {
        if let Some((_, ServedRecord::Visible { marking, .. })) =
            served(&web, &r, p.clearance, c.event.seq).await?
        {
            markings.insert(c.event.seq, marking);
        }
    }
    let most = markings
        .values()
        .copied()
        .chain(history.answer.changes.iter().map(|c| c.marking))
        .chain([why.answer.marking])
        .max()
        .unwrap_or(Marking::Clear);
    log_read(&web, &p, "/question", || id.clone(), most)?;
    Ok(page_response(
        StatusCode::OK,
        pages::question(&p, &times, &why, &history, &markings),
    ))
}

/// A report and the claims quoting it, as the page shows them.
pub(crate) struct ReportPage {
    pub(crate) seq: u64,
    pub(crate) hash: String,
    pub(crate) marking: Marking,
    pub(crate) report: dossier_model::Report,
    pub(crate) text: Option<String>,
    /// Set when the text was redacted (its details only for a `TLP:RED` reader).
    pub(crate) redacted: Option<dossier_redact::Notice>,
    pub(crate) claims: Vec<(u64, dossier_model::Claim)>,
}

/// Decodes a visible record's domain event.
fn decode(rec: &StoredRecord) -> Option<dossier_model::DomainEvent> {
    let view = RecordView::parse(&rec.bytes).ok()?;
    dossier_model::DomainEvent::decode(view.event_type, view.schema, view.body.get().as_bytes())
        .ok()
}

async fn report<L: EventLog>(
    State(web): WebState<L>,
    headers: HeaderMap,
    Path(seq): Path<String>,
    q: PageQuery,
) -> Result<Response, WebError> {
    let p = principal(&web, &headers).await?;
    let params = params(q);
    let mut times = params.times()?;
    let missing = || WebError::NotFound(format!("no report at record {seq}"));
    let n = seq.parse::<u64>().map_err(|_| missing())?;
    let r = reader(&web).await?;
    times.seq = Some(r.progress().applied);
    let Some((rec, ServedRecord::Visible { hash, marking, .. })) =
        served(&web, &r, p.clearance, n).await?
    else {
        return Err(missing());
    };
    let Some(dossier_model::DomainEvent::Report(report)) = decode(&rec) else {
        return Err(missing());
    };
    let (text, redacted) = match dossier_chain::Hash::from_hex(&report.content_hash) {
        Ok(h) => match dossier_redact::text(web.log.as_ref(), &h)
            .await
            .map_err(WebError::internal)?
        {
            dossier_redact::Text::Stored(b) => (String::from_utf8(b).ok(), None),
            dossier_redact::Text::Missing => (None, None),
            dossier_redact::Text::Redacted(r) => {
                let visible = dossier_redact::Redaction::details_visible(p.clearance);
                (
                    None,
                    Some(dossier_redact::Notice {
                        report: report.id.to_string(),
                        content_hash: report.content_hash.clone(),
                        redaction: visible.then_some(r),
                    }),
                )
            }
        },
        Err(_) => (None, None),
    };
    // The claims quoting this report that the reader may see, recorded by the as-of time.
    let claims = r.report_claims(
        p.clearance,
        report.id.as_str(),
        times.as_of_fixed.as_deref(),
    )?;
    log_read(
        &web,
        &p,
        "/reports/{seq}",
        || format!("report {}", report.id),
        marking,
    )?;
    let page = ReportPage {
        seq: n,
        hash,
        marking,
        report,
        text,
        redacted,
        claims,
    };
    Ok(page_response(
        StatusCode::OK,
        pages::report(&p, &times, &page),
    ))
}

/// Records per page of the log.
pub(crate) const RECORDS_PAGE: usize = 100;

async fn records<L: EventLog>(
    State(web): WebState<L>,
    headers: HeaderMap,
    q: PageQuery,
) -> Result<Response, WebError> {
    let p = principal(&web, &headers).await?;
    let params = params(q);
    let mut times = params.times()?;
    let from = number_param("from", params.from.as_deref())?
        .unwrap_or(1)
        .max(1);
    let kind = params.kind.filter(|s| !s.is_empty());
    let entity = params.entity.filter(|s| !s.is_empty());
    let filtered = kind.is_some() || entity.is_some();
    let r = reader(&web).await?;
    times.seq = Some(r.progress().applied);
    let applied = r.progress().applied;
    let mut out = Vec::new();
    let mut next = from;
    let mut more = false;
    'read: while next <= applied {
        let want = usize::try_from(applied - next + 1)
            .unwrap_or(usize::MAX)
            .min(1000);
        let page = web.log.read(next, want).await.map_err(WebError::internal)?;
        let Some(last) = page.last() else { break };
        let last = last.position;
        for rec in page.iter().filter(|x| x.position <= applied) {
            next = rec.position + 1;
            let served = r.served_record(p.clearance, rec)?;
            let keep = match &served {
                ServedRecord::Withheld { .. } => !filtered,
                ServedRecord::Visible { event_type, .. } => {
                    kind.as_deref().is_none_or(|k| k == event_type)
                        && entity.as_deref().is_none_or(|e| {
                            RecordView::parse(&rec.bytes).is_ok_and(|v| v.entity == e)
                        })
                }
            };
            if keep {
                out.push(served);
                if out.len() == RECORDS_PAGE {
                    more = next <= applied;
                    break 'read;
                }
            }
        }
        next = last + 1;
    }
    log_read(
        &web,
        &p,
        "/records",
        || format!("records from {from}"),
        records_marking(&out),
    )?;
    let listing = pages::RecordListing {
        records: out,
        next: more.then_some(next),
        from,
        kind,
        entity,
    };
    Ok(page_response(
        StatusCode::OK,
        pages::records(&p, &times, &listing),
    ))
}

async fn record<L: EventLog>(
    State(web): WebState<L>,
    headers: HeaderMap,
    Path(seq): Path<String>,
    q: PageQuery,
) -> Result<Response, WebError> {
    let p = principal(&web, &headers).await?;
    let params = params(q);
    let mut times = params.times()?;
    let missing = || WebError::NotFound(format!("no record {seq}"));
    let n = seq.parse::<u64>().map_err(|_| missing())?;
    let r = reader(&web).await?;
    times.seq = Some(r.progress().applied);
    let (_, served) = served(&web, &r, p.clearance, n)
        .await?
        .ok_or_else(missing)?;
    Ok(page_response(
        StatusCode::OK,
        pages::record(&p, &times, &served),
    ))
}

/// The signed-in reader and the record at `seq` (from the path) with its marking, if the
/// record is visible to them; "no record" otherwise, the same for one above their clearance.
async fn visible_record<L: EventLog>(
    web: &Web<L>,
    headers: &HeaderMap,
    seq: &str,
) -> Result<(Principal, u64, StoredRecord, Marking), WebError> {
    let p = principal(web, headers).await?;
    let missing = || WebError::NotFound(format!("no record {seq}"));
    let n = seq.parse::<u64>().map_err(|_| missing())?;
    let r = reader(web).await?;
    let Some((rec, ServedRecord::Visible { marking, .. })) =
        served(web, &r, p.clearance, n).await?
    else {
        return Err(missing());
    };
    Ok((p, n, rec, marking))
}

/// A visible record's exact stored bytes, for the browser to hash itself.
async fn record_raw<L: EventLog>(
    State(web): WebState<L>,
    headers: HeaderMap,
    Path(seq): Path<String>,
) -> Result<Response, WebError> {
    let (p, n, rec, marking) = visible_record(&web, &headers, &seq).await?;
    log_read(
        &web,
        &p,
        "/records/{seq}/raw",
        || format!("record {n}"),
        marking,
    )?;
    let mut resp = rec.bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

/// A record's inclusion proof against the auditor's latest checkpoint, as the record page's
/// script checks it: `{"seq", "size", "proof": [hex…], "checkpoint": "<signed note>"}`.
#[derive(serde::Serialize)]
struct ProofAnswer {
    seq: u64,
    size: u64,
    proof: Vec<String>,
    checkpoint: String,
}

async fn record_proof<L: EventLog>(
    State(web): WebState<L>,
    headers: HeaderMap,
    Path(seq): Path<String>,
) -> Result<Response, WebError> {
    let (p, n, _, marking) = visible_record(&web, &headers, &seq).await?;
    let cp = match web.config.auditor.as_ref().filter(|a| a.is_file()) {
        Some(a) => {
            dossier_auditor::status(a)
                .map_err(WebError::internal)?
                .last_checkpoint
        }
        None => None,
    }
    .ok_or_else(|| WebError::NotFound("no checkpoint has been signed yet".into()))?;
    if n > cp.size {
        return Err(WebError::NotFound(format!(
            "record {n} is not covered by a checkpoint yet (the latest covers {})",
            cp.size
        )));
    }
    let tree = dossier_query::Tree::of(&cp)?;
    let proof = web.leaves.inclusion(&*web.log, tree, n).await?;
    log_read(
        &web,
        &p,
        "/records/{seq}/proof",
        || format!("record {n}"),
        marking,
    )?;
    let body = ProofAnswer {
        seq: n,
        size: cp.size,
        proof: proof.iter().map(dossier_chain::Hash::to_hex).collect(),
        checkpoint: cp.note,
    };
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The views' and the auditor's state, as the status page shows it.
pub(crate) struct StatusPage {
    pub(crate) applied: u64,
    pub(crate) head: u64,
    pub(crate) lag: u64,
    pub(crate) digest: Option<String>,
    pub(crate) auditor: Option<dossier_auditor::Status>,
}

async fn status<L: EventLog>(
    State(web): WebState<L>,
    headers: HeaderMap,
    q: PageQuery,
) -> Result<Response, WebError> {
    let p = principal(&web, &headers).await?;
    let mut times = params(q).times()?;
    let r = reader(&web).await?;
    times.seq = Some(r.progress().applied);
    let progress = r.progress();
    let lines = r.beliefs(p.clearance, None, None)?;
    let auditor = match web.config.auditor.as_ref().filter(|a| a.is_file()) {
        Some(a) => Some(dossier_auditor::status(a).map_err(WebError::internal)?),
        None => None,
    };
    let page = StatusPage {
        applied: progress.applied,
        head: progress.head,
        lag: progress.lag(),
        digest: lines.digest,
        auditor,
    };
    Ok(page_response(
        StatusCode::OK,
        pages::status(&p, &times, &page),
    ))
}

/// The style sheet, embedded.
const STYLE: &str = include_str!("../assets/style.css");
/// The icon, embedded.
const ICON: &str = include_str!("../assets/icon.svg");
/// The script, embedded.
const SCRIPT: &str = include_str!("../assets/page.js");
/// The proof check (BLAKE3, Merkle inclusion, signed notes), embedded.
const VERIFY: &str = include_str!("../assets/verify.js");

async fn verify_script() -> Response {
    asset("text/javascript; charset=utf-8", VERIFY)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// How often the live stream looks for newly applied records.
const LIVE_POLL: Duration = Duration::from_millis(500);

/// The page's live stream (`GET /live?after=SEQ`), as Server-Sent Events: whenever the views
/// have applied records after the last seq sent (at first `after`, the seq the page was
/// rendered at), one `records` event whose `id` is the new applied seq and whose data is
/// `{"seq": applied, "records": n, "changes": m}`: how many records arrived and how many
/// changes of belief visible at the reader's clearance they caused. It says nothing else of
/// them: a record above the clearance is counted, as the log lists it by seq and hash.
///
/// The API's streams (`/v1/ledgers/{ledger}/events/…`) take a bearer token, which a browser's
/// `EventSource` cannot send, and the page's token is in an `HttpOnly` cookie that no script
/// reads: so the page has this stream, signed in by the cookie like every page, over the same
/// query layer. The token is checked again on every look: a revoked grant ends the stream.
async fn live<L: EventLog + 'static>(
    State(web): WebState<L>,
    headers: HeaderMap,
    q: PageQuery,
) -> Result<Response, WebError> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let p = principal(&web, &headers).await?;
    let token = cookie_token(&headers).unwrap_or_default().to_owned();
    let after = number_param("after", params(q).after.as_deref())?.unwrap_or(0);
    let stream = futures::stream::unfold(
        (web, p, token, after),
        |(web, p, token, after)| async move {
            loop {
                tokio::time::sleep(LIVE_POLL).await;
                if web.auth.authenticate_token(&token).await.is_err() {
                    return None;
                }
                let r = match reader(&web).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, "live stream: the views cannot be read");
                        continue;
                    }
                };
                let applied = r.progress().applied;
                if applied <= after {
                    continue;
                }
                let changes = match r.changes_since(p.clearance, after, usize::MAX) {
                    Ok(c) => c.iter().filter(|c| c.item.seq <= applied).count(),
                    Err(e) => {
                        tracing::warn!(error = %e, "live stream: the changes cannot be read");
                        continue;
                    }
                };
                let data = format!(
                    "{{\"seq\":{applied},\"records\":{},\"changes\":{changes}}}",
                    applied - after
                );
                let event = Event::default()
                    .event("records")
                    .id(applied.to_string())
                    .data(data);
                return Some((
                    Ok::<_, std::convert::Infallible>(event),
                    (web, p, token, applied),
                ));
            }
        },
    );
    let mut r = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}
