//! One scenario per verification failure kind: what a damaged or forged ledger reports, and where.

#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Forge, LEDGER, append_batch, at, corr, first, key_registered, key_revoked, kinds, renumber,
    simple_ledger, stored, verify, verify_pinned,
};
use dossier_chain::{
    EncodedRecord, FailureKind as K, Genesis, MAX_BATCH_RECORDS, Signer, StoredRecord, TrustRoot,
    Verifier,
};
use uuid::Uuid;

fn founder() -> Signer {
    Signer::from_secret([1; 32], "founder")
}

/// Genesis (1, 2), batch 3..=6 (three notes + seal), batch 7..=9 (two notes + seal).
fn ledger() -> Vec<EncodedRecord> {
    let batches = vec![
        vec!["신원식".to_owned(), "b".into(), "c".into()],
        vec!["d".into(), "e".into()],
    ];
    simple_ledger(LEDGER, &founder(), &batches).0
}

/// Genesis, key 2 registered (3, 4), batch by key 2 (5, 6), rotation to key 3 by key 2 (7..=9),
/// batch by key 3 (10, 11).
fn rotated() -> (Vec<EncodedRecord>, Signer, Signer) {
    let f = founder();
    let second = Signer::from_secret([2; 32], "second");
    let third = Signer::from_secret([3; 32], "third");
    let mut r = Genesis::build(LEDGER, "rotation", &f, at(0)).unwrap();
    append_batch(
        &mut r,
        LEDGER,
        &f,
        at(1),
        corr(1),
        &[(
            "key.registered",
            second.id(),
            "TLP:CLEAR",
            &key_registered(&second),
        )],
    );
    append_batch(
        &mut r,
        LEDGER,
        &second,
        at(2),
        corr(2),
        &[("note.recorded", "note:1", "TLP:GREEN", br#"{"n":1}"#)],
    );
    append_batch(
        &mut r,
        LEDGER,
        &second,
        at(3),
        corr(3),
        &[
            (
                "key.registered",
                third.id(),
                "TLP:CLEAR",
                &key_registered(&third),
            ),
            (
                "key.revoked",
                second.id(),
                "TLP:CLEAR",
                &key_revoked(second.id(), "rotated"),
            ),
        ],
    );
    append_batch(
        &mut r,
        LEDGER,
        &third,
        at(4),
        corr(4),
        &[("note.recorded", "note:2", "TLP:GREEN", br#"{"n":2}"#)],
    );
    (r, second, third)
}

fn replace_once(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains(from), "{from:?} not in {text}");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
fn valid_ledgers_verify() {
    let f = founder();
    for with_hash in [true, false] {
        let r = verify_pinned(&stored(&ledger(), with_hash), &f);
        assert!(r.ok(), "{:?}", r.failures);
        assert_eq!((r.records, r.last_seq, r.last_sealed), (9, 9, 9));
    }
    let (r, ..) = rotated();
    let report = verify_pinned(&stored(&r, true), &f);
    assert!(report.ok(), "{:?}", report.failures);
    assert_eq!(report.last_sealed, 11);
}

#[test]
fn hand_written_records_equal_the_builders() {
    // A writer following FORMAT.md (common::Forge) produces exactly the builder's bytes.
    let f = founder();
    let genesis = Genesis::build(LEDGER, "x", &f, at(0)).unwrap();
    let mut built = genesis.clone();
    append_batch(
        &mut built,
        LEDGER,
        &f,
        at(5),
        corr(9),
        &[(
            "note.recorded",
            "note:é",
            "TLP:GREEN",
            r#"{"t":"신원식\n"}"#.as_bytes(),
        )],
    );
    let mut forge = Forge::after(&genesis, LEDGER, [1; 32], "founder", at(5), corr(9));
    forge.push("note.recorded", "note:é", r#"{"t":"신원식\n"}"#);
    let forged = forge.seal();
    assert_eq!(
        built[2..].iter().map(|r| &r.bytes).collect::<Vec<_>>(),
        forged.iter().map(|r| &r.bytes).collect::<Vec<_>>()
    );
}

#[test]
fn changed_byte_with_stored_hash_is_changed_bytes_at_that_seq() {
    let mut s = stored(&ledger(), true);
    s[3].bytes = replace_once(&s[3].bytes, r#""text":"b""#, r#""text":"x""#);
    let r = verify_pinned(&s, &founder());
    assert_eq!(kinds(&r), vec![(4, K::ChangedBytes)], "{:?}", r.failures);
}

#[test]
fn changed_byte_without_stored_hash_is_a_broken_link_after_it() {
    let mut s = stored(&ledger(), false);
    s[3].bytes = replace_once(&s[3].bytes, r#""text":"b""#, r#""text":"x""#);
    let r = verify_pinned(&s, &founder());
    assert_eq!(kinds(&r), vec![(5, K::BrokenLink)], "{:?}", r.failures);
}

#[test]
fn changed_head_of_a_batch_breaks_the_seal_too() {
    // Record 5 is the last before the seal at 6: the seal's head and signature no longer match.
    let mut s = stored(&ledger(), false);
    s[4].bytes = replace_once(&s[4].bytes, r#""text":"c""#, r#""text":"x""#);
    let r = verify_pinned(&s, &founder());
    assert_eq!(first(&r).seq, 6);
    assert!(kinds(&r).contains(&(6, K::BrokenLink)));
    assert!(kinds(&r).contains(&(6, K::BadSeal)));
}

#[test]
fn gap() {
    let mut s = stored(&ledger(), true);
    s.remove(3);
    let r = verify_pinned(&s, &founder());
    assert_eq!(first(&r).seq, 4);
    assert_eq!(first(&r).kind, K::Gap);
    // The batch now has two records, but its seal counts three.
    assert_eq!(kinds(&r), vec![(4, K::Gap), (6, K::BadSeal)]);

    // The same deletion with storage renumbered: position 4 holds record 5.
    let r = verify_pinned(&renumber(s), &founder());
    assert_eq!(
        kinds(&r),
        vec![(4, K::Gap), (5, K::BadSeal)],
        "{:?}",
        r.failures
    );
}

#[test]
fn duplicate() {
    let mut s = stored(&ledger(), true);
    // Storage returns position 4 twice.
    s.insert(4, s[3].clone());
    let r = verify_pinned(&s, &founder());
    assert_eq!(kinds(&r), vec![(4, K::Duplicate)], "{:?}", r.failures);
    // A copy stored under the next position, later records renumbered.
    let r = verify_pinned(&renumber(s), &founder());
    assert_eq!(kinds(&r), vec![(5, K::Duplicate)], "{:?}", r.failures);
}

#[test]
fn reorder_of_two_records() {
    let mut s: Vec<StoredRecord> = stored(&ledger(), true);
    // Positions stay, contents are swapped: position 4 holds record 5 and 5 holds 4.
    let (a, b) = (s[3].bytes.clone(), s[4].bytes.clone());
    s[3].bytes = b;
    s[4].bytes = a;
    let (h3, h4) = (s[3].stored_hash, s[4].stored_hash);
    s[3].stored_hash = h4;
    s[4].stored_hash = h3;
    let r = verify_pinned(&s, &founder());
    assert_eq!(
        kinds(&r),
        vec![(4, K::Gap), (5, K::Reordered)],
        "{:?}",
        r.failures
    );
    assert!(
        r.failures[0].detail.contains("position 4 holds record 5"),
        "{}",
        r.failures[0].detail
    );
}

#[test]
fn bad_signature() {
    let mut s = stored(&ledger(), false);
    let last = s.len() - 1;
    let text = String::from_utf8(s[last].bytes.clone()).unwrap();
    let at_sig = text.find(r#""sig":""#).unwrap() + 7;
    let mut bytes = s[last].bytes.clone();
    bytes[at_sig] = if bytes[at_sig] == b'0' { b'1' } else { b'0' };
    s[last].bytes = bytes;
    let r = verify_pinned(&s, &founder());
    assert_eq!(kinds(&r), vec![(9, K::BadSignature)], "{:?}", r.failures);
    assert_eq!(r.last_sealed, 6);
}

#[test]
fn seal_count_mismatch() {
    let base = ledger();
    let mut forge = Forge::after(&base, LEDGER, [1; 32], "founder", at(600), corr(77));
    forge
        .push("note.recorded", "note:x", "{}")
        .push("note.recorded", "note:y", "{}");
    let batch = forge.seal_claiming(Some(3));
    let all: Vec<EncodedRecord> = base.into_iter().chain(batch).collect();
    let r = verify_pinned(&stored(&all, true), &founder());
    assert_eq!(kinds(&r), vec![(12, K::BadSeal)], "{:?}", r.failures);
    assert!(r.failures[0].detail.contains("counts 3"));
}

#[test]
fn unknown_key() {
    let mut r = ledger();
    let stranger = Signer::from_secret([9; 32], "stranger");
    append_batch(
        &mut r,
        LEDGER,
        &stranger,
        at(600),
        corr(8),
        &[("note.recorded", "note:z", "TLP:GREEN", b"{}")],
    );
    let report = verify_pinned(&stored(&r, true), &founder());
    assert_eq!(
        kinds(&report),
        vec![(11, K::UnknownKey)],
        "{:?}",
        report.failures
    );
    assert_eq!(report.last_sealed, 9);
}

#[test]
fn a_key_cannot_register_itself() {
    let mut r = ledger();
    let stranger = Signer::from_secret([9; 32], "stranger");
    append_batch(
        &mut r,
        LEDGER,
        &stranger,
        at(600),
        corr(8),
        &[(
            "key.registered",
            stranger.id(),
            "TLP:CLEAR",
            &key_registered(&stranger),
        )],
    );
    append_batch(
        &mut r,
        LEDGER,
        &stranger,
        at(601),
        corr(9),
        &[("note.recorded", "note:z", "TLP:GREEN", b"{}")],
    );
    let report = verify_pinned(&stored(&r, true), &founder());
    assert_eq!(
        kinds(&report),
        vec![(11, K::UnknownKey), (13, K::UnknownKey)],
        "{:?}",
        report.failures
    );
}

#[test]
fn revoked_key_signing_after_its_revocation() {
    let (mut r, second, _) = rotated();
    append_batch(
        &mut r,
        LEDGER,
        &second,
        at(5),
        corr(5),
        &[("note.recorded", "note:3", "TLP:GREEN", b"{}")],
    );
    let report = verify_pinned(&stored(&r, true), &founder());
    assert_eq!(
        kinds(&report),
        vec![(13, K::RevokedKey)],
        "{:?}",
        report.failures
    );
    assert!(report.failures[0].detail.contains("revoked at seq 9"));
}

#[test]
fn a_new_key_is_trusted_only_after_the_seal_of_its_batch() {
    // The third key signs the very batch that registers it: not yet trusted.
    let f = founder();
    let third = Signer::from_secret([3; 32], "third");
    let mut r = Genesis::build(LEDGER, "x", &f, at(0)).unwrap();
    append_batch(
        &mut r,
        LEDGER,
        &third,
        at(1),
        corr(1),
        &[(
            "key.registered",
            third.id(),
            "TLP:CLEAR",
            &key_registered(&third),
        )],
    );
    let report = verify_pinned(&stored(&r, true), &f);
    assert_eq!(
        kinds(&report),
        vec![(4, K::UnknownKey)],
        "{:?}",
        report.failures
    );
}

#[test]
fn records_of_a_batch_carry_the_sealing_key() {
    let f = founder();
    let genesis = Genesis::build(LEDGER, "x", &f, at(0)).unwrap();
    let mut forge = Forge::after(&genesis, LEDGER, [1; 32], "founder", at(1), corr(1));
    forge.push_with("note.recorded", "note:1", "{}", |fl| {
        fl.key = "0123456789abcdef".into()
    });
    let all: Vec<EncodedRecord> = genesis.into_iter().chain(forge.seal()).collect();
    let report = verify_pinned(&stored(&all, true), &f);
    assert_eq!(
        kinds(&report),
        vec![(4, K::BadSeal)],
        "{:?}",
        report.failures
    );
}

#[test]
fn forged_ledger_passes_unpinned_but_not_pinned() {
    let batches = vec![vec!["a".to_owned()], vec!["b".into(), "c".into()]];
    let (real, _) = simple_ledger(LEDGER, &founder(), &batches);
    // Same ledger id, same events, same name; a different founding key.
    let forger = Signer::from_secret([66; 32], "founder");
    let (forged, _) = simple_ledger(LEDGER, &forger, &batches);
    assert_ne!(real.last().unwrap().hash, forged.last().unwrap().hash);
    let unpinned = verify(&stored(&forged, true), TrustRoot::Unpinned);
    assert!(unpinned.ok(), "{:?}", unpinned.failures);
    assert!(!unpinned.pinned);
    let pinned = verify_pinned(&stored(&forged, true), &founder());
    assert_eq!(first(&pinned).seq, 1);
    assert_eq!(first(&pinned).kind, K::UntrustedRoot);
}

#[test]
fn malformed_json() {
    let mut s = stored(&ledger(), false);
    s[3].bytes.truncate(40);
    let r = verify_pinned(&s, &founder());
    assert_eq!(
        kinds(&r),
        vec![(4, K::Malformed), (5, K::BrokenLink)],
        "{:?}",
        r.failures
    );

    let mut s = stored(&ledger(), true);
    s[3].bytes.truncate(40);
    let r = verify_pinned(&s, &founder());
    assert_eq!(
        kinds(&r),
        vec![(4, K::ChangedBytes), (4, K::Malformed)],
        "{:?}",
        r.failures
    );
}

#[test]
fn not_an_object() {
    // A JSON array with the same values in order is not a record.
    let f = founder();
    let genesis = Genesis::build(LEDGER, "x", &f, at(0)).unwrap();
    let mut forge = Forge::after(&genesis, LEDGER, [1; 32], "founder", at(1), corr(1));
    let fl = forge.fields("note.recorded", "note:1", "TLP:GREEN", "{}");
    let array = format!(
        r#"[1,"{}",{},"{}","{}",1,"{}","{}","{}",{{"key":"{}","name":"{}"}},"TLP:GREEN","{}",{{}}]"#,
        fl.ledger,
        fl.seq,
        fl.prev,
        fl.event_type,
        fl.entity,
        fl.id,
        fl.recorded,
        fl.key,
        fl.name,
        fl.correlation
    );
    forge.push_bytes("note.recorded", array.into_bytes());
    let all: Vec<EncodedRecord> = genesis.into_iter().chain(forge.seal()).collect();
    let r = verify_pinned(&stored(&all, true), &f);
    assert_eq!(kinds(&r), vec![(3, K::Malformed)], "{:?}", r.failures);
}

#[test]
fn unknown_field() {
    let f = founder();
    let genesis = Genesis::build(LEDGER, "x", &f, at(0)).unwrap();
    let mut forge = Forge::after(&genesis, LEDGER, [1; 32], "founder", at(1), corr(1));
    forge.push_with("note.recorded", "note:1", "{}", |fl| {
        fl.extra = Some(r#""priority":1"#.into())
    });
    let all: Vec<EncodedRecord> = genesis.into_iter().chain(forge.seal()).collect();
    let r = verify_pinned(&stored(&all, true), &f);
    assert_eq!(kinds(&r), vec![(3, K::Malformed)], "{:?}", r.failures);
    assert!(
        r.failures[0].detail.contains("priority"),
        "{}",
        r.failures[0].detail
    );
}

#[test]
fn field_formats() {
    let f = founder();
    let genesis = Genesis::build(LEDGER, "x", &f, at(0)).unwrap();
    type Change = Box<dyn Fn(&mut common::Fields)>;
    let cases: Vec<(&str, Change)> = vec![
        ("marking", Box::new(|fl| fl.marking = "SECRET".into())),
        (
            "correlation",
            Box::new(|fl| fl.correlation = fl.correlation.to_uppercase()),
        ),
        (
            "recorded month 13",
            Box::new(|fl| fl.recorded = "2024-13-19T16:04:01.000000000Z".into()),
        ),
        (
            "recorded without fraction",
            Box::new(|fl| fl.recorded = "2024-03-19T16:04:01Z".into()),
        ),
        ("version", Box::new(|fl| fl.dossier = "2".into())),
    ];
    for (what, change) in cases {
        let mut forge = Forge::after(&genesis, LEDGER, [1; 32], "founder", at(1), corr(1));
        forge.push_with("note.recorded", "note:1", "{}", |fl| change(fl));
        let all: Vec<EncodedRecord> = genesis.iter().cloned().chain(forge.seal()).collect();
        let r = verify_pinned(&stored(&all, true), &f);
        assert_eq!(
            kinds(&r),
            vec![(3, K::Malformed)],
            "{what}: {:?}",
            r.failures
        );
    }
}

#[test]
fn time_going_backwards() {
    let f = founder();
    let mut r = ledger();
    // A writer that ignored the head's time: its batch is recorded a minute before the head.
    let head = dossier_chain::Head {
        recorded: None,
        ..common::head_of(&r)
    };
    let mut b = dossier_chain::BatchBuilder::new(LEDGER, &head, at(60), &f, corr(9));
    b.push("note.recorded", 1, "note:late", "TLP:GREEN", b"{}")
        .unwrap();
    r.extend(b.seal().unwrap());
    let report = verify_pinned(&stored(&r, true), &f);
    // Only the first record of the batch goes backwards; the seal has the same time as it.
    assert_eq!(
        kinds(&report),
        vec![(10, K::TimeWentBackwards)],
        "{:?}",
        report.failures
    );
}

#[test]
fn incomplete_batch_at_the_tail() {
    let mut r = ledger();
    r.pop();
    let report = verify_pinned(&stored(&r, true), &founder());
    assert_eq!(
        kinds(&report),
        vec![(7, K::IncompleteBatch)],
        "{:?}",
        report.failures
    );
    assert_eq!(report.last_sealed, 6);
    assert_eq!(report.last_seq, 8);
}

#[test]
fn truncation_at_a_batch_boundary_is_not_detectable() {
    let mut r = ledger();
    r.truncate(6);
    let report = verify_pinned(&stored(&r, true), &founder());
    assert!(report.ok());
    assert_eq!(report.last_sealed, 6);
}

#[test]
fn wrong_ledger_id() {
    let f = founder();
    let mut r = ledger();
    let other = Uuid::from_u128(0x0190_f4d2_7c1e_7a3b_9c4d_0000_0000_0001);
    // A writer that chains onto this ledger's head but names another ledger.
    append_batch(
        &mut r,
        other,
        &f,
        at(600),
        corr(9),
        &[("note.recorded", "note:1", "TLP:GREEN", b"{}")],
    );
    let report = verify_pinned(&stored(&r, true), &f);
    assert_eq!(first(&report).seq, 10);
    assert_eq!(first(&report).kind, K::WrongLedger);
    // The seal signs the other ledger's id, so it does not verify for this one.
    assert!(kinds(&report).contains(&(11, K::BadSignature)));
}

#[test]
fn foreign_record_in_the_middle_is_skipped() {
    let f = founder();
    let r = ledger();
    let other = Uuid::from_u128(7);
    let (foreign, _) = simple_ledger(
        other,
        &Signer::from_secret([5; 32], "other"),
        &[vec!["x".into()]],
    );
    let mut s = stored(&r, true);
    s.insert(4, stored(&foreign, true)[2].clone());
    let report = verify_pinned(&renumber(s), &f);
    assert_eq!(
        kinds(&report),
        vec![(5, K::WrongLedger)],
        "{:?}",
        report.failures
    );
}

#[test]
fn bad_event_id() {
    let f = founder();
    let genesis = Genesis::build(LEDGER, "x", &f, at(0)).unwrap();
    let mut forge = Forge::after(&genesis, LEDGER, [1; 32], "founder", at(1), corr(1));
    forge
        .push("note.recorded", "note:1", "{}")
        .push_with("note.recorded", "note:2", "{}", |fl| {
            fl.id = dossier_chain::event_id("note.recorded", "note:1").to_hex();
        });
    let all: Vec<EncodedRecord> = genesis.into_iter().chain(forge.seal()).collect();
    let report = verify_pinned(&stored(&all, true), &f);
    assert_eq!(
        kinds(&report),
        vec![(4, K::BadEventId)],
        "{:?}",
        report.failures
    );
}

#[test]
fn bad_key_events() {
    let f = founder();
    let genesis = Genesis::build(LEDGER, "x", &f, at(0)).unwrap();
    let second = Signer::from_secret([2; 32], "second");
    // Key id that does not derive from the public key.
    let wrong_id = format!(
        r#"{{"key":"0000000000000000","public":"{}","name":"x"}}"#,
        second.public_hex()
    );
    let upper = format!(
        r#"{{"key":"{}","public":"{}","name":"x"}}"#,
        second.id(),
        second.public_hex().to_uppercase()
    );
    let unknown_revocation = r#"{"key":"0000000000000000","reason":"?"}"#.to_owned();
    for (ty, body) in [
        ("key.registered", wrong_id),
        ("key.registered", upper),
        ("key.revoked", unknown_revocation),
    ] {
        let mut forge = Forge::after(&genesis, LEDGER, [1; 32], "founder", at(1), corr(1));
        forge.push(ty, "k", &body);
        let all: Vec<EncodedRecord> = genesis.iter().cloned().chain(forge.seal()).collect();
        let report = verify_pinned(&stored(&all, true), &f);
        assert_eq!(
            first(&report).kind,
            K::BadKeyEvent,
            "{ty} {body}: {:?}",
            report.failures
        );
    }
}

#[test]
fn oversized_batch_is_a_bad_seal() {
    let f = founder();
    let genesis = Genesis::build(LEDGER, "x", &f, at(0)).unwrap();
    let mut forge = Forge::after(&genesis, LEDGER, [1; 32], "founder", at(1), corr(1));
    for i in 0..MAX_BATCH_RECORDS {
        forge.push("note.recorded", &format!("note:{i}"), "{}");
    }
    let all: Vec<EncodedRecord> = genesis.into_iter().chain(forge.seal()).collect();
    let report = verify_pinned(&stored(&all, true), &f);
    assert_eq!(
        kinds(&report),
        vec![(1003, K::BadSeal)],
        "{:?}",
        report.failures
    );
}

#[test]
fn empty_ledger_has_no_root() {
    let report = Verifier::new(TrustRoot::Pinned(founder().public())).finish();
    assert_eq!(kinds(&report), vec![(1, K::UntrustedRoot)]);
}

#[test]
fn ledger_not_starting_with_genesis() {
    let mut s = stored(&ledger(), true);
    s.drain(..2);
    let report = verify_pinned(&renumber(s), &founder());
    assert_eq!(first(&report).seq, 1);
    assert_eq!(first(&report).kind, K::Gap);
    assert!(
        kinds(&report).contains(&(1, K::UntrustedRoot)),
        "{:?}",
        report.failures
    );
}

#[test]
fn failure_kinds_have_stable_names() {
    let names: Vec<String> = [
        K::Malformed,
        K::ChangedBytes,
        K::BrokenLink,
        K::Gap,
        K::Duplicate,
        K::Reordered,
        K::WrongLedger,
        K::BadEventId,
        K::TimeWentBackwards,
        K::UntrustedRoot,
        K::UnknownKey,
        K::RevokedKey,
        K::BadSignature,
        K::BadSeal,
        K::BadKeyEvent,
        K::IncompleteBatch,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        names,
        [
            "malformed",
            "changed_bytes",
            "broken_link",
            "gap",
            "duplicate",
            "reordered",
            "wrong_ledger",
            "bad_event_id",
            "time_went_backwards",
            "untrusted_root",
            "unknown_key",
            "revoked_key",
            "bad_signature",
            "bad_seal",
            "bad_key_event",
            "incomplete_batch"
        ]
    );
}
