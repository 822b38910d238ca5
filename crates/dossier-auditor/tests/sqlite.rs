//! The auditor on real SQLite ledgers: checkpoints, restarts that read only what is new, key
//! changes across restarts, and ledgers rewritten behind its back.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use dossier_auditor::{Auditor, Options, Report, status};
use dossier_chain::{
    BatchBuilder, EncodedRecord, EventId, Genesis, Hash, Head, KeyRegistered, KeyRevoked, Signer,
    StoredRecord, TrustRoot, control,
};
use dossier_log::{AppendError, AppendReceipt, EventLog, IndexEntry, LogError, SqliteLog};
use dossier_proofs::{
    Checkpoint, RootBuilder, TreeVersion, checkpoint_verifier, open_checkpoint, root_of,
};
use rusqlite::Connection;
use uuid::Uuid;

/// An [`EventLog`] that records every position it returns from `read`.
struct Counting<'a> {
    inner: &'a SqliteLog,
    reads: Mutex<Vec<u64>>,
}

impl<'a> Counting<'a> {
    fn new(inner: &'a SqliteLog) -> Self {
        Counting {
            inner,
            reads: Mutex::new(Vec::new()),
        }
    }
    fn positions(&self) -> Vec<u64> {
        self.reads.lock().unwrap().clone()
    }
}

impl EventLog for Counting<'_> {
    async fn head(&self) -> Result<Head, LogError> {
        self.inner.head().await
    }
    async fn append(
        &self,
        expected: u64,
        records: &[EncodedRecord],
        contents: &[Vec<u8>],
    ) -> Result<AppendReceipt, AppendError> {
        self.inner.append(expected, records, contents).await
    }
    async fn read(&self, from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let page = self.inner.read(from, max).await?;
        self.reads
            .lock()
            .unwrap()
            .extend(page.iter().map(|r| r.position));
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

struct Fixture {
    _dir: tempfile::TempDir,
    db: PathBuf,
    store: PathBuf,
    ledger: Uuid,
    founder: Signer,
    log: SqliteLog,
}

fn founder() -> Signer {
    Signer::from_secret([1; 32], "founder")
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ledger.db");
        let store = dir.path().join("auditor.db");
        let log = SqliteLog::open(&db).unwrap();
        let ledger = Uuid::new_v4();
        let founder = founder();
        let genesis =
            Genesis::build(ledger, "test", &founder, time::OffsetDateTime::now_utc()).unwrap();
        log.append(0, &genesis, &[]).await.unwrap();
        Fixture {
            _dir: dir,
            db,
            store,
            ledger,
            founder,
            log,
        }
    }

    /// Appends one batch of `n` notes signed by `signer`; returns the last seq.
    async fn batch(&self, signer: &Signer, tag: &str, n: usize) -> u64 {
        let head = self.log.head().await.unwrap();
        let events = dossier_log::conformance::events(tag, n);
        let records = dossier_log::seal_batch(self.ledger, &head, signer, &events).unwrap();
        self.log.append(head.seq, &records, &[]).await.unwrap().last
    }

    async fn key_event(&self, event_type: &str, body: &[u8], entity: &str) -> u64 {
        self.key_event_in(event_type, control::SCHEMA, body, entity)
            .await
    }

    async fn key_event_in(&self, event_type: &str, schema: u32, body: &[u8], entity: &str) -> u64 {
        let head = self.log.head().await.unwrap();
        let mut b = BatchBuilder::new(
            self.ledger,
            &head,
            time::OffsetDateTime::now_utc(),
            &self.founder,
            Uuid::new_v4(),
        );
        b.push(event_type, schema, entity, "TLP:CLEAR", body)
            .unwrap();
        let records = b.seal().unwrap();
        self.log.append(head.seq, &records, &[]).await.unwrap().last
    }

    async fn register(&self, key: &Signer) -> u64 {
        let body = serde_json::to_vec(&KeyRegistered {
            key: key.id().to_owned(),
            public: key.public_hex(),
            name: key.name().to_owned(),
            role: None,
        })
        .unwrap();
        self.key_event(control::KEY_REGISTERED, &body, key.id())
            .await
    }

    /// Registers `key` with a role (schema 2): the ledger adopts key roles.
    async fn register_as(&self, key: &Signer, role: dossier_chain::Role) -> u64 {
        let body = serde_json::to_vec(&KeyRegistered {
            key: key.id().to_owned(),
            public: key.public_hex(),
            name: key.name().to_owned(),
            role: Some(role),
        })
        .unwrap();
        self.key_event_in(control::KEY_REGISTERED, 2, &body, key.id())
            .await
    }

    async fn revoke(&self, key: &Signer) -> u64 {
        let body = serde_json::to_vec(&KeyRevoked {
            key: key.id().to_owned(),
            reason: "test".into(),
        })
        .unwrap();
        self.key_event(
            control::KEY_REVOKED,
            &body,
            &format!("{}/revoked", key.id()),
        )
        .await
    }

    fn options(&self) -> Options {
        Options {
            every: 100,
            page: 64,
            ..Options::default()
        }
    }

    async fn audit_with<L: EventLog>(&self, log: &L, options: Options) -> Report {
        let trust = TrustRoot::Pinned(self.founder.public());
        let mut a = Auditor::open(log, &self.store, founder(), trust, options).unwrap();
        a.once().await.unwrap()
    }

    async fn audit(&self) -> Report {
        self.audit_with(&self.log, self.options()).await
    }

    async fn all_hashes(&self) -> Vec<Hash> {
        self.log
            .read(1, 100_000)
            .await
            .unwrap()
            .iter()
            .map(|r| Hash::of_record(&r.bytes))
            .collect()
    }

    fn tamper(&self) -> Connection {
        dossier_log::tamper::open(&self.db)
    }

    /// Deletes every record after `keep` straight from the file.
    fn truncate(&self, keep: u64) {
        dossier_log::tamper::truncate_after(&self.tamper(), keep);
    }

    fn reopen(&mut self) {
        self.log = SqliteLog::open(&self.db).unwrap();
    }
}

