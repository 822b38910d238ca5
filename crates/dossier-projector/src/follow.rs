//! Following a ledger: catching a store up, serving readers, and the live loop of [`run`].

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use dossier_chain::Hash;
use dossier_log::EventLog;

use crate::Error;
use crate::projector::{CATCH_UP_PAGE, PAGE, Projector, file_id};
use crate::rebuild::rebuild;
use crate::store::ViewStore;

/// How long [`run`] waits for new records before checking the store file again.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// Lines whose provenance a serving projector materialises between two looks at the ledger
/// (a few milliseconds each at 1M events).
const MATERIALISE_STEP: usize = 8;

/// Where a store stands against its ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The last record applied to the store (its checkpoint).
    pub applied: u64,
    /// The ledger's head as last seen.
    pub head: u64,
}

impl Progress {
    /// Records the store is behind the head.
    #[must_use]
    pub fn lag(&self) -> u64 {
        self.head.saturating_sub(self.applied)
    }
}

/// What [`run_with_progress`] reports as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEvent {
    /// The engine state was restored from the ledger up to the store's checkpoint.
    Resumed(Progress),
    /// A page was applied and committed.
    Applied(Progress),
    /// The store reached the head; `digest` is the digest of all current beliefs.
    CaughtUp {
        /// Where it stands.
        progress: Progress,
        /// [`Engine::digest`] at the checkpoint.
        digest: String,
    },
    /// The store file was replaced (by [`rebuild`]); the projector reopened it.
    Reopened(Progress),
    /// The ledger's server stopped answering (see [`LogError::is_transient`]): the projector
    /// waits and tries again, backing off, until it answers or the run is shut down.
    Unavailable {
        /// What failed.
        reason: String,
    },
    /// The ledger's server answers again after [`RunEvent::Unavailable`].
    Reconnected,
}

/// Whether a projector failure is the ledger's server not answering (try again later).
fn transient(e: &Error) -> bool {
    matches!(e, Error::Log(l) if l.is_transient())
}

/// Brings the store at `store` up to the ledger's head: restores the engine from the
/// checkpoint, then applies the rest page by page.
///
/// A store that already stands at the head (its checkpoint is the ledger's last record, by
/// seq and by that record's hash, with the digest written there) is left as it is, and only
/// that record is read: restoring the engine refolds the ledger up to the checkpoint, seconds
/// at a million records, which a reader (`dossier beliefs`, `why`, `history`) should not pay
/// when there is nothing to apply. The links of records applied before are not checked again
/// then; that is verification's job (`dossier verify`, the auditor).
///
/// # Errors
/// As [`Projector::open`] and [`Projector::step`].
pub async fn catch_up<L: EventLog>(log: &L, store: &Path) -> Result<Progress, Error> {
    if let Some(progress) = at_head(log, store).await {
        return Ok(progress);
    }
    Projector::open(log, store).await?.catch_up(log).await
}

/// Brings the store at `store` up to the ledger's head for a reader, unless a running
/// projector ([`run`]) serves it: then waits up to `wait` for that projector to reach the head
/// seen at the start, and returns where the store stands, behind the head if the wait ran out
/// ([`Progress::lag`] says by how much). A reader never catches a served store up itself:
/// restoring an engine refolds the ledger (seconds at a million records), and a store moved on
/// by another writer makes the running projector reopen it and refold too. A store already at
/// the head is returned at once, as by [`catch_up`]; an unserved store is caught up by it.
///
/// # Errors
/// As [`catch_up`]; backend and store failures while waiting.
pub async fn refresh<L: EventLog>(
    log: &L,
    store: &Path,
    wait: Duration,
) -> Result<Progress, Error> {
    if let Some(progress) = at_head(log, store).await {
        return Ok(progress);
    }
    if !crate::serving::is_served(store) {
        return match catch_up(log, store).await {
            Err(Error::Outdated { reason, .. }) => {
                tracing::info!(%reason, "rebuilding the views, built by another version");
                rebuild(log, store).await
            }
            caught_up => caught_up,
        };
    }
    let head = log.head().await?.seq;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let applied = match ViewStore::open(store) {
            Ok(v) => v.checkpoint()?.map_or(0, |c| c.seq),
            Err(Error::NoStore(_)) => 0,
            Err(e) => return Err(e),
        };
        if applied >= head || tokio::time::Instant::now() >= deadline {
            return Ok(Progress {
                applied,
                head: head.max(applied),
            });
        }
        tokio::time::sleep(REFRESH_POLL).await;
    }
}

/// How often [`refresh`] looks at a served store's checkpoint.
const REFRESH_POLL: Duration = Duration::from_millis(20);

