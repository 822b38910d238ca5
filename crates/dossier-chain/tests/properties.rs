//! Property tests: every valid ledger verifies, and every single-byte change, deletion,
//! duplication, foreign insertion and adjacent swap is found at the right place.

#![allow(clippy::unwrap_used)]

mod common;

use common::{LEDGER, first, renumber, simple_ledger, stored, verify_pinned};
use dossier_chain::{EncodedRecord, FailureKind as K, RecordView, Signer, StoredRecord};
use proptest::prelude::*;
use uuid::Uuid;

fn founder() -> Signer {
    Signer::from_secret([1; 32], "founder")
}

/// Batches of note texts (mixed ASCII and Hangul); 1..=5 batches of 1..=4 records.
fn batches() -> impl Strategy<Value = Vec<Vec<String>>> {
    prop::collection::vec(
        prop::collection::vec("[a-z 신원식국방부\"\\\\]{0,12}", 1..=4),
        1..=5,
    )
}

/// A valid ledger and the first sequence number of every batch.
fn ledger() -> impl Strategy<Value = (Vec<EncodedRecord>, Vec<u64>)> {
    batches().prop_map(|b| simple_ledger(LEDGER, &founder(), &b))
}

/// First record of the batch that holds `seq`.
fn batch_first(firsts: &[u64], seq: u64) -> u64 {
    *firsts.iter().rev().find(|f| **f <= seq).unwrap()
}

/// Every member of a record but its body, as text.
fn envelope(v: &RecordView<'_>) -> String {
    format!(
        "{} {} {} {} {} {} {} {} {} {} {} {} {}",
        v.dossier,
        v.ledger,
        v.seq,
        v.prev,
        v.event_type,
        v.schema,
        v.entity,
        v.id,
        v.recorded,
        v.actor.key,
        v.actor.name,
        v.marking,
        v.correlation
    )
}

