//! The exchange exports beyond a question's provenance (docs/HTTP.md): a report as STIX 2.1 or
//! as a MISP event, and the whole ledger as STIX 2.1, each for the caller's clearance through
//! the same `dossier_app::exchange` functions as `dossier export --format stix|misp`. The whole
//! ledger's bundle is streamed as it is written, one question at a time, never built in memory.

use std::io::Write;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use dossier_app::exchange::Selection;
use dossier_log::EventLog;
use dossier_model::{EntityId, Marking};

use crate::App;
use crate::auth::Principal;
use crate::problem::ApiError;
use crate::query;
use crate::routes::{Params, QueryArg, app_error};

/// Bytes handed to the response body at a time.
const CHUNK: usize = 64 * 1024;
/// Chunks written ahead of the client.
const AHEAD: usize = 4;

/// A response of `body` as `application/json`.
pub(crate) fn json(body: impl Into<Body>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.into(),
    )
        .into_response()
}

fn report_id(report: &str) -> Result<EntityId, ApiError> {
    let id = EntityId::parse(report).map_err(|e| ApiError::bad_parameter("report", e))?;
    if !id.as_str().starts_with("report:") {
        return Err(ApiError::bad_parameter(
            "report",
            format!("{report:?} is not a report id (report:…)"),
        ));
    }
    Ok(id)
}

/// The most restrictive marking among the events of the report's claims the clearance sees
/// (what a read of its export is logged as), or not found when it sees none.
fn report_marking(
    r: &dossier_query::Reader,
    clearance: Marking,
    report: &EntityId,
    as_of: Option<&str>,
) -> Result<Marking, ApiError> {
    let claims = r
        .report_claims(clearance, report.as_str(), as_of)
        .map_err(query::query_error)?;
    let markings = r
        .event_markings(claims.iter().map(|(seq, _)| *seq))
        .map_err(query::query_error)?;
    Ok(markings.into_values().max().unwrap_or(Marking::Clear))
}

/// A report's claims, as a STIX 2.1 bundle (`format=stix`, the default) or a MISP event
/// (`format=misp`), for the caller's clearance.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/reports/{report}/export", tag = "exchange",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("report" = String, Path, description = "The report id, e.g. `report:example-wire/2024-02-27-dprk-containers`"),
        ("format" = Option<String>, Query, description = "`stix` (the default): a STIX 2.1 bundle of the report's claims, with their questions, sources and relations (docs/STIX.md); `misp`: one MISP event (`{\"Event\": …}`, docs/STIX.md §MISP)"),
        ("as_of" = Option<String>, Query, description = "As of this recorded time: RFC 3339, or a date"),
    ),
    responses(
        (status = 200, description = "The STIX bundle or MISP event, holding only what the clearance sees", body = crate::openapi::ExchangeDocumentDoc),
        (status = 404, description = "No claim of the report is visible at the clearance", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn report<L: EventLog + 'static>(
    State(app): State<Arc<App<L>>>,
    Extension(p): Extension<Principal>,
    Path(path): Path<(String, String)>,
    q: QueryArg,
) -> Result<Response, ApiError> {
    let params = Params::new(q, &["as_of", "format"])?;
    let as_of = params.as_of()?;
    let report = report_id(&path.1)?;
    let misp = match params.get("format") {
        None | Some("stix") => false,
        Some("misp") => true,
        Some(other) => {
            return Err(ApiError::bad_parameter(
                "format",
                format!("{other:?} is not a format of this route; expected stix or misp"),
            ));
        }
    };
    let r = query::reader(&app).await?;
    let clearance = p.clearance;
    let id = report.clone();
    let (body, marking) = query::exchange(&app, r, move |log, r, handle| {
        let marking = report_marking(r, clearance, &id, as_of.as_deref())?;
        let bytes = if misp {
            let events = dossier_app::exchange::misp(
                log,
                r,
                clearance,
                Some(&id),
                as_of.as_deref(),
                Vec::new(),
                |_, _| {},
            );
            handle.block_on(events).map_err(app_error)?.0
        } else {
            let selection = Selection::Report(id);
            query::stix_bytes((log, r, handle), clearance, &selection, as_of.as_deref())?
        };
        Ok((bytes, marking))
    })
    .await?;
    let route = "GET /v1/ledgers/{ledger}/reports/{report}/export";
    query::log_read(&app, &p, route, || report.as_str().to_owned(), marking)?;
    Ok(json(body))
}

/// Every question the caller's clearance sees, with its claims, sources, reports and
/// relations, as one STIX 2.1 bundle, streamed as it is written (one question at a time).
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/stix", tag = "exchange",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("as_of" = Option<String>, Query, description = "As of this recorded time: RFC 3339, or a date"),
    ),
    responses(
        (status = 200, description = "The STIX 2.1 bundle (docs/STIX.md), holding only what the clearance sees; streamed: a failure after the first bytes ends the response early, which a JSON reader sees as cut short", body = crate::openapi::ExchangeDocumentDoc),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn ledger_stix<L: EventLog + 'static>(
    State(app): State<Arc<App<L>>>,
    Extension(p): Extension<Principal>,
    q: QueryArg,
) -> Result<Response, ApiError> {
    let params = Params::new(q, &["as_of"])?;
    let as_of = params.as_of()?;
    let r = query::reader(&app).await?;
    // What a reader at this clearance may be served: logged as read at it (a TLP:RED reader's
    // export of everything is a TLP:RED read).
    query::log_read(
        &app,
        &p,
        "GET /v1/ledgers/{ledger}/stix",
        || "the whole ledger as STIX".to_owned(),
        p.clearance,
    )?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(AHEAD);
    let log = Arc::clone(&app.log);
    let handle = tokio::runtime::Handle::current();
    let clearance = p.clearance;
    tokio::task::spawn_blocking(move || {
        let out = Chunks {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let stix = dossier_app::exchange::stix(
            &*log,
            &r,
            clearance,
            &Selection::All,
            as_of.as_deref(),
            out,
            |_, _| {},
        );
        let failed = match handle.block_on(stix) {
            Ok((mut out, _)) => out.flush().err().map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = failed {
            tracing::warn!(error = %e, "the STIX export of the ledger stopped");
            // Ends the body with an error: the client sees the response cut short.
            let _ = tx.blocking_send(Err(std::io::Error::other(e)));
        }
    });
    Ok(json(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    )))
}

/// A writer that hands its bytes, [`CHUNK`] at a time, to a response body being streamed; it
/// fails once the client has gone away, which stops the export.
struct Chunks {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl Chunks {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        // Called inside the export's `block_on`, where tokio's `blocking_send` may not run:
        // the channel's send future waits for room on any executor.
        futures::executor::block_on(self.tx.send(Ok(chunk))).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl Write for Chunks {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
