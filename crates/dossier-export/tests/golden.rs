//! The golden export vector: the golden ledger of `docs/vectors/ledger.jsonl` exported whole as
//! `dossier-export/1` (`docs/vectors/export.bin`, docs/FORMAT.md §7.4).
//!
//! The vector is part of the format's public contract. If the format changes on purpose,
//! rewrite it with `DOSSIER_BLESS=1 cargo test -p dossier-export --test golden` and review it.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use dossier_chain::{
    Hash, RecordView, StoredRecord, TrustRoot, Verifier, control, parse_public_hex,
};
use dossier_export::{Header, Reader, Section, Writer};

const FOUNDING_KEY: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors")
}

/// The golden ledger's batches (each record's exact bytes).
fn golden_batches() -> Vec<Vec<Vec<u8>>> {
    let text = std::fs::read(vectors_dir().join("ledger.jsonl")).unwrap();
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

fn golden_export() -> Vec<u8> {
    let batches = golden_batches();
    let last = batches.iter().map(Vec::len).sum::<usize>() as u64;
    let ledger = RecordView::parse(&batches[0][0])
        .unwrap()
        .ledger
        .parse()
        .unwrap();
    let mut w = Writer::new(
        Vec::new(),
        Header {
            ledger,
            first: 1,
            last,
        },
    )
    .unwrap();
    for b in &batches {
        w.batch(b.iter().map(Vec::as_slice)).unwrap();
    }
    w.finish().unwrap().0
}

#[test]
fn the_golden_export_is_pinned_and_verifies() {
    let actual = golden_export();
    let path = vectors_dir().join("export.bin");
    if std::env::var_os("DOSSIER_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{} differs from what the code writes now ({} bytes on disk, {} now). The export format is a \
         public contract: if the change is intended, rewrite it with\n    \
         DOSSIER_BLESS=1 cargo test -p dossier-export --test golden\nand review it.",
        path.display(),
        expected.len(),
        actual.len()
    );

    // Read back: six batches, sixteen records, verifying pinned to the founding key.
    let mut r = Reader::new(expected.as_slice()).unwrap();
    assert_eq!((r.header().first, r.header().last), (1, 16));
    let mut v = Verifier::new(TrustRoot::Pinned(parse_public_hex(FOUNDING_KEY).unwrap()));
    let mut firsts = Vec::new();
    while let Some(section) = r.next_section().unwrap() {
        let Section::Batch(b) = section else {
            panic!("the golden ledger references no text")
        };
        firsts.push(b.first);
        for (i, record) in b.records().enumerate() {
            v.push(&StoredRecord {
                position: b.first + i as u64,
                stored_hash: None,
                bytes: record.unwrap().to_vec(),
            });
        }
    }
    assert_eq!(firsts, [1, 3, 7, 9, 12, 15]);
    assert_eq!(r.totals().records, 16);
    let last = golden_batches().pop().unwrap().pop().unwrap();
    assert_eq!(r.totals().head, Hash::of_record(&last));
    let report = v.finish();
    assert!(report.ok(), "{:?}", report.failures);
}
