//! dossier on JetStream against raw `async-nats`, on the same payloads, the same server, in one
//! run (these machines are noisy: compare the ratios, not the absolute figures).
//!
//! - **Append**: *raw per record* = JetStream publishes of the same record bytes, one message
//!   each, pipelined with the best of several in-flight windows; *raw batch messages* = the
//!   same batches framed as `dossier-batch/1`, one message each with dossier's headers (first
//!   seq, count, seal hash as message id, the expected last sequence), pipelined (16 in
//!   flight), and *raw staged* = the same messages staged and committed as dossier does (an
//!   ADR-50 batch of the message and an end-of-batch commit that is not stored, batch *k+1*
//!   staged while *k* commits) — with none of dossier's work; *dossier* =
//!   `Publisher::publish_all` (hash-chained, one signed seal per batch of 999 events, the
//!   duplicate check, the local index), pipelined.
//! - **Replay**: raw = an ordered consumer reading every record message, and batched direct
//!   gets reading every batch message (an ordered consumer pulling 600 KB messages stalls);
//!   dossier = `verify_log` (batched direct gets, every frame decoded, every
//!   hash, link, seal and signature checked).
//! - **Producers**: aggregate events/s of 8 producers (own connections) publishing batches of
//!   100 at once, against 1 producer doing the same.
//!
//! Usage: `cargo bench -p dossier-jetstream --bench jetstream [-- --events 200000] [--r3]
//! [--windows]` (`--r3`: a local three-node cluster, streams of three replicas; `--windows`:
//! only raw batch messages with 1, 2, 4 and 16 in flight).

use std::time::Instant;

use async_nats::jetstream;
use dossier_chain::{BatchBuilder, EncodedRecord, Genesis, Head, TrustRoot};
use dossier_jetstream::{COUNT_HEADER, FIRST_HEADER, JetStreamConfig, JetStreamLog};
use dossier_log::conformance::{events, founder};
use dossier_log::{EventLog as _, Publisher, verify_log};
use futures::StreamExt as _;

async fn open(
    url: &str,
    dir: &std::path::Path,
    ledger: &str,
    name: &str,
    replicas: usize,
) -> JetStreamLog {
    open_with(url, dir, ledger, name, replicas, 1).await
}

async fn open_with(
    url: &str,
    dir: &std::path::Path,
    ledger: &str,
    name: &str,
    replicas: usize,
    in_flight: usize,
) -> JetStreamLog {
    let mut cfg = JetStreamConfig::new(url, ledger, dir.join(format!("{name}.db")));
    cfg.replicas = replicas;
    cfg.in_flight = in_flight;
    JetStreamLog::open(&cfg).await.expect("open")
}

/// The batches dossier would write for `n` events in batches of 999 (for the raw runs).
fn payloads(n: usize) -> Vec<Vec<EncodedRecord>> {
    let signer = founder();
    let ledger = uuid::Uuid::new_v4();
    let mut out = Vec::new();
    let mut head = Head::empty();
    for b in 0..n.div_ceil(999) {
        let mut batch = BatchBuilder::new(
            ledger,
            &head,
            time::OffsetDateTime::now_utc(),
            &signer,
            uuid::Uuid::new_v4(),
        );
        for e in events(&format!("raw{b}"), 999) {
            batch
                .push(&e.event_type, e.schema, &e.entity_key, &e.marking, &e.body)
                .expect("push");
        }
        let records = batch.seal().expect("seal");
        let last = records.last().expect("seal");
        head = Head {
            seq: last.seq,
            hash: last.hash,
            recorded: Some(last.recorded.clone()),
        };
        out.push(records);
    }
    out
}

/// A batch framed, with the headers dossier gives its message (`expected`: the stream
/// sequence it follows).
fn batch_message(records: &[EncodedRecord], expected: u64) -> (async_nats::HeaderMap, Vec<u8>) {
    let mut body = Vec::new();
    dossier_chain::frame_batch(records.iter().map(|r| r.bytes.as_slice()), &mut body)
        .expect("frame");
    let mut h = async_nats::HeaderMap::new();
    h.insert(FIRST_HEADER, records[0].seq.to_string().as_str());
    h.insert(COUNT_HEADER, records.len().to_string().as_str());
    h.insert(
        "Nats-Msg-Id",
        records[records.len() - 1].hash.to_hex().as_str(),
    );
    h.insert("Nats-Expected-Last-Sequence", expected.to_string().as_str());
    (h, body)
}

