//! `dossier beliefs`, `why`, `history` (with `--as-of` and `--json`) on the examples, and the
//! projector (`dossier serve`, `dossier projector`) killed at random points and restarted.

use std::os::unix::process::ExitStatusExt as _;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Ledger, command, gen_bundle, random_u64, stderr_lines, wait_for_line};

const CONTAINERS: &str = "question:dprk-russia/containers-shipped";
const TRANSFERS: &str = "question:dprk-russia/arms-transfers";

/// The recorded time of each batch's seal (one batch per published bundle), in order.
fn batch_times(l: &Ledger) -> Vec<String> {
    let out = l.run(&["log", "--json", "--type", "batch.seal"]);
    out.ok();
    out.stdout
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).expect("JSON line")["recorded"]
                .as_str()
                .expect("recorded")
                .to_owned()
        })
        .collect()
}

fn belief<'a>(doc: &'a Value, q: &str) -> &'a Value {
    doc["beliefs"]
        .as_array()
        .expect("beliefs")
        .iter()
        .find(|b| b["question"]["id"] == q)
        .unwrap_or_else(|| panic!("{q} not in {doc}"))
}

fn figure(b: &Value) -> f64 {
    b["value"]["value"]["quantity"]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("no figure: {}", b["value"]))
}

#[test]
fn beliefs_why_and_history_answer_now_and_as_of_from_the_views() {
    let l = Ledger::with_examples();
    // Batches: genesis, then one per example bundle.
    let times = batch_times(&l);
    assert_eq!(times.len(), 5, "{times:?}");
    let after_first = &times[1];
    let after_second = &times[2];

    // Current beliefs, as text and JSON.
    let text = l.run(&["beliefs"]);
    text.ok();
    assert!(
        text.stdout
            .lines()
            .any(|line| line.starts_with(CONTAINERS) && line.contains("≥7,000 containers")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .lines()
            .any(|line| line.starts_with(TRANSFERS) && line.contains("disputed")),
        "{}",
        text.stdout
    );
    // One row per question, in columns: the last column (the count of sources) starts at the
    // same character on every row, however long a status or value is.
    let starts: Vec<usize> = text
        .stdout
        .lines()
        .filter(|line| line.starts_with("question:"))
        .map(|line| {
            let at = line.rfind("  ").expect("columns");
            line[..at].chars().count()
        })
        .collect();
    assert_eq!(starts.len(), 7, "{}", text.stdout);
    assert!(starts.windows(2).all(|w| w[0] == w[1]), "{}", text.stdout);
    let now = l.run(&["beliefs", "--json"]).ok().json();
    assert_eq!(now["beliefs"].as_array().unwrap().len(), 7);
    assert!(figure(belief(&now, CONTAINERS)) >= 7000.0);
    assert_eq!(now["policy"], "dossier-beliefs/3");
    let status = l.run(&["views", "status", "--json"]).ok().json();
    assert_eq!(status["digest"], now["digest"]);
    assert_eq!(status["lag"], 0);
    assert_eq!(status["seq"], now["seq"]);

    // Before the revision (as of the first bundle): about 6,700, the transfers uncontested.
    let before = l
        .run(&["beliefs", "--json", "--as-of", after_first])
        .ok()
        .json();
    assert_eq!(figure(belief(&before, CONTAINERS)), 6700.0);
    assert_eq!(
        belief(&before, TRANSFERS)["status"]["summary"],
        "uncontested"
    );
    let after = l
        .run(&["beliefs", "--json", "--as-of", after_second])
        .ok()
        .json();
    assert!(figure(belief(&after, CONTAINERS)) >= 7000.0);
    // A bare date is the end of that day; long before the ledger there is nothing.
    assert_eq!(
        l.run(&["beliefs", "--json", "--as-of", "2000-01-01"])
            .ok()
            .json()["beliefs"],
        Value::Array(vec![])
    );
    l.run(&["beliefs", "--as-of", "yesterday"]).expect_code(2);

    // Why: the provenance tree, with speakers, reliability, quotes, reports and event refs.
    let why = l.run(&["why", CONTAINERS]);
    why.ok();
    for needle in [
        "≥7,000 containers",
        "supporting (",
        "superseded (1)",
        "retracted (1)",
        "speaker: source:",
        "reliability B",
        "quote:",
        "report:",
        "published",
        "seq ",
        "hash ",
    ] {
        assert!(
            why.stdout.contains(needle),
            "no {needle:?} in:\n{}",
            why.stdout
        );
    }
    // The question prefix may be left out.
    assert_eq!(
        l.run(&["why", "dprk-russia/containers-shipped"])
            .ok()
            .stdout,
        why.stdout
    );
    let why_then = l.run(&["why", CONTAINERS, "--as-of", after_first]);
    why_then.ok();
    assert!(
        why_then.stdout.contains("~6,700 containers") && !why_then.stdout.contains("superseded ("),
        "{}",
        why_then.stdout
    );
    // The listing's line is the judgment of the belief `why` shows with its provenance.
    let why_json = l.run(&["why", CONTAINERS, "--json"]).ok().json();
    let line = belief(&now, CONTAINERS);
    for field in ["value", "status", "best_claim", "likelihood", "confidence"] {
        assert_eq!(why_json["belief"][field], line[field], "{field}");
    }
    assert_eq!(line["sources"], 1, "one primary source, relayed twice");
    assert!(
        line.get("provenance").is_none(),
        "the listing carries no provenance"
    );
    l.run(&["why", "question:no/such-thing"]).expect_code(1);

    // History: every change with its recorded time, seq and reason; as of the first bundle only two.
    let history = l.run(&["history", CONTAINERS, "--json"]).ok().json();
    let changes = history["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 7, "{history}");
    assert!(
        changes[3]["reason"]
            .as_str()
            .unwrap()
            .contains("superseded by claim:rok-mnd/containers-2024-03")
    );
    let early = l
        .run(&["history", CONTAINERS, "--json", "--as-of", after_first])
        .ok()
        .json();
    assert_eq!(early["changes"].as_array().unwrap().len(), 2, "{early}");
    let text = l.run(&["history", CONTAINERS]);
    text.ok();
    assert!(
        text.stdout.contains("posed (seq") && text.stdout.contains("retracted by report:"),
        "{}",
        text.stdout
    );
}

#[test]
fn belief_commands_need_a_ledger() {
    let l = Ledger::empty();
    l.run(&["beliefs"]).expect_code(6);
    l.run(&["why", CONTAINERS]).expect_code(6);
    l.run(&["history", CONTAINERS]).expect_code(6);
    // The projector service is for a JetStream ledger; `serve` runs it on the embedded one.
    let out = Ledger::init().run(&["projector"]);
    out.expect_code(1);
    assert!(out.stderr.contains("--nats"), "{}", out.stderr);
}

/// A ledger with `bundles` generated bundles (20 records each) published after init.
fn larger_ledger(bundles: usize) -> Ledger {
    let l = Ledger::init();
    let files: Vec<String> = (0..bundles)
        .map(|i| {
            l.write_json(
                &format!("k{i}.json"),
                &gen_bundle(&format!("k{i}"), 4, 12).json,
            )
        })
        .collect();
    let mut args = vec!["publish"];
    args.extend(files.iter().map(String::as_str));
    l.run(&args).ok();
    l
}

fn terminate(child: &mut Child) {
    let pid = child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Starts the projector, kills it with SIGKILL at random points during the catch-up, restarts
/// it each time, then lets it catch up and stops it with SIGTERM. Returns the digest it
/// reported and how many kills landed before the head.
fn kill_and_restart(
    start: &dyn Fn() -> Child,
    status: &dyn Fn() -> Value,
    kills: usize,
) -> (String, usize) {
    let mut mid_way = 0;
    let mut last_seq = 0;
    for _ in 0..kills {
        let mut child = start();
        let lines = stderr_lines(&mut child);
        wait_for_line(&lines, "projector: resumed", Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(random_u64() % 400));
        child.kill().expect("SIGKILL");
        let exit = child.wait().expect("wait");
        assert!(exit.signal() == Some(9) || exit.success(), "{exit:?}");
        let s = status();
        let seq = s["seq"].as_u64().unwrap();
        assert!(
            seq >= last_seq,
            "the checkpoint went back from {last_seq} to {seq}"
        );
        last_seq = seq;
        if s["lag"].as_u64().unwrap() > 0 {
            mid_way += 1;
        }
    }
    let mut child = start();
    let lines = stderr_lines(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let digest = loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the projector catches up");
        if let Some(rest) = line.split("caught up at seq ").nth(1) {
            break rest
                .split("digest ")
                .nth(1)
                .expect("a digest")
                .trim()
                .to_owned();
        }
    };
    terminate(&mut child);
    let exit = child.wait().expect("wait");
    assert!(
        exit.success(),
        "SIGTERM stops the projector cleanly: {exit:?}"
    );
    (digest, mid_way)
}

#[test]
fn serve_killed_during_catch_up_ends_with_the_digest_of_a_clean_rebuild() {
    let l = larger_ledger(120);
    let head = l.head().seq;
    assert!(head > 2000, "{head}");
    let start = || {
        l.command()
            .args(["serve", "--page", "16"])
            .spawn()
            .expect("dossier serve starts")
    };
    let status = || l.run(&["views", "status", "--json"]).ok().json();
    let (digest, mid_way) = kill_and_restart(&start, &status, 5);
    assert!(mid_way > 0, "no kill landed during the catch-up");
    let s = status();
    assert_eq!(
        (s["seq"].as_u64(), s["lag"].as_u64()),
        (Some(head), Some(0))
    );
    assert_eq!(s["digest"], digest.as_str());
    // A clean rebuild from sequence 1 gives the same digest.
    let rebuilt = l.run(&["views", "rebuild", "--json"]).ok().json();
    assert_eq!(rebuilt["digest"], digest.as_str());
    assert_eq!(rebuilt["seq"].as_u64(), Some(head));
    assert_eq!(
        l.run(&["beliefs", "--json"]).ok().json()["digest"],
        digest.as_str()
    );
}

#[test]
fn the_projector_service_on_jetstream_survives_kills_too() {
    let server = dossier_testkit::NatsServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let nats = |args: &[&str]| {
        let mut cmd = command(dir.path());
        cmd.args(["--nats", url.as_str(), "--ledger", "views"])
            .args(args);
        cmd
    };
    let run = |args: &[&str]| {
        crate::support::Out::from_output(nats(args).output().expect("dossier runs"))
    };
    run(&["init"]).ok();
    let files: Vec<String> = (0..40)
        .map(|i| {
            let path = dir.path().join(format!("j{i}.json"));
            std::fs::write(&path, gen_bundle(&format!("j{i}"), 4, 12).bytes()).expect("write");
            path.display().to_string()
        })
        .collect();
    let mut publish = vec!["publish"];
    publish.extend(files.iter().map(String::as_str));
    run(&publish).ok();
    let start = || {
        nats(&["projector", "--page", "8"])
            .spawn()
            .expect("dossier projector starts")
    };
    let status = || run(&["views", "status", "--json"]).ok().json();
    let (digest, _) = kill_and_restart(&start, &status, 3);
    let rebuilt = run(&["views", "rebuild", "--json"]).ok().json();
    assert_eq!(rebuilt["digest"], digest.as_str());
    assert_eq!(rebuilt["lag"], 0);
    // The belief commands answer from the same views on JetStream.
    assert_eq!(
        run(&["beliefs", "--json"]).ok().json()["digest"],
        digest.as_str()
    );
}

#[test]
fn serve_follows_publishes_live_and_readers_answer_beside_it() {
    let l = Ledger::init();
    let mut child = l
        .command()
        .args(["serve"])
        .spawn()
        .expect("dossier serve starts");
    let lines = stderr_lines(&mut child);
    wait_for_line(&lines, "caught up at seq 2", Duration::from_secs(30));
    for (i, file) in crate::support::example_files().iter().enumerate() {
        let out = l
            .run(&["publish", "--json", &file.display().to_string()])
            .ok()
            .json();
        let last = out[0]["last_seq"].as_u64().expect("last_seq");
        wait_for_line(
            &lines,
            &format!("caught up at seq {last},"),
            Duration::from_secs(30),
        );
        // A reader beside the running projector answers from the views it serves, at the head.
        let now = l.run(&["beliefs", "--json"]).ok().json();
        assert_eq!(now["seq"].as_u64(), Some(last), "after bundle {}", i + 1);
        assert_eq!(now["lag"].as_u64(), Some(0), "after bundle {}", i + 1);
    }
    terminate(&mut child);
    assert!(child.wait().expect("wait").success());
    let status = l.run(&["views", "status", "--json"]).ok().json();
    let rebuilt = l.run(&["views", "rebuild", "--json"]).ok().json();
    assert_eq!(status["digest"], rebuilt["digest"]);
    assert_eq!(
        belief(&l.run(&["beliefs", "--json"]).ok().json(), TRANSFERS)["status"]["summary"],
        "disputed"
    );
}

/// `why --at VALID_TIME`: the belief about the world then, even after a later revision was
/// recorded (DESIGN.md §5: at the end of February the count is still ~6,700).
#[test]
fn why_at_a_valid_time_answers_with_the_figure_valid_then() {
    let l = crate::support::Ledger::init();
    let files: Vec<String> = crate::support::example_paths();
    let mut args = vec!["publish"];
    args.extend(files.iter().map(String::as_str));
    l.run(&args).expect_code(0);
    let then = l.run(&[
        "why",
        "dprk-russia/containers-shipped",
        "--at",
        "2024-02-29",
    ]);
    then.expect_code(0);
    let line = then
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("belief:"))
        .expect("a belief line")
        .to_owned();
    assert!(line.contains("6,700") && !line.contains("7,000 "), "{line}");
    let now = l.run(&["why", "dprk-russia/containers-shipped"]);
    let line = now
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("belief:"))
        .expect("a belief line")
        .to_owned();
    assert!(line.contains("7,000"), "{line}");
    let json = l.run(&[
        "why",
        "dprk-russia/containers-shipped",
        "--at",
        "2024-02-29",
        "--json",
    ]);
    json.expect_code(0);
    assert_eq!(
        json.json()["belief"]["best_claim"],
        "claim:rok-mnd/containers-2024-02"
    );

    // `beliefs --at` lists every question at that valid time: the container count is the
    // February figure, and the listing says which valid time it shows.
    let all = l.run(&["beliefs", "--at", "2024-02-29", "--json"]);
    all.expect_code(0);
    let doc = all.json();
    assert!(
        doc["valid_at"]
            .as_str()
            .is_some_and(|t| t.starts_with("2024-02-29"))
    );
    assert!(
        doc["digest"].is_null(),
        "no digest for a valid-time listing"
    );
    let containers = doc["beliefs"]
        .as_array()
        .expect("beliefs")
        .iter()
        .find(|b| b["question"]["id"] == "question:dprk-russia/containers-shipped")
        .expect("the containers question")
        .clone();
    assert_eq!(containers["best_claim"], "claim:rok-mnd/containers-2024-02");
    assert_eq!(containers["sources"], 1);
    let text = l.run(&["beliefs", "--at", "2024-02-29"]);
    text.expect_code(0);
    let row = text
        .stdout
        .lines()
        .find(|l| l.starts_with("question:dprk-russia/containers-shipped"))
        .expect("a containers row")
        .to_owned();
    assert!(row.contains("6,700") && !row.contains("7,000"), "{row}");
    assert!(
        text.stdout.contains("valid at 2024-02-29"),
        "{}",
        text.stdout
    );
}
