//! C2SP `tlog-cosignature` v1: the golden vectors of `docs/vectors/cosignature.json` (a
//! checkpoint signed by a fixed log key and cosigned by two fixed witness keys at fixed times;
//! rewritten with `DOSSIER_BLESS=1 cargo test -p dossier-proofs --test cosignature`), the quorum
//! rules, and an independent check: `tests/tlog-go` verifies the cosignatures with Go's
//! `crypto/ed25519` from the spec alone, and refuses a corrupted one.

mod common;

use common::{compare_or_bless, test_leaves, vectors_dir};
use dossier_proofs::cosignature::{
    CosignatureError, add_cosignatures, cosigner_key_id, parse_signature_lines,
};
use dossier_proofs::{
    Checkpoint, Cosigner, RootBuilder, SignedNote, WitnessKey, checkpoint_verifier, verify_quorum,
};
use dossier_testkit::run_tlog_go;
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

const LEDGER: &str = "0190f4d2-7c1e-7a3b-9c4d-5e6f708192a3";

fn log_key() -> SigningKey {
    SigningKey::from_bytes(&[3; 32])
}

fn witness(i: u8) -> Cosigner {
    Cosigner::new(
        &format!("witness.example/w{i}"),
        SigningKey::from_bytes(&[0x40 + i; 32]),
    )
    .expect("cosigner")
}

fn checkpoint_note() -> String {
    let mut b = RootBuilder::new();
    for l in test_leaves(7) {
        b.push(l);
    }
    Checkpoint::new(LEDGER, b.tree_head().expect("head"))
        .expect("checkpoint")
        .sign(&log_key())
        .expect("sign")
}

fn cosigned() -> String {
    let note = checkpoint_note();
    let text = SignedNote::parse(&note).expect("note").text;
    let lines = [
        witness(1).cosign(&text, 1_700_000_000),
        witness(2).cosign(&text, 1_700_000_001),
    ];
    add_cosignatures(&note, &lines).expect("add")
}

fn build() -> Vec<u8> {
    let doc = json!({
        "description": "C2SP tlog-cosignature v1 (Ed25519) on a dossier checkpoint: docs/PROOFS.md §14",
        "log_vkey": checkpoint_verifier(LEDGER, log_key().verifying_key()).expect("v").to_vkey(),
        "witnesses": [
            {"vkey": witness(1).key().to_vkey(), "secret": "41".repeat(32), "time": 1_700_000_000u64},
            {"vkey": witness(2).key().to_vkey(), "secret": "42".repeat(32), "time": 1_700_000_001u64},
        ],
        "checkpoint": checkpoint_note(),
        "cosigned": cosigned(),
    });
    let mut out = serde_json::to_vec_pretty(&doc).expect("json");
    out.push(b'\n');
    out
}

#[test]
fn cosignature_vectors_match() {
    compare_or_bless("cosignature.json", &build(), "cosignature");
}

fn keys() -> Vec<WitnessKey> {
    vec![witness(1).key().clone(), witness(2).key().clone()]
}

#[test]
fn committed_vectors_verify_with_quorum() {
    let doc: Value = serde_json::from_slice(
        &std::fs::read(vectors_dir().join("cosignature.json")).expect("vectors"),
    )
    .expect("json");
    let keys: Vec<WitnessKey> = doc["witnesses"]
        .as_array()
        .expect("witnesses")
        .iter()
        .map(|w| WitnessKey::from_vkey(w["vkey"].as_str().expect("vkey")).expect("vkey"))
        .collect();
    let note = SignedNote::parse(doc["cosigned"].as_str().expect("note")).expect("note");
    assert_eq!(
        verify_quorum(&note, &keys, 2).expect("quorum"),
        ["witness.example/w1", "witness.example/w2"]
    );
    // The key id uses the cosignature type byte 0x04, not signed-note's Ed25519 0x01.
    let w1 = &keys[0];
    assert_eq!(
        w1.id(),
        cosigner_key_id(
            w1.name(),
            &SigningKey::from_bytes(&[0x41; 32]).verifying_key()
        )
    );
    assert_ne!(
        w1.id(),
        dossier_proofs::note::key_id(
            w1.name(),
            &SigningKey::from_bytes(&[0x41; 32]).verifying_key()
        )
    );
}

