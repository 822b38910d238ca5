//! The exports of the example story, pinned byte for byte (`tests/golden/`), and checked by
//! validators other people wrote (`tests/exchange/check.py`: stix2-validator strict, pymisp,
//! the prov package; from the project's `.venv`, `scripts/install-py-tools.sh`).
//!
//! The example bundles are folded into the belief engine the way the ledger would record them
//! (genesis at seq 1, each bundle one sealed batch, fixed recorded times, record hashes derived
//! from the content), so the output is the same on every run. An intended change rewrites the
//! golden files with `DOSSIER_BLESS=1 cargo test -p dossier-exchange --test golden` (review
//! the diff).

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dossier_beliefs::{Belief, Engine, Recorded};
use dossier_exchange::stix::{Scope, StixWriter, tlp_marking_id};
use dossier_exchange::{Answered, BatchRef, Cut, Markings, event_seqs, prov};
use dossier_model::{
    DomainEvent, EntityId, KnownEntities, Marking, Timestamp, parse_bundle, validate,
};

struct Event {
    seq: u64,
    hash: String,
    recorded: Timestamp,
    marking: Marking,
    event: DomainEvent,
}

struct Story {
    events: Vec<Event>,
    batches: BTreeMap<u64, BatchRef>,
    engine: Engine,
    cut: Cut,
}

fn hash_of(parts: &str) -> String {
    blake3::hash(parts.as_bytes()).to_hex().to_string()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example story, recorded at fixed times: genesis, then one batch per bundle.
fn story() -> Story {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let times = [
        "2024-02-28T09:00:00Z",
        "2024-03-20T09:00:00Z",
        "2024-04-02T18:00:00Z",
        "2024-04-03T18:00:00Z",
    ];
    let mut known = KnownEntities::default();
    let mut events = Vec::new();
    let mut batches = BTreeMap::new();
    let mut seq = 1; // genesis
    for (path, time) in files.iter().zip(times) {
        let recorded = Timestamp::parse(time).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bundle = parse_bundle(&name, &std::fs::read(path).unwrap()).unwrap();
        let validated = validate(&name, bundle, &known).unwrap();
        known.remember(&validated);
        let first = seq + 1;
        for marked in validated.events {
            seq += 1;
            let body = String::from_utf8(marked.event.encode_body()).unwrap();
            events.push(Event {
                seq,
                hash: hash_of(&format!("{seq}|{}|{body}", marked.event.event_type())),
                recorded,
                marking: marked.marking,
                event: marked.event,
            });
        }
        seq += 1;
        let batch = BatchRef {
            first,
            seal: seq,
            seal_hash: hash_of(&format!("{seq}|batch.seal")),
            recorded,
        };
        for s in first..=seq {
            batches.insert(s, batch.clone());
        }
    }
    let mut engine = Engine::new();
    for e in &events {
        engine.apply(Recorded {
            seq: e.seq,
            hash: &e.hash,
            recorded: e.recorded,
            event: &e.event,
        });
    }
    let cut = Cut {
        ledger: "0b6f5a1c-2d7e-4f80-9a3b-5c6d7e8f9a0b".to_owned(),
        genesis: Timestamp::parse("2024-02-28T08:59:00Z").unwrap(),
        seq,
        as_of: None,
        clearance: Marking::Red,
    };
    Story {
        events,
        batches,
        engine,
        cut,
    }
}

impl Story {
    fn markings(&self) -> Markings {
        self.events.iter().map(|e| (e.seq, e.marking)).collect()
    }

    fn beliefs(&self) -> Vec<Belief> {
        self.engine.beliefs()
    }

    fn belief(&self, q: &str) -> Belief {
        self.engine
            .belief(&EntityId::parse(q).unwrap(), None)
            .unwrap()
    }

    /// The ids of the claims of `report` in the story, in seq order.
    fn report_claims(&self, report: &EntityId) -> Vec<EntityId> {
        self.events
            .iter()
            .filter_map(|e| match &e.event {
                DomainEvent::Claim(c) if c.report.as_ref() == Some(report) => Some(c.id.clone()),
                _ => None,
            })
            .collect()
    }

    fn stix(&self, scope: Scope, questions: &[Belief], name: &str) -> Vec<u8> {
        let markings = self.markings();
        let mut w = StixWriter::start(Vec::new(), &self.cut, name, scope).unwrap();
        for b in questions {
            let a = Answered {
                belief: b,
                marking: Marking::Clear,
                markings: &markings,
            };
            w.question(&a, |r| Ok(self.report_claims(r))).unwrap();
        }
        w.finish().unwrap().0
    }
}

fn golden(name: &str, bytes: &[u8]) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("DOSSIER_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (DOSSIER_BLESS=1 cargo test -p dossier-exchange --test golden writes it)",
            path.display()
        )
    });
    assert!(
        want == bytes,
        "{} differs from this run's output (review, then DOSSIER_BLESS=1 to rewrite):\n{}",
        path.display(),
        String::from_utf8_lossy(bytes)
    );
    path
}

