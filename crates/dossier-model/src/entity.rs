//! The domain entities.
//!
//! These types are both the entries of a hand-written bundle and the bodies of ledger events
//! (except [`ReportEntry`], the bundle form of a [`Report`], which carries the full text). Field
//! order in each struct is the order in the serialized JSON and is part of the hashed format:
//! never reorder fields.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::id::EntityId;
use crate::likelihood::Icd203Band;
use crate::time::{Timestamp, ValidTime};

/// A Traffic Light Protocol 2.0 marking, limiting who may see an entity.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Marking {
    /// `TLP:CLEAR`: disclosure is not limited.
    #[serde(rename = "TLP:CLEAR")]
    Clear,
    /// `TLP:GREEN`: limited disclosure, the recipient's community.
    #[serde(rename = "TLP:GREEN")]
    Green,
    /// `TLP:AMBER`: limited disclosure, the recipient's organisation and its clients.
    #[serde(rename = "TLP:AMBER")]
    Amber,
    /// `TLP:AMBER+STRICT`: limited disclosure, the recipient's organisation only.
    #[serde(rename = "TLP:AMBER+STRICT")]
    AmberStrict,
    /// `TLP:RED`: for the eyes and ears of individual recipients only.
    #[serde(rename = "TLP:RED")]
    Red,
}

impl Marking {
    /// All markings, from least to most restrictive.
    pub const ALL: [Marking; 5] = [
        Marking::Clear,
        Marking::Green,
        Marking::Amber,
        Marking::AmberStrict,
        Marking::Red,
    ];

    /// The marking's rank, from 0 (`TLP:CLEAR`) to 4 (`TLP:RED`): its index in
    /// [`Marking::ALL`]. A reader cleared for a marking may see what is marked at or below it.
    #[must_use]
    pub const fn rank(self) -> u8 {
        self as u8
    }

    /// The marking of a rank (see [`Marking::rank`]); `None` above 4.
    #[must_use]
    pub const fn from_rank(rank: u8) -> Option<Marking> {
        match rank {
            0 => Some(Marking::Clear),
            1 => Some(Marking::Green),
            2 => Some(Marking::Amber),
            3 => Some(Marking::AmberStrict),
            4 => Some(Marking::Red),
            _ => None,
        }
    }

    /// The TLP label, e.g. `"TLP:AMBER+STRICT"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Marking::Clear => "TLP:CLEAR",
            Marking::Green => "TLP:GREEN",
            Marking::Amber => "TLP:AMBER",
            Marking::AmberStrict => "TLP:AMBER+STRICT",
            Marking::Red => "TLP:RED",
        }
    }
}

impl fmt::Display for Marking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when parsing an unknown TLP marking.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown marking `{0}`: expected TLP:CLEAR, TLP:GREEN, TLP:AMBER, TLP:AMBER+STRICT or TLP:RED"
)]
pub struct MarkingError(pub String);

impl FromStr for Marking {
    type Err = MarkingError;

    /// Parses a TLP label; case-insensitive, and the `TLP:` prefix may be omitted (`amber`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let label = upper.strip_prefix("TLP:").unwrap_or(&upper);
        Marking::ALL
            .into_iter()
            .find(|m| &m.as_str()[4..] == label)
            .ok_or_else(|| MarkingError(s.to_owned()))
    }
}

/// What kind of speaker a [`Source`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// An individual, e.g. a minister.
    Person,
    /// A non-governmental organisation or company.
    Organisation,
    /// A government, ministry or agency.
    Government,
    /// A news outlet or publisher.
    Outlet,
    /// Anything else.
    Other,
}

/// Who speaks: a person, an organisation, a government or an outlet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Source {
    /// The source's id (`source:...`).
    pub id: EntityId,
    /// Display name, e.g. "Shin Won-sik".
    pub name: String,
    /// What kind of speaker this is.
    pub kind: SourceKind,
    /// Other names, e.g. the name in its original script (신원식).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The source this one belongs to or speaks for (`source:...`), e.g. a ministry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affiliation: Option<EntityId>,
    /// Free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Source reliability on the NATO Admiralty scale.
///
/// `F` means the reliability *cannot be judged*: it is unknown, never the worst grade (which is
/// `E`, unreliable). Consumers must not rank `F` below `E`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Admiralty {
    /// Completely reliable.
    A,
    /// Usually reliable.
    B,
    /// Fairly reliable.
    C,
    /// Not usually reliable.
    D,
    /// Unreliable.
    E,
    /// Reliability cannot be judged (unknown, not the worst grade).
    F,
}

