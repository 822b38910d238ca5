//! Authentication to NATS through the CLI: a `.creds` file against a server in operator mode
//! (decentralized JWT authentication), and mutual TLS against a server that requires client
//! certificates. Each credential is given once by flag, once by environment variable and once
//! in the configuration file; wrong or missing credentials fail clearly and write nothing.

use std::path::Path;

use dossier_testkit::NatsServer;
use dossier_testkit::jwt::Operator;
use dossier_testkit::tls::Pki;

use crate::support::{Out, command, example_paths, gen_bundle};

/// Runs `dossier --nats URL --ledger auth EXTRA… ARGS…` in `dir`, with `env` set.
fn run(dir: &Path, url: &str, extra: &[&str], env: &[(&str, &Path)], args: &[&str]) -> Out {
    let mut cmd = command(dir);
    cmd.args(["--nats", url, "--ledger", "auth"])
        .args(extra)
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Out::from_output(cmd.output().expect("the dossier binary runs"))
}

fn examples() -> Vec<String> {
    example_paths()
}

/// Records in the ledger, as `verify --json` counts them (with credentials that work).
fn verified_head(out: &Out) -> u64 {
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["ok"], true, "{v}");
    v["last_seq"].as_u64().expect("last_seq")
}

/// Nothing of a failed `init` is left in the data directory.
/// A publish with `extra` connection flags is refused with exit 1 and an error containing
/// `needle` (case-insensitive), and the ledger still verifies at `head`.
#[track_caller]
fn assert_publish_refused(
    data: &Path,
    url: &str,
    extra: &[&str],
    bundle: &Path,
    needle: &str,
    head: u64,
) {
    let out = run(
        data,
        url,
        extra,
        &[],
        &["publish", bundle.to_str().expect("utf-8")],
    );
    out.expect_code(1);
    assert!(
        out.stderr.to_lowercase().contains(&needle.to_lowercase()),
        "{}",
        out.stderr
    );
    assert_eq!(
        verified_head(&run(data, url, &[], &[], &["verify", "--json"])),
        head,
        "nothing was appended"
    );
}

