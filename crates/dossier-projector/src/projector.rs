//! Folding the ledger into the store: restart, catch-up, live follow, rebuild.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dossier_beliefs::{BeliefChange, BeliefLine, Engine, Recorded};
use dossier_chain::{GENESIS_PREV, Hash, RecordView, StoredRecord, control};
use dossier_log::EventLog;
use dossier_model::{DomainEvent, EntityId, Timestamp};
use rusqlite::types::Value;
use rusqlite::{Connection, params};

use crate::store::{ViewStore, open_rw, read_checkpoint, rebuild_path};
use crate::{Checkpoint, Error, refs};

/// Records applied per page; each page is one transaction.
pub const PAGE: usize = 512;

/// Records read per page while [`Projector::open`] refolds the ledger up to the checkpoint
/// (nothing is written, so pages can be large: fewer reads, and decoding stays ahead).
const REFOLD_PAGE: usize = 8_192;

/// Records per transaction while [`rebuild`] builds a store aside.
const REBUILD_PAGE: usize = 32_768;

/// How long [`run`] waits for new records before checking the store file again.
const IDLE_WAIT: Duration = Duration::from_secs(1);

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
}

/// A projector on one store: the in-memory engine, the store connection, and the chain state.
///
/// Other writers on the same store ([`rebuild`], [`catch_up`] from another process) are
/// noticed before each transaction (see [`Projector::step`]); the projector then reloads.
#[derive(Debug)]
pub struct Projector {
    path: PathBuf,
    conn: Connection,
    engine: Engine,
    /// The current lines as last written to the store.
    cache: BTreeMap<EntityId, BeliefLine>,
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
}

/// What a store built aside by [`rebuild`] leaves to the end, where it is written in one go
/// ([`Aside::finish`]): the reference keys, kept in memory instead of inserted at random
/// places in `refs`, and the current lines (meanwhile only line versions are written).
#[derive(Debug, Default)]
struct Aside {
    refs: Vec<(i64, i64)>,
}

impl Aside {
    /// Inserts the reference keys sorted, in one transaction (rows go to the end of the table's
    /// b-tree, several per statement), and makes each question's current line its latest
    /// version (SQLite takes the bare columns from the row holding the maximum).
    fn finish(mut self, conn: &mut Connection) -> Result<(), Error> {
        self.refs.sort_unstable();
        self.refs.dedup();
        let tx = conn.transaction()?;
        let mut batch = Batched::new("INSERT INTO refs (key, seq) VALUES", "(?, ?)");
        for &(key, seq) in &self.refs {
            batch.push(&tx, [Value::Integer(key), Value::Integer(seq)])?;
        }
        batch.flush(&tx)?;
        tx.execute_batch(
            "INSERT INTO beliefs (question, seq, recorded, line)
             SELECT question, MAX(seq), recorded, line FROM belief_versions GROUP BY question",
        )?;
        tx.commit()?;
        Ok(())
    }
}

