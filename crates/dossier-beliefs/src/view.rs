//! The belief views the engine produces.
//!
//! Every type here serializes deterministically: struct fields in declaration order, sets as
//! sorted `Vec`s, never a `HashMap`; and deserializes from that JSON, so that a client of the
//! HTTP API or a stored view reads back the same typed value. The canonical JSON of [`Belief`]s is what
//! [`Engine::digest`](crate::Engine::digest) hashes, so changing a field here changes digests and
//! must come with a new [`POLICY_VERSION`](crate::POLICY_VERSION).

use std::fmt;

use dossier_model::{
    Admiralty, ClaimValue, Confidence, EntityId, Icd203Band, Independence, Likelihood,
    QuestionKind, Quote, RelationKind, SourceKind, Stance, Timestamp, ValidTime,
};
use serde::{Deserialize, Serialize};

/// Where an event sits in the ledger: its sequence number, record hash and recorded time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EventRef {
    /// Sequence number of the record (1-based, contiguous).
    pub seq: u64,
    /// Hex record hash of the record.
    pub hash: String,
    /// When the ledger learned of the event (transaction time).
    pub recorded: Timestamp,
}

/// One status flag of a belief. A belief carries a *set* of flags (see [`Status`]).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// There is a value from active claims and no active claim contradicts it.
    Uncontested,
    /// The value is supported by at least two independent sources.
    Corroborated,
    /// An active claim contradicts the value (a denial, a `disputes` relation, or the opposite
    /// answer to a yes/no question).
    Disputed,
    /// Independent sources give figures that cannot both hold, or different categories: the
    /// value is their spread or alternatives, not one answer.
    Divergent,
    /// At least one claim in the view has been superseded by its speaker.
    SupersededHistory,
    /// At least one claim in the view has been retracted.
    Retracted,
    /// A forecast on the question awaits its resolution.
    ForecastPending,
    /// The forecast was resolved: the event happened.
    ForecastResolvedTrue,
    /// The forecast was resolved: the event did not happen.
    ForecastResolvedFalse,
    /// No claim on the question is active (none recorded, or all retracted or superseded).
    NoActiveClaim,
}

impl Flag {
    /// The serialized name, e.g. `"superseded_history"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Flag::Uncontested => "uncontested",
            Flag::Corroborated => "corroborated",
            Flag::Disputed => "disputed",
            Flag::Divergent => "divergent",
            Flag::SupersededHistory => "superseded_history",
            Flag::Retracted => "retracted",
            Flag::ForecastPending => "forecast_pending",
            Flag::ForecastResolvedTrue => "forecast_resolved_true",
            Flag::ForecastResolvedFalse => "forecast_resolved_false",
            Flag::NoActiveClaim => "no_active_claim",
        }
    }
}

/// The one-word summary of a belief's status, derived from its flags (rule S in
/// `docs/BELIEFS.md`).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Summary {
    /// The forecast was resolved true.
    ResolvedTrue,
    /// The forecast was resolved false.
    ResolvedFalse,
    /// Active claims contradict the value.
    Disputed,
    /// A forecast awaits resolution.
    Pending,
    /// Independent sources diverge; not contradicted otherwise.
    Divergent,
    /// Independently corroborated and not disputed.
    Corroborated,
    /// A value, not contradicted, not independently corroborated.
    Uncontested,
    /// No active claim, and at least one claim was retracted.
    Retracted,
    /// No active claim, and at least one claim was superseded (none retracted).
    Superseded,
    /// Nothing answers the question.
    Unanswered,
}