/// Runs `tests/exchange/check.py KIND FILES` with the project's Python tools.
pub fn check(kind: &str, files: &[&Path]) -> String {
    dossier_testkit::check_exchange(kind, files)
}

/// A report with the claims of it, each with the index of its question's belief.
type ReportClaims<'a> = (
    dossier_beliefs::ReportView,
    Vec<(usize, &'a dossier_beliefs::ClaimView)>,
);

const CONTAINERS: &str = "question:dprk-russia/containers-shipped";

#[test]
fn prov_of_a_belief_is_pinned_and_read_by_the_prov_package() {
    let s = story();
    let markings = s.markings();
    let belief = s.belief(CONTAINERS);
    for seq in event_seqs(&belief) {
        assert!(markings.contains_key(&seq), "seq {seq} has a marking");
    }
    let a = Answered {
        belief: &belief,
        marking: Marking::Clear,
        markings: &markings,
    };
    let doc = prov::document(&a, &s.cut, &s.batches);
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap();
    bytes.push(b'\n');
    let path = golden("prov-containers-shipped.json", &bytes);
    let text = String::from_utf8(bytes).unwrap();
    // The mapping's landmarks: a revision, a quotation, a retraction, batches as bundles.
    for needle in [
        "\"prov:Revision\"",
        "\"prov:Quotation\"",
        "\"wasInvalidatedBy\"",
        "\"prov:Bundle\"",
        "\"bundle\"",
        "\"dossier:recordHash\"",
    ] {
        assert!(text.contains(needle), "{needle} missing");
    }
    let out = check("prov", &[&path]);
    assert!(out.contains("prov ok"), "{out}");
}

#[test]
fn stix_of_the_story_is_pinned_and_passes_the_strict_validator() {
    let s = story();
    let all = s.stix(Scope::All, &s.beliefs(), "all");
    let all_path = golden("stix-all.json", &all);
    let report = EntityId::parse("report:example-gazette/2024-04-03-correction").unwrap();
    let questions: Vec<Belief> = s
        .beliefs()
        .into_iter()
        .filter(|b| {
            dossier_exchange::claims(b).any(|c| c.report.as_ref().is_some_and(|r| r.id == report))
        })
        .collect();
    let one = s.stix(Scope::Report(report.clone()), &questions, report.as_str());
    let one_path = golden("stix-report-correction.json", &one);
    let question = s.stix(Scope::All, &[s.belief(CONTAINERS)], CONTAINERS);
    let q_path = golden("stix-containers-shipped.json", &question);

    let doc: serde_json::Value = serde_json::from_slice(&all).unwrap();
    let objects = doc["objects"].as_array().unwrap();
    let ids: Vec<&str> = objects.iter().map(|o| o["id"].as_str().unwrap()).collect();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "every object once");
    // The examples are TLP:CLEAR: the OASIS TLP 2.0 CLEAR marking, applied to every object.
    assert!(ids.contains(&"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"));
    for o in objects.iter().filter(|o| o["type"] != "marking-definition") {
        assert_eq!(
            o["object_marking_refs"],
            serde_json::json!([tlp_marking_id(Marking::Clear)]),
            "{o}"
        );
    }
    let claims = objects
        .iter()
        .filter(|o| o["type"] == "x-dossier-claim")
        .count();
    assert_eq!(
        claims,
        s.events
            .iter()
            .filter(|e| matches!(e.event, DomainEvent::Claim(_)))
            .count()
    );
    for kind in ["supersedes", "retracts", "disputes", "corroborates"] {
        assert!(
            objects.iter().any(|o| o["relationship_type"] == kind),
            "a {kind} relationship"
        );
    }
    assert!(
        objects.iter().any(|o| o["type"] == "note"),
        "an assessment note"
    );
    let out = check("stix", &[&all_path, &one_path, &q_path]);
    assert_eq!(out.matches("stix ok").count(), 3, "{out}");
}

