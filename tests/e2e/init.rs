//! `init` and the data directory: a second `init` changes nothing; commands without a ledger
//! say to run `dossier init`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{Ledger, example_files};

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .expect("inside")
                    .display()
                    .to_string();
                out.insert(name, std::fs::read(&path).expect("readable file"));
            }
        }
    }
    out
}

#[test]
fn init_twice_fails_and_changes_nothing() {
    let l = Ledger::init();
    l.run(&["publish", &example_files()[0].display().to_string()])
        .ok();
    let head = l.head();
    let before = snapshot(l.dir());
    for name in ["ledger.db", "root.pub", "producer"] {
        assert!(
            before.contains_key(name),
            "{name} missing: {:?}",
            before.keys()
        );
    }
    assert_eq!(
        before.keys().filter(|k| k.starts_with("keys/")).count(),
        1,
        "{:?}",
        before.keys()
    );

    let out = l.run(&["init", "--name", "again", "--producer", "intruder"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("already holds a ledger; nothing was changed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&l.dir().display().to_string()),
        "{}",
        out.stderr
    );
    assert_eq!(snapshot(l.dir()), before, "the second init changed files");
    assert_eq!(l.head(), head);
}

#[test]
fn commands_without_a_ledger_exit_6() {
    let l = Ledger::empty();
    let example = example_files()[0].display().to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec!["log"],
        vec!["log", "--json"],
        vec!["show", "1"],
        vec!["verify"],
        vec!["verify", "--json"],
        vec!["publish", &example],
        vec!["keys", "list"],
        vec!["keys", "register", "--name", "x"],
        vec!["keys", "rotate"],
        vec![
            "keys",
            "revoke",
            "0123456789abcdef",
            "--reason",
            "x",
            "--yes",
        ],
    ];
    for args in commands {
        let out = l.run(&args);
        out.expect_code(6);
        assert!(
            out.stderr.contains("run `dossier init`"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains(&format!("no ledger in {}", l.dir().display())),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert!(!l.db().exists(), "a command created the database");
    // `validate` works without a ledger (it checks the files against each other only).
    let out = l.run(&["validate", &example]);
    out.ok();
    assert!(out.stderr.contains("no ledger in"), "{}", out.stderr);
    // And the directory is still empty enough for `init`.
    l.run(&["init"]).ok();
    assert_eq!(l.head().seq, 2);
}

/// Several `init`s racing in one empty directory: exactly one founds the ledger, and the trust
/// root, producer key and key files left behind are that one's, so the ledger verifies pinned.
#[test]
fn concurrent_inits_leave_one_consistent_ledger() {
    for _ in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let children: Vec<_> = (0..4)
            .map(|i| {
                crate::support::command(dir.path())
                    .args(["init", "--producer", &format!("racer{i}")])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        let outcomes: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().expect("wait"))
            .collect();
        let winners = outcomes.iter().filter(|o| o.status.success()).count();
        assert_eq!(winners, 1, "exactly one init must win: {outcomes:?}");
        for o in outcomes.iter().filter(|o| !o.status.success()) {
            assert_eq!(o.status.code(), Some(1));
            assert!(
                String::from_utf8_lossy(&o.stderr).contains("already holds a ledger"),
                "{o:?}"
            );
        }
        let keys: Vec<_> = std::fs::read_dir(dir.path().join("keys"))
            .expect("keys dir")
            .collect();
        assert_eq!(keys.len(), 1, "only the winner's key may remain");
        let verify = crate::support::run_in(dir.path(), &["verify"]);
        verify.expect_code(0);
        assert!(
            verify.stdout.contains("matches the pinned trust root"),
            "{}",
            verify.stdout
        );
    }
}
