//! A JetStream cluster of `nats-server` processes on loopback.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::server::{ClusterArgs, Readiness, free_port, log_tail};
use crate::{Error, NatsServer, NatsServerBuilder, Result, RouteProxy};

/// How long a cluster may take to elect a JetStream meta leader.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Configures and starts a [`NatsCluster`].
#[derive(Debug, Clone)]
pub struct NatsClusterBuilder {
    size: usize,
    cluster_name: String,
    config_files: Vec<PathBuf>,
    config_text: Option<String>,
    route_credentials: Option<(String, String)>,
    store_dir_env: Option<String>,
    ready_timeout: Duration,
    partitionable: bool,
}

impl NatsClusterBuilder {
    /// A cluster of `size` nodes named `n1`, `n2`, ... in cluster `dossier-test`.
    pub fn new(size: usize) -> Self {
        NatsClusterBuilder {
            size,
            cluster_name: "dossier-test".into(),
            config_files: Vec::new(),
            config_text: None,
            route_credentials: None,
            store_dir_env: None,
            ready_timeout: CLUSTER_READY_TIMEOUT,
            partitionable: false,
        }
    }

    /// Routes every connection between two nodes through a [`RouteProxy`] of its own (one per
    /// ordered pair), so that [`NatsCluster::partition`] can cut a node off from the others
    /// while its clients still reach it. Nodes advertise an unreachable route address, so that
    /// no node learns another's real route port by gossip and connects around the proxies.
    pub fn partitionable(mut self) -> Self {
        self.partitionable = true;
        self
    }

    /// Names the cluster (`--cluster_name`; ignored with [`Self::config_files`]).
    pub fn cluster_name(mut self, name: impl Into<String>) -> Self {
        self.cluster_name = name.into();
        self
    }

    /// One configuration file per node, used as they are: they name the servers and the
    /// cluster. The harness still overrides, with command-line flags, the client, monitoring
    /// and route listen addresses (loopback, free ports) and the routes, and sets the store
    /// directory (`-sd` or [`Self::store_dir_env`]).
    pub fn config_files<P: Into<PathBuf>>(mut self, files: impl IntoIterator<Item = P>) -> Self {
        self.config_files = files.into_iter().map(Into::into).collect();
        self
    }

    /// The same configuration text for every node.
    pub fn config_text(mut self, text: impl Into<String>) -> Self {
        self.config_text = Some(text.into());
        self
    }

    /// Credentials the routes present to each other, for configurations whose `cluster` block
    /// has an `authorization` (the harness's `--routes` replace the file's route URLs).
    pub fn route_credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.route_credentials = Some((user.into(), password.into()));
        self
    }

    /// Passes each node's store directory in this environment variable instead of `-sd` (see
    /// [`NatsServerBuilder::store_dir_env`]).
    pub fn store_dir_env(mut self, variable: impl Into<String>) -> Self {
        self.store_dir_env = Some(variable.into());
        self
    }

    /// How long to wait for the meta leader (default 30 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Starts every node, then waits until all of them agree on a JetStream meta leader and
    /// report themselves healthy.
    pub fn start(self) -> Result<NatsCluster> {
        if self.size == 0 {
            return Err(Error::Config("a cluster needs at least one node".into()));
        }
        if !self.config_files.is_empty() && self.config_files.len() != self.size {
            return Err(Error::Config(format!(
                "{} configuration files for {} nodes",
                self.config_files.len(),
                self.size
            )));
        }
        let route_ports = (0..self.size)
            .map(|_| free_port())
            .collect::<Result<Vec<_>>>()?;
        // proxies[j][i]: node j's route to node i.
        let mut proxies: Vec<Vec<Option<RouteProxy>>> = Vec::new();
        if self.partitionable {
            for j in 0..self.size {
                let row = (0..self.size)
                    .map(|i| {
                        (i != j)
                            .then(|| RouteProxy::start(route_ports[i]))
                            .transpose()
                    })
                    .collect::<Result<Vec<_>>>()?;
                proxies.push(row);
            }
        }
        let mut nodes = Vec::with_capacity(self.size);
        for (i, &route_port) in route_ports.iter().enumerate() {
            let routes = match proxies.get(i) {
                Some(row) => std::iter::once(route_port)
                    .chain(row.iter().flatten().map(RouteProxy::port))
                    .collect(),
                None => route_ports.clone(),
            };
            let mut builder = NatsServerBuilder::new().ready_timeout(self.ready_timeout);
            if let Some(variable) = &self.store_dir_env {
                builder = builder.store_dir_env(variable.clone());
            }
            let mut cluster = ClusterArgs {
                name: None,
                port: route_port,
                routes,
                credentials: self.route_credentials.clone(),
                // Port 1 on loopback: nothing listens there.
                advertise: self.partitionable.then(|| "127.0.0.1:1".to_owned()),
            };
            if let Some(file) = self.config_files.get(i) {
                builder = builder.config_file(file);
            } else {
                if let Some(text) = &self.config_text {
                    builder = builder.config_text(text.clone());
                }
                builder = builder.server_name(format!("n{}", i + 1));
                cluster.name = Some(self.cluster_name.clone());
            }
            builder.cluster = Some(cluster);
            builder.readiness = Readiness::Listening;
            nodes.push(builder.spawn()?);
        }
        let mut cluster = NatsCluster {
            nodes,
            names: Vec::new(),
            ready_timeout: self.ready_timeout,
            proxies,
        };
        for node in &mut cluster.nodes {
            node.wait_ready(Readiness::Listening)?;
        }
        cluster.names = cluster
            .nodes
            .iter()
            .map(|node| {
                let varz = node.monitor_json("/varz")?;
                Ok(varz["server_name"].as_str().unwrap_or_default().to_owned())
            })
            .collect::<Result<_>>()?;
        cluster.wait_until_ready()?;
        Ok(cluster)
    }
}

