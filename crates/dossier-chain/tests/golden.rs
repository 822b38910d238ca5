//! Golden test vectors: a small deterministic ledger written to `docs/vectors/`.
//!
//! The vectors are part of the format's public contract (see `docs/FORMAT.md`). If the format
//! changes on purpose, rewrite them with `DOSSIER_BLESS=1 cargo test -p dossier-chain --test golden`
//! and review the diff.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use common::{LEDGER, append_batch, at, corr, key_registered, key_revoked, stored, verify};
use dossier_chain::{
    EncodedRecord, FailureKind, Genesis, Hash, RecordView, SealBody, Signer, TrustRoot, event_id,
    key_id, seal_message,
};
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde_json::{Value, json};
use uuid::Uuid;

const FOUNDER_SECRET: [u8; 32] = [1; 32];
const SECOND_SECRET: [u8; 32] = [2; 32];
const THIRD_SECRET: [u8; 32] = [3; 32];

fn signers() -> (Signer, Signer, Signer) {
    (
        Signer::from_secret(FOUNDER_SECRET, "founder"),
        Signer::from_secret(SECOND_SECRET, "김민지 (analyst)"),
        Signer::from_secret(THIRD_SECRET, "analyst-2025"),
    )
}

/// The vector ledger: 20 records in 6 batches.
fn build() -> Vec<EncodedRecord> {
    let (founder, second, third) = signers();
    let mut records = Genesis::build(LEDGER, "golden vectors", &founder, at(0)).unwrap();

    // Batch 2 (seq 3..=6): three domain-like records signed by the founding key.
    let source = json!({"id": "source:rok-mnd", "title": "대한민국 국방부 (Ministry of National Defense)", "kind": "official"});
    let report = json!({
        "id": "report:rok-mnd/briefing-2024-03-19",
        "source": "source:rok-mnd",
        "title": "국방부 정례 브리핑",
        "published": "2024-03-19",
        "text": "b3:5a1c0e2f"
    });
    let claim = json!({
        "id": "claim:rok-mnd/containers-2024-03",
        "report": "report:rok-mnd/briefing-2024-03-19",
        "quote": {"text": "신원식 장관은 컨테이너 약 6,700개가 이송되었다고 밝혔다", "start": 12, "end": 40},
        "confidence": "likely",
        "note": "tab\tand \"quotes\" and a backslash \\ survive escaping"
    });
    let body = |v: &Value| serde_json::to_vec(v).unwrap();
    append_batch(
        &mut records,
        LEDGER,
        &founder,
        at(60),
        corr(1),
        &[
            (
                "source.recorded",
                "source:rok-mnd",
                "TLP:CLEAR",
                &body(&source),
            ),
            (
                "report.recorded",
                "report:rok-mnd/briefing-2024-03-19",
                "TLP:GREEN",
                &body(&report),
            ),
            (
                "claim.recorded",
                "claim:rok-mnd/containers-2024-03",
                "TLP:AMBER",
                &body(&claim),
            ),
        ],
    );

    // Batch 3 (seq 7..=8): the founding key registers a second key.
    append_batch(
        &mut records,
        LEDGER,
        &founder,
        at(120),
        corr(2),
        &[(
            "key.registered",
            second.id(),
            "TLP:CLEAR",
            &key_registered(&second),
        )],
    );

    // Batch 4 (seq 9..=11): signed by the second key. The body is stored verbatim, whitespace
    // included. Its `now` is earlier than the head's time, so the batch keeps the head's time.
    let assessment =
        br#"{ "id": "claim:rok-mnd/containers-2024-03", "assessment": "corroborated" }"#;
    append_batch(
        &mut records,
        LEDGER,
        &second,
        at(90),
        corr(3),
        &[
            (
                "assessment.recorded",
                "assessment:containers-2024-03/1",
                "TLP:AMBER+STRICT",
                assessment,
            ),
            (
                "question.recorded",
                "question:kpa-artillery-supply",
                "TLP:RED",
                r#"{"text":"몇 발이 이송되었나?"}"#.as_bytes(),
            ),
        ],
    );

    // Batch 5 (seq 12..=14): rotation, signed by the old (second) key.
    append_batch(
        &mut records,
        LEDGER,
        &second,
        at(180),
        corr(4),
        &[
            (
                "key.registered",
                third.id(),
                "TLP:CLEAR",
                &key_registered(&third),
            ),
            (
                "key.revoked",
                second.id(),
                "TLP:CLEAR",
                &key_revoked(second.id(), "rotated"),
            ),
        ],
    );

    // Batch 6 (seq 15..=16): signed by the third key.
    append_batch(
        &mut records,
        LEDGER,
        &third,
        at(240),
        corr(5),
        &[(
            "claim.superseded",
            "claim:rok-mnd/containers-2024-03#2",
            "TLP:GREEN",
            br#"{"supersedes":"claim:rok-mnd/containers-2024-03","reason":"corrected count"}"#,
        )],
    );
    records
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors")
}

