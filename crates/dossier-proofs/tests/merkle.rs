//! The tree, roots and proofs against a straightforward recursive implementation of RFC 9162,
//! and every proof verifying (and every corruption failing) over many tree sizes.

mod common;

use common::{CachedLeaves, flip, ref_mth, ref_path, ref_proof, test_leaf, test_leaves};
use dossier_chain::Hash;
use dossier_proofs::{
    Leaves, ProofError, RootBuilder, TreeHead, TreeVersion, consistency_proof, empty_root,
    inclusion_proof, root_of, verify_consistency, verify_inclusion,
};
use proptest::prelude::*;

#[test]
fn empty_tree_root_is_hash_of_nothing() {
    // Version 2: SHA-256 of no bytes (RFC 6962's empty tree); version 1: BLAKE3 of no bytes.
    assert_eq!(
        empty_root().to_hex(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        TreeVersion::V1Blake3.empty_root(),
        Hash(*blake3::hash(b"").as_bytes())
    );
    assert_eq!(root_of(Vec::new()), empty_root());
    assert_eq!(RootBuilder::new().root(), empty_root());
    let th = RootBuilder::new()
        .tree_head()
        .expect("empty builder has a tree head");
    assert_eq!(
        th,
        TreeHead {
            version: TreeVersion::V2Sha256,
            size: 0,
            root: empty_root(),
            head: dossier_chain::GENESIS_PREV
        }
    );
}

#[test]
fn streaming_root_matches_reference_up_to_300() {
    let leaves = test_leaves(300);
    let mut b = RootBuilder::new();
    for n in 0..=300usize {
        let want = ref_mth(&leaves[..n]);
        assert_eq!(b.root(), want, "size {n}");
        assert_eq!(b.size(), n as u64);
        assert!(b.frontier().len() <= 64);
        assert_eq!(b.frontier().len(), (n as u64).count_ones() as usize);
        if n > 0 {
            assert_eq!(b.last_leaf(), Some(leaves[n - 1]));
            assert_eq!(
                b.last_leaf_proof(),
                Some(ref_path(n - 1, &leaves[..n])),
                "last-leaf proof, size {n}"
            );
            let th = b.tree_head().expect("tree head");
            assert_eq!(
                th,
                TreeHead::from_leaves(&leaves, n as u64).expect("from leaves")
            );
        }
        if n < 300 {
            b.push(leaves[n]);
        }
    }
    assert_eq!(root_of(leaves.iter().copied()), ref_mth(&leaves));
}

#[test]
fn frontier_restores_the_builder() {
    let leaves = test_leaves(100);
    for cut in [0usize, 1, 2, 3, 7, 8, 33, 64, 99] {
        let mut a = RootBuilder::new();
        leaves[..cut].iter().for_each(|l| a.push(*l));
        let mut b =
            RootBuilder::from_frontier(cut as u64, a.frontier().to_vec()).expect("frontier");
        assert_eq!(b.root(), a.root());
        leaves[cut..].iter().for_each(|l| b.push(*l));
        assert_eq!(b.root(), ref_mth(&leaves), "cut {cut}");
        if cut < 100 {
            assert_eq!(b.last_leaf_proof(), Some(ref_path(99, &leaves)));
        }
    }
    assert!(matches!(
        RootBuilder::from_frontier(3, vec![empty_root()]),
        Err(ProofError::BadFrontier { size: 3, len: 1 })
    ));
}

#[test]
fn proofs_match_reference_up_to_64() {
    let leaves = test_leaves(64);
    for n in 1..=64usize {
        let d = &leaves[..n];
        for m in 0..n {
            let p = inclusion_proof(&leaves, m as u64, n as u64).expect("inclusion proof");
            assert_eq!(p, ref_path(m, d), "PATH({m}, D[{n}])");
        }
        for m in 1..n {
            let p = consistency_proof(&leaves, m as u64, n as u64).expect("consistency proof");
            assert_eq!(p, ref_proof(m, d), "PROOF({m}, D[{n}])");
        }
        assert_eq!(consistency_proof(&leaves, 0, n as u64), Ok(vec![]));
        assert_eq!(consistency_proof(&leaves, n as u64, n as u64), Ok(vec![]));
    }
}

#[test]
fn generation_rejects_bad_arguments() {
    let leaves = test_leaves(10);
    assert_eq!(
        inclusion_proof(&leaves, 0, 11),
        Err(ProofError::SizeBeyondLeaves { size: 11, len: 10 })
    );
    assert_eq!(
        inclusion_proof(&leaves, 10, 10),
        Err(ProofError::IndexOutOfRange {
            index: 10,
            size: 10
        })
    );
    assert_eq!(
        inclusion_proof(&leaves, 0, 0),
        Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
    );
    assert_eq!(
        consistency_proof(&leaves, 5, 11),
        Err(ProofError::SizeBeyondLeaves { size: 11, len: 10 })
    );
    assert_eq!(
        consistency_proof(&leaves, 6, 5),
        Err(ProofError::OldLargerThanNew { old: 6, new: 5 })
    );
    assert_eq!(
        TreeHead::from_leaves(&leaves, 11),
        Err(ProofError::SizeBeyondLeaves { size: 11, len: 10 })
    );
}

#[test]
fn every_inclusion_proof_verifies_up_to_300() {
    let leaves = CachedLeaves::new(300);
    let mut builder = RootBuilder::new();
    for n in 1..=300u64 {
        builder.push(leaves.leaf(n - 1));
        let root = builder.root();
        for m in 0..n {
            let path = inclusion_proof(&leaves, m, n).expect("proof");
            verify_inclusion(&leaves.leaf(m), m, n, &path, &root)
                .unwrap_or_else(|e| panic!("leaf {m} of {n}: {e}"));
        }
    }
}

#[test]
fn every_consistency_proof_verifies_up_to_64() {
    let leaves = CachedLeaves::new(64);
    let roots: Vec<Hash> = (0..=64)
        .map(|n| leaves.subtree_root(TreeVersion::CURRENT, 0, n))
        .collect();
    for n in 0..=64u64 {
        for m in 0..=n {
            let path = consistency_proof(&leaves, m, n).expect("proof");
            verify_consistency(m, n, &roots[m as usize], &roots[n as usize], &path)
                .unwrap_or_else(|e| panic!("{m} -> {n}: {e}"));
        }
    }
}

/// All the ways an inclusion proof is corrupted; every one must fail. `all_bits` flips every
/// bit of every hash; otherwise a few bits of each.
fn inclusion_corruptions(
    leaf: Hash,
    index: u64,
    size: u64,
    path: &[Hash],
    root: Hash,
    all_bits: bool,
    rng: &mut u64,
) {
    let bits: Vec<usize> = if all_bits {
        (0..256).collect()
    } else {
        (0..4).map(|_| (next(rng) % 256) as usize).collect()
    };
    let fails = |leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash, what: &str| {
        assert!(
            verify_inclusion(leaf, index, size, path, root).is_err(),
            "corruption '{what}' of the proof of leaf {index} of {size} verified"
        );
    };
    for &b in &bits {
        fails(&flip(&leaf, b), index, size, path, &root, "leaf bit");
        fails(&leaf, index, size, path, &flip(&root, b), "root bit");
        for i in 0..path.len() {
            let mut p = path.to_vec();
            p[i] = flip(&p[i], b);
            fails(&leaf, index, size, &p, &root, "path bit");
        }
    }
    fails(&leaf, index + 1, size, path, &root, "index + 1");
    if index > 0 {
        fails(&leaf, index - 1, size, path, &root, "index - 1");
    }
    fails(&leaf, index, size * 2, path, &root, "size * 2");
    fails(&leaf, index, size / 2, path, &root, "size / 2");
    fails(&root, index, size, path, &leaf, "leaf and root swapped");
    if !path.is_empty() {
        fails(
            &leaf,
            index,
            size,
            &path[..path.len() - 1],
            &root,
            "truncated",
        );
        fails(&leaf, index, size, &path[1..], &root, "first entry dropped");
        fails(
            &leaf,
            index,
            size,
            path,
            &path[path.len() - 1],
            "last path entry as root",
        );
    }
    let mut longer = path.to_vec();
    longer.push(root);
    fails(&leaf, index, size, &longer, &root, "extended with the root");
    let mut longer = path.to_vec();
    longer.push(Hash([0; 32]));
    fails(&leaf, index, size, &longer, &root, "extended with zeros");
    let mut longer = vec![leaf];
    longer.extend_from_slice(path);
    fails(&leaf, index, size, &longer, &root, "leaf prepended");
    if path.len() >= 2 && path[0] != path[path.len() - 1] {
        let rev: Vec<Hash> = path.iter().rev().copied().collect();
        fails(&leaf, index, size, &rev, &root, "reversed");
    }
    let garbage: Vec<Hash> = path.iter().map(|_| random_hash(rng)).collect();
    if !path.is_empty() {
        fails(&leaf, index, size, &garbage, &root, "garbage path");
    }
    fails(&random_hash(rng), index, size, path, &root, "garbage leaf");
}

fn consistency_corruptions(
    m: u64,
    n: u64,
    old: Hash,
    new: Hash,
    path: &[Hash],
    all_bits: bool,
    rng: &mut u64,
) {
    let bits: Vec<usize> = if all_bits {
        (0..256).collect()
    } else {
        (0..4).map(|_| (next(rng) % 256) as usize).collect()
    };
    let fails = |m: u64, n: u64, old: &Hash, new: &Hash, path: &[Hash], what: &str| {
        assert!(
            verify_consistency(m, n, old, new, path).is_err(),
            "corruption '{what}' of the consistency proof {m} -> {n} verified"
        );
    };
    for &b in &bits {
        fails(m, n, &flip(&old, b), &new, path, "old root bit");
        if m > 0 {
            // (The empty tree is a prefix of every tree, whatever its root.)
            fails(m, n, &old, &flip(&new, b), path, "new root bit");
        }
        for i in 0..path.len() {
            let mut p = path.to_vec();
            p[i] = flip(&p[i], b);
            fails(m, n, &old, &new, &p, "path bit");
        }
    }
    if m == 0 {
        // The empty tree is consistent with every tree: only the old root and the path matter.
        let mut longer = path.to_vec();
        longer.push(new);
        fails(m, n, &old, &new, &longer, "extended");
        return;
    }
    // (Sizes off by one are not corruptions a proof can reveal in general: the RFC's
    // consistency proofs bind the roots, not the sizes; e.g. the proof 1 -> 3 also verifies as
    // 1 -> 4 with the same roots. Sizes are bound by the signed checkpoints.)
    // (Both sizes doubled together is not a corruption: the RFC's consistency proofs do not
    // bind the sizes, e.g. the proof 2 -> 4 also proves 4 -> 8 when the old tree's root is
    // read as a 4-leaf subtree. Sizes are bound by the signed checkpoints.)
    fails(m * 2, n, &old, &new, path, "old size * 2");
    fails(m / 2, n, &old, &new, path, "old size / 2");
    fails(m, n * 2, &old, &new, path, "new size * 2");
    fails(m, n / 2, &old, &new, path, "new size / 2");
    if old != new {
        fails(m, n, &new, &old, path, "roots swapped");
        fails(n, m, &new, &old, path, "sizes and roots swapped");
    }
    if !path.is_empty() {
        fails(m, n, &old, &new, &path[..path.len() - 1], "truncated");
        fails(m, n, &old, &new, &path[1..], "first entry dropped");
    }
    let mut longer = path.to_vec();
    longer.push(new);
    fails(m, n, &old, &new, &longer, "extended with the new root");
    let mut longer = path.to_vec();
    longer.push(Hash([0; 32]));
    fails(m, n, &old, &new, &longer, "extended with zeros");
    let mut longer = vec![old];
    longer.extend_from_slice(path);
    if m != n {
        fails(m, n, &old, &new, &longer, "old root prepended");
    }
    if path.len() >= 2 && path[0] != path[path.len() - 1] {
        let rev: Vec<Hash> = path.iter().rev().copied().collect();
        fails(m, n, &old, &new, &rev, "reversed");
    }
    if !path.is_empty() {
        let garbage: Vec<Hash> = path.iter().map(|_| random_hash(rng)).collect();
        fails(m, n, &old, &new, &garbage, "garbage path");
    }
    fails(m, n, &random_hash(rng), &new, path, "garbage old root");
}

fn next(state: &mut u64) -> u64 {
    // xorshift64*: a fixed, reproducible sample.
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn random_hash(rng: &mut u64) -> Hash {
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&next(rng).to_le_bytes());
    }
    Hash(out)
}

