//! The batch layout (layout 2) on a real `nats-server`: one stream message per sealed batch
//! with its headers, the framing's budget, per-record streams of earlier versions read but not
//! appended to, and damaged batch messages reported by verification at the right seq.

use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::Bytes;
use dossier_chain::{Declared, FailureKind, Frames, Hash, MAX_FRAMED_BATCH_BYTES, TrustRoot};
use dossier_jetstream::{
    COUNT_HEADER, FIRST_HEADER, JetStreamConfig, JetStreamLog, Layout, MAX_MESSAGE_BYTES,
};
use dossier_log::conformance::{events, founder, init, verify_all};
use dossier_log::{AppendError, EventLog as _, LogError, PendingEvent, Publisher, verify_log};
use dossier_testkit::NatsServer;

async fn open(url: &str, dir: &tempfile::TempDir, ledger: &str, name: &str) -> JetStreamLog {
    let cfg = JetStreamConfig::new(url, ledger, dir.path().join(format!("{name}-index.db")));
    JetStreamLog::open(&cfg).await.expect("open")
}

/// Every message of a stream: (headers, body).
async fn messages(js: &jetstream::Context, stream: &str) -> Vec<(HeaderMap, Bytes)> {
    let mut s = js.get_stream(stream).await.expect("stream");
    let last = s.info().await.expect("info").state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        let m = s.direct_get(seq).await.expect("direct get");
        out.push((m.headers, m.payload));
    }
    out
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

/// Publishes a batch message as an administrator would, headers given.
async fn put(
    js: &jetstream::Context,
    subject: &str,
    first: u64,
    count: &str,
    id: &str,
    body: Bytes,
) {
    let mut h = HeaderMap::new();
    h.insert(FIRST_HEADER, first.to_string().as_str());
    h.insert(COUNT_HEADER, count);
    h.insert("Nats-Msg-Id", id);
    js.publish_with_headers(subject.to_owned(), h, body)
        .await
        .expect("publish")
        .await
        .expect("stored");
}

/// A new ledger is a stream of one message per sealed batch: the batch framed as
/// `dossier-batch/1`, headers naming its first seq, count and seal; pipelined runs store the
/// same; records are read back, in order and by seq, by a reader that never read the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_per_sealed_batch_with_its_headers() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(&server.url(), &dir, "lay", "p").await;
    assert_eq!(log.layout(), Layout::Batches);
    let ledger = init(&log).await;
    let signer = founder();
    let p = Publisher::new(&log, &signer, ledger);
    p.publish(&events("one", 5), &[]).await.expect("publish");
    let run: Vec<_> = [7, 999, 3]
        .iter()
        .enumerate()
        .map(|(i, &n)| (events(&format!("run{i}"), n), Vec::new()))
        .collect();
    p.optimistic(true)
        .publish_all(run)
        .await
        .expect("pipelined run");
    let total = verify_all(&log).await;
    assert_eq!(total, 2 + 6 + 8 + 1000 + 4);

    let js = jetstream::new(async_nats::connect(server.url()).await.expect("admin"));
    let mut stream = js.get_stream("DOSSIER_LAY").await.expect("stream");
    let info = stream.info().await.expect("info").clone();
    assert_eq!(info.state.messages, 5, "one message per batch");
    assert_eq!(info.config.metadata["dossier_layout"], "2");
    assert_eq!(info.config.metadata["dossier_framing"], "dossier-batch/1");
    assert_eq!(info.config.max_message_size, MAX_MESSAGE_BYTES);
    let all = log.read(1, 5000).await.expect("read");
    let mut next = 1u64;
    for (h, body) in messages(&js, "DOSSIER_LAY").await {
        let first: u64 = header(&h, FIRST_HEADER).parse().expect("first");
        let count: usize = header(&h, COUNT_HEADER).parse().expect("count");
        assert_eq!(first, next);
        let seal = Hash::from_hex(&header(&h, "Nats-Msg-Id")).expect("message id");
        let records: Vec<&[u8]> = Frames::new(
            &body,
            Declared {
                count: Some(count),
                seal: Some(seal),
            },
        )
        .collect::<Result<_, _>>()
        .expect("a well-framed batch");
        assert_eq!(records.len(), count);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(*r, all[(first - 1) as usize + i].bytes.as_slice());
        }
        next += count as u64;
    }
    assert_eq!(next, total + 1);

    // A reader that knows nothing of the stream finds a record by seq.
    let fresh = open(&server.url(), &dir, "lay", "fresh").await;
    for seq in [500, 1, total, 15, 16] {
        let r = fresh.read(seq, 1).await.expect("read one");
        assert_eq!(r[0].position, seq);
        assert_eq!(r[0].bytes, all[(seq - 1) as usize].bytes);
    }
    assert_eq!(
        fresh.head().await.expect("head"),
        log.head().await.expect("head")
    );
}

