//! `dossier import --format stix`: a STIX report (an OpenCTI-style bundle checked into
//! tests/exchange/fixtures, itself checked by stix2-validator, and dossier's own STIX export)
//! becomes a draft report bundle that `dossier validate` refuses, naming each placeholder,
//! until an analyst fills them in; unknown marking definitions are refused with nothing
//! written, and every object left out is listed with the reason.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::exchange::check;
use crate::support::{Ledger, example_json};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/exchange/fixtures/opencti-report.stix.json")
}

fn fixture_json() -> Value {
    serde_json::from_slice(&std::fs::read(fixture()).unwrap()).unwrap()
}

/// The ids of the fixture's objects of `stix_type`.
fn ids_of(stix: &Value, stix_type: &str) -> Vec<String> {
    stix["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == stix_type)
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `dossier import --format stix FILE -o OUT --json` in `l`: the draft and the summary.
fn draft(l: &Ledger, file: &Path, out: &str) -> (Value, Value) {
    let path = l.file(out);
    let summary = l
        .run(&[
            "import",
            "--format",
            "stix",
            file.to_str().unwrap(),
            "-o",
            path.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    let draft = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    (draft, summary)
}

fn todo_paths(summary: &Value) -> Vec<&str> {
    summary["todo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["path"].as_str().unwrap())
        .collect()
}

/// Sets the value at the JSON Pointer `path`.
fn fill(doc: &mut Value, path: &str, value: Value) {
    *doc.pointer_mut(path)
        .unwrap_or_else(|| panic!("no {path} in the draft")) = value;
}

/// A quote of `words` in `text`, with character offsets.
fn quote_of(text: &str, words: &str) -> Value {
    let start = text[..text.find(words).unwrap()].chars().count();
    json!({"text": words, "start": start, "end": start + words.chars().count()})
}

#[test]
fn an_opencti_report_becomes_a_draft_that_validates_once_filled_in() {
    let stix = fixture_json();
    check("stix", &[&fixture()]);
    let l = Ledger::init();
    let (mut d, summary) = draft(&l, &fixture(), "draft.json");
    let report = &ids_of(&stix, "report")[0];
    assert_eq!(summary["report"], report.as_str());

    // What dossier has an entity for is there; the rest is listed with the reason.
    assert_eq!(d["marking"], "TLP:AMBER");
    assert_eq!(d["report"]["marking"], "TLP:AMBER");
    assert_eq!(d["report"]["publisher"], "CERT-Example");
    assert_eq!(
        d["report"]["url"],
        "https://cert.example.org/advisories/2024-017"
    );
    assert_eq!(
        d["report"]["text"],
        stix["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["type"] == "report")
            .unwrap()["description"]
    );
    assert_eq!(
        d["reliability"][0]["rating"], "B",
        "OpenCTI's x_opencti_reliability"
    );
    assert_eq!(d["sources"].as_array().unwrap().len(), 2);
    assert_eq!(
        d["claims"].as_array().unwrap().len(),
        4,
        "one indicator, three relationships"
    );
    assert_eq!(d["claims"][0]["credibility"], 2, "confidence 75");
    assert_eq!(d["claims"][0]["quote"]["text"], "update-check.example.net");
    let dropped: Vec<(&str, &str)> = summary["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["id"].as_str().unwrap(), x["reason"].as_str().unwrap()))
        .collect();
    let mut want: Vec<(String, &str)> = vec![(report.clone(), "partner-report")];
    for (t, why) in [
        ("extension-definition", "extension definition"),
        ("threat-actor", "named in the questions"),
        ("malware", "named in the questions"),
        ("note", "commentary"),
        ("campaign", "not referenced by the report"),
    ] {
        want.extend(ids_of(&stix, t).into_iter().map(|id| (id, why)));
    }
    let refs = stix["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "report")
        .unwrap()["object_refs"]
        .clone();
    let absent = refs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .find(|r| r.starts_with("attack-pattern--"))
        .unwrap();
    want.push((absent.to_owned(), "not in the bundle"));
    assert_eq!(dropped.len(), want.len(), "{dropped:#?}");
    for ((id, reason), (want_id, why)) in dropped.iter().zip(&want) {
        assert_eq!(id, want_id);
        assert!(reason.contains(why), "{id}: {reason}");
    }

    // Validation names every place left to fill in, and nothing is appended.
    let todo = todo_paths(&summary);
    assert_eq!(
        todo,
        [
            "/claims/1/quote/text",
            "/claims/1/quote/start",
            "/claims/1/quote/end",
            "/claims/2/quote/text",
            "/claims/2/quote/start",
            "/claims/2/quote/end",
            "/claims/3/credibility",
        ]
    );
    let path = l.file("draft.json");
    let before = l.head().seq;
    let out = l
        .run(&["validate", path.to_str().unwrap()])
        .expect_code(3)
        .stderr
        .clone();
    for p in &todo {
        assert!(
            out.contains(&format!("{}: {p}: placeholder to fill in", path.display())),
            "{p}: {out}"
        );
    }
    l.run(&["publish", path.to_str().unwrap()]).expect_code(3);
    assert_eq!(l.head().seq, before);

    // Filled in, it validates and publishes.
    let text = d["report"]["text"].as_str().unwrap().to_owned();
    fill(
        &mut d,
        "/claims/1/quote",
        quote_of(
            &text,
            "DUSKLOADER, which contacts the command-and-control domain update-check.example.net",
        ),
    );
    fill(
        &mut d,
        "/claims/2/quote",
        quote_of(
            &text,
            "SANDFLY targeting energy-sector operators in the Baltic region",
        ),
    );
    fill(&mut d, "/claims/3/credibility", json!(3));
    let filled = l.write_json("filled.json", &d);
    l.run(&["validate", &filled]).ok();
    l.run(&["publish", &filled]).ok();
    assert_eq!(l.head().seq, before + 13, "12 entities and the seal");
}

#[test]
fn our_own_stix_export_comes_back_as_the_report_bundle_it_was_published_from() {
    let l = Ledger::with_examples();
    let correction = example_json(3);
    let stix = l.file("correction.stix.json");
    l.run(&[
        "export",
        "--format",
        "stix",
        "--report",
        correction["report"]["id"].as_str().unwrap(),
        "-o",
        stix.to_str().unwrap(),
    ])
    .ok();
    let (mut d, summary) = draft(&l, &stix, "draft.json");
    assert_eq!(
        todo_paths(&summary),
        ["/report/text"],
        "a STIX export carries no texts"
    );
    assert_eq!(d["report"]["id"], correction["report"]["id"]);
    for key in ["publisher", "title", "language"] {
        assert_eq!(d["report"][key], correction["report"][key], "{key}");
    }
    let (got, want) = (&d["claims"][0], &correction["claims"][0]);
    for key in [
        "id",
        "question",
        "speaker",
        "via",
        "stance",
        "valid_time",
        "quote",
        "credibility",
    ] {
        assert_eq!(got[key], want[key], "claim {key}");
    }
    assert_eq!(got["value"]["quantity"]["value"].as_f64(), Some(7000.0));
    let rel = &correction["reliability"][0];
    assert_eq!(
        d["reliability"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == rel["id"])
            .unwrap()["scope"],
        rel["scope"]
    );
    // Its relations point at claims of other reports, which the export does not hold.
    let dropped = summary["dropped"].to_string();
    assert!(dropped.contains("not in the bundle"), "{dropped}");

    // With the text back, the draft validates on a ledger of its own.
    fill(&mut d, "/report/text", correction["report"]["text"].clone());
    let other = Ledger::init();
    let filled = other.write_json("filled.json", &d);
    other.run(&["validate", &filled]).ok();
    other.run(&["publish", &filled]).ok();
}

#[test]
fn unknown_markings_are_refused_with_nothing_written_and_tlp_1_is_read() {
    let l = Ledger::empty();
    let statement = json!({
        "type": "marking-definition", "spec_version": "2.1",
        "id": "marking-definition--3f3a0c0e-2d4b-4c51-9a4e-6f1f0b6c9d11",
        "created": "2024-01-01T00:00:00.000Z", "definition_type": "statement",
        "definition": {"statement": "Copyright CERT-Example, do not share"}
    });
    let tlp1_green = json!({
        "type": "marking-definition", "spec_version": "2.1",
        "id": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp", "name": "TLP:GREEN",
        "definition": {"tlp": "green"}
    });
    let with = |marking: &Value, mark_report: bool| {
        let mut stix = fixture_json();
        let objects = stix["objects"].as_array_mut().unwrap();
        objects.push(marking.clone());
        if mark_report {
            for o in objects
                .iter_mut()
                .filter(|o| o["type"] != "marking-definition")
            {
                o["object_marking_refs"] = json!([marking["id"]]);
            }
        }
        stix
    };
    for (name, stix, by) in [
        ("referenced", with(&statement, true), "referenced by"),
        ("defined", with(&statement, false), "defined in the bundle"),
    ] {
        let file = l.write_json(&format!("{name}.stix.json"), &stix);
        let out = l.file(&format!("{name}.draft.json"));
        let r = l.run(&[
            "import",
            "--format",
            "stix",
            &file,
            "-o",
            out.to_str().unwrap(),
        ]);
        r.expect_code(3);
        assert!(r.stderr.contains("unknown marking definition `marking-definition--3f3a0c0e-2d4b-4c51-9a4e-6f1f0b6c9d11`"), "{}", r.stderr);
        assert!(r.stderr.contains(by), "{}", r.stderr);
        assert!(
            !out.exists() && !l.file(&format!("{name}.draft.json.partial")).exists(),
            "nothing written"
        );
        let r = l.run(&["import", "--format", "stix", &file]);
        r.expect_code(3);
        assert!(r.stdout.is_empty(), "nothing on standard output");
    }
    let file = l.write_json("tlp1.stix.json", &with(&tlp1_green, true));
    check("stix", &[Path::new(&file)]);
    let d: Value = l.run(&["import", "--format", "stix", &file]).ok().json();
    assert_eq!(d["marking"], "TLP:GREEN");
    assert_eq!(d["report"]["marking"], "TLP:GREEN");
}
