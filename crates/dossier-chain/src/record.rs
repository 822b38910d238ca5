//! Records: the envelope every event is wrapped in, as stored.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::hash::{EventId, Hash};

/// The record format version, the first field of every record (`"dossier":1`).
pub const FORMAT_VERSION: u32 = 1;

/// The largest record this crate writes or accepts, in bytes. Report texts live in the
/// content store, so records stay far below NATS's default 1 MiB payload limit.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// The most records in one batch, seal included (JetStream's atomic batch limit is 1,000).
pub const MAX_BATCH_RECORDS: usize = 1000;

/// Event types of the chain's own control records.
pub mod control {
    /// Record 1: founds the ledger and registers its founding key.
    pub const GENESIS: &str = "ledger.genesis";
    /// Closes a batch; carries the producer's signature over the chain head.
    pub const SEAL: &str = "batch.seal";
    /// Registers a producer key.
    pub const KEY_REGISTERED: &str = "key.registered";
    /// Revokes a producer key.
    pub const KEY_REVOKED: &str = "key.revoked";
    /// Grants a principal access (docs/FORMAT.md §5.4): an administrative event.
    pub const ACCESS_GRANTED: &str = "access.granted";
    /// Revokes a principal's access (docs/FORMAT.md §5.4): an administrative event.
    pub const ACCESS_REVOKED: &str = "access.revoked";
    /// Schema version of the control bodies (and of a `key.registered` without a role).
    pub const SCHEMA: u32 = 1;
    /// Schema version of a `key.registered` body carrying a role (docs/FORMAT.md §5.3).
    pub const KEY_REGISTERED_ROLES_SCHEMA: u32 = 2;

    /// Whether records of this type may only be sealed by a key that administers the ledger
    /// (docs/FORMAT.md §5.3): key and access events.
    #[must_use]
    pub fn is_administrative(event_type: &str) -> bool {
        matches!(
            event_type,
            KEY_REGISTERED | KEY_REVOKED | ACCESS_GRANTED | ACCESS_REVOKED
        )
    }
}

/// The head of a log: the last record's sequence number, hash and recorded time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Sequence number of the last record; 0 for an empty log.
    pub seq: u64,
    /// Hash of the last record; [`crate::GENESIS_PREV`] for an empty log.
    pub hash: Hash,
    /// Recorded time of the last record (fixed-width form); `None` for an empty log.
    pub recorded: Option<String>,
}

impl Head {
    /// The head of an empty log.
    #[must_use]
    pub fn empty() -> Head {
        Head {
            seq: 0,
            hash: crate::GENESIS_PREV,
            recorded: None,
        }
    }
}

/// A record ready to append: its bytes plus what a backend indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedRecord {
    /// Sequence number.
    pub seq: u64,
    /// Record hash.
    pub hash: Hash,
    /// Event id.
    pub event_id: EventId,
    /// Event type.
    pub event_type: String,
    /// Recorded time (fixed-width form).
    pub recorded: String,
    /// The exact bytes to store.
    pub bytes: Vec<u8>,
}

/// A record as read back from storage, at its storage position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// The position the backend holds it at (the sequence number it is stored under).
    pub position: u64,
    /// The hash the backend recorded at append time, if it keeps one. Lets verification
    /// tell a changed record from a broken link.
    pub stored_hash: Option<Hash>,
    /// The stored bytes.
    pub bytes: Vec<u8>,
}

/// The envelope as written (field order is the stored order).
#[derive(Serialize)]
pub(crate) struct EnvelopeOut<'a> {
    pub dossier: u32,
    pub ledger: &'a str,
    pub seq: u64,
    pub prev: &'a str,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub schema: u32,
    pub entity: &'a str,
    pub id: &'a str,
    pub recorded: &'a str,
    pub actor: ActorOut<'a>,
    pub marking: &'a str,
    pub correlation: &'a str,
    pub body: &'a RawValue,
}

#[derive(Serialize)]
pub(crate) struct ActorOut<'a> {
    pub key: &'a str,
    pub name: &'a str,
}