/// The store's progress if it stands at the ledger's head (see [`catch_up`]): its finished
/// checkpoint is the ledger's last record, by seq and by the hash of its bytes (so
/// [`check_checkpoint`] would pass too). One look at the store, the head and that record.
/// Anything else, an error included, is `None`: the full way then reports it.
pub async fn at_head<L: EventLog>(log: &L, store: &Path) -> Option<Progress> {
    let cp = ViewStore::open(store).ok()?.finished_checkpoint().ok()??;
    let head = log.head().await.ok()?;
    if head.seq != cp.seq {
        return None;
    }
    let last = log.read(cp.seq, 1).await.ok()?.pop()?;
    let hash = Hash::of_record(&last.bytes);
    let same = last.position == cp.seq
        && hash.to_hex() == cp.hash
        && last.stored_hash.is_none_or(|stored| stored == hash);
    same.then_some(Progress {
        applied: cp.seq,
        head: head.seq,
    })
}

/// Checks that the ledger still holds, at the store's checkpoint, the record the views applied
/// there (by position, by the hash of its bytes, and by the hash the backend stored with it);
/// one read. A store with nothing applied, or no store, passes.
///
/// This is what a query can afford before answering: it catches a ledger truncated below the
/// views, and any change to the checkpoint record, but not a change to an earlier record, which
/// only verification finds (`dossier verify`, and the auditor, whose verdict readers check
/// too).
///
/// # Errors
/// [`Error::Rewritten`] if the record is missing or differs; backend and store failures.
pub async fn check_checkpoint<L: EventLog>(log: &L, store: &Path) -> Result<(), Error> {
    let cp = match ViewStore::open(store) {
        Ok(v) => v.checkpoint()?,
        Err(Error::NoStore(_)) => None,
        Err(e) => return Err(e),
    };
    let Some(cp) = cp.filter(|c| c.seq > 0) else {
        return Ok(());
    };
    let Some(rec) = log.read(cp.seq, 1).await?.pop() else {
        let head = log.head().await?.seq;
        return Err(Error::Rewritten {
            seq: cp.seq,
            reason: format!(
                "the ledger ends at seq {head}, but the views applied records up to seq {}: records were removed",
                cp.seq
            ),
        });
    };
    let hash = Hash::of_record(&rec.bytes);
    if rec.position != cp.seq {
        return Err(Error::Rewritten {
            seq: cp.seq,
            reason: format!("the ledger returned record {} for it", rec.position),
        });
    }
    if hash.to_hex() != cp.hash {
        return Err(Error::Rewritten {
            seq: cp.seq,
            reason: format!(
                "the record hashes to {hash}, but the views applied it with hash {}",
                cp.hash
            ),
        });
    }
    if rec.stored_hash.is_some_and(|stored| stored != hash) {
        return Err(Error::Rewritten {
            seq: cp.seq,
            reason: "the record's bytes changed after it was appended".into(),
        });
    }
    Ok(())
}

/// Where the store stands against the ledger without changing anything: the checkpoint and
/// the head (`applied` 0 if there is no store yet).
///
/// # Errors
/// Backend and store failures.
pub async fn status<L: EventLog>(log: &L, store: &Path) -> Result<Progress, Error> {
    let applied = match ViewStore::open(store) {
        Ok(v) => v.checkpoint()?.map_or(0, |c| c.seq),
        Err(Error::NoStore(_)) => 0,
        Err(e) => return Err(e),
    };
    let head = log.head().await?.seq;
    Ok(Progress { applied, head })
}

/// Runs the projector until `shutdown` resolves: catches up, then follows the ledger live
/// (waiting with [`EventLog::wait_for`]). See [`run_with_progress`].
///
/// # Errors
/// As [`run_with_progress`].
pub async fn run<L: EventLog>(
    log: &L,
    store: &Path,
    shutdown: impl Future,
) -> Result<Progress, Error> {
    run_with_progress(log, store, PAGE, shutdown, |_| {}).await
}

