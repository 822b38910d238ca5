//! Raw export and import against real SQLite ledgers: the golden ledger exported byte for byte
//! as the golden vector, imported back, and every kind of damage refused at its seq with
//! nothing of the damaged batch on written.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use dossier_app::export::{ExportProblem, ImportProblem, check, export, import};
use dossier_app::{AppError, ErrorKind};
use dossier_chain::{
    EncodedRecord, EventId, FailureKind, Hash, RecordView, TrustRoot, control, parse_public_hex,
};
use dossier_export::{Header, Reader, Section, Writer};
use dossier_log::{EventLog as _, SqliteLog};

const FOUNDING_KEY: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors")
}

fn trust() -> TrustRoot {
    TrustRoot::Pinned(parse_public_hex(FOUNDING_KEY).unwrap())
}

/// The golden ledger's founding key (a test key), which signs its checkpoints (no key roles).
fn founder() -> dossier_chain::Signer {
    dossier_chain::Signer::from_secret([1; 32], "founder")
}

fn encoded(bytes: &[u8]) -> EncodedRecord {
    let v = RecordView::parse(bytes).unwrap();
    EncodedRecord {
        seq: v.seq,
        hash: Hash::of_record(bytes),
        event_id: EventId::from_hex(v.id).unwrap(),
        event_type: v.event_type.to_owned(),
        recorded: v.recorded.to_owned(),
        bytes: bytes.to_vec(),
    }
}

/// The golden ledger's batches.
fn golden() -> Vec<Vec<Vec<u8>>> {
    let text = std::fs::read(vectors().join("ledger.jsonl")).unwrap();
    let mut batches = vec![Vec::new()];
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let seal = RecordView::parse(line).unwrap().event_type == control::SEAL;
        batches.last_mut().unwrap().push(line.to_vec());
        if seal {
            batches.push(Vec::new());
        }
    }
    batches.pop();
    batches
}

/// A SQLite ledger holding the first `n` golden batches.
async fn ledger(dir: &Path, name: &str, n: usize) -> SqliteLog {
    let log = SqliteLog::open(&dir.join(name)).unwrap();
    for batch in golden().iter().take(n) {
        let records: Vec<_> = batch.iter().map(|b| encoded(b)).collect();
        log.append(records[0].seq - 1, &records, &[]).await.unwrap();
    }
    log
}

/// An export file of these batches (as the golden ledger's, possibly damaged).
fn file_of(batches: &[Vec<Vec<u8>>]) -> Vec<u8> {
    let first = RecordView::parse(&batches[0][0]).unwrap().seq;
    let last = first - 1 + batches.iter().map(Vec::len).sum::<usize>() as u64;
    let ledger = RecordView::parse(&batches[0][0])
        .unwrap()
        .ledger
        .parse()
        .unwrap();
    let mut w = Writer::new(
        Vec::new(),
        Header {
            ledger,
            first,
            last,
        },
    )
    .unwrap();
    for b in batches {
        w.batch(b.iter().map(Vec::as_slice)).unwrap();
    }
    w.finish().unwrap().0
}

async fn import_bytes(
    log: &SqliteLog,
    file: &[u8],
) -> Result<dossier_app::export::Imported, AppError> {
    // The file is read on the import's verifying thread: it owns its input.
    import(log, std::io::Cursor::new(file.to_vec()), trust(), |_, _| {}).await
}

