//! Tamper campaign on SQLite (layout 2, one row per batch, docs/FORMAT.md §7.1): a ledger changed behind dossier's back in each of the ways
//! docs/FORMAT.md §6 says verification detects, one change per trial, on a copy; then
//! `dossier verify --json --checkpoint` against a checkpoint signed before the change.
//!
//! Kinds, and what must be reported (the first failure, at the seq named):
//! - **flip**: one byte of a record changed, its stored hash kept: `changed_bytes` at it;
//! - **rehash**: one byte changed and the stored hash recomputed (a consistent forgery): a
//!   failure at the record or the one after it; for the last record, a failure at it if the
//!   change breaks the record, otherwise the checkpoint;
//! - **delete**: a record removed from inside its batch row (not the last record): `gap` at it,
//!   or `bad_frame` at it when it was its row's seal;
//! - **swap**: two records exchanged (bytes and hashes), within a batch row or across two: a
//!   failure at the earlier;
//! - **duplicate**: a record replaced by a copy of the one before: `duplicate` at it;
//! - **cut inside**: the ledger truncated inside a batch (the batch row's count and seal hash
//!   rewritten to match): `incomplete_batch` at the batch's first record;
//! - **cut at a boundary**: whole batches removed from the end: the chain alone verifies
//!   (docs/FORMAT.md §8), and the checkpoint says records were removed;
//! - **derived-column edit**: one value stored beside a frame changed (docs/FORMAT.md §7.1):
//!   a batch row's `count` or `seal` (`bad_frame` at the entry the framing check fails at),
//!   `recorded` (`derived_mismatch` at its seal), one id of its `ids` (`derived_mismatch` at
//!   that record); a seq index row's `batch`, `offset` or `length` (`bad_frame` at it) or
//!   `hash` (`changed_bytes` at it);
//! - **index deletion**: a seq index row deleted (`bad_frame` at it), or a batch row's event
//!   ids deleted from the idempotency index (`derived_mismatch` at the row's first record).
//!
//! Counts: **undetected** — verification passed and the checkpoint held, or the first failure
//! was reported at another seq than the change's; nothing is lost or duplicated by a tamper
//! trial, so those stay 0.

use std::path::Path;

use dossier_log::tamper;
use rusqlite::Connection;
use serde_json::Value;

use crate::support::{
    Dossier, Rng, Tally, copy_dir, report_bundle, scale, seed, temp_dir, write_bundle,
};

/// Trials in the bounded run (the test command): at least 300.
const TRIALS: usize = 308;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Flip,
    Rehash,
    Delete,
    Swap,
    Duplicate,
    CutInside,
    CutAtBoundary,
    DerivedColumn,
    IndexDeletion,
}

const KINDS: [Kind; 9] = [
    Kind::Flip,
    Kind::Rehash,
    Kind::Delete,
    Kind::Swap,
    Kind::Duplicate,
    Kind::CutInside,
    Kind::CutAtBoundary,
    Kind::DerivedColumn,
    Kind::IndexDeletion,
];

/// What a trial must find.
#[derive(Debug)]
enum Expect {
    /// The first failure at this seq (of one of these kinds, if any are named).
    At(u64, &'static [&'static str]),
    /// The first failure at one of these seqs.
    Within(u64, u64),
    /// The chain verifies; the checkpoint does not hold.
    Checkpoint,
    /// The last record changed consistently: the chain may still verify (then the checkpoint
    /// must not hold), or the change itself breaks the record (a failure at it).
    AtOrCheckpoint(u64),
}

/// The ledger every trial copies: its data directory, record count and seal seqs.
struct Base {
    dir: tempfile::TempDir,
    records: u64,
    seals: Vec<u64>,
}

fn set_up() -> Base {
    let dir = temp_dir("dossier-campaign-tamper-");
    let d = Dossier::sqlite(dir.path());
    d.run(&["init", "--name", "tamper", "--producer", "analyst"])
        .ok();
    let mut files: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples"))
            .expect("examples")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| p.display().to_string())
            .collect();
    files.sort();
    for i in 0..6 {
        files.push(write_bundle(
            dir.path(),
            &format!("t{i}.json"),
            &report_bundle(&format!("t{i}"), 2, 3 + i),
        ));
    }
    let mut args = vec!["publish"];
    args.extend(files.iter().map(String::as_str));
    d.run(&args).ok();
    let checkpoint = dir.path().join("checkpoint.txt");
    d.run(&[
        "checkpoint",
        "--out",
        checkpoint.to_str().expect("a UTF-8 path"),
    ])
    .ok();
    let seals: Vec<u64> = d
        .run(&["log", "--json", "--type", "batch.seal"])
        .ok()
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("a JSON line")["seq"]
                .as_u64()
                .expect("seq")
        })
        .collect();
    let records = *seals.last().expect("a seal");
    Base {
        dir,
        records,
        seals,
    }
}

/// Where record `seq` is: its batch row's first seq and its index in that row.
fn place(db: &Connection, seq: u64) -> (u64, usize) {
    let first = tamper::batch_of(db, seq);
    (first, (seq - first) as usize)
}

