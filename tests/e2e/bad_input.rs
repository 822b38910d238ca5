//! Bad bundles through `publish` and `validate`: exit code 3, a precise message naming the file,
//! the JSON path and the reason, and an unchanged ledger.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{HeadInfo, Ledger, example_json, gen_bundle};

/// A ledger holding example 01 (so bundles can refer to recorded entities).
fn ledger_with_first_example() -> (Ledger, HeadInfo) {
    let l = Ledger::init();
    let first = l.write_json("01.json", &example_json(0));
    l.run(&["publish", &first]).ok();
    let head = l.head();
    assert_eq!(head.seq, 24, "genesis + seal + 21 events + seal");
    (l, head)
}

/// Runs `publish` and `validate` on `file` and checks both are rejected with exit 3, that
/// stderr has a line with `file: path: ` holding every `reasons` fragment, and that the
/// head did not move.
#[track_caller]
fn rejected(l: &Ledger, before: &HeadInfo, file: &str, path: &str, reasons: &[&str]) {
    for cmd in ["publish", "validate"] {
        let out = l.run(&[cmd, file]);
        out.expect_code(3);
        let prefix = format!("{file}: {path}: ");
        let line = out
            .stderr
            .lines()
            .find(|line| line.starts_with(&prefix))
            .unwrap_or_else(|| {
                panic!(
                    "`{cmd}`: no line starting with {prefix:?} in stderr:\n{}",
                    out.stderr
                )
            });
        for reason in reasons {
            assert!(
                line.contains(reason),
                "`{cmd}`: {reason:?} missing from {line:?}"
            );
        }
        assert!(
            out.stderr.contains("nothing was appended"),
            "{}",
            out.stderr
        );
        assert!(
            out.stdout.is_empty(),
            "`{cmd}` printed on stdout: {}",
            out.stdout
        );
        assert_eq!(&l.head(), before, "`{cmd}` of {file} moved the head");
    }
}

#[test]
fn malformed_json_names_line_and_column() {
    let (l, before) = ledger_with_first_example();
    let file = l.write_bytes("malformed.json", b"{\"version\": 1,\n  \"sources\": [,]}");
    rejected(
        &l,
        &before,
        &file,
        "/sources/0",
        &["malformed JSON at line 2, column 15"],
    );
    let file = l.write_bytes(
        "truncated.json",
        b"{\"version\": 1,\n \"marking\": \"TLP:CLEAR\"",
    );
    rejected(
        &l,
        &before,
        &file,
        "(document)",
        &["malformed JSON", "end of file", "line 2"],
    );
}

#[test]
fn unknown_field_names_its_json_path() {
    let (l, before) = ledger_with_first_example();
    let mut b = example_json(0);
    b["claims"][0]["colour"] = json!("red");
    let file = l.write_json("unknown.json", &b);
    rejected(
        &l,
        &before,
        &file,
        "/claims/0/colour",
        &["unknown field `colour`", "line "],
    );
}

#[test]
fn wrong_type_names_its_json_path() {
    let (l, before) = ledger_with_first_example();
    let mut b = example_json(0);
    b["claims"][1]["quote"]["start"] = json!("140");
    let file = l.write_json("wrong-type.json", &b);
    rejected(
        &l,
        &before,
        &file,
        "/claims/1/quote/start",
        &["invalid type: string \"140\"", "expected u64"],
    );
    let mut b = example_json(0);
    b["sources"][0]["aliases"] = json!("국방부");
    let file = l.write_json("wrong-type-2.json", &b);
    rejected(
        &l,
        &before,
        &file,
        "/sources/0/aliases",
        &["invalid type", "expected a sequence"],
    );
}

/// A bundle with no report whose single claim refers to what the test chooses.
fn claim_bundle(report: &str, question: &str, speaker: &str) -> Value {
    json!({
        "version": 1,
        "marking": "TLP:CLEAR",
        "claims": [{
            "id": "claim:e2e/dangling",
            "report": report,
            "question": question,
            "speaker": speaker,
            "stance": "asserts",
            "value": { "boolean": true },
            "quote": { "text": "North Korea", "start": 140, "end": 151 },
            "credibility": 2
        }]
    })
}

