//! Key roles (docs/FORMAT.md §5.3): the CLI refuses every forbidden key operation before
//! anything is appended, and the same operations forged into a ledger with the chain's builders
//! are reported by `verify` as `role_violation` at their seal.

use crate::support::Ledger;
use dossier_chain::{BatchBuilder, EncodedRecord, Hash, Head, KeyRevoked, RecordView, Signer};

/// Registers `signer`'s public key with `role`; returns its key id.
fn register(l: &Ledger, signer: &Signer, role: &str) -> String {
    l.run(&[
        "keys",
        "register",
        "--name",
        signer.name(),
        "--public",
        &signer.public_hex(),
        "--role",
        role,
    ])
    .ok();
    signer.id().to_owned()
}

/// Appends one batch of `events` sealed by `signer` to the ledger's file (`conn`), bypassing every check
/// but the chain's builder, on the head at `seq`; returns the seal's seq.
fn forge(
    conn: &rusqlite::Connection,
    seq: u64,
    signer: &Signer,
    events: &[(&str, String, Vec<u8>)],
) -> u64 {
    let last = dossier_log::tamper::record(conn, seq);
    let view = RecordView::parse(&last).expect("the head parses");
    let ledger = uuid::Uuid::parse_str(view.ledger).expect("ledger id");
    let head = Head {
        seq,
        hash: Hash::of_record(&last),
        recorded: Some(view.recorded.to_owned()),
    };
    let now = time::OffsetDateTime::now_utc();
    let mut b = BatchBuilder::new(ledger, &head, now, signer, uuid::Uuid::new_v4());
    for (ty, entity, body) in events {
        b.push(ty, 1, entity, "TLP:CLEAR", body).expect("push");
    }
    let batch: Vec<EncodedRecord> = b.seal().expect("seal");
    dossier_log::tamper::append_unchecked(conn, &batch);
    batch.last().expect("seal").seq
}

/// Runs `args`, which must be refused (exit 1) with `text` on standard error, appending nothing.
#[track_caller]
fn refused(l: &Ledger, args: &[&str], text: &str) {
    let head = l.head();
    let out = l.run(args);
    out.expect_code(1);
    assert!(out.stderr.contains(text), "{args:?}: {}", out.stderr);
    assert!(
        out.stderr.contains("nothing was appended"),
        "{}",
        out.stderr
    );
    assert_eq!(l.head(), head, "{args:?} appended");
}

fn revocation(key: &str) -> (&'static str, String, Vec<u8>) {
    let body = KeyRevoked {
        key: key.to_owned(),
        reason: "forged".to_owned(),
    };
    (
        "key.revoked",
        key.to_owned(),
        serde_json::to_vec(&body).expect("json"),
    )
}