impl Admiralty {
    /// The grade's letter, `"A"` to `"F"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Admiralty::A => "A",
            Admiralty::B => "B",
            Admiralty::C => "C",
            Admiralty::D => "D",
            Admiralty::E => "E",
            Admiralty::F => "F",
        }
    }

    /// Whether this is `F`, "cannot be judged".
    #[must_use]
    pub const fn is_unknown(self) -> bool {
        matches!(self, Admiralty::F)
    }
}

/// An analyst's assessment of a source's reliability, possibly limited to a scope.
///
/// Reliability is revised by recording new assessments, never by editing old ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ReliabilityAssessment {
    /// The assessment's id (`reliability:...`).
    pub id: EntityId,
    /// The assessed source (`source:...`).
    pub source: EntityId,
    /// The Admiralty grade.
    pub rating: Admiralty,
    /// What the rating applies to, e.g. "DPRK arms transfers"; absent means in general.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Why the analyst chose this rating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
}

/// An analyst's designation of a source as an interested party to a question: a party to
/// what the question asks about (two governments asked about their own joint activity), whose
/// word on it is not independent of the other parties' on the same side.
///
/// A designation is recorded, never edited or withdrawn; it takes effect from its recorded
/// time, so views as of an earlier time are unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct InterestDesignation {
    /// The designation's id (`interest:...`).
    pub id: EntityId,
    /// The designated source (`source:...`).
    pub source: EntityId,
    /// The question it is an interested party to (`question:...`).
    pub question: EntityId,
    /// Why the analyst holds the source to be a party to the question.
    pub rationale: String,
    /// Anything else worth recording with the designation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A report as recorded in the ledger: metadata and the BLAKE3 hash of its text.
///
/// The text itself lives in the content store, keyed by `content_hash`, so that it can be
/// redacted later without breaking the chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Report {
    /// The report's id (`report:...`).
    pub id: EntityId,
    /// Who published it, e.g. the outlet's name.
    pub publisher: String,
    /// The report's title.
    pub title: String,
    /// When it was published.
    pub published: Timestamp,
    /// When it was retrieved (may be earlier than `published` for pre-release copies).
    pub retrieved: Timestamp,
    /// Where it was retrieved from (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// BCP 47 language tag of the text, e.g. "en" or "ko".
    pub language: String,
    /// The report's TLP marking.
    pub marking: Marking,
    /// BLAKE3 hash of the UTF-8 text, 64 lowercase hex digits.
    pub content_hash: String,
    /// Length of the text in Unicode scalar values (characters).
    pub text_chars: u64,
}

/// A report as written in a bundle: the metadata of a [`Report`] plus its full text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ReportEntry {
    /// The report's id (`report:...`).
    pub id: EntityId,
    /// Who published it, e.g. the outlet's name.
    pub publisher: String,
    /// The report's title.
    pub title: String,
    /// When it was published.
    pub published: Timestamp,
    /// When it was retrieved (may be earlier than `published` for pre-release copies).
    pub retrieved: Timestamp,
    /// Where it was retrieved from (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// BCP 47 language tag of the text, e.g. "en" or "ko".
    pub language: String,
    /// The report's TLP marking.
    pub marking: Marking,
    /// The full text; quote spans count characters into it.
    pub text: String,
}

impl ReportEntry {
    /// The event body of this report: the same metadata with the BLAKE3 hash of the text
    /// (lowercase hex) and its length in characters instead of the text.
    #[must_use]
    pub fn to_report(&self) -> Report {
        Report {
            id: self.id.clone(),
            publisher: self.publisher.clone(),
            title: self.title.clone(),
            published: self.published,
            retrieved: self.retrieved,
            url: self.url.clone(),
            language: self.language.clone(),
            marking: self.marking,
            content_hash: content_hash(&self.text),
            text_chars: self.text.chars().count() as u64,
        }
    }
}

