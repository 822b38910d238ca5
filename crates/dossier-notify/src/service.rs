//! The notifier service: a queuing task and a sending task over one [`Store`].
//!
//! **Queuing.** From its position (the last seq whose changes are all queued), the queuing
//! task opens a `dossier_query::Reader` on the views (trust checked as for any read: a ledger
//! that failed a check is not notified from), reads the changes of belief after the position
//! once per clearance some active watch holds (`changes_since`, the read API's answer for that
//! clearance), matches them against the watches of that clearance, and commits one delivery per
//! (watch, causing record) with the new position in one transaction. A kill between two
//! commits leaves the position at the last commit: the next run queues the same records again
//! and nothing else, so nothing is skipped and nothing is queued twice.
//!
//! **Sending.** The sending task takes due deliveries, the oldest pending of each watch (a
//! watch's deliveries go out one at a time, in seq order), posts each, signed, to its watch's
//! URL, and records the outcome: a 2xx removes it; anything else schedules another attempt
//! after an exponential backoff with jitter, or, after `max_attempts`, makes it a dead letter.
//! A delivery whose watch's grant is no longer active (revoked, expired), or whose URL the
//! webhook policy no longer allows ([`crate::WebhookPolicy`], read before every round of
//! attempts), is not sent: it becomes a dead letter at once.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use futures::{FutureExt as _, StreamExt as _};
use std::time::Duration;

use dossier_access::{GrantState, Grants};
use dossier_beliefs::BeliefChange;
use dossier_log::{EventLog, Outage};
use dossier_model::{Marking, Timestamp};
use dossier_projector::Marked;
use dossier_query::{QueryErrorKind, Reader, Sources, Staleness};
use rand_core::{OsRng, RngCore};
use tokio::sync::{Mutex, Notify, watch};

use crate::store::{Due, NewDelivery, Outcome, Store};
use crate::{Notification, NotificationType, NotifyError, now_ms, sign};

/// How the notifier runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Attempts before a delivery becomes a dead letter (at least 1).
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each further one.
    pub base_delay: Duration,
    /// The longest wait between attempts.
    pub max_delay: Duration,
    /// How long a receiver has to answer an attempt.
    pub timeout: Duration,
    /// Deliveries in flight at once (to different watches).
    pub concurrency: usize,
    /// Changes read per clearance per round, about (one record's changes are never split).
    pub batch: usize,
    /// The access log (`access.db`): a delivery holding TLP:RED material is recorded there
    /// (the watch's principal, its grant, what) before it is sent, and not sent if it cannot
    /// be; `None`: not recorded.
    pub access_log: Option<std::path::PathBuf>,
}

impl Default for Options {
    /// 5 attempts, 1 s doubling up to 5 min, 10 s to answer, 32 in flight, 1,024 changes a round.
    fn default() -> Options {
        Options {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            concurrency: 32,
            batch: 1024,
            access_log: None,
        }
    }
}

/// What the notifier reports as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Started at this position.
    Started {
        /// The position.
        seq: u64,
    },
    /// The changes of records `(from, to]` were matched; `deliveries` were queued.
    Queued {
        /// The position before.
        from: u64,
        /// The position after.
        to: u64,
        /// Deliveries queued.
        deliveries: usize,
    },
    /// A delivery was accepted by its receiver.
    Delivered {
        /// Its idempotency key.
        webhook_id: String,
    },
    /// An attempt failed; another follows.
    Retrying {
        /// Its idempotency key.
        webhook_id: String,
        /// Attempts made so far.
        attempts: u32,
        /// Why it failed.
        error: String,
    },
    /// A delivery failed for the last time and is a dead letter now.
    DeadLetter {
        /// Its id in the dead-letter list.
        id: i64,
        /// Its idempotency key.
        webhook_id: String,
        /// Why the last attempt failed.
        error: String,
    },
    /// Nothing can be queued for now (the ledger's server or the views are unavailable, or
    /// the ledger failed a check); said once, when it begins.
    Waiting {
        /// Why.
        reason: String,
    },
    /// Queuing goes on again.
    Resumed,
}

/// The wait before attempt `attempts + 1` after `attempts` failed ones: `base × 2^(attempts−1)`,
/// at most `max`, of which a random part (`jitter` in \[0, 1)) of up to half is taken off, so
/// that receivers that failed together are not retried together.
#[must_use]
pub fn backoff(attempts: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exp).min(max);
    full.mul_f64(1.0 - 0.5 * jitter.clamp(0.0, 1.0))
}