#[test]
fn forbidden_key_operations_are_refused_and_reported_when_forged() {
    let l = Ledger::init();
    let founder = l.key_id("analyst");
    let admin = Signer::generate("outside-admin");
    let producer = Signer::generate("outside-producer");
    let log_key = Signer::generate("outside-log");
    register(&l, &admin, "admin");
    register(&l, &producer, "producer");
    register(&l, &log_key, "log");
    // Keys kept here: a producer this directory publishes with, and a second admin.
    l.run(&["keys", "register", "--name", "here-producer", "--use-it"])
        .ok();
    let here_producer = l.key_id("here-producer");
    l.run(&[
        "keys",
        "register",
        "--name",
        "here-admin",
        "--role",
        "admin",
    ])
    .ok();
    let here_admin = l.key_id("here-admin");
    let keys = l.keys();
    let role = |id: &str| {
        keys.iter().find(|k| k["key"] == id).expect("listed")["role"]
            .as_str()
            .expect("role")
            .to_owned()
    };
    assert_eq!(
        [
            &founder,
            admin.id(),
            producer.id(),
            log_key.id(),
            &here_producer,
            &here_admin
        ]
        .map(role),
        ["founding", "admin", "producer", "log", "producer", "admin"]
    );
    let text = l.run(&["keys", "list"]).ok().stdout.clone();
    assert!(
        text.lines()
            .any(|line| line.starts_with(log_key.id()) && line.contains(" log ")),
        "{text}"
    );

    // The CLI refuses, and nothing is appended.
    let refused = |args: &[&str], text: &str| refused(&l, args, text);
    let producer_role = format!(
        "key {here_producer} is a producer key: only the founding key or an admin key may register or revoke keys"
    );
    refused(
        &[
            "keys",
            "revoke",
            admin.id(),
            "--reason",
            "coup",
            "--yes",
            "--key",
            &here_producer,
        ],
        &producer_role,
    );
    refused(
        &[
            "keys",
            "register",
            "--name",
            "sneaky",
            "--key",
            &here_producer,
        ],
        &producer_role,
    );
    refused(
        &[
            "keys",
            "revoke",
            &founder,
            "--reason",
            "coup",
            "--yes",
            "--key",
            &here_admin,
        ],
        &format!("key {founder} is the founding key: only the founding key itself may revoke it"),
    );
    refused(
        &["keys", "revoke", admin.id(), "--reason", " ", "--yes"],
        "a revocation needs a reason",
    );
    refused(
        &[
            "keys", "register", "--name", "log-2", "--role", "log", "--use-it",
        ],
        "is a log key: it signs checkpoints and seals no batch",
    );
    // The founding key revokes the outside admin; the admin kept here is then the last one, and
    // may not revoke itself.
    l.run(&["keys", "revoke", admin.id(), "--reason", "left", "--yes"])
        .ok();
    refused(
        &[
            "keys",
            "revoke",
            &here_admin,
            "--reason",
            "leaving",
            "--yes",
            "--key",
            &here_admin,
        ],
        &format!(
            "key {here_admin} is the ledger's last admin key: only the founding key may revoke it"
        ),
    );
    assert_eq!(
        l.verify_json().0,
        0,
        "the refusals left a ledger that verifies"
    );

    // The same operations forged into the ledger: each is a role_violation at its seal.
    let here = |id: &str| {
        let secret = std::fs::read_to_string(l.dir().join("keys").join(format!("{id}.key")))
            .expect("key file in the clear");
        Signer::from_secret_hex(secret.lines().next().expect("secret line"), id).expect("secret")
    };
    let admin_here = here(&here_admin);
    let mut seq = l.head().seq;
    let conn = dossier_log::tamper::open(&l.db());
    let mut expected = Vec::new();
    for (signer, events) in [
        (&producer, vec![revocation(log_key.id())]),
        (&admin_here, vec![revocation(&founder)]),
        (&admin_here, vec![revocation(&here_admin)]),
        (
            &log_key,
            vec![(
                "source.recorded",
                "source:forged".to_owned(),
                br#"{"id":"source:forged","title":"Forged","kind":"official"}"#.to_vec(),
            )],
        ),
    ] {
        seq = forge(&conn, seq, signer, &events);
        expected.push(seq);
    }
    assert_eq!(
        crate::tamper::failures(&l),
        expected
            .iter()
            .map(|s| (*s, "role_violation".to_owned()))
            .collect::<Vec<_>>()
    );
    let v = l.verify_json().1;
    let details: Vec<&str> = v["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .filter_map(|f| f["detail"].as_str())
        .collect();
    assert!(details[0].contains("is a producer key"), "{details:?}");
    assert!(details[1].contains("founding key"), "{details:?}");
    assert!(details[2].contains("the last admin key"), "{details:?}");
    assert!(details[3].contains("is a log key"), "{details:?}");
}

/// The public key of key `id`, from `keys list --json`.
fn public_of(l: &Ledger, id: &str) -> String {
    l.keys()
        .iter()
        .find(|k| k["key"] == id)
        .and_then(|k| k["public"].as_str())
        .expect("listed")
        .to_owned()
}

/// The log key signs checkpoints (the founding key while the ledger has none), `verify
/// --checkpoint --log-key` and `check-proof --log-key` pin it, a checkpoint signed by a producer
/// key is refused, and a consistency bundle across a rotation of the log key verifies with both
/// keys pinned.
#[test]
fn the_log_key_signs_checkpoints_and_verifiers_pin_it() {
    let l = Ledger::with_examples();
    let founder = l.key_id("analyst");
    let path = |name: &str| l.file(name).display().to_string();
    let (cp0, cp1, cp2, cons) = (path("cp0"), path("cp1"), path("cp2"), path("cons.json"));
    // Without a log key the founding key signs.
    l.run(&["checkpoint", "--out", &cp0]).ok();
    l.run(&[
        "verify",
        "--checkpoint",
        &cp0,
        "--log-key",
        &public_of(&l, &founder),
    ])
    .expect_code(0);

    // A producer key (its secret here) and a log key: the log key signs from now on.
    l.run(&[
        "keys", "register", "--name", "producer", "--role", "producer",
    ])
    .ok();
    let producer = l.key_id("producer");
    l.run(&["keys", "register", "--name", "log-1", "--role", "log"])
        .ok();
    let log1 = l.key_id("log-1");
    let pub1 = public_of(&l, &log1);
    refused(
        &l,
        &["checkpoint", "--key", &producer],
        &format!("key {producer} (producer) may not sign checkpoints"),
    );
    l.run(&["checkpoint", "--out", &cp1]).ok();
    l.run(&["verify", "--checkpoint", &cp1, "--log-key", &pub1])
        .expect_code(0);
    let out = l.run(&[
        "verify",
        "--checkpoint",
        &cp1,
        "--log-key",
        &public_of(&l, &founder),
    ]);
    out.expect_code(5);
    assert!(
        out.stdout.contains("not signed by the pinned log key"),
        "{}",
        out.stdout
    );

    // The same checkpoint signed by the producer key (forged): refused, pinned or not.
    let note = std::fs::read_to_string(&cp1).expect("cp1");
    let body = note.split("\n\n").next().expect("body");
    let secret = std::fs::read_to_string(l.dir().join("keys").join(format!("{producer}.key")))
        .expect("key file");
    let signer =
        dossier_chain::Signer::from_secret_hex(secret.lines().next().expect("secret"), "p")
            .expect("secret");
    let forged = dossier_proofs::Checkpoint::parse_body(&format!("{body}\n"))
        .expect("body")
        .sign_with(&signer)
        .expect("sign");
    let forged_path = path("forged");
    std::fs::write(&forged_path, forged).expect("write");
    for extra in [vec![], vec!["--log-key", &pub1]] {
        let mut args = vec!["verify", "--checkpoint", &forged_path];
        args.extend(extra);
        let out = l.run(&args);
        out.expect_code(5);
        assert!(
            out.stdout.contains("may not sign checkpoints")
                || out.stdout.contains("not signed by the pinned log key"),
            "{args:?}: {}",
            out.stdout
        );
    }

    // The auditor signs with the log key.
    l.run(&["auditor", "--once"]).ok();
    let status = l.run(&["auditor", "status", "--json"]).ok().json();
    let audited = path("audited");
    std::fs::write(
        &audited,
        status["last_checkpoint"]["note"].as_str().expect("note"),
    )
    .expect("write");
    l.run(&["verify", "--checkpoint", &audited, "--log-key", &pub1])
        .expect_code(0);

    // A log key publishes nothing.
    let bundle = crate::support::gen_bundle("roles-log", 1, 2);
    let file = l.write_json("log.json", &bundle.json);
    refused(
        &l,
        &["publish", "--key", &log1, &file],
        &format!("key {log1} is a log key"),
    );

    // Rotating the log key is a ledger event (signed by the founding key, which administers).
    let rot = l
        .run(&["keys", "rotate", "--key", &log1, "--json"])
        .ok()
        .json();
    assert_eq!(rot["signed_by"], founder.as_str());
    let log2 = rot["registered"].as_str().expect("new log key").to_owned();
    let pub2 = public_of(&l, &log2);
    assert_eq!(
        l.keys()
            .iter()
            .find(|k| k["key"] == log2.as_str())
            .expect("listed")["role"],
        "log"
    );
    l.run(&["keys", "register", "--name", "later", "--role", "producer"])
        .ok();
    l.run(&["checkpoint", "--out", &cp2]).ok();
    l.run(&["prove", "--from", &cp1, "--out", &cons]).ok();
    // Both signers pinned: the bundle across the rotation verifies; one alone does not.
    l.run(&["check-proof", &cons, "--log-key", &pub1, "--log-key", &pub2])
        .expect_code(0);
    l.run(&["check-proof", &cons, "--log-key", &pub2])
        .expect_code(5);
    // The old checkpoint still verifies against the ledger: log-1 signed at its size.
    l.run(&["verify", "--checkpoint", &cp1, "--log-key", &pub1])
        .expect_code(0);
    l.run(&["verify", "--checkpoint", &cp2, "--log-key", &pub2])
        .expect_code(0);
    // The revoked log key signs nothing more.
    refused(
        &l,
        &["prove", "3", "--key", &log1],
        &format!("key {log1} (log, revoked) may not sign checkpoints"),
    );
    assert_eq!(l.verify_json().0, 0);
}

/// `init --roles` gives a ledger key roles from its start: a producer key it publishes with and
/// a log key that signs its checkpoints, both registered by the founding key.
#[test]
fn init_with_roles_publishes_with_a_producer_and_checkpoints_with_the_log_key() {
    let l = Ledger::empty();
    let created = l
        .run(&[
            "init",
            "--name",
            "roles",
            "--producer",
            "analyst",
            "--roles",
            "--json",
        ])
        .ok()
        .json();
    let (founder, producer, log_key) = (
        created["founding_key"]
            .as_str()
            .expect("founding")
            .to_owned(),
        created["producer_key"]
            .as_str()
            .expect("producer")
            .to_owned(),
        created["log_key"].as_str().expect("log").to_owned(),
    );
    let roles: Vec<(String, String)> = l
        .keys()
        .iter()
        .map(|k| {
            (
                k["key"].as_str().expect("key").to_owned(),
                k["role"].as_str().expect("role").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            (founder.clone(), "founding".to_owned()),
            (producer.clone(), "producer".to_owned()),
            (log_key.clone(), "log".to_owned()),
        ]
    );
    let files = crate::support::example_paths();
    l.run(&["publish", &files[0]]).ok();
    assert_eq!(
        l.log().last().map(|r| r.key.clone()),
        Some(producer.clone()),
        "published with the producer key"
    );
    let cp = l.file("cp").display().to_string();
    l.run(&["checkpoint", "--out", &cp]).ok();
    l.run(&[
        "verify",
        "--checkpoint",
        &cp,
        "--log-key",
        &public_of(&l, &log_key),
    ])
    .expect_code(0);
    l.run(&[
        "verify",
        "--checkpoint",
        &cp,
        "--log-key",
        &public_of(&l, &founder),
    ])
    .expect_code(5);
}
