//! A real ledger (SQLite file), its projector, access grants, and a webhook receiver (an HTTP
//! server on a free loopback port) that records what it receives.

#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use dossier_access::{CredentialRequest, Expiry, GrantRequest, Principal, Role};
use dossier_chain::{Genesis, Signer};
use dossier_log::{EventLog as _, Publisher, SqliteLog, ledger};
use dossier_model::{KnownEntities, Marking, parse_bundle, validate};

pub fn founder() -> Signer {
    Signer::from_secret([7; 32], "notify tests")
}

pub fn example(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name),
    )
    .unwrap()
}

/// Sets every `marking` in a bundle to `marking`.
fn remark(v: &mut serde_json::Value, marking: &str) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "marking" {
                    *x = serde_json::Value::String(marking.to_owned());
                } else {
                    remark(x, marking);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| remark(x, marking)),
        _ => {}
    }
}

pub fn remarked(name: &str, marking: &str) -> Vec<u8> {
    let mut b: serde_json::Value = serde_json::from_slice(&example(name)).unwrap();
    remark(&mut b, marking);
    serde_json::to_vec(&b).unwrap()
}

/// A question posed only at TLP:AMBER.
pub const AMBER_ONLY: &str = "question:test/amber-only";

/// Report 3 of the examples at TLP:AMBER (claims on questions of reports 1 and 2, a forecast
/// resolution), with a question of its own and a claim on it.
pub fn amber_bundle() -> Vec<u8> {
    let mut b: serde_json::Value =
        serde_json::from_slice(&remarked("03-follow-up.json", "TLP:AMBER")).unwrap();
    b["questions"] = serde_json::json!([{
        "id": AMBER_ONLY,
        "text": "Is this question visible below AMBER?",
        "kind": { "type": "boolean" }
    }]);
    serde_json::to_vec(&b).unwrap()
}

/// Publishes bundles through the ordinary path.
pub async fn publish(log: &SqliteLog, bundles: &[Vec<u8>]) {
    let genesis = ledger::genesis(log).await.unwrap().unwrap();
    let id: uuid::Uuid = genesis.ledger.parse().unwrap();
    let mut known = KnownEntities::default();
    for (i, bytes) in bundles.iter().enumerate() {
        let name = format!("bundle {i}");
        let parsed = parse_bundle(&name, bytes).unwrap();
        let refs = parsed.external_references();
        let fetched = ledger::known_entities(log, &refs).await.unwrap();
        known.extend(fetched);
        let v = validate(&name, parsed, &known).unwrap();
        ledger::remember(&mut known, &v);
        let (events, texts) = ledger::pending_events(&v);
        Publisher::new(log, &founder(), id)
            .publish(&events, &texts)
            .await
            .unwrap();
    }
}

/// Records a token grant; returns the principal it authenticates.
pub async fn grant(log: &SqliteLog, name: &str, clearance: Marking) -> Principal {
    let request = GrantRequest {
        principal: name.to_owned(),
        role: Role::Reader,
        clearance,
        expiry: Expiry::After(86_400),
        credential: CredentialRequest::Token,
    };
    let now =
        dossier_model::Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc()).unwrap();
    let granted = dossier_access::grant(log, &founder(), &request, now)
        .await
        .unwrap();
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
        let log = SqliteLog::open(&dir.path().join("ledger.db")).unwrap();
        let genesis = Genesis::build(
            uuid::Uuid::new_v4(),
            "notify tests",
            &founder(),
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
        log.append(0, &genesis, &[]).await.unwrap();
        let log = Arc::new(log);
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

/// Checks a request's signature as the Standard Webhooks specification says a receiver does,
/// from the secret shown at the watch's creation: strip `whsec_`, base64-decode the key, HMAC-
/// SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, base64, compare with each
/// space-separated `v1,` signature of the header.
pub fn signature_valid(secret: &str, r: &Received) -> bool {
    use base64::Engine as _;
    use hmac::Mac as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|k| b64.decode(k).ok())
    else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    let mut signed = format!("{}.{}.", r.id, r.timestamp).into_bytes();
    signed.extend_from_slice(&r.body);
    mac.update(&signed);
    let expected = b64.encode(mac.finalize().into_bytes());
    r.signature
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected)
}