fn jsonl(records: &[EncodedRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend_from_slice(&r.bytes);
        out.push(b'\n');
    }
    out
}

fn description(records: &[EncodedRecord]) -> Vec<u8> {
    let (founder, second, third) = signers();
    let key = |s: &Signer, secret: [u8; 32]| json!({"name": s.name(), "secret": hex::encode(secret), "public": s.public_hex(), "key_id": s.id()});
    let mut recs = Vec::new();
    let mut seals = Vec::new();
    for r in records {
        let view = RecordView::parse(&r.bytes).unwrap();
        recs.push(json!({
            "seq": r.seq,
            "type": r.event_type,
            "entity": view.entity,
            "hash": r.hash.to_hex(),
            "event_id": r.event_id.to_hex(),
            "bytes": r.bytes.len(),
        }));
        if r.event_type == "batch.seal" {
            let body: SealBody = serde_json::from_str(view.body.get()).unwrap();
            let head = Hash::from_hex(&body.head).unwrap();
            seals.push(json!({
                "seq": r.seq,
                "key": body.key,
                "count": body.count,
                "head": body.head,
                "message": hex::encode(seal_message(&LEDGER, r.seq, &head, body.count)),
                "signature": body.sig,
            }));
        }
    }
    let doc = json!({
        "description": "Golden vectors of the dossier record format v1: ledger.jsonl holds one record per line (the exact stored bytes, each followed by a newline that is not part of the record). Generated by crates/dossier-chain/tests/golden.rs.",
        "ledger": LEDGER.hyphenated().to_string(),
        "ledger_uuid_bytes": hex::encode(LEDGER.as_bytes()),
        "founding_key": founder.public_hex(),
        "keys": [key(&founder, FOUNDER_SECRET), key(&second, SECOND_SECRET), key(&third, THIRD_SECRET)],
        "genesis_prev": Hash([0; 32]).to_hex(),
        "head": records.last().unwrap().hash.to_hex(),
        "records": recs,
        "seals": seals,
    });
    let mut out = serde_json::to_vec_pretty(&doc).unwrap();
    out.push(b'\n');
    out
}

fn compare_or_bless(name: &str, actual: &[u8]) {
    dossier_testkit::golden::compare_or_bless(
        &vectors_dir().join(name),
        actual,
        "The record format",
        "cargo test -p dossier-chain --test golden",
    );
}

#[test]
fn vectors_are_unchanged() {
    let records = build();
    compare_or_bless("ledger.jsonl", &jsonl(&records));
    compare_or_bless("ledger.json", &description(&records));
}

#[test]
fn vector_ledger_verifies_pinned_to_the_founding_key() {
    let records = build();
    assert_eq!(records.len(), 16);
    let (founder, second, _) = signers();
    for with_hash in [true, false] {
        let report = verify(
            &stored(&records, with_hash),
            TrustRoot::Pinned(founder.public()),
        );
        assert!(report.ok(), "{:?}", report.failures);
        assert_eq!(report.last_sealed, 16);
        assert_eq!(report.founding_key.as_deref(), Some(founder.id()));
    }
    let report = verify(&stored(&records, true), TrustRoot::Unpinned);
    assert!(report.ok(), "{:?}", report.failures);

    let report = verify(&stored(&records, true), TrustRoot::Pinned(second.public()));
    let f = common::first(&report);
    assert_eq!(
        (f.seq, f.kind),
        (1, FailureKind::UntrustedRoot),
        "{report:?}"
    );
}