/// [`run`] with `page` records per transaction, calling `on_event` as it resumes, applies
/// pages and reaches the head.
///
/// Shutdown is checked between pages; a page is either committed whole or not at all, so
/// stopping (or being killed) at any point loses nothing. If the store file is replaced by
/// [`rebuild`], the projector reopens it.
///
/// # Errors
/// A broken chain, a store that does not fit the ledger, backend and store failures; the
/// store keeps everything committed before the failure.
pub async fn run_with_progress<L: EventLog>(
    log: &L,
    store: &Path,
    page: usize,
    shutdown: impl Future,
    mut on_event: impl FnMut(RunEvent),
) -> Result<Progress, Error> {
    // Taken before the refold, so that readers wait for this projector from the start.
    let _serving = crate::serving::Serving::take(store);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut outage = dossier_log::Outage::default();
    // Waits out a failure of the ledger's server (saying so once) and tells the caller to try
    // again; any other failure ends the run. `None`: shut down while waiting.
    macro_rules! ride_out {
        ($e:expr) => {{
            let e: Error = $e;
            if !transient(&e) {
                return Err(e);
            }
            let (wait, began) = outage.failed();
            if began {
                tracing::debug!(error = %e, "the ledger server is unavailable; retrying");
                on_event(RunEvent::Unavailable {
                    reason: e.to_string(),
                });
            }
            tokio::select! {
                biased;
                _ = &mut shutdown => None,
                () = tokio::time::sleep(wait) => Some(()),
            }
        }};
    }
    macro_rules! answered {
        () => {
            if outage.recovered() {
                tracing::debug!("the ledger server answers again");
                on_event(RunEvent::Reconnected);
            }
        };
    }
    let mut projector = loop {
        let opened = tokio::select! {
            biased;
            _ = &mut shutdown => return status(log, store).await,
            p = Projector::open(log, store) => p,
        };
        let opened = match opened {
            Err(Error::Outdated { reason, .. }) => {
                // Views are derived: a store of another version is rebuilt from the ledger,
                // aside, and swapped in (readers keep the old one meanwhile).
                tracing::info!(%reason, "rebuilding the views, built by another version");
                let rebuilt = tokio::select! {
                    biased;
                    _ = &mut shutdown => return status(log, store).await,
                    r = rebuild(log, store) => r,
                };
                match rebuilt {
                    Ok(_) => Projector::open(log, store).await,
                    Err(e) => Err(e),
                }
            }
            opened => opened,
        };
        match opened {
            Ok(p) => break p,
            Err(e) => {
                if ride_out!(e).is_none() {
                    return status(log, store).await;
                }
            }
        }
    };
    answered!();
    projector.set_page_size(page);
    let mut id = file_id(store);
    let mut head = log.head().await.map_or(projector.applied, |h| h.seq);
    on_event(RunEvent::Resumed(Progress {
        applied: projector.applied,
        head,
    }));
    let mut caught_up = false;
    loop {
        let stepped = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            n = projector.step(log) => n,
        };
        let applied = match stepped {
            Ok(n) => {
                answered!();
                // Behind the head (a full page came back): take larger pages, up to
                // CATCH_UP_PAGE; at the head again, the page asked for.
                if n >= projector.page {
                    projector.set_page_size((projector.page * 2).min(CATCH_UP_PAGE.max(page)));
                } else if projector.page != page.max(1) {
                    projector.set_page_size(page);
                }
                n
            }
            Err(e) => {
                if ride_out!(e).is_none() {
                    break;
                }
                continue;
            }
        };
        if applied > 0 {
            caught_up = false;
            head = head.max(projector.applied);
            on_event(RunEvent::Applied(Progress {
                applied: projector.applied,
                head,
            }));
            projector.keep_snapshot(false);
            continue;
        }
        if !caught_up {
            caught_up = true;
            head = projector.applied;
            on_event(RunEvent::CaughtUp {
                progress: Progress {
                    applied: projector.applied,
                    head,
                },
                digest: projector.digest(),
            });
        }
        projector.keep_snapshot(true);
        // At the head: materialise a few lines' provenance, then look for new records at once
        // while lines are left.
        let wait = match projector.materialise(MATERIALISE_STEP) {
            Ok(n) if n == MATERIALISE_STEP => Duration::ZERO,
            Ok(_) => IDLE_WAIT,
            Err(e) => {
                if ride_out!(e).is_none() {
                    break;
                }
                continue;
            }
        };
        let waited = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            h = log.wait_for(projector.applied, wait) => h,
        };
        match waited {
            Ok(h) => head = h,
            Err(e) => {
                if ride_out!(Error::from(e)).is_none() {
                    break;
                }
                continue;
            }
        }
        let now = file_id(store);
        if now != id {
            // The old projector stays until the new store is open (it would notice the swap
            // itself before writing anything).
            projector = match Projector::open(log, store).await {
                Ok(p) => p,
                Err(e) => {
                    if ride_out!(e).is_none() {
                        break;
                    }
                    continue;
                }
            };
            projector.set_page_size(page);
            id = now;
            caught_up = false;
            on_event(RunEvent::Reopened(Progress {
                applied: projector.applied,
                head,
            }));
        }
    }
    if let Err(e) = projector.finish_snapshot() {
        tracing::warn!(error = %e, "writing a snapshot of the views' engines failed");
    }
    Ok(Progress {
        applied: projector.applied,
        head: head.max(projector.applied),
    })
}
