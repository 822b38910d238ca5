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

/// `dossier tiles --out DIR` writes the ledger's tree as C2SP tlog-tiles for any web server;
/// Go's sumdb/note and sumdb/tlog open its checkpoints, read the tiles through
/// `tlog.TileHashReader`, and check `prove`'s inclusion and consistency proofs. Rerun on a
/// longer ledger it extends the directory; a flipped byte is refused by Go, and a history
/// rewritten since is refused by `dossier tiles` (exit 5) without overwriting anything.
#[test]
fn tiles_written_for_a_web_server_are_checked_by_gos_tlog() {
    let l = Ledger::init();
    let files = example_files();
    publish(&l, &files[..2]);
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("www");
    let dir_arg = dir.display().to_string();
    let out = l.run(&["tiles", "--out", &dir_arg]);
    out.expect_code(0);
    assert!(out.stdout.starts_with("wrote "), "{}", out.stdout);
    let first = std::fs::read_to_string(dir.join("checkpoint")).expect("checkpoint");
    let cp1 = work.path().join("cp1.txt");
    std::fs::write(&cp1, &first).expect("cp1");
    publish(&l, &files[2..]);
    l.run(&["tiles", "--out", &dir_arg]).expect_code(0);
    let second = std::fs::read_to_string(dir.join("checkpoint")).expect("checkpoint");
    assert_ne!(first, second);
    // The partial tiles of the first size are still there beside the new ones.
    let size1: u64 = first.lines().nth(1).expect("size").parse().expect("size");
    for t in dossier_proofs::tiles_of(size1) {
        assert!(dir.join(t.path()).is_file(), "{}", t.path());
    }

    let incl = work.path().join("incl.json");
    let cons = work.path().join("cons.json");
    l.run(&["prove", "7", "--out", &incl.display().to_string()])
        .expect_code(0);
    let cp1_arg = cp1.display().to_string();
    let cons_arg = cons.display().to_string();
    l.run(&["prove", "--from", &cp1_arg, "--out", &cons_arg])
        .expect_code(0);
    let read = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).expect("bundle")).expect("json")
    };
    let (incl, cons) = (read(&incl), read(&cons));
    let key = std::fs::read_to_string(l.dir().join("root.pub")).expect("root.pub");
    let public = dossier_chain::parse_public_hex(key.trim()).expect("key");
    let ledger = first
        .lines()
        .next()
        .and_then(|o| o.strip_prefix("dossier."))
        .expect("origin");
    let vkey = dossier_proofs::checkpoint_verifier(ledger, public)
        .expect("verifier")
        .to_vkey();
    let record = incl["record"].as_str().expect("record");
    let cases = serde_json::json!({
        "vkey": vkey,
        "trees": [
            {"note": first, "tiles": dir, "all_leaves": true},
            {"note": second, "tiles": dir, "all_leaves": true},
        ],
        "inclusion": [{"tree": 1, "index": 6, "leaf": dossier_chain::Hash::of_record(record.as_bytes()).to_hex(), "proof": incl["proof"]}],
        "consistency": [{"old": 0, "new": 1, "proof": cons["proof"]}],
    });
    let file = work.path().join("cases.json");
    std::fs::write(&file, serde_json::to_vec(&cases).expect("json")).expect("cases");
    let summary = dossier_testkit::run_tlog_go(&file).expect("Go accepts dossier's tiles");
    assert!(summary.starts_with("ok: 2 checkpoints"), "{summary}");

    // A byte flipped in the entry bundle: Go refuses it.
    let size2: u64 = second.lines().nth(1).expect("size").parse().expect("size");
    let bundle = dir.join(format!("tile/entries/000.p/{size2}"));
    let good = std::fs::read(&bundle).expect("bundle");
    let mut bad = good.clone();
    bad[2 + 34 * 3 + 5] ^= 0x40;
    std::fs::write(&bundle, &bad).expect("write");
    let err = dossier_testkit::run_tlog_go(&file).expect_err("Go accepted a flipped entry");
    assert!(err.contains("does not hash to its leaf"), "{err}");
    std::fs::write(&bundle, &good).expect("restore");

    // A history rewritten since the tiles were written: refused, nothing overwritten.
    crate::support::rewrite_record(&l, 3, true, |bytes| {
        String::from_utf8(bytes)
            .expect("utf-8")
            .replacen("\"title\":\"", "\"title\":\"X", 1)
            .into_bytes()
    });
    let out = l.run(&["tiles", "--out", &dir_arg]);
    out.expect_code(5);
    assert!(
        out.stderr.contains("already holds a different tile"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("checkpoint")).expect("checkpoint"),
        second
    );
}