/// The BLAKE3 hash of a text's UTF-8 bytes, as 64 lowercase hex digits.
#[must_use]
pub fn content_hash(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

/// What analysts want to know.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Question {
    /// The question's id (`question:...`).
    pub id: EntityId,
    /// The question, e.g. "How many containers of munitions has the DPRK shipped to Russia since July 2023?".
    pub text: String,
    /// The kind of answer expected.
    pub kind: QuestionKind,
    /// Whether the question asks about a changing state or about an event. Absent means the
    /// default of its kind ([`QuestionKind::default_subject`]); the field enters the event body
    /// (schema version 2) only when a bundle gives it, so questions written before it existed
    /// keep their bodies and event ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<Subject>,
}

impl Question {
    /// What the question asks about: [`Question::about`] if given, else its kind's default.
    #[must_use]
    pub fn subject(&self) -> Subject {
        self.about.unwrap_or_else(|| self.kind.default_subject())
    }
}

/// What a question asks about, which decides how its claims are ranked and in force
/// (`docs/BELIEFS.md`, rules 2 and 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// A state that changes over time ("how many containers by now?", "are transfers going
    /// on?"): the later valid time wins.
    State,
    /// Whether an event happened ("was the dam struck on 3 May?"): better-sourced claims win,
    /// and a claim about the event stays in force after it.
    Event,
}

impl Subject {
    /// The serialized name (`"state"`, `"event"`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Subject::State => "state",
            Subject::Event => "event",
        }
    }
}

/// The kind of answer a [`Question`] expects, written `{"type": "quantity", "unit": "containers"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    deny_unknown_fields,
    from = "question_kind_repr::QuestionKind"
)]
pub enum QuestionKind {
    /// Yes or no ("did transfers happen?").
    Boolean,
    /// A number of some unit ("containers shipped since 2023-07").
    Quantity {
        /// The unit answers are given in, e.g. "containers".
        unit: String,
    },
    /// One of a fixed set of categories.
    Categorical {
        /// The allowed categories.
        categories: Vec<String>,
    },
    /// Will an event happen (in a window)? Claims forecast it; a resolution settles it.
    Forecast {
        /// The event forecast, e.g. "DPRK launches a reconnaissance satellite".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event: Option<String>,
        /// The window in which the event must happen.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        window: Option<ValidTime>,
    },
}

/// The deserialization form of [`QuestionKind`].
///
/// serde ignores unknown fields next to the tag of an internally tagged *unit* variant, so
/// `{"type": "boolean", "unit": "x"}` would be silently accepted; an empty struct variant
/// rejects them.
mod question_kind_repr {
    use schemars::JsonSchema;
    use serde::Deserialize;

    use crate::time::ValidTime;

    /// The kind of answer a question expects, written `{"type": "quantity", "unit": "containers"}`.
    #[derive(Deserialize, JsonSchema)]
    #[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
    pub enum QuestionKind {
        /// Yes or no ("did transfers happen?").
        Boolean {},
        /// A number of some unit ("containers shipped since 2023-07").
        Quantity {
            /// The unit answers are given in, e.g. "containers".
            unit: String,
        },
        /// One of a fixed set of categories.
        Categorical {
            /// The allowed categories.
            categories: Vec<String>,
        },
        /// Will an event happen (in a window)? Claims forecast it; a resolution settles it.
        Forecast {
            /// The event forecast, e.g. "DPRK launches a reconnaissance satellite".
            #[serde(default)]
            event: Option<String>,
            /// The window in which the event must happen.
            #[serde(default)]
            window: Option<ValidTime>,
        },
    }

    impl From<QuestionKind> for super::QuestionKind {
        fn from(repr: QuestionKind) -> Self {
            match repr {
                QuestionKind::Boolean {} => super::QuestionKind::Boolean,
                QuestionKind::Quantity { unit } => super::QuestionKind::Quantity { unit },
                QuestionKind::Categorical { categories } => {
                    super::QuestionKind::Categorical { categories }
                }
                QuestionKind::Forecast { event, window } => {
                    super::QuestionKind::Forecast { event, window }
                }
            }
        }
    }
}

impl QuestionKind {
    /// What a question of this kind asks about unless it says: a forecast asks whether an
    /// event happens; boolean, quantity and categorical questions ask about a state.
    #[must_use]
    pub const fn default_subject(&self) -> Subject {
        match self {
            QuestionKind::Forecast { .. } => Subject::Event,
            QuestionKind::Boolean
            | QuestionKind::Quantity { .. }
            | QuestionKind::Categorical { .. } => Subject::State,
        }
    }

