//! Helpers shared by the integration tests: deterministic ledgers and a hand-rolled record
//! writer ("forge") that follows docs/FORMAT.md without going through `BatchBuilder`.

#![allow(dead_code, clippy::unwrap_used)]

use dossier_chain::{
    BatchBuilder, EncodedRecord, Failure, FailureKind, Genesis, Hash, Head, Signer, StoredRecord,
    TrustRoot, Verifier, VerifyReport, event_id, seal_message,
};
use ed25519_dalek::{Signer as _, SigningKey};
use time::OffsetDateTime;
use uuid::Uuid;

/// The ledger id used by most tests.
pub const LEDGER: Uuid = Uuid::from_u128(0x0190_f4d2_7c1e_7a3b_9c4d_5e6f_7081_92a3);

/// A fixed instant plus `secs` seconds.
pub fn at(secs: i64) -> OffsetDateTime {
    time::macros::datetime!(2024-03-19 16:04:00 UTC) + time::Duration::seconds(secs)
}

/// A fixed correlation id.
pub fn corr(n: u128) -> Uuid {
    Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 | n)
}

/// The head after `records`.
pub fn head_of(records: &[EncodedRecord]) -> Head {
    match records.last() {
        None => Head::empty(),
        Some(r) => Head {
            seq: r.seq,
            hash: r.hash,
            recorded: Some(r.recorded.clone()),
        },
    }
}

/// Appends one sealed batch of `(type, entity, marking, body)` events.
pub fn append_batch(
    records: &mut Vec<EncodedRecord>,
    ledger: Uuid,
    signer: &Signer,
    now: OffsetDateTime,
    correlation: Uuid,
    events: &[(&str, &str, &str, &[u8])],
) {
    let head = head_of(records);
    let mut b = BatchBuilder::new(ledger, &head, now, signer, correlation);
    for (ty, entity, marking, body) in events {
        // A registration is written in the schema its body needs (2 with a role).
        let schema = match serde_json::from_slice::<dossier_chain::KeyRegistered>(body) {
            Ok(k) if *ty == "key.registered" => k.schema(),
            _ => 1,
        };
        b.push(ty, schema, entity, marking, body).unwrap();
    }
    records.extend(b.seal().unwrap());
}

/// The body of a `key.registered` event for `signer`.
pub fn key_registered(signer: &Signer) -> Vec<u8> {
    serde_json::to_vec(&dossier_chain::KeyRegistered {
        key: signer.id().to_owned(),
        public: signer.public_hex(),
        name: signer.name().to_owned(),
        role: None,
    })
    .unwrap()
}

/// The body of a schema-2 `key.registered` event giving `signer` a role.
pub fn key_registered_as(signer: &Signer, role: dossier_chain::Role) -> Vec<u8> {
    serde_json::to_vec(&dossier_chain::KeyRegistered {
        key: signer.id().to_owned(),
        public: signer.public_hex(),
        name: signer.name().to_owned(),
        role: Some(role),
    })
    .unwrap()
}

/// The body of a `key.revoked` event.
pub fn key_revoked(key: &str, reason: &str) -> Vec<u8> {
    serde_json::to_vec(&dossier_chain::KeyRevoked {
        key: key.to_owned(),
        reason: reason.to_owned(),
    })
    .unwrap()
}

/// A small valid ledger: genesis, then `batches` batches of the given sizes signed by `founder`.
pub fn simple_ledger(
    ledger: Uuid,
    founder: &Signer,
    batches: &[Vec<String>],
) -> (Vec<EncodedRecord>, Vec<u64>) {
    let mut records = Genesis::build(ledger, "test ledger", founder, at(0)).unwrap();
    let mut firsts = vec![1];
    for (i, bodies) in batches.iter().enumerate() {
        firsts.push(records.len() as u64 + 1);
        let bodies: Vec<Vec<u8>> = bodies
            .iter()
            .map(|t| serde_json::to_vec(&serde_json::json!({ "text": t })).unwrap())
            .collect();
        let entities: Vec<String> = (0..bodies.len()).map(|j| format!("note:{i}/{j}")).collect();
        let events: Vec<(&str, &str, &str, &[u8])> = bodies
            .iter()
            .zip(&entities)
            .map(|(b, e)| ("note.recorded", e.as_str(), "TLP:GREEN", b.as_slice()))
            .collect();
        append_batch(
            &mut records,
            ledger,
            founder,
            at(60 * (i as i64 + 1)),
            corr(i as u128 + 1),
            &events,
        );
    }
    (records, firsts)
}

