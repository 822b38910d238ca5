//! Validation of bundles: every rule, with the JSON Pointer path of the error.

#![allow(clippy::unwrap_used)]

use dossier_model::{
    Bundle, BundleErrors, Claim, ClaimValue, DomainEvent, EntityId, Icd203Band, KnownEntities,
    KnownReport, MAPPING_V1, MAPPING_V2, MarkedEvent, Marking, Question, QuestionKind, Stance,
    ValidatedBundle, WarningKind, parse_bundle, validate,
};
use serde_json::{Value, json};

/// The report text: a Korean headline followed by an English summary (offsets count characters).
const TEXT: &str = "신원식 국방부 장관: 북한이 러시아에 컨테이너 최소 7,000개를 보냈다.\n\
Defence minister Shin Won-sik said North Korea has sent at least 7,000 containers to Russia \
since July 2023, up from his estimate of about 6,700 at the end of February. He said a \
reconnaissance satellite launch is expected this month, and that it is highly likely the missiles \
were inspected before shipment. Moscow and Pyongyang deny any arms deals.";

/// Character span of `needle` in `TEXT`.
fn span(needle: &str) -> (usize, usize) {
    let byte = TEXT.find(needle).expect("needle in text");
    let start = TEXT[..byte].chars().count();
    (start, start + needle.chars().count())
}

fn quote(needle: &str) -> Value {
    let (start, end) = span(needle);
    json!({"text": needle, "start": start, "end": end})
}

fn id(s: &str) -> EntityId {
    EntityId::parse(s).unwrap()
}

/// A complete, valid bundle.
fn base() -> Value {
    json!({
        "$schema": "../docs/bundle.schema.json",
        "version": 1,
        "marking": "TLP:GREEN",
        "report": {
            "id": "report:example/2024-03-19-dprk-containers",
            "publisher": "Example Wire",
            "title": "DPRK arms shipments to Russia",
            "published": "2024-03-20T02:04:00+09:00",
            "retrieved": "2024-03-19T18:00:00Z",
            "url": "https://example.invalid/dprk",
            "language": "en",
            "marking": "TLP:CLEAR",
            "text": TEXT
        },
        "sources": [
            {"id": "source:rok-mnd", "name": "ROK Ministry of National Defense", "kind": "government"},
            {"id": "source:shin-won-sik", "name": "Shin Won-sik", "kind": "person",
             "aliases": ["신원식"], "affiliation": "source:rok-mnd"},
            {"id": "source:kremlin", "name": "Kremlin", "kind": "government"}
        ],
        "reliability": [
            {"id": "reliability:shin-won-sik/2024-03", "source": "source:shin-won-sik", "rating": "B",
             "scope": "DPRK arms transfers"}
        ],
        "questions": [
            {"id": "question:dprk-russia/containers", "text": "How many containers has the DPRK shipped to Russia since July 2023?",
             "kind": {"type": "quantity", "unit": "containers"}},
            {"id": "question:dprk/satellite-2024-03", "text": "Will the DPRK launch a reconnaissance satellite in March 2024?",
             "kind": {"type": "forecast", "event": "reconnaissance satellite launch", "window": {"from": "2024-03", "until": "2024-03"}}},
            {"id": "question:dprk-russia/transfers", "text": "Did the DPRK transfer arms to Russia?", "kind": {"type": "boolean"}},
            {"id": "question:dprk-russia/mode", "text": "How are shipments moving?",
             "kind": {"type": "categorical", "categories": ["sea", "rail"]}}
        ],
        "claims": [
            {"id": "claim:rok-mnd/containers-2024-03", "question": "question:dprk-russia/containers",
             "speaker": "source:shin-won-sik", "stance": "asserts",
             "value": {"quantity": {"value": 7000, "qualifier": "at_least", "unit": "containers"}},
             "valid_time": {"from": "2023-07", "until": "2024-03-18"},
             "quote": quote("최소 7,000개"), "credibility": 2},
            {"id": "claim:rok-mnd/containers-2024-02", "question": "question:dprk-russia/containers",
             "speaker": "source:shin-won-sik", "stance": "asserts",
             "value": {"quantity": {"value": 6700, "qualifier": "approximately"}},
             "valid_time": {"from": "2023-07", "until": "2024-02"},
             "quote": quote("about 6,700"), "credibility": 2},
            {"id": "claim:rok-mnd/satellite-2024-03", "question": "question:dprk/satellite-2024-03",
             "speaker": "source:shin-won-sik", "stance": "forecasts",
             "quote": quote("reconnaissance satellite launch is expected this month"), "credibility": 3,
             "likelihood": {"wording": "expected"}},
            {"id": "claim:kremlin/denial", "question": "question:dprk-russia/transfers",
             "speaker": "source:kremlin", "via": "source:shin-won-sik", "stance": "denies",
             "value": {"boolean": true}, "quote": quote("Moscow and Pyongyang deny any arms deals"), "credibility": 6}
        ],
        "relations": [
            {"kind": "supersedes", "from": "claim:rok-mnd/containers-2024-03", "to": "claim:rok-mnd/containers-2024-02"},
            {"kind": "disputes", "from": "claim:kremlin/denial", "to": "claim:rok-mnd/containers-2024-03"}
        ],
        "assessments": [
            {"id": "assessment:dprk-russia/containers-2024-03", "question": "question:dprk-russia/containers",
             "value": {"range": {"low": 6700, "high": 7500, "unit": "containers"}}, "likelihood": "likely",
             "confidence": "moderate", "rationale": "Consistent official figures revised upward.",
             "based_on": ["claim:rok-mnd/containers-2024-03", "claim:rok-mnd/containers-2024-02"]}
        ]
    })
}

