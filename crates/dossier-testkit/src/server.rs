//! One `nats-server` process.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{Error, Result, ServerBinary, http_get, server_binary};

/// How long [`NatsServer`] waits for a single server to become ready.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How many log lines errors and panics show.
const LOG_TAIL_LINES: usize = 60;

/// Picks a free loopback port: binds 127.0.0.1:0, notes the port and releases it. Ports are
/// never handed out twice in one process, so concurrent tests do not collide.
pub(crate) fn free_port() -> Result<u16> {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    for _ in 0..100 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| Error::io("binding 127.0.0.1:0 to pick a free port", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("reading a bound port", e))?
            .port();
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
    Err(Error::Config(
        "no free loopback port found in 100 attempts".into(),
    ))
}

/// Where a server's configuration comes from, besides the harness's command-line flags.
#[derive(Debug, Clone, Default)]
enum ConfigSource {
    #[default]
    None,
    File(PathBuf),
    Text(String),
}

/// Cluster membership of a node (set by [`crate::NatsCluster`]).
#[derive(Debug, Clone)]
pub(crate) struct ClusterArgs {
    /// `--cluster_name`, unless the node's configuration file names the cluster.
    pub(crate) name: Option<String>,
    /// This node's route port.
    pub(crate) port: u16,
    /// Route ports of every node (this one included).
    pub(crate) routes: Vec<u16>,
    /// User and password in the route URLs.
    pub(crate) credentials: Option<(String, String)>,
    /// The route address advertised to other nodes (`--cluster_advertise`).
    pub(crate) advertise: Option<String>,
}

/// What "ready" means for a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// The client port accepts connections and `/healthz` answers 200 (JetStream is up).
    Healthy,
    /// The client port accepts connections and `/varz` answers (cluster nodes, whose health
    /// depends on the others).
    Listening,
}

/// Configures and starts a [`NatsServer`]. Every server gets `-a 127.0.0.1`, a free client
/// port (`-p`), a free monitoring port (`-m`) and a store directory in a fresh temporary
/// directory (`-sd`, or an environment variable: see [`Self::store_dir_env`]); these flags take
/// precedence over any configuration file.
#[derive(Debug, Clone)]
pub struct NatsServerBuilder {
    jetstream: bool,
    config: ConfigSource,
    user: Option<(String, String)>,
    server_name: Option<String>,
    args: Vec<OsString>,
    store_dir_env: Option<String>,
    ready_timeout: Duration,
    pub(crate) cluster: Option<ClusterArgs>,
    pub(crate) ports: Option<(u16, u16)>,
    pub(crate) readiness: Readiness,
}

impl Default for NatsServerBuilder {
    fn default() -> Self {
        NatsServerBuilder {
            jetstream: true,
            config: ConfigSource::None,
            user: None,
            server_name: None,
            args: Vec::new(),
            store_dir_env: None,
            ready_timeout: READY_TIMEOUT,
            cluster: None,
            ports: None,
            readiness: Readiness::Healthy,
        }
    }
}

impl NatsServerBuilder {
    /// JetStream on (`-js`), no configuration file, no authentication.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns JetStream on (the default) or off. Off only omits `-js`: a configuration file
    /// that enables JetStream still does.
    pub fn jetstream(mut self, on: bool) -> Self {
        self.jetstream = on;
        self
    }

