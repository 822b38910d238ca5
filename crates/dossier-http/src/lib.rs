//! The HTTP service of a dossier ledger: the typed answers of `dossier-query` over the network,
//! each computed for the caller's clearance.
//!
//! A [`Server`] is built from a [`Config`], a ledger ([`EventLog`]) and an [`Authenticator`],
//! binds its address at once ([`Server::bind`], port 0 for tests), and serves until a shutdown
//! future resolves ([`Server::serve`]); SSE streams end then, and requests in flight finish.
//!
//! Routes (documented in `docs/HTTP.md`, described by the OpenAPI document at
//! `/openapi.json`, checked in as `docs/openapi.json`):
//!
//! - `/v1/ledgers/{ledger}/…`: `beliefs`, `questions/{id}`, `questions/{id}/history`,
//!   `records`, `records/{seq}`, `records/{seq}/raw`, `texts/{hash}`, `checkpoint`,
//!   `proofs/inclusion/{seq}`, `proofs/consistency`, `status`, `POST bundles`,
//!   `POST reports/{report}/redaction` (admin: `dossier-redact`, as `dossier redact`),
//!   `events/records` and `events/beliefs` (Server-Sent Events), `watches` (each principal's
//!   own: list, create, remove) and `dead-letters` (admin: list, replay), over the notifier's
//!   store (`dossier-notify`). All need credentials.
//! - `/healthz`, `/readyz`, `/metrics`, `/openapi.json`: no credentials.
//!
//! Every JSON answer is a `dossier_query::Answer`; every error is an RFC 9457 problem
//! ([`Problem`]). All reads of the views go through one module (`query`), which passes the
//! principal's clearance to the query layer. Every request is logged through `tracing` with
//! its principal, route template, status and latency, and counted in `/metrics`.
//!
//! The service does not run the projector or the auditor; the process that runs it does
//! (`dossier serve --listen`). Without a running projector, each request brings the views up
//! to date itself.

mod auth;
mod body;
mod exchange;
mod metrics;
mod openapi;
mod problem;
mod query;
mod redaction;
mod routes;
mod sse;
mod tls;
mod watches;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dossier_log::EventLog;
use tokio::sync::watch;

pub use auth::{AuthError, AuthFuture, Authenticator, LedgerGrants, Principal, Role};
pub use openapi::openapi_json;
pub use problem::{PROBLEM_JSON, Problem, ProblemKind};
pub use redaction::NewRedaction;
pub use routes::{
    AuditorStatus, CheckpointAnswer, ConsistencyProof, Health, InclusionProof, RecordPage,
    SingleRecord, ViewsStatus,
};
pub use sse::BeliefEvent;
pub use tls::{ClientCert, TlsConfig, TlsError};
pub use watches::{CreatedWatch, DeadLetterList, NewWatch, Replayed, WatchList};

/// The default request-body limit: 8 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// How a [`Server`] is set up.
#[derive(Clone)]
pub struct Config {
    /// The address to listen on (port 0: any free port; see [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// The ledger's id, the `{ledger}` of every route; any other is 404.
    pub ledger: String,
    /// The belief views (`views.db`).
    pub views: PathBuf,
    /// The auditor's store (`auditor.db`), if one may exist: its alarms make answers refused,
    /// its last checkpoint is the one served and proved against.
    pub auditor: Option<PathBuf>,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Ready (`/readyz`) while the views are at most this many records behind the head.
    pub ready_lag: u64,
    /// How long a request waits for a running projector to reach the head before answering
    /// from where it stands (the answer says how far behind: `lag`).
    pub wait: Duration,
    /// The key that signs the batches of posted bundles (`None`: publishing is unavailable).
    pub producer: Option<dossier_chain::Signer>,
    /// TLS (and mutual TLS) settings; `None`: plain HTTP.
    pub tls: Option<TlsConfig>,
    /// The access log (`access.db`): every answer holding TLP:RED material is recorded there
    /// (who, what, when) before it is sent; `None`: not recorded.
    pub access_log: Option<PathBuf>,
    /// The notifier's store (`notify.db`, `dossier-notify`): the watches routes and the dead
    /// letters answer from it; `None`: they answer `503 unavailable`.
    pub notify: Option<PathBuf>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("ledger", &self.ledger)
            .field("views", &self.views)
            .field("auditor", &self.auditor)
            .field("body_limit", &self.body_limit)
            .field("ready_lag", &self.ready_lag)
            .field("wait", &self.wait)
            .field(
                "producer",
                &self.producer.as_ref().map(dossier_chain::Signer::id),
            )
            .finish()
    }
}

