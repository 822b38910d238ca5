//! A SQLite ledger for the crates' tests (`dossier-http`, `dossier-notify`, `dossier-web`
//! include this file): a new ledger's genesis, the example bundles, publishing through the
//! ordinary path, and token grants as `dossier access grant` records them.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use dossier_access::{CredentialRequest, Expiry, GrantRequest, Granted, Role};
use dossier_chain::{Genesis, Signer};
use dossier_log::{EventLog, Publisher, SqliteLog, ledger};
use dossier_model::{KnownEntities, Marking, parse_bundle, validate};

/// The founding key of every test ledger, named `name` (the name its records carry).
pub fn founder(name: &str) -> Signer {
    Signer::from_secret([7; 32], name)
}

/// `ledger.db` in `dir`, holding only the genesis sealed by `signer`.
pub async fn new_ledger(dir: &Path, signer: &Signer) -> SqliteLog {
    let log = SqliteLog::open(&dir.join("ledger.db")).unwrap();
    let genesis = Genesis::build(
        uuid::Uuid::new_v4(),
        signer.name(),
        signer,
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    log.append(0, &genesis, &[]).await.unwrap();
    log
}

/// An example bundle's bytes (`examples/NAME`).
pub fn example(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name),
    )
    .unwrap()
}

/// Sets every `marking` in a bundle to `marking`.
pub fn remark(v: &mut serde_json::Value, marking: &str) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "marking" {
                    *x = serde_json::Value::String(marking.to_owned());
                } else {
                    remark(x, marking);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| remark(x, marking)),
        _ => {}
    }
}

/// Publishes bundles through the ordinary path (validated against the ledger and each other),
/// one batch each, sealed by `signer`.
pub async fn publish<L: EventLog>(log: &L, signer: &Signer, bundles: &[Vec<u8>]) {
    let genesis = ledger::genesis(log).await.unwrap().unwrap();
    let id: uuid::Uuid = genesis.ledger.parse().unwrap();
    let mut known = KnownEntities::default();
    for (i, bytes) in bundles.iter().enumerate() {
        let name = format!("bundle {i}");
        let parsed = parse_bundle(&name, bytes).unwrap();
        let refs = parsed.external_references();
        known.extend(ledger::known_entities(log, &refs).await.unwrap());
        let v = validate(&name, parsed, &known).unwrap();
        ledger::remember(&mut known, &v);
        let (events, texts) = ledger::pending_events(&v);
        Publisher::new(log, signer, id)
            .publish(&events, &texts)
            .await
            .unwrap();
    }
}

/// Records a token grant through the access flow, made at `at` and expiring `expiry`.
pub async fn grant_token<L: EventLog>(
    log: &L,
    signer: &Signer,
    name: &str,
    role: Role,
    clearance: Marking,
    at: time::OffsetDateTime,
    expiry: Expiry,
) -> Granted {
    let request = GrantRequest {
        principal: name.to_owned(),
        role,
        clearance,
        expiry,
        credential: CredentialRequest::Token,
    };
    let now = dossier_model::Timestamp::from_offset_datetime(at).unwrap();
    dossier_access::grant(log, signer, &request, now)
        .await
        .unwrap()
}

/// A question posed only at TLP:AMBER.
pub const AMBER_ONLY: &str = "question:test/amber-only";

/// Report 3 of the examples at TLP:AMBER (claims on questions of reports 1 and 2, a forecast
/// resolution), with a question of its own ([`AMBER_ONLY`]).
pub fn amber_bundle() -> Vec<u8> {
    let mut b: serde_json::Value = serde_json::from_slice(&example("03-follow-up.json")).unwrap();
    remark(&mut b, "TLP:AMBER");
    b["questions"] = serde_json::json!([{
        "id": AMBER_ONLY,
        "text": "Is this question visible below AMBER?",
        "kind": { "type": "boolean" }
    }]);
    serde_json::to_vec(&b).unwrap()
}
