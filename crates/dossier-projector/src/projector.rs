//! Folding the ledger into the store: restart, catch-up, live follow, rebuild.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dossier_beliefs::{BeliefChange, Engine, Recorded};
use dossier_chain::{GENESIS_PREV, Hash, RecordView, StoredRecord};
use dossier_log::EventLog;
use dossier_model::{DomainEvent, EntityId};

use crate::levels::{Birth, Level, Levels, Markings};
use crate::materialised::Watches;
use rusqlite::Connection;

use crate::decode::{Decoded, Prev, for_each_decoded};
use crate::store::{ViewStore, open_rw, read_checkpoint, rebuild_path};
use crate::write::{
    Aside, OPS_PER_SEND, Outcome, Output, Sums, Target, Write, still_ours, write_digest,
    write_pages,
};
use crate::{Checkpoint, Error, refs};

/// Records applied per page; each page is one transaction.
pub const PAGE: usize = 512;

/// The largest page a projector behind the head grows to (see [`run_with_progress`],
/// [`Projector::catch_up`]). Each page is one transaction of a rollback journal, which copies
/// every page of the store it touches; new lines, history and references land on pages all
/// over the store, so fewer, larger transactions touch each page fewer times: following a 1M
/// store, 8,192-record pages applied 2.1× as many records a second as 512-record ones.
pub const CATCH_UP_PAGE: usize = 8_192;

/// Records read per page while [`Projector::open`] refolds the ledger up to the checkpoint
/// (nothing is written, so pages can be large: fewer reads, and decoding stays ahead).
const REFOLD_PAGE: usize = 8_192;

/// Records per transaction while [`rebuild`] builds a store aside.
const REBUILD_PAGE: usize = 32_768;

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

/// A projector on one store: the in-memory engine, the store connection, and the chain state.
///
/// Other writers on the same store ([`rebuild`], [`catch_up`] from another process) are
/// noticed before each transaction (see [`Projector::step`]); the projector then reloads.
#[derive(Debug)]
pub struct Projector {
    path: PathBuf,
    conn: Connection,
    /// The engine of every clearance level, with its lines as last written.
    levels: Levels,
    /// The effective marking of every entity defined so far.
    markings: Markings,
    applied: u64,
    last_hash: Hash,
    stopped: bool,
    page: usize,
    /// The checkpoint at which the stored digest was computed.
    digest_seq: u64,
    /// The identity of the file opened, to notice a swap by [`rebuild`].
    file_id: Option<(u64, u64)>,
    /// Present while [`rebuild`] builds a store aside: what is left to the end.
    aside: Option<Aside>,
    /// The digest of each level's lines as last written, kept by the writing thread.
    sums: Sums,
    /// The keys of the materialised provenance rows (see [`crate::materialised`]).
    watches: Watches,
    /// Whether every line had a materialised row when last looked (until a page is written).
    materialised: bool,
}

