//! Publishing: the examples in order, idempotence, standard input, conflicts, `validate` as a
//! dry run, and reading records back with `log` and `show`.

use serde_json::{Value, json};

use crate::support::{Ledger, example_files, example_json, example_paths, gen_bundle};

/// Events an example bundle produces: the report and one per entity in each list.
fn events_of(bundle: &Value) -> usize {
    let lists = [
        "sources",
        "reliability",
        "questions",
        "claims",
        "relations",
        "assessments",
        "resolutions",
    ];
    usize::from(bundle.get("report").is_some())
        + lists
            .iter()
            .map(|k| bundle.get(*k).and_then(Value::as_array).map_or(0, Vec::len))
            .sum::<usize>()
}

#[test]
fn examples_in_order_then_republish_is_unchanged() {
    let l = Ledger::init();
    assert_eq!(l.head().seq, 2, "genesis and its seal");
    let mut next = 3;
    for (i, path) in example_files().iter().enumerate() {
        let file = path.display().to_string();
        let events = events_of(&example_json(i));
        let out = l.run(&["publish", &file]);
        let last = next + events as u64;
        assert_eq!(
            out.ok().stdout.trim(),
            format!("published {file}: seq {next}..={last} ({events} events + seal)"),
        );
        let head = l.head();
        assert_eq!(head.seq, last);
        let log = l.log();
        assert_eq!(
            log.last().map(|r| r.event_type.as_str()),
            Some("batch.seal")
        );
        next = last + 1;
    }
    let head = l.head();
    for path in example_files() {
        let file = path.display().to_string();
        let out = l.run(&["publish", &file]);
        assert!(
            out.ok()
                .stdout
                .starts_with(&format!("unchanged {file}: all ")),
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains("nothing appended"), "{}", out.stdout);
        assert_eq!(l.head(), head, "republishing {file} appended");
    }
    // All four at once, too (and as JSON).
    let files: Vec<String> = example_paths();
    let mut args = vec!["publish", "--json"];
    args.extend(files.iter().map(String::as_str));
    let report = l.run(&args).ok().json_lines();
    assert_eq!(report.len(), 4, "one line per file");
    for (i, r) in report.iter().enumerate() {
        assert_eq!(r["new"], 0, "{r}");
        assert_eq!(r["status"], "unchanged", "{r}");
        assert_eq!(
            r["already_recorded"].as_u64(),
            Some(events_of(&example_json(i)) as u64),
            "{r}"
        );
        assert!(r.get("first_seq").is_none(), "{r}");
    }
    assert_eq!(l.head(), head);
    // No entity twice.
    assert_eq!(
        crate::support::duplicate_entities(&l.log()),
        Vec::<String>::new()
    );
}

#[test]
fn publish_from_standard_input() {
    let l = Ledger::init();
    let g = gen_bundle("stdin", 3, 12);
    let out = l.run_stdin(&["publish", "-"], &g.bytes());
    let events = g.events();
    assert_eq!(
        out.ok().stdout.trim(),
        format!(
            "published <stdin>: seq 3..={} ({events} events + seal)",
            3 + events
        )
    );
    let recorded: Vec<String> = l
        .log_with(&[])
        .into_iter()
        .skip(1)
        .map(|r| r.entity)
        .collect();
    assert_eq!(
        recorded, g.entities,
        "events in bundle order, after the genesis"
    );
    // The same bytes again: unchanged.
    let head = l.head();
    let out = l.run_stdin(&["publish", "-"], &g.bytes());
    assert!(
        out.ok()
            .stdout
            .starts_with(&format!("unchanged <stdin>: all {events} events")),
        "{}",
        out.stdout
    );
    assert_eq!(l.head(), head);
    // Reformatted (compact) still unchanged: ids and bodies come from content, not formatting.
    let compact = serde_json::to_vec(&g.json).expect("encodable");
    let out = l.run_stdin(&["publish", "-"], &compact);
    assert!(
        out.ok().stdout.starts_with("unchanged <stdin>"),
        "{}",
        out.stdout
    );
    assert_eq!(l.head(), head);
}

#[test]
fn changing_a_recorded_claim_is_a_conflict() {
    let l = Ledger::init();
    let first = example_files()[0].display().to_string();
    l.run(&["publish", &first]).ok();
    let claim = "claim:rok-mnd/containers-2024-02";
    let seq = l
        .log()
        .iter()
        .find(|r| r.entity == claim)
        .expect("claim recorded")
        .seq;
    let head = l.head();

    let mut b = example_json(0);
    assert_eq!(b["claims"][0]["id"], claim);
    b["claims"][0]["value"]["quantity"]["value"] = json!(6800);
    let file = l.write_json("changed.json", &b);
    for cmd in ["publish", "validate"] {
        let out = l.run(&[cmd, &file]);
        out.expect_code(4);
        let line = out
            .stderr
            .lines()
            .find(|line| line.contains(claim))
            .unwrap_or_else(|| panic!("`{cmd}`: the claim is not named:\n{}", out.stderr));
        assert!(
            line.contains(&format!(
                "already recorded at seq {seq} with different content"
            )),
            "{line}"
        );
        assert!(
            line.contains("supersedes") && line.contains("retracts"),
            "no correction named: {line}"
        );
        assert!(line.starts_with(&file), "the file is not named: {line}");
        assert!(
            out.stderr.contains("nothing was appended"),
            "{}",
            out.stderr
        );
        assert_eq!(l.head(), head, "`{cmd}` appended");
    }
    // A changed entity among new ones: still nothing at all appended.
    let mut b2 = b.clone();
    b2["sources"].as_array_mut().expect("sources").push(json!({
        "id": "source:e2e/new-outlet", "name": "New Outlet", "kind": "outlet"
    }));
    let file = l.write_json("changed-plus-new.json", &b2);
    l.run(&["publish", &file]).expect_code(4);
    assert_eq!(l.head(), head);
    assert!(l.log().iter().all(|r| r.entity != "source:e2e/new-outlet"));
}

