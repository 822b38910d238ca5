//! The Merkle tree of a ledger (RFC 9162 §2.1), its root, and inclusion and consistency proofs.
//!
//! The tree's leaves are the ledger's **record hashes** in sequence order: leaf `i` (0-based) is
//! the 32-byte hash of record `i + 1` (`BLAKE3("dossier/record/v1\0" || stored bytes)`, see
//! `docs/FORMAT.md`). A tree of size `n` covers records 1..=n. Nothing here needs the whole
//! tree in memory: roots are computed with a stack of at most 64 subtree roots, and proofs read
//! leaves through the [`Leaves`] accessor.
//!
//! Two hash functions exist ([`TreeVersion`], `docs/PROOFS.md` §11): version 2, the RFC 6962
//! SHA-256 tree every new checkpoint and proof uses, and version 1 (BLAKE3), kept so that
//! checkpoints and proof bundles made before version 2 still verify. The free functions
//! ([`root_of`], [`inclusion_proof`], [`verify_inclusion`], …) use [`TreeVersion::CURRENT`];
//! the methods of [`TreeVersion`] take the version from a checkpoint.

use dossier_chain::Hash;
use sha2::{Digest as _, Sha256};

/// Prefix byte of a leaf hash: `H(0x00 || leaf)`.
pub const LEAF_PREFIX: u8 = 0x00;
/// Prefix byte of an interior node hash: `H(0x01 || left || right)`.
pub const NODE_PREFIX: u8 = 0x01;

/// Which hash function a tree uses (`docs/PROOFS.md` §2.2 and §11). A checkpoint names its
/// version by the keyword of its extension line, so a root is never read under the wrong one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TreeVersion {
    /// Version 1: RFC 9162's tree shape with BLAKE3. Verified, never produced any more.
    V1Blake3,
    /// Version 2: the RFC 6962 / RFC 9162 tree with SHA-256, a standard transparency log.
    #[default]
    V2Sha256,
}

impl TreeVersion {
    /// The version new roots, checkpoints and proofs use.
    pub const CURRENT: TreeVersion = TreeVersion::V2Sha256;

    /// The version number of `docs/PROOFS.md` (1 or 2).
    #[must_use]
    pub fn number(self) -> u8 {
        match self {
            TreeVersion::V1Blake3 => 1,
            TreeVersion::V2Sha256 => 2,
        }
    }

    fn hash(self, parts: &[&[u8]]) -> Hash {
        match self {
            TreeVersion::V1Blake3 => {
                let mut h = blake3::Hasher::new();
                for p in parts {
                    h.update(p);
                }
                Hash(*h.finalize().as_bytes())
            }
            TreeVersion::V2Sha256 => {
                let mut h = Sha256::new();
                for p in parts {
                    h.update(p);
                }
                Hash(h.finalize().into())
            }
        }
    }

    /// The root of the empty tree: the hash of no bytes.
    #[must_use]
    pub fn empty_root(self) -> Hash {
        self.hash(&[])
    }

    /// The leaf hash of a leaf (a record hash): `H(0x00 || leaf)`.
    #[must_use]
    pub fn leaf_hash(self, leaf: &Hash) -> Hash {
        self.hash(&[&[LEAF_PREFIX], &leaf.0])
    }

    /// An interior node: `H(0x01 || left || right)`.
    #[must_use]
    pub fn node_hash(self, left: &Hash, right: &Hash) -> Hash {
        self.hash(&[&[NODE_PREFIX], &left.0, &right.0])
    }

    /// The root of the tree over the given leaves, in one pass with O(log n) memory.
    #[must_use]
    pub fn root_of<I: IntoIterator<Item = Hash>>(self, leaves: I) -> Hash {
        let mut b = RootBuilder::with_version(self);
        for leaf in leaves {
            b.push(leaf);
        }
        b.root()
    }
}

/// The root of the empty tree of the current version: `SHA-256("")`.
#[must_use]
pub fn empty_root() -> Hash {
    TreeVersion::CURRENT.empty_root()
}

/// The leaf hash of a leaf (a record hash) in the current version: `SHA-256(0x00 || leaf)`.
#[must_use]
pub fn leaf_hash(leaf: &Hash) -> Hash {
    TreeVersion::CURRENT.leaf_hash(leaf)
}

/// An interior node in the current version: `SHA-256(0x01 || left || right)`.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    TreeVersion::CURRENT.node_hash(left, right)
}