impl Summary {
    /// The serialized name, e.g. `"resolved_false"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Summary::ResolvedTrue => "resolved_true",
            Summary::ResolvedFalse => "resolved_false",
            Summary::Disputed => "disputed",
            Summary::Pending => "pending",
            Summary::Divergent => "divergent",
            Summary::Corroborated => "corroborated",
            Summary::Uncontested => "uncontested",
            Summary::Retracted => "retracted",
            Summary::Superseded => "superseded",
            Summary::Unanswered => "unanswered",
        }
    }

    /// The summary that a set of flags implies (rule S in `docs/BELIEFS.md`).
    #[must_use]
    pub fn from_flags(flags: &[Flag]) -> Summary {
        let has = |f: Flag| flags.contains(&f);
        if has(Flag::ForecastResolvedTrue) {
            Summary::ResolvedTrue
        } else if has(Flag::ForecastResolvedFalse) {
            Summary::ResolvedFalse
        } else if has(Flag::NoActiveClaim) {
            if has(Flag::Retracted) {
                Summary::Retracted
            } else if has(Flag::SupersededHistory) {
                Summary::Superseded
            } else {
                Summary::Unanswered
            }
        } else if has(Flag::Disputed) {
            Summary::Disputed
        } else if has(Flag::ForecastPending) {
            Summary::Pending
        } else if has(Flag::Divergent) {
            Summary::Divergent
        } else if has(Flag::Corroborated) {
            Summary::Corroborated
        } else if has(Flag::Uncontested) {
            Summary::Uncontested
        } else {
            Summary::Unanswered
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A belief's status: a sorted set of flags and the one-word summary they imply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Status {
    /// The flags, sorted in the order of [`Flag`]'s variants, without duplicates.
    pub flags: Vec<Flag>,
    /// The one-word summary, always [`Summary::from_flags`] of `flags`.
    pub summary: Summary,
}

impl Status {
    /// Builds a status from flags (sorted and deduplicated here).
    #[must_use]
    pub fn new(mut flags: Vec<Flag>) -> Status {
        flags.sort_unstable();
        flags.dedup();
        let summary = Summary::from_flags(&flags);
        Status { flags, summary }
    }

    /// Whether the status has a flag.
    #[must_use]
    pub fn has(&self, flag: Flag) -> bool {
        self.flags.contains(&flag)
    }
}

/// The answer of a belief: one value, or the span of values when active claims disagree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BeliefValue {
    /// One value: all active claims that give a value agree, or the question is yes/no (where
    /// disagreement is a dispute), or it is an analyst's judgment or a forecast resolution.
    Single {
        /// The value.
        value: ClaimValue,
    },
    /// Active claims on a quantity question give different figures: the smallest and largest.
    Range {
        /// The smallest figure (a range claim contributes its `low`).
        low: f64,
        /// The largest figure (a range claim contributes its `high`).
        high: f64,
        /// The question's unit.
        #[serde(skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
    },
    /// Active claims on a categorical question give different categories: each distinct value,
    /// best-ranked first.
    Alternatives {
        /// The distinct values, in ranking order of the best claim giving each.
        values: Vec<ClaimValue>,
    },
}

/// The question a belief answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QuestionView {
    /// The question's id.
    pub id: EntityId,
    /// The question's text.
    pub text: String,
    /// The kind of answer expected.
    pub kind: QuestionKind,
    /// The `question.posed` event.
    pub event: EventRef,
}

/// A source's reliability as assessed at the time of the view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReliabilityView {
    /// The Admiralty grade.
    pub rating: Admiralty,
    /// `false` for `F` ("cannot be judged"): unknown, never "worst".
    pub known: bool,
    /// The reliability assessment's id.
    pub assessment: EntityId,
    /// What the rating applies to, if scoped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The `source.reliability_assessed` event.
    pub event: EventRef,
}

/// A designation of a source as an interested party to a question (rule 5a).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InterestView {
    /// The designation's id.
    pub designation: EntityId,
    /// Why the analyst holds the source to be a party to the question.
    pub rationale: String,
    /// The `source.interest_designated` event.
    pub event: EventRef,
}

/// A speaker or relaying outlet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SourceView {
    /// The source's id.
    pub id: EntityId,
    /// Display name, if the source is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What kind of speaker, if the source is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<SourceKind>,
    /// The latest reliability assessment recorded so far; `None` if never assessed (unknown).
    pub reliability: Option<ReliabilityView>,
    /// For the speaker of a claim on the belief's question: its designation as an interested
    /// party to that question (rule 5a), the first recorded so far; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interest: Option<InterestView>,
    /// The `source.registered` event, if recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventRef>,
}

/// The report a claim appears in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportView {
    /// The report's id.
    pub id: EntityId,
    /// The title, if the report is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The publisher, if the report is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// When it was published, if the report is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<Timestamp>,
    /// BLAKE3 hash of the text (the content-store key), if the report is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// The `report.recorded` event, if recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventRef>,
}

/// Information credibility 1–6; 6 ("truth cannot be judged") is unknown, never worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CredibilityView {
    /// The grade, 1 (confirmed) to 6 (cannot be judged).
    pub grade: u8,
    /// `false` for 6.
    pub known: bool,
}