fn assert_checkpoint(report: &Report, ledger: Uuid, hashes: &[Hash]) {
    let cp = report.last_checkpoint.as_ref().expect("a checkpoint");
    assert_eq!(cp.size, hashes.len() as u64);
    assert_eq!(cp.root, root_of(hashes.iter().copied()).to_hex());
    assert_eq!(cp.head, hashes.last().unwrap().to_hex());
    let opened = open_checkpoint(
        &cp.note,
        &checkpoint_verifier(&ledger.to_string(), founder().public()).unwrap(),
    )
    .unwrap();
    assert_eq!(opened.tree.size, cp.size);
    assert_eq!(opened.tree.root.to_hex(), cp.root);
}

fn kinds(report: &Report) -> Vec<String> {
    report.alarms.iter().map(|a| a.kind.clone()).collect()
}

#[tokio::test]
async fn checkpoints_then_resumes_without_re_reading_and_keeps_the_keys() {
    let f = Fixture::new().await;
    for i in 0..8 {
        f.batch(&f.founder, &format!("a{i}"), 30).await;
    }
    let first = f.audit().await;
    assert!(first.healthy, "{first:?}");
    let hashes = f.all_hashes().await;
    assert_eq!(first.verified, hashes.len() as u64);
    assert!(
        first.checkpoints_signed >= 2,
        "every 100 records, then at the end: {first:?}"
    );
    assert_checkpoint(&first, f.ledger, &hashes);
    let cp1 = first.last_checkpoint.clone().unwrap().size;

    // New records, among them a key registration and a batch signed by the new key.
    let analyst = Signer::from_secret([7; 32], "analyst");
    f.register(&analyst).await;
    f.batch(&analyst, "b", 40).await;
    let counting = Counting::new(&f.log);
    let second = f.audit_with(&counting, f.options()).await;
    assert!(second.healthy, "{second:?}");
    assert_eq!(second.resumed_from, cp1);
    let read = counting.positions();
    // Only the checkpoint's own record (to check it still hashes to the head) and what is new.
    assert_eq!(
        read.iter().filter(|p| **p < cp1).count(),
        0,
        "re-read old records: {read:?}"
    );
    assert_eq!(read.iter().filter(|p| **p == cp1).count(), 1);
    let hashes = f.all_hashes().await;
    // Each new record once (the last one a second time: the final head check).
    let new: std::collections::BTreeSet<u64> = read.iter().copied().filter(|p| *p > cp1).collect();
    assert_eq!(new.len() as u64, hashes.len() as u64 - cp1);
    assert_eq!(read.iter().filter(|p| **p > cp1).count(), new.len() + 1);
    assert_checkpoint(&second, f.ledger, &hashes);

    // Once more, after the key was revoked: the key set survived two restarts, so a batch
    // signed by the revoked key is an alarm; and nothing is signed after it.
    f.revoke(&analyst).await;
    let third = f.audit().await;
    assert!(third.healthy, "{third:?}");
    let size_before = third.last_checkpoint.clone().unwrap().size;
    f.batch(&analyst, "c", 3).await;
    let fourth = f.audit().await;
    assert!(!fourth.healthy);
    assert_eq!(kinds(&fourth), ["verify:revoked_key"]);
    assert_eq!(fourth.checkpoints_signed, 0);
    assert_eq!(fourth.last_checkpoint.unwrap().size, size_before);
    let st = status(&f.store).unwrap();
    assert!(!st.healthy);
    assert_eq!(st.alarm_count, 1);
    assert_eq!(st.last_checkpoint.unwrap().size, size_before);
    // The alarm stays on record: the next run is unhealthy too.
    let fifth = f.audit().await;
    assert!(!fifth.healthy);
}

