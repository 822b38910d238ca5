//! Append throughput of dossier's embedded ledger against UmaDB (`umadb-core`, a Rust embedded
//! event store that syncs each commit to disk), in one run on the same payloads:
//!
//! - **dossier**: `Publisher::publish_all` (what `dossier publish` does), batches of 999 events
//!   of ~600-byte bodies, each sealed (1,000 records, one `synchronous=FULL` transaction);
//! - **UmaDB**: the same record bytes (seals included) appended 1,000 to a commit;
//! - **per-row rusqlite**: the same record bytes, one row each, 1,000 to a transaction;
//! - **framed rusqlite**: the same records framed (`dossier-batch/1`), one row per batch.
//!
//! At 100k and 1M events (`--events N` replaces 1M), then batches of one event (2,000) against
//! per-row rusqlite. Usage, from the repository root:
//! `cargo run --release --manifest-path benches/umadb/Cargo.toml --target-dir target -- [--events N]`.

#[path = "../../../crates/dossier-log/benches/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Clock, Rate, append_dossier, append_raw, append_raw_framed, events_arg};
use umadb_core::db::UmaDb;
use umadb_core::mvcc::{Mvcc, StorageOptions};
use umadb_dcb::{DcbEvent, DcbEventStoreSync};

/// Events per dossier batch (with its seal, 1,000 records: the batch limit).
const BATCH: usize = 999;

/// Appends `records` to a new UmaDB store, `per_commit` to a commit; returns events/s counted
/// as dossier counts them (`batch` events per `batch + 1` records).
fn append_umadb(dir: &Path, batch: usize, records: &[Vec<u8>]) -> Rate {
    let path = dir.join(format!("uma-{batch}.db"));
    let mvcc = Mvcc::new(false, StorageOptions::default().db_path(&path)).expect("umadb open");
    let db = UmaDb::from_arc(Arc::new(mvcc));
    let per_commit = batch + 1;
    // Built before the clock starts, as dossier's events are.
    let commits: Vec<Vec<DcbEvent>> = records
        .chunks(per_commit)
        .map(|chunk| {
            chunk
                .iter()
                .map(|r| DcbEvent {
                    event_type: "dossier.record".to_owned(),
                    data: r.clone(),
                    ..DcbEvent::default()
                })
                .collect()
        })
        .collect();
    let clock = Clock::start();
    for events in commits {
        db.append(events, None, None).expect("umadb append");
    }
    let rate = clock.rate(records.len() / per_commit * batch);
    drop(db);
    let _ = std::fs::remove_file(&path);
    rate
}

fn remove_dbs(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("bench dir").flatten() {
        let _ = std::fs::remove_file(entry.path());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let big = events_arg(&args);
    let dir = tempfile::tempdir().expect("tempdir");
    println!("== append, batches of {BATCH} events + seal, synchronous=FULL");
    println!("   events/s (CPU µs per event, every thread of the process)");
    println!(
        "{:>9} {:>16} {:>16} {:>16} {:>16} {:>8} {:>8} {:>8}",
        "events", "dossier", "UmaDB", "per-row", "framed", "d/UmaDB", "d/row", "d/framed"
    );
    for total in [100_000usize, big] {
        let total = total / BATCH * BATCH;
        let (dossier, records) = append_dossier(dir.path(), BATCH, total, true);
        remove_dbs(dir.path());
        let uma = append_umadb(dir.path(), BATCH, &records);
        let row = append_raw(dir.path(), BATCH, &records);
        remove_dbs(dir.path());
        let framed = append_raw_framed(dir.path(), BATCH, &records);
        remove_dbs(dir.path());
        println!(
            "{total:>9} {} {} {} {} {:>8.2} {:>8.2} {:>8.2}",
            show(dossier),
            show(uma),
            show(row),
            show(framed),
            dossier.per_s / uma.per_s,
            dossier.per_s / row.per_s,
            dossier.per_s / framed.per_s
        );
    }
    println!("\n== append, batches of 1 event + seal");
    println!(
        "{:>9} {:>16} {:>16} {:>16} {:>8} {:>8}",
        "events", "dossier", "UmaDB", "per-row", "d/UmaDB", "d/row"
    );
    let total = 2_000;
    let (dossier, records) = append_dossier(dir.path(), 1, total, true);
    remove_dbs(dir.path());
    let uma = append_umadb(dir.path(), 1, &records);
    let row = append_raw(dir.path(), 1, &records);
    remove_dbs(dir.path());
    println!(
        "{total:>9} {} {} {} {:>8.2} {:>8.2}",
        show(dossier),
        show(uma),
        show(row),
        dossier.per_s / uma.per_s,
        dossier.per_s / row.per_s
    );
}

/// `events/s (CPU µs)`, 16 characters wide.
fn show(r: Rate) -> String {
    format!("{:>16}", format!("{:.0} ({:.1})", r.per_s, r.cpu_us))
}
