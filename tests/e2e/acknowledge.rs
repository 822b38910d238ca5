//! `dossier publish` acknowledges each file as its batch commits (a line per file, JSON Lines
//! with `--json`), and on SIGTERM or SIGINT commits no further batch, reports what was
//! committed and exits 143 or 130 — on SQLite and on JetStream. Every file it reported is in the
//! ledger exactly once, and no other: a caller who keeps the lines knows what is committed.
//! (SIGTERM is sent to runs printing JSON Lines, SIGINT to runs printing text.)

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Generated, Out, command, duplicate_entities, gen_bundle};

/// A data directory with a ledger, on SQLite or on a JetStream server of its own.
struct Target {
    dir: tempfile::TempDir,
    nats: Option<(dossier_testkit::NatsServer, String)>,
}

impl Target {
    fn sqlite() -> Target {
        let t = Target {
            dir: tempfile::tempdir().expect("tempdir"),
            nats: None,
        };
        t.run(&["init", "--name", "ack"]).ok();
        t
    }

    fn jetstream() -> Target {
        let server = dossier_testkit::NatsServer::start();
        let url = server.url();
        let t = Target {
            dir: tempfile::tempdir().expect("tempdir"),
            nats: Some((server, url)),
        };
        t.run(&["init", "--name", "ack"]).ok();
        t
    }

