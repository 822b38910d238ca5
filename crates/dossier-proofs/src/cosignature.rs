//! C2SP `tlog-cosignature` v1 (Ed25519): a witness's timestamped signature on a checkpoint, and
//! the check that N of M given witnesses cosigned one.
//!
//! A cosignature is a signed-note signature line `— <witness name> base64(key id || timestamp ||
//! signature)` on the checkpoint note. The key id is the first 4 bytes of
//! `SHA-256(name || 0x0A || 0x04 || public key)`; the timestamp is 8 bytes big-endian (POSIX
//! seconds); the Ed25519 signature covers `cosignature/v1\ntime <timestamp>\n` followed by the
//! whole checkpoint text (`docs/PROOFS.md` §12).

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::note::{
    NoteError, NoteSignature, SignedNote, check_key_name, format_vkey, hex4, parse_vkey,
    typed_key_id,
};

/// The signature type byte of Ed25519 cosignatures (`cosignature/v1`) in key ids and vkeys.
pub const COSIGNATURE_TYPE: u8 = 0x04;

/// The largest timestamp a cosignature may carry (2^63 - 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Errors reading witness keys or checking cosignatures.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    /// A witness verifier key that does not parse or whose id does not match.
    #[error("malformed witness key: {0}")]
    BadWitnessKey(&'static str),
    /// A key name signed-note does not allow.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A cosignature line of a given witness that does not verify.
    #[error("the cosignature by witness {0} does not verify")]
    BadCosignature(String),
    /// Fewer valid cosignatures than the quorum asks.
    #[error("{valid} valid cosignature(s) from distinct given witnesses, the quorum is {quorum}")]
    NoQuorum {
        /// Distinct given witnesses whose cosignature verified.
        valid: usize,
        /// Cosignatures required.
        quorum: usize,
    },
    /// A quorum larger than the number of distinct witnesses given, or zero.
    #[error("a quorum of {quorum} cannot be met by {witnesses} distinct witness key(s)")]
    BadQuorum {
        /// The quorum asked.
        quorum: usize,
        /// Distinct witness keys given.
        witnesses: usize,
    },
}

/// The cosignature key id: the first 4 bytes of `SHA-256(name || 0x0A || 0x04 || public key)`.
#[must_use]
pub fn cosigner_key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    typed_key_id(name, COSIGNATURE_TYPE, public)
}

/// The message a `cosignature/v1` signs: the header line, the time line, the checkpoint text.
#[must_use]
pub fn signed_message(text: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{text}").into_bytes()
}

/// A witness's public key: its name, Ed25519 key and cosignature key id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessKey {
    name: String,
    public: VerifyingKey,
    id: [u8; 4],
}

impl WitnessKey {
    /// The key of witness `name`.
    ///
    /// # Errors
    /// [`CosignatureError::Note`] if the name is not a valid key name.
    pub fn new(name: &str, public: VerifyingKey) -> Result<WitnessKey, CosignatureError> {
        check_key_name(name)?;
        Ok(WitnessKey {
            name: name.to_owned(),
            id: cosigner_key_id(name, &public),
            public,
        })
    }

    /// Parses a vkey `<name>+<8 lowercase hex digits>+<base64(0x04 || public key)>`.
    ///
    /// # Errors
    /// [`CosignatureError::BadWitnessKey`] or [`CosignatureError::Note`].
    pub fn from_vkey(vkey: &str) -> Result<WitnessKey, CosignatureError> {
        let (name, id_hex, public) =
            parse_vkey(vkey, COSIGNATURE_TYPE).map_err(CosignatureError::BadWitnessKey)?;
        let key = WitnessKey::new(name, public)?;
        if hex4(key.id) != id_hex {
            return Err(CosignatureError::BadWitnessKey(
                "the key id does not match the name and key",
            ));
        }
        Ok(key)
    }

    /// The vkey string `<name>+<hex key id>+<base64(0x04 || public key)>`.
    #[must_use]
    pub fn to_vkey(&self) -> String {
        format_vkey(&self.name, self.id, COSIGNATURE_TYPE, &self.public)
    }

    /// The witness's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    #[must_use]
    pub fn id(&self) -> [u8; 4] {
        self.id
    }

    /// Whether a signature line is this witness's (same name and key id).
    #[must_use]
    pub fn is_signer_of(&self, sig: &NoteSignature) -> bool {
        sig.name == self.name && sig.key_id == self.id
    }

