//! C2SP `signed-note` with Ed25519 signatures: key ids, verifier keys, signing, strict parsing
//! and verification.
//!
//! A signed note is the note text (UTF-8, ending in a newline), one empty line, then one or more
//! signature lines `— <key name> <base64(key id || signature)>\n`. The key id of an Ed25519 key
//! is the first 4 bytes of `SHA-256(key name || 0x0A || 0x01 || public key)`; the signature is
//! Ed25519 over the note text.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// The signature type byte of Ed25519 in signed-note key ids and verifier keys.
pub const ED25519_TYPE: u8 = 0x01;

/// The prefix of a signature line: U+2014 EM DASH and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// The most signature lines a note may carry (as the Go reference implementation).
pub const MAX_SIGNATURES: usize = 100;

/// The longest signed note accepted, in bytes.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// Errors reading or verifying a signed note.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note does not follow the signed-note format.
    #[error("malformed signed note: {0}")]
    Malformed(&'static str),
    /// A key name that signed-note does not allow.
    #[error("invalid key name (it must be non-empty, without spaces or '+')")]
    BadKeyName,
    /// A verifier key string that does not parse or whose id does not match.
    #[error("malformed verifier key: {0}")]
    BadVerifierKey(&'static str),
    /// No signature line carries the expected key name and key id.
    #[error("the note has no signature by key {0}")]
    NoSignature(String),
    /// A signature line with the expected key name and key id does not verify.
    #[error("the signature by key {0} does not verify")]
    BadSignature(String),
}

/// Checks a key name: non-empty, no Unicode whitespace, no `+`.
///
/// # Errors
/// [`NoteError::BadKeyName`].
pub fn check_key_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err(NoteError::BadKeyName);
    }
    Ok(())
}

/// The signed-note key id of an Ed25519 key: the first 4 bytes of
/// `SHA-256(name || 0x0A || 0x01 || public key)`.
#[must_use]
pub fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    typed_key_id(name, ED25519_TYPE, public)
}

/// The first 4 bytes of `SHA-256(name || 0x0A || ty || public key)`: the key id of a key of
/// signature type `ty`.
pub(crate) fn typed_key_id(name: &str, ty: u8, public: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ty]);
    h.update(public.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The vkey text `<name>+<hex key id>+<base64(ty || public key)>`.
pub(crate) fn format_vkey(name: &str, id: [u8; 4], ty: u8, public: &VerifyingKey) -> String {
    let mut raw = Vec::with_capacity(33);
    raw.push(ty);
    raw.extend_from_slice(public.as_bytes());
    format!("{name}+{}+{}", hex4(id), STANDARD.encode(raw))
}

/// A public key that verifies notes: a key name, an Ed25519 public key and its key id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    public: VerifyingKey,
    id: [u8; 4],
}

impl NoteVerifier {
    /// A verifier for `name` and `public`.
    ///
    /// # Errors
    /// [`NoteError::BadKeyName`] if the name is not allowed.
    pub fn new(name: &str, public: VerifyingKey) -> Result<NoteVerifier, NoteError> {
        check_key_name(name)?;
        Ok(NoteVerifier {
            name: name.to_owned(),
            id: key_id(name, &public),
            public,
        })
    }

    /// Parses a verifier key string `<name>+<8 lowercase hex digits of the key id>+<base64(0x01
    /// || public key)>` (the form note tooling such as Go's `golang.org/x/mod/sumdb/note`
    /// reads). The key id must match the name and key.
    ///
    /// # Errors
    /// [`NoteError::BadVerifierKey`] or [`NoteError::BadKeyName`].
    pub fn from_vkey(vkey: &str) -> Result<NoteVerifier, NoteError> {
        let (name, id_hex, public) =
            parse_vkey(vkey, ED25519_TYPE).map_err(NoteError::BadVerifierKey)?;
        let v = NoteVerifier::new(name, public)?;
        if hex4(v.id) != id_hex {
            return Err(NoteError::BadVerifierKey(
                "the key id does not match the name and key",
            ));
        }
        Ok(v)
    }

    /// The verifier key string `<name>+<hex key id>+<base64(0x01 || public key)>`.
    #[must_use]
    pub fn to_vkey(&self) -> String {
        format_vkey(&self.name, self.id, ED25519_TYPE, &self.public)
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public key.
    #[must_use]
    pub fn public(&self) -> &VerifyingKey {
        &self.public
    }

    /// The 4-byte key id.
    #[must_use]
    pub fn id(&self) -> [u8; 4] {
        self.id
    }
}

/// Lowercase hex of a key id.
pub(crate) fn hex4(id: [u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits a vkey `<name>+<8 lowercase hex digits>+<base64(type || 32-byte Ed25519 key)>` whose
/// type byte must be `ty`, returning the name, the hex key id (its match with the name and key
/// is the caller's check, as the id depends on the type) and the key.
pub(crate) fn parse_vkey(vkey: &str, ty: u8) -> Result<(&str, &str, VerifyingKey), &'static str> {
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("expected name+id+key");
    };
    check_key_name(name).map_err(|_| "invalid key name")?;
    if id_hex.len() != 8
        || !id_hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err("the key id must be 8 lowercase hex digits");
    }
    let raw = decode_b64_exact(key_b64).ok_or("bad base64")?;
    let [t, rest @ ..] = raw.as_slice() else {
        return Err("empty key");
    };
    if *t != ty {
        return Err(if ty == ED25519_TYPE {
            "not an Ed25519 key"
        } else {
            "not a cosignature/v1 key (type byte 0x04)"
        });
    }
    let bytes: [u8; 32] = rest.try_into().map_err(|_| "an Ed25519 key has 32 bytes")?;
    let public = VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid Ed25519 public key")?;
    Ok((name, id_hex, public))
}

