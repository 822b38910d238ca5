//! The golden export vectors (docs/FORMAT.md §7.4): the golden ledger of
//! `docs/vectors/ledger.jsonl` exported whole as `dossier-export/2` (`docs/vectors/export.bin`)
//! and as `dossier-export/1` (`export-v1.bin`, still read), and its range from seq 9 with its
//! key context (`export-range.bin`), which verifies offline.
//!
//! The vectors are part of the format's public contract. If the format changes on purpose,
//! rewrite them with `DOSSIER_BLESS=1 cargo test -p dossier-export --test golden` and review
//! them.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use dossier_chain::{
    FailureKind, Hash, RecordView, Signer, StoredRecord, TrustRoot, Verifier, control,
    parse_public_hex,
};
use dossier_export::{ContextBuilder, ContextCheck, ContextError, Header, Reader, Section, Writer};
use dossier_testkit::golden::compare_or_bless;

const FOUNDING_KEY: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
const BLESS: &str = "cargo test -p dossier-export --test golden";

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors")
}

fn pinned() -> TrustRoot {
    TrustRoot::Pinned(parse_public_hex(FOUNDING_KEY).unwrap())
}

/// The golden ledger's batches (each record's exact bytes).
fn golden_batches() -> Vec<Vec<Vec<u8>>> {
    batches_of("ledger.jsonl")
}

