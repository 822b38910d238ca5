//! The JetStream backend under concurrency, server crashes, tampering and bad configuration,
//! against real `nats-server` processes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use dossier_chain::{FailureKind, TrustRoot, event_id};
use dossier_jetstream::{Credentials, JetStreamConfig, JetStreamError, JetStreamLog};
use dossier_log::conformance::{events, founder, init, verify_all};
use dossier_log::{EventLog as _, LogError, PublishOutcome, Publisher, verify_log};
use dossier_testkit::NatsServer;

fn config(url: &str, dir: &tempfile::TempDir, name: &str) -> JetStreamConfig {
    JetStreamConfig::new(url, "faults", dir.path().join(format!("{name}-index.db")))
}

async fn open(url: &str, dir: &tempfile::TempDir, name: &str) -> JetStreamLog {
    JetStreamLog::open(&config(url, dir, name))
        .await
        .expect("open")
}

/// A server, a directory for the local indexes (dropping it removes them), and a ledger
/// initialised there: log "p" and the ledger id.
async fn started() -> (NatsServer, tempfile::TempDir, JetStreamLog, uuid::Uuid) {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(&server.url(), &dir, "p").await;
    let ledger = init(&log).await;
    (server, dir, log, ledger)
}

/// Eight producers on their own connections publish 1,000 events each at once: one valid
/// chain, every event exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_producers_publish_a_thousand_events_each() {
    const PRODUCERS: usize = 8;
    const BATCHES: usize = 10;
    const PER_BATCH: usize = 100;
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let first = open(&server.url(), &dir, "init").await;
    let ledger = init(&first).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(PRODUCERS));
    let mut tasks = Vec::new();
    for p in 0..PRODUCERS {
        let log = open(&server.url(), &dir, &format!("p{p}")).await;
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let signer = founder();
            let publisher = Publisher::new(&log, &signer, ledger);
            barrier.wait().await;
            let mut retries = 0;
            for b in 0..BATCHES {
                match publisher
                    .publish(&events(&format!("p{p}b{b}"), PER_BATCH), &[])
                    .await
                    .expect("publish")
                {
                    PublishOutcome::Appended { retries: r, .. } => retries += r,
                    other => panic!("unexpected {other:?}"),
                }
            }
            retries
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.expect("producer");
    }
    let total = verify_all(&first).await;
    assert_eq!(
        total,
        2 + (PRODUCERS * BATCHES * (PER_BATCH + 1)) as u64,
        "every event exactly once"
    );
    let ids: Vec<_> = (0..PRODUCERS)
        .flat_map(|p| (0..BATCHES).map(move |b| (p, b)))
        .flat_map(|(p, b)| events(&format!("p{p}b{b}"), PER_BATCH))
        .map(|e| event_id(&e.event_type, &e.entity_key))
        .collect();
    assert!(
        first
            .lookup(&ids)
            .await
            .expect("lookup")
            .iter()
            .all(Option::is_some)
    );
    eprintln!("{conflicts} conflicts retried");
}

