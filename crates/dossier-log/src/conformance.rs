//! The conformance suite every [`EventLog`] backend must pass.
//!
//! A backend crate instantiates it with [`conformance_suite!`](crate::conformance_suite),
//! giving an async constructor of a fresh, empty log wrapped in a [`Fixture`]:
//!
//! ```text
//! dossier_log::conformance_suite!(|| async { my_backend_fixture().await });
//! ```
//!
//! Each case is an ordinary `#[tokio::test]`, so failures name the case.

use std::sync::Arc;
use std::time::Duration;

use dossier_chain::{BatchBuilder, Genesis, Hash, Head, Signer, TrustRoot, event_id};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{AppendError, EventLog, PendingEvent, PublishOutcome, Publisher};

/// A fresh log plus whatever must live as long as it (a temporary directory, a server).
pub struct Fixture<L> {
    /// The log under test.
    pub log: L,
    /// Dropped after the log.
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

/// The founding key every case uses (fixed, so failures are reproducible).
#[must_use]
pub fn founder() -> Signer {
    Signer::from_secret([42; 32], "conformance founder")
}

/// Writes the genesis batch and returns the ledger id.
///
/// # Panics
/// If the backend refuses it.
pub async fn init<L: EventLog>(log: &L) -> Uuid {
    let ledger = Uuid::new_v4();
    let records = Genesis::build(ledger, "conformance", &founder(), OffsetDateTime::now_utc())
        .expect("genesis");
    log.append(0, &records, &[]).await.expect("append genesis");
    ledger
}

/// `n` test events of about 600 bytes each, with keys prefixed by `tag`.
#[must_use]
pub fn events(tag: &str, n: usize) -> Vec<PendingEvent> {
    (0..n)
        .map(|i| PendingEvent {
            event_type: "test.event".into(),
            schema: 1,
            entity_key: format!("test:{tag}/{i}"),
            marking: "TLP:CLEAR".into(),
            body: format!(r#"{{"tag":"{tag}","n":{i},"pad":"{}"}}"#, "x".repeat(520)).into_bytes(),
        })
        .collect()
}

/// Verifies the whole log against the conformance founder and returns the record count.
///
/// # Panics
/// If verification fails.
pub async fn verify_all<L: EventLog>(log: &L) -> u64 {
    let report = crate::verify_log(log, TrustRoot::Pinned(founder().public()), |_| {})
        .await
        .expect("read");
    assert!(report.ok(), "verification failed: {:?}", report.failures);
    report.records
}

/// An empty log has the empty head and reads nothing.
pub async fn empty_log<L: EventLog>(f: Fixture<L>) {
    assert_eq!(f.log.head().await.expect("head"), Head::empty());
    assert!(f.log.read(1, 10).await.expect("read").is_empty());
    assert_eq!(
        f.log.lookup(&[event_id("x", "y")]).await.expect("lookup"),
        vec![None]
    );
}

/// Appended bytes come back exactly, with the head, index and content store updated.
pub async fn append_and_read_back<L: EventLog>(f: Fixture<L>) {
    let log = &f.log;
    let ledger = init(log).await;
    let head = log.head().await.expect("head");
    assert_eq!(head.seq, 2);
    let signer = founder();
    let records = crate::seal_batch(ledger, &head, &signer, &events("a", 3)).expect("batch");
    let text = "신원식 said so.".as_bytes().to_vec();
    let receipt = log
        .append(2, &records, std::slice::from_ref(&text))
        .await
        .expect("append");
    assert_eq!((receipt.first, receipt.last), (3, 6));
    let back = log.read(3, 10).await.expect("read");
    assert_eq!(back.len(), 4);
    for (r, s) in records.iter().zip(&back) {
        assert_eq!(s.position, r.seq);
        assert_eq!(s.bytes, r.bytes, "stored bytes must be returned exactly");
    }
    let head = log.head().await.expect("head");
    assert_eq!((head.seq, head.hash), (6, records[3].hash));
    assert_eq!(head.recorded.as_deref(), Some(records[3].recorded.as_str()));
    let found = log
        .lookup(&[records[1].event_id, event_id("test.event", "nope")])
        .await
        .expect("lookup");
    let e = &events("a", 3)[1];
    assert_eq!(found[0].map(|f| (f.seq, f.digest)), Some((4, e.digest())));
    assert_eq!(found[1], None);
    assert_eq!(
        log.content(&Hash::of_bytes(&text)).await.expect("content"),
        Some(text)
    );
    assert_eq!(
        log.content(&Hash::of_bytes(b"absent"))
            .await
            .expect("content"),
        None
    );
    assert_eq!(log.read(5, 1).await.expect("read").len(), 1);
    assert_eq!(verify_all(log).await, 6);
}

/// A batch built on a stale head is refused and stores nothing.
pub async fn stale_head_conflicts<L: EventLog>(f: Fixture<L>) {
    let log = &f.log;
    let ledger = init(log).await;
    let signer = founder();
    let stale = Head::empty();
    let mut b = BatchBuilder::new(
        ledger,
        &stale,
        OffsetDateTime::now_utc(),
        &signer,
        Uuid::new_v4(),
    );
    b.push("test.event", 1, "test:x", "TLP:CLEAR", b"{}")
        .expect("push");
    let records = b.seal().expect("seal");
    let err = log
        .append(0, &records, &[])
        .await
        .expect_err("must conflict");
    assert!(
        matches!(
            err,
            AppendError::Conflict {
                expected: 0,
                actual: 2
            }
        ),
        "{err:?}"
    );
    assert_eq!(log.head().await.expect("head").seq, 2);
    assert_eq!(verify_all(log).await, 2);
}

/// A batch whose event id is already recorded is refused whole.
pub async fn duplicate_event_refused_whole<L: EventLog>(f: Fixture<L>) {
    let log = &f.log;
    let ledger = init(log).await;
    let signer = founder();
    Publisher::new(log, &signer, ledger)
        .publish(&events("dup", 2), &[])
        .await
        .expect("publish");
    let head = log.head().await.expect("head");
    let records = crate::seal_batch(
        ledger,
        &head,
        &signer,
        events("new", 2).iter().chain(&events("dup", 1)),
    )
    .expect("batch");
    let err = log
        .append(head.seq, &records, &[])
        .await
        .expect_err("duplicate id");
    assert!(matches!(err, AppendError::DuplicateEvent(_)), "{err:?}");
    assert_eq!(
        log.head().await.expect("head"),
        head,
        "nothing of the batch may be stored"
    );
    assert!(
        log.lookup(&[event_id("test.event", "test:new/0")])
            .await
            .expect("lookup")[0]
            .is_none()
    );
}

/// Publishing the same events twice appends nothing the second time; changed content conflicts.
pub async fn publish_is_idempotent<L: EventLog>(f: Fixture<L>) {
    let log = &f.log;
    let ledger = init(log).await;
    let signer = founder();
    let p = Publisher::new(log, &signer, ledger);
    let evs = events("idem", 5);
    let first = p.publish(&evs, &[]).await.expect("publish");
    assert!(
        matches!(
            first,
            PublishOutcome::Appended {
                first: 3,
                last: 8,
                appended: 5,
                already_recorded: 0,
                ..
            }
        ),
        "{first:?}"
    );
    let again = p.publish(&evs, &[]).await.expect("republish");
    assert_eq!(again, PublishOutcome::AlreadyRecorded { events: 5 });
    let mut more = evs.clone();
    more.extend(events("idem2", 1));
    let partial = p.publish(&more, &[]).await.expect("publish superset");
    assert!(
        matches!(
            partial,
            PublishOutcome::Appended {
                appended: 1,
                already_recorded: 5,
                ..
            }
        ),
        "{partial:?}"
    );
    let mut changed = evs[..1].to_vec();
    changed[0].body = br#"{"changed":true}"#.to_vec();
    let head = log.head().await.expect("head");
    let err = p.publish(&changed, &[]).await.expect_err("conflict");
    assert!(err.to_string().contains("different content"), "{err}");
    assert_eq!(log.head().await.expect("head"), head);
    let mut remarked = evs[..1].to_vec();
    remarked[0].marking = "TLP:RED".into();
    let err = p
        .publish(&remarked, &[])
        .await
        .expect_err("a changed marking is a change");
    assert!(err.to_string().contains("different content"), "{err}");
    assert_eq!(log.head().await.expect("head"), head);
    assert_eq!(verify_all(log).await, 10);
}

/// Readers waiting for new records wake up when a batch lands.
pub async fn wait_for_new_records<L: EventLog + 'static>(f: Fixture<L>) {
    let log = Arc::new(f.log);
    let ledger = init(log.as_ref()).await;
    assert_eq!(
        log.wait_for(2, Duration::from_millis(50))
            .await
            .expect("wait"),
        2
    );
    let writer = {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let signer = founder();
            Publisher::new(log.as_ref(), &signer, ledger)
                .publish(&events("w", 1), &[])
                .await
                .expect("publish");
        })
    };
    let seq = log
        .wait_for(2, Duration::from_secs(10))
        .await
        .expect("wait");
    assert_eq!(seq, 4);
    writer.await.expect("writer");
    drop(f.guard);
}

