//! The projector on real SQLite ledgers built from the example bundles (and generated ones):
//! exactly-once checkpoints, restarts, rebuilds, as-of queries and broken chains.

#![allow(clippy::unwrap_used, missing_docs)]

const RED: dossier_model::Marking = dossier_model::Marking::Red;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dossier_beliefs::{Engine, Recorded};
use dossier_chain::{
    BatchBuilder, EncodedRecord, EventId, Genesis, Hash, Head, RecordView, Signer, StoredRecord,
    format_recorded,
};
use dossier_log::{
    AppendError, AppendReceipt, EventLog, IndexEntry, LogError, Publisher, SqliteLog, ledger,
};
use dossier_model::{DomainEvent, KnownEntities, Timestamp, parse_bundle, validate};
use dossier_projector::{
    Error, Projector, RunEvent, ViewStore, catch_up, rebuild, rebuild_path, status,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

const CONTAINERS: &str = "question:dprk-russia/containers-shipped";
const TRANSFERS: &str = "question:dprk-russia/arms-transfers";

/// When the four examples are recorded (as in `docs/BELIEFS.md` §4).
const TIMES: [&str; 4] = [
    "2024-02-27T12:00:00Z",
    "2024-03-19T18:00:00Z",
    "2024-04-02T09:00:00Z",
    "2024-04-03T10:00:00Z",
];

fn t(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

/// The fixed-width cut-off of `--as-of DATE` (end of that day).
fn as_of(date: &str) -> String {
    format_recorded(Timestamp::parse_as_of(date).unwrap().to_offset_datetime())
}

fn example_bundles() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(p).unwrap(),
            )
        })
        .collect()
}

/// A valid bundle with `questions` boolean questions and `claims` claims, ids prefixed by `tag`.
fn gen_bundle(tag: &str, questions: usize, claims: usize) -> (String, Vec<u8>) {
    let speaker = format!("source:gen/{tag}/speaker");
    let mut text = format!("Generated report {tag}.\n");
    let qs: Vec<String> = (0..questions)
        .map(|q| format!("question:gen/{tag}/q{q}"))
        .collect();
    let mut cs = Vec::new();
    for i in 0..claims {
        let sentence = format!("Shipment {i} of {tag} reached the border.");
        let start = text.chars().count();
        text.push_str(&sentence);
        let end = text.chars().count();
        text.push(' ');
        cs.push(json!({
            "id": format!("claim:gen/{tag}/c{i}"),
            "question": qs[i % questions],
            "speaker": speaker,
            "stance": if i % 5 == 3 { "denies" } else { "asserts" },
            "value": { "boolean": true },
            "valid_time": { "from": "2024-01", "until": "2024-02-29" },
            "quote": { "text": sentence, "start": start, "end": end },
            "credibility": 1 + (i % 6)
        }));
    }
    let doc = json!({
        "version": 1,
        "marking": "TLP:GREEN",
        "report": {
            "id": format!("report:gen/{tag}"),
            "publisher": format!("Generator {tag}"),
            "title": format!("Generated report {tag}"),
            "published": "2024-03-01T09:00:00Z",
            "retrieved": "2024-03-01T10:00:00Z",
            "language": "en",
            "marking": "TLP:GREEN",
            "text": text
        },
        "sources": [{ "id": speaker, "name": format!("Speaker {tag}"), "kind": "person" }],
        "questions": qs.iter().map(|q| json!({ "id": q, "text": format!("Did {q} happen?"), "kind": { "type": "boolean" } })).collect::<Vec<_>>(),
        "claims": cs
    });
    (format!("{tag}.json"), serde_json::to_vec(&doc).unwrap())
}

/// A SQLite ledger in a temporary directory.
struct Fixture {
    dir: tempfile::TempDir,
    log: SqliteLog,
    signer: Signer,
    ledger: Uuid,
    known: KnownEntities,
}

impl Fixture {
    async fn new(genesis_at: OffsetDateTime) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let log = SqliteLog::open(&dir.path().join("ledger.db")).unwrap();
        let signer = Signer::from_secret([7; 32], "test producer");
        let ledger = Uuid::new_v4();
        let records = Genesis::build(ledger, "projector tests", &signer, genesis_at).unwrap();
        log.append(0, &records, &[]).await.unwrap();
        Fixture {
            dir,
            log,
            signer,
            ledger,
            known: KnownEntities::default(),
        }
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("views.db")
    }

    fn validated(
        &mut self,
        name: &str,
        bytes: &[u8],
    ) -> (Vec<dossier_log::PendingEvent>, Vec<Vec<u8>>) {
        let bundle = parse_bundle(name, bytes).unwrap_or_else(|e| panic!("{e}"));
        let v = validate(name, bundle, &self.known).unwrap_or_else(|e| panic!("{e}"));
        ledger::remember(&mut self.known, &v);
        ledger::pending_events(&v)
    }

    /// Appends a bundle as one sealed batch recorded at `at`.
    async fn append_at(&mut self, name: &str, bytes: &[u8], at: OffsetDateTime) {
        let (events, texts) = self.validated(name, bytes);
        let head = self.log.head().await.unwrap();
        let mut b = BatchBuilder::new(self.ledger, &head, at, &self.signer, Uuid::new_v4());
        for e in &events {
            b.push(&e.event_type, e.schema, &e.entity_key, &e.marking, &e.body)
                .unwrap();
        }
        self.log
            .append(head.seq, &b.seal().unwrap(), &texts)
            .await
            .unwrap();
    }

    /// Publishes a bundle through the publisher (recorded now).
    async fn publish(&mut self, name: &str, bytes: &[u8]) {
        let (events, texts) = self.validated(name, bytes);
        Publisher::new(&self.log, &self.signer, self.ledger)
            .publish(&events, &texts)
            .await
            .unwrap();
    }

    /// The four examples at their documented times.
    async fn examples() -> Fixture {
        let mut f = Fixture::new(t("2024-02-01T00:00:00Z")).await;
        for ((name, bytes), at) in example_bundles().iter().zip(TIMES) {
            f.append_at(name, bytes, t(at)).await;
        }
        f
    }

    /// The examples, then `n` generated bundles through the publisher.
    async fn larger(n: usize) -> Fixture {
        let mut f = Fixture::examples().await;
        for i in 0..n {
            let (name, bytes) = gen_bundle(&format!("g{i}"), 3, 7);
            f.publish(&name, &bytes).await;
        }
        f
    }
}

/// A projector running on a task of its own ([`dossier_projector::run_with_progress`], pages
/// of 8 records) on the fixture's ledger, until stopped.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<dossier_projector::Progress, Error>>,
    /// What the projector itself last reported having applied: the store's checkpoint alone
    /// is no sign, since a rebuild swaps in a store that is already at the head.
    applied: Arc<AtomicU64>,
}

impl Running {
    /// Starts it on the fixture's store, with a connection of its own to the ledger.
    fn start(f: &Fixture) -> Running {
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let applied = Arc::new(AtomicU64::new(0));
        let log = SqliteLog::open(&f.dir.path().join("ledger.db")).unwrap();
        let (store, seen) = (f.store(), Arc::clone(&applied));
        let task = tokio::spawn(async move {
            dossier_projector::run_with_progress(
                &log,
                &store,
                8,
                async {
                    rx.await.ok();
                },
                |e| {
                    let (RunEvent::Resumed(p)
                    | RunEvent::Applied(p)
                    | RunEvent::CaughtUp { progress: p, .. }
                    | RunEvent::Reopened(p)) = e
                    else {
                        return;
                    };
                    seen.store(p.applied, Ordering::SeqCst);
                },
            )
            .await
        });
        Running {
            stop,
            task,
            applied,
        }
    }

    /// Waits (up to 30 s) until the projector reports having applied `seq`.
    async fn reach(&self, seq: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.applied.load(Ordering::SeqCst) != seq && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) -> Result<dossier_projector::Progress, Error> {
        self.stop.send(()).unwrap();
        self.task.await.unwrap()
    }
}

/// The store's digest is that of an independent fold of the whole ledger.
async fn assert_digest_of_a_clean_fold(log: &SqliteLog, store: &Path) {
    assert_eq!(
        ViewStore::open(store)
            .unwrap()
            .digest(RED)
            .unwrap()
            .unwrap(),
        reference(log, None).await.digest()
    );
}

/// An independent fold of the whole ledger: the reference the store must match.
async fn reference<L: EventLog>(log: &L, upto: Option<u64>) -> Engine {
    let mut engine = Engine::new();
    let head = log.head().await.unwrap().seq;
    let last = upto.unwrap_or(head).min(head);
    let mut from = 1;
    while from <= last {
        let page = log.read(from, 1000).await.unwrap();
        for r in &page {
            if r.position > last {
                break;
            }
            let v = RecordView::parse(&r.bytes).unwrap();
            if let Ok(event) = DomainEvent::decode(v.event_type, v.schema, v.body.get().as_bytes())
            {
                let hash = Hash::of_record(&r.bytes).to_hex();
                engine.apply(Recorded {
                    seq: r.position,
                    hash: &hash,
                    recorded: Timestamp::parse(v.recorded).unwrap(),
                    event: &event,
                });
            }
        }
        from = page.last().unwrap().position + 1;
    }
    engine
}

fn belief_json(engine: &Engine, q: &str) -> Value {
    serde_json::to_value(
        engine
            .belief(&dossier_model::EntityId::parse(q).unwrap(), None)
            .unwrap(),
    )
    .unwrap()
}

/// A typed answer of the store as JSON, to compare with JSON built from the engine's views.
fn js<T: serde::Serialize>(x: T) -> Value {
    serde_json::to_value(x).unwrap()
}

fn quantity(b: &Value) -> f64 {
    b["value"]["value"]["quantity"]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("no figure in {}", b["value"]))
}

/// The observable content of a store: current beliefs, as-of views at the example times, every
/// question's history, checkpoint and digest.
fn contents(path: &Path) -> Value {
    let v = ViewStore::open(path).unwrap();
    let lines = v.beliefs(RED, None).unwrap();
    let histories: Vec<Value> = lines
        .iter()
        .map(|b| js(v.history(RED, b.item.question.id.as_str(), None).unwrap()))
        .collect();
    let mid_march = as_of("2024-03-20");
    let as_of: Vec<Value> = [
        "2024-02-28",
        "2024-03-01",
        "2024-03-20",
        "2024-04-02",
        "2024-04-03",
        "2099-01-01",
    ]
    .iter()
    .map(|d| js(v.beliefs(RED, Some(&as_of(d))).unwrap()))
    .collect();
    // Provenance, now and as of a date, is gathered through the stored references.
    let provenance: Vec<Value> = lines
        .iter()
        .map(|b| {
            let q = b.item.question.id.as_str();
            json!([
                js(v.belief(RED, q, None).unwrap()),
                js(v.belief(RED, q, Some(&mid_march)).unwrap())
            ])
        })
        .collect();
    let beliefs = js(&lines);
    let cp = v.checkpoint().unwrap().unwrap();
    json!({ "beliefs": beliefs, "histories": histories, "as_of": as_of, "provenance": provenance, "checkpoint": [cp.seq, cp.hash], "digest": v.digest(RED).unwrap() })
}

