//! What the append benchmarks share: a new ledger, the events (~600-byte bodies), and the raw
//! `rusqlite` baselines (the same record bytes dossier wrote, inserted with dossier's pragmas
//! and no chaining, signing, index rows or checks). Included by `benches/sqlite.rs` and by the
//! UmaDB comparison (`benches/umadb`, outside the workspace).

use std::path::Path;
use std::time::Instant;

use dossier_chain::{Genesis, Signer};
use dossier_log::{EventLog, PendingEvent, Publisher, SqliteLog};
use rusqlite::{Connection, params};
use time::OffsetDateTime;
use uuid::Uuid;

/// The founding key of every bench ledger (the conformance suite's).
pub fn founder() -> Signer {
    dossier_log::conformance::founder()
}

/// `n` events of ~600-byte bodies (the conformance suite's generator).
pub fn events(tag: usize, n: usize) -> Vec<PendingEvent> {
    dossier_log::conformance::events(&format!("b{tag}"), n)
}

/// A runtime on the calling thread.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A new ledger at `path` holding its genesis.
pub fn new_ledger(path: &Path) -> (SqliteLog, Uuid) {
    let log = SqliteLog::open(path).expect("open");
    let ledger = Uuid::new_v4();
    let genesis =
        Genesis::build(ledger, "bench", &founder(), OffsetDateTime::now_utc()).expect("genesis");
    rt().block_on(log.append(0, &genesis, &[]))
        .expect("genesis");
    (log, ledger)
}

/// Publishes `total` events in batches of `batch`; returns (events/s, record bytes written).
pub fn append_dossier(
    dir: &Path,
    batch: usize,
    total: usize,
    optimistic: bool,
) -> (f64, Vec<Vec<u8>>) {
    let path = dir.join(format!("append-{batch}-{optimistic}.db"));
    let (log, ledger) = new_ledger(&path);
    let signer = founder();
    let rt = rt();
    let batches: Vec<_> = (0..total / batch).map(|b| events(b, batch)).collect();
    let started = Instant::now();
    rt.block_on(async {
        if optimistic {
            let p = Publisher::new(&log, &signer, ledger).optimistic(true);
            let owned = batches.into_iter().map(|evs| (evs, Vec::new())).collect();
            p.publish_all(owned).await.expect("publish_all");
        } else {
            let p = Publisher::new(&log, &signer, ledger);
            for evs in &batches {
                p.publish(evs, &[]).await.expect("publish");
            }
        }
    });
    let rate = total as f64 / started.elapsed().as_secs_f64();
    let records = rt
        .block_on(log.read(3, usize::MAX))
        .expect("read")
        .into_iter()
        .map(|r| r.bytes)
        .collect();
    (rate, records)
}

/// Plain rusqlite: the same record bytes, the same transaction sizes, a minimal table.
pub fn append_raw(dir: &Path, batch: usize, records: &[Vec<u8>]) -> f64 {
    let path = dir.join(format!("raw-{batch}.db"));
    let conn = Connection::open(&path).expect("open");
    // The ledger's page size (`SqliteLog::open`).
    conn.pragma_update(None, "page_size", 16_384)
        .expect("page size");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    conn.pragma_update(None, "cache_size", -65_536)
        .expect("cache");
    conn.pragma_update(None, "wal_autocheckpoint", 16_384)
        .expect("checkpoint");
    conn.execute_batch("CREATE TABLE records (seq INTEGER PRIMARY KEY, bytes BLOB NOT NULL)")
        .expect("table");
    let mut conn = conn;
    let per_tx = batch + 1; // the same records dossier wrote, seals included
    let started = Instant::now();
    for (i, chunk) in records.chunks(per_tx).enumerate() {
        let tx = conn.transaction().expect("tx");
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO records (seq, bytes) VALUES (?1, ?2)")
                .expect("stmt");
            for (j, r) in chunk.iter().enumerate() {
                stmt.execute(params![(i * per_tx + j) as i64 + 1, r])
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    (records.len() / per_tx * batch) as f64 / started.elapsed().as_secs_f64()
}

/// Raw `rusqlite` inserting the same records framed, one row per batch (dossier's layout without
/// its chaining, signing, index rows and checks), with the same settings.
pub fn append_raw_framed(dir: &Path, batch: usize, records: &[Vec<u8>]) -> f64 {
    let path = dir.join(format!("raw-framed-{batch}.db"));
    let mut conn = Connection::open(&path).expect("open");
    conn.pragma_update(None, "page_size", 16_384)
        .expect("page size");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    conn.pragma_update(None, "cache_size", -65_536)
        .expect("cache");
    conn.pragma_update(None, "wal_autocheckpoint", 16_384)
        .expect("checkpoint");
    conn.execute_batch("CREATE TABLE batches (first INTEGER PRIMARY KEY, frame BLOB NOT NULL)")
        .expect("table");
    let per_tx = batch + 1;
    let started = Instant::now();
    let mut frame = Vec::new();
    for (i, chunk) in records.chunks(per_tx).enumerate() {
        frame.clear();
        dossier_chain::frame_batch(chunk.iter().map(Vec::as_slice), &mut frame).expect("frame");
        let tx = conn.transaction().expect("tx");
        tx.prepare_cached("INSERT INTO batches (first, frame) VALUES (?1, ?2)")
            .expect("stmt")
            .execute(params![(i * per_tx) as i64 + 1, frame])
            .expect("insert");
        tx.commit().expect("commit");
    }
    (records.len() / per_tx * batch) as f64 / started.elapsed().as_secs_f64()
}