#[test]
fn dangling_references_are_rejected() {
    let (l, before) = ledger_with_first_example();
    let report = "report:example-wire/2024-02-27-dprk-containers";
    let question = "question:dprk-russia/arms-transfers";
    let speaker = "source:shin-won-sik";
    // The same bundle, correct, passes against the ledger: the failures below are the references.
    let good = l.write_json("good.json", &claim_bundle(report, question, speaker));
    let out = l.run(&["validate", "--json", &good]);
    assert_eq!(out.ok().json()[0]["new"], 1);

    let cases = [
        (
            "question",
            claim_bundle(report, "question:e2e/nowhere", speaker),
            "/claims/0/question",
            "`question:e2e/nowhere`",
        ),
        (
            "source",
            claim_bundle(report, question, "source:e2e/nobody"),
            "/claims/0/speaker",
            "`source:e2e/nobody`",
        ),
        (
            "report",
            claim_bundle("report:e2e/never-published", question, speaker),
            "/claims/0/report",
            "`report:e2e/never-published`",
        ),
    ];
    for (name, bundle, path, id) in cases {
        let file = l.write_json(&format!("dangling-{name}.json"), &bundle);
        rejected(
            &l,
            &before,
            &file,
            path,
            &[
                id,
                "is not defined in this bundle nor recorded in the ledger",
            ],
        );
    }

    // A supersession of a claim that exists nowhere.
    let mut b = claim_bundle(report, question, speaker);
    b["relations"] = json!([{ "kind": "supersedes", "from": "claim:e2e/dangling", "to": "claim:e2e/never-made" }]);
    let file = l.write_json("dangling-supersedes.json", &b);
    rejected(
        &l,
        &before,
        &file,
        "/relations/0/to",
        &["`claim:e2e/never-made`", "not defined"],
    );
}

#[test]
fn quote_span_outside_the_text() {
    let (l, before) = ledger_with_first_example();
    let mut b = example_json(0);
    let chars = b["report"]["text"].as_str().expect("text").chars().count();
    b["claims"][2]["quote"]["end"] = json!(chars + 1);
    let file = l.write_json("span.json", &b);
    rejected(
        &l,
        &before,
        &file,
        "/claims/2/quote/end",
        &[
            &format!("end {} is beyond the end", chars + 1),
            &format!("({chars} characters"),
        ],
    );

    // Byte offsets instead of character offsets: the span no longer holds the quote (the text has
    // Hangul before it), and the message says where the quote really is.
    let mut b = example_json(0);
    let text = b["report"]["text"].as_str().expect("text").to_owned();
    let quote = b["claims"][0]["quote"]["text"]
        .as_str()
        .expect("quote")
        .to_owned();
    let byte_start = text.find(&quote).expect("quote in text");
    let char_start = text[..byte_start].chars().count();
    assert_ne!(
        byte_start, char_start,
        "the example must have multi-byte characters before the quote"
    );
    b["claims"][0]["quote"]["start"] = json!(byte_start);
    b["claims"][0]["quote"]["end"] = json!(byte_start + quote.len());
    let file = l.write_json("span-bytes.json", &b);
    rejected(
        &l,
        &before,
        &file,
        "/claims/0/quote/text",
        &[&format!("occurs at characters {char_start}..")],
    );
}

#[test]
fn invalid_utf8_names_the_byte_offset() {
    let (l, before) = ledger_with_first_example();
    let file = l.write_bytes("latin1.json", b"{\"version\": 1,\n \"x\": \"Gr\xfc\xdfe\"}");
    rejected(
        &l,
        &before,
        &file,
        "(document)",
        &["invalid UTF-8 at byte offset 24", "line 2, column 10"],
    );
}

#[test]
fn empty_file() {
    let (l, before) = ledger_with_first_example();
    let file = l.write_bytes("empty.json", b"");
    rejected(&l, &before, &file, "(document)", &["file is empty"]);
    let file = l.write_bytes("blank.json", b"  \n\t\n");
    rejected(&l, &before, &file, "(document)", &["file is empty"]);
}

