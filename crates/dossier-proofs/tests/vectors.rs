//! Known-answer vectors: `docs/vectors/merkle-v2.json` (the SHA-256 tree of version 2) and
//! `docs/vectors/merkle.json` (the BLAKE3 tree of version 1, frozen: version-1 checkpoints and
//! bundles must keep verifying), computed with the recursive reference implementation in
//! `common` (RFC 9162's definitions, written out directly) and checked against the crate's
//! streaming and accessor code. The files are compared byte for byte; an intended change
//! rewrites them with `DOSSIER_BLESS=1 cargo test -p dossier-proofs --test vectors`.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{compare_or_bless, ref_mth_in, ref_path_in, ref_proof_in, test_leaves, vectors_dir};
use dossier_chain::Hash;
use dossier_proofs::note::{NoteVerifier, key_id};
use dossier_proofs::{
    Checkpoint, RootBuilder, TreeHead, TreeVersion, checkpoint_verifier, verify_checkpoint,
};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hexes(v: &[Hash]) -> Vec<String> {
    v.iter().map(Hash::to_hex).collect()
}

/// The golden ledger of `docs/vectors/ledger.json`: its id, record hashes and founding secret.
fn golden_ledger() -> (String, Vec<Hash>, [u8; 32]) {
    let text = std::fs::read_to_string(vectors_dir().join("ledger.json")).expect("ledger.json");
    let doc: Value = serde_json::from_str(&text).expect("json");
    let ledger = doc["ledger"].as_str().expect("ledger").to_owned();
    let hashes = doc["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| Hash::from_hex(r["hash"].as_str().expect("hash")).expect("hex"))
        .collect();
    let secret = Hash::from_hex(doc["keys"][0]["secret"].as_str().expect("secret"))
        .expect("hex")
        .0;
    (ledger, hashes, secret)
}

fn file_of(v: TreeVersion) -> &'static str {
    match v {
        TreeVersion::V1Blake3 => "merkle.json",
        TreeVersion::V2Sha256 => "merkle-v2.json",
    }
}