    /// The `type` tag: `"boolean"`, `"quantity"`, `"categorical"` or `"forecast"`.
    #[must_use]
    pub const fn type_name(&self) -> &'static str {
        match self {
            QuestionKind::Boolean => "boolean",
            QuestionKind::Quantity { .. } => "quantity",
            QuestionKind::Categorical { .. } => "categorical",
            QuestionKind::Forecast { .. } => "forecast",
        }
    }
}

/// What a claim does with its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stance {
    /// The speaker states the value holds.
    Asserts,
    /// The speaker states the value does not hold.
    Denies,
    /// The speaker predicts a future event (forecast questions only).
    Forecasts,
}

impl Stance {
    /// The serialized name (`"asserts"`, `"denies"`, `"forecasts"`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Stance::Asserts => "asserts",
            Stance::Denies => "denies",
            Stance::Forecasts => "forecasts",
        }
    }
}

/// How a quantity is qualified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Qualifier {
    /// Exactly the value (the default).
    #[default]
    Exact,
    /// About the value ("approximately 7,000").
    Approximately,
    /// The value or more ("at least 7,000").
    AtLeast,
    /// The value or less.
    AtMost,
}

/// The value a claim states, e.g. `{"quantity": {"value": 7000, "qualifier": "at_least", "unit": "containers"}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ClaimValue {
    /// A yes/no value: `{"boolean": true}`.
    Boolean(bool),
    /// A number, possibly qualified.
    Quantity {
        /// The number (finite, not negative).
        value: f64,
        /// How the number is qualified; default `exact`.
        #[serde(default)]
        qualifier: Qualifier,
        /// The unit; if given it must equal the question's unit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
    },
    /// A range of numbers, `low` ≤ `high`.
    Range {
        /// Lower bound (finite, not negative).
        low: f64,
        /// Upper bound (finite, not below `low`).
        high: f64,
        /// The unit; if given it must equal the question's unit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
    },
    /// One of a categorical question's categories: `{"category": "rail"}`.
    Category(String),
}

impl ClaimValue {
    /// The variant's name: `"boolean"`, `"quantity"`, `"range"` or `"category"`.
    #[must_use]
    pub const fn type_name(&self) -> &'static str {
        match self {
            ClaimValue::Boolean(_) => "boolean",
            ClaimValue::Quantity { .. } => "quantity",
            ClaimValue::Range { .. } => "range",
            ClaimValue::Category(_) => "category",
        }
    }
}

/// A short verbatim quote and its character span in the report text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Quote {
    /// The quoted text; must equal the report text's characters `start..end` exactly.
    pub text: String,
    /// Offset of the first quoted character, in Unicode scalar values (not bytes).
    pub start: u64,
    /// Offset just past the last quoted character (exclusive), in Unicode scalar values.
    pub end: u64,
}

/// Information credibility on the Admiralty scale, 1 (confirmed) to 6.
///
/// 6 means "truth cannot be judged": it is unknown, not the worst grade (which is 5,
/// improbable). Values outside 1–6 are rejected when parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Credibility(u8);

/// The error returned for a credibility outside 1–6.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("credibility must be 1 to 6 (6 = truth cannot be judged), got {0}")]
pub struct CredibilityError(pub u8);

impl Credibility {
    /// Builds a credibility, checking it is 1–6.
    ///
    /// # Errors
    /// Returns [`CredibilityError`] for 0 or 7 and above.
    pub const fn new(value: u8) -> Result<Self, CredibilityError> {
        if value >= 1 && value <= 6 {
            Ok(Credibility(value))
        } else {
            Err(CredibilityError(value))
        }
    }

    /// The grade, 1–6.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Whether this is 6, "truth cannot be judged".
    #[must_use]
    pub const fn is_unknown(self) -> bool {
        self.0 == 6
    }
}

impl TryFrom<u8> for Credibility {
    type Error = CredibilityError;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Credibility::new(value)
    }
}

impl From<Credibility> for u8 {
    fn from(c: Credibility) -> Self {
        c.0
    }
}

impl fmt::Display for Credibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl JsonSchema for Credibility {
    fn schema_name() -> Cow<'static, str> {
        "Credibility".into()
    }

    fn schema_id() -> Cow<'static, str> {
        concat!(module_path!(), "::Credibility").into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "minimum": 1,
            "maximum": 6,
            "description": "Information credibility: 1 confirmed, 2 probably true, 3 possibly true, 4 doubtful, 5 improbable, 6 truth cannot be judged (unknown, not worst)"
        })
    }
}