/// The largest power of two strictly smaller than `n` (`n >= 2`): RFC 9162's split point `k`.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Streaming computation of the tree root over leaves pushed in order, with O(log n) memory.
///
/// The state is the list of roots of the perfect subtrees that make up the tree so far, one per
/// set bit of the size, largest (leftmost) first. Pushing a leaf merges equal-sized subtrees;
/// the root folds the list from the right: `node(s0, node(s1, … node(s_{k-1}, s_k)))`, which is
/// exactly RFC 9162's MTH because the leftmost subtree is the largest power of two smaller than
/// the size.
#[derive(Clone, Debug, Default)]
pub struct RootBuilder {
    version: TreeVersion,
    size: u64,
    stack: Vec<Hash>,
    last: Option<(Hash, Vec<Hash>)>,
}

impl RootBuilder {
    /// An empty tree of the current version.
    #[must_use]
    pub fn new() -> RootBuilder {
        RootBuilder::default()
    }

    /// An empty tree of the given version.
    #[must_use]
    pub fn with_version(version: TreeVersion) -> RootBuilder {
        RootBuilder {
            version,
            ..RootBuilder::default()
        }
    }

    /// The tree's version.
    #[must_use]
    pub fn version(&self) -> TreeVersion {
        self.version
    }

    /// Appends one leaf (a record hash).
    pub fn push(&mut self, leaf: Hash) {
        let v = self.version;
        let mut node = v.leaf_hash(&leaf);
        let mut siblings = match self.last.take() {
            Some((_, mut v)) => {
                v.clear();
                v
            }
            None => Vec::new(),
        };
        let mut count = self.size;
        while count & 1 == 1 {
            // The stack holds one entry per set bit of `size`, so an entry exists here.
            let Some(left) = self.stack.pop() else { break };
            siblings.push(left);
            node = v.node_hash(&left, &node);
            count >>= 1;
        }
        self.stack.push(node);
        self.size += 1;
        self.last = Some((leaf, siblings));
    }

    /// The number of leaves pushed.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the tree so far ([`empty_root`] for no leaves).
    #[must_use]
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some(last) = it.next() else {
            return self.version.empty_root();
        };
        it.fold(*last, |right, left| self.version.node_hash(left, &right))
    }

    /// The last leaf pushed (the hash of the last record), if any leaf was pushed since this
    /// builder was created or restored.
    #[must_use]
    pub fn last_leaf(&self) -> Option<Hash> {
        self.last.as_ref().map(|(leaf, _)| *leaf)
    }

    /// The inclusion proof of the last leaf (index `size - 1`) in the current tree, computed
    /// from the builder's state in O(log n) without reading any leaf; `None` before the first
    /// push after [`RootBuilder::new`] or [`RootBuilder::from_frontier`].
    #[must_use]
    pub fn last_leaf_proof(&self) -> Option<Vec<Hash>> {
        let (_, inner) = self.last.as_ref()?;
        let mut path = inner.clone();
        let upper = self.stack.len().saturating_sub(1);
        path.extend(self.stack[..upper].iter().rev().copied());
        Some(path)
    }

    /// The current [`TreeHead`] (size, root and last leaf; the last leaf is
    /// [`dossier_chain::GENESIS_PREV`] for the empty tree). `None` if the builder was restored
    /// from a frontier and nothing was pushed since.
    #[must_use]
    pub fn tree_head(&self) -> Option<TreeHead> {
        let head = match (&self.last, self.size) {
            (_, 0) => dossier_chain::GENESIS_PREV,
            (Some((leaf, _)), _) => *leaf,
            (None, _) => return None,
        };
        Some(TreeHead {
            version: self.version,
            size: self.size,
            root: self.root(),
            head,
        })
    }

    /// The frontier: the roots of the perfect subtrees making up the tree, largest first (one
    /// per set bit of the size). Together with the size it is enough to continue the tree.
    #[must_use]
    pub fn frontier(&self) -> &[Hash] {
        &self.stack
    }

    /// Restores a builder of the current version from a size and its
    /// [`frontier`](RootBuilder::frontier).
    ///
    /// # Errors
    /// [`ProofError::BadFrontier`] if the frontier does not have one entry per set bit of the size.
    pub fn from_frontier(size: u64, frontier: Vec<Hash>) -> Result<RootBuilder, ProofError> {
        RootBuilder::from_frontier_in(TreeVersion::CURRENT, size, frontier)
    }

    /// Restores a builder of `version` from a size and its frontier (computed in that version).
    ///
    /// # Errors
    /// [`ProofError::BadFrontier`] if the frontier does not have one entry per set bit of the size.
    pub fn from_frontier_in(
        version: TreeVersion,
        size: u64,
        frontier: Vec<Hash>,
    ) -> Result<RootBuilder, ProofError> {
        if frontier.len() != size.count_ones() as usize {
            return Err(ProofError::BadFrontier {
                size,
                len: frontier.len(),
            });
        }
        Ok(RootBuilder {
            version,
            size,
            stack: frontier,
            last: None,
        })
    }
}

