//! `dossier export --format log` and `dossier import`: a ledger carried SQLite → file →
//! JetStream → file → SQLite keeps its head, Merkle root and beliefs, the two files are byte
//! for byte equal; damaged or foreign files are refused with the seq and the exit code; an
//! import killed with SIGKILL is completed by a second one, nothing lost or doubled.

use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::time::Duration;

use dossier_chain::Hash;
use serde_json::Value;

use crate::support::{Ledger, Out, duplicate_entities, run_in, stderr_lines, wait_for_line};

/// Runs `dossier --nats URL --ledger NAME ARGS…` with the data directory `dir`.
fn on_nats(dir: &Path, url: &str, ledger: &str, args: &[&str]) -> Out {
    let mut all = vec!["--nats", url, "--ledger", ledger];
    all.extend_from_slice(args);
    run_in(dir, &all)
}

/// What must survive a move: the head (seq, hash), the Merkle root over every record hash and
/// the beliefs digest.
#[derive(Debug, PartialEq, Eq)]
struct Sums {
    seq: u64,
    head: String,
    root: String,
    beliefs: String,
}

fn sums(run: &dyn Fn(&[&str]) -> Out) -> Sums {
    let verify = run(&["verify", "--json"]).ok().json();
    assert_eq!(verify["ok"], true, "{verify}");
    let hashes: Vec<Hash> = run(&["log", "--json", "--seals"])
        .ok()
        .json_lines()
        .iter()
        .map(|l| Hash::from_hex(l["hash"].as_str().expect("hash")).expect("hex"))
        .collect();
    let beliefs = run(&["beliefs", "--json"]).ok().json();
    Sums {
        seq: verify["last_seq"].as_u64().expect("last_seq"),
        head: verify["head"].as_str().expect("head").to_owned(),
        root: dossier_proofs::root_of(hashes).to_hex(),
        beliefs: beliefs["digest"].as_str().expect("digest").to_owned(),
    }
}

/// `dossier export --format log -o FILE --json` through `run`: what it printed.
pub(crate) fn export(run: &dyn Fn(&[&str]) -> Out, file: &Path) -> Value {
    run(&[
        "export",
        "--format",
        "log",
        "-o",
        &file.display().to_string(),
        "--json",
    ])
    .ok()
    .json()
}

#[test]
fn a_ledger_moves_sqlite_to_jetstream_to_sqlite_unchanged() {
    let a = Ledger::with_examples();
    let root = std::fs::read_to_string(a.dir().join("root.pub")).expect("root.pub");
    let root = root.trim();
    let work = Ledger::empty();
    let a_file = work.file("a.dex");
    let done = export(&|args| a.run(args), &a_file);
    assert_eq!(done["texts"], 4, "{done}");
    let before = sums(&|args| a.run(args));

    let server = dossier_testkit::NatsServer::start();
    let url = server.url();
    let js = Ledger::empty();
    let on_js = |args: &[&str]| on_nats(js.dir(), &url, "moved", args);
    // Without a pinned key, nothing is imported.
    on_js(&["import", &a_file.display().to_string()]).expect_code(3);
    let imported = on_js(&[
        "import",
        "--trust",
        root,
        "--json",
        &a_file.display().to_string(),
    ])
    .ok()
    .json();
    assert_eq!(imported["appended"], before.seq, "{imported}");
    assert_eq!(sums(&on_js), before);
    let b_file = work.file("b.dex");
    export(&on_js, &b_file);
    assert_eq!(
        std::fs::read(&a_file).expect("a"),
        std::fs::read(&b_file).expect("b"),
        "the JetStream ledger's export differs from the SQLite ledger's"
    );

    let c = Ledger::empty();
    c.run(&["import", "--trust", root, &b_file.display().to_string()])
        .ok();
    assert_eq!(sums(&|args| c.run(args)), before);
    // The pinned root was kept: later commands verify against it.
    assert_eq!(
        std::fs::read_to_string(c.dir().join("root.pub"))
            .expect("root.pub")
            .trim(),
        root
    );
    // To standard output, the same bytes.
    let out = crate::support::command(c.dir())
        .args(["export", "--format", "log"])
        .output()
        .expect("export to standard output");
    assert!(out.status.success());
    assert_eq!(out.stdout, std::fs::read(&a_file).expect("a"));
}

#[test]
fn refusals_name_the_seq_and_leave_the_verified_prefix() {
    let a = Ledger::with_examples();
    let root = std::fs::read_to_string(a.dir().join("root.pub")).expect("root.pub");
    let file = a.file("a.dex");
    export(&|args| a.run(args), &file);
    let bytes = std::fs::read(&file).expect("file");

    // A flipped byte in the third batch's first record (in its report's title).
    let lines = a.log();
    let third = third_batch(&a);
    let mut bad = bytes.clone();
    let at = bad
        .windows(9)
        .position(|w| w == b"\"title\":\"")
        .expect("a title")
        + 9;
    bad[at] ^= 0x01;
    let bad_file = a.write_bytes("flipped.dex", &bad);
    let b = Ledger::empty();
    let out = b.run(&["import", "--trust", root.trim(), &bad_file]);
    out.expect_code(5);
    assert!(out.stderr.contains("at seq"), "{}", out.stderr);
    // Nothing of the damaged batch on: the ledger ends where a batch ended before it.
    let head = b.head().seq;
    assert!(
        head < third + 20
            && lines
                .iter()
                .any(|l| l.seq == head && l.event_type == "batch.seal")
    );

    // A ledger that holds something else: another ledger id.
    let other = Ledger::with_examples();
    let out = other.run(&["import", &file.display().to_string()]);
    out.expect_code(4);
    assert!(out.stderr.contains("ledger"), "{}", out.stderr);

    // A file that is not an export.
    let not = a.write_bytes("not.dex", b"{\"dossier\":1}\n");
    b.run(&["import", &not]).expect_code(5);
}