/// A batch whose framing would exceed the budget is refused whole, saying its size and the
/// limit; nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_the_budget_is_refused_with_its_size_and_the_limit() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(&server.url(), &dir, "big", "p").await;
    let ledger = init(&log).await;
    let head = log.head().await.expect("head");
    let big: Vec<PendingEvent> = (0..6)
        .map(|i| PendingEvent {
            event_type: "test.event".into(),
            schema: 1,
            entity_key: format!("test:big/{i}"),
            marking: "TLP:CLEAR".into(),
            body: format!(r#"{{"pad":"{}"}}"#, "x".repeat(180_000)).into_bytes(),
        })
        .collect();
    let records = dossier_log::seal_batch(ledger, &head, &founder(), &big).expect("batch");
    let err = log
        .append(head.seq, &records, &[])
        .await
        .expect_err("over the budget");
    let text = err.to_string();
    assert!(matches!(err, AppendError::InvalidBatch(_)), "{text}");
    assert!(
        text.contains(&MAX_FRAMED_BATCH_BYTES.to_string()) && text.contains("bytes"),
        "{text}"
    );
    assert_eq!(log.head().await.expect("head"), head, "nothing stored");
}

/// A stream written by an earlier version (one message per record, no layout in its
/// metadata) is read and verified as before, and refuses appends until migrated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_record_streams_are_read_and_refuse_appends() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let source = open(&server.url(), &dir, "src", "src").await;
    let ledger = init(&source).await;
    let signer = founder();
    let p = Publisher::new(&source, &signer, ledger);
    p.publish(&events("a", 4), &[]).await.expect("publish");
    p.publish(&events("b", 300), &[]).await.expect("publish");
    let records = source.read(1, 1000).await.expect("read");
    let n = records.len() as u64;

    let js = jetstream::new(async_nats::connect(server.url()).await.expect("admin"));
    js.create_stream(jetstream::stream::Config {
        name: "DOSSIER_OLD".into(),
        subjects: vec!["dossier.old.records".into()],
        storage: jetstream::stream::StorageType::File,
        discard: jetstream::stream::DiscardPolicy::New,
        deny_delete: true,
        deny_purge: true,
        allow_direct: true,
        ..Default::default()
    })
    .await
    .expect("a per-record stream");
    for r in &records {
        js.publish("dossier.old.records", r.bytes.clone().into())
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    let old = open(&server.url(), &dir, "old", "old").await;
    assert_eq!(old.layout(), Layout::PerRecord);
    assert_eq!(verify_all(&old).await, n);
    assert_eq!(
        old.read(200, 3).await.expect("read")[0].bytes,
        records[199].bytes
    );
    assert_eq!(
        old.head().await.expect("head"),
        source.head().await.expect("head")
    );
    let refused = Publisher::new(&old, &signer, ledger)
        .publish(&events("c", 2), &[])
        .await
        .expect_err("read only");
    assert!(
        refused
            .to_string()
            .contains("stream DOSSIER_OLD has the per-record layout"),
        "{refused}"
    );
    assert!(
        matches!(
            old.append(n, &[], &[]).await,
            Err(AppendError::Log(LogError::ReadOnlyLayout { .. }))
        ),
        "appends are refused"
    );
}