/// Once the ledger has a log key, the auditor signs only with it (docs/PROOFS.md §6.5): offered
/// the founding key alone it verifies but signs nothing; offered the log key too, it signs with
/// the log key.
#[tokio::test]
async fn checkpoints_are_signed_by_the_log_key_only() {
    let f = Fixture::new().await;
    let log_key = Signer::from_secret([9; 32], "log");
    f.register_as(&log_key, dossier_chain::Role::Log).await;
    f.batch(&f.founder, "a", 3).await;
    let trust = TrustRoot::Pinned(f.founder.public());
    let mut a = Auditor::open(&f.log, &f.store, founder(), trust.clone(), f.options()).unwrap();
    let report = a.once().await.unwrap();
    assert!(report.healthy, "{:?}", report.alarms);
    assert_eq!(report.checkpoints_signed, 0);
    assert!(report.last_checkpoint.is_none());
    drop(a);
    let mut a = Auditor::open(&f.log, &f.store, founder(), trust, f.options())
        .unwrap()
        .with_signers([log_key.clone()]);
    let report = a.once().await.unwrap();
    let cp = report.last_checkpoint.expect("a checkpoint");
    let ledger = f.ledger.to_string();
    open_checkpoint(
        &cp.note,
        &checkpoint_verifier(&ledger, log_key.public()).unwrap(),
    )
    .expect("signed by the log key");
    assert!(
        open_checkpoint(
            &cp.note,
            &checkpoint_verifier(&ledger, f.founder.public()).unwrap()
        )
        .is_err()
    );
}

#[tokio::test]
async fn a_ledger_truncated_at_a_batch_boundary_is_an_alarm() {
    let f = Fixture::new().await;
    let mut boundaries = Vec::new();
    for i in 0..5 {
        boundaries.push(f.batch(&f.founder, &format!("t{i}"), 20).await);
    }
    assert!(f.audit().await.healthy);
    f.truncate(boundaries[2]);
    let r = f.audit().await;
    assert!(!r.healthy);
    assert_eq!(kinds(&r), ["truncated"]);
    assert!(!status(&f.store).unwrap().healthy);
}

#[tokio::test]
async fn a_forked_and_regrown_history_is_an_alarm() {
    let mut f = Fixture::new().await;
    let mut boundaries = Vec::new();
    for i in 0..5 {
        boundaries.push(f.batch(&f.founder, &format!("o{i}"), 20).await);
    }
    let before = f.audit().await;
    assert!(before.healthy);
    f.truncate(boundaries[1]);
    f.reopen();
    for i in 0..6 {
        f.batch(&f.founder, &format!("fork{i}"), 20).await;
    }
    assert!(f.log.head().await.unwrap().seq > before.verified);
    // The forked ledger verifies on its own: validly chained and signed.
    let report = dossier_log::verify_log(&f.log, TrustRoot::Pinned(f.founder.public()), |_| {})
        .await
        .unwrap();
    assert!(report.ok(), "{:?}", report.failures);
    let r = f.audit().await;
    assert!(!r.healthy);
    assert_eq!(kinds(&r), ["rewritten"]);
}

