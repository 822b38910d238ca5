//! Integrity of what the SQLite file stores beside its records (docs/FORMAT.md §7.1): event
//! ids recorded twice (`duplicate_event_id`, §6.3 step 13), an idempotency index that lost
//! entries, and edits of every derived column of layout 2, each reported at its seq.

use std::path::{Path, PathBuf};

use dossier_chain::{FailureKind, TrustRoot, VerifyReport};
use dossier_log::conformance::{events, founder, init};
use dossier_log::{
    EventLog as _, PublishOutcome, Publisher, SqliteLog, seal_batch, tamper, verify_log,
};
use uuid::Uuid;

/// A ledger of the genesis batch (1–2) and three batches: `a` (3–8), `b` (9–13), `c` (14–17).
struct Ledger {
    _dir: tempfile::TempDir,
    path: PathBuf,
    id: Uuid,
}

const A: u64 = 3;
const B: u64 = 9;
const C: u64 = 14;
const HEAD: u64 = 17;

async fn ledger() -> Ledger {
    ledger_of(&[("a", 5), ("b", 4), ("c", 3)], HEAD).await
}

/// A ledger of the genesis batch and one batch of `n` events per `(tag, n)`, whose head is
/// `head`.
async fn ledger_of(batches: &[(&str, usize)], head: u64) -> Ledger {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    let log = SqliteLog::open(&path).expect("open");
    let id = init(&log).await;
    let signer = founder();
    let p = Publisher::new(&log, &signer, id);
    for (tag, n) in batches {
        p.publish(&events(tag, *n), &[]).await.expect("publish");
    }
    assert_eq!(log.head().await.expect("head").seq, head);
    Ledger {
        _dir: dir,
        path,
        id,
    }
}

async fn verify(path: &Path) -> VerifyReport {
    let log = SqliteLog::open(path).expect("open");
    verify_log(&log, TrustRoot::Pinned(founder().public()), |_| {})
        .await
        .expect("read")
}

fn failures(report: &VerifyReport) -> Vec<(u64, FailureKind)> {
    report.failures.iter().map(|f| (f.seq, f.kind)).collect()
}

/// Gap 1: the ids of one bundle's batch deleted from the idempotency index (its records left
/// alone); publishing the bundle again is refused as already recorded, not appended twice.
#[tokio::test]
async fn a_bundle_whose_ids_left_the_index_is_still_recognised() {
    let l = ledger().await;
    tamper::forget_ids(&tamper::open(&l.path), B);
    let log = SqliteLog::open(&l.path).expect("open");
    let signer = founder();
    let outcome = Publisher::new(&log, &signer, l.id)
        .publish(&events("b", 4), &[])
        .await
        .expect("publish again");
    assert_eq!(outcome, PublishOutcome::AlreadyRecorded { events: 4 });
    assert_eq!(
        log.head().await.expect("head").seq,
        HEAD,
        "nothing appended"
    );
    // The emptied column itself is a derived value that no longer agrees with the records.
    assert_eq!(
        failures(&verify(&l.path).await),
        vec![(B, FailureKind::DerivedMismatch)]
    );
}

/// Gap 1: the same bundle forced into the file a second time (a batch row written behind the
/// index's back): verification reports `duplicate_event_id` at every later occurrence, and
/// nothing else (the chain and the seals are sound).
#[tokio::test]
async fn events_forced_in_twice_are_reported_at_the_later_seqs() {
    let l = ledger().await;
    let log = SqliteLog::open(&l.path).expect("open");
    let head = log.head().await.expect("head");
    let again = events("b", 4);
    let records = seal_batch(l.id, &head, &founder(), &again).expect("batch");
    drop(log);
    tamper::append_unchecked(&tamper::open(&l.path), &records);
    let report = verify(&l.path).await;
    let want: Vec<(u64, FailureKind)> = (HEAD + 1..=HEAD + 4)
        .map(|s| (s, FailureKind::DuplicateEventId))
        .collect();
    assert_eq!(failures(&report), want, "{:#?}", report.failures);
    assert!(
        report.failures[0].detail.contains(&format!("position {B}")),
        "{}",
        report.failures[0].detail
    );
}

/// Gap 1 on a ledger that verifies: no `duplicate_event_id` (and the check sees every id: a
/// ledger with none duplicated has as many distinct ids as records).
#[tokio::test]
async fn a_sound_ledger_has_no_duplicate_ids() {
    let l = ledger().await;
    let report = verify(&l.path).await;
    assert!(report.ok(), "{:?}", report.failures);
    assert_eq!(report.records, HEAD);
}

/// One edit of a derived column and what verification must report first.
struct Edit {
    what: &'static str,
    sql: String,
    expect: (u64, FailureKind),
}

