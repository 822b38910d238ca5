//! The one place the service calls the query layer (`dossier_query::Reader`): every answer is
//! computed for the principal's clearance here, and the query layer's errors become problems
//! here. Handlers never touch the views directly.

use dossier_log::EventLog;
use dossier_model::{Marking, Timestamp};
use dossier_projector::Marked;
use dossier_query::{
    Answer, Beliefs, History, QueryError, QueryErrorKind, Reader, ServedRecord, Staleness, Why,
};

use crate::App;
use crate::problem::{ApiError, ProblemKind};

/// Opens a reader on the views: checks them against the ledger and the auditor, and takes
/// where they stand (without waiting longer than the configured bound for the projector).
pub(crate) async fn reader<L: EventLog>(app: &App<L>) -> Result<Reader, ApiError> {
    Reader::open(&*app.log, &app.sources, Staleness::Refused)
        .await
        .map_err(query_error)
}

/// The problem for a failed query. "Not posed" and "not cleared" are one error in the query
/// layer, so they are one answer here.
pub(crate) fn query_error(e: QueryError) -> ApiError {
    match e.kind() {
        QueryErrorKind::NotFound => ApiError::not_found(e.to_string()),
        QueryErrorKind::Integrity => ApiError::new(
            ProblemKind::Distrusted,
            format!("the ledger failed a check: {e}"),
        ),
        QueryErrorKind::Mismatch | QueryErrorKind::Internal => ApiError::internal(e),
    }
}

/// Runs a query on a thread for blocking work: the views are SQLite files read synchronously,
/// and a belief with provenance is folded from stored events for milliseconds, which must not
/// hold up the threads serving connections (live streams, health checks).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// Every question's line (or belief at a valid time) visible at `clearance`.
pub(crate) async fn beliefs(
    r: Reader,
    clearance: Marking,
    as_of: Option<String>,
    at: Option<Timestamp>,
) -> Result<Answer<Beliefs>, ApiError> {
    blocking(move || {
        r.beliefs(clearance, as_of.as_deref(), at)
            .map_err(query_error)
    })
    .await
}

/// One question's line, as seen at `clearance`.
pub(crate) async fn line(
    r: Reader,
    clearance: Marking,
    question: String,
    as_of: Option<String>,
) -> Result<Answer<Marked<dossier_beliefs::BeliefLine>>, ApiError> {
    blocking(move || {
        r.line(clearance, &question, as_of.as_deref())
            .map_err(query_error)
    })
    .await
}

/// One question's belief with provenance, as seen at `clearance`.
pub(crate) async fn why(
    r: Reader,
    clearance: Marking,
    question: String,
    as_of: Option<String>,
    at: Option<Timestamp>,
) -> Result<Answer<Why>, ApiError> {
    blocking(move || {
        r.why(clearance, &question, as_of.as_deref(), at)
            .map_err(query_error)
    })
    .await
}

/// Runs `f`, an export of `dossier_app::exchange` over the ledger and the views, on a thread for
/// blocking work like every query (its reads of the views are synchronous); `f` drives the
/// export's reads of the ledger with the runtime's handle.
pub(crate) async fn exchange<L: EventLog + 'static, T: Send + 'static>(
    app: &std::sync::Arc<App<L>>,
    r: Reader,
    f: impl FnOnce(&L, &Reader, &tokio::runtime::Handle) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let log = std::sync::Arc::clone(&app.log);
    let handle = tokio::runtime::Handle::current();
    blocking(move || f(&log, &r, &handle)).await
}

/// One question's provenance as PROV-JSON, as seen at `clearance` (`dossier_app::exchange::prov`,
/// as `dossier why --format prov-json`).
pub(crate) async fn prov<L: EventLog + 'static>(
    app: &std::sync::Arc<App<L>>,
    r: Reader,
    clearance: Marking,
    question: String,
    as_of: Option<String>,
    at: Option<Timestamp>,
) -> Result<dossier_app::exchange::Provenance, ApiError> {
    exchange(app, r, move |log, r, handle| {
        let prov = dossier_app::exchange::prov(log, r, clearance, &question, as_of.as_deref(), at);
        handle.block_on(prov).map_err(crate::routes::app_error)
    })
    .await
}

