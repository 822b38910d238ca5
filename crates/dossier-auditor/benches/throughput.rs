//! Auditor throughput against `verify_log` on the same SQLite ledger.
//!
//! Builds a ledger of N events (batches of 999 events + seal, ~600-byte bodies) in a temporary
//! directory, then, alternating, replays it with `dossier_log::verify_log` (the work of
//! `dossier verify`) and with a fresh [`Auditor`] in `once` mode (the same checks, plus the
//! Merkle tree and one signed checkpoint), three times each, and reports records/s and the
//! ratio of the best runs (target ≥ 0.9).
//!
//! Usage: `cargo bench -p dossier-auditor --bench throughput [-- --events 200000]`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use dossier_auditor::{Auditor, Options};
use dossier_chain::{BatchBuilder, Genesis, Signer, TrustRoot};
use dossier_log::{EventLog, SqliteLog, verify_log};
use time::OffsetDateTime;
use uuid::Uuid;

fn founder() -> Signer {
    Signer::from_secret([1; 32], "founder")
}

fn main() {
    let mut events: usize = 200_000;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--events") {
        events = args[i + 1].parse().unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = SqliteLog::open(&dir.path().join("ledger.db")).unwrap();
    let ledger = Uuid::new_v4();
    let signer = founder();
    rt.block_on(async {
        log.append(
            0,
            &Genesis::build(ledger, "bench", &signer, OffsetDateTime::now_utc()).unwrap(),
            &[],
        )
        .await
        .unwrap();
        let filler = "x".repeat(560);
        let mut done = 0;
        while done < events {
            let head = log.head().await.unwrap();
            let mut b = BatchBuilder::new(
                ledger,
                &head,
                OffsetDateTime::now_utc(),
                &signer,
                Uuid::new_v4(),
            );
            for i in 0..999.min(events - done) {
                let body = format!("{{\"n\":{},\"text\":\"{filler}\"}}", done + i);
                b.push(
                    "note.recorded",
                    1,
                    &format!("note:{}", done + i),
                    "TLP:GREEN",
                    body.as_bytes(),
                )
                .unwrap();
            }
            done += b.len();
            let records = b.seal().unwrap();
            log.append(head.seq, &records, &[]).await.unwrap();
        }
    });
    let records = rt.block_on(log.head()).unwrap().seq;
    println!("ledger: {records} records ({events} events)");
    let mut best_verify = f64::MAX;
    let mut best_audit = f64::MAX;
    for round in 0..3 {
        let t = Instant::now();
        let report = rt
            .block_on(verify_log(&log, TrustRoot::Pinned(signer.public()), |_| {}))
            .unwrap();
        assert!(report.ok());
        let v = t.elapsed().as_secs_f64();
        best_verify = best_verify.min(v);

        let store = dir.path().join(format!("auditor-{round}.db"));
        let t = Instant::now();
        let options = Options {
            every: u64::MAX,
            ..Options::default()
        };
        let mut a = Auditor::open(
            &log,
            &store,
            founder(),
            TrustRoot::Pinned(signer.public()),
            options,
        )
        .unwrap();
        let r = rt.block_on(a.once()).unwrap();
        assert!(r.healthy && r.verified == records);
        let s = t.elapsed().as_secs_f64();
        best_audit = best_audit.min(s);
        println!(
            "round {round}: verify_log {:.0} records/s ({v:.2}s), auditor {:.0} records/s ({s:.2}s)",
            records as f64 / v,
            records as f64 / s
        );
    }
    println!(
        "best: verify_log {:.0} records/s, auditor {:.0} records/s, ratio {:.2} (target >= 0.9)",
        records as f64 / best_verify,
        records as f64 / best_audit,
        best_verify / best_audit
    );
}
