//! dossier on JetStream against raw `async-nats`, on the same payloads, the same local server,
//! in one run (these machines are noisy: compare the ratios, not the absolute figures).
//!
//! - **Append**: raw = JetStream publishes of the same record bytes, pipelined with the best of
//!   several in-flight windows; dossier = `Publisher::publish_all` (hash-chained, one signed
//!   seal per batch of 999 events, ADR-50 atomic batches, head precondition), pipelined.
//!   Between them, *raw atomic*: the same bytes as plain ADR-50 atomic batches of the same size
//!   with dossier's headers, staged and committed as dossier does (batch *k+1* staged while *k*
//!   commits, one commit in flight; and with four), without any of dossier's work — the
//!   ceiling for an atomic-batch backend on this server.
//! - **Replay**: raw = an ordered consumer reading every message; dossier = `verify_log`
//!   (reading through ordered consumers and checking every hash, link, seal and signature).
//! - **Producers**: aggregate events/s of 8 producers (own connections) publishing batches of
//!   100 at once, against 1 producer doing the same.
//!
//! Usage: `cargo bench -p dossier-jetstream --bench jetstream [-- --events 200000]`.

use std::time::Instant;

use async_nats::jetstream;
use dossier_chain::{BatchBuilder, Genesis, Head, TrustRoot};
use dossier_jetstream::{JetStreamConfig, JetStreamLog};
use dossier_log::conformance::{events, founder};
use dossier_log::{EventLog as _, Publisher, verify_log};
use futures::StreamExt as _;

async fn open(url: &str, dir: &std::path::Path, ledger: &str, name: &str) -> JetStreamLog {
    JetStreamLog::open(&JetStreamConfig::new(
        url,
        ledger,
        dir.join(format!("{name}.db")),
    ))
    .await
    .expect("open")
}

