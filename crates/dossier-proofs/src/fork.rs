//! Fork evidence: two signed checkpoints of one ledger that cannot both be true, with the data
//! that shows it, checkable by anyone holding the ledger's checkpoint key.

use dossier_chain::Hash;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, CheckpointError, open_checkpoint};
use crate::merkle::{Leaves, ProofError};
use crate::note::NoteVerifier;

/// Two signed checkpoints and the data showing they contradict each other.
///
/// Serialised as JSON with the hashes as 64 lowercase hex digits:
/// `{"first": NOTE, "second": NOTE, "prefix_leaves": [HEX…], "consistency_proof": [HEX…]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkEvidence {
    /// One signed checkpoint (in the order given when the evidence was found).
    pub first: String,
    /// The other signed checkpoint.
    pub second: String,
    /// For checkpoints of different sizes `m < n`: the first `m` leaves (record hashes) of the
    /// larger tree. Empty for equal sizes.
    #[serde(with = "hex_hashes")]
    pub prefix_leaves: Vec<Hash>,
    /// For different sizes: the consistency proof from the tree over `prefix_leaves` (size `m`)
    /// to the larger checkpoint's tree (size `n`), which shows those leaves are the larger
    /// tree's. Empty for equal sizes.
    #[serde(with = "hex_hashes")]
    pub consistency_proof: Vec<Hash>,
}

/// What a piece of fork evidence shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForkKind {
    /// Same tree size, different roots.
    SameSizeDifferentRoots,
    /// Same tree size and root, different last record hashes (one checkpoint names a head
    /// that is not the last leaf of its tree).
    SameTreeDifferentHeads,
    /// Different sizes: the larger tree's first `m` leaves have a root other than the smaller
    /// checkpoint's.
    PrefixRootDiffers,
    /// Different sizes, same prefix root, but the smaller checkpoint's head is not leaf `m - 1`.
    SmallerHeadNotLastLeaf,
}

/// Why fork evidence could not be built or does not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForkError {
    /// A checkpoint does not open with the key.
    #[error("checkpoint {which}: {error}")]
    Checkpoint {
        /// `first` or `second`.
        which: &'static str,
        /// The error.
        error: CheckpointError,
    },
    /// The two checkpoints are of different ledgers.
    #[error("the checkpoints are of different ledgers")]
    DifferentLedgers,
    /// The two checkpoints are of different tree versions (`docs/PROOFS.md` §11): their roots
    /// cannot be compared.
    #[error("the checkpoints are of different tree versions")]
    DifferentVersions,
    /// The leaves given do not rebuild the larger checkpoint's root.
    #[error("the leaves given do not match the larger checkpoint")]
    LeavesDoNotMatch,
    /// The prefix leaves or consistency proof do not tie to the larger checkpoint.
    #[error("the prefix leaves are not shown to be the larger tree's: {0}")]
    BadConsistency(ProofError),
    /// Data present where none belongs, or the wrong number of prefix leaves.
    #[error("malformed evidence: {0}")]
    Malformed(&'static str),
    /// The checkpoints are consistent: this is not evidence of a fork.
    #[error("the checkpoints are consistent; no fork is shown")]
    NotAFork,
}

fn open_both(
    first: &str,
    second: &str,
    key: &NoteVerifier,
) -> Result<(Checkpoint, Checkpoint), ForkError> {
    let a = open_checkpoint(first, key).map_err(|error| ForkError::Checkpoint {
        which: "first",
        error,
    })?;
    let b = open_checkpoint(second, key).map_err(|error| ForkError::Checkpoint {
        which: "second",
        error,
    })?;
    if a.ledger != b.ledger {
        return Err(ForkError::DifferentLedgers);
    }
    if a.tree.version != b.tree.version {
        return Err(ForkError::DifferentVersions);
    }
    Ok((a, b))
}