/// The server is killed (SIGKILL) and restarted on the same store while a producer publishes:
/// the publish in flight rides the outage out (no publish fails: the caller never retries),
/// no acknowledged event is lost, nothing is duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_and_restarted_while_publishing() {
    let mut server = NatsServer::builder()
        .config_text("jetstream { sync_interval: always }")
        .start()
        .expect("server");
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(&url, &dir, "producer").await;
    let ledger = init(&log).await;
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let producer = {
        let acked = Arc::clone(&acked);
        tokio::spawn(async move {
            let signer = founder();
            let publisher = Publisher::new(&log, &signer, ledger);
            for b in 0..30 {
                let evs = events(&format!("k{b}"), 50);
                let started = Instant::now();
                if let Err(e) = publisher.publish(&evs, &[]).await {
                    panic!("batch {b}: the publish did not ride the restart out: {e}");
                }
                acked.lock().expect("lock").push((b, started.elapsed()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            log
        })
    };
    while acked.lock().expect("lock").len() < 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart().expect("restart on the same store");
    let back = Instant::now();
    let log = producer.await.expect("producer");
    let acked = acked.lock().expect("lock").clone();
    assert_eq!(acked.len(), 30);
    // Prompt: no publish waited anything like a request timeout (10 s) once the server was
    // back within half a second.
    let slowest = acked.iter().map(|(_, t)| *t).max().expect("30 publishes");
    assert!(
        slowest < Duration::from_secs(6),
        "a publish took {slowest:?} across a 0.5 s outage (server back {:?} ago)",
        back.elapsed()
    );
    let total = verify_all(&log).await;
    assert_eq!(
        total,
        2 + 30 * 51,
        "no acknowledged event lost, nothing duplicated"
    );
}

/// While the server is down, a read fails as the server's condition, not as a corrupt ledger;
/// once it is back, the same log answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_is_reported_as_such_not_as_corruption() {
    let mut server = NatsServer::builder()
        .config_text("jetstream { sync_interval: always }")
        .start()
        .expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&server.url(), &dir, "p");
    cfg.request_timeout = Duration::from_secs(2);
    cfg.ride_out = Duration::from_secs(3);
    let log = JetStreamLog::open(&cfg).await.expect("open");
    init(&log).await;
    let before = log.head().await.expect("head");
    server.kill();
    let asked = Instant::now();
    let err = log.head().await.expect_err("no server, no head");
    let took = asked.elapsed();
    assert!(matches!(err, LogError::Server(_)), "{err:?}");
    // Asked again through the outage for `ride_out`, then reported.
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_secs(8),
        "reported after {took:?}"
    );
    assert!(!err.to_string().contains("corrupt"), "{err}");
    server.restart().expect("restart on the same store");
    let mut attempts = 0;
    let after = loop {
        match log.head().await {
            Ok(h) => break h,
            Err(e) => {
                attempts += 1;
                assert!(attempts < 100, "the log never answered again: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(after.seq, before.seq);
}

/// A message published to the ledger's subject with a plain client, bypassing dossier (a bare
/// record, as an earlier version stored them), is caught by verification at the seq where the
/// next batch would start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_published_behind_dossiers_back_are_detected() {
    let (server, _dir, log, ledger) = started().await;
    let signer = founder();
    Publisher::new(&log, &signer, ledger)
        .publish(&events("t", 3), &[])
        .await
        .expect("publish");
    let head = log.head().await.expect("head");
    let third = log.read(3, 1).await.expect("read").remove(0);

    let client = async_nats::connect(server.url()).await.expect("raw client");
    let js = jetstream::new(client);
    js.publish("dossier.faults.records", third.bytes.clone().into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    let report = verify_log(&log, TrustRoot::Pinned(founder().public()), |_| {})
        .await
        .expect("verify");
    let first = &report.failures[0];
    assert_eq!(
        (first.seq, first.kind),
        (head.seq + 1, FailureKind::BadFrame),
        "{:?}",
        report.failures
    );
    assert_eq!(
        report.last_sealed, head.seq,
        "readers expose nothing after the last seal"
    );
}

/// An administrator lowers the stream's limits behind dossier's back and records are dropped:
/// dossier refuses the stream from then on, and verification reports the missing records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowered_limits_drop_records_and_verification_reports_them() {
    let (server, dir, log, ledger) = started().await;
    let signer = founder();
    for b in 0..12 {
        Publisher::new(&log, &signer, ledger)
            .publish(&events(&format!("l{b}"), 2), &[])
            .await
            .expect("publish");
    }
    drop(log);

    let client = async_nats::connect(server.url()).await.expect("raw client");
    let js = jetstream::new(client);
    let mut stream = js.get_stream("DOSSIER_FAULTS").await.expect("stream");
    let mut cfg = stream.info().await.expect("info").config.clone();
    cfg.max_messages = 5;
    cfg.discard = jetstream::stream::DiscardPolicy::Old;
    js.update_stream(cfg).await.expect("the admin's update");

    let refused = JetStreamLog::open(&config(&server.url(), &dir, "p"))
        .await
        .expect_err("unsafe stream");
    assert!(
        matches!(refused, JetStreamError::UnsafeStream { .. }),
        "{refused}"
    );
    let mut cfg = config(&server.url(), &dir, "auditor");
    cfg.allow_unsafe_stream = true;
    let log = JetStreamLog::open(&cfg).await.expect("open for audit");
    let report = verify_log(&log, TrustRoot::Pinned(founder().public()), |_| {})
        .await
        .expect("verify");
    let first = &report.failures[0];
    assert_eq!(
        (first.seq, first.kind),
        (1, FailureKind::Gap),
        "{:?}",
        report.failures
    );
    assert!(first.detail.contains("missing"), "{}", first.detail);
}

/// A stream configured so that records could be deleted is refused, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsafe_existing_stream_is_refused() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let client = async_nats::connect(server.url()).await.expect("raw client");
    let js = jetstream::new(client);
    js.create_stream(jetstream::stream::Config {
        name: "DOSSIER_FAULTS".into(),
        subjects: vec!["dossier.faults.records".into()],
        ..Default::default()
    })
    .await
    .expect("create");
    let err = JetStreamLog::open(&config(&server.url(), &dir, "p"))
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("deny_delete")
            && text.contains("deny_purge")
            && text.contains("allow-unsafe-stream"),
        "{text}"
    );
    let mut stream = js.get_stream("DOSSIER_FAULTS").await.expect("stream");
    assert_eq!(
        stream.info().await.expect("info").state.messages,
        0,
        "nothing written"
    );
}

