//! Checkpoints and proofs: bundles checked offline, and ledgers rewritten behind an auditor's
//! back caught by `verify --checkpoint` although their chain verifies.

use crate::support::{Ledger, example_files, run_in};

fn publish(l: &Ledger, files: &[std::path::PathBuf]) {
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["publish"];
    args.extend(names.iter().map(String::as_str));
    l.run(&args).expect_code(0);
}

#[test]
fn proof_bundles_verify_offline_after_the_ledger_is_gone() {
    let l = Ledger::init();
    let files = example_files();
    publish(&l, &files[..2]);
    let work = tempfile::tempdir().expect("tempdir");
    let cp1 = work.path().join("cp1.txt");
    l.run(&["checkpoint", "--out", &cp1.display().to_string()])
        .expect_code(0);
    // As JSON, the same checkpoint with its parts spelled out.
    let json = l.run(&["checkpoint", "--json"]);
    json.expect_code(0);
    let cp = json.json();
    assert_eq!(cp["size"].as_u64(), Some(l.head().seq), "{cp}");
    assert_eq!(cp["head"].as_str(), Some(l.head().hash.as_str()), "{cp}");
    assert_eq!(
        cp["note"].as_str(),
        Some(std::fs::read_to_string(&cp1).expect("cp1").as_str()),
        "the same signed note (Ed25519 signatures are deterministic)"
    );
    publish(&l, &files[2..]);
    let incl = work.path().join("incl.json");
    let cons = work.path().join("cons.json");
    l.run(&["prove", "28", "--out", &incl.display().to_string()])
        .expect_code(0);
    l.run(&[
        "prove",
        "--from",
        &cp1.display().to_string(),
        "--out",
        &cons.display().to_string(),
    ])
    .expect_code(0);
    let key = std::fs::read_to_string(l.dir().join("root.pub"))
        .expect("root.pub")
        .trim()
        .to_owned();
    std::fs::remove_dir_all(l.dir()).expect("delete the data directory");

    let nowhere = tempfile::tempdir().expect("tempdir");
    for bundle in [&incl, &cons] {
        let out = run_in(
            nowhere.path(),
            &["check-proof", &bundle.display().to_string(), "--key", &key],
        );
        out.expect_code(0);
        assert!(out.stdout.starts_with("ok:"), "{}", out.stdout);
    }
    // Another key, or a record changed inside the bundle: refused.
    let other = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";
    run_in(
        nowhere.path(),
        &["check-proof", &incl.display().to_string(), "--key", other],
    )
    .expect_code(5);
    let text = std::fs::read_to_string(&incl).expect("bundle");
    let forged = text.replacen("claim.recorded", "claim.recordex", 1);
    assert_ne!(forged, text);
    std::fs::write(&incl, forged).expect("write");
    let out = run_in(
        nowhere.path(),
        &["check-proof", &incl.display().to_string(), "--key", &key],
    );
    out.expect_code(5);
}

/// Deletes the last `n` records straight from the SQLite file (an operator behind dossier's back).
fn truncate(l: &Ledger, keep: u64) {
    let db = dossier_log::tamper::open(&l.dir().join("ledger.db"));
    dossier_log::tamper::truncate_after(&db, keep);
}

#[test]
fn a_truncated_or_forked_ledger_verifies_but_not_against_the_auditors_checkpoint() {
    let l = Ledger::init();
    let files = example_files();
    publish(&l, &files);
    let work = tempfile::tempdir().expect("tempdir");
    let cp = work.path().join("cp.txt");
    l.run(&["checkpoint", "--out", &cp.display().to_string()])
        .expect_code(0);
    let cp_arg = cp.display().to_string();
    l.run(&["verify", "--checkpoint", &cp_arg]).expect_code(0);

    // Truncated at a batch boundary: the chain alone cannot tell.
    let head = l.head().seq;
    let before_last_batch = l
        .log()
        .iter()
        .filter(|r| r.event_type == "batch.seal" && r.seq < head)
        .map(|r| r.seq)
        .max()
        .expect("a seal");
    truncate(&l, before_last_batch);
    l.run(&["verify"]).expect_code(0);
    let out = l.run(&["verify", "--checkpoint", &cp_arg]);
    out.expect_code(5);
    assert!(
        out.stdout.contains("records were removed"),
        "{}",
        out.stdout
    );

    // Forked: history re-grown from there with other, validly signed records.
    let mut fork = crate::support::gen_bundle("fork", 1, 20).json;
    fork["report"]["title"] = serde_json::json!("a different history");
    let f = l.write_json("fork.json", &fork);
    l.run(&["publish", &f]).expect_code(0);
    assert!(
        l.head().seq >= head,
        "the fork is at least as long as the checkpoint"
    );
    l.run(&["verify"]).expect_code(0);
    let out = l.run(&["verify", "--checkpoint", &cp_arg]);
    out.expect_code(5);
    assert!(out.stdout.contains("rewritten"), "{}", out.stdout);
}

