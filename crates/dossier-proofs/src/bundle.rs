//! Proof bundles (`docs/PROOFS.md`): what `dossier prove` writes and anyone checks offline with
//! only the checkpoint key — record `seq` is in the ledger a signed checkpoint commits to, or
//! the ledger at a newer checkpoint extends the ledger at an older one.

use dossier_chain::{Hash, RecordView};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointError, checkpoint_verifier, open_checkpoint};
use crate::merkle::ProofError;

/// The largest proof bundle read, in bytes (a bundle holds one record of at most 256 KiB, two
/// checkpoints and an audit path of at most 64 hashes).
pub const MAX_BUNDLE_BYTES: usize = 1024 * 1024;

/// A proof bundle, as JSON (`kind` names the variant; unknown members are refused).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProofBundle {
    /// Record `seq` is in the ledger the checkpoint commits to.
    Inclusion {
        /// Ledger id.
        ledger: String,
        /// The record's sequence number.
        seq: u64,
        /// The record's exact bytes (records are UTF-8 JSON).
        record: String,
        /// The audit path, leaf to root, hex.
        proof: Vec<String>,
        /// The signed checkpoint (C2SP tlog-checkpoint note).
        checkpoint: String,
    },
    /// The ledger at the newer checkpoint extends the ledger at the older one.
    Consistency {
        /// Ledger id.
        ledger: String,
        /// The older signed checkpoint.
        old: String,
        /// The newer signed checkpoint.
        new: String,
        /// The consistency proof, hex.
        proof: Vec<String>,
    },
}

/// What a proof bundle proved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Proven {
    /// The record is in the ledger as of the signed checkpoint.
    Inclusion {
        /// Ledger id.
        ledger: String,
        /// The record's sequence number.
        seq: u64,
        /// Its record hash (the Merkle leaf).
        leaf: Hash,
        /// Records the checkpoint covers.
        size: u64,
    },
    /// The newer checkpoint's ledger extends the older one's.
    Consistency {
        /// Ledger id.
        ledger: String,
        /// Records the older checkpoint covers.
        old_size: u64,
        /// Records the newer checkpoint covers.
        new_size: u64,
    },
}

/// Why a proof bundle is not one, or does not prove what it says.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The text is not a proof bundle (JSON, shape, size).
    #[error("not a proof bundle: {0}")]
    Malformed(String),
    /// The bundle's ledger id cannot name a checkpoint key.
    #[error("the ledger id: {0}")]
    LedgerId(CheckpointError),
    /// A checkpoint does not open with the key (bad signature, other key, malformed note).
    #[error("{which}: {source}")]
    Checkpoint {
        /// Which checkpoint (`checkpoint`, `older checkpoint`, `newer checkpoint`).
        which: &'static str,
        /// Why.
        source: CheckpointError,
    },
    /// The bundled record is not a dossier record, or not the one the bundle names.
    #[error("{0}")]
    Record(String),
    /// A proof hash is not 64 lowercase hex digits.
    #[error("proof hash {0:?} is not 64 hex digits")]
    BadHash(String),
    /// The record is not in the tree the checkpoint signs.
    #[error("record {seq} is not in the tree the checkpoint signs: {source}")]
    NotIncluded {
        /// The record.
        seq: u64,
        /// Why.
        source: ProofError,
    },
    /// The two checkpoints of a consistency bundle are of different tree versions (a version-1
    /// root cannot be a prefix of a version-2 tree; prove consistency between two version-2
    /// checkpoints, `docs/PROOFS.md` §11).
    #[error(
        "the older checkpoint is of tree version {old}, the newer of version {new}; a consistency proof needs both of one version"
    )]
    Versions {
        /// The older checkpoint's version.
        old: u8,
        /// The newer checkpoint's version.
        new: u8,
    },
    /// The newer tree does not extend the older one.
    #[error("the newer ledger does not extend the older one: {0}")]
    NotConsistent(ProofError),
    /// No log key was pinned to check the checkpoints with.
    #[error("no log key was given to check the checkpoints with")]
    NoKey,
}

impl BundleError {
    /// Whether the bundle was read and its proof failed (a verdict), rather than not being a
    /// proof bundle at all.
    #[must_use]
    pub fn is_verdict(&self) -> bool {
        !matches!(self, BundleError::Malformed(_))
    }
}

