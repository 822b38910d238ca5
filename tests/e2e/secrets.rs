//! Secret keys in the data directory: private file modes whatever the umask, secrets of revoked
//! keys destroyed, key files encrypted with a passphrase, and the refusals of `keys revoke`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{Ledger, Out, Served, bin, example_paths, gen_bundle};

/// `dossier --data-dir DIR ARGS…` started by a shell under `umask 022`, with the environment the
/// other tests clear cleared too.
fn under_umask_022(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("umask 022 && exec \"$@\"")
        .arg("sh")
        .arg(bin())
        .arg("--data-dir")
        .arg(dir)
        .args(args);
    for var in crate::environment::DOSSIER_VARIABLES {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn run_022(dir: &Path, args: &[&str]) -> Out {
    Out::from_output(
        under_umask_022(dir, args)
            .output()
            .expect("the dossier binary runs"),
    )
}

/// Every path under `dir` (itself included), with its mode's permission bits.
fn modes(dir: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut all = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let meta = std::fs::metadata(&d).expect("metadata");
        all.push((d.clone(), true, meta.permissions().mode() & 0o777));
        for e in std::fs::read_dir(&d).expect("readable directory") {
            let e = e.expect("entry");
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                todo.push(e.path());
            } else {
                all.push((e.path(), false, meta.permissions().mode() & 0o777));
            }
        }
    }
    all
}

/// Under `umask 022`, everything `init`, `publish`, `serve`, `auditor --once`, `beliefs` and
/// `keys rotate` create in the data directory is private: directories 0700, files 0600
/// (`ledger.db` and SQLite's side files, `views.db`, `auditor.db`, `access.db`, lock files, key
/// files, `root.pub`, `producer`).
#[test]
fn every_file_of_the_data_directory_is_private_whatever_the_umask() {
    let l = Ledger::empty();
    let dir = l.dir().join("data");
    run_022(&dir, &["init", "--insecure-keys"]).ok();
    let mut publish = vec!["publish", "--insecure-keys"];
    let files = example_paths();
    publish.extend(files.iter().map(String::as_str));
    run_022(&dir, &publish).ok();
    let served = Served::start(under_umask_022(
        &dir,
        &["serve", "--listen", "127.0.0.1:0", "--insecure-keys"],
    ));
    served.terminate();
    run_022(&dir, &["auditor", "--once", "--insecure-keys"]).ok();
    run_022(&dir, &["beliefs", "--insecure-keys"]).ok();
    run_022(&dir, &["keys", "rotate", "--insecure-keys"]).ok();
    let all = modes(&dir);
    let names: Vec<String> = all
        .iter()
        .map(|(p, _, _)| p.strip_prefix(&dir).expect("under").display().to_string())
        .collect();
    for expected in [
        "ledger.db",
        "views.db",
        "auditor.db",
        "root.pub",
        "producer",
        "keys",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    let wrong: Vec<String> = all
        .iter()
        .filter(|(_, is_dir, mode)| *mode != if *is_dir { 0o700 } else { 0o600 })
        .map(|(p, _, mode)| format!("{} {mode:o}", p.display()))
        .collect();
    assert!(wrong.is_empty(), "not private: {wrong:?}");
}

/// Whether any file under `dir` contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    modes(dir)
        .into_iter()
        .filter(|(p, is_dir, _)| {
            !is_dir
                && std::fs::read(p)
                    .expect("readable")
                    .windows(needle.len())
                    .any(|w| w == needle)
        })
        .map(|(p, _, _)| p)
        .collect()
}