    /// Uses this configuration file as it is (`-c`); replaces any [`Self::config_text`].
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config = ConfigSource::File(path.into());
        self
    }

    /// Writes this configuration text to `server.conf` in the temporary directory and uses it
    /// (`-c`); replaces any [`Self::config_file`].
    pub fn config_text(mut self, text: impl Into<String>) -> Self {
        self.config = ConfigSource::Text(text.into());
        self
    }

    /// Requires this user and password of every client (`--user`, `--pass`). Not for
    /// configurations that define accounts or users themselves.
    pub fn user_password(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some((user.into(), password.into()));
        self
    }

    /// Passes the store directory in this environment variable instead of `-sd`, for
    /// configuration files that name it (`store_dir: $VARIABLE`): nats-server refuses `-sd`
    /// together with a `store_dir` in the file ("Duplicate 'store_dir' configuration").
    pub fn store_dir_env(mut self, variable: impl Into<String>) -> Self {
        self.store_dir_env = Some(variable.into());
        self
    }

    /// Sets the server name (`-n`).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Appends a raw command-line argument (for example `-DV` to trace the protocol).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// How long [`Self::start`] and [`NatsServer::restart`] wait for readiness (default 15 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Starts the server and waits until it is ready.
    pub fn start(self) -> Result<NatsServer> {
        let mut server = self.spawn()?;
        let readiness = server.readiness;
        server.wait_ready(readiness)?;
        Ok(server)
    }

    /// Starts the process without waiting (the cluster waits for all nodes together).
    pub(crate) fn spawn(self) -> Result<NatsServer> {
        let binary = server_binary().clone();
        let dir = tempfile::Builder::new()
            .prefix("dossier-nats-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary directory", e))?;
        let store_dir = dir.path().join("store");
        let log_path = dir.path().join("nats-server.log");
        let (port, monitor_port) = match self.ports {
            Some(ports) => ports,
            None => (free_port()?, free_port()?),
        };

        let mut args: Vec<OsString> = Vec::new();
        match &self.config {
            ConfigSource::None => {}
            ConfigSource::File(path) => {
                if !path.is_file() {
                    return Err(Error::Config(format!(
                        "configuration file {} does not exist",
                        path.display()
                    )));
                }
                args.extend(["-c".into(), path.clone().into_os_string()]);
            }
            ConfigSource::Text(text) => {
                let path = dir.path().join("server.conf");
                std::fs::write(&path, text)
                    .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
                args.extend(["-c".into(), path.into_os_string()]);
            }
        }
        if self.jetstream {
            args.push("-js".into());
        }
        args.extend(["-a".into(), "127.0.0.1".into()]);
        args.extend(["-p".into(), port.to_string().into()]);
        args.extend(["-m".into(), monitor_port.to_string().into()]);
        let mut env = Vec::new();
        match &self.store_dir_env {
            Some(variable) => {
                env.push((OsString::from(variable), store_dir.clone().into_os_string()))
            }
            None => args.extend(["-sd".into(), store_dir.clone().into_os_string()]),
        }
        if let Some(name) = &self.server_name {
            args.extend(["-n".into(), name.into()]);
        }
        if let Some((user, password)) = &self.user {
            args.extend([
                "--user".into(),
                user.into(),
                "--pass".into(),
                password.into(),
            ]);
        }
        let mut cluster_port = None;
        if let Some(cluster) = &self.cluster {
            cluster_port = Some(cluster.port);
            args.extend([
                "--cluster".into(),
                format!("nats://127.0.0.1:{}", cluster.port).into(),
            ]);
            let auth = match &cluster.credentials {
                Some((user, password)) => format!("{user}:{password}@"),
                None => String::new(),
            };
            let routes: Vec<String> = cluster
                .routes
                .iter()
                .map(|p| format!("nats://{auth}127.0.0.1:{p}"))
                .collect();
            args.extend(["--routes".into(), routes.join(",").into()]);
            if let Some(name) = &cluster.name {
                args.extend(["--cluster_name".into(), name.into()]);
            }
            if let Some(advertise) = &cluster.advertise {
                args.extend(["--cluster_advertise".into(), advertise.into()]);
            }
        }
        args.extend(self.args.iter().cloned());

        let mut server = NatsServer {
            binary,
            store_dir,
            log_path,
            args,
            env,
            port,
            monitor_port,
            cluster_port,
            child: None,
            ready_timeout: self.ready_timeout,
            readiness: self.readiness,
            dir,
        };
        server.spawn_process()?;
        Ok(server)
    }
}

/// A running `nats-server` on loopback, with JetStream and its own temporary store directory.
/// Killed (SIGKILL) and its directory removed on drop; if the current thread is panicking,
/// the end of its log is printed to stderr first.
#[derive(Debug)]
pub struct NatsServer {
    binary: ServerBinary,
    store_dir: PathBuf,
    log_path: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    port: u16,
    monitor_port: u16,
    cluster_port: Option<u16>,
    child: Option<Child>,
    ready_timeout: Duration,
    readiness: Readiness,
    // Last, so that the directory is removed after the process is gone.
    dir: TempDir,
}

impl NatsServer {
    /// Starts a server with JetStream and no authentication.
    ///
    /// # Panics
    /// If no usable `nats-server` is installed or it does not start: tests fail, never skip.
    pub fn start() -> NatsServer {
        match Self::builder().start() {
            Ok(server) => server,
            Err(e) => panic!("dossier-testkit: cannot start nats-server: {e}"),
        }
    }

