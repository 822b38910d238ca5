//! Property tests: determinism, "as of T equals truncation" (beliefs and history), independence
//! of unrelated questions from interleaving, and well-formed statuses for random event sequences.

#![allow(clippy::unwrap_used)]

mod common;

use common::Event;
use dossier_beliefs::{Belief, BeliefValue, Engine, Flag, Summary};
use dossier_model::{
    Admiralty, Assessment, Claim, ClaimValue, Confidence, Credibility, DomainEvent, EntityId,
    ForecastResolution, Independence, InterestDesignation, Marking, Qualifier, Question,
    QuestionKind, Quote, Relation, RelationKind, ReliabilityAssessment, Report, Source, SourceKind,
    Stance, Subject, TimePoint, Timestamp, ValidTime,
};
use proptest::prelude::*;
use serde_json::Value;

const SOURCES: usize = 4;
/// Boolean, quantity, categorical and forecast questions with their kind's default subject,
/// then a boolean and a quantity question about an event and a forecast about a state.
const QUESTIONS: usize = 7;

/// The kind of each question: 0 boolean, 1 quantity, 2 categorical, 3 forecast.
const BASE: [usize; QUESTIONS] = [0, 1, 2, 3, 0, 1, 3];

/// What each question says it is about (`None`: its kind's default).
const ABOUT: [Option<Subject>; QUESTIONS] = [
    None,
    None,
    None,
    None,
    Some(Subject::Event),
    Some(Subject::Event),
    Some(Subject::State),
];

/// One generated step; indices are reduced modulo what exists when the step is built.
#[derive(Clone, Debug)]
enum Op {
    Claim {
        question: usize,
        speaker: usize,
        via: Option<usize>,
        stance: u8,
        value: u8,
        valid_time: u8,
        uttered: u8,
        credibility: u8,
    },
    Relation {
        kind: u8,
        from: usize,
        to: usize,
        independence: u8,
        from_report: bool,
    },
    Reliability {
        source: usize,
        rating: u8,
    },
    /// A source is designated an interested party to a question (rule 5a).
    Interest {
        source: usize,
        question: usize,
    },
    Assessment {
        question: usize,
        value: u8,
        likelihood: bool,
    },
    Resolution {
        forecast: usize,
        outcome: bool,
    },
    /// Another speaker repeats a claim (same question, stance, value and valid time), and the
    /// repeat corroborates it as `same_primary_source` (a relay, rule 3).
    Relay {
        of: usize,
        speaker: usize,
    },
    /// A claim's speaker updates it with another value, which supersedes it (rule 3).
    Update {
        of: usize,
        value: u8,
        valid_time: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..QUESTIONS, 0..SOURCES, proptest::option::of(0..SOURCES), 0u8..3, 0u8..10, (0u8..5, 0u8..4), 1u8..=6)
            .prop_map(|(question, speaker, via, stance, value, (valid_time, uttered), credibility)| Op::Claim {
                question, speaker, via, stance, value, valid_time, uttered, credibility
            }),
        3 => (0u8..4, 0usize..64, 0usize..64, 0u8..3, proptest::bool::weighted(0.2))
            .prop_map(|(kind, from, to, independence, from_report)| Op::Relation {
                kind, from, to, independence, from_report
            }),
        1 => (0..SOURCES, 0u8..6).prop_map(|(source, rating)| Op::Reliability { source, rating }),
        2 => (0..SOURCES, 0..QUESTIONS).prop_map(|(source, question)| Op::Interest { source, question }),
        1 => (0..QUESTIONS, 0u8..8, any::<bool>())
            .prop_map(|(question, value, likelihood)| Op::Assessment { question, value, likelihood }),
        1 => (0usize..64, any::<bool>()).prop_map(|(forecast, outcome)| Op::Resolution { forecast, outcome }),
        1 => (0usize..64, 0..SOURCES).prop_map(|(of, speaker)| Op::Relay { of, speaker }),
        1 => (0usize..64, 0u8..10, 0u8..5).prop_map(|(of, value, valid_time)| Op::Update { of, value, valid_time }),
    ]
}

fn id(s: &str) -> EntityId {
    EntityId::parse(s).unwrap()
}