    /// Checks one of this witness's cosignature lines over `text`, returning its timestamp.
    ///
    /// # Errors
    /// [`CosignatureError::BadCosignature`].
    pub fn verify_line(&self, text: &str, sig: &NoteSignature) -> Result<u64, CosignatureError> {
        let bad = || CosignatureError::BadCosignature(self.name.clone());
        if sig.signature.len() != 72 || !self.is_signer_of(sig) {
            return Err(bad());
        }
        let timestamp = u64::from_be_bytes(sig.signature[..8].try_into().map_err(|_| bad())?);
        if timestamp > MAX_TIMESTAMP {
            return Err(bad());
        }
        let signature: [u8; 64] = sig.signature[8..].try_into().map_err(|_| bad())?;
        self.public
            .verify_strict(
                &signed_message(text, timestamp),
                &Signature::from_bytes(&signature),
            )
            .map_err(|_| bad())?;
        Ok(timestamp)
    }
}

/// A witness's signing key and name.
#[derive(Clone, Debug)]
pub struct Cosigner {
    key: WitnessKey,
    secret: SigningKey,
}

impl Cosigner {
    /// A cosigner named `name` with `secret`.
    ///
    /// # Errors
    /// [`CosignatureError::Note`] if the name is not a valid key name.
    pub fn new(name: &str, secret: SigningKey) -> Result<Cosigner, CosignatureError> {
        Ok(Cosigner {
            key: WitnessKey::new(name, secret.verifying_key())?,
            secret,
        })
    }

    /// The public side.
    #[must_use]
    pub fn key(&self) -> &WitnessKey {
        &self.key
    }

    /// Cosigns a checkpoint text at `timestamp` (POSIX seconds, at most 2^63 - 1, clamped).
    #[must_use]
    pub fn cosign(&self, text: &str, timestamp: u64) -> NoteSignature {
        let timestamp = timestamp.min(MAX_TIMESTAMP);
        let sig = self.secret.sign(&signed_message(text, timestamp));
        let mut blob = timestamp.to_be_bytes().to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        NoteSignature {
            name: self.key.name.clone(),
            key_id: self.key.id,
            signature: blob,
        }
    }
}

/// Checks that at least `quorum` distinct witnesses among `witnesses` cosigned the note. Lines
/// of other keys are ignored; a line carrying a given witness's name and key id that does not
/// verify is an error (as signed-note treats a bad line of a known key). Returns the names of
/// the witnesses whose cosignature verified, in the order given.
///
/// # Errors
/// [`CosignatureError::BadQuorum`], [`CosignatureError::BadCosignature`],
/// [`CosignatureError::NoQuorum`].
pub fn verify_quorum(
    note: &SignedNote,
    witnesses: &[WitnessKey],
    quorum: usize,
) -> Result<Vec<String>, CosignatureError> {
    let distinct: BTreeSet<([u8; 4], &str, [u8; 32])> = witnesses
        .iter()
        .map(|w| (w.id, w.name.as_str(), *w.public.as_bytes()))
        .collect();
    if quorum == 0 || quorum > distinct.len() {
        return Err(CosignatureError::BadQuorum {
            quorum,
            witnesses: distinct.len(),
        });
    }
    let mut seen = BTreeSet::new();
    let mut valid = Vec::new();
    for w in witnesses {
        if !seen.insert((w.id, w.name.clone(), *w.public.as_bytes())) {
            continue;
        }
        let mut ok = false;
        for line in note.signatures.iter().filter(|s| w.is_signer_of(s)) {
            w.verify_line(&note.text, line)?;
            ok = true;
        }
        if ok {
            valid.push(w.name.clone());
        }
    }
    if valid.len() < quorum {
        return Err(CosignatureError::NoQuorum {
            valid: valid.len(),
            quorum,
        });
    }
    Ok(valid)
}

/// Adds cosignature lines to a signed note (those not already on it), returning the note text.
///
/// # Errors
/// [`NoteError`] if `note` is not a signed note.
pub fn add_cosignatures(note: &str, lines: &[NoteSignature]) -> Result<String, NoteError> {
    let mut parsed = SignedNote::parse(note)?;
    for l in lines {
        if !parsed.signatures.contains(l) {
            parsed.signatures.push(l.clone());
        }
    }
    Ok(parsed.to_text())
}

/// Parses the body of an `add-checkpoint` answer: one or more signature lines.
///
/// # Errors
/// [`NoteError::Malformed`].
pub fn parse_signature_lines(body: &str) -> Result<Vec<NoteSignature>, NoteError> {
    // A note with a placeholder text parses the lines with the signed-note rules.
    Ok(SignedNote::parse(&format!("x\n\n{body}"))?.signatures)
}

/// The body of a C2SP `tlog-witness` `add-checkpoint` request: `old <size>`, the consistency
/// proof's hashes in base64 one per line, an empty line, the signed checkpoint note.
#[must_use]
pub fn add_checkpoint_body(old: u64, proof: &[dossier_chain::Hash], note: &str) -> String {
    let mut out = format!("old {old}\n");
    for h in proof {
        out.push_str(&STANDARD.encode(h.0));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(note);
    out
}
