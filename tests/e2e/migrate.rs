//! `dossier migrate`: a per-record (layout 1) SQLite ledger opens read-only, converts to the
//! batch layout verified before and after, keeps the old file, survives SIGKILL at any point,
//! and refuses a legacy batch too large for the framing at its seq.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use dossier_chain::{Genesis, Hash, RecordView, Signer, StoredRecord};
use dossier_log::tamper;
use rusqlite::{Connection, params};

use crate::support::{Ledger, copy_ledger, gen_bundle, random_u64};

/// The per-record layout as earlier versions wrote it (docs/FORMAT.md §7.1, layout 1).
const LAYOUT_1: &str = r"
PRAGMA journal_mode = WAL;
CREATE TABLE records (seq INTEGER PRIMARY KEY, hash BLOB NOT NULL, event_id BLOB NOT NULL,
    type TEXT NOT NULL, recorded TEXT NOT NULL, bytes BLOB NOT NULL);
CREATE TABLE event_ids (id BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE event_ids_recent (id BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE content (hash BLOB PRIMARY KEY, bytes BLOB NOT NULL) WITHOUT ROWID;
CREATE TRIGGER records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'dossier records are immutable: corrections are new events'); END;
CREATE TRIGGER records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'dossier records are immutable: corrections are new events'); END;
PRAGMA user_version = 1;
";

/// Writes `records` (and report texts) as a layout-1 file at `path`.
fn write_layout_1(path: &Path, records: &[Vec<u8>], texts: &[Vec<u8>]) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut conn = Connection::open(path).expect("create");
    conn.execute_batch(LAYOUT_1).expect("schema");
    let tx = conn.transaction().expect("tx");
    for bytes in records {
        let v = RecordView::parse(bytes).expect("a record");
        let id = hex::decode(v.id).expect("hex id");
        tx.execute(
            "INSERT INTO records VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                v.seq,
                &Hash::of_record(bytes).0[..],
                id,
                v.event_type,
                v.recorded,
                bytes
            ],
        )
        .expect("record");
        tx.execute("INSERT INTO event_ids VALUES (?1, ?2)", params![id, v.seq])
            .expect("id");
    }
    for t in texts {
        tx.execute(
            "INSERT INTO content VALUES (?1, ?2)",
            params![&Hash::of_bytes(t).0[..], t],
        )
        .expect("text");
    }
    tx.commit().expect("commit");
}

/// Rewrites a (layout 2) ledger's file as layout 1, holding the same records and texts.
fn to_layout_1(l: &Ledger) {
    let db = l.db();
    let (records, texts) = {
        let conn = Connection::open(&db).expect("open");
        let records: Vec<Vec<u8>> = tamper::batches(&conn)
            .into_iter()
            .flat_map(|first| tamper::entries(&conn, first))
            .map(|(bytes, _)| bytes)
            .collect();
        let texts: Vec<Vec<u8>> = conn
            .prepare("SELECT bytes FROM content")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        (records, texts)
    };
    write_layout_1(&db, &records, &texts);
}

/// The examples plus a generated bundle of about 900 events, as a per-record ledger: built once
/// per run and copied by each test.
fn legacy() -> &'static Ledger {
    static BASE: OnceLock<Ledger> = OnceLock::new();
    BASE.get_or_init(|| {
        let l = Ledger::with_examples();
        let g = gen_bundle("migrate", 20, 870);
        let file = l.write_json("gen.json", &g.json);
        l.run(&["publish", &file]).ok();
        to_layout_1(&l);
        l
    })
}

fn layout(path: &Path) -> i64 {
    Connection::open(path)
        .expect("open")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version")
}

fn beliefs(l: &Ledger) -> String {
    l.run(&["beliefs", "--json"]).ok().stdout.clone()
}

