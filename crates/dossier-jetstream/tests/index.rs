//! The local event-id index is derived data: one that lost entries is detected and rebuilt
//! from the stream, so an event it forgot is still recognised (reliability gap 1), and so is an
//! index of an earlier version.

use dossier_jetstream::{JetStreamConfig, JetStreamLog};
use dossier_log::conformance::{events, founder, init, verify_all};
use dossier_log::{EventLog as _, PublishOutcome, Publisher};
use dossier_testkit::NatsServer;

/// A ledger on `server` with a bundle of four events published for each tag, its index closed
/// (the log dropped): the config to reopen it, the index file, the ledger id and the head.
async fn published(
    server: &NatsServer,
    dir: &std::path::Path,
    name: &str,
    tags: &[&str],
) -> (
    JetStreamConfig,
    std::path::PathBuf,
    uuid::Uuid,
    dossier_chain::Head,
) {
    let index = dir.join("p-index.db");
    let cfg = JetStreamConfig::new(server.url(), name, index.clone());
    let log = JetStreamLog::open(&cfg).await.expect("open");
    let ledger = init(&log).await;
    let signer = founder();
    let p = Publisher::new(&log, &signer, ledger);
    for tag in tags {
        p.publish(&events(tag, 4), &[]).await.expect("publish");
    }
    let head = log.head().await.expect("head");
    (cfg, index, ledger, head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_missing_a_bundles_ids_is_rebuilt_and_the_bundle_recognised() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (cfg, index, ledger, head) =
        published(&server, dir.path(), "index", &["a", "b", "c"]).await;
    let signer = founder();
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
        // The index keeps a row of ids per run of records: cut the four ids out of theirs.
        let conn = rusqlite::Connection::open(&index).expect("open the index");
        let rows: Vec<(u64, Vec<u8>)> = conn
            .prepare("SELECT first, ids FROM id_runs")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let mut cut = 0;
        for (first, blob) in rows {
            let kept: Vec<u8> = blob
                .chunks_exact(16)
                .filter(|id| !ids.iter().any(|gone| gone.as_slice() == *id))
                .flatten()
                .copied()
                .collect();
            cut += (blob.len() - kept.len()) / 16;
            conn.execute(
                "UPDATE id_runs SET ids = ?1 WHERE first = ?2",
                rusqlite::params![kept, first],
            )
            .expect("update");
        }
        assert_eq!(cut, 4, "the bundle's four ids were in the index");
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
        .query_row("SELECT sum(length(ids) / 16) FROM id_runs", [], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!(held, head.seq, "the index was rebuilt whole");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_of_the_per_event_version_is_rebuilt_from_the_stream() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (cfg, index, ledger, head) = published(&server, dir.path(), "legacy", &["a"]).await;
    let signer = founder();
    {
        // What an index of the earlier version held: a row per event id, and no id runs.
        let conn = rusqlite::Connection::open(&index).expect("open the index");
        conn.execute_batch(
            "CREATE TABLE event_ids (id BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
             DELETE FROM id_runs;",
        )
        .expect("make it look like the earlier version");
    }
    let log = JetStreamLog::open(&cfg).await.expect("reopen");
    let outcome = Publisher::new(&log, &signer, ledger)
        .publish(&events("a", 4), &[])
        .await
        .expect("publish again");
    assert_eq!(outcome, PublishOutcome::AlreadyRecorded { events: 4 });
    assert_eq!(log.head().await.expect("head"), head, "nothing appended");
    let conn = rusqlite::Connection::open(&index).expect("open the index");
    let (legacy, held): (u64, u64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'event_ids'),
                    (SELECT sum(length(ids) / 16) FROM id_runs)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("read the index");
    assert_eq!(
        (legacy, held),
        (0, head.seq),
        "rebuilt whole in the new form"
    );
}