/// A likelihood expression kept verbatim, with its ICD 203 band.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Likelihood {
    /// The wording as written in the report, e.g. "highly likely".
    pub wording: String,
    /// The ICD 203 band; if absent in a bundle it is derived from the wording.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<Icd203Band>,
    /// The wording → band mapping version; filled in by validation (leave it out in bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<String>,
}

/// One statement in one report, attributed to a speaker, on one question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Claim {
    /// The claim's id (`claim:...`).
    pub id: EntityId,
    /// The report the claim appears in (`report:...`); in a bundle it defaults to the bundle's
    /// report, in a recorded event it is always present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<EntityId>,
    /// The question the claim answers (`question:...`).
    pub question: EntityId,
    /// Who makes the claim (`source:...`).
    pub speaker: EntityId,
    /// The outlet relaying the speaker, if any (`source:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<EntityId>,
    /// Whether the speaker asserts, denies or forecasts.
    pub stance: Stance,
    /// The value stated, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ClaimValue>,
    /// The world time the claim is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_time: Option<ValidTime>,
    /// When the speaker said it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uttered: Option<Timestamp>,
    /// Where in the report the claim is made.
    pub quote: Quote,
    /// Information credibility, 1–6.
    pub credibility: Credibility,
    /// The speaker's likelihood wording, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likelihood: Option<Likelihood>,
}

/// The kind of a [`Relation`] between claims.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    /// `from` replaces `to`: the same source updates its own figure on the same question.
    Supersedes,
    /// `from` contradicts `to`.
    Disputes,
    /// `from` supports `to` (independence must be stated).
    Corroborates,
    /// `from` (a claim or a report) withdraws `to`.
    Retracts,
}

impl RelationKind {
    /// The serialized name (`"supersedes"`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RelationKind::Supersedes => "supersedes",
            RelationKind::Disputes => "disputes",
            RelationKind::Corroborates => "corroborates",
            RelationKind::Retracts => "retracts",
        }
    }
}

impl fmt::Display for RelationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How independent a corroborating claim is from the one it corroborates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Independence {
    /// The two claims come from independent primary sources.
    Independent,
    /// Both claims trace back to the same primary source.
    SamePrimarySource,
    /// Independence is not known.
    Unknown,
}

/// A relation between claims: `from` supersedes / disputes / corroborates / retracts `to`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Relation {
    /// The kind of relation.
    pub kind: RelationKind,
    /// The relating claim (`claim:...`; for `retracts` also a `report:...`).
    pub from: EntityId,
    /// The related claim (`claim:...`).
    pub to: EntityId,
    /// Required for `corroborates`, forbidden otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub independence: Option<Independence>,
    /// Free-text note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Relation {
    /// The relation's identity in the ledger: `"{kind}|{from}|{to}"`.
    #[must_use]
    pub fn entity_key(&self) -> String {
        format!("{}|{}|{}", self.kind, self.from, self.to)
    }
}

/// Analytic confidence in an [`Assessment`].
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Low confidence.
    Low,
    /// Moderate confidence.
    Moderate,
    /// High confidence.
    High,
}

impl Confidence {
    /// The serialized name (`"low"`, `"moderate"`, `"high"`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Moderate => "moderate",
            Confidence::High => "high",
        }
    }
}

/// An analyst's own judgment on a question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Assessment {
    /// The assessment's id (`assessment:...`).
    pub id: EntityId,
    /// The question judged (`question:...`).
    pub question: EntityId,
    /// The analyst's answer, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ClaimValue>,
    /// The ICD 203 likelihood of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likelihood: Option<Icd203Band>,
    /// Analytic confidence.
    pub confidence: Confidence,
    /// Why the analyst judges so.
    pub rationale: String,
    /// The claims the judgment rests on (`claim:...`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub based_on: Vec<EntityId>,
}