fn jitter() -> f64 {
    (OsRng.next_u32() as f64) / (f64::from(u32::MAX) + 1.0)
}

/// Runs the notifier on `store` until `stop` says so: queues the changes of belief the views
/// (at `sources`) hold beyond the store's position for the watches they fire, and delivers
/// them. Rides out an unavailable ledger server and views that are not ready (or distrusted),
/// reporting each once through `on`. While another notifier holds the store's running lock
/// ([`Store::take_running`]), it stands by.
///
/// # Errors
/// The store fails, or the ledger holds no genesis.
pub async fn run<L: EventLog>(
    log: &L,
    sources: &Sources,
    store: &Store,
    options: &Options,
    stop: watch::Receiver<bool>,
    on: &(dyn Fn(Event) + Sync),
) -> Result<(), NotifyError> {
    // One notifier sends from a store at a time; another stands by until it ends.
    let mut stop_waiting = stop.clone();
    let mut said = false;
    let _running = loop {
        if let Some(lock) = store.take_running()? {
            break lock;
        }
        if !std::mem::replace(&mut said, true) {
            on(Event::Waiting {
                reason: "another notifier runs on this store; standing by".into(),
            });
        }
        tokio::select! {
            _ = stop_waiting.wait_for(|s| *s) => return Ok(()),
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    };
    if said {
        on(Event::Resumed);
    }
    let grants = Mutex::new(Grants::new());
    let wake = Notify::new();
    on(Event::Started {
        seq: store.position()?.seq,
    });
    let client = reqwest::Client::builder()
        .timeout(options.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("dossier-notify/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(NotifyError::internal)?;
    let queuing = queue_loop(
        Queuing {
            log,
            sources,
            store,
            options,
            grants: &grants,
        },
        &wake,
        stop.clone(),
        on,
    );
    let access_log = options
        .access_log
        .as_deref()
        .map(dossier_access::AccessLog::open)
        .transpose()?;
    let sending = send_loop(
        &client,
        store,
        options,
        access_log.as_ref(),
        &grants,
        &wake,
        stop,
        on,
    );
    // A failure of either (the store failed) ends both.
    tokio::try_join!(queuing, sending).map(|_| ())
}

/// Why a round of queuing did not happen.
enum Pause {
    /// Wait and try again, saying why once.
    Wait(String),
    /// Stop the service.
    Fatal(NotifyError),
}

impl From<NotifyError> for Pause {
    fn from(e: NotifyError) -> Pause {
        Pause::Fatal(e)
    }
}

/// What a round of queuing did.
enum Round {
    /// Nothing new in the views (they stand at `applied`, the head at `head`).
    Idle { applied: u64, head: u64 },
    /// Queued up to a new position.
    Queued {
        from: u64,
        to: u64,
        deliveries: usize,
    },
    /// The position or the watches changed meanwhile: nothing committed; again at once.
    Raced,
}

/// What a round of queuing reads and writes: the ledger, the views, the store, the options and
/// the access grants (caught up each round).
struct Queuing<'a, L> {
    log: &'a L,
    sources: &'a Sources,
    store: &'a Store,
    options: &'a Options,
    grants: &'a Mutex<Grants>,
}

async fn queue_loop<L: EventLog>(
    q: Queuing<'_, L>,
    wake: &Notify,
    mut stop: watch::Receiver<bool>,
    on: &(dyn Fn(Event) + Sync),
) -> Result<(), NotifyError> {
    let log = q.log;
    let mut ledger: Option<String> = None;
    let mut outage = Outage::default();
    let mut waiting = false;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let round = match &ledger {
            None => match dossier_log::ledger::genesis(log).await {
                Ok(Some(g)) => {
                    ledger = Some(g.ledger);
                    continue;
                }
                Ok(None) => Err(Pause::Wait("the ledger is empty".into())),
                Err(e) if e.is_transient() => Err(Pause::Wait(e.to_string())),
                Err(e) => Err(Pause::Fatal(e.into())),
            },
            Some(id) => queue_round(&q, id).await,
        };
        let pause = match round {
            Ok(r) => {
                outage.recovered();
                if std::mem::take(&mut waiting) {
                    on(Event::Resumed);
                }
                match r {
                    Round::Raced => continue,
                    Round::Queued {
                        from,
                        to,
                        deliveries,
                    } => {
                        if deliveries > 0 {
                            wake.notify_one();
                        }
                        on(Event::Queued {
                            from,
                            to,
                            deliveries,
                        });
                        continue;
                    }
                    Round::Idle { applied, head } => {
                        if applied < head {
                            Duration::from_millis(50)
                        } else {
                            // Wait for the ledger to grow, then give the views a moment.
                            tokio::select! {
                                _ = stop.changed() => return Ok(()),
                                _ = log.wait_for(head, Duration::from_secs(1)) => {}
                            }
                            Duration::from_millis(5)
                        }
                    }
                }
            }
            Err(Pause::Fatal(e)) => return Err(e),
            Err(Pause::Wait(reason)) => {
                let (wait, _) = outage.failed();
                if !std::mem::replace(&mut waiting, true) {
                    on(Event::Waiting { reason });
                }
                wait
            }
        };
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            () = tokio::time::sleep(pause) => {}
        }
    }
}