fn run(bundle: &Value, known: &KnownEntities) -> Result<ValidatedBundle, BundleErrors> {
    let bytes = serde_json::to_vec_pretty(bundle).unwrap();
    let parsed: Bundle = parse_bundle("bundle.json", &bytes).expect("parses");
    validate("bundle.json", parsed, known)
}

/// Validates and returns the errors' paths, asserting every error names the file.
fn error_paths(bundle: &Value, known: &KnownEntities) -> Vec<(String, String)> {
    let errs = run(bundle, known).expect_err("bundle should be rejected");
    errs.iter()
        .map(|e| {
            assert_eq!(e.file, "bundle.json");
            (e.path.clone(), e.reason.clone())
        })
        .collect()
}

/// Asserts validation fails with exactly one error at `path` whose reason contains `needle`.
fn assert_one_error(bundle: &Value, path: &str, needle: &str) {
    assert_one_error_with(bundle, &KnownEntities::default(), path, needle);
}

fn assert_one_error_with(bundle: &Value, known: &KnownEntities, path: &str, needle: &str) {
    let errs = error_paths(bundle, known);
    assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
    assert_eq!(errs[0].0, path, "{errs:#?}");
    assert!(
        errs[0].1.contains(needle),
        "reason {:?} lacks {needle:?}",
        errs[0].1
    );
}

#[test]
fn valid_bundle_produces_events_in_order() {
    let v = run(&base(), &KnownEntities::default()).expect("valid");
    let types: Vec<&str> = v.events.iter().map(|e| e.event.event_type()).collect();
    assert_eq!(
        types,
        [
            "report.recorded",
            "source.registered",
            "source.registered",
            "source.registered",
            "source.reliability_assessed",
            "question.posed",
            "question.posed",
            "question.posed",
            "question.posed",
            "claim.recorded",
            "claim.recorded",
            "claim.recorded",
            "claim.recorded",
            "claim.related",
            "claim.related",
            "assessment.recorded",
        ]
    );
    assert_eq!(v.events[0].marking, Marking::Clear);
    assert!(v.events[1..].iter().all(|e| e.marking == Marking::Green));
    assert_eq!(v.texts, vec![TEXT.to_owned()]);

    let DomainEvent::Report(report) = &v.events[0].event else {
        panic!("report first")
    };
    assert_eq!(
        report.content_hash,
        blake3::hash(TEXT.as_bytes()).to_hex().to_string()
    );
    assert_eq!(report.text_chars, TEXT.chars().count() as u64);
    assert_eq!(report.published.to_string(), "2024-03-19T17:04:00Z");

    let claims: Vec<&Claim> = v
        .events
        .iter()
        .filter_map(|e| match &e.event {
            DomainEvent::Claim(c) => Some(c),
            _ => None,
        })
        .collect();
    assert!(
        claims
            .iter()
            .all(|c| c.report == Some(id("report:example/2024-03-19-dprk-containers")))
    );
    let likelihood = claims[2].likelihood.as_ref().unwrap();
    assert_eq!(likelihood.wording, "expected");
    assert_eq!(likelihood.band, Some(Icd203Band::Likely));
    // "expected" is in the first mapping, so it is stamped with it, as before the second.
    assert_eq!(likelihood.mapping.as_deref(), Some(MAPPING_V1));
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    assert_eq!(
        v.events[13].event.entity_key(),
        "supersedes|claim:rok-mnd/containers-2024-03|claim:rok-mnd/containers-2024-02"
    );
}

#[test]
fn events_round_trip_through_encode_and_decode() {
    let v = run(&base(), &KnownEntities::default()).unwrap();
    for e in &v.events {
        let body = e.event.encode_body();
        assert_eq!(body, e.event.encode_body(), "deterministic");
        let back =
            DomainEvent::decode(e.event.event_type(), DomainEvent::SCHEMA_VERSION, &body).unwrap();
        assert_eq!(back, e.event);
    }
}

