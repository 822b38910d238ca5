//! Raw export and import against real SQLite ledgers: the golden ledger exported byte for byte
//! as the golden vector, imported back, and every kind of damage refused at its seq with
//! nothing of the damaged batch on written.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use dossier_app::export::{ImportProblem, export, import};
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
    let (file, done) = export(&log, None, None, Vec::new(), |_| {}).await.unwrap();
    assert_eq!(file, std::fs::read(vectors().join("export.bin")).unwrap());
    assert_eq!((done.first, done.last, done.batches), (1, 16, 6));

    let copy = SqliteLog::open(&dir.path().join("b.db")).unwrap();
    let done = import_bytes(&copy, &file).await.unwrap();
    assert_eq!((done.appended, done.batches, done.already), (16, 6, 0));
    assert_eq!(copy.head().await.unwrap(), log.head().await.unwrap());
    let (again, _) = export(&copy, None, None, Vec::new(), |_| {}).await.unwrap();
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
    let (prefix, done) = export(&log, None, Some(10), Vec::new(), |_| {})
        .await
        .unwrap();
    assert_eq!((done.first, done.last), (1, 8));
    let (rest, done) = export(&log, Some(9), None, Vec::new(), |_| {})
        .await
        .unwrap();
    assert_eq!((done.first, done.last), (9, 16));
    let err = export(&log, Some(10), None, Vec::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");

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
    let (short, _) = export(&prefix, None, Some(8), Vec::new(), |_| {})
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
