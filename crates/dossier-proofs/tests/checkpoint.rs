//! Signed notes, checkpoints and fork evidence.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::test_leaves;
use dossier_chain::{GENESIS_PREV, Hash, Signer};
use dossier_proofs::checkpoint::check_ledger_id;
use dossier_proofs::note::{NoteError, NoteVerifier, SignedNote, key_id, sign_note};
use dossier_proofs::{
    Checkpoint, CheckpointError, ForkError, ForkEvidence, ForkKind, RootBuilder, TreeHead,
    TreeVersion, checkpoint_verifier, inclusion_proof, key_name, open_checkpoint, verify_binding,
    verify_checkpoint,
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

const LEDGER: &str = "0190f4d2-7c1e-7a3b-9c4d-5e6f708192a3";

fn key(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&[byte; 32])
}

fn verifier(k: &SigningKey) -> NoteVerifier {
    checkpoint_verifier(LEDGER, k.verifying_key()).expect("verifier")
}

fn head_of(leaves: &[Hash], n: u64) -> TreeHead {
    TreeHead::from_leaves(leaves, n).expect("tree head")
}

fn signed(leaves: &[Hash], n: u64, k: &SigningKey) -> String {
    Checkpoint::new(LEDGER, head_of(leaves, n))
        .expect("checkpoint")
        .sign(k)
        .expect("sign")
}

// The example key and note of the Go reference implementation of signed-note
// (golang.org/x/mod/sumdb/note): Ed25519 is deterministic, so signing the same text with the
// same key must reproduce the published note byte for byte.
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

#[test]
fn key_id_follows_the_signed_note_rule_and_the_go_vector() {
    let v = NoteVerifier::from_vkey(GO_VKEY).expect("vkey");
    assert_eq!(v.name(), "PeterNeumann");
    assert_eq!(v.id(), [0xc7, 0x4f, 0x20, 0xa3]);
    assert_eq!(v.to_vkey(), GO_VKEY);
    // The rule written out: SHA-256(name || 0x0A || 0x01 || public key), first 4 bytes.
    let mut h = Sha256::new();
    h.update(b"PeterNeumann\n\x01");
    h.update(v.public().as_bytes());
    assert_eq!(&h.finalize()[..4], &v.id());
    assert_eq!(key_id("PeterNeumann", v.public()), v.id());

    // Signing reproduces the published note.
    let seed_b64 = GO_SKEY.splitn(5, '+').nth(4).expect("key material");
    let raw = STANDARD.decode(seed_b64).expect("base64");
    assert_eq!(raw[0], 0x01);
    let sk = SigningKey::from_bytes(&raw[1..].try_into().expect("32 bytes"));
    assert_eq!(sk.verifying_key(), *v.public());
    assert_eq!(
        sign_note(GO_TEXT, "PeterNeumann", &sk).expect("sign"),
        GO_NOTE
    );
    let note = SignedNote::parse(GO_NOTE).expect("parse");
    assert_eq!(note.text, GO_TEXT);
    note.verify(&v).expect("verifies");
    assert_eq!(note.to_text(), GO_NOTE);
    let modified =
        SignedNote::parse(&GO_NOTE.replace("cryptography", "cryptographY")).expect("parse");
    assert_eq!(
        modified.verify(&v),
        Err(NoteError::BadSignature("PeterNeumann".into()))
    );
}

