//! The same commands against a ledger kept in NATS JetStream (a real `nats-server`).

use serde_json::Value;

use crate::support::{
    Out, command, example_files, example_paths, gen_bundle, run_in, run_in_with_stdin,
};

/// Runs `dossier --nats URL --ledger NAME ARGS…` with the data directory `dir`.
fn on_nats(dir: &std::path::Path, url: &str, args: &[&str]) -> Out {
    let mut all = vec!["--nats", url, "--ledger", "e2e"];
    all.extend_from_slice(args);
    run_in(dir, &all)
}

/// `(seq, type, entity)` of every record, seals included (whose entities, like the ledger id,
/// are random, so they are left out).
fn shape(out: &Out) -> Vec<(u64, String, String)> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .map(|v| {
            let ty = v["type"].as_str().unwrap_or_default().to_owned();
            let entity = if ty == "batch.seal" || ty == "ledger.genesis" {
                String::new()
            } else {
                v["entity"].as_str().unwrap_or_default().to_owned()
            };
            (v["seq"].as_u64().unwrap_or_default(), ty, entity)
        })
        .collect()
}

#[test]
fn every_command_works_the_same_on_jetstream_and_sqlite() {
    let server = dossier_testkit::NatsServer::start();
    let url = server.url();
    let js_dir = tempfile::tempdir().expect("tempdir");
    let sq_dir = tempfile::tempdir().expect("tempdir");
    let files: Vec<String> = example_paths();

    on_nats(js_dir.path(), &url, &["log"]).expect_code(6);
    on_nats(js_dir.path(), &url, &["init"]).expect_code(0);
    on_nats(js_dir.path(), &url, &["init"]).expect_code(1);
    run_in(sq_dir.path(), &["init"]).expect_code(0);

    let mut publish = vec!["publish"];
    publish.extend(files.iter().map(String::as_str));
    on_nats(js_dir.path(), &url, &publish).expect_code(0);
    run_in(sq_dir.path(), &publish).expect_code(0);
    let again = on_nats(js_dir.path(), &url, &["publish", &files[1]]);
    again.expect_code(0);
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);

    let bundle = gen_bundle("js", 2, 5).bytes();
    let mut stdin_args = vec!["--nats", url.as_str(), "--ledger", "e2e", "publish", "-"];
    run_in_with_stdin(js_dir.path(), &stdin_args, &bundle).expect_code(0);
    stdin_args.drain(..4);
    run_in_with_stdin(sq_dir.path(), &stdin_args, &bundle).expect_code(0);

    let js_log = on_nats(js_dir.path(), &url, &["log", "--json", "--seals"]);
    let sq_log = run_in(sq_dir.path(), &["log", "--json", "--seals"]);
    js_log.expect_code(0);
    assert_eq!(
        shape(&js_log),
        shape(&sq_log),
        "the same records in the same order on both backends"
    );
    assert_eq!(
        shape(&on_nats(
            js_dir.path(),
            &url,
            &["log", "--json", "--type", "claim", "--limit", "3"]
        ))
        .len(),
        3
    );

    let shown = on_nats(js_dir.path(), &url, &["show", "3", "--json"]);
    shown.expect_code(0);
    assert_eq!(shown.json()["record"]["type"], "report.recorded");

    let verify = on_nats(js_dir.path(), &url, &["verify", "--json"]);
    verify.expect_code(0);
    assert_eq!(verify.json()["ok"], true);

    on_nats(
        js_dir.path(),
        &url,
        &["keys", "register", "--name", "second", "--use-it"],
    )
    .expect_code(0);
    run_in_with_stdin(
        js_dir.path(),
        &["--nats", &url, "--ledger", "e2e", "publish", "-"],
        &gen_bundle("js2", 1, 2).bytes(),
    )
    .expect_code(0);
    let keys = on_nats(js_dir.path(), &url, &["keys", "list", "--json"]);
    assert_eq!(keys.json().as_array().map(Vec::len), Some(2));
    let verify = on_nats(js_dir.path(), &url, &["verify"]);
    verify.expect_code(0);
    assert!(
        verify.stdout.contains("matches the pinned trust root"),
        "{}",
        verify.stdout
    );

    let validate = on_nats(js_dir.path(), &url, &["validate", "--json", &files[0]]);
    validate.expect_code(0);
    assert_eq!(validate.json()[0]["new"], 0);
}

#[test]
fn bad_nats_settings_are_clear_errors_and_write_nothing() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = on_nats(dir.path(), &format!("nats://127.0.0.1:{closed}"), &["init"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("cannot connect to NATS"),
        "{}",
        out.stderr
    );
    let keys = std::fs::read_dir(dir.path().join("keys"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(keys, 0, "no key left behind");
    assert!(!dir.path().join("root.pub").exists());

    let server = dossier_testkit::NatsServer::builder()
        .user_password("producer", "right")
        .start()
        .expect("server");
    let mut cmd = command(dir.path());
    cmd.args([
        "--nats",
        &server.url(),
        "--ledger",
        "e2e",
        "--nats-user",
        "producer",
        "--nats-password",
        "wrong",
        "init",
    ]);
    let out = Out::from_output(cmd.output().expect("runs"));
    out.expect_code(1);
    assert!(
        out.stderr.to_lowercase().contains("authorization"),
        "{}",
        out.stderr
    );
    let mut cmd = command(dir.path());
    cmd.args([
        "--nats",
        &server.url(),
        "--ledger",
        "e2e",
        "--nats-user",
        "producer",
        "--nats-password",
        "right",
        "init",
    ]);
    Out::from_output(cmd.output().expect("runs")).expect_code(0);
}

/// The configuration file selects JetStream; flags and environment variables win over it, and
/// a key it does not know is a clear error.
#[test]
fn the_config_file_selects_jetstream_and_flags_win() {
    let server = dossier_testkit::NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("config.toml"),
        format!("nats_url = \"{}\"\nledger = \"fromfile\"\n", server.url()),
    )
    .expect("write config");
    let init = run_in(dir.path(), &["init"]);
    init.expect_code(0);
    assert!(
        init.stdout.contains("stream DOSSIER_FROMFILE"),
        "{}",
        init.stdout
    );
    assert!(
        !dir.path().join("ledger.db").exists(),
        "no SQLite ledger: the file chose JetStream"
    );
    run_in(
        dir.path(),
        &["publish", &example_files()[0].display().to_string()],
    )
    .expect_code(0);
    run_in(dir.path(), &["verify"]).expect_code(0);
    // A flag overrides the file: there is no ledger of that name.
    run_in(dir.path(), &["--ledger", "other", "log"]).expect_code(6);
    // So does the environment.
    let mut cmd = command(dir.path());
    cmd.env("DOSSIER_LEDGER", "other").arg("log");
    Out::from_output(cmd.output().expect("runs")).expect_code(6);

    let other = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        other.path().join("config.toml"),
        "nats_urll = \"nats://x\"\n",
    )
    .expect("write");
    let out = run_in(other.path(), &["log"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("config.toml") && out.stderr.contains("nats_urll"),
        "{}",
        out.stderr
    );
}
