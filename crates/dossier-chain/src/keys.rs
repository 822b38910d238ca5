//! Producer keys: Ed25519 signing keys, key ids and the key events.

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::record::control;

/// Domain-separation prefix of a key id.
pub const KEY_ID_DOMAIN: &[u8] = b"dossier/key-id/v1\0";

/// A key id: 16 lowercase hex digits, the first 8 bytes of `BLAKE3(KEY_ID_DOMAIN || public key)`.
pub type KeyId = String;

/// Derives the key id of an Ed25519 public key.
#[must_use]
pub fn key_id(public: &VerifyingKey) -> KeyId {
    let mut h = blake3::Hasher::new();
    h.update(KEY_ID_DOMAIN);
    h.update(public.as_bytes());
    hex::encode(&h.finalize().as_bytes()[..8])
}

/// Errors handling key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text is not 64 hex digits.
    #[error("a key must be 64 hex digits (32 bytes)")]
    BadHex,
    /// The bytes are not a valid Ed25519 public key.
    #[error("not a valid Ed25519 public key")]
    BadPublicKey,
}

/// A producer's signing key with its id and display name.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    id: KeyId,
    name: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Generates a new key from the operating system's random source.
    #[must_use]
    pub fn generate(name: &str) -> Signer {
        let key = SigningKey::generate(&mut rand_core::OsRng);
        Signer::from_signing_key(key, name)
    }

    /// Wraps an existing 32-byte secret (used for keys loaded from disk and for test vectors).
    #[must_use]
    pub fn from_secret(secret: [u8; 32], name: &str) -> Signer {
        Signer::from_signing_key(SigningKey::from_bytes(&secret), name)
    }

    /// Parses a 64-hex-digit secret.
    ///
    /// # Errors
    /// [`KeyError::BadHex`] if the text is not 64 hex digits.
    pub fn from_secret_hex(text: &str, name: &str) -> Result<Signer, KeyError> {
        let mut secret = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut secret).map_err(|_| KeyError::BadHex)?;
        Ok(Signer::from_secret(secret, name))
    }

    fn from_signing_key(key: SigningKey, name: &str) -> Signer {
        let id = key_id(&key.verifying_key());
        Signer {
            key,
            id,
            name: name.to_owned(),
        }
    }

    /// The same key under another display name: the `actor.name` of the records it seals, e.g.
    /// the principal a service publishes for.
    #[must_use]
    pub fn with_name(&self, name: &str) -> Signer {
        Signer {
            key: self.key.clone(),
            id: self.id.clone(),
            name: name.to_owned(),
        }
    }

    /// The key id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The producer's display name (written into every record's `actor`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public key.
    #[must_use]
    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key as 64 hex digits.
    #[must_use]
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// The secret as 64 hex digits (for storing the key file).
    #[must_use]
    pub fn secret_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

/// Parses a 64-hex-digit Ed25519 public key.
///
/// # Errors
/// If the text is not hex or not a valid point.
pub fn parse_public_hex(text: &str) -> Result<VerifyingKey, KeyError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| KeyError::BadHex)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::BadPublicKey)
}

pub(crate) fn verify_signature(public: &VerifyingKey, message: &[u8], sig: &[u8; 64]) -> bool {
    public.verify(message, &Signature::from_bytes(sig)).is_ok()
}

/// The role a `key.registered` event of schema 2 gives a key (docs/FORMAT.md §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May register and revoke keys, record access grants, and seal any batch.
    Admin,
    /// May seal batches of domain events; never key or access events.
    Producer,
    /// Signs checkpoints (docs/PROOFS.md); seals no batch.
    Log,
}

impl Role {
    /// The role's name as written in a body (`admin`, `producer`, `log`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Producer => "producer",
            Role::Log => "log",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "producer" => Ok(Role::Producer),
            "log" => Ok(Role::Log),
            _ => Err(format!("unknown key role {s:?} (admin, producer or log)")),
        }
    }
}