fn is_control(event_type: &str) -> bool {
    event_type == control::GENESIS || event_type == control::SEAL || event_type.starts_with("key.")
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
        let opened = file_id(path);
        let checkpoint = read_checkpoint(&conn)?.unwrap_or(Checkpoint {
            seq: 0,
            hash: GENESIS_PREV.to_hex(),
        });
        let mut p = Projector {
            path: path.to_owned(),
            conn,
            engine: Engine::for_projection(),
            cache: BTreeMap::new(),
            applied: 0,
            last_hash: GENESIS_PREV,
            stopped: false,
            page: PAGE,
            digest_seq: 0,
            file_id: opened,
            aside: None,
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
                    &mut p.engine,
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
        p.engine.take_changed();
        p.cache = p
            .engine
            .lines()
            .into_iter()
            .map(|l| (l.question.id.clone(), l.clone()))
            .collect();
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

    /// The in-memory engine, at the checkpoint.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The digest of all current beliefs ([`Engine::digest`]).
    #[must_use]
    pub fn digest(&self) -> String {
        self.engine.digest()
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
        let lines = self.engine.lines();
        let mut stale: Vec<EntityId> = lines
            .iter()
            .filter(|l| self.cache.get(&l.question.id) != Some(*l))
            .map(|l| l.question.id.clone())
            .collect();
        stale.extend(
            self.cache
                .keys()
                .filter(|q| self.engine.line(q).is_none())
                .cloned(),
        );
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
        let writer = std::thread::Builder::new()
            .name("views-write".into())
            .spawn(move || {
                let mut conn = conn;
                let target = Target {
                    path: &path,
                    file_id,
                    aside: aside.as_mut(),
                };
                let written = write_pages(&mut conn, target, &ops_rx, &done_tx);
                (conn, aside, written)
            })
            .map_err(spawn_failed)?;
        // From here until the threads are joined the projector is stopped: an error, or a
        // future dropped between pages, leaves it so (the writer then rolls back an unfinished
        // page).
        self.stopped = true;
        let mut fold = Fold {
            engine: std::mem::take(&mut self.engine),
            cache: std::mem::take(&mut self.cache),
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
        let (conn, aside, written) = writer.join().map_err(|_| Error::Stopped)?;
        self.conn = conn;
        self.aside = aside;
        self.engine = fold.engine;
        self.cache = fold.cache;
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
        if let Some(e) = ended.failure.or(read_failure) {
            return Err(e);
        }
        for o in outcomes {
            if let Outcome::Committed { seq, digest: true } = o {
                self.digest_seq = seq;
            }
        }
        self.stopped = false;
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
        write_digest(&tx, &self.engine.digest(), self.applied)?;
        tx.commit()?;
        self.digest_seq = self.applied;
        Ok(true)
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
    /// Pages are pipelined: the next page is read and applied while the one before is written.
    /// Unlike [`Projector::step`], a catch-up dropped between pages leaves the projector
    /// stopped (the store keeps the pages committed so far; reopen it).
    pub async fn catch_up<L: EventLog>(&mut self, log: &L) -> Result<Progress, Error> {
        while self.pump(log, usize::MAX).await? > 0 {}
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
    engine: Engine,
    /// The current lines as last written to the store.
    cache: BTreeMap<EntityId, BeliefLine>,
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
            engine,
            cache,
            applied,
            last_hash,
            ..
        } = self;
        if out.push(Write::Begin { start }).is_err() {
            return (None, false);
        }
        // The current group of domain events (a batch shares one recorded time): its recorded
        // time and its last seq. Its lines are written when the recorded time moves on.
        let mut group: Option<(String, u64)> = None;
        let mut failure = None;
        let applying = for_each_decoded(page, |rec, decoded| -> Result<(), Error> {
            let (recorded, applied_event) =
                match advance_in(engine, applied, last_hash, rec, decoded) {
                    Ok(x) => x,
                    Err(e) => {
                        // Keep the broken-chain error; `Stopped` only ends the iteration.
                        failure = Some(e);
                        return Err(Error::Stopped);
                    }
                };
            // Control records change no view.
            let Some(a) = applied_event else {
                return Ok(());
            };
            if let Some((g, last)) = group.take()
                && g != recorded
            {
                out.push(changed_lines(engine, cache, last, g))?;
            }
            let refs = refs::keys(&a.event, |c| engine.question_of(c));
            out.push(Write::Event {
                seq: *applied as i64,
                hash: *last_hash,
                recorded: recorded.clone(),
                event_type: a.event_type,
                schema: a.schema,
                body: a.body,
                refs,
                changes: a.changes,
            })?;
            group = Some((recorded, *applied));
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
        if let Some((g, last)) = group.take()
            && out.push(changed_lines(engine, cache, last, g)).is_err()
        {
            return (failure, false);
        }
        let at_head = failure.is_none() && short_page;
        if *applied > start {
            let _ = out.push(Write::Commit {
                seq: *applied,
                hash: last_hash.to_hex(),
                digest: at_head.then(|| engine.digest()),
            });
        } else {
            let _ = out.push(Write::Abort);
        }
        (failure, at_head)
    }
}

/// A record decoded off the applying thread: its hash and the envelope fields the chain
/// check needs, and for a domain event the event itself.
struct Decoded {
    hash: Hash,
    /// `hash` in hex.
    hex: String,
    seq: u64,
    prev: Prev,
    recorded: String,
    domain: Option<DomainPart>,
}

/// What the decoding thread found of a record's `prev`.
enum Prev {
    /// It is the hash of the record before it in the page, which the decoding thread hashed
    /// (so the link holds if that record was applied just before).
    Follows,
    /// Otherwise (the first record of a page, or a mismatch): `prev` as a hash, if it is one
    /// in lowercase hex (the record format).
    Hash(Option<Hash>),
}

/// The domain event of a [`Decoded`] record.
struct DomainPart {
    event: DomainEvent,
    recorded: Timestamp,
    event_type: String,
    schema: u32,
    body: String,
}

/// Hashes and parses one record; `before` is the hex hash of the record before it in the page
/// (the chain check itself needs the record applied before it, see [`advance_in`]).
///
/// A domain event's envelope is parsed without scanning its body, which is then parsed once
/// ([`RecordView::parse_envelope`]); anything that path cannot do (a control record, whose body
/// the projector does not decode, or any failure) takes the full parse, which gives the errors.
fn decode(
    rec: &StoredRecord,
    before: Option<&str>,
    scratch: &mut String,
    times: &mut LastTime,
) -> Result<Decoded, Error> {
    let seq = rec.position;
    let hash = Hash::of_record(&rec.bytes);
    if let Some((view, body)) = RecordView::parse_envelope(&rec.bytes, scratch)
        && !is_control(view.event_type)
        && let Ok(d) = decoded(&view, body, hash, before, times)
    {
        return Ok(d);
    }
    let view = RecordView::parse(&rec.bytes).map_err(|e| e.to_string());
    view.and_then(|view| decoded(&view, view.body.get(), hash, before, times))
        .map_err(|reason| Error::Corrupt { seq, reason })
}

/// The recorded time parsed last: the records of a batch share theirs, so most records are
/// not parsed again.
#[derive(Default)]
struct LastTime(Option<(String, Timestamp)>);

impl LastTime {
    fn parse(&mut self, text: &str) -> Result<Timestamp, String> {
        if let Some((last, time)) = &self.0
            && last == text
        {
            return Ok(*time);
        }
        let time = Timestamp::parse(text).map_err(|e| e.to_string())?;
        self.0 = Some((text.to_owned(), time));
        Ok(time)
    }
}

/// A parsed record, with `body` its body's text, as [`Decoded`].
fn decoded(
    view: &RecordView<'_>,
    body: &str,
    hash: Hash,
    before: Option<&str>,
    times: &mut LastTime,
) -> Result<Decoded, String> {
    let domain = if is_control(view.event_type) {
        None
    } else {
        Some(DomainPart {
            event: DomainEvent::decode(view.event_type, view.schema, body.as_bytes())
                .map_err(|e| e.to_string())?,
            recorded: times.parse(view.recorded)?,
            event_type: view.event_type.to_owned(),
            schema: view.schema,
            body: body.to_owned(),
        })
    };
    let prev = if before == Some(view.prev) {
        Prev::Follows
    } else {
        let lower_hex = view
            .prev
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        Prev::Hash(Hash::from_hex(view.prev).ok().filter(|_| lower_hex))
    };
    Ok(Decoded {
        hash,
        hex: hash.to_hex(),
        seq: view.seq,
        prev,
        recorded: view.recorded.to_owned(),
        domain,
    })
}

/// Decodes records in order, each with the hash of the one before it.
struct Decoder {
    /// The hex hash of the record decoded last, if it decoded.
    before: Option<String>,
    /// The envelope being parsed (see [`RecordView::parse_envelope`]).
    scratch: String,
    times: LastTime,
}

impl Decoder {
    fn new() -> Decoder {
        Decoder {
            before: None,
            scratch: String::new(),
            times: LastTime::default(),
        }
    }

    fn decode(&mut self, rec: &StoredRecord) -> Result<Decoded, Error> {
        let d = decode(
            rec,
            self.before.as_deref(),
            &mut self.scratch,
            &mut self.times,
        );
        match &d {
            Ok(d) => {
                let before = self.before.get_or_insert_with(String::new);
                before.clear();
                before.push_str(&d.hex);
            }
            Err(_) => self.before = None,
        }
        d
    }
}

/// Records decoded per message between the decoding and the applying thread.
const DECODE_CHUNK: usize = 128;

/// Calls `f` with every record of `page` in order and its [`decode`]d form. Pages of more than
/// one chunk are decoded (hashing, JSON) on a second thread while `f` applies the records
/// before; `f` returning an error stops both.
fn for_each_decoded(
    page: &[StoredRecord],
    mut f: impl FnMut(&StoredRecord, Result<Decoded, Error>) -> Result<(), Error>,
) -> Result<(), Error> {
    if page.len() <= DECODE_CHUNK {
        let mut decoder = Decoder::new();
        return page.iter().try_for_each(|rec| f(rec, decoder.decode(rec)));
    }
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Result<Decoded, Error>>>(64);
        let thread = std::thread::Builder::new().name("views-decode".into());
        let spawned = thread.spawn_scoped(scope, move || {
            let mut decoder = Decoder::new();
            for chunk in page.chunks(DECODE_CHUNK) {
                let decoded = chunk.iter().map(|rec| decoder.decode(rec)).collect();
                if tx.send(decoded).is_err() {
                    break; // the applying side stopped
                }
            }
        });
        if spawned.is_err() {
            // No thread to be had: decode here.
            let mut decoder = Decoder::new();
            return page.iter().try_for_each(|rec| f(rec, decoder.decode(rec)));
        }
        for chunk in page.chunks(DECODE_CHUNK) {
            let decoded = rx.recv().map_err(|_| Error::Corrupt {
                seq: chunk[0].position,
                reason: "the decoding thread stopped".into(),
            })?;
            for (rec, d) in chunk.iter().zip(decoded) {
                f(rec, d)?;
            }
        }
        Ok(())
    })
}

/// A domain event as applied: the changes of belief it caused and what the store keeps of it.
struct Applied {
    changes: Vec<BeliefChange>,
    event: DomainEvent,
    event_type: String,
    schema: u32,
    /// The event's body exactly as recorded.
    body: String,
}

/// Checks one decoded record against the chain (position, stored hash, seq, prev link) and
/// folds it into the engine. Returns its recorded time and, for a domain event, what it did
/// (`None` for a control record). Works on split borrows so that a transaction can hold the
/// connection meanwhile.
fn advance_in(
    engine: &mut Engine,
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
        let changes = engine.apply(Recorded {
            seq,
            hash: &hex,
            recorded: part.recorded,
            event: &part.event,
        });
        Applied {
            changes,
            event: part.event,
            event_type: part.event_type,
            schema: part.schema,
            body: part.body,
        }
    });
    *applied = seq;
    *last_hash = d.hash;
    Ok((d.recorded, applied_event))
}

