//! `POST /add-checkpoint` through a real HTTP client against the witness served on port 0, with
//! its store in a real SQLite file: every answer C2SP tlog-witness names (200 with a
//! cosignature that verifies, 409 with `text/x.tlog.size`, 409 for a fork, 422, 403, 404, 400),
//! nothing changed by a refusal, and a witness reopened from its store that never goes back.

use std::path::Path;
use std::sync::Arc;

use dossier_chain::Hash;
use dossier_proofs::cosignature::{add_checkpoint_body, parse_signature_lines};
use dossier_proofs::{Checkpoint, SignedNote, TreeHead, TreeVersion, checkpoint_verifier};
use dossier_witness::http::Spawned;
use dossier_witness::{Store, Witness, WitnessKeyFile};
use ed25519_dalek::SigningKey;

const LEDGER: &str = "0190f4d2-7c1e-7a3b-9c4d-5e6f708192a3";

fn leaves(n: u64, salt: u8) -> Vec<Hash> {
    (0..n)
        .map(|i| {
            let mut b = [salt; 32];
            b[..8].copy_from_slice(&i.to_be_bytes());
            Hash(b)
        })
        .collect()
}

fn note(leaves: &[Hash], key: &SigningKey) -> String {
    let n = leaves.len() as u64;
    Checkpoint::new(
        LEDGER,
        TreeHead::from_leaves(&leaves.to_vec(), n).expect("tree"),
    )
    .expect("cp")
    .sign(key)
    .expect("sign")
}

fn proof(leaves: &[Hash], old: u64, new: u64) -> Vec<Hash> {
    TreeVersion::V2Sha256
        .consistency_proof(&leaves.to_vec(), old, new)
        .expect("proof")
}

async fn serve(dir: &Path) -> Spawned {
    Spawned::start(Arc::new(Witness::open(dir).expect("open")))
        .await
        .expect("serve")
}

async fn post(client: &reqwest::Client, url: &str, body: String) -> (u16, String, String) {
    let r = client.post(url).body(body).send().await.expect("post");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    (status, ct, r.text().await.expect("body"))
}

#[tokio::test]
async fn add_checkpoint_answers_as_the_spec_says() {
    let dir = tempfile::tempdir().expect("tmp");
    let wdir = dir.path().join("w");
    let cosigner = WitnessKeyFile::create(&wdir, "witness.example/w1").expect("init");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(wdir.join("witness.key"))
            .expect("key")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let log_key = SigningKey::from_bytes(&[9; 32]);
    let origin = format!("dossier.{LEDGER}");
    Store::open(&wdir.join("witness.db"))
        .expect("store")
        .add_log(
            &origin,
            &checkpoint_verifier(LEDGER, log_key.verifying_key())
                .expect("v")
                .to_vkey(),
        )
        .expect("add");
    let served = serve(&wdir).await;
    let client = reqwest::Client::new();
    let url = served.url.clone();
    let real = leaves(20, 1);
    let n5 = note(&real[..5], &log_key);

    // First sight: old 0, no proof: cosigned, and the line verifies under the witness's key.
    let (s, _, body) = post(&client, &url, add_checkpoint_body(0, &[], &n5)).await;
    assert_eq!(s, 200, "{body}");
    let lines = parse_signature_lines(&body).expect("lines");
    let text = SignedNote::parse(&n5).expect("note").text;
    cosigner
        .key()
        .verify_line(&text, &lines[0])
        .expect("cosignature verifies");

    // A stale old size: 409 with the witness's size.
    let n12 = note(&real[..12], &log_key);
    let (s, ct, body) = post(&client, &url, add_checkpoint_body(0, &[], &n12)).await;
    assert_eq!(
        (s, ct.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "5\n")
    );
    // A wrong proof: 422, state unchanged.
    let mut bad = proof(&real, 5, 12);
    bad[0].0[0] ^= 1;
    let (s, _, _) = post(&client, &url, add_checkpoint_body(5, &bad, &n12)).await;
    assert_eq!(s, 422);
    // A checkpoint of the same size with another root: a fork, 409 without a size.
    let fork = note(&leaves(5, 2), &log_key);
    let (s, ct, body) = post(&client, &url, add_checkpoint_body(5, &[], &fork)).await;
    assert_eq!(s, 409);
    assert_ne!(ct, "text/x.tlog.size");
    assert!(body.contains("fork"), "{body}");
    // Not signed by the log's key: 403. Unknown origin: 404. Malformed: 400.
    let other = note(&real[..12], &SigningKey::from_bytes(&[8; 32]));
    let (s, _, _) = post(
        &client,
        &url,
        add_checkpoint_body(5, &proof(&real, 5, 12), &other),
    )
    .await;
    assert_eq!(s, 403);
    let unknown = Checkpoint::new(
        "0190f4d2-7c1e-7a3b-9c4d-000000000000",
        TreeHead::from_leaves(&real, 3).expect("tree"),
    )
    .expect("cp")
    .sign(&log_key)
    .expect("sign");
    let (s, _, _) = post(&client, &url, add_checkpoint_body(0, &[], &unknown)).await;
    assert_eq!(s, 404);
    for body in ["", "old 01\n\n", "old 5\nnot base64\n\n", "old 20\n\n"] {
        let (s, _, _) = post(&client, &url, format!("{body}{n12}")).await;
        assert_eq!(s, 400, "{body:?}");
    }
    // The right proof: cosigned, and the witness moves to 12.
    let (s, _, body) = post(
        &client,
        &url,
        add_checkpoint_body(5, &proof(&real, 5, 12), &n12),
    )
    .await;
    assert_eq!(s, 200, "{body}");

    // Restarted from its store, the witness holds 12 and refuses to go back to 5.
    served.stop().await.expect("served");
    let served = serve(&wdir).await;
    let url = served.url.clone();
    let (s, _, body) = post(&client, &url, add_checkpoint_body(5, &[], &n5)).await;
    assert_eq!((s, body.as_str()), (409, "12\n"));
    let (s, _, _) = post(&client, &url, add_checkpoint_body(12, &[], &n5)).await;
    assert_eq!(s, 400, "old above the checkpoint's size");
    let n20 = note(&real, &log_key);
    let (s, _, _) = post(
        &client,
        &url,
        add_checkpoint_body(12, &proof(&real, 12, 20), &n20),
    )
    .await;
    assert_eq!(s, 200);
    let w = Witness::open(&wdir).expect("reopen");
    let state = w
        .with_store(|s| s.log(&origin))
        .expect("read")
        .expect("log");
    assert_eq!(state.size, 20);
    assert_eq!(
        w.with_store(|s| s.refusals(&origin)).expect("refusals"),
        2,
        "the bad proof and the fork are kept as evidence"
    );
    served.stop().await.expect("served");
}