/// The root of the tree (current version) over the given leaves (record hashes), in one pass
/// with O(log n) memory.
#[must_use]
pub fn root_of<I: IntoIterator<Item = Hash>>(leaves: I) -> Hash {
    TreeVersion::CURRENT.root_of(leaves)
}

/// The state of a ledger that a checkpoint commits to: the tree size (number of records), the
/// tree root, and the hash of the last record (the chain head).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    /// The tree's hash function: how `root` was computed.
    pub version: TreeVersion,
    /// Number of records (leaves).
    pub size: u64,
    /// The Merkle tree root over the first `size` record hashes.
    pub root: Hash,
    /// The hash of record `size` (the last leaf); [`dossier_chain::GENESIS_PREV`] when `size` is 0.
    pub head: Hash,
}

impl TreeHead {
    /// The tree head (current version) over the first `size` leaves of `leaves`, in one pass.
    ///
    /// # Errors
    /// [`ProofError::SizeBeyondLeaves`] if `size` exceeds the leaves available.
    pub fn from_leaves<L: Leaves + ?Sized>(leaves: &L, size: u64) -> Result<TreeHead, ProofError> {
        TreeHead::from_leaves_in(TreeVersion::CURRENT, leaves, size)
    }

    /// The tree head of the given version over the first `size` leaves of `leaves`.
    ///
    /// # Errors
    /// [`ProofError::SizeBeyondLeaves`] if `size` exceeds the leaves available.
    pub fn from_leaves_in<L: Leaves + ?Sized>(
        version: TreeVersion,
        leaves: &L,
        size: u64,
    ) -> Result<TreeHead, ProofError> {
        check_available(leaves, size)?;
        let root = leaves.subtree_root(version, 0, size);
        let head = if size == 0 {
            dossier_chain::GENESIS_PREV
        } else {
            leaves.leaf(size - 1)
        };
        Ok(TreeHead {
            version,
            size,
            root,
            head,
        })
    }
}

/// Read access to a ledger's leaves (record hashes) by 0-based index, so that roots and proofs
/// can be computed without holding the tree in memory.
pub trait Leaves {
    /// Number of leaves available (records in the ledger).
    fn len(&self) -> u64;

    /// Leaf `i` (0-based): the hash of record `i + 1`. Callers only ask for `i < len()`.
    fn leaf(&self, i: u64) -> Hash;

    /// Whether there are no leaves.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `MTH(D[start:end])` in `version`: the root of the tree over leaves `start..end`
    /// (half-open). The default streams the leaves through a [`RootBuilder`]; an
    /// implementation that stores interior nodes may override it, but MUST return the same
    /// value. Callers only ask for `start <= end <= len()`.
    fn subtree_root(&self, version: TreeVersion, start: u64, end: u64) -> Hash {
        version.root_of((start..end).map(|i| self.leaf(i)))
    }
}

impl Leaves for [Hash] {
    fn len(&self) -> u64 {
        self.len() as u64
    }
    fn leaf(&self, i: u64) -> Hash {
        // Callers only ask for i < len(); an index beyond it is a caller bug.
        usize::try_from(i)
            .ok()
            .and_then(|i| self.get(i))
            .copied()
            .unwrap_or(Hash([0; 32]))
    }
}

impl Leaves for Vec<Hash> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn leaf(&self, i: u64) -> Hash {
        Leaves::leaf(self.as_slice(), i)
    }
}

impl<L: Leaves + ?Sized> Leaves for &L {
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn leaf(&self, i: u64) -> Hash {
        (**self).leaf(i)
    }
    fn subtree_root(&self, version: TreeVersion, start: u64, end: u64) -> Hash {
        (**self).subtree_root(version, start, end)
    }
}