/// Batch messages damaged behind dossier's back — a record split across two messages, a
/// message cut short, a wrong count header, a message id that is not the seal's hash, a batch
/// stored again — are each reported by `verify` as `bad_frame` at the record where the damage
/// shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_batch_messages_are_reported_at_their_seq() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let source = open(&server.url(), &dir, "src", "src").await;
    let ledger = init(&source).await;
    let signer = founder();
    let p = Publisher::new(&source, &signer, ledger);
    for tag in ["a", "b", "c"] {
        // Records 3-6, 7-10, 11-14.
        p.publish(&events(tag, 3), &[]).await.expect("publish");
    }
    let js = jetstream::new(async_nats::connect(server.url()).await.expect("admin"));
    let good = messages(&js, "DOSSIER_SRC").await;
    let ids: Vec<String> = good.iter().map(|(h, _)| header(h, "Nats-Msg-Id")).collect();
    let body = |i: usize| good[i].1.clone();
    let (b, c) = (body(2), body(3));
    // The last record of batch b begins this many bytes before the end of its message.
    let last_len = {
        let mut f = Frames::new(&b, Declared::default());
        let records: Vec<&[u8]> = (&mut f).map(|r| r.expect("a record")).collect();
        records[3].len() + 4
    };
    let split_at = b.len() - last_len / 2;
    let mut c_with_rest = b[split_at..].to_vec();
    c_with_rest.extend_from_slice(&c);
    // The second record of batch b is cut short.
    let second_cut = {
        let first_len = u32::from_be_bytes(b[..4].try_into().expect("a length")) as usize + 4;
        first_len + 10
    };
    type Case = (&'static str, Vec<(u64, &'static str, String, Bytes)>, u64);
    let whole = |i: usize| (1 + [0, 2, 6, 10][i], "4", ids[i].clone(), body(i));
    let mut genesis = whole(0);
    genesis.1 = "2";
    // A hash, but not the seal's (another message's id would be refused as a duplicate).
    let other_hash = Hash::of_bytes(b"not the seal").to_hex();
    let cases: Vec<Case> = vec![
        (
            "split",
            vec![
                genesis.clone(),
                whole(1),
                (7, "4", ids[2].clone(), b.slice(..split_at)),
                (11, "4", ids[3].clone(), Bytes::from(c_with_rest)),
            ],
            10,
        ),
        (
            "truncated",
            vec![
                genesis.clone(),
                whole(1),
                (7, "4", ids[2].clone(), b.slice(..second_cut)),
                whole(3),
            ],
            8,
        ),
        (
            "count",
            vec![
                genesis.clone(),
                whole(1),
                (7, "3", ids[2].clone(), b.clone()),
                whole(3),
            ],
            10,
        ),
        (
            "msgid",
            vec![
                genesis.clone(),
                whole(1),
                (7, "4", other_hash.clone(), b.clone()),
                whole(3),
            ],
            10,
        ),
        (
            "again",
            vec![
                genesis.clone(),
                whole(1),
                whole(2),
                (3, "4", "another".into(), body(1)),
                whole(3),
            ],
            11,
        ),
    ];
    for (name, msgs, at) in cases {
        let log = open(&server.url(), &dir, name, name).await;
        let subject = format!("dossier.{name}.records");
        for (first, count, id, body) in msgs {
            put(&js, &subject, first, count, &id, body).await;
        }
        let report = verify_log(&log, TrustRoot::Pinned(founder().public()), |_| {})
            .await
            .expect("verify");
        let f = report
            .failures
            .first()
            .unwrap_or_else(|| panic!("{name}: no failure"));
        assert_eq!(
            (f.seq, f.kind),
            (at, FailureKind::BadFrame),
            "{name}: {:?}",
            report.failures
        );
    }
}

