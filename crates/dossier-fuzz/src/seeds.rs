//! The corpus each target starts from: the repository's golden vectors and examples, valid
//! checkpoints and proof bundles built from the golden ledger, and the inputs checked in under
//! `crates/dossier-fuzz/corpus/<target>/`.

use std::path::Path;
use std::sync::OnceLock;

use dossier_chain::{Hash, Signer, frame_batch};
use dossier_proofs::{Checkpoint, ProofBundle, TreeHead, consistency_proof, inclusion_proof};
use ed25519_dalek::VerifyingKey;

/// The golden ledger's id (`docs/vectors/ledger.json`).
pub(crate) const GOLDEN_LEDGER: &str = "0190f4d2-7c1e-7a3b-9c4d-5e6f708192a3";

/// The golden ledger's founding secret (a test key, `docs/FORMAT.md` §11).
const FOUNDER_SECRET: [u8; 32] = [1; 32];

fn founder() -> Signer {
    Signer::from_secret(FOUNDER_SECRET, "founder")
}

/// The golden ledger's founding public key.
#[must_use]
pub fn founder_key() -> VerifyingKey {
    static KEY: OnceLock<VerifyingKey> = OnceLock::new();
    *KEY.get_or_init(|| founder().public())
}

/// The golden ledger's records (`docs/vectors/ledger.jsonl`), as stored.
///
/// # Panics
/// If the vectors are not in the repository (the fuzz crate runs inside it).
#[must_use]
pub fn golden_records() -> &'static [Vec<u8>] {
    static RECORDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let path = crate::repo_root().join("docs/vectors/ledger.jsonl");
        let text = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("the golden vectors {}: {e}", path.display()));
        text.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    })
}

fn files_in(dir: &Path, ext: Option<&str>) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Signed checkpoints of the golden ledger at a few sizes, and proof bundles over them.
fn proofs_and_notes() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let records = golden_records();
    let hashes: Vec<Hash> = records.iter().map(|r| Hash::of_record(r)).collect();
    let n = hashes.len() as u64;
    let signer = founder();
    let note = |size: u64| {
        TreeHead::from_leaves(&hashes, size)
            .ok()
            .and_then(|t| Checkpoint::new(GOLDEN_LEDGER, t).ok())
            .and_then(|c| c.sign_with(&signer).ok())
    };
    let mut notes = Vec::new();
    let mut proofs = Vec::new();
    let (Some(small), Some(full)) = (note(6), note(n)) else {
        return (notes, proofs);
    };
    notes.push(small.clone().into_bytes());
    notes.push(full.clone().into_bytes());
    for seq in [1, 5, n] {
        if let Ok(path) = inclusion_proof(&hashes, seq - 1, n) {
            let bundle = ProofBundle::Inclusion {
                ledger: GOLDEN_LEDGER.to_owned(),
                seq,
                record: String::from_utf8_lossy(&records[(seq - 1) as usize]).into_owned(),
                proof: path.iter().map(Hash::to_hex).collect(),
                checkpoint: full.clone(),
            };
            if let Ok(json) = serde_json::to_vec(&bundle) {
                proofs.push(json);
            }
        }
    }
    if let Ok(path) = consistency_proof(&hashes, 6, n) {
        let bundle = ProofBundle::Consistency {
            ledger: GOLDEN_LEDGER.to_owned(),
            old: small,
            new: full,
            proof: path.iter().map(Hash::to_hex).collect(),
        };
        if let Ok(json) = serde_json::to_vec(&bundle) {
            proofs.push(json);
        }
    }
    (notes, proofs)
}

/// The golden ledger's batches, each framed, with a first byte declaring a count and the seal
/// (see the `frames` target).
fn framed_batches() -> Vec<Vec<u8>> {
    let records = golden_records();
    let mut out = Vec::new();
    let mut open: Vec<&[u8]> = Vec::new();
    for r in records {
        open.push(r);
        let seal: &[u8] = b"\"type\":\"batch.seal\"";
        if r.windows(seal.len()).any(|w| w == seal) {
            let mut blob = vec![0x80 | (open.len() as u8 & 0x3f)];
            if frame_batch(open.iter().copied(), &mut blob).is_ok() {
                out.push(blob);
            }
            open.clear();
        }
    }
    out
}

/// Export files of the golden ledger: a prefix (with a text before its second batch) and a
/// range that continues it (see the `export` target).
fn export_files() -> Vec<Vec<u8>> {
    let records = golden_records();
    let seal: &[u8] = b"\"type\":\"batch.seal\"";
    let mut batches: Vec<Vec<&[u8]>> = vec![Vec::new()];
    for r in records {
        batches
            .last_mut()
            .into_iter()
            .for_each(|b| b.push(r.as_slice()));
        if r.windows(seal.len()).any(|w| w == seal) {
            batches.push(Vec::new());
        }
    }
    batches.pop();
    let ledger = uuid::Uuid::from_u128(0x0190_f4d2_7c1e_7a3b_9c4d_5e6f_7081_92a3);
    let write = |first: u64, batches: &[Vec<&[u8]>], text: bool| -> Option<Vec<u8>> {
        let count: usize = batches.iter().map(Vec::len).sum();
        let header = dossier_export::Header {
            ledger,
            first,
            last: first + count as u64 - 1,
        };
        let mut w = dossier_export::Writer::new(Vec::new(), header).ok()?;
        for (i, b) in batches.iter().enumerate() {
            if text && i == 1 {
                w.text("국방부 정례 브리핑".as_bytes()).ok()?;
            }
            w.batch(b.iter().copied()).ok()?;
        }
        Some(w.finish().ok()?.0)
    };
    // A range with its key context is `docs/vectors/export-range.bin`, read with the vectors.
    [write(1, &batches[..3], true), write(1, &batches, false)]
        .into_iter()
        .flatten()
        .collect()
}

/// The corpus of `target`, read from the repository at `repo`.
pub(crate) fn corpus(target: &str, repo: &Path) -> Vec<Vec<u8>> {
    let mut seeds = files_in(&repo.join("crates/dossier-fuzz/corpus").join(target), None);
    match target {
        "bundle" => seeds.extend(files_in(&repo.join("examples"), Some("json"))),
        "record" | "verify" => seeds.extend(golden_records().iter().cloned()),
        "frames" => seeds.extend(framed_batches()),
        "export" => {
            seeds.extend(files_in(&repo.join("docs/vectors"), Some("bin")));
            seeds.extend(export_files());
        }
        "note" => seeds.extend(proofs_and_notes().0),
        "proof" => seeds.extend(proofs_and_notes().1),
        "http" => seeds.extend(
            [
                &b"as_of=2024-03-19T16:05:00Z&at=2024-03-19\n17\n3"[..],
                b"as_of=2024-03-19&type=report.recorded\n0\n1",
                b"after=42&limit=100&type=claim.recorded&entity=claim%3Arok-mnd%2Fcontainers-2024-03\n 9 \n18446744073709551615",
                b"at=2024-03-19T16%3A04%3A00.123456789%2B09%3A00&from=1\n\n",
                b"as_of=+2024-02-30&as_of=x\n-1\n0",
                b"\n\n0/001.p/44",
                b"\n\nentries/x001/x234/067.p/255",
                b"\n\n2/000.p/1",
            ]
            .map(<[u8]>::to_vec),
        ),
        _ => {}
    }
    seeds
}