/// Record `seq`'s bytes and stored hash.
fn row(db: &Connection, seq: u64) -> (Vec<u8>, dossier_chain::Hash) {
    let (first, i) = place(db, seq);
    tamper::entries(db, first).swap_remove(i)
}

/// Replaces record `seq` inside its batch row (the row's index rows rewritten to agree).
fn set_row(db: &Connection, seq: u64, bytes: &[u8], hash: dossier_chain::Hash) {
    let (first, i) = place(db, seq);
    let mut all = tamper::entries(db, first);
    all[i] = (bytes.to_vec(), hash);
    tamper::set_entries(db, first, &all);
}

/// Applies one change of `kind` to the ledger at `db`; says what was done and what must be
/// found.
fn tamper(db: &Path, base: &Base, kind: Kind, rng: &mut Rng) -> (String, Expect) {
    let conn = tamper::open(db);
    let n = base.records;
    // A record after the genesis batch (2..=n), chosen at random.
    let any = |rng: &mut Rng, upto: u64| 3 + rng.below(upto - 2);
    match kind {
        Kind::Flip => {
            let seq = any(rng, n);
            let (mut bytes, hash) = row(&conn, seq);
            let at = rng.below(bytes.len() as u64) as usize;
            bytes[at] ^= 1 << rng.below(8);
            set_row(&conn, seq, &bytes, hash);
            (
                format!("flip a bit of record {seq} (byte {at})"),
                Expect::At(seq, &["changed_bytes"]),
            )
        }
        Kind::Rehash => {
            let seq = any(rng, n);
            let (mut bytes, _) = row(&conn, seq);
            let at = rng.below(bytes.len() as u64) as usize;
            bytes[at] ^= 1 << rng.below(8);
            let hash = dossier_chain::Hash::of_record(&bytes);
            set_row(&conn, seq, &bytes, hash);
            let what = format!("flip a bit of record {seq} (byte {at}) and rehash it");
            if seq == n {
                (what, Expect::AtOrCheckpoint(seq))
            } else {
                (what, Expect::Within(seq, seq + 1))
            }
        }
        Kind::Delete => {
            // Removed from inside its batch row: the records after it in the row move up. A
            // deleted seal leaves its row one record short: `bad_frame` there.
            let seq = any(rng, n - 1);
            let (first, i) = place(&conn, seq);
            let mut all = tamper::entries(&conn, first);
            all.remove(i);
            tamper::set_entries(&conn, first, &all);
            (
                format!("delete record {seq} from its batch row"),
                Expect::At(seq, &["gap", "bad_frame"]),
            )
        }
        Kind::Swap => {
            let a = any(rng, n - 1);
            let b = a + 1 + rng.below(n - a);
            let (ra, rb) = (row(&conn, a), row(&conn, b));
            set_row(&conn, a, &rb.0, rb.1);
            set_row(&conn, b, &ra.0, ra.1);
            (format!("swap records {a} and {b}"), Expect::At(a, &[]))
        }
        Kind::Duplicate => {
            let seq = any(rng, n - 1) + 1;
            let before = row(&conn, seq - 1);
            set_row(&conn, seq, &before.0, before.1);
            (
                format!("replace record {seq} by a copy of record {}", seq - 1),
                Expect::At(seq, &["duplicate"]),
            )
        }
        Kind::CutInside => {
            // Keep records up to `keep`, inside a batch (not a seal); the row's count and seal
            // hash are rewritten to match (a careful tamperer).
            let keep = loop {
                let k = any(rng, n - 1);
                if !base.seals.contains(&k) {
                    break k;
                }
            };
            tamper::truncate_after(&conn, keep);
            let batch_start = base
                .seals
                .iter()
                .rev()
                .find(|&&s| s < keep)
                .map_or(1, |s| s + 1);
            (
                format!("truncate after record {keep}, inside the batch starting at {batch_start}"),
                Expect::At(batch_start, &["incomplete_batch"]),
            )
        }
        Kind::DerivedColumn => {
            let seq = any(rng, n);
            let first = tamper::batch_of(&conn, seq);
            let seal = base
                .seals
                .iter()
                .copied()
                .find(|&s| s >= seq)
                .expect("a seal closes every batch");
            let (what, sql, expect): (String, String, Expect) = match rng.below(8) {
                0 => (
                    format!("batch {first}: count one less"),
                    format!("UPDATE batches SET count = count - 1 WHERE first = {first}"),
                    // One entry more than the row says: the first entry past it, the seal.
                    Expect::At(seal, &["bad_frame"]),
                ),
                1 => (
                    format!("batch {first}: seal hash zeroed"),
                    format!("UPDATE batches SET seal = zeroblob(32) WHERE first = {first}"),
                    Expect::At(seal, &["bad_frame"]),
                ),
                2 => (
                    format!("batch {first}: recorded time changed"),
                    format!(
                        "UPDATE batches SET recorded = '2001-02-03T04:05:06.000000000Z' WHERE first = {first}"
                    ),
                    Expect::At(seal, &["derived_mismatch"]),
                ),
                3 => {
                    let at = (seq - first) * 16;
                    (
                        format!("batch {first}: the stored id of record {seq} changed"),
                        format!(
                            "UPDATE batches SET ids = substr(ids, 1, {at}) || randomblob(16) || substr(ids, {}) WHERE first = {first}",
                            at + 17
                        ),
                        Expect::At(seq, &["derived_mismatch"]),
                    )
                }
                4 => (
                    format!("record {seq}: its index row names another batch"),
                    format!("UPDATE records SET batch = 1 WHERE seq = {seq}"),
                    Expect::At(seq, &["bad_frame"]),
                ),
                5 => (
                    format!("record {seq}: its index row's offset moved"),
                    format!("UPDATE records SET offset = offset + 1 WHERE seq = {seq}"),
                    Expect::At(seq, &["bad_frame"]),
                ),
                6 => (
                    format!("record {seq}: its index row's length changed"),
                    format!("UPDATE records SET length = length - 1 WHERE seq = {seq}"),
                    Expect::At(seq, &["bad_frame"]),
                ),
                _ => (
                    format!("record {seq}: its stored hash changed"),
                    format!("UPDATE records SET hash = randomblob(32) WHERE seq = {seq}"),
                    Expect::At(seq, &["changed_bytes"]),
                ),
            };
            conn.execute_batch(&sql).expect("edit a derived column");
            (format!("derived-column edit: {what}"), expect)
        }
        Kind::IndexDeletion => {
            let seq = any(rng, n);
            if rng.below(2) == 0 {
                conn.execute("DELETE FROM records WHERE seq = ?1", [seq])
                    .expect("delete an index row");
                (
                    format!("index deletion: the seq index row of record {seq}"),
                    Expect::At(seq, &["bad_frame"]),
                )
            } else {
                let first = tamper::batch_of(&conn, seq);
                tamper::forget_ids(&conn, first);
                (
                    format!("index deletion: the event ids of batch {first}"),
                    Expect::At(first, &["derived_mismatch"]),
                )
            }
        }
        Kind::CutAtBoundary => {
            let ends: Vec<u64> = base.seals[..base.seals.len() - 1].to_vec();
            let keep = ends[rng.below(ends.len() as u64) as usize];
            tamper::truncate_after(&conn, keep);
            (
                format!("truncate after the seal at {keep}"),
                Expect::Checkpoint,
            )
        }
    }
}