/// A relation touching a claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RelationView {
    /// The kind of relation.
    pub kind: RelationKind,
    /// The relating claim or (for `retracts`) report.
    pub from: EntityId,
    /// The related claim.
    pub to: EntityId,
    /// For `corroborates`: how independent `from` is of `to`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub independence: Option<Independence>,
    /// The analyst's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The `claim.related` event.
    pub event: EventRef,
}

/// Whether a claim counts in the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    /// Neither retracted nor superseded in this view.
    Active,
    /// Replaced by a later claim of the same speaker (rule 3).
    Superseded,
    /// Withdrawn (rule 4).
    Retracted,
}

/// One claim with its full provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClaimView {
    /// The claim's id.
    pub id: EntityId,
    /// The question it answers.
    pub question: EntityId,
    /// Whether it counts in this view.
    pub state: ClaimState,
    /// Asserts, denies or forecasts.
    pub stance: Stance,
    /// The value stated, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<ClaimValue>,
    /// The world time the claim is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_time: Option<ValidTime>,
    /// When the speaker said it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uttered: Option<Timestamp>,
    /// The quote and its character span in the report.
    pub quote: Quote,
    /// Information credibility.
    pub credibility: CredibilityView,
    /// The speaker's likelihood wording and its ICD 203 band.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub likelihood: Option<Likelihood>,
    /// The report the claim appears in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportView>,
    /// Who makes the claim, with reliability as assessed at the time of the view.
    pub speaker: SourceView,
    /// The outlet relaying the speaker, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<SourceView>,
    /// Claims that supersede this one in this view, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub superseded_by: Vec<EntityId>,
    /// Claims or reports that retract this one, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retracted_by: Vec<EntityId>,
    /// For a resolved forecast claim: the outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<bool>,
    /// Every relation from or to this claim, in sequence order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relations: Vec<RelationView>,
    /// The `claim.recorded` event.
    pub event: EventRef,
}

/// The analyst assessment that gives the judgment (rule 9).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AssessmentView {
    /// The assessment's id.
    pub id: EntityId,
    /// The analyst's answer, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<ClaimValue>,
    /// ICD 203 likelihood, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub likelihood: Option<Icd203Band>,
    /// Analytic confidence.
    pub confidence: Confidence,
    /// The analyst's rationale.
    pub rationale: String,
    /// The claims the judgment rests on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub based_on: Vec<EntityId>,
    /// The `assessment.recorded` event.
    pub event: EventRef,
}

/// The resolution settling a forecast on the question (rule 10).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResolutionView {
    /// The resolved forecast claim.
    pub forecast: EntityId,
    /// Whether the forecast event happened.
    pub outcome: bool,
    /// The claim or assessment that settles it.
    pub by: EntityId,
    /// The analyst's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The `forecast.resolved` event.
    pub event: EventRef,
}

/// Why the belief is what it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Provenance {
    /// Active claims that support the value, best-ranked first.
    pub supporting: Vec<ClaimView>,
    /// Active claims that contradict it, best-ranked first.
    pub contradicting: Vec<ClaimView>,
    /// Other active claims on the question (different figures or categories, claims without a
    /// value), best-ranked first.
    pub other: Vec<ClaimView>,
    /// Superseded claims, in sequence order (the supersession history).
    pub superseded: Vec<ClaimView>,
    /// Retracted claims, in sequence order.
    pub retracted: Vec<ClaimView>,
    /// The assessment giving the judgment, in the current view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment: Option<AssessmentView>,
    /// The resolution settling the question's forecast.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ResolutionView>,
}

impl Provenance {
    /// Every claim, once each: supporting, contradicting, other, superseded, retracted, in that
    /// order.
    pub fn claims(&self) -> impl Iterator<Item = &ClaimView> {
        self.supporting
            .iter()
            .chain(&self.contradicting)
            .chain(&self.other)
            .chain(&self.superseded)
            .chain(&self.retracted)
    }
}

