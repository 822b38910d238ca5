//! Go's transparency-log code checks dossier's tree: checkpoints opened with
//! `golang.org/x/mod/sumdb/note`, inclusion and consistency proofs checked with
//! `sumdb/tlog`'s `CheckRecord` and `CheckTree`, and the C2SP tiles and entry bundles read
//! through `tlog.TileHashReader` (which checks every tile against the checkpoint's root), for
//! every tree of 1 to 300 leaves and for a ledger of 100,002 records. The checker is
//! `tests/tlog-go/main.go`, built from Debian's Go and x/mod (`scripts/install-go.sh`); a
//! missing Go fails these tests. Each corruption (a byte flipped in a tile, an entry bundle, a
//! proof or a signature) must be refused by the Go side.

mod common;

use std::path::Path;

use common::CachedLeaves;
use dossier_chain::Hash;
use dossier_proofs::{
    Checkpoint, Leaves, TreeHead, checkpoint_verifier, consistency_proof, inclusion_proof, tiles_of,
};
use dossier_testkit::run_tlog_go;
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

const LEDGER: &str = "0190f4d2-7c1e-7a3b-9c4d-5e6f708192a3";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[3; 32])
}

fn vkey() -> String {
    checkpoint_verifier(LEDGER, key().verifying_key())
        .expect("verifier")
        .to_vkey()
}

fn signed<L: Leaves + ?Sized>(leaves: &L, n: u64) -> String {
    Checkpoint::new(LEDGER, TreeHead::from_leaves(leaves, n).expect("tree head"))
        .expect("checkpoint")
        .sign(&key())
        .expect("sign")
}

/// Writes the tiles and entry bundles of the tree of `size` into `dir` at their C2SP paths,
/// as `dossier tiles` does (full tiles are the same for every size and written once).
fn write_tiles<L: Leaves + ?Sized>(dir: &Path, leaves: &L, size: u64) -> usize {
    let mut written = 0;
    for t in tiles_of(size) {
        let path = dir.join(t.path());
        if t.is_full() && path.is_file() {
            continue;
        }
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, t.data(leaves, size).expect("tile")).expect("write tile");
        written += 1;
    }
    written
}

fn hexes(v: &[Hash]) -> Vec<String> {
    v.iter().map(Hash::to_hex).collect()
}

fn run(dir: &Path, cases: &Value) -> Result<String, String> {
    let file = dir.join("cases.json");
    std::fs::write(&file, serde_json::to_vec(cases).expect("json")).expect("write cases");
    run_tlog_go(&file)
}

/// Flips one byte of a file, runs `f`, and restores the file.
fn with_flipped<T>(path: &Path, at: usize, f: impl FnOnce() -> T) -> T {
    let bytes = std::fs::read(path).expect("read");
    let mut bad = bytes.clone();
    bad[at] ^= 0x01;
    std::fs::write(path, &bad).expect("write");
    let out = f();
    std::fs::write(path, &bytes).expect("restore");
    out
}

fn picks(n: u64) -> Vec<u64> {
    if n <= 40 || n.is_multiple_of(37) {
        (0..n).collect()
    } else {
        let mut v = vec![0, n / 3, n / 2, n - 1];
        v.dedup();
        v
    }
}

