//! `dossier access`: grants as TLP:RED ledger events, on SQLite and on JetStream, and the
//! access log.

use serde_json::Value;

use crate::support::{Ledger, run_in};

fn grants(l: &Ledger) -> Vec<Value> {
    match l.run(&["access", "list", "--json"]).ok().json() {
        Value::Array(a) => a,
        other => panic!("access list --json is not an array: {other}"),
    }
}

#[test]
fn grants_are_recorded_listed_revoked_and_verified() {
    let l = Ledger::init();
    // A reader with a token: printed once, as the last line.
    let out = l.run(&[
        "access",
        "grant",
        "alice",
        "--role",
        "reader",
        "--clearance",
        "TLP:AMBER",
    ]);
    out.ok();
    let token = out.stdout.lines().last().unwrap().to_owned();
    assert!(
        token.starts_with("dossier_") && token.len() == 72,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("clearance TLP:AMBER"), "{}", out.stdout);
    // A producer (clearance implied), as one JSON document.
    let producer = l
        .run(&[
            "access",
            "grant",
            "ingest",
            "--role",
            "producer",
            "--expires",
            "never",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(producer["clearance"], "TLP:RED");
    assert_eq!(producer["expires"], Value::Null);
    assert!(producer["token"].as_str().unwrap().starts_with("dossier_"));
    // A service with a client certificate.
    let pki = dossier_testkit::tls::Pki::new(l.dir()).unwrap();
    let cert = pki.client_cert.display().to_string();
    let svc = l
        .run(&[
            "access",
            "grant",
            "svc",
            "--role",
            "reader",
            "--clearance",
            "green",
            "--cert",
            &cert,
            "--json",
        ])
        .ok()
        .json();
    assert!(svc.get("token").is_none(), "{svc}");
    let spki =
        dossier_access::spki_sha256_from_pem(&std::fs::read(&pki.client_cert).unwrap()).unwrap();
    assert_eq!(svc["credential"]["cert_spki_sha256"], hex::encode(spki));

    let listed = grants(&l);
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|g| g["state"] == "active"), "{listed:?}");
    let alice = listed[0]["grant"].as_str().unwrap().to_owned();
    assert_eq!(listed[0]["principal"], "alice");

    // The records: access.granted, marked TLP:RED, holding the token's hash only.
    let lines = l.log_with(&["--type", "access"]);
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|r| r.event_type == "access.granted"));
    assert_eq!(lines[0].entity, format!("grant:{alice}"));
    let shown = l
        .run(&["show", &lines[0].seq.to_string(), "--json"])
        .ok()
        .json();
    assert_eq!(shown["record"]["marking"], "TLP:RED");
    assert!(
        !shown.to_string().contains(&token[8..]),
        "the token is stored: {shown}"
    );
    assert_eq!(
        shown["record"]["body"]["credential"]["token_sha256"],
        hex::encode(dossier_access::token_sha256(&token))
    );

    // Revoke; again with the same reason is a no-op; another reason is a conflict.
    let out = l.run(&["access", "revoke", &alice, "--reason", "left the team"]);
    out.ok();
    assert!(out.stdout.contains("revoked grant"), "{}", out.stdout);
    let head = l.head();
    let again = l.run(&[
        "access",
        "revoke",
        &alice,
        "--reason",
        "left the team",
        "--json",
    ]);
    assert_eq!(again.ok().json()["already_recorded"], true);
    let out = l.run(&["access", "revoke", &alice, "--reason", "something else"]);
    out.expect_code(4);
    assert!(out.stderr.contains("already revoked"), "{}", out.stderr);
    let out = l.run(&[
        "access",
        "revoke",
        &"0".repeat(32),
        "--reason",
        "x",
        "--json",
    ]);
    out.expect_code(1);
    // The error is the last line (a warning about a key kept in the clear may come before it).
    let err: Value = serde_json::from_str(out.stderr.trim().lines().last().unwrap()).unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no grant"),
        "{err}"
    );
    assert_eq!(l.head(), head, "refusals append nothing");
    assert_eq!(grants(&l)[0]["state"], "revoked");
    assert_eq!(grants(&l)[0]["revoked"]["reason"], "left the team");

    // The whole ledger verifies; the auditor, the projector and the queries take access
    // records in stride.
    let (code, report) = l.verify_json();
    assert_eq!(code, 0, "{report}");
    let out = l.run(&["auditor", "--once", "--every", "2"]);
    out.ok();
    assert!(out.stdout.contains("ok: healthy"), "{}", out.stdout);
    l.run(&["beliefs"]).ok();
    let examples = crate::support::example_paths();
    let mut publish = vec!["publish"];
    publish.extend(examples.iter().map(String::as_str));
    l.run(&publish).ok();
    assert!(!l.run(&["beliefs", "--json"]).ok().stdout.is_empty());
    l.run(&["auditor", "--once", "--every", "2"]).ok();
    assert_eq!(l.verify_json().0, 0);
}

