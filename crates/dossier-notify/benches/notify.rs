//! The notifier's throughput against the projector's, on the same publish (issue 18: keeps up,
//! ≥ 1.0×).
//!
//! - **Ledger**: `--bundles N` (default 100) generated report bundles (20 boolean questions and
//!   100 claims each: ~124 records), published through the ordinary check and publish path,
//!   after 10 access grants (TLP:RED readers).
//! - **Watches**: `--watches W` (default 1,000), made before the publish: 1% on every question,
//!   the rest each on one question, spread over the bundles' questions.
//! - **Projector**: the views built from nothing over the whole ledger (`catch_up`): belief
//!   changes produced per second.
//! - **Notifier**: from position 0 over those views, every change matched, queued, signed and
//!   POSTed to a receiver on a loopback port (an HTTP server in this process answering 204),
//!   until nothing is queued: belief changes delivered per second (a change counts once all of
//!   its watches got it), and webhook requests per second.
//! - **Raw POSTs**: the same number of requests with the same bodies POSTed by a bare client at
//!   the same concurrency (no store, no signing): the delivery path's ceiling on this machine.
//!
//! Usage: `cargo bench -p dossier-notify --bench notify [-- --bundles N] [--watches W]`.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../../../tests/common/bundles.rs"]
mod bundles;
#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dossier_chain::Genesis;
use dossier_log::{EventLog as _, SqliteLog};
use dossier_model::Marking;
use dossier_notify::{Options, Store, Trigger, WatchSpec};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const QUESTIONS: usize = 20;
const CLAIMS: usize = 100;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().unwrap())
}