impl Projector {
    /// Opens (creating if needed) the store at `path` and restores the engine by folding
    /// records `1..=checkpoint` of `log` without writing, checking every chain link and that
    /// the record at the checkpoint has the hash the store recorded.
    ///
    /// # Errors
    /// [`Error::Mismatch`] if the ledger is shorter than the checkpoint or its record there has
    /// another hash (the store belongs to another ledger); [`Error::BrokenChain`] on a broken
    /// link; backend and store failures.
    pub async fn open<L: EventLog>(log: &L, path: &Path) -> Result<Projector, Error> {
        let conn = open_rw(path)?;
        // Materialised rows that an earlier version may have left stale are dropped.
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let settled = crate::materialised::settle(&conn);
        conn.execute_batch(if settled.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        })?;
        settled?;
        let opened = file_id(path);
        let checkpoint = read_checkpoint(&conn)?.unwrap_or(Checkpoint {
            seq: 0,
            hash: GENESIS_PREV.to_hex(),
        });
        let mut p = Projector {
            path: path.to_owned(),
            conn,
            levels: Levels::default(),
            markings: Markings::default(),
            applied: 0,
            last_hash: GENESIS_PREV,
            stopped: false,
            page: PAGE,
            digest_seq: 0,
            file_id: opened,
            aside: None,
            sums: Sums::default(),
            watches: Watches::default(),
            materialised: false,
        };
        while p.applied < checkpoint.seq {
            let want = usize::try_from(checkpoint.seq - p.applied)
                .unwrap_or(usize::MAX)
                .min(REFOLD_PAGE);
            let page = log.read(p.applied + 1, want).await?;
            if page.is_empty() {
                return Err(Error::Mismatch {
                    path: path.to_owned(),
                    reason: format!(
                        "it has applied records up to seq {}, but the ledger ends at seq {}",
                        checkpoint.seq, p.applied
                    ),
                });
            }
            for_each_decoded(&page, |rec, decoded| {
                advance_in(
                    &mut p.levels,
                    &mut p.markings,
                    &mut p.applied,
                    &mut p.last_hash,
                    rec,
                    decoded,
                )
                .map(|_| ())
            })?;
        }
        if p.last_hash.to_hex() != checkpoint.hash {
            return Err(Error::Mismatch {
                path: path.to_owned(),
                reason: format!(
                    "its checkpoint is record {} with hash {}, but the ledger's record {} hashes to {}",
                    checkpoint.seq, checkpoint.hash, checkpoint.seq, p.last_hash
                ),
            });
        }
        for level in p.levels.all_mut() {
            level.sync_cache();
            level.group_last = None;
        }
        p.sums = Sums::of(p.levels.all());
        p.digest_seq = crate::store::digest_seq(&p.conn)?;
        tracing::debug!(applied = p.applied, "projector state restored");
        Ok(p)
    }

    /// Sets the number of records applied per page (per transaction); at least 1.
    pub fn set_page_size(&mut self, records: usize) {
        self.page = records.max(1);
    }

    /// The last record applied (and committed).
    #[must_use]
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The in-memory engine that folds every event (the view of a reader cleared for
    /// `TLP:RED`), at the checkpoint.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.levels.full().engine
    }

    /// The engine that folds what a reader cleared for `clearance` sees, at the checkpoint;
    /// `None` if such a reader sees no event.
    #[must_use]
    pub fn engine_for(&self, clearance: dossier_model::Marking) -> Option<&Engine> {
        let existing: Vec<u8> = self.levels.all().iter().map(|l| l.rank).collect();
        let level = crate::levels::level_for(clearance.rank(), self.levels.top(), &existing)?;
        self.levels
            .all()
            .iter()
            .find(|l| l.rank == level)
            .map(|l| &l.engine)
    }

    /// The digest of all current beliefs (of everything: a reader cleared for `TLP:RED`), kept
    /// up to date line by line; equal to [`Engine::digest`] of an engine that folded the same
    /// records.
    #[must_use]
    pub fn digest(&self) -> String {
        self.sums.digest(crate::levels::TOP)
    }

    /// The store's file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Questions whose stored line differs from the engine's current line. Always empty unless
    /// the projector missed a change; audits and tests use it (and compare the engine's lines
    /// with a full engine's, whose reference computation checks the judgments).
    #[must_use]
    pub fn stale_views(&self) -> Vec<EntityId> {
        let mut stale: Vec<EntityId> = Vec::new();
        for level in self.levels.all() {
            let lines = level.engine.lines();
            stale.extend(
                lines
                    .iter()
                    .filter(|l| level.cache.get(&l.question.id).map(|(c, _)| c) != Some(*l))
                    .map(|l| l.question.id.clone()),
            );
            stale.extend(
                level
                    .cache
                    .keys()
                    .filter(|q| level.engine.line(q).is_none())
                    .cloned(),
            );
        }
        stale.sort();
        stale.dedup();
        stale
    }

    /// Reads and applies one page of records after the checkpoint, in one transaction with
    /// the new checkpoint. Returns the number of records applied (0 at the head).
    ///
    /// Under the store's write lock it first checks that the file is the one it opened and the
    /// stored checkpoint is its own; if not (a [`rebuild`] swapped the file, another process
    /// applied records), it reloads from the store's checkpoint and tries again.
    ///
    /// On a broken chain the records before it are committed and the error names the seq; the
    /// projector is then stopped.
    ///
    /// # Errors
    /// [`Error::BrokenChain`], [`Error::Corrupt`], backend and store failures.
    pub async fn step<L: EventLog>(&mut self, log: &L) -> Result<usize, Error> {
        self.pump(log, 1).await
    }

    /// Applies up to `pages` pages (stopping at the head), each in its own transaction, and
    /// returns the number of records applied. See [`Projector::step`]; with more than one page,
    /// the next page is read and applied while the previous one is being written.
    async fn pump<L: EventLog>(&mut self, log: &L, pages: usize) -> Result<usize, Error> {
        if self.stopped {
            return Err(Error::Stopped);
        }
        loop {
            let before = self.applied;
            if self.pump_once(log, pages).await? {
                return Ok(usize::try_from(self.applied - before).unwrap_or(usize::MAX));
            }
            // The store was swapped or moved on: start again from its checkpoint.
            self.reopen(log).await?;
        }
    }

    /// [`Projector::pump`] on the store as opened; `false` if it turned out not to be this
    /// projector's any more (nothing was written; the caller reopens).
    ///
    /// Four threads share the work: this task reads pages from the log, one page ahead; an
    /// applying thread checks and folds them (their records decoded on a third thread, see
    /// [`for_each_decoded`]); a writing thread writes each page in one transaction with its
    /// checkpoint. The engine and the store's connection move to those threads for the
    /// duration. The writer checks at the start of each transaction that the store is still
    /// this projector's (see [`still_ours`]). Records are applied before that answer arrives;
    /// if it is no, or anything fails, the projector is left stopped and the store keeps only
    /// whole pages.
    async fn pump_once<L: EventLog>(&mut self, log: &L, pages: usize) -> Result<bool, Error> {
        let first = log.read(self.applied + 1, self.page).await?;
        if first.is_empty() {
            return if self.digest_seq != self.applied {
                self.store_digest()
            } else {
                Ok(true)
            };
        }
        let spawn_failed = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        // The writer takes the connection; an in-memory placeholder stands in until it is
        // joined (a stopped projector never touches it).
        let conn = std::mem::replace(&mut self.conn, Connection::open_in_memory()?);
        let (ops_tx, ops_rx) = std::sync::mpsc::sync_channel::<Vec<Write>>(64);
        let (done_tx, done_rx) = std::sync::mpsc::channel::<Outcome>();
        let (path, file_id) = (self.path.clone(), self.file_id);
        let mut aside = self.aside.take();
        let mut sums = std::mem::take(&mut self.sums);
        let mut watches = std::mem::take(&mut self.watches);
        let writer = std::thread::Builder::new()
            .name("views-write".into())
            .spawn(move || {
                let mut conn = conn;
                let target = Target {
                    path: &path,
                    file_id,
                    aside: aside.as_mut(),
                    sums: &mut sums,
                    watches: &mut watches,
                };
                let written = write_pages(&mut conn, target, &ops_rx, &done_tx);
                (conn, aside, sums, watches, written)
            })
            .map_err(spawn_failed)?;
        // From here until the threads are joined the projector is stopped: an error, or a
        // future dropped between pages, leaves it so (the writer then rolls back an unfinished
        // page).
        self.stopped = true;
        let mut fold = Fold {
            levels: std::mem::take(&mut self.levels),
            markings: std::mem::take(&mut self.markings),
            applied: self.applied,
            last_hash: self.last_hash,
            page: self.page,
        };
        let out = Output {
            ops: Vec::with_capacity(OPS_PER_SEND),
            sender: ops_tx,
            closed: false,
        };
        let (pages_tx, pages_rx) = tokio::sync::mpsc::channel::<Vec<StoredRecord>>(1);
        let (finished_tx, finished_rx) = tokio::sync::oneshot::channel::<()>();
        let applier = std::thread::Builder::new()
            .name("views-apply".into())
            .spawn(move || {
                let ended = fold.apply_pages(pages_rx, out, &done_rx);
                let _ = finished_tx.send(());
                (fold, done_rx, ended)
            })
            .map_err(spawn_failed)?;
        // Read ahead: page k+1 is read while page k is applied. A page read but not applied
        // (the applier stopped) is dropped.
        let mut read_failure: Option<Error> = None;
        let mut next = Some(first);
        let mut sent = 0;
        while let Some(page) = next.take() {
            let short = page.len() < self.page;
            let from = page.last().map_or(self.applied, |r| r.position) + 1;
            if pages_tx.send(page).await.is_err() {
                break; // the applier stopped
            }
            sent += 1;
            if short || sent >= pages {
                break;
            }
            match log.read(from, self.page).await {
                Ok(page) if page.is_empty() => {}
                Ok(page) => next = Some(page),
                Err(e) => read_failure = Some(e.into()),
            }
        }
        drop(pages_tx);
        let _ = finished_rx.await;
        let (fold, done_rx, ended) = applier.join().map_err(|_| Error::Stopped)?;
        let (conn, aside, sums, watches, written) = writer.join().map_err(|_| Error::Stopped)?;
        self.conn = conn;
        self.aside = aside;
        self.sums = sums;
        self.watches = watches;
        self.materialised = false;
        self.levels = fold.levels;
        self.markings = fold.markings;
        self.applied = fold.applied;
        self.last_hash = fold.last_hash;
        let outcomes: Vec<Outcome> = ended
            .outcomes
            .into_iter()
            .chain(done_rx.try_iter())
            .collect();
        // The writer's own error (the reason a send failed) comes first.
        written?;
        if outcomes.iter().any(|o| matches!(o, Outcome::Lost)) {
            return Ok(false);
        }
        if let Some(e) = ended.failure {
            return Err(e);
        }
        for o in outcomes {
            if let Outcome::Committed { seq, digest: true } = o {
                self.digest_seq = seq;
            }
        }
        // Every page read was applied and committed: a failure to read the next one (the
        // ledger's server went away) leaves the projector whole, to try again.
        self.stopped = false;
        if let Some(e) = read_failure {
            return Err(e);
        }
        Ok(true)
    }

    /// Stores the engine's digest at the checkpoint; `false` if the store was swapped or moved
    /// on (see [`still_ours`]).
    fn store_digest(&mut self) -> Result<bool, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if !still_ours(&tx, &self.path, self.file_id, self.applied)? {
            return Ok(false);
        }
        write_digest(&tx, &self.sums, self.applied)?;
        tx.commit()?;
        self.digest_seq = self.applied;
        Ok(true)
    }

    /// Materialises the current provenance of up to `max` lines that have none yet (see
    /// [`crate::materialised`]), in one transaction at the checkpoint; returns how many (fewer
    /// than `max`: none is left). A serving projector calls it when it is at the head with
    /// nothing to apply; queries of a line without a row fold it from the stored events.
    ///
    /// # Errors
    /// If the store cannot be read or written.
    pub fn materialise(&mut self, max: usize) -> Result<usize, Error> {
        if self.stopped || self.materialised || self.aside.is_some() {
            return Ok(0);
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if !still_ours(&tx, &self.path, self.file_id, self.applied)? {
            // Swapped or moved on: the next step reopens the store.
            return Ok(0);
        }
        let filled = match crate::materialised::fill(&tx, &mut self.watches, self.applied, max) {
            Ok(n) => n,
            Err(e) => {
                drop(tx);
                self.watches.forget();
                return Err(e);
            }
        };
        tx.commit()?;
        self.materialised = filled < max;
        Ok(filled)
    }

    /// Opens the store at the path afresh (after a rebuild swapped it in, or another process
    /// moved it on).
    async fn reopen<L: EventLog>(&mut self, log: &L) -> Result<(), Error> {
        let page = self.page;
        *self = Projector::open(log, &self.path.clone()).await?;
        self.page = page;
        tracing::info!(
            applied = self.applied,
            "the view store was swapped; reopened it"
        );
        Ok(())
    }

    /// Applies pages until the head; returns where the store stands.
    ///
    /// # Errors
    /// As [`Projector::step`].
    ///
    /// Pages are pipelined: the next page is read and applied while the one before is written;
    /// they hold at least [`CATCH_UP_PAGE`] records. Unlike [`Projector::step`], a catch-up
    /// dropped between pages leaves the projector
    /// stopped (the store keeps the pages committed so far; reopen it).
    pub async fn catch_up<L: EventLog>(&mut self, log: &L) -> Result<Progress, Error> {
        let page = self.page;
        self.page = page.max(CATCH_UP_PAGE);
        let pumped = async {
            while self.pump(log, usize::MAX).await? > 0 {}
            Ok::<(), Error>(())
        }
        .await;
        self.page = page;
        pumped?;
        let head = log.head().await?.seq;
        Ok(Progress {
            applied: self.applied,
            head,
        })
    }
}