#[test]
fn reformatted_bundle_yields_identical_bodies() {
    let mut b = base();
    b["report"]["published"] = json!("2024-03-19T17:04:00.000Z");
    b["claims"][0]["valid_time"]["until"] = json!("2024-03-18");
    let compact = serde_json::to_vec(&b).unwrap();
    let one = validate(
        "a",
        parse_bundle("a", &compact).unwrap(),
        &KnownEntities::default(),
    )
    .unwrap();
    let two = run(&base(), &KnownEntities::default()).unwrap();
    let bodies = |v: &ValidatedBundle| {
        v.events
            .iter()
            .map(|e| e.event.encode_body())
            .collect::<Vec<_>>()
    };
    assert_eq!(bodies(&one), bodies(&two));
}

#[test]
fn korean_quote_span_counts_characters() {
    let (start, end) = span("최소 7,000개");
    assert_eq!((start, end), (26, 35), "offsets are characters, not bytes");
    let mut b = base();
    b["claims"][0]["quote"] = json!({"text": "최소 7,000개", "start": 26, "end": 35});
    assert!(run(&b, &KnownEntities::default()).is_ok());

    b["claims"][0]["quote"] = json!({"text": "최소 7,000개", "start": 27, "end": 36});
    let errs = error_paths(&b, &KnownEntities::default());
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].0, "/claims/0/quote/text");
    assert!(
        errs[0].1.contains("which hold \"소 7,000개를\""),
        "{}",
        errs[0].1
    );
    assert!(
        errs[0].1.contains("occurs at characters 26..35"),
        "{}",
        errs[0].1
    );

    // Byte offsets are a common mistake: they point past the Korean headline.
    let byte = TEXT.find("최소").unwrap();
    b["claims"][0]["quote"] = json!({"text": "최소 7,000개", "start": byte, "end": byte + 9});
    assert_eq!(
        error_paths(&b, &KnownEntities::default())[0].0,
        "/claims/0/quote/text"
    );
}

#[test]
fn quote_span_bounds() {
    let len = TEXT.chars().count();
    let mut b = base();
    b["claims"][1]["quote"] = json!({"text": "x", "start": len, "end": len + 1});
    assert_one_error(&b, "/claims/1/quote/end", &format!("({len} characters"));
    b["claims"][1]["quote"] = json!({"text": "x", "start": 5, "end": 5});
    assert_one_error(&b, "/claims/1/quote/end", "must be greater than start");
    b["claims"][1]["quote"] = json!({"text": "", "start": 0, "end": 1});
    let errs = error_paths(&b, &KnownEntities::default());
    assert!(
        errs.iter()
            .any(|(p, r)| p == "/claims/1/quote/text" && r.contains("must not be empty")),
        "{errs:#?}"
    );
}

#[test]
fn long_mismatch_is_truncated() {
    let mut b = base();
    b["claims"][1]["quote"] = json!({"text": "y".repeat(100), "start": 40, "end": 140});
    let errs = error_paths(&b, &KnownEntities::default());
    assert!(errs[0].1.contains('…'), "{}", errs[0].1);
    assert!(errs[0].1.len() < 400);
}

#[test]
fn version_and_empty_and_too_many() {
    let mut b = base();
    b["version"] = json!(2);
    assert_one_error(&b, "/version", "unsupported bundle version 2");

    assert_one_error(
        &json!({"version": 1, "marking": "TLP:CLEAR"}),
        "",
        "defines nothing",
    );

    let sources: Vec<Value> = (0..1000)
        .map(|i| json!({"id": format!("source:s{i}"), "name": "n", "kind": "other"}))
        .collect();
    let b = json!({"version": 1, "marking": "TLP:CLEAR", "sources": sources});
    assert_one_error(&b, "", "split the bundle");
}

#[test]
fn marking_is_required_for_entities() {
    let mut b = base();
    b.as_object_mut().unwrap().remove("marking");
    let v = run(&b, &KnownEntities::default()).unwrap();
    assert!(
        v.events.iter().all(|e| e.marking == Marking::Clear),
        "report marking is the default"
    );

    let b = json!({"version": 1, "sources": [{"id": "source:x", "name": "X", "kind": "other"}]});
    assert_one_error(&b, "/marking", "no marking");
}