fn assert_nothing_initialised(dir: &Path) {
    let keys = std::fs::read_dir(dir.join("keys"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(keys, 0, "no key left behind in {}", dir.display());
    assert!(!dir.join("root.pub").exists(), "no trust root written");
}

#[test]
fn a_creds_file_on_an_operator_mode_server_publishes_reads_and_verifies() {
    let operator = Operator::new("dossier-test").expect("operator");
    let account = operator.account("DOSSIER", true).expect("account");
    let server = NatsServer::builder()
        .config_text(operator.server_config(&[&account]))
        .start()
        .expect("a server in operator mode");
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let creds = dir.path().join("producer.creds");
    std::fs::write(
        &creds,
        account
            .user("producer", None)
            .expect("user")
            .creds()
            .expect("creds"),
    )
    .expect("write creds");
    // A well-formed user of an account the server does not know.
    let stranger = dir.path().join("stranger.creds");
    let unknown = operator.account("UNKNOWN", true).expect("account");
    std::fs::write(
        &stranger,
        unknown
            .user("stranger", None)
            .expect("user")
            .creds()
            .expect("creds"),
    )
    .expect("write creds");
    let missing = dir.path().join("no-such.creds");
    let data = dir.path().join("home");
    let files = examples();

    // Without credentials, with an unknown account's, or with a file that is not there: a clear
    // error, exit 1, and no ledger (no key, no trust root, no stream).
    for (extra, expect) in [
        (vec![], "authorization violation"),
        (
            vec!["--nats-creds", stranger.to_str().expect("utf-8")],
            "authorization violation",
        ),
        (
            vec!["--nats-creds", missing.to_str().expect("utf-8")],
            "reading credentials",
        ),
    ] {
        let out = run(&data, &url, &extra, &[], &["init"]);
        out.expect_code(1);
        assert!(
            out.stderr.contains("cannot connect to NATS")
                && out.stderr.to_lowercase().contains(expect),
            "{extra:?}: {}",
            out.stderr
        );
        assert_nothing_initialised(&data);
    }
    let out = run(
        &data,
        &url,
        &["--nats-creds", missing.to_str().expect("utf-8")],
        &[],
        &["log"],
    );
    assert!(out.stderr.contains("no-such.creds"), "{}", out.stderr);

    // The flag.
    run(
        &data,
        &url,
        &["--nats-creds", creds.to_str().expect("utf-8")],
        &[],
        &["init"],
    )
    .expect_code(0);
    // The environment variable.
    let mut publish = vec!["publish"];
    publish.extend(files.iter().map(String::as_str));
    run(&data, &url, &[], &[("NATS_CREDS", &creds)], &publish).expect_code(0);
    // The configuration file.
    std::fs::write(
        data.join("config.toml"),
        format!("nats_creds = \"{}\"\n", creds.display()),
    )
    .expect("write config");
    let head = verified_head(&run(&data, &url, &[], &[], &["verify", "--json"]));
    assert!(head > 10, "the examples are in: {head}");
    let log = run(&data, &url, &[], &[], &["log", "--json"]);
    log.expect_code(0);
    assert!(log.stdout.lines().count() > 4, "{}", log.stdout);

    // A wrong creds file given by flag wins over the file, and appends nothing.
    let bundle = dir.path().join("more.json");
    std::fs::write(&bundle, gen_bundle("creds", 1, 2).bytes()).expect("write bundle");
    assert_publish_refused(
        &data,
        &url,
        &["--nats-creds", stranger.to_str().expect("utf-8")],
        &bundle,
        "authorization violation",
        head,
    );
    run(
        &data,
        &url,
        &[],
        &[],
        &["publish", bundle.to_str().expect("utf-8")],
    )
    .expect_code(0);
    assert!(verified_head(&run(&data, &url, &[], &[], &["verify", "--json"])) > head);
}

#[test]
fn mutual_tls_publishes_and_verifies_and_refuses_clients_without_a_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path()).expect("a private CA");
    let other_dir = dir.path().join("other");
    std::fs::create_dir(&other_dir).expect("mkdir");
    // A client certificate from another CA, which the server does not trust.
    let other = Pki::new(&other_dir).expect("another CA");
    let server = NatsServer::builder()
        .config_text(pki.server_config(true))
        .start()
        .expect("a server requiring client certificates");
    let url = server.url();
    let data = dir.path().join("home");
    let ca = pki.ca.to_str().expect("utf-8");
    let path = |p: &Path| p.to_str().expect("utf-8").to_owned();
    let (cert, key) = (path(&pki.client_cert), path(&pki.client_key));
    let (other_cert, other_key) = (path(&other.client_cert), path(&other.client_key));

    // Without a client certificate, or with one the server's CA did not sign: refused, exit 1,
    // nothing written.
    for extra in [
        vec!["--nats-ca", ca],
        vec![
            "--nats-ca",
            ca,
            "--nats-cert",
            &other_cert,
            "--nats-key",
            &other_key,
        ],
    ] {
        let out = run(&data, &url, &extra, &[], &["init"]);
        out.expect_code(1);
        assert!(
            out.stderr.contains("cannot connect to NATS")
                && out.stderr.contains("client certificate"),
            "{extra:?}: the error names the likely cause: {}",
            out.stderr
        );
        assert_nothing_initialised(&data);
    }

    // The flags.
    run(
        &data,
        &url,
        &["--nats-ca", ca, "--nats-cert", &cert, "--nats-key", &key],
        &[],
        &["init"],
    )
    .expect_code(0);
    // The environment variables.
    let files = examples();
    let mut publish = vec!["publish"];
    publish.extend(files.iter().map(String::as_str));
    let env = [
        ("NATS_CA", pki.ca.as_path()),
        ("NATS_CERT", pki.client_cert.as_path()),
        ("NATS_KEY", pki.client_key.as_path()),
    ];
    run(&data, &url, &[], &env, &publish).expect_code(0);
    // The configuration file.
    std::fs::write(
        data.join("config.toml"),
        format!("nats_ca = \"{ca}\"\nnats_cert = \"{cert}\"\nnats_key = \"{key}\"\n"),
    )
    .expect("write config");
    let head = verified_head(&run(&data, &url, &[], &[], &["verify", "--json"]));
    assert!(head > 10, "the examples are in: {head}");

    // Another CA's client certificate by flag wins over the file, and appends nothing.
    let bundle = dir.path().join("more.json");
    std::fs::write(&bundle, gen_bundle("mtls", 1, 2).bytes()).expect("write bundle");
    assert_publish_refused(
        &data,
        &url,
        &["--nats-cert", &other_cert, "--nats-key", &other_key],
        &bundle,
        "cannot connect to NATS",
        head,
    );
}