fn timestamp_now() -> Option<Timestamp> {
    Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc()).ok()
}

async fn queue_round<L: EventLog>(q: &Queuing<'_, L>, ledger: &str) -> Result<Round, Pause> {
    let Queuing {
        log,
        sources,
        store,
        options,
        grants,
    } = *q;
    let position = store.position()?;
    {
        let mut g = grants.lock().await;
        g.catch_up(log)
            .await
            .map_err(|e| Pause::Wait(format!("reading the access grants: {e}")))?;
    }
    let reader = Reader::open(log, sources, Staleness::Refused)
        .await
        .map_err(|e| match e.kind() {
            QueryErrorKind::Integrity => Pause::Wait(format!("the ledger failed a check: {e}")),
            _ => Pause::Wait(format!("the views are not ready: {e}")),
        })?;
    let progress = reader.progress();
    if progress.applied <= position.seq {
        return Ok(Round::Idle {
            applied: progress.applied,
            head: progress.head,
        });
    }
    let now = timestamp_now();
    let watches: Vec<_> = {
        let g = grants.lock().await;
        store
            .watches(None)?
            .into_iter()
            .filter(|w| active(&g, &w.grant, now))
            .collect()
    };
    let clearances: BTreeSet<Marking> = watches.iter().map(|w| w.clearance).collect();
    let mut covered = progress.applied;
    let mut changes: BTreeMap<Marking, Vec<Marked<BeliefChange>>> = BTreeMap::new();
    for c in clearances {
        let read = reader
            .changes_since(c, position.seq, options.batch)
            .map_err(|e| Pause::Wait(format!("reading the views: {e}")))?;
        if read.len() >= options.batch
            && let Some(last) = read.last()
        {
            covered = covered.min(last.item.seq);
        }
        changes.insert(c, read);
    }
    let mut deliveries = Vec::new();
    for w in &watches {
        let mut by_seq: BTreeMap<u64, Vec<Marked<BeliefChange>>> = BTreeMap::new();
        for c in changes.get(&w.clearance).into_iter().flatten() {
            if c.item.seq <= covered && w.fires_on(&c.item) {
                by_seq.entry(c.item.seq).or_default().push(c.clone());
            }
        }
        for (seq, changes) in by_seq {
            let hash = changes[0].item.hash.clone();
            let marking = changes
                .iter()
                .map(|c| c.marking)
                .max()
                .unwrap_or(Marking::Red);
            let body = serde_json::to_string(&Notification {
                kind: NotificationType::BeliefChanged,
                ledger: ledger.to_owned(),
                watch: w.id.clone(),
                seq,
                hash,
                changes,
            })
            .map_err(NotifyError::internal)?;
            deliveries.push(NewDelivery {
                watch: w.id.clone(),
                seq,
                body,
                marking,
            });
        }
    }
    let n = deliveries.len();
    if !store.queue(position, covered, &deliveries, now_ms())? {
        return Ok(Round::Raced);
    }
    Ok(Round::Queued {
        from: position.seq,
        to: covered,
        deliveries: n,
    })
}

/// Whether grant `id` authenticates now (an unknown grant does not).
fn active(grants: &Grants, id: &str, now: Option<Timestamp>) -> bool {
    match (grants.get(id), now) {
        (Some(g), Some(now)) => g.state(now) == GrantState::Active,
        _ => false,
    }
}