fn tp(s: &str) -> Option<TimePoint> {
    Some(TimePoint::parse(s).unwrap())
}

fn value_for(question: usize, v: u8) -> Option<ClaimValue> {
    // Mostly well-typed values; 7 gives a value of another type, which the engine must survive.
    // (Claims draw 0..=9, assessments 0..=7.) Figures overlap or diverge (rule 7a) in every
    // combination: exact 100, 200, 300 and 1000, `at_least` 200, `approximately` 300, 100–250.
    let question = BASE[question];
    if v == 7 {
        return Some(ClaimValue::Category("sea".into()));
    }
    if v == 0 {
        return None;
    }
    Some(match question {
        0 | 3 => ClaimValue::Boolean(v.is_multiple_of(2)),
        1 => match v {
            1..=3 => ClaimValue::Quantity {
                value: f64::from(v) * 100.0,
                qualifier: Qualifier::Exact,
                unit: None,
            },
            4 => ClaimValue::Quantity {
                value: 200.0,
                qualifier: Qualifier::AtLeast,
                unit: None,
            },
            // Agrees with 6 (the same figure and qualifier) but is not the same value: a
            // belief shows the value as its own claim gives it.
            8 => ClaimValue::Quantity {
                value: 300.0,
                qualifier: Qualifier::Approximately,
                unit: None,
            },
            5 => ClaimValue::Range {
                low: 100.0,
                high: 250.0,
                unit: None,
            },
            9 => ClaimValue::Quantity {
                value: 1000.0,
                qualifier: Qualifier::Exact,
                unit: None,
            },
            _ => ClaimValue::Quantity {
                value: 300.0,
                qualifier: Qualifier::Approximately,
                unit: Some("units".into()),
            },
        },
        _ => ClaimValue::Category(if v.is_multiple_of(2) { "sea" } else { "rail" }.into()),
    })
}

fn valid_time(v: u8) -> Option<ValidTime> {
    match v {
        0 => None,
        1 => Some(ValidTime {
            from: tp("2024-01"),
            until: tp("2024-01"),
        }),
        2 => Some(ValidTime {
            from: tp("2023-07"),
            until: tp("2024-02-29"),
        }),
        3 => Some(ValidTime {
            from: None,
            until: tp("2024-03-18"),
        }),
        _ => Some(ValidTime {
            from: tp("2024-03"),
            until: None,
        }),
    }
}

/// When a claim was uttered (rule 2 falls back to its report's publication, 2024-03-19).
fn uttered(v: u8) -> Option<Timestamp> {
    match v {
        0 => None,
        1 => Some(Timestamp::parse("2023-06-30T12:00:00Z").unwrap()),
        2 => Some(Timestamp::parse("2024-02-15T08:00:00Z").unwrap()),
        _ => Some(Timestamp::parse("2024-06-01T00:00:00Z").unwrap()),
    }
}

fn rating(r: u8) -> Admiralty {
    [
        Admiralty::A,
        Admiralty::B,
        Admiralty::C,
        Admiralty::D,
        Admiralty::E,
        Admiralty::F,
    ][usize::from(r % 6)]
}

