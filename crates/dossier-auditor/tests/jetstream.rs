//! The auditor on a real JetStream server: the stream's history is rewritten behind its back
//! with the admin API (the stream deleted and recreated with only its first batches, copied
//! byte for byte; then re-grown with other, validly signed batches) and the auditor catches
//! both the truncation and the fork.

#![allow(clippy::unwrap_used, missing_docs)]

use dossier_auditor::{status, Auditor, Options, Report};
use dossier_chain::{control, BatchBuilder, EncodedRecord, EventId, Genesis, Hash, RecordView, Signer, StoredRecord, TrustRoot};
use dossier_jetstream::{JetStreamConfig, JetStreamLog};
use dossier_log::EventLog as _;
use dossier_testkit::NatsServer;
use uuid::Uuid;

fn founder() -> Signer {
    Signer::from_secret([1; 32], "founder")
}

async fn open(url: &str, dir: &std::path::Path, index: &str) -> JetStreamLog {
    JetStreamLog::open(&JetStreamConfig::new(url, "audit", dir.join(format!("{index}-index.db")))).await.unwrap()
}

async fn batch(log: &JetStreamLog, ledger: Uuid, tag: &str, n: usize) -> u64 {
    let head = log.head().await.unwrap();
    let signer = founder();
    let mut b = BatchBuilder::new(ledger, &head, time::OffsetDateTime::now_utc(), &signer, Uuid::new_v4());
    for i in 0..n {
        let body = format!("{{\"note\":\"{tag} {i}\"}}");
        b.push("note.recorded", 1, &format!("note:{tag}/{i}"), "TLP:GREEN", body.as_bytes()).unwrap();
    }
    let records = b.seal().unwrap();
    log.append(head.seq, &records, &[]).await.unwrap().last
}

fn encoded(r: &StoredRecord) -> EncodedRecord {
    let v = RecordView::parse(&r.bytes).unwrap();
    EncodedRecord {
        seq: v.seq,
        hash: Hash::of_record(&r.bytes),
        event_id: EventId::from_hex(v.id).unwrap(),
        event_type: v.event_type.to_owned(),
        recorded: v.recorded.to_owned(),
        bytes: r.bytes.clone(),
    }
}

async fn audit(log: &JetStreamLog, store: &std::path::Path) -> Report {
    let options = Options { every: 50, page: 64, ..Options::default() };
    let mut a = Auditor::open(log, store, founder(), TrustRoot::Pinned(founder().public()), options).unwrap();
    a.once().await.unwrap()
}

#[tokio::test]
async fn a_truncated_then_forked_stream_is_caught() {
    let server = NatsServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("auditor.db");
    let log = open(&url, dir.path(), "a").await;
    let ledger = Uuid::new_v4();
    log.append(0, &Genesis::build(ledger, "js", &founder(), time::OffsetDateTime::now_utc()).unwrap(), &[]).await.unwrap();
    let mut boundaries = Vec::new();
    for i in 0..6 {
        boundaries.push(batch(&log, ledger, &format!("o{i}"), 25).await);
    }
    let first = audit(&log, &store).await;
    assert!(first.healthy, "{first:?}");
    let checkpointed = first.last_checkpoint.clone().unwrap().size;
    assert_eq!(checkpointed, log.head().await.unwrap().seq);
    let all = log.read(1, 10_000).await.unwrap();
    drop(log);

    // Truncate at a batch boundary: delete the stream, recreate it with the first batches.
    let keep = boundaries[2];
    let client = async_nats::connect(&url).await.unwrap();
    async_nats::jetstream::new(client).delete_stream("DOSSIER_AUDIT").await.unwrap();
    let log = open(&url, dir.path(), "b").await;
    let mut group = Vec::new();
    for r in all.iter().take_while(|r| r.position <= keep) {
        let e = encoded(r);
        let seal = e.event_type == control::SEAL;
        group.push(e);
        if seal {
            log.append(group[0].seq - 1, &group, &[]).await.unwrap();
            group.clear();
        }
    }
    assert_eq!(log.head().await.unwrap().seq, keep);
    let report = dossier_log::verify_log(&log, TrustRoot::Pinned(founder().public()), |_| {}).await.unwrap();
    assert!(report.ok(), "the truncated stream verifies on its own: {:?}", report.failures);
    let truncated = audit(&log, &store).await;
    assert!(!truncated.healthy);
    assert_eq!(truncated.alarms.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>(), ["truncated"]);
    assert_eq!(truncated.checkpoints_signed, 0);

    // Forked: re-grown past the checkpoint with other, validly signed batches.
    for i in 0..6 {
        batch(&log, ledger, &format!("fork{i}"), 25).await;
    }
    assert!(log.head().await.unwrap().seq > checkpointed);
    let report = dossier_log::verify_log(&log, TrustRoot::Pinned(founder().public()), |_| {}).await.unwrap();
    assert!(report.ok(), "the forked stream verifies on its own: {:?}", report.failures);
    let forked = audit(&log, &store).await;
    assert!(!forked.healthy);
    assert_eq!(forked.alarms.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>(), ["rewritten"]);
    let st = status(&store).unwrap();
    assert!(!st.healthy);
    assert_eq!(st.alarm_count, 2);
    assert_eq!(st.last_checkpoint.unwrap().size, checkpointed);
}
