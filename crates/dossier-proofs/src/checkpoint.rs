//! Signed checkpoints: C2SP `tlog-checkpoint` notes that commit to a ledger's tree and chain.
//!
//! The note text of a dossier checkpoint is exactly four lines:
//!
//! ```text
//! dossier.<ledger uuid>
//! <tree size, decimal>
//! <base64 of the 32-byte tree root>
//! dossier-head-v2 <64 lowercase hex digits: hash of the last record>
//! ```
//!
//! signed with signed-note Ed25519 under the key name `dossier.<ledger uuid>`. The keyword of
//! the fourth line names the tree's version (`docs/PROOFS.md` §11): `dossier-head-v2` for the
//! SHA-256 tree every new checkpoint uses, `dossier-head` for the BLAKE3 tree of version 1,
//! which is still read and verified.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dossier_chain::{GENESIS_PREV, Hash, Signer};
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::merkle::{ProofError, TreeHead, TreeVersion};
use crate::note::{NoteError, NoteVerifier, SignedNote, decode_b64_exact, sign_note};

/// The prefix of the origin line and of the key name: `dossier.`.
pub const ORIGIN_PREFIX: &str = "dossier.";

/// The keyword of the extension line that carries the hash of the last record in a version-2
/// (SHA-256 tree) checkpoint.
pub const HEAD_EXTENSION: &str = "dossier-head-v2";

/// The keyword of that line in a version-1 (BLAKE3 tree) checkpoint.
pub const HEAD_EXTENSION_V1: &str = "dossier-head";

/// The extension keyword of a tree version's checkpoints.
#[must_use]
pub fn head_extension(version: TreeVersion) -> &'static str {
    match version {
        TreeVersion::V1Blake3 => HEAD_EXTENSION_V1,
        TreeVersion::V2Sha256 => HEAD_EXTENSION,
    }
}

/// Errors reading, signing or verifying a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The note text is not a dossier checkpoint.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The signed-note layer failed (format or signature).
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The ledger id is not a lowercase hyphenated UUID.
    #[error("a ledger id must be a lowercase hyphenated UUID")]
    BadLedgerId,
    /// The checkpoint's origin is not the verifier key's name.
    #[error("the checkpoint's origin {origin} is not the key name {key}")]
    WrongOrigin {
        /// The origin line.
        origin: String,
        /// The key name.
        key: String,
    },
    /// The checkpoint's tree size differs from the ledger's.
    #[error("the checkpoint is for {checkpoint} records, the ledger has {ledger}")]
    SizeMismatch {
        /// Size in the checkpoint.
        checkpoint: u64,
        /// Size expected.
        ledger: u64,
    },
    /// The checkpoint's tree version differs from the one its root was recomputed in.
    #[error(
        "the checkpoint is of tree version {checkpoint}, the ledger's root was computed in version {expected}"
    )]
    VersionMismatch {
        /// The checkpoint's version.
        checkpoint: u8,
        /// The version expected.
        expected: u8,
    },
    /// The checkpoint's root differs from the ledger's.
    #[error("the checkpoint's tree root differs from the ledger's")]
    RootMismatch,
    /// The checkpoint's head (hash of the last record) differs from the ledger's.
    #[error("the checkpoint's last record hash differs from the ledger's")]
    HeadMismatch,
    /// The checkpoint's head is not the last leaf of its tree.
    #[error("chain and tree disagree: the last record hash is not the last leaf of the tree ({0})")]
    Unbound(ProofError),
}

/// Checks a ledger id: 36 characters, lowercase hex digits in groups 8-4-4-4-12 separated by `-`.
///
/// # Errors
/// [`CheckpointError::BadLedgerId`].
pub fn check_ledger_id(ledger: &str) -> Result<(), CheckpointError> {
    let ok = ledger.len() == 36
        && ledger.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        });
    if ok {
        Ok(())
    } else {
        Err(CheckpointError::BadLedgerId)
    }
}

/// The key name (and origin line) of a ledger's checkpoints: `dossier.<ledger uuid>`.
///
/// # Errors
/// [`CheckpointError::BadLedgerId`].
pub fn key_name(ledger: &str) -> Result<String, CheckpointError> {
    check_ledger_id(ledger)?;
    Ok(format!("{ORIGIN_PREFIX}{ledger}"))
}