/// What the applying thread hands the writing thread.
enum Write {
    /// A page starts: open its transaction, if the store is still at `start` (and the file
    /// the one opened).
    Begin { start: u64 },
    /// The page applied nothing (a broken chain at its first record): roll back.
    Abort,
    /// A domain event: its row, its reference keys and the changes of belief it caused.
    Event {
        seq: i64,
        hash: Hash,
        recorded: String,
        event_type: String,
        schema: u32,
        body: String,
        refs: Vec<i64>,
        changes: Vec<BeliefChange>,
    },
    /// The end of a group of events recorded at one time: the lines that changed, stamped with
    /// the group's last seq.
    Lines {
        seq: i64,
        recorded: String,
        lines: Vec<BeliefLine>,
    },
    /// Write the checkpoint (and the digest, at the head) and commit.
    Commit {
        seq: u64,
        hash: String,
        digest: Option<String>,
    },
}

/// Writes sent in one message.
const OPS_PER_SEND: usize = 256;

/// What the writer reports per page.
enum Outcome {
    /// The page's transaction was committed with checkpoint `seq` (and the digest).
    Committed { seq: u64, digest: bool },
    /// The store was not this projector's any more; the page was not written.
    Lost,
}

/// The applying side of the channel to the writer, buffering writes.
struct Output {
    ops: Vec<Write>,
    sender: std::sync::mpsc::SyncSender<Vec<Write>>,
    /// The writer stopped (its error says why).
    closed: bool,
}