/// Wrong credentials and an unreachable server are clear errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_and_unreachable_servers_are_clear_errors() {
    let server = NatsServer::builder()
        .user_password("producer", "right")
        .start()
        .expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&server.url(), &dir, "p");
    cfg.credentials = Credentials::UserPassword {
        user: "producer".into(),
        password: "wrong".into(),
    };
    let err = JetStreamLog::open(&cfg).await.expect_err("wrong password");
    assert!(matches!(err, JetStreamError::Connect { .. }), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("authorization"),
        "{err}"
    );
    cfg.credentials = Credentials::UserPassword {
        user: "producer".into(),
        password: "right".into(),
    };
    JetStreamLog::open(&cfg).await.expect("right password");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let cfg = config(&format!("nats://127.0.0.1:{closed}"), &dir, "q");
    let err = JetStreamLog::open(&cfg).await.expect_err("unreachable");
    assert!(matches!(err, JetStreamError::Connect { .. }), "{err}");
}

/// Points the ledger's stream at `subjects` (the test server's administrator may).
async fn set_subjects(js: &jetstream::Context, subjects: Vec<String>) {
    let mut stream = js.get_stream("DOSSIER_FAULTS").await.expect("stream");
    let mut cfg = stream.info().await.expect("info").config.clone();
    cfg.subjects = subjects;
    js.update_stream(cfg)
        .await
        .expect("update the stream's subjects");
}

