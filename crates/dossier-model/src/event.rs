//! Domain events: one event per entity, with a stable type name, a schema version and a
//! deterministic JSON body.
//!
//! The ledger stores the exact bytes of [`DomainEvent::encode_body`] and hashes them; it never
//! re-serializes. Reading goes through [`DomainEvent::decode`], the place where bodies written
//! under older schema versions will be upcast.

use crate::entity::{
    Assessment, Claim, ForecastResolution, InterestDesignation, Marking, Question, Relation,
    ReliabilityAssessment, Report, Source,
};
use crate::id::EntityId;
use crate::id::EntityKind;

/// Event type of [`DomainEvent::Report`].
pub const REPORT_RECORDED: &str = "report.recorded";
/// Event type of [`DomainEvent::Source`].
pub const SOURCE_REGISTERED: &str = "source.registered";
/// Event type of [`DomainEvent::Reliability`].
pub const SOURCE_RELIABILITY_ASSESSED: &str = "source.reliability_assessed";
/// Event type of [`DomainEvent::Interest`].
pub const SOURCE_INTEREST_DESIGNATED: &str = "source.interest_designated";
/// Event type of [`DomainEvent::Question`].
pub const QUESTION_POSED: &str = "question.posed";
/// Event type of [`DomainEvent::Claim`].
pub const CLAIM_RECORDED: &str = "claim.recorded";
/// Event type of [`DomainEvent::Relation`].
pub const CLAIM_RELATED: &str = "claim.related";
/// Event type of [`DomainEvent::Assessment`].
pub const ASSESSMENT_RECORDED: &str = "assessment.recorded";
/// Event type of [`DomainEvent::Resolution`].
pub const FORECAST_RESOLVED: &str = "forecast.resolved";

/// All domain event types, in the order events of a bundle are produced.
pub const EVENT_TYPES: [&str; 9] = [
    REPORT_RECORDED,
    SOURCE_REGISTERED,
    SOURCE_RELIABILITY_ASSESSED,
    QUESTION_POSED,
    SOURCE_INTEREST_DESIGNATED,
    CLAIM_RECORDED,
    CLAIM_RELATED,
    ASSESSMENT_RECORDED,
    FORECAST_RESOLVED,
];

/// A domain event: the definition of one entity.
#[derive(Clone, Debug, PartialEq)]
pub enum DomainEvent {
    /// `report.recorded`
    Report(Report),
    /// `source.registered`
    Source(Source),
    /// `source.reliability_assessed`
    Reliability(ReliabilityAssessment),
    /// `question.posed`
    Question(Question),
    /// `source.interest_designated`
    Interest(InterestDesignation),
    /// `claim.recorded`
    Claim(Claim),
    /// `claim.related`
    Relation(Relation),
    /// `assessment.recorded`
    Assessment(Assessment),
    /// `forecast.resolved`
    Resolution(ForecastResolution),
}

/// A domain event together with its effective TLP marking (which goes in the envelope).
#[derive(Clone, Debug, PartialEq)]
pub struct MarkedEvent {
    /// Who may see the event.
    pub marking: Marking,
    /// The event.
    pub event: DomainEvent,
}

/// Why an event body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The event type is not a domain event type.
    #[error("unknown event type `{0}`")]
    UnknownEventType(String),
    /// The schema version is not one this build can read.
    #[error(
        "event type `{event_type}` has schema version {version}, but this build reads versions 1 to {}",
        DomainEvent::SCHEMA_VERSION
    )]
    UnsupportedSchemaVersion {
        /// The event type.
        event_type: String,
        /// The unsupported version.
        version: u32,
    },
    /// The body uses a field that its schema version did not have (e.g. a question's
    /// `about` in a version 1 body).
    #[error("`{event_type}` body of schema version {version} has a field added in a later version")]
    FieldTooNew {
        /// The event type.
        event_type: String,
        /// The schema version the record states.
        version: u32,
    },
    /// The body is not valid JSON for the event type.
    #[error("malformed `{event_type}` body at `{path}`: {source}")]
    MalformedBody {
        /// The event type.
        event_type: String,
        /// JSON Pointer to the offending value ("" for the whole body).
        path: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// The event type that defines an entity of the given kind (`Claim` → `claim.recorded`, ...).
#[must_use]
pub fn event_type_for(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Source => SOURCE_REGISTERED,
        EntityKind::Report => REPORT_RECORDED,
        EntityKind::Question => QUESTION_POSED,
        EntityKind::Claim => CLAIM_RECORDED,
        EntityKind::Assessment => ASSESSMENT_RECORDED,
        EntityKind::Reliability => SOURCE_RELIABILITY_ASSESSED,
        EntityKind::Interest => SOURCE_INTEREST_DESIGNATED,
    }
}

