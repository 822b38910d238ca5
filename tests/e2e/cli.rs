//! The command line itself: completions and man pages generated from its definition, and empty
//! environment variables.

use crate::support::{Ledger, command};

#[test]
fn completions_are_valid_shell_and_name_every_command() {
    let l = Ledger::empty();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = l.run(&["completions", shell]);
        out.ok();
        for cmd in ["publish", "beliefs", "verify", "auditor", "views"] {
            assert!(out.stdout.contains(cmd), "{shell}: {cmd} missing");
        }
    }
    // bash checks the script's syntax without running it.
    let script = l.run(&["completions", "bash"]).stdout;
    let path = l.dir().join("dossier.bash");
    std::fs::write(&path, &script).expect("write script");
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .status()
        .expect("bash");
    assert!(status.success(), "bash -n failed on the completion script");
    l.run(&["completions", "tcsh"]).expect_code(2);
}

#[test]
fn man_pages_cover_every_command_and_render() {
    let l = Ledger::empty();
    let out = l.run(&["man"]);
    out.ok();
    assert!(out.stdout.contains(".TH dossier 1"), "{}", out.stdout);
    assert!(out.stdout.contains("publish"), "{}", out.stdout);
    let dir = l.dir().join("man1");
    l.run(&["man", "--dir", dir.to_str().expect("utf-8 path")])
        .ok();
    for page in [
        "dossier.1",
        "dossier-publish.1",
        "dossier-beliefs.1",
        "dossier-keys-rotate.1",
        "dossier-views-rebuild.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH "), "{page}");
    }
    // groff, where installed, renders them without a warning.
    if let Ok(o) = std::process::Command::new("groff")
        .args(["-man", "-T", "utf8", "-w", "all", "-z"])
        .arg(dir.join("dossier-publish.1"))
        .output()
    {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            o.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// An environment variable set but empty counts as unset: `NATS_URL=` keeps the embedded
/// ledger, `DOSSIER_REPLICAS=` is no number to refuse.
#[test]
fn an_empty_environment_variable_counts_as_unset() {
    let l = Ledger::with_examples();
    let out = command(l.dir())
        .args(["log", "--limit", "1"])
        .env("NATS_URL", "")
        .env("DOSSIER_REPLICAS", "")
        .env("DOSSIER_LEDGER", "")
        .output()
        .expect("run dossier");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty());
}

/// A full or failing output is an error (exit 1, "writing output"), never a panic (101): the
/// commands that print results, with their standard output on `/dev/full`.
#[test]
fn a_full_output_is_an_error_not_a_panic() {
    let l = Ledger::with_examples();
    let example = crate::support::example_paths()[0].clone();
    let commands: Vec<Vec<&str>> = vec![
        vec!["log"],
        vec!["log", "--json"],
        vec!["show", "3"],
        vec!["verify"],
        vec!["verify", "--json"],
        vec!["keys", "list"],
        vec!["beliefs"],
        vec!["why", "dprk-russia/containers-shipped"],
        vec!["history", "dprk-russia/containers-shipped"],
        vec!["checkpoint"],
        vec!["checkpoint", "--json"],
        vec!["prove", "3"],
        vec!["views", "status"],
        vec!["validate", &example],
        vec!["publish", &example],
        vec!["completions", "bash"],
        vec!["man"],
    ];
    for args in commands {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = command(l.dir())
            .args(&args)
            .stdout(full)
            .output()
            .expect("run dossier");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("writing output"), "{args:?}: {stderr}");
    }
}

/// With `--json`, an error is one line of JSON on standard error, with the exit code in it.
#[test]
fn errors_are_json_when_json_is_asked_for() {
    let l = Ledger::with_examples();
    let out = l.run(&["why", "nobody/asked", "--json"]);
    out.expect_code(1);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let err: serde_json::Value = serde_json::from_str(out.stderr.trim()).expect("one JSON line");
    assert_eq!(err["error"]["exit_code"], 1);
    assert!(
        err["error"]["message"]
            .as_str()
            .expect("message")
            .contains("no question question:nobody/asked"),
        "{err}"
    );
    let bad = l.write_bytes("bad.json", b"{ not json");
    let out = l.run(&["validate", &bad, "--json"]);
    out.expect_code(3);
    let err: serde_json::Value = serde_json::from_str(out.stderr.trim()).expect("one JSON line");
    assert_eq!(err["error"]["exit_code"], 3);
    let problems = err["error"]["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{err}");
    assert!(
        problems[0].as_str().expect("a line").contains("bad.json"),
        "{err}"
    );
    // Without --json, the usual lines.
    let out = l.run(&["why", "nobody/asked"]);
    assert!(out.stderr.starts_with("dossier: "), "{}", out.stderr);
}

/// The README's first command, `dossier demo`: it creates a ledger, publishes the examples,
/// verifies the chain and shows beliefs and a provenance tree, and says where to look next.
#[test]
fn the_demo_runs_end_to_end() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let out = command(tmp.path())
        .args(["demo", "--dir", dir.to_str().expect("utf-8")])
        .output()
        .expect("the dossier binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("question:dprk-russia/containers-shipped"),
        "{stdout}"
    );
    assert!(stdout.contains("== done"), "{stdout}");
    assert!(dir.join("ledger.db").exists());
}
