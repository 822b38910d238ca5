//! `dossier serve --listen`: the projector, the auditor and the HTTP API in one process, on the
//! embedded ledger; answers over real HTTP to a principal granted with `dossier access grant`,
//! refused once the grant is revoked; a clean stop on SIGTERM. The systemd unit of `deploy/`
//! runs as written.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{Ledger, Served, bin, http};

#[test]
fn serve_listen_answers_over_http_and_stops_on_sigterm() {
    let l = Ledger::with_examples();
    let granted = l.grant("analyst", "reader", "TLP:RED");
    let token = granted["token"].as_str().unwrap().to_owned();
    let grant = granted["grant"].as_str().unwrap().to_owned();
    let mut cmd = l.command();
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    let served = Served::start(cmd);
    let addr = served.addr.clone();
    let head = l.head().seq;
    // The genesis record's entity is the ledger id.
    let genesis = &l.run(&["log", "--json"]).json_lines()[0];
    let ledger = genesis["entity"].as_str().unwrap().to_owned();
    let (status, body) = http(
        &addr,
        "GET",
        &format!("/v1/ledgers/{ledger}/beliefs"),
        Some(&token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["seq"], head);
    assert_eq!(answer["clearance"], "TLP:RED");
    let (status, _) = http(
        &addr,
        "GET",
        &format!("/v1/ledgers/{ledger}/beliefs"),
        Some("wrong"),
        None,
    );
    assert_eq!(status, 401);
    // The web page is served by the same process: its sign-in form, and a redirect to it
    // without a signed-in cookie.
    let (status, body) = http(&addr, "GET", "/sign-in", None, None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"name="token""#), "{body}");
    assert_eq!(http(&addr, "GET", "/beliefs", None, None).0, 303);
    // A revocation recorded by another process counts from the next request on.
    l.run(&["access", "revoke", "--reason", "left the team", &grant])
        .ok();
    let (status, body) = http(
        &addr,
        "GET",
        &format!("/v1/ledgers/{ledger}/beliefs"),
        Some(&token),
        None,
    );
    assert_eq!(status, 401, "{body}");

    served.terminate();
}

/// `ExecStart` and the `Environment=` assignments of a systemd unit (one per line, as the
/// unit's comment asks), refusing forms this reader does not understand.
fn unit(text: &str) -> (Vec<String>, Vec<(String, String)>) {
    let mut exec = None;
    let mut env = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(cmd) = line.strip_prefix("ExecStart=") {
            assert!(exec.is_none(), "one ExecStart");
            assert!(
                !cmd.contains(['"', '\'', '$', '\\']),
                "ExecStart without quoting or variables: {cmd}"
            );
            exec = Some(
                cmd.split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            );
        } else if let Some(assignment) = line.strip_prefix("Environment=") {
            let (k, v) = assignment
                .split_once('=')
                .unwrap_or_else(|| panic!("cannot read {line:?}"));
            assert!(
                !v.contains(['"', ' ']),
                "one unquoted assignment per line: {line}"
            );
            env.push((k.to_owned(), v.to_owned()));
        }
    }
    (exec.expect("an ExecStart line"), env)
}

#[test]
fn the_systemd_unit_serves_the_data_directory_as_written() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/systemd/dossier-serve.service"),
    )
    .unwrap();
    let (exec, env) = unit(&text);
    assert_eq!(exec[0], "/usr/local/bin/dossier");
    assert!(
        text.contains("\nStateDirectory=dossier\n"),
        "the data directory is the unit's state"
    );
    let home = env
        .iter()
        .find(|(k, _)| k == "DOSSIER_HOME")
        .map(|(_, v)| v.clone())
        .expect("DOSSIER_HOME");
    assert_eq!(
        home, "/var/lib/dossier",
        "StateDirectory=dossier is /var/lib/dossier"
    );

    // The data directory as `dossier init` (run as the service's user) leaves it, with the
    // examples published and a reader granted.
    let l = Ledger::with_examples();
    let token = l.grant("svc", "reader", "TLP:GREEN")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let map = |v: &str| -> String {
        v.replace(&home, l.dir().to_str().unwrap())
            .replace("127.0.0.1:8080", "127.0.0.1:0")
    };
    let mut cmd = Command::new(bin());
    cmd.args(exec[1..].iter().map(|a| map(a)))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, map(v))));
    let served = Served::start(cmd);
    let genesis = &l.run(&["log", "--json"]).json_lines()[0];
    let ledger = genesis["entity"].as_str().unwrap();
    let (status, body) = http(
        &served.addr,
        "GET",
        &format!("/v1/ledgers/{ledger}/beliefs"),
        Some(&token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["clearance"], "TLP:GREEN");
    assert_eq!(answer["seq"], l.head().seq);
    served.terminate();
}