    /// A builder for servers with a configuration, authentication or other options.
    pub fn builder() -> NatsServerBuilder {
        NatsServerBuilder::new()
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTP monitoring port (`/healthz`, `/varz`, `/jsz`, ...).
    pub fn monitor_port(&self) -> u16 {
        self.monitor_port
    }

    /// The cluster route port, for cluster nodes.
    pub fn cluster_port(&self) -> Option<u16> {
        self.cluster_port
    }

    /// The JetStream store directory given to the server (`-sd` or [`NatsServerBuilder::store_dir_env`]); the server keeps its data
    /// under `jetstream/` inside it. Survives [`Self::kill`] and [`Self::restart`].
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// The server's temporary directory (store, log, generated configuration); removed on drop.
    pub fn temp_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log file (stdout and stderr of every run, appended).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The end of the server's log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path)
    }

    /// The binary this server runs.
    pub fn binary(&self) -> &ServerBinary {
        &self.binary
    }

    /// The process id, while a process has been started and not yet killed or stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True if the process is running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the process with SIGKILL and waits for it to exit: a crash, with no chance to
    /// flush anything. No-op if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process gracefully (SIGTERM, sent with `nats-server --signal term=<pid>`),
    /// waiting up to 10 s before falling back to SIGKILL. No-op if it is not running.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let signalled = Command::new(&self.binary.path)
            .arg("--signal")
            .arg(format!("term={}", child.id()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if signalled {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Restarts the server on the same ports with the same store directory and configuration
    /// (killing it first if it is running) and waits until it is ready again.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn_process()?;
        let readiness = self.readiness;
        self.wait_ready(readiness)
    }

    /// Like [`Self::restart`], without waiting (cluster nodes wait for the meta leader instead).
    pub(crate) fn respawn(&mut self) -> Result<()> {
        self.kill();
        self.spawn_process()
    }

    /// `GET /jsz` on the monitoring port, parsed.
    pub fn jsz(&self) -> Result<serde_json::Value> {
        self.monitor_json("/jsz")
    }

    /// `GET <path>` on the monitoring port, parsed as JSON (status 200 only).
    pub fn monitor_json(&self, path: &str) -> Result<serde_json::Value> {
        let (status, body) = http_get(self.monitor_port, path)?;
        let fail = |reason: String| Error::Http {
            url: format!("http://127.0.0.1:{}{path}", self.monitor_port),
            reason,
        };
        if status != 200 {
            return Err(fail(format!("status {status}: {}", body.trim())));
        }
        serde_json::from_str(&body).map_err(|e| fail(format!("invalid JSON ({e}): {body}")))
    }

    fn spawn_process(&mut self) -> Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| Error::io(format!("opening {}", self.log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("duplicating the log file handle", e))?;
        let child = Command::new(&self.binary.path)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| Error::io(format!("starting {}", self.binary.path.display()), e))?;
        self.child = Some(child);
        Ok(())
    }

    /// Fails at once if the process has exited.
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        let status = match &mut self.child {
            None => Some("not started".to_owned()),
            Some(child) => match child.try_wait() {
                Ok(None) => None,
                Ok(Some(status)) => Some(status.to_string()),
                Err(e) => Some(format!("wait failed: {e}")),
            },
        };
        match status {
            None => Ok(()),
            Some(status) => {
                self.child = None;
                Err(Error::Exited {
                    status,
                    log_path: self.log_path.clone(),
                    log: self.log_tail(),
                })
            }
        }
    }

    /// One readiness probe; `Err` holds what was observed.
    pub(crate) fn probe(&self, readiness: Readiness) -> std::result::Result<(), String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            .map_err(|e| format!("client port {}: {e}", self.port))?;
        let path = match readiness {
            Readiness::Healthy => "/healthz",
            Readiness::Listening => "/varz",
        };
        match http_get(self.monitor_port, path) {
            Ok((200, _)) => Ok(()),
            Ok((status, body)) => Err(format!("{path}: status {status}: {}", body.trim())),
            Err(e) => Err(e.to_string()),
        }
    }

    pub(crate) fn wait_ready(&mut self, readiness: Readiness) -> Result<()> {
        let started = Instant::now();
        loop {
            self.check_alive()?;
            let last = match self.probe(readiness) {
                Ok(()) => return Ok(()),
                Err(last) => last,
            };
            if started.elapsed() > self.ready_timeout {
                return Err(Error::Timeout {
                    what: format!("nats-server on port {}", self.port),
                    waited: started.elapsed(),
                    last,
                    log: format!("log {}:\n{}", self.log_path.display(), self.log_tail()),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- nats-server on port {} (log {}), last lines ---\n{}",
                self.port,
                self.log_path.display(),
                self.log_tail()
            );
        }
        self.kill();
    }
}

/// The last lines of a log file.
pub(crate) fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        use std::io::Read;
        let _ = file.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}
