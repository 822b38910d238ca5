//! Throughput of the SQLite backend, reported beside a raw baseline measured in the same run.
//!
//! - **Append**: events/s publishing batches of 1, 100 and 999 events (+ seal = 1,000 records)
//!   of ~600-byte bodies through the full path (chaining, signing, the event-id index, one
//!   transaction per batch with `synchronous=FULL`), checked (`publish`, a lookup per event) and
//!   pipelined (`publish_all`), against plain `rusqlite` inserts of the same record bytes in
//!   transactions of the same size with the same settings.
//! - **Verify**: events/s and MB/s replaying a ledger of N events (batches of 1,000) through
//!   the full verifier, against a raw read of the same rows, and the verifier's peak memory
//!   (VmHWM of a child process doing nothing else) for 100k and 1M events; and what loading the
//!   in-memory event-id index costs at open (time and peak memory of a child opening the
//!   ledger, with and without the first lookup that loads it).
//! - Append also against raw `rusqlite` inserting the same records framed, one row per batch
//!   (dossier's own overhead over its storage layout).
//!
//! Usage: `cargo bench -p dossier-log --bench sqlite [-- --events 1000000]`. `-- --build-ledger
//! PATH N` writes a ledger of N events; `-- --verify-child PATH` verifies one and prints its
//! peak resident memory in KiB (time it from outside to compare two builds on one file).

/// Ledger helpers and the raw `rusqlite` baselines (shared with the UmaDB comparison in
/// `benches/umadb`).
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    append_dossier, append_raw, append_raw_framed, events, events_arg, founder, new_ledger, rt,
};
use dossier_chain::TrustRoot;
use dossier_log::{EventLog, Publisher, SqliteLog, verify_log};
use rusqlite::Connection;

/// Builds a ledger of `n` events in batches of 999 (+ seal) without timing it.
fn build_ledger(path: &Path, n: usize) {
    let (log, ledger) = new_ledger(path);
    let signer = founder();
    rt().block_on(async {
        let p = Publisher::new(&log, &signer, ledger);
        let mut done = 0;
        let mut b = 0;
        while done < n {
            let k = (n - done).min(999);
            p.publish(&events(b, k), &[]).await.expect("publish");
            done += k;
            b += 1;
        }
    });
}

fn raw_read(path: &Path) -> (u64, u64, Duration) {
    let conn = Connection::open(path).expect("open");
    let started = Instant::now();
    // The batch rows' frames, split into records (no checks, no copies).
    let mut stmt = conn
        .prepare("SELECT frame FROM batches ORDER BY first")
        .expect("stmt");
    let mut rows = stmt.query([]).expect("query");
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Some(row) = rows.next().expect("row") {
        let frame = row.get_ref(0).expect("frame").as_blob().expect("blob");
        for r in dossier_chain::Frames::new(frame, dossier_chain::Declared::default()) {
            n += 1;
            bytes += r.expect("entry").len() as u64;
        }
    }
    (n, bytes, started.elapsed())
}

fn verify_once(path: &Path) -> (dossier_chain::VerifyReport, Duration) {
    let log = SqliteLog::open(path).expect("open");
    let started = Instant::now();
    let report = rt()
        .block_on(verify_log(
            &log,
            TrustRoot::Pinned(founder().public()),
            |_| {},
        ))
        .expect("verify");
    assert!(
        report.ok(),
        "bench ledger must verify: {:?}",
        report.failures.first()
    );
    (report, started.elapsed())
}

use dossier_testkit::{peak_rss_kib, run_self_child};

/// Verifies in a child process and returns its peak resident memory in KiB.
fn verify_peak_memory(path: &Path) -> u64 {
    run_self_child(&[std::ffi::OsStr::new("--verify-child"), path.as_os_str()])
        .trim()
        .parse()
        .expect("VmHWM")
}

/// Opens the ledger and, with `load`, looks one id up (which loads every event id into the
/// in-memory index); prints the milliseconds taken and the peak resident memory in KiB.
fn open_child(path: &Path, load: bool) {
    let started = Instant::now();
    let log = SqliteLog::open(path).expect("open");
    let rt = rt();
    rt.block_on(log.head()).expect("head");
    if load {
        rt.block_on(log.lookup(&[dossier_chain::event_id("x", "y")]))
            .expect("lookup");
    }
    println!("{} {}", started.elapsed().as_millis(), peak_rss_kib());
}