#[test]
fn ids_must_have_the_right_kind() {
    let mut b = base();
    b["claims"][0]["question"] = json!("source:kremlin");
    b["claims"][1]["speaker"] = json!("question:dprk-russia/containers");
    b["reliability"][0]["id"] = json!("source:shin-won-sik-rating");
    b["assessments"][0]["based_on"][1] = json!("assessment:x");
    let errs = error_paths(&b, &KnownEntities::default());
    let paths: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
    assert!(paths.contains(&"/claims/0/question"), "{errs:#?}");
    assert!(paths.contains(&"/claims/1/speaker"), "{errs:#?}");
    assert!(paths.contains(&"/reliability/0/id"), "{errs:#?}");
    assert!(paths.contains(&"/assessments/0/based_on/1"), "{errs:#?}");
    let (_, reason) = errs
        .iter()
        .find(|(p, _)| p == "/claims/0/question")
        .unwrap();
    assert!(
        reason.contains("must be a `question:` id, but `source:kremlin` is a source id"),
        "{reason}"
    );
}

#[test]
fn duplicates_are_rejected() {
    let mut b = base();
    let dup = b["sources"][2].clone();
    b["sources"].as_array_mut().unwrap().push(dup);
    assert_one_error(
        &b,
        "/sources/3/id",
        "duplicate id `source:kremlin`: already defined at /sources/2/id",
    );

    let mut b = base();
    let dup = b["relations"][1].clone();
    b["relations"].as_array_mut().unwrap().push(dup);
    assert_one_error(
        &b,
        "/relations/2",
        "duplicate relation `disputes|claim:kremlin/denial|claim:rok-mnd/containers-2024-03`",
    );
}

#[test]
fn dangling_references_and_known_entities() {
    let mut b = base();
    b["claims"][3]["speaker"] = json!("source:dprk-kcna");
    b["sources"][1]["affiliation"] = json!("source:nowhere");
    b["reliability"][0]["source"] = json!("source:nobody");
    b["relations"][1]["to"] = json!("claim:missing");
    b["assessments"][0]["question"] = json!("question:missing");
    let errs = error_paths(&b, &KnownEntities::default());
    let paths: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/sources/1/affiliation",
            "/reliability/0/source",
            "/claims/3/speaker",
            "/relations/1/to",
            "/assessments/0/question",
        ],
        "{errs:#?}"
    );
    assert!(
        errs[2].1.contains(
            "`source:dprk-kcna` is not defined in this bundle nor recorded in the ledger"
        )
    );

    let parsed: Bundle = serde_json::from_value(b.clone()).unwrap();
    assert_eq!(
        parsed.external_references(),
        vec![
            id("claim:missing"),
            id("question:missing"),
            id("source:dprk-kcna"),
            id("source:nobody"),
            id("source:nowhere"),
        ]
    );

    // With those entities in the ledger, only the missing claim's relation remains... and the claim too.
    let mut known = KnownEntities::default();
    known.sources.extend([
        id("source:dprk-kcna"),
        id("source:nowhere"),
        id("source:nobody"),
    ]);
    known.questions.insert(
        id("question:missing"),
        Question {
            id: id("question:missing"),
            text: "q".into(),
            kind: QuestionKind::Quantity {
                unit: "containers".into(),
            },
            about: None,
        },
    );
    let errs = error_paths(&b, &known);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].0, "/relations/1/to");
}

#[test]
fn claim_needs_a_report() {
    let mut b = base();
    let claim = b["claims"][3].clone();
    let b2 = json!({"version": 1, "marking": "TLP:AMBER", "claims": [claim]});
    let mut known = KnownEntities::default();
    known
        .sources
        .extend([id("source:kremlin"), id("source:shin-won-sik")]);
    known.questions.insert(
        id("question:dprk-russia/transfers"),
        Question {
            id: id("question:dprk-russia/transfers"),
            text: "q".into(),
            kind: QuestionKind::Boolean,
            about: None,
        },
    );
    assert_one_error_with(&b2, &known, "/claims/0/report", "names no report");

    // Citing a recorded report whose text is available works, and quotes are checked against it.
    let report_id = id("report:example/2024-03-19-dprk-containers");
    let entry: dossier_model::ReportEntry = serde_json::from_value(b["report"].take()).unwrap();
    known.reports.insert(
        report_id.clone(),
        KnownReport {
            report: entry.to_report(),
            text: Some(TEXT.into()),
        },
    );
    let mut b3 = b2.clone();
    b3["claims"][0]["report"] = json!(report_id.as_str());
    let v = run(&b3, &known).unwrap();
    assert_eq!(v.events.len(), 1);
    assert!(v.texts.is_empty());
    assert_eq!(v.events[0].marking, Marking::Amber);

    b3["claims"][0]["quote"]["start"] = json!(0);
    assert_one_error_with(&b3, &known, "/claims/0/quote/text", "does not match");

    // A redacted text cannot be checked.
    known.reports.get_mut(&report_id).unwrap().text = None;
    assert_one_error_with(&b3, &known, "/claims/0/quote", "not in the content store");
}