/// What a key may do in a ledger: the founding key, a key registered by a schema-1
/// `key.registered` (every power format version 1 gave a key), or one of the [`Role`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// The key the genesis names.
    Founding,
    /// Registered without a role (schema 1): administers, seals any batch.
    Unrestricted,
    /// Registered as `admin`.
    Admin,
    /// Registered as `producer`.
    Producer,
    /// Registered as `log`.
    Log,
}

impl KeyRole {
    /// The role a registration gives (none: a schema-1 registration).
    #[must_use]
    pub fn registered(role: Option<Role>) -> KeyRole {
        match role {
            None => KeyRole::Unrestricted,
            Some(Role::Admin) => KeyRole::Admin,
            Some(Role::Producer) => KeyRole::Producer,
            Some(Role::Log) => KeyRole::Log,
        }
    }

    /// Whether the key may seal a batch holding key events or access events (registering and
    /// revoking keys, recording grants).
    #[must_use]
    pub fn administers(self) -> bool {
        matches!(
            self,
            KeyRole::Founding | KeyRole::Unrestricted | KeyRole::Admin
        )
    }

    /// Whether the key may seal batches at all (every key but a log key).
    #[must_use]
    pub fn seals(self) -> bool {
        self != KeyRole::Log
    }

    /// The name `keys list` shows.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Founding => "founding",
            KeyRole::Unrestricted => "unrestricted",
            KeyRole::Admin => "admin",
            KeyRole::Producer => "producer",
            KeyRole::Log => "log",
        }
    }
}

impl std::fmt::Display for KeyRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The keys that may sign a checkpoint (docs/PROOFS.md §5), among `keys` — every key of the
/// ledger at the checkpoint's size as (key id, role, revoked or not): once the ledger has key
/// roles, its log keys not revoked, or, while it has none, the founding key unless revoked;
/// before (format version 1 rules), every key not revoked. Returned in the order given.
pub fn checkpoint_key_ids<'a>(
    keys: impl IntoIterator<Item = (&'a str, KeyRole, bool)> + Clone,
) -> Vec<&'a str> {
    let roles = keys
        .clone()
        .into_iter()
        .any(|(_, role, _)| matches!(role, KeyRole::Admin | KeyRole::Producer | KeyRole::Log));
    let active = keys.into_iter().filter(|(_, _, revoked)| !revoked);
    if !roles {
        return active.map(|(id, _, _)| id).collect();
    }
    let active: Vec<_> = active.collect();
    let log: Vec<&str> = active
        .iter()
        .filter(|(_, role, _)| *role == KeyRole::Log)
        .map(|(id, _, _)| *id)
        .collect();
    if !log.is_empty() {
        return log;
    }
    active
        .iter()
        .filter(|(_, role, _)| *role == KeyRole::Founding)
        .map(|(id, _, _)| *id)
        .collect()
}

/// Body of a `key.registered` event: a new key, trusted once the batch that registers it is
/// sealed by a key that was already trusted. Schema 1 has no `role` (the key may do everything
/// format version 1 allowed); schema 2 requires one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRegistered {
    /// The key id (must equal `key_id(public)`).
    pub key: KeyId,
    /// The Ed25519 public key, 64 hex digits.
    pub public: String,
    /// Who holds it.
    pub name: String,
    /// The role (schema 2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

impl KeyRegistered {
    /// The body schema this registration is written in: 2 with a role, 1 without.
    #[must_use]
    pub fn schema(&self) -> u32 {
        if self.role.is_some() {
            control::KEY_REGISTERED_ROLES_SCHEMA
        } else {
            control::SCHEMA
        }
    }
}

/// Body of a `key.revoked` event: the key signs nothing after the batch that revokes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRevoked {
    /// The key id being revoked.
    pub key: KeyId,
    /// Why (free text).
    pub reason: String,
}