/// (milliseconds, peak KiB) of [`open_child`] in a child process.
fn open_cost(path: &Path, load: bool) -> (u64, u64) {
    let flag = if load {
        "--open-load-child"
    } else {
        "--open-child"
    };
    let out = run_self_child(&[std::ffi::OsStr::new(flag), path.as_os_str()]);
    let mut it = out
        .split_whitespace()
        .map(|w| w.parse::<u64>().expect("a number"));
    (it.next().expect("ms"), it.next().expect("KiB"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--verify-child") {
        verify_once(Path::new(&args[i + 1]));
        println!("{}", peak_rss_kib());
        return;
    }
    // `--build-ledger PATH N`: writes a ledger of N events and stops (for timing
    // `--verify-child PATH` of two builds on one file).
    if let Some(i) = args.iter().position(|a| a == "--build-ledger") {
        let n = args[i + 2].parse().expect("an event count");
        build_ledger(Path::new(&args[i + 1]), n);
        return;
    }
    for (flag, load) in [("--open-child", false), ("--open-load-child", true)] {
        if let Some(i) = args.iter().position(|a| a == flag) {
            open_child(Path::new(&args[i + 1]), load);
            return;
        }
    }
    let big = events_arg(&args);
    let dir = tempfile::tempdir().expect("tempdir");

    let verify_only = args.iter().any(|a| a == "--verify-only");
    if !verify_only {
        bench_append(dir.path());
    }
    if args.iter().any(|a| a == "--append-only") {
        return;
    }
    bench_verify(dir.path(), big);
}

fn bench_append(dir: &Path) {
    println!(
        "== append (events of ~600 B body; dossier = full publish path; raw = plain rusqlite inserts of the same record bytes)"
    );
    println!(
        "   checked   = Publisher::publish per batch: index lookup per event, build, append (the library default)"
    );
    println!(
        "   pipelined = Publisher::publish_all, optimistic: the next batch is built while one is appended, the"
    );
    println!(
        "               index refuses repeats (what `dossier publish` does after its own validation lookup)"
    );
    println!(
        "   raw framed = plain rusqlite inserting the same records framed (dossier-batch/1), one row per batch"
    );
    println!(
        "   CPU = CPU microseconds per event of the whole process (every thread), pipelined and framed"
    );
    println!(
        "{:>6} {:>9} {:>14} {:>14} {:>14} {:>14} {:>7} {:>7} {:>7} {:>8} {:>8}",
        "batch",
        "events",
        "checked ev/s",
        "pipelined ev/s",
        "raw ev/s",
        "framed ev/s",
        "pip/raw",
        "pip/frm",
        "chk/raw",
        "pip CPU",
        "frm CPU"
    );
    for (batch, total) in [(1usize, 2_000usize), (100, 100_000), (999, 300_000)] {
        let (checked, records) = append_dossier(dir, batch, total, false);
        let (pipelined, _) = append_dossier(dir, batch, total, true);
        let raw = append_raw(dir, batch, &records).per_s;
        let framed_rate = append_raw_framed(dir, batch, &records);
        let framed = framed_rate.per_s;
        let (checked, pipelined_cpu, pipelined) =
            (checked.per_s, pipelined.cpu_us, pipelined.per_s);
        println!(
            "{batch:>6} {total:>9} {checked:>14.0} {pipelined:>14.0} {raw:>14.0} {framed:>14.0} {:>7.2} {:>7.2} {:>7.2} {pipelined_cpu:>8.1} {:>8.1}",
            pipelined / raw,
            pipelined / framed,
            checked / raw,
            framed_rate.cpu_us
        );
    }
}

fn bench_verify(dir: &Path, big: usize) {
    println!("\n== verify (ledger built in batches of 999 events + seal)");
    println!(
        "{:>9} {:>14} {:>10} {:>14} {:>10} {:>7} {:>12}",
        "events", "dossier ev/s", "MB/s", "raw read ev/s", "MB/s", "ratio", "peak RSS"
    );
    for n in [100_000usize, big] {
        let path = dir.join(format!("verify-{n}.db"));
        build_ledger(&path, n);
        let (rn, rbytes, rt_) = raw_read(&path);
        let (report, t) = verify_once(&path);
        let ours = report.records as f64 / t.as_secs_f64();
        let raw = rn as f64 / rt_.as_secs_f64();
        let peak = verify_peak_memory(&path);
        println!(
            "{n:>9} {ours:>14.0} {:>10.1} {raw:>14.0} {:>10.1} {:>7.2} {:>9.1} MiB",
            report.bytes as f64 / 1e6 / t.as_secs_f64(),
            rbytes as f64 / 1e6 / rt_.as_secs_f64(),
            ours / raw,
            peak as f64 / 1024.0
        );
        let (open_ms, open_kib) = open_cost(&path, false);
        let (load_ms, load_kib) = open_cost(&path, true);
        println!(
            "          id index: open {open_ms} ms / {:.1} MiB peak; open + load every event id {load_ms} ms / {:.1} MiB peak",
            open_kib as f64 / 1024.0,
            load_kib as f64 / 1024.0
        );
        let _ = std::fs::remove_file(&path);
    }
}
