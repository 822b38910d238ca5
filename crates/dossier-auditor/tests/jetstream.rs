//! The auditor on a real JetStream server: the stream's history is rewritten behind its back
//! with the admin API (the stream deleted and recreated with only its first batches, copied
//! byte for byte; then re-grown with other, validly signed batches) and the auditor catches
//! both the truncation and the fork. With a JetStream announcer, its checkpoints and alarms are
//! also published to the ledger's checkpoint stream, never into the ledger's own stream.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use dossier_auditor::{
    Alarm, Announce, AnnounceError, Auditor, Options, Report, StoredCheckpoint, status,
};
use dossier_chain::{
    EncodedRecord, EventId, Genesis, Hash, RecordView, Signer, StoredRecord, TrustRoot, control,
};
use dossier_jetstream::{Announcer, CHECKPOINT_SIZE_HEADER, JetStreamConfig, JetStreamLog};
use dossier_log::EventLog as _;
use dossier_proofs::{checkpoint_verifier, open_checkpoint};
use dossier_testkit::NatsServer;
use futures::StreamExt as _;
use uuid::Uuid;

fn founder() -> Signer {
    Signer::from_secret([1; 32], "founder")
}

async fn open(url: &str, dir: &std::path::Path, index: &str) -> JetStreamLog {
    JetStreamLog::open(&JetStreamConfig::new(
        url,
        "audit",
        dir.join(format!("{index}-index.db")),
    ))
    .await
    .unwrap()
}

async fn batch(log: &JetStreamLog, ledger: Uuid, tag: &str, n: usize) -> u64 {
    let head = log.head().await.unwrap();
    let events = dossier_log::conformance::events(tag, n);
    let records = dossier_log::seal_batch(ledger, &head, &founder(), &events).unwrap();
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
    let options = Options {
        every: 50,
        page: 64,
        ..Options::default()
    };
    let mut a = Auditor::open(
        log,
        store,
        founder(),
        TrustRoot::Pinned(founder().public()),
        options,
    )
    .unwrap();
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
    log.append(
        0,
        &Genesis::build(ledger, "js", &founder(), time::OffsetDateTime::now_utc()).unwrap(),
        &[],
    )
    .await
    .unwrap();
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
    async_nats::jetstream::new(client)
        .delete_stream("DOSSIER_AUDIT")
        .await
        .unwrap();
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
    let report = dossier_log::verify_log(&log, TrustRoot::Pinned(founder().public()), |_| {})
        .await
        .unwrap();
    assert!(
        report.ok(),
        "the truncated stream verifies on its own: {:?}",
        report.failures
    );
    let truncated = audit(&log, &store).await;
    assert!(!truncated.healthy);
    assert_eq!(
        truncated
            .alarms
            .iter()
            .map(|a| a.kind.as_str())
            .collect::<Vec<_>>(),
        ["truncated"]
    );
    assert_eq!(truncated.checkpoints_signed, 0);

    // Forked: re-grown past the checkpoint with other, validly signed batches.
    for i in 0..6 {
        batch(&log, ledger, &format!("fork{i}"), 25).await;
    }
    assert!(log.head().await.unwrap().seq > checkpointed);
    let report = dossier_log::verify_log(&log, TrustRoot::Pinned(founder().public()), |_| {})
        .await
        .unwrap();
    assert!(
        report.ok(),
        "the forked stream verifies on its own: {:?}",
        report.failures
    );
    let forked = audit(&log, &store).await;
    assert!(!forked.healthy);
    assert_eq!(
        forked
            .alarms
            .iter()
            .map(|a| a.kind.as_str())
            .collect::<Vec<_>>(),
        ["rewritten"]
    );
    let st = status(&store).unwrap();
    assert!(!st.healthy);
    assert_eq!(st.alarm_count, 2);
    assert_eq!(st.last_checkpoint.unwrap().size, checkpointed);
}

struct Announced(Announcer);

impl Announce for Announced {
    async fn checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), AnnounceError> {
        self.0.checkpoint(&cp.note, cp.size).await?;
        Ok(())
    }
    async fn alarm(&self, a: &Alarm) -> Result<(), AnnounceError> {
        self.0.alarm(&serde_json::to_string(a)?).await?;
        Ok(())
    }
}

async fn audit_announced(log: &JetStreamLog, store: &std::path::Path) -> Report {
    let options = Options {
        every: 50,
        page: 64,
        ..Options::default()
    };
    let announcer = Announced(log.announcer().await.unwrap());
    let mut a = Auditor::open(
        log,
        store,
        founder(),
        TrustRoot::Pinned(founder().public()),
        options,
    )
    .unwrap()
    .with_announcer(announcer);
    a.once().await.unwrap()
}