    fn command(&self) -> Command {
        let mut cmd = command(self.dir.path());
        if let Some((_, url)) = &self.nats {
            cmd.args(["--nats", url, "--ledger", "ack"]);
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> Out {
        Out::from_output(self.command().args(args).output().expect("dossier runs"))
    }

    /// `count` bundles of 64 events each, written here; `(bundle, path)` in publishing order.
    fn bundles(&self, tag: &str, count: usize) -> Vec<(Generated, String)> {
        (0..count)
            .map(|i| {
                let g = gen_bundle(&format!("{tag}{i}"), 3, 58);
                let path = self.dir.path().join(format!("{tag}{i:03}.json"));
                std::fs::write(&path, g.bytes()).expect("write bundle");
                (g, path.display().to_string())
            })
            .collect()
    }

    /// `publish [--json] FILES…`, started.
    fn spawn_publish(&self, bundles: &[(Generated, String)], json: bool) -> Child {
        self.command()
            .arg("publish")
            .args(json.then_some("--json"))
            .args(bundles.iter().map(|(_, f)| f))
            .spawn()
            .expect("dossier publish starts")
    }

    /// The ledger verifies, every batch sealed; returns its records.
    #[track_caller]
    fn verified_log(&self) -> Vec<Value> {
        let out = self.run(&["verify", "--json"]);
        let v = out.ok().json();
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["last_sealed"], v["last_seq"], "a partial batch: {v}");
        let log = self.run(&["log", "--json", "--seals"]);
        log.ok()
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

/// Reads a child's standard output line by line on a thread.
fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// One line of `publish --json`, checked to be a JSON object for the expected file.
#[track_caller]
fn parse_line(line: &str, file: &str) -> Value {
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("not a line of JSON Lines ({e}): {line}"));
    assert_eq!(v["file"], file, "files are reported in order: {v}");
    v
}

/// The lines arrive one per file, in order, while the run is still going, and each one's
/// sequence numbers are where its batch is in the ledger. (On SQLite the same is shown without
/// timing, by holding the run before a commit: see below.)
fn lines_arrive_per_file_in_order(t: &Target) {
    let bundles = t.bundles("lines", 40);
    let mut child = t.spawn_publish(&bundles, true);
    let lines = stdout_lines(&mut child);
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("a line for the first file");
    let running = child.try_wait().expect("try_wait").is_none();
    let status = child.wait().expect("wait");
    let rest: Vec<String> = lines.iter().collect();
    assert!(status.success(), "{status}");
    assert!(
        running,
        "the first file's line came only when the whole run was over"
    );
    let all: Vec<Value> = std::iter::once(first)
        .chain(rest)
        .zip(&bundles)
        .map(|(line, (_, file))| parse_line(&line, file))
        .collect();
    assert_eq!(all.len(), bundles.len(), "one line per file");
    let mut next = 3;
    for (v, (g, _)) in all.iter().zip(&bundles) {
        assert_eq!(v["status"], "published", "{v}");
        assert_eq!(v["new"].as_u64(), Some(g.events() as u64), "{v}");
        assert_eq!(v["first_seq"].as_u64(), Some(next), "{v}");
        next += g.events() as u64 + 1;
        assert_eq!(v["last_seq"].as_u64(), Some(next - 1), "{v}");
    }
    let log = t.verified_log();
    assert_eq!(log.len() as u64, next - 1);
}

/// Held before the third file's batch commits, a publish has already reported the first two —
/// and killed there, the ledger holds exactly those two. Publishing everything again reports
/// them unchanged and the rest published, one line each, in order.
#[test]
fn a_publish_held_before_its_third_commit_has_reported_two_files() {
    let t = Target::sqlite();
    let bundles = t.bundles("held", 6);
    let mut child = t
        .command()
        .args(["publish", "--json"])
        .args(bundles.iter().map(|(_, f)| f))
        .env("DOSSIER_FAULT_PAUSE", "before-commit@3")
        .spawn()
        .expect("dossier publish starts");
    let out = stdout_lines(&mut child);
    let err = crate::support::stderr_lines(&mut child);
    crate::support::wait_for_line(
        &err,
        "dossier: paused at before-commit",
        Duration::from_secs(60),
    );
    let mut reported = Vec::new();
    for (_, file) in &bundles[..2] {
        let line = out
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no line for {file} while the third batch waits"));
        reported.push(parse_line(&line, file));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let more: Vec<String> = out.iter().collect();
    assert_eq!(more, Vec::<String>::new(), "lines for uncommitted files");
    let log = t.verified_log();
    let last = reported[1]["last_seq"].as_u64().expect("last_seq");
    assert_eq!(
        log.len() as u64,
        last,
        "the ledger ends with the second file"
    );

    let mut args = vec!["publish", "--json"];
    args.extend(bundles.iter().map(|(_, f)| f.as_str()));
    let again = t.run(&args);
    let lines = again.ok().json_lines();
    assert_eq!(lines.len(), bundles.len(), "one line per file");
    let mut next = last + 1;
    for (i, (v, (g, file))) in lines.iter().zip(&bundles).enumerate() {
        assert_eq!(v["file"], file.as_str(), "in order: {v}");
        if i < 2 {
            assert_eq!(v["status"], "unchanged", "{v}");
        } else {
            assert_eq!(v["status"], "published", "{v}");
            assert_eq!(v["first_seq"].as_u64(), Some(next), "{v}");
            next += g.events() as u64 + 1;
        }
    }
    assert_eq!(t.verified_log().len() as u64, next - 1);
}

#[test]
fn publish_reports_each_file_as_it_commits_on_jetstream() {
    lines_arrive_per_file_in_order(&Target::jetstream());
}

/// The file a line of `publish` (text) reports committed, checked to be the expected one.
#[track_caller]
fn text_line(line: &str, file: &str) {
    assert!(
        line.starts_with(&format!("published {file}: seq ")),
        "files are reported in order: {line}"
    );
}

/// Interrupts a publish of many files with `signal` once it has reported its first file, then
/// checks what it said (as text or JSON Lines) against the ledger, and that publishing
/// everything again completes it.
fn interrupted(t: &Target, signal: &str, code: i32, json: bool) {
    let bundles = t.bundles(&format!("sig{}", signal.to_lowercase()), 40);
    let mut child = t.spawn_publish(&bundles, json);
    let lines = stdout_lines(&mut child);
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("a line for the first file");
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let out = Out::from_output(child.wait_with_output().expect("wait"));
    let reported: Vec<String> = std::iter::once(first).chain(lines.iter()).collect();
    assert!(reported.len() <= bundles.len(), "{reported:#?}");
    for (line, (_, file)) in reported.iter().zip(&bundles) {
        if json {
            assert_eq!(parse_line(line, file)["status"], "published", "{line}");
        } else {
            text_line(line, file);
        }
    }
    out.expect_code(code);
    assert!(
        out.stderr.contains(&format!(
            "interrupted: {} of {} files were committed",
            reported.len(),
            bundles.len()
        )),
        "{}",
        out.stderr
    );
    let committed = reported.len();
    eprintln!(
        "{signal}: {committed} of {} files committed and reported",
        bundles.len()
    );
    assert!(
        committed < bundles.len(),
        "the run was over before the signal"
    );

    // Exactly the reported files are in the ledger, each once, and every batch whole.
    let log = t.verified_log();
    let present: BTreeSet<&str> = log.iter().filter_map(|r| r["entity"].as_str()).collect();
    for (i, (g, file)) in bundles.iter().enumerate() {
        let n = g
            .entities
            .iter()
            .filter(|e| present.contains(e.as_str()))
            .count();
        let expected = if i < committed { g.events() } else { 0 };
        assert_eq!(n, expected, "{file}: {n} of its events are in the ledger");
    }
    let lines: Vec<crate::support::LogLine> = log
        .iter()
        .map(|r| crate::support::LogLine {
            seq: r["seq"].as_u64().expect("seq"),
            event_type: r["type"].as_str().expect("type").to_owned(),
            entity: r["entity"].as_str().expect("entity").to_owned(),
            key: String::new(),
            hash: String::new(),
        })
        .collect();
    assert_eq!(duplicate_entities(&lines), Vec::<String>::new());

    // Publishing everything again: the committed files unchanged, the rest appended.
    let mut args = vec!["publish", "--json"];
    args.extend(bundles.iter().map(|(_, f)| f.as_str()));
    let again = t.run(&args);
    again.ok();
    let statuses: Vec<String> = again
        .stdout
        .lines()
        .zip(&bundles)
        .map(|(line, (_, file))| parse_line(line, file)["status"].to_string())
        .collect();
    let expected: Vec<String> = (0..bundles.len())
        .map(|i| {
            if i < committed {
                "\"unchanged\"".to_owned()
            } else {
                "\"published\"".to_owned()
            }
        })
        .collect();
    assert_eq!(statuses, expected);
    let log = t.verified_log();
    let events: usize = bundles.iter().map(|(g, _)| g.events() + 1).sum();
    assert_eq!(log.len(), 2 + events);
}

#[test]
fn sigterm_stops_a_publish_on_sqlite_after_the_batch_in_flight() {
    interrupted(&Target::sqlite(), "TERM", 143, true);
}

#[test]
fn sigint_stops_a_publish_on_sqlite_after_the_batch_in_flight() {
    interrupted(&Target::sqlite(), "INT", 130, false);
}

#[test]
fn sigterm_stops_a_publish_on_jetstream_after_the_batch_in_flight() {
    interrupted(&Target::jetstream(), "TERM", 143, true);
}

#[test]
fn sigint_stops_a_publish_on_jetstream_after_the_batch_in_flight() {
    interrupted(&Target::jetstream(), "INT", 130, false);
}
