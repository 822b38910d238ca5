//! The check of a range file's key context (docs/FORMAT.md §7.4): the batches before the range
//! that its seals depend on, each proven by an inclusion proof in a signed checkpoint of the
//! records before the range, so that the range verifies offline, pinned to the founding key.
//!
//! [`ContextCheck`] is fed the file's [`Section::Checkpoint`](crate::Section::Checkpoint) and
//! [`Section::KeyBatch`](crate::Section::KeyBatch) sections in file order, then
//! [`ContextCheck::finish`]ed: it returns the [`Verifier`] the range's records are verified
//! with, holding the keys (and key roles) the key batches registered and revoked, and
//! expecting the range's first record to link to the checkpoint's head.
//!
//! What it proves: each key batch is the ledger's batch at its seqs (its seal is a leaf of the
//! checkpoint's tree, and its records chain to the seal), it verifies (its seal signed by a key
//! the batches before it trust, from the pinned founding key on), the checkpoint is signed by a
//! key those batches allow to sign checkpoints at its size (docs/PROOFS.md §6.5) and binds its
//! head to its tree, and the range continues that head. What it cannot prove: that no key batch
//! was left out (an inclusion proof shows what is in a tree, not what is missing); a verifier
//! holding the ledger, or an auditor's checkpoints, checks that.

use dossier_chain::{Failure, FailureKind, Hash, StoredRecord, TrustRoot, Verifier};
use dossier_proofs::{Checkpoint, ProofError, SignedNote};

use crate::{Batch, Header};

/// Why a key context does not hold; [`ContextError::seq`] names the seq where it shows.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The checkpoint is not one, names another ledger, is not of the records before the range,
    /// or does not bind its head to its tree.
    #[error("the key context's checkpoint of the records up to seq {seq}: {detail}")]
    Checkpoint {
        /// The last seq it must cover (the one before the range).
        seq: u64,
        /// What is wrong.
        detail: String,
    },
    /// The checkpoint is signed by no key the key batches allow to sign it.
    #[error(
        "the key context's checkpoint of the records up to seq {seq} is not signed by a key the ledger allows to sign checkpoints at that size (its log key; the founding key while it has none): {detail}"
    )]
    NotSigned {
        /// The last seq it covers.
        seq: u64,
        /// Which keys were tried, and why they failed.
        detail: String,
    },
    /// A key batch's seal is not in the checkpoint's tree at its seq.
    #[error("the key batch sealed at seq {seq} is not in the checkpoint's tree: {source}")]
    NotIncluded {
        /// The seal's seq.
        seq: u64,
        /// Why.
        #[source]
        source: ProofError,
    },
    /// A record of a key batch does not verify.
    #[error("the key context does not verify at seq {}: {} ({})", failure.seq, failure.kind, failure.detail)]
    DoesNotVerify {
        /// The first failure.
        failure: Failure,
    },
    /// A key batch does not end with a seal that verifies.
    #[error("the key batch ending at seq {seq} is not closed by a seal")]
    Unsealed {
        /// Its last seq.
        seq: u64,
    },
    /// The key batches hold no key event and are not the genesis batch.
    #[error(
        "the key batch at seq {seq} holds no key event: the key context carries only the batches the range's seals depend on"
    )]
    NotKeyBatch {
        /// Its first seq.
        seq: u64,
    },
}

impl ContextError {
    /// The seq where the problem shows.
    #[must_use]
    pub fn seq(&self) -> u64 {
        match self {
            ContextError::Checkpoint { seq, .. }
            | ContextError::NotSigned { seq, .. }
            | ContextError::NotIncluded { seq, .. }
            | ContextError::Unsealed { seq }
            | ContextError::NotKeyBatch { seq } => *seq,
            ContextError::DoesNotVerify { failure } => failure.seq,
        }
    }
}

/// Checks a range file's key context, section by section (see the module documentation).
#[derive(Debug)]
pub struct ContextCheck {
    header: Header,
    note: String,
    checkpoint: Option<Checkpoint>,
    v: Verifier,
}

impl ContextCheck {
    /// A check of the key context of the file with `header` (whose range starts past seq 1),
    /// verifying with `trust` (pin the founding key: unpinned, a forger's own ledger passes).
    #[must_use]
    pub fn new(header: Header, trust: TrustRoot) -> ContextCheck {
        ContextCheck {
            header,
            note: String::new(),
            checkpoint: None,
            v: Verifier::new(trust),
        }
    }

    fn size(&self) -> u64 {
        self.header.first - 1
    }

    fn bad_checkpoint(&self, detail: impl Into<String>) -> ContextError {
        ContextError::Checkpoint {
            seq: self.size(),
            detail: detail.into(),
        }
    }