#[tokio::test]
async fn checkpoints_and_alarms_are_published_beside_the_ledger_stream() {
    let server = NatsServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("auditor.db");
    let log = open(&url, dir.path(), "a").await;
    let ledger = Uuid::new_v4();
    log.append(
        0,
        &Genesis::build(ledger, "js", &founder(), time::OffsetDateTime::now_utc()).unwrap(),
        &[],
    )
    .await
    .unwrap();
    let mut boundaries = Vec::new();
    for i in 0..6 {
        boundaries.push(batch(&log, ledger, &format!("o{i}"), 25).await);
    }
    let client = async_nats::connect(&url).await.unwrap();
    let mut alarms = client.subscribe("dossier.audit.alarms").await.unwrap();
    client.flush().await.unwrap();

    let first = audit_announced(&log, &store).await;
    assert!(first.healthy, "{first:?}");
    assert!(first.checkpoints_signed >= 2, "{first:?}");
    let head = log.head().await.unwrap().seq;

    // The checkpoints are in their own stream, in order, each signed by the auditor.
    let js = async_nats::jetstream::new(client.clone());
    let cps = js.get_stream("DOSSIER_AUDIT_CHECKPOINTS").await.unwrap();
    let info = cps.get_info().await.unwrap();
    assert_eq!(
        info.config.subjects,
        ["dossier.audit.checkpoints", "dossier.audit.alarms"]
    );
    assert!(info.config.deny_delete && info.config.deny_purge);
    assert_eq!(info.state.messages, first.checkpoints_signed);
    let verifier = checkpoint_verifier(&ledger.to_string(), founder().public()).unwrap();
    let mut sizes = Vec::new();
    for seq in 1..=info.state.last_sequence {
        let m = cps.direct_get(seq).await.unwrap();
        assert_eq!(m.subject.as_str(), "dossier.audit.checkpoints");
        let note = std::str::from_utf8(&m.payload).unwrap();
        let cp = open_checkpoint(note, &verifier).unwrap();
        assert_eq!(
            m.headers.get(CHECKPOINT_SIZE_HEADER).unwrap().as_str(),
            cp.tree.size.to_string()
        );
        sizes.push(cp.tree.size);
    }
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    assert_eq!(sizes.last().copied(), Some(head));
    let announcer = log.announcer().await.unwrap();
    let last = announcer.last_checkpoint().await.unwrap();
    assert_eq!(last, first.last_checkpoint.clone().unwrap().note);
    assert_eq!(open_checkpoint(&last, &verifier).unwrap().tree.size, head);

    // The ledger stream holds only the batches, one message each (the genesis and six).
    let mut ledger_stream = js.get_stream("DOSSIER_AUDIT").await.unwrap();
    let state = ledger_stream.info().await.unwrap().state.clone();
    assert_eq!(
        (state.first_sequence, state.last_sequence, state.messages),
        (1, 7, 7)
    );
    let records = log.read(1, 10_000).await.unwrap();
    assert!(
        records
            .iter()
            .enumerate()
            .all(|(i, r)| r.position == i as u64 + 1)
    );
    assert!(records.iter().all(|r| RecordView::parse(&r.bytes).is_ok()));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), alarms.next())
            .await
            .is_err(),
        "no alarm while healthy"
    );
    let all = records;
    drop(log);

    // Truncated behind the auditor's back: the alarm is published on the alarm subject.
    js.delete_stream("DOSSIER_AUDIT").await.unwrap();
    let log = open(&url, dir.path(), "b").await;
    let mut group = Vec::new();
    for r in all.iter().take_while(|r| r.position <= boundaries[2]) {
        let e = encoded(r);
        let seal = e.event_type == control::SEAL;
        group.push(e);
        if seal {
            log.append(group[0].seq - 1, &group, &[]).await.unwrap();
            group.clear();
        }
    }
    let truncated = audit_announced(&log, &store).await;
    assert_eq!(
        truncated
            .alarms
            .iter()
            .map(|a| a.kind.as_str())
            .collect::<Vec<_>>(),
        ["truncated"]
    );
    let m = tokio::time::timeout(Duration::from_secs(10), alarms.next())
        .await
        .expect("an alarm message")
        .unwrap();
    let alarm: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
    assert_eq!(alarm["kind"], "truncated", "{alarm}");
    assert_eq!(alarm["checkpoint_size"], head, "{alarm}");

    // It is kept in the checkpoint stream too; no checkpoint was published after it.
    let kept = cps
        .direct_get_last_for_subject("dossier.audit.alarms")
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&kept.payload).unwrap()["kind"],
        "truncated"
    );
    assert_eq!(announcer.last_checkpoint().await.unwrap(), last);
    let mut log_stream = js.get_stream("DOSSIER_AUDIT").await.unwrap();
    assert_eq!(
        log_stream.info().await.unwrap().state.messages,
        4,
        "the genesis and the first three batches"
    );
}
