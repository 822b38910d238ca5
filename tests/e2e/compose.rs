//! The dossier services of `deploy/compose.yaml`, run as compose would run them — each
//! service's `command` and `environment`, nothing else — against the three-node cluster of
//! `deploy/nats-cluster-{1,2,3}.conf` with the permissions of `deploy/nats-accounts.conf`.
//!
//! No container engine is needed: the cluster is started natively (the deploy files as they
//! are, ports moved to free loopback ports by the harness), the host names `nats-1`..`nats-3`
//! are mapped to those ports, and each service volume's target (`/data`) to a temporary
//! directory. The compose file is read with a small line-based reader rather than a YAML
//! library: the services are kept in a plain shape (see the comment in the file), and the
//! reader fails loudly on anything it does not understand, so a change to that shape cannot
//! slip past this test.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dossier_testkit::{NatsCluster, workspace_root};

use crate::principals;
use crate::support::{
    Out, bin, example_paths, gen_bundle, http, run_in, stderr_lines, wait_for_line,
};

const ADMIN: (&str, &str) = ("admin", "EXAMPLE-admin-password-REPLACE-ME");
const PRODUCER: (&str, &str) = ("producer", "EXAMPLE-producer-password-REPLACE-ME");
const ROUTE: (&str, &str) = ("route", "EXAMPLE-route-password-REPLACE-ME");

/// One service of the compose file: what the container would be started with.
#[derive(Debug)]
struct Service {
    command: Vec<String>,
    environment: BTreeMap<String, String>,
    /// `(source, target)` of each volume.
    volumes: Vec<(String, String)>,
}

/// Resolves compose's `${VARIABLE:-default}` to its default (the test sets no variables), and
/// refuses any other `$` form.
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let inner = tail
            .strip_prefix("${")
            .and_then(|t| t.find('}').map(|end| &t[..end]))
            .unwrap_or_else(|| panic!("unsupported interpolation in {value:?}"));
        let (_, default) = inner
            .split_once(":-")
            .unwrap_or_else(|| panic!("interpolation without a default in {value:?}"));
        out.push_str(default);
        rest = &tail[inner.len() + 3..];
    }
    out.push_str(rest);
    out
}

/// The `command`, `environment` and `volumes` of service `name` (two-space indentation, as
/// the file is written).
fn service(text: &str, name: &str) -> Service {
    let header = format!("  {name}:");
    let mut lines = text
        .lines()
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| l.is_empty() || l.trim_start().starts_with('#') || l.starts_with("    "))
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .peekable();
    let mut s = Service {
        command: Vec::new(),
        environment: BTreeMap::new(),
        volumes: Vec::new(),
    };
    let mut found = false;
    while let Some(line) = lines.next() {
        found = true;
        let Some(entry) = line.strip_prefix("    ").filter(|e| !e.starts_with(' ')) else {
            continue; // the nested lines of a key not read here (build:)
        };
        let (key, value) = entry
            .split_once(':')
            .unwrap_or_else(|| panic!("{name}: cannot read {line:?}"));
        let nested = std::iter::from_fn(|| lines.next_if(|l| l.starts_with("      ")));
        match key {
            "command" => {
                s.command = serde_json::from_str(value.trim())
                    .unwrap_or_else(|e| panic!("{name}: command must be a [\"...\"] list: {e}"));
            }
            "environment" => {
                assert!(
                    value.trim().is_empty(),
                    "{name}: environment as KEY: value lines"
                );
                for l in nested {
                    let (k, v) = l
                        .trim()
                        .split_once(": ")
                        .unwrap_or_else(|| panic!("{name}: cannot read {l:?}"));
                    s.environment.insert(k.to_owned(), interpolate(v.trim()));
                }
            }
            "volumes" => {
                for l in nested {
                    let v = l
                        .trim()
                        .strip_prefix("- ")
                        .unwrap_or_else(|| panic!("{name}: cannot read {l:?}"));
                    let mut parts = v.split(':');
                    let source = parts.next().expect("source").to_owned();
                    let target = parts
                        .next()
                        .unwrap_or_else(|| panic!("{name}: volume without a target: {v:?}"));
                    s.volumes.push((source, target.to_owned()));
                }
            }
            _ => nested.for_each(drop),
        }
    }
    assert!(found, "no service {name} in deploy/compose.yaml");
    assert!(!s.command.is_empty(), "{name}: no command");
    assert!(!s.environment.is_empty(), "{name}: no environment");
    s
}

