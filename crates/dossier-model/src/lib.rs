//! Domain types, bundle format and validation for dossier, an event-sourced, hash-chained ledger
//! of intelligence reports.
//!
//! This crate defines *what* is recorded, not how it is stored:
//!
//! - [`id`]: entity ids such as `claim:rok-mnd/containers-2024-03`;
//! - [`time`]: instants ([`Timestamp`], always UTC) and world times of some precision
//!   ([`TimePoint`], [`ValidTime`]);
//! - [`entity`]: sources, reliability assessments, reports, questions, claims, relations,
//!   assessments and forecast resolutions;
//! - [`likelihood`]: ICD 203 bands and the versioned mapping from wording ("highly likely") to band;
//! - [`bundle`]: the hand-written JSON bundle a producer publishes, and [`parse_bundle`];
//! - [`validate`](mod@validate): checks a bundle against itself and the ledger and turns it into events;
//! - [`event`]: [`DomainEvent`], one event per entity, with its type, key and body encoding;
//! - [`schema`]: the JSON Schema of the bundle format.
//!
//! Publishing a bundle goes: bytes → [`parse_bundle`] → [`Bundle::external_references`] (the
//! caller fetches those from the ledger into [`KnownEntities`]) → [`validate()`] →
//! [`ValidatedBundle`] (events to append, report texts to store).
//!
//! # Invariants
//!
//! - The crate is pure: no I/O, no network, no clock. Everything it needs is passed in.
//! - Event bodies are deterministic: [`DomainEvent::encode_body`] serializes struct fields in
//!   declaration order, timestamps normalized to UTC, so the same entity always yields the same
//!   bytes (and hash), whatever the formatting of the bundle it came from.
//! - Quote spans count Unicode scalar values (characters), never bytes.

pub mod bundle;
pub mod entity;
pub mod event;
pub mod id;
pub mod likelihood;
pub mod schema;
pub mod time;
pub mod validate;

pub use bundle::{
    BUNDLE_VERSION, Bundle, BundleError, BundleErrors, MAX_BUNDLE_BYTES, MAX_EVENTS_PER_BUNDLE,
    parse_bundle,
};
pub use entity::{
    Admiralty, Assessment, Claim, ClaimValue, Confidence, Credibility, ForecastResolution,
    Independence, InterestDesignation, Likelihood, Marking, Qualifier, Question, QuestionKind,
    Quote, Relation, RelationKind, ReliabilityAssessment, Report, ReportEntry, Source, SourceKind,
    Stance, Subject,
};
pub use event::{DecodeError, DomainEvent, MarkedEvent, event_type_for};
pub use id::{EntityId, EntityKind, IdError};
pub use likelihood::{
    Icd203Band, MAPPING_V1, MAPPING_V2, MAPPING_VERSION, MAPPING_VERSIONS, band_for_wording, mapped,
};
pub use schema::bundle_json_schema;
pub use time::{TimeError, TimePoint, TimePrecision, Timestamp, ValidTime};
pub use validate::{
    KnownEntities, KnownReport, ValidatedBundle, ValidationError, ValidationWarning, WarningKind,
    validate,
};
