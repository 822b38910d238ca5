//! Golden vectors of the access record bodies, written to `docs/vectors/access.json`
//! (`docs/FORMAT.md` §5.4). If the format changes on purpose, rewrite them with
//! `DOSSIER_BLESS=1 cargo test -p dossier-access --test golden` and review the diff.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;

use dossier_access::{
    CredentialRequest, Expiry, GrantBody, GrantRequest, RevokeBody, Role, new_grant, record,
};
use dossier_chain::content_digest;
use dossier_model::{Marking, Timestamp};
use serde_json::{Value, json};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors/access.json")
}

fn event_json(e: &dossier_log::PendingEvent) -> Value {
    let body = String::from_utf8(e.body.clone()).unwrap();
    json!({
        "type": e.event_type,
        "schema": e.schema,
        "entity": e.entity_key,
        "marking": e.marking,
        "event_id": dossier_chain::event_id(&e.event_type, &e.entity_key).to_hex(),
        "body": body,
        "content_digest": content_digest(&e.marking, &e.body).to_hex(),
    })
}

fn build() -> Vec<u8> {
    let now = Timestamp::parse("2026-01-01T00:00:00.25Z").unwrap();
    let token_grant = GrantRequest {
        principal: "analyst-1 (김민지)".to_owned(),
        role: Role::Reader,
        clearance: Marking::Amber,
        expiry: Expiry::default(),
        credential: CredentialRequest::Token,
    };
    let (body, token) = new_grant(&token_grant, now, [0x11; 16], [0x22; 32]).unwrap();
    let token = token.unwrap();
    let cert_grant = GrantRequest {
        principal: "consumer-service".to_owned(),
        role: Role::Auditor,
        clearance: Marking::Red,
        expiry: Expiry::Never,
        credential: CredentialRequest::Certificate {
            spki_sha256: [0x33; 32],
        },
    };
    let (cert_body, none) = new_grant(&cert_grant, now, [0x44; 16], [0x55; 32]).unwrap();
    assert!(none.is_none());
    let revoke = RevokeBody {
        grant: body.grant.clone(),
        reason: "left the team".to_owned(),
    };
    let doc = json!({
        "note": "Bodies of access.granted and access.revoked (docs/FORMAT.md §5.4). The token grant is made at `now` with the default expiry (90 days, whole seconds) from grant id bytes 16 x 0x11 and token bytes 32 x 0x22; the certificate grant from grant id bytes 16 x 0x44 and a certificate whose SubjectPublicKeyInfo hashes to 32 x 0x33.",
        "now": now,
        "token_grant": {
            "token": token,
            "token_sha256": hex::encode(record::token_sha256(&token)),
            "event": event_json(&body.event().unwrap()),
        },
        "certificate_grant": {
            "event": event_json(&cert_body.event().unwrap()),
        },
        "revocation": {
            "event": event_json(&revoke.event().unwrap()),
        },
    });
    let mut out = serde_json::to_vec_pretty(&doc).unwrap();
    out.push(b'\n');
    out
}

#[test]
fn access_vectors_match() {
    dossier_testkit::golden::compare_or_bless(
        &vectors(),
        &build(),
        "Each access record body",
        "cargo test -p dossier-access --test golden",
    );
}

#[test]
fn vector_bodies_read_back_and_obey_the_rules() {
    let doc: Value = serde_json::from_slice(&std::fs::read(vectors()).unwrap()).unwrap();
    let grant_event = &doc["token_grant"]["event"];
    let body: GrantBody = serde_json::from_str(grant_event["body"].as_str().unwrap()).unwrap();
    body.check().unwrap();
    assert_eq!(
        body.expires,
        Some(Timestamp::parse("2026-04-01T00:00:00Z").unwrap())
    );
    assert_eq!(grant_event["entity"], format!("grant:{}", body.grant));
    // The token's hash, from the text alone.
    let token = doc["token_grant"]["token"].as_str().unwrap();
    assert_eq!(
        body.credential.hash_hex(),
        doc["token_grant"]["token_sha256"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes())),
        body.credential.hash_hex()
    );
    let cert: GrantBody =
        serde_json::from_str(doc["certificate_grant"]["event"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(cert.expires, None);
    let revoke: RevokeBody =
        serde_json::from_str(doc["revocation"]["event"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(revoke.grant, body.grant);
    // Unknown members are refused.
    let mut extra: Value = serde_json::from_str(grant_event["body"].as_str().unwrap()).unwrap();
    extra["note"] = json!("x");
    assert!(serde_json::from_value::<GrantBody>(extra).is_err());
}