/// Several producers publishing at once produce one valid chain with every event once.
pub async fn concurrent_producers<L: EventLog + 'static>(f: Fixture<L>) {
    const PRODUCERS: usize = 4;
    const BATCHES: usize = 10;
    const PER_BATCH: usize = 5;
    let log = Arc::new(f.log);
    let ledger = init(log.as_ref()).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(PRODUCERS));
    let mut tasks = Vec::new();
    for p in 0..PRODUCERS {
        let log = Arc::clone(&log);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let signer = founder();
            let publisher = Publisher::new(log.as_ref(), &signer, ledger);
            barrier.wait().await;
            for b in 0..BATCHES {
                publisher
                    .publish(&events(&format!("p{p}b{b}"), PER_BATCH), &[])
                    .await
                    .expect("publish");
            }
        }));
    }
    for t in tasks {
        t.await.expect("producer");
    }
    let total = verify_all(log.as_ref()).await;
    assert_eq!(total, 2 + (PRODUCERS * BATCHES * (PER_BATCH + 1)) as u64);
    for p in 0..PRODUCERS {
        for b in 0..BATCHES {
            let ids: Vec<_> = events(&format!("p{p}b{b}"), PER_BATCH)
                .iter()
                .map(|e| event_id(&e.event_type, &e.entity_key))
                .collect();
            assert!(
                log.lookup(&ids)
                    .await
                    .expect("lookup")
                    .iter()
                    .all(Option::is_some)
            );
        }
    }
    drop(f.guard);
}

