//! Markings are monotone: validation refuses an entity marked less restrictively than a
//! recorded entity it references, with the JSON Pointer of the reference, both markings and
//! the fix.

#![allow(clippy::unwrap_used, missing_docs)]

use dossier_model::{
    Bundle, BundleErrors, Claim, EntityId, KnownEntities, KnownReport, Marking, Question,
    ReportEntry, ValidatedBundle, parse_bundle, validate,
};
use serde_json::{Value, json};

const TEXT: &str = "North Korea has sent at least 7,000 containers to Russia. Moscow denies it. \
A satellite launch is expected this month.";

fn quote(needle: &str) -> Value {
    let byte = TEXT.find(needle).unwrap();
    let start = TEXT[..byte].chars().count();
    json!({"text": needle, "start": start, "end": start + needle.chars().count()})
}

fn id(s: &str) -> EntityId {
    EntityId::parse(s).unwrap()
}

fn claim(id_: &str, question: &str, speaker: &str, stance: &str, needle: &str) -> Claim {
    serde_json::from_value(json!({
        "id": id_, "report": "report:r", "question": question, "speaker": speaker,
        "stance": stance, "quote": quote(needle), "credibility": 2
    }))
    .unwrap()
}

/// What the ledger holds: a report, two sources, a yes/no and a forecast question, three
/// claims and an assessment, all recorded `TLP:GREEN` except `amber`, recorded `TLP:AMBER`.
fn recorded(amber: &str) -> KnownEntities {
    let mut k = KnownEntities::default();
    let marking = |name: &str| {
        if name == amber {
            Marking::Amber
        } else {
            Marking::Green
        }
    };
    let report: ReportEntry = serde_json::from_value(json!({
        "id": "report:r", "publisher": "Wire", "title": "T", "published": "2024-03-19T00:00:00Z",
        "retrieved": "2024-03-19T00:00:00Z", "language": "en", "marking": marking("report:r").as_str(),
        "text": TEXT
    }))
    .unwrap();
    k.reports.insert(
        id("report:r"),
        KnownReport {
            report: report.to_report(),
            text: Some(TEXT.to_owned()),
        },
    );
    k.sources.extend([id("source:s1"), id("source:s2")]);
    for (q, kind) in [
        ("question:q", json!({"type": "boolean"})),
        ("question:f", json!({"type": "forecast"})),
    ] {
        let question: Question =
            serde_json::from_value(json!({"id": q, "text": "?", "kind": kind})).unwrap();
        k.questions.insert(id(q), question);
    }
    for c in [
        claim(
            "claim:c1",
            "question:q",
            "source:s1",
            "asserts",
            "at least 7,000",
        ),
        claim(
            "claim:c2",
            "question:q",
            "source:s2",
            "denies",
            "Moscow denies it",
        ),
        claim(
            "claim:fc",
            "question:f",
            "source:s1",
            "forecasts",
            "expected this month",
        ),
    ] {
        k.claims.insert(c.id.clone(), c);
    }
    k.assessments.insert(id("assessment:a1"));
    for name in [
        "report:r",
        "source:s1",
        "source:s2",
        "question:q",
        "question:f",
        "claim:c1",
        "claim:c2",
        "claim:fc",
        "assessment:a1",
    ] {
        k.markings.insert(id(name), marking(name));
    }
    k
}

fn run(bundle: &Value, known: &KnownEntities) -> Result<ValidatedBundle, BundleErrors> {
    let bytes = serde_json::to_vec(bundle).unwrap();
    let parsed: Bundle = parse_bundle("b.json", &bytes).unwrap();
    validate("b.json", parsed, known)
}

fn green(section: &str, entity: Value) -> Value {
    json!({"version": 1, "marking": "TLP:GREEN", section: [entity]})
}