#[test]
fn validate_reports_new_and_recorded_and_appends_nothing() {
    let l = Ledger::init();
    let first = example_files()[0].display().to_string();
    l.run(&["publish", &first]).ok();
    let head = l.head();
    let mut b = example_json(0);
    b["sources"].as_array_mut().expect("sources").push(json!({
        "id": "source:e2e/extra", "name": "Extra", "kind": "organisation"
    }));
    let extended = l.write_json("extended.json", &b);
    let second = example_files()[1].display().to_string();
    let out = l.run(&["validate", "--json", &extended, &second]);
    let report = out.ok().json();
    assert_eq!(
        report,
        json!([
            { "file": extended, "events": 22, "new": 1, "already_recorded": 21 },
            { "file": second, "events": 16, "new": 16, "already_recorded": 0 }
        ])
    );
    let out = l.run(&["validate", &extended]);
    assert_eq!(
        out.ok().stdout.trim(),
        format!("ok {extended}: 22 events (1 new, 21 already recorded)")
    );
    assert_eq!(l.head(), head, "validate appended");
    assert!(l.log().iter().all(|r| r.entity != "source:e2e/extra"));
}

#[test]
fn validation_warnings_are_printed_and_in_json_but_do_not_refuse() {
    let l = Ledger::init();
    let mut b = example_json(0);
    b["claims"][0]["likelihood"] = json!({"wording": "most likely"});
    let file = l.write_json("most-likely.json", &b);
    let warning = json!([{
        "file": file,
        "path": "/claims/0/likelihood/wording",
        "warning": "unknown_likelihood",
        "wording": "most likely",
        "mapping": "dossier-icd203/2"
    }]);

    let out = l.run(&["validate", "--json", &file]);
    assert_eq!(out.ok().json()[0]["warnings"], warning);
    let line = format!(
        "{file}: /claims/0/likelihood/wording: warning: the wording \"most likely\" is not in the likelihood mapping dossier-icd203/2"
    );
    assert!(out.stderr.contains(&line), "{}", out.stderr);

    // publish --json prints JSON Lines: one object for the one file.
    let out = l.run(&["publish", "--json", &file]);
    let report = out.ok().json();
    assert_eq!(report["warnings"], warning);
    assert!(report["first_seq"].is_u64(), "{report}");
    assert!(out.stderr.contains(&line), "{}", out.stderr);

    // A bundle without anything to warn about has no `warnings` member.
    let first = example_files()[1].display().to_string();
    let report = l.run(&["validate", "--json", &first]).ok().json();
    assert!(report[0].get("warnings").is_none(), "{report}");
}