/// An operator who signs a checkpoint of a forked history is caught with evidence a third party
/// can check with the key alone; consistent checkpoints are not reported.
#[test]
fn two_checkpoints_of_a_forked_history_give_checkable_evidence() {
    let l = Ledger::init();
    let files = example_files();
    publish(&l, &files);
    let work = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| work.path().join(name).display().to_string();
    l.run(&["checkpoint", "--out", &path("a.txt")])
        .expect_code(0);
    let key = std::fs::read_to_string(l.dir().join("root.pub"))
        .expect("root.pub")
        .trim()
        .to_owned();

    let head = l.head().seq;
    let before_last_batch = l
        .log()
        .iter()
        .filter(|r| r.event_type == "batch.seal" && r.seq < head)
        .map(|r| r.seq)
        .max()
        .expect("a seal");
    truncate(&l, before_last_batch);
    let fork = crate::support::gen_bundle("forked", 1, 20).json;
    let f = l.write_json("fork.json", &fork);
    l.run(&["publish", &f]).expect_code(0);
    l.run(&["checkpoint", "--out", &path("b.txt")])
        .expect_code(0);

    let out = l.run(&[
        "fork-evidence",
        &path("a.txt"),
        &path("b.txt"),
        "--key",
        &key,
        "--out",
        &path("evidence.json"),
    ]);
    out.expect_code(5);
    assert!(out.stderr.contains("FORKED"), "{}", out.stderr);
    let nowhere = tempfile::tempdir().expect("tempdir");
    let check = run_in(
        nowhere.path(),
        &["check-fork", &path("evidence.json"), "--key", &key],
    );
    check.expect_code(0);
    assert!(
        check.stdout.contains("the evidence holds"),
        "{}",
        check.stdout
    );

    // Tampered evidence does not hold.
    let mut ev: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("evidence.json")).expect("read"))
            .expect("json");
    ev["prefix_leaves"][0] = serde_json::json!("00".repeat(32));
    std::fs::write(path("evidence.json"), ev.to_string()).expect("write");
    run_in(
        nowhere.path(),
        &["check-fork", &path("evidence.json"), "--key", &key],
    )
    .expect_code(5);

    // A later checkpoint of the same (forked) history is consistent with b.
    let more = crate::support::gen_bundle("later", 1, 3).json;
    let m = l.write_json("more.json", &more);
    l.run(&["publish", &m]).expect_code(0);
    l.run(&["checkpoint", "--out", &path("c.txt")])
        .expect_code(0);
    let out = l.run(&[
        "fork-evidence",
        &path("b.txt"),
        &path("c.txt"),
        "--key",
        &key,
    ]);
    out.expect_code(0);
    assert!(out.stdout.contains("consistent"), "{}", out.stdout);
}

/// The last seal before the head: a batch boundary.
fn boundary_before_last_batch(l: &Ledger) -> u64 {
    let head = l.head().seq;
    l.log()
        .iter()
        .filter(|r| r.event_type == "batch.seal" && r.seq < head)
        .map(|r| r.seq)
        .max()
        .expect("a seal")
}

/// `verify --json --checkpoint` prints one JSON document, with the checkpoint's verdict in it,
/// and `ok` false when the checkpoint does not hold (not `"ok": true` and a line of text).
#[test]
fn verify_json_carries_the_checkpoints_verdict() {
    let l = Ledger::with_examples();
    let cp = l.file("cp.txt").display().to_string();
    l.run(&["checkpoint", "--out", &cp]).expect_code(0);
    let good = l.run(&["verify", "--json", "--checkpoint", &cp]);
    let v = good.expect_code(0).json();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["checkpoint"]["ok"], true, "{v}");
    assert_eq!(v["checkpoint"]["file"], cp.as_str(), "{v}");
    assert!(
        v["checkpoint"]["verdict"]
            .as_str()
            .is_some_and(|s| s.contains("extends the signed checkpoint")),
        "{v}"
    );

    let size = l.head().seq;
    truncate(&l, boundary_before_last_batch(&l));
    let bad = l.run(&["verify", "--json", "--checkpoint", &cp]);
    let v = bad.expect_code(5).json();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(
        v["failures"],
        serde_json::json!([]),
        "the chain itself is whole: {v}"
    );
    assert_eq!(v["checkpoint"]["ok"], false, "{v}");
    assert_eq!(v["checkpoint"]["size"].as_u64(), Some(size), "{v}");
    assert!(
        v["checkpoint"]["verdict"]
            .as_str()
            .is_some_and(|s| s.contains("records were removed")),
        "{v}"
    );
}

