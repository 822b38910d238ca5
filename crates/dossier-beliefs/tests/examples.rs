//! Scenario tests on the four `examples/` bundles (`docs/BELIEFS.md` §4), recorded at
//! 2024-02-27 12:00, 2024-03-19 18:00, 2024-04-02 09:00 and 2024-04-03 10:00 UTC.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Event, fold, fold_as_of, ts};
use dossier_beliefs::{Belief, BeliefValue, ClaimView, Engine, Flag, Summary};
use dossier_model::{Admiralty, ClaimValue, EntityId, Qualifier, Timestamp, entity::content_hash};

const CONTAINERS: &str = "question:dprk-russia/containers-shipped";
const TRANSFERS: &str = "question:dprk-russia/arms-transfers";
const MODE: &str = "question:dprk-russia/transport-mode";
const SATELLITE: &str = "question:dprk/recon-satellite-launch-2024-03";

fn events() -> Vec<Event> {
    let times = [
        ts("2024-02-27T12:00:00Z"),
        ts("2024-03-19T18:00:00Z"),
        ts("2024-04-02T09:00:00Z"),
        ts("2024-04-03T10:00:00Z"),
    ];
    common::load(&common::example_files(), &times)
}

fn id(s: &str) -> EntityId {
    EntityId::parse(s).unwrap()
}

fn as_of(date: &str) -> Timestamp {
    Timestamp::parse_as_of(date).unwrap()
}

fn belief(engine: &Engine, q: &str) -> Belief {
    engine.belief(&id(q), None).unwrap()
}

fn quantity(value: f64, qualifier: Qualifier) -> Option<BeliefValue> {
    Some(BeliefValue::Single {
        value: ClaimValue::Quantity {
            value,
            qualifier,
            unit: Some("containers".into()),
        },
    })
}

fn boolean(b: bool) -> Option<BeliefValue> {
    Some(BeliefValue::Single {
        value: ClaimValue::Boolean(b),
    })
}

fn ids(list: &[ClaimView]) -> Vec<&str> {
    list.iter().map(|c| c.id.as_str()).collect()
}

fn all_claims(b: &Belief) -> impl Iterator<Item = &ClaimView> {
    b.provenance.claims()
}

fn claim<'a>(b: &'a Belief, claim: &str) -> &'a ClaimView {
    all_claims(b)
        .find(|c| c.id.as_str() == claim)
        .unwrap_or_else(|| panic!("{claim} not in the provenance of {}", b.question.id))
}

#[test]
fn the_examples_number_their_events_as_documented() {
    let events = events();
    assert_eq!(events.len(), 52);
    let seq_of = |event_type: &str, key: &str| {
        events
            .iter()
            .find(|e| e.event.event_type() == event_type && e.event.entity_key() == key)
            .unwrap()
            .seq
    };
    assert_eq!(
        seq_of("claim.recorded", "claim:rok-mnd/containers-2024-02"),
        19
    );
    assert_eq!(
        seq_of(
            "claim.related",
            "supersedes|claim:rok-mnd/containers-2024-03|claim:rok-mnd/containers-2024-02"
        ),
        34
    );
    assert_eq!(
        seq_of("claim.recorded", "claim:rok-mnd/satellite-launch-2024-03"),
        31
    );
    assert_eq!(
        seq_of(
            "forecast.resolved",
            "claim:rok-mnd/satellite-launch-2024-03"
        ),
        46
    );
}

#[test]
fn container_figure_before_and_after_the_revision() {
    let events = events();
    let before = fold_as_of(&events, as_of("2024-03-01"));
    let b = belief(&before, CONTAINERS);
    assert_eq!(b.value, quantity(6700.0, Qualifier::Approximately));
    assert_eq!(b.status.flags, vec![Flag::Uncontested]);
    assert_eq!(b.best_claim, Some(id("claim:rok-mnd/containers-2024-02")));

    let after = fold_as_of(&events, as_of("2024-03-19"));
    let b = belief(&after, CONTAINERS);
    assert_eq!(b.value, quantity(7000.0, Qualifier::AtLeast));
    assert!(b.status.has(Flag::SupersededHistory));
    assert_eq!(
        ids(&b.provenance.superseded),
        ["claim:rok-mnd/containers-2024-02"]
    );
    assert_eq!(
        b.provenance.superseded[0].superseded_by,
        [id("claim:rok-mnd/containers-2024-03")]
    );
    let reasons: Vec<&str> = after
        .history(&id(CONTAINERS))
        .iter()
        .map(|c| c.reason.as_str())
        .collect();
    assert!(
        reasons.contains(
            &"claim:rok-mnd/containers-2024-02 superseded by claim:rok-mnd/containers-2024-03 (seq 34)"
        ),
        "{reasons:#?}"
    );

    // At the end of February the count is still about 6,700, even with everything recorded.
    let all = fold(&events);
    let feb = all
        .belief(&id(CONTAINERS), Some(as_of("2024-02-29")))
        .unwrap();
    assert_eq!(feb.value, quantity(6700.0, Qualifier::Approximately));
    assert!(feb.provenance.superseded.is_empty());
    assert_eq!(feb.valid_at, Some(as_of("2024-02-29")));
}

