//! Live streams as Server-Sent Events, filtered by the principal's clearance.
//!
//! - `events/records`: one `record` event per record, in sequence order, up to the views' seq
//!   (a record's visibility is known once the views applied it): the record whole where
//!   visible, `{seq, hash}` where above the clearance, so a follower sees every seq and can
//!   check the chain's length.
//! - `events/beliefs`: one `beliefs` event per record that changed a belief visible at the
//!   clearance, holding all of that record's changes ([`BeliefEvent`]).
//!
//! Each event's `id` is the seq of its record. A client resumes with the `Last-Event-ID`
//! header (or the `after` query parameter) and receives exactly the events after that seq:
//! none is missed and none repeated, across any number of reconnects. Streams end when the
//! service shuts down.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use dossier_beliefs::BeliefChange;
use dossier_log::EventLog;
use dossier_model::Marking;
use dossier_projector::Marked;
use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::App;
use crate::auth::Principal;
use crate::problem::ApiError;
use crate::query;
use crate::routes::Params;

/// The changes of belief one record caused, as a `beliefs` event carries them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BeliefEvent {
    /// The record that caused them.
    pub seq: u64,
    /// The changes, each with the marking of the event that caused it.
    pub changes: Vec<Marked<BeliefChange>>,
}

/// Records or belief changes per fetch, at most (a record's changes are never split).
const BATCH: usize = 256;

/// How often a follower looks again while the views are behind the ledger.
const POLL: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Feed {
    Records,
    Beliefs,
}