impl Output {
    fn push(&mut self, op: Write) -> Result<(), Error> {
        self.ops.push(op);
        if self.ops.len() >= OPS_PER_SEND {
            self.send()?;
        }
        Ok(())
    }

    /// Sends what is buffered; an error means the writer stopped.
    fn send(&mut self) -> Result<(), Error> {
        if self.ops.is_empty() || self.closed {
            return if self.closed {
                Err(Error::Stopped)
            } else {
                Ok(())
            };
        }
        let ops = std::mem::replace(&mut self.ops, Vec::with_capacity(OPS_PER_SEND));
        if self.sender.send(ops).is_err() {
            self.closed = true;
            return Err(Error::Stopped);
        }
        Ok(())
    }
}

/// The lines of the questions whose line changed in the group and differ from what the store
/// holds (the cache is updated to what will be written), stamped with `seq`, the last domain
/// event of the group, and its recorded time.
fn changed_lines(
    engine: &mut Engine,
    cache: &mut BTreeMap<EntityId, BeliefLine>,
    seq: u64,
    recorded: String,
) -> Write {
    let mut lines = Vec::new();
    for q in engine.take_changed() {
        let Some(line) = engine.line(&q) else {
            continue;
        };
        if cache.get(&q) == Some(line) {
            continue;
        }
        cache.insert(q, line.clone());
        lines.push(line.clone());
    }
    Write::Lines {
        seq: seq as i64,
        recorded,
        lines,
    }
}