#[test]
fn supersedes_rules() {
    let mut b = base();
    b["relations"][0]["from"] = json!("claim:kremlin/denial");
    assert_one_error(&b, "/relations/0", "use kind `disputes`");

    let mut b = base();
    b["relations"][0]["to"] = json!("claim:rok-mnd/satellite-2024-03");
    assert_one_error(&b, "/relations/0", "same question");

    let mut b = base();
    b["relations"][0]["to"] = b["relations"][0]["from"].clone();
    assert_one_error(&b, "/relations/0/to", "cannot supersedes itself");

    let mut b = base();
    b["relations"][0]["from"] = json!("claim:unknown");
    assert_one_error(&b, "/relations/0/from", "not defined");
}

#[test]
fn relation_kinds_and_independence() {
    let mut b = base();
    b["relations"][1]["kind"] = json!("corroborates");
    assert_one_error(&b, "/relations/1/independence", "needs `independence`");
    b["relations"][1]["independence"] = json!("same_primary_source");
    assert!(run(&b, &KnownEntities::default()).is_ok());

    let mut b = base();
    b["relations"][1]["independence"] = json!("independent");
    assert_one_error(
        &b,
        "/relations/1/independence",
        "only applies to `corroborates`",
    );

    // A report may retract a claim; only for retracts.
    let mut b = base();
    b["relations"][1] = json!({"kind": "retracts", "from": "report:example/2024-03-19-dprk-containers", "to": "claim:kremlin/denial"});
    assert!(run(&b, &KnownEntities::default()).is_ok());
    b["relations"][1]["kind"] = json!("disputes");
    assert_one_error(&b, "/relations/1/from", "must be a `claim:` id");
}

#[test]
fn values_must_fit_the_question() {
    let cases: [(usize, Value, &str, &str); 7] = [
        (
            3,
            json!({"quantity": {"value": 1}}),
            "/claims/3/value",
            "boolean question, which takes a boolean value or none",
        ),
        (
            0,
            json!({"quantity": {"value": 7000, "unit": "tons"}}),
            "/claims/0/value/quantity/unit",
            "differs from the unit \"containers\"",
        ),
        (
            0,
            json!({"range": {"low": 7000, "high": 6000}}),
            "/claims/0/value/range",
            "above high",
        ),
        (
            0,
            json!({"quantity": {"value": -1}}),
            "/claims/0/value/quantity/value",
            "finite number ≥ 0",
        ),
        (
            0,
            json!({"category": "rail"}),
            "/claims/0/value",
            "takes a quantity or a range",
        ),
        (
            2,
            json!({"quantity": {"value": 1}}),
            "/claims/2/value",
            "forecast question",
        ),
        (
            1,
            json!({"boolean": false}),
            "/claims/1/value",
            "quantity question",
        ),
    ];
    for (claim, value, path, needle) in cases {
        let mut b = base();
        b["claims"][claim]["value"] = value;
        assert_one_error(&b, path, needle);
    }

    let mut b = base();
    b["claims"][3]["question"] = json!("question:dprk-russia/mode");
    b["claims"][3]["value"] = json!({"category": "truck"});
    assert_one_error(&b, "/claims/3/value/category", "not one of the categories");
    b["claims"][3]["value"] = json!({"category": "rail"});
    assert!(run(&b, &KnownEntities::default()).is_ok());

    let mut b = base();
    b["assessments"][0]["value"] = json!({"boolean": true});
    assert_one_error(&b, "/assessments/0/value", "quantity question");
}

#[test]
fn forecasts_only_on_forecast_questions() {
    let mut b = base();
    b["claims"][0]["stance"] = json!("forecasts");
    assert_one_error(&b, "/claims/0/stance", "only for forecast questions");
    let mut b = base();
    b["claims"][2]["stance"] = json!("asserts");
    b["claims"][2]["value"] = json!({"boolean": true});
    assert!(run(&b, &KnownEntities::default()).is_ok());
}