/// A body that holds a `"body"` member of its own splits at the envelope's; a record that
/// does not end at its body's closing brace, or whose members are not in order, does not split
/// (its reader takes the full parse).
#[test]
fn only_a_record_in_order_splits_at_its_body() {
    let texts = vec![vec!["x".to_owned()]];
    let (records, _) = simple_ledger(LEDGER, &founder(), &texts);
    let text = String::from_utf8(records[1].bytes.clone()).unwrap();
    let at = text.find(",\"body\":").unwrap();
    let nested = format!(
        "{},\"body\":{{\"a\":1,\"body\":{{\"b\":\",\"}}}}}}",
        &text[..at]
    );
    let mut scratch = String::new();
    let (head, body) = RecordView::parse_envelope(nested.as_bytes(), &mut scratch).unwrap();
    assert_eq!(body, r#"{"a":1,"body":{"b":","}}"#);
    assert_eq!(head.seq, 2);

    let trailing = format!("{text}\n");
    assert!(RecordView::parse_envelope(trailing.as_bytes(), &mut scratch).is_none());
    let reordered =
        serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&text).unwrap()).unwrap();
    assert!(RecordView::parse(reordered.as_bytes()).is_ok());
    assert!(RecordView::parse_envelope(reordered.as_bytes(), &mut scratch).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Parsing the envelope without scanning the body gives the same members and the body's
    /// exact text, whatever quotes, commas, colons and `"body":` the producer's name and the
    /// bodies hold.
    #[test]
    fn an_envelope_parsed_without_its_body_is_the_same(
        texts in batches(),
        name in "[a-z\",:{}\\\\ ]{0,8}(\",\"body\":)?[a-z\",:{}]{0,4}",
    ) {
        let signer = Signer::from_secret([1; 32], &name);
        let (records, _) = simple_ledger(LEDGER, &signer, &texts);
        let mut scratch = String::new();
        for r in &records {
            let full = RecordView::parse(&r.bytes).unwrap();
            let (head, body) = RecordView::parse_envelope(&r.bytes, &mut scratch)
                .expect("a valid record splits at its body");
            prop_assert_eq!(body, full.body.get());
            prop_assert_eq!(envelope(&head), envelope(&full));
        }
    }

    #[test]
    fn valid_ledgers_verify((records, _) in ledger(), with_hash in any::<bool>()) {
        let report = verify_pinned(&stored(&records, with_hash), &founder());
        prop_assert!(report.ok(), "{:?}", report.failures);
        prop_assert_eq!(report.last_sealed, records.len() as u64);
    }

    #[test]
    fn a_changed_byte_is_found_at_its_record(
        (records, _) in ledger(),
        which in any::<prop::sample::Index>(),
        offset in any::<prop::sample::Index>(),
        new in any::<u8>(),
        with_hash in any::<bool>(),
    ) {
        let mut s = stored(&records, with_hash);
        let i = which.index(s.len());
        let at = offset.index(s[i].bytes.len());
        prop_assume!(s[i].bytes[at] != new);
        s[i].bytes[at] = new;
        let seq = i as u64 + 1;
        let last = s.len() as u64;
        let report = verify_pinned(&s, &founder());
        if with_hash {
            let f = first(&report);
            prop_assert_eq!((f.seq, f.kind), (seq, K::ChangedBytes), "{:?}", report.failures);
        } else if seq < last {
            let f = first(&report);
            prop_assert!(f.seq == seq || f.seq == seq + 1, "changed {} at {}: {:?}", seq, at, report.failures);
        } else if let Some(f) = report.failures.first() {
            // The last record: only its signed or checked fields are covered (see FORMAT.md).
            prop_assert_eq!(f.seq, seq, "{:?}", report.failures);
        }
    }

    #[test]
    fn a_deleted_record_is_found((records, firsts) in ledger(), which in any::<prop::sample::Index>(), renumbered in any::<bool>(), with_hash in any::<bool>()) {
        let mut s = stored(&records, with_hash);
        let i = which.index(s.len());
        let seq = i as u64 + 1;
        let last = s.len() as u64;
        s.remove(i);
        let s = if renumbered { renumber(s) } else { s };
        let report = verify_pinned(&s, &founder());
        let f = first(&report);
        if seq < last {
            // Position `seq` is missing (kept positions) or holds record seq+1 (renumbered).
            prop_assert_eq!((f.seq, f.kind), (seq, K::Gap), "{:?}", report.failures);
        } else {
            // The last seal is gone: its batch is incomplete.
            prop_assert_eq!((f.seq, f.kind), (batch_first(&firsts, seq), K::IncompleteBatch), "{:?}", report.failures);
        }
    }

    #[test]
    fn a_duplicated_record_is_found((records, _) in ledger(), which in any::<prop::sample::Index>(), renumbered in any::<bool>(), with_hash in any::<bool>()) {
        let mut s = stored(&records, with_hash);
        let i = which.index(s.len());
        let seq = i as u64 + 1;
        s.insert(i + 1, s[i].clone());
        let (s, at) = if renumbered { (renumber(s), seq + 1) } else { (s, seq) };
        let report = verify_pinned(&s, &founder());
        // Storage returns position `seq` twice, or the copy sits at the next position. Either
        // way it is the only failure: the copy is skipped.
        prop_assert_eq!(common::kinds(&report), vec![(at, K::Duplicate)], "{:?}", report.failures);
    }

    #[test]
    fn a_foreign_record_is_found(
        (records, _) in ledger(),
        (foreign, _) in batches().prop_map(|b| simple_ledger(Uuid::from_u128(42), &Signer::from_secret([5; 32], "other"), &b)),
        which in any::<prop::sample::Index>(),
        from in any::<prop::sample::Index>(),
        with_hash in any::<bool>(),
    ) {
        let mut s = stored(&records, with_hash);
        let i = which.index(s.len() + 1);
        let alien: StoredRecord = stored(&foreign, with_hash)[from.index(foreign.len())].clone();
        s.insert(i, alien);
        let report = verify_pinned(&renumber(s), &founder());
        let f = first(&report);
        let pos = i as u64 + 1;
        prop_assert_eq!(f.seq, pos, "{:?}", report.failures);
        if pos > 1 {
            // In the middle of a ledger it is reported and skipped: nothing else fails.
            prop_assert_eq!(common::kinds(&report), vec![(pos, K::WrongLedger)], "{:?}", report.failures);
        } else {
            // In first place, it is not this ledger's genesis.
            prop_assert!(matches!(f.kind, K::UntrustedRoot | K::Gap), "{:?}", report.failures);
        }
    }

    #[test]
    fn swapped_neighbours_are_found((records, _) in ledger(), which in any::<prop::sample::Index>(), with_hash in any::<bool>()) {
        let mut s = stored(&records, with_hash);
        let i = which.index(s.len() - 1);
        // Positions stay; contents (with their stored hashes) are swapped.
        let (a, b) = (s[i].clone(), s[i + 1].clone());
        s[i] = StoredRecord { position: a.position, ..b };
        s[i + 1] = StoredRecord { position: a.position + 1, ..a };
        let report = verify_pinned(&s, &founder());
        let f = first(&report);
        let seq = i as u64 + 1;
        // At `seq` the chain finds record seq+1 (record seq is not there); at seq+1 it finds
        // record seq, after a later one.
        prop_assert_eq!((f.seq, f.kind), (seq, K::Gap), "{:?}", report.failures);
        prop_assert!(common::kinds(&report).contains(&(seq + 1, K::Reordered)), "{:?}", report.failures);
    }
}
