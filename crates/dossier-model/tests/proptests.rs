//! Property tests: claim and interest designation bodies round-trip, and the bundle parser
//! never panics.

#![allow(clippy::unwrap_used)]

use dossier_model::{
    Claim, ClaimValue, Credibility, DomainEvent, EntityId, Icd203Band, InterestDesignation,
    Likelihood, Qualifier, Quote, Stance, TimePoint, Timestamp, ValidTime, parse_bundle,
};
use proptest::prelude::*;

fn entity_id(kind: &'static str) -> impl Strategy<Value = EntityId> {
    "[A-Za-z0-9._/-]{1,40}"
        .prop_map(move |name| EntityId::parse(&format!("{kind}:{name}")).unwrap())
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    // Years 1900..2100, any nanosecond.
    (
        -2_208_988_800_i128..4_102_444_800_i128,
        0..1_000_000_000_i128,
    )
        .prop_map(|(secs, nanos)| Timestamp::from_unix_nanos(secs * 1_000_000_000 + nanos).unwrap())
}

fn time_point() -> impl Strategy<Value = TimePoint> {
    prop_oneof![
        (1900..2100_i32).prop_map(|y| TimePoint::parse(&format!("{y:04}")).unwrap()),
        (1900..2100_i32, 1..=12_u8)
            .prop_map(|(y, m)| TimePoint::parse(&format!("{y:04}-{m:02}")).unwrap()),
        (1900..2100_i32, 1..=12_u8, 1..=28_u8)
            .prop_map(|(y, m, d)| TimePoint::parse(&format!("{y:04}-{m:02}-{d:02}")).unwrap()),
        timestamp().prop_map(TimePoint::instant),
    ]
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![0.0..1e12_f64, (0..100_000_u32).prop_map(f64::from)]
}

fn claim_value() -> impl Strategy<Value = ClaimValue> {
    let unit = proptest::option::of("\\PC{1,12}");
    prop_oneof![
        any::<bool>().prop_map(ClaimValue::Boolean),
        (
            finite(),
            prop_oneof![
                Just(Qualifier::Exact),
                Just(Qualifier::Approximately),
                Just(Qualifier::AtLeast),
                Just(Qualifier::AtMost)
            ],
            unit.clone()
        )
            .prop_map(|(value, qualifier, unit)| ClaimValue::Quantity {
                value,
                qualifier,
                unit
            }),
        (finite(), finite(), unit).prop_map(|(a, b, unit)| ClaimValue::Range {
            low: a.min(b),
            high: a.max(b),
            unit
        }),
        "\\PC{1,20}".prop_map(ClaimValue::Category),
    ]
}

fn claim() -> impl Strategy<Value = Claim> {
    (
        (
            entity_id("claim"),
            entity_id("report"),
            entity_id("question"),
            entity_id("source"),
        ),
        proptest::option::of(entity_id("source")),
        prop_oneof![
            Just(Stance::Asserts),
            Just(Stance::Denies),
            Just(Stance::Forecasts)
        ],
        proptest::option::of(claim_value()),
        proptest::option::of((
            proptest::option::of(time_point()),
            proptest::option::of(time_point()),
        )),
        proptest::option::of(timestamp()),
        ("\\PC{1,60}", 0..10_000_u64, 1..200_u64),
        1..=6_u8,
        proptest::option::of((
            "\\PC{1,20}",
            proptest::option::of(proptest::sample::select(Icd203Band::ALL.to_vec())),
        )),
    )
        .prop_map(
            |(
                (id, report, question, speaker),
                via,
                stance,
                value,
                vt,
                uttered,
                (text, start, len),
                cred,
                likelihood,
            )| Claim {
                id,
                report: Some(report),
                question,
                speaker,
                via,
                stance,
                value,
                valid_time: vt.map(|(from, until)| ValidTime { from, until }),
                uttered,
                quote: Quote {
                    text,
                    start,
                    end: start + len,
                },
                credibility: Credibility::new(cred).unwrap(),
                likelihood: likelihood.map(|(wording, band)| Likelihood {
                    wording,
                    band,
                    mapping: Some(dossier_model::MAPPING_VERSION.to_owned()),
                }),
            },
        )
}

proptest! {
    #[test]
    fn claim_bodies_round_trip(c in claim()) {
        let event = DomainEvent::Claim(c);
        let body = event.encode_body();
        let back = DomainEvent::decode(event.event_type(), DomainEvent::SCHEMA_VERSION, &body).unwrap();
        prop_assert_eq!(&back, &event);
        prop_assert_eq!(back.encode_body(), body);
    }

    #[test]
    fn interest_bodies_round_trip(
        id in entity_id("interest"),
        source in entity_id("source"),
        question in entity_id("question"),
        rationale in "\\PC{1,40}",
        note in proptest::option::of("\\PC{0,40}"),
    ) {
        let event = DomainEvent::Interest(InterestDesignation { id, source, question, rationale, note });
        let body = event.encode_body();
        prop_assert_eq!(event.schema_version(), 1);
        let back = DomainEvent::decode(event.event_type(), 1, &body).unwrap();
        prop_assert_eq!(&back, &event);
        prop_assert_eq!(back.encode_body(), body);
    }

    #[test]
    fn time_parsers_never_panic(s in "\\PC{0,12}", digits in "[0-9é:T+Z-]{0,25}") {
        for input in [s.as_str(), digits.as_str()] {
            let _ = TimePoint::parse(input);
            let _ = Timestamp::parse(input);
            if let Ok(t) = Timestamp::parse_as_of(input) {
                prop_assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
            }
            if let Ok(p) = TimePoint::parse(input) {
                prop_assert_eq!(TimePoint::parse(&p.to_string()).unwrap(), p);
                prop_assert!(p.start() <= p.end());
            }
        }
    }

    #[test]
    fn parse_bundle_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_bundle("fuzz.json", &bytes);
    }

    #[test]
    fn parse_bundle_never_panics_on_json_like_text(
        text in "[\\{\\}\\[\\]\":,0-9a-z_ \n$-]{0,300}",
        prefix in prop_oneof![Just(""), Just("{\"version\":1,"), Just("{\"version\":1,\"claims\":[{")],
    ) {
        let input = format!("{prefix}{text}");
        if let Err(errs) = parse_bundle("fuzz.json", input.as_bytes()) {
            prop_assert!(!errs.is_empty());
            for e in &errs {
                prop_assert!(e.path.is_empty() || e.path.starts_with('/'));
            }
        }
    }
}
