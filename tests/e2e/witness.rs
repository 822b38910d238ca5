//! Witnesses: two `dossier witness` processes on port 0 and a quorum of 2. The auditor collects
//! both cosignatures on the ledger's checkpoints (`check-proof --quorum 2` accepts a proof);
//! a forked copy of the ledger (the same founding key, the same size, another root) is refused
//! by both witnesses, its auditor raises alarms, and `check-proof --quorum 2` refuses its
//! proof; a witness restarted from its store refuses an older checkpoint. Two auditors of one
//! ledger (two stores) share the witnesses without an alarm; a witness holding a larger tree
//! than the ledger is the `witness:ahead` alarm. A witness's backup, restored into a fresh
//! directory, still refuses the older checkpoint.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::Child;

use dossier_testkit::http_post;
use serde_json::Value;

use crate::support::{Ledger, command, copy_ledger, example_files, run_in};

/// A `dossier witness serve` process, killed on drop.
struct WitnessProcess {
    child: Child,
    port: u16,
}

impl WitnessProcess {
    fn start(dir: &Path) -> WitnessProcess {
        WitnessProcess::start_with(dir, None)
    }

    /// Starts `witness serve` with `DOSSIER_PASSPHRASE` set to `passphrase`, if given.
    fn start_with(dir: &Path, passphrase: Option<&str>) -> WitnessProcess {
        let mut cmd = command(dir);
        if let Some(p) = passphrase {
            cmd.env("DOSSIER_PASSPHRASE", p);
        }
        let mut child = cmd
            .args(["witness", "--dir"])
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .spawn()
            .expect("dossier witness serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the address line");
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        WitnessProcess { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates a witness directory named `name` that witnesses the ledger; returns its vkey.
fn witness_dir(dir: &Path, name: &str, origin: &str, key: &str) -> String {
    let vkey = run_in(
        dir,
        &[
            "witness",
            "--dir",
            &dir.display().to_string(),
            "init",
            "--name",
            name,
        ],
    );
    vkey.expect_code(0);
    run_in(
        dir,
        &[
            "witness",
            "--dir",
            &dir.display().to_string(),
            "add-log",
            origin,
            key,
        ],
    )
    .expect_code(0);
    vkey.stdout.trim().to_owned()
}

/// Moves the auditor's store (`auditor.db` and SQLite's files beside it) from `from` to `to`.
fn move_store(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("readable dir") {
        let name = entry.expect("dir entry").file_name();
        if name.to_string_lossy().starts_with("auditor.db") {
            std::fs::rename(from.join(&name), to.join(&name)).expect("rename");
        }
    }
}

fn publish(l: &Ledger, file: &Path) {
    l.run(&["publish", &file.display().to_string()])
        .expect_code(0);
}

fn checkpoint(l: &Ledger) -> Value {
    let out = l.run(&["checkpoint", "--json"]);
    out.expect_code(0);
    out.json()
}

fn audit(l: &Ledger, witnesses: &[(String, String)]) -> crate::support::Out {
    let mut args = vec![
        "auditor".to_owned(),
        "--once".to_owned(),
        "--quiet".to_owned(),
    ];
    for (url, vkey) in witnesses {
        args.push("--witness".into());
        args.push(format!("{url}={vkey}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    l.run(&args)
}

fn prove(l: &Ledger, out: &Path) {
    l.run(&["prove", "1", "--out", &out.display().to_string()])
        .expect_code(0);
}

fn check_proof(
    dir: &Path,
    bundle: &Path,
    key: &str,
    vkeys: &[String],
    quorum: &str,
) -> crate::support::Out {
    let bundle = bundle.display().to_string();
    let mut args = vec![
        "check-proof",
        bundle.as_str(),
        "--key",
        key,
        "--quorum",
        quorum,
    ];
    for v in vkeys {
        args.push("--witness");
        args.push(v);
    }
    run_in(dir, &args)
}

fn signature_lines(note: &str) -> usize {
    note.lines().filter(|l| l.starts_with('\u{2014}')).count()
}

#[test]
fn two_witnesses_cosign_refuse_a_fork_and_never_go_back() {
    let a = Ledger::init();
    let files: Vec<PathBuf> = example_files();
    publish(&a, &files[0]);
    publish(&a, &files[1]);
    // The fork: the same data directory (founding key, ledger id), continued separately.
    let b = copy_ledger(&a);
    // A copy that stays shorter than the ledger the witnesses are shown.
    let short = copy_ledger(&a);
    let key = std::fs::read_to_string(a.dir().join("root.pub"))
        .expect("root.pub")
        .trim()
        .to_owned();
    let first = checkpoint(&a);
    let origin = format!("dossier.{}", first["ledger"].as_str().expect("ledger"));

    let work = tempfile::tempdir().expect("tempdir");
    let (d1, d2) = (work.path().join("w1"), work.path().join("w2"));
    let v1 = witness_dir(&d1, "witness.example/w1", &origin, &key);
    let v2 = witness_dir(&d2, "witness.example/w2", &origin, &key);
    let vkeys = [v1.clone(), v2.clone()];
    let mut w1 = WitnessProcess::start(&d1);
    let w2 = WitnessProcess::start(&d2);
    let witnesses = [(w1.url(), v1.clone()), (w2.url(), v2.clone())];

    // The auditor's first checkpoint is cosigned by both.
    audit(&a, &witnesses).expect_code(0);
    let old_note = first["note"].as_str().expect("note").to_owned();
    publish(&a, &files[2]);
    // A second auditor of the same ledger (its own store) starts from old 0, follows each
    // witness's 409 to its size, and proves consistency from there.
    let first_store = work.path().join("first-store");
    move_store(a.dir(), &first_store);
    audit(&a, &witnesses).expect_code(0);
    // The first auditor resumes from its older checkpoint: the witnesses hold a larger tree,
    // which is the ledger's, so no alarm; its new checkpoint is cosigned from their size.
    move_store(a.dir(), &work.path().join("second-store"));
    move_store(&first_store, a.dir());
    let resumed = audit(&a, &witnesses);
    resumed.expect_code(0);
    let status = a.run(&["auditor", "status", "--json"]).json();
    assert_eq!(
        status["alarms"].as_array().map(Vec::len),
        Some(0),
        "{status}"
    );
    let kept = a.run(&["auditor", "checkpoint"]);
    kept.expect_code(0);
    assert_eq!(signature_lines(&kept.stdout), 3, "{}", kept.stdout);
    let cp_a = checkpoint(&a);
    assert_eq!(
        signature_lines(cp_a["note"].as_str().expect("note")),
        3,
        "`dossier checkpoint` includes the collected cosignatures: {cp_a}"
    );
    let proof_a = work.path().join("a.json");
    prove(&a, &proof_a);
    let ok = check_proof(work.path(), &proof_a, &key, &vkeys, "2");
    ok.expect_code(0);
    assert!(
        ok.stdout
            .contains("cosigned by witness.example/w1, witness.example/w2"),
        "{}",
        ok.stdout
    );

    // `verify --checkpoint` counts the cosignatures too.
    let kept_file = work.path().join("kept.txt");
    std::fs::write(&kept_file, &kept.stdout).expect("write");
    let kept_arg = kept_file.display().to_string();
    let quorum = |l: &Ledger, file: &str, n: &str| {
        l.run(&[
            "verify",
            "--quiet",
            "--checkpoint",
            file,
            "--witness",
            &v1,
            "--witness",
            &v2,
            "--quorum",
            n,
        ])
    };
    let verified = quorum(&a, &kept_arg, "2");
    verified.expect_code(0);
    assert!(
        verified.stdout.contains("cosigned by"),
        "{}",
        verified.stdout
    );

    // A ledger shorter than the tree a witness holds: the witness was shown another history.
    let ahead = audit(&short, &witnesses[..1]);
    ahead.expect_code(5);
    let status = short.run(&["auditor", "status", "--json"]).json();
    assert!(
        status["alarms"]
            .as_array()
            .expect("alarms")
            .iter()
            .any(|a| a["kind"] == "witness:ahead"),
        "{status}"
    );

    // The fork: the same bundle published again gives the same size and another root.
    publish(&b, &files[2]);
    let cp_b = checkpoint(&b);
    assert_eq!(cp_b["size"], cp_a["size"]);
    assert_ne!(cp_b["root"], cp_a["root"]);
    let forked = audit(&b, &witnesses);
    forked.expect_code(5);
    let status = b.run(&["auditor", "status", "--json"]);
    let status = status.json();
    let kinds: Vec<&str> = status["alarms"]
        .as_array()
        .expect("alarms")
        .iter()
        .filter_map(|a| a["kind"].as_str())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "witness:fork").count(),
        2,
        "both witnesses refuse the fork: {status}"
    );
    let proof_b = work.path().join("b.json");
    prove(&b, &proof_b);
    let refused = check_proof(work.path(), &proof_b, &key, &vkeys, "2");
    refused.expect_code(5);
    assert!(refused.stderr.contains("quorum"), "{}", refused.stderr);
    let b_cp = work.path().join("b-cp.txt");
    std::fs::write(&b_cp, b.run(&["auditor", "checkpoint"]).stdout).expect("write");
    let no_quorum = quorum(&b, &b_cp.display().to_string(), "1");
    no_quorum.expect_code(5);
    assert!(
        format!("{}{}", no_quorum.stdout, no_quorum.stderr).contains("quorum FAILED"),
        "{no_quorum:?}"
    );
    // Without witnesses the forked proof is only the log's word, which is what quorums are for.
    run_in(
        work.path(),
        &["check-proof", &proof_b.display().to_string(), "--key", &key],
    )
    .expect_code(0);

    // A witness restarted from its store refuses the older checkpoint, whatever old size is
    // claimed, and still holds the ledger's size.
    drop(w1);
    w1 = WitnessProcess::start(&d1);
    let size = cp_a["size"].as_u64().expect("size");
    let holds_size = |port: u16| {
        let (status, body) = http_post(
            port,
            "/add-checkpoint",
            format!("old 0\n\n{old_note}").as_bytes(),
        )
        .expect("post");
        assert_eq!((status, body.as_str()), (409, format!("{size}\n").as_str()));
    };
    holds_size(w1.port);
    let (status, _) = http_post(
        w1.port,
        "/add-checkpoint",
        format!("old {size}\n\n{old_note}").as_bytes(),
    )
    .expect("post");
    assert_eq!(status, 400, "an old size above the checkpoint's");
    let st = run_in(
        work.path(),
        &[
            "witness",
            "--dir",
            &d1.display().to_string(),
            "status",
            "--json",
        ],
    );
    st.expect_code(0);
    assert_eq!(st.json()["logs"][0]["size"].as_u64(), Some(size));

    // A backup taken while it serves, restored into a fresh directory: the same key, the same
    // size, and the older checkpoint still refused.
    const PASS: &str = "witness backup";
    let backup = work.path().join("w1.backup");
    let backup_arg = backup.display().to_string();
    witness_cmd(&d1, Some(PASS), &["backup", &backup_arg]).expect_code(0);
    let bytes = std::fs::read_to_string(&backup).expect("backup");
    assert!(bytes.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    let key_file = std::fs::read_to_string(d1.join("witness.key")).expect("key file");
    assert!(!bytes.contains("secret") && !bytes.contains(key_file.trim()));
    let d3 = work.path().join("w3");
    let wrong = witness_cmd(&d3, Some("wrong"), &["restore", &backup_arg]);
    wrong.expect_code(7);
    assert!(!d3.join("witness.key").exists() && !d3.join("witness.db").exists());
    let restored = witness_cmd(&d3, Some(PASS), &["restore", &backup_arg]);
    assert_eq!(
        restored.expect_code(0).stdout.trim(),
        format!("restored witness {v1}")
    );
    for f in ["witness.key", "witness.db"] {
        let mode = std::fs::metadata(d3.join(f))
            .expect("restored")
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600,
            "{f}"
        );
    }
    let again = witness_cmd(&d1, Some(PASS), &["restore", &backup_arg]);
    again.expect_code(3);
    assert!(
        again.stderr.contains("already holds a witness"),
        "{}",
        again.stderr
    );
    drop(w1);
    holds_size(WitnessProcess::start(&d3).port);
}

/// Runs `dossier witness --dir DIR ARGS…` with `DOSSIER_PASSPHRASE` set to `passphrase`, if given.
fn witness_cmd(dir: &Path, passphrase: Option<&str>, args: &[&str]) -> crate::support::Out {
    let mut cmd = command(dir);
    if let Some(p) = passphrase {
        cmd.env("DOSSIER_PASSPHRASE", p);
    }
    crate::support::Out::from_output(
        cmd.args(["witness", "--dir"])
            .arg(dir)
            .args(args)
            .output()
            .expect("the dossier binary runs"),
    )
}

/// `witness init` with a passphrase writes its key as an age file that does not hold the
/// secret; `witness serve` refuses without the passphrase or with a wrong one, and serves with
/// it. A witness key written in the clear draws a warning.
#[test]
fn an_encrypted_witness_key_is_useless_without_its_passphrase() {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("w");
    let init = witness_cmd(
        &dir,
        Some("correct horse"),
        &["init", "--name", "witness.example/w"],
    );
    init.expect_code(0);
    assert!(!init.stderr.contains("warning"), "{}", init.stderr);
    let vkey = init.stdout.trim().to_owned();
    let file = dir.join("witness.key");
    let text = std::fs::read_to_string(&file).expect("key file");
    crate::support::assert_encrypted_key_file(&text);
    assert!(
        !text.contains("secret") && !text.contains("witness.example"),
        "the key file's plain text shows: {text}"
    );
    let serve = ["serve", "--listen", "127.0.0.1:0"];
    crate::support::assert_needs_passphrase(
        &witness_cmd(&dir, None, &serve),
        &witness_cmd(&dir, Some("wrong"), &serve),
        &file,
    );
    let served = WitnessProcess::start_with(&dir, Some("correct horse"));
    let (status, _) = http_post(served.port, "/add-checkpoint", b"old 0\n\n").expect("post");
    assert_eq!(status, 400, "a malformed request, answered by the witness");
    let again = witness_cmd(&dir, Some("correct horse"), &["vkey"]);
    assert_eq!(again.expect_code(0).stdout.trim(), vkey);

    let plain = witness_cmd(
        &work.path().join("p"),
        None,
        &["init", "--name", "w.example/p"],
    );
    plain.expect_code(0);
    assert!(
        plain.stderr.contains("is written unencrypted"),
        "{}",
        plain.stderr
    );
}
