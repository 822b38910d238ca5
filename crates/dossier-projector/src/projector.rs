//! A projector on one store: restoring its engines at open, and applying pages of records
//! (read, decoded, applied and written on their own threads; see [`crate::apply`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dossier_beliefs::Engine;
use dossier_chain::{GENESIS_PREV, Hash, StoredRecord};
use dossier_log::EventLog;
use dossier_model::EntityId;

use crate::levels::{Levels, Markings};
use crate::materialised::Watches;
use rusqlite::Connection;

use crate::apply::{Fold, advance_in};
use crate::decode::for_each_decoded;
use crate::follow::Progress;
use crate::snapshot::{self, Restored};
use crate::store::{open_rw, read_checkpoint};
use crate::write::{
    Aside, OPS_PER_SEND, Outcome, Output, Sums, Target, Write, still_ours, write_digest,
    write_pages,
};
use crate::{Checkpoint, Error};

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

/// A projector following the ledger writes a snapshot of its engines (see [`crate::snapshot`])
/// once it has applied this many records since the last one, so that a restart folds at most
/// about this many records; and a catch-up that went this far writes one at its end.
pub const SNAPSHOT_RECORDS: u64 = 100_000;

/// A projector at the head writes a snapshot if it has applied anything since the last one and
/// the last one is this old.
pub const SNAPSHOT_IDLE: Duration = Duration::from_secs(60);

/// A projector on one store: the in-memory engine, the store connection, and the chain state.
///
/// Other writers on the same store ([`rebuild`](crate::rebuild), [`catch_up`](crate::catch_up)
/// from another process) are noticed before each transaction (see [`Projector::step`]); the
/// projector then reloads.
#[derive(Debug)]
pub struct Projector {
    path: PathBuf,
    pub(crate) conn: Connection,
    /// The engine of every clearance level, with its lines as last written.
    pub(crate) levels: Levels,
    /// The effective marking of every entity defined so far.
    pub(crate) markings: Markings,
    pub(crate) applied: u64,
    pub(crate) last_hash: Hash,
    stopped: bool,
    pub(crate) page: usize,
    /// The checkpoint at which the stored digest was computed.
    digest_seq: u64,
    /// The identity of the file opened, to notice a swap by [`rebuild`].
    file_id: Option<(u64, u64)>,
    /// Present while [`rebuild`] builds a store aside: what is left to the end.
    pub(crate) aside: Option<Aside>,
    /// The digest of each level's lines as last written, kept by the writing thread.
    sums: Sums,
    /// The keys of the materialised provenance rows (see [`crate::materialised`]).
    pub(crate) watches: Watches,
    /// Whether every line had a materialised row when last looked (until a page is written).
    pub(crate) materialised: bool,
    /// How the engines were restored at open.
    restored: Restored,
    /// The last record of the newest snapshot this projector read or wrote, and when.
    snapshot: (u64, Instant),
    /// A snapshot being written to its file.
    writing: Option<std::thread::JoinHandle<Result<(), Error>>>,
}

impl Projector {
    /// Opens (creating if needed) the store at `path` and restores the engine by folding
    /// records `1..=checkpoint` of `log` without writing, checking every chain link and that
    /// the record at the checkpoint has the hash the store recorded.
    ///
    /// If the store's snapshot (see [`crate::snapshot`]) passes its checks, the engines start
    /// from it and only the records after it are folded; otherwise the log says why and the
    /// whole ledger up to the checkpoint is folded ([`Projector::restored`]).
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
            restored: Restored::Empty,
            snapshot: (0, Instant::now()),
            writing: None,
        };
        if checkpoint.seq > 0 {
            p.restored = match snapshot::load(log, path, checkpoint.seq).await {
                Ok(loaded) => {
                    p.levels = loaded.state.levels;
                    p.markings = loaded.state.markings;
                    p.applied = loaded.seq;
                    p.last_hash = loaded.hash;
                    p.snapshot.0 = loaded.seq;
                    Restored::Snapshot { seq: loaded.seq }
                }
                Err(why) => {
                    tracing::info!(
                        store = %path.display(),
                        checkpoint = checkpoint.seq,
                        reason = %why,
                        "refolding the ledger to restore the views' engines"
                    );
                    Restored::Refold(why)
                }
            };
        }
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
        tracing::debug!(applied = p.applied, restored = ?p.restored, "projector state restored");
        Ok(p)
    }

    /// How the engines were restored at open: from a snapshot, or by refolding the ledger and
    /// why.
    #[must_use]
    pub fn restored(&self) -> &Restored {
        &self.restored
    }

    /// Writes a snapshot of the engines at the checkpoint beside the store (see
    /// [`crate::snapshot`]), and waits until it is in place.
    ///
    /// # Errors
    /// [`Error::Stopped`] on a stopped projector; [`Error::Snapshot`] if the state cannot be
    /// encoded; file failures.
    pub fn snapshot(&mut self) -> Result<(), Error> {
        self.finish_snapshot()?;
        if self.stopped {
            return Err(Error::Stopped);
        }
        snapshot::write_state(
            &self.path,
            &self.levels,
            &self.markings,
            self.applied,
            self.last_hash,
        )?;
        self.snapshot = (self.applied, Instant::now());
        Ok(())
    }

    fn encode_snapshot(&self) -> Result<Vec<u8>, Error> {
        snapshot::encode(&self.levels, &self.markings, self.applied, self.last_hash)
    }

    /// Waits for a snapshot being written in the background, if any.
    pub(crate) fn finish_snapshot(&mut self) -> Result<(), Error> {
        match self.writing.take() {
            Some(handle) => handle.join().map_err(|_| Error::Stopped)?,
            None => Ok(()),
        }
    }

    /// Writes a snapshot if one is due (see [`SNAPSHOT_RECORDS`], [`SNAPSHOT_IDLE`]; `at_head`:
    /// the projector reached the head): the state is encoded here, the file written on
    /// another thread. A failure to write one is logged; the projector goes on (a restart then
    /// folds more records).
    pub(crate) fn keep_snapshot(&mut self, at_head: bool) {
        let (seq, at) = self.snapshot;
        let behind = self.applied.saturating_sub(seq);
        let due =
            behind >= SNAPSHOT_RECORDS || (at_head && behind > 0 && at.elapsed() >= SNAPSHOT_IDLE);
        if !due || self.stopped {
            return;
        }
        if let Err(e) = self.finish_snapshot() {
            tracing::warn!(error = %e, "writing a snapshot of the views' engines failed");
        }
        let bytes = match self.encode_snapshot() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "encoding a snapshot of the views' engines failed");
                return;
            }
        };
        self.snapshot = (self.applied, Instant::now());
        let path = self.path.clone();
        self.writing = std::thread::Builder::new()
            .name("views-snapshot".into())
            .spawn(move || snapshot::write(&path, &bytes))
            .map_err(|e| tracing::warn!(error = %e, "cannot start writing a snapshot"))
            .ok();
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
        // A rebuild writes its snapshot itself, at its end (see `rebuild`).
        if self.aside.is_none()
            && self.applied.saturating_sub(self.snapshot.0) >= SNAPSHOT_RECORDS
            && let Err(e) = self.snapshot()
        {
            tracing::warn!(error = %e, "writing a snapshot of the views' engines failed");
        }
        let head = log.head().await?.seq;
        Ok(Progress {
            applied: self.applied,
            head,
        })
    }
}

/// File identity, to notice a store swapped in by [`rebuild`](crate::rebuild).
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