/// The verifier of a ledger's checkpoints: key name `dossier.<ledger uuid>` and the public key.
///
/// # Errors
/// [`CheckpointError::BadLedgerId`].
pub fn checkpoint_verifier(
    ledger: &str,
    public: VerifyingKey,
) -> Result<NoteVerifier, CheckpointError> {
    Ok(NoteVerifier::new(&key_name(ledger)?, public)?)
}

/// A checkpoint's content: which ledger, and the tree head it commits to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The ledger id (lowercase hyphenated UUID).
    pub ledger: String,
    /// Tree size, root and last record hash.
    pub tree: TreeHead,
}

impl Checkpoint {
    /// A checkpoint of `ledger` at `tree`.
    ///
    /// # Errors
    /// [`CheckpointError::BadLedgerId`].
    pub fn new(ledger: &str, tree: TreeHead) -> Result<Checkpoint, CheckpointError> {
        check_ledger_id(ledger)?;
        Ok(Checkpoint {
            ledger: ledger.to_owned(),
            tree,
        })
    }

    /// The origin line (without newline): `dossier.<ledger uuid>`.
    #[must_use]
    pub fn origin(&self) -> String {
        format!("{ORIGIN_PREFIX}{}", self.ledger)
    }

    /// The note text (four lines, each ending in `\n`); this is what the signature covers.
    #[must_use]
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n{} {}\n",
            self.origin(),
            self.tree.size,
            STANDARD.encode(self.tree.root.0),
            head_extension(self.tree.version),
            self.tree.head.to_hex()
        )
    }

    /// Parses a note text strictly: exactly the four lines [`Checkpoint::body`] writes. The
    /// size is decimal without sign or leading zeros (`0` alone is allowed) and fits in 64
    /// bits; the root is canonical padded standard base64 of 32 bytes (44 characters); the head
    /// is 64 lowercase hex digits, and all zeros when the size is 0. Anything else is rejected.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] or [`CheckpointError::BadLedgerId`].
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let Some(text) = text.strip_suffix('\n') else {
            return Err(CheckpointError::Malformed(
                "the text must end with a newline",
            ));
        };
        let lines: Vec<&str> = text.split('\n').collect();
        let [origin, size, root, ext] = lines.as_slice() else {
            return Err(CheckpointError::Malformed(
                "a checkpoint has exactly four lines",
            ));
        };
        let ledger = origin
            .strip_prefix(ORIGIN_PREFIX)
            .ok_or(CheckpointError::Malformed(
                "the origin must be dossier.<ledger uuid>",
            ))?;
        check_ledger_id(ledger)?;
        let size = parse_size(size)?;
        if root.len() != 44 {
            return Err(CheckpointError::Malformed(
                "the root must be 44 characters of base64",
            ));
        }
        let root_bytes: [u8; 32] = decode_b64_exact(root)
            .and_then(|v| v.try_into().ok())
            .ok_or(CheckpointError::Malformed(
                "the root must be canonical base64 of 32 bytes",
            ))?;
        let (keyword, head_hex) = ext.split_once(' ').ok_or(CheckpointError::Malformed(
            "the fourth line must be dossier-head-v2 <hex> (or dossier-head <hex>)",
        ))?;
        let version = match keyword {
            HEAD_EXTENSION => TreeVersion::V2Sha256,
            HEAD_EXTENSION_V1 => TreeVersion::V1Blake3,
            _ => {
                return Err(CheckpointError::Malformed(
                    "the fourth line must be dossier-head-v2 <hex> (or dossier-head <hex>)",
                ));
            }
        };
        if head_hex.len() != 64
            || !head_hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(CheckpointError::Malformed(
                "the head must be 64 lowercase hex digits",
            ));
        }
        let head =
            Hash::from_hex(head_hex).map_err(|_| CheckpointError::Malformed("bad head hex"))?;
        if size == 0 && head != GENESIS_PREV {
            return Err(CheckpointError::Malformed(
                "an empty tree's head must be all zeros",
            ));
        }
        Ok(Checkpoint {
            ledger: ledger.to_owned(),
            tree: TreeHead {
                version,
                size,
                root: Hash(root_bytes),
                head,
            },
        })
    }

    /// Signs the checkpoint with an Ed25519 key under the key name `dossier.<ledger uuid>`,
    /// returning the signed note.
    ///
    /// # Errors
    /// Only if the checkpoint was built with an invalid ledger id (fields are public).
    pub fn sign(&self, key: &SigningKey) -> Result<String, CheckpointError> {
        let name = key_name(&self.ledger)?;
        Ok(sign_note(&self.body(), &name, key)?)
    }

    /// Signs with a producer key of the ledger ([`dossier_chain::Signer`]).
    ///
    /// # Errors
    /// As [`Checkpoint::sign`].
    pub fn sign_with(&self, signer: &Signer) -> Result<String, CheckpointError> {
        let secret = Hash::from_hex(&signer.secret_hex())
            .map_err(|_| CheckpointError::Malformed("the signer's secret is not 32 bytes"))?;
        self.sign(&SigningKey::from_bytes(&secret.0))
    }
}

