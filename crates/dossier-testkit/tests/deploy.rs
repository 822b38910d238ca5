//! The configurations in `deploy/` start as they are and enforce the permission model.
//!
//! The harness overrides only what a test must: the client, monitoring and (for the cluster)
//! route ports, on loopback, and the route URLs, with command-line flags; and it sets the
//! store directory through `DOSSIER_NATS_STORE_DIR`, which the files read (nats-server refuses
//! `-sd` together with a `store_dir` in the file). Everything else — users,
//! permissions, JetStream settings — comes from the files. The clients here speak the plain
//! NATS text protocol over a `TcpStream`, with `verbose` on so that every PUB is answered with
//! `+OK` or `-ERR`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dossier_testkit::{NatsCluster, NatsServer, workspace_root};
use serde_json::{Value, json};

const ADMIN: (&str, &str) = ("admin", "EXAMPLE-admin-password-REPLACE-ME");
const PRODUCER: (&str, &str) = ("producer", "EXAMPLE-producer-password-REPLACE-ME");
const READER: (&str, &str) = ("reader", "EXAMPLE-reader-password-REPLACE-ME");
const AUDITOR: (&str, &str) = ("auditor", "EXAMPLE-auditor-password-REPLACE-ME");
const ROUTE: (&str, &str) = ("route", "EXAMPLE-route-password-REPLACE-ME");

fn deploy(file: &str) -> PathBuf {
    workspace_root().join("deploy").join(file)
}

/// What the server answered to a publish.
#[derive(Debug)]
enum Reply {
    /// `+OK`, then this reply message (or `None` if none arrived within the timeout).
    Ok(Option<Value>),
    /// `-ERR '...'`.
    Err(String),
}

impl Reply {
    fn json(self, what: &str) -> Value {
        match self {
            Reply::Ok(Some(v)) => v,
            other => panic!("{what}: expected a reply, got {other:?}"),
        }
    }

    fn permission_violation(self, what: &str) -> String {
        match self {
            Reply::Err(e) if e.contains("Permissions Violation") => e,
            other => panic!("{what}: expected a permissions violation, got {other:?}"),
        }
    }
}

/// A minimal NATS client: one connection, one inbox subscription, synchronous requests.
struct Client {
    name: &'static str,
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    requests: u64,
}

impl Client {
    fn connect(port: u16, (user, pass): (&'static str, &str)) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut client = Client {
            name: user,
            writer: stream.try_clone().expect("clone"),
            reader: BufReader::new(stream),
            requests: 0,
        };
        let info = client.line();
        assert!(info.starts_with("INFO "), "{info}");
        let connect = json!({
            "verbose": true, "pedantic": false, "user": user, "pass": pass,
            "lang": "rust-test", "version": "0", "protocol": 1, "headers": true,
        });
        client.send(&format!("CONNECT {connect}\r\n"));
        let ok = client.line();
        assert_eq!(ok, "+OK", "{user}: CONNECT answered {ok}");
        client.send(&format!("SUB _INBOX.{user}.* 1\r\n"));
        let ok = client.line();
        assert_eq!(ok, "+OK", "{user}: SUB _INBOX answered {ok}");
        client
    }

    fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).expect("write");
    }

    /// The next protocol line, answering server PINGs on the way.
    fn line(&mut self) -> String {
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .unwrap_or_else(|e| panic!("{}: read: {e}", self.name));
            assert!(n > 0, "{}: connection closed", self.name);
            let line = line.trim_end().to_owned();
            if line == "PING" {
                self.send("PONG\r\n");
                continue;
            }
            return line;
        }
    }

    fn payload(&mut self, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len + 2];
        self.reader.read_exact(&mut buf).expect("payload");
        buf.truncate(len);
        buf
    }

    /// Publishes with a reply inbox; returns `-ERR`, or `+OK` and the reply if one arrives
    /// within `wait`.
    fn request_within(&mut self, subject: &str, payload: &str, wait: Duration) -> Reply {
        self.requests += 1;
        let inbox = format!("_INBOX.{}.{}", self.name, self.requests);
        self.send(&format!(
            "PUB {subject} {inbox} {}\r\n{payload}\r\n",
            payload.len()
        ));
        let ack = self.line();
        if let Some(err) = ack.strip_prefix("-ERR ") {
            return Reply::Err(err.to_owned());
        }
        assert_eq!(ack, "+OK", "{}: PUB {subject} answered {ack}", self.name);
        let deadline = Instant::now() + wait;
        self.reader
            .get_ref()
            .set_read_timeout(Some(wait))
            .expect("timeout");
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => panic!("{}: connection closed", self.name),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Reply::Ok(None);
                }
                Err(e) => panic!("{}: read: {e}", self.name),
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let body = match words.first().copied() {
                Some("PING") => {
                    self.send("PONG\r\n");
                    continue;
                }
                // MSG <subject> <sid> [reply] <bytes>
                Some("MSG") => {
                    let len = words
                        .last()
                        .and_then(|n| n.parse().ok())
                        .expect("MSG length");
                    self.payload(len)
                }
                // HMSG <subject> <sid> [reply] <header bytes> <total bytes>
                Some("HMSG") => {
                    let total: usize = words
                        .last()
                        .and_then(|n| n.parse().ok())
                        .expect("HMSG length");
                    let hdr: usize = words[words.len() - 2].parse().expect("HMSG header length");
                    let all = self.payload(total);
                    all[hdr..].to_vec()
                }
                _ => panic!(
                    "{}: unexpected {line:?} while waiting for a reply to {subject}",
                    self.name
                ),
            };
            // Replies arrive on the inbox; messages a pull consumer delivers keep their own
            // subject. Anything else on an inbox is a late reply to an earlier request.
            if words[1] != inbox && words[1].starts_with("_INBOX.") {
                assert!(
                    Instant::now() < deadline,
                    "{}: no reply to {subject}",
                    self.name
                );
                continue;
            }
            let body = String::from_utf8(body).expect("utf-8 reply");
            let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
            return Reply::Ok(Some(value));
        }
    }

    fn request(&mut self, subject: &str, payload: &str) -> Reply {
        self.request_within(subject, payload, Duration::from_secs(5))
    }

    /// A JetStream API request that must succeed.
    fn js(&mut self, subject: &str, payload: &str) -> Value {
        let reply = self.request(subject, payload).json(subject);
        assert!(
            reply.get("error").is_none(),
            "{}: {subject}: {reply}",
            self.name
        );
        reply
    }
}

fn ledger_stream_config(replicas: u32) -> String {
    json!({
        "name": "DOSSIER_T",
        "subjects": ["dossier.t.records"],
        "storage": "file",
        "retention": "limits",
        "discard": "new",
        "deny_delete": true,
        "deny_purge": true,
        "allow_rollup_hdrs": false,
        "allow_direct": true,
        "duplicate_window": 120_000_000_000_u64,
        "num_replicas": replicas,
    })
    .to_string()
}

fn checkpoint_stream_config(replicas: u32) -> String {
    json!({
        "name": "DOSSIER_T_CHECKPOINTS",
        "subjects": ["dossier.t.checkpoints", "dossier.t.alarms"],
        "storage": "file",
        "retention": "limits",
        "discard": "new",
        "deny_delete": true,
        "deny_purge": true,
        "allow_direct": true,
        "num_replicas": replicas,
    })
    .to_string()
}

fn texts_stream_config(replicas: u32) -> String {
    json!({
        "name": "DOSSIER_T_TEXTS",
        "subjects": ["dossier.t.texts.>"],
        "storage": "file",
        "retention": "limits",
        "discard": "new",
        "deny_delete": true,
        "deny_purge": true,
        "allow_direct": true,
        "num_replicas": replicas,
    })
    .to_string()
}

/// The permission model, checked against one running deployment.
/// Creates a stream, retrying while a busy cluster does not answer in time (creating a stream
/// again with the same configuration is not an error, so a retry after a lost answer is safe).
fn create_stream(admin: &mut Client, subject: &str, config: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match admin.request_within(subject, config, Duration::from_secs(10)) {
            Reply::Ok(Some(v)) => {
                assert!(v.get("error").is_none(), "{subject}: {v}");
                return v;
            }
            other => assert!(Instant::now() < deadline, "{subject}: no answer: {other:?}"),
        }
    }
}

