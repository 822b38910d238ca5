//! The SQLite backend against the backend conformance suite.

use dossier_log::SqliteLog;
use dossier_log::conformance::Fixture;

async fn fresh() -> Fixture<SqliteLog> {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = SqliteLog::open(&dir.path().join("ledger.db")).expect("open");
    Fixture {
        log,
        guard: Box::new(dir),
    }
}

dossier_log::conformance_suite!(fresh);

/// Past the recent level's merge threshold, ids live in the large level: they must still be
/// found, and re-appending one must still be refused whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_levels_merge_and_still_refuse_duplicates() {
    use dossier_chain::event_id;
    use dossier_log::conformance::{events, founder, init};
    use dossier_log::{AppendError, EventLog as _, Publisher};

    let f = fresh().await;
    let ledger = init(&f.log).await;
    let signer = founder();
    let p = Publisher::new(&f.log, &signer, ledger).optimistic(true);
    for b in 0..21 {
        p.publish(&events(&format!("m{b}"), 999), &[])
            .await
            .expect("publish");
    }
    let early = events("m0", 1);
    let found = f
        .log
        .lookup(&[event_id(&early[0].event_type, &early[0].entity_key)])
        .await
        .expect("lookup");
    assert_eq!(
        found[0].map(|e| e.seq),
        Some(3),
        "an id merged into the large level is found"
    );

    let head = f.log.head().await.expect("head");
    let records = dossier_log::seal_batch(ledger, &head, &signer, &early[..1]).expect("batch");
    let err = f
        .log
        .append(head.seq, &records, &[])
        .await
        .expect_err("duplicate");
    assert!(matches!(err, AppendError::DuplicateEvent(_)), "{err:?}");
    assert_eq!(f.log.head().await.expect("head"), head);
    assert_eq!(
        p.publish(&early, &[]).await.expect("republish"),
        dossier_log::PublishOutcome::AlreadyRecorded { events: 1 }
    );
    assert_eq!(dossier_log::conformance::verify_all(&f.log).await, head.seq);
}