impl ForkEvidence {
    /// Compares two signed checkpoints using the leaves of the ledger that matches the larger
    /// one (for equal sizes the leaves are not read). Returns evidence if they cannot both be
    /// true, `None` if they are consistent.
    ///
    /// # Errors
    /// If a checkpoint does not open with `key`, the two are of different ledgers, or the
    /// leaves do not rebuild the larger checkpoint's root.
    pub fn find<L: Leaves + ?Sized>(
        first: &str,
        second: &str,
        key: &NoteVerifier,
        larger_leaves: &L,
    ) -> Result<Option<ForkEvidence>, ForkError> {
        let (a, b) = open_both(first, second, key)?;
        let evidence = |prefix_leaves, consistency_proof| ForkEvidence {
            first: first.to_owned(),
            second: second.to_owned(),
            prefix_leaves,
            consistency_proof,
        };
        if a.tree.size == b.tree.size {
            let differ = a.tree.root != b.tree.root || a.tree.head != b.tree.head;
            return Ok(differ.then(|| evidence(Vec::new(), Vec::new())));
        }
        let (small, large) = if a.tree.size < b.tree.size {
            (&a, &b)
        } else {
            (&b, &a)
        };
        let (m, n) = (small.tree.size, large.tree.size);
        let v = large.tree.version;
        if n > larger_leaves.len() || larger_leaves.subtree_root(v, 0, n) != large.tree.root {
            return Err(ForkError::LeavesDoNotMatch);
        }
        let prefix_root = larger_leaves.subtree_root(v, 0, m);
        let last_differs = m > 0 && larger_leaves.leaf(m - 1) != small.tree.head;
        if prefix_root == small.tree.root && !last_differs {
            return Ok(None);
        }
        let prefix: Vec<Hash> = (0..m).map(|i| larger_leaves.leaf(i)).collect();
        let proof = v
            .consistency_proof(larger_leaves, m, n)
            .map_err(ForkError::BadConsistency)?;
        Ok(Some(evidence(prefix, proof)))
    }

    /// Checks the evidence with the ledger's checkpoint key, trusting nothing else: both
    /// checkpoints must verify, be of the same ledger, and contradict each other as the data
    /// shows. Returns what it shows.
    ///
    /// # Errors
    /// Why the evidence does not hold ([`ForkError::NotAFork`] if the checkpoints agree).
    pub fn check(&self, key: &NoteVerifier) -> Result<ForkKind, ForkError> {
        let (a, b) = open_both(&self.first, &self.second, key)?;
        if a.tree.size == b.tree.size {
            if !self.prefix_leaves.is_empty() || !self.consistency_proof.is_empty() {
                return Err(ForkError::Malformed(
                    "equal sizes carry no leaves and no proof",
                ));
            }
            if a.tree.root != b.tree.root {
                return Ok(ForkKind::SameSizeDifferentRoots);
            }
            if a.tree.head != b.tree.head {
                return Ok(ForkKind::SameTreeDifferentHeads);
            }
            return Err(ForkError::NotAFork);
        }
        let (small, large) = if a.tree.size < b.tree.size {
            (&a, &b)
        } else {
            (&b, &a)
        };
        let m = small.tree.size;
        if self.prefix_leaves.len() as u64 != m {
            return Err(ForkError::Malformed(
                "the number of prefix leaves must be the smaller size",
            ));
        }
        let v = large.tree.version;
        let prefix_root = v.root_of(self.prefix_leaves.iter().copied());
        v.verify_consistency(
            m,
            large.tree.size,
            &prefix_root,
            &large.tree.root,
            &self.consistency_proof,
        )
        .map_err(ForkError::BadConsistency)?;
        if prefix_root != small.tree.root {
            return Ok(ForkKind::PrefixRootDiffers);
        }
        if self
            .prefix_leaves
            .last()
            .is_some_and(|last| *last != small.tree.head)
        {
            return Ok(ForkKind::SmallerHeadNotLastLeaf);
        }
        Err(ForkError::NotAFork)
    }
}

mod hex_hashes {
    use dossier_chain::Hash;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(v: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(Hash::to_hex))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| {
                if t.len() == 64
                    && t.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    Hash::from_hex(t).map_err(D::Error::custom)
                } else {
                    Err(D::Error::custom("a hash is 64 lowercase hex digits"))
                }
            })
            .collect()
    }
}