#[test]
fn likelihood_wording_the_mapping_does_not_know_is_a_warning() {
    let mut b = base();
    b["claims"][2]["likelihood"] = json!({"wording": "most likely"});
    let v = run(&b, &KnownEntities::default()).unwrap();
    assert_eq!(v.warnings.len(), 1, "{:?}", v.warnings);
    let w = &v.warnings[0];
    assert_eq!(w.path, "/claims/2/likelihood/wording");
    assert_eq!(
        w.kind,
        WarningKind::UnknownLikelihood {
            wording: "most likely".into(),
            mapping: MAPPING_V2.into()
        }
    );
    assert!(w.to_string().contains("warning"), "{w}");
    let DomainEvent::Claim(c) = &v.events[11].event else {
        panic!()
    };
    let l = c.likelihood.as_ref().unwrap();
    assert_eq!((l.band, l.mapping.as_deref()), (None, Some(MAPPING_V2)));

    // A wording new in the second mapping gets its band, stamped with the second mapping.
    b["claims"][2]["likelihood"] = json!({"wording": "Probably not"});
    let v = run(&b, &KnownEntities::default()).unwrap();
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    let DomainEvent::Claim(c) = &v.events[11].event else {
        panic!()
    };
    let l = c.likelihood.as_ref().unwrap();
    assert_eq!(
        (l.band, l.mapping.as_deref()),
        (Some(Icd203Band::Unlikely), Some(MAPPING_V2))
    );

    // A band given with any wording: no warning, stamped as it always was.
    b["claims"][2]["likelihood"] = json!({"wording": "might well", "band": "roughly_even_chance"});
    let v = run(&b, &KnownEntities::default()).unwrap();
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    let DomainEvent::Claim(c) = &v.events[11].event else {
        panic!()
    };
    let l = c.likelihood.as_ref().unwrap();
    assert_eq!(
        (l.band, l.mapping.as_deref()),
        (Some(Icd203Band::RoughlyEvenChance), Some(MAPPING_V1))
    );

    // The analyst's band wins over the mapping.
    b["claims"][2]["likelihood"] = json!({"wording": "highly likely", "band": "almost_certain"});
    let v = run(&b, &KnownEntities::default()).unwrap();
    let DomainEvent::Claim(c) = &v.events[11].event else {
        panic!()
    };
    assert_eq!(
        c.likelihood.as_ref().unwrap().band,
        Some(Icd203Band::AlmostCertain)
    );

    b["claims"][2]["likelihood"] = json!({"wording": "likely", "mapping": "other/2"});
    assert_one_error(&b, "/claims/2/likelihood/mapping", "unknown mapping");
}

#[test]
fn an_unrated_speaker_contradicted_by_a_rated_one_is_a_warning() {
    let mut b = base();
    // The Kremlin (registered here, unrated) denies transfers; Shin Won-sik (rated B) asserts them.
    b["claims"][3]["via"] = Value::Null;
    b["claims"].as_array_mut().unwrap().push(json!(
        {"id": "claim:shin/transfers", "question": "question:dprk-russia/transfers",
         "speaker": "source:shin-won-sik", "stance": "asserts",
         "quote": quote("about 6,700"), "credibility": 2}));
    let v = run(&b, &KnownEntities::default()).unwrap();
    assert_eq!(v.warnings.len(), 1, "{:?}", v.warnings);
    assert_eq!(v.warnings[0].path, "/claims/3/speaker");
    assert_eq!(
        v.warnings[0].kind,
        WarningKind::UnratedSpeakerDisagrees {
            speaker: id("source:kremlin"),
            question: id("question:dprk-russia/transfers"),
            rated: id("source:shin-won-sik"),
        }
    );

    // Rated F ("cannot be judged"): the analyst has looked, nothing to warn about.
    b["reliability"].as_array_mut().unwrap().push(json!(
        {"id": "reliability:kremlin/1", "source": "source:kremlin", "rating": "F"}));
    let v = run(&b, &KnownEntities::default()).unwrap();
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
}

#[test]
fn text_fields_and_caps() {
    let cases: [(&str, Value, &str, &str); 9] = [
        (
            "/sources/0/name",
            json!("  "),
            "/sources/0/name",
            "must not be empty",
        ),
        (
            "/sources/1/aliases/0",
            json!(""),
            "/sources/1/aliases/0",
            "must not be empty",
        ),
        (
            "/report/title",
            json!("t".repeat(1001)),
            "/report/title",
            "1001 characters long; at most 1000",
        ),
        (
            "/report/url",
            json!("ftp://example.invalid/x"),
            "/report/url",
            "http:// or https://",
        ),
        ("/report/language", json!(""), "/report/language", "BCP 47"),
        (
            "/report/language",
            json!("en_US"),
            "/report/language",
            "BCP 47",
        ),
        (
            "/assessments/0/rationale",
            json!("r".repeat(10_001)),
            "/assessments/0/rationale",
            "at most 10000",
        ),
        (
            "/questions/0/text",
            json!(""),
            "/questions/0/text",
            "must not be empty",
        ),
        (
            "/questions/3/kind/categories/0",
            json!(" "),
            "/questions/3/kind/categories/0",
            "must not be empty",
        ),
    ];
    for (pointer, value, path, needle) in cases {
        let mut b = base();
        *b.pointer_mut(pointer).unwrap() = value;
        assert_one_error(&b, path, needle);
    }

    let mut b = base();
    let long: String = "가".repeat(2001);
    let text = format!("{TEXT}{long}");
    b["report"]["text"] = json!(text);
    let start = TEXT.chars().count();
    b["claims"][1]["quote"] = json!({"text": long, "start": start, "end": start + 2001});
    assert_one_error(
        &b,
        "/claims/1/quote/text",
        "2001 characters long; at most 2000",
    );

    let mut b = base();
    b["relations"][0]["note"] = json!("");
    assert_one_error(&b, "/relations/0/note", "must not be empty");
}

