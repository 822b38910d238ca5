//! The batch framing (`dossier-batch/1`, docs/FORMAT.md §7.2): golden vectors framed from the
//! golden ledger, malformed frames each failing at its entry, and properties over random input.
//!
//! `docs/vectors/batches.json` is part of the format's public contract; if the framing changes on
//! purpose, rewrite it with `DOSSIER_BLESS=1 cargo test -p dossier-chain --test frames` and review
//! the diff.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use dossier_chain::{
    Declared, FrameError, FrameErrorKind, Frames, Hash, MAX_FRAMED_BATCH_BYTES, RecordView,
    frame_batch, framed_len,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors")
}

/// The golden ledger's records (`ledger.jsonl`), as stored.
fn golden_records() -> Vec<Vec<u8>> {
    let text = std::fs::read(vectors_dir().join("ledger.jsonl")).unwrap();
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// The golden ledger cut into its batches: (first seq, records).
fn golden_batches() -> Vec<(u64, Vec<Vec<u8>>)> {
    let mut batches = Vec::new();
    let mut open: Vec<Vec<u8>> = Vec::new();
    let mut first = 1;
    for (i, r) in golden_records().into_iter().enumerate() {
        let seal = RecordView::parse(&r).unwrap().event_type == "batch.seal";
        open.push(r);
        if seal {
            batches.push((first, std::mem::take(&mut open)));
            first = i as u64 + 2;
        }
    }
    assert!(open.is_empty(), "the golden ledger ends with a seal");
    batches
}

fn framed(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    frame_batch(records.iter().map(Vec::as_slice), &mut out).unwrap();
    out
}

/// Reads a blob through [`Frames`]: the records read, and the error that ended it.
fn read(blob: &[u8], declared: Declared) -> (usize, Option<FrameError>) {
    let mut n = 0;
    for f in Frames::new(blob, declared) {
        match f {
            Ok(_) => n += 1,
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

fn kind_name(kind: &FrameErrorKind) -> &'static str {
    match kind {
        FrameErrorKind::Empty => "empty",
        FrameErrorKind::Truncated { .. } => "truncated",
        FrameErrorKind::BadLength { .. } => "bad_length",
        FrameErrorKind::TooManyRecords { .. } => "too_many_records",
        FrameErrorKind::TooFewRecords { .. } => "too_few_records",
        FrameErrorKind::SealMismatch { .. } => "seal_mismatch",
        FrameErrorKind::TooLarge { .. } => "too_large",
    }
}

/// The vectors: every batch of the golden ledger framed, with what a carrier records beside it,
/// and malformed frames of its second batch with the entry (and record seq) each fails at.
fn vectors() -> Value {
    let batches = golden_batches();
    let good: Vec<Value> = batches
        .iter()
        .map(|(first, records)| {
            let blob = framed(records);
            json!({
                "first_seq": first,
                "count": records.len(),
                "seal_hash": Hash::of_record(records.last().unwrap()).to_hex(),
                "bytes": blob.len(),
                "framed_hex": hex::encode(&blob),
            })
        })
        .collect();
    let (first, records) = &batches[1];
    let blob = framed(records);
    let seal = Hash::of_record(records.last().unwrap());
    let count = records.len();
    let declared = Declared {
        count: Some(count),
        seal: Some(seal),
    };
    let mut split = framed(&records[..2]);
    split.extend_from_slice(&framed(&records[2..])[..10]);
    let mut zero = framed(&records[..1]);
    zero.extend_from_slice(&[0, 0, 0, 0]);
    let mut huge = framed(&records[..1]);
    huge.extend_from_slice(&0x0004_0001u32.to_be_bytes());
    huge.extend_from_slice(b"{}");
    let cases: Vec<(&str, Vec<u8>, Declared)> = vec![
        (
            "truncated in the last record",
            blob[..blob.len() - 5].to_vec(),
            declared,
        ),
        ("a record going on in another blob", split, declared),
        ("a length of zero", zero, declared),
        ("a length above the record limit", huge, declared),
        (
            "the carrier says one record more",
            blob.clone(),
            Declared {
                count: Some(count + 1),
                ..declared
            },
        ),
        (
            "the carrier says one record fewer",
            blob.clone(),
            Declared {
                count: Some(count - 1),
                ..declared
            },
        ),
        (
            "the carrier recorded another seal hash",
            blob.clone(),
            Declared {
                seal: Some(Hash::of_record(&records[0])),
                ..declared
            },
        ),
        ("an empty blob", Vec::new(), declared),
    ];
    let bad: Vec<Value> = cases
        .into_iter()
        .map(|(what, blob, d)| {
            let (whole, err) = read(&blob, d);
            let err = err.unwrap_or_else(|| panic!("{what}: no error"));
            // Every entry before the failing one was read whole (a seal mismatch fails at the
            // last entry, which was read).
            let located = match err.kind {
                FrameErrorKind::SealMismatch { .. } => err.index + 1,
                _ => err.index,
            };
            assert_eq!(whole, located, "{what}");
            json!({
                "case": what,
                "first_seq": first,
                "declared_count": d.count,
                "declared_seal_hash": d.seal.map(|h| h.to_hex()),
                "framed_hex": hex::encode(&blob),
                "error": kind_name(&err.kind),
                "index": err.index,
                "seq": first + err.index as u64,
            })
        })
        .collect();
    json!({
        "description": "Golden vectors of the batch framing dossier-batch/1 (docs/FORMAT.md §7.2): each batch of ledger.jsonl framed as a carrier stores it, and malformed frames with the entry and record seq each fails at. Generated by crates/dossier-chain/tests/frames.rs.",
        "framing": "dossier-batch/1",
        "max_framed_batch_bytes": MAX_FRAMED_BATCH_BYTES,
        "batches": good,
        "malformed": bad,
    })
}

#[test]
fn golden_vectors() {
    let mut text = serde_json::to_string_pretty(&vectors()).unwrap();
    text.push('\n');
    dossier_testkit::golden::compare_or_bless(
        &vectors_dir().join("batches.json"),
        text.as_bytes(),
        "The batch framing",
        "cargo test -p dossier-chain --test frames",
    );
}

/// Every golden batch read back from its frame gives its records exactly.
#[test]
fn golden_batches_read_back() {
    for (first, records) in golden_batches() {
        let blob = framed(&records);
        assert_eq!(blob.len(), framed_len(records.iter().map(Vec::len)));
        let declared = Declared {
            count: Some(records.len()),
            seal: Some(Hash::of_record(records.last().unwrap())),
        };
        let back: Vec<&[u8]> = Frames::new(&blob, declared).map(Result::unwrap).collect();
        assert_eq!(
            back,
            records.iter().map(Vec::as_slice).collect::<Vec<_>>(),
            "batch at {first}"
        );
    }
}

proptest! {
    /// Any records (raw newlines and all bytes included) come back exactly from their frame.
    #[test]
    fn framing_round_trips(records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 1..40)) {
        let blob = framed(&records);
        let declared = Declared { count: Some(records.len()), seal: Some(Hash::of_record(records.last().unwrap())) };
        let back: Vec<Vec<u8>> = Frames::new(&blob, declared).map(|r| r.unwrap().to_vec()).collect();
        prop_assert_eq!(back, records);
    }

    /// Any blob is read without panicking, every entry it yields lies inside it, and it ends
    /// with at most one error, after exactly as many records as the error's index.
    #[test]
    fn any_blob_is_read_safely(blob in prop::collection::vec(any::<u8>(), 0..2000), count in prop::option::of(0usize..20)) {
        let declared = Declared { count, seal: None };
        let mut n = 0;
        let mut errors = 0;
        let mut total = 0;
        for f in Frames::new(&blob, declared) {
            match f {
                Ok(r) => { n += 1; total += r.len() + 4; }
                Err(e) => { errors += 1; prop_assert_eq!(e.index, n); }
            }
        }
        prop_assert!(errors <= 1);
        prop_assert!(total <= blob.len());
    }

    /// Cutting a frame anywhere short of its end is reported, at the entry cut.
    #[test]
    fn a_cut_frame_fails_at_the_entry_cut(records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..50), 1..10), cut in any::<prop::sample::Index>()) {
        let blob = framed(&records);
        let at = cut.index(blob.len());
        let (whole, err) = read(&blob[..at], Declared { count: Some(records.len()), seal: None });
        let err = err.unwrap();
        prop_assert_eq!(err.index, whole);
        let mut ends = 0;
        let complete = records.iter().take_while(|r| { ends += r.len() + 4; ends <= at }).count();
        prop_assert_eq!(whole, complete);
    }
}
