//! `dossier why --format prov-json` and `dossier export --format stix|misp`: the exports of a
//! real ledger, checked by validators other people wrote (`tests/exchange/check.py`: the prov
//! package, stix2-validator strict, pymisp; installed into `.venv` by scripts/install-py-tools.sh),
//! and held to the reader's clearance: a TLP:GREEN export holds nothing of a TLP:AMBER event.

use std::path::Path;

use serde_json::{Value, json};

use crate::bundles::OneClaim;
use crate::support::Ledger;

const CONTAINERS: &str = "dprk-russia/containers-shipped";

/// Runs `tests/exchange/check.py KIND FILES` with the project's Python tools; fails loudly
/// when they are missing.
pub(crate) fn check(kind: &str, files: &[&Path]) -> String {
    dossier_testkit::check_exchange(kind, files)
}

const AMBER_TEXT: &str = "The informant said 9,999 containers were shipped. Amberonly-marker.";

/// An AMBER report with an AMBER claim on the examples' (CLEAR) containers question.
fn amber_bundle() -> Value {
    OneClaim {
        marking: "TLP:AMBER",
        report_marking: "TLP:AMBER",
        report: [
            "report:amber-desk/informant-brief",
            "Amber Desk",
            "Informant brief amberonly-title",
            "2024-04-05T00:00:00Z",
        ],
        text: AMBER_TEXT,
        source: [
            "source:amber-informant",
            "Informant amberonly-name",
            "person",
        ],
        claim: [
            "claim:amber-informant/containers",
            "question:dprk-russia/containers-shipped",
        ],
        value: json!({"quantity": {"value": 9999, "unit": "containers"}}),
        quote: "9,999 containers",
        credibility: 3,
    }
    .bundle()
}

/// Every string by which an AMBER export could leak the AMBER events: ids, their UUIDv5s,
/// texts, names.
fn amber_needles() -> Vec<String> {
    let mut needles: Vec<String> = [
        "amber-informant",
        "amber-desk",
        // The figure as a JSON number: "9999" alone also turns up, by chance, in record hashes.
        "9999.0",
        "9,999",
        "amberonly",
        "Amber Desk",
        // The TLP 2.0 AMBER marking definition.
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        "TLP:AMBER",
        "tlp:amber",
    ]
    .map(str::to_owned)
    .to_vec();
    for (t, id) in [
        ("x-dossier-claim", "claim:amber-informant/containers"),
        ("identity", "source:amber-informant"),
        ("report", "report:amber-desk/informant-brief"),
    ] {
        needles.push(dossier_exchange::ids::stix_id(t, id));
    }
    needles
}

/// `dossier export --format FORMAT ARGS…` (to standard output): what it wrote.
fn export(l: &Ledger, format: &str, args: &[&str]) -> String {
    let mut all = vec!["export", "--format", format];
    all.extend_from_slice(args);
    l.run(&all).ok().stdout.clone()
}