#[test]
fn quorum_rules() {
    let note = SignedNote::parse(&cosigned()).expect("note");
    let only_log = SignedNote::parse(&checkpoint_note()).expect("note");
    let keys = keys();
    // Not enough cosignatures.
    assert_eq!(
        verify_quorum(&only_log, &keys, 1),
        Err(CosignatureError::NoQuorum {
            valid: 0,
            quorum: 1
        })
    );
    // The same witness given twice counts once, so a quorum of 2 cannot be met by it.
    let twice = vec![keys[0].clone(), keys[0].clone()];
    assert!(matches!(
        verify_quorum(&note, &twice, 2),
        Err(CosignatureError::BadQuorum { .. })
    ));
    assert!(matches!(
        verify_quorum(&note, &keys, 0),
        Err(CosignatureError::BadQuorum { .. })
    ));
    // An unknown witness's line is ignored; a third given key that did not sign leaves 2 of 3.
    let w3 = witness(3);
    let mut three = keys.clone();
    three.push(w3.key().clone());
    assert_eq!(verify_quorum(&note, &three, 2).expect("2 of 3").len(), 2);
    assert!(matches!(
        verify_quorum(&note, &three, 3),
        Err(CosignatureError::NoQuorum { valid: 2, .. })
    ));
    // A cosignature over another checkpoint (a forked one) does not verify on this one.
    let mut forged = note.clone();
    let other = witness(1).cosign("dossier.x\n1\nAAAA\n", 1_700_000_000);
    forged.signatures[1] = other;
    assert_eq!(
        verify_quorum(&forged, &keys, 1),
        Err(CosignatureError::BadCosignature(
            "witness.example/w1".into()
        ))
    );
    // The log's own signature is not a cosignature even under a witness's name.
    let lines = parse_signature_lines(&note.signatures[1].to_line()).expect("lines");
    assert_eq!(lines, vec![note.signatures[1].clone()]);
    // Vkeys round-trip; a signed-note Ed25519 vkey (type 0x01) is not a witness key.
    assert_eq!(
        WitnessKey::from_vkey(&keys[0].to_vkey()).expect("vkey"),
        keys[0]
    );
    let log_vkey = checkpoint_verifier(LEDGER, log_key().verifying_key())
        .expect("v")
        .to_vkey();
    assert!(matches!(
        WitnessKey::from_vkey(&log_vkey),
        Err(CosignatureError::BadWitnessKey(_))
    ));
}

#[test]
fn go_checks_cosignatures_from_the_spec() {
    let dir = tempfile::tempdir().expect("tmp");
    let log_vkey = checkpoint_verifier(LEDGER, log_key().verifying_key())
        .expect("v")
        .to_vkey();
    let note = cosigned();
    let vkeys: Vec<String> = keys().iter().map(WitnessKey::to_vkey).collect();
    let run = |note: &str| {
        let file = dir.path().join("cases.json");
        let cases = json!({"vkey": log_vkey, "trees": [], "cosigned": [{"note": note, "witnesses": vkeys}]});
        std::fs::write(&file, serde_json::to_vec(&cases).expect("json")).expect("write");
        run_tlog_go(&file)
    };
    let out = run(&note).expect("Go accepts our cosignatures");
    assert!(out.contains("2 cosignatures verified"), "{out}");
    // A cosignature whose timestamp was changed is refused by the Go side.
    let mut parsed = SignedNote::parse(&note).expect("note");
    parsed.signatures[2].signature[7] ^= 1;
    let err = run(&parsed.to_text()).expect_err("Go refuses a changed timestamp");
    assert!(err.contains("does not verify"), "{err}");
}