/// Checkpoints and bundles made before tree version 2 (a BLAKE3 root, the `dossier-head`
/// keyword) stay verifiable: `verify --checkpoint` recomputes the root in the checkpoint's
/// version, `check-proof` checks a version-1 inclusion bundle, and `prove --from` a version-1
/// checkpoint says why it cannot prove consistency across versions (docs/PROOFS.md §11).
#[test]
fn version_1_checkpoints_and_bundles_still_verify() {
    use dossier_proofs::{Checkpoint, ProofBundle, TreeHead, TreeVersion};
    let l = Ledger::init();
    let files = example_files();
    publish(&l, &files);
    let signer = dossier_app::Home::at(l.dir().to_owned())
        .producer(None)
        .expect("the producer key");
    let records: Vec<dossier_chain::StoredRecord> = {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let log = dossier_log::SqliteLog::open(&l.db()).expect("open");
            dossier_log::EventLog::read(&log, 1, 100_000)
                .await
                .expect("read")
        })
    };
    let leaves: Vec<dossier_chain::Hash> = records
        .iter()
        .map(|r| dossier_chain::Hash::of_record(&r.bytes))
        .collect();
    let n = leaves.len() as u64;
    let tree = TreeHead::from_leaves_in(TreeVersion::V1Blake3, &leaves, n).expect("tree");
    let json = l.run(&["checkpoint", "--json"]);
    json.expect_code(0);
    let ledger = json.json()["ledger"].as_str().expect("ledger").to_owned();
    let note = Checkpoint::new(&ledger, tree)
        .expect("checkpoint")
        .sign_with(&signer)
        .expect("sign");
    assert!(note.contains("\ndossier-head "), "{note}");
    let work = tempfile::tempdir().expect("tempdir");
    let cp = work.path().join("v1.txt");
    std::fs::write(&cp, &note).expect("write");
    let cp_arg = cp.display().to_string();
    l.run(&["verify", "--checkpoint", &cp_arg]).expect_code(0);

    let bundle = ProofBundle::Inclusion {
        ledger: ledger.clone(),
        seq: 4,
        record: String::from_utf8(records[3].bytes.clone()).expect("utf-8"),
        proof: TreeVersion::V1Blake3
            .inclusion_proof(&leaves, 3, n)
            .expect("proof")
            .iter()
            .map(dossier_chain::Hash::to_hex)
            .collect(),
        checkpoint: note.clone(),
    };
    let file = work.path().join("v1-bundle.json");
    std::fs::write(&file, serde_json::to_string(&bundle).expect("json")).expect("write");
    let key = std::fs::read_to_string(l.dir().join("root.pub")).expect("root.pub");
    let out = l.run(&[
        "check-proof",
        &file.display().to_string(),
        "--key",
        key.trim(),
    ]);
    out.expect_code(0);
    assert!(out.stdout.starts_with("ok:"), "{}", out.stdout);

    let out = l.run(&["prove", "--from", &cp_arg]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("tree version 1"), "{}", out.stderr);

    // A rewritten history fails the version-1 checkpoint as it fails a version-2 one.
    crate::support::rewrite_record(&l, 3, true, |bytes| {
        String::from_utf8(bytes)
            .expect("utf-8")
            .replacen("\"title\":\"", "\"title\":\"X", 1)
            .into_bytes()
    });
    l.run(&["verify", "--checkpoint", &cp_arg]).expect_code(5);
}
