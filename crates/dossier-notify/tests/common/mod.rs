//! A real ledger (SQLite file), its projector, access grants, and a webhook receiver (an HTTP
//! server on a free loopback port) that records what it receives.

#![allow(clippy::unwrap_used, dead_code)]

#[path = "../../../../tests/common/webhook.rs"]
mod webhook;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use dossier_access::{Expiry, Principal, Role};
use dossier_chain::Signer;
use dossier_log::SqliteLog;
use dossier_model::Marking;

#[path = "../../../../tests/common/ledger.rs"]
mod ledger_fixture;
use ledger_fixture::remark;
#[allow(unused_imports)]
pub use ledger_fixture::{AMBER_ONLY, amber_bundle, example};

pub fn founder() -> Signer {
    ledger_fixture::founder("notify tests")
}

pub fn remarked(name: &str, marking: &str) -> Vec<u8> {
    let mut b: serde_json::Value = serde_json::from_slice(&example(name)).unwrap();
    remark(&mut b, marking);
    serde_json::to_vec(&b).unwrap()
}

/// Publishes bundles through the ordinary path.
pub async fn publish(log: &SqliteLog, bundles: &[Vec<u8>]) {
    ledger_fixture::publish(log, &founder(), bundles).await;
}

/// Records a token grant; returns the principal it authenticates.
pub async fn grant(log: &SqliteLog, name: &str, clearance: Marking) -> Principal {
    let granted = ledger_fixture::grant_token(
        log,
        &founder(),
        name,
        Role::Reader,
        clearance,
        time::OffsetDateTime::now_utc(),
        Expiry::After(86_400),
    )
    .await;
    Principal {
        name: name.to_owned(),
        role: Role::Reader,
        clearance,
        grant: granted.info.grant,
    }
}

/// A ledger with its genesis, its views and notify store paths, and a running projector.
pub struct Ledger {
    pub dir: tempfile::TempDir,
    pub log: Arc<SqliteLog>,
    stop: tokio::sync::watch::Sender<bool>,
    projector: Option<tokio::task::JoinHandle<()>>,
}

impl Ledger {
    pub async fn new() -> Ledger {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(ledger_fixture::new_ledger(dir.path(), &founder()).await);
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let projector = {
            let log = Arc::clone(&log);
            let views = dir.path().join("views.db");
            tokio::spawn(async move {
                dossier_projector::run(&*log, &views, async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
                .unwrap();
            })
        };
        Ledger {
            dir,
            log,
            stop,
            projector: Some(projector),
        }
    }

    pub fn views(&self) -> PathBuf {
        self.dir.path().join("views.db")
    }

    pub fn sources(&self) -> dossier_query::Sources {
        dossier_query::Sources {
            views: self.views(),
            auditor: None,
            wait: Duration::from_secs(5),
        }
    }

    pub fn store(&self) -> dossier_notify::Store {
        dossier_notify::Store::open(&self.dir.path().join(dossier_notify::STORE_FILE)).unwrap()
    }

    /// The views' seq once they stand at the ledger's head.
    pub async fn settled(&self) -> u64 {
        let r = dossier_query::Reader::open(
            &*self.log,
            &self.sources(),
            dossier_query::Staleness::Refused,
        )
        .await
        .unwrap();
        assert_eq!(r.progress().lag(), 0);
        r.progress().applied
    }

    /// The changes of belief the read API answers for `clearance` after `after`.
    pub async fn changes(
        &self,
        clearance: Marking,
        after: u64,
    ) -> Vec<dossier_projector::Marked<dossier_beliefs::BeliefChange>> {
        let r = dossier_query::Reader::open(
            &*self.log,
            &self.sources(),
            dossier_query::Staleness::Refused,
        )
        .await
        .unwrap();
        r.changes_since(clearance, after, usize::MAX).unwrap()
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(p) = self.projector.take() {
            tokio::time::timeout(Duration::from_secs(10), p)
                .await
                .unwrap()
                .unwrap();
        }
    }
}

/// The notifier running in this process on a ledger's store.
pub struct Notifier {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    pub events: Arc<Mutex<Vec<dossier_notify::Event>>>,
}

impl Notifier {
    pub fn start(l: &Ledger, options: dossier_notify::Options) -> Notifier {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&l.log);
        let sources = l.sources();
        let store = l.store();
        let seen = Arc::clone(&events);
        let task = tokio::spawn(async move {
            let on = move |e: dossier_notify::Event| seen.lock().unwrap().push(e);
            dossier_notify::run(&*log, &sources, &store, &options, stopped, &on)
                .await
                .unwrap();
        });
        Notifier { stop, task, events }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    /// Requests still to fail (answered 500), per path.
    fail: std::collections::HashMap<String, usize>,
}

/// A webhook receiver on a free loopback port.
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    pub base: String,
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut inner = inner.lock().unwrap();
    let path = uri.path().to_owned();
    let status = match inner.fail.get_mut(&path) {
        Some(n) if *n > 0 => {
            *n -= 1;
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::NO_CONTENT,
    };
    inner.received.push(Received {
        path,
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
        body: body.to_vec(),
        status: status.as_u16(),
    });
    status
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { inner, base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The next `n` requests to `path` are answered 500.
    pub fn fail(&self, path: &str, n: usize) {
        self.inner.lock().unwrap().fail.insert(path.to_owned(), n);
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        self.inner
            .lock()
            .unwrap()
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `done` holds of what `path` received, or panics after `timeout`.
    pub async fn wait(
        &self,
        path: &str,
        timeout: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received(path);
            if done(&got) {
                return got;
            }
            assert!(
                start.elapsed() < timeout,
                "{path}: still waiting after {timeout:?}; received {} requests",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Checks a request's signature as a receiver does (`tests/common/webhook.rs`).
pub fn signature_valid(secret: &str, r: &Received) -> bool {
    webhook::signature_matches(secret, &r.id, &r.timestamp, &r.signature, &r.body)
}

/// What most delivery tests start from: a ledger with its projector, a receiver, the store, the
/// seq watches made now fire after, and a reader grant of each `(name, clearance)`, in order.
pub async fn watching<const N: usize>(
    readers: [(&str, Marking); N],
) -> (Ledger, Receiver, dossier_notify::Store, u64, [Principal; N]) {
    let l = Ledger::new().await;
    let mut principals = Vec::new();
    for (name, clearance) in readers {
        principals.push(grant(&l.log, name, clearance).await);
    }
    let rx = Receiver::start().await;
    let store = l.store();
    let since = l.settled().await;
    let Ok(principals) = principals.try_into() else {
        unreachable!("one principal per reader")
    };
    (l, rx, store, since, principals)
}