/// Records as storage returns them (position = seq).
pub fn stored(records: &[EncodedRecord], with_hash: bool) -> Vec<StoredRecord> {
    records
        .iter()
        .map(|r| StoredRecord {
            position: r.seq,
            stored_hash: with_hash.then_some(r.hash),
            bytes: r.bytes.clone(),
        })
        .collect()
}

/// Gives the records contiguous positions from 1, whatever they hold.
pub fn renumber(mut records: Vec<StoredRecord>) -> Vec<StoredRecord> {
    for (i, r) in records.iter_mut().enumerate() {
        r.position = i as u64 + 1;
    }
    records
}

/// Verifies stored records.
pub fn verify(records: &[StoredRecord], trust: TrustRoot) -> VerifyReport {
    let mut v = Verifier::new(trust);
    for r in records {
        v.push(r);
    }
    v.finish()
}

/// Verifies stored records pinned to `founder`.
pub fn verify_pinned(records: &[StoredRecord], founder: &Signer) -> VerifyReport {
    verify(records, TrustRoot::Pinned(founder.public()))
}

/// The first failure, or a panic listing the report.
pub fn first(report: &VerifyReport) -> &Failure {
    report
        .failures
        .first()
        .unwrap_or_else(|| panic!("expected a failure, verification passed: {report:?}"))
}

/// `(seq, kind)` of every failure.
pub fn kinds(report: &VerifyReport) -> Vec<(u64, FailureKind)> {
    report.failures.iter().map(|f| (f.seq, f.kind)).collect()
}

/// Writes records by hand, following docs/FORMAT.md, with any field set to anything.
#[derive(Clone, Debug)]
pub struct Forge {
    pub ledger: String,
    pub seq: u64,
    pub prev: Hash,
    pub recorded: String,
    pub correlation: String,
    pub secret: [u8; 32],
    pub name: String,
    pub batch_count: u32,
    pub records: Vec<EncodedRecord>,
}

/// One record's envelope fields, as text (strings are JSON-escaped when written).
#[derive(Clone, Debug)]
pub struct Fields {
    pub dossier: String,
    pub ledger: String,
    pub seq: String,
    pub prev: String,
    pub event_type: String,
    pub schema: u32,
    pub entity: String,
    pub id: String,
    pub recorded: String,
    pub key: String,
    pub name: String,
    pub marking: String,
    pub correlation: String,
    pub extra: Option<String>,
    pub body: String,
}

impl Fields {
    /// The record's bytes: a compact JSON object, members in the order of FORMAT.md.
    pub fn encode(&self) -> Vec<u8> {
        let s = |t: &str| serde_json::to_string(t).unwrap();
        let extra = self
            .extra
            .as_deref()
            .map(|e| format!(",{e}"))
            .unwrap_or_default();
        format!(
            r#"{{"dossier":{},"ledger":{},"seq":{},"prev":{},"type":{},"schema":{},"entity":{},"id":{},"recorded":{},"actor":{{"key":{},"name":{}}},"marking":{},"correlation":{}{extra},"body":{}}}"#,
            self.dossier,
            s(&self.ledger),
            self.seq,
            s(&self.prev),
            s(&self.event_type),
            self.schema,
            s(&self.entity),
            s(&self.id),
            s(&self.recorded),
            s(&self.key),
            s(&self.name),
            s(&self.marking),
            s(&self.correlation),
            self.body
        )
        .into_bytes()
    }
}