#[test]
fn fifty_megabyte_file_fails_fast_with_its_size() {
    let (l, before) = ledger_with_first_example();
    let path = l.file("huge.json");
    // Sparse: 50 MB of zeros without writing them.
    std::fs::File::create(&path)
        .and_then(|f| f.set_len(50_000_000))
        .expect("sparse file");
    let file = path.display().to_string();
    let started = Instant::now();
    rejected(
        &l,
        &before,
        &file,
        "(document)",
        &["50.0 MB", "limited to 16 MiB"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );

    // The same through standard input: refused after reading just past the limit.
    let out = l.run_stdin(&["publish", "-"], &vec![b' '; 50_000_000]);
    out.expect_code(3);
    // Only 16 MiB + 1 bytes were read: the message gives a lower bound, not a wrong size.
    assert!(
        out.stderr.contains(
            "<stdin>: (document): the input is more than 16.8 MB; a bundle is limited to 16 MiB"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(l.head(), before);
}

#[test]
fn every_error_in_a_file_is_reported() {
    let (l, before) = ledger_with_first_example();
    let mut b = example_json(0);
    b["claims"][0]["question"] = json!("question:e2e/missing");
    b["claims"][1]["quote"]["end"] = json!(100_000);
    b["claims"][2]["speaker"] = json!("source:e2e/missing");
    b["questions"][1]["id"] = b["questions"][0]["id"].clone();
    let file = l.write_json("many.json", &b);
    for cmd in ["publish", "validate"] {
        let out = l.run(&[cmd, &file]);
        out.expect_code(3);
        for (path, reason) in [
            (
                "/claims/0/question",
                "`question:e2e/missing` is not defined",
            ),
            ("/claims/1/quote/end", "end 100000 is beyond the end"),
            ("/claims/2/speaker", "`source:e2e/missing` is not defined"),
            (
                "/questions/1/id",
                "duplicate id `question:dprk-russia/arms-transfers`",
            ),
        ] {
            let prefix = format!("{file}: {path}: ");
            assert!(
                out.stderr
                    .lines()
                    .any(|line| line.starts_with(&prefix) && line.contains(reason)),
                "`{cmd}`: no {prefix:?} … {reason:?} in:\n{}",
                out.stderr
            );
        }
        assert!(
            out.stderr
                .contains("dossier: 4 error(s) in the input; nothing was appended"),
            "{}",
            out.stderr
        );
        assert_eq!(l.head(), before);
    }
}

#[test]
fn one_bad_file_of_two_appends_neither() {
    let (l, before) = ledger_with_first_example();
    let good = gen_bundle("fine", 2, 5);
    let good_file = l.write_json("good.json", &good.json);
    let bad_file = l.write_bytes("bad.json", b"{\"version\": 1, \"claimz\": []}");
    for files in [[&good_file, &bad_file], [&bad_file, &good_file]] {
        for cmd in ["publish", "validate"] {
            let out = l.run(&[cmd, files[0], files[1]]);
            out.expect_code(3);
            assert!(
                out.stderr
                    .contains(&format!("{bad_file}: /claimz: unknown field `claimz`")),
                "{}",
                out.stderr
            );
            assert!(
                !out.stderr.contains(&good_file),
                "the good file is not an error: {}",
                out.stderr
            );
            assert!(!out.stdout.contains("published"), "{}", out.stdout);
            assert_eq!(l.head(), before);
        }
    }
    let recorded: Vec<_> = l.log().into_iter().map(|r| r.entity).collect();
    for e in &good.entities {
        assert!(!recorded.contains(e), "{e} was appended");
    }
    // And alone, the good one goes in.
    l.run(&["publish", &good_file]).ok();
    assert_eq!(l.head().seq, before.seq + good.events() as u64 + 1);
}

/// A bundle is one batch, carried as one framed blob: one whose batch would exceed the
/// framing's budget (1,040,384 bytes, docs/BUNDLES.md §6.2) is refused whole by `validate` and
/// `publish`, with its size and the limit, before anything is appended.
#[test]
fn a_bundle_over_the_batch_budget_is_refused_with_its_size_and_the_limit() {
    let (l, head) = ledger_with_first_example();
    let mut big = gen_bundle("big", 1, 1).json;
    let sources = big["sources"].as_array_mut().expect("sources");
    for i in 0..110 {
        sources.push(json!({
            "id": format!("source:big/s{i}"),
            "name": format!("Source {i}"),
            "kind": "person",
            "description": "x".repeat(10_000),
        }));
    }
    let file = l.write_json("big.json", &big);
    rejected(
        &l,
        &head,
        &file,
        "(document)",
        &[
            "bytes framed",
            "more than the 1040384 bytes one batch may be",
        ],
    );
}