/// The batches as one message each, pipelined (`window` in flight).
async fn raw_batches(
    js: &jetstream::Context,
    subject: &str,
    batches: &[Vec<EncodedRecord>],
    window: usize,
) -> f64 {
    let messages: Vec<_> = batches
        .iter()
        .enumerate()
        .map(|(i, b)| batch_message(b, i as u64))
        .collect();
    let started = Instant::now();
    let mut inflight = std::collections::VecDeque::with_capacity(window);
    for (h, body) in messages {
        if inflight.len() == window {
            let ack: jetstream::context::PublishAckFuture =
                inflight.pop_front().expect("in flight");
            ack.await.expect("ack");
        }
        inflight.push_back(
            js.publish_with_headers(subject.to_owned(), h, body.into())
                .await
                .expect("publish"),
        );
    }
    for ack in inflight {
        ack.await.expect("ack");
    }
    batches.iter().map(Vec::len).sum::<usize>() as f64 / started.elapsed().as_secs_f64()
}

/// The batches staged and committed as dossier does: each message the first of an ADR-50 batch
/// closed by an end-of-batch commit that is not stored; batch *k+1* staged while *k* commits,
/// one commit in flight.
async fn raw_staged(
    client: &async_nats::Client,
    subject: &str,
    batches: &[Vec<EncodedRecord>],
) -> f64 {
    let messages: Vec<_> = batches
        .iter()
        .enumerate()
        .map(|(i, b)| batch_message(b, i as u64))
        .collect();
    let started = Instant::now();
    let mut committing: Option<async_nats::Subscriber> = None;
    for (mut h, body) in messages {
        let id = uuid::Uuid::new_v4().simple().to_string();
        h.insert("Nats-Batch-Id", id.as_str());
        h.insert("Nats-Batch-Sequence", "1");
        let inbox = client.new_inbox();
        client
            .publish_with_reply_and_headers(subject.to_owned(), inbox, h, body.into())
            .await
            .expect("stage");
        if let Some(mut c) = committing.take() {
            let reply = c.next().await.expect("commit answer");
            assert!(
                !String::from_utf8_lossy(&reply.payload).contains("\"error\""),
                "refused: {}",
                String::from_utf8_lossy(&reply.payload)
            );
        }
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Batch-Id", id.as_str());
        h.insert("Nats-Batch-Sequence", "2");
        h.insert("Nats-Batch-Commit", "eob");
        let inbox = client.new_inbox();
        committing = Some(client.subscribe(inbox.clone()).await.expect("subscribe"));
        client
            .publish_with_reply_and_headers(subject.to_owned(), inbox, h, Vec::new().into())
            .await
            .expect("commit");
    }
    if let Some(mut c) = committing {
        c.next().await.expect("commit answer");
    }
    let rate = batches.iter().map(Vec::len).sum::<usize>() as f64 / started.elapsed().as_secs_f64();
    assert_eq!(
        client_stream_last(client, subject).await,
        batches.len() as u64,
        "one message per batch stored"
    );
    rate
}

async fn raw_publish(
    js: &jetstream::Context,
    subject: &str,
    payloads: &[Vec<u8>],
    window: usize,
) -> f64 {
    let started = Instant::now();
    let mut inflight = std::collections::VecDeque::with_capacity(window);
    for p in payloads {
        if inflight.len() == window {
            let ack: jetstream::context::PublishAckFuture =
                inflight.pop_front().expect("in flight");
            ack.await.expect("ack");
        }
        inflight.push_back(
            js.publish(subject.to_owned(), p.clone().into())
                .await
                .expect("publish"),
        );
    }
    for ack in inflight {
        ack.await.expect("ack");
    }
    payloads.len() as f64 / started.elapsed().as_secs_f64()
}

/// The last sequence of the stream holding `subject`.
async fn client_stream_last(client: &async_nats::Client, subject: &str) -> u64 {
    let js = jetstream::new(client.clone());
    let name = js.stream_by_subject(subject).await.expect("stream name");
    let mut s = js.get_stream(name).await.expect("stream");
    s.info().await.expect("info").state.last_sequence
}

/// Seconds an ordered consumer takes to read `n` messages of a stream.
async fn raw_read(js: &jetstream::Context, stream: &str, n: usize) -> f64 {
    let s = js.get_stream(stream).await.expect("stream");
    let started = Instant::now();
    let consumer = s
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut got = 0;
    while got < n {
        let m = messages.next().await.expect("message").expect("ok");
        std::hint::black_box(&m.payload);
        got += 1;
    }
    started.elapsed().as_secs_f64()
}