#[test]
fn bad_verifier_keys_are_rejected() {
    for bad in [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", // wrong id
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", // uppercase id
        "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  // not 33 bytes
        "PeterNeumann+c74f20a3+AhpcQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWx", // wrong type
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3",
        "",
    ] {
        assert!(NoteVerifier::from_vkey(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn checkpoint_round_trip() {
    let leaves = test_leaves(37);
    let k = key(4);
    let th = head_of(&leaves, 37);
    let cp = Checkpoint::new(LEDGER, th).expect("checkpoint");
    let note = cp.sign(&k).expect("sign");
    let root_b64 = STANDARD.encode(th.root.0);
    let body = format!(
        "dossier.{LEDGER}\n37\n{root_b64}\ndossier-head-v2 {}\n",
        leaves[36].to_hex()
    );
    assert_eq!(cp.body(), body);
    assert!(note.starts_with(&format!("{body}\n\u{2014} dossier.{LEDGER} ")));
    assert!(note.ends_with('\n'));
    assert_eq!(note.matches('\n').count(), 6);
    assert_eq!(Checkpoint::parse_body(&body), Ok(cp.clone()));

    let v = verifier(&k);
    assert_eq!(v.name(), key_name(LEDGER).expect("name"));
    assert_eq!(open_checkpoint(&note, &v), Ok(cp.clone()));
    let proof = inclusion_proof(&leaves, 36, 37).expect("proof");
    assert_eq!(verify_checkpoint(&note, &v, &th, &proof), Ok(cp.clone()));

    // The streaming builder's last-leaf proof is the same proof.
    let mut b = RootBuilder::new();
    leaves.iter().for_each(|l| b.push(*l));
    assert_eq!(b.last_leaf_proof(), Some(proof.clone()));
    assert_eq!(b.tree_head(), Some(th));

    // Against another ledger state.
    let other = TreeHead { size: 36, ..th };
    assert_eq!(
        verify_checkpoint(&note, &v, &other, &proof),
        Err(CheckpointError::SizeMismatch {
            checkpoint: 37,
            ledger: 36
        })
    );
    let other = TreeHead {
        root: Hash([1; 32]),
        ..th
    };
    assert_eq!(
        verify_checkpoint(&note, &v, &other, &proof),
        Err(CheckpointError::RootMismatch)
    );
    let other = TreeHead {
        head: leaves[35],
        ..th
    };
    assert_eq!(
        verify_checkpoint(&note, &v, &other, &proof),
        Err(CheckpointError::HeadMismatch)
    );
    // A wrong binding proof.
    let wrong = inclusion_proof(&leaves, 35, 37).expect("proof");
    assert!(matches!(
        verify_checkpoint(&note, &v, &th, &wrong),
        Err(CheckpointError::Unbound(_))
    ));

    // Signed with a dossier_chain::Signer: the same note.
    let signer = Signer::from_secret([4; 32], "auditor");
    assert_eq!(cp.sign_with(&signer).expect("sign"), note);
}

#[test]
fn empty_ledger_checkpoint() {
    let k = key(5);
    let th = RootBuilder::new().tree_head().expect("empty");
    let note = Checkpoint::new(LEDGER, th)
        .expect("cp")
        .sign(&k)
        .expect("sign");
    assert!(note.contains(&format!(
        "\n0\n{}\ndossier-head-v2 {}\n",
        STANDARD.encode(th.root.0),
        GENESIS_PREV.to_hex()
    )));
    verify_checkpoint(&note, &verifier(&k), &th, &[]).expect("verifies");
}

#[test]
fn a_signature_by_another_key_fails() {
    let leaves = test_leaves(9);
    let th = head_of(&leaves, 9);
    let proof = inclusion_proof(&leaves, 8, 9).expect("proof");
    let note = signed(&leaves, 9, &key(6));
    // Another key under the same name: different key id, so no signature is found.
    assert!(matches!(
        verify_checkpoint(&note, &verifier(&key(7)), &th, &proof),
        Err(CheckpointError::Note(NoteError::NoSignature(_)))
    ));
    // Another key forging the right key id: the signature does not verify.
    let forged_by = key(7);
    let good = verifier(&key(6));
    let cp = Checkpoint::new(LEDGER, th).expect("cp");
    let mut sig =
        dossier_proofs::note::sign_text(&cp.body(), good.name(), &forged_by).expect("sign");
    sig.key_id = good.id();
    let forged = SignedNote {
        text: cp.body(),
        signatures: vec![sig],
    }
    .to_text();
    assert!(matches!(
        verify_checkpoint(&forged, &good, &th, &proof),
        Err(CheckpointError::Note(NoteError::BadSignature(_)))
    ));
    // Several signatures: the right one is found among others; a bad line under the right
    // key fails even next to a good one.
    let other_sig =
        dossier_proofs::note::sign_text(&cp.body(), "witness.example", &key(8)).expect("sign");
    let good_sig = SignedNote::parse(&note).expect("parse").signatures[0].clone();
    let multi = SignedNote {
        text: cp.body(),
        signatures: vec![other_sig.clone(), good_sig.clone()],
    }
    .to_text();
    verify_checkpoint(&multi, &good, &th, &proof).expect("found among others");
    let mut bad_sig = good_sig.clone();
    bad_sig.signature[0] ^= 1;
    let mixed = SignedNote {
        text: cp.body(),
        signatures: vec![good_sig, bad_sig],
    }
    .to_text();
    assert!(verify_checkpoint(&mixed, &good, &th, &proof).is_err());
    // A checkpoint of another ledger under its own key name does not verify with this key.
    let other_ledger = "0190f4d2-7c1e-7a3b-9c4d-5e6f708192a4";
    let other = Checkpoint::new(other_ledger, th)
        .expect("cp")
        .sign(&key(6))
        .expect("sign");
    assert!(matches!(
        open_checkpoint(&other, &good),
        Err(CheckpointError::WrongOrigin { .. })
    ));
}

#[test]
fn a_modified_body_fails() {
    let leaves = test_leaves(9);
    let k = key(6);
    let v = verifier(&k);
    let note = signed(&leaves, 9, &k);
    let body_len = note.find("\n\n").expect("blank line") + 1;
    // Every single-byte change to the body that still parses must fail the signature; the
    // others fail parsing. None may verify.
    let bytes = note.as_bytes();
    for i in 0..body_len {
        for replacement in [
            if i % 2 == 0 { b'0' } else { b'a' },
            if i % 3 == 0 { b'\n' } else { b'+' },
        ] {
            if bytes[i] == replacement {
                continue;
            }
            let mut changed = bytes.to_vec();
            changed[i] = replacement;
            let Ok(text) = String::from_utf8(changed) else {
                continue;
            };
            assert!(
                open_checkpoint(&text, &v).is_err(),
                "changed byte {i} to {replacement} verified"
            );
        }
    }
}

#[test]
fn parsing_is_strict() {
    let leaves = test_leaves(9);
    let k = key(6);
    let v = verifier(&k);
    let good = signed(&leaves, 9, &k);
    let sig_line = good.lines().last().expect("line").to_owned();
    let th = head_of(&leaves, 9);
    let root = STANDARD.encode(th.root.0);
    let head = th.head.to_hex();
    let bodies = [
        format!("dossier.{LEDGER}\n09\n{root}\ndossier-head-v2 {head}\n"),
        format!("dossier.{LEDGER}\n+9\n{root}\ndossier-head-v2 {head}\n"),
        format!("dossier.{LEDGER}\n 9\n{root}\ndossier-head-v2 {head}\n"),
        format!("dossier.{LEDGER}\n18446744073709551616\n{root}\ndossier-head-v2 {head}\n"),
        format!(
            "dossier.{LEDGER}\n9\n{}\ndossier-head-v2 {head}\n",
            root.trim_end_matches('=')
        ),
        format!(
            "dossier.{LEDGER}\n9\n{}\ndossier-head-v2 {head}\n",
            th.root.to_hex()
        ),
        format!(
            "dossier.{LEDGER}\n9\n{root}\ndossier-head-v2 {}\n",
            head.to_uppercase()
        ),
        format!("dossier.{LEDGER}\n9\n{root}\ndossier-head-v2  {head}\n"),
        format!("dossier.{LEDGER}\n9\n{root}\ndossier-head-v2 {head} \n"),
        format!("dossier.{LEDGER}\n9\n{root}\n"),
        format!("dossier.{LEDGER}\n9\n{root}\ndossier-head-v2 {head}\nextra line\n"),
        format!("dossier.{LEDGER}\n9\n{root}\ndossier-head-v2 {head}"),
        format!(
            "dossier.{}\n9\n{root}\ndossier-head-v2 {head}\n",
            LEDGER.to_uppercase()
        ),
        format!("dossier.{LEDGER}\r\n9\n{root}\ndossier-head-v2 {head}\n"),
        format!("dossier/{LEDGER}\n9\n{root}\ndossier-head-v2 {head}\n"),
        format!("dossier.{LEDGER}\n0\n{root}\ndossier-head-v2 {head}\n"),
    ];
    for body in &bodies {
        assert!(
            Checkpoint::parse_body(body).is_err(),
            "body {body:?} parsed"
        );
        // Even correctly signed, a malformed body is rejected.
        if let Ok(note) = sign_note(body, v.name(), &k) {
            assert!(
                open_checkpoint(&note, &v).is_err(),
                "signed body {body:?} opened"
            );
        }
    }
    // Non-canonical base64 of the root (trailing bits set).
    let mut noncanon = root.clone().into_bytes();
    let last = noncanon.len() - 2;
    noncanon[last] = if noncanon[last] == b'B' { b'C' } else { b'B' };
    let noncanon = String::from_utf8(noncanon).expect("ascii");
    assert!(
        STANDARD.decode(&noncanon).is_err()
            || STANDARD.encode(STANDARD.decode(&noncanon).unwrap_or_default()) != noncanon
    );
    assert!(
        Checkpoint::parse_body(&format!(
            "dossier.{LEDGER}\n9\n{noncanon}\ndossier-head-v2 {head}\n"
        ))
        .is_err()
    );

    let body_end = good.find("\n\n").expect("blank") + 1;
    let body = &good[..body_end];
    let notes = [
        format!("{body}{sig_line}\n"),      // no blank line
        format!("{body}\n\n{sig_line}\n"),  // two blank lines
        format!("{body}\n{sig_line}"),      // no final newline
        format!("{body}\n{sig_line}\n\n"),  // trailing blank line
        format!("{body}\n{sig_line}\nx\n"), // trailing garbage
        format!("{body}\n"),                // no signature
        format!("{body}\n{}\n", sig_line.replacen('\u{2014}', "-", 1)),
        format!("{body}\n{}\n", sig_line.replacen(' ', "  ", 1)),
        format!("{body}\n{}\n", sig_line.trim_end_matches('=')),
        format!("{body}\n{sig_line} \n"),
        format!("{body}\n{}\n", sig_line.replacen("dossier.", "dossier+", 1)),
        format!("\n{body}\n{sig_line}\n"),
        format!("{}\n{sig_line}\n", body.replace('\n', "\r\n")),
        good.replace("\n\n", "\n\u{7}\n"),
    ];
    for note in &notes {
        assert!(open_checkpoint(note, &v).is_err(), "note {note:?} opened");
    }
    assert!(open_checkpoint("", &v).is_err());
    assert!(open_checkpoint("\u{2014}", &v).is_err());
    open_checkpoint(&good, &v).expect("the unmodified note opens");
}

#[test]
fn ledger_ids_are_checked() {
    check_ledger_id(LEDGER).expect("valid");
    for bad in [
        "",
        "0190f4d2-7c1e-7a3b-9c4d-5e6f708192a",
        "0190F4D2-7c1e-7a3b-9c4d-5e6f708192a3",
        "0190f4d2x7c1e-7a3b-9c4d-5e6f708192a3",
        "0190f4d2-7c1e-7a3b-9c4d-5e6f708192a3 ",
    ] {
        assert!(check_ledger_id(bad).is_err(), "{bad:?}");
        assert!(Checkpoint::new(bad, head_of(&[], 0)).is_err());
    }
}

// ---- fork evidence ----

/// Ledger A: the test leaves. Ledger B: the same up to leaf 6, then different leaves.
fn forked(n: u64) -> Vec<Hash> {
    let mut v = test_leaves(n);
    for (i, l) in v.iter_mut().enumerate().skip(7) {
        *l = Hash(*blake3::hash(format!("forked {i}").as_bytes()).as_bytes());
    }
    v
}

#[test]
fn fork_same_size_different_roots() {
    let k = key(9);
    let v = verifier(&k);
    let a = test_leaves(20);
    let b = forked(20);
    let (ca, cb) = (signed(&a, 20, &k), signed(&b, 20, &k));
    let ev = ForkEvidence::find(&ca, &cb, &v, &b)
        .expect("find")
        .expect("a fork");
    assert!(ev.prefix_leaves.is_empty() && ev.consistency_proof.is_empty());
    assert_eq!(ev.check(&v), Ok(ForkKind::SameSizeDifferentRoots));
    // JSON round trip, checked by a third party with only the key.
    let json = serde_json::to_string(&ev).expect("json");
    let back: ForkEvidence = serde_json::from_str(&json).expect("parse");
    assert_eq!(
        back.check(&NoteVerifier::from_vkey(&v.to_vkey()).expect("vkey")),
        Ok(ForkKind::SameSizeDifferentRoots)
    );
    // With another key, nothing is shown.
    assert!(matches!(
        ev.check(&verifier(&key(10))),
        Err(ForkError::Checkpoint { .. })
    ));
    // The same checkpoint twice is no fork.
    assert_eq!(ForkEvidence::find(&ca, &ca, &v, &a), Ok(None));
    let same = ForkEvidence {
        first: ca.clone(),
        second: ca.clone(),
        prefix_leaves: vec![],
        consistency_proof: vec![],
    };
    assert_eq!(same.check(&v), Err(ForkError::NotAFork));
}

#[test]
fn fork_same_tree_different_heads() {
    let k = key(9);
    let v = verifier(&k);
    let a = test_leaves(12);
    let honest = signed(&a, 12, &k);
    let lying = Checkpoint::new(
        LEDGER,
        TreeHead {
            head: a[3],
            ..head_of(&a, 12)
        },
    )
    .expect("cp")
    .sign(&k)
    .expect("sign");
    let ev = ForkEvidence::find(&honest, &lying, &v, &a)
        .expect("find")
        .expect("a fork");
    assert_eq!(ev.check(&v), Ok(ForkKind::SameTreeDifferentHeads));
}

#[test]
fn fork_different_sizes() {
    let k = key(9);
    let v = verifier(&k);
    let a = test_leaves(40);
    let b = forked(40);
    // A at 10 against B at 25: B's first 10 leaves rebuild another root.
    let (ca10, cb25) = (signed(&a, 10, &k), signed(&b, 25, &k));
    let ev = ForkEvidence::find(&ca10, &cb25, &v, &b)
        .expect("find")
        .expect("a fork");
    assert_eq!(ev.prefix_leaves, b[..10].to_vec());
    assert_eq!(ev.check(&v), Ok(ForkKind::PrefixRootDiffers));
    // Order does not matter.
    let ev2 = ForkEvidence::find(&cb25, &ca10, &v, &b)
        .expect("find")
        .expect("a fork");
    assert_eq!(ev2.check(&v), Ok(ForkKind::PrefixRootDiffers));
    // Leaves that are not the larger tree's are refused.
    assert_eq!(
        ForkEvidence::find(&ca10, &cb25, &v, &a),
        Err(ForkError::LeavesDoNotMatch)
    );
    // Tampered evidence fails: a prefix leaf changed, the proof changed, a leaf missing.
    let mut t = ev.clone();
    t.prefix_leaves[2] = Hash([0; 32]);
    assert!(matches!(t.check(&v), Err(ForkError::BadConsistency(_))));
    let mut t = ev.clone();
    t.consistency_proof[0].0[0] ^= 1;
    assert!(matches!(t.check(&v), Err(ForkError::BadConsistency(_))));
    let mut t = ev.clone();
    t.prefix_leaves.pop();
    assert!(matches!(t.check(&v), Err(ForkError::Malformed(_))));
    // Substituting the smaller checkpoint's own leaves (A's) does not tie them to B.
    let mut t = ev.clone();
    t.prefix_leaves = a[..10].to_vec();
    assert!(matches!(
        t.check(&v),
        Err(ForkError::BadConsistency(_)) | Err(ForkError::NotAFork)
    ));

    // A fork point before the smaller size: A at 5 and B at 25 agree (B = A up to leaf 6).
    let ca5 = signed(&a, 5, &k);
    assert_eq!(ForkEvidence::find(&ca5, &cb25, &v, &b), Ok(None));
    let consistent = ForkEvidence {
        first: ca5.clone(),
        second: cb25.clone(),
        prefix_leaves: b[..5].to_vec(),
        consistency_proof: dossier_proofs::consistency_proof(&b, 5, 25).expect("proof"),
    };
    assert_eq!(consistent.check(&v), Err(ForkError::NotAFork));
    // Consistent pairs of one ledger at many sizes: never a fork.
    let notes: Vec<String> = (0..=40u64).map(|n| signed(&a, n, &k)).collect();
    for m in (0..=40usize).step_by(3) {
        for n in (m..=40).step_by(7) {
            assert_eq!(
                ForkEvidence::find(&notes[m], &notes[n], &v, &a),
                Ok(None),
                "{m} {n}"
            );
        }
    }
}

#[test]
fn fork_smaller_head_not_last_leaf() {
    let k = key(9);
    let v = verifier(&k);
    let a = test_leaves(30);
    let lying = Checkpoint::new(
        LEDGER,
        TreeHead {
            head: a[0],
            ..head_of(&a, 10)
        },
    )
    .expect("cp")
    .sign(&k)
    .expect("sign");
    let honest = signed(&a, 30, &k);
    let ev = ForkEvidence::find(&lying, &honest, &v, &a)
        .expect("find")
        .expect("a fork");
    assert_eq!(ev.check(&v), Ok(ForkKind::SmallerHeadNotLastLeaf));
}

#[test]
fn fork_evidence_json_is_strict() {
    let bad = r#"{"first":"x","second":"y","prefix_leaves":["ABCD"],"consistency_proof":[]}"#;
    assert!(serde_json::from_str::<ForkEvidence>(bad).is_err());
    let extra = r#"{"first":"x","second":"y","prefix_leaves":[],"consistency_proof":[],"more":1}"#;
    assert!(serde_json::from_str::<ForkEvidence>(extra).is_err());
    let _unused: Option<VerifyingKey> = None;
}

/// Version-1 (BLAKE3 tree) checkpoints, made before version 2, still open and verify; their
/// extension keyword names the version, so a version-1 root is never read as a version-2 one.
#[test]
fn version_1_checkpoints_still_verify() {
    let leaves = test_leaves(21);
    let k = key(6);
    let v = verifier(&k);
    let v1 = TreeHead::from_leaves_in(TreeVersion::V1Blake3, &leaves, 21).expect("v1 head");
    let v2 = head_of(&leaves, 21);
    assert_ne!(v1.root, v2.root);
    let cp1 = Checkpoint::new(LEDGER, v1).expect("cp");
    assert!(cp1.body().contains("\ndossier-head "));
    let note1 = cp1.sign(&k).expect("sign");
    let proof1 = TreeVersion::V1Blake3
        .inclusion_proof(&leaves, 20, 21)
        .expect("proof");
    assert_eq!(verify_checkpoint(&note1, &v, &v1, &proof1), Ok(cp1.clone()));
    // Expected in version 2, the version-1 checkpoint is refused by version, not by root.
    assert_eq!(
        verify_checkpoint(&note1, &v, &v2, &proof1),
        Err(CheckpointError::VersionMismatch {
            checkpoint: 1,
            expected: 2
        })
    );
    // A version-1 root relabelled as version 2 (re-signed) is not bound: the head does not
    // verify as the last leaf under SHA-256.
    let relabelled = Checkpoint::new(
        LEDGER,
        TreeHead {
            version: TreeVersion::V2Sha256,
            ..v1
        },
    )
    .expect("cp");
    assert!(relabelled.body().contains("\ndossier-head-v2 "));
    let proof2 = inclusion_proof(&leaves, 20, 21).expect("proof");
    assert!(matches!(
        verify_binding(&relabelled.tree, &proof2),
        Err(CheckpointError::Unbound(_))
    ));
    // Unknown versions are refused.
    let body = cp1.body().replace("dossier-head ", "dossier-head-v3 ");
    assert!(matches!(
        Checkpoint::parse_body(&body),
        Err(CheckpointError::Malformed(_))
    ));
}