fn parse_size(text: &str) -> Result<u64, CheckpointError> {
    let bad = CheckpointError::Malformed("the size must be decimal digits without leading zeros");
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return Err(bad);
    }
    text.parse::<u64>().map_err(|_| bad)
}

/// Parses a signed checkpoint and verifies its signature by `key`; the origin line must equal
/// the key name. Returns the checkpoint.
///
/// # Errors
/// Format errors, [`CheckpointError::WrongOrigin`], or a missing or bad signature.
pub fn open_checkpoint(note: &str, key: &NoteVerifier) -> Result<Checkpoint, CheckpointError> {
    let signed = SignedNote::parse(note)?;
    let cp = Checkpoint::parse_body(&signed.text)?;
    if cp.origin() != key.name() {
        return Err(CheckpointError::WrongOrigin {
            origin: cp.origin(),
            key: key.name().to_owned(),
        });
    }
    signed.verify(key)?;
    Ok(cp)
}

/// Checks that the chain and the tree of a tree head agree: the head (hash of the last record)
/// is leaf `size - 1` of the tree with that root, shown by `last_leaf_proof`, the inclusion
/// proof of that leaf. For size 0 the head must be all zeros and the proof empty.
///
/// # Errors
/// [`CheckpointError::Unbound`].
pub fn verify_binding(tree: &TreeHead, last_leaf_proof: &[Hash]) -> Result<(), CheckpointError> {
    if tree.size == 0 {
        if tree.head != GENESIS_PREV
            || !last_leaf_proof.is_empty()
            || tree.root != tree.version.empty_root()
        {
            return Err(CheckpointError::Unbound(ProofError::RootMismatch));
        }
        return Ok(());
    }
    tree.version
        .verify_inclusion(
            &tree.head,
            tree.size - 1,
            tree.size,
            last_leaf_proof,
            &tree.root,
        )
        .map_err(CheckpointError::Unbound)
}

/// Verifies a signed checkpoint against a ledger: the signature by `key`, the origin, the
/// tree size, root and last record hash against `expected` (computed from the ledger: the
/// root from its record hashes, the head from its verified chain), and that chain and tree
/// agree in the checkpoint ([`verify_binding`] with `last_leaf_proof`, the inclusion proof of
/// leaf `size - 1`).
///
/// # Errors
/// The first check that fails.
pub fn verify_checkpoint(
    note: &str,
    key: &NoteVerifier,
    expected: &TreeHead,
    last_leaf_proof: &[Hash],
) -> Result<Checkpoint, CheckpointError> {
    let cp = open_checkpoint(note, key)?;
    if cp.tree.version != expected.version {
        return Err(CheckpointError::VersionMismatch {
            checkpoint: cp.tree.version.number(),
            expected: expected.version.number(),
        });
    }
    if cp.tree.size != expected.size {
        return Err(CheckpointError::SizeMismatch {
            checkpoint: cp.tree.size,
            ledger: expected.size,
        });
    }
    if cp.tree.root != expected.root {
        return Err(CheckpointError::RootMismatch);
    }
    if cp.tree.head != expected.head {
        return Err(CheckpointError::HeadMismatch);
    }
    verify_binding(&cp.tree, last_leaf_proof)?;
    Ok(cp)
}
