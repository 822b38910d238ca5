//! Hashes and identifiers.

use std::fmt;

/// Domain-separation prefix of a record hash: `BLAKE3(RECORD_DOMAIN || stored bytes)`.
pub const RECORD_DOMAIN: &[u8] = b"dossier/record/v1\0";
/// Domain-separation prefix of an event id.
pub const EVENT_ID_DOMAIN: &[u8] = b"dossier/event-id/v1\0";

/// The `prev` value of record 1: 32 zero bytes.
pub const GENESIS_PREV: Hash = Hash([0; 32]);

/// A 32-byte BLAKE3 hash, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The hash of a record: BLAKE3 over [`RECORD_DOMAIN`] followed by the exact stored bytes.
    #[must_use]
    pub fn of_record(bytes: &[u8]) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(RECORD_DOMAIN);
        h.update(bytes);
        Hash(*h.finalize().as_bytes())
    }

    /// Plain BLAKE3 of some bytes (used for report texts and body digests).
    #[must_use]
    pub fn of_bytes(bytes: &[u8]) -> Hash {
        Hash(*blake3::hash(bytes).as_bytes())
    }

    /// Lowercase hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        lower_hex::<32, 64>(&self.0)
    }

    /// Parses exactly 64 hex digits.
    ///
    /// # Errors
    /// If the text is not 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Hash, hex::FromHexError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out)?;
        Ok(Hash(out))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

/// Domain-separation prefix of a content digest.
pub const CONTENT_DOMAIN: &[u8] = b"dossier/content/v1\0";

/// What publishing compares to tell an identical re-publish from a conflicting one:
/// `BLAKE3(CONTENT_DOMAIN || marking || 0x00 || body)`. Two events with the same id are the
/// same event exactly when their markings and body bytes are equal. Derived data: it is not
/// stored in records, and the format does not depend on it.
#[must_use]
pub fn content_digest(marking: &str, body: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(CONTENT_DOMAIN);
    h.update(marking.as_bytes());
    h.update(&[0]);
    h.update(body);
    Hash(*h.finalize().as_bytes())
}

/// A 16-byte event id derived from the event type and the entity's key, never from formatting.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub [u8; 16]);

impl EventId {
    /// Lowercase hex (32 digits).
    #[must_use]
    pub fn to_hex(&self) -> String {
        lower_hex::<16, 32>(&self.0)
    }

    /// Parses exactly 32 hex digits.
    ///
    /// # Errors
    /// If the text is not 32 hex digits.
    pub fn from_hex(text: &str) -> Result<EventId, hex::FromHexError> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(text, &mut out)?;
        Ok(EventId(out))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({})", self.to_hex())
    }
}

/// The event id of an event: the first 16 bytes of
/// `BLAKE3(EVENT_ID_DOMAIN || event_type || 0x00 || entity_key)`.
///
/// Publishing the same entity twice yields the same id, which is what makes publishing
/// idempotent.
#[must_use]
pub fn event_id(event_type: &str, entity_key: &str) -> EventId {
    let mut h = blake3::Hasher::new();
    h.update(EVENT_ID_DOMAIN);
    h.update(event_type.as_bytes());
    h.update(&[0]);
    h.update(entity_key.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    EventId(out)
}

/// Lowercase hex of `N` bytes into `M = 2N` digits, through a buffer (`hex::encode` builds its
/// string one character at a time, which showed in profiles of record building and replay).
fn lower_hex<const N: usize, const M: usize>(bytes: &[u8; N]) -> String {
    let mut out = [0u8; M];
    // `M` is `2 * N` at every call site and hex digits are ASCII, so neither step can fail;
    // the fallback keeps the function total.
    match hex::encode_to_slice(bytes, &mut out) {
        Ok(()) => String::from_utf8(out.to_vec()).unwrap_or_else(|_| hex::encode(bytes)),
        Err(_) => hex::encode(bytes),
    }
}
