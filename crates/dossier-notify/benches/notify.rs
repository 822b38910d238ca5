//! The notifier's throughput against the projector's, on the same publish (issue 18: keeps up,
//! ≥ 1.0×).
//!
//! - **Ledger**: `--bundles N` (default 100) generated report bundles (20 boolean questions and
//!   100 claims each: ~124 records), published through the ordinary check and publish path,
//!   after 10 access grants (TLP:RED readers).
//! - **Watches**: `--watches W` (default 1,000), made before the publish: `--every-question A`
//!   of them (default 1%) on every question, the rest each on one question, spread over the
//!   bundles' questions.
//! - **Live** (the target): the projector and the notifier run while the bundles are published
//!   as fast as the publish path goes; the projector's rate is the belief changes over the time
//!   from the first publish until its views reach the head, the notifier's the same changes
//!   over the time until every delivery was accepted by the receiver (an HTTP server in this
//!   process on a loopback port, answering 204). Their ratio says whether it keeps up.
//! - **Catch-up**: then, on the same ledger, the views built again from nothing (`catch_up`)
//!   and a notifier from position 0 over them (a fresh store with the same watches): each
//!   one's ceiling, one after the other.
//! - **Raw POSTs**: the same number of requests with the same bodies POSTed by a bare client at
//!   the same concurrency (no store, no signing): the delivery path's ceiling on this machine.
//!
//! `--pace MS` publishes one bundle every MS milliseconds instead of all at once (the live
//! phase then measures keeping up with a steady publish, not with a burst).
//!
//! Usage: `cargo bench -p dossier-notify --bench notify [-- --bundles N] [--watches W]
//! [--every-question A] [--pace MS]`.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../../../tests/common/bundles.rs"]
mod bundles;
#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dossier_access::Principal;
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

/// Adds the benchmark's watches (see the module documentation) to the store at `path`.
fn add_watches(
    path: &Path,
    principals: &[Principal],
    (n, all): (usize, usize),
    bundles: usize,
    url: &str,
    head: u64,
) {
    let store = Store::open(path).unwrap();
    for w in 0..n {
        let question = (w >= all).then(|| {
            let k = w - all;
            format!(
                "question:gen/b{}/q{}",
                k % bundles,
                (k / bundles) % QUESTIONS
            )
        });
        let spec = WatchSpec {
            question,
            trigger: Trigger::Change,
            url: url.to_owned(),
        };
        store
            .add_watch(&principals[w % principals.len()], &spec, head)
            .unwrap();
    }
}

/// The belief changes the views hold (TLP:RED), and the deliveries they make: one per (watch,
/// record) whose changes fire it.
async fn expected(log: &SqliteLog, views: &Path, store: &Store) -> (usize, u64, u64, String) {
    let sources = dossier_query::Sources {
        views: views.to_owned(),
        auditor: None,
        wait: Duration::ZERO,
    };
    let reader = dossier_query::Reader::open(log, &sources, dossier_query::Staleness::Refused)
        .await
        .unwrap();
    let changes = reader.changes_since(Marking::Red, 0, usize::MAX).unwrap();
    let mut per_record: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for c in &changes {
        per_record
            .entry(c.item.seq)
            .or_default()
            .push(c.item.question.as_str());
    }
    let mut deliveries = 0u64;
    for w in store.watches(None).unwrap() {
        for (seq, qs) in &per_record {
            if *seq > w.since && w.spec.question.as_deref().is_none_or(|q| qs.contains(&q)) {
                deliveries += 1;
            }
        }
    }
    let last = changes.last().map_or(0, |c| c.item.seq);
    let sample = changes.first().map(|c| {
        serde_json::to_string(&serde_json::json!({
            "type": "belief.changed", "ledger": "x", "watch": "y", "seq": c.item.seq,
            "hash": c.item.hash, "changes": [c]
        }))
        .unwrap()
    });
    (changes.len(), deliveries, last, sample.unwrap_or_default())
}

/// Runs a notifier on the store at `store` over `views` until `stop`.
fn notifier(
    dir: &Path,
    views: &Path,
    store: &Path,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (views, store) = (views.to_owned(), store.to_owned());
    let log = SqliteLog::open(&dir.join("ledger.db")).unwrap();
    tokio::spawn(async move {
        let store = Store::open(&store).unwrap();
        let sources = dossier_query::Sources {
            views,
            auditor: None,
            wait: Duration::ZERO,
        };
        let options = Options {
            concurrency: 64,
            ..Options::default()
        };
        dossier_notify::run(&log, &sources, &store, &options, stop, &|_| {})
            .await
            .unwrap();
    })
}