impl Config {
    /// A configuration with the defaults: 8 MiB bodies, ready within 1,000 records, no wait.
    #[must_use]
    pub fn new(listen: SocketAddr, ledger: String, views: PathBuf) -> Config {
        Config {
            listen,
            ledger,
            views,
            auditor: None,
            body_limit: DEFAULT_BODY_LIMIT,
            ready_lag: 1000,
            wait: Duration::ZERO,
            producer: None,
            tls: None,
            access_log: None,
            notify: None,
        }
    }
}

/// What every handler shares.
pub(crate) struct App<L> {
    pub(crate) log: Arc<L>,
    pub(crate) config: Config,
    pub(crate) sources: dossier_query::Sources,
    pub(crate) metrics: Arc<metrics::Metrics>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) access_log: Option<dossier_access::AccessLog>,
    /// The record hashes read so far, for proofs (see `dossier_query::Leaves`).
    pub(crate) leaves: dossier_query::Leaves,
    /// The recent events of the live feeds, shared by their followers (see `sse`).
    pub(crate) tails: sse::Tails,
    /// The notifier's store, if configured.
    pub(crate) notify: Option<Arc<dossier_notify::Store>>,
}

/// Why the service could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The access log could not be opened.
    #[error("opening the access log: {0}")]
    AccessLog(#[from] dossier_access::AccessError),
    /// The notifier's store could not be opened.
    #[error("opening the notifier's store: {0}")]
    Notify(#[from] dossier_notify::NotifyError),
    /// The listening socket could not be bound or failed.
    #[error("listening on {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The failure.
        source: std::io::Error,
    },
}

/// A bound, not yet serving, HTTP service.
pub struct Server {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    router: axum::Router,
    stop: watch::Sender<bool>,
    tls: Option<TlsConfig>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the listening socket and builds the routes.
    ///
    /// # Errors
    /// [`ServeError::Io`] if the address cannot be bound.
    pub async fn bind<L: EventLog + 'static>(
        config: Config,
        log: Arc<L>,
        auth: Arc<dyn Authenticator>,
    ) -> Result<Server, ServeError> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Io {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Io {
            addr: config.listen,
            source,
        })?;
        let (stop, shutdown) = watch::channel(false);
        let tls = config.tls.clone();
        let access_log = config
            .access_log
            .as_deref()
            .map(dossier_access::AccessLog::open)
            .transpose()?;
        let notify = config
            .notify
            .as_deref()
            .map(dossier_notify::Store::open)
            .transpose()?
            .map(Arc::new);
        let sources = dossier_query::Sources {
            views: config.views.clone(),
            auditor: config.auditor.clone(),
            wait: config.wait,
        };
        let app = Arc::new(App {
            log,
            config,
            sources,
            metrics: Arc::new(metrics::Metrics::new()),
            shutdown,
            access_log,
            leaves: dossier_query::Leaves::new(),
            tails: sse::Tails::default(),
            notify,
        });
        let router = routes::router(app, auth);
        Ok(Server {
            listener,
            addr,
            router,
            stop,
            tls,
        })
    }

    /// Serves `page`'s routes beside the API's (the web page, `dossier-web`). They must not
    /// overlap the API's and must have no fallback: the API's answers every other path.
    #[must_use]
    pub fn with_page(mut self, page: axum::Router) -> Server {
        self.router = self.router.merge(page);
        self
    }

    /// The address the service listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then ends the live streams and lets requests in flight
    /// finish.
    ///
    /// # Errors
    /// [`ServeError::Io`] if serving fails.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let stop = self.stop;
        let signal = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        if let Some(tls) = self.tls {
            tls::serve(self.listener, tls, self.router, signal).await;
            return Ok(());
        }
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(signal)
            .await
            .map_err(|source| ServeError::Io {
                addr: self.addr,
                source,
            })
    }
}