/// Pipelined publishing appends every batch in order, and falls back to checked publishing
/// when a batch is already recorded or another producer gets in between.
pub async fn publish_all_pipelines_and_falls_back<L: EventLog + 'static>(f: Fixture<L>) {
    let log = Arc::new(f.log);
    let ledger = init(log.as_ref()).await;
    let signer = founder();
    let p = Publisher::new(log.as_ref(), &signer, ledger).optimistic(true);
    let batches: Vec<_> = (0..12)
        .map(|b| (events(&format!("pa{b}"), 20), Vec::new()))
        .collect();
    let outcomes = p.publish_all(batches.clone()).await.expect("publish_all");
    assert_eq!(outcomes.len(), 12);
    for (i, o) in outcomes.iter().enumerate() {
        let first = 3 + 21 * i as u64;
        assert_eq!(
            *o,
            PublishOutcome::Appended {
                first,
                last: first + 20,
                appended: 20,
                already_recorded: 0,
                retries: 0
            },
            "batch {i}"
        );
    }
    // Already-recorded batches in the middle of a pipelined run are no-ops.
    let mut mixed: Vec<_> = (0..6)
        .map(|b| (events(&format!("pb{b}"), 20), Vec::new()))
        .collect();
    mixed[2] = batches[3].clone();
    mixed[4] = batches[5].clone();
    let outcomes = p.publish_all(mixed).await.expect("publish_all mixed");
    assert_eq!(outcomes[2], PublishOutcome::AlreadyRecorded { events: 20 });
    assert_eq!(outcomes[4], PublishOutcome::AlreadyRecorded { events: 20 });
    assert!(
        outcomes
            .iter()
            .filter(|o| matches!(o, PublishOutcome::Appended { .. }))
            .count()
            == 4
    );
    // Another producer racing the pipeline.
    let other = {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            let signer = founder();
            let q = Publisher::new(log.as_ref(), &signer, ledger);
            for b in 0..10 {
                q.publish(&events(&format!("pc{b}"), 5), &[])
                    .await
                    .expect("racing publish");
            }
        })
    };
    let racing: Vec<_> = (0..10)
        .map(|b| (events(&format!("pd{b}"), 50), Vec::new()))
        .collect();
    let outcomes = p.publish_all(racing).await.expect("publish_all racing");
    other.await.expect("other producer");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, PublishOutcome::Appended { appended: 50, .. }))
    );
    let total = verify_all(log.as_ref()).await;
    assert_eq!(total, 2 + 12 * 21 + 4 * 21 + 10 * 6 + 10 * 51);
    drop(f.guard);
}

