//! Building batches of records on top of a known head.

use serde_json::value::RawValue;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::hash::{Hash, event_id};
use crate::keys::{KeyRegistered, Signer};
use crate::record::{
    ActorOut, EncodedRecord, EnvelopeOut, FORMAT_VERSION, GenesisBody, Head, MAX_BATCH_RECORDS,
    MAX_RECORD_BYTES, SealBody, control,
};
use crate::time_fmt::format_recorded;

/// Domain-separation prefix of the seal signature message.
pub const SEAL_DOMAIN: &[u8] = b"dossier/seal/v1\0";

/// Why a batch could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// More records than fit in one batch.
    #[error("a batch holds at most {max} records including its seal; split the bundle")]
    TooManyRecords {
        /// The limit.
        max: usize,
    },
    /// One record would exceed [`MAX_RECORD_BYTES`].
    #[error(
        "the {event_type} record for {entity_key} would be {size} bytes; records are limited to {max} bytes"
    )]
    RecordTooLarge {
        /// Event type.
        event_type: String,
        /// Entity key.
        entity_key: String,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The body is not a JSON document.
    #[error("the body of the {event_type} record for {entity_key} is not JSON: {source}")]
    BodyNotJson {
        /// Event type.
        event_type: String,
        /// Entity key.
        entity_key: String,
        /// Parser error.
        source: serde_json::Error,
    },
    /// A batch must hold at least one record besides its seal.
    #[error("an empty batch cannot be sealed")]
    EmptyBatch,
}

/// The message a seal signs: `SEAL_DOMAIN || ledger uuid (16 bytes) || seal seq (u64 BE) ||
/// head hash (32 bytes) || count (u32 BE)`.
#[must_use]
pub fn seal_message(ledger: &Uuid, seal_seq: u64, head: &Hash, count: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(SEAL_DOMAIN.len() + 16 + 8 + 32 + 4);
    m.extend_from_slice(SEAL_DOMAIN);
    m.extend_from_slice(ledger.as_bytes());
    m.extend_from_slice(&seal_seq.to_be_bytes());
    m.extend_from_slice(&head.0);
    m.extend_from_slice(&count.to_be_bytes());
    m
}

/// Builds one batch: records chained onto a head, closed by a signed seal.
///
/// All records of a batch share one recorded time: the later of the head's recorded time and
/// `now`, so recorded time never decreases along the log.
///
/// # Examples
/// ```
/// use dossier_chain::{BatchBuilder, Head, Signer};
/// let signer = Signer::from_secret([7; 32], "analyst");
/// let ledger = uuid::Uuid::nil();
/// let mut b = BatchBuilder::new(ledger, &Head::empty(), time::OffsetDateTime::UNIX_EPOCH, &signer, uuid::Uuid::nil());
/// b.push("note.recorded", 1, "note:1", "TLP:CLEAR", br#"{"text":"hello"}"#).unwrap();
/// let records = b.seal().unwrap();
/// assert_eq!(records.len(), 2);
/// assert_eq!(records[1].event_type, "batch.seal");
/// ```
#[derive(Debug)]
pub struct BatchBuilder<'s> {
    ledger: Uuid,
    ledger_text: String,
    signer: &'s Signer,
    correlation: String,
    recorded: String,
    prev: Hash,
    next_seq: u64,
    records: Vec<EncodedRecord>,
}

impl<'s> BatchBuilder<'s> {
    /// Starts a batch on top of `head`.
    #[must_use]
    pub fn new(
        ledger: Uuid,
        head: &Head,
        now: OffsetDateTime,
        signer: &'s Signer,
        correlation: Uuid,
    ) -> Self {
        let now = format_recorded(now);
        let recorded = match &head.recorded {
            Some(prev) if *prev > now => prev.clone(),
            _ => now,
        };
        BatchBuilder {
            ledger,
            ledger_text: ledger.hyphenated().to_string(),
            signer,
            correlation: correlation.hyphenated().to_string(),
            recorded,
            prev: head.hash,
            next_seq: head.seq + 1,
            records: Vec::new(),
        }
    }

    /// Number of records pushed so far (the seal not included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing was pushed yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The recorded time every record of this batch carries.
    #[must_use]
    pub fn recorded(&self) -> &str {
        &self.recorded
    }

    /// Appends one event. `body` must be a JSON document (it is stored byte for byte).
    ///
    /// # Errors
    /// [`BuildError`] if the batch is full, the body is not JSON, or the record is too large.
    pub fn push(
        &mut self,
        event_type: &str,
        schema: u32,
        entity_key: &str,
        marking: &str,
        body: &[u8],
    ) -> Result<&EncodedRecord, BuildError> {
        // Leave room for the seal.
        if self.records.len() + 1 >= MAX_BATCH_RECORDS {
            return Err(BuildError::TooManyRecords {
                max: MAX_BATCH_RECORDS,
            });
        }
        self.push_record(event_type, schema, entity_key, marking, body)
    }