/// Why a proof could not be produced or did not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// A tree size larger than the leaves available.
    #[error("tree size {size} exceeds the {len} leaves available")]
    SizeBeyondLeaves {
        /// The size asked for.
        size: u64,
        /// The leaves available.
        len: u64,
    },
    /// A leaf index not below the tree size.
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange {
        /// The index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldLargerThanNew {
        /// The old size.
        old: u64,
        /// The new size.
        new: u64,
    },
    /// The path has more entries than the tree shape allows.
    #[error("the proof path is too long")]
    PathTooLong,
    /// The path has fewer entries than the tree shape needs.
    #[error("the proof path is too short")]
    PathTooShort,
    /// A consistency proof between different non-empty trees with an empty path, or a
    /// non-empty path where none is allowed (equal sizes, or an empty old tree).
    #[error("the proof path has the wrong length for these sizes")]
    PathLength,
    /// The recomputed root differs from the given root (inclusion proofs; the new root of a
    /// consistency proof).
    #[error("the recomputed root does not match")]
    RootMismatch,
    /// The recomputed old root of a consistency proof differs from the given old root.
    #[error("the recomputed old root does not match")]
    OldRootMismatch,
    /// A frontier whose length does not match its size.
    #[error("a frontier for size {size} must have one hash per set bit, not {len}")]
    BadFrontier {
        /// The size.
        size: u64,
        /// The number of hashes given.
        len: usize,
    },
}

fn check_available<L: Leaves + ?Sized>(leaves: &L, size: u64) -> Result<(), ProofError> {
    let len = leaves.len();
    if size > len {
        return Err(ProofError::SizeBeyondLeaves { size, len });
    }
    Ok(())
}

/// The inclusion proof `PATH(index, D[0:size])` of RFC 9162 §2.1.3.1: the sibling subtree roots
/// from the leaf up to the root (deepest first). Reads each of the first `size` leaves at most
/// once; memory is O(log size).
///
/// # Errors
/// If `size` exceeds the leaves available or `index >= size`.
pub fn inclusion_proof<L: Leaves + ?Sized>(
    leaves: &L,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    TreeVersion::CURRENT.inclusion_proof(leaves, index, size)
}

/// The consistency proof `PROOF(old_size, D[0:new_size])` of RFC 9162 §2.1.4.1 in the current
/// version. For `old_size == 0` or `old_size == new_size` the proof is empty (there is nothing
/// to prove; see [`verify_consistency`]). Memory is O(log new_size).
///
/// # Errors
/// If `new_size` exceeds the leaves available or `old_size > new_size`.
pub fn consistency_proof<L: Leaves + ?Sized>(
    leaves: &L,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError> {
    TreeVersion::CURRENT.consistency_proof(leaves, old_size, new_size)
}

/// Verifies an inclusion proof in the current version; see [`TreeVersion::verify_inclusion`].
///
/// # Errors
/// Which check failed.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    path: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    TreeVersion::CURRENT.verify_inclusion(leaf, index, size, path, root)
}

/// Verifies a consistency proof in the current version; see
/// [`TreeVersion::verify_consistency`].
///
/// # Errors
/// Which check failed.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    path: &[Hash],
) -> Result<(), ProofError> {
    TreeVersion::CURRENT.verify_consistency(old_size, new_size, old_root, new_root, path)
}