/// The pending deliveries, per watch in id (hence seq) order, with when each is due: the
/// sending task's copy of the queue. New deliveries are read as they are queued (ids above the
/// last one read); the whole queue is read again every few seconds, to see deliveries put back
/// by a replay (or removed with their watch) through another handle on the store.
#[derive(Default)]
struct Schedule {
    queues: HashMap<String, VecDeque<(i64, i64)>>,
    last: i64,
    loaded: Option<std::time::Instant>,
}

/// How often the sending task reads the whole queue again.
const RELOAD: Duration = Duration::from_secs(2);

impl Schedule {
    fn load(&mut self, store: &Store) -> Result<(), NotifyError> {
        let full = self.loaded.is_none_or(|at| at.elapsed() >= RELOAD);
        if full {
            self.queues.clear();
            self.last = 0;
            self.loaded = Some(std::time::Instant::now());
        }
        for (id, watch, due) in store.pending_after(self.last)? {
            self.last = self.last.max(id);
            self.queues.entry(watch).or_default().push_back((id, due));
        }
        Ok(())
    }

    /// The head of each watch not in `busy` that is due by `now`, at most `n`.
    fn due(&self, now: i64, n: usize, busy: &HashSet<String>) -> Vec<i64> {
        let mut heads: Vec<(i64, i64)> = self
            .queues
            .iter()
            .filter(|(w, _)| !busy.contains(*w))
            .filter_map(|(_, q)| q.front().copied())
            .filter(|(_, due)| *due <= now)
            .map(|(id, due)| (due, id))
            .collect();
        heads.sort_unstable();
        heads.into_iter().take(n).map(|(_, id)| id).collect()
    }

    /// When the next delivery not in flight is due.
    fn next_due(&self, busy: &HashSet<String>) -> Option<i64> {
        self.queues
            .iter()
            .filter(|(w, _)| !busy.contains(*w))
            .filter_map(|(_, q)| q.front().map(|(_, due)| *due))
            .min()
    }

    /// Takes delivery `id` of `watch` out (delivered, dead, or gone).
    fn remove(&mut self, watch: &str, id: i64) {
        if let Some(q) = self.queues.get_mut(watch) {
            q.retain(|(i, _)| *i != id);
            if q.is_empty() {
                self.queues.remove(watch);
            }
        }
    }