/// What the applying thread of [`Projector::pump_once`] owns while it runs: the engine, the
/// lines as last written, and the chain position.
struct Fold {
    levels: Levels,
    markings: Markings,
    applied: u64,
    last_hash: Hash,
    /// Records per page (a shorter page reached the head).
    page: usize,
}

/// How the applying thread ended.
struct Ended {
    /// Why it stopped early (a broken chain, the writer gone).
    failure: Option<Error>,
    /// What the writer reported meanwhile.
    outcomes: Vec<Outcome>,
}

impl Fold {
    /// Applies the pages received, in order, until the channel closes, a page reaches the
    /// head, the writer reports the store is not this projector's, or something fails; the
    /// writes go to the writer through `out`.
    fn apply_pages(
        &mut self,
        mut pages: tokio::sync::mpsc::Receiver<Vec<StoredRecord>>,
        mut out: Output,
        done: &std::sync::mpsc::Receiver<Outcome>,
    ) -> Ended {
        let mut ended = Ended {
            failure: None,
            outcomes: Vec::new(),
        };
        while let Some(page) = pages.blocking_recv() {
            let (fail, at_head) = self.apply_records(&page, &mut out);
            if fail.is_some() {
                ended.failure = fail;
                break;
            }
            ended.outcomes.extend(done.try_iter());
            let lost = ended.outcomes.iter().any(|o| matches!(o, Outcome::Lost));
            if at_head || lost || out.closed {
                break;
            }
            if let Err(e) = out.send() {
                ended.failure = Some(e);
                break;
            }
        }
        let _ = out.send();
        ended
    }