#[allow(clippy::too_many_lines)]
fn build(v: TreeVersion) -> Vec<u8> {
    let ref_mth = |d: &[Hash]| ref_mth_in(v, d);
    let ref_path = |m: usize, d: &[Hash]| ref_path_in(v, m, d);
    let ref_proof = |m: usize, d: &[Hash]| ref_proof_in(v, m, d);
    let leaves = test_leaves(10);
    // The crate's streaming root against the reference, size by size.
    let mut b = RootBuilder::with_version(v);
    let mut roots = Vec::new();
    for n in 0..=10usize {
        let want = ref_mth(&leaves[..n]);
        assert_eq!(b.root(), want, "root of size {n}");
        roots.push(json!({"size": n, "root": want.to_hex()}));
        if n < 10 {
            b.push(leaves[n]);
        }
    }
    let leaf_rows: Vec<Value> = leaves
        .iter()
        .enumerate()
        .map(|(i, l)| json!({"index": i, "input": i.to_string(), "leaf": l.to_hex(), "leaf_hash": v.leaf_hash(l).to_hex()}))
        .collect();
    let mut inclusion = Vec::new();
    for n in 1..=10usize {
        for m in 0..n {
            let path = ref_path(m, &leaves[..n]);
            assert_eq!(
                v.inclusion_proof(&leaves, m as u64, n as u64)
                    .expect("proof"),
                path
            );
            inclusion.push(
                json!({"size": n, "index": m, "leaf": leaves[m].to_hex(), "path": hexes(&path)}),
            );
        }
    }
    let mut consistency = Vec::new();
    for n in 1..=10usize {
        for m in 0..=n {
            let path = if m == 0 || m == n {
                Vec::new()
            } else {
                ref_proof(m, &leaves[..n])
            };
            assert_eq!(
                v.consistency_proof(&leaves, m as u64, n as u64)
                    .expect("proof"),
                path
            );
            if (m == 0 || m == n) && n != 7 {
                continue; // the trivial cases once, for size 7
            }
            consistency.push(json!({
                "old_size": m, "new_size": n,
                "old_root": ref_mth(&leaves[..m]).to_hex(), "new_root": ref_mth(&leaves[..n]).to_hex(),
                "path": hexes(&path),
            }));
        }
    }

    // A signed checkpoint of the golden ledger, by its founding key.
    let (ledger, records, secret) = golden_ledger();
    let key = SigningKey::from_bytes(&secret);
    let size = records.len() as u64;
    let tree = TreeHead {
        version: v,
        size,
        root: ref_mth(&records),
        head: records[records.len() - 1],
    };
    assert_eq!(
        TreeHead::from_leaves_in(v, &records, size).expect("tree head"),
        tree
    );
    let cp = Checkpoint::new(&ledger, tree).expect("checkpoint");
    let note = cp.sign(&key).expect("sign");
    let verifier = checkpoint_verifier(&ledger, key.verifying_key()).expect("verifier");
    let last_leaf_proof = ref_path(records.len() - 1, &records);
    verify_checkpoint(&note, &verifier, &tree, &last_leaf_proof).expect("checkpoint verifies");
    let record5 = ref_path(4, &records);
    let sig_line = note.lines().last().expect("signature line");
    let blob = STANDARD
        .decode(sig_line.rsplit(' ').next().expect("blob"))
        .expect("base64");

    let (description, hash, leaf_rule) = match v {
        TreeVersion::V1Blake3 => (
            "Known-answer vectors of the dossier Merkle tree, version 1 (RFC 9162 section 2.1 with BLAKE3; frozen: still verified, no longer produced) and checkpoints; see docs/PROOFS.md. Hashes are lowercase hex. Generated by crates/dossier-proofs/tests/vectors.rs.",
            "BLAKE3 (32-byte output); leaf hash = BLAKE3(0x00 || leaf), node = BLAKE3(0x01 || left || right), empty tree = BLAKE3 of no bytes",
            "leaf i (0-based) = BLAKE3(ASCII decimal i); in a ledger, leaf i is the hash of record i + 1",
        ),
        TreeVersion::V2Sha256 => (
            "Known-answer vectors of the dossier Merkle tree, version 2 (the RFC 6962 / RFC 9162 section 2.1 tree with SHA-256) and checkpoints; see docs/PROOFS.md. Hashes are lowercase hex. Generated by crates/dossier-proofs/tests/vectors.rs.",
            "SHA-256; leaf hash = SHA-256(0x00 || leaf), node = SHA-256(0x01 || left || right), empty tree = SHA-256 of no bytes",
            "leaf i (0-based) = BLAKE3(ASCII decimal i) (32 bytes, like a record hash); in a ledger, leaf i is the hash of record i + 1",
        ),
    };
    let doc = json!({
        "description": description,
        "version": v.number(),
        "hash": hash,
        "empty_root": v.empty_root().to_hex(),
        "leaves": leaf_rows,
        "leaf_rule": leaf_rule,
        "roots": roots,
        "inclusion": inclusion,
        "consistency": consistency,
        "checkpoint": {
            "description": "A checkpoint of the 16-record golden ledger in ledger.json (leaves = its record hashes), signed by its founding key (secret 32 x 01, a test key)",
            "ledger": ledger,
            "key_name": verifier.name(),
            "public": Hash(*verifier.public().as_bytes()).to_hex(),
            "key_id": hex(&verifier.id()),
            "vkey": verifier.to_vkey(),
            "size": size,
            "root": tree.root.to_hex(),
            "root_base64": STANDARD.encode(tree.root.0),
            "head": tree.head.to_hex(),
            "text": cp.body(),
            "signature": hex(&blob[4..]),
            "note": note,
            "last_leaf_proof": hexes(&last_leaf_proof),
            "record_5_inclusion_proof": hexes(&record5),
        },
    });
    let mut out = serde_json::to_vec_pretty(&doc).expect("json");
    out.push(b'\n');
    out
}

#[test]
fn merkle_vectors_match() {
    check_file(TreeVersion::V2Sha256);
}

#[test]
fn merkle_v1_vectors_are_unchanged() {
    check_file(TreeVersion::V1Blake3);
}

fn check_file(v: TreeVersion) {
    compare_or_bless(file_of(v), &build(v), "vectors");
}

/// Reads the committed files and checks every vector with the verifiers alone, as an
/// independent implementation would.
#[test]
fn committed_vectors_verify() {
    verify_file(TreeVersion::V2Sha256);
    verify_file(TreeVersion::V1Blake3);
}

