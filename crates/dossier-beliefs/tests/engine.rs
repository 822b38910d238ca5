//! Targeted tests of the engine on hand-built events: transitive relations, duplicates,
//! references to entities not yet recorded, and the unknown grades.

#![allow(clippy::unwrap_used)]

mod common;

use dossier_beliefs::{Engine, Flag, Recorded, Summary};
use dossier_model::{
    Claim, ClaimValue, Credibility, DomainEvent, EntityId, Independence, Question, QuestionKind,
    Quote, Relation, RelationKind, Stance, Timestamp,
};

fn id(s: &str) -> EntityId {
    EntityId::parse(s).unwrap()
}

fn question(q: &str) -> DomainEvent {
    DomainEvent::Question(Question {
        id: id(q),
        text: q.into(),
        kind: QuestionKind::Boolean,
        about: None,
    })
}

fn claim(c: &str, q: &str, speaker: &str, stance: Stance) -> DomainEvent {
    DomainEvent::Claim(Claim {
        id: id(c),
        report: Some(id("report:r")),
        question: id(q),
        speaker: id(speaker),
        via: None,
        stance,
        value: Some(ClaimValue::Boolean(true)),
        valid_time: None,
        uttered: None,
        quote: Quote {
            text: "x".into(),
            start: 0,
            end: 1,
        },
        credibility: Credibility::new(6).unwrap(),
        likelihood: None,
    })
}

fn relation(kind: RelationKind, from: &str, to: &str) -> DomainEvent {
    DomainEvent::Relation(Relation {
        kind,
        from: id(from),
        to: id(to),
        independence: (kind == RelationKind::Corroborates).then_some(Independence::Independent),
        note: None,
    })
}

fn run(events: &[DomainEvent]) -> (Engine, Vec<Vec<dossier_beliefs::BeliefChange>>) {
    let mut engine = Engine::new();
    let t = Timestamp::parse("2024-06-01T00:00:00Z").unwrap();
    let mut changes = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let seq = i as u64 + 1;
        let hash = common::fake_hash(seq, e);
        changes.push(engine.apply(Recorded {
            seq,
            hash: &hash,
            recorded: t,
            event: e,
        }));
        assert!(engine.stale_views().is_empty(), "stale after seq {seq}");
    }
    (engine, changes)
}

#[test]
fn corroboration_chains_across_questions_stay_current() {
    let (engine, _) = run(&[
        question("question:main"),
        question("question:side"),
        claim("claim:s", "question:main", "source:a", Stance::Asserts),
        claim("claim:c1", "question:side", "source:b", Stance::Asserts),
        claim("claim:c2", "question:side", "source:c", Stance::Asserts),
        relation(RelationKind::Corroborates, "claim:c1", "claim:s"),
        relation(RelationKind::Corroborates, "claim:c2", "claim:c1"),
        // Retracting the far end of the chain must update `question:main`.
        relation(RelationKind::Retracts, "report:r", "claim:c2"),
    ]);
    let b = engine.belief(&id("question:main"), None).unwrap();
    let supporting: Vec<&str> = b
        .provenance
        .supporting
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    // All ranking keys tie but the last: the later-recorded claim:c1 first (rule 6).
    assert_eq!(supporting, ["claim:c1", "claim:s"]);
    assert_eq!(b.best_claim, Some(id("claim:s")));
    assert!(b.status.has(Flag::Corroborated));
}

#[test]
fn duplicates_are_ignored_and_claims_may_precede_their_question() {
    let c = claim("claim:x", "question:q", "source:a", Stance::Asserts);
    let (engine, changes) = run(&[
        c.clone(),
        question("question:q"),
        c.clone(),
        question("question:q"),
    ]);
    assert!(
        changes[0].is_empty(),
        "no belief before the question is posed"
    );
    assert_eq!(changes[1].len(), 1);
    assert!(changes[1][0].before.is_none());
    assert!(changes[2].is_empty() && changes[3].is_empty());
    let b = engine.belief(&id("question:q"), None).unwrap();
    assert_eq!(b.status.summary, Summary::Uncontested);
    assert_eq!(engine.history(&id("question:q")).len(), 1);
    assert!(engine.history(&id("question:none")).is_empty());
    assert!(engine.belief(&id("question:none"), None).is_none());
}

#[test]
fn a_retracted_update_no_longer_supersedes() {
    let (engine, _) = run(&[
        question("question:q"),
        claim("claim:old", "question:q", "source:a", Stance::Asserts),
        claim("claim:new", "question:q", "source:a", Stance::Denies),
        relation(RelationKind::Supersedes, "claim:new", "claim:old"),
        relation(RelationKind::Retracts, "claim:old", "claim:new"),
    ]);
    let b = engine.belief(&id("question:q"), None).unwrap();
    assert_eq!(b.best_claim, Some(id("claim:old")));
    assert!(b.provenance.superseded.is_empty());
    assert_eq!(b.status.flags, vec![Flag::Uncontested, Flag::Retracted]);
}

#[test]
fn supersession_across_speakers_is_ignored() {
    let (engine, _) = run(&[
        question("question:q"),
        claim("claim:a", "question:q", "source:a", Stance::Asserts),
        claim("claim:b", "question:q", "source:b", Stance::Asserts),
        relation(RelationKind::Supersedes, "claim:b", "claim:a"),
    ]);
    let b = engine.belief(&id("question:q"), None).unwrap();
    assert!(b.provenance.superseded.is_empty());
    // Two speakers, never assessed (unknown reliability), credibility 6 (unknown): still ranked,
    // still two independent sources.
    assert!(b.status.has(Flag::Corroborated));
    let c = &b.provenance.supporting[0];
    assert!(c.speaker.reliability.is_none());
    assert!(!c.credibility.known);
}

#[test]
fn posing_a_question_late_updates_what_its_relays_support_elsewhere() {
    let same_source = |from: &str, to: &str| {
        DomainEvent::Relation(Relation {
            kind: RelationKind::Corroborates,
            from: id(from),
            to: id(to),
            independence: Some(Independence::SamePrimarySource),
            note: None,
        })
    };
    let mut events = vec![
        question("question:side"),
        claim("claim:d", "question:side", "source:c", Stance::Asserts),
        // Claims on `question:main` before it is posed: until then, as on an unknown kind of
        // question, a boolean value says nothing, so the relay repeats no statement.
        claim("claim:a", "question:main", "source:a", Stance::Asserts),
        claim("claim:relay", "question:main", "source:b", Stance::Asserts),
        claim("claim:update", "question:main", "source:a", Stance::Denies),
        same_source("claim:relay", "claim:a"),
        relation(RelationKind::Supersedes, "claim:update", "claim:a"),
        relation(RelationKind::Corroborates, "claim:relay", "claim:d"),
    ];
    let (engine, _) = run(&events);
    let side = engine.belief(&id("question:side"), None).unwrap();
    assert!(side.status.has(Flag::Corroborated), "{:?}", side.status);

    // Posed as a yes/no question, the relay repeats `claim:a`'s "true", which `claim:update`
    // superseded (rule 3): it no longer corroborates `claim:d`, and `run` checks that the
    // incremental judgment of `question:side` saw it.
    events.push(question("question:main"));
    let (engine, _) = run(&events);
    let main = engine.belief(&id("question:main"), None).unwrap();
    let superseded: Vec<&str> = main
        .provenance
        .superseded
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(superseded, ["claim:a", "claim:relay"]);
    let side = engine.belief(&id("question:side"), None).unwrap();
    assert!(!side.status.has(Flag::Corroborated), "{:?}", side.status);
}
