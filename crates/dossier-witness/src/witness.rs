//! The witness's checks (C2SP `tlog-witness` `add-checkpoint`) and its cosignature.

use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use dossier_proofs::note::NoteSignature;
use dossier_proofs::{Cosigner, NoteVerifier, TreeVersion};

use crate::request::AddCheckpoint;
use crate::store::{STORE_FILE, Store};

/// Why a witness refused a checkpoint; each maps to the status `tlog-witness` names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request body is malformed, or the old size is above the checkpoint's (400).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The witness does not witness this origin (404).
    #[error("unknown log {0}")]
    UnknownLog(String),
    /// No signature by the log's key verifies (403).
    #[error("the checkpoint is not signed by the log's key: {0}")]
    Unsigned(String),
    /// The old size is not the size the witness holds (409, with that size).
    #[error("the witness holds size {current} of this log, not {old}")]
    OldSize {
        /// The size the request named.
        old: u64,
        /// The size the witness holds.
        current: u64,
    },
    /// Another root at the size the witness holds: a fork (409).
    #[error("fork: a checkpoint of size {size} with another root than the one cosigned")]
    Fork {
        /// The size of both trees.
        size: u64,
    },
    /// The consistency proof does not verify (422).
    #[error("the consistency proof from size {old} to {size} does not verify")]
    BadProof {
        /// The witness's size.
        old: u64,
        /// The checkpoint's size.
        size: u64,
    },
}

/// Errors of [`Witness::add_checkpoint`].
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The checkpoint is refused.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The store failed (nothing was cosigned).
    #[error("the witness's store failed: {0}")]
    Store(#[from] rusqlite::Error),
}

/// A witness: its key and its store.
#[derive(Debug)]
pub struct Witness {
    cosigner: Cosigner,
    store: Mutex<Store>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Witness {
    /// A witness over a store.
    #[must_use]
    pub fn new(cosigner: Cosigner, store: Store) -> Witness {
        Witness {
            cosigner,
            store: Mutex::new(store),
        }
    }

    /// Opens the witness of a directory whose key file is in the clear.
    ///
    /// # Errors
    /// A message: no key, or the store does not open.
    pub fn open(dir: &Path) -> Result<Witness, String> {
        Witness::open_with(dir, crate::key::WitnessKeyFile::load(dir)?)
    }

    /// Opens the store of the witness directory `dir` for the witness `cosigner` (its key,
    /// read by the caller).
    ///
    /// # Errors
    /// A message: the store does not open.
    pub fn open_with(dir: &Path, cosigner: Cosigner) -> Result<Witness, String> {
        let store = Store::open(&dir.join(STORE_FILE))
            .map_err(|e| format!("opening {}: {e}", dir.join(STORE_FILE).display()))?;
        Ok(Witness::new(cosigner, store))
    }

    /// The witness's cosigner (name and key).
    #[must_use]
    pub fn cosigner(&self) -> &Cosigner {
        &self.cosigner
    }

    /// Runs `f` on the store.
    pub fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        let store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&store)
    }

    /// Handles an `add-checkpoint` request body: parses it, checks the log's signature, the
    /// old size, the consistency proof (or, at the same size, the root), moves the log's state
    /// durably, and returns the cosignature. The check and the write happen under one lock
    /// and the write is conditional on the old size, so the state never goes backwards.
    /// Refusals of a signed checkpoint of a known log are kept in the store as evidence.
    ///
    /// # Errors
    /// [`WitnessError::Refused`] with the reason, or [`WitnessError::Store`].
    pub fn add_checkpoint(&self, body: &[u8]) -> Result<NoteSignature, WitnessError> {
        let req = AddCheckpoint::parse(body).map_err(Refusal::Malformed)?;
        let store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = store
            .log(&req.origin)?
            .ok_or_else(|| Refusal::UnknownLog(req.origin.clone()))?;
        let verifier = NoteVerifier::from_vkey(&state.vkey)
            .map_err(|e| Refusal::Unsigned(format!("the configured key is unusable: {e}")))?;
        req.note
            .verify(&verifier)
            .map_err(|e| Refusal::Unsigned(e.to_string()))?;
        let when = now();
        let refuse = |r: Refusal| -> WitnessError {
            if let Err(e) = store.record_refusal(&req.origin, when, &r.to_string(), body) {
                return WitnessError::Store(e);
            }
            WitnessError::Refused(r)
        };
        if req.old != state.size {
            return Err(WitnessError::Refused(Refusal::OldSize {
                old: req.old,
                current: state.size,
            }));
        }
        let bad_proof = || Refusal::BadProof {
            old: state.size,
            size: req.size,
        };
        match state.root {
            Some(root) if req.size == state.size && root != req.root => {
                return Err(refuse(Refusal::Fork { size: req.size }));
            }
            Some(_) if req.size == state.size && !req.proof.is_empty() => {
                return Err(refuse(bad_proof()));
            }
            Some(_) if req.size == state.size => {}
            Some(root) => TreeVersion::V2Sha256
                .verify_consistency(state.size, req.size, &root, &req.root, &req.proof)
                .map_err(|_| refuse(bad_proof()))?,
            None if !req.proof.is_empty() => return Err(refuse(bad_proof())),
            None => {}
        }
        if !store.advance(&req.origin, state.size, req.size, &req.root, when)? {
            // Only this process writes the store while it serves; a concurrent writer moved it.
            let current = store.log(&req.origin)?.map_or(0, |s| s.size);
            return Err(WitnessError::Refused(Refusal::OldSize {
                old: req.old,
                current,
            }));
        }
        Ok(self.cosigner.cosign(&req.note.text, when))
    }
}