/// The writing thread of [`Projector::pump_once`]: for each page, opens a transaction under
/// the store's write lock, checks that the store is still this projector's (see
/// [`still_ours`]; if not, reports [`Outcome::Lost`] and skips the page), writes what it
/// receives and commits on [`Write::Commit`]. An unfinished page (an error, the applying side
/// stopping) is rolled back.
fn write_pages(
    conn: &mut Connection,
    target: Target<'_>,
    ops: &std::sync::mpsc::Receiver<Vec<Write>>,
    done: &std::sync::mpsc::Sender<Outcome>,
) -> Result<(), Error> {
    let mut open = false;
    let result = write_ops(conn, target, ops, done, &mut open);
    if open {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

/// The store the writing thread writes to.
struct Target<'a> {
    path: &'a Path,
    file_id: Option<(u64, u64)>,
    /// See [`Projector::aside`].
    aside: Option<&'a mut Aside>,
}

fn write_ops(
    conn: &Connection,
    mut target: Target<'_>,
    ops: &std::sync::mpsc::Receiver<Vec<Write>>,
    done: &std::sync::mpsc::Sender<Outcome>,
    open: &mut bool,
) -> Result<(), Error> {
    // Whether the current page is being skipped (the store was not ours).
    let mut skipping = false;
    let mut events = events_batch();
    let mut history = history_batch();
    for batch in ops {
        for op in batch {
            match op {
                Write::Begin { start } => {
                    conn.execute_batch("BEGIN IMMEDIATE")?;
                    *open = true;
                    skipping = !still_ours(conn, target.path, target.file_id, start)?;
                    if skipping {
                        conn.execute_batch("ROLLBACK")?;
                        *open = false;
                        let _ = done.send(Outcome::Lost);
                    }
                }
                _ if skipping => {}
                Write::Abort => {
                    events.clear();
                    history.clear();
                    conn.execute_batch("ROLLBACK")?;
                    *open = false;
                }
                Write::Event {
                    seq,
                    hash,
                    recorded,
                    event_type,
                    schema,
                    body,
                    refs,
                    changes,
                } => {
                    if let Some(aside) = target.aside.as_deref_mut() {
                        aside.refs.extend(refs.iter().map(|&key| (key, seq)));
                    } else {
                        let mut add_ref = conn.prepare_cached(
                            "INSERT OR IGNORE INTO refs (key, seq) VALUES (?1, ?2)",
                        )?;
                        for key in refs {
                            add_ref.execute(params![key, seq])?;
                        }
                    }
                    for c in changes {
                        let after = serde_json::to_string(&c.after)?;
                        history.push(
                            conn,
                            [
                                Value::Text(c.question.as_str().to_owned()),
                                Value::Integer(seq),
                                Value::Text(c.reason),
                                Value::Text(after),
                            ],
                        )?;
                    }
                    events.push(
                        conn,
                        [
                            Value::Integer(seq),
                            Value::Blob(hash.0.to_vec()),
                            Value::Text(recorded),
                            Value::Text(event_type),
                            Value::Integer(i64::from(schema)),
                            Value::Text(body),
                        ],
                    )?;
                }
                Write::Lines {
                    seq,
                    recorded,
                    lines,
                } => {
                    // While a rebuild builds aside, only the versions are written; the current
                    // rows are taken from them at the end.
                    let current = target.aside.is_none();
                    write_lines(conn, seq, &recorded, &lines, current)?;
                }
                Write::Commit { seq, hash, digest } => {
                    events.flush(conn)?;
                    history.flush(conn)?;
                    conn.execute(
                        "INSERT INTO checkpoint (id, seq, hash) VALUES (1, ?1, ?2)
                         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                        params![seq as i64, hash],
                    )?;
                    let with_digest = digest.is_some();
                    if let Some(digest) = digest {
                        write_digest(conn, &digest, seq)?;
                    }
                    conn.execute_batch("COMMIT")?;
                    *open = false;
                    let _ = done.send(Outcome::Committed {
                        seq,
                        digest: with_digest,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Rows waiting to be inserted [`Batched::ROWS`] per statement into one table: fewer
/// statements for the million rows of a rebuild.
struct Batched {
    /// `INSERT … INTO table (columns) VALUES`: the statement before its value lists.
    insert: &'static str,
    /// The value list of one row, e.g. `(?, ?)`.
    row: &'static str,
    /// The rows' values, one after another.
    values: Vec<Value>,
    rows: usize,
}

impl Batched {
    /// Rows per statement.
    const ROWS: usize = 64;

    fn new(insert: &'static str, row: &'static str) -> Self {
        Batched {
            insert,
            row,
            values: Vec::new(),
            rows: 0,
        }
    }

    fn push<const N: usize>(&mut self, conn: &Connection, row: [Value; N]) -> Result<(), Error> {
        self.values.extend(row);
        self.rows += 1;
        if self.rows >= Self::ROWS {
            self.flush(conn)?;
        }
        Ok(())
    }

    /// Forgets the rows waiting (the page is rolled back).
    fn clear(&mut self) {
        self.values.clear();
        self.rows = 0;
    }

    /// Inserts the rows waiting (before a commit).
    fn flush(&mut self, conn: &Connection) -> Result<(), Error> {
        if self.rows == 0 {
            return Ok(());
        }
        let sql = format!("{} {}", self.insert, vec![self.row; self.rows].join(", "));
        conn.prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(self.values.drain(..)))?;
        self.rows = 0;
        Ok(())
    }
}

fn events_batch() -> Batched {
    Batched::new(
        "INSERT INTO events (seq, hash, recorded, type, schema, body) VALUES",
        "(?, ?, ?, ?, ?, ?)",
    )
}

fn history_batch() -> Batched {
    // The rest of a change is the event's (see `ViewStore::history`).
    Batched::new(
        "INSERT OR REPLACE INTO history (question, seq, reason, after) VALUES",
        "(?, ?, ?, ?)",
    )
}

/// Writes lines as the current rows and new versions, and the last seq of their recorded time,
/// which as-of queries turn times into seqs with.
fn write_lines(
    tx: &Connection,
    seq: i64,
    recorded: &str,
    lines: &[BeliefLine],
    current_rows: bool,
) -> Result<(), Error> {
    let mut current = tx.prepare_cached(
        "INSERT INTO beliefs (question, seq, recorded, line) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (question) DO UPDATE SET seq = excluded.seq, recorded = excluded.recorded, line = excluded.line",
    )?;
    let mut version = tx.prepare_cached(
        "INSERT OR REPLACE INTO belief_versions (question, seq, recorded, line) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for line in lines {
        let json = serde_json::to_string(line)?;
        let q = line.question.id.as_str();
        if current_rows {
            current.execute(params![q, seq, recorded, json])?;
        }
        version.execute(params![q, seq, recorded, json])?;
    }
    tx.prepare_cached(
        "INSERT INTO times (recorded, seq) VALUES (?1, ?2)
         ON CONFLICT (recorded) DO UPDATE SET seq = MAX(seq, excluded.seq)",
    )?
    .execute(params![recorded, seq])?;
    Ok(())
}

/// Whether the store, checked under its write lock, is still the file this projector opened and
/// still at the checkpoint it holds in memory. Not so if [`rebuild`] swapped the file (it does
/// so holding the old file's lock) or another process (`dossier beliefs` catching up while a
/// projector runs) applied records meanwhile; the projector then reopens the store, so it
/// never writes to a replaced file nor moves a checkpoint back.
fn still_ours(
    tx: &Connection,
    path: &Path,
    opened: Option<(u64, u64)>,
    applied: u64,
) -> Result<bool, Error> {
    if file_id(path) != opened {
        return Ok(false);
    }
    Ok(read_checkpoint(tx)?.map_or(0, |c| c.seq) == applied)
}

/// Stores the engine's digest and the checkpoint it belongs to.
fn write_digest(tx: &Connection, digest: &str, seq: u64) -> Result<(), Error> {
    for (key, value) in [
        ("digest", digest.to_owned()),
        ("digest_seq", seq.to_string()),
    ] {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
    }
    Ok(())
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
        return catch_up(log, store).await;
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

/// The store's progress if it stands at the ledger's head (see [`catch_up`]). Anything else,
/// an error included, is `None`: the full way then reports it.
async fn at_head<L: EventLog>(log: &L, store: &Path) -> Option<Progress> {
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
fn file_id(path: &Path) -> Option<(u64, u64)> {
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
    let mut projector = tokio::select! {
        biased;
        _ = &mut shutdown => return status(log, store).await,
        p = Projector::open(log, store) => p?,
    };
    projector.set_page_size(page);
    let mut id = file_id(store);
    let mut head = log.head().await?.seq;
    on_event(RunEvent::Resumed(Progress {
        applied: projector.applied,
        head,
    }));
    let mut caught_up = false;
    loop {
        let applied = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            n = projector.step(log) => n?,
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
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            h = log.wait_for(projector.applied, IDLE_WAIT) => head = h?,
        }
        let now = file_id(store);
        if now != id {
            drop(projector);
            projector = Projector::open(log, store).await?;
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
        p.engine.reserve(usize::try_from(head).unwrap_or(0));
        // About two references per event, left to the end (see `Aside`).
        p.aside = Some(Aside {
            refs: Vec::with_capacity(usize::try_from(head.saturating_mul(2)).unwrap_or(0)),
        });
        let progress = p.catch_up(log).await?;
        p.aside.take().unwrap_or_default().finish(&mut p.conn)?;
        // Closing commits nothing new; no journal is left behind. The engine's memory is freed
        // on another thread: nothing waits for it.
        let Projector { conn, engine, .. } = p;
        drop(conn);
        std::thread::spawn(move || drop(engine));
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
    std::fs::rename(&aside, store).map_err(|source| Error::Io {
        path: store.to_owned(),
        source,
    })?;
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