/// A batch that no stream takes ("no responders", nothing stored) is published again once a
/// stream listens: a single batch, and a pipelined run of batches from the first one refused.
/// The stream is pointed away from the ledger's subject for 300 ms, as a cluster that has just
/// created a stream may not yet have told the server a producer publishes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_that_no_stream_takes_are_published_again_once_one_does() {
    let (server, _dir, log, ledger) = started().await;
    let js = jetstream::new(async_nats::connect(server.url()).await.expect("raw client"));
    let listening = js
        .get_stream("DOSSIER_FAULTS")
        .await
        .expect("stream")
        .info()
        .await
        .expect("info")
        .config
        .subjects
        .clone();
    let signer = founder();
    let mut appended = 0;
    for (round, count) in [1_usize, 4].into_iter().enumerate() {
        let start = log.head().await.expect("head");
        let mut head = start.clone();
        let mut batches = Vec::new();
        for b in 0..count {
            let evs = events(&format!("r{round}b{b}"), 30);
            let records = dossier_log::seal_batch(ledger, &head, &signer, &evs).expect("batch");
            let last = &records[records.len() - 1];
            head = dossier_chain::Head {
                seq: last.seq,
                hash: last.hash,
                recorded: Some(last.recorded.clone()),
            };
            batches.push((records, Vec::new()));
        }
        set_subjects(&js, vec!["dossier.faults.elsewhere".into()]).await;
        let restore = {
            let (js, listening) = (js.clone(), listening.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                set_subjects(&js, listening).await;
            })
        };
        let (receipts, error) = log
            .append_all(start.seq, &batches, &mut |_| {
                std::ops::ControlFlow::Continue(())
            })
            .await;
        restore.await.expect("restore the subjects");
        assert!(error.is_none(), "round {round}: {error:?}");
        assert_eq!(receipts.len(), count, "round {round}");
        assert_eq!(receipts.last().map(|r| r.last), Some(head.seq));
        appended += count * 31;
    }
    assert_eq!(verify_all(&log).await, 2 + appended as u64);
}

/// With several batch messages in flight, each names the message id of the batch before it:
/// when the first batch of a run fails (another producer appended first), none of the batches
/// sent behind it is stored on the other producer's batch, and the chain still verifies; a
/// run on the right head stores every batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_in_flight_are_never_stored_behind_a_failed_one() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&server.url(), &dir, "p");
    cfg.in_flight = 4;
    let log = JetStreamLog::open(&cfg).await.expect("open");
    let ledger = init(&log).await;
    let signer = founder();
    let start = log.head().await.expect("head");
    let mut head = start.clone();
    let mut batches = Vec::new();
    for b in 0..6 {
        let records = dossier_log::seal_batch(ledger, &head, &signer, &events(&format!("f{b}"), 3))
            .expect("batch");
        let last = &records[records.len() - 1];
        head = dossier_chain::Head {
            seq: last.seq,
            hash: last.hash,
            recorded: Some(last.recorded.clone()),
        };
        batches.push((records, Vec::new()));
    }
    // Another producer gets in first with a batch of the same length.
    let other = open(&server.url(), &dir, "other").await;
    Publisher::new(&other, &signer, ledger)
        .publish(&events("other", 3), &[])
        .await
        .expect("the other producer");
    let theirs = other.head().await.expect("head");
    let (receipts, error) = log
        .append_all(start.seq, &batches, &mut |_| {
            std::ops::ControlFlow::Continue(())
        })
        .await;
    assert!(receipts.is_empty(), "{receipts:?}");
    assert!(
        matches!(error, Some(dossier_log::AppendError::Conflict { .. })),
        "{error:?}"
    );
    assert_eq!(
        log.head().await.expect("head"),
        theirs,
        "nothing stored behind it"
    );
    assert_eq!(verify_all(&log).await, theirs.seq);
    let outcomes = Publisher::new(&log, &signer, ledger)
        .optimistic(true)
        .publish_all(
            (0..6)
                .map(|b| (events(&format!("g{b}"), 3), Vec::new()))
                .collect(),
        )
        .await
        .expect("a pipelined run");
    assert_eq!(outcomes.len(), 6);
    assert_eq!(verify_all(&log).await, theirs.seq + 6 * 4);
}