/// A log that shows only records up to `limit`: lets a test stop the projector at any seq.
/// It counts the records it hands out.
struct Limited<'a> {
    inner: &'a SqliteLog,
    limit: u64,
    records_read: AtomicU64,
}

impl<'a> Limited<'a> {
    fn up_to(inner: &'a SqliteLog, limit: u64) -> Self {
        Limited {
            inner,
            limit,
            records_read: AtomicU64::new(0),
        }
    }
}

impl EventLog for Limited<'_> {
    async fn head(&self) -> Result<Head, LogError> {
        let head = self.inner.head().await?;
        if head.seq <= self.limit {
            return Ok(head);
        }
        let r = self.inner.read(self.limit, 1).await?.remove(0);
        let v = RecordView::parse(&r.bytes).map_err(|e| LogError::Corrupt(e.to_string()))?;
        Ok(Head {
            seq: self.limit,
            hash: Hash::of_record(&r.bytes),
            recorded: Some(v.recorded.to_owned()),
        })
    }
    async fn append(
        &self,
        _: u64,
        _: &[EncodedRecord],
        _: &[Vec<u8>],
    ) -> Result<AppendReceipt, AppendError> {
        unreachable!("read-only")
    }
    async fn read(&self, from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let mut page = self.inner.read(from, max).await?;
        page.retain(|r| r.position <= self.limit);
        self.records_read
            .fetch_add(page.len() as u64, Ordering::SeqCst);
        Ok(page)
    }
    async fn lookup(&self, ids: &[EventId]) -> Result<Vec<Option<IndexEntry>>, LogError> {
        self.inner.lookup(ids).await
    }
    async fn content(&self, hash: &Hash) -> Result<Option<Vec<u8>>, LogError> {
        self.inner.content(hash).await
    }
    async fn wait_for(&self, after: u64, timeout: Duration) -> Result<u64, LogError> {
        tokio::time::sleep(timeout.min(Duration::from_millis(10))).await;
        Ok(self.limit.min(self.inner.head().await?.seq).max(after))
    }
}

/// A log whose record `seq` has one byte changed (`keep_hash`: the backend still reports the
/// hash it stored at append time).
struct Tampered<'a> {
    inner: &'a SqliteLog,
    seq: u64,
    keep_hash: bool,
}

impl EventLog for Tampered<'_> {
    async fn head(&self) -> Result<Head, LogError> {
        self.inner.head().await
    }
    async fn append(
        &self,
        _: u64,
        _: &[EncodedRecord],
        _: &[Vec<u8>],
    ) -> Result<AppendReceipt, AppendError> {
        unreachable!("read-only")
    }
    async fn read(&self, from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let mut page = self.inner.read(from, max).await?;
        for r in &mut page {
            if r.position == self.seq {
                // Change the first digit of the correlation id: still a well-formed record.
                let at = r
                    .bytes
                    .windows(15)
                    .position(|w| w == b"\"correlation\":\"")
                    .unwrap()
                    + 15;
                r.bytes[at] = if r.bytes[at] == b'0' { b'1' } else { b'0' };
                if !self.keep_hash {
                    r.stored_hash = None;
                }
            }
        }
        Ok(page)
    }
    async fn lookup(&self, ids: &[EventId]) -> Result<Vec<Option<IndexEntry>>, LogError> {
        self.inner.lookup(ids).await
    }
    async fn content(&self, hash: &Hash) -> Result<Option<Vec<u8>>, LogError> {
        self.inner.content(hash).await
    }
    async fn wait_for(&self, after: u64, timeout: Duration) -> Result<u64, LogError> {
        self.inner.wait_for(after, timeout).await
    }
}

#[tokio::test]
async fn one_pass_matches_an_independent_fold() {
    let f = Fixture::examples().await;
    let progress = catch_up(&f.log, &f.store()).await.unwrap();
    let head = f.log.head().await.unwrap();
    assert_eq!(
        (progress.applied, progress.head, progress.lag()),
        (head.seq, head.seq, 0)
    );
    let engine = reference(&f.log, None).await;
    let v = ViewStore::open(&f.store()).unwrap();
    assert_eq!(v.digest(RED).unwrap().unwrap(), engine.digest());
    assert_eq!(
        v.policy().unwrap().as_deref(),
        Some(dossier_beliefs::POLICY_VERSION)
    );
    assert_eq!(v.checkpoint().unwrap().unwrap().hash, head.hash.to_hex());
    let stored = js(items(v.beliefs(RED, None).unwrap()));
    let expected: Vec<Value> = engine
        .lines()
        .iter()
        .map(|b| serde_json::to_value(b).unwrap())
        .collect();
    assert_eq!(stored, Value::Array(expected));
    // Every belief with provenance, gathered from the store, equals the engine's.
    assert_same_provenance(&v, &engine, None);
    for b in engine.beliefs() {
        let q = b.question.id.as_str();
        let h: Vec<Value> = engine
            .history(&b.question.id)
            .iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect();
        assert_eq!(
            js(items(v.history(RED, q, None).unwrap())),
            Value::Array(h),
            "history of {q}"
        );
    }
    // The digest computed from the stored rows (as mid-way through a catch-up) is the same.
    rusqlite_conn(&f.store())
        .execute("DELETE FROM meta WHERE key = 'digest_seq'", [])
        .unwrap();
    assert_eq!(v.digest(RED).unwrap().unwrap(), engine.digest());
    // Caught up: a second pass applies nothing and changes nothing.
    let before = contents(&f.store());
    assert_eq!(
        catch_up(&f.log, &f.store()).await.unwrap().applied,
        head.seq
    );
    assert_eq!(contents(&f.store()), before);
}

#[tokio::test]
async fn only_touched_views_are_rewritten_and_none_is_missed() {
    let f = Fixture::larger(5).await;
    for page in [1, 3, 16] {
        let store = f.dir.path().join(format!("audit-{page}.db"));
        let mut p = Projector::open(&f.log, &store).await.unwrap();
        p.set_page_size(page);
        while p.step(&f.log).await.unwrap() > 0 {
            assert_eq!(
                p.stale_views(),
                Vec::<dossier_model::EntityId>::new(),
                "after seq {} (page {page})",
                p.applied()
            );
            // The projector's lines are those of a full engine, whose own reference computation
            // (with provenance) agrees with its incremental judgments.
            let full = reference(&f.log, Some(p.applied())).await;
            assert_eq!(
                p.engine().lines(),
                full.lines(),
                "after seq {}",
                p.applied()
            );
            assert_eq!(full.stale_views(), Vec::<dossier_model::EntityId>::new());
        }
        let engine = reference(&f.log, None).await;
        let v = ViewStore::open(&store).unwrap();
        assert_eq!(v.digest(RED).unwrap().unwrap(), engine.digest());
        assert_same_provenance(&v, &engine, None);
    }
}

#[tokio::test]
async fn as_of_queries_answer_from_stored_versions() {
    let f = Fixture::examples().await;
    catch_up(&f.log, &f.store()).await.unwrap();
    // Take the ledger away: the store alone must answer.
    let store = f.dir.path().join("copy.db");
    std::fs::copy(f.store(), &store).unwrap();
    let v = ViewStore::open(&store).unwrap();

    // Before the revision: ~6,700; after it: at least 7,000, the February figure superseded.
    let before = js(v
        .belief(RED, CONTAINERS, Some(&as_of("2024-03-01")))
        .unwrap()
        .unwrap());
    assert_eq!(quantity(&before), 6700.0);
    assert_eq!(
        before["value"]["value"]["quantity"]["qualifier"],
        "approximately"
    );
    let after = js(v
        .belief(RED, CONTAINERS, Some(&as_of("2024-03-20")))
        .unwrap()
        .unwrap());
    assert!(quantity(&after) >= 7000.0);
    assert_eq!(
        after["provenance"]["superseded"][0]["id"],
        "claim:rok-mnd/containers-2024-02"
    );
    let now = js(v.belief(RED, CONTAINERS, None).unwrap().unwrap());
    assert!(quantity(&now) >= 7000.0);

    // Before the denials the transfers question is uncontested; after them, disputed.
    let transfers = js(v
        .belief(RED, TRANSFERS, Some(&as_of("2024-03-01")))
        .unwrap()
        .unwrap());
    assert_eq!(transfers["status"]["summary"], "uncontested");
    assert_eq!(
        js(v.belief(RED, TRANSFERS, None).unwrap().unwrap())["status"]["summary"],
        "disputed"
    );

    // Before anything was recorded there is nothing; questions appear as they are posed.
    assert!(
        v.beliefs(RED, Some(&as_of("2024-02-26")))
            .unwrap()
            .is_empty()
    );
    assert!(
        v.belief(RED, CONTAINERS, Some(&as_of("2024-02-26")))
            .unwrap()
            .is_none()
    );

    // Every as-of view equals the fold of the events recorded by then.
    for (i, at) in TIMES.iter().enumerate() {
        let cut = format_recorded(t(at));
        let engine = reference_as_of(&f.log, &cut).await;
        assert_eq!(
            items(v.beliefs(RED, Some(&cut)).unwrap()),
            lines_of(&engine),
            "as of bundle {}",
            i + 1
        );
        assert_same_provenance(&v, &engine, Some(&cut));
        let h = v.history(RED, CONTAINERS, Some(&cut)).unwrap();
        assert_eq!(
            h.len(),
            engine
                .history(&dossier_model::EntityId::parse(CONTAINERS).unwrap())
                .len()
        );
    }
    assert_eq!(belief_json(&reference(&f.log, None).await, CONTAINERS), now);
}

/// Every question's belief with provenance from the store (as of `cut`) equals the one the
/// reference engine computes, and questions it has not posed are absent.
fn assert_same_provenance(v: &ViewStore, engine: &Engine, cut: Option<&str>) {
    let posed: Vec<String> = engine
        .lines()
        .iter()
        .map(|l| l.question.id.as_str().to_owned())
        .collect();
    for q in &posed {
        let stored = js(v.belief(RED, q, cut).unwrap());
        assert_eq!(stored, belief_json(engine, q), "{q} as of {cut:?}");
    }
    for q in [CONTAINERS, TRANSFERS] {
        if !posed.iter().any(|p| p == q) {
            assert_eq!(v.belief(RED, q, cut).unwrap(), None, "{q} as of {cut:?}");
        }
    }
}

/// The reference fold of the events recorded at or before `cut`.
async fn reference_as_of(log: &SqliteLog, cut: &str) -> Engine {
    reference(log, Some(last_seq_recorded_by(log, cut).await)).await
}