/// Serializes a body; cannot fail for the entity types (string keys, no fallible serializers).
fn to_vec<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value)
        .unwrap_or_else(|e| unreachable!("entity bodies always serialize to JSON: {e}"))
}

/// Deserializes a body, keeping the JSON path of the first error.
///
/// Bodies read back from the ledger are valid nearly always, so the body is first decoded
/// without tracking the path (which costs about a third of the time); only a body that fails
/// is decoded again to say where.
fn from_slice<T: serde::de::DeserializeOwned>(
    event_type: &str,
    body: &[u8],
) -> Result<T, DecodeError> {
    // A body that is UTF-8 is parsed as text: its bytes are checked once here, instead of one
    // check per string the parser borrows or copies.
    let fast = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    };
    if let Ok(value) = fast {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e
            .path()
            .iter()
            .filter_map(|s| {
                use serde_path_to_error::Segment;
                match s {
                    Segment::Seq { index } => Some(format!("/{index}")),
                    Segment::Map { key } | Segment::Enum { variant: key } => {
                        Some(format!("/{}", crate::bundle::escape_pointer_token(key)))
                    }
                    Segment::Unknown => None,
                }
            })
            .collect();
        DecodeError::MalformedBody {
            event_type: event_type.to_owned(),
            path,
            source: e.into_inner(),
        }
    })?;
    de.end().map_err(|source| DecodeError::MalformedBody {
        event_type: event_type.to_owned(),
        path: String::new(),
        source,
    })?;
    Ok(value)
}

impl DomainEvent {
    /// The newest schema version of domain event bodies: version 2 added the optional
    /// `about` of a question. Bodies are written in the lowest version that holds them
    /// ([`DomainEvent::schema_version`]) and every version up to this one is read.
    pub const SCHEMA_VERSION: u32 = 2;

    /// The schema version of this event's body: 2 for a question that says what it is
    /// `about`, else 1. An entity that uses no field added later keeps the version (and the
    /// bytes) it always had, so re-publishing it stays a no-op.
    #[must_use]
    pub fn schema_version(&self) -> u32 {
        match self {
            DomainEvent::Question(q) if q.about.is_some() => 2,
            _ => 1,
        }
    }