/// A JetStream cluster on loopback. Nodes are numbered from 0; killed on drop.
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<NatsServer>,
    names: Vec<String>,
    ready_timeout: Duration,
    /// With [`NatsClusterBuilder::partitionable`]: `proxies[j][i]` carries node j's route to i.
    proxies: Vec<Vec<Option<RouteProxy>>>,
}

impl NatsCluster {
    /// Starts a cluster of `n` JetStream nodes and waits for its meta leader.
    ///
    /// # Panics
    /// If no usable `nats-server` is installed or the cluster does not form in time.
    pub fn start(n: usize) -> NatsCluster {
        match Self::builder(n).start() {
            Ok(cluster) => cluster,
            Err(e) => panic!("dossier-testkit: cannot start a {n}-node nats-server cluster: {e}"),
        }
    }

    /// A builder for clusters with configuration files or text.
    pub fn builder(n: usize) -> NatsClusterBuilder {
        NatsClusterBuilder::new(n)
    }

    /// Number of nodes (running or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if the cluster has no nodes (never, once started).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &NatsServer {
        &self.nodes[i]
    }

    /// Node `i`, mutably (to stop it gracefully, for instance).
    pub fn node_mut(&mut self, i: usize) -> &mut NatsServer {
        &mut self.nodes[i]
    }

    /// The server names of the nodes, as they reported them at start.
    pub fn server_names(&self) -> &[String] {
        &self.names
    }

    /// Every node's client URL.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(NatsServer::url).collect()
    }

    /// Every node's client URL joined with commas, as clients accept a server list.
    pub fn url(&self) -> String {
        self.urls().join(",")
    }

    /// Cuts node `k` off from every other node (their routes, both ways); its clients still
    /// reach it. Needs [`NatsClusterBuilder::partitionable`].
    ///
    /// # Panics
    /// If the cluster was not started partitionable.
    pub fn partition(&self, k: usize) {
        assert!(
            !self.proxies.is_empty(),
            "start the cluster with .partitionable()"
        );
        for (j, row) in self.proxies.iter().enumerate() {
            for (i, p) in row.iter().enumerate() {
                if let Some(p) = p
                    && (i == k || j == k)
                {
                    p.cut();
                }
            }
        }
    }

    /// Heals every partition: routes may connect again (the nodes reconnect on their own).
    pub fn heal(&self) {
        for p in self.proxies.iter().flatten().flatten() {
            p.heal();
        }
    }

    /// Kills node `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Restarts node `i` (same ports, same store; killed first if running) and waits until the
    /// running nodes agree on a meta leader and report themselves healthy.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.nodes[i].respawn()?;
        self.nodes[i].wait_ready(Readiness::Listening)?;
        self.wait_until_ready().map(drop)
    }

    /// The meta leader every running node agrees on, if they do and it is running.
    pub fn meta_leader(&mut self) -> Option<String> {
        self.observe_leader().ok()
    }

    /// Waits until the running nodes agree on a meta leader that is itself running, and each
    /// answers `/healthz` with 200; returns the leader's name.
    pub fn wait_for_meta_leader(&mut self) -> Result<String> {
        self.wait_until_ready()
    }

    /// Waits until every running node reports the same leader for `stream` and holds the same
    /// last sequence of it (each node's own replica, as its `/jsz` reports it); returns that
    /// last sequence.
    ///
    /// A healed partition or a restarted node is not in step at once: until its routes are back
    /// and it has caught up, a node can still answer for the stream from its own, older replica
    /// (a deposed leader answers stream info; any replica answers direct gets). Checks of what a
    /// cluster holds wait for this first, as an operator waits for a cluster to report itself
    /// whole before reading it back.
    ///
    /// # Errors
    /// [`Error::Timeout`] if the nodes do not agree within `timeout`, with what each reported.
    pub fn wait_for_stream_in_step(&mut self, stream: &str, timeout: Duration) -> Result<u64> {
        let started = Instant::now();
        loop {
            let last = match self.stream_states(stream) {
                Ok(states) => {
                    let first = &states[0];
                    if !first.0.is_empty() && states.iter().all(|s| s == first) {
                        return Ok(first.1);
                    }
                    format!("nodes report (leader, last seq) {states:?}")
                }
                Err(e) => e,
            };
            if started.elapsed() > timeout {
                return Err(Error::Timeout {
                    what: format!("stream {stream} in step on every node"),
                    waited: started.elapsed(),
                    last,
                    log: String::new(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Each running node's view of `stream`: (its leader, the node's own last sequence).
    fn stream_states(&mut self, stream: &str) -> std::result::Result<Vec<(String, u64)>, String> {
        let mut states = Vec::new();
        for (node, name) in self.nodes.iter_mut().zip(&self.names) {
            if !node.is_running() {
                continue;
            }
            let jsz = node
                .monitor_json("/jsz?streams=true&accounts=true")
                .map_err(|e| e.to_string())?;
            let detail = jsz["account_details"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|a| a["stream_detail"].as_array().into_iter().flatten())
                .find(|s| s["name"] == stream)
                .ok_or_else(|| format!("{name} holds no replica of {stream} yet"))?;
            states.push((
                detail["cluster"]["leader"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                detail["state"]["last_seq"].as_u64().unwrap_or_default(),
            ));
        }
        if states.is_empty() {
            return Err("no node is running".to_owned());
        }
        Ok(states)
    }

    fn observe_leader(&mut self) -> std::result::Result<String, String> {
        let mut leader: Option<String> = None;
        let mut running_names = Vec::new();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if !node.is_running() {
                continue;
            }
            running_names.push(self.names[i].clone());
            let jsz = node.jsz().map_err(|e| e.to_string())?;
            let seen = jsz["meta_cluster"]["leader"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if seen.is_empty() {
                return Err(format!("{} sees no meta leader yet", self.names[i]));
            }
            match &leader {
                Some(l) if *l != seen => {
                    return Err(format!("nodes disagree on the meta leader: {l} / {seen}"));
                }
                _ => leader = Some(seen),
            }
        }
        let leader = leader.ok_or_else(|| "no node is running".to_owned())?;
        if !running_names.contains(&leader) {
            return Err(format!("meta leader {leader} is not running"));
        }
        Ok(leader)
    }

    fn wait_until_ready(&mut self) -> Result<String> {
        let started = Instant::now();
        loop {
            for node in &mut self.nodes {
                if node.pid().is_some() {
                    node.check_alive()?;
                }
            }
            let last = match self.observe_leader() {
                Ok(leader) => match self
                    .nodes
                    .iter_mut()
                    .filter(|n| n.pid().is_some())
                    .try_for_each(|n| n.probe(Readiness::Healthy))
                {
                    Ok(()) => return Ok(leader),
                    Err(e) => e,
                },
                Err(e) => e,
            };
            if started.elapsed() > self.ready_timeout {
                let log = self
                    .nodes
                    .iter()
                    .zip(&self.names)
                    .map(|(n, name)| {
                        format!(
                            "--- {name} ({}) ---\n{}",
                            n.log_path().display(),
                            log_tail(n.log_path())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(Error::Timeout {
                    what: format!("{}-node cluster", self.nodes.len()),
                    waited: started.elapsed(),
                    last,
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