/// An engine's current lines.
fn lines_of(engine: &Engine) -> Vec<dossier_beliefs::BeliefLine> {
    engine.lines().into_iter().cloned().collect()
}

async fn last_seq_recorded_by(log: &SqliteLog, cut: &str) -> u64 {
    let mut last = 0;
    for r in log.read(1, 10_000).await.unwrap() {
        if RecordView::parse(&r.bytes).unwrap().recorded <= cut {
            last = r.position;
        }
    }
    last
}

#[tokio::test]
async fn restarting_at_arbitrary_points_gives_the_same_views_as_one_pass() {
    let f = Fixture::larger(40).await;
    let head = f.log.head().await.unwrap().seq;
    catch_up(&f.log, &f.store()).await.unwrap();
    let one_pass = contents(&f.store());
    assert_eq!(one_pass["digest"], reference(&f.log, None).await.digest());

    // Several runs, each stopped at pseudo-random seqs (inside batches too), then restarted.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for run in 0..4 {
        let store = f.dir.path().join(format!("views-{run}.db"));
        let mut limit = 0;
        while limit < head {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            limit = (limit + 1 + x % 180).min(head);
            let p = catch_up(&Limited::up_to(&f.log, limit), &store)
                .await
                .unwrap();
            assert_eq!(p.applied, limit);
            let cp = ViewStore::open(&store).unwrap();
            assert_eq!(
                cp.digest(RED).unwrap().unwrap(),
                reference(&f.log, Some(limit)).await.digest(),
                "stopped at {limit}"
            );
        }
        let c = contents(&store);
        assert_eq!(c["digest"], one_pass["digest"]);
        assert_eq!(c["beliefs"], one_pass["beliefs"]);
        assert_eq!(c["histories"], one_pass["histories"]);
        assert_eq!(c["as_of"], one_pass["as_of"]);
        assert_eq!(c["checkpoint"], one_pass["checkpoint"]);
    }
}

#[tokio::test]
async fn a_failed_page_leaves_checkpoint_and_views_together() {
    let f = Fixture::larger(60).await;
    let head = f.log.head().await.unwrap().seq;
    assert!(
        head > dossier_projector::PAGE as u64 + 100,
        "the ledger spans several pages"
    );
    // First page applied; then a failure inside the second page's transaction.
    let first = dossier_projector::PAGE as u64;
    catch_up(&Limited::up_to(&f.log, first), &f.store())
        .await
        .unwrap();
    let after_first = contents(&f.store());
    {
        let conn = rusqlite_conn(&f.store());
        conn.execute_batch(&format!(
            "CREATE TRIGGER fail BEFORE INSERT ON history WHEN NEW.seq > {} BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            first + 50
        ))
        .unwrap();
    }
    let err = catch_up(&f.log, &f.store()).await.unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err}");
    // Nothing of the failed page is visible: views and checkpoint are those of the first page.
    assert_eq!(contents(&f.store()), after_first);
    assert_eq!(
        ViewStore::open(&f.store())
            .unwrap()
            .checkpoint()
            .unwrap()
            .unwrap()
            .seq,
        first
    );
    rusqlite_conn(&f.store())
        .execute_batch("DROP TRIGGER fail")
        .unwrap();
    // Resuming applies the rest exactly once: the same as one pass.
    catch_up(&f.log, &f.store()).await.unwrap();
    let resumed = contents(&f.store());
    let clean = f.dir.path().join("clean.db");
    catch_up(&f.log, &clean).await.unwrap();
    assert_eq!(resumed, contents(&clean));
}

fn rusqlite_conn(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[tokio::test]
async fn rebuild_gives_the_same_digest_and_swaps_atomically() {
    let f = Fixture::larger(60).await;
    let head = f.log.head().await.unwrap().seq;
    // The live store lags behind; a reader polls it during the rebuild.
    let lag_at = head / 3;
    catch_up(&Limited::up_to(&f.log, lag_at), &f.store())
        .await
        .unwrap();
    let old = contents(&f.store());
    let one_pass = f.dir.path().join("one-pass.db");
    catch_up(&f.log, &one_pass).await.unwrap();
    let new = contents(&one_pass);

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, store) = (Arc::clone(&stop), f.store());
        let (old_d, new_d) = (old["digest"].clone(), new["digest"].clone());
        let (old_b, new_b) = (old["beliefs"].clone(), new["beliefs"].clone());
        std::thread::spawn(move || {
            let v = ViewStore::open(&store).unwrap();
            let mut reads = 0;
            while !stop.load(Ordering::SeqCst) || reads < 2 {
                let d = Value::from(v.digest(RED).unwrap());
                assert!(
                    d == old_d || d == new_d,
                    "a reader saw a half-built store: digest {d}"
                );
                let b = js(v.beliefs(RED, None).unwrap());
                assert!(b == old_b || b == new_b, "a reader saw half-built beliefs");
                reads += 1;
            }
            reads
        })
    };
    let p = rebuild(&f.log, &f.store()).await.unwrap();
    stop.store(true, Ordering::SeqCst);
    assert!(reader.join().unwrap() >= 2);
    assert_eq!(p.applied, head);
    assert!(
        !rebuild_path(&f.store()).exists(),
        "the aside file was renamed into place"
    );
    assert_eq!(contents(&f.store()), new);
    assert_eq!(status(&f.log, &f.store()).await.unwrap().lag(), 0);
    // The projector continues on the rebuilt store.
    assert_eq!(catch_up(&f.log, &f.store()).await.unwrap().applied, head);
}

#[tokio::test]
async fn a_broken_chain_stops_the_projector_naming_the_seq() {
    let f = Fixture::examples().await;
    let head = f.log.head().await.unwrap().seq;
    let bad = 20;
    assert!(bad < head);
    // A changed record: the next record's link no longer matches.
    let err = catch_up(
        &Tampered {
            inner: &f.log,
            seq: bad,
            keep_hash: false,
        },
        &f.store(),
    )
    .await
    .unwrap_err();
    match &err {
        Error::BrokenChain { seq, .. } => assert_eq!(*seq, bad + 1),
        other => panic!("expected a broken chain, got {other}"),
    }
    assert!(
        err.to_string().contains(&format!("seq {}", bad + 1)),
        "{err}"
    );
    // Everything before the break was committed, nothing after it.
    let cp = ViewStore::open(&f.store())
        .unwrap()
        .checkpoint()
        .unwrap()
        .unwrap();
    assert_eq!(cp.seq, bad);
    // With the hash the backend stored at append time, the changed record itself is named.
    let other = f.dir.path().join("other.db");
    let err = catch_up(
        &Tampered {
            inner: &f.log,
            seq: bad,
            keep_hash: true,
        },
        &other,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::BrokenChain { seq, .. } if seq == bad),
        "{err}"
    );
    // A store built on the changed record does not fit the real ledger's hashes... but here
    // the checkpoint is at `bad` itself, whose hash differs: the store is refused.
    let err = catch_up(&f.log, &f.store()).await.unwrap_err();
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
}

/// A reader's catch-up on a store already at the head reads the head record only, instead of
/// refolding the ledger up to the checkpoint; once the ledger has moved on, the store is
/// caught up in full, as before.
#[tokio::test]
async fn a_store_at_the_head_is_answered_without_refolding() {
    let mut f = Fixture::examples().await;
    let store = f.store();
    let head = catch_up(&f.log, &store).await.unwrap().applied;
    let log = Limited::up_to(&f.log, u64::MAX);
    let p = catch_up(&log, &store).await.unwrap();
    assert_eq!((p.applied, p.head), (head, head));
    assert_eq!(
        log.records_read.load(Ordering::SeqCst),
        1,
        "the head record only"
    );

    let (name, bytes) = gen_bundle("later", 2, 3);
    f.publish(&name, &bytes).await;
    let log = Limited::up_to(&f.log, u64::MAX);
    let p = catch_up(&log, &store).await.unwrap();
    assert_eq!(p.applied, f.log.head().await.unwrap().seq);
    assert_eq!(
        log.records_read.load(Ordering::SeqCst),
        p.applied,
        "refolded up to the checkpoint, then applied the rest"
    );
    assert_digest_of_a_clean_fold(&f.log, &store).await;
}

#[tokio::test]
async fn a_store_of_another_ledger_is_refused() {
    let a = Fixture::examples().await;
    let b = Fixture::examples().await;
    catch_up(&a.log, &a.store()).await.unwrap();
    let err = Projector::open(&b.log, &a.store()).await.unwrap_err();
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
    assert!(err.to_string().contains("rebuild"), "{err}");
    // Both ledgers end at the same seq: a reader's catch-up tells them apart by the hash.
    assert_eq!(
        a.log.head().await.unwrap().seq,
        b.log.head().await.unwrap().seq
    );
    let err = catch_up(&b.log, &a.store()).await.unwrap_err();
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
}

/// A reader does not catch up a store that a running projector serves: it waits for that
/// projector, reads (next to) nothing of the ledger, and answers at the head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_waits_for_the_projector_serving_the_store() {
    let mut f = Fixture::larger(10).await;
    let store = f.store();
    let running = Running::start(&f);
    running.reach(f.log.head().await.unwrap().seq).await;
    assert!(dossier_projector::is_served(&store));
    for round in 0..3 {
        let (name, bytes) = gen_bundle(&format!("served-{round}"), 2, 4);
        f.publish(&name, &bytes).await;
        let reader = Limited::up_to(&f.log, u64::MAX);
        let p = dossier_projector::refresh(&reader, &store, Duration::from_secs(30))
            .await
            .unwrap();
        let head = f.log.head().await.unwrap().seq;
        assert_eq!((p.applied, p.lag()), (head, 0), "round {round}");
        assert!(
            reader.records_read.load(Ordering::SeqCst) <= 1,
            "round {round}: the reader refolded the ledger"
        );
    }
    running.stop().await.unwrap();
    assert!(
        !dossier_projector::is_served(&store),
        "the lock goes with the projector"
    );
    assert_digest_of_a_clean_fold(&f.log, &store).await;
}