/// A receiver counting requests, answering 204.
async fn counter() -> (String, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&count);
    let app = axum::Router::new().fallback(axum::routing::post(move || {
        let c = Arc::clone(&c);
        async move {
            c.fetch_add(1, Ordering::Relaxed);
            axum::http::StatusCode::NO_CONTENT
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}

async fn bench() {
    let n_bundles = arg("--bundles", 100);
    let n_watches = arg("--watches", 1000);
    let dir = tempfile::tempdir().unwrap();
    let log = SqliteLog::open(&dir.path().join("ledger.db")).unwrap();
    let genesis = Genesis::build(
        uuid::Uuid::new_v4(),
        "notify bench",
        &common::founder(),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    log.append(0, &genesis, &[]).await.unwrap();
    let mut principals = Vec::new();
    for i in 0..10 {
        principals.push(common::grant(&log, &format!("analyst-{i}"), Marking::Red).await);
    }
    let (url, received) = counter().await;
    let store = Store::open(&dir.path().join(dossier_notify::STORE_FILE)).unwrap();
    let head = log.head().await.unwrap().seq;
    let all = (n_watches / 100).max(1);
    for w in 0..n_watches {
        let question = (w >= all).then(|| {
            let k = w - all;
            format!(
                "question:gen/b{}/q{}",
                k % n_bundles,
                (k / n_bundles) % QUESTIONS
            )
        });
        let spec = WatchSpec {
            question,
            trigger: Trigger::Change,
            url: url.clone(),
        };
        store
            .add_watch(&principals[w % principals.len()], &spec, head)
            .unwrap();
    }
    eprintln!("publishing {n_bundles} bundles ({QUESTIONS} questions, {CLAIMS} claims each)…");
    let t = Instant::now();
    let generated: Vec<Vec<u8>> = (0..n_bundles)
        .map(|b| bundles::gen_bundle_with(&format!("b{b}"), QUESTIONS, CLAIMS, Some(5)).bytes())
        .collect();
    common::publish(&log, &generated).await;
    let records = log.head().await.unwrap().seq;
    eprintln!("  {records} records in {:.1} s", t.elapsed().as_secs_f64());

    // The projector, from nothing.
    let views = dir.path().join("views.db");
    let t = Instant::now();
    dossier_projector::catch_up(&log, &views).await.unwrap();
    let projector = t.elapsed();
    let sources = dossier_query::Sources {
        views: views.clone(),
        auditor: None,
        wait: Duration::ZERO,
    };
    let reader = dossier_query::Reader::open(&log, &sources, dossier_query::Staleness::Refused)
        .await
        .unwrap();
    let changes = reader.changes_since(Marking::Red, 0, usize::MAX).unwrap();
    drop(reader);
    let n_changes = changes.len() as f64;
    // One delivery per (watch, record) whose changes fire it.
    let watches = store.watches(None).unwrap();
    let mut expected = 0u64;
    let mut sample_body = String::new();
    {
        let mut per_record: std::collections::BTreeMap<u64, Vec<&str>> = Default::default();
        for c in &changes {
            per_record
                .entry(c.item.seq)
                .or_default()
                .push(c.item.question.as_str());
        }
        for w in &watches {
            for (seq, qs) in &per_record {
                if *seq > w.since && w.spec.question.as_deref().is_none_or(|q| qs.contains(&q)) {
                    expected += 1;
                }
            }
        }
        if let Some(c) = changes.first() {
            sample_body = serde_json::to_string(&serde_json::json!({
                "type": "belief.changed", "ledger": "x", "watch": "y", "seq": c.item.seq,
                "hash": c.item.hash, "changes": [c]
            }))
            .unwrap();
        }
    }
    let projector_rate = n_changes / projector.as_secs_f64();
    eprintln!(
        "projector: {records} records, {n_changes} belief changes in {:.2} s: {projector_rate:.0} changes/s",
        projector.as_secs_f64()
    );

    // The notifier, from position 0 over the same views.
    let options = Options {
        concurrency: 64,
        ..Options::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let t = Instant::now();
    let task = {
        let views = views.clone();
        let store_path = dir.path().join(dossier_notify::STORE_FILE);
        let log = SqliteLog::open(&dir.path().join("ledger.db")).unwrap();
        tokio::spawn(async move {
            let store = Store::open(&store_path).unwrap();
            let sources = dossier_query::Sources {
                views,
                auditor: None,
                wait: Duration::ZERO,
            };
            dossier_notify::run(&log, &sources, &store, &options, stop_rx, &|_| {})
                .await
                .unwrap();
        })
    };
    loop {
        let done = received.load(Ordering::Relaxed) >= expected
            && store.position().unwrap().seq
                >= records.min(changes.last().map_or(0, |c| c.item.seq));
        if done && store.pending().unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let notifier = t.elapsed();
    let _ = stop_tx.send(true);
    task.await.unwrap();
    let got = received.load(Ordering::Relaxed);
    assert_eq!(got, expected, "every delivery arrived once");
    assert!(store.dead_letters().unwrap().is_empty());
    let notifier_rate = n_changes / notifier.as_secs_f64();
    let requests_rate = got as f64 / notifier.as_secs_f64();
    eprintln!(
        "notifier: {n_watches} watches, {got} deliveries in {:.2} s: {notifier_rate:.0} changes/s, {requests_rate:.0} requests/s",
        notifier.as_secs_f64()
    );

    // Raw POSTs of as many requests, same concurrency, no store and no signing.
    received.store(0, Ordering::Relaxed);
    let client = reqwest::Client::new();
    let t = Instant::now();
    let body = Arc::new(sample_body);
    let per = expected.div_ceil(64);
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (client, url, body) = (client.clone(), url.clone(), Arc::clone(&body));
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.as_bytes().to_vec())
                    .send()
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let raw = t.elapsed();
    let raw_rate = (per * 64) as f64 / raw.as_secs_f64();
    eprintln!(
        "raw POSTs: {} requests in {:.2} s: {raw_rate:.0} requests/s",
        per * 64,
        raw.as_secs_f64()
    );
    eprintln!(
        "ratio: notifier {:.2}× the projector's rate of producing changes (target ≥ 1.0×); delivery path {:.2}× raw POSTs",
        notifier_rate / projector_rate,
        requests_rate / raw_rate
    );
}