#[tokio::test]
async fn a_record_changed_before_the_checkpoint_is_found_by_a_rescan() {
    let f = Fixture::new().await;
    for i in 0..4 {
        f.batch(&f.founder, &format!("r{i}"), 20).await;
    }
    assert!(f.audit().await.healthy);
    let c = f.tamper();
    let bytes = dossier_log::tamper::record(&c, 10);
    let changed = String::from_utf8(bytes)
        .unwrap()
        .replace("\"r0\"", "\"R0\"");
    dossier_log::tamper::set_record(&c, 10, changed.as_bytes());
    // Without a rescan the restart only checks the head, which is intact.
    assert!(f.audit().await.healthy);
    let r = f
        .audit_with(
            &f.log,
            Options {
                rescan_on_start: true,
                ..f.options()
            },
        )
        .await;
    assert!(!r.healthy, "{r:?}");
    assert_eq!(r.alarms[0].seq, Some(10));
    assert!(r.alarms[0].kind.starts_with("verify:"), "{:?}", r.alarms);
}

#[tokio::test]
async fn a_bad_record_arriving_live_is_an_alarm_at_once() {
    let f = Fixture::new().await;
    f.batch(&f.founder, "l0", 10).await;
    let store = f.store.clone();
    let trust = TrustRoot::Pinned(f.founder.public());
    let options = Options {
        every: 1,
        interval: Duration::from_millis(50),
        check_interval: Duration::from_millis(50),
        ..f.options()
    };
    let mut a = Auditor::open(&f.log, &store, founder(), trust, options).unwrap();
    let run = a.run(std::future::pending::<()>());
    let stranger = Signer::from_secret([9; 32], "stranger");
    let tamper = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(status(&store).unwrap().last_checkpoint.is_some());
        f.batch(&f.founder, "l1", 5).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        f.batch(&stranger, "l2", 5).await;
    };
    let (report, ()) =
        tokio::time::timeout(Duration::from_secs(20), async { tokio::join!(run, tamper) })
            .await
            .unwrap();
    let report = report.unwrap();
    assert!(!report.healthy);
    assert_eq!(kinds(&report), ["verify:unknown_key"]);
    assert_eq!(report.last_checkpoint.unwrap().size, 2 + 11 + 6);
}

/// An event recorded a second time (a batch forced into the file past the idempotency index)
/// is an alarm at the later record, and no checkpoint covers it.
#[tokio::test]
async fn an_event_recorded_twice_is_an_alarm_at_the_later_record() {
    let f = Fixture::new().await;
    f.batch(&f.founder, "d0", 5).await;
    let last = f.batch(&f.founder, "d1", 3).await;
    let report = f.audit().await;
    assert!(report.healthy, "{:?}", report.alarms);
    assert_eq!(report.last_checkpoint.as_ref().unwrap().size, last);
    // The batch "d0" again, written straight into the file.
    let head = f.log.head().await.unwrap();
    let again = dossier_log::seal_batch(
        f.ledger,
        &head,
        &f.founder,
        &dossier_log::conformance::events("d0", 5),
    )
    .unwrap();
    dossier_log::tamper::append_unchecked(&f.tamper(), &again);
    let report = f.audit().await;
    assert!(!report.healthy);
    assert_eq!(kinds(&report)[0], "verify:duplicate_event_id");
    assert_eq!(report.alarms[0].seq, Some(last + 1));
    assert!(
        report.alarms[0].detail.contains("position 3"),
        "{}",
        report.alarms[0].detail
    );
    assert_eq!(
        report.last_checkpoint.as_ref().unwrap().size,
        last,
        "no checkpoint covers the repeated events"
    );
}

/// A stored batch that fails the framing's checks (its seq index points into the middle of a
/// record) is an alarm at that seq, not a read error that stops the auditor without one; no
/// checkpoint covers it.
#[tokio::test]
async fn a_bad_frame_is_an_alarm_at_its_seq() {
    let f = Fixture::new().await;
    let first = f.batch(&f.founder, "f0", 5).await;
    let report = f.audit().await;
    assert!(report.healthy, "{:?}", report.alarms);
    let last = f.batch(&f.founder, "f1", 5).await;
    let bad = first + 3;
    f.tamper()
        .execute(
            "UPDATE records SET offset = offset + 1 WHERE seq = ?1",
            [i64::try_from(bad).unwrap()],
        )
        .unwrap();
    let report = f.audit().await;
    assert!(!report.healthy);
    assert_eq!(kinds(&report), ["verify:bad_frame"]);
    assert_eq!(report.alarms[0].seq, Some(bad));
    assert_eq!(report.last_checkpoint.as_ref().unwrap().size, first);
    assert!(last > bad);
}

