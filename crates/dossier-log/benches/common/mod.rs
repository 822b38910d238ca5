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
) -> (Rate, Vec<Vec<u8>>) {
    let path = dir.join(format!("append-{batch}-{optimistic}.db"));
    let (log, ledger) = new_ledger(&path);
    let signer = founder();
    let rt = rt();
    let batches: Vec<_> = (0..total / batch).map(|b| events(b, batch)).collect();
    let clock = Clock::start();
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
    let rate = clock.rate(total);
    let records = rt
        .block_on(log.read(3, usize::MAX))
        .expect("read")
        .into_iter()
        .map(|r| r.bytes)
        .collect();
    (rate, records)
}

/// Events per second, and the CPU time the whole process spent per event meanwhile (all its
/// threads: on a host whose cores are shared, the figure that does not depend on the others).
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    /// Events per second of wall time.
    pub per_s: f64,
    /// CPU microseconds (user + system) per event.
    pub cpu_us: f64,
}

/// Wall and CPU time from a start.
pub struct Clock {
    wall: Instant,
    cpu: f64,
}

impl Clock {
    /// Starts both clocks.
    pub fn start() -> Clock {
        Clock {
            wall: Instant::now(),
            cpu: cpu_seconds(),
        }
    }

    /// The rate of `events` done since the start.
    pub fn rate(&self, events: usize) -> Rate {
        let cpu = cpu_seconds() - self.cpu;
        Rate {
            per_s: events as f64 / self.wall.elapsed().as_secs_f64(),
            cpu_us: cpu * 1e6 / events as f64,
        }
    }
}

/// CPU seconds (user + system, every thread) this process has used: `/proc/self/stat`'s
/// `utime` and `stime`, in clock ticks of 1/100 s (Linux's `USER_HZ`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name (which may hold spaces) start with the state, field 3.
    let rest = stat.rsplit_once(") ").expect("stat fields").1;
    let field = |n: usize| -> u64 {
        rest.split(' ')
            .nth(n - 3)
            .and_then(|f| f.parse().ok())
            .expect("a tick count")
    };
    (field(14) + field(15)) as f64 / 100.0
}

/// A new database with the ledger's settings (`SqliteLog::open`: 16 KiB pages, WAL,
/// `synchronous=FULL`, a 64 MiB cache, the same checkpoint interval).
fn raw_connection(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open");
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
    conn
}

/// The `--events N` argument, 1,000,000 without it.
pub fn events_arg(args: &[String]) -> usize {
    args.iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1_000_000)
}

/// Plain rusqlite: the same record bytes, the same transaction sizes, a minimal table.
pub fn append_raw(dir: &Path, batch: usize, records: &[Vec<u8>]) -> Rate {
    let path = dir.join(format!("raw-{batch}.db"));
    let mut conn = raw_connection(&path);
    conn.execute_batch("CREATE TABLE records (seq INTEGER PRIMARY KEY, bytes BLOB NOT NULL)")
        .expect("table");
    let per_tx = batch + 1; // the same records dossier wrote, seals included
    let clock = Clock::start();
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
    clock.rate(records.len() / per_tx * batch)
}

/// Raw `rusqlite` inserting the same records framed, one row per batch (dossier's layout without
/// its chaining, signing, index rows and checks), with the same settings.
pub fn append_raw_framed(dir: &Path, batch: usize, records: &[Vec<u8>]) -> Rate {
    let path = dir.join(format!("raw-framed-{batch}.db"));
    let mut conn = raw_connection(&path);
    conn.execute_batch("CREATE TABLE batches (first INTEGER PRIMARY KEY, frame BLOB NOT NULL)")
        .expect("table");
    let per_tx = batch + 1;
    let clock = Clock::start();
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
    clock.rate(records.len() / per_tx * batch)
}
