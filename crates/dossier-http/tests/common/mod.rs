//! A real service for the tests: a SQLite ledger of the example story (reports 1 and 2 at
//! TLP:CLEAR, report 3 and a question of its own at TLP:AMBER), the projector and auditor
//! stores beside it, and the server on a free loopback port.

#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dossier_access::{CredentialRequest, Expiry, GrantRequest, Role};
use dossier_auditor::{Auditor, Options};
use dossier_chain::{Signer, TrustRoot};
use dossier_http::{Config, LedgerGrants, Server};
use dossier_log::{EventLog as _, SqliteLog, ledger};
use dossier_model::Marking;

#[allow(unused_imports)] // each test binary uses some of them
pub use dossier_testkit::{check_exchange, py_tools, run_tool};
/// A question posed at TLP:CLEAR.
pub const CONTAINERS: &str = "question:dprk-russia/containers-shipped";

#[path = "../../../../tests/common/ledger.rs"]
mod ledger_fixture;
#[allow(unused_imports)]
pub use ledger_fixture::{AMBER_ONLY, amber_bundle, example};

pub fn founder() -> Signer {
    ledger_fixture::founder("http tests")
}

/// The example bundles of every test ledger: reports 1 and 2 (CLEAR), report 3 (AMBER).
pub fn story() -> Vec<Vec<u8>> {
    vec![
        example("01-late-february-estimate.json"),
        example("02-march-revision.json"),
        amber_bundle(),
    ]
}

/// A report bundle with one CLEAR question, numbered `n` (for growing the ledger).
pub fn clear_question_bundle(n: u32) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "version": 1,
        "marking": "TLP:CLEAR",
        "questions": [{
            "id": format!("question:test/grown-{n}"),
            "text": format!("Grown question {n}?"),
            "kind": { "type": "boolean" }
        }]
    }))
    .unwrap()
}

/// Publishes bundles through the ordinary path.
pub async fn publish<L: dossier_log::EventLog>(log: &L, bundles: &[Vec<u8>]) {
    ledger_fixture::publish(log, &founder(), bundles).await;
}

pub struct Service {
    pub dir: tempfile::TempDir,
    pub log: Arc<SqliteLog>,
    pub base: String,
    pub ledger: String,
    pub client: reqwest::Client,
    pub tokens: Tokens,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Service {
    /// `{base}/v1/ledgers/{ledger}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/ledgers/{}{path}", self.base, self.ledger)
    }

    pub fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(token)
    }

    pub async fn head(&self) -> u64 {
        self.log.head().await.unwrap().seq
    }

    /// Runs the auditor once: verifies everything and signs a checkpoint at the head.
    pub async fn audit(&self) {
        let options = Options {
            every: 1,
            ..Options::default()
        };
        let mut a = Auditor::open(
            &*self.log,
            &self.dir.path().join("auditor.db"),
            founder(),
            TrustRoot::Pinned(founder().public()),
            options,
        )
        .unwrap();
        let report = a.once().await.unwrap();
        assert!(report.healthy, "{report:?}");
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .unwrap()
                .unwrap();
        }
    }
}

/// Records a token grant through the access flow (as `dossier access grant` does), made at `at`
/// and expiring `expiry`; returns the token and the grant id.
pub async fn grant<L: dossier_log::EventLog>(
    log: &L,
    name: &str,
    role: Role,
    clearance: Marking,
    at: time::OffsetDateTime,
    expiry: Expiry,
) -> (String, String) {
    let granted =
        ledger_fixture::grant_token(log, &founder(), name, role, clearance, at, expiry).await;
    (granted.token.unwrap(), granted.info.grant)
}

