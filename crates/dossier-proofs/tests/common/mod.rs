//! Shared test helpers: the test leaves and a straightforward recursive implementation of
//! RFC 9162 §2.1 (MTH, PATH, PROOF), written from the RFC's definitions and independent of the
//! crate's streaming and accessor code. The `_in` functions take the tree version (1: BLAKE3,
//! 2: SHA-256); the others are version 2.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::HashMap;

use dossier_chain::Hash;
use dossier_proofs::{Leaves, TreeVersion};
use sha2::{Digest as _, Sha256};

/// Leaf `i` of the test trees: BLAKE3 of the decimal index.
pub fn test_leaf(i: u64) -> Hash {
    Hash(*blake3::hash(i.to_string().as_bytes()).as_bytes())
}

pub fn test_leaves(n: u64) -> Vec<Hash> {
    (0..n).map(test_leaf).collect()
}

fn h(v: TreeVersion, parts: &[&[u8]]) -> Hash {
    match v {
        TreeVersion::V1Blake3 => {
            let mut hasher = blake3::Hasher::new();
            for p in parts {
                hasher.update(p);
            }
            Hash(*hasher.finalize().as_bytes())
        }
        TreeVersion::V2Sha256 => {
            let mut hasher = Sha256::new();
            for p in parts {
                hasher.update(p);
            }
            Hash(hasher.finalize().into())
        }
    }
}

fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 §2.1.1 MTH.
pub fn ref_mth_in(v: TreeVersion, d: &[Hash]) -> Hash {
    match d.len() {
        0 => h(v, &[]),
        1 => h(v, &[&[0u8], &d[0].0]),
        n => {
            let k = k_of(n);
            h(
                v,
                &[&[1u8], &ref_mth_in(v, &d[..k]).0, &ref_mth_in(v, &d[k..]).0],
            )
        }
    }
}

/// RFC 9162 §2.1.3.1 PATH(m, D[n]).
pub fn ref_path_in(v: TreeVersion, m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = k_of(n);
    if m < k {
        let mut p = ref_path_in(v, m, &d[..k]);
        p.push(ref_mth_in(v, &d[k..]));
        p
    } else {
        let mut p = ref_path_in(v, m - k, &d[k..]);
        p.push(ref_mth_in(v, &d[..k]));
        p
    }
}

fn ref_subproof(v: TreeVersion, m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b {
            Vec::new()
        } else {
            vec![ref_mth_in(v, d)]
        };
    }
    let k = k_of(n);
    if m <= k {
        let mut p = ref_subproof(v, m, &d[..k], b);
        p.push(ref_mth_in(v, &d[k..]));
        p
    } else {
        let mut p = ref_subproof(v, m - k, &d[k..], false);
        p.push(ref_mth_in(v, &d[..k]));
        p
    }
}

/// RFC 9162 §2.1.4.1 PROOF(m, D[n]) for 0 < m < n.
pub fn ref_proof_in(v: TreeVersion, m: usize, d: &[Hash]) -> Vec<Hash> {
    ref_subproof(v, m, d, true)
}

/// [`ref_mth_in`] of version 2.
pub fn ref_mth(d: &[Hash]) -> Hash {
    ref_mth_in(TreeVersion::V2Sha256, d)
}

/// [`ref_path_in`] of version 2.
pub fn ref_path(m: usize, d: &[Hash]) -> Vec<Hash> {
    ref_path_in(TreeVersion::V2Sha256, m, d)
}

/// [`ref_proof_in`] of version 2.
pub fn ref_proof(m: usize, d: &[Hash]) -> Vec<Hash> {
    ref_proof_in(TreeVersion::V2Sha256, m, d)
}

/// Leaves with memoised subtree roots, so that thousands of proofs over the same prefix stay
/// fast; a cache miss uses the crate's default streaming computation.
pub struct CachedLeaves {
    pub leaves: Vec<Hash>,
    cache: RefCell<HashMap<(TreeVersion, u64, u64), Hash>>,
}

impl CachedLeaves {
    pub fn new(n: u64) -> CachedLeaves {
        CachedLeaves {
            leaves: test_leaves(n),
            cache: RefCell::new(HashMap::new()),
        }
    }
}

impl Leaves for CachedLeaves {
    fn len(&self) -> u64 {
        self.leaves.len() as u64
    }
    fn leaf(&self, i: u64) -> Hash {
        self.leaves[i as usize]
    }
    fn subtree_root(&self, v: TreeVersion, start: u64, end: u64) -> Hash {
        if let Some(h) = self.cache.borrow().get(&(v, start, end)) {
            return *h;
        }
        let r = self.leaves.subtree_root(v, start, end);
        self.cache.borrow_mut().insert((v, start, end), r);
        r
    }
}

/// Flips bit `bit` (0..256) of a hash.
pub fn flip(h: &Hash, bit: usize) -> Hash {
    let mut out = *h;
    out.0[bit / 8] ^= 1 << (bit % 8);
    out
}

/// The `docs/vectors` directory.
#[allow(dead_code)]
pub fn vectors_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors")
}

/// Compares a vector file with what the code produces now, or rewrites it under
/// `DOSSIER_BLESS=1` (`test` names the test target that rewrites it).
#[allow(dead_code)]
pub fn compare_or_bless(name: &str, actual: &[u8], test: &str) {
    dossier_testkit::golden::compare_or_bless(
        &vectors_dir().join(name),
        actual,
        "The proof format",
        &format!("cargo test -p dossier-proofs --test {test}"),
    );
}