/// Every kind of reference, each to a recorded entity: (bundle, path, referenced entity,
/// referring entity as the error names it).
fn cases() -> Vec<(Value, &'static str, &'static str, &'static str)> {
    let new_claim = json!({
        "id": "claim:new", "report": "report:r", "question": "question:q", "speaker": "source:s1",
        "via": "source:s2", "stance": "asserts", "quote": quote("at least 7,000"), "credibility": 2
    });
    vec![
        (
            green("claims", new_claim.clone()),
            "/claims/0/question",
            "question:q",
            "claim `claim:new`",
        ),
        (
            green("claims", new_claim.clone()),
            "/claims/0/speaker",
            "source:s1",
            "claim `claim:new`",
        ),
        (
            green("claims", new_claim.clone()),
            "/claims/0/via",
            "source:s2",
            "claim `claim:new`",
        ),
        (
            green("claims", new_claim),
            "/claims/0/report",
            "report:r",
            "claim `claim:new`",
        ),
        (
            green(
                "relations",
                json!({"kind": "disputes", "from": "claim:c2", "to": "claim:c1"}),
            ),
            "/relations/0/from",
            "claim:c2",
            "relation `disputes|claim:c2|claim:c1`",
        ),
        (
            green(
                "relations",
                json!({"kind": "disputes", "from": "claim:c2", "to": "claim:c1"}),
            ),
            "/relations/0/to",
            "claim:c1",
            "relation `disputes|claim:c2|claim:c1`",
        ),
        (
            green(
                "relations",
                json!({"kind": "retracts", "from": "report:r", "to": "claim:c1"}),
            ),
            "/relations/0/from",
            "report:r",
            "relation `retracts|report:r|claim:c1`",
        ),
        (
            green(
                "assessments",
                json!({"id": "assessment:new", "question": "question:q",
                "confidence": "low", "rationale": "r", "based_on": ["claim:c1"]}),
            ),
            "/assessments/0/question",
            "question:q",
            "assessment `assessment:new`",
        ),
        (
            green(
                "assessments",
                json!({"id": "assessment:new", "question": "question:q",
                "confidence": "low", "rationale": "r", "based_on": ["claim:c1"]}),
            ),
            "/assessments/0/based_on/0",
            "claim:c1",
            "assessment `assessment:new`",
        ),
        (
            green(
                "resolutions",
                json!({"forecast": "claim:fc", "outcome": true, "by": "assessment:a1"}),
            ),
            "/resolutions/0/forecast",
            "claim:fc",
            "the resolution of `claim:fc`",
        ),
        (
            green(
                "resolutions",
                json!({"forecast": "claim:fc", "outcome": true, "by": "assessment:a1"}),
            ),
            "/resolutions/0/by",
            "assessment:a1",
            "the resolution of `claim:fc`",
        ),
        (
            green(
                "interests",
                json!({"id": "interest:s1/q", "source": "source:s1",
                "question": "question:q", "rationale": "a party"}),
            ),
            "/interests/0/source",
            "source:s1",
            "interest designation `interest:s1/q`",
        ),
        (
            green(
                "interests",
                json!({"id": "interest:s1/q", "source": "source:s1",
                "question": "question:q", "rationale": "a party"}),
            ),
            "/interests/0/question",
            "question:q",
            "interest designation `interest:s1/q`",
        ),
        (
            green(
                "reliability",
                json!({"id": "reliability:s1/new", "source": "source:s1", "rating": "B"}),
            ),
            "/reliability/0/source",
            "source:s1",
            "reliability assessment `reliability:s1/new`",
        ),
        (
            green(
                "sources",
                json!({"id": "source:new", "name": "N", "kind": "person",
                "affiliation": "source:s2"}),
            ),
            "/sources/0/affiliation",
            "source:s2",
            "source `source:new`",
        ),
    ]
}

#[test]
fn each_reference_to_a_recorded_entity_marked_above_the_bundle_is_refused() {
    for (bundle, path, target, referrer) in cases() {
        // Everything recorded GREEN: the GREEN bundle is valid.
        run(&bundle, &recorded("nothing"))
            .unwrap_or_else(|e| panic!("{path}: a valid bundle is refused: {e:?}"));
        // The referenced entity recorded AMBER: exactly one error, at the reference.
        let errors = run(&bundle, &recorded(target)).expect_err(path).0;
        assert_eq!(errors.len(), 1, "{path}: {errors:#?}");
        let e = &errors[0];
        assert_eq!(e.file, "b.json");
        assert_eq!(e.path, path, "{errors:#?}");
        for needle in [target, referrer, "TLP:GREEN", "TLP:AMBER"] {
            assert!(
                e.reason.contains(needle),
                "{path}: {:?} lacks {needle:?}",
                e.reason
            );
        }
        assert!(
            e.reason
                .contains("set the bundle's `marking` to TLP:AMBER or stricter"),
            "{path}: {:?}",
            e.reason
        );
        // Marked AMBER (or stricter) itself, the bundle is valid again.
        for m in ["TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED"] {
            let mut b = bundle.clone();
            b["marking"] = json!(m);
            run(&b, &recorded(target)).unwrap_or_else(|e| panic!("{path} at {m}: {e:?}"));
        }
    }
}

#[test]
fn a_recorded_entity_of_unknown_marking_is_not_checked() {
    let (bundle, _, target, _) = cases().swap_remove(0);
    let mut known = recorded(target);
    known.markings.remove(&id(target));
    run(&bundle, &known).unwrap();
}

#[test]
fn entities_of_an_earlier_file_carry_their_marking_to_later_files() {
    // An AMBER question published in one file; a GREEN claim on it in the next.
    let first = json!({"version": 1, "marking": "TLP:AMBER",
        "questions": [{"id": "question:new", "text": "?", "kind": {"type": "boolean"}}]});
    let mut known = recorded("nothing");
    let v = run(&first, &known).unwrap();
    known.remember(&v);
    assert_eq!(
        known.markings.get(&id("question:new")),
        Some(&Marking::Amber)
    );
    let second = green(
        "claims",
        json!({"id": "claim:new", "report": "report:r", "question": "question:new",
            "speaker": "source:s1", "stance": "asserts", "quote": quote("at least 7,000"),
            "credibility": 2}),
    );
    let errors = run(&second, &known).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].path, "/claims/0/question");
}

#[test]
fn a_relation_from_the_bundles_own_stricter_report_is_refused() {
    // The bundle's report is RED, its other entities GREEN: a relation from that report
    // would show GREEN readers that the report exists.
    let b = json!({"version": 1, "marking": "TLP:GREEN",
        "report": {"id": "report:secret", "publisher": "W", "title": "T",
            "published": "2024-03-19T00:00:00Z", "retrieved": "2024-03-19T00:00:00Z",
            "language": "en", "marking": "TLP:RED", "text": TEXT},
        "relations": [{"kind": "retracts", "from": "report:secret", "to": "claim:c1"}]});
    let errors = run(&b, &recorded("nothing")).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].path, "/relations/0/from");
    assert!(
        errors[0].reason.contains("marked in this bundle TLP:RED"),
        "{errors:#?}"
    );
}
