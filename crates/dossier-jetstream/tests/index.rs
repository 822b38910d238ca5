//! The local event-id index is derived data: one that lost entries is detected and rebuilt
//! from the stream, so an event it forgot is still recognised (reliability gap 1).

use dossier_jetstream::{JetStreamConfig, JetStreamLog};
use dossier_log::conformance::{events, founder, init, verify_all};
use dossier_log::{EventLog as _, PublishOutcome, Publisher};
use dossier_testkit::NatsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_missing_a_bundles_ids_is_rebuilt_and_the_bundle_recognised() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let index = dir.path().join("p-index.db");
    let cfg = JetStreamConfig::new(server.url(), "index", index.clone());
    let log = JetStreamLog::open(&cfg).await.expect("open");
    let ledger = init(&log).await;
    let signer = founder();
    let p = Publisher::new(&log, &signer, ledger);
    for tag in ["a", "b", "c"] {
        p.publish(&events(tag, 4), &[]).await.expect("publish");
    }
    let head = log.head().await.expect("head");
    drop(log);
    // Batch "b" is records 8..=12: delete its four events' ids from the index, leaving the
    // watermark (and the stream) alone.
    let ids: Vec<Vec<u8>> = events("b", 4)
        .iter()
        .map(|e| {
            dossier_chain::event_id(&e.event_type, &e.entity_key)
                .0
                .to_vec()
        })
        .collect();
    {
        let conn = rusqlite::Connection::open(&index).expect("open the index");
        for id in &ids {
            assert_eq!(
                conn.execute("DELETE FROM event_ids WHERE id = ?1", [id])
                    .expect("delete"),
                1
            );
        }
    }
    let log = JetStreamLog::open(&cfg).await.expect("reopen");
    let outcome = Publisher::new(&log, &signer, ledger)
        .publish(&events("b", 4), &[])
        .await
        .expect("publish again");
    assert_eq!(outcome, PublishOutcome::AlreadyRecorded { events: 4 });
    assert_eq!(log.head().await.expect("head"), head, "nothing appended");
    assert_eq!(verify_all(&log).await, head.seq);
    let conn = rusqlite::Connection::open(&index).expect("open the index");
    let held: u64 = conn
        .query_row("SELECT count(*) FROM event_ids", [], |r| r.get(0))
        .expect("count");
    assert_eq!(held, head.seq, "the index was rebuilt whole");
}