/// Batch messages carry their seal's record hash as `Nats-Msg-Id`, so within the duplicate
/// window the stream itself refuses a batch published again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_carry_their_seal_hash_as_the_message_id() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(&server.url(), &dir, "p").await;
    let ledger = init(&log).await;
    let signer = founder();
    Publisher::new(&log, &signer, ledger)
        .publish(&events("m", 3), &[])
        .await
        .expect("publish");
    let head = log.head().await.expect("head");
    let client = async_nats::connect(server.url()).await.expect("raw client");
    let js = jetstream::new(client);
    let stream = js.get_stream("DOSSIER_FAULTS").await.expect("stream");
    let last = stream.direct_get(2).await.expect("the batch message");
    assert_eq!(
        last.headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned()),
        Some(head.hash.to_hex())
    );
    let mut h = async_nats::HeaderMap::new();
    for name in [
        "Nats-Msg-Id",
        dossier_jetstream::FIRST_HEADER,
        dossier_jetstream::COUNT_HEADER,
    ] {
        h.insert(name, last.headers.get(name).expect("header").as_str());
    }
    let ack = js
        .publish_with_headers("dossier.faults.records", h, last.payload.clone())
        .await
        .expect("publish")
        .await
        .expect("ack");
    assert!(ack.duplicate, "the stream recognises the seal hash");
    assert_eq!(log.head().await.expect("head"), head);
}

/// Token and nkey authentication, the usual NATS ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_nkey_credentials_are_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NatsServer::builder()
        .config_text("authorization { token: \"t0k3n-for-tests\" }")
        .start()
        .expect("server");
    let mut cfg = config(&server.url(), &dir, "token");
    cfg.credentials = Credentials::Token("wrong".into());
    assert!(matches!(
        JetStreamLog::open(&cfg).await,
        Err(JetStreamError::Connect { .. })
    ));
    cfg.credentials = Credentials::Token("t0k3n-for-tests".into());
    let log = JetStreamLog::open(&cfg).await.expect("the right token");
    init(&log).await;
    drop(server);

    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().expect("seed");
    let server = NatsServer::builder()
        .config_text(format!(
            "authorization {{ users = [ {{ nkey: \"{}\" }} ] }}",
            user.public_key()
        ))
        .start()
        .expect("server");
    let mut cfg = config(&server.url(), &dir, "nkey");
    cfg.credentials = Credentials::NkeySeed(nkeys::KeyPair::new_user().seed().expect("seed"));
    assert!(
        matches!(
            JetStreamLog::open(&cfg).await,
            Err(JetStreamError::Connect { .. })
        ),
        "another key"
    );
    cfg.credentials = Credentials::NkeySeed(seed);
    let log = JetStreamLog::open(&cfg).await.expect("the registered nkey");
    init(&log).await;
    assert_eq!(verify_all(&log).await, 2);
}

/// TLS with a private certificate authority: trusted with `tls_ca`, refused without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let server_key = rcgen::KeyPair::generate().expect("server key");
    let server_cert =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server params")
            .signed_by(
                &server_key,
                &rcgen::Issuer::from_params(&ca_params, &ca_key),
            )
            .expect("server cert");
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let ca_pem = write("ca.pem", ca.pem());
    let cert = write("server.pem", server_cert.pem());
    let key = write("server-key.pem", server_key.serialize_pem());
    let server = NatsServer::builder()
        .config_text(format!(
            "tls {{ cert_file: \"{}\"\n key_file: \"{}\" }}",
            cert.display(),
            key.display()
        ))
        .start()
        .expect("a TLS server");

    let mut cfg = config(&server.url(), &dir, "untrusted");
    let err = JetStreamLog::open(&cfg)
        .await
        .expect_err("the private CA is not trusted by default");
    assert!(matches!(err, JetStreamError::Connect { .. }), "{err}");
    cfg = config(&server.url(), &dir, "trusted");
    cfg.tls_ca = Some(ca_pem);
    let log = JetStreamLog::open(&cfg).await.expect("TLS with the CA");
    init(&log).await;
    assert_eq!(verify_all(&log).await, 2);
}