#[test]
fn denials_dispute_the_transfers_but_not_the_figure() {
    let events = events();
    let engine = fold_as_of(&events, as_of("2024-03-19"));
    let t = belief(&engine, TRANSFERS);
    assert_eq!(t.value, boolean(true));
    assert_eq!(t.status.summary, Summary::Disputed);
    assert_eq!(t.status.flags, vec![Flag::Disputed]);
    assert_eq!(
        ids(&t.provenance.contradicting),
        [
            "claim:russia-government/denies-cooperation-2024-03",
            "claim:dprk-government/denies-cooperation-2024-03"
        ]
    );
    assert_eq!(t.best_claim, Some(id("claim:rok-mnd/transfers-2024-03")));

    let c = belief(&engine, CONTAINERS);
    assert_eq!(c.value, quantity(7000.0, Qualifier::AtLeast));
    assert!(c.provenance.contradicting.is_empty());
    assert!(!c.status.has(Flag::Disputed));
    // No change of the container belief was caused by a denial or a dispute (seq 32, 33, 36, 37).
    for change in engine.history(&id(CONTAINERS)) {
        assert!(![32, 33, 36, 37].contains(&change.seq), "{change:?}");
    }
}

#[test]
fn transfers_are_uncontested_as_of_before_the_denials() {
    let events = events();
    let engine = fold_as_of(&events, as_of("2024-03-01"));
    let t = belief(&engine, TRANSFERS);
    assert_eq!(t.status.summary, Summary::Uncontested);
    assert_eq!(t.value, boolean(true));
    assert!(t.provenance.contradicting.is_empty());
    // The assessment of April judges it; the evidence is unchanged.
    let now = belief(&fold(&events), TRANSFERS);
    assert_eq!(now.status.summary, Summary::Disputed);
    assert_eq!(now.likelihood, Some(dossier_model::Icd203Band::VeryLikely));
    assert_eq!(now.confidence, Some(dossier_model::Confidence::Moderate));
    assert_eq!(now.provenance.contradicting.len(), 2);
}

#[test]
fn satellite_forecast_is_pending_until_resolved() {
    let events = events();
    let before_forecast = fold_as_of(&events, as_of("2024-03-01"));
    let b = belief(&before_forecast, SATELLITE);
    assert_eq!(b.status.summary, Summary::Unanswered);
    assert!(b.status.has(Flag::NoActiveClaim));

    let pending = belief(&fold_as_of(&events, as_of("2024-03-20")), SATELLITE);
    assert_eq!(
        pending.status.flags,
        vec![Flag::Uncontested, Flag::ForecastPending]
    );
    assert_eq!(pending.status.summary, Summary::Pending);
    assert_eq!(pending.value, boolean(true));

    let engine = fold_as_of(&events, as_of("2024-04-02"));
    let resolved = belief(&engine, SATELLITE);
    assert_eq!(resolved.status.summary, Summary::ResolvedFalse);
    assert!(resolved.status.has(Flag::ForecastResolvedFalse));
    assert!(!resolved.status.has(Flag::ForecastPending));
    assert_eq!(resolved.value, boolean(false));
    assert_eq!(
        resolved.best_claim,
        Some(id("claim:example-gazette/no-satellite-launch-2024-03"))
    );
    let resolution = resolved.provenance.resolution.as_ref().unwrap();
    assert_eq!(resolution.event.seq, 46);
    // Pending in every history entry before the resolution, resolved from seq 46 on.
    let history = engine.history(&id(SATELLITE));
    let last = history.last().unwrap();
    assert_eq!(last.seq, 46);
    assert!(
        last.before
            .as_ref()
            .unwrap()
            .flags
            .contains(&Flag::ForecastPending)
    );
}

