//! Checkpoints + cosignatures per second one witness sustains: each a checkpoint of a tree grown
//! by 10 leaves, with its consistency proof from the previous one, checked (log signature,
//! proof), cosigned and written durably (SQLite, `synchronous = FULL`) before the answer.
//!
//! `cargo bench -p dossier-witness --bench witness [-- N]` (default N = 300) reports three
//! rates on the same requests: the raw work in memory (parse, signature check, proof check,
//! cosign: no store), `Witness::add_checkpoint` in-process (with the durable write), and
//! through HTTP (`reqwest` against the axum service on loopback, one request at a time), with
//! the ratios to the raw baseline. The store lives in a temporary directory removed at the end.

use std::sync::Arc;
use std::time::Instant;

use dossier_chain::Hash;
use dossier_proofs::cosignature::add_checkpoint_body;
use dossier_proofs::{
    Checkpoint, Cosigner, NoteVerifier, TreeHead, TreeVersion, checkpoint_verifier,
};
use dossier_witness::{AddCheckpoint, Store, Witness, WitnessKeyFile};
use ed25519_dalek::SigningKey;

const LEDGER: &str = "0190f4d2-7c1e-7a3b-9c4d-5e6f708192a3";
const STEP: u64 = 10;

fn requests(n: u64, key: &SigningKey) -> Vec<String> {
    let leaves: Vec<Hash> = (0..=n * STEP)
        .map(|i| {
            let mut b = [7u8; 32];
            b[..8].copy_from_slice(&i.to_be_bytes());
            Hash(b)
        })
        .collect();
    (1..=n)
        .map(|i| {
            let size = i * STEP;
            let note = Checkpoint::new(LEDGER, TreeHead::from_leaves(&leaves, size).expect("tree"))
                .expect("cp")
                .sign(key)
                .expect("sign");
            let old = size - STEP;
            let proof = if old == 0 {
                Vec::new()
            } else {
                TreeVersion::V2Sha256
                    .consistency_proof(&leaves, old, size)
                    .expect("proof")
            };
            add_checkpoint_body(old, &proof, &note)
        })
        .collect()
}

fn fresh(dir: &std::path::Path, key: &SigningKey) -> Witness {
    let _ = std::fs::remove_dir_all(dir);
    WitnessKeyFile::create(dir, "bench.example/w").expect("init");
    Store::open(&dir.join("witness.db"))
        .expect("store")
        .add_log(
            &format!("dossier.{LEDGER}"),
            &checkpoint_verifier(LEDGER, key.verifying_key())
                .expect("v")
                .to_vkey(),
        )
        .expect("add");
    Witness::open(dir).expect("open")
}

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300);
    let key = SigningKey::from_bytes(&[9; 32]);
    let reqs = requests(n, &key);
    let tmp = tempfile::tempdir().expect("tmp");

    // Raw: the same checks and cosignature in memory.
    let verifier: NoteVerifier = checkpoint_verifier(LEDGER, key.verifying_key()).expect("v");
    let cosigner = Cosigner::new("bench.example/w", SigningKey::from_bytes(&[1; 32])).expect("c");
    let started = Instant::now();
    let mut prev: Option<Hash> = None;
    for r in &reqs {
        let req = AddCheckpoint::parse(r.as_bytes()).expect("parse");
        req.note.verify(&verifier).expect("sig");
        if let Some(root) = prev {
            TreeVersion::V2Sha256
                .verify_consistency(req.old, req.size, &root, &req.root, &req.proof)
                .expect("proof");
        }
        std::hint::black_box(cosigner.cosign(&req.note.text, 1_700_000_000));
        prev = Some(req.root);
    }
    let raw = n as f64 / started.elapsed().as_secs_f64();

    // In-process, durable.
    let w = fresh(&tmp.path().join("in-process"), &key);
    let started = Instant::now();
    for r in &reqs {
        w.add_checkpoint(r.as_bytes()).expect("cosigned");
    }
    let in_process = n as f64 / started.elapsed().as_secs_f64();

    // Through HTTP.
    let w = Arc::new(fresh(&tmp.path().join("http"), &key));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let http = rt.block_on(async {
        let served = dossier_witness::http::Spawned::start(w)
            .await
            .expect("serve");
        let url = served.url.clone();
        let client = reqwest::Client::new();
        let started = Instant::now();
        for r in &reqs {
            let resp = client
                .post(&url)
                .body(r.clone())
                .send()
                .await
                .expect("post");
            assert_eq!(resp.status().as_u16(), 200);
            resp.text().await.expect("body");
        }
        let rate = n as f64 / started.elapsed().as_secs_f64();
        served.stop().await.expect("served");
        rate
    });
    println!(
        "witness: {n} checkpoints (+{STEP} leaves each, sizes up to {})",
        n * STEP
    );
    println!("  raw (parse, log signature, consistency proof, cosign; no store): {raw:>9.0}/s");
    println!(
        "  in-process add_checkpoint (durable SQLite write):             {in_process:>9.0}/s  ({:.3} of raw)",
        in_process / raw
    );
    println!(
        "  HTTP POST /add-checkpoint (loopback, one at a time):          {http:>9.0}/s  ({:.3} of raw)",
        http / raw
    );
}
