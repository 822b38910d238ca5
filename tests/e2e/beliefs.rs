//! `dossier beliefs`, `why`, `history` (with `--as-of` and `--json`) on the examples, and
//! `dossier serve` following a ledger live. Projector kills are a campaign
//! (`tests/campaigns/projector_kills.rs`).

use std::process::Child;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Ledger, stderr_lines, wait_for_line};

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

fn terminate(child: &mut Child) {
    let pid = child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
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
        let last = out["last_seq"].as_u64().expect("last_seq");
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

/// The forecast question of `examples/02-march-revision.json`.
const LAUNCH: &str = "question:dprk/recon-satellite-launch-2024-03";

/// A bundle with only an analyst's assessment (no launch, high confidence) and the forecast's
/// resolution by it: its first event changes the forecast question's line.
fn assessment_and_resolution() -> Value {
    serde_json::json!({
        "version": 1,
        "marking": "TLP:CLEAR",
        "assessments": [{
            "id": "assessment:dprk/no-launch-2024-03",
            "question": LAUNCH,
            "value": { "boolean": false },
            "likelihood": "very_unlikely",
            "confidence": "high",
            "rationale": "No launch was observed in March 2024 by any source that tracks the site.",
            "based_on": ["claim:rok-mnd/satellite-launch-2024-03"]
        }],
        "resolutions": [{
            "forecast": "claim:rok-mnd/satellite-launch-2024-03",
            "outcome": false,
            "by": "assessment:dprk/no-launch-2024-03"
        }]
    })
}

/// `beliefs --json` without its `lag` (which depends on when it is asked).
fn answer(l: &Ledger, extra: &[&str]) -> Value {
    let mut args = vec!["beliefs", "--json"];
    args.extend_from_slice(extra);
    let out = l.run(&args);
    out.ok();
    let mut doc = out.json();
    doc.as_object_mut().expect("object").remove("lag");
    doc.as_object_mut().expect("object").remove("as_of");
    doc
}

/// As of the time of a batch, `beliefs` answers exactly what it answered right after that
/// batch was published — lines, the seq of the cut and the digest — even when the views were
/// built in one catch-up over later batches (a rebuild, or a reader's first query): the first
/// event of a later batch used to leak into the versions stamped with the time before it.
#[test]
fn an_as_of_answer_is_the_answer_given_back_then() {
    let l = Ledger::init();
    let files = crate::support::example_paths();
    l.run(&["publish", &files[0], &files[1]]).ok();
    let live = answer(&l, &[]);
    let second = batch_times(&l)[2].clone();
    let late = l.write_json("late.json", &assessment_and_resolution());
    l.run(&["publish", &late]).ok();
    // The views now hold the later batch too; rebuild them in one catch-up over all of it.
    l.run(&["views", "rebuild"]).ok();
    let then = answer(&l, &["--as-of", &second]);
    assert_eq!(then, live, "as of {second}");
    assert_eq!(
        then["seq"].as_u64(),
        Some(
            l.head().seq - 3 /* the late batch: assessment, resolution, seal */
        ),
        "{then}"
    );
    let launch = belief(&then, LAUNCH);
    assert!(launch["confidence"].is_null(), "{launch}");
    // The same from a fresh data directory's first query over the whole ledger.
    let fresh = crate::support::copy_ledger(&l);
    std::fs::remove_file(fresh.dir().join("views.db")).expect("remove views");
    assert_eq!(answer(&fresh, &["--as-of", &second]), live);
    // why and history as of then agree with the line.
    let why = l.run(&["why", LAUNCH, "--as-of", &second, "--json"]);
    why.ok();
    let why = why.json();
    assert_eq!(why["seq"], live["seq"]);
    assert_eq!(why["digest"], live["digest"]);
    assert_eq!(why["belief"]["status"], belief(&live, LAUNCH)["status"]);
    assert_eq!(why["belief"]["value"], belief(&live, LAUNCH)["value"]);
    // And now the assessment is there.
    let now = answer(&l, &[]);
    assert_eq!(belief(&now, LAUNCH)["confidence"], "high");
    assert_ne!(now["digest"], live["digest"]);
}

/// A record changed at the views' checkpoint: nothing is answered from the views (exit 5)
/// unless `--stale-ok`.
#[test]
fn queries_refuse_views_over_a_ledger_changed_at_their_checkpoint() {
    let base = Ledger::with_examples();
    base.run(&["beliefs"]).ok();
    let l = crate::support::copy_ledger(&base);
    let head = l.head().seq;
    // A consistent forgery: the stored hash follows the bytes.
    crate::support::rewrite_record(&l, head, true, |mut bytes| {
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        bytes
    });
    for cmd in [
        vec!["beliefs"],
        vec!["why", CONTAINERS],
        vec!["history", CONTAINERS, "--json"],
    ] {
        let out = l.run(&cmd);
        out.expect_code(5);
        assert!(out.stdout.is_empty(), "{cmd:?}: {}", out.stdout);
        assert!(
            out.stderr
                .contains(&format!("the ledger changed under the views at seq {head}")),
            "{cmd:?}: {}",
            out.stderr
        );
    }
    let stale = l.run(&["beliefs", "--stale-ok"]);
    stale.ok();
    assert!(stale.stdout.contains(CONTAINERS), "{}", stale.stdout);
    assert!(
        stale.stderr.contains("warning: answering from views"),
        "{}",
        stale.stderr
    );
}

/// A record changed in the middle is not at the checkpoint: the auditor finds it, and queries
/// then refuse to answer on its verdict.
#[test]
fn queries_refuse_views_over_a_ledger_the_auditor_raised_an_alarm_on() {
    let l = Ledger::with_examples();
    l.run(&["auditor", "--once"]).ok();
    l.run(&["beliefs"]).ok();
    crate::support::rewrite_record(&l, 21, false, crate::support::misname_type);
    // Only the checkpoint record is checked by a query: without an auditor's verdict the
    // change goes unseen here (verification finds it).
    l.run(&["beliefs"]).ok();
    l.run(&["auditor", "--once", "--rescan"]).expect_code(5);
    let out = l.run(&["beliefs", "--json"]);
    out.expect_code(5);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(out.stderr.contains("the auditor raised"), "{}", out.stderr);
    assert!(out.stderr.contains("seq 21"), "{}", out.stderr);
    l.run(&["beliefs", "--stale-ok"]).ok();
}

/// Designating the two governments as interested parties to the transfers question: `why`
/// shows each denial's speaker with its designation (and `--json` its id and event), from the
/// designation's recorded time on; as of the batch before, it shows none.
#[test]
fn why_shows_interested_parties_from_their_designation_on() {
    let l = Ledger::with_examples();
    let bundle = serde_json::json!({
        "version": 1,
        "marking": "TLP:CLEAR",
        "interests": [
            {"id": "interest:russia/arms-transfers", "source": "source:russia-government",
             "question": TRANSFERS, "rationale": "The receiving party of the transfers."},
            {"id": "interest:dprk/arms-transfers", "source": "source:dprk-government",
             "question": TRANSFERS, "rationale": "The sending party of the transfers."}
        ]
    });
    l.run_stdin(&["publish", "-"], bundle.to_string().as_bytes())
        .expect_code(0);
    let text = l.run(&["why", TRANSFERS]);
    text.expect_code(0);
    assert!(
        text.stdout
            .contains("interested party to the question (interest:russia/arms-transfers, seq"),
        "{}",
        text.stdout
    );
    let json = l.run(&["why", TRANSFERS, "--json"]);
    json.expect_code(0);
    let designations = |doc: &Value| -> Vec<Value> {
        doc["belief"]["provenance"]["contradicting"]
            .as_array()
            .expect("contradicting claims")
            .iter()
            .map(|c| c["speaker"]["interest"]["designation"].clone())
            .collect()
    };
    assert_eq!(
        designations(&json.json()),
        [
            Value::from("interest:russia/arms-transfers"),
            Value::from("interest:dprk/arms-transfers")
        ]
    );
    let times = batch_times(&l);
    let before = &times[times.len() - 2];
    let then = l.run(&["why", TRANSFERS, "--as-of", before, "--json"]);
    then.expect_code(0);
    assert_eq!(designations(&then.json()), [Value::Null, Value::Null]);
}

/// `--clearance`: a reader cleared for TLP:GREEN is not served an AMBER bundle's questions; one
/// of them is answered exactly like a question never posed (same exit code, same message but
/// for the id), and every answer names the clearance it was given for.
#[test]
fn a_lower_clearance_is_served_only_what_it_may_see() {
    let l = Ledger::with_examples();
    let mut amber = crate::support::gen_bundle("amber", 2, 3);
    amber.json["marking"] = Value::from("TLP:AMBER");
    let file = l.write_json("amber.json", &amber.json);
    l.run(&["publish", &file]).ok();
    let q = "question:gen/amber/q0";
    let questions = |clearance: &str| -> Vec<String> {
        let doc = l
            .run(&["beliefs", "--json", "--clearance", clearance])
            .ok()
            .json();
        assert_eq!(doc["clearance"], clearance);
        doc["beliefs"]
            .as_array()
            .expect("beliefs")
            .iter()
            .map(|b| b["question"]["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let (green, red) = (questions("TLP:GREEN"), questions("TLP:RED"));
    assert!(red.iter().any(|x| x == q), "{red:?}");
    assert!(
        !green.iter().any(|x| x.starts_with("question:gen/amber/")),
        "{green:?}"
    );
    assert_eq!(red.len(), green.len() + 2);
    for cmd in ["why", "history"] {
        let hidden = l.run(&[cmd, q, "--clearance", "TLP:GREEN"]);
        let unknown = l.run(&[cmd, "question:gen/amber/q9", "--clearance", "TLP:GREEN"]);
        assert_eq!(hidden.code, unknown.code, "{cmd}");
        assert_ne!(hidden.code, 0);
        assert_eq!(
            hidden.stderr.replace("q0", "q9"),
            unknown.stderr,
            "{cmd}: a hidden question reads as an unknown one"
        );
        l.run(&[cmd, q, "--clearance", "TLP:AMBER"]).ok();
    }
}