    /// The checkpoint section: its text is of this ledger at the size before the range, and
    /// binds its head to its tree with `last_leaf` (its signature is checked at
    /// [`ContextCheck::finish`], once the key batches say which keys may sign it).
    ///
    /// # Errors
    /// [`ContextError::Checkpoint`].
    pub fn checkpoint(&mut self, note: String, last_leaf: &[Hash]) -> Result<(), ContextError> {
        let signed = SignedNote::parse(&note)
            .map_err(|e| self.bad_checkpoint(format!("not a signed note: {e}")))?;
        let cp = Checkpoint::parse_body(&signed.text)
            .map_err(|e| self.bad_checkpoint(format!("not a checkpoint: {e}")))?;
        let ledger = self.header.ledger.hyphenated().to_string();
        if cp.ledger != ledger {
            return Err(self.bad_checkpoint(format!(
                "it is of ledger {}, the file of ledger {ledger}",
                cp.ledger
            )));
        }
        if cp.tree.size != self.size() {
            return Err(self.bad_checkpoint(format!(
                "it covers {} records, the range starts at seq {}",
                cp.tree.size, self.header.first
            )));
        }
        dossier_proofs::verify_binding(&cp.tree, last_leaf).map_err(|e| {
            self.bad_checkpoint(format!("its head is not the last leaf of its tree: {e}"))
        })?;
        self.note = note;
        self.checkpoint = Some(cp);
        Ok(())
    }

    /// A key batch: its seal is a leaf of the checkpoint's tree at its seq (shown by `proof`),
    /// and its records verify after the key batches before it.
    ///
    /// # Errors
    /// [`ContextError::NotIncluded`], [`ContextError::DoesNotVerify`],
    /// [`ContextError::Unsealed`], [`ContextError::NotKeyBatch`]; [`ContextError::Checkpoint`]
    /// if no checkpoint came first.
    pub fn key_batch(&mut self, batch: &Batch, proof: &[Hash]) -> Result<(), ContextError> {
        let Some(cp) = &self.checkpoint else {
            return Err(self.bad_checkpoint("no checkpoint precedes the key batches"));
        };
        let seal_seq = batch.last();
        cp.tree
            .version
            .verify_inclusion(
                &batch.seal,
                seal_seq - 1,
                cp.tree.size,
                proof,
                &cp.tree.root,
            )
            .map_err(|source| ContextError::NotIncluded {
                seq: seal_seq,
                source,
            })?;
        let mut key_event = batch.first == 1;
        for (i, entry) in batch.records().enumerate() {
            let seq = batch.first + i as u64;
            let bytes = entry.map_err(|e| ContextError::DoesNotVerify {
                failure: Failure {
                    seq: batch.first + e.index as u64,
                    kind: FailureKind::BadFrame,
                    detail: e.to_string(),
                },
            })?;
            if i == 0 {
                // The records between the key batches are not here: the chain resumes at this
                // batch, which its seal (proven in the tree, signed by a trusted key) vouches for.
                let prev = dossier_chain::RecordView::parse(bytes)
                    .ok()
                    .and_then(|r| Hash::from_hex(r.prev).ok());
                if let Some(prev) = prev {
                    self.v.resume_at(seq, prev);
                }
            }
            if let Ok(view) = dossier_chain::RecordView::parse(bytes) {
                key_event |= matches!(
                    view.event_type,
                    dossier_chain::control::KEY_REGISTERED | dossier_chain::control::KEY_REVOKED
                );
            }
            self.v.push(&StoredRecord {
                position: seq,
                stored_hash: None,
                bytes: bytes.to_vec(),
            });
            if let Some(failure) = self.v.failures().first() {
                return Err(ContextError::DoesNotVerify {
                    failure: failure.clone(),
                });
            }
        }
        if self.v.last_sealed() != seal_seq {
            return Err(ContextError::Unsealed { seq: seal_seq });
        }
        if !key_event {
            return Err(ContextError::NotKeyBatch { seq: batch.first });
        }
        Ok(())
    }

    /// Checks the checkpoint's signature by a key the key batches allow to sign checkpoints at
    /// its size, and returns the verifier for the range: it expects the range's first record
    /// next, linking to the checkpoint's head.
    ///
    /// # Errors
    /// [`ContextError::NotSigned`]; [`ContextError::Checkpoint`] if there was no checkpoint.
    pub fn finish(mut self) -> Result<(Verifier, Checkpoint), ContextError> {
        let Some(cp) = self.checkpoint.take() else {
            return Err(self.bad_checkpoint("the file carries no checkpoint"));
        };
        let ledger = cp.ledger.clone();
        let mut tried = Vec::new();
        let mut opened = false;
        for (id, public) in self.v.checkpoint_keys() {
            let verifier = dossier_proofs::checkpoint_verifier(&ledger, public)
                .map_err(|e| self.bad_checkpoint(e.to_string()))?;
            match dossier_proofs::open_checkpoint(&self.note, &verifier) {
                Ok(_) => {
                    opened = true;
                    break;
                }
                Err(e) => tried.push(format!("key {id}: {e}")),
            }
        }
        if !opened {
            return Err(ContextError::NotSigned {
                seq: self.size(),
                detail: if tried.is_empty() {
                    "the key batches leave no such key".to_owned()
                } else {
                    tried.join("; ")
                },
            });
        }
        self.v.resume_at(self.header.first, cp.tree.head);
        if self.v.head().seq != self.size() || self.v.head().hash != cp.tree.head {
            // The last key batch ends just before the range: its seal is the checkpoint's head.
            return Err(self.bad_checkpoint(format!(
                "its head {} is not the hash of the key batch's seal at seq {}",
                cp.tree.head,
                self.size()
            )));
        }
        Ok((self.v, cp))
    }
}

