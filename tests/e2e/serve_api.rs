//! `dossier serve --listen`: the projector, the auditor and the HTTP API in one process, on the
//! embedded ledger; answers over real HTTP to a principal granted with `dossier access grant`,
//! refused once the grant is revoked; a clean stop on SIGTERM.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::Ledger;

/// One HTTP/1.1 request on its own connection: (status, body).
fn http(addr: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connecting to the API");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[test]
fn serve_listen_answers_over_http_and_stops_on_sigterm() {
    let l = Ledger::with_examples();
    let granted = l
        .run(&[
            "access",
            "grant",
            "analyst",
            "--role",
            "reader",
            "--clearance",
            "TLP:RED",
            "--json",
        ])
        .ok()
        .json();
    let token = granted["token"].as_str().unwrap().to_owned();
    let grant = granted["grant"].as_str().unwrap().to_owned();
    let mut child = l
        .command()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut addr = None;
    let mut line = String::new();
    while addr.is_none() {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve ended before listening"
        );
        addr = line
            .trim()
            .strip_prefix("api: listening on http://")
            .map(str::to_owned);
    }
    let addr = addr.unwrap();
    // Drain the rest of standard error so that the process never blocks on it.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));

    let deadline = Instant::now() + Duration::from_secs(30);
    while http(&addr, "/readyz", None).0 != 200 {
        assert!(Instant::now() < deadline, "not ready within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let head = l.head().seq;
    // The genesis record's entity is the ledger id.
    let genesis = &l.run(&["log", "--json"]).json_lines()[0];
    let ledger = genesis["entity"].as_str().unwrap().to_owned();
    let (status, body) = http(
        &addr,
        &format!("/v1/ledgers/{ledger}/beliefs"),
        Some(&token),
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["seq"], head);
    assert_eq!(answer["clearance"], "TLP:RED");
    let (status, _) = http(
        &addr,
        &format!("/v1/ledgers/{ledger}/beliefs"),
        Some("wrong"),
    );
    assert_eq!(status, 401);
    // The web page is served by the same process: its sign-in form, and a redirect to it
    // without a signed-in cookie.
    let (status, body) = http(&addr, "/sign-in", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"name="token""#), "{body}");
    assert_eq!(http(&addr, "/beliefs", None).0, 303);
    // A revocation recorded by another process counts from the next request on.
    l.run(&["access", "revoke", "--reason", "left the team", &grant])
        .ok();
    let (status, body) = http(
        &addr,
        &format!("/v1/ledgers/{ledger}/beliefs"),
        Some(&token),
    );
    assert_eq!(status, 401, "{body}");

    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "serve exited with {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