/// Records a grant to the holder of a client certificate (PEM), as `dossier access grant
/// --cert` does; returns the grant id.
pub async fn grant_cert(
    log: &SqliteLog,
    name: &str,
    clearance: Marking,
    cert_pem: &[u8],
) -> String {
    let request = GrantRequest {
        principal: name.to_owned(),
        role: Role::Reader,
        clearance,
        expiry: Expiry::After(86_400),
        credential: CredentialRequest::Certificate {
            spki_sha256: dossier_access::spki_sha256_from_pem(cert_pem).unwrap(),
        },
    };
    let now =
        dossier_model::Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc()).unwrap();
    dossier_access::grant(log, &founder(), &request, now)
        .await
        .unwrap()
        .info
        .grant
}

/// The tokens of the grants every test service has.
pub struct Tokens {
    /// A reader cleared for TLP:GREEN.
    pub green: String,
    /// A reader cleared for TLP:RED.
    pub red: String,
    /// A producer (TLP:RED).
    pub producer: String,
    /// A RED reader whose grant expired.
    pub expired: String,
    /// A RED reader whose grant was revoked.
    pub revoked: String,
}

pub async fn tokens<L: dossier_log::EventLog>(log: &L) -> Tokens {
    let now = time::OffsetDateTime::now_utc();
    let day = Expiry::After(86_400);
    let (green, _) = grant(log, "green", Role::Reader, Marking::Green, now, day).await;
    let (red, _) = grant(log, "red", Role::Reader, Marking::Red, now, day).await;
    let (producer, _) = grant(log, "producer", Role::Producer, Marking::Red, now, day).await;
    let an_hour_ago = now - time::Duration::hours(1);
    let (expired, _) = grant(
        log,
        "expired",
        Role::Reader,
        Marking::Red,
        an_hour_ago,
        Expiry::After(60),
    )
    .await;
    let (revoked, id) = grant(log, "revoked", Role::Reader, Marking::Red, now, day).await;
    dossier_access::revoke(log, &founder(), &id, "tests")
        .await
        .unwrap();
    Tokens {
        green,
        red,
        producer,
        expired,
        revoked,
    }
}

/// Serves `log` with its views in `dir`; returns the base URL, a stop switch and the task.
pub async fn serve<L: dossier_log::EventLog + 'static>(
    log: Arc<L>,
    dir: &Path,
    ledger: &str,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let mut config = Config::new(
        "127.0.0.1:0".parse().unwrap(),
        ledger.to_owned(),
        dir.join("views.db"),
    );
    config.producer = Some(founder());
    let auth = Arc::new(LedgerGrants::new(Arc::clone(&log)));
    let server = Server::bind(config, log, auth).await.unwrap();
    let base = format!("http://{}", server.local_addr());
    let (stop, task) = spawn(server);
    (base, stop, task)
}

/// Serves until the switch is sent; returns the switch and the task.
fn spawn(
    server: Server,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (stop, task)
}

/// The example ledger (CLEAR reports 1 and 2, AMBER report 3), served.
pub async fn service() -> Service {
    service_with(|_| {}).await
}

pub async fn service_with(tweak: impl FnOnce(&mut Config)) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let log = ledger_fixture::new_ledger(dir.path(), &founder()).await;
    publish(&log, &story()).await;
    let tokens = tokens(&log).await;
    let ledger = ledger::genesis(&log).await.unwrap().unwrap().ledger;
    let mut config = Config::new(
        "127.0.0.1:0".parse().unwrap(),
        ledger.clone(),
        dir.path().join("views.db"),
    );
    config.auditor = Some(dir.path().join("auditor.db"));
    config.producer = Some(founder());
    config.access_log = Some(dir.path().join("access.db"));
    config.notify = Some(dir.path().join("notify.db"));
    tweak(&mut config);
    let log = Arc::new(log);
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let auth = Arc::new(LedgerGrants::new(Arc::clone(&log)));
    let server = Server::bind(config, Arc::clone(&log), auth).await.unwrap();
    let base = format!("{scheme}://{}", server.local_addr());
    let (stop, task) = spawn(server);
    Service {
        dir,
        log,
        base,
        ledger,
        client: reqwest::Client::new(),
        tokens,
        stop: Some(stop),
        task: Some(task),
    }
}

pub fn views_path(s: &Service) -> PathBuf {
    s.dir.path().join("views.db")
}