impl Forge {
    /// Continues `records` (a valid ledger) with a new batch signed by `secret`.
    pub fn after(
        records: &[EncodedRecord],
        ledger: Uuid,
        secret: [u8; 32],
        name: &str,
        now: OffsetDateTime,
        correlation: Uuid,
    ) -> Forge {
        let head = head_of(records);
        let now = dossier_chain::format_recorded(now);
        let recorded = match head.recorded {
            Some(prev) if prev > now => prev,
            _ => now,
        };
        Forge {
            ledger: ledger.hyphenated().to_string(),
            seq: head.seq + 1,
            prev: head.hash,
            recorded,
            correlation: correlation.hyphenated().to_string(),
            secret,
            name: name.to_owned(),
            batch_count: 0,
            records: Vec::new(),
        }
    }

    pub fn key_id(&self) -> String {
        Signer::from_secret(self.secret, "").id().to_owned()
    }

    /// The fields of the next record for an event, before any change.
    pub fn fields(&self, event_type: &str, entity: &str, marking: &str, body: &str) -> Fields {
        Fields {
            dossier: "1".into(),
            ledger: self.ledger.clone(),
            seq: self.seq.to_string(),
            prev: self.prev.to_hex(),
            event_type: event_type.into(),
            schema: 1,
            entity: entity.into(),
            id: event_id(event_type, entity).to_hex(),
            recorded: self.recorded.clone(),
            key: self.key_id(),
            name: self.name.clone(),
            marking: marking.into(),
            correlation: self.correlation.clone(),
            extra: None,
            body: body.into(),
        }
    }

    /// Appends raw bytes as the next record.
    pub fn push_bytes(&mut self, event_type: &str, bytes: Vec<u8>) -> &mut Forge {
        let hash = Hash::of_record(&bytes);
        self.records.push(EncodedRecord {
            seq: self.seq,
            hash,
            event_id: dossier_chain::EventId([0; 16]),
            event_type: event_type.into(),
            recorded: self.recorded.clone(),
            bytes,
        });
        self.prev = hash;
        self.seq += 1;
        self.batch_count += 1;
        self
    }

    /// Appends an event, letting `change` alter its fields first.
    pub fn push_with(
        &mut self,
        event_type: &str,
        entity: &str,
        body: &str,
        change: impl FnOnce(&mut Fields),
    ) -> &mut Forge {
        let mut f = self.fields(event_type, entity, "TLP:GREEN", body);
        change(&mut f);
        let bytes = f.encode();
        self.push_bytes(event_type, bytes)
    }

    /// Appends an event as a writer following FORMAT.md would.
    pub fn push(&mut self, event_type: &str, entity: &str, body: &str) -> &mut Forge {
        self.push_with(event_type, entity, body, |_| {})
    }

    /// Closes the batch with a seal claiming `count` records (None: the true count).
    pub fn seal_claiming(&mut self, count: Option<u32>) -> Vec<EncodedRecord> {
        let count = count.unwrap_or(self.batch_count);
        let ledger = Uuid::parse_str(&self.ledger).unwrap();
        let message = seal_message(&ledger, self.seq, &self.prev, count);
        let sig = SigningKey::from_bytes(&self.secret)
            .sign(&message)
            .to_bytes();
        let body = format!(
            r#"{{"count":{count},"head":"{}","key":"{}","sig":"{}"}}"#,
            self.prev.to_hex(),
            self.key_id(),
            hex::encode(sig)
        );
        let mut f = self.fields("batch.seal", &self.correlation.clone(), "TLP:CLEAR", &body);
        f.marking = "TLP:CLEAR".into();
        let bytes = f.encode();
        self.push_bytes("batch.seal", bytes);
        self.records.clone()
    }

    /// Closes the batch with a correct seal.
    pub fn seal(&mut self) -> Vec<EncodedRecord> {
        self.seal_claiming(None)
    }
}