/// One question as a STIX 2.1 bundle, as seen at `clearance` (`dossier_app::exchange::stix`, as
/// `dossier export --format stix --question`), with the marking of the question's line.
pub(crate) async fn stix<L: EventLog + 'static>(
    app: &std::sync::Arc<App<L>>,
    r: Reader,
    clearance: Marking,
    question: String,
    as_of: Option<String>,
) -> Result<(Vec<u8>, Marking), ApiError> {
    exchange(app, r, move |log, r, handle| {
        let line = r.line(clearance, &question, as_of.as_deref());
        let marking = line.map_err(query_error)?.answer.marking;
        let selection = dossier_app::exchange::Selection::Question(question);
        let bytes = stix_bytes((log, r, handle), clearance, &selection, as_of.as_deref())?;
        Ok((bytes, marking))
    })
    .await
}

/// `dossier_app::exchange::stix` of `selection` into memory, on an [`exchange`] thread.
pub(crate) fn stix_bytes<L: EventLog>(
    (log, r, handle): (&L, &Reader, &tokio::runtime::Handle),
    clearance: Marking,
    selection: &dossier_app::exchange::Selection,
    as_of: Option<&str>,
) -> Result<Vec<u8>, ApiError> {
    let stix =
        dossier_app::exchange::stix(log, r, clearance, selection, as_of, Vec::new(), |_, _| {});
    Ok(handle.block_on(stix).map_err(crate::routes::app_error)?.0)
}

/// One question's history, as seen at `clearance`.
pub(crate) async fn history(
    r: Reader,
    clearance: Marking,
    question: String,
    as_of: Option<String>,
) -> Result<Answer<History>, ApiError> {
    blocking(move || {
        r.history(clearance, &question, as_of.as_deref())
            .map_err(query_error)
    })
    .await
}

/// The digest of the lines visible at `clearance` now.
pub(crate) fn digest(r: &Reader, clearance: Marking) -> Result<String, ApiError> {
    r.digest(clearance).map_err(query_error)
}

/// Changes of belief visible at `clearance` caused by records after `after`.
pub(crate) fn changes_since(
    r: &Reader,
    clearance: Marking,
    after: u64,
    max: usize,
) -> Result<Vec<Marked<dossier_beliefs::BeliefChange>>, ApiError> {
    r.changes_since(clearance, after, max).map_err(query_error)
}

/// A record as the principal may see it.
pub(crate) fn served(
    r: &Reader,
    clearance: Marking,
    record: &dossier_chain::StoredRecord,
) -> Result<ServedRecord, ApiError> {
    r.served_record(clearance, record).map_err(query_error)
}

/// The marking of a visible report naming the text `content_hash`, if there is one.
pub(crate) fn text_marking(
    r: &Reader,
    clearance: Marking,
    content_hash: &str,
) -> Result<Option<Marking>, ApiError> {
    r.text_marking(clearance, content_hash).map_err(query_error)
}

/// Records (in seq order) as the principal may see them, their markings read at once.
pub(crate) fn served_all(
    r: &Reader,
    clearance: Marking,
    records: &[dossier_chain::StoredRecord],
) -> Result<Vec<ServedRecord>, ApiError> {
    r.served_records(clearance, records).map_err(query_error)
}

/// An answer that is not about beliefs (records, proofs, status), in the same envelope: the
/// views' applied seq and lag, the clearance; no digest or policy (they describe belief lines).
pub(crate) fn envelope<T>(r: &Reader, clearance: Marking, answer: T) -> Answer<T> {
    let p = r.progress();
    Answer {
        as_of: None,
        valid_at: None,
        seq: p.applied,
        digest: None,
        lag: p.lag(),
        policy: None,
        clearance,
        answer,
    }
}

/// Records a read of TLP:RED material in the access log, if one is kept, before the answer is
/// sent; an answer that cannot be recorded is not sent.
pub(crate) fn log_read<L>(
    app: &App<L>,
    p: &crate::auth::Principal,
    route: &str,
    what: impl FnOnce() -> String,
    marking: Marking,
) -> Result<(), ApiError> {
    let Some(log) = app.access_log.as_ref() else {
        return Ok(());
    };
    log.record_red_read(p, route, what, marking)
        .map_err(ApiError::internal)
}

/// The most restrictive marking among records as served (withheld ones hold nothing).
pub(crate) fn records_marking<'a>(records: impl IntoIterator<Item = &'a ServedRecord>) -> Marking {
    records
        .into_iter()
        .filter_map(|r| match r {
            ServedRecord::Visible { marking, .. } => Some(*marking),
            ServedRecord::Withheld { .. } => None,
        })
        .max()
        .unwrap_or(Marking::Clear)
}