/// The record bytes dossier would write for `n` events in batches of 999 (for the raw runs).
fn payloads(n: usize) -> Vec<Vec<u8>> {
    let signer = founder();
    let ledger = uuid::Uuid::new_v4();
    let mut out = Vec::new();
    let mut head = Head::empty();
    let mut b = 0;
    while out.len() < n {
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
        out.extend(records.into_iter().map(|r| r.bytes));
        b += 1;
    }
    out.truncate(n);
    out
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

/// The headers dossier puts on the `i`-th message of an atomic batch.
fn raw_batch_headers(id: &str, i: usize, expected: u64, event_id: &str) -> async_nats::HeaderMap {
    let mut h = async_nats::HeaderMap::new();
    h.insert("Nats-Batch-Id", id);
    h.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
    if i == 0 {
        h.insert("Nats-Expected-Last-Sequence", expected.to_string().as_str());
    }
    h.insert("Nats-Msg-Id", event_id);
    h
}

/// The same record bytes as ADR-50 atomic batches of 1,000 (999 events + seal) with dossier's
/// headers (batch id and sequence, the head precondition on the first message, the event id as
/// `Nats-Msg-Id`), the commit's answer awaited — and nothing else: no hashing, no index, no
/// duplicate check. Batch *k+1* is staged while *k* commits; at most `commits` commits are in
/// flight (1 is what dossier does: a batch is committed only after the one before succeeded).
async fn raw_atomic(
    client: &async_nats::Client,
    subject: &str,
    payloads: &[Vec<u8>],
    commits: usize,
) -> f64 {
    let ids: Vec<String> = payloads
        .iter()
        .map(|p| {
            dossier_chain::RecordView::parse(p)
                .expect("record")
                .id
                .to_owned()
        })
        .collect();
    let started = Instant::now();
    let mut committing: std::collections::VecDeque<(
        async_nats::Subscriber,
        async_nats::Subscriber,
    )> = std::collections::VecDeque::new();
    let mut expected = 0u64;
    for (batch, ids) in payloads.chunks(1000).zip(ids.chunks(1000)) {
        // Stage.
        let id = uuid::Uuid::new_v4().simple().to_string();
        let inbox = client.new_inbox();
        let start = client.subscribe(inbox.clone()).await.expect("subscribe");
        let last = batch.len() - 1;
        for (i, p) in batch[..last].iter().enumerate() {
            let h = raw_batch_headers(&id, i, expected, &ids[i]);
            if i == 0 {
                client
                    .publish_with_reply_and_headers(
                        subject.to_owned(),
                        inbox.clone(),
                        h,
                        p.clone().into(),
                    )
                    .await
                    .expect("publish");
            } else {
                client
                    .publish_with_headers(subject.to_owned(), h, p.clone().into())
                    .await
                    .expect("publish");
            }
        }
        // Wait for room among the commits in flight.
        while committing.len() >= commits {
            let (start, commit) = committing.pop_front().expect("in flight");
            raw_settle(start, commit).await;
        }
        // Commit.
        let mut h = raw_batch_headers(&id, last, expected, &ids[last]);
        h.insert("Nats-Batch-Commit", "1");
        let inbox = client.new_inbox();
        let commit = client.subscribe(inbox.clone()).await.expect("subscribe");
        client
            .publish_with_reply_and_headers(
                subject.to_owned(),
                inbox,
                h,
                batch[last].clone().into(),
            )
            .await
            .expect("commit");
        committing.push_back((start, commit));
        expected += batch.len() as u64;
    }
    for (start, commit) in committing {
        raw_settle(start, commit).await;
    }
    let rate = payloads.len() as f64 / started.elapsed().as_secs_f64();
    let info = client_stream_last(client, subject).await;
    assert_eq!(info, payloads.len() as u64, "raw atomic batches stored");
    rate
}

/// Awaits a raw batch's commit answer (and the answer to its first message) and checks it.
async fn raw_settle(mut start: async_nats::Subscriber, mut commit: async_nats::Subscriber) {
    let reply = commit.next().await.expect("commit answer");
    let ack: serde_json::Value = serde_json::from_slice(&reply.payload).expect("json");
    assert!(ack.get("error").is_none(), "batch refused: {ack}");
    let first = start.next().await.expect("start answer");
    assert!(
        !String::from_utf8_lossy(&first.payload).contains("\"error\""),
        "batch start refused"
    );
}

/// The last sequence of the stream holding `subject`.
async fn client_stream_last(client: &async_nats::Client, subject: &str) -> u64 {
    let js = jetstream::new(client.clone());
    let name = js.stream_by_subject(subject).await.expect("stream name");
    let mut s = js.get_stream(name).await.expect("stream");
    s.info().await.expect("info").state.last_sequence
}

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
    n as f64 / started.elapsed().as_secs_f64()
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
    let batches = n / 999;
    let n = batches * 999;
    let server = dossier_testkit::NatsServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let client = async_nats::connect(&url).await.expect("connect");
    let js = jetstream::new(client.clone());

    // Raw: the same record bytes (seals included), the best in-flight window.
    let raw_records = payloads(n + batches);
    let mut raw_best = (0.0, 0);
    for (i, window) in [256usize, 1024, 4000].into_iter().enumerate() {
        let name = format!("RAW{i}");
        js.create_stream(jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![format!("raw{i}")],
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await
        .expect("raw stream");
        let rate = raw_publish(&js, &format!("raw{i}"), &raw_records, window).await;
        // Count events as dossier does: seals are overhead, not events.
        let rate = rate * n as f64 / raw_records.len() as f64;
        println!("raw publish, window {window:>5}: {rate:>10.0} events/s");
        if rate > raw_best.0 {
            raw_best = (rate, i);
        }
    }

    // Raw atomic batches of the same bytes: dossier's pipelining (one commit in flight), and
    // deeper commit pipelining to show what the server's atomic path can take.
    let mut raw_atomic_rates = Vec::new();
    for (i, commits) in [1usize, 4].into_iter().enumerate() {
        let subject = format!("rawatomic{i}");
        js.create_stream(jetstream::stream::Config {
            name: format!("RAWATOMIC{i}"),
            subjects: vec![subject.clone()],
            storage: jetstream::stream::StorageType::File,
            allow_atomic_publish: true,
            duplicate_window: std::time::Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .expect("raw atomic stream");
        let rate = raw_atomic(&client, &subject, &raw_records, commits).await;
        let rate = rate * n as f64 / raw_records.len() as f64;
        raw_atomic_rates.push((commits, rate));
    }

    let log = open(&url, dir.path(), "bench", "single").await;
    let genesis = Genesis::build(
        uuid::Uuid::new_v4(),
        "bench",
        &founder(),
        time::OffsetDateTime::now_utc(),
    )
    .expect("genesis");
    log.append(0, &genesis, &[]).await.expect("genesis");
    let ours = dossier_publish(&log, batches, 999, "d").await;
    println!("\n== append, {n} events of ~600 B bodies (batches of 999 + seal)");
    println!("raw async-nats (best window) {:>10.0} events/s", raw_best.0);
    for (commits, rate) in &raw_atomic_rates {
        println!(
            "raw atomic batches, {commits} commit{} in flight {rate:>10.0} events/s   ratio {:.2}",
            if *commits == 1 { " " } else { "s" },
            rate / raw_best.0
        );
    }
    println!(
        "dossier publish_all          {ours:>10.0} events/s   ratio {:.2}  ({:.2} of raw atomic, 1 commit in flight)",
        ours / raw_best.0,
        ours / raw_atomic_rates[0].1
    );

    let raw_rate = raw_read(&js, &format!("RAW{}", raw_best.1), raw_records.len()).await;
    let raw_rate = raw_rate * n as f64 / raw_records.len() as f64;
    let started = Instant::now();
    let report = verify_log(&log, TrustRoot::Pinned(founder().public()), |_| {})
        .await
        .expect("verify");
    assert!(report.ok(), "{:?}", report.failures.first());
    let verify_rate = n as f64 / started.elapsed().as_secs_f64();
    println!("\n== replay of {} records", report.records);
    println!("raw ordered consumer         {raw_rate:>10.0} events/s");
    println!(
        "dossier verify_log           {verify_rate:>10.0} events/s   ratio {:.2}",
        verify_rate / raw_rate
    );

    // One producer against eight, batches of 100, on fresh ledgers.
    let per_producer = 20;
    let single = {
        let l = open(&url, dir.path(), "one", "one").await;
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
        let first = open(&url, dir.path(), "eight", "eight-0").await;
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
            let l = open(&url, dir.path(), "eight", &format!("eight-{}", p + 1)).await;
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