/// Seconds batched direct gets (up to 1,024 messages or 8 MiB a request) take to read the
/// `n` messages of a stream, as dossier reads.
async fn raw_direct(client: &async_nats::Client, stream: &str, n: usize) -> f64 {
    let started = Instant::now();
    let mut next = 1u64;
    let mut got = 0;
    while got < n {
        let inbox = client.new_inbox();
        let mut sub = client.subscribe(inbox.clone()).await.expect("subscribe");
        let request = format!(r#"{{"seq":{next},"batch":1024,"max_bytes":8388608}}"#);
        client
            .publish_with_reply(
                format!("$JS.API.DIRECT.GET.{stream}"),
                inbox,
                request.into(),
            )
            .await
            .expect("request");
        while let Some(m) = sub.next().await {
            if m.status.is_some() {
                break;
            }
            std::hint::black_box(&m.payload);
            got += 1;
            next += 1;
        }
    }
    started.elapsed().as_secs_f64()
}

/// Creates a stream and waits until it has a leader and current replicas.
async fn create(js: &jetstream::Context, cfg: jetstream::stream::Config) {
    let name = cfg.name.clone();
    js.create_stream(cfg).await.expect("create stream");
    for _ in 0..100 {
        let mut s = js.get_stream(&name).await.expect("stream");
        let info = s.info().await.expect("info");
        if info
            .cluster
            .as_ref()
            .is_none_or(|c| c.leader.is_some() && c.replicas.iter().all(|r| r.current))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn dossier_publish(log: &JetStreamLog, batches: usize, per: usize, tag: &str) -> f64 {
    let signer = founder();
    let ledger = dossier_log::ledger::ledger_id(log)
        .await
        .expect("ledger")
        .expect("genesis");
    let p = Publisher::new(log, &signer, ledger).optimistic(true);
    let work: Vec<_> = (0..batches)
        .map(|b| (events(&format!("{tag}{b}"), per), Vec::new()))
        .collect();
    let started = Instant::now();
    p.publish_all(work).await.expect("publish_all");
    (batches * per) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(200_000);
    let r3 = args.iter().any(|a| a == "--r3");
    let replicas = if r3 { 3 } else { 1 };
    let batches = n.div_ceil(999);
    let n = batches * 999;
    let (_servers, url): (Box<dyn std::any::Any>, String) = if r3 {
        let c = dossier_testkit::NatsCluster::start(3);
        let url = c.url();
        (Box::new(c), url)
    } else {
        let s = dossier_testkit::NatsServer::start();
        let url = s.url();
        (Box::new(s), url)
    };
    println!(
        "{} server(s), streams of {replicas} replica(s)",
        if r3 { 3 } else { 1 }
    );
    let dir = tempfile::tempdir().expect("tempdir");
    // A cluster's URL lists every node; the raw client connects to the first.
    let first_url = url.split(',').next().unwrap_or_default().to_owned();
    let client = async_nats::connect(&first_url).await.expect("connect");
    let js = jetstream::new(client.clone());
    let stream = |name: &str, subject: &str| jetstream::stream::Config {
        name: name.to_owned(),
        subjects: vec![subject.to_owned()],
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        allow_direct: true,
        duplicate_window: std::time::Duration::from_secs(120),
        ..Default::default()
    };

    // Raw: the same record bytes (seals included), one message each, the best window.
    let raw_batches_data = payloads(n);
    let raw_records: Vec<Vec<u8>> = raw_batches_data
        .iter()
        .flatten()
        .map(|r| r.bytes.clone())
        .collect();
    let records_per_event = raw_records.len() as f64 / n as f64;
    let mut raw_best = (0.0, 0);
    for (i, window) in [256usize, 1024, 4000].into_iter().enumerate() {
        create(&js, stream(&format!("RAW{i}"), &format!("raw{i}"))).await;
        let rate = raw_publish(&js, &format!("raw{i}"), &raw_records, window).await;
        // Count events as dossier does: seals are overhead, not events.
        let rate = rate / records_per_event;
        println!("raw per record, window {window:>5}: {rate:>10.0} events/s");
        if rate > raw_best.0 {
            raw_best = (rate, i);
        }
    }
    if args.iter().any(|a| a == "--windows") {
        for (i, w) in [1usize, 2, 4, 16].into_iter().enumerate() {
            create(&js, stream(&format!("RAWW{i}"), &format!("raww{i}"))).await;
            let r = raw_batches(&js, &format!("raww{i}"), &raw_batches_data, w).await
                / records_per_event;
            println!(
                "raw batch messages, window {w:>2}: {r:>10.0} events/s   ratio {:.2}",
                r / raw_best.0
            );
        }
        return;
    }
    create(&js, stream("RAWBATCH", "rawbatch")).await;
    let raw_batch = raw_batches(&js, "rawbatch", &raw_batches_data, 16).await / records_per_event;
    let mut staged = stream("RAWSTAGED", "rawstaged");
    staged.allow_atomic_publish = true;
    create(&js, staged).await;
    let raw_staged = raw_staged(&client, "rawstaged", &raw_batches_data).await / records_per_event;

    let log = open(&url, dir.path(), "bench", "single", replicas).await;
    let genesis = Genesis::build(
        uuid::Uuid::new_v4(),
        "bench",
        &founder(),
        time::OffsetDateTime::now_utc(),
    )
    .expect("genesis");
    log.append(0, &genesis, &[]).await.expect("genesis");
    let ours = dossier_publish(&log, batches, 999, "d").await;
    let ours4 = {
        let l = open_with(&url, dir.path(), "bench4", "four", replicas, 4).await;
        let g = Genesis::build(
            uuid::Uuid::new_v4(),
            "bench4",
            &founder(),
            time::OffsetDateTime::now_utc(),
        )
        .expect("genesis");
        l.append(0, &g, &[]).await.expect("genesis");
        dossier_publish(&l, batches, 999, "f").await
    };
    println!("\n== append, {n} events of ~600 B bodies (batches of 999 + seal)");
    println!(
        "raw per record (best window)      {:>10.0} events/s",
        raw_best.0
    );
    println!(
        "raw batch messages, 16 in flight  {raw_batch:>10.0} events/s   ratio {:.2}",
        raw_batch / raw_best.0
    );
    println!(
        "raw staged batch messages         {raw_staged:>10.0} events/s   ratio {:.2}",
        raw_staged / raw_best.0
    );
    println!(
        "dossier publish_all               {ours:>10.0} events/s   ratio {:.2}  ({:.2} of raw batch messages, {:.2} of raw staged)",
        ours / raw_best.0,
        ours / raw_batch,
        ours / raw_staged
    );
    println!(
        "dossier publish_all, 4 in flight  {ours4:>10.0} events/s   ratio {:.2}  ({:.2} of raw batch messages)",
        ours4 / raw_best.0,
        ours4 / raw_batch
    );

    let per_record =
        n as f64 / raw_read(&js, &format!("RAW{}", raw_best.1), raw_records.len()).await;
    let per_batch = n as f64 / raw_direct(&client, "RAWBATCH", raw_batches_data.len()).await;
    let started = Instant::now();
    let report = verify_log(&log, TrustRoot::Pinned(founder().public()), |_| {})
        .await
        .expect("verify");
    assert!(report.ok(), "{:?}", report.failures.first());
    let verify_rate = n as f64 / started.elapsed().as_secs_f64();
    println!("\n== replay of {} records", report.records);
    println!("raw ordered consumer, per record {per_record:>10.0} events/s");
    println!("raw direct gets, batch messages  {per_batch:>10.0} events/s");
    println!(
        "dossier verify_log                {verify_rate:>10.0} events/s   ratio {:.2} (per record), {:.2} (batch messages)",
        verify_rate / per_record,
        verify_rate / per_batch
    );

    // One producer against eight, batches of 100, on fresh ledgers.
    let per_producer = 20;
    let single = {
        let l = open(&url, dir.path(), "one", "one", replicas).await;
        let g = Genesis::build(
            uuid::Uuid::new_v4(),
            "one",
            &founder(),
            time::OffsetDateTime::now_utc(),
        )
        .expect("genesis");
        l.append(0, &g, &[]).await.expect("genesis");
        let signer = founder();
        let ledger = dossier_log::ledger::ledger_id(&l)
            .await
            .expect("id")
            .expect("genesis");
        let p = Publisher::new(&l, &signer, ledger);
        let started = Instant::now();
        for b in 0..per_producer * 8 {
            p.publish(&events(&format!("s{b}"), 100), &[])
                .await
                .expect("publish");
        }
        (per_producer * 8 * 100) as f64 / started.elapsed().as_secs_f64()
    };
    let eight = {
        let first = open(&url, dir.path(), "eight", "eight-0", replicas).await;
        let g = Genesis::build(
            uuid::Uuid::new_v4(),
            "eight",
            &founder(),
            time::OffsetDateTime::now_utc(),
        )
        .expect("genesis");
        first.append(0, &g, &[]).await.expect("genesis");
        let ledger = dossier_log::ledger::ledger_id(&first)
            .await
            .expect("id")
            .expect("genesis");
        let mut tasks = Vec::new();
        let started = Instant::now();
        for p in 0..8 {
            let l = open(
                &url,
                dir.path(),
                "eight",
                &format!("eight-{}", p + 1),
                replicas,
            )
            .await;
            tasks.push(tokio::spawn(async move {
                let signer = founder();
                let publisher = Publisher::new(&l, &signer, ledger);
                for b in 0..per_producer {
                    publisher
                        .publish(&events(&format!("e{p}b{b}"), 100), &[])
                        .await
                        .expect("publish");
                }
            }));
        }
        for t in tasks {
            t.await.expect("producer");
        }
        (per_producer * 8 * 100) as f64 / started.elapsed().as_secs_f64()
    };
    println!(
        "\n== producers, batches of 100 ({} events each run)",
        per_producer * 8 * 100
    );
    println!("1 producer                   {single:>10.0} events/s");
    println!(
        "8 producers (aggregate)      {eight:>10.0} events/s   ratio {:.2}",
        eight / single
    );
}
