//! Markings are monotone: a bundle may not mark an entity below a recorded entity it
//! references; such a publish is refused whole, with nothing appended.

use serde_json::{Value, json};

use crate::bundles::OneClaim;
use crate::support::Ledger;

const TEXT: &str = "The ministry said 7,000 containers were shipped.";

fn claim_bundle(marking: &str) -> Value {
    OneClaim {
        marking,
        report_marking: "TLP:CLEAR",
        report: [
            "report:wire/containers",
            "Wire",
            "Containers",
            "2024-03-19T00:00:00Z",
        ],
        text: TEXT,
        source: ["source:ministry", "Ministry", "government"],
        claim: ["claim:ministry/containers", "question:containers"],
        value: json!({"quantity": {"value": 7000}}),
        quote: "7,000 containers",
        credibility: 2,
    }
    .bundle()
}

#[test]
fn a_green_bundle_referencing_an_amber_question_is_refused_with_nothing_appended() {
    let l = Ledger::init();
    let question = json!({"version": 1, "marking": "TLP:AMBER", "questions": [
        {"id": "question:containers", "text": "How many containers?", "kind": {"type": "quantity", "unit": "containers"}}
    ]});
    let q = l.write_json("question.json", &question);
    l.run(&["publish", &q]).ok();
    let head = l.head();

    let green = l.write_json("green.json", &claim_bundle("TLP:GREEN"));
    for cmd in ["validate", "publish"] {
        let out = l.run(&[cmd, &green]);
        out.expect_code(3);
        for needle in [
            "/claims/0/question",
            "claim `claim:ministry/containers`",
            "question `question:containers`",
            "recorded as TLP:AMBER",
            "TLP:GREEN",
            "set the bundle's `marking` to TLP:AMBER or stricter",
        ] {
            assert!(
                out.stderr.contains(needle),
                "{cmd}: {needle:?} missing:\n{}",
                out.stderr
            );
        }
    }
    assert_eq!(l.head(), head, "nothing was appended");

    // As JSON, the problem is listed with its path.
    let out = l.run(&["publish", &green, "--json"]);
    out.expect_code(3);
    assert!(out.stderr.contains("/claims/0/question"), "{}", out.stderr);
    assert_eq!(l.head(), head);

    // Marked AMBER, the same claim is published.
    let amber = l.write_json("amber.json", &claim_bundle("TLP:AMBER"));
    l.run(&["publish", &amber]).ok();
    assert!(l.head().seq > head.seq);
}