/// A parsed view of a stored record, borrowing from its bytes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordView<'a> {
    /// Record format version (must be [`FORMAT_VERSION`]).
    pub dossier: u32,
    /// Ledger id (UUID, lowercase hyphenated).
    pub ledger: &'a str,
    /// Sequence number.
    pub seq: u64,
    /// Hash of the previous record, 64 hex digits.
    pub prev: &'a str,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// Schema version of the body.
    pub schema: u32,
    /// The entity key the event id derives from (for example `claim:rok-mnd/containers-2024-03`).
    #[serde(borrow)]
    pub entity: Cow<'a, str>,
    /// Event id, 32 hex digits: `event_id(type, entity)`.
    pub id: &'a str,
    /// Recorded time, fixed-width UTC.
    pub recorded: &'a str,
    /// Who published it.
    #[serde(borrow)]
    pub actor: ActorView<'a>,
    /// TLP 2.0 marking.
    #[serde(borrow)]
    pub marking: Cow<'a, str>,
    /// Correlation id: one publish = one batch.
    pub correlation: &'a str,
    /// The event body, exactly as stored.
    #[serde(borrow)]
    pub body: &'a RawValue,
}

/// The `actor` object of a record.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorView<'a> {
    /// Key id of the signing key.
    pub key: &'a str,
    /// Display name of the producer.
    #[serde(borrow)]
    pub name: Cow<'a, str>,
}

impl<'a> RecordView<'a> {
    /// Parses a record's bytes.
    ///
    /// # Errors
    /// If the bytes are not a record of this format.
    pub fn parse(bytes: &'a [u8]) -> Result<RecordView<'a>, serde_json::Error> {
        // As text, the record's UTF-8 is checked once, in one pass, instead of once per field
        // and again for the raw body; bytes that are not UTF-8 get the parser's own error.
        match std::str::from_utf8(bytes) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(bytes),
        }
    }

    /// Parses a record's envelope without scanning its body, for a reader that decodes the
    /// body itself; returns the envelope and the body's text.
    ///
    /// `body` is a record's last member, and `,"body":` cannot occur inside a JSON string (a
    /// quote there is escaped), so the body runs from the first `,"body":` to the closing
    /// brace. The members before it are copied to `scratch`, closed with the placeholder body
    /// `0`, and parsed exactly as [`RecordView::parse`] parses a whole record: the returned
    /// view's `body` is that placeholder. Whether the body's text is JSON is left to the
    /// caller's decoding.
    ///
    /// `None` if the bytes do not split this way (not UTF-8, no `,"body":`, no closing brace,
    /// an envelope that does not parse): [`RecordView::parse`] then says what is wrong.
    pub fn parse_envelope<'s>(
        bytes: &'a [u8],
        scratch: &'s mut String,
    ) -> Option<(RecordView<'s>, &'a str)> {
        const BODY: &str = ",\"body\":";
        let text = std::str::from_utf8(bytes).ok()?;
        let at = text.find(BODY)?;
        let body = text.strip_suffix('}')?.get(at + BODY.len()..)?;
        scratch.clear();
        scratch.push_str(&text[..at]);
        scratch.push_str(",\"body\":0}");
        let scratch: &'s String = scratch;
        let view = serde_json::from_str(scratch).ok()?;
        Some((view, body))
    }
}

/// Body of a `batch.seal` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealBody {
    /// Number of records in the batch before the seal.
    pub count: u32,
    /// Hash of the record just before the seal (the chain head the signature covers).
    pub head: String,
    /// Key id of the signer (equals the seal's `actor.key`).
    pub key: String,
    /// Ed25519 signature, 128 hex digits, over the seal message (see `docs/FORMAT.md`).
    pub sig: String,
}

/// Body of the `ledger.genesis` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisBody {
    /// The ledger id (equals the envelope's `ledger`).
    pub ledger: String,
    /// A human name for the ledger.
    pub name: String,
    /// The founding key: the trust root verifiers pin.
    pub founding_key: crate::KeyRegistered,
}