#[test]
fn valid_time_rules() {
    let mut b = base();
    b["claims"][0]["valid_time"] = json!({"from": "2024-04", "until": "2024-03"});
    assert_one_error(&b, "/claims/0/valid_time", "reversed");
    b["claims"][0]["valid_time"] = json!({});
    assert_one_error(&b, "/claims/0/valid_time", "needs `from`, `until` or both");
    b["claims"][0]["valid_time"] = json!({"until": "2024-03-18T23:00:00+09:00"});
    assert!(run(&b, &KnownEntities::default()).is_ok());
    // retrieved before published is allowed (pre-release copies).
    let mut b = base();
    b["report"]["retrieved"] = json!("2024-03-01T00:00:00Z");
    assert!(run(&b, &KnownEntities::default()).is_ok());
}

#[test]
fn resolution_rules() {
    let resolve = |forecast: &str, by: &str| {
        let mut b = base();
        b["resolutions"] = json!([{"forecast": forecast, "outcome": false, "by": by, "note": "no launch observed"}]);
        b
    };
    let ok = resolve(
        "claim:rok-mnd/satellite-2024-03",
        "assessment:dprk-russia/containers-2024-03",
    );
    let v = run(&ok, &KnownEntities::default()).unwrap();
    let last = v.events.last().unwrap();
    assert_eq!(last.event.event_type(), "forecast.resolved");
    assert_eq!(last.event.entity_key(), "claim:rok-mnd/satellite-2024-03");

    assert_one_error(
        &resolve("claim:rok-mnd/containers-2024-03", "claim:kremlin/denial"),
        "/resolutions/0/forecast",
        "only claims with stance `forecasts` can be resolved",
    );
    assert_one_error(
        &resolve("claim:rok-mnd/satellite-2024-03", "source:kremlin"),
        "/resolutions/0/by",
        "must be a `claim:` or `assessment:` id",
    );
    assert_one_error(
        &resolve(
            "claim:rok-mnd/satellite-2024-03",
            "claim:rok-mnd/satellite-2024-03",
        ),
        "/resolutions/0/by",
        "cannot resolve itself",
    );
    let mut known = KnownEntities::default();
    known
        .resolved_forecasts
        .insert(id("claim:rok-mnd/satellite-2024-03"));
    assert_one_error_with(
        &ok,
        &known,
        "/resolutions/0/forecast",
        "already resolved in the ledger",
    );

    let mut twice = ok.clone();
    let dup = twice["resolutions"][0].clone();
    twice["resolutions"].as_array_mut().unwrap().push(dup);
    assert_one_error(
        &twice,
        "/resolutions/1/forecast",
        "already resolved at /resolutions/0",
    );

    // A forecast recorded earlier, resolved by a claim in this bundle.
    let forecast: Claim = serde_json::from_value(base()["claims"][2].clone()).unwrap();
    let mut known = KnownEntities::default();
    let mut recorded = forecast.clone();
    recorded.id = id("claim:earlier/satellite");
    recorded.report = Some(id("report:earlier"));
    assert_eq!(recorded.stance, Stance::Forecasts);
    known.claims.insert(recorded.id.clone(), recorded);
    assert!(
        run(
            &resolve("claim:earlier/satellite", "claim:kremlin/denial"),
            &known
        )
        .is_ok()
    );
}

#[test]
fn all_errors_are_collected() {
    let mut b = base();
    b["claims"][3]["speaker"] = json!("source:nobody");
    b["claims"][1]["quote"]["start"] = json!(0);
    b["relations"][1]["independence"] = json!("unknown");
    b["assessments"][0]["rationale"] = json!("");
    let errs = run(&b, &KnownEntities::default()).unwrap_err();
    assert_eq!(errs.len(), 4, "{errs}");
    assert_eq!(errs.to_string().lines().count(), 4);
    assert!(
        errs.to_string()
            .starts_with("bundle.json: /claims/1/quote/text: "),
        "{errs}"
    );
}

