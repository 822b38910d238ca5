//! Audits of a dossier ledger without trusting its operator: a Merkle tree over the records,
//! inclusion and consistency proofs, signed checkpoints, and fork evidence.
//!
//! - [`merkle`]: the tree of RFC 9162 §2.1 (version 2: SHA-256, the RFC 6962 tree of a
//!   standard transparency log; version 1, BLAKE3, still verified), over the ledger's record
//!   hashes (leaf `i` is the hash of record `i + 1`). Roots are computed in one streaming pass
//!   with O(log n) memory ([`RootBuilder`]); proofs are generated through the [`Leaves`]
//!   accessor without materialising the tree, and verified exactly as RFC 9162 §2.1.3.2 and
//!   §2.1.4.2.
//! - [`note`]: C2SP `signed-note` with Ed25519 (key ids from SHA-256, verifier key strings).
//! - [`checkpoint`]: C2SP `tlog-checkpoint` notes with a `dossier-head-v2` extension line
//!   (`dossier-head` in version 1) that binds the hash chain's head to the tree.
//! - [`cosignature`]: C2SP `tlog-cosignature` v1 (Ed25519) witness cosignatures and quorum
//!   checks.
//! - [`fork`]: two signed checkpoints that cannot both be true, and a checker anyone can run.
//! - [`tiles`]: the version-2 tree as C2SP `tlog-tiles` (tile paths, hash tiles, entry
//!   bundles of the 32-byte record hashes).
//! - [`bundle`]: proof bundles (a record's inclusion, or one checkpoint's consistency with an
//!   older one) and their offline check.
//!
//! The crate does no I/O. The format is specified in `docs/PROOFS.md`; known-answer vectors
//! are in `docs/vectors/merkle.json`.

pub mod bundle;
pub mod checkpoint;
pub mod cosignature;
pub mod fork;
pub mod merkle;
pub mod note;
pub mod tiles;

pub use bundle::{BundleError, MAX_BUNDLE_BYTES, ProofBundle, Proven};
pub use checkpoint::{
    Checkpoint, CheckpointError, checkpoint_verifier, key_name, open_checkpoint, verify_binding,
    verify_checkpoint,
};
pub use cosignature::{CosignatureError, Cosigner, WitnessKey, verify_quorum};
pub use fork::{ForkError, ForkEvidence, ForkKind};
pub use merkle::{
    Leaves, ProofError, RootBuilder, TreeHead, TreeVersion, consistency_proof, empty_root,
    inclusion_proof, leaf_hash, node_hash, root_of, verify_consistency, verify_inclusion,
};
pub use note::{NoteError, NoteVerifier, SignedNote};
pub use tiles::{Tile, TileError, TileKind, tiles_of};