/// Whether `verify`'s report finds what `expect` says.
fn found(report: &Value, expect: &Expect) -> Result<(), String> {
    let failures = report["failures"].as_array().cloned().unwrap_or_default();
    let first = failures.first().map(|f| {
        (
            f["seq"].as_u64().unwrap_or(0),
            f["kind"].as_str().unwrap_or("").to_owned(),
        )
    });
    let checkpoint_ok = report["checkpoint"]["ok"].as_bool();
    match (expect, first) {
        (Expect::Checkpoint | Expect::AtOrCheckpoint(_), None) if checkpoint_ok == Some(false) => {
            Ok(())
        }
        (Expect::AtOrCheckpoint(seq), Some((at, _))) if at == *seq => Ok(()),
        (Expect::Checkpoint, other) => Err(format!(
            "expected the checkpoint alone to fail, got first failure {other:?}, checkpoint ok {checkpoint_ok:?}"
        )),
        (Expect::At(seq, kinds), Some((at, kind)))
            if at == *seq && (kinds.is_empty() || kinds.contains(&kind.as_str())) =>
        {
            Ok(())
        }
        (Expect::Within(a, b), Some((at, _))) if (*a..=*b).contains(&at) => Ok(()),
        (expect, first) => Err(format!("expected {expect:?}, first failure {first:?}")),
    }
}

#[test]
fn tamper_on_sqlite() {
    let seed = seed();
    let mut tally = Tally::new("tamper (SQLite, verify --checkpoint)", seed);
    let mut rng = Rng::new(seed);
    let base = set_up();
    let work = temp_dir("dossier-campaign-tamper-trial-");
    let trials = TRIALS * scale();
    for i in 0..trials {
        let kind = KINDS[i % KINDS.len()];
        let trial = work.path().join(format!("t{i}"));
        copy_dir(base.dir.path(), &trial, &["views.db", "auditor.db"]);
        let (what, expect) = tamper(&trial.join("ledger.db"), &base, kind, &mut rng);
        let checkpoint = base.dir.path().join("checkpoint.txt");
        let out = Dossier::sqlite(&trial).run(&[
            "verify",
            "--json",
            "--checkpoint",
            checkpoint.to_str().expect("a UTF-8 path"),
        ]);
        tally.runs += 1;
        // Exit 5 with the report on standard output.
        let report: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
        if out.code != 5 {
            tally.undetected(format!(
                "{what}: verify exited {} ({})",
                out.code,
                out.stderr.trim()
            ));
        } else if let Err(e) = found(&report, &expect) {
            tally.undetected(format!("{what}: {e}"));
        }
        std::fs::remove_dir_all(&trial).expect("remove the trial's copy");
    }
    tally.note(format!(
        "{trials} trials over a ledger of {} records in {} batches",
        base.records,
        base.seals.len()
    ));
    tally.finish(300);
}