    /// Delivery `id` of `watch` is due again at `at`.
    fn retry(&mut self, watch: &str, id: i64, at: i64) {
        if let Some(q) = self.queues.get_mut(watch)
            && let Some(e) = q.iter_mut().find(|(i, _)| *i == id)
        {
            e.1 = at;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn send_loop(
    client: &reqwest::Client,
    store: &Store,
    options: &Options,
    access_log: Option<&dossier_access::AccessLog>,
    grants: &Mutex<Grants>,
    wake: &Notify,
    mut stop: watch::Receiver<bool>,
    on: &(dyn Fn(Event) + Sync),
) -> Result<(), NotifyError> {
    let limit = options.concurrency.max(1);
    let mut schedule = Schedule::default();
    // Attempts in flight, and their watches (one per watch at a time).
    let mut flying = futures::stream::FuturesUnordered::new();
    let mut busy: HashSet<String> = HashSet::new();
    let mut woken = true;
    loop {
        // Fill the free slots with due deliveries of watches not in flight.
        if flying.len() < limit && !*stop.borrow() {
            if std::mem::take(&mut woken) {
                schedule.load(store)?;
            }
            let ids = schedule.due(now_ms(), limit - flying.len(), &busy);
            let now = timestamp_now();
            // Read for every round of attempts: a URL the admin no longer allows is not posted
            // to, however recently the list changed.
            let policy = if ids.is_empty() {
                None
            } else {
                Some(store.webhook_policy()?)
            };
            let g = grants.lock().await;
            for id in ids {
                let Some(d) = store.delivery(id)? else {
                    // Removed with its watch, or replayed state changed: read again.
                    schedule.loaded = None;
                    woken = true;
                    continue;
                };
                let allowed = policy.as_ref().map_or(Ok(()), |p| p.check(&d.url));
                let ready = if let Err(refused) = allowed {
                    Err((refused.to_string(), false))
                } else if active(&g, &d.grant, now) {
                    // TLP:RED material is recorded as read before it is sent.
                    match (access_log, g.get(&d.grant)) {
                        (Some(log), Some(info)) => {
                            let reader = dossier_access::Principal {
                                name: d.principal.clone(),
                                role: info.role,
                                clearance: info.clearance,
                                grant: d.grant.clone(),
                            };
                            log.record_red_read(
                                &reader,
                                "POST webhook",
                                || format!("changes of record {} ({})", d.seq, d.webhook_id),
                                d.marking,
                            )
                            .map_err(|e| {
                                (format!("recording the read in the access log: {e}"), true)
                            })
                        }
                        _ => Ok(()),
                    }
                } else {
                    Err((
                        "the watch's grant is no longer active (revoked or expired)".to_owned(),
                        false,
                    ))
                };
                busy.insert(d.watch.clone());
                flying.push(async move {
                    let r = match ready {
                        Ok(()) => send(client, &d).await.map_err(|e| (e, true)),
                        Err(e) => Err(e),
                    };
                    (d, r)
                });
            }
        }
        if flying.is_empty() {
            if *stop.borrow() {
                return Ok(());
            }
            let idle = match schedule.next_due(&busy) {
                Some(at) => {
                    Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0).min(1000))
                }
                None => RELOAD,
            };
            tokio::select! {
                _ = stop.changed() => {}
                () = wake.notified() => woken = true,
                () = tokio::time::sleep(idle) => woken = true,
            }
            continue;
        }
        // An attempt under way runs to its end (each is bounded by the timeout): abandoned
        // midway, it would be sent again anyway. Then every attempt finished by now is
        // recorded in one transaction.
        let mut done = Vec::new();
        tokio::select! {
            first = flying.next() => done.extend(first),
            () = wake.notified() => woken = true,
        }
        while let Some(Some(more)) = flying.next().now_or_never() {
            done.push(more);
        }
        let mut outcomes = Vec::with_capacity(done.len());
        let mut events = Vec::new();
        for (d, r) in done {
            busy.remove(&d.watch);
            match r {
                Ok(()) => {
                    schedule.remove(&d.watch, d.id);
                    outcomes.push((d.id, Outcome::Delivered));
                    events.push(Event::Delivered {
                        webhook_id: d.webhook_id,
                    });
                }
                Err((error, retry)) => {
                    let attempts = d.attempts + 1;
                    let retry_at = (retry && attempts < options.max_attempts.max(1)).then(|| {
                        let wait =
                            backoff(attempts, options.base_delay, options.max_delay, jitter());
                        now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2)
                    });
                    match retry_at {
                        Some(at) => {
                            schedule.retry(&d.watch, d.id, at);
                            events.push(Event::Retrying {
                                webhook_id: d.webhook_id.clone(),
                                attempts,
                                error: error.clone(),
                            });
                        }
                        None => {
                            schedule.remove(&d.watch, d.id);
                            events.push(Event::DeadLetter {
                                id: d.id,
                                webhook_id: d.webhook_id.clone(),
                                error: error.clone(),
                            });
                        }
                    }
                    outcomes.push((d.id, Outcome::Failed { error, retry_at }));
                }
            }
        }
        store.record(&outcomes)?;
        for e in events {
            on(e);
        }
    }
}

/// One attempt: posts the body, signed, to the watch's URL; `Ok` on a 2xx answer.
async fn send(client: &reqwest::Client, d: &Due) -> Result<(), String> {
    let key = sign::secret_key(&d.secret).ok_or("the watch's secret is malformed")?;
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = sign::signature(&key, &d.webhook_id, timestamp, d.body.as_bytes());
    let response = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| format!("sending: {}", error_chain(&e)))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {status}"))
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_bound_and_jitter_takes_off_at_most_half() {
        let (b, m) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff(1, b, m, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(2, b, m, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(4, b, m, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(20, b, m, 0.0), m);
        assert_eq!(
            backoff(3, b, m, 0.999_999),
            Duration::from_secs(4).mul_f64(0.500_000_5)
        );
        for _ in 0..100 {
            let w = backoff(3, b, m, jitter());
            assert!(
                w > Duration::from_secs(2) && w <= Duration::from_secs(4),
                "{w:?}"
            );
        }
    }
}