fn edits() -> Vec<Edit> {
    let e = |what, sql: String, seq, kind| Edit {
        what,
        sql,
        expect: (seq, kind),
    };
    vec![
        e(
            "batches.count",
            format!("UPDATE batches SET count = count - 1 WHERE first = {B}"),
            B + 4,
            FailureKind::BadFrame,
        ),
        e(
            "batches.seal",
            format!("UPDATE batches SET seal = zeroblob(32) WHERE first = {B}"),
            B + 4,
            FailureKind::BadFrame,
        ),
        e(
            "batches.recorded (a middle batch)",
            format!(
                "UPDATE batches SET recorded = '2001-01-01T00:00:00.000000000Z' WHERE first = {B}"
            ),
            B + 4,
            FailureKind::DerivedMismatch,
        ),
        e(
            "batches.recorded (the head's)",
            format!(
                "UPDATE batches SET recorded = '2999-01-01T00:00:00.000000000Z' WHERE first = {C}"
            ),
            HEAD,
            FailureKind::DerivedMismatch,
        ),
        e(
            "batches.ids (one id changed)",
            format!(
                "UPDATE batches SET ids = substr(ids, 1, 32) || zeroblob(16) || substr(ids, 49) WHERE first = {B}"
            ),
            B + 2,
            FailureKind::DerivedMismatch,
        ),
        e(
            "batches.ids (truncated)",
            format!("UPDATE batches SET ids = substr(ids, 1, 16) WHERE first = {C}"),
            C,
            FailureKind::DerivedMismatch,
        ),
        e(
            "batches.first",
            format!(
                "UPDATE batches SET first = first + 1 WHERE first = {C}; UPDATE records SET batch = batch + 1 WHERE batch = {C}"
            ),
            // The row's records now sit one position later: storage skips position 14.
            C,
            FailureKind::Gap,
        ),
        e(
            "records.batch",
            format!("UPDATE records SET batch = {A} WHERE seq = {}", B + 1),
            B + 1,
            FailureKind::BadFrame,
        ),
        e(
            "records.offset",
            format!(
                "UPDATE records SET offset = offset + 1 WHERE seq = {}",
                B + 2
            ),
            B + 2,
            FailureKind::BadFrame,
        ),
        e(
            "records.length",
            format!(
                "UPDATE records SET length = length - 1 WHERE seq = {}",
                B + 3
            ),
            B + 3,
            FailureKind::BadFrame,
        ),
        e(
            "records.hash",
            format!(
                "UPDATE records SET hash = zeroblob(32) WHERE seq = {}",
                A + 1
            ),
            A + 1,
            FailureKind::ChangedBytes,
        ),
        e(
            "records row deleted (index deletion)",
            format!("DELETE FROM records WHERE seq = {}", A + 2),
            A + 2,
            FailureKind::BadFrame,
        ),
        e(
            "records rows of a whole batch deleted",
            format!("DELETE FROM records WHERE batch = {C}"),
            C,
            FailureKind::BadFrame,
        ),
    ]
}

/// Gap 4: every per-batch and per-record value stored beside the frame, edited alone, is
/// reported first at the seq it describes, with its kind.
#[tokio::test]
async fn every_derived_column_edit_is_reported_at_its_seq() {
    let l = ledger().await;
    assert!(verify(&l.path).await.ok());
    let mut wrong = Vec::new();
    for (i, edit) in edits().into_iter().enumerate() {
        let copy = l.path.with_file_name(format!("edit{i}.db"));
        std::fs::copy(&l.path, &copy).expect("copy");
        tamper::open(&copy)
            .execute_batch(&edit.sql)
            .expect(edit.what);
        let report = verify(&copy).await;
        let first = failures(&report).first().copied();
        if first != Some(edit.expect) {
            wrong.push(format!(
                "{}: expected {:?} first, got {:?}",
                edit.what, edit.expect, report.failures
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Verification reads pages of at most 1,024 records, each ending before a batch that does not
/// fit whole, hashes alternate pages on two threads and checks them in order. On a ledger of
/// several pages (ten batches of 301 records), the sound ledger verifies with every record
/// counted, and one changed byte in a batch read late, on another page than the first, is
/// reported at its own seq and nowhere else.
#[tokio::test]
async fn a_change_several_pages_in_is_reported_at_its_seq() {
    let tags: Vec<String> = (0..10).map(|b| format!("page{b}")).collect();
    let batches: Vec<(&str, usize)> = tags.iter().map(|t| (t.as_str(), 300)).collect();
    let head = 2 + 10 * 301;
    let l = ledger_of(&batches, head).await;
    let path = &l.path;
    let report = verify(path).await;
    assert!(report.ok(), "{:?}", report.failures);
    assert_eq!(report.records, head);

    // The 100th record of the eighth batch (seqs 2110..=2410), past the second page.
    let seq = 2 + 7 * 301 + 100;
    let conn = tamper::open(path);
    let mut bytes = tamper::record(&conn, seq);
    // The first letter inside the body (a member name: the body stays JSON).
    let body = bytes
        .windows(8)
        .position(|w| w == b"\"body\":{")
        .expect("a body")
        + 8;
    let letter = bytes[body..]
        .iter()
        .position(|c| c.is_ascii_lowercase() && *c != b'z')
        .expect("a letter in the body")
        + body;
    bytes[letter] += 1;
    tamper::set_record(&conn, seq, &bytes);
    drop(conn);
    let report = verify(path).await;
    assert_eq!(
        failures(&report),
        vec![(seq, FailureKind::ChangedBytes)],
        "{:?}",
        report.failures
    );
    assert_eq!(report.records, head);
}