/// The seq of the third batch's first record.
fn third_batch(l: &Ledger) -> u64 {
    l.log()
        .iter()
        .filter(|l| l.event_type == "batch.seal")
        .nth(1)
        .expect("a second seal")
        .seq
        + 1
}

/// Imports `file` with the fault pause at `point` and kills the process there.
fn kill_import_at(dir: &Path, nats: Option<&str>, file: &str, root: &str, point: &str) {
    let mut cmd = crate::support::command(dir);
    if let Some(url) = nats {
        cmd.args(["--nats", url, "--ledger", "killed"]);
    }
    let mut child = cmd
        .args(["import", "--trust", root, file])
        .env("DOSSIER_FAULT_PAUSE", point)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn import");
    let lines = stderr_lines(&mut child);
    wait_for_line(
        &lines,
        &format!(
            "dossier: paused at {}",
            point.split('@').next().unwrap_or(point)
        ),
        Duration::from_secs(60),
    );
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert_eq!(status.signal(), Some(9), "{status}");
}

#[test]
fn an_import_killed_mid_way_is_completed_by_a_second() {
    let a = Ledger::with_examples();
    let root = std::fs::read_to_string(a.dir().join("root.pub")).expect("root.pub");
    let root = root.trim();
    let file = a.file("a.dex");
    export(&|args| a.run(args), &file);
    let file = file.display().to_string();
    let want = sums(&|args| a.run(args));

    for point in ["before-commit@3", "after-commit@3"] {
        let b = Ledger::empty();
        kill_import_at(b.dir(), None, &file, root, point);
        // A verified prefix of whole batches.
        let head = b.head();
        assert!(head.seq > 0 && head.seq < want.seq, "{point}: {head:?}");
        b.run(&["import", &file]).ok();
        assert_eq!(sums(&|args| b.run(args)), want, "{point}");
        assert!(duplicate_entities(&b.log()).is_empty());
    }

    let server = dossier_testkit::NatsServer::start();
    let url = server.url();
    let js = Ledger::empty();
    kill_import_at(js.dir(), Some(&url), &file, root, "before-commit@3");
    on_nats(js.dir(), &url, "killed", &["import", &file]).ok();
    assert_eq!(sums(&|args| on_nats(js.dir(), &url, "killed", args)), want);
}

#[test]
fn a_range_export_verifies_offline_and_imports_only_where_it_continues() {
    let a = Ledger::with_examples();
    let root = std::fs::read_to_string(a.dir().join("root.pub")).expect("root.pub");
    let root = root.trim();
    let from = third_batch(&a);
    let file = a.file("range.dex");
    let path = file.display().to_string();
    let done = a
        .run(&[
            "export",
            "--format",
            "log",
            "--from",
            &from.to_string(),
            "-o",
            &path,
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(done["first"], from, "{done}");

    // Elsewhere, with nothing but the file and the founding key.
    let elsewhere = Ledger::empty();
    let checked = elsewhere
        .run(&["import", "--check-only", "--trust", root, "--json", &path])
        .ok()
        .json();
    assert_eq!(
        (checked["version"].as_u64(), checked["first"].as_u64()),
        (Some(2), Some(from)),
        "{checked}"
    );
    assert!(checked["key_batches"].as_u64() >= Some(1), "{checked}");
    assert_eq!(checked["head"], a.head().hash, "{checked}");
    // ... where it cannot be imported: it continues a ledger.
    let out = elsewhere.run(&["import", "--trust", root, &path]);
    out.expect_code(3);
    assert!(out.stderr.contains("--check-only"), "{}", out.stderr);

    // The checkpoint's root changed: refused, naming the seq it covers.
    let mut bad = std::fs::read(&file).expect("file");
    let note = bad
        .windows(8)
        .position(|w| w == b"dossier.")
        .expect("the checkpoint's origin");
    let root_line = note + bad[note..].iter().position(|&b| b == b'\n').expect("line") + 1;
    let root_line = root_line
        + bad[root_line..]
            .iter()
            .position(|&b| b == b'\n')
            .expect("line")
        + 1;
    bad[root_line] = if bad[root_line] == b'A' { b'B' } else { b'A' };
    let bad_file = a.write_bytes("bad-range.dex", &bad);
    let out = elsewhere.run(&["import", "--check-only", "--trust", root, &bad_file]);
    out.expect_code(5);
    assert!(
        out.stderr.contains(&format!("seq {}", from - 1)),
        "{}",
        out.stderr
    );
}
