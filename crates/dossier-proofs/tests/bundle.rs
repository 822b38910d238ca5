//! Proof bundles (docs/PROOFS.md §9) over the golden ledger, in both tree versions: a bundle
//! made before version 2 (a `dossier-head` checkpoint and a BLAKE3 path) still checks, a path
//! of the other version does not, and a consistency bundle across versions is refused.

use std::path::PathBuf;

use dossier_chain::Hash;
use dossier_proofs::{BundleError, Checkpoint, ProofBundle, Proven, TreeHead, TreeVersion};
use ed25519_dalek::SigningKey;

const LEDGER: &str = "0190f4d2-7c1e-7a3b-9c4d-5e6f708192a3";

/// The golden ledger's records (exact bytes) and its founding key (secret 32 × 01).
fn golden() -> (Vec<String>, SigningKey) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors/ledger.jsonl");
    let text = std::fs::read_to_string(path).expect("ledger.jsonl");
    let records = text.lines().map(str::to_owned).collect();
    (records, SigningKey::from_bytes(&[1; 32]))
}

fn hexes(v: &[Hash]) -> Vec<String> {
    v.iter().map(Hash::to_hex).collect()
}

fn checkpoint(v: TreeVersion, leaves: &[Hash], n: u64, key: &SigningKey) -> String {
    let tree = TreeHead::from_leaves_in(v, leaves, n).expect("tree head");
    Checkpoint::new(LEDGER, tree)
        .expect("checkpoint")
        .sign(key)
        .expect("sign")
}

#[test]
fn bundles_of_both_versions_check_and_versions_are_not_mixed() {
    let (records, key) = golden();
    let leaves: Vec<Hash> = records
        .iter()
        .map(|r| Hash::of_record(r.as_bytes()))
        .collect();
    let n = leaves.len() as u64;
    let public = key.verifying_key();
    for v in [TreeVersion::V1Blake3, TreeVersion::V2Sha256] {
        let other = match v {
            TreeVersion::V1Blake3 => TreeVersion::V2Sha256,
            TreeVersion::V2Sha256 => TreeVersion::V1Blake3,
        };
        let note = checkpoint(v, &leaves, n, &key);
        let inclusion = |version: TreeVersion| ProofBundle::Inclusion {
            ledger: LEDGER.to_owned(),
            seq: 5,
            record: records[4].clone(),
            proof: hexes(&version.inclusion_proof(&leaves, 4, n).expect("proof")),
            checkpoint: note.clone(),
        };
        // Written and read as JSON, as `dossier prove` and `check-proof` do.
        let text = serde_json::to_string(&inclusion(v)).expect("json");
        assert!(text.contains("\"kind\":\"inclusion\""), "{text}");
        let proven = ProofBundle::parse(&text)
            .expect("parse")
            .check(public)
            .expect("checks");
        assert!(
            matches!(proven, Proven::Inclusion { seq: 5, size, .. } if size == n),
            "{proven:?}"
        );
        assert!(matches!(
            inclusion(other).check(public),
            Err(BundleError::NotIncluded { seq: 5, .. })
        ));
        let old = checkpoint(v, &leaves, 6, &key);
        let consistency = |old: &str, version: TreeVersion| ProofBundle::Consistency {
            ledger: LEDGER.to_owned(),
            old: old.to_owned(),
            new: note.clone(),
            proof: hexes(&version.consistency_proof(&leaves, 6, n).expect("proof")),
        };
        assert!(matches!(
            consistency(&old, v).check(public),
            Ok(Proven::Consistency {
                old_size: 6,
                new_size: 16,
                ..
            })
        ));
        assert!(matches!(
            consistency(&old, other).check(public),
            Err(BundleError::NotConsistent(_))
        ));
        let old_other = checkpoint(other, &leaves, 6, &key);
        assert!(matches!(
            consistency(&old_other, v).check(public),
            Err(BundleError::Versions { .. })
        ));
    }
}