/// Decodes standard padded base64, accepting only the canonical encoding.
pub(crate) fn decode_b64_exact(text: &str) -> Option<Vec<u8>> {
    let raw = STANDARD.decode(text).ok()?;
    (STANDARD.encode(&raw) == text).then_some(raw)
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key id (first 4 bytes of the base64 blob).
    pub key_id: [u8; 4],
    /// The rest of the blob: for Ed25519, the 64-byte signature.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, with its final newline.
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut blob = self.key_id.to_vec();
        blob.extend_from_slice(&self.signature);
        format!(
            "{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        )
    }
}

/// A parsed signed note: the text and its signature lines, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedNote {
    /// The note text, ending with its final newline (what the signatures cover).
    pub text: String,
    /// The signatures, in the order of their lines.
    pub signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// Parses a signed note strictly: a text of one or more non-empty lines, each ending in
    /// `\n`, with no control characters other than `\n`; one empty line; then 1 to
    /// [`MAX_SIGNATURES`] signature lines `— <name> <base64>\n`, the name valid per
    /// [`check_key_name`], the base64 canonical standard padded base64 of at least 5 bytes.
    /// Nothing may follow the last signature line.
    ///
    /// # Errors
    /// [`NoteError::Malformed`] or [`NoteError::BadKeyName`].
    pub fn parse(note: &str) -> Result<SignedNote, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::Malformed("too long"));
        }
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(NoteError::Malformed(
                "a control character other than newline",
            ));
        }
        let split = note
            .find("\n\n")
            .ok_or(NoteError::Malformed("no empty line before the signatures"))?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        if text.starts_with('\n') || text.len() < 2 {
            return Err(NoteError::Malformed("the text is empty"));
        }
        if sigs.is_empty() {
            return Err(NoteError::Malformed("no signature line"));
        }
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(NoteError::Malformed(
                "the last signature line does not end with a newline",
            ));
        };
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::Malformed("too many signature lines"));
            }
            let rest = line
                .strip_prefix(SIGNATURE_PREFIX)
                .ok_or(NoteError::Malformed(
                    "a signature line must start with an em dash and a space",
                ))?;
            let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
                "a signature line needs a name and a signature",
            ))?;
            check_key_name(name)?;
            let blob = decode_b64_exact(b64)
                .ok_or(NoteError::Malformed("bad base64 in a signature line"))?;
            if blob.len() < 5 {
                return Err(NoteError::Malformed(
                    "a signature blob needs a key id and a signature",
                ));
            }
            let key_id = [blob[0], blob[1], blob[2], blob[3]];
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id,
                signature: blob[4..].to_vec(),
            });
        }
        Ok(SignedNote {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note in its text form: text, empty line, signature lines.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.to_line());
        }
        out
    }

    /// Verifies that a signature line with the verifier's name and key id carries a valid
    /// Ed25519 signature of the text. Signature lines by other keys are ignored (as
    /// signed-note specifies); a line with this key's name and id that does not verify is an
    /// error even if another one does.
    ///
    /// # Errors
    /// [`NoteError::NoSignature`] or [`NoteError::BadSignature`].
    pub fn verify(&self, key: &NoteVerifier) -> Result<(), NoteError> {
        let mut found = false;
        for s in self
            .signatures
            .iter()
            .filter(|s| s.name == key.name && s.key_id == key.id)
        {
            let sig: [u8; 64] = s
                .signature
                .as_slice()
                .try_into()
                .map_err(|_| NoteError::BadSignature(key.name.clone()))?;
            key.public
                .verify_strict(self.text.as_bytes(), &Signature::from_bytes(&sig))
                .map_err(|_| NoteError::BadSignature(key.name.clone()))?;
            found = true;
        }
        if found {
            Ok(())
        } else {
            Err(NoteError::NoSignature(key.name.clone()))
        }
    }
}

/// Signs a note text with an Ed25519 key under `name`, returning the signature line's data.
///
/// # Errors
/// [`NoteError::BadKeyName`], or [`NoteError::Malformed`] if the text is not a valid note text
/// (non-empty lines each ending in `\n`, no control characters other than `\n`).
pub fn sign_text(text: &str, name: &str, key: &SigningKey) -> Result<NoteSignature, NoteError> {
    check_key_name(name)?;
    if text.is_empty() || !text.ends_with('\n') || text.contains("\n\n") || text.starts_with('\n') {
        return Err(NoteError::Malformed(
            "a note text is non-empty lines each ending in a newline",
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed(
            "a control character other than newline",
        ));
    }
    let public = key.verifying_key();
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: key_id(name, &public),
        signature: key.sign(text.as_bytes()).to_bytes().to_vec(),
    })
}

/// Signs a note text and returns the whole signed note (text, empty line, one signature line).
///
/// # Errors
/// As [`sign_text`].
pub fn sign_note(text: &str, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    let sig = sign_text(text, name, key)?;
    Ok(SignedNote {
        text: text.to_owned(),
        signatures: vec![sig],
    }
    .to_text())
}