/// Builds the events of one "world": a report, sources, questions, then the ops.
/// `prefix` keeps the ids of two worlds apart.
fn build(prefix: &str, ops: &[Op]) -> Vec<DomainEvent> {
    let report_id = id(&format!("report:{prefix}r"));
    let mut out = vec![DomainEvent::Report(Report {
        id: report_id.clone(),
        publisher: "P".into(),
        title: "T".into(),
        published: Timestamp::parse("2024-03-19T00:00:00Z").unwrap(),
        retrieved: Timestamp::parse("2024-03-19T00:00:00Z").unwrap(),
        url: None,
        language: "en".into(),
        marking: Marking::Clear,
        content_hash: "0".repeat(64),
        text_chars: 10,
    })];
    let source = |i: usize| id(&format!("source:{prefix}s{i}"));
    let question = |i: usize| id(&format!("question:{prefix}q{i}"));
    for i in 0..SOURCES {
        out.push(DomainEvent::Source(Source {
            id: source(i),
            name: format!("S{i}"),
            kind: SourceKind::Person,
            aliases: vec![],
            affiliation: None,
            description: None,
        }));
    }
    for i in 0..QUESTIONS {
        let kind = match BASE[i] {
            0 => QuestionKind::Boolean,
            1 => QuestionKind::Quantity {
                unit: "units".into(),
            },
            2 => QuestionKind::Categorical {
                categories: vec!["sea".into(), "rail".into()],
            },
            _ => QuestionKind::Forecast {
                event: None,
                window: None,
            },
        };
        out.push(DomainEvent::Question(Question {
            id: question(i),
            text: format!("Q{i}"),
            kind,
            about: ABOUT[i],
        }));
    }
    let mut claims: Vec<Claim> = Vec::new();
    let mut n = 0;
    for op in ops {
        n += 1;
        match op {
            Op::Claim {
                question: q,
                speaker,
                via,
                stance,
                value,
                valid_time: vt,
                uttered: said,
                credibility,
            } => {
                let stance = match stance {
                    0 => Stance::Asserts,
                    1 => Stance::Denies,
                    _ if BASE[*q] == 3 => Stance::Forecasts,
                    _ => Stance::Asserts,
                };
                let c = Claim {
                    id: id(&format!("claim:{prefix}c{}", claims.len())),
                    report: Some(report_id.clone()),
                    question: question(*q),
                    speaker: source(*speaker),
                    via: via.map(source),
                    stance,
                    value: value_for(*q, *value),
                    valid_time: valid_time(*vt),
                    uttered: uttered(*said),
                    quote: Quote {
                        text: "x".into(),
                        start: 0,
                        end: 1,
                    },
                    credibility: Credibility::new(*credibility).unwrap(),
                    likelihood: None,
                };
                claims.push(c.clone());
                out.push(DomainEvent::Claim(c));
            }
            Op::Relation {
                kind,
                from,
                to,
                independence,
                from_report,
            } => {
                if claims.is_empty() {
                    continue;
                }
                let kind = [
                    RelationKind::Supersedes,
                    RelationKind::Disputes,
                    RelationKind::Corroborates,
                    RelationKind::Retracts,
                ][usize::from(*kind)];
                let to_claim = &claims[to % claims.len()];
                let from_id = if kind == RelationKind::Retracts && *from_report {
                    report_id.clone()
                } else if kind == RelationKind::Supersedes {
                    // Mostly a valid supersession: another claim of the same speaker and
                    // question.
                    let updates: Vec<&Claim> = claims
                        .iter()
                        .filter(|c| {
                            c.id != to_claim.id
                                && c.speaker == to_claim.speaker
                                && c.question == to_claim.question
                        })
                        .collect();
                    match updates.len() {
                        0 => claims[from % claims.len()].id.clone(),
                        n => updates[from % n].id.clone(),
                    }
                } else if kind == RelationKind::Corroborates {
                    // Mostly a relay: a claim on the same question saying the same (rule 3
                    // supersedes it with the statement it repeats).
                    let relays: Vec<&Claim> = claims
                        .iter()
                        .filter(|c| {
                            c.id != to_claim.id
                                && c.question == to_claim.question
                                && c.stance == to_claim.stance
                                && c.value == to_claim.value
                        })
                        .collect();
                    match relays.len() {
                        0 => claims[from % claims.len()].id.clone(),
                        n => relays[from % n].id.clone(),
                    }
                } else {
                    claims[from % claims.len()].id.clone()
                };
                let independence = (kind == RelationKind::Corroborates).then(|| {
                    [
                        Independence::Independent,
                        Independence::SamePrimarySource,
                        Independence::Unknown,
                    ][usize::from(*independence)]
                });
                out.push(DomainEvent::Relation(Relation {
                    kind,
                    from: from_id,
                    to: to_claim.id.clone(),
                    independence,
                    note: None,
                }));
            }
            Op::Reliability {
                source: s,
                rating: r,
            } => {
                out.push(DomainEvent::Reliability(ReliabilityAssessment {
                    id: id(&format!("reliability:{prefix}r{n}")),
                    source: source(*s),
                    rating: rating(*r),
                    scope: None,
                    rationale: None,
                }));
            }
            Op::Interest {
                source: s,
                question: q,
            } => {
                out.push(DomainEvent::Interest(InterestDesignation {
                    id: id(&format!("interest:{prefix}i{n}")),
                    source: source(*s),
                    question: question(*q),
                    rationale: "a party".into(),
                    note: None,
                }));
            }
            Op::Assessment {
                question: q,
                value,
                likelihood,
            } => {
                out.push(DomainEvent::Assessment(Assessment {
                    id: id(&format!("assessment:{prefix}a{n}")),
                    question: question(*q),
                    value: value_for(*q, *value),
                    likelihood: likelihood.then_some(dossier_model::Icd203Band::Likely),
                    confidence: Confidence::Low,
                    rationale: "r".into(),
                    based_on: vec![],
                }));
            }
            Op::Relay { of, speaker } => {
                if claims.is_empty() {
                    continue;
                }
                let original = claims[of % claims.len()].clone();
                let relay = Claim {
                    id: id(&format!("claim:{prefix}c{}", claims.len())),
                    speaker: source(*speaker),
                    ..original.clone()
                };
                claims.push(relay.clone());
                out.push(DomainEvent::Claim(relay.clone()));
                out.push(DomainEvent::Relation(Relation {
                    kind: RelationKind::Corroborates,
                    from: relay.id,
                    to: original.id,
                    independence: Some(Independence::SamePrimarySource),
                    note: None,
                }));
            }
            Op::Update {
                of,
                value,
                valid_time: vt,
            } => {
                if claims.is_empty() {
                    continue;
                }
                let original = claims[of % claims.len()].clone();
                let q = question_index(&original.question);
                let update = Claim {
                    id: id(&format!("claim:{prefix}c{}", claims.len())),
                    value: value_for(q, *value),
                    valid_time: valid_time(*vt),
                    ..original.clone()
                };
                claims.push(update.clone());
                out.push(DomainEvent::Claim(update.clone()));
                out.push(DomainEvent::Relation(Relation {
                    kind: RelationKind::Supersedes,
                    from: update.id,
                    to: original.id,
                    independence: None,
                    note: None,
                }));
            }
            Op::Resolution { forecast, outcome } => {
                let forecasts: Vec<&Claim> = claims
                    .iter()
                    .filter(|c| c.stance == Stance::Forecasts)
                    .collect();
                if forecasts.is_empty() {
                    continue;
                }
                let f = forecasts[forecast % forecasts.len()];
                let by = claims
                    .iter()
                    .find(|c| c.id != f.id)
                    .map_or_else(|| id(&format!("assessment:{prefix}x")), |c| c.id.clone());
                out.push(DomainEvent::Resolution(ForecastResolution {
                    forecast: f.id.clone(),
                    outcome: *outcome,
                    by,
                    note: None,
                }));
            }
        }
    }
    out
}