fn verify_file(v: TreeVersion) {
    let text = std::fs::read_to_string(vectors_dir().join(file_of(v))).expect("vectors file");
    let doc: Value = serde_json::from_str(&text).expect("json");
    let h = |v: &Value| Hash::from_hex(v.as_str().expect("hex string")).expect("hex");
    let hs = |v: &Value| {
        v.as_array()
            .expect("array")
            .iter()
            .map(h)
            .collect::<Vec<Hash>>()
    };
    let roots: Vec<Hash> = doc["roots"]
        .as_array()
        .expect("roots")
        .iter()
        .map(|r| h(&r["root"]))
        .collect();
    assert_eq!(roots[0], v.empty_root());
    assert_eq!(doc["version"].as_u64(), Some(u64::from(v.number())));
    for c in doc["inclusion"].as_array().expect("inclusion") {
        let (n, m) = (
            c["size"].as_u64().expect("size"),
            c["index"].as_u64().expect("index"),
        );
        v.verify_inclusion(&h(&c["leaf"]), m, n, &hs(&c["path"]), &roots[n as usize])
            .expect("inclusion vector");
    }
    for c in doc["consistency"].as_array().expect("consistency") {
        let (m, n) = (
            c["old_size"].as_u64().expect("m"),
            c["new_size"].as_u64().expect("n"),
        );
        v.verify_consistency(
            m,
            n,
            &h(&c["old_root"]),
            &h(&c["new_root"]),
            &hs(&c["path"]),
        )
        .expect("consistency vector");
    }
    let c = &doc["checkpoint"];
    let verifier = NoteVerifier::from_vkey(c["vkey"].as_str().expect("vkey")).expect("vkey parses");
    assert_eq!(
        verifier.id(),
        key_id(c["key_name"].as_str().expect("name"), verifier.public())
    );
    let tree = TreeHead {
        version: v,
        size: c["size"].as_u64().expect("size"),
        root: h(&c["root"]),
        head: h(&c["head"]),
    };
    verify_checkpoint(
        c["note"].as_str().expect("note"),
        &verifier,
        &tree,
        &hs(&c["last_leaf_proof"]),
    )
    .expect("checkpoint vector");
    v.verify_inclusion(
        &golden_ledger().1[4],
        4,
        tree.size,
        &hs(&c["record_5_inclusion_proof"]),
        &tree.root,
    )
    .expect("record 5");
}

/// The worked examples of docs/PROOFS.md §13 are the code's: every `MTH(D[a:b]) … = <hash>` and
/// `LEAF(leaf(i)) … = <hash>` line states the value computed now, every other 64-digit hash in
/// the section is one the examples are made of (a leaf, a subtree root, the golden ledger's
/// root, head or key), and the signed checkpoint shown is the one in merkle-v2.json.
#[test]
fn worked_examples_are_the_codes() {
    let text = std::fs::read_to_string(vectors_dir().join("../PROOFS.md")).expect("PROOFS.md");
    let section = &text[text.find("## 13. Worked examples").expect("§13")..];
    let v = TreeVersion::V2Sha256;
    let leaves = test_leaves(10);
    let mut known = std::collections::HashSet::new();
    for a in 0..10 {
        known.insert(leaves[a].to_hex());
        for b in a + 1..=10 {
            known.insert(ref_mth_in(v, &leaves[a..b]).to_hex());
        }
    }
    let (_, records, secret) = golden_ledger();
    known.insert(ref_mth_in(v, &records).to_hex());
    known.insert(records[records.len() - 1].to_hex());
    known.insert(hex(SigningKey::from_bytes(&secret)
        .verifying_key()
        .as_bytes()));
    let mut stated = 0;
    for line in section.lines() {
        let Some(value) = line
            .rsplit(' ')
            .next()
            .filter(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        else {
            continue;
        };
        if let Some(range) = line
            .strip_prefix("MTH(D[")
            .and_then(|r| r.split_once("])"))
            .map(|(r, _)| r)
        {
            let (a, b) = range.split_once(':').expect("a:b");
            let (a, b): (usize, usize) = (a.parse().expect("a"), b.parse().expect("b"));
            assert_eq!(value, ref_mth_in(v, &leaves[a..b]).to_hex(), "{line}");
            stated += 1;
        } else if let Some(i) = line
            .strip_prefix("LEAF(leaf(")
            .and_then(|r| r.split_once(')'))
            .map(|(i, _)| i)
        {
            let i: usize = i.parse().expect("i");
            assert_eq!(value, v.leaf_hash(&leaves[i]).to_hex(), "{line}");
            stated += 1;
        }
    }
    // Six leaf hashes (the first line ends in a remark) and seven subtree roots.
    assert_eq!(stated, 13);
    let mut tokens = 0;
    for word in section.split(|c: char| !c.is_ascii_hexdigit()) {
        if word.len() == 64 {
            assert!(
                known.contains(word),
                "§13 names {word}, which the code does not produce"
            );
            tokens += 1;
        }
    }
    assert!(tokens > 20, "{tokens}");
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(vectors_dir().join("merkle-v2.json")).expect("vectors"),
    )
    .expect("json");
    let note = doc["checkpoint"]["note"].as_str().expect("note");
    assert!(
        section.contains(note),
        "§13 shows another checkpoint than merkle-v2.json's"
    );
    assert!(section.contains(doc["checkpoint"]["vkey"].as_str().expect("vkey")));
    assert!(section.contains(&format!(
        "{} bytes",
        doc["checkpoint"]["text"].as_str().expect("text").len()
    )));
}
