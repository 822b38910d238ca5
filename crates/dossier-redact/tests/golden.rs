//! Golden vector of the `report.redacted` record body, written to `docs/vectors/redact.json`
//! (`docs/FORMAT.md` §5.5). If the format changes on purpose, rewrite it with
//! `DOSSIER_BLESS=1 cargo test -p dossier-redact --test golden` and review the diff.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;

use dossier_chain::content_digest;
use dossier_redact::RedactBody;
use serde_json::{Value, json};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors/redact.json")
}

fn build() -> Vec<u8> {
    let text = "서울 — 6,700 containers, a source named here.";
    let body = RedactBody {
        report: "report:example-wire/2024-02-27-dprk-containers".to_owned(),
        content_hash: blake3::hash(text.as_bytes()).to_hex().to_string(),
        reason: "the text names a protected source (order 2026-17, 김민지)".to_owned(),
    };
    let e = body.event().unwrap();
    let doc = json!({
        "note": "Body of report.redacted (docs/FORMAT.md §5.5) for the report text `text` (UTF-8): its content hash is BLAKE3 of the text's bytes; entity `text:<hash>`; event id per §2.3; content digest per §2.3.",
        "text": text,
        "event": {
            "type": e.event_type,
            "schema": e.schema,
            "entity": e.entity_key,
            "marking": e.marking,
            "event_id": dossier_chain::event_id(&e.event_type, &e.entity_key).to_hex(),
            "body": String::from_utf8(e.body.clone()).unwrap(),
            "content_digest": content_digest(&e.marking, &e.body).to_hex(),
        },
    });
    let mut out = serde_json::to_vec_pretty(&doc).unwrap();
    out.push(b'\n');
    out
}

#[test]
fn redact_vector_matches() {
    dossier_testkit::golden::compare_or_bless(
        &vectors(),
        &build(),
        "The report.redacted body",
        "cargo test -p dossier-redact --test golden",
    );
}

#[test]
fn the_vector_reads_back_and_obeys_the_rules() {
    let doc: Value = serde_json::from_slice(&std::fs::read(vectors()).unwrap()).unwrap();
    let event = &doc["event"];
    let body: RedactBody = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    body.check().unwrap();
    assert_eq!(
        body.content_hash,
        blake3::hash(doc["text"].as_str().unwrap().as_bytes())
            .to_hex()
            .as_str()
    );
    assert_eq!(event["entity"], format!("text:{}", body.content_hash));
    assert_eq!(
        event["event_id"],
        dossier_redact::redaction_event_id(&body.content_hash).to_hex()
    );
    assert_eq!(event["marking"], "TLP:RED");
}