/// Recomputes everything from the committed files with nothing but BLAKE3, Ed25519 and a JSON
/// parser, as docs/FORMAT.md describes it: a check that the document and the code agree.
#[test]
fn committed_vectors_follow_the_document() {
    let dir = vectors_dir();
    let lines = std::fs::read(dir.join("ledger.jsonl")).unwrap();
    let desc: Value =
        serde_json::from_slice(&std::fs::read(dir.join("ledger.json")).unwrap()).unwrap();
    let ledger = Uuid::parse_str(desc["ledger"].as_str().unwrap()).unwrap();
    let mut prev = [0u8; 32];
    let mut keys: std::collections::HashMap<String, VerifyingKey> =
        std::collections::HashMap::new();
    let mut batch_count = 0u32;
    let records: Vec<&[u8]> = lines
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(records.len(), desc["records"].as_array().unwrap().len());
    for (i, bytes) in records.iter().enumerate() {
        let seq = i as u64 + 1;
        let v: Value = serde_json::from_slice(bytes).unwrap();
        let d = &desc["records"][i];
        // Record hash.
        let mut h = blake3::Hasher::new();
        h.update(b"dossier/record/v1\0");
        h.update(bytes);
        let hash = *h.finalize().as_bytes();
        assert_eq!(hex::encode(hash), d["hash"].as_str().unwrap());
        // Envelope.
        let names: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted = vec![
            "actor",
            "body",
            "correlation",
            "dossier",
            "entity",
            "id",
            "ledger",
            "marking",
            "prev",
            "recorded",
            "schema",
            "seq",
            "type",
        ];
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert!(bytes.starts_with(br#"{"dossier":1,"ledger":""#));
        assert_eq!(v["seq"], seq);
        assert_eq!(v["prev"].as_str().unwrap(), hex::encode(prev));
        assert_eq!(
            v["ledger"].as_str().unwrap(),
            ledger.hyphenated().to_string()
        );
        // Event id.
        let mut h = blake3::Hasher::new();
        h.update(b"dossier/event-id/v1\0");
        h.update(v["type"].as_str().unwrap().as_bytes());
        h.update(&[0]);
        h.update(v["entity"].as_str().unwrap().as_bytes());
        assert_eq!(
            hex::encode(&h.finalize().as_bytes()[..16]),
            v["id"].as_str().unwrap()
        );
        assert_eq!(v["id"].as_str().unwrap(), d["event_id"].as_str().unwrap());
        assert_eq!(v["recorded"].as_str().unwrap().len(), 30);
        let ty = v["type"].as_str().unwrap();
        let body = &v["body"];
        let actor = v["actor"]["key"].as_str().unwrap().to_owned();
        match ty {
            "ledger.genesis" => {
                let public = hex::decode(body["founding_key"]["public"].as_str().unwrap()).unwrap();
                assert_eq!(hex::encode(&public), desc["founding_key"].as_str().unwrap());
                let key = VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
                let mut h = blake3::Hasher::new();
                h.update(b"dossier/key-id/v1\0");
                h.update(key.as_bytes());
                let id = hex::encode(&h.finalize().as_bytes()[..8]);
                assert_eq!(id, actor);
                keys.insert(id, key);
                batch_count += 1;
            }
            "batch.seal" => {
                let mut m = Vec::new();
                m.extend_from_slice(b"dossier/seal/v1\0");
                m.extend_from_slice(ledger.as_bytes());
                m.extend_from_slice(&seq.to_be_bytes());
                m.extend_from_slice(&prev);
                m.extend_from_slice(&batch_count.to_be_bytes());
                assert_eq!(body["count"], batch_count);
                let seal = desc["seals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["seq"] == seq)
                    .unwrap();
                assert_eq!(hex::encode(&m), seal["message"].as_str().unwrap());
                let sig: [u8; 64] = hex::decode(body["sig"].as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap();
                keys[body["key"].as_str().unwrap()]
                    .verify(&m, &Signature::from_bytes(&sig))
                    .unwrap();
                batch_count = 0;
            }
            "key.registered" => {
                let public: [u8; 32] = hex::decode(body["public"].as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap();
                let key = VerifyingKey::from_bytes(&public).unwrap();
                assert_eq!(key_id(&key), body["key"].as_str().unwrap());
                // Trusted from the seal of this batch on; good enough for this walk.
                keys.insert(body["key"].as_str().unwrap().to_owned(), key);
                batch_count += 1;
            }
            _ => batch_count += 1,
        }
        prev = hash;
        assert_eq!(
            event_id(ty, v["entity"].as_str().unwrap()).to_hex(),
            v["id"].as_str().unwrap()
        );
    }
    assert_eq!(hex::encode(prev), desc["head"].as_str().unwrap());
    // Non-ASCII text is stored as raw UTF-8, not as \u escapes.
    assert!(String::from_utf8(lines).unwrap().contains("신원식"));
}

/// The `duplicate_event_id` vector (docs/FORMAT.md §6.3 step 13, §11): the golden ledger with
/// a seventh batch (seq 17–18, key 3) that records record 15's event (`claim.superseded` of the
/// same entity, another body) a second time. Sound in every other way: the chain links, the
/// seal verifies. The one failure is `duplicate_event_id` at 17, naming position 15.
fn build_duplicate() -> Vec<EncodedRecord> {
    let (_, _, third) = signers();
    let mut records = build();
    append_batch(
        &mut records,
        LEDGER,
        &third,
        at(300),
        corr(6),
        &[(
            "claim.superseded",
            "claim:rok-mnd/containers-2024-03#2",
            "TLP:GREEN",
            br#"{"supersedes":"claim:rok-mnd/containers-2024-03","reason":"corrected count, recorded twice"}"#,
        )],
    );
    records
}

fn duplicate_description(records: &[EncodedRecord]) -> Vec<u8> {
    let doc = json!({
        "description": "Golden vector of the duplicate_event_id failure (docs/FORMAT.md §6.3 step 13): duplicate_event_id.jsonl is ledger.jsonl with a seventh batch (seq 17-18, sealed by key 3) recording the event of record 15 again. Pinned to the founding key it fails with exactly the failures listed. Generated by crates/dossier-chain/tests/golden.rs.",
        "head": records.last().unwrap().hash.to_hex(),
        "failures": [{
            "seq": 17,
            "kind": "duplicate_event_id",
            "event_id": records[16].event_id.to_hex(),
            "first_seq": 15,
        }],
    });
    let mut out = serde_json::to_vec_pretty(&doc).unwrap();
    out.push(b'\n');
    out
}

#[test]
fn duplicate_event_id_vector() {
    let records = build_duplicate();
    assert_eq!(records[16].event_id, records[14].event_id);
    compare_or_bless("duplicate_event_id.jsonl", &jsonl(&records));
    compare_or_bless("duplicate_event_id.json", &duplicate_description(&records));
    let (founder, _, _) = signers();
    // From the committed file: the chain alone verifies; the uniqueness check finds record 17.
    let lines = std::fs::read(vectors_dir().join("duplicate_event_id.jsonl")).unwrap();
    let mut v = dossier_chain::Verifier::new(TrustRoot::Pinned(founder.public())).collecting_ids();
    for (i, bytes) in lines
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        v.push(&dossier_chain::StoredRecord {
            position: i as u64 + 1,
            stored_hash: None,
            bytes: bytes.to_vec(),
        });
    }
    let mut ids = v.take_ids();
    assert_eq!(ids.len(), 18);
    let mut report = v.finish();
    assert!(report.ok(), "{:?}", report.failures);
    report.add_failures(dossier_chain::duplicate_event_ids(&mut ids));
    let found: Vec<(u64, FailureKind)> = report.failures.iter().map(|f| (f.seq, f.kind)).collect();
    assert_eq!(found, vec![(17, FailureKind::DuplicateEventId)]);
    assert!(report.failures[0].detail.contains("position 15"));
    assert!(
        report.failures[0]
            .detail
            .contains(&records[14].event_id.to_hex())
    );
}

/// Verifies a committed vector file, pinned to the founding key: its failures as (seq, kind).
fn verify_vector_file(name: &str) -> Vec<(u64, FailureKind, String)> {
    let (founder, _, _) = signers();
    let lines = std::fs::read(vectors_dir().join(name)).unwrap();
    let mut v = dossier_chain::Verifier::new(TrustRoot::Pinned(founder.public()));
    for (i, bytes) in lines
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        v.push(&dossier_chain::StoredRecord {
            position: i as u64 + 1,
            stored_hash: None,
            bytes: bytes.to_vec(),
        });
    }
    v.finish()
        .failures
        .into_iter()
        .map(|f| (f.seq, f.kind, f.detail))
        .collect()
}

fn failure_description(
    description: &str,
    records: &[EncodedRecord],
    seq: u64,
    kind: &str,
) -> Vec<u8> {
    let doc = json!({
        "description": description,
        "head": records.last().unwrap().hash.to_hex(),
        "failures": [{"seq": seq, "kind": kind}],
    });
    let mut out = serde_json::to_vec_pretty(&doc).unwrap();
    out.push(b'\n');
    out
}

/// The `seal_sig_uppercase` vector (docs/FORMAT.md §4, §6.3 seal step 9): the golden ledger
/// with the last seal's (seq 16) signature written in uppercase hex — the same 64 bytes, so it
/// would verify if case were ignored. Its one failure is `bad_signature` at 16.
fn build_uppercase_sig() -> Vec<EncodedRecord> {
    let mut records = build();
    let last = records.last_mut().unwrap();
    let view = RecordView::parse(&last.bytes).unwrap();
    let body: SealBody = serde_json::from_str(view.body.get()).unwrap();
    let text = String::from_utf8(last.bytes.clone()).unwrap();
    let needle = format!("\"sig\":\"{}\"", body.sig);
    assert_eq!(text.matches(&needle).count(), 1);
    let changed = text.replace(
        &needle,
        &format!("\"sig\":\"{}\"", body.sig.to_ascii_uppercase()),
    );
    last.bytes = changed.into_bytes();
    last.hash = Hash::of_record(&last.bytes);
    records
}

#[test]
fn seal_sig_uppercase_vector() {
    let records = build_uppercase_sig();
    compare_or_bless("seal_sig_uppercase.jsonl", &jsonl(&records));
    compare_or_bless(
        "seal_sig_uppercase.json",
        &failure_description(
            "Golden vector of a seal whose sig is in uppercase hex (docs/FORMAT.md §4, §6.3 seal step 9): seal_sig_uppercase.jsonl is ledger.jsonl with record 16's signature written in uppercase (the same bytes). Pinned to the founding key it fails with exactly the failures listed. Generated by crates/dossier-chain/tests/golden.rs.",
            &records,
            16,
            "bad_signature",
        ),
    );
    let found = verify_vector_file("seal_sig_uppercase.jsonl");
    assert_eq!(
        found.iter().map(|(s, k, _)| (*s, *k)).collect::<Vec<_>>(),
        vec![(16, FailureKind::BadSignature)],
        "{found:?}"
    );
    assert!(
        found[0].2.contains("not 128 lowercase hex digits"),
        "{found:?}"
    );
}

/// The `genesis_correlation` vector (docs/FORMAT.md §5.2, §6.3 checking the genesis): a
/// two-record ledger whose genesis is sound in every way (founding key, body, seal signed by
/// it) except that its `correlation` (and so its batch's) is not the ledger id. Its one failure
/// is `malformed` at 1.
fn build_genesis_correlation() -> Vec<EncodedRecord> {
    let (founder, _, _) = signers();
    // The body a proper genesis carries.
    let proper = Genesis::build(LEDGER, "golden vectors", &founder, at(0)).unwrap();
    let body = RecordView::parse(&proper[0].bytes)
        .unwrap()
        .body
        .get()
        .as_bytes()
        .to_vec();
    let mut records = Vec::new();
    append_batch(
        &mut records,
        LEDGER,
        &founder,
        at(0),
        corr(99),
        &[(
            "ledger.genesis",
            &LEDGER.hyphenated().to_string(),
            "TLP:CLEAR",
            &body,
        )],
    );
    records
}

#[test]
fn genesis_correlation_vector() {
    let records = build_genesis_correlation();
    // The same bytes as a proper genesis but for the correlation.
    let (founder, _, _) = signers();
    let proper = Genesis::build(LEDGER, "golden vectors", &founder, at(0)).unwrap();
    let proper_text = String::from_utf8(proper[0].bytes.clone()).unwrap();
    let text = String::from_utf8(records[0].bytes.clone()).unwrap();
    assert_eq!(
        text.replace(
            &corr(99).hyphenated().to_string(),
            &LEDGER.hyphenated().to_string()
        ),
        proper_text
    );
    compare_or_bless("genesis_correlation.jsonl", &jsonl(&records));
    compare_or_bless(
        "genesis_correlation.json",
        &failure_description(
            "Golden vector of a genesis whose correlation is not the ledger id (docs/FORMAT.md §5.2, §6.3 checking the genesis): genesis_correlation.jsonl is a two-record ledger (genesis and its seal, signed by the founding key) whose correlation is another UUID. Pinned to the founding key it fails with exactly the failures listed. Generated by crates/dossier-chain/tests/golden.rs.",
            &records,
            1,
            "malformed",
        ),
    );
    let found = verify_vector_file("genesis_correlation.jsonl");
    assert_eq!(
        found.iter().map(|(s, k, _)| (*s, *k)).collect::<Vec<_>>(),
        vec![(1, FailureKind::Malformed)],
        "{found:?}"
    );
    assert!(
        found[0].2.contains("correlation is not the ledger id"),
        "{found:?}"
    );
}

const ADMIN_SECRET: [u8; 32] = [4; 32];
const PRODUCER_SECRET: [u8; 32] = [5; 32];
const LOG_SECRET: [u8; 32] = [6; 32];
const PRODUCER_2_SECRET: [u8; 32] = [7; 32];

/// The keys of the roles vectors: founder, admin, producer, log, and the producer rotated in.
fn role_signers() -> [Signer; 5] {
    [
        Signer::from_secret(FOUNDER_SECRET, "founder"),
        Signer::from_secret(ADMIN_SECRET, "admin"),
        Signer::from_secret(PRODUCER_SECRET, "producer"),
        Signer::from_secret(LOG_SECRET, "log"),
        Signer::from_secret(PRODUCER_2_SECRET, "producer-2"),
    ]
}

/// The roles vector ledger (docs/FORMAT.md §5.3, §11): the founding key registers an admin, a
/// producer and a log key (schema 2: the ledger adopts roles), the producer seals a domain
/// event, the admin rotates the producer.
fn build_roles() -> Vec<EncodedRecord> {
    use common::key_registered_as;
    use dossier_chain::Role;
    let [founder, admin, producer, log, producer2] = role_signers();
    let mut records = Genesis::build(LEDGER, "roles vectors", &founder, at(0)).unwrap();
    append_batch(
        &mut records,
        LEDGER,
        &founder,
        at(60),
        corr(11),
        &[
            (
                "key.registered",
                admin.id(),
                "TLP:CLEAR",
                &key_registered_as(&admin, Role::Admin),
            ),
            (
                "key.registered",
                producer.id(),
                "TLP:CLEAR",
                &key_registered_as(&producer, Role::Producer),
            ),
            (
                "key.registered",
                log.id(),
                "TLP:CLEAR",
                &key_registered_as(&log, Role::Log),
            ),
        ],
    );
    append_batch(
        &mut records,
        LEDGER,
        &producer,
        at(120),
        corr(12),
        &[(
            "source.recorded",
            "source:rok-mnd",
            "TLP:CLEAR",
            br#"{"id":"source:rok-mnd","title":"Ministry of National Defense","kind":"official"}"#,
        )],
    );
    append_batch(
        &mut records,
        LEDGER,
        &admin,
        at(180),
        corr(13),
        &[
            (
                "key.registered",
                producer2.id(),
                "TLP:CLEAR",
                &key_registered_as(&producer2, Role::Producer),
            ),
            (
                "key.revoked",
                producer.id(),
                "TLP:CLEAR",
                &key_revoked(producer.id(), "rotated"),
            ),
        ],
    );
    records
}

/// One forged batch appended to a vector ledger, and the failures it must cause.
struct RoleCase {
    name: &'static str,
    what: &'static str,
    /// Index into [`role_signers`] of the key sealing the batch.
    signer: usize,
    events: Vec<(&'static str, String, Vec<u8>)>,
    /// The seq (within the case's ledger) and kind of each expected failure.
    failures: Vec<(u64, FailureKind)>,
    /// Whether the batch goes on the golden ledger (format version 1 rules) instead.
    on_v1_ledger: bool,
}

fn role_cases() -> Vec<RoleCase> {
    use dossier_chain::Role;
    let [founder, admin, _, _, _] = role_signers();
    let revoke =
        |s: &Signer, why: &str| ("key.revoked", s.id().to_owned(), key_revoked(s.id(), why));
    let stranger = Signer::from_secret([8; 32], "stranger");
    let register = |role| {
        (
            "key.registered",
            stranger.id().to_owned(),
            common::key_registered_as(&stranger, role),
        )
    };
    let source = (
        "source.recorded",
        "source:forged".to_owned(),
        br#"{"id":"source:forged","title":"Forged","kind":"official"}"#.to_vec(),
    );
    let grant = (
        "access.granted",
        "grant:forged".to_owned(),
        br#"{"grant":"forged"}"#.to_vec(),
    );
    // The roles ledger has 11 records: a forged batch of n events puts its seal at 12 + n.
    vec![
        RoleCase {
            name: "producer_revokes",
            what: "the producer key revokes the admin key",
            signer: 4,
            events: vec![revoke(&admin, "coup")],
            failures: vec![(13, FailureKind::RoleViolation)],
            on_v1_ledger: false,
        },
        RoleCase {
            name: "producer_registers",
            what: "the producer key registers a key",
            signer: 4,
            events: vec![register(Role::Admin)],
            failures: vec![(13, FailureKind::RoleViolation)],
            on_v1_ledger: false,
        },
        RoleCase {
            name: "producer_grants",
            what: "the producer key seals an access.granted record",
            signer: 4,
            events: vec![grant],
            failures: vec![(13, FailureKind::RoleViolation)],
            on_v1_ledger: false,
        },
        RoleCase {
            name: "log_key_seals",
            what: "the log key seals a domain event",
            signer: 3,
            events: vec![source],
            failures: vec![(13, FailureKind::RoleViolation)],
            on_v1_ledger: false,
        },
        RoleCase {
            name: "admin_revokes_founding_key",
            what: "the admin key revokes the founding key",
            signer: 1,
            events: vec![revoke(&founder, "coup")],
            failures: vec![(13, FailureKind::RoleViolation)],
            on_v1_ledger: false,
        },
        RoleCase {
            name: "admin_revokes_last_admin",
            what: "the admin key revokes itself, the last admin key",
            signer: 1,
            events: vec![revoke(&admin, "leaving")],
            failures: vec![(13, FailureKind::RoleViolation)],
            on_v1_ledger: false,
        },
        RoleCase {
            name: "founding_key_revokes_last_admin",
            what: "the founding key revokes the last admin key (allowed: the founding key still administers)",
            signer: 0,
            events: vec![revoke(&admin, "left the team")],
            failures: vec![],
            on_v1_ledger: false,
        },
        RoleCase {
            name: "no_administrator_left",
            what: "the founding key revokes the admin key and itself, leaving no key able to administer",
            signer: 0,
            events: vec![revoke(&admin, "left"), revoke(&founder, "retired")],
            failures: vec![(14, FailureKind::RoleViolation)],
            on_v1_ledger: false,
        },
        RoleCase {
            name: "role_in_schema_1",
            what: "a key.registered of schema 1 carrying a role (and schema 2 is the one with a role)",
            signer: 0,
            events: vec![(
                "key.registered/1",
                stranger.id().to_owned(),
                common::key_registered_as(&stranger, Role::Producer),
            )],
            failures: vec![(12, FailureKind::BadKeyEvent)],
            on_v1_ledger: false,
        },
        RoleCase {
            name: "v1_key_revokes_founding_key",
            what: "on the golden ledger (no roles: format version 1 rules), key 3 revokes the founding key (allowed there)",
            signer: 5,
            events: vec![revoke(&founder, "old rules")],
            failures: vec![],
            on_v1_ledger: true,
        },
    ]
}

/// The records of one case: its base ledger and the forged batch, built with the chain's
/// builder (schema given as `type/schema` when it is not the body's own).
fn build_role_case(case: &RoleCase) -> Vec<EncodedRecord> {
    let mut records = if case.on_v1_ledger {
        build()
    } else {
        build_roles()
    };
    let (_, _, third) = signers();
    let keys = role_signers();
    let signer = if case.signer == 5 {
        &third
    } else {
        &keys[case.signer]
    };
    let head = common::head_of(&records);
    let mut b = dossier_chain::BatchBuilder::new(LEDGER, &head, at(600), signer, corr(20));
    for (ty, entity, body) in &case.events {
        let (ty, schema) = match ty.split_once('/') {
            Some((t, s)) => (t, s.parse().unwrap()),
            None => (
                *ty,
                serde_json::from_slice::<dossier_chain::KeyRegistered>(body)
                    .map_or(1, |k| k.schema()),
            ),
        };
        b.push(ty, schema, entity, "TLP:CLEAR", body).unwrap();
    }
    records.extend(b.seal().unwrap());
    records
}

fn verify_records(records: &[EncodedRecord]) -> Vec<(u64, FailureKind)> {
    let report = verify(
        &stored(records, false),
        TrustRoot::Pinned(role_signers()[0].public()),
    );
    report.failures.iter().map(|f| (f.seq, f.kind)).collect()
}

#[test]
fn roles_vectors() {
    let records = build_roles();
    compare_or_bless("roles.jsonl", &jsonl(&records));
    assert_eq!(
        verify_records(&records),
        vec![],
        "the roles ledger verifies"
    );
    let key = |s: &Signer, secret: [u8; 32], role: &str| json!({"name": s.name(), "role": role, "secret": hex::encode(secret), "public": s.public_hex(), "key_id": s.id()});
    let [founder, admin, producer, log, producer2] = role_signers();
    let cases: Vec<Value> = role_cases()
        .iter()
        .map(|case| {
            let all = build_role_case(case);
            let base = if case.on_v1_ledger { 16 } else { records.len() };
            let found = verify_records(&all);
            assert_eq!(found, case.failures, "{}: {}", case.name, case.what);
            json!({
                "name": case.name,
                "description": case.what,
                "base": if case.on_v1_ledger { "ledger.jsonl" } else { "roles.jsonl" },
                "appended": all[base..].iter().map(|r| String::from_utf8(r.bytes.clone()).unwrap()).collect::<Vec<_>>(),
                "failures": case.failures.iter().map(|(seq, kind)| json!({"seq": seq, "kind": kind})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = json!({
        "description": "Golden vectors of the key roles (docs/FORMAT.md §5.3): roles.jsonl is a ledger whose founding key registers an admin, a producer and a log key (key.registered schema 2), whose producer seals a domain event and whose admin rotates the producer; pinned to the founding key it verifies. Each case appends the records listed (one sealed batch) to the base ledger named; pinned to the founding key it fails with exactly the failures listed. Generated by crates/dossier-chain/tests/golden.rs.",
        "founding_key": founder.public_hex(),
        "keys": [key(&founder, FOUNDER_SECRET, "founding"), key(&admin, ADMIN_SECRET, "admin"), key(&producer, PRODUCER_SECRET, "producer"), key(&log, LOG_SECRET, "log"), key(&producer2, PRODUCER_2_SECRET, "producer")],
        "head": records.last().unwrap().hash.to_hex(),
        "cases": cases,
    });
    let mut out = serde_json::to_vec_pretty(&doc).unwrap();
    out.push(b'\n');
    compare_or_bless("roles.json", &out);
}
