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

use std::collections::{HashMap, VecDeque};
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
use dossier_query::ServedRecord;
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

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Feed {
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

/// One event of a feed, read, filtered for a clearance and encoded once.
#[derive(Clone)]
struct Shared {
    /// The seq of its record.
    seq: u64,
    /// The most restrictive marking it shows (`None`: it shows nothing marked, e.g. a withheld
    /// record), for the access log.
    marking: Option<Marking>,
    event: Event,
}

/// A page of a feed: its events after some seq, and the seq up to which they are all of them.
struct Page {
    events: Vec<Shared>,
    covered: u64,
    progress: dossier_projector::Progress,
}

/// Reads the page of `feed` after `after` for `clearance` from the views and the ledger.
async fn read_page<L: EventLog>(
    app: &App<L>,
    feed: Feed,
    clearance: Marking,
    after: u64,
) -> Result<Page, ApiError> {
    let r = query::reader(app).await?;
    let progress = r.progress();
    let mut events = Vec::new();
    let mut covered = after;
    match feed {
        Feed::Records => {
            if after < progress.applied {
                let n = (progress.applied - after).min(BATCH as u64);
                let page = app
                    .log
                    .read(after + 1, usize::try_from(n).unwrap_or(BATCH))
                    .await
                    .map_err(ApiError::internal)?;
                let page: Vec<_> = page
                    .into_iter()
                    .filter(|x| x.position <= progress.applied)
                    .collect();
                let served = query::served_all(&r, clearance, &page)?;
                for served in served {
                    let (seq, marking) = match &served {
                        ServedRecord::Visible { seq, marking, .. } => (*seq, Some(*marking)),
                        ServedRecord::Withheld { seq, .. } => (*seq, None),
                    };
                    let event = Event::default()
                        .id(seq.to_string())
                        .event("record")
                        .json_data(&served)
                        .map_err(ApiError::internal)?;
                    events.push(Shared {
                        seq,
                        marking,
                        event,
                    });
                    covered = seq;
                }
            }
        }
        Feed::Beliefs => {
            let changes = query::changes_since(&r, clearance, after, BATCH)?;
            let full = changes.len() >= BATCH;
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
                let event = Event::default()
                    .id(g.seq.to_string())
                    .event("beliefs")
                    .json_data(&g)
                    .map_err(ApiError::internal)?;
                events.push(Shared {
                    seq: g.seq,
                    marking: g.changes.iter().map(|c| c.marking).max(),
                    event,
                });
                covered = g.seq;
            }
            // Every change of a record the views applied is stored with that record's page:
            // a page that is not full holds all of them up to the views' seq.
            if !full {
                covered = covered.max(progress.applied);
            }
        }
    }
    Ok(Page {
        events,
        covered,
        progress,
    })
}

/// The most recent events of one feed at one clearance, shared by everyone following it: a
/// follower at the end of the tail reads the next page for all of them (the others wait for
/// it and take it from here), so each event is read, filtered and encoded once however many
/// follow. A follower behind the tail reads its own pages until it reaches it.
#[derive(Default)]
struct Tail {
    /// The events with a seq in `(start, end]`, all of them, in order.
    events: VecDeque<Shared>,
    start: u64,
    end: u64,
}

/// Events a tail keeps (a few MB of encoded records).
const TAIL: usize = 8192;

impl Tail {
    /// The events after `after`, at most `BATCH`, and the seq up to which they are all of
    /// them; `None` if the tail does not hold what follows `after`.
    fn after(&self, after: u64) -> Option<(Vec<Shared>, u64)> {
        if !(self.start <= after && after < self.end) {
            return None;
        }
        let from = self.events.partition_point(|e| e.seq <= after);
        let taken: Vec<Shared> = self.events.iter().skip(from).take(BATCH).cloned().collect();
        let covered = if from + taken.len() < self.events.len() {
            taken.last().map_or(after, |e| e.seq)
        } else {
            self.end
        };
        Some((taken, covered))
    }

    /// Appends a page read after `after`, if it continues the tail (else the tail starts
    /// over from it).
    fn extend(&mut self, after: u64, page: &Page) {
        if after != self.end {
            *self = Tail {
                events: VecDeque::new(),
                start: after,
                end: after,
            };
        }
        self.events.extend(page.events.iter().cloned());
        self.end = page.covered;
        while self.events.len() > TAIL {
            if let Some(e) = self.events.pop_front() {
                self.start = e.seq;
            }
        }
    }
}

/// The tails of every feed and clearance being followed.
#[derive(Default)]
pub(crate) struct Tails(std::sync::Mutex<HashMap<(Feed, Marking), SharedTail>>);

/// One tail, locked by the follower reading its next page while the others wait for it.
type SharedTail = Arc<tokio::sync::Mutex<Tail>>;

impl Tails {
    fn of(&self, feed: Feed, clearance: Marking) -> SharedTail {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(map.entry((feed, clearance)).or_default())
    }
}

/// The next events after `f.after` the views hold (from the shared tail where it holds them),
/// and the views' progress when they were read from the views.
async fn fetch<L: EventLog>(
    f: &mut Follow<L>,
) -> Result<(Vec<Event>, Option<dossier_projector::Progress>), ApiError> {
    let tail = f.app.tails.of(f.feed, f.clearance);
    let mut t = tail.lock().await;
    let (events, covered, progress) = if let Some((events, covered)) = t.after(f.after) {
        drop(t);
        (events, covered, None)
    } else if f.after >= t.end || t.events.is_empty() {
        // At the end of the tail (or past it): read the next page for every follower.
        let page = read_page(&f.app, f.feed, f.clearance, f.after).await?;
        t.extend(f.after, &page);
        drop(t);
        (page.events, page.covered, Some(page.progress))
    } else {
        // Behind the tail: a page of its own.
        drop(t);
        let page = read_page(&f.app, f.feed, f.clearance, f.after).await?;
        (page.events, page.covered, Some(page.progress))
    };
    if let Some(m) = events.iter().filter_map(|e| e.marking).max() {
        let (a, b) = (events[0].seq, events[events.len() - 1].seq);
        let (route, what) = match f.feed {
            Feed::Records => (
                "GET /v1/ledgers/{ledger}/events/records",
                format!("records {a}..={b}"),
            ),
            Feed::Beliefs => (
                "GET /v1/ledgers/{ledger}/events/beliefs",
                format!("changes of records {a}..={b}"),
            ),
        };
        query::log_read(&f.app, &f.principal, route, || what, m)?;
    }
    f.after = covered;
    Ok((events.into_iter().map(|e| e.event).collect(), progress))
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
                    match progress {
                        Some(p) => p,
                        // Taken from the tail: look at the views again.
                        None => continue,
                    }
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