#[test]
fn corrupted_inclusion_proofs_fail() {
    let leaves = CachedLeaves::new(300);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for n in 1..=300u64 {
        let root = leaves.subtree_root(TreeVersion::CURRENT, 0, n);
        for m in 0..n {
            let all = n <= 32;
            // Beyond 32, a sample of leaves (the first, the last and a few random ones).
            if !all && m != 0 && m != n - 1 && !next(&mut rng).is_multiple_of(16) {
                continue;
            }
            let path = inclusion_proof(&leaves, m, n).expect("proof");
            inclusion_corruptions(leaves.leaf(m), m, n, &path, root, all, &mut rng);
        }
    }
}

#[test]
fn corrupted_consistency_proofs_fail() {
    let leaves = CachedLeaves::new(128);
    let roots: Vec<Hash> = (0..=128)
        .map(|n| leaves.subtree_root(TreeVersion::CURRENT, 0, n))
        .collect();
    let mut rng = 0x0123_4567_89ab_cdefu64;
    for n in 1..=128u64 {
        for m in 0..=n {
            let all = n <= 32;
            if !all && m != 0 && m != n && !next(&mut rng).is_multiple_of(16) {
                continue;
            }
            let path = consistency_proof(&leaves, m, n).expect("proof");
            consistency_corruptions(
                m,
                n,
                roots[m as usize],
                roots[n as usize],
                &path,
                all,
                &mut rng,
            );
        }
    }
}