/// Turns the store's last checkpoint into what an auditor of tree version 1 (BLAKE3) wrote:
/// a `dossier-head` checkpoint of the same size and its version-1 frontier.
fn downgrade_store_to_version_1(f: &Fixture, hashes: &[Hash]) -> String {
    let mut b = RootBuilder::with_version(TreeVersion::V1Blake3);
    hashes.iter().for_each(|h| b.push(*h));
    let tree = b.tree_head().unwrap();
    let cp = Checkpoint::new(&f.ledger.to_string(), tree).unwrap();
    let note = cp.sign_with(&founder()).unwrap();
    assert!(note.contains("\ndossier-head "), "{note}");
    let frontier: Vec<u8> = b.frontier().iter().flat_map(|h| h.0).collect();
    let c = Connection::open(&f.store).unwrap();
    let size = i64::try_from(hashes.len()).unwrap();
    c.execute("DELETE FROM checkpoints", []).unwrap();
    c.execute(
        "INSERT INTO checkpoints (size, ledger, root, head, note, signed_at) VALUES (?1, ?2, ?3, ?4, ?5, '2026-01-01T00:00:00Z')",
        rusqlite::params![size, f.ledger.to_string(), tree.root.to_hex(), tree.head.to_hex(), note],
    )
    .unwrap();
    c.execute("UPDATE state SET frontier = ?1 WHERE id = 1", [frontier])
        .unwrap();
    note
}

/// A store written before tree version 2 (a BLAKE3 checkpoint and frontier) moves to version
/// 2 on the auditor's next run: the checkpointed records are re-read, checked against the
/// version-1 root, and a version-2 checkpoint of the same size is signed; later checkpoints
/// continue the version-2 tree. A history rewritten under the old checkpoint is an alarm, not
/// a migration.
#[tokio::test]
async fn a_version_1_store_moves_to_the_sha256_tree_on_its_next_run() {
    let f = Fixture::new().await;
    for i in 0..3 {
        f.batch(&f.founder, &format!("m{i}"), 25).await;
    }
    assert!(f.audit().await.healthy);
    let hashes = f.all_hashes().await;
    let old = downgrade_store_to_version_1(&f, &hashes);
    let st = status(&f.store).unwrap().last_checkpoint.unwrap();
    assert_eq!(st.note, old);
    assert_eq!(st.tree_version().unwrap(), TreeVersion::V1Blake3);

    let r = f.audit().await;
    assert!(r.healthy, "{r:?}");
    assert_eq!(r.checkpoints_signed, 1, "{r:?}");
    assert_checkpoint(&r, f.ledger, &hashes);
    let cp = r.last_checkpoint.unwrap();
    assert!(cp.note.contains("\ndossier-head-v2 "), "{}", cp.note);
    assert_eq!(cp.tree_version().unwrap(), TreeVersion::V2Sha256);
    // The tree continues in version 2.
    f.batch(&f.founder, "m3", 10).await;
    let r = f.audit().await;
    assert!(r.healthy, "{r:?}");
    assert_checkpoint(&r, f.ledger, &f.all_hashes().await);

    // A second ledger whose history was rewritten under a version-1 checkpoint.
    let g = Fixture::new().await;
    for i in 0..3 {
        g.batch(&g.founder, &format!("n{i}"), 25).await;
    }
    assert!(g.audit().await.healthy);
    downgrade_store_to_version_1(&g, &g.all_hashes().await);
    let c = g.tamper();
    let bytes = dossier_log::tamper::record(&c, 10);
    let changed = String::from_utf8(bytes)
        .unwrap()
        .replace("\"n0\"", "\"N0\"");
    dossier_log::tamper::set_record(&c, 10, changed.as_bytes());
    let r = g.audit().await;
    assert!(!r.healthy, "{r:?}");
    assert_eq!(r.checkpoints_signed, 0);
    assert_eq!(r.alarms[0].seq, Some(10), "{:?}", r.alarms);
    assert_eq!(
        status(&g.store)
            .unwrap()
            .last_checkpoint
            .unwrap()
            .tree_version()
            .unwrap(),
        TreeVersion::V1Blake3
    );
}