#[test]
fn the_relayed_17000_is_retracted_and_not_the_value() {
    let events = events();
    let misreported = "claim:example-gazette/containers-misreported-2024-03";
    let b = belief(&fold_as_of(&events, as_of("2024-04-02")), CONTAINERS);
    assert_eq!(
        b.value,
        Some(BeliefValue::Range {
            low: 7000.0,
            high: 17000.0,
            unit: Some("containers".into())
        })
    );
    assert_eq!(b.best_claim, Some(id("claim:rok-mnd/containers-2024-03")));
    assert_eq!(ids(&b.provenance.other), [misreported]);

    let engine = fold(&events);
    let b = belief(&engine, CONTAINERS);
    assert_eq!(b.value, quantity(7000.0, Qualifier::AtLeast));
    assert_eq!(b.evidence_value, quantity(7000.0, Qualifier::AtLeast));
    assert_eq!(ids(&b.provenance.retracted), [misreported]);
    assert_eq!(
        b.provenance.retracted[0].retracted_by,
        [id("report:example-gazette/2024-04-03-correction")]
    );
    assert!(b.status.has(Flag::Retracted));
    assert_eq!(
        ids(&b.provenance.supporting),
        [
            "claim:rok-mnd/containers-2024-03",
            "claim:example-gazette/containers-corrected-2024-03"
        ]
    );
    // One speaker through two outlets: not corroborated.
    assert!(!b.status.has(Flag::Corroborated));
    assert_eq!(b.likelihood, Some(dossier_model::Icd203Band::Likely));
    let reasons: Vec<&str> = engine
        .history(&id(CONTAINERS))
        .iter()
        .map(|c| c.reason.as_str())
        .collect();
    assert!(reasons.contains(&"claim:example-gazette/containers-misreported-2024-03 retracted by report:example-gazette/2024-04-03-correction (seq 50)"));
}

#[test]
fn gazette_reliability_is_as_assessed_at_the_time() {
    let events = events();
    let grade = |engine: &Engine| {
        let b = belief(engine, SATELLITE);
        let c = claim(&b, "claim:example-gazette/no-satellite-launch-2024-03");
        let r = c.speaker.reliability.clone().unwrap();
        (r.rating, r.known, r.event.seq)
    };
    assert_eq!(
        grade(&fold_as_of(&events, as_of("2024-04-02"))),
        (Admiralty::F, false, 40)
    );
    assert_eq!(
        grade(&fold_as_of(&events, as_of("2024-04-03"))),
        (Admiralty::C, true, 48)
    );

    // The relay's outlet too.
    let b = belief(&fold_as_of(&events, as_of("2024-04-02")), CONTAINERS);
    let relay = claim(&b, "claim:example-gazette/containers-misreported-2024-03");
    assert_eq!(
        relay
            .via
            .as_ref()
            .unwrap()
            .reliability
            .as_ref()
            .unwrap()
            .rating,
        Admiralty::F
    );
    assert_eq!(
        relay.speaker.reliability.as_ref().unwrap().rating,
        Admiralty::B
    );
}

#[test]
fn transport_mode_moves_from_sea_to_rail() {
    let events = events();
    let engine = fold(&events);
    let now = belief(&engine, MODE);
    assert_eq!(
        now.value,
        Some(BeliefValue::Single {
            value: ClaimValue::Category("rail".into())
        })
    );
    assert_eq!(
        now.status.flags,
        vec![Flag::Uncontested, Flag::SupersededHistory]
    );
    assert_eq!(
        ids(&now.provenance.superseded),
        ["claim:rok-mnd/transport-sea-2024-02"]
    );

    let feb = engine.belief(&id(MODE), Some(as_of("2024-02-15"))).unwrap();
    assert_eq!(
        feb.value,
        Some(BeliefValue::Single {
            value: ClaimValue::Category("sea".into())
        })
    );

    // The Gazette's relay of the minister corroborates the ministry (different speakers) until
    // the same-primary-source relation, in the same bundle, joins them.
    let history = engine.history(&id(MODE));
    let at = |seq| history.iter().find(|c| c.seq == seq).unwrap();
    assert!(at(43).after.flags.contains(&Flag::Corroborated));
    assert!(!at(44).after.flags.contains(&Flag::Corroborated));
    assert_eq!(
        at(44).reason,
        "claim:rok-mnd/transport-rail-2024-03 corroborated by claim:example-gazette/transport-rail-2024-03 (same primary source) (seq 44)"
    );
}