#[test]
fn a_leaf_proven_in_one_tree_fails_in_another() {
    // The same index in a tree over other leaves.
    let leaves = test_leaves(20);
    let other: Vec<Hash> = (100..120).map(test_leaf).collect();
    let other_root = root_of(other.iter().copied());
    for m in 0..20u64 {
        let path = inclusion_proof(&leaves, m, 20).expect("proof");
        assert!(verify_inclusion(&leaves[m as usize], m, 20, &path, &other_root).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn garbage_inclusion_input_fails(
        leaf in any::<[u8; 32]>(),
        index in 0u64..1_000_000,
        size in 0u64..2_000_000,
        path in proptest::collection::vec(any::<[u8; 32]>(), 0..40),
        root in any::<[u8; 32]>(),
    ) {
        let path: Vec<Hash> = path.into_iter().map(Hash).collect();
        prop_assert!(verify_inclusion(&Hash(leaf), index, size, &path, &Hash(root)).is_err());
    }

    #[test]
    fn garbage_consistency_input_fails(
        old_size in 0u64..1_000_000,
        new_size in 0u64..2_000_000,
        old in any::<[u8; 32]>(),
        new in any::<[u8; 32]>(),
        path in proptest::collection::vec(any::<[u8; 32]>(), 0..40),
    ) {
        let path: Vec<Hash> = path.into_iter().map(Hash).collect();
        prop_assert!(verify_consistency(old_size, new_size, &Hash(old), &Hash(new), &path).is_err());
    }

    #[test]
    fn extreme_sizes_do_not_panic(index in any::<u64>(), size in any::<u64>(), old in any::<u64>(), new in any::<u64>(),
                                  path in proptest::collection::vec(any::<[u8; 32]>(), 0..70)) {
        let path: Vec<Hash> = path.into_iter().map(Hash).collect();
        let h = Hash([7; 32]);
        let _ = verify_inclusion(&h, index, size, &path, &h);
        let _ = verify_consistency(old, new, &h, &h, &path);
    }

    #[test]
    fn random_sizes_prove_and_verify(n in 1u64..2_000, seed in any::<u64>()) {
        let leaves = test_leaves(n);
        let m = seed % n;
        let old = seed % (n + 1);
        let root = root_of(leaves.iter().copied());
        let path = inclusion_proof(&leaves, m, n).expect("proof");
        prop_assert!(verify_inclusion(&leaves[m as usize], m, n, &path, &root).is_ok());
        let cpath = consistency_proof(&leaves, old, n).expect("proof");
        let old_root = root_of(leaves[..old as usize].iter().copied());
        prop_assert!(verify_consistency(old, n, &old_root, &root, &cpath).is_ok());
    }
}