#[test]
fn log_filters_and_show() {
    let l = Ledger::with_examples();
    assert_eq!(l.count(), 58, "2 + (21+1) + (16+1) + (9+1) + (6+1)");
    let all = l.log();
    assert_eq!(
        all.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=58).collect::<Vec<_>>()
    );

    // --type claim: the claim family (claim.recorded and claim.related), nothing else.
    let claims = l.log_with(&["--type", "claim"]);
    let expected: usize = (0..4)
        .map(|i| {
            let b = example_json(i);
            ["claims", "relations"]
                .iter()
                .map(|k| b.get(*k).and_then(Value::as_array).map_or(0, Vec::len))
                .sum::<usize>()
        })
        .sum();
    assert_eq!(claims.len(), expected);
    assert!(
        claims
            .iter()
            .all(|r| r.event_type == "claim.recorded" || r.event_type == "claim.related")
    );
    let recorded = l.log_with(&["--type", "claim.recorded"]);
    let n_claims: usize = (0..4)
        .map(|i| example_json(i)["claims"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(recorded.len(), n_claims);
    assert!(
        recorded
            .iter()
            .all(|r| r.event_type == "claim.recorded" && r.entity.starts_with("claim:"))
    );
    // "cla" is not a family.
    assert!(l.log_with(&["--type", "cla"]).is_empty());

    // --from/--to/--limit.
    let seqs =
        |lines: Vec<crate::support::LogLine>| lines.into_iter().map(|r| r.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(l.log_with(&["--seals", "--from", "5", "--to", "9"])),
        vec![5, 6, 7, 8, 9]
    );
    assert_eq!(
        seqs(l.log_with(&["--seals", "--from", "10", "--limit", "3"])),
        vec![10, 11, 12]
    );
    assert_eq!(seqs(l.log_with(&["--seals", "--limit", "2"])), vec![1, 2]);
    // Seals hidden by default (24 closes example 01's batch), and --limit counts shown lines.
    assert_eq!(
        seqs(l.log_with(&["--from", "22", "--to", "26"])),
        vec![22, 23, 25, 26]
    );
    assert_eq!(
        seqs(l.log_with(&["--from", "22", "--limit", "3"])),
        vec![22, 23, 25]
    );
    assert!(l.log_with(&["--from", "59"]).is_empty());

    // show --json agrees with the log.
    let r = &all[20];
    let shown = l.run(&["show", &r.seq.to_string(), "--json"]).ok().json();
    assert_eq!(shown["seq"], r.seq);
    assert_eq!(shown["hash"], r.hash.as_str());
    assert_eq!(shown["record"]["entity"], r.entity.as_str());
    assert_eq!(shown["record"]["type"], r.event_type.as_str());
    assert_eq!(shown["record"]["seq"], r.seq);
    assert_eq!(
        shown["record"]["prev"],
        all[19].hash.as_str(),
        "record {} links to {}",
        r.seq,
        all[19].seq
    );

    // show --raw: the exact stored bytes.
    let conn = rusqlite::Connection::open(l.db()).expect("open db");
    for seq in [1u64, 3, 21, 24, 58] {
        let stored = dossier_log::tamper::record(&conn, seq);
        let out = l.run(&["show", &seq.to_string(), "--raw"]);
        assert_eq!(
            out.ok().raw,
            stored,
            "show {seq} --raw differs from the stored bytes"
        );
        // And those bytes hash (BLAKE3 with the record prefix) to the hash the log shows.
        let logged = &all[usize::try_from(seq - 1).expect("fits")];
        assert_eq!(
            dossier_chain::Hash::of_record(&out.raw).to_hex(),
            logged.hash,
            "seq {seq}"
        );
    }
    // A missing record.
    let out = l.run(&["show", "59"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("no record 59: the ledger holds 1..=58"),
        "{}",
        out.stderr
    );
}

/// A reader that goes away (`dossier log | head -1`) ends the process quietly, as for other
/// Unix tools, instead of a panic about failed printing.
#[test]
fn closed_output_pipe_ends_quietly() {
    use std::io::{BufRead as _, BufReader};
    let l = Ledger::init();
    // ~900 log lines: far more than a pipe buffer holds, so `log` is still writing when the
    // reader goes away.
    let bundle = gen_bundle("pipe", 3, 900);
    crate::support::run_in_with_stdin(l.dir(), &["publish", "-"], &bundle.bytes()).expect_code(0);
    let mut child = crate::support::command(l.dir())
        .args(["log", "--seals"])
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("one line");
    assert!(first.contains("ledger.genesis"), "{first}");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(
        out.status.signal(),
        Some(13),
        "ended by SIGPIPE, like other Unix tools: {:?}",
        out.status
    );
}

/// Two files of one command defining the same id differently: a conflict found before anything
/// is appended; the same id with the same content in both: the second is a no-op.
#[test]
fn files_of_one_run_conflicting_with_each_other_append_nothing() {
    let l = Ledger::init();
    let head = l.head();
    let a = gen_bundle("run", 2, 3);
    let mut b = a.json.clone();
    b["claims"][0]["quote"]["text"] = b["claims"][1]["quote"]["text"].clone();
    b["claims"][0]["quote"]["start"] = b["claims"][1]["quote"]["start"].clone();
    b["claims"][0]["quote"]["end"] = b["claims"][1]["quote"]["end"].clone();
    let fa = l.write_json("a.json", &a.json);
    let fb = l.write_json("b.json", &b);
    for cmd in ["validate", "publish"] {
        let out = l.run(&[cmd, &fa, &fb]);
        out.expect_code(4);
        assert!(
            out.stderr.contains("also defined by") && out.stderr.contains(&fa),
            "{}",
            out.stderr
        );
        assert_eq!(l.head(), head, "`{cmd}` appended");
    }
    let fa2 = l.write_json("a-again.json", &a.json);
    let out = l.run(&["publish", &fa, &fa2]);
    out.expect_code(0);
    assert!(out.stdout.contains("unchanged"), "{}", out.stdout);
}

/// Re-marking a recorded entity is a change, not a no-op.
#[test]
fn changing_only_the_marking_is_a_conflict() {
    let l = Ledger::init();
    let a = gen_bundle("mark", 1, 1);
    let fa = l.write_json("a.json", &a.json);
    l.run(&["publish", &fa]).expect_code(0);
    let head = l.head();
    let mut b = a.json.clone();
    b["marking"] = json!("TLP:RED");
    let fb = l.write_json("b.json", &b);
    let out = l.run(&["publish", &fb]);
    out.expect_code(4);
    assert_eq!(l.head(), head);
}