/// A service started as its container would be: `dossier <command>` with exactly its
/// environment (host names and volume targets mapped).
struct Running {
    name: &'static str,
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Lines read past by [`Running::line_after`]: a service's own lines come in no fixed
    /// order (the projector may catch up before the API listens), so they are still looked at.
    passed: std::cell::RefCell<Vec<String>>,
}

impl Running {
    fn start(name: &'static str, s: &Service, map: &dyn Fn(&str) -> String) -> Running {
        let mut child = Command::new(bin())
            .args(s.command.iter().map(|a| map(a)))
            .env_clear()
            .envs(s.environment.iter().map(|(k, v)| (k, map(v))))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let lines = stderr_lines(&mut child);
        Running {
            name,
            child,
            lines,
            passed: std::cell::RefCell::new(Vec::new()),
        }
    }

    fn wait_for(&self, needle: &str) {
        if self.passed.borrow().iter().any(|l| l.contains(needle)) {
            return;
        }
        wait_for_line(&self.lines, needle, Duration::from_secs(60));
    }

    /// The rest of the first line starting with `prefix`, waiting up to a minute.
    fn line_after(&self, prefix: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("{}: no line starting {prefix:?}", self.name));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
            self.passed.borrow_mut().push(line);
        }
    }

    /// SIGTERM (what `docker compose stop` sends), then the exit code and standard output.
    fn stop(mut self) -> (i32, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success(), "{}: kill -TERM failed", self.name);
        let mut stdout = String::new();
        self.child
            .stdout
            .take()
            .expect("stdout is piped")
            .read_to_string(&mut stdout)
            .expect("read stdout");
        let status = self.child.wait().expect("wait");
        // The stderr reader ends with the process; take what it read.
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            lines.push(line);
        }
        (
            status.code().unwrap_or(-1),
            format!("{stdout}\n--- stderr\n{}", lines.join("\n")),
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_compose_dossier_services_run_against_the_deploy_cluster() {
    let compose = workspace_root().join("deploy/compose.yaml");
    let text = std::fs::read_to_string(&compose).expect("read deploy/compose.yaml");
    assert!(
        !text.contains("NOT YET AVAILABLE"),
        "the dossier services are real"
    );
    let projector = service(&text, "dossier-projector");
    let auditor = service(&text, "dossier-auditor");
    let api = service(&text, "dossier-api");
    let notifier = service(&text, "dossier-notifier");
    assert_eq!(notifier.command, ["notify"]);
    assert_eq!(notifier.environment["NATS_USER"], "reader");
    assert_eq!(
        notifier.environment["DOSSIER_LEDGER"],
        projector.environment["DOSSIER_LEDGER"]
    );
    assert_eq!(projector.command[0], "projector");
    assert_eq!(auditor.command[0], "auditor");
    assert_eq!(api.command[..2], ["serve", "--listen"]);
    assert_eq!(projector.environment["NATS_USER"], "reader");
    assert_eq!(auditor.environment["NATS_USER"], "auditor");
    assert_eq!(api.environment["NATS_USER"], "producer");
    let ledger = projector.environment["DOSSIER_LEDGER"].clone();
    assert_eq!(auditor.environment["DOSSIER_LEDGER"], ledger);
    assert_eq!(api.environment["DOSSIER_LEDGER"], ledger);

    let cluster = NatsCluster::builder(3)
        .config_files(
            (1..=3).map(|i| workspace_root().join(format!("deploy/nats-cluster-{i}.conf"))),
        )
        .route_credentials(ROUTE.0, ROUTE.1)
        .store_dir_env("DOSSIER_NATS_STORE_DIR")
        .start()
        .expect("start with deploy/nats-cluster-{1,2,3}.conf");
    let ports: Vec<u16> = (0..3).map(|i| cluster.node(i).port()).collect();
    let tmp = tempfile::tempdir().expect("tempdir");
    let projector_data = tmp.path().join("projector-data");
    let auditor_home = tmp.path().join("auditor-home");
    let api_home = tmp.path().join("api-home");
    let producer_home = tmp.path().join("producer");
    // What the containers see: the nodes by host name, /data per service volume.
    let volume = |s: &Service, source: &str| -> PathBuf {
        let (_, target) = s
            .volumes
            .iter()
            .find(|(src, _)| src == source)
            .unwrap_or_else(|| panic!("no volume {source}: {:?}", s.volumes));
        assert_eq!(target, "/data");
        PathBuf::from(target)
    };
    let map_for = |data: PathBuf, target: PathBuf| {
        let ports = ports.clone();
        move |value: &str| -> String {
            let mut v = value.to_owned();
            for (i, port) in ports.iter().enumerate() {
                v = v.replace(
                    &format!("nats-{}:4222", i + 1),
                    &format!("127.0.0.1:{port}"),
                );
            }
            match v.strip_prefix(target.to_str().expect("utf-8")) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                    format!("{}{rest}", data.display())
                }
                _ => v,
            }
        }
    };
    let map_projector = map_for(
        projector_data.clone(),
        volume(&projector, "dossier-projector-data"),
    );
    let map_auditor = map_for(auditor_home.clone(), volume(&auditor, "./auditor-home"));
    let map_notifier = map_for(
        tmp.path().join("notifier-data"),
        volume(&notifier, "dossier-notifier-data"),
    );
    let map_api = {
        let map = map_for(api_home.clone(), volume(&api, "./api-home"));
        // The container's port, published by compose, is any free one here.
        move |v: &str| map(v).replace("0.0.0.0:8080", "127.0.0.1:0")
    };
    let url = map_projector(&projector.environment["NATS_URL"]);
    assert_eq!(url.matches("127.0.0.1:").count(), 3, "{url}");

    // The admin creates the ledger (replicated on the three nodes), a producer publishes the
    // examples and registers the auditor's key (the log key) and the API's (a producer key).
    let as_user = |(user, password): (&str, &str), args: &[&str]| -> Out {
        let mut all = vec![
            "--nats",
            url.as_str(),
            "--ledger",
            ledger.as_str(),
            "--nats-user",
            user,
            "--nats-password",
            password,
        ];
        all.extend_from_slice(args);
        run_in(&producer_home, &all)
    };
    as_user(ADMIN, &["--replicas", "3", "init"]).expect_code(0);
    let files: Vec<String> = example_paths();
    let mut publish = vec!["publish"];
    publish.extend(files.iter().map(String::as_str));
    as_user(PRODUCER, &publish).expect_code(0);
    as_user(
        PRODUCER,
        &["keys", "register", "--name", "auditor", "--role", "log"],
    )
    .expect_code(0);
    as_user(
        PRODUCER,
        &["keys", "register", "--name", "api", "--role", "producer"],
    )
    .expect_code(0);
    let keys = as_user(PRODUCER, &["keys", "list", "--json"]);
    keys.expect_code(0);
    let key_named = |name: &str| {
        keys.json()
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["name"] == name)
            .and_then(|k| k["key"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("the {name} key is registered"))
    };
    let head = |who| -> u64 {
        let out = as_user(who, &["verify", "--json"]);
        out.expect_code(0);
        out.json()["last_seq"].as_u64().expect("last_seq")
    };
    let first_head = head(PRODUCER);

    // The auditor's and the API's data directories, prepared as deploy/README.md says.
    for (home, name) in [(&auditor_home, "auditor"), (&api_home, "api")] {
        let key = key_named(name);
        std::fs::create_dir_all(home.join("keys")).expect("mkdir");
        let key_file = format!("{key}.key");
        std::fs::copy(
            producer_home.join("keys").join(&key_file),
            home.join("keys").join(&key_file),
        )
        .expect("copy the service's key");
        std::fs::write(home.join("producer"), format!("{key}\n")).expect("write producer");
        std::fs::copy(producer_home.join("root.pub"), home.join("root.pub"))
            .expect("copy root.pub");
    }

    // The projector catches up with reader credentials, then follows new records.
    let running = Running::start("dossier-projector", &projector, &map_projector);
    running.wait_for(&format!("caught up at seq {first_head}"));
    let exec = |s: &Service, map: &dyn Fn(&str) -> String, args: &[&str]| -> Out {
        Out::from_output(
            Command::new(bin())
                .args(args)
                .env_clear()
                .envs(s.environment.iter().map(|(k, v)| (k, map(v))))
                .output()
                .expect("runs"),
        )
    };
    let status = exec(&projector, &map_projector, &["views", "status", "--json"]);
    status.expect_code(0);
    let status = status.json();
    assert_eq!(status["seq"].as_u64(), Some(first_head), "{status}");
    assert_eq!(status["lag"].as_u64(), Some(0), "{status}");
    let beliefs = exec(&projector, &map_projector, &["beliefs", "--json"]);
    beliefs.expect_code(0);
    assert!(beliefs.stdout.contains("question:"), "{}", beliefs.stdout);

    let more = tmp.path().join("more.json");
    std::fs::write(&more, gen_bundle("compose", 2, 3).bytes()).expect("write bundle");
    as_user(PRODUCER, &["publish", more.to_str().expect("utf-8")]).expect_code(0);
    let second_head = head(PRODUCER);
    assert!(second_head > first_head);
    running.wait_for(&format!("caught up at seq {second_head}"));

    // The auditor verifies everything with auditor credentials and, stopped, signs a last
    // checkpoint, kept in its data directory and published to the checkpoint stream.
    let audit = Running::start("dossier-auditor", &auditor, &map_auditor);
    audit.wait_for(&format!("verified up to seq {second_head}"));
    let (code, out) = audit.stop();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("signed checkpoint at seq {second_head}")),
        "{out}"
    );
    assert!(
        !out.contains("not publishing checkpoints"),
        "the auditor publishes to JetStream: {out}"
    );
    let cp = tmp.path().join("checkpoint.txt");
    exec(
        &auditor,
        &map_auditor,
        &[
            "auditor",
            "checkpoint",
            "--out",
            cp.to_str().expect("utf-8"),
        ],
    )
    .expect_code(0);
    as_user(
        PRODUCER,
        &["verify", "--checkpoint", cp.to_str().expect("utf-8")],
    )
    .expect_code(0);
    let note = std::fs::read_to_string(&cp).expect("checkpoint");
    let published = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let client =
                async_nats::ConnectOptions::with_user_and_password(ADMIN.0.into(), ADMIN.1.into())
                    .connect(format!("127.0.0.1:{}", ports[0]))
                    .await
                    .expect("connect as admin");
            let stream = async_nats::jetstream::new(client)
                .get_stream(format!("DOSSIER_{}_CHECKPOINTS", ledger.to_uppercase()))
                .await
                .expect("the checkpoint stream");
            let info = stream.get_info().await.expect("info");
            assert_eq!(info.config.num_replicas, 3, "replicated like the ledger");
            stream
                .direct_get_last_for_subject(format!("dossier.{ledger}.checkpoints"))
                .await
                .expect("a published checkpoint")
                .payload
        });
    assert_eq!(
        std::str::from_utf8(&published).expect("utf-8"),
        note,
        "the published checkpoint is the one the auditor kept"
    );

    // The API with producer credentials: its own views and auditor, grants read from the
    // ledger, bundles posted by a producer signed with its key.
    let served = Running::start("dossier-api", &api, &map_api);
    let addr = served.line_after("api: listening on http://");
    served.wait_for(&format!("caught up at seq {second_head}"));
    let grant = |role: &str, clearance: &str| -> String {
        let out = as_user(PRODUCER, &principals::grant(role, role, clearance));
        out.expect_code(0);
        out.json()["token"].as_str().expect("token").to_owned()
    };
    let (reader, producer) = (grant("reader", "TLP:GREEN"), grant("producer", "TLP:RED"));
    let granted_head = head(PRODUCER);
    // Routes name the ledger by its id (the genesis record's entity), not by its stream name.
    let log = as_user(PRODUCER, &["log", "--json", "--limit", "1"]);
    log.expect_code(0);
    let id = log.json_lines()[0]["entity"]
        .as_str()
        .expect("the genesis names the ledger")
        .to_owned();
    let beliefs = format!("/v1/ledgers/{id}/beliefs");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let (status, body) = http(&addr, "GET", &beliefs, Some(&reader), None);
        if status == 200 {
            let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
            if answer["seq"].as_u64() == Some(granted_head) {
                break answer;
            }
        }
        assert!(std::time::Instant::now() < deadline, "{status} {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(answer["clearance"], "TLP:GREEN", "{answer}");
    assert!(answer.to_string().contains("question:"), "{answer}");
    let posted = gen_bundle("compose-api", 1, 2).bytes();
    let (status, body) = http(
        &addr,
        "POST",
        &format!("/v1/ledgers/{id}/bundles"),
        Some(&producer),
        Some(&posted),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        head(PRODUCER) > granted_head,
        "the posted bundle is in the ledger"
    );
    let (code, out) = served.stop();
    assert_eq!(code, 0, "SIGTERM stops the API cleanly: {out}");

    // The notifier with reader credentials: a watch made in its data directory for a grant
    // recorded in the ledger, and the changes of a publish delivered, signed.
    let watcher = as_user(
        PRODUCER,
        &[
            "access",
            "grant",
            "watcher",
            "--role",
            "reader",
            "--clearance",
            "TLP:GREEN",
            "--json",
        ],
    );
    watcher.expect_code(0);
    let watcher = watcher.json()["grant"].as_str().expect("grant").to_owned();
    let (hook, got) = crate::webhook::receiver("/compose");
    let added = exec(
        &notifier,
        &map_notifier,
        &[
            "watch", "add", "--grant", &watcher, "--url", &hook, "--json",
        ],
    );
    added.expect_code(0);
    let secret = added.json()["secret"].as_str().expect("secret").to_owned();
    let notify = Running::start("dossier-notifier", &notifier, &map_notifier);
    notify.wait_for("notify: started at seq");
    let later = tmp.path().join("later.json");
    std::fs::write(&later, gen_bundle("compose-notify", 1, 2).bytes()).expect("write bundle");
    as_user(PRODUCER, &["publish", later.to_str().expect("utf-8")]).expect_code(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let delivered = loop {
        let all = got.lock().expect("received").clone();
        if !all.is_empty() || std::time::Instant::now() > deadline {
            break all;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        !delivered.is_empty(),
        "no delivery from the compose notifier"
    );
    assert!(delivered.iter().all(|g| crate::webhook::signed(&secret, g)));
    let (code, out) = notify.stop();
    assert_eq!(code, 0, "SIGTERM stops the notifier cleanly: {out}");

    let (code, out) = running.stop();
    assert_eq!(code, 0, "SIGTERM stops the projector cleanly: {out}");
}

/// The reader of this test understands the file's plain shape, and `${VAR:-default}`.
#[test]
fn the_compose_reader_reads_what_it_is_given_and_refuses_the_rest() {
    let text = "services:\n  a:\n    image: x\n    build:\n      context: ..\n    command: [\"projector\", \"--page\", \"9\"]\n    # a comment\n    environment:\n      K: ${V:-d}/x\n      L: plain\n    volumes:\n      - v:/data\n  b:\n    command: [\"b\"]\n";
    let s = service(text, "a");
    assert_eq!(s.command, ["projector", "--page", "9"]);
    assert_eq!(s.environment["K"], "d/x");
    assert_eq!(s.environment["L"], "plain");
    assert_eq!(s.volumes, [("v".to_owned(), "/data".to_owned())]);
    assert!(std::panic::catch_unwind(|| interpolate("$V")).is_err());
    assert!(std::panic::catch_unwind(|| interpolate("${V}")).is_err());
    assert!(std::panic::catch_unwind(|| service(text, "c")).is_err());
    assert!(Path::new(bin()).is_file());
}