    /// Applies one page's records to the engine, handing its writes to `out`: a
    /// [`Write::Begin`], each event's writes, the lines of each group and a
    /// [`Write::Commit`] with the checkpoint (and the digest if the page reached the head).
    /// Returns a broken-chain failure (the records before it are committed) and whether the
    /// page reached the head.
    fn apply_records(&mut self, page: &[StoredRecord], out: &mut Output) -> (Option<Error>, bool) {
        let start = self.applied;
        // The digest serializes every line: written when the page reaches the head (and when a
        // later read finds nothing new), not for every page of a long catch-up.
        let short_page = page.len() < self.page;
        let Fold {
            levels,
            markings,
            applied,
            last_hash,
            ..
        } = self;
        if out.push(Write::Begin { start }).is_err() {
            return (None, false);
        }
        // The records of one recorded time (a batch shares one) read so far. The group is
        // closed — its changed lines computed and its cut written — before any record of a
        // later recorded time is applied, so that a line version stamped with a time holds
        // exactly the events recorded by then.
        let mut group: Option<Group> = None;
        let mut failure = None;
        let applying = for_each_decoded(page, |rec, decoded| -> Result<(), Error> {
            let later = matches!((&decoded, &group), (Ok(d), Some(g)) if d.recorded != g.recorded);
            if later && let Some(g) = group.take() {
                g.close(levels, out)?;
            }
            let (recorded, applied_event) =
                match advance_in(levels, markings, applied, last_hash, rec, decoded) {
                    Ok(x) => x,
                    Err(e) => {
                        // Keep the broken-chain error; `Stopped` only ends the iteration.
                        failure = Some(e);
                        return Err(Error::Stopped);
                    }
                };
            let g = group.get_or_insert(Group { recorded, last: 0 });
            g.last = *applied;
            // Control records change no view; they only move the cut.
            let Some(a) = applied_event else {
                return Ok(());
            };
            if let Some(top) = a.top {
                out.push(Write::Top(top))?;
            }
            if let Some(birth) = a.birth {
                out.push(Write::Birth(birth))?;
            }
            let refs = refs::keys(&a.event, |c| levels.full().engine.question_of(c));
            out.push(Write::Event {
                seq: *applied as i64,
                hash: *last_hash,
                recorded: g.recorded.clone(),
                event_type: a.event_type,
                schema: a.schema,
                marking: a.marking,
                body: a.body,
                refs,
                changes: a.changes,
            })?;
            Ok(())
        });
        if let Err(e) = applying
            && !matches!(e, Error::Stopped)
        {
            return (Some(e), false);
        }
        if out.closed {
            return (failure, false);
        }
        // The page may end inside a recorded time: its lines and cut so far are written now
        // and again, moved on, by the next page.
        if let Some(g) = group.take()
            && g.close(levels, out).is_err()
        {
            return (failure, false);
        }
        let at_head = failure.is_none() && short_page;
        if *applied > start {
            let _ = out.push(Write::Commit {
                seq: *applied,
                hash: last_hash.to_hex(),
                digest: at_head,
            });
        } else {
            let _ = out.push(Write::Abort);
        }
        (failure, at_head)
    }
}