struct Follow<L> {
    app: Arc<App<L>>,
    principal: Principal,
    clearance: Marking,
    feed: Feed,
    after: u64,
    pending: VecDeque<Event>,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Where to resume: `Last-Event-ID`, else `after`, else the start.
fn resume_after(headers: &HeaderMap, params: &Params) -> Result<u64, ApiError> {
    if let Some(v) = headers.get("last-event-id") {
        let s = v.to_str().unwrap_or_default().trim();
        return s.parse::<u64>().map_err(|_| {
            ApiError::bad_parameter("Last-Event-ID", format!("{s:?} is not a sequence number"))
        });
    }
    Ok(params.u64("after")?.unwrap_or(0))
}

/// The next events after `f.after` the views hold, and the views' progress.
async fn fetch<L: EventLog>(
    f: &mut Follow<L>,
) -> Result<(Vec<Event>, dossier_projector::Progress), ApiError> {
    let r = query::reader(&f.app).await?;
    let progress = r.progress();
    let mut events = Vec::new();
    match f.feed {
        Feed::Records => {
            if f.after < progress.applied {
                let n = (progress.applied - f.after).min(BATCH as u64);
                let page = f
                    .app
                    .log
                    .read(f.after + 1, usize::try_from(n).unwrap_or(BATCH))
                    .await
                    .map_err(ApiError::internal)?;
                let first = f.after + 1;
                let mut served_all = Vec::with_capacity(page.len());
                for rec in page.iter().filter(|x| x.position <= progress.applied) {
                    served_all.push(query::served(&r, f.clearance, rec)?);
                }
                let last = first + served_all.len() as u64 - 1;
                query::log_read(
                    &f.app,
                    &f.principal,
                    "GET /v1/ledgers/{ledger}/events/records",
                    || format!("records {first}..={last}"),
                    query::records_marking(&served_all),
                )?;
                for (rec, served) in page.iter().zip(served_all) {
                    let ev = Event::default()
                        .id(rec.position.to_string())
                        .event("record")
                        .json_data(&served)
                        .map_err(ApiError::internal)?;
                    events.push(ev);
                    f.after = rec.position;
                }
            }
        }
        Feed::Beliefs => {
            let changes = query::changes_since(&r, f.clearance, f.after, BATCH)?;
            if let Some(m) = changes.iter().map(|c| c.marking).max() {
                let (a, b) = (changes[0].item.seq, changes[changes.len() - 1].item.seq);
                query::log_read(
                    &f.app,
                    &f.principal,
                    "GET /v1/ledgers/{ledger}/events/beliefs",
                    || format!("changes of records {a}..={b}"),
                    m,
                )?;
            }
            let mut groups: Vec<BeliefEvent> = Vec::new();
            for c in changes {
                match groups.last_mut() {
                    Some(g) if g.seq == c.item.seq => g.changes.push(c),
                    _ => groups.push(BeliefEvent {
                        seq: c.item.seq,
                        changes: vec![c],
                    }),
                }
            }
            for g in groups {
                let ev = Event::default()
                    .id(g.seq.to_string())
                    .event("beliefs")
                    .json_data(&g)
                    .map_err(ApiError::internal)?;
                events.push(ev);
                f.after = g.seq;
            }
        }
    }
    Ok((events, progress))
}

/// The stream of a follower.
fn follow<L: EventLog + 'static>(
    f: Follow<L>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    futures::stream::unfold(f, |mut f| async move {
        loop {
            if let Some(ev) = f.pending.pop_front() {
                return Some((Ok(ev), f));
            }
            if *f.shutdown.borrow() {
                return None;
            }
            let progress = match fetch(&mut f).await {
                Ok((events, progress)) => {
                    if !events.is_empty() {
                        f.pending.extend(events);
                        continue;
                    }
                    progress
                }
                Err(e) => {
                    // The client reconnects with the last id it received and misses nothing.
                    tracing::warn!(problem = %e.problem.detail, "ending a live stream");
                    return None;
                }
            };
            let app = Arc::clone(&f.app);
            let wait = async {
                if progress.applied < progress.head {
                    tokio::time::sleep(POLL).await;
                } else {
                    let _ = app
                        .log
                        .wait_for(progress.head, Duration::from_secs(1))
                        .await;
                    // The views follow the ledger: give the projector a moment to apply.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            tokio::select! {
                _ = f.shutdown.changed() => return None,
                () = wait => {}
            }
        }
    })
}

async fn start<L: EventLog + 'static>(
    app: Arc<App<L>>,
    p: &Principal,
    headers: &HeaderMap,
    params: &Params,
    feed: Feed,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + Send + use<L>>, ApiError> {
    let after = resume_after(headers, params)?;
    // Refuse at once (as a problem) what would end the stream at its first fetch.
    query::reader(&app).await?;
    let shutdown = app.shutdown.clone();
    let f = Follow {
        app,
        principal: p.clone(),
        clearance: p.clearance,
        feed,
        after,
        pending: VecDeque::new(),
        shutdown,
    };
    Ok(Sse::new(follow(f)).keep_alive(KeepAlive::default()))
}

/// The records, live.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/events/records", tag = "live", operation_id = "events_records",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("after" = Option<u64>, Query, description = "Start after this seq (the `Last-Event-ID` header takes precedence)"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq"),
    ),
    responses(
        (status = 200, description = "A stream of `record` events (id = seq, data = a served record)", content_type = "text/event-stream", body = String),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn records<L: EventLog + 'static>(
    State(app): State<Arc<App<L>>>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    q: crate::routes::QueryArg,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + Send>, ApiError> {
    let params = Params::new(q, &["after"])?;
    start(app, &p, &headers, &params, Feed::Records).await
}

/// The changes of belief, live.
#[utoipa::path(get, path = "/v1/ledgers/{ledger}/events/beliefs", tag = "live", operation_id = "events_beliefs",
    params(
        ("ledger" = String, Path, description = "The ledger id"),
        ("after" = Option<u64>, Query, description = "Start after this seq (the `Last-Event-ID` header takes precedence)"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq"),
    ),
    responses(
        (status = 200, description = "A stream of `beliefs` events (id = seq, data = the record's changes of belief)", content_type = "text/event-stream", body = String),
        (status = "4XX", description = "A problem", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn beliefs<L: EventLog + 'static>(
    State(app): State<Arc<App<L>>>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    q: crate::routes::QueryArg,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + Send>, ApiError> {
    let params = Params::new(q, &["after"])?;
    start(app, &p, &headers, &params, Feed::Beliefs).await
}