/// The index of a generated question from its id (`question:<prefix>q<i>`).
fn question_index(q: &EntityId) -> usize {
    let s = q.as_str();
    s[s.rfind('q').unwrap() + 1..].parse().unwrap()
}

/// Numbers the events from seq 1, one recorded time per event (non-decreasing).
fn record(events: Vec<DomainEvent>) -> Vec<Event> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let seq = i as u64 + 1;
            Event {
                seq,
                hash: common::fake_hash(seq, &event),
                recorded: Timestamp::from_unix_nanos(
                    1_700_000_000_000_000_000 + i128::from(seq) * 1_000_000_000,
                )
                .unwrap(),
                bundle: i,
                event,
            }
        })
        .collect()
}

fn check_status(b: &Belief) -> Result<(), TestCaseError> {
    let flags = &b.status.flags;
    let has = |f| flags.contains(&f);
    let mut sorted = flags.clone();
    sorted.sort();
    sorted.dedup();
    prop_assert_eq!(&sorted, flags, "flags sorted and unique");
    prop_assert_eq!(b.status.summary, Summary::from_flags(flags));
    prop_assert!(!(has(Flag::Uncontested) && has(Flag::Disputed)));
    prop_assert!(!(has(Flag::Uncontested) && has(Flag::Divergent)));
    if has(Flag::Divergent) {
        prop_assert!(
            matches!(
                b.question.kind,
                QuestionKind::Quantity { .. } | QuestionKind::Categorical { .. }
            ),
            "divergent yes/no question"
        );
        prop_assert!(
            !matches!(b.value, Some(BeliefValue::Single { .. }))
                || b.provenance.assessment.is_some(),
            "divergent with one value"
        );
    }
    let p = &b.provenance;
    if has(Flag::NoActiveClaim) {
        for f in [
            Flag::Uncontested,
            Flag::Corroborated,
            Flag::Disputed,
            Flag::ForecastPending,
        ] {
            prop_assert!(!has(f), "{:?} with no active claim", f);
        }
        prop_assert!(
            p.supporting
                .iter()
                .chain(&p.other)
                .all(|c| c.question != b.question.id)
        );
    }
    if has(Flag::Corroborated) {
        prop_assert!(p.supporting.len() >= 2);
    }
    if has(Flag::Uncontested) {
        prop_assert!(!p.supporting.is_empty());
    }
    prop_assert_eq!(has(Flag::SupersededHistory), !p.superseded.is_empty());
    prop_assert_eq!(has(Flag::Retracted), !p.retracted.is_empty());
    let forecast_flags = [
        Flag::ForecastPending,
        Flag::ForecastResolvedTrue,
        Flag::ForecastResolvedFalse,
    ];
    prop_assert!(forecast_flags.iter().filter(|f| has(**f)).count() <= 1);
    if !matches!(b.question.kind, QuestionKind::Forecast { .. }) {
        prop_assert!(forecast_flags.iter().all(|f| !has(*f)));
    }
    if let Some(best) = &b.best_claim {
        prop_assert!(
            p.supporting.iter().any(|c| &c.id == best)
                || p.contradicting.iter().any(|c| &c.id == best),
            "best claim {} not in supporting/contradicting",
            best
        );
        prop_assert!(b.evidence_value.is_some());
    }
    if b.evidence_value.is_none() {
        prop_assert!(b.best_claim.is_none());
    }
    Ok(())
}