/// Waits until the receiver got `want` requests and the store has nothing queued.
async fn delivered(received: &AtomicU64, want: u64, store: &Store) {
    loop {
        if received.load(Ordering::Relaxed) >= want && store.pending().unwrap() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn bench() {
    let n_bundles = arg("--bundles", 100);
    let n_watches = arg("--watches", 1000);
    let n_all = arg("--every-question", n_watches / 100).min(n_watches);
    let pace = Duration::from_millis(arg("--pace", 0) as u64);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = Arc::new(SqliteLog::open(&d.join("ledger.db")).unwrap());
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
    let head = log.head().await.unwrap().seq;
    let live_store = d.join("notify-live.db");
    add_watches(
        &live_store,
        &principals,
        (n_watches, n_all),
        n_bundles,
        &url,
        head,
    );
    let generated: Vec<Vec<u8>> = (0..n_bundles)
        .map(|b| bundles::gen_bundle_with(&format!("b{b}"), QUESTIONS, CLAIMS, Some(5)).bytes())
        .collect();

    // Live: the projector and the notifier follow the publish.
    let views = d.join("views.db");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let projector = {
        let (log, views, mut stop) = (Arc::clone(&log), views.clone(), stop_rx.clone());
        tokio::spawn(async move {
            dossier_projector::run(&*log, &views, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
            .unwrap();
        })
    };
    let live = notifier(d, &views, &live_store, stop_rx.clone());
    eprintln!(
        "live: publishing {n_bundles} bundles ({QUESTIONS} questions, {CLAIMS} claims each) to {n_watches} watches…"
    );
    let t = Instant::now();
    if pace.is_zero() {
        common::publish(&log, &generated).await;
    } else {
        for b in &generated {
            common::publish(&log, std::slice::from_ref(b)).await;
            tokio::time::sleep(pace).await;
        }
    }
    let published = t.elapsed();
    let records = log.head().await.unwrap().seq;
    while dossier_projector::status(&*log, &views)
        .await
        .unwrap()
        .applied
        < records
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let projected = t.elapsed();
    let store = Store::open(&live_store).unwrap();
    let (n_changes, want, _, sample) = expected(&log, &views, &store).await;
    delivered(&received, want, &store).await;
    let notified = t.elapsed();
    let _ = stop_tx.send(true);
    live.await.unwrap();
    projector.await.unwrap();
    assert_eq!(
        received.load(Ordering::Relaxed),
        want,
        "every delivery arrived once"
    );
    assert!(store.dead_letters().unwrap().is_empty());
    let rate = |t: Duration| n_changes as f64 / t.as_secs_f64();
    eprintln!(
        "  {records} records published in {:.2} s; {n_changes} belief changes, {want} deliveries",
        published.as_secs_f64()
    );
    eprintln!(
        "  projector at the head after {:.2} s: {:.0} changes/s",
        projected.as_secs_f64(),
        rate(projected)
    );
    eprintln!(
        "  notifier done after {:.2} s: {:.0} changes/s, {:.0} requests/s",
        notified.as_secs_f64(),
        rate(notified),
        want as f64 / notified.as_secs_f64()
    );
    eprintln!(
        "  live ratio: notifier {:.2}x the projector's rate (target >= 1.0x); the last delivery {:.0} ms after the views reached the head",
        projected.as_secs_f64() / notified.as_secs_f64(),
        (notified - projected).as_secs_f64() * 1000.0
    );

    // Catch-up: each from nothing, one after the other.
    let views2 = d.join("views-catch-up.db");
    let t = Instant::now();
    dossier_projector::catch_up(&*log, &views2).await.unwrap();
    let projector = t.elapsed();
    let catch_up_store = d.join("notify-catch-up.db");
    add_watches(
        &catch_up_store,
        &principals,
        (n_watches, n_all),
        n_bundles,
        &url,
        head,
    );
    received.store(0, Ordering::Relaxed);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let t = Instant::now();
    let task = notifier(d, &views2, &catch_up_store, stop_rx);
    let store = Store::open(&catch_up_store).unwrap();
    delivered(&received, want, &store).await;
    let notifier_time = t.elapsed();
    let _ = stop_tx.send(true);
    task.await.unwrap();
    assert_eq!(received.load(Ordering::Relaxed), want);
    eprintln!(
        "catch-up: projector {:.2} s ({:.0} changes/s), notifier {:.2} s ({:.0} changes/s, {:.0} requests/s): {:.2}x",
        projector.as_secs_f64(),
        rate(projector),
        notifier_time.as_secs_f64(),
        rate(notifier_time),
        want as f64 / notifier_time.as_secs_f64(),
        projector.as_secs_f64() / notifier_time.as_secs_f64()
    );

    // Raw POSTs of as many requests, same concurrency, no store and no signing.
    received.store(0, Ordering::Relaxed);
    let client = reqwest::Client::new();
    let t = Instant::now();
    let body = Arc::new(sample);
    let per = want.div_ceil(64);
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
        "raw POSTs: {} requests in {:.2} s: {raw_rate:.0} requests/s; the notifier's catch-up delivers {:.2}x that",
        per * 64,
        raw.as_secs_f64(),
        (want as f64 / notifier_time.as_secs_f64()) / raw_rate
    );
}