fn secret_of(l: &Ledger, id: &str) -> String {
    let text =
        std::fs::read_to_string(l.dir().join("keys").join(format!("{id}.key"))).expect("key file");
    text.lines().next().expect("first line").to_owned()
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `keys revoke` and `keys rotate` destroy the revoked key's secret: afterwards no file of the
/// data directory (SQLite files included) holds it, as hex or as bytes. A key file restored
/// from a copy made before the revocation is destroyed by the next command that opens the
/// data directory.
#[test]
fn revoked_secrets_are_destroyed_and_a_restored_one_on_the_next_open() {
    let l = Ledger::init();
    let founder = l.key_id("analyst");
    l.run(&["keys", "register", "--name", "temp"]).ok();
    let temp = l.key_id("temp");
    let secrets = [
        (temp.clone(), secret_of(&l, &temp)),
        (founder.clone(), secret_of(&l, &founder)),
    ];
    let copy = tempfile::tempdir().expect("tempdir");
    for (id, _) in &secrets {
        let name = format!("{id}.key");
        std::fs::copy(l.dir().join("keys").join(&name), copy.path().join(&name)).expect("copy");
    }
    l.run(&["keys", "revoke", &temp, "--reason", "laptop lost", "--yes"])
        .ok();
    l.run(&["keys", "rotate"]).ok();
    let a = gen_bundle("secrets-a", 1, 2);
    let fa = l.write_json("a.json", &a.json);
    l.run(&["publish", &fa]).ok();
    for (id, secret) in &secrets {
        assert!(!l.dir().join("keys").join(format!("{id}.key")).exists());
        for needle in [secret.as_bytes().to_vec(), hex_bytes(secret)] {
            let found = files_containing(l.dir(), &needle);
            assert!(found.is_empty(), "the secret of {id} is in {found:?}");
        }
    }

    // A key file from before the revocation, put back: the next command destroys it.
    let name = format!("{temp}.key");
    let restored = l.dir().join("keys").join(&name);
    std::fs::copy(copy.path().join(&name), &restored).expect("restore");
    let out = l.run(&["log"]);
    out.ok();
    assert!(!restored.exists(), "the restored secret survived `log`");
    assert!(
        out.stderr.contains(&format!(
            "destroyed the secret of key {temp}, revoked at seq"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(l.verify_json().0, 0);
}

fn with_passphrase(l: &Ledger, passphrase: Option<&str>, args: &[&str]) -> Out {
    let mut cmd = l.command();
    if let Some(p) = passphrase {
        cmd.env("DOSSIER_PASSPHRASE", p);
    }
    Out::from_output(cmd.args(args).output().expect("the dossier binary runs"))
}

/// `init --encrypt-keys` writes an age file that does not hold the secret; without the
/// passphrase (no variable, no terminal) or with a wrong one the key cannot be used (exit 7,
/// nothing appended); with it (from the variable or a file) it works, and `keys rotate`
/// encrypts the new key too. A key written in the clear draws a warning unless
/// `--insecure-keys`.
#[test]
fn an_encrypted_key_file_is_useless_without_its_passphrase() {
    let l = Ledger::empty();
    let init = with_passphrase(
        &l,
        Some("correct horse"),
        &["init", "--encrypt-keys", "--json"],
    );
    let created = init.ok().json();
    assert!(!init.stderr.contains("warning"), "{}", init.stderr);
    let id = created["founding_key"].as_str().expect("key id").to_owned();
    let file = l.dir().join("keys").join(format!("{id}.key"));
    crate::support::assert_encrypted_key_file(&std::fs::read_to_string(&file).expect("key file"));

    let a = gen_bundle("secrets-b", 1, 2);
    let fa = l.write_json("a.json", &a.json);
    crate::support::assert_needs_passphrase(
        &with_passphrase(&l, None, &["publish", &fa]),
        &with_passphrase(&l, Some("wrong"), &["publish", &fa]),
        &file,
    );
    assert_eq!(l.count(), 2, "something was appended without the key");

    let pass_file = l.file("passphrase");
    std::fs::write(&pass_file, "correct horse\n").expect("write");
    let out = Out::from_output(
        l.command()
            .env("DOSSIER_PASSPHRASE_FILE", &pass_file)
            .args(["publish", &fa])
            .output()
            .expect("runs"),
    );
    out.ok();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);

    let rotated = with_passphrase(&l, Some("correct horse"), &["keys", "rotate", "--json"])
        .ok()
        .json();
    let new = rotated["registered"].as_str().expect("new key");
    let text = std::fs::read_to_string(l.dir().join("keys").join(format!("{new}.key")))
        .expect("new key file");
    assert!(text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert!(!file.exists(), "the rotated-out key's file is still there");
    assert_eq!(l.verify_json().0, 0);

    // Keys in the clear: a warning each time one is written or read, unless deliberate.
    let plain = Ledger::empty();
    let out = plain.run(&["init"]);
    assert!(
        out.ok().stderr.contains("is written unencrypted"),
        "{}",
        out.stderr
    );
    let out = plain.run(&["publish", &fa]);
    assert!(
        out.ok().stderr.contains("is not encrypted"),
        "{}",
        out.stderr
    );
    let out = plain.run(&["keys", "register", "--name", "x", "--insecure-keys"]);
    assert!(!out.ok().stderr.contains("warning"), "{}", out.stderr);
}

/// `keys revoke` requires a reason (recorded in the revocation), asks for confirmation (refused
/// without a terminal unless `--yes`), refuses to revoke the last trusted key, and lets only
/// the founding key revoke the founding key. Nothing is appended by a refusal.
#[test]
fn keys_revoke_refuses_what_would_lock_the_ledger() {
    let l = Ledger::init();
    let founder = l.key_id("analyst");
    let head = l.head();
    let refused = |args: &[&str], code: i32, text: &str| {
        let out = l.run(args);
        out.expect_code(code);
        assert!(out.stderr.contains(text), "{args:?}: {}", out.stderr);
    };
    refused(&["keys", "revoke", &founder, "--yes"], 2, "--reason <TEXT>");
    refused(
        &["keys", "revoke", &founder, "--reason", " ", "--yes"],
        1,
        "a revocation needs a reason",
    );
    refused(
        &["keys", "revoke", &founder, "--reason", "gone", "--yes"],
        1,
        &format!("key {founder} is the ledger's last trusted key"),
    );
    assert_eq!(l.head(), head);

    // A second (admin) key, used by this directory, may not revoke the founding key.
    l.run(&[
        "keys", "register", "--name", "second", "--role", "admin", "--use-it",
    ])
    .ok();
    let second = l.key_id("second");
    let head = l.head();
    refused(
        &["keys", "revoke", &founder, "--reason", "coup", "--yes"],
        1,
        &format!("key {founder} is the founding key: only the founding key itself may revoke it"),
    );
    // A revocation the rules allow still needs confirmation.
    std::fs::write(l.dir().join("producer"), format!("{founder}\n")).expect("producer");
    refused(
        &["keys", "revoke", &second, "--reason", "left the team"],
        1,
        &format!(
            "revoking key {second} needs confirmation and there is no terminal to ask on: pass --yes"
        ),
    );
    assert_eq!(l.head(), head);

    // The founding key revokes the second key, with its reason recorded...
    l.run(&[
        "keys",
        "revoke",
        &second,
        "--reason",
        "left the team",
        "--yes",
    ])
    .ok();
    let revoked = l
        .log_with(&["--type", "key.revoked"])
        .pop()
        .expect("a revocation");
    let shown = l
        .run(&["show", &revoked.seq.to_string(), "--json"])
        .ok()
        .json();
    assert_eq!(
        shown["record"]["body"],
        serde_json::json!({"key": second, "reason": "left the team"}),
        "{shown}"
    );
    // ...and is then the last trusted key again.
    refused(
        &["keys", "revoke", &founder, "--reason", "gone", "--yes"],
        1,
        "last trusted key",
    );
    assert_eq!(l.verify_json().1["ok"], Value::Bool(true));
}

/// `keys backup` writes one encrypted file (no secret in it, in hex or bytes) from which `keys
/// restore` rebuilds a data directory beside a copy of the ledger: the pinned root, the
/// producer choice and the key files, after which it publishes and verifies pinned. A wrong
/// passphrase restores nothing (exit 7); a key revoked since the backup is destroyed at once;
/// a backup is refused beside another ledger.
#[test]
fn keys_backup_restores_a_data_directory_beside_its_ledger() {
    const PASS: &str = "backup passphrase";
    let l = Ledger::init();
    let founder = l.key_id("analyst");
    l.run(&["keys", "register", "--name", "second"]).ok();
    let second = l.key_id("second");
    let secrets = [secret_of(&l, &founder), secret_of(&l, &second)];
    // The auditor has checkpointed the ledger: its store goes into the backup.
    l.run(&["auditor", "--once", "--quiet"]).ok();
    let kept = l.run(&["auditor", "checkpoint"]).ok().stdout.clone();
    let audited = l.count();
    let backup = l.file("keys.backup");
    let backup_arg = backup.display().to_string();
    let made = with_passphrase(
        &l,
        Some(PASS),
        &["keys", "backup", "--out", &backup_arg, "--json"],
    );
    let made = made.ok().json();
    assert_eq!(made["keys"].as_array().map(Vec::len), Some(2), "{made}");
    assert_eq!(made["auditor"], Value::Bool(true), "{made}");
    let bytes = std::fs::read(&backup).expect("backup");
    assert!(bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
    for s in &secrets {
        for needle in [s.as_bytes().to_vec(), hex_bytes(s)] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_slice()));
        }
    }
    assert_eq!(
        std::fs::metadata(&backup)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // The second key is revoked after the backup.
    l.run(&["keys", "revoke", &second, "--reason", "left", "--yes"])
        .ok();

    // A new data directory holding only a copy of the ledger.
    let fresh = Ledger::empty();
    for f in std::fs::read_dir(l.dir()).expect("dir") {
        let p = f.expect("entry").path();
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        if name.starts_with("ledger.db") {
            std::fs::copy(&p, fresh.dir().join(&name)).expect("copy");
        }
    }
    let out = with_passphrase(&fresh, Some("wrong"), &["keys", "restore", &backup_arg]);
    out.expect_code(7);
    assert!(
        out.stderr.contains("wrong passphrase for"),
        "{}",
        out.stderr
    );
    assert!(!fresh.dir().join("root.pub").exists());
    let restored = with_passphrase(
        &fresh,
        Some(PASS),
        &["keys", "restore", &backup_arg, "--json"],
    )
    .ok()
    .json();
    assert_eq!(
        restored["destroyed"],
        serde_json::json!([second]),
        "{restored}"
    );
    assert!(
        fresh
            .dir()
            .join("keys")
            .join(format!("{founder}.key"))
            .exists()
    );
    assert!(
        !fresh
            .dir()
            .join("keys")
            .join(format!("{second}.key"))
            .exists()
    );
    assert_eq!(
        std::fs::read(fresh.dir().join("root.pub")).expect("root"),
        std::fs::read(l.dir().join("root.pub")).expect("root")
    );
    // The restored auditor holds the checkpoint made before the backup and resumes from it.
    assert_eq!(restored["auditor"], Value::Bool(true), "{restored}");
    assert_eq!(fresh.run(&["auditor", "checkpoint"]).ok().stdout, kept);
    assert_eq!(
        modes(fresh.dir())
            .iter()
            .find(|(p, _, _)| p.ends_with("auditor.db"))
            .map(|(_, _, m)| *m),
        Some(0o600)
    );
    let a = gen_bundle("secrets-restore", 1, 2);
    let fa = fresh.write_json("a.json", &a.json);
    fresh.run(&["publish", &fa]).ok();
    let (code, v) = fresh.verify_json();
    assert_eq!((code, &v["ok"]), (0, &Value::Bool(true)), "{v}");
    let resumed = fresh.run(&["auditor", "--once"]);
    assert!(
        resumed
            .ok()
            .stdout
            .contains(&format!("resumed from {audited}")),
        "{}",
        resumed.stdout
    );

    // Beside another ledger it is refused, and nothing is written.
    let other = Ledger::init();
    let keys_before = modes(other.dir()).len();
    let out = with_passphrase(&other, Some(PASS), &["keys", "restore", &backup_arg]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("the backup is of ledger"),
        "{}",
        out.stderr
    );
    assert_eq!(modes(other.dir()).len(), keys_before);
}