#[test]
fn a_per_record_ledger_reads_refuses_appends_and_migrates() {
    let l = copy_ledger(legacy());
    assert_eq!(layout(&l.db()), 1);
    // Read-only: it verifies, lists and answers as before.
    let (code, before) = l.verify_json();
    assert_eq!(code, 0, "{before}");
    let records = before["records"].as_u64().expect("records");
    assert!(records > 900, "{before}");
    let answers = beliefs(&l);
    // Appends are refused, naming the command that converts it.
    let extra = gen_bundle("after", 1, 3);
    let file = l.write_json("after.json", &extra.json);
    let out = l.run(&["publish", &file]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("per-record layout 1"), "{}", out.stderr);
    assert!(out.stderr.contains("dossier migrate"), "{}", out.stderr);
    assert_eq!(layout(&l.db()), 1);

    let out = l.run(&["migrate", "--json"]);
    let v = out.ok().json();
    assert_eq!(v["sums"]["records"].as_u64(), Some(records), "{v}");
    assert_eq!(v["sums"]["head"], before["head"], "{v}");
    assert_eq!(v["sums"]["last_sealed"], before["last_sealed"], "{v}");
    assert!(v["sums"]["beliefs"].is_string(), "{v}");
    assert_eq!(layout(&l.db()), 2);
    let kept = l.file("ledger.db.per-record");
    assert_eq!(layout(&kept), 1, "the old file is kept");
    assert!(!l.file("ledger.db.migrating").exists());
    let (code, after) = l.verify_json();
    assert_eq!(code, 0, "{after}");
    assert_eq!(
        (after["head"].clone(), after["records"].clone()),
        (before["head"].clone(), before["records"].clone())
    );
    assert_eq!(beliefs(&l), answers);
    // Appends work now; a second migration has nothing to do.
    l.run(&["publish", &file]).ok();
    let again = l.run(&["migrate"]);
    assert_ne!(again.code, 0);
    assert!(
        again.stderr.contains("already has the batch layout"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_migration_killed_at_random_leaves_a_usable_ledger_and_a_rerun_completes() {
    let base = legacy();
    let (_, v) = base.verify_json();
    let head = v["head"].clone();
    // How long an undisturbed migration takes, to kill inside it.
    let timing = copy_ledger(base);
    let started = std::time::Instant::now();
    timing.run(&["migrate"]).ok();
    let span = started.elapsed().as_millis().max(20) as u64;
    for trial in 0..4 {
        let l = copy_ledger(base);
        let mut child = l.command().arg("migrate").spawn().expect("spawn migrate");
        let wait = random_u64() % span;
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        // Whatever the instant, the ledger in place verifies to the same head.
        let (code, v) = l.verify_json();
        assert_eq!(code, 0, "trial {trial}, killed after {wait} ms: {v}");
        assert_eq!(v["head"], head, "trial {trial}");
        let out = l.run(&["migrate"]);
        if out.code != 0 {
            assert!(
                out.stderr.contains("already has the batch layout"),
                "trial {trial}: {}",
                out.stderr
            );
        }
        assert_eq!(layout(&l.db()), 2, "trial {trial}");
        let (code, v) = l.verify_json();
        assert_eq!((code, &v["head"]), (0, &head), "trial {trial}: {v}");
        assert_eq!(layout(&l.file("ledger.db.per-record")), 1, "trial {trial}");
    }
}

/// A ledger of a genesis batch and one batch of five 250 KB events: it verifies, but its second
/// batch (from seq 3) is over the `dossier-batch/1` budget; with its founding key.
fn oversized_legacy() -> (Signer, Vec<Vec<u8>>) {
    let founder = Signer::from_secret([7; 32], "founder");
    let ledger = uuid::Uuid::new_v4();
    let now = time::OffsetDateTime::now_utc();
    let genesis = Genesis::build(ledger, "big", &founder, now).expect("genesis");
    let head = dossier_chain::Head {
        seq: genesis[1].seq,
        hash: genesis[1].hash,
        recorded: Some(genesis[1].recorded.clone()),
    };
    let mut b =
        dossier_chain::BatchBuilder::new(ledger, &head, now, &founder, uuid::Uuid::new_v4());
    let pad = "x".repeat(250_000);
    for i in 0..5 {
        b.push(
            "test.event",
            1,
            &format!("test:big/{i}"),
            "TLP:CLEAR",
            format!(r#"{{"pad":"{pad}"}}"#).as_bytes(),
        )
        .expect("push");
    }
    let batch = b.seal().expect("seal");
    let records = genesis
        .iter()
        .chain(&batch)
        .map(|r| r.bytes.clone())
        .collect();
    (founder, records)
}

#[test]
fn a_legacy_batch_over_the_framing_budget_is_refused_at_its_seq() {
    let l = Ledger::empty();
    std::fs::create_dir_all(l.dir()).expect("dir");
    let (founder, records) = oversized_legacy();
    write_layout_1(&l.db(), &records, &[]);
    let trust = founder.public_hex();
    // It verifies as a ledger (the framing budget is a storage limit, not a chain rule).
    let mut v = dossier_chain::Verifier::new(dossier_chain::TrustRoot::Pinned(founder.public()));
    for (i, bytes) in records.iter().enumerate() {
        v.push(&StoredRecord {
            position: i as u64 + 1,
            stored_hash: None,
            bytes: bytes.clone(),
        });
    }
    assert!(v.finish().ok());
    let out = l.run(&["migrate", "--trust", &trust]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("the batch starting at seq 3"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("1040384"), "{}", out.stderr);
    assert_eq!(layout(&l.db()), 1, "the old ledger is untouched");
    assert!(!l.file("ledger.db.per-record").exists());
}

/// A nats-server for one test, and a runtime to reach it from the test.
fn server_and_runtime() -> (dossier_testkit::NatsServer, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    (dossier_testkit::NatsServer::start(), rt)
}

/// Writes `records` into a per-record stream of ledger `ledger` and `texts` into its object
/// store, as earlier versions did.
async fn per_record_stream(url: &str, ledger: &str, records: &[Vec<u8>], texts: &[Vec<u8>]) {
    let js = async_nats::jetstream::new(async_nats::connect(url).await.expect("connect"));
    let subject = format!("dossier.{ledger}.records");
    js.create_stream(async_nats::jetstream::stream::Config {
        name: format!("DOSSIER_{}", ledger.to_ascii_uppercase()),
        subjects: vec![subject.clone()],
        storage: async_nats::jetstream::stream::StorageType::File,
        discard: async_nats::jetstream::stream::DiscardPolicy::New,
        deny_delete: true,
        deny_purge: true,
        allow_direct: true,
        ..Default::default()
    })
    .await
    .expect("a per-record stream");
    let mut acks = Vec::new();
    for r in records {
        acks.push(
            js.publish(subject.clone(), r.clone().into())
                .await
                .expect("publish"),
        );
    }
    for a in acks {
        a.await.expect("stored");
    }
    let bucket = js
        .create_object_store(async_nats::jetstream::object_store::Config {
            bucket: format!("dossier-{ledger}-content"),
            ..Default::default()
        })
        .await
        .expect("object store");
    for t in texts {
        bucket
            .put(Hash::of_bytes(t).to_hex().as_str(), &mut t.as_slice())
            .await
            .expect("put");
    }
}

/// The names of the streams on the server at `url`, sorted.
async fn stream_names(url: &str) -> Vec<String> {
    let js = async_nats::jetstream::new(async_nats::connect(url).await.expect("connect"));
    let mut list = js.stream_names();
    let mut names = Vec::new();
    while let Some(n) = futures::StreamExt::next(&mut list).await {
        names.push(n.expect("a stream name"));
    }
    names.sort();
    names
}

/// A stream migration that fails after creating its target (here at a legacy batch over the
/// framing budget) removes the streams it created, so the same command runs again and fails
/// the same way, not on a half-copied stream; a target that exists is refused up front.
#[test]
fn a_failed_stream_migration_removes_the_streams_it_created() {
    let (founder, records) = oversized_legacy();
    let (server, rt) = server_and_runtime();
    let url = server.url();
    rt.block_on(per_record_stream(&url, "big", &records, &[]));
    let before = rt.block_on(stream_names(&url));
    let dir = tempfile::tempdir().expect("tempdir");
    let trust = founder.public_hex();
    let on = |ledger: &str, args: &[&str]| {
        let mut all = vec!["--nats", url.as_str(), "--ledger", ledger];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--trust", trust.as_str()]);
        crate::support::run_in(dir.path(), &all)
    };
    for _ in 0..2 {
        let out = on("big", &["migrate", "--to", "big2"]);
        assert_ne!(out.code, 0);
        assert!(
            out.stderr.contains("the batch starting at seq 3"),
            "{}",
            out.stderr
        );
        assert_eq!(
            rt.block_on(stream_names(&url)),
            before,
            "nothing is left behind"
        );
    }
    // A target stream that exists is refused before anything is copied.
    let other = tempfile::tempdir().expect("tempdir");
    crate::support::run_in(
        other.path(),
        &[
            "--nats",
            url.as_str(),
            "--ledger",
            "taken",
            "init",
            "--producer",
            "analyst",
        ],
    )
    .ok();
    let with_taken = rt.block_on(stream_names(&url));
    let out = on("big", &["migrate", "--to", "taken"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("stream DOSSIER_TAKEN already exists"),
        "{}",
        out.stderr
    );
    assert_eq!(rt.block_on(stream_names(&url)), with_taken);
}

/// A per-record JetStream stream, as earlier versions wrote it (the examples plus generated
/// events, one message per record, report texts in an object store), is read and verified,
/// and `migrate --to` copies it into a new ledger stream of the batch layout:
/// both verified to the same head, last seal, Merkle root and beliefs digest, the new one read
/// back the same, the old stream untouched.
#[test]
fn a_per_record_stream_migrates_into_a_batch_stream() {
    let base = legacy();
    let (records, texts) = {
        let conn = Connection::open(base.db()).expect("open");
        let records: Vec<Vec<u8>> = conn
            .prepare("SELECT bytes FROM records ORDER BY seq")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("records");
        let texts: Vec<Vec<u8>> = conn
            .prepare("SELECT bytes FROM content")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("texts");
        (records, texts)
    };
    assert!(records.len() > 900 && !texts.is_empty());
    let (server, rt) = server_and_runtime();
    let url = server.url();
    let old_messages = || {
        rt.block_on(async {
            let js = async_nats::jetstream::new(async_nats::connect(&url).await.expect("connect"));
            let mut s = js.get_stream("DOSSIER_OLD").await.expect("stream");
            s.info().await.expect("info").state.messages
        })
    };
    rt.block_on(per_record_stream(&url, "old", &records, &texts));
    let dir = tempfile::tempdir().expect("tempdir");
    let trust = base.dir().join("root.pub").display().to_string();
    let on = |ledger: &str, args: &[&str]| {
        let mut all = vec!["--nats", url.as_str(), "--ledger", ledger];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--trust", trust.as_str()]);
        crate::support::run_in(dir.path(), &all)
    };
    let before = on("old", &["verify", "--json"]);
    before.expect_code(0);
    let before = before.json();
    assert_eq!(before["records"].as_u64(), Some(records.len() as u64));

    let needs = on("old", &["migrate"]);
    assert_ne!(needs.code, 0);
    assert!(needs.stderr.contains("--to"), "{}", needs.stderr);
    let migrated = on("old", &["migrate", "--json", "--to", "new"]);
    let v = migrated.ok().json();
    assert_eq!(v["sums"]["records"], before["records"], "{v}");
    assert_eq!(v["sums"]["head"], before["head"], "{v}");
    assert_eq!(v["sums"]["last_sealed"], before["last_sealed"], "{v}");
    assert!(v["sums"]["beliefs"].is_string(), "{v}");
    assert_eq!(v["ledger"], "stream DOSSIER_NEW", "{v}");
    assert_eq!(
        old_messages(),
        records.len() as u64,
        "the old stream is untouched"
    );
    let after = on("new", &["verify", "--json"]);
    after.expect_code(0);
    let after = after.json();
    assert_eq!(
        (after["head"].clone(), after["records"].clone()),
        (before["head"].clone(), before["records"].clone())
    );
    let again = on("old", &["migrate", "--to", "new"]);
    assert_ne!(again.code, 0, "the new stream exists now");
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}