/// The refusal's seq and problem, after checking that the ledger ends at `head`.
async fn refused(log: &SqliteLog, file: &[u8], head: u64) -> (Option<u64>, ImportProblem) {
    let err = import_bytes(log, file).await.unwrap_err();
    assert_eq!(log.head().await.unwrap().seq, head, "{err}");
    match err {
        AppError::Import { head: h, problem } => {
            assert_eq!(h, head);
            (problem.seq(), problem)
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn the_golden_ledger_exports_as_the_golden_vector_and_imports_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = ledger(dir.path(), "a.db", 6).await;
    let (file, done) = export(&log, (None, None), None, Vec::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(file, std::fs::read(vectors().join("export.bin")).unwrap());
    assert_eq!((done.first, done.last, done.batches), (1, 16, 6));

    let copy = SqliteLog::open(&dir.path().join("b.db")).unwrap();
    let done = import_bytes(&copy, &file).await.unwrap();
    assert_eq!((done.appended, done.batches, done.already), (16, 6, 0));
    assert_eq!(copy.head().await.unwrap(), log.head().await.unwrap());
    let (again, _) = export(&copy, (None, None), None, Vec::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(again, file);
    // Importing it again finds everything there.
    let done = import_bytes(&copy, &file).await.unwrap();
    assert_eq!((done.appended, done.already), (0, 16));
}

#[tokio::test]
async fn ranges_are_whole_batches_and_a_later_range_continues_its_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let log = ledger(dir.path(), "a.db", 6).await;
    // Up to seq 10: the last seal at or before it is 8.
    let (prefix, done) = export(&log, (None, Some(10)), None, Vec::new(), |_| {})
        .await
        .unwrap();
    assert_eq!((done.first, done.last), (1, 8));
    let (rest, done) = export(&log, (Some(9), None), Some(&founder()), Vec::new(), |_| {})
        .await
        .unwrap();
    assert_eq!((done.first, done.last), (9, 16));
    // With its key context, as the golden range vector (docs/FORMAT.md §7.4).
    assert_eq!(
        rest,
        std::fs::read(vectors().join("export-range.bin")).unwrap()
    );
    let err = export(&log, (Some(10), None), Some(&founder()), Vec::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    // A range past seq 1 needs a key to sign its checkpoint.
    let err = export(&log, (Some(9), None), None, Vec::new(), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            AppError::Export {
                problem: ExportProblem::NoContextSigner { from: 9 }
            }
        ),
        "{err}"
    );

    let copy = SqliteLog::open(&dir.path().join("b.db")).unwrap();
    // The later range alone has nothing to continue.
    let (seq, problem) = refused(&copy, &rest, 0).await;
    assert!(
        matches!(problem, ImportProblem::NotContinued { .. }),
        "{problem}"
    );
    assert_eq!(seq, Some(9));
    import_bytes(&copy, &prefix).await.unwrap();
    import_bytes(&copy, &rest).await.unwrap();
    assert_eq!(copy.head().await.unwrap(), log.head().await.unwrap());
}

#[tokio::test]
async fn a_verified_prefix_is_completed_and_a_divergent_ledger_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::read(vectors().join("export.bin")).unwrap();
    let prefix = ledger(dir.path(), "prefix.db", 3).await;
    let done = import_bytes(&prefix, &file).await.unwrap();
    assert_eq!((done.already, done.appended), (8, 8));

    // A ledger whose third batch differs from the file's.
    let mut batches = golden();
    batches.truncate(3);
    let other = SqliteLog::open(&dir.path().join("other.db")).unwrap();
    for b in &batches[..2] {
        let records: Vec<_> = b.iter().map(|r| encoded(r)).collect();
        other
            .append(records[0].seq - 1, &records, &[])
            .await
            .unwrap();
    }
    let mut third: Vec<EncodedRecord> = batches[2].iter().map(|r| encoded(r)).collect();
    third.truncate(1);
    // Record 7 with other bytes (any: the backend does not verify), sealed as before.
    let changed =
        String::from_utf8(batches[2][0].clone())
            .unwrap()
            .replacen("\"name\":", "\"name\" :", 1);
    third[0].bytes = changed.into_bytes();
    third.push(encoded(&batches[2][1]));
    other.append(6, &third, &[]).await.unwrap();
    let (seq, problem) = refused(&other, &file, 8).await;
    assert!(
        matches!(problem, ImportProblem::Diverges { .. }),
        "{problem}"
    );
    assert_eq!(seq, Some(7));

    // A ledger holding more than the file.
    let (short, _) = export(&prefix, (None, Some(8)), None, Vec::new(), |_| {})
        .await
        .unwrap();
    let (seq, problem) = refused(&prefix, &short, 16).await;
    assert!(
        matches!(problem, ImportProblem::LedgerAhead { .. }),
        "{problem}"
    );
    assert_eq!(seq, Some(9));
}

/// Re-chains `batch` after a change to its first record (links and the seal's head
/// recomputed), without signing it again: what a forger without the key can do.
fn forge(batch: &[Vec<u8>], prev_hash: Hash) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut prev = prev_hash;
    for (i, r) in batch.iter().enumerate() {
        let old = RecordView::parse(r).unwrap().prev.to_owned();
        let mut text = String::from_utf8(r.clone()).unwrap();
        text = text.replace(&old, &prev.to_hex());
        if i == 0 {
            // A change inside the body that keeps it a valid record.
            text = text.replacen("\"body\":{", "\"body\":{ ", 1);
        }
        out.push(text.into_bytes());
        prev = Hash::of_record(out.last().unwrap());
    }
    out
}

#[tokio::test]
async fn damaged_files_are_refused_at_their_seq_with_nothing_of_that_batch_written() {
    let dir = tempfile::tempdir().unwrap();
    let good = golden();
    let mut n = 0;
    let mut fresh = || {
        n += 1;
        SqliteLog::open(&dir.path().join(format!("{n}.db"))).unwrap()
    };

    // A byte changed in record 10 (batch 9-11; its correlation, which no rule checks): the
    // link from 11 breaks.
    let mut flipped = good.clone();
    let r = &mut flipped[3][1];
    let at = r.windows(5).position(|w| w == b"5eed0").unwrap();
    r[at + 3] = b'c';
    let log = fresh();
    let (seq, problem) = refused(&log, &file_of(&flipped), 8).await;
    assert!(
        matches!(&problem, ImportProblem::DoesNotVerify { failure } if failure.kind == FailureKind::BrokenLink),
        "{problem}"
    );
    assert_eq!(seq, Some(11));

    // A batch deleted (seq 9-11): the container finds seq 12 where 9 comes next.
    let mut deleted = file_of(&good);
    let sections = section_offsets(&deleted);
    deleted.drain(sections[3]..sections[4]);
    let log = fresh();
    let (seq, problem) = refused(&log, &deleted, 8).await;
    assert!(matches!(problem, ImportProblem::File(_)), "{problem}");
    assert_eq!(seq, Some(9));

    // Two batches swapped (9-11 and 12-14).
    let file = file_of(&good);
    let mut swapped = file[..sections[3]].to_vec();
    swapped.extend_from_slice(&file[sections[4]..sections[5]]);
    swapped.extend_from_slice(&file[sections[3]..sections[4]]);
    swapped.extend_from_slice(&file[sections[5]..]);
    let log = fresh();
    let (seq, problem) = refused(&log, &swapped, 8).await;
    assert!(matches!(problem, ImportProblem::File(_)), "{problem}");
    assert_eq!(seq, Some(9));

    // The last batch forged: changed, re-chained and re-hashed, not re-signed.
    let mut forged = good.clone();
    let prev = Hash::of_record(&good[4][2]);
    forged[5] = forge(&good[5], prev);
    let log = fresh();
    let (seq, problem) = refused(&log, &file_of(&forged), 14).await;
    assert!(
        matches!(&problem, ImportProblem::DoesNotVerify { failure } if failure.kind == FailureKind::BadSignature),
        "{problem}"
    );
    assert_eq!(seq, Some(16));

    // Truncated inside the batch 12-14: the batches before it are imported, then a second
    // import of the whole file completes the ledger.
    let cut = &file[..sections[4] + 100];
    let log = fresh();
    let (seq, problem) = refused(&log, cut, 11).await;
    assert!(matches!(problem, ImportProblem::File(_)), "{problem}");
    assert_eq!(seq, Some(12));
    import_bytes(&log, &file).await.unwrap();
    assert_eq!(log.head().await.unwrap().seq, 16);

    // Cut at a batch boundary: no end marker.
    let log = fresh();
    let (seq, _) = refused(&log, &file[..sections[5]], 14).await;
    assert_eq!(seq, Some(15));

    // Pinned to another key, the genesis is refused: nothing is written.
    let log = fresh();
    let other = dossier_chain::Signer::from_secret([9; 32], "other");
    let err = import(
        &log,
        std::io::Cursor::new(file.clone()),
        TrustRoot::Pinned(other.public()),
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert_eq!(log.head().await.unwrap().seq, 0);
}

/// The offset of each section of a file (and of its end marker).
fn section_offsets(file: &[u8]) -> Vec<usize> {
    let mut r = Reader::new(file).unwrap();
    let mut out = vec![usize::try_from(r.offset()).unwrap()];
    while let Some(s) = r.next_section().unwrap() {
        assert!(matches!(s, Section::Batch(_)));
        out.push(usize::try_from(r.offset()).unwrap());
    }
    out
}

/// The seq and problem of a file refused by the offline check.
fn check_refused(file: &[u8]) -> (Option<u64>, ImportProblem) {
    match check(file, trust()).unwrap_err() {
        AppError::Import { problem, .. } => (problem.seq(), problem),
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_range_verifies_offline_with_its_key_context_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let log = ledger(dir.path(), "a.db", 6).await;
    let (rest, _) = export(&log, (Some(12), None), Some(&founder()), Vec::new(), |_| {})
        .await
        .unwrap();
    let done = check(rest.as_slice(), trust()).unwrap();
    // The genesis batch, key 2's registration (7-8), then 12-14 and 15-16 sealed by key 2
    // (rotating to key 3) and key 3.
    assert_eq!(
        (done.version, done.first, done.last, done.key_batches),
        (2, 12, 16, 2)
    );
    assert_eq!((done.batches, done.records), (2, 5));
    assert_eq!(done.head, log.head().await.unwrap().hash.to_hex());
    // A whole file checks too.
    let (whole, _) = export(&log, (None, None), None, Vec::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(check(whole.as_slice(), trust()).unwrap().key_batches, 0);

    // A byte of a key batch's record (key 2's registration, seq 7: its type) changed: refused
    // at that record, as a key context that does not hold.
    let at = rest
        .windows(14)
        .position(|w| w == b"key.registered")
        .unwrap();
    let mut bad = rest.clone();
    bad[at + 5] ^= 1;
    let (seq, problem) = check_refused(&bad);
    assert!(matches!(problem, ImportProblem::Context(_)), "{problem}");
    assert_eq!(seq, Some(7), "{problem}");
    let err = check(bad.as_slice(), trust()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity);

    // Signed by a key that may not sign a checkpoint at size 11: key 3 (registered at 13).
    let key3 = dossier_chain::Signer::from_secret([3; 32], "key 3");
    let (other, _) = export(&log, (Some(12), None), Some(&key3), Vec::new(), |_| {})
        .await
        .unwrap();
    let (seq, problem) = check_refused(&other);
    assert!(
        matches!(
            &problem,
            ImportProblem::Context(dossier_export::ContextError::NotSigned { .. })
        ),
        "{problem}"
    );
    assert_eq!(seq, Some(11));

    // A file of version 1 starting past seq 1 carries no key context: it checks only with the
    // ledger it continues.
    let context_end = {
        let mut r = Reader::new(rest.as_slice()).unwrap();
        let mut end = 0;
        while let Some(s) = r.next_section().unwrap() {
            if matches!(s, Section::Batch(_)) {
                break;
            }
            end = usize::try_from(r.offset()).unwrap();
        }
        end
    };
    let mut v1 = rest[..48].to_vec();
    v1[15] = b'1';
    v1.extend_from_slice(&rest[context_end..]);
    let (seq, problem) = check_refused(&v1);
    assert!(
        matches!(problem, ImportProblem::NoContext { first: 12 }),
        "{problem}"
    );
    assert_eq!(seq, Some(12));
    // ... where it imports, as before.
    let prefix = ledger(dir.path(), "prefix.db", 4).await;
    import_bytes(&prefix, &v1).await.unwrap();
    assert_eq!(prefix.head().await.unwrap(), log.head().await.unwrap());

    // A range imports onto the ledger holding the records before it, not onto an empty one.
    let empty = SqliteLog::open(&dir.path().join("empty.db")).unwrap();
    let (seq, problem) = refused(&empty, &rest, 0).await;
    assert!(
        matches!(problem, ImportProblem::NotContinued { .. }),
        "{problem}"
    );
    assert_eq!(seq, Some(12));
    let prefix = ledger(dir.path(), "prefix2.db", 4).await;
    let done = import_bytes(&prefix, &rest).await.unwrap();
    assert_eq!((done.appended, done.already), (5, 0));
    // A damaged key context is refused there too, with nothing written.
    let prefix = ledger(dir.path(), "prefix3.db", 4).await;
    let (seq, problem) = refused(&prefix, &bad, 11).await;
    assert!(matches!(problem, ImportProblem::Context(_)), "{problem}");
    assert_eq!(seq, Some(7));
}