#[test]
fn the_tlp_2_0_ids_are_the_oasis_ones() {
    // As published by OASIS with the TLP 2.0 extension
    // (extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d), listed in docs/STIX.md.
    let want = [
        (
            Marking::Clear,
            "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        ),
        (
            Marking::Green,
            "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        ),
        (
            Marking::Amber,
            "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        ),
        (
            Marking::AmberStrict,
            "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        ),
        (
            Marking::Red,
            "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        ),
    ];
    for (m, id) in want {
        assert_eq!(tlp_marking_id(m), id, "{m}");
    }
    let doc = std::fs::read_to_string(root().join("docs/STIX.md")).unwrap();
    for (m, id) in want {
        assert!(doc.contains(id), "docs/STIX.md lists {m}'s id");
    }
}

#[test]
fn misp_events_of_the_story_are_pinned_and_load_in_pymisp() {
    let s = story();
    let markings = s.markings();
    let beliefs = s.beliefs();
    let mut reports: BTreeMap<String, ReportClaims<'_>> = BTreeMap::new();
    for (i, b) in beliefs.iter().enumerate() {
        for c in dossier_exchange::claims(b) {
            if let Some(r) = &c.report {
                reports
                    .entry(r.id.as_str().to_owned())
                    .or_insert_with(|| (r.clone(), Vec::new()))
                    .1
                    .push((i, c));
            }
        }
    }
    let mut lines = Vec::new();
    for (report, claims) in reports.values() {
        let mut claims = claims.clone();
        claims.sort_by_key(|(_, c)| c.event.seq);
        let items: Vec<(Answered<'_>, &dossier_beliefs::ClaimView)> = claims
            .iter()
            .map(|(i, c)| {
                (
                    Answered {
                        belief: &beliefs[*i],
                        marking: Marking::Clear,
                        markings: &markings,
                    },
                    *c,
                )
            })
            .collect();
        let event = dossier_exchange::misp::event(&s.cut, report, &items);
        lines.push(serde_json::to_string(&event).unwrap());
    }
    assert_eq!(lines.len(), 4, "one event per report");
    let bytes = format!("{}\n", lines.join("\n"));
    let text = bytes.clone();
    let path = golden("misp-all.jsonl", bytes.as_bytes());
    for needle in [
        "tlp:clear",
        "admiralty-scale:source-reliability=\\\"b\\\"",
        "admiralty-scale:source-reliability=\\\"c\\\"",
        "admiralty-scale:information-credibility=\\\"2\\\"",
        "\"object_relation\":\"record-hash\"",
        "\"relationship_type\":\"supersedes\"",
    ] {
        assert!(text.contains(needle), "{needle} missing");
    }
    let out = check("misp", &[&path]);
    assert!(out.contains("misp ok"), "{out}");
}