/// A truncation that also removed the registration of the key that signed the checkpoint is
/// reported as what it is: the ledger is shorter than the checkpoint.
#[test]
fn a_truncation_that_removed_the_signing_keys_registration_says_records_were_removed() {
    let l = Ledger::with_examples();
    let keep = l.head().seq;
    l.run(&["keys", "register", "--name", "auditor", "--role", "log"])
        .ok();
    let key = l.key_id("auditor");
    let cp = l.file("cp.txt").display().to_string();
    l.run(&["checkpoint", "--key", &key, "--out", &cp]).ok();
    l.run(&["verify", "--checkpoint", &cp]).expect_code(0);

    truncate(&l, keep);
    l.run(&["verify"]).expect_code(0);
    let out = l.run(&["verify", "--checkpoint", &cp]);
    out.expect_code(5);
    assert!(
        out.stdout.contains("records were removed"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("the ledger holds only {keep}")),
        "{}",
        out.stdout
    );
}

/// The commands that print a result print one JSON document with `--json`: `init`, `keys
/// register`/`rotate`/`revoke`, `check-proof` and `fork-evidence` when the checkpoints agree.
#[test]
fn result_commands_print_one_json_document() {
    let l = crate::support::Ledger::empty();
    let created = l.run(&["init", "--name", "json", "--json"]).ok().json();
    assert_eq!(created["name"], "json");
    let key = std::fs::read_to_string(l.dir().join("root.pub"))
        .expect("root.pub")
        .trim()
        .to_owned();
    assert_eq!(created["founding_public_key"], key.as_str());
    let reg = l
        .run(&["keys", "register", "--name", "second", "--json"])
        .ok()
        .json();
    assert_eq!(reg["signed_by"], created["founding_key"]);
    let second = reg["registered"].as_str().expect("registered").to_owned();
    let rot = l.run(&["keys", "rotate", "--json"]).ok().json();
    assert_eq!(rot["revoked"], created["founding_key"]);
    assert_eq!(rot["producer"], rot["registered"]);
    let rev = l
        .run(&[
            "keys", "revoke", &second, "--reason", "test", "--yes", "--json",
        ])
        .ok()
        .json();
    assert_eq!(rev["revoked"], second.as_str());

    publish(&l, &example_files()[..1]);
    // The founding key is revoked: checkpoints need the ledger's log key.
    let out = l.run(&["checkpoint"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("keeps no key that may sign checkpoints"),
        "{}",
        out.stderr
    );
    let log_key = l
        .run(&[
            "keys", "register", "--name", "log", "--role", "log", "--json",
        ])
        .ok()
        .json();
    let work = tempfile::tempdir().expect("tempdir");
    let (cp, incl) = (work.path().join("cp.txt"), work.path().join("incl.json"));
    l.run(&["checkpoint", "--out", &cp.display().to_string()])
        .ok();
    l.run(&["prove", "3", "--out", &incl.display().to_string()])
        .ok();
    let current = log_key["registered"].as_str().expect("key id");
    let public = l
        .run(&["keys", "list", "--json"])
        .ok()
        .json()
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["key"] == current)
        .expect("the log key")["public"]
        .as_str()
        .expect("public")
        .to_owned();
    let checked = l
        .run(&[
            "check-proof",
            &incl.display().to_string(),
            "--key",
            &public,
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        (checked["proof"].as_str(), checked["ok"].as_bool()),
        (Some("inclusion"), Some(true))
    );
    assert_eq!(checked["seq"], 3);
    let same = cp.display().to_string();
    let agree = l
        .run(&["fork-evidence", &same, &same, "--key", &public, "--json"])
        .ok()
        .json();
    assert_eq!(agree["consistent"], true);
}