#[test]
fn go_checks_every_tree_of_1_to_300_leaves() {
    let work = tempfile::tempdir().expect("tempdir");
    let tiles = work.path().join("tiles");
    let leaves = CachedLeaves::new(300);
    let mut trees = Vec::new();
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    for n in 1..=300u64 {
        write_tiles(&tiles, &leaves, n);
        // Every leaf proven from the tiles in some trees, a few in the others.
        let all = n <= 32 || n.is_multiple_of(64) || n == 255 || n == 257 || n == 300;
        trees.push(json!({"note": signed(&leaves, n), "tiles": tiles, "all_leaves": all}));
        let tree = n - 1;
        for i in picks(n) {
            let proof = inclusion_proof(&leaves, i, n).expect("inclusion proof");
            inclusion.push(json!({"tree": tree, "index": i, "leaf": leaves.leaf(i).to_hex(), "proof": hexes(&proof)}));
        }
        for m in picks(n).into_iter().filter(|m| *m > 0) {
            let proof = consistency_proof(&leaves, m, n).expect("consistency proof");
            consistency.push(json!({"old": m - 1, "new": tree, "proof": hexes(&proof)}));
        }
    }
    let cases =
        json!({"vkey": vkey(), "trees": trees, "inclusion": inclusion, "consistency": consistency});
    let summary = run(work.path(), &cases).expect("Go accepts every checkpoint, proof and tile");
    assert!(
        summary.starts_with("ok: 300 checkpoints opened"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!(
            "{} inclusion and {} consistency proofs",
            inclusion.len(),
            consistency.len()
        )),
        "{summary}"
    );

    // The Go side refuses each corruption. Only the largest tree, to keep it short.
    let one = |extra: Value| {
        let mut c = json!({"vkey": vkey(), "trees": [trees[299].clone()], "inclusion": [], "consistency": []});
        if let (Some(obj), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        c
    };
    assert!(run(work.path(), &one(json!({}))).is_ok());
    // A byte flipped in the full level-0 tile, in the partial one, and in an entry bundle.
    for (file, at, says) in [
        ("tile/0/000", 100, "tiles"),
        ("tile/0/001.p/44", 40, "tiles"),
        ("tile/1/000.p/1", 0, "tiles"),
        (
            "tile/entries/001.p/44",
            2 + 34 * 7,
            "does not hash to its leaf",
        ),
    ] {
        let err = with_flipped(&tiles.join(file), at, || run(work.path(), &one(json!({}))))
            .expect_err(&format!("Go accepted {file} with a flipped byte"));
        assert!(err.contains(says), "{file}: {err}");
    }
    // A flipped hash in a proof of the largest tree.
    let last_into_299 = |proofs: &[Value], key: &str| -> Value {
        proofs
            .iter()
            .rev()
            .find(|p| p[key] == 299)
            .expect("a proof")
            .clone()
    };
    let mut bad = last_into_299(&inclusion, "tree");
    bad["tree"] = json!(0);
    flip_hash(&mut bad["proof"][2]);
    let err = run(work.path(), &one(json!({"inclusion": [bad]}))).expect_err("bad inclusion");
    assert!(err.contains("tlog.CheckRecord"), "{err}");
    let mut bad = last_into_299(&consistency, "new");
    let old = usize::try_from(bad["old"].as_u64().expect("old")).expect("index");
    (bad["old"], bad["new"]) = (json!(0), json!(1));
    flip_hash(&mut bad["proof"][0]);
    let err = run(
        work.path(),
        &json!({"vkey": vkey(), "trees": [trees[old].clone(), trees[299].clone()], "inclusion": [], "consistency": [bad]}),
    )
    .expect_err("bad consistency");
    assert!(err.contains("tlog.CheckTree"), "{err}");
    // A flipped signature.
    let note = trees[299]["note"].as_str().expect("note");
    let sig_at = note.rfind(' ').expect("signature") + 10;
    let mut forged = note.to_owned();
    let c = forged.as_bytes()[sig_at];
    forged.replace_range(sig_at..=sig_at, if c == b'A' { "B" } else { "A" });
    let mut t = trees[299].clone();
    t["note"] = json!(forged);
    let err = run(
        work.path(),
        &json!({"vkey": vkey(), "trees": [t], "inclusion": [], "consistency": []}),
    )
    .expect_err("forged signature");
    assert!(err.contains("note.Open"), "{err}");
}

/// Alters the first hex digit of a hash held as a JSON string.
fn flip_hash(v: &mut Value) {
    let mut hash = v.as_str().expect("hash").to_owned();
    hash.replace_range(0..1, if hash.starts_with('0') { "1" } else { "0" });
    *v = json!(hash);
}

/// The record hashes of a ledger of 100,002 records, built in memory: its genesis batch and
/// 100 sealed batches of 999 small events and their seal.
fn ledger_of_100k() -> Vec<Hash> {
    let signer = dossier_chain::Signer::from_secret([3; 32], "founder");
    let ledger = uuid::Uuid::new_v4();
    let now = time::OffsetDateTime::now_utc();
    let mut records = dossier_chain::Genesis::build(ledger, "tlog", &signer, now).expect("genesis");
    for b in 0..100 {
        let last = records.last().expect("a record");
        let head = dossier_chain::Head {
            seq: last.seq,
            hash: last.hash,
            recorded: Some(last.recorded.clone()),
        };
        let mut batch =
            dossier_chain::BatchBuilder::new(ledger, &head, now, &signer, uuid::Uuid::new_v4());
        for i in 0..999 {
            let body = format!(r#"{{"batch":{b},"n":{i}}}"#);
            batch
                .push(
                    "test.event",
                    1,
                    &format!("test:{b}/{i}"),
                    "TLP:CLEAR",
                    body.as_bytes(),
                )
                .expect("push");
        }
        records.extend(batch.seal().expect("seal"));
    }
    assert_eq!(records.len(), 100_002);
    records.iter().map(|r| r.hash).collect()
}

/// A ledger of 100,002 records (and its first 70,000, C2SP's example: 273 full level-0 tiles, a
/// partial of 112, a full level-1 tile, a partial of 17 and a level-2 tile of 1).
#[test]
fn go_checks_a_ledger_of_100k_records() {
    let work = tempfile::tempdir().expect("tempdir");
    let tiles = work.path().join("tiles");
    let leaves = ledger_of_100k();
    let n = leaves.len() as u64;
    let small = tiles_of(70_000);
    for p in [
        "tile/0/272",
        "tile/0/273.p/112",
        "tile/1/000",
        "tile/1/001.p/17",
        "tile/2/000.p/1",
        "tile/entries/273.p/112",
    ] {
        assert!(small.iter().any(|t| t.path() == p), "{p}");
    }
    assert_eq!(small.len(), 273 + 1 + 1 + 1 + 1 + 274);
    write_tiles(&tiles, &leaves, 70_000);
    write_tiles(&tiles, &leaves, n);
    let trees = json!([
        {"note": signed(&leaves, 70_000), "tiles": tiles, "all_leaves": false},
        {"note": signed(&leaves, n), "tiles": tiles, "all_leaves": false},
    ]);
    let mut inclusion = Vec::new();
    for i in [0u64, 255, 256, 65_535, 65_536, 69_999, 70_000, n - 1] {
        let proof = inclusion_proof(&leaves, i, n).expect("proof");
        inclusion.push(json!({"tree": 1, "index": i, "leaf": leaves[i as usize].to_hex(), "proof": hexes(&proof)}));
    }
    let proof = consistency_proof(&leaves, 70_000, n).expect("proof");
    let consistency = json!([{"old": 0, "new": 1, "proof": hexes(&proof)}]);
    let cases =
        json!({"vkey": vkey(), "trees": trees, "inclusion": inclusion, "consistency": consistency});
    let summary = run(work.path(), &cases).expect("Go accepts the 100k tree");
    assert!(summary.contains("170002 entries checked"), "{summary}");
    // A byte flipped in the level-2 tile is refused.
    let err = with_flipped(&tiles.join("tile/2/000.p/1"), 31, || {
        run(work.path(), &cases)
    })
    .expect_err("Go accepted a flipped level-2 tile");
    assert!(err.contains("tiles"), "{err}");
}