impl TreeVersion {
    /// The inclusion proof `PATH(index, D[0:size])` of RFC 9162 §2.1.3.1 in this version.
    ///
    /// # Errors
    /// If `size` exceeds the leaves available or `index >= size`.
    pub fn inclusion_proof<L: Leaves + ?Sized>(
        self,
        leaves: &L,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, ProofError> {
        check_available(leaves, size)?;
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        let mut path = Vec::new();
        let (mut lo, mut hi) = (0u64, size);
        while hi - lo > 1 {
            let k = split(hi - lo);
            if index < lo + k {
                path.push(leaves.subtree_root(self, lo + k, hi));
                hi = lo + k;
            } else {
                path.push(leaves.subtree_root(self, lo, lo + k));
                lo += k;
            }
        }
        path.reverse();
        Ok(path)
    }

    /// The consistency proof `PROOF(old_size, D[0:new_size])` of RFC 9162 §2.1.4.1 in this version.
    ///
    /// # Errors
    /// If `new_size` exceeds the leaves available or `old_size > new_size`.
    pub fn consistency_proof<L: Leaves + ?Sized>(
        self,
        leaves: &L,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, ProofError> {
        check_available(leaves, new_size)?;
        if old_size > new_size {
            return Err(ProofError::OldLargerThanNew {
                old: old_size,
                new: new_size,
            });
        }
        let mut path = Vec::new();
        if old_size == 0 || old_size == new_size {
            return Ok(path);
        }
        // SUBPROOF(m, D[lo:hi], b), unrolled; siblings are pushed top-down and reversed at the end.
        let (mut lo, mut hi, mut m, mut complete) = (0u64, new_size, old_size, true);
        loop {
            let n = hi - lo;
            if m == n {
                if !complete {
                    path.push(leaves.subtree_root(self, lo, hi));
                }
                break;
            }
            let k = split(n);
            if m <= k {
                path.push(leaves.subtree_root(self, lo + k, hi));
                hi = lo + k;
            } else {
                path.push(leaves.subtree_root(self, lo, lo + k));
                lo += k;
                m -= k;
                complete = false;
            }
        }
        path.reverse();
        Ok(path)
    }

    /// Verifies an inclusion proof exactly as RFC 9162 §2.1.3.2: `leaf` (a record hash; its leaf
    /// hash `H(0x00 || leaf)` is computed here) is leaf `index` of the tree of size `size` whose
    /// root is `root`.
    ///
    /// # Errors
    /// Which check failed.
    pub fn verify_inclusion(
        self,
        leaf: &Hash,
        index: u64,
        size: u64,
        path: &[Hash],
        root: &Hash,
    ) -> Result<(), ProofError> {
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        let (mut f, mut s) = (index, size - 1);
        let mut r = self.leaf_hash(leaf);
        for p in path {
            if s == 0 {
                return Err(ProofError::PathTooLong);
            }
            if f & 1 == 1 || f == s {
                r = self.node_hash(p, &r);
                if f & 1 == 0 {
                    while f & 1 == 0 && f != 0 {
                        f >>= 1;
                        s >>= 1;
                    }
                }
            } else {
                r = self.node_hash(&r, p);
            }
            f >>= 1;
            s >>= 1;
        }
        if s != 0 {
            return Err(ProofError::PathTooShort);
        }
        if r != *root {
            return Err(ProofError::RootMismatch);
        }
        Ok(())
    }

    /// Verifies a consistency proof: the tree of size `old_size` with root `old_root` is a prefix
    /// of the tree of size `new_size` with root `new_root`.
    ///
    /// For `0 < old_size < new_size` this is exactly RFC 9162 §2.1.4.2. The two trivial cases the
    /// RFC leaves out: `old_size == new_size` holds when the path is empty and the roots are
    /// equal; `old_size == 0` holds when the path is empty and `old_root` is the empty root.
    ///
    /// # Errors
    /// Which check failed.
    pub fn verify_consistency(
        self,
        old_size: u64,
        new_size: u64,
        old_root: &Hash,
        new_root: &Hash,
        path: &[Hash],
    ) -> Result<(), ProofError> {
        if old_size > new_size {
            return Err(ProofError::OldLargerThanNew {
                old: old_size,
                new: new_size,
            });
        }
        if old_size == new_size || old_size == 0 {
            if !path.is_empty() {
                return Err(ProofError::PathLength);
            }
            if old_size == 0 && *old_root != self.empty_root() {
                return Err(ProofError::OldRootMismatch);
            }
            if old_size == new_size && old_root != new_root {
                return Err(ProofError::RootMismatch);
            }
            return Ok(());
        }
        // Step 1.
        let Some((first, rest)) = path.split_first() else {
            return Err(ProofError::PathLength);
        };
        // Step 2: if old_size is a power of two, the path implicitly starts with old_root.
        let (start, rest) = if old_size.is_power_of_two() {
            (old_root, path)
        } else {
            (first, rest)
        };
        // Steps 3 and 4.
        let (mut f, mut s) = (old_size - 1, new_size - 1);
        while f & 1 == 1 {
            f >>= 1;
            s >>= 1;
        }
        // Step 5.
        let (mut fr, mut sr) = (*start, *start);
        // Step 6.
        for c in rest {
            if s == 0 {
                return Err(ProofError::PathTooLong);
            }
            if f & 1 == 1 || f == s {
                fr = self.node_hash(c, &fr);
                sr = self.node_hash(c, &sr);
                if f & 1 == 0 {
                    while f & 1 == 0 && f != 0 {
                        f >>= 1;
                        s >>= 1;
                    }
                }
            } else {
                sr = self.node_hash(&sr, c);
            }
            f >>= 1;
            s >>= 1;
        }
        // Step 7.
        if s != 0 {
            return Err(ProofError::PathTooShort);
        }
        if fr != *old_root {
            return Err(ProofError::OldRootMismatch);
        }
        if sr != *new_root {
            return Err(ProofError::RootMismatch);
        }
        Ok(())
    }
}
