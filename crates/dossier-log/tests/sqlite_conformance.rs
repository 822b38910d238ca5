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

/// An event id recorded by one process is refused by another that loaded its ids before, and
/// found after a reopen: the in-memory index catches up inside each append's write lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_refused_across_handles_and_reopens() {
    use dossier_chain::event_id;
    use dossier_log::conformance::{events, founder, init};
    use dossier_log::{AppendError, EventLog as _, Publisher};

    let f = fresh().await;
    let path = f.log.path().to_owned();
    let ledger = init(&f.log).await;
    let signer = founder();
    // A second handle on the same file, with its index loaded now (before the batches below).
    let other = SqliteLog::open(&path).expect("second handle");
    assert_eq!(
        other.lookup(&[event_id("x", "y")]).await.expect("lookup"),
        vec![None]
    );
    let p = Publisher::new(&f.log, &signer, ledger).optimistic(true);
    for b in 0..3 {
        p.publish(&events(&format!("m{b}"), 999), &[])
            .await
            .expect("publish");
    }
    let early = events("m0", 1);
    let id = event_id(&early[0].event_type, &early[0].entity_key);
    assert_eq!(
        other.lookup(&[id]).await.expect("lookup")[0].map(|e| e.seq),
        Some(3),
        "the other handle sees what this one appended"
    );
    let head = other.head().await.expect("head");
    let records = dossier_log::seal_batch(ledger, &head, &signer, &early[..1]).expect("batch");
    let err = other
        .append(head.seq, &records, &[])
        .await
        .expect_err("duplicate");
    assert!(matches!(err, AppendError::DuplicateEvent(_)), "{err:?}");
    drop(other);
    let Fixture { log, guard } = f;
    drop(log);
    let reopened = SqliteLog::open(&path).expect("reopen");
    assert_eq!(reopened.head().await.expect("head"), head);
    let err = reopened
        .append(head.seq, &records, &[])
        .await
        .expect_err("duplicate after a reopen");
    assert!(matches!(err, AppendError::DuplicateEvent(_)), "{err:?}");
    assert_eq!(
        Publisher::new(&reopened, &signer, ledger)
            .publish(&early, &[])
            .await
            .expect("republish"),
        dossier_log::PublishOutcome::AlreadyRecorded { events: 1 }
    );
    assert_eq!(
        dossier_log::conformance::verify_all(&reopened).await,
        head.seq
    );
    drop(guard);
}

/// The file says its layout (user_version 2, framing dossier-batch/1), holds one row per
/// batch, and the `events` view and the triggers work from plain SQLite with no extension (the
/// `sqlite3` shell when installed, and rusqlite's bundled SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layout_view_and_triggers_in_plain_sqlite() {
    use dossier_log::conformance::{events, founder, init};
    use dossier_log::{EventLog as _, Publisher};

    let f = fresh().await;
    let path = f.log.path().to_owned();
    let ledger = init(&f.log).await;
    let mut batch = events("view", 3);
    batch[1].body = b"{\"text\":\n\"after a raw newline\"}".to_vec();
    Publisher::new(&f.log, &founder(), ledger)
        .publish(&batch, &[])
        .await
        .expect("publish");
    let conn = rusqlite::Connection::open(&path).expect("open");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, dossier_log::LAYOUT_BATCHES);
    let framing: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'framing'", [], |r| {
            r.get(0)
        })
        .expect("framing");
    assert_eq!(framing, dossier_chain::BATCH_FRAMING);
    let batches: Vec<(i64, i64)> = conn
        .prepare("SELECT first, count FROM batches ORDER BY first")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(batches, vec![(1, 2), (3, 4)]);
    let rows: Vec<(i64, String, Option<String>, String)> = conn
        .prepare("SELECT seq, type, entity, hash FROM events ORDER BY seq")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0].1, "ledger.genesis");
    assert_eq!(
        (rows[3].1.as_str(), rows[3].2.as_deref()),
        ("test.event", Some("test:view/1"))
    );
    assert_eq!(rows[5].1, "batch.seal");
    let stored = f.log.read(4, 1).await.expect("read");
    assert_eq!(
        rows[3].3,
        dossier_chain::Hash::of_record(&stored[0].bytes).to_hex()
    );
    let body: String = conn
        .query_row("SELECT body FROM events WHERE seq = 4", [], |r| r.get(0))
        .expect("body");
    assert_eq!(body, "{\"text\":\"after a raw newline\"}");
    for sql in [
        "UPDATE batches SET frame = x'00' WHERE first = 3",
        "DELETE FROM batches WHERE first = 3",
        "UPDATE records SET length = 1 WHERE seq = 4",
        "DELETE FROM records WHERE seq = 6",
    ] {
        let err = conn.execute(sql, []).expect_err(sql);
        assert!(
            err.to_string().contains("dossier records are immutable"),
            "{sql}: {err}"
        );
    }
    drop(conn);
    // The stock shell, where there is one (the same checks through its own SQLite build).
    if let Ok(out) = std::process::Command::new("sqlite3")
        .arg(&path)
        .arg("SELECT seq || ' ' || type || ' ' || coalesce(entity, '-') FROM events WHERE seq BETWEEN 3 AND 6 ORDER BY seq;")
        .output()
    {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "3 test.event test:view/0\n4 test.event test:view/1\n5 test.event test:view/2\n"
                .to_owned()
                + &format!("6 batch.seal {}\n", rows_entity(&rows[5]))
        );
    }
}

fn rows_entity(row: &(i64, String, Option<String>, String)) -> String {
    row.2.clone().unwrap_or_else(|| "-".into())
}
