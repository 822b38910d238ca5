//! The bundles in `examples/` are published in file-name order: each must parse and validate
//! against the entities recorded by the bundles before it, exactly as `dossier publish` would see them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dossier_model::{DomainEvent, KnownEntities, KnownReport, parse_bundle, validate};

fn example_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no example bundles in {}", dir.display());
    files
}

fn empty_known() -> KnownEntities {
    KnownEntities {
        sources: BTreeSet::new(),
        reports: BTreeMap::new(),
        questions: BTreeMap::new(),
        claims: BTreeMap::new(),
        assessments: BTreeSet::new(),
        resolved_forecasts: BTreeSet::new(),
        markings: BTreeMap::new(),
    }
}

/// A quote span that starts after a non-ASCII character (the Hangul name 신원식) is where
/// counting bytes instead of characters would go wrong.
fn starts_after_non_ascii(text: &str, start: u64) -> bool {
    let start = usize::try_from(start).expect("quote start fits in usize");
    text.chars().take(start).any(|c| !c.is_ascii())
}

/// Records a validated event in `known`, as the ledger would after publishing it.
fn remember(known: &mut KnownEntities, event: DomainEvent, report_text: Option<&String>) {
    match event {
        DomainEvent::Report(report) => {
            known.reports.insert(
                report.id.clone(),
                KnownReport {
                    report,
                    text: report_text.cloned(),
                },
            );
        }
        DomainEvent::Source(source) => {
            known.sources.insert(source.id);
        }
        DomainEvent::Question(question) => {
            known.questions.insert(question.id.clone(), question);
        }
        DomainEvent::Claim(claim) => {
            known.claims.insert(claim.id.clone(), claim);
        }
        DomainEvent::Assessment(assessment) => {
            known.assessments.insert(assessment.id);
        }
        DomainEvent::Resolution(resolution) => {
            known.resolved_forecasts.insert(resolution.forecast);
        }
        DomainEvent::Reliability(_) | DomainEvent::Interest(_) | DomainEvent::Relation(_) => {}
    }
}

/// The recorded events of the examples, as published before the policy `dossier-beliefs/3`
/// and the likelihood mapping `dossier-icd203/2`: per event its file, type, schema version,
/// event id, marking and exact body. Publishing an example again must be a no-op forever, so
/// this file is never regenerated: a change to it is a change to what the ledger already holds.
const GOLDEN_EVENTS: &str = include_str!("golden/example-events.json");

/// The events the examples produce today, in the shape of [`GOLDEN_EVENTS`].
fn example_events() -> serde_json::Value {
    let mut known = empty_known();
    let mut out = Vec::new();
    for path in example_files() {
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
        let bundle =
            parse_bundle(&name, &bytes).unwrap_or_else(|e| panic!("{name} does not parse:\n{e}"));
        let report_text = bundle.report.as_ref().map(|report| report.text.clone());
        let validated = validate(&name, bundle, &known)
            .unwrap_or_else(|e| panic!("{name} does not validate:\n{e}"));
        for marked in validated.events {
            let event_type = marked.event.event_type();
            let body = marked.event.encode_body();
            out.push(serde_json::json!({
                "file": name,
                "type": event_type,
                "schema": marked.event.schema_version(),
                "id": dossier_chain::event_id(event_type, &marked.event.entity_key()).to_hex(),
                "marking": marked.marking.as_str(),
                "body": String::from_utf8(body).expect("bodies are UTF-8 JSON"),
            }));
            remember(&mut known, marked.event, report_text.as_ref());
        }
    }
    serde_json::Value::Array(out)
}

/// Permanent idempotency across policy and mapping versions: every example, published before
/// a change and again after it, finds each of its events already recorded with the same bytes.
#[test]
fn examples_produce_the_events_recorded_before() {
    let golden: serde_json::Value =
        serde_json::from_str(GOLDEN_EVENTS).expect("the golden file is JSON");
    let now = example_events();
    let (golden, now) = (
        golden.as_array().expect("an array"),
        now.as_array().expect("an array"),
    );
    assert_eq!(golden.len(), now.len(), "number of example events");
    for (i, (then, now)) in golden.iter().zip(now).enumerate() {
        assert_eq!(
            then, now,
            "example event {i} differs from what was recorded"
        );
    }
}

#[test]
fn examples_validate_in_publication_order() {
    let mut known = empty_known();
    let mut quotes_after_non_ascii = 0_usize;

    for path in example_files() {
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));

        let bundle =
            parse_bundle(&name, &bytes).unwrap_or_else(|e| panic!("{name} does not parse:\n{e}"));
        for id in bundle.external_references() {
            let is_known = known.sources.contains(&id)
                || known.reports.contains_key(&id)
                || known.questions.contains_key(&id)
                || known.claims.contains_key(&id)
                || known.assessments.contains(&id);
            assert!(
                is_known,
                "{name} refers to {id:?}, which no earlier example defines"
            );
        }
        let report_text = bundle
            .report
            .as_ref()
            .map(|report| (report.id.clone(), report.text.clone()));

        let validated = validate(&name, bundle, &known)
            .unwrap_or_else(|e| panic!("{name} does not validate:\n{e}"));
        assert!(!validated.events.is_empty(), "{name} produced no events");
        assert!(
            validated.warnings.is_empty(),
            "{name} has warnings: {:?}",
            validated.warnings
        );

        for marked in validated.events {
            match marked.event {
                DomainEvent::Report(report) => {
                    let (id, text) = report_text
                        .clone()
                        .expect("a report event comes from the bundle's report");
                    assert_eq!(report.id, id, "{name}: report event for another report");
                    assert_eq!(
                        report.text_chars,
                        text.chars().count() as u64,
                        "{name}: text_chars must count characters, not bytes"
                    );
                    known.reports.insert(
                        report.id.clone(),
                        KnownReport {
                            report,
                            text: Some(text),
                        },
                    );
                }
                DomainEvent::Source(source) => {
                    known.sources.insert(source.id);
                }
                DomainEvent::Question(question) => {
                    known.questions.insert(question.id.clone(), question);
                }
                DomainEvent::Claim(claim) => {
                    let report = claim
                        .report
                        .as_ref()
                        .expect("validation fills in the claim's report");
                    let text = known.reports[report]
                        .text
                        .as_deref()
                        .expect("report text is known");
                    let quoted: String = text
                        .chars()
                        .skip(usize::try_from(claim.quote.start).expect("start fits"))
                        .take(
                            usize::try_from(claim.quote.end - claim.quote.start)
                                .expect("length fits"),
                        )
                        .collect();
                    assert_eq!(
                        quoted, claim.quote.text,
                        "{name}: quote span of {:?}",
                        claim.id
                    );
                    if starts_after_non_ascii(text, claim.quote.start) {
                        quotes_after_non_ascii += 1;
                    }
                    known.claims.insert(claim.id.clone(), claim);
                }
                DomainEvent::Assessment(assessment) => {
                    known.assessments.insert(assessment.id);
                }
                DomainEvent::Resolution(resolution) => {
                    known.resolved_forecasts.insert(resolution.forecast);
                }
                DomainEvent::Reliability(_)
                | DomainEvent::Interest(_)
                | DomainEvent::Relation(_) => {}
            }
        }
    }

    assert!(
        quotes_after_non_ascii > 0,
        "at least one example quote must start after a non-ASCII character, so spans are tested as characters"
    );
}