/// The batches of a ledger vector (one record a line).
fn batches_of(name: &str) -> Vec<Vec<Vec<u8>>> {
    let text = std::fs::read(vectors_dir().join(name)).unwrap();
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

fn golden_ledger_id() -> uuid::Uuid {
    RecordView::parse(&golden_batches()[0][0])
        .unwrap()
        .ledger
        .parse()
        .unwrap()
}

/// The golden ledger's batches from seq `first` (a batch's first record) exported, with the
/// key context of the records before it signed by the founding key.
fn golden_export(first: u64) -> Vec<u8> {
    let batches = golden_batches();
    let last = batches.iter().map(Vec::len).sum::<usize>() as u64;
    let ledger = golden_ledger_id();
    let mut w = Writer::new(
        Vec::new(),
        Header {
            ledger,
            first,
            last,
        },
    )
    .unwrap();
    let mut seq = 1;
    let mut context = ContextBuilder::new();
    for b in &batches {
        if seq >= first {
            if seq == first && first > 1 {
                let founder = Signer::from_secret([1; 32], "founder");
                let built = std::mem::take(&mut context)
                    .finish(&ledger.to_string(), &founder)
                    .unwrap();
                w.context(&built).unwrap();
            }
            w.batch(b.iter().map(Vec::as_slice)).unwrap();
        } else {
            for r in b {
                context.push(r).unwrap();
            }
        }
        seq += b.len() as u64;
    }
    w.finish().unwrap().0
}

/// Reads a file and verifies it offline, pinned to the founding key: the key context first
/// (when the range starts past seq 1), then every record of the range. Returns the first
/// seqs of the range's batches, or the first problem as (seq, what).
fn verify_offline(file: &[u8]) -> Result<Vec<u64>, (u64, String)> {
    let mut r = Reader::new(file).map_err(|e| (0, e.to_string()))?;
    let header = *r.header();
    let mut context = (header.first > 1).then(|| ContextCheck::new(header, pinned()));
    let mut v = None;
    let mut firsts = Vec::new();
    let located = |e: ContextError| (e.seq(), e.to_string());
    while let Some(section) = r
        .next_section()
        .map_err(|e| (e.seq().unwrap_or(0), e.to_string()))?
    {
        match section {
            Section::Checkpoint { note, last_leaf } => context
                .as_mut()
                .unwrap()
                .checkpoint(note, &last_leaf)
                .map_err(located)?,
            Section::KeyBatch { batch, proof } => context
                .as_mut()
                .unwrap()
                .key_batch(&batch, &proof)
                .map_err(located)?,
            Section::Text { .. } => panic!("the golden ledger references no text"),
            Section::Batch(b) => {
                let v = v.get_or_insert_with(|| match context.take() {
                    Some(c) => c.finish().map(|(v, _)| v).map_err(located),
                    None => Ok(Verifier::new(pinned())),
                });
                let v = v.as_mut().map_err(|e| e.clone())?;
                firsts.push(b.first);
                for (i, record) in b.records().enumerate() {
                    v.push(&StoredRecord {
                        position: b.first + i as u64,
                        stored_hash: None,
                        bytes: record.unwrap().to_vec(),
                    });
                }
            }
        }
    }
    let report = v.unwrap().map_err(|e| e.clone())?.finish();
    match report.failures.first() {
        None => Ok(firsts),
        Some(f) => Err((f.seq, format!("{}: {}", f.kind, f.detail))),
    }
}

#[test]
fn the_golden_export_is_pinned_and_verifies() {
    let actual = golden_export(1);
    let path = vectors_dir().join("export.bin");
    compare_or_bless(
        &path,
        &actual,
        "The export format (dossier-export/2)",
        BLESS,
    );

    // Read back: six batches, sixteen records, verifying pinned to the founding key.
    let mut r = Reader::new(actual.as_slice()).unwrap();
    assert_eq!((r.header().first, r.header().last, r.version()), (1, 16, 2));
    while r.next_section().unwrap().is_some() {}
    assert_eq!(r.totals().records, 16);
    let last = golden_batches().pop().unwrap().pop().unwrap();
    assert_eq!(r.totals().head, Hash::of_record(&last));
    assert_eq!(verify_offline(&actual), Ok(vec![1, 3, 7, 9, 12, 15]));
}

#[test]
fn the_version_1_export_is_still_read() {
    // A whole-ledger file of version 1 is a version-2 file with the other version line.
    let mut expected = golden_export(1);
    expected[15] = b'1';
    let path = vectors_dir().join("export-v1.bin");
    compare_or_bless(
        &path,
        &expected,
        "The export format (dossier-export/1)",
        BLESS,
    );
    let file = std::fs::read(&path).unwrap();
    assert_eq!(Reader::new(file.as_slice()).unwrap().version(), 1);
    assert_eq!(verify_offline(&file), Ok(vec![1, 3, 7, 9, 12, 15]));
}

#[test]
fn the_golden_range_verifies_offline_and_every_tampering_is_refused_at_its_seq() {
    let actual = golden_export(9);
    let path = vectors_dir().join("export-range.bin");
    compare_or_bless(
        &path,
        &actual,
        "The export format's key context (dossier-export/2)",
        BLESS,
    );
    // Batches 9, 12 and 15 (sealed by key 2, key 2 rotating to key 3, key 3), verified with
    // the key context: the genesis batch (1-2) and key 2's registration (7-8).
    assert_eq!(verify_offline(&actual), Ok(vec![9, 12, 15]));
    let mut r = Reader::new(actual.as_slice()).unwrap();
    let mut kinds = Vec::new();
    let mut at = Vec::new();
    loop {
        let offset = usize::try_from(r.offset()).unwrap();
        let Some(section) = r.next_section().unwrap() else {
            break;
        };
        at.push(offset);
        kinds.push(match section {
            Section::Checkpoint { .. } => "C".to_owned(),
            Section::KeyBatch { batch, .. } => format!("K{}", batch.first),
            Section::Batch(b) => format!("B{}", b.first),
            Section::Text { .. } => "T".to_owned(),
        });
    }
    assert_eq!(kinds, ["C", "K1", "K7", "B9", "B12", "B15"]);
    let (cp, k1, k7, b9) = (at[0], at[1], at[2], at[3]);

    let refused = |bad: &[u8]| verify_offline(bad).unwrap_err();
    // A byte of key 2's registration (seq 7) changed: the record no longer chains to its seal.
    let mut bad = actual.clone();
    let record7 = k7 + 1 + 8 + 4 + 32 + 4 + 4;
    let name = bad[record7..]
        .windows(7)
        .position(|w| w == b"\"name\":")
        .unwrap();
    bad[record7 + name + 8] ^= 1;
    assert_eq!(refused(&bad).0, 8, "{:?}", refused(&bad));
    // The key batch's seal (seq 8) changed in its carrier and frame alike: not in the tree.
    let mut bad = actual.clone();
    let seal8 = k7 + 1 + 8 + 4;
    bad[seal8] ^= 1;
    assert_eq!(refused(&bad).0, 8);
    // A hash of its inclusion proof changed.
    let mut bad = actual.clone();
    bad[b9 - 1] ^= 1;
    let (seq, why) = refused(&bad);
    assert_eq!(seq, 8, "{why}");
    assert!(why.contains("not in the checkpoint's tree"), "{why}");
    // The genesis batch's proof changed.
    let mut bad = actual.clone();
    bad[k7 - 1] ^= 1;
    assert_eq!(refused(&bad).0, 2);
    // Key 2's registration left out: its seals are by an unknown key (seq 11).
    let mut bad = actual[..k7].to_vec();
    bad.extend_from_slice(&actual[b9..]);
    let (seq, why) = refused(&bad);
    assert_eq!(seq, 11, "{why}");
    assert!(why.contains(&FailureKind::UnknownKey.to_string()), "{why}");
    // The checkpoint's signature changed: no allowed key signs it (named at seq 8, the last it
    // covers).
    let mut bad = actual.clone();
    let sig = actual[cp..k1].iter().rposition(|&b| b == b' ').unwrap();
    bad[cp + sig + 10] = if bad[cp + sig + 10] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let (seq, why) = refused(&bad);
    assert_eq!(seq, 8, "{why}");
    // The checkpoint's size changed (its text then no longer matches its signature either).
    let mut bad = actual.clone();
    let size = actual[cp..k1]
        .windows(3)
        .position(|w| w == b"\n8\n")
        .unwrap();
    bad[cp + size + 1] = b'9';
    let (seq, why) = refused(&bad);
    assert_eq!(seq, 8, "{why}");
    // The checkpoint signed by a key that may not sign it: key 3 is registered only at seq 13.
    let key3 = Signer::from_secret([3; 32], "key 3");
    let mut context = ContextBuilder::new();
    for r in golden_batches().concat().iter().take(8) {
        context.push(r).unwrap();
    }
    let built = context
        .finish(&golden_ledger_id().to_string(), &key3)
        .unwrap();
    let mut bad = actual[..cp].to_vec();
    let mut w = Writer::new(
        Vec::new(),
        Header {
            ledger: golden_ledger_id(),
            first: 9,
            last: 8,
        },
    )
    .unwrap();
    w.context(&built).unwrap();
    let ours = w.finish().unwrap().0;
    bad.extend_from_slice(&ours[cp..ours.len() - 57]);
    bad.extend_from_slice(&actual[b9..]);
    let (seq, why) = refused(&bad);
    assert_eq!(seq, 8, "{why}");
    assert!(
        why.contains("not signed by a key the ledger allows"),
        "{why}"
    );
    // Unpinned to the right founding key, nothing verifies.
    let mut r = Reader::new(actual.as_slice()).unwrap();
    let mut c = ContextCheck::new(
        *r.header(),
        TrustRoot::Pinned(Signer::from_secret([9; 32], "other").public()),
    );
    let Some(Section::Checkpoint { note, last_leaf }) = r.next_section().unwrap() else {
        panic!()
    };
    c.checkpoint(note, &last_leaf).unwrap();
    let Some(Section::KeyBatch { batch, proof }) = r.next_section().unwrap() else {
        panic!()
    };
    assert_eq!(c.key_batch(&batch, &proof).unwrap_err().seq(), 1);
}

/// On a ledger with key roles (`docs/vectors/roles.jsonl`), only its log key may sign the key
/// context's checkpoint (docs/PROOFS.md §6.5): the founding key, which could before the log key
/// was registered, no longer may.
#[test]
fn with_key_roles_the_log_key_signs_the_key_context() {
    let batches = batches_of("roles.jsonl");
    let (last, before) = batches.split_last().unwrap();
    let first = before.iter().map(Vec::len).sum::<usize>() as u64 + 1;
    let ledger: uuid::Uuid = RecordView::parse(&batches[0][0])
        .unwrap()
        .ledger
        .parse()
        .unwrap();
    let file = |signer: &Signer| {
        let mut context = ContextBuilder::new();
        for r in before.concat() {
            context.push(&r).unwrap();
        }
        let built = context.finish(&ledger.to_string(), signer).unwrap();
        let header = Header {
            ledger,
            first,
            last: first + last.len() as u64 - 1,
        };
        let mut w = Writer::new(Vec::new(), header).unwrap();
        w.context(&built).unwrap();
        w.batch(last.iter().map(Vec::as_slice)).unwrap();
        w.finish().unwrap().0
    };
    let log_key = Signer::from_secret([6; 32], "log");
    assert_eq!(verify_offline(&file(&log_key)), Ok(vec![first]));
    let founder = Signer::from_secret([1; 32], "founder");
    let (seq, why) = verify_offline(&file(&founder)).unwrap_err();
    assert_eq!(seq, first - 1, "{why}");
    assert!(
        why.contains("not signed by a key the ledger allows"),
        "{why}"
    );
    // The producer's domain batch is not carried: only the genesis and key batches are.
    let mut r = Reader::new(std::io::Cursor::new(file(&log_key))).unwrap();
    let mut carried = 0;
    while let Some(s) = r.next_section().unwrap() {
        carried += usize::from(matches!(s, Section::KeyBatch { .. }));
    }
    assert!(
        carried < before.len(),
        "{carried} of {} batches",
        before.len()
    );
}