fn parse_path(path: &[String]) -> Result<Vec<Hash>, BundleError> {
    path.iter()
        .map(|h| Hash::from_hex(h).map_err(|_| BundleError::BadHash(h.clone())))
        .collect()
}

impl ProofBundle {
    /// The checkpoint a reader relies on: the inclusion bundle's, or the consistency bundle's
    /// newer one (the one whose cosignatures a quorum check counts).
    #[must_use]
    pub fn checkpoint(&self) -> &str {
        match self {
            ProofBundle::Inclusion { checkpoint, .. } => checkpoint,
            ProofBundle::Consistency { new, .. } => new,
        }
    }

    /// Parses a bundle from its JSON text.
    ///
    /// # Errors
    /// [`BundleError::Malformed`] for text over [`MAX_BUNDLE_BYTES`] or not a bundle.
    pub fn parse(text: &str) -> Result<ProofBundle, BundleError> {
        if text.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::Malformed(format!(
                "{} bytes, more than the {MAX_BUNDLE_BYTES} a bundle may have",
                text.len()
            )));
        }
        serde_json::from_str(text).map_err(|e| BundleError::Malformed(e.to_string()))
    }

    /// Checks the bundle with the checkpoint key `public`, offline.
    ///
    /// # Errors
    /// Whatever does not hold, as a [`BundleError`].
    pub fn check(&self, public: VerifyingKey) -> Result<Proven, BundleError> {
        self.check_pinned(&[public])
    }

    /// Checks the bundle offline, each of its checkpoints signed by one of the pinned log keys
    /// `keys` (a consistency bundle across a rotation of the log key: the old key and the new,
    /// docs/PROOFS.md §5).
    ///
    /// # Errors
    /// Whatever does not hold, as a [`BundleError`] (a checkpoint signed by none of the keys:
    /// the failure with the first key).
    pub fn check_pinned(&self, keys: &[VerifyingKey]) -> Result<Proven, BundleError> {
        let open = |ledger: &str, note: &str, which: &'static str| {
            let mut first = None;
            for public in keys {
                let verifier =
                    checkpoint_verifier(ledger, *public).map_err(BundleError::LedgerId)?;
                match open_checkpoint(note, &verifier) {
                    Ok(cp) => return Ok(cp),
                    Err(source) => {
                        first.get_or_insert(BundleError::Checkpoint { which, source });
                    }
                }
            }
            Err(first.unwrap_or(BundleError::NoKey))
        };
        match self {
            ProofBundle::Inclusion {
                ledger,
                seq,
                record,
                proof,
                checkpoint,
            } => {
                let cp = open(ledger, checkpoint, "checkpoint")?;
                let view = RecordView::parse(record.as_bytes()).map_err(|e| {
                    BundleError::Record(format!("the record is not a dossier record: {e}"))
                })?;
                if view.seq != *seq || view.ledger != *ledger {
                    return Err(BundleError::Record(format!(
                        "the record says seq {} of ledger {}",
                        view.seq, view.ledger
                    )));
                }
                if *seq == 0 {
                    return Err(BundleError::Record("sequence numbers start at 1".into()));
                }
                let leaf = Hash::of_record(record.as_bytes());
                let path = parse_path(proof)?;
                cp.tree
                    .version
                    .verify_inclusion(&leaf, seq - 1, cp.tree.size, &path, &cp.tree.root)
                    .map_err(|source| BundleError::NotIncluded { seq: *seq, source })?;
                Ok(Proven::Inclusion {
                    ledger: ledger.clone(),
                    seq: *seq,
                    leaf,
                    size: cp.tree.size,
                })
            }
            ProofBundle::Consistency {
                ledger,
                old,
                new,
                proof,
            } => {
                let a = open(ledger, old, "older checkpoint")?;
                let b = open(ledger, new, "newer checkpoint")?;
                let path = parse_path(proof)?;
                if a.tree.version != b.tree.version {
                    return Err(BundleError::Versions {
                        old: a.tree.version.number(),
                        new: b.tree.version.number(),
                    });
                }
                a.tree
                    .version
                    .verify_consistency(a.tree.size, b.tree.size, &a.tree.root, &b.tree.root, &path)
                    .map_err(BundleError::NotConsistent)?;
                Ok(Proven::Consistency {
                    ledger: ledger.clone(),
                    old_size: a.tree.size,
                    new_size: b.tree.size,
                })
            }
        }
    }
}