/// The records of one recorded time applied in a page, see [`Fold::apply_records`].
struct Group {
    /// Their recorded time (fixed-width form).
    recorded: String,
    /// The last record among them.
    last: u64,
}

impl Group {
    /// Hands the writer the lines that changed in the group at each level, stamped with the
    /// last domain event of the group that level applied, and the group's cut: the last record
    /// of its recorded time so far.
    fn close(self, levels: &mut Levels, out: &mut Output) -> Result<(), Error> {
        for level in levels.all_mut() {
            if let Some(seq) = level.group_last.take() {
                out.push(changed_lines(level, seq, self.recorded.clone()))?;
            }
        }
        out.push(Write::Cut {
            recorded: self.recorded,
            seq: self.last,
        })
    }
}

/// A domain event as applied: the changes of belief it caused and what the store keeps of it.
struct Applied {
    /// The highest effective rank that occurred, if this event raised it.
    top: Option<u8>,
    /// The level born to see it, if any.
    birth: Option<Birth>,
    /// The changes of belief it caused, per level (by rank).
    changes: Vec<(u8, Vec<BeliefChange>)>,
    event: DomainEvent,
    event_type: String,
    schema: u32,
    /// Its effective marking, as its rank: the most restrictive of its own and those of the
    /// entities it references (see [`crate::levels`]).
    marking: u8,
    /// The event's body exactly as recorded.
    body: String,
}