#[test]
fn provenance_carries_reports_sources_quotes_and_events() {
    let events = events();
    let engine = fold(&events);
    let b = belief(&engine, CONTAINERS);
    let old = claim(&b, "claim:rok-mnd/containers-2024-02");
    assert_eq!(old.event.seq, 19);
    assert_eq!(old.event.hash, events[18].hash);
    assert_eq!(old.event.recorded, ts("2024-02-27T12:00:00Z"));
    assert_eq!((old.quote.start, old.quote.end), (161, 245));
    assert!(old.quote.text.starts_with("about 6,700 containers"));
    assert_eq!(old.credibility.grade, 2);

    let report = old.report.as_ref().unwrap();
    assert_eq!(report.publisher.as_deref(), Some("Example Wire"));
    assert_eq!(report.event.as_ref().unwrap().seq, 1);
    assert_eq!(report.published, Some(ts("2024-02-27T07:30:00Z")));
    let bytes = std::fs::read(&common::example_files()[0]).unwrap();
    let bundle = dossier_model::parse_bundle("01", &bytes).unwrap();
    assert_eq!(
        report.content_hash.as_deref(),
        Some(content_hash(&bundle.report.unwrap().text).as_str())
    );

    assert_eq!(old.speaker.name.as_deref(), Some("Shin Won Sik"));
    assert_eq!(old.speaker.event.as_ref().unwrap().seq, 3);
    let rel = old.speaker.reliability.as_ref().unwrap();
    assert_eq!((rel.rating, rel.event.seq), (Admiralty::B, 7));
    assert_eq!(rel.event.hash, events[6].hash);
    assert_eq!(
        old.via.as_ref().unwrap().id,
        id("source:outlet/example-wire")
    );
    let kinds: Vec<(String, u64)> = old
        .relations
        .iter()
        .map(|r| (r.kind.to_string(), r.event.seq))
        .collect();
    assert_eq!(kinds, [("supersedes".to_owned(), 34)]);

    let assessment = b.provenance.assessment.as_ref().unwrap();
    assert_eq!(assessment.event.seq, 52);
    assert_eq!(b.question.event.seq, 13);
    assert_eq!(b.policy, dossier_beliefs::POLICY_VERSION);

    // Likelihood wording and band of a claim.
    let sat = belief(&engine, SATELLITE);
    let forecast = claim(&sat, "claim:rok-mnd/satellite-launch-2024-03");
    let l = forecast.likelihood.as_ref().unwrap();
    assert_eq!(l.wording, "expected");
    assert_eq!(l.band, Some(dossier_model::Icd203Band::Likely));
    assert_eq!(forecast.resolved, Some(false));
}

#[test]
fn apply_returns_what_history_records_and_views_are_deterministic() {
    let events = events();
    let mut engine = Engine::new();
    let mut returned = Vec::new();
    for e in &events {
        returned.extend(engine.apply(e.recorded()));
    }
    let mut recorded: Vec<_> = engine
        .beliefs()
        .iter()
        .flat_map(|b| engine.history(&b.question.id).to_vec())
        .collect();
    recorded.sort_by(|a, b| (a.seq, &a.question).cmp(&(b.seq, &b.question)));
    returned.sort_by(|a, b| (a.seq, &a.question).cmp(&(b.seq, &b.question)));
    assert_eq!(returned, recorded);
    assert_eq!(engine.beliefs().len(), 7);
    assert_eq!(engine.last_seq(), 52);

    let again = fold(&events);
    assert_eq!(again.digest(), engine.digest());
    assert_eq!(
        serde_json::to_string(&again.beliefs()).unwrap(),
        serde_json::to_string(&engine.beliefs()).unwrap()
    );
    let earlier = fold_as_of(&events, as_of("2024-04-02"));
    assert_ne!(earlier.digest(), engine.digest());
}

/// Every view type reads back from its JSON as the same value: beliefs with provenance, lines
/// and changes of belief (what the HTTP API's clients and the view store deserialize).
#[test]
fn views_read_back_from_their_json() {
    let engine = fold(&events());
    for line in engine.lines() {
        let json = serde_json::to_string(line).unwrap();
        let back: dossier_beliefs::BeliefLine = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, line);
        let q = &line.question.id;
        let b = engine.belief(q, None).unwrap();
        let back: Belief = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(back, b);
        for change in engine.history(q) {
            let json = serde_json::to_string(&change).unwrap();
            let back: dossier_beliefs::BeliefChange = serde_json::from_str(&json).unwrap();
            assert_eq!(&back, change);
        }
    }
}