#[test]
fn exports_of_the_examples_pass_the_validators() {
    let l = Ledger::with_examples();
    let prov = l.file("why.prov.json");
    let out = l
        .run(&["why", CONTAINERS, "--format", "prov-json"])
        .ok()
        .raw
        .clone();
    std::fs::write(&prov, &out).unwrap();
    let doc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        doc["bundle"].as_object().unwrap().len(),
        4,
        "one PROV bundle per batch"
    );

    let all = l.file("all.stix.json");
    let question = l.file("q.stix.json");
    let report = l.file("r.stix.json");
    export(&l, "stix", &["-o", all.to_str().unwrap()]);
    export(
        &l,
        "stix",
        &["--question", CONTAINERS, "-o", question.to_str().unwrap()],
    );
    let out = export(
        &l,
        "stix",
        &["--report", "report:example-gazette/2024-04-03-correction"],
    )
    .into_bytes();
    std::fs::write(&report, out).unwrap();
    let bundle: Value = serde_json::from_slice(&std::fs::read(&all).unwrap()).unwrap();
    let claims = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "x-dossier-claim")
        .count();
    assert_eq!(claims, 16, "every claim of the examples");

    let misp = l.file("all.misp.jsonl");
    export(&l, "misp", &["-o", misp.to_str().unwrap()]);
    let events = std::fs::read_to_string(&misp).unwrap();
    assert_eq!(events.lines().count(), 4, "one MISP event per report");
    let one = l.file("one.misp.jsonl");
    let out = export(
        &l,
        "misp",
        &["--report", "report:example-gazette/2024-04-03-correction"],
    )
    .into_bytes();
    std::fs::write(&one, out).unwrap();

    check("prov", &[&prov]);
    check("stix", &[&all, &question, &report]);
    check("misp", &[&misp, &one]);

    // Nothing to export is an error, and leaves no file.
    let none = l.file("none.json");
    l.run(&[
        "export",
        "--format",
        "stix",
        "--report",
        "report:nope/nothing",
        "-o",
        none.to_str().unwrap(),
    ])
    .expect_code(1);
    assert!(!none.exists());
    l.run(&["why", "nope/nothing", "--format", "prov-json"])
        .expect_code(1);
}

#[test]
fn a_green_export_holds_nothing_of_an_amber_event() {
    let l = Ledger::with_examples();
    let amber = l.write_json("amber.json", &amber_bundle());
    l.run(&["publish", &amber]).ok();

    // Cleared for AMBER, the AMBER claim is there: the needles would find a leak.
    let amber_all = export(&l, "stix", &["--clearance", "TLP:AMBER"]);
    let amber_prov = l
        .run(&[
            "why",
            CONTAINERS,
            "--format",
            "prov-json",
            "--clearance",
            "TLP:AMBER",
        ])
        .ok()
        .stdout
        .clone();
    // (MISP's tag spelling aside, which a STIX bundle has no reason to hold.)
    for needle in amber_needles().into_iter().filter(|n| n != "tlp:amber") {
        assert!(
            amber_all.contains(&needle),
            "the AMBER export holds {needle}"
        );
    }
    for needle in [
        "claim:amber-informant/containers",
        "source:amber-informant",
        "TLP:AMBER",
    ] {
        assert!(amber_prov.contains(needle), "the AMBER PROV holds {needle}");
    }
    let amber_misp = export(&l, "misp", &["--clearance", "TLP:AMBER"]);
    for needle in [
        "claim:amber-informant/containers",
        "Informant amberonly-name",
        "tlp:amber",
    ] {
        assert!(
            amber_misp.contains(needle),
            "the AMBER MISP export holds {needle}"
        );
    }

    for clearance in ["TLP:GREEN", "TLP:CLEAR"] {
        let outputs = [
            export(&l, "stix", &["--clearance", clearance]),
            export(
                &l,
                "stix",
                &["--question", CONTAINERS, "--clearance", clearance],
            ),
            l.run(&[
                "why",
                CONTAINERS,
                "--format",
                "prov-json",
                "--clearance",
                clearance,
            ])
            .ok()
            .stdout
            .clone(),
        ];
        for out in &outputs {
            for needle in amber_needles() {
                assert!(
                    !out.contains(&needle),
                    "a {clearance} export holds {needle}:\n{out}"
                );
            }
        }
        // The AMBER report does not exist for this reader.
        l.run(&[
            "export",
            "--format",
            "stix",
            "--report",
            "report:amber-desk/informant-brief",
            "--clearance",
            clearance,
        ])
        .expect_code(1);
        let file = l.file("green.stix.json");
        std::fs::write(&file, &outputs[0]).unwrap();
        check("stix", &[&file]);
    }
    let file = l.file("amber.stix.json");
    std::fs::write(&file, &amber_all).unwrap();
    check("stix", &[&file]);
    let file = l.file("amber.misp.jsonl");
    std::fs::write(&file, &amber_misp).unwrap();
    check("misp", &[&file]);
}