/// Checks one decoded record against the chain (position, stored hash, seq, prev link) and
/// folds it into the engine. Returns its recorded time and, for a domain event, what it did
/// (`None` for a control record). Works on split borrows so that a transaction can hold the
/// connection meanwhile.
fn advance_in(
    levels: &mut Levels,
    markings: &mut Markings,
    applied: &mut u64,
    last_hash: &mut Hash,
    rec: &StoredRecord,
    decoded: Result<Decoded, Error>,
) -> Result<(String, Option<Applied>), Error> {
    let seq = *applied + 1;
    if rec.position != seq {
        return Err(Error::BrokenChain {
            seq,
            reason: format!(
                "the ledger returned record {} where record {seq} was expected",
                rec.position
            ),
        });
    }
    let d = decoded?;
    if rec.stored_hash.is_some_and(|stored| stored != d.hash) {
        return Err(Error::BrokenChain {
            seq,
            reason: "the record's bytes changed after it was appended".into(),
        });
    }
    if d.seq != seq {
        return Err(Error::BrokenChain {
            seq,
            reason: format!("the record says it is seq {}", d.seq),
        });
    }
    let linked = match d.prev {
        // The record before it in the page was the one applied just before (seq - 1).
        Prev::Follows => true,
        Prev::Hash(prev) => prev == Some(*last_hash),
    };
    if !linked {
        let prev = RecordView::parse(&rec.bytes).map_or_else(|_| "?".into(), |v| v.prev.to_owned());
        return Err(Error::BrokenChain {
            seq,
            reason: format!(
                "its prev is {prev}, but record {} hashes to {}",
                seq - 1,
                last_hash.to_hex()
            ),
        });
    }
    let applied_event = d.domain.map(|part| {
        let hex = d.hex;
        let marking = markings.effective(&part.event, part.marking);
        let top = levels.top();
        let birth = levels.admit(marking);
        let top = (levels.top() != top).then(|| levels.top()).flatten();
        let claims_of = claim_questions(&part.event, &levels.full().engine);
        let questions = view_questions(&part.event, &claims_of);
        let changes = levels
            .seeing(marking)
            .map(|level| {
                level.group_last = Some(seq);
                let changes = level.apply(
                    marking,
                    &questions,
                    Recorded {
                        seq,
                        hash: &hex,
                        recorded: part.recorded,
                        event: &part.event,
                    },
                );
                (level.rank, changes)
            })
            .filter(|(_, c)| !c.is_empty())
            .collect();
        Applied {
            top,
            birth,
            changes,
            event: part.event,
            event_type: part.event_type,
            schema: part.schema,
            marking,
            body: part.body,
        }
    });
    *applied = seq;
    *last_hash = d.hash;
    Ok((d.recorded, applied_event))
}