/// Report texts go to the ledger's texts stream in chunks, read back by direct gets and checked
/// against their hash; no object store is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_texts_are_chunked_into_the_texts_stream() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(&server.url(), &dir, "txt", "p").await;
    let ledger = init(&log).await;
    let big: Vec<u8> = (0..1_300_000u32).map(|i| (i % 251) as u8).collect();
    let small = "짧은 보고서 text".as_bytes().to_vec();
    let signer = founder();
    Publisher::new(&log, &signer, ledger)
        .publish(&events("t", 2), &[big.clone(), small.clone()])
        .await
        .expect("publish");
    for text in [&big, &small] {
        let hash = Hash::of_bytes(text);
        assert_eq!(log.content(&hash).await.expect("read"), Some(text.clone()));
    }
    assert_eq!(
        log.content(&Hash::of_bytes(b"never stored"))
            .await
            .expect("read"),
        None
    );
    let js = jetstream::new(async_nats::connect(server.url()).await.expect("admin"));
    let mut texts = js
        .get_stream("DOSSIER_TXT_TEXTS")
        .await
        .expect("texts stream");
    let info = texts.info().await.expect("info").clone();
    assert_eq!(info.config.subjects, ["dossier.txt.texts.>"]);
    assert_eq!(info.state.messages, 3 + 1, "three chunks and one");
    assert!(
        js.get_object_store("dossier-txt-content").await.is_err(),
        "no object store"
    );
    // Published again: nothing new is stored.
    Publisher::new(&log, &signer, ledger)
        .publish(&events("t", 2), &[big.clone(), small.clone()])
        .await
        .expect("publish again");
    assert_eq!(texts.info().await.expect("info").state.messages, 4);
}

/// Stream names derive from ledger names (upper-cased, '-' as '_', `_TEXTS` and `_CHECKPOINTS`
/// for a ledger's other streams), so some names would share streams: a new ledger whose name
/// ends in `-texts` or `_checkpoints` is refused before any stream is created, and a ledger
/// whose stream holds another ledger's subjects (`a-b` against `a_b`) is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_names_that_would_share_streams_are_refused() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = server.url();
    let js = jetstream::new(async_nats::connect(&url).await.expect("connect"));
    let names = |js: jetstream::Context| async move {
        let mut names: Vec<String> = Vec::new();
        let mut list = js.stream_names();
        while let Some(n) = futures::StreamExt::next(&mut list).await {
            names.push(n.expect("a name"));
        }
        names.sort();
        names
    };

    let a = open(&url, &dir, "a", "a").await;
    drop(a);
    let before = names(js.clone()).await;
    assert_eq!(
        before,
        ["DOSSIER_A", "DOSSIER_A_CHECKPOINTS", "DOSSIER_A_TEXTS"]
    );
    for taken in ["a-texts", "a_checkpoints", "b-texts", "b_checkpoints"] {
        let cfg = JetStreamConfig::new(&url, taken, dir.path().join(format!("{taken}.db")));
        let err = JetStreamLog::open(&cfg).await.expect_err(taken).to_string();
        // `a-texts` names ledger a's texts stream, which exists; `b-texts` names no stream yet.
        assert!(
            err.contains(taken) && err.contains("choose another"),
            "{taken}: {err}"
        );
    }
    assert_eq!(names(js.clone()).await, before, "nothing was created");

    let ab = open(&url, &dir, "a_b", "a_b").await;
    drop(ab);
    let cfg = JetStreamConfig::new(&url, "a-b", dir.path().join("a-b.db"));
    let err = JetStreamLog::open(&cfg).await.expect_err("a-b").to_string();
    assert!(
        err.contains("stream DOSSIER_A_B") && err.contains("another ledger's"),
        "{err}"
    );
}