/// A served store that does not reach the head in time is answered as it stands, with its
/// lag; once nobody serves it, a reader catches it up itself.
#[tokio::test]
async fn a_served_store_behind_the_head_is_answered_as_it_stands() {
    let mut f = Fixture::examples().await;
    let store = f.store();
    let before = catch_up(&f.log, &store).await.unwrap().applied;
    let (name, bytes) = gen_bundle("unserved", 2, 3);
    f.publish(&name, &bytes).await;
    let head = f.log.head().await.unwrap().seq;
    // A projector that serves the store but does not move (as one still refolding would).
    let lock = std::fs::File::create(dossier_projector::serving_path(&store)).unwrap();
    lock.try_lock().unwrap();
    assert!(dossier_projector::is_served(&store));
    let reader = Limited::up_to(&f.log, u64::MAX);
    let p = dossier_projector::refresh(&reader, &store, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!((p.applied, p.head, p.lag()), (before, head, head - before));
    assert_eq!(reader.records_read.load(Ordering::SeqCst), 0);
    assert_eq!(
        ViewStore::open(&store)
            .unwrap()
            .checkpoint()
            .unwrap()
            .unwrap()
            .seq,
        before
    );
    drop(lock);
    let p = dossier_projector::refresh(&f.log, &store, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!((p.applied, p.lag()), (head, 0));
}

/// A store built by another layout or belief policy is refused by a catch-up, even one already
/// at the head, rather than answered from; a reader's refresh and a running projector rebuild it.
#[tokio::test]
async fn a_store_of_another_layout_or_policy_is_refused() {
    let f = Fixture::examples().await;
    for (key, other) in [
        ("layout", "dossier-views/2"),
        ("policy", "dossier-beliefs/1"),
    ] {
        let store = f.dir.path().join(format!("views-{key}.db"));
        catch_up(&f.log, &store).await.unwrap();
        rusqlite_conn(&store)
            .execute("UPDATE meta SET value = ?1 WHERE key = ?2", [other, key])
            .unwrap();
        let err = catch_up(&f.log, &store).await.unwrap_err();
        assert!(matches!(err, Error::Outdated { .. }), "{err}");
        assert!(err.to_string().contains(other), "{err}");
        // A reader's refresh and a running projector rebuild it instead.
        let p = dossier_projector::refresh(&f.log, &store, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(p.lag(), 0);
        assert_digest_of_a_clean_fold(&f.log, &store).await;
        rusqlite_conn(&store)
            .execute("UPDATE meta SET value = ?1 WHERE key = ?2", [other, key])
            .unwrap();
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let (log, path) = (
            SqliteLog::open(&f.dir.path().join("ledger.db")).unwrap(),
            store.clone(),
        );
        let task = tokio::spawn(async move {
            dossier_projector::run(&log, &path, async {
                rx.await.ok();
            })
            .await
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while ViewStore::open(&store)
            .unwrap()
            .policy()
            .unwrap()
            .as_deref()
            != Some(dossier_beliefs::POLICY_VERSION)
            || catch_up(&f.log, &store).await.is_err()
        {
            assert!(std::time::Instant::now() < deadline, "not rebuilt");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
        assert_digest_of_a_clean_fold(&f.log, &store).await;
    }
}

#[tokio::test]
async fn run_follows_the_ledger_live_until_shutdown() {
    let mut f = Fixture::examples().await;
    let store = f.store();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let log = Arc::new(SqliteLog::open(&f.dir.path().join("ledger.db")).unwrap());
    let task = {
        let (log, store) = (Arc::clone(&log), store.clone());
        tokio::spawn(async move {
            dossier_projector::run(&*log, &store, async {
                rx.await.ok();
            })
            .await
        })
    };
    let (name, bytes) = gen_bundle("live", 2, 3);
    tokio::time::sleep(Duration::from_millis(200)).await;
    f.publish(&name, &bytes).await;
    let head = f.log.head().await.unwrap().seq;
    // Up to 30 s: a loaded machine (the whole suite at once) can take seconds.
    for _ in 0..1500 {
        if ViewStore::open(&store)
            .ok()
            .and_then(|v| v.checkpoint().ok().flatten())
            .is_some_and(|c| c.seq == head)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tx.send(()).unwrap();
    let p = task.await.unwrap().unwrap();
    assert_eq!(p.applied, head);
    assert!(
        ViewStore::open(&store)
            .unwrap()
            .belief(RED, "question:gen/live/q0", None)
            .unwrap()
            .is_some()
    );
    assert_digest_of_a_clean_fold(&f.log, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_while_the_projector_runs_is_picked_up_by_it() {
    let mut f = Fixture::larger(10).await;
    let store = f.store();
    let running = Running::start(&f);
    // Rebuild twice while the projector applies records published meanwhile.
    for round in 0..2 {
        for i in 0..5 {
            let (name, bytes) = gen_bundle(&format!("r{round}-{i}"), 2, 4);
            f.publish(&name, &bytes).await;
        }
        rebuild(&f.log, &store).await.unwrap();
    }
    let head = f.log.head().await.unwrap().seq;
    running.reach(head).await;
    assert_eq!(running.stop().await.unwrap().applied, head);
    let check: String = rusqlite_conn(&store)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let clean = f.dir.path().join("clean.db");
    catch_up(&f.log, &clean).await.unwrap();
    assert_eq!(contents(&store), contents(&clean));
}

#[tokio::test]
async fn a_projector_writes_to_the_swapped_in_store_not_the_old_one() {
    let mut f = Fixture::examples().await;
    let store = f.store();
    let mut p = Projector::open(&f.log, &store).await.unwrap();
    p.catch_up(&f.log).await.unwrap();
    rebuild(&f.log, &store).await.unwrap();
    let (name, bytes) = gen_bundle("after-swap", 2, 3);
    f.publish(&name, &bytes).await;
    let head = f.log.head().await.unwrap().seq;
    assert_eq!(p.catch_up(&f.log).await.unwrap().applied, head);
    let v = ViewStore::open(&store).unwrap();
    assert_eq!(v.checkpoint().unwrap().unwrap().seq, head);
    assert_digest_of_a_clean_fold(&f.log, &store).await;
}

#[tokio::test]
async fn a_catch_up_next_to_a_running_projector_never_moves_the_checkpoint_back() {
    let f = Fixture::larger(10).await;
    let store = f.store();
    let mut a = Projector::open(&f.log, &store).await.unwrap();
    let mut b = Projector::open(&f.log, &store).await.unwrap();
    a.set_page_size(40);
    b.set_page_size(25);
    let mut last = 0;
    loop {
        let na = a.step(&f.log).await.unwrap();
        let cp = ViewStore::open(&store)
            .unwrap()
            .checkpoint()
            .unwrap()
            .map_or(0, |c| c.seq);
        assert!(cp >= last, "checkpoint went back from {last} to {cp}");
        last = cp;
        let nb = b.step(&f.log).await.unwrap();
        let cp = ViewStore::open(&store)
            .unwrap()
            .checkpoint()
            .unwrap()
            .map_or(0, |c| c.seq);
        assert!(cp >= last, "checkpoint went back from {last} to {cp}");
        last = cp;
        if na == 0 && nb == 0 {
            break;
        }
    }
    let clean = f.dir.path().join("clean.db");
    catch_up(&f.log, &clean).await.unwrap();
    assert_eq!(contents(&store), contents(&clean));
}

/// A store whose creation was cut short — its tables made but the store not yet named, as a
/// process killed in its first milliseconds left it before creation was one transaction — held
/// no view, so it is taken as new, not refused; a creation cut short now leaves no tables.
#[tokio::test]
async fn a_store_whose_creation_was_cut_short_is_taken_as_new() {
    let f = Fixture::examples().await;
    let store = f.dir.path().join("views-cut.db");
    catch_up(&f.log, &store).await.unwrap();
    let conn = rusqlite_conn(&store);
    // What the old creation left: every table, empty, and no name.
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in tables {
        conn.execute(&format!("DELETE FROM {t}"), []).unwrap();
    }
    drop(conn);
    let p = catch_up(&f.log, &store).await.unwrap();
    assert_eq!(p.lag(), 0);
    assert_digest_of_a_clean_fold(&f.log, &store).await;
    // An interrupted creation: the schema's transaction was never committed.
    let store = f.dir.path().join("views-interrupted.db");
    let conn = rusqlite_conn(&store);
    conn.execute_batch("PRAGMA journal_mode = DELETE; BEGIN IMMEDIATE; CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
        .unwrap();
    drop(conn); // closing rolls back what was not committed
    catch_up(&f.log, &store).await.unwrap();
    assert_digest_of_a_clean_fold(&f.log, &store).await;
}

/// A store file whose creation was interrupted (a projector killed in its first milliseconds)
/// reads as a store with nothing applied, not as an error, until a projector creates it.
#[tokio::test]
async fn a_store_whose_creation_was_interrupted_reads_as_empty() {
    let f = Fixture::examples().await;
    let store = f.dir.path().join("views-killed.db");
    let conn = rusqlite_conn(&store);
    conn.execute_batch("PRAGMA journal_mode = DELETE; BEGIN IMMEDIATE; CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
        .unwrap();
    drop(conn);
    let views = ViewStore::open(&store).unwrap();
    assert_eq!(views.checkpoint().unwrap(), None);
    assert_eq!(views.digest(RED).unwrap(), None);
    let s = status(&f.log, &store).await.unwrap();
    assert_eq!(s.applied, 0);
    catch_up(&f.log, &store).await.unwrap();
    assert_digest_of_a_clean_fold(&f.log, &store).await;
}

/// A bundle holding only one entity of the bundle array `array` (no report).
fn one_entity_bundle(array: &str, entity: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({ "version": 1, "marking": "TLP:GREEN", array: [entity] })).unwrap()
}

/// An analyst's judgment recorded in a bundle of its own: its first event changes a line.
fn assessment_bundle(id: &str, question: &str, boolean: bool) -> Vec<u8> {
    one_entity_bundle(
        "assessments",
        json!({
        "id": id,
        "question": question,
        "value": { "boolean": boolean },
        "likelihood": "very_unlikely",
        "confidence": "high",
        "rationale": "Imagery of the launch site shows no preparations."
        }),
    )
}

/// One catch-up spanning several recorded times stamps each line version with the lines as
/// they stood at the end of its own time: the first event of the next time, applied after it,
/// is not in it (a bundle whose first event changes a line used to leak into the versions of
/// the time before).
#[tokio::test]
async fn a_catch_up_over_several_times_leaks_no_later_event_into_a_version() {
    let mut f = Fixture::examples().await;
    let forecast = "question:dprk/recon-satellite-launch-2024-03";
    f.append_at(
        "late.json",
        &assessment_bundle("assessment:dprk-russia/launch-late", forecast, false),
        t("2024-04-10T08:00:00Z"),
    )
    .await;
    f.append_at(
        "later.json",
        &assessment_bundle("assessment:dprk-russia/transfers-late", TRANSFERS, true),
        t("2024-04-11T08:00:00Z"),
    )
    .await;
    catch_up(&f.log, &f.store()).await.unwrap();
    let v = ViewStore::open(&f.store()).unwrap();
    for at in TIMES
        .iter()
        .chain(&["2024-04-10T08:00:00Z", "2024-04-11T08:00:00Z"])
    {
        let cut = format_recorded(t(at));
        let engine = reference_as_of(&f.log, &cut).await;
        assert_eq!(
            items(v.beliefs(RED, Some(&cut)).unwrap()),
            lines_of(&engine),
            "as of {at}"
        );
    }
}

/// A small deterministic generator (xorshift64*), seeded per case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A report with `claims` claims on questions already recorded (boolean ones, posed by
/// [`gen_bundle`]), by a new speaker of its own.
fn claims_bundle(tag: &str, questions: &[String], rng: &mut Rng) -> Vec<u8> {
    let speaker = format!("source:gen/{tag}/speaker");
    let mut text = format!("Follow-up report {tag}.\n");
    let mut claims = Vec::new();
    for i in 0..1 + rng.below(3) {
        let q = &questions[rng.below(questions.len() as u64) as usize];
        let sentence = format!("Statement {i} of {tag} on the matter.");
        let start = text.chars().count();
        text.push_str(&sentence);
        let end = text.chars().count();
        text.push(' ');
        let month = 1 + rng.below(3);
        claims.push(json!({
            "id": format!("claim:gen/{tag}/c{i}"),
            "question": q,
            "speaker": speaker,
            "stance": if rng.below(3) == 0 { "denies" } else { "asserts" },
            "value": { "boolean": true },
            "valid_time": { "from": format!("2024-0{month}"), "until": format!("2024-0{}-28", month + 1) },
            "quote": { "text": sentence, "start": start, "end": end },
            "credibility": 1 + rng.below(6)
        }));
    }
    serde_json::to_vec(&json!({
        "version": 1,
        "marking": "TLP:GREEN",
        "report": {
            "id": format!("report:gen/{tag}"),
            "publisher": format!("Generator {tag}"),
            "title": format!("Follow-up {tag}"),
            "published": "2024-03-05T09:00:00Z",
            "retrieved": "2024-03-05T10:00:00Z",
            "language": "en",
            "marking": "TLP:GREEN",
            "text": text
        },
        "sources": [{ "id": speaker, "name": format!("Speaker {tag}"), "kind": "person" }],
        "claims": claims
    }))
    .unwrap()
}

/// A reliability assessment, recorded alone, of a speaker already recorded.
fn reliability_bundle(tag: &str, source: &str, rng: &mut Rng) -> Vec<u8> {
    let rating = ["A", "B", "C", "D", "E", "F"][rng.below(6) as usize];
    one_entity_bundle(
        "reliability",
        json!({
        "id": format!("reliability:gen/{tag}"),
        "source": source,
        "rating": rating,
        "rationale": "Track record on this topic reviewed."
        }),
    )
}

/// A designation, recorded alone, of a speaker already recorded as an interested party to a
/// question already posed.
fn interest_bundle(tag: &str, source: &str, question: &str) -> Vec<u8> {
    one_entity_bundle(
        "interests",
        json!({
        "id": format!("interest:gen/{tag}"),
        "source": source,
        "question": question,
        "rationale": "A party to what the question asks about."
        }),
    )
}

/// The two governments denying the transfers are designated interested parties to the
/// question: the stored provenance, gathered through the reference keys, shows the
/// designations from their recorded time on and equals the engine's at every cut.
#[tokio::test]
async fn designations_reach_the_stored_provenance_from_their_recorded_time() {
    let mut f = Fixture::examples().await;
    let designated = "2024-04-05T08:00:00Z";
    for (i, source) in ["source:russia-government", "source:dprk-government"]
        .iter()
        .enumerate()
    {
        f.append_at(
            &format!("interest-{i}.json"),
            &interest_bundle(&format!("transfers-{i}"), source, TRANSFERS),
            t(designated),
        )
        .await;
    }
    catch_up(&f.log, &f.store()).await.unwrap();
    let v = ViewStore::open(&f.store()).unwrap();
    assert_same_provenance(&v, &reference(&f.log, None).await, None);
    for at in TIMES.iter().chain(&[designated]) {
        let cut = format_recorded(t(at));
        let engine = reference_as_of(&f.log, &cut).await;
        assert_eq!(
            items(v.beliefs(RED, Some(&cut)).unwrap()),
            lines_of(&engine),
            "as of {at}"
        );
        assert_same_provenance(&v, &engine, Some(&cut));
    }
    let designations = |cut: Option<&str>| -> Vec<Value> {
        let b = js(v.belief(RED, TRANSFERS, cut).unwrap().unwrap());
        b["provenance"]["contradicting"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["speaker"]["interest"]["designation"].clone())
            .collect()
    };
    // Contradicting in ranking order: Russia (D) before the DPRK (E).
    assert_eq!(
        designations(None),
        [
            json!("interest:gen/transfers-0"),
            json!("interest:gen/transfers-1")
        ]
    );
    let before = format_recorded(t(TIMES[3]));
    assert_eq!(designations(Some(&before)), [Value::Null, Value::Null]);
}

/// Everything a reader can ask of a store as of one cut: the lines with their cut, and each
/// question's belief with provenance and history.
fn answers_as_of(v: &ViewStore, as_of: Option<&str>, questions: &[String]) -> Value {
    let (cut, lines) = v.beliefs_at_cut(RED, as_of).unwrap();
    let per_question: Vec<Value> = questions
        .iter()
        .map(|q| {
            json!([
                js(v.belief(RED, q, as_of).unwrap()),
                js(v.history(RED, q, as_of).unwrap())
            ])
        })
        .collect();
    json!({ "cut": cut, "lines": lines, "questions": per_question })
}

/// For random ledgers published in random groupings (several batches may share a recorded
/// time), with reader catch-ups and rebuilds at random points in between: every answer as of a
/// recorded time T — lines, the cut's seq and digest, provenance and history — equals the live
/// answer given right after the last batch recorded at T, both from the store that was caught
/// up piecemeal and from a store built in one catch-up. (`DOSSIER_AS_OF_CASES` runs more cases.)
#[tokio::test]
async fn every_as_of_answer_equals_the_live_answer_given_then() {
    let cases: u64 = std::env::var("DOSSIER_AS_OF_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(10);
    for case in 0..cases {
        let seed = 0x5eed_0000 + case;
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut f = Fixture::new(t("2024-02-01T00:00:00Z")).await;
        let (live, piecemeal) = (
            f.dir.path().join("live.db"),
            f.dir.path().join("piecemeal.db"),
        );
        let mut questions: Vec<String> = Vec::new();
        let mut speakers: Vec<String> = Vec::new();
        // Per recorded time: the questions posed by then, and the live answer.
        let mut captured: BTreeMap<String, (usize, Value)> = BTreeMap::new();
        let mut at = t("2024-03-01T00:00:00Z");
        for step in 0..6 + rng.below(10) {
            let tag = format!("s{case}-{step}");
            let bytes = match (questions.is_empty(), rng.below(5)) {
                (true, _) | (false, 0) => {
                    let n = 1 + rng.below(2) as usize;
                    questions.extend((0..n).map(|q| format!("question:gen/{tag}/q{q}")));
                    speakers.push(format!("source:gen/{tag}/speaker"));
                    gen_bundle(&tag, n, 1 + rng.below(4) as usize).1
                }
                (false, 1) => {
                    speakers.push(format!("source:gen/{tag}/speaker"));
                    claims_bundle(&tag, &questions, &mut rng)
                }
                (false, 2) => {
                    let q = &questions[rng.below(questions.len() as u64) as usize];
                    assessment_bundle(&format!("assessment:gen/{tag}"), q, rng.below(2) == 0)
                }
                (false, 3) => {
                    let s = &speakers[rng.below(speakers.len() as u64) as usize];
                    reliability_bundle(&tag, s, &mut rng)
                }
                (false, _) => {
                    let s = &speakers[rng.below(speakers.len() as u64) as usize];
                    let q = &questions[rng.below(questions.len() as u64) as usize];
                    interest_bundle(&tag, s, q)
                }
            };
            // A third of the batches share the recorded time of the one before.
            if step == 0 || rng.below(3) != 0 {
                at += time::Duration::hours(1 + rng.below(48) as i64);
            }
            f.append_at(&format!("{tag}.json"), &bytes, at).await;
            catch_up(&f.log, &live).await.unwrap();
            let v = ViewStore::open(&live).unwrap();
            let answer = answers_as_of(&v, None, &questions);
            captured.insert(format_recorded(at), (questions.len(), answer));
            match rng.below(5) {
                0 => {
                    catch_up(&f.log, &piecemeal).await.unwrap();
                }
                1 => {
                    rebuild(&f.log, &piecemeal).await.unwrap();
                }
                _ => {}
            }
        }
        catch_up(&f.log, &piecemeal).await.unwrap();
        let one_pass = f.dir.path().join("one-pass.db");
        catch_up(&f.log, &one_pass).await.unwrap();
        for store in [&piecemeal, &one_pass] {
            let v = ViewStore::open(store).unwrap();
            for (cut, (posed, live_answer)) in &captured {
                let answer = answers_as_of(&v, Some(cut), &questions[..*posed]);
                // Questions posed later do not exist yet.
                for q in &questions[*posed..] {
                    assert_eq!(v.belief(RED, q, Some(cut)).unwrap(), None, "seed {seed:#x}");
                }
                assert_eq!(
                    answer.to_string(),
                    live_answer.to_string(),
                    "seed {seed:#x}, {} as of {cut}",
                    store.display()
                );
            }
        }
    }
}

/// Every stored event keeps its record's TLP 2.0 marking (what readers' clearances will be
/// checked against).
#[tokio::test]
async fn stored_events_keep_their_marking() {
    let mut f = Fixture::examples().await;
    let (name, bytes) = gen_bundle("marked", 2, 3);
    f.append_at(&name, &bytes, t("2024-04-05T00:00:00Z")).await;
    catch_up(&f.log, &f.store()).await.unwrap();
    let conn = rusqlite_conn(&f.store());
    let stored: Vec<(i64, i64)> = conn
        .prepare("SELECT seq, marking FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut expected = Vec::new();
    for r in f.log.read(1, 10_000).await.unwrap() {
        let v = RecordView::parse(&r.bytes).unwrap();
        if DomainEvent::decode(v.event_type, v.schema, v.body.get().as_bytes()).is_ok() {
            let rank = dossier_model::Marking::ALL
                .iter()
                .position(|m| m.as_str() == v.marking)
                .unwrap();
            expected.push((r.position as i64, rank as i64));
        }
    }
    assert_eq!(stored, expected);
    let markings: std::collections::BTreeSet<i64> = stored.iter().map(|(_, m)| *m).collect();
    assert!(markings.len() > 1, "several markings: {markings:?}");
}

/// Generated bundles with mixed markings, each marked at random but never below what it
/// references (as validation requires), its report (if any) at random at or below it.
#[derive(Default)]
struct Mixed {
    marked: BTreeMap<String, dossier_model::Marking>,
    questions: Vec<String>,
    speakers: Vec<String>,
    /// The claims recorded: id, question and speaker.
    claims: Vec<(String, String, String)>,
    /// The relations recorded (kind, from, to).
    relations: std::collections::BTreeSet<(String, String, String)>,
}

impl Mixed {
    /// The next bundle, with its marking and its report's. With `relations`, it may also be a
    /// supersession, retraction or dispute between claims recorded before (on one question or
    /// two).
    fn next(
        &mut self,
        tag: &str,
        rng: &mut Rng,
        relations: bool,
    ) -> (Value, dossier_model::Marking, dossier_model::Marking) {
        use dossier_model::Marking;
        let kinds = if relations && self.claims.len() > 1 {
            7
        } else {
            5
        };
        let bytes = match (self.questions.is_empty(), rng.below(kinds)) {
            (true, _) | (false, 0) => {
                let n = 1 + rng.below(2) as usize;
                self.questions
                    .extend((0..n).map(|q| format!("question:gen/{tag}/q{q}")));
                self.speakers.push(format!("source:gen/{tag}/speaker"));
                gen_bundle(tag, n, 1 + rng.below(4) as usize).1
            }
            (false, 1) => {
                self.speakers.push(format!("source:gen/{tag}/speaker"));
                claims_bundle(tag, &self.questions, rng)
            }
            (false, 2) => {
                let q = &self.questions[rng.below(self.questions.len() as u64) as usize];
                assessment_bundle(&format!("assessment:gen/{tag}"), q, rng.below(2) == 0)
            }
            (false, 3) => {
                let s = &self.speakers[rng.below(self.speakers.len() as u64) as usize];
                reliability_bundle(tag, s, rng)
            }
            (false, 4) => {
                let s = &self.speakers[rng.below(self.speakers.len() as u64) as usize];
                let q = &self.questions[rng.below(self.questions.len() as u64) as usize];
                interest_bundle(tag, s, q)
            }
            (false, _) => self.relation_bundle(rng),
        };
        let mut doc: Value = serde_json::from_slice(&bytes).unwrap();
        let floor = referenced(&doc, &self.marked)
            .iter()
            .map(|id| self.marked[id])
            .max()
            .unwrap_or(Marking::Clear);
        let pick = Marking::ALL[rng.below(5) as usize].max(floor);
        doc["marking"] = json!(pick.as_str());
        let report_marking = Marking::ALL[rng.below(u64::from(pick.rank()) + 1) as usize];
        if doc.get("report").is_some() {
            doc["report"]["marking"] = json!(report_marking.as_str());
        }
        for id in defined(&doc) {
            let m = if Some(id.as_str()) == doc["report"]["id"].as_str() {
                report_marking
            } else {
                pick
            };
            self.marked.insert(id, m);
        }
        for c in doc["claims"].as_array().into_iter().flatten() {
            let field = |k: &str| c[k].as_str().unwrap().to_owned();
            self.claims
                .push((field("id"), field("question"), field("speaker")));
        }
        (doc, pick, report_marking)
    }

    /// A relation between two claims recorded before, not recorded yet: a supersession when
    /// the first has a later claim by its speaker on its question, else a retraction or a
    /// dispute.
    fn relation_bundle(&mut self, rng: &mut Rng) -> Vec<u8> {
        loop {
            let n = self.claims.len() as u64;
            let (a, b) = (rng.below(n) as usize, rng.below(n) as usize);
            if a == b {
                continue;
            }
            let (from, to) = (&self.claims[a], &self.claims[b]);
            let kind = if from.1 == to.1 && from.2 == to.2 && a > b {
                "supersedes"
            } else if rng.below(2) == 0 {
                "retracts"
            } else {
                "disputes"
            };
            let key = (kind.to_owned(), from.0.clone(), to.0.clone());
            if !self.relations.insert(key) {
                continue;
            }
            return one_entity_bundle(
                "relations",
                json!({ "kind": kind, "from": from.0, "to": to.0, "note": "Generated." }),
            );
        }
    }
}

/// Every id in a bundle that names an entity already recorded (in `known`).
fn referenced(doc: &Value, known: &BTreeMap<String, dossier_model::Marking>) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![doc];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if known.contains_key(s) => out.push(s.clone()),
            Value::Array(a) => stack.extend(a),
            Value::Object(o) => stack.extend(o.values()),
            _ => {}
        }
    }
    out
}

/// Every entity id a bundle defines.
fn defined(doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = doc["report"]["id"]
        .as_str()
        .map(str::to_owned)
        .into_iter()
        .collect();
    for array in [
        "sources",
        "questions",
        "claims",
        "assessments",
        "reliability",
        "interests",
    ] {
        for e in doc[array].as_array().into_iter().flatten() {
            out.extend(e["id"].as_str().map(str::to_owned));
        }
    }
    out
}

/// A ledger's record ids by seq and by hash, to compare answers of two ledgers holding the
/// same events at other positions.
async fn record_ids(log: &SqliteLog) -> (BTreeMap<u64, String>, BTreeMap<String, String>) {
    let (mut by_seq, mut by_hash) = (BTreeMap::new(), BTreeMap::new());
    for r in log.read(1, 100_000).await.unwrap() {
        let v = RecordView::parse(&r.bytes).unwrap();
        by_seq.insert(r.position, v.id.to_owned());
        by_hash.insert(Hash::of_record(&r.bytes).to_hex(), v.id.to_owned());
    }
    (by_seq, by_hash)
}

/// `answer` with every record seq (under a key `seq`) and record hash replaced by the record's
/// event id in its ledger.
fn by_event_id(answer: &Value, ids: &(BTreeMap<u64, String>, BTreeMap<String, String>)) -> Value {
    match answer {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let mapped = match (k.as_str(), v.as_u64()) {
                        ("seq", Some(seq)) => json!(ids.0.get(&seq).cloned().unwrap_or_default()),
                        _ => by_event_id(v, ids),
                    };
                    (k.clone(), mapped)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| by_event_id(v, ids)).collect()),
        Value::String(s) => match ids.1.get(s) {
            Some(id) => json!(id),
            None => json!(seqs_in_text_by_id(s, &ids.0)),
        },
        _ => answer.clone(),
    }
}

/// A text (a history reason) with each `(seq N)` in it replaced by the record's event id.
fn seqs_in_text_by_id(text: &str, by_seq: &BTreeMap<u64, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("(seq ") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 5..];
        let digits = tail.chars().take_while(char::is_ascii_digit).count();
        let seq: u64 = tail[..digits].parse().unwrap_or(0);
        out.push_str(&format!(
            "(event {})",
            by_seq.get(&seq).cloned().unwrap_or_default()
        ));
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// What a reader cleared for `c` is served as of a cut, for comparison across ledgers: the
/// lines (and that the cut's digest is theirs), per question the belief with provenance (now
/// also at a valid time) and the history, the listing index of the lines, and the claims
/// quoting each report.
fn served(
    v: &ViewStore,
    c: dossier_model::Marking,
    as_of: Option<&str>,
    questions: &[String],
    reports: &[String],
) -> Value {
    let (cut, lines) = v.beliefs_at_cut(c, as_of).unwrap();
    let mut sum = dossier_beliefs::LineSum::default();
    for l in &lines {
        sum.add(dossier_beliefs::line_hash(&l.item));
    }
    assert_eq!(
        cut.digest,
        sum.digest(dossier_beliefs::POLICY_VERSION),
        "the cut's digest is of the lines served"
    );
    let at = Timestamp::parse("2024-02-15T00:00:00Z").unwrap();
    let per_question: Vec<Value> = questions
        .iter()
        .map(|q| {
            json!([
                js(v.belief(c, q, as_of).unwrap()),
                js(v.belief_view(c, q, as_of, Some(at)).unwrap()),
                js(v.history(c, q, as_of).unwrap())
            ])
        })
        .collect();
    // The listing index (question texts and last visible changes, for search and sort).
    let index: Vec<Value> = v
        .line_index(c, as_of)
        .unwrap()
        .into_iter()
        .map(|e| {
            json!({
                "question": e.question,
                "text": e.text,
                "last_change": e.last_change.map(|(seq, recorded)| json!({ "seq": seq, "recorded": recorded })),
            })
        })
        .collect();
    // The claims quoting each report (a report's page).
    let quoting: Vec<Value> = reports
        .iter()
        .map(|r| {
            v.report_claims(c, r, as_of)
                .unwrap()
                .into_iter()
                .map(|(seq, claim)| json!({ "seq": seq, "claim": claim.id.as_str() }))
                .collect()
        })
        .collect();
    json!({ "lines": lines, "questions": per_question, "index": index, "quoting": quoting })
}

/// The heart of clearance filtering: for random ledgers of bundles with mixed markings (each
/// marked at least as restrictively as what it references, as validation requires), what a
/// reader cleared for `c` is served — lines, provenance, valid-time beliefs and history, now
/// and as of every recorded time — equals what a reader sees in a *reference ledger* built by
/// publishing only the bundles, or parts of bundles (a report marked lower than its claims),
/// visible at `c`, at the same recorded times, into a fresh ledger. Seqs and hashes are
/// compared through event ids. The reference is built by selecting bundles, not with the
/// projector's filter; a question posed only above `c` is, at `c`, exactly an unknown one.
/// (`DOSSIER_CLEARANCE_CASES` runs more cases.)
#[tokio::test]
async fn a_reader_is_served_exactly_the_ledger_of_what_it_may_see() {
    use dossier_model::Marking;
    let cases: u64 = std::env::var("DOSSIER_CLEARANCE_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(6);
    for case in 0..cases {
        let seed = 0xc1ea_0000 + case;
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let genesis = t("2024-02-01T00:00:00Z");
        let mut main = Fixture::new(genesis).await;
        let mut refs: Vec<Fixture> = Vec::new();
        for _ in Marking::ALL {
            refs.push(Fixture::new(genesis).await);
        }
        let mut mixed = Mixed::default();
        let mut times = Vec::new();
        let mut at = t("2024-03-01T00:00:00Z");
        for step in 0..8 + rng.below(8) {
            let tag = format!("c{case}-{step}");
            let (doc, pick, report_marking) = mixed.next(&tag, &mut rng, false);
            if step == 0 || rng.below(3) != 0 {
                at += time::Duration::hours(1 + rng.below(48) as i64);
            }
            let name = format!("{tag}.json");
            main.append_at(&name, &serde_json::to_vec(&doc).unwrap(), at)
                .await;
            for (c, reference) in Marking::ALL.iter().zip(refs.iter_mut()) {
                if pick <= *c {
                    reference
                        .append_at(&name, &serde_json::to_vec(&doc).unwrap(), at)
                        .await;
                } else if doc.get("report").is_some() && report_marking <= *c {
                    let part = json!({ "version": 1, "report": doc["report"].clone() });
                    reference
                        .append_at(&name, &serde_json::to_vec(&part).unwrap(), at)
                        .await;
                }
            }
            times.push(format_recorded(at));
            // Catch up now and then, so levels are born in the middle of a store's life too.
            if rng.below(3) == 0 {
                catch_up(&main.log, &main.store()).await.unwrap();
            }
        }
        catch_up(&main.log, &main.store()).await.unwrap();
        let v = ViewStore::open(&main.store()).unwrap();
        let main_ids = record_ids(&main.log).await;
        let mut posed: Vec<String> = mixed.questions.clone();
        posed.push("question:gen/never/posed".into());
        let mut reports: Vec<String> = mixed
            .marked
            .keys()
            .filter(|id| id.starts_with("report:"))
            .cloned()
            .collect();
        reports.push("report:gen/never/recorded".into());
        for (c, reference) in Marking::ALL.iter().zip(&refs) {
            catch_up(&reference.log, &reference.store()).await.unwrap();
            let r = ViewStore::open(&reference.store()).unwrap();
            let ref_ids = record_ids(&reference.log).await;
            let cuts = std::iter::once(None).chain(times.iter().map(|t| Some(t.as_str())));
            for cut in cuts {
                let got = by_event_id(&served(&v, *c, cut, &posed, &reports), &main_ids);
                let want = by_event_id(&served(&r, RED, cut, &posed, &reports), &ref_ids);
                assert_eq!(got, want, "case {case} (seed {seed:#x}), {c} as of {cut:?}");
            }
            // The served view keeps nothing above the clearance.
            let lines = v.beliefs(*c, None).unwrap();
            for l in &lines {
                assert!(
                    mixed.marked[l.item.question.id.as_str()] <= *c && l.marking <= *c,
                    "{c} is served {}",
                    l.item.question.id
                );
            }
        }
        // A rebuild gives the same store (births and all).
        let before = contents(&main.store());
        rebuild(&main.log, &main.store()).await.unwrap();
        assert_eq!(
            contents(&main.store()),
            before,
            "case {case}: rebuilt store differs"
        );
    }
}

/// A ledger recorded before markings were required to be monotone may hold a claim marked
/// below its question: the claim is then as restricted as the question (its effective
/// marking), and so is everything that references it.
#[tokio::test]
async fn an_event_referencing_a_more_restricted_entity_is_as_restricted() {
    use dossier_model::Marking;
    let mut f = Fixture::new(t("2024-02-01T00:00:00Z")).await;
    let (name, bytes) = gen_bundle("legacy", 1, 2);
    let mut doc: Value = serde_json::from_slice(&bytes).unwrap();
    doc["marking"] = json!("TLP:AMBER");
    f.append_at(
        &name,
        &serde_json::to_vec(&doc).unwrap(),
        t("2024-03-01T00:00:00Z"),
    )
    .await;
    // A claim marked GREEN on the AMBER question, appended as a producer did before validation
    // refused it (validated as AMBER, then recorded as GREEN).
    let claims = claims_bundle("legacy-2", &["question:gen/legacy/q0".into()], &mut Rng(3));
    let mut doc: Value = serde_json::from_slice(&claims).unwrap();
    doc["marking"] = json!("TLP:AMBER");
    let (events, texts) = f.validated("legacy-2.json", &serde_json::to_vec(&doc).unwrap());
    let head = f.log.head().await.unwrap();
    let mut b = BatchBuilder::new(
        f.ledger,
        &head,
        t("2024-03-02T00:00:00Z"),
        &f.signer,
        Uuid::new_v4(),
    );
    for e in &events {
        b.push(&e.event_type, e.schema, &e.entity_key, "TLP:GREEN", &e.body)
            .unwrap();
    }
    f.log
        .append(head.seq, &b.seal().unwrap(), &texts)
        .await
        .unwrap();
    catch_up(&f.log, &f.store()).await.unwrap();
    let v = ViewStore::open(&f.store()).unwrap();
    let q = "question:gen/legacy/q0";
    assert_eq!(v.belief(Marking::Green, q, None).unwrap(), None);
    assert!(v.beliefs(Marking::Green, None).unwrap().is_empty());
    assert!(v.history(Marking::Green, q, None).unwrap().is_empty());
    let amber = js(v.belief(Marking::Amber, q, None).unwrap().unwrap());
    assert_eq!(amber, js(v.belief(RED, q, None).unwrap().unwrap()));
    // Its report and speaker (GREEN, referencing nothing) stay GREEN; its claims do not.
    let claim_seq = f.log.head().await.unwrap().seq - 1;
    assert_eq!(
        v.effective_marking(claim_seq).unwrap(),
        Some(Marking::Amber)
    );
    assert_eq!(
        v.effective_marking(claim_seq - 2).unwrap(),
        Some(Marking::Green)
    );
}

/// The items of marked answers, without their markings.
fn items<T>(marked: Vec<dossier_projector::Marked<T>>) -> Vec<T> {
    marked.into_iter().map(|m| m.item).collect()
}

/// Publishes `n` generated bundles, each with its own questions and then claims on earlier
/// questions, marked in turn with every marking (so that every clearance level exists; claims
/// only on questions marked at most as they are, so that they raise the marks of the questions'
/// lines level by level). `questions` holds every question so far with its marking.
async fn publish_marked(
    f: &mut Fixture,
    tag: &str,
    n: usize,
    questions: &mut Vec<(String, dossier_model::Marking)>,
) {
    use dossier_model::Marking;
    let mut rng = Rng(0x5eed_0000 + n as u64);
    for i in 0..n {
        let marking = Marking::ALL[i % Marking::ALL.len()];
        let name = format!("{tag}{i}");
        let (_, bytes) = gen_bundle(&name, 2, 5);
        let mut doc: Value = serde_json::from_slice(&bytes).unwrap();
        doc["marking"] = json!(marking.as_str());
        doc["report"]["marking"] = json!(marking.as_str());
        questions.extend((0..2).map(|q| (format!("question:gen/{name}/q{q}"), marking)));
        f.publish(&name, &serde_json::to_vec(&doc).unwrap()).await;
        let marking = Marking::ALL[rng.below(5) as usize];
        let visible: Vec<String> = questions
            .iter()
            .filter(|(_, m)| *m <= marking)
            .map(|(q, _)| q.clone())
            .collect();
        if visible.is_empty() {
            continue;
        }
        let more = format!("{name}-more");
        let mut doc: Value =
            serde_json::from_slice(&claims_bundle(&more, &visible, &mut rng)).unwrap();
        doc["marking"] = json!(marking.as_str());
        doc["report"]["marking"] = json!(marking.as_str());
        f.publish(&more, &serde_json::to_vec(&doc).unwrap()).await;
    }
}

/// What every clearance is answered by two projectors, and the stores' answers to every
/// clearance: equal, or the message says where they differ.
fn assert_same_at_every_level(a: &Projector, b: &Projector, a_store: &Path, b_store: &Path) {
    assert_eq!(a.applied(), b.applied());
    assert_eq!(a.digest(), b.digest());
    let (va, vb) = (
        ViewStore::open(a_store).unwrap(),
        ViewStore::open(b_store).unwrap(),
    );
    for m in dossier_model::Marking::ALL {
        let lines = |p: &Projector| p.engine_for(m).map(lines_of);
        assert_eq!(lines(a), lines(b), "lines at {m}");
        assert_eq!(
            a.engine_for(m).map(Engine::digest),
            b.engine_for(m).map(Engine::digest),
            "digest at {m}"
        );
        assert_eq!(
            js(va.beliefs(m, None).unwrap()),
            js(vb.beliefs(m, None).unwrap()),
            "stored beliefs at {m}"
        );
        assert_eq!(
            va.digest(m).unwrap(),
            vb.digest(m).unwrap(),
            "stored digest at {m}"
        );
    }
    assert!(a.stale_views().is_empty() && b.stale_views().is_empty());
}

#[tokio::test]
async fn a_restart_from_the_snapshot_folds_on_as_a_clean_rebuild_at_every_level() {
    use dossier_projector::{Fallback, Restored, snapshot_path};
    let mut f = Fixture::examples().await;
    let mut questions = Vec::new();
    publish_marked(&mut f, "s", 10, &mut questions).await;
    // A rebuild leaves a snapshot at the head beside the store.
    let at = rebuild(&f.log, &f.store()).await.unwrap().applied;
    assert!(snapshot_path(&f.store()).is_file());
    assert!(!snapshot_path(&rebuild_path(&f.store())).exists());

    // More events, on old questions too; the store and its snapshot stay behind.
    publish_marked(&mut f, "t", 7, &mut questions).await;
    let mut p = Projector::open(&f.log, &f.store()).await.unwrap();
    assert_eq!(p.restored(), &Restored::Snapshot { seq: at });
    assert_eq!(p.applied(), at);
    p.catch_up(&f.log).await.unwrap();

    // A clean rebuild of the same ledger, its engines refolded from record 1.
    let clean = f.dir.path().join("clean.db");
    rebuild(&f.log, &clean).await.unwrap();
    std::fs::remove_file(snapshot_path(&clean)).unwrap();
    let q = Projector::open(&f.log, &clean).await.unwrap();
    assert_eq!(q.restored(), &Restored::Refold(Fallback::Missing));
    assert!(q.applied() > at);
    assert_same_at_every_level(&p, &q, &f.store(), &clean);
    assert_eq!(p.digest(), reference(&f.log, None).await.digest());
    let (c, d) = (contents(&f.store()), contents(&clean));
    assert_eq!(c["histories"], d["histories"]);
    assert_eq!(c["as_of"], d["as_of"]);

    // A snapshot written at the new checkpoint restores the same engines again.
    p.snapshot().unwrap();
    let r = Projector::open(&f.log, &f.store()).await.unwrap();
    assert_eq!(r.restored(), &Restored::Snapshot { seq: q.applied() });
    assert_same_at_every_level(&r, &q, &f.store(), &clean);
}

/// Opens a projector on `f`'s store and checks how its engines were restored, and that they
/// are those of a clean fold.
async fn open_restored(f: &Fixture, expected: &dossier_projector::Restored) {
    let p = Projector::open(&f.log, &f.store()).await.unwrap();
    assert_eq!(p.restored(), expected);
    assert_eq!(p.digest(), reference(&f.log, None).await.digest());
    assert!(p.stale_views().is_empty());
}

#[tokio::test]
async fn a_snapshot_that_does_not_hold_is_refolded_saying_why() {
    use dossier_projector::{Fallback, Restored, snapshot_path};
    let f = Fixture::larger(6).await;
    let head = f.log.head().await.unwrap().seq;
    rebuild(&f.log, &f.store()).await.unwrap();
    let path = snapshot_path(&f.store());
    let good = std::fs::read(&path).unwrap();
    open_restored(&f, &Restored::Snapshot { seq: head }).await;

    // A byte of the body changed: its checksum differs.
    let mut bytes = good.clone();
    let at = 16 + (bytes.len() - 16) / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    open_restored(
        &f,
        &Restored::Refold(Fallback::Corrupt("its body's checksum differs".into())),
    )
    .await;
    // Its body cut short (the header, at the end, kept).
    let header = u32::from_le_bytes(good[good.len() - 4..].try_into().unwrap()) as usize;
    let trailer = good.len() - 4 - header;
    let cut = [&good[..trailer - 100], &good[trailer..]].concat();
    std::fs::write(&path, &cut).unwrap();
    let p = Projector::open(&f.log, &f.store()).await.unwrap();
    assert!(
        matches!(p.restored(), Restored::Refold(Fallback::Corrupt(why)) if why.contains("bytes")),
        "{:?}",
        p.restored()
    );

    // Written under another belief policy.
    let policy = dossier_beliefs::POLICY_VERSION.as_bytes();
    let stale = b"dossier-beliefs/2";
    assert_eq!(policy.len(), stale.len());
    let at = good
        .windows(policy.len())
        .rposition(|w| w == policy)
        .unwrap();
    let mut bytes = good.clone();
    bytes[at..at + stale.len()].copy_from_slice(stale);
    std::fs::write(&path, &bytes).unwrap();
    open_restored(
        &f,
        &Restored::Refold(Fallback::OtherPolicy("dossier-beliefs/2".into())),
    )
    .await;

    // Of another snapshot format (the first field of the header).
    let mut bytes = good.clone();
    bytes[trailer] = bytes[trailer].wrapping_add(1);
    std::fs::write(&path, &bytes).unwrap();
    let p = Projector::open(&f.log, &f.store()).await.unwrap();
    assert!(matches!(
        p.restored(),
        Restored::Refold(Fallback::OtherBuild(_))
    ));

    // Of another ledger with as many records: the record at its seq has another hash.
    let g = Fixture::larger(6).await;
    assert_eq!(g.log.head().await.unwrap().seq, head);
    catch_up(&g.log, &g.store()).await.unwrap();
    std::fs::write(snapshot_path(&g.store()), &good).unwrap();
    open_restored(&g, &Restored::Refold(Fallback::OtherLedger { seq: head })).await;

    // Past the store's checkpoint.
    let behind = f.dir.path().join("behind.db");
    catch_up(&Limited::up_to(&f.log, head - 5), &behind)
        .await
        .unwrap();
    std::fs::write(snapshot_path(&behind), &good).unwrap();
    let p = Projector::open(&f.log, &behind).await.unwrap();
    assert_eq!(
        p.restored(),
        &Restored::Refold(Fallback::Ahead {
            seq: head,
            checkpoint: head - 5
        })
    );

    // None at all.
    std::fs::remove_file(&path).unwrap();
    open_restored(&f, &Restored::Refold(Fallback::Missing)).await;
    // And the good one again.
    std::fs::write(&path, &good).unwrap();
    open_restored(&f, &Restored::Snapshot { seq: head }).await;
}

/// Every question's current belief with provenance, at every clearance, from a store and from a
/// copy of it without its materialised rows (so answered by walking the references): they must
/// be equal. Returns how many lines had a row.
fn assert_materialised_is_the_fold(store: &Path, questions: &[String]) -> i64 {
    let folded = store.with_file_name("folded.db");
    std::fs::copy(store, &folded).unwrap();
    rusqlite_conn(&folded)
        .execute("DELETE FROM provenance", [])
        .unwrap();
    let rows: i64 = rusqlite_conn(store)
        .query_row("SELECT COUNT(*) FROM provenance", [], |r| r.get(0))
        .unwrap();
    let (v, w) = (
        ViewStore::open(store).unwrap(),
        ViewStore::open(&folded).unwrap(),
    );
    for c in dossier_model::Marking::ALL {
        for q in questions {
            assert_eq!(
                js(v.belief(c, q, None).unwrap()),
                js(w.belief(c, q, None).unwrap()),
                "{q} at {c}"
            );
        }
    }
    std::fs::remove_file(&folded).unwrap();
    rows
}

/// Lines of any level without a materialised row.
fn unmaterialised(store: &Path) -> i64 {
    rusqlite_conn(store)
        .query_row(
            "SELECT COUNT(*) FROM beliefs b WHERE NOT EXISTS
             (SELECT 1 FROM provenance p WHERE p.level = b.level AND p.question = b.question)",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// The materialised current provenance of every level is exactly the fold of what that level
/// sees, on the examples and a generated ledger of mixed markings: after a rebuild, and while
/// following the ledger (relations between claims of one question and of two, assessments,
/// re-ratings), both before the rows an event can change are filled again (a row left stale
/// would differ from the fold) and after.
#[tokio::test]
async fn materialised_provenance_is_the_fold_at_every_level() {
    let mut rng = Rng(0x6d61_7465_7269_616c);
    let mut f = Fixture::examples().await;
    let mut mixed = Mixed::default();
    let mut at = t("2024-05-01T00:00:00Z");
    let mut step = 0;
    let mut next = |mixed: &mut Mixed, rng: &mut Rng, n: usize| {
        let docs: Vec<(String, Value)> = (0..n)
            .map(|_| {
                step += 1;
                let tag = format!("m{step}");
                (format!("{tag}.json"), mixed.next(&tag, rng, true).0)
            })
            .collect();
        at += time::Duration::hours(1);
        (docs, at)
    };
    let (docs, when) = next(&mut mixed, &mut rng, 14);
    for (name, doc) in &docs {
        f.append_at(name, &serde_json::to_vec(doc).unwrap(), when)
            .await;
    }
    let mut questions: Vec<String> = mixed.questions.clone();
    questions.extend([CONTAINERS.to_owned(), TRANSFERS.to_owned()]);
    rebuild(&f.log, &f.store()).await.unwrap();
    let mut p = Projector::open(&f.log, &f.store()).await.unwrap();
    assert_eq!(assert_materialised_is_the_fold(&f.store(), &questions), 0);
    let filled = p.materialise(usize::MAX).unwrap();
    assert!(
        filled > questions.len(),
        "rows for several levels: {filled}"
    );
    assert_eq!(unmaterialised(&f.store()), 0);
    assert_eq!(
        assert_materialised_is_the_fold(&f.store(), &questions),
        filled as i64
    );
    let mut relations = mixed.relations.len();
    for round in 0..4 {
        let (docs, when) = next(&mut mixed, &mut rng, 6);
        for (name, doc) in &docs {
            f.append_at(name, &serde_json::to_vec(doc).unwrap(), when)
                .await;
        }
        questions = mixed.questions.clone();
        questions.extend([CONTAINERS.to_owned(), TRANSFERS.to_owned()]);
        p.catch_up(&f.log).await.unwrap();
        // Rows the new events can change are gone, the others kept.
        let kept = assert_materialised_is_the_fold(&f.store(), &questions);
        assert!(kept > 0, "round {round}: some rows kept");
        assert!(
            unmaterialised(&f.store()) > 0,
            "round {round}: some removed"
        );
        p.materialise(usize::MAX).unwrap();
        assert_eq!(unmaterialised(&f.store()), 0);
        assert_materialised_is_the_fold(&f.store(), &questions);
    }
    relations = mixed.relations.len() - relations;
    assert!(relations > 2, "relations followed: {relations}");
    // The store's digest is still that of a clean fold.
    assert_digest_of_a_clean_fold(&f.log, &f.store()).await;
}

/// A materialised row that an event should have removed is caught: put back as it was before
/// the event, it differs from the fold; and a store whose rows were not kept up to the
/// checkpoint (as one written by an earlier version, which keeps none) is answered by the
/// fold, its rows dropped by the next projector to open it. A store without the table at all
/// opens and answers too.
#[tokio::test]
async fn a_stale_materialised_row_is_caught_and_never_served() {
    let mut f = Fixture::examples().await;
    let questions = [CONTAINERS.to_owned(), TRANSFERS.to_owned()];
    let mut p = Projector::open(&f.log, &f.store()).await.unwrap();
    p.catch_up(&f.log).await.unwrap();
    p.materialise(usize::MAX).unwrap();
    let saved = f.dir.path().join("saved.db");
    std::fs::copy(f.store(), &saved).unwrap();
    f.append_at(
        "assessment.json",
        &assessment_bundle("assessment:gen/stale", TRANSFERS, true),
        t("2024-05-01T00:00:00Z"),
    )
    .await;
    p.catch_up(&f.log).await.unwrap();
    let conn = rusqlite_conn(&f.store());
    let put_back = |conn: &rusqlite::Connection| {
        conn.execute_batch(&format!(
            "ATTACH '{}' AS saved;
             INSERT OR REPLACE INTO provenance SELECT * FROM saved.provenance;
             DETACH saved;",
            saved.display()
        ))
        .unwrap();
    };
    put_back(&conn);
    let caught =
        std::panic::catch_unwind(|| assert_materialised_is_the_fold(&f.store(), &questions));
    assert!(caught.is_err(), "a stale row differs from the fold");
    // Rows not known current at the checkpoint are not served.
    let checkpoint = ViewStore::open(&f.store())
        .unwrap()
        .checkpoint()
        .unwrap()
        .unwrap()
        .seq;
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'materialised'",
        [(checkpoint - 1).to_string()],
    )
    .unwrap();
    assert!(assert_materialised_is_the_fold(&f.store(), &questions) > 0);
    drop(p);
    let mut p = Projector::open(&f.log, &f.store()).await.unwrap();
    assert_eq!(assert_materialised_is_the_fold(&f.store(), &questions), 0);
    p.materialise(usize::MAX).unwrap();
    assert!(assert_materialised_is_the_fold(&f.store(), &questions) > 0);
    drop(p);
    // A store of the layout from before the table: answered by the fold, and a projector
    // opening it creates the table.
    conn.execute_batch("DROP TABLE provenance; DELETE FROM meta WHERE key = 'materialised';")
        .unwrap();
    let v = ViewStore::open(&f.store()).unwrap();
    assert!(v.belief(RED, TRANSFERS, None).unwrap().is_some());
    let mut p = Projector::open(&f.log, &f.store()).await.unwrap();
    assert!(p.materialise(usize::MAX).unwrap() > 0);
    assert!(assert_materialised_is_the_fold(&f.store(), &questions) > 0);
}

/// A running projector materialises every line's provenance once it is at the head, and
/// again after following new records.
#[tokio::test]
async fn a_serving_projector_materialises_when_idle() {
    let mut f = Fixture::examples().await;
    let running = Running::start(&f);
    let filled = |store: PathBuf| async move {
        let store = store.as_path();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let done = store.is_file()
                && ViewStore::open(store)
                    .unwrap()
                    .checkpoint()
                    .unwrap()
                    .is_some()
                && rusqlite_conn(store)
                    .query_row("SELECT COUNT(*) FROM provenance", [], |r| {
                        r.get::<_, i64>(0)
                    })
                    .unwrap_or(0)
                    > 0
                && unmaterialised(store) == 0;
            if done {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    running.reach(f.log.head().await.unwrap().seq).await;
    assert!(filled(f.store()).await, "materialised at the head");
    f.append_at(
        "assessment.json",
        &assessment_bundle("assessment:gen/idle", TRANSFERS, true),
        t("2024-05-01T00:00:00Z"),
    )
    .await;
    running.reach(f.log.head().await.unwrap().seq).await;
    assert!(filled(f.store()).await, "again after following");
    running.stop().await.unwrap();
    assert_materialised_is_the_fold(&f.store(), &[CONTAINERS.to_owned(), TRANSFERS.to_owned()]);
}