/// The questions of the claims a relation or resolution names (`full` knows every recorded
/// claim's question); nothing for other events.
fn claim_questions(event: &DomainEvent, full: &Engine) -> Vec<EntityId> {
    let of_claim = |c: &EntityId| full.question_of(c).cloned();
    match event {
        DomainEvent::Relation(r) => [&r.from, &r.to].into_iter().filter_map(of_claim).collect(),
        DomainEvent::Resolution(r) => of_claim(&r.forecast).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The questions whose views an event is filed under (see [`crate::levels::Level::marks`]);
/// `claims_of` holds those of the claims it names ([`claim_questions`]).
fn view_questions<'a>(event: &'a DomainEvent, claims_of: &'a [EntityId]) -> Vec<&'a EntityId> {
    match event {
        DomainEvent::Question(q) => vec![&q.id],
        DomainEvent::Claim(c) => vec![&c.question],
        DomainEvent::Interest(d) => vec![&d.question],
        DomainEvent::Assessment(a) => vec![&a.question],
        DomainEvent::Relation(_) | DomainEvent::Resolution(_) => claims_of.iter().collect(),
        DomainEvent::Source(_) | DomainEvent::Reliability(_) | DomainEvent::Report(_) => Vec::new(),
    }
}

/// The lines of the questions whose line changed in the group and differ from what the store
/// holds (the cache is updated to what will be written), stamped with `seq`, the last domain
/// event of the group, and its recorded time.
fn changed_lines(level: &mut Level, seq: u64, recorded: String) -> Write {
    let mut lines = Vec::new();
    for q in level.take_pending() {
        let Some(line) = level.engine.line(&q) else {
            continue;
        };
        let mark = level.marks.get(&q).copied().unwrap_or(0);
        if level
            .cache
            .get(&q)
            .is_some_and(|(l, m)| l == line && *m == mark)
        {
            continue;
        }
        level.cache.insert(q, (line.clone(), mark));
        lines.push((line.clone(), mark));
    }
    Write::Lines {
        level: level.rank,
        seq: seq as i64,
        recorded,
        lines,
    }
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

/// File identity, to notice a store swapped in by [`rebuild`].
pub(crate) fn file_id(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
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
    Ok(Progress {
        applied: projector.applied,
        head: head.max(projector.applied),
    })
}

/// Rebuilds the store from sequence 1 without downtime: builds a fresh store aside
/// ([`rebuild_path`], `views.db.rebuild`), brings it to the head, closes it, then renames it
/// over `store` in one step. Readers see the old store until the rename and the new one after.
///
/// The rename happens under the old store's write lock; a projector running on the old store
/// checks the file under that lock before each transaction, so it never writes to the replaced
/// file: it reopens the new one and continues from its checkpoint.
///
/// # Errors
/// As [`catch_up`]; file operations. On failure the old store is untouched.
pub async fn rebuild<L: EventLog>(log: &L, store: &Path) -> Result<Progress, Error> {
    let aside = rebuild_path(store);
    for stale in [aside.clone(), journal_path(&aside)] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    path: stale,
                    source,
                });
            }
        }
    }
    let progress = {
        let mut p = Projector::open(log, &aside).await?;
        // The file being built aside is thrown away if anything fails before the swap, so its
        // transactions need not reach the disk one by one (one sync before the rename does) and
        // need no rollback journal; nobody else reads it, so pages can be large.
        p.conn.pragma_update(None, "synchronous", "OFF")?;
        p.conn.pragma_update(None, "journal_mode", "OFF")?;
        p.set_page_size(REBUILD_PAGE);
        // The whole ledger is coming: let the engine size its tables once.
        let head = log.head().await?.seq;
        p.levels.reserve(usize::try_from(head).unwrap_or(0));
        p.markings.reserve(usize::try_from(head).unwrap_or(0));
        // About two references per event, left to the end (see `Aside`).
        p.aside = Some(Aside {
            refs: Vec::with_capacity(usize::try_from(head.saturating_mul(2)).unwrap_or(0)),
        });
        let progress = p.catch_up(log).await?;
        p.aside.take().unwrap_or_default().finish(&mut p.conn)?;
        // Closing commits nothing new; no journal is left behind. The engine's memory is freed
        // on another thread: nothing waits for it.
        let Projector { conn, levels, .. } = p;
        drop(conn);
        std::thread::spawn(move || drop(levels));
        std::fs::File::open(&aside)
            .and_then(|f| f.sync_all())
            .map_err(|source| Error::Io {
                path: aside.clone(),
                source,
            })?;
        progress
    };
    // Swap while holding the old store's write lock: no projector is inside a transaction on
    // the old file (so it has no journal that readers of the new file could mistake for
    // theirs), and a projector waiting for the lock sees the new file once it gets it.
    let old = if store.is_file() {
        let conn = Connection::open(store)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.execute_batch("BEGIN EXCLUSIVE")?;
        Some(conn)
    } else {
        None
    };
    dossier_log::fault::point("rebuild-swap");
    std::fs::rename(&aside, store).map_err(|source| Error::Io {
        path: store.to_owned(),
        source,
    })?;
    dossier_log::fault::point("rebuild-swapped");
    if let Some(conn) = old {
        conn.execute_batch("ROLLBACK")?;
    }
    if let Some(dir) = store.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the rename durable (best effort: not every platform can sync a directory).
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(progress)
}

fn journal_path(db: &Path) -> PathBuf {
    let mut name = db
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push("-journal");
    db.with_file_name(name)
}