/// `publish_each` tells of every batch in order as it is committed, with the outcome
/// `publish_all` would give; once stopped it commits no further batch, and the batches it did
/// not commit are published whole by the next run.
pub async fn publish_each_reports_each_batch_and_stops<L: EventLog + 'static>(f: Fixture<L>) {
    let log = Arc::new(f.log);
    let ledger = init(log.as_ref()).await;
    let signer = founder();
    let p = Publisher::new(log.as_ref(), &signer, ledger).optimistic(true);
    let batches: Vec<_> = (0..12)
        .map(|b| (events(&format!("pe{b}"), 20), Vec::new()))
        .collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut told = Vec::new();
    let published = p
        .publish_each(batches.clone(), &stop, |i, outcome| {
            // What a signal handler would do while batch 4 is being appended.
            if i == 4 {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            told.push((i, outcome));
        })
        .await
        .expect("publish_each");
    assert_eq!(published, 5, "no batch is committed after the stop");
    for (n, (i, outcome)) in told.iter().enumerate() {
        let first = 3 + 21 * n as u64;
        assert_eq!(*i, n, "in order");
        assert_eq!(
            *outcome,
            PublishOutcome::Appended {
                first,
                last: first + 20,
                appended: 20,
                already_recorded: 0,
                retries: 0
            }
        );
    }
    assert_eq!(told.len(), 5);
    assert_eq!(verify_all(log.as_ref()).await, 2 + 5 * 21);
    let outcomes = p.publish_all(batches).await.expect("publish_all");
    for (i, o) in outcomes.iter().enumerate() {
        if i < 5 {
            assert_eq!(
                *o,
                PublishOutcome::AlreadyRecorded { events: 20 },
                "batch {i}"
            );
        } else {
            assert!(
                matches!(o, PublishOutcome::Appended { appended: 20, .. }),
                "batch {i}: {o:?}"
            );
        }
    }
    assert_eq!(verify_all(log.as_ref()).await, 2 + 12 * 21);
    drop(f.guard);
}

/// Instantiates every conformance case as a `#[tokio::test]` for a backend.
///
/// `$make` is an expression that, when called, returns a future of a [`Fixture`].
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_empty_log() {
            $crate::conformance::empty_log(($make)().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_append_and_read_back() {
            $crate::conformance::append_and_read_back(($make)().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_stale_head_conflicts() {
            $crate::conformance::stale_head_conflicts(($make)().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_duplicate_event_refused_whole() {
            $crate::conformance::duplicate_event_refused_whole(($make)().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_publish_is_idempotent() {
            $crate::conformance::publish_is_idempotent(($make)().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_wait_for_new_records() {
            $crate::conformance::wait_for_new_records(($make)().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_publish_all_pipelines_and_falls_back() {
            $crate::conformance::publish_all_pipelines_and_falls_back(($make)().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_publish_each_reports_each_batch_and_stops() {
            $crate::conformance::publish_each_reports_each_batch_and_stops(($make)().await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_concurrent_producers() {
            $crate::conformance::concurrent_producers(($make)().await).await;
        }
    };
}