    /// The event type, e.g. `"claim.recorded"`.
    #[must_use]
    pub fn event_type(&self) -> &'static str {
        match self {
            DomainEvent::Report(_) => REPORT_RECORDED,
            DomainEvent::Source(_) => SOURCE_REGISTERED,
            DomainEvent::Reliability(_) => SOURCE_RELIABILITY_ASSESSED,
            DomainEvent::Question(_) => QUESTION_POSED,
            DomainEvent::Interest(_) => SOURCE_INTEREST_DESIGNATED,
            DomainEvent::Claim(_) => CLAIM_RECORDED,
            DomainEvent::Relation(_) => CLAIM_RELATED,
            DomainEvent::Assessment(_) => ASSESSMENT_RECORDED,
            DomainEvent::Resolution(_) => FORECAST_RESOLVED,
        }
    }

    /// The identity of the entity the event defines: its id, [`Relation::entity_key`] for a
    /// relation, or the forecast's id for a resolution.
    #[must_use]
    pub fn entity_key(&self) -> String {
        match self {
            DomainEvent::Report(r) => r.id.to_string(),
            DomainEvent::Source(s) => s.id.to_string(),
            DomainEvent::Reliability(r) => r.id.to_string(),
            DomainEvent::Question(q) => q.id.to_string(),
            DomainEvent::Interest(d) => d.id.to_string(),
            DomainEvent::Claim(c) => c.id.to_string(),
            DomainEvent::Relation(r) => r.entity_key(),
            DomainEvent::Assessment(a) => a.id.to_string(),
            DomainEvent::Resolution(r) => r.entity_key(),
        }
    }

    /// The entity the event defines, which later events may reference: `None` for a relation
    /// and a resolution (nothing references them by id).
    #[must_use]
    pub fn defined(&self) -> Option<&EntityId> {
        match self {
            DomainEvent::Report(r) => Some(&r.id),
            DomainEvent::Source(s) => Some(&s.id),
            DomainEvent::Reliability(r) => Some(&r.id),
            DomainEvent::Question(q) => Some(&q.id),
            DomainEvent::Interest(d) => Some(&d.id),
            DomainEvent::Claim(c) => Some(&c.id),
            DomainEvent::Assessment(a) => Some(&a.id),
            DomainEvent::Relation(_) | DomainEvent::Resolution(_) => None,
        }
    }

    /// Every entity the event references (by id, in its body): a source's affiliation; the
    /// source assessed or designated, and the question of a designation; a claim's report,
    /// question, speaker and outlet; both ends of a relation; an assessment's question and the
    /// claims it is based on; a resolution's forecast and what settles it. Marking rules follow
    /// these references (an entity may not be marked less restrictively than what it
    /// references; a reader sees an event only if it can see everything it references).
    #[must_use]
    pub fn references(&self) -> Vec<&EntityId> {
        match self {
            DomainEvent::Report(_) | DomainEvent::Question(_) => Vec::new(),
            DomainEvent::Source(s) => s.affiliation.iter().collect(),
            DomainEvent::Reliability(r) => vec![&r.source],
            DomainEvent::Interest(d) => vec![&d.source, &d.question],
            DomainEvent::Claim(c) => {
                let mut out = vec![&c.question, &c.speaker];
                out.extend(c.report.iter());
                out.extend(c.via.iter());
                out
            }
            DomainEvent::Relation(r) => vec![&r.from, &r.to],
            DomainEvent::Assessment(a) => {
                let mut out = vec![&a.question];
                out.extend(a.based_on.iter());
                out
            }
            DomainEvent::Resolution(r) => vec![&r.forecast, &r.by],
        }
    }

    /// The body bytes: compact JSON of the inner struct, fields in declaration order.
    ///
    /// Deterministic: the same event always encodes to the same bytes.
    #[must_use]
    pub fn encode_body(&self) -> Vec<u8> {
        match self {
            DomainEvent::Report(x) => to_vec(x),
            DomainEvent::Source(x) => to_vec(x),
            DomainEvent::Reliability(x) => to_vec(x),
            DomainEvent::Question(x) => to_vec(x),
            DomainEvent::Interest(x) => to_vec(x),
            DomainEvent::Claim(x) => to_vec(x),
            DomainEvent::Relation(x) => to_vec(x),
            DomainEvent::Assessment(x) => to_vec(x),
            DomainEvent::Resolution(x) => to_vec(x),
        }
    }

    /// Decodes a stored body of the given type and schema version.
    ///
    /// This is the upcasting hook: bodies of older schema versions are converted to the
    /// current types here. Version 1 bodies have no field added in version 2, so they read as
    /// they are (a version 1 body that carries one is malformed); defaults for absent fields
    /// live in the belief engine, never in bodies.
    ///
    /// # Errors
    /// Returns a [`DecodeError`] for an unknown type, an unsupported version or a malformed body.
    pub fn decode(
        event_type: &str,
        schema_version: u32,
        body: &[u8],
    ) -> Result<DomainEvent, DecodeError> {
        if !EVENT_TYPES.contains(&event_type) {
            return Err(DecodeError::UnknownEventType(event_type.to_owned()));
        }
        if !(1..=Self::SCHEMA_VERSION).contains(&schema_version) {
            return Err(DecodeError::UnsupportedSchemaVersion {
                event_type: event_type.to_owned(),
                version: schema_version,
            });
        }
        let t = event_type;
        let event = match event_type {
            REPORT_RECORDED => DomainEvent::Report(from_slice(t, body)?),
            SOURCE_REGISTERED => DomainEvent::Source(from_slice(t, body)?),
            SOURCE_RELIABILITY_ASSESSED => DomainEvent::Reliability(from_slice(t, body)?),
            QUESTION_POSED => DomainEvent::Question(from_slice(t, body)?),
            SOURCE_INTEREST_DESIGNATED => DomainEvent::Interest(from_slice(t, body)?),
            CLAIM_RECORDED => DomainEvent::Claim(from_slice(t, body)?),
            CLAIM_RELATED => DomainEvent::Relation(from_slice(t, body)?),
            ASSESSMENT_RECORDED => DomainEvent::Assessment(from_slice(t, body)?),
            FORECAST_RESOLVED => DomainEvent::Resolution(from_slice(t, body)?),
            other => return Err(DecodeError::UnknownEventType(other.to_owned())),
        };
        if event.schema_version() > schema_version {
            return Err(DecodeError::FieldTooNew {
                event_type: event_type.to_owned(),
                version: schema_version,
            });
        }
        Ok(event)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::entity::{Confidence, RelationKind};
    use crate::id::EntityId;

    fn id(s: &str) -> EntityId {
        EntityId::parse(s).unwrap()
    }

    #[test]
    fn event_types_per_kind() {
        assert_eq!(event_type_for(EntityKind::Claim), "claim.recorded");
        assert_eq!(
            event_type_for(EntityKind::Reliability),
            "source.reliability_assessed"
        );
        assert_eq!(event_type_for(EntityKind::Question), "question.posed");
    }

    #[test]
    fn entity_keys() {
        let rel = DomainEvent::Relation(Relation {
            kind: RelationKind::Corroborates,
            from: id("claim:b"),
            to: id("claim:a"),
            independence: Some(crate::entity::Independence::Independent),
            note: None,
        });
        assert_eq!(rel.entity_key(), "corroborates|claim:b|claim:a");
        assert_eq!(rel.event_type(), "claim.related");
        let res = DomainEvent::Resolution(ForecastResolution {
            forecast: id("claim:f"),
            outcome: true,
            by: id("assessment:x"),
            note: None,
        });
        assert_eq!(res.entity_key(), "claim:f");
    }

    #[test]
    fn encode_decode_round_trip() {
        let ev = DomainEvent::Assessment(Assessment {
            id: id("assessment:a"),
            question: id("question:q"),
            value: None,
            likelihood: Some(crate::likelihood::Icd203Band::Likely),
            confidence: Confidence::Moderate,
            rationale: "r".into(),
            based_on: vec![id("claim:c")],
        });
        let body = ev.encode_body();
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            r#"{"id":"assessment:a","question":"question:q","likelihood":"likely","confidence":"moderate","rationale":"r","based_on":["claim:c"]}"#
        );
        let back = DomainEvent::decode(ev.event_type(), ev.schema_version(), &body).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn a_question_is_version_2_only_when_it_says_what_it_is_about() {
        let mut q = Question {
            id: id("question:q"),
            text: "Was the dam struck?".into(),
            kind: crate::entity::QuestionKind::Boolean,
            about: None,
        };
        let plain = DomainEvent::Question(q.clone());
        assert_eq!(plain.schema_version(), 1);
        assert_eq!(
            String::from_utf8(plain.encode_body()).unwrap(),
            r#"{"id":"question:q","text":"Was the dam struck?","kind":{"type":"boolean"}}"#
        );
        q.about = Some(crate::entity::Subject::Event);
        let event = DomainEvent::Question(q);
        assert_eq!(event.schema_version(), 2);
        let body = event.encode_body();
        assert_eq!(
            DomainEvent::decode("question.posed", 2, &body).unwrap(),
            event
        );
        assert!(matches!(
            DomainEvent::decode("question.posed", 1, &body),
            Err(DecodeError::FieldTooNew { version: 1, .. })
        ));
        assert_eq!(
            DomainEvent::decode("question.posed", 2, &plain.encode_body()).unwrap(),
            plain
        );
    }

    #[test]
    fn floats_round_trip_exactly() {
        // Needs serde_json's `float_roundtrip`: the default fast parser misreads this value.
        let value = 995_539_164_913.552_9_f64;
        let body = serde_json::to_vec(&value).unwrap();
        assert_eq!(
            serde_json::from_slice::<f64>(&body).unwrap().to_bits(),
            value.to_bits()
        );
    }

    #[test]
    fn decode_errors() {
        assert!(matches!(
            DomainEvent::decode("key.registered", 1, b"{}"),
            Err(DecodeError::UnknownEventType(_))
        ));
        assert!(matches!(
            DomainEvent::decode("claim.recorded", 3, b"{}"),
            Err(DecodeError::UnsupportedSchemaVersion { version: 3, .. })
        ));
        let err = DomainEvent::decode(
            "source.registered",
            1,
            br#"{"id":"source:x","name":"n","kind":"robot"}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, DecodeError::MalformedBody { path, .. } if path == "/kind"),
            "{err}"
        );
    }
}