/// Waits (bounded) until a stream has a leader and, if replicated, all replicas current.
fn wait_until_led(admin: &mut Client, stream: &str, replicas: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = admin.js(&format!("$JS.API.STREAM.INFO.{stream}"), "");
        let led = replicas <= 1
            || (info["cluster"]["leader"].is_string()
                && info["cluster"]["replicas"].as_array().is_some_and(|r| {
                    r.len() + 1 == replicas as usize && r.iter().all(|p| p["current"] == true)
                }));
        if led {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stream {stream} has no leader with current replicas: {info}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Publishes the first message of an empty stream and returns its acknowledgement. On a
/// cluster that has just formed the stream, a publish can go unanswered (a leader moving, or
/// interest not yet known to the node published through); it stored nothing if the stream
/// still holds nothing, so it is published again. If it was stored and only the answer was
/// lost, the stream's own state stands in for the acknowledgement.
fn first_message(
    client: &mut Client,
    admin: &mut Client,
    stream: &str,
    subject: &str,
    payload: &str,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.request(subject, payload) {
            Reply::Ok(Some(ack)) if ack.get("stream").is_some() => return ack,
            Reply::Ok(Some(ack)) if ack.get("error").is_some() => panic!("{subject}: {ack}"),
            Reply::Err(e) => panic!("{subject}: {e}"),
            // No answer in time, or "no responders" (a status without a body).
            Reply::Ok(_) => {}
        }
        let info = admin.js(&format!("$JS.API.STREAM.INFO.{stream}"), "");
        if info["state"]["messages"] != 0 {
            return json!({ "stream": stream, "seq": info["state"]["last_seq"] });
        }
        assert!(Instant::now() < deadline, "{subject}: never stored");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn check_permissions(port: u16, replicas: u32) {
    let mut admin = Client::connect(port, ADMIN);
    let mut producer = Client::connect(port, PRODUCER);
    let mut reader = Client::connect(port, READER);

    // The admin creates the ledger stream and its texts stream.
    let created = create_stream(
        &mut admin,
        "$JS.API.STREAM.CREATE.DOSSIER_T",
        &ledger_stream_config(replicas),
    );
    assert_eq!(created["config"]["name"], "DOSSIER_T", "{created}");
    create_stream(
        &mut admin,
        "$JS.API.STREAM.CREATE.DOSSIER_T_TEXTS",
        &texts_stream_config(replicas),
    );
    // A replicated stream answers publishes only once it has a leader and current replicas.
    for stream in ["DOSSIER_T", "DOSSIER_T_TEXTS"] {
        wait_until_led(&mut admin, stream, replicas);
    }

    // A producer appends, with a stored acknowledgement, and writes report texts.
    let ack = first_message(
        &mut producer,
        &mut admin,
        "DOSSIER_T",
        "dossier.t.records",
        "record-1",
    );
    assert_eq!(ack["stream"], "DOSSIER_T", "{ack}");
    assert_eq!(ack["seq"], 1, "{ack}");
    let ack = first_message(
        &mut producer,
        &mut admin,
        "DOSSIER_T_TEXTS",
        "dossier.t.texts.h.0",
        "report text",
    );
    assert_eq!(ack["stream"], "DOSSIER_T_TEXTS", "{ack}");
    let info = producer.js("$JS.API.STREAM.INFO.DOSSIER_T", "");
    assert_eq!(info["state"]["messages"], 1, "{info}");
    let direct = producer
        .request("$JS.API.DIRECT.GET.DOSSIER_T", r#"{"seq":1}"#)
        .json("producer direct get");
    assert_eq!(direct, Value::String("record-1".into()));

    // ...but may not change, purge or delete the stream, nor delete records.
    for subject in [
        "$JS.API.STREAM.UPDATE.DOSSIER_T",
        "$JS.API.STREAM.PURGE.DOSSIER_T",
        "$JS.API.STREAM.DELETE.DOSSIER_T",
        "$JS.API.STREAM.MSG.DELETE.DOSSIER_T",
        "$JS.API.STREAM.CREATE.DOSSIER_X",
        "$JS.API.STREAM.PURGE.DOSSIER_T_TEXTS",
    ] {
        let payload = if subject.contains("UPDATE") {
            ledger_stream_config(replicas)
        } else {
            "{}".into()
        };
        let err = producer
            .request(subject, &payload)
            .permission_violation(subject);
        assert!(err.contains(subject), "{err}");
    }

    // A reader reads, but publishes nothing.
    let err = reader
        .request("dossier.t.records", "forged")
        .permission_violation("reader append");
    assert!(err.contains("dossier.t.records"), "{err}");
    reader
        .request("dossier.t.texts.x.0", "forged")
        .permission_violation("reader chunk");
    reader
        .request("$JS.API.STREAM.DELETE.DOSSIER_T", "")
        .permission_violation("reader delete");
    let info = reader.js("$JS.API.STREAM.INFO.DOSSIER_T", "");
    assert_eq!(info["config"]["name"], "DOSSIER_T", "{info}");
    assert_eq!(info["state"]["messages"], 1, "{info}");
    let direct = reader
        .request("$JS.API.DIRECT.GET.DOSSIER_T", r#"{"seq":1}"#)
        .json("reader direct get");
    assert_eq!(direct, Value::String("record-1".into()));
    // Report texts are read by direct get of the last message on a chunk's subject.
    let text = reader
        .request("$JS.API.DIRECT.GET.DOSSIER_T_TEXTS.dossier.t.texts.h.0", "")
        .json("reader reads a text");
    assert_eq!(text, Value::String("report text".into()));
    // No role but admin may create a consumer, or pull from one (dossier reads without them).
    let mut auditor = Client::connect(port, AUDITOR);
    for (who, client) in [
        ("producer", &mut producer),
        ("reader", &mut reader),
        ("auditor", &mut auditor),
    ] {
        for subject in [
            "$JS.API.CONSUMER.CREATE.DOSSIER_T",
            "$JS.API.CONSUMER.CREATE.DOSSIER_T.c.dossier.t.records",
            "$JS.API.CONSUMER.DURABLE.CREATE.DOSSIER_T.c",
            "$JS.API.CONSUMER.MSG.NEXT.DOSSIER_T.c",
            "$JS.API.CONSUMER.INFO.DOSSIER_T.c",
        ] {
            client
                .request(subject, r#"{"stream_name":"DOSSIER_T","config":{}}"#)
                .permission_violation(&format!("{who} {subject}"));
        }
    }

    // The auditor reads the ledger and publishes checkpoints and alarms to the checkpoint
    // stream, which the admin creates with the ledger (`dossier init`); it may not create any
    // stream (not even a checkpoint stream: stream names are one token, so no rule can say
    // "*_CHECKPOINTS"), append records, nor change or remove streams.
    let direct = auditor
        .request("$JS.API.DIRECT.GET.DOSSIER_T", r#"{"seq":1}"#)
        .json("auditor direct get");
    assert_eq!(direct, Value::String("record-1".into()));
    auditor
        .request(
            "$JS.API.STREAM.CREATE.DOSSIER_T_CHECKPOINTS",
            &checkpoint_stream_config(replicas),
        )
        .permission_violation("auditor creates the checkpoint stream");
    let created = create_stream(
        &mut admin,
        "$JS.API.STREAM.CREATE.DOSSIER_T_CHECKPOINTS",
        &checkpoint_stream_config(replicas),
    );
    assert_eq!(
        created["config"]["name"], "DOSSIER_T_CHECKPOINTS",
        "{created}"
    );
    wait_until_led(&mut admin, "DOSSIER_T_CHECKPOINTS", replicas);
    let info = auditor.js("$JS.API.STREAM.INFO.DOSSIER_T_CHECKPOINTS", "");
    assert_eq!(info["config"]["name"], "DOSSIER_T_CHECKPOINTS", "{info}");
    let ack = auditor
        .request("dossier.t.checkpoints", "checkpoint-1")
        .json("auditor checkpoint");
    assert_eq!(ack["stream"], "DOSSIER_T_CHECKPOINTS", "{ack}");
    let ack = auditor
        .request("dossier.t.alarms", r#"{"kind":"truncated"}"#)
        .json("auditor alarm");
    assert_eq!(ack["stream"], "DOSSIER_T_CHECKPOINTS", "{ack}");
    for subject in [
        "dossier.t.records",
        "dossier.t.texts.x.0",
        "$JS.API.STREAM.CREATE.DOSSIER_X",
        "$JS.API.STREAM.DELETE.DOSSIER_T_CHECKPOINTS",
        "$JS.API.STREAM.PURGE.DOSSIER_T_CHECKPOINTS",
        "$JS.API.STREAM.UPDATE.DOSSIER_T",
    ] {
        auditor
            .request(subject, "{}")
            .permission_violation(&format!("auditor {subject}"));
    }
    // Neither a reader nor a producer may forge a checkpoint or an alarm.
    for subject in ["dossier.t.checkpoints", "dossier.t.alarms"] {
        let err = reader
            .request(subject, "forged")
            .permission_violation(&format!("reader {subject}"));
        assert!(err.contains(subject), "{err}");
        producer
            .request(subject, "forged")
            .permission_violation(&format!("producer {subject}"));
    }
    let info = admin.js("$JS.API.STREAM.INFO.DOSSIER_T_CHECKPOINTS", "");
    assert_eq!(info["state"]["messages"], 2, "{info}");

    // Only the admin may change the stream (here: harmlessly, its description).
    let mut update: Value = serde_json::from_str(&ledger_stream_config(replicas)).expect("json");
    update["description"] = "dossier ledger t".into();
    let updated = admin.js("$JS.API.STREAM.UPDATE.DOSSIER_T", &update.to_string());
    assert_eq!(
        updated["config"]["description"], "dossier ledger t",
        "{updated}"
    );
    let info = admin.js("$JS.API.STREAM.INFO.DOSSIER_T", "");
    assert_eq!(info["state"]["messages"], 1, "{info}");
}

/// The tests of this file run one at a time: each starts servers from the same deploy
/// configurations (fixed names, the same store-directory variable), and run side by side under
/// a loaded machine the 3-node cluster's consumer was seen to receive nothing for 30 s.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn single_node_config_starts_as_it_is_and_enforces_the_permissions() {
    let _serial = one_at_a_time();
    let t = Instant::now();
    let conf = deploy("nats-single.conf");
    let text = std::fs::read_to_string(&conf).expect("read deploy/nats-single.conf");
    // The harness passes `-a 127.0.0.1` to every server; the file must say so itself.
    assert!(
        text.contains("\nlisten: 127.0.0.1:4222\n"),
        "nats-single.conf must listen on loopback by default"
    );
    let server = NatsServer::builder()
        .config_file(&conf)
        .store_dir_env("DOSSIER_NATS_STORE_DIR")
        .start()
        .expect("start with deploy/nats-single.conf");

    let jsz = server.jsz().expect("/jsz");
    assert_eq!(
        jsz["config"]["sync_always"], true,
        "sync_interval: always is not in effect: {jsz}"
    );
    let varz = server.monitor_json("/varz").expect("/varz");
    assert_eq!(varz["server_name"], "dossier-1", "{varz}");
    assert_eq!(varz["auth_required"], true, "{varz}");

    check_permissions(server.port(), 1);
    eprintln!("single-node deploy config: {:?}", t.elapsed());
}

#[test]
fn cluster_configs_form_a_jetstream_cluster_with_the_same_permissions() {
    let _serial = one_at_a_time();
    let t = Instant::now();
    let cluster = NatsCluster::builder(3)
        .config_files((1..=3).map(|i| deploy(&format!("nats-cluster-{i}.conf"))))
        .route_credentials(ROUTE.0, ROUTE.1)
        .store_dir_env("DOSSIER_NATS_STORE_DIR")
        .start()
        .expect("start with deploy/nats-cluster-{1,2,3}.conf");
    assert_eq!(cluster.server_names(), ["nats-1", "nats-2", "nats-3"]);
    for i in 0..3 {
        let jsz = cluster.node(i).jsz().expect("/jsz");
        assert_eq!(jsz["config"]["sync_always"], true, "node {i}: {jsz}");
        assert_eq!(jsz["meta_cluster"]["name"], "dossier", "node {i}: {jsz}");
    }
    check_permissions(cluster.node(1).port(), 3);
    eprintln!("three-node deploy configs: {:?}", t.elapsed());
}

/// The consumer-copy hazard is closed (see deploy/README.md, "Consumers and deliver
/// subjects"): whoever may create a consumer may give it a deliver subject, where the server
/// then publishes the stream's messages without checking the creator's publish permissions —
/// into another ledger's subject of the same account. No role but admin may create one: neither
/// a producer nor a reader (nor the auditor) can copy ledger T's records into ledger U's
/// subject, nor read T through a consumer; T and U are unchanged.
#[test]
fn no_role_but_admin_can_copy_records_through_a_consumer() {
    let _serial = one_at_a_time();
    let server = NatsServer::builder()
        .config_file(deploy("nats-single.conf"))
        .store_dir_env("DOSSIER_NATS_STORE_DIR")
        .start()
        .expect("start with deploy/nats-single.conf");
    let mut admin = Client::connect(server.port(), ADMIN);
    let mut producer = Client::connect(server.port(), PRODUCER);
    let mut reader = Client::connect(server.port(), READER);
    let mut auditor = Client::connect(server.port(), AUDITOR);
    admin.js("$JS.API.STREAM.CREATE.DOSSIER_T", &ledger_stream_config(1));
    let other = ledger_stream_config(1)
        .replace("DOSSIER_T", "DOSSIER_U")
        .replace("dossier.t.", "dossier.u.");
    admin.js("$JS.API.STREAM.CREATE.DOSSIER_U", &other);
    producer
        .request("dossier.t.records", "batch-1")
        .json("append");
    let push = json!({"stream_name": "DOSSIER_T",
        "config": {"ack_policy": "none", "deliver_policy": "all", "deliver_subject": "dossier.u.records"}})
    .to_string();
    let pull = json!({"stream_name": "DOSSIER_T",
        "config": {"ack_policy": "none", "deliver_policy": "all"}})
    .to_string();
    for (who, client) in [
        ("producer", &mut producer),
        ("reader", &mut reader),
        ("auditor", &mut auditor),
    ] {
        for (subject, config) in [
            ("$JS.API.CONSUMER.CREATE.DOSSIER_T", &push),
            ("$JS.API.CONSUMER.CREATE.DOSSIER_T.copy", &push),
            ("$JS.API.CONSUMER.DURABLE.CREATE.DOSSIER_T.copy", &push),
            ("$JS.API.CONSUMER.CREATE.DOSSIER_T", &pull),
        ] {
            client
                .request(subject, config)
                .permission_violation(&format!("{who} creates a consumer on {subject}"));
        }
        client
            .request("$JS.API.CONSUMER.MSG.NEXT.DOSSIER_T.copy", r#"{"batch":1}"#)
            .permission_violation(&format!("{who} pulls"));
        // What they may do instead: read a message by direct get.
        let direct = client
            .request("$JS.API.DIRECT.GET.DOSSIER_T", r#"{"seq":1}"#)
            .json("direct get");
        assert_eq!(direct, Value::String("batch-1".into()), "{who}");
    }
    std::thread::sleep(Duration::from_millis(300));
    let messages = |admin: &mut Client, stream: &str| {
        admin.js(&format!("$JS.API.STREAM.INFO.{stream}"), "")["state"]["messages"]
            .as_u64()
            .expect("count")
    };
    assert_eq!(
        messages(&mut admin, "DOSSIER_U"),
        0,
        "nothing copied into U"
    );
    assert_eq!(messages(&mut admin, "DOSSIER_T"), 1);
    let consumers = admin.js("$JS.API.STREAM.INFO.DOSSIER_T", "")["state"]["consumer_count"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(consumers, 0, "no consumer was created");
}