    fn push_record(
        &mut self,
        event_type: &str,
        schema: u32,
        entity_key: &str,
        marking: &str,
        body: &[u8],
    ) -> Result<&EncodedRecord, BuildError> {
        let text = std::str::from_utf8(body).map_err(|e| BuildError::BodyNotJson {
            event_type: event_type.to_owned(),
            entity_key: entity_key.to_owned(),
            source: serde::de::Error::custom(e),
        })?;
        let raw: &RawValue =
            serde_json::from_str(text).map_err(|source| BuildError::BodyNotJson {
                event_type: event_type.to_owned(),
                entity_key: entity_key.to_owned(),
                source,
            })?;
        let id = event_id(event_type, entity_key);
        let record = self.encode(event_type, schema, entity_key, &id.to_hex(), marking, raw)?;
        self.finish_record(record, id, event_type, entity_key)
    }

    fn encode(
        &self,
        event_type: &str,
        schema: u32,
        entity: &str,
        id: &str,
        marking: &str,
        body: &RawValue,
    ) -> Result<Vec<u8>, BuildError> {
        let prev = self.prev.to_hex();
        let env = EnvelopeOut {
            dossier: FORMAT_VERSION,
            ledger: &self.ledger_text,
            seq: self.next_seq,
            prev: &prev,
            event_type,
            schema,
            entity,
            id,
            recorded: &self.recorded,
            actor: ActorOut {
                key: self.signer.id(),
                name: self.signer.name(),
            },
            marking,
            correlation: &self.correlation,
            body,
        };
        serde_json::to_vec(&env).map_err(|source| BuildError::BodyNotJson {
            event_type: event_type.to_owned(),
            entity_key: id.to_owned(),
            source,
        })
    }

    fn finish_record(
        &mut self,
        bytes: Vec<u8>,
        id: crate::EventId,
        event_type: &str,
        entity_key: &str,
    ) -> Result<&EncodedRecord, BuildError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(BuildError::RecordTooLarge {
                event_type: event_type.to_owned(),
                entity_key: entity_key.to_owned(),
                size: bytes.len(),
                max: MAX_RECORD_BYTES,
            });
        }
        let hash = Hash::of_record(&bytes);
        let rec = EncodedRecord {
            seq: self.next_seq,
            hash,
            event_id: id,
            event_type: event_type.to_owned(),
            recorded: self.recorded.clone(),
            bytes,
        };
        self.prev = hash;
        self.next_seq += 1;
        self.records.push(rec);
        Ok(self.records.last().expect("just pushed"))
    }

    /// Closes the batch with a seal record signed by the signer and returns all records.
    ///
    /// # Errors
    /// [`BuildError::EmptyBatch`] if nothing was pushed.
    pub fn seal(mut self) -> Result<Vec<EncodedRecord>, BuildError> {
        if self.records.is_empty() {
            return Err(BuildError::EmptyBatch);
        }
        let count = u32::try_from(self.records.len()).map_err(|_| BuildError::TooManyRecords {
            max: MAX_BATCH_RECORDS,
        })?;
        let message = seal_message(&self.ledger, self.next_seq, &self.prev, count);
        let sig = self.signer.sign(&message);
        let body = SealBody {
            count,
            head: self.prev.to_hex(),
            key: self.signer.id().to_owned(),
            sig: hex::encode(sig),
        };
        let body = serde_json::to_string(&body).map_err(|source| BuildError::BodyNotJson {
            event_type: control::SEAL.to_owned(),
            entity_key: self.correlation.clone(),
            source,
        })?;
        let correlation = self.correlation.clone();
        self.push_record(
            control::SEAL,
            control::SCHEMA,
            &correlation,
            "TLP:CLEAR",
            body.as_bytes(),
        )?;
        Ok(self.records)
    }
}

/// The genesis batch of a new ledger.
#[derive(Debug)]
pub struct Genesis;

impl Genesis {
    /// Builds records 1 (`ledger.genesis`, registering `founder` as the founding key) and 2
    /// (its seal, signed by `founder`).
    ///
    /// # Errors
    /// Only if encoding fails, which it does not for valid inputs.
    pub fn build(
        ledger: Uuid,
        name: &str,
        founder: &Signer,
        now: OffsetDateTime,
    ) -> Result<Vec<EncodedRecord>, BuildError> {
        let body = GenesisBody {
            ledger: ledger.hyphenated().to_string(),
            name: name.to_owned(),
            founding_key: KeyRegistered {
                key: founder.id().to_owned(),
                public: founder.public_hex(),
                name: founder.name().to_owned(),
                role: None,
            },
        };
        let body = serde_json::to_vec(&body).map_err(|source| BuildError::BodyNotJson {
            event_type: control::GENESIS.to_owned(),
            entity_key: ledger.to_string(),
            source,
        })?;
        let mut b = BatchBuilder::new(ledger, &Head::empty(), now, founder, ledger);
        b.push(
            control::GENESIS,
            control::SCHEMA,
            &ledger.hyphenated().to_string(),
            "TLP:CLEAR",
            &body,
        )?;
        b.seal()
    }
}