/// The resolution of a forecast claim, true or false, by a later claim or an assessment.
///
/// A forecast is resolved at most once; its identity in the ledger is the forecast's id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ForecastResolution {
    /// The resolved claim (`claim:...` with stance `forecasts`).
    pub forecast: EntityId,
    /// Whether the forecast event happened.
    pub outcome: bool,
    /// The claim or assessment that settles it.
    pub by: EntityId,
    /// Free-text note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ForecastResolution {
    /// The resolution's identity in the ledger: the forecast claim's id.
    #[must_use]
    pub fn entity_key(&self) -> String {
        self.forecast.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn marking_strings() {
        assert_eq!(
            serde_json::to_string(&Marking::AmberStrict).unwrap(),
            "\"TLP:AMBER+STRICT\""
        );
        assert_eq!(
            "tlp:amber+strict".parse::<Marking>().unwrap(),
            Marking::AmberStrict
        );
        assert_eq!("green".parse::<Marking>().unwrap(), Marking::Green);
        assert!("TLP:WHITE".parse::<Marking>().is_err());
        for m in Marking::ALL {
            assert_eq!(m.as_str().parse::<Marking>().unwrap(), m);
        }
    }

    #[test]
    fn claim_value_json_shapes() {
        let v: ClaimValue = serde_json::from_str(
            r#"{"quantity": {"value": 7000, "qualifier": "at_least", "unit": "containers"}}"#,
        )
        .unwrap();
        assert_eq!(
            v,
            ClaimValue::Quantity {
                value: 7000.0,
                qualifier: Qualifier::AtLeast,
                unit: Some("containers".into())
            }
        );
        let v: ClaimValue = serde_json::from_str(r#"{"quantity": {"value": 6700}}"#).unwrap();
        assert!(matches!(
            v,
            ClaimValue::Quantity {
                qualifier: Qualifier::Exact,
                unit: None,
                ..
            }
        ));
        let v: ClaimValue =
            serde_json::from_str(r#"{"range": {"low": 6500, "high": 7000}}"#).unwrap();
        assert_eq!(v.type_name(), "range");
        assert_eq!(
            serde_json::to_string(&ClaimValue::Boolean(true)).unwrap(),
            r#"{"boolean":true}"#
        );
        assert_eq!(
            serde_json::to_string(&ClaimValue::Category("rail".into())).unwrap(),
            r#"{"category":"rail"}"#
        );
        assert!(
            serde_json::from_str::<ClaimValue>(r#"{"quantity": {"value": 1, "extra": 2}}"#)
                .is_err()
        );
    }

    #[test]
    fn question_kind_is_internally_tagged() {
        let k: QuestionKind =
            serde_json::from_str(r#"{"type": "quantity", "unit": "containers"}"#).unwrap();
        assert_eq!(
            k,
            QuestionKind::Quantity {
                unit: "containers".into()
            }
        );
        assert_eq!(
            serde_json::to_string(&QuestionKind::Boolean).unwrap(),
            r#"{"type":"boolean"}"#
        );
        assert!(
            serde_json::from_str::<QuestionKind>(r#"{"type": "quantity", "unit": "x", "y": 1}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<QuestionKind>(r#"{"type": "boolean", "y": 1}"#).is_err());
    }

    #[test]
    fn credibility_range() {
        assert!(serde_json::from_str::<Credibility>("0").is_err());
        assert!(serde_json::from_str::<Credibility>("7").is_err());
        assert_eq!(serde_json::from_str::<Credibility>("6").unwrap().get(), 6);
        assert!(Credibility::new(6).unwrap().is_unknown());
        assert_eq!(
            serde_json::to_string(&Credibility::new(2).unwrap()).unwrap(),
            "2"
        );
    }

    #[test]
    fn report_entry_hashes_text() {
        let entry = ReportEntry {
            id: EntityId::parse("report:x").unwrap(),
            publisher: "P".into(),
            title: "T".into(),
            published: Timestamp::parse("2024-03-19T17:04:00Z").unwrap(),
            retrieved: Timestamp::parse("2024-03-19T17:04:00Z").unwrap(),
            url: None,
            language: "ko".into(),
            marking: Marking::Clear,
            text: "신원식 국방부 장관".into(),
        };
        let report = entry.to_report();
        assert_eq!(report.text_chars, 10);
        assert_eq!(
            report.content_hash,
            blake3::hash(entry.text.as_bytes()).to_hex().to_string()
        );
        assert_eq!(report.content_hash.len(), 64);
        assert!(
            report
                .content_hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }

    #[test]
    fn relation_entity_key() {
        let r = Relation {
            kind: RelationKind::Supersedes,
            from: EntityId::parse("claim:b").unwrap(),
            to: EntityId::parse("claim:a").unwrap(),
            independence: None,
            note: None,
        };
        assert_eq!(r.entity_key(), "supersedes|claim:b|claim:a");
    }
}