/// The current belief on one question, with full provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Belief {
    /// The question.
    pub question: QuestionView,
    /// The valid time the view answers for; `None` for the current view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_at: Option<Timestamp>,
    /// The answer: the analyst's judgment if an assessment gives a value (current view only),
    /// otherwise `evidence_value`.
    pub value: Option<BeliefValue>,
    /// What the claims (or a forecast resolution) alone say.
    pub evidence_value: Option<BeliefValue>,
    /// Flags and one-word summary.
    pub status: Status,
    /// ICD 203 likelihood, when an assessment gives one.
    pub likelihood: Option<Icd203Band>,
    /// Analytic confidence, when an assessment gives one.
    pub confidence: Option<Confidence>,
    /// The best-ranked active claim giving the evidence value.
    pub best_claim: Option<EntityId>,
    /// Independent sources among the supporting claims (rule 5).
    pub sources: usize,
    /// Supporting, contradicting, other, superseded and retracted claims, the assessment and the
    /// resolution, each with the events that recorded them.
    pub provenance: Provenance,
    /// The rules version that produced the view, [`POLICY_VERSION`](crate::POLICY_VERSION).
    pub policy: String,
}

impl Belief {
    /// The belief's judgment without its provenance: its [`BeliefLine`].
    #[must_use]
    pub fn line(&self) -> BeliefLine {
        BeliefLine {
            question: QuestionRef {
                id: self.question.id.clone(),
            },
            value: self.value.clone(),
            status: self.status.clone(),
            best_claim: self.best_claim.clone(),
            likelihood: self.likelihood,
            confidence: self.confidence,
            sources: self.sources,
        }
    }

    /// The parts of the belief whose change is a change of belief (see [`BeliefChange`]).
    #[must_use]
    pub fn summary(&self) -> BeliefSummary {
        BeliefSummary::of(
            self.value.as_ref(),
            &self.status,
            self.best_claim.as_ref(),
            self.likelihood,
            self.confidence,
        )
    }
}

/// A question, by id (its text is in the belief with provenance).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QuestionRef {
    /// Question id.
    pub id: EntityId,
}

/// A question's current judgment without provenance: what `dossier beliefs` lists and what
/// [`Engine::digest`](crate::Engine::digest) hashes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BeliefLine {
    /// The question.
    pub question: QuestionRef,
    /// The answer: the analyst's judgment if there is one, else the evidence value.
    pub value: Option<BeliefValue>,
    /// Flags and summary.
    pub status: Status,
    /// The best-ranked active claim giving the evidence value.
    pub best_claim: Option<EntityId>,
    /// ICD 203 likelihood from an assessment.
    pub likelihood: Option<Icd203Band>,
    /// Analytic confidence from an assessment.
    pub confidence: Option<Confidence>,
    /// Independent sources among the supporting claims (rule 5).
    pub sources: usize,
}

impl BeliefLine {
    /// The parts whose change is a change of belief (see [`BeliefChange`]).
    #[must_use]
    pub fn summary(&self) -> BeliefSummary {
        BeliefSummary::of(
            self.value.as_ref(),
            &self.status,
            self.best_claim.as_ref(),
            self.likelihood,
            self.confidence,
        )
    }
}

/// The judgment-bearing parts of a belief; a change in any of them is a [`BeliefChange`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BeliefSummary {
    /// The answer.
    pub value: Option<BeliefValue>,
    /// The one-word summary.
    pub summary: Summary,
    /// The status flags.
    pub flags: Vec<Flag>,
    /// The best-ranked claim.
    pub best_claim: Option<EntityId>,
    /// ICD 203 likelihood from an assessment.
    pub likelihood: Option<Icd203Band>,
    /// Analytic confidence from an assessment.
    pub confidence: Option<Confidence>,
}

impl BeliefSummary {
    fn of(
        value: Option<&BeliefValue>,
        status: &Status,
        best_claim: Option<&EntityId>,
        likelihood: Option<Icd203Band>,
        confidence: Option<Confidence>,
    ) -> BeliefSummary {
        BeliefSummary {
            value: value.cloned(),
            summary: status.summary,
            flags: status.flags.clone(),
            best_claim: best_claim.cloned(),
            likelihood,
            confidence,
        }
    }
}

/// A change of belief on one question and the event that caused it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BeliefChange {
    /// The question whose belief changed.
    pub question: EntityId,
    /// Sequence number of the causing event.
    pub seq: u64,
    /// Record hash of the causing event.
    pub hash: String,
    /// Recorded time of the causing event.
    pub recorded: Timestamp,
    /// Type of the causing event, e.g. `claim.related`.
    pub event_type: String,
    /// The belief before; `None` when the question was just posed.
    pub before: Option<BeliefSummary>,
    /// The belief after.
    pub after: BeliefSummary,
    /// One line saying why, e.g. `claim:a superseded by claim:b (seq 28)`.
    pub reason: String,
}