#[test]
fn claim_value_variants_survive_validation() {
    let v = run(&base(), &KnownEntities::default()).unwrap();
    let DomainEvent::Claim(c) = &v.events[9].event else {
        panic!()
    };
    assert!(matches!(c.value, Some(ClaimValue::Quantity { value, .. }) if value == 7000.0));
    let body = String::from_utf8(v.events[9].event.encode_body()).unwrap();
    assert!(body.starts_with(r#"{"id":"claim:rok-mnd/containers-2024-03","report":"report:example/2024-03-19-dprk-containers","question":"#), "{body}");
    assert!(
        body.contains(
            r#""value":{"quantity":{"value":7000.0,"qualifier":"at_least","unit":"containers"}}"#
        ),
        "{body}"
    );
    assert!(
        body.contains(r#""valid_time":{"from":"2023-07","until":"2024-03-18"}"#),
        "{body}"
    );
}

#[test]
fn claims_may_not_be_marked_less_restrictively_than_their_report() {
    let mut b = base();
    b["report"]["marking"] = json!("TLP:AMBER");
    b["marking"] = json!("TLP:GREEN");
    let errors = error_paths(&b, &KnownEntities::default());
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|(path, reason)| path.starts_with("/claims/")
                && path.ends_with("/report")
                && reason.contains("TLP:AMBER")),
        "{errors:?}"
    );
    b["marking"] = json!("TLP:RED");
    assert!(
        run(&b, &KnownEntities::default()).is_ok(),
        "a stricter marking is fine"
    );
}

fn with_interest(designation: Value) -> Value {
    let mut b = base();
    b["interests"] = json!([designation]);
    b
}

#[test]
fn interest_designations_produce_their_own_event() {
    let b = with_interest(json!({
        "id": "interest:kremlin/transfers", "source": "source:kremlin",
        "question": "question:dprk-russia/transfers",
        "rationale": "Russia is a party to the transfers asked about.", "note": "see also Pyongyang"
    }));
    let v = run(&b, &KnownEntities::default()).expect("valid");
    let designated: Vec<(usize, &MarkedEvent)> = v
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.event.event_type() == "source.interest_designated")
        .collect();
    assert_eq!(designated.len(), 1);
    let (at, event) = designated[0];
    // After the questions, before the claims.
    assert_eq!(v.events[at - 1].event.event_type(), "question.posed");
    assert_eq!(v.events[at + 1].event.event_type(), "claim.recorded");
    assert_eq!(event.marking, Marking::Green);
    assert_eq!(event.event.schema_version(), 1);
    let body = event.event.encode_body();
    assert_eq!(
        DomainEvent::decode("source.interest_designated", 1, &body).unwrap(),
        event.event
    );
    assert_eq!(event.event.entity_key(), "interest:kremlin/transfers");
}

#[test]
fn interest_designations_need_a_defined_source_and_question_and_a_rationale() {
    let good = json!({
        "id": "interest:kremlin/transfers", "source": "source:kremlin",
        "question": "question:dprk-russia/transfers", "rationale": "A party."
    });

    let mut d = good.clone();
    d["source"] = json!("source:nobody");
    assert_one_error(
        &with_interest(d.clone()),
        "/interests/0/source",
        "`source:nobody` is not defined in this bundle nor recorded in the ledger",
    );
    // A recorded source will do.
    let mut known = KnownEntities::default();
    known.sources.insert(id("source:nobody"));
    run(&with_interest(d), &known).expect("a recorded source is a valid reference");

    let mut d = good.clone();
    d["question"] = json!("question:missing");
    assert_one_error(
        &with_interest(d.clone()),
        "/interests/0/question",
        "`question:missing` is not defined in this bundle nor recorded in the ledger",
    );
    let parsed: Bundle = serde_json::from_value(with_interest(d)).unwrap();
    assert_eq!(parsed.external_references(), vec![id("question:missing")]);

    let mut d = good.clone();
    d["question"] = json!("source:kremlin");
    assert_one_error(
        &with_interest(d),
        "/interests/0/question",
        "`question` must be a `question:` id, but `source:kremlin` is a source id",
    );

    let mut d = good.clone();
    d["id"] = json!("reliability:kremlin/transfers");
    assert_one_error(
        &with_interest(d),
        "/interests/0/id",
        "`id` must be a `interest:` id",
    );

    let mut d = good.clone();
    d["rationale"] = json!("  ");
    assert_one_error(
        &with_interest(d),
        "/interests/0/rationale",
        "must not be empty or blank",
    );

    let mut b = with_interest(good.clone());
    b["interests"].as_array_mut().unwrap().push(good.clone());
    assert_one_error(
        &b,
        "/interests/1/id",
        "duplicate id `interest:kremlin/transfers`: already defined at /interests/0/id",
    );

    // The rationale is required.
    let mut d = good;
    d.as_object_mut().unwrap().remove("rationale");
    let bytes = serde_json::to_vec(&with_interest(d)).unwrap();
    let errs = parse_bundle("bundle.json", &bytes).expect_err("rationale is required");
    assert!(
        errs.iter().any(|e| e.reason.contains("rationale")),
        "{errs:#?}"
    );
}