#[test]
fn bad_grants_are_refused_and_append_nothing() {
    let l = Ledger::init();
    let head = l.head();
    let bad: [(&[&str], i32, &str); 6] = [
        (&["--role", "root", "--clearance", "red"], 2, "unknown role"),
        (&["--role", "reader"], 3, "needs --clearance"),
        (
            &["--role", "reader", "--clearance", "TLP:WHITE"],
            2,
            "unknown marking",
        ),
        (
            &["--role", "admin", "--clearance", "TLP:AMBER"],
            3,
            "implies clearance TLP:RED",
        ),
        (&["--role", "auditor", "--expires", "soon"], 2, "expiry"),
        (
            &[
                "--role",
                "reader",
                "--clearance",
                "red",
                "--expires",
                "2001-01-01T00:00:00Z",
            ],
            3,
            "not in the future",
        ),
    ];
    for (args, code, needle) in bad {
        let mut all = vec!["access", "grant", "x"];
        all.extend_from_slice(args);
        let out = l.run(&all);
        out.expect_code(code);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    let not_pem = l.write_bytes("not.pem", b"hello");
    let out = l.run(&[
        "access",
        "grant",
        "x",
        "--role",
        "reader",
        "--clearance",
        "red",
        "--cert",
        &not_pem,
    ]);
    out.expect_code(3);
    assert!(out.stderr.contains("certificate"), "{}", out.stderr);
    assert_eq!(l.head(), head);
}

#[test]
fn an_expired_grant_is_listed_as_expired() {
    let l = Ledger::init();
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    l.run(&[
        "access",
        "grant",
        "temp",
        "--role",
        "reader",
        "--clearance",
        "clear",
        "--expires",
        &soon,
    ])
    .ok();
    assert_eq!(grants(&l)[0]["state"], "active");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(grants(&l)[0]["state"], "expired");
    let text = l.run(&["access", "list"]).ok().stdout.clone();
    assert!(
        text.contains("temp") && text.trim_end().ends_with("expired"),
        "{text}"
    );
}

#[test]
fn the_access_log_lists_what_the_service_recorded() {
    let l = Ledger::init();
    // Nothing logged: an empty list, and no file created by listing.
    assert_eq!(
        l.run(&["access", "log", "--json"]).ok().json(),
        Value::Array(vec![])
    );
    assert!(!l.dir().join("access.db").exists());
    let log = dossier_access::AccessLog::open(&l.dir().join("access.db")).unwrap();
    for (at, what) in [
        ("2026-01-01T10:00:00Z", "question:a"),
        ("2026-01-02T10:00:00Z", "records 3..=9"),
    ] {
        log.record(&dossier_access::AccessEntry {
            at: dossier_model::Timestamp::parse(at).unwrap(),
            principal: "alice".into(),
            role: dossier_access::Role::Reader,
            grant: "ab".repeat(16),
            route: "GET /v1/ledgers/{ledger}/questions/{id}".into(),
            what: what.into(),
            marking: dossier_model::Marking::Red,
        })
        .unwrap();
    }
    let all = l.run(&["access", "log", "--json"]).ok().json();
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    assert_eq!(all[0]["what"], "question:a");
    assert_eq!(all[0]["marking"], "TLP:RED");
    let since = l
        .run(&["access", "log", "--since", "2026-01-02T00:00:00Z", "--json"])
        .ok()
        .json();
    assert_eq!(since.as_array().unwrap().len(), 1, "{since}");
    assert_eq!(since[0]["what"], "records 3..=9");
    let text = l.run(&["access", "log"]).ok().stdout.clone();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("alice") && text.contains("question:a"),
        "{text}"
    );
    l.run(&["access", "log", "--since", "yesterday"])
        .expect_code(2);
}

#[test]
fn a_grant_made_through_one_data_directory_is_listed_through_another_on_jetstream() {
    let server = dossier_testkit::NatsServer::start();
    let url = server.url();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let on = |dir: &std::path::Path, args: &[&str]| {
        let mut all = vec!["--nats", url.as_str(), "--ledger", "e2e-access"];
        all.extend_from_slice(args);
        run_in(dir, &all)
    };
    on(a.path(), &["init"]).ok();
    let granted = on(
        a.path(),
        &[
            "access",
            "grant",
            "bob",
            "--role",
            "reader",
            "--clearance",
            "amber",
            "--json",
        ],
    )
    .ok()
    .json();
    let id = granted["grant"].as_str().unwrap().to_owned();
    let listed = on(b.path(), &["access", "list", "--json"]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["grant"], id.as_str());
    assert_eq!(listed[0]["principal"], "bob");
    assert_eq!(listed[0]["state"], "active");
    // Revoked through the first, seen revoked through the second.
    on(a.path(), &["access", "revoke", &id, "--reason", "rotated"]).ok();
    let listed = on(b.path(), &["access", "list", "--json"]).ok().json();
    assert_eq!(listed[0]["state"], "revoked");
    on(b.path(), &["verify"]).ok();
}
