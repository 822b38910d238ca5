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
    }
}

/// A quote span that starts after a non-ASCII character (the Hangul name 신원식) is where
/// counting bytes instead of characters would go wrong.
fn starts_after_non_ascii(text: &str, start: u64) -> bool {
    let start = usize::try_from(start).expect("quote start fits in usize");
    text.chars().take(start).any(|c| !c.is_ascii())
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
                DomainEvent::Reliability(_) | DomainEvent::Relation(_) => {}
            }
        }
    }

    assert!(
        quotes_after_non_ascii > 0,
        "at least one example quote must start after a non-ASCII character, so spans are tested as characters"
    );
}