/// The key context of a range starting at seq `first`, built from the records before it
/// (docs/FORMAT.md §7.4): written with [`crate::Writer::context`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyContext {
    /// The signed checkpoint of seqs `1..first`.
    pub note: String,
    /// The inclusion proof of its last leaf.
    pub last_leaf: Vec<Hash>,
    /// The batches the range's seals depend on: (first seq, records, inclusion proof of the
    /// seal).
    pub batches: Vec<(u64, Vec<Vec<u8>>, Vec<Hash>)>,
}

/// Builds a [`KeyContext`] from the records before a range, read once in seq order: it keeps
/// their hashes (the tree's leaves, 32 bytes a record) and the batches to carry (the genesis
/// batch and each batch holding a key event).
#[derive(Debug, Default)]
pub struct ContextBuilder {
    hashes: Vec<Hash>,
    open: Vec<Vec<u8>>,
    open_first: u64,
    open_keys: bool,
    kept: Vec<(u64, Vec<Vec<u8>>)>,
}

/// Why a key context cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The records do not end with a seal at the seq before the range, or do not parse.
    #[error(
        "the records before seq {first} do not end with a sealed batch (record {seq}: {detail})"
    )]
    Records {
        /// The range's first seq.
        first: u64,
        /// The record where it shows.
        seq: u64,
        /// What is wrong.
        detail: &'static str,
    },
    /// The tree or the checkpoint could not be made.
    #[error("making the checkpoint: {0}")]
    Checkpoint(String),
}

impl ContextBuilder {
    /// A builder for the records from seq 1.
    #[must_use]
    pub fn new() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// The next record (seq = the records pushed so far + 1), its exact bytes.
    ///
    /// # Errors
    /// [`BuildError::Records`] for a record whose envelope does not parse.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), BuildError> {
        let seq = self.hashes.len() as u64 + 1;
        let mut scratch = String::new();
        let Some((view, _)) = dossier_chain::RecordView::parse_envelope(bytes, &mut scratch) else {
            return Err(BuildError::Records {
                first: seq,
                seq,
                detail: "its envelope does not parse",
            });
        };
        self.hashes.push(Hash::of_record(bytes));
        if self.open.is_empty() {
            self.open_first = seq;
            self.open_keys = seq == 1;
        }
        self.open_keys |= matches!(
            view.event_type,
            dossier_chain::control::KEY_REGISTERED | dossier_chain::control::KEY_REVOKED
        );
        let seal = view.event_type == dossier_chain::control::SEAL;
        // The open batch is held until its seal says whether it is carried (at most 1,000
        // records, 1 MiB).
        self.open.push(bytes.to_vec());
        if seal {
            let records = std::mem::take(&mut self.open);
            if self.open_keys {
                self.kept.push((self.open_first, records));
            }
        }
        Ok(())
    }

    /// The key context of the range starting after the records pushed, its checkpoint signed
    /// by `signer` (a key the ledger allows to sign checkpoints at that size, docs/PROOFS.md
    /// §6.5; the file is refused otherwise).
    ///
    /// # Errors
    /// [`BuildError::Records`] if no record was pushed or the last is no seal;
    /// [`BuildError::Checkpoint`].
    pub fn finish(
        self,
        ledger: &str,
        signer: &dossier_chain::Signer,
    ) -> Result<KeyContext, BuildError> {
        let size = self.hashes.len() as u64;
        if size == 0 || !self.open.is_empty() {
            return Err(BuildError::Records {
                first: size + 1,
                seq: size,
                detail: "it is not a seal",
            });
        }
        let fail = |e: &dyn std::fmt::Display| BuildError::Checkpoint(e.to_string());
        let tree =
            dossier_proofs::TreeHead::from_leaves(&self.hashes, size).map_err(|e| fail(&e))?;
        let proof = |leaf: u64| {
            dossier_proofs::inclusion_proof(&self.hashes, leaf, size).map_err(|e| fail(&e))
        };
        let last_leaf = proof(size - 1)?;
        let note = Checkpoint::new(ledger, tree)
            .and_then(|c| c.sign_with(signer))
            .map_err(|e| fail(&e))?;
        let batches = self
            .kept
            .into_iter()
            .map(|(first, records)| {
                let seal = first + records.len() as u64 - 1;
                Ok((first, records, proof(seal - 1)?))
            })
            .collect::<Result<_, BuildError>>()?;
        Ok(KeyContext {
            note,
            last_leaf,
            batches,
        })
    }
}