/// The belief as JSON without positions (seq, hash, recorded), which depend on interleaving.
fn shape(v: &impl serde::Serialize) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| !matches!(k.as_str(), "seq" | "hash" | "recorded" | "reason"));
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(v).unwrap();
    strip(&mut v);
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_give_well_formed_beliefs(ops in proptest::collection::vec(op(), 0..40)) {
        let events = record(build("", &ops));
        let mut engine = Engine::new();
        // A projection engine (claims only in the incremental view) reports the same changes
        // and lines after every event.
        let mut projection = Engine::for_projection();
        for e in &events {
            let changes = engine.apply(e.recorded());
            for change in &changes {
                prop_assert_eq!(change.seq, e.seq);
                prop_assert_eq!(change.after.summary, Summary::from_flags(&change.after.flags));
            }
            prop_assert_eq!(engine.stale_views(), Vec::<EntityId>::new(), "stale after seq {}", e.seq);
            prop_assert_eq!(projection.apply(e.recorded()), changes, "changes at seq {}", e.seq);
            prop_assert_eq!(projection.lines(), engine.lines(), "lines after seq {}", e.seq);
            prop_assert_eq!(projection.take_changed(), engine.take_changed());
        }
        prop_assert_eq!(projection.digest(), engine.digest());
        // It builds no provenance (queries fold stored events into a full engine instead).
        if let Some(line) = engine.lines().first() {
            prop_assert!(engine.belief(&line.question.id, None).is_some());
            prop_assert!(projection.belief(&line.question.id, None).is_none());
        }
        let beliefs = engine.beliefs();
        prop_assert_eq!(beliefs.len(), QUESTIONS);
        for b in &beliefs {
            check_status(b)?;
            for t in ["2023-06-30", "2023-12-31", "2024-01-15", "2024-02-29", "2024-03-18", "2024-03-19", "2024-12-31"] {
                let at = engine.belief(&b.question.id, Some(Timestamp::parse_as_of(t).unwrap())).unwrap();
                check_status(&at)?;
                prop_assert!(at.likelihood.is_none() && at.confidence.is_none(), "assessments ignored at a valid time");
            }
        }
        // The stored current views are what a fresh computation gives.
        prop_assert_eq!(engine.stale_views(), Vec::<EntityId>::new());
    }

    #[test]
    fn an_engine_read_back_from_its_serialization_folds_on_as_the_original(
        ops in proptest::collection::vec(op(), 0..40),
        cut in any::<prop::sample::Index>(),
    ) {
        // Cut anywhere, the engine written with postcard (as the projector's snapshot is) and
        // read back gives, on every later event, the changes, lines, changed questions and
        // beliefs of the engine that was never written: its interned tables came back exactly.
        let events = record(build("", &ops));
        let k = cut.index(events.len() + 1);
        for mut original in [Engine::new(), Engine::for_projection()] {
            for e in &events[..k] {
                original.apply(e.recorded());
            }
            let bytes = postcard::to_stdvec(&original).unwrap();
            let mut read: Engine = postcard::from_bytes(&bytes).unwrap();
            prop_assert_eq!(read.digest(), original.digest());
            prop_assert_eq!(read.last_seq(), original.last_seq());
            for e in &events[k..] {
                prop_assert_eq!(read.apply(e.recorded()), original.apply(e.recorded()), "changes at seq {}", e.seq);
                prop_assert_eq!(read.lines(), original.lines(), "lines after seq {}", e.seq);
                prop_assert_eq!(read.take_changed(), original.take_changed());
            }
            prop_assert_eq!(read.digest(), original.digest());
            prop_assert_eq!(read.stale_views(), original.stale_views());
            prop_assert_eq!(shape(&read.beliefs()), shape(&original.beliefs()));
            for b in original.beliefs() {
                prop_assert_eq!(read.history(&b.question.id), original.history(&b.question.id));
            }
        }
    }

    #[test]
    fn folding_is_deterministic(ops in proptest::collection::vec(op(), 0..40)) {
        let events = record(build("", &ops));
        let a = common::fold(&events);
        let b = common::fold(&events);
        prop_assert_eq!(a.digest(), b.digest());
        prop_assert_eq!(serde_json::to_string(&a.beliefs()).unwrap(), serde_json::to_string(&b.beliefs()).unwrap());
    }

    #[test]
    fn as_of_equals_truncation_including_history(ops in proptest::collection::vec(op(), 0..40), cut in any::<prop::sample::Index>()) {
        let events = record(build("", &ops));
        let k = cut.index(events.len() + 1);
        let t = if k == 0 { Timestamp::from_unix_nanos(0).unwrap() } else { events[k - 1].recorded };
        // The full fold, remembering its digest when it had folded exactly the events up to t.
        let mut full = Engine::new();
        let mut digest_at_t = Engine::new().digest();
        for e in &events {
            full.apply(e.recorded());
            if e.recorded <= t {
                digest_at_t = full.digest();
            }
        }
        let prefix = common::fold_as_of(&events, t);
        prop_assert_eq!(prefix.digest(), digest_at_t);
        for b in full.beliefs() {
            let q = &b.question.id;
            let upto: Vec<_> = full.history(q).iter().filter(|c| c.recorded <= t).cloned().collect();
            prop_assert_eq!(prefix.history(q), upto.as_slice());
        }
    }

    #[test]
    fn unrelated_questions_do_not_depend_on_interleaving(
        a_ops in proptest::collection::vec(op(), 0..25),
        b_ops in proptest::collection::vec(op(), 0..25),
        choices in proptest::collection::vec(any::<bool>(), 0..120),
    ) {
        let a = build("a-", &a_ops);
        let b = build("b-", &b_ops);
        // Interleave the two worlds, keeping each one's own order.
        let (mut ia, mut ib) = (a.iter(), b.iter());
        let mut merged = Vec::new();
        let mut choice = choices.iter().chain(std::iter::repeat(&true));
        loop {
            let next = if *choice.next().unwrap() { ia.next().or_else(|| ib.next()) } else { ib.next().or_else(|| ia.next()) };
            match next { Some(e) => merged.push(e.clone()), None => break }
        }
        let together = common::fold(&record(merged));
        let alone = common::fold(&record(a));
        for belief in alone.beliefs() {
            let q = &belief.question.id;
            prop_assert_eq!(shape(&together.belief(q, None)), shape(&Some(belief.clone())));
            let afters = |e: &Engine| shape(&e.history(q).iter().map(|c| (&c.before, &c.after, &c.event_type)).collect::<Vec<_>>());
            prop_assert_eq!(afters(&together), afters(&alone));
        }
    }
}
