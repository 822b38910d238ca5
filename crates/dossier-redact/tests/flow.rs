//! Redactions recorded and texts erased through a real SQLite ledger: an interrupted
//! redaction (event recorded, text still stored) is answered as redacted and completed by the
//! next `redact`; bad input records nothing.
#![allow(clippy::unwrap_used, missing_docs)]

use dossier_chain::Hash;
use dossier_log::{EventLog as _, Publisher, SqliteLog, conformance, ledger};
use dossier_model::KnownEntities;
use dossier_redact::{Outcome, RedactBody, RedactErrorKind, Text, redact, text};

const EXAMPLE: &str = "../../examples/01-late-february-estimate.json";

/// A ledger holding the first example bundle; returns its report id and text hash.
async fn ledger(dir: &tempfile::TempDir) -> (SqliteLog, String, Hash) {
    let log = SqliteLog::open(&dir.path().join("ledger.db")).unwrap();
    let id = conformance::init(&log).await;
    let bytes =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(EXAMPLE)).unwrap();
    let bundle = dossier_model::parse_bundle("example", &bytes).unwrap();
    let validated = dossier_model::validate("example", bundle, &KnownEntities::default()).unwrap();
    let (events, texts) = ledger::pending_events(&validated);
    let hash = Hash::of_bytes(&texts[0]);
    Publisher::new(&log, &conformance::founder(), id)
        .publish(&events, &texts)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let report = v["report"]["id"].as_str().unwrap().to_owned();
    (log, report, hash)
}

#[tokio::test]
async fn an_interrupted_redaction_is_answered_as_redacted_and_completed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let (log, report, hash) = ledger(&dir).await;
    assert!(matches!(text(&log, &hash).await.unwrap(), Text::Stored(_)));
    // The event recorded, the erase never run (a crash between the two).
    let event = RedactBody {
        report: report.clone(),
        content_hash: hash.to_hex(),
        reason: "a court order".into(),
    }
    .event()
    .unwrap();
    let id = ledger::ledger_id(&log).await.unwrap().unwrap();
    Publisher::new(&log, &conformance::founder(), id)
        .publish(std::slice::from_ref(&event), &[])
        .await
        .unwrap();
    assert!(log.content(&hash).await.unwrap().is_some(), "still stored");
    let Text::Redacted(r) = text(&log, &hash).await.unwrap() else {
        panic!("a recorded redaction hides the text even while it is stored");
    };
    assert_eq!(r.reason, "a court order");
    assert_eq!(r.key, conformance::founder().id());
    let head = log.head().await.unwrap();
    let done = redact(&log, &conformance::founder(), &report, "another reason")
        .await
        .unwrap();
    assert_eq!(done.outcome, Outcome::Completed);
    assert_eq!(
        done.redaction.reason, "a court order",
        "the recorded reason"
    );
    assert_eq!(log.head().await.unwrap(), head, "nothing recorded twice");
    assert!(log.content(&hash).await.unwrap().is_none(), "erased now");
    let again = redact(&log, &conformance::founder(), &report, "x")
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::AlreadyRedacted);
    assert_eq!(log.head().await.unwrap(), head);
    conformance::verify_all(&log).await;
}

#[tokio::test]
async fn bad_input_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (log, report, hash) = ledger(&dir).await;
    let head = log.head().await.unwrap();
    let signer = conformance::founder();
    for (id, reason, kind) in [
        ("report:nobody/nothing", "why", RedactErrorKind::NotFound),
        (report.as_str(), "", RedactErrorKind::Invalid),
        (report.as_str(), "two\nlines", RedactErrorKind::Invalid),
        ("claim:x/y", "why", RedactErrorKind::Invalid),
        ("not an id", "why", RedactErrorKind::Invalid),
    ] {
        let e = redact(&log, &signer, id, reason).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{id} {reason:?}: {e}");
    }
    assert_eq!(log.head().await.unwrap(), head);
    assert!(matches!(text(&log, &hash).await.unwrap(), Text::Stored(_)));
}
