//! Semantic validation of a parsed [`Bundle`] and its conversion into events.
//!
//! A bundle may refer to entities already recorded in the ledger. The caller (which does the
//! I/O) asks the bundle what it refers to with [`Bundle::external_references`], fetches those
//! entities into [`KnownEntities`], and calls [`validate`]. Validation collects *all* problems,
//! each with file, JSON Pointer path and reason; a bundle with any problem is rejected whole.

use std::collections::{BTreeMap, BTreeSet};

use crate::bundle::{BUNDLE_VERSION, Bundle, BundleError, BundleErrors, MAX_EVENTS_PER_BUNDLE};
use crate::entity::{
    Claim, ClaimValue, Likelihood, Marking, Question, QuestionKind, RelationKind, Report, Stance,
};
use crate::event::{DomainEvent, MarkedEvent};
use crate::id::{EntityId, EntityKind};
use crate::likelihood::{MAPPING_V1, MAPPING_VERSION, MAPPING_VERSIONS, mapped};
use crate::time::ValidTime;

/// Longest title, name, category, unit or other short text, in characters.
pub const MAX_SHORT_TEXT_CHARS: usize = 1_000;
/// Longest quote, in characters.
pub const MAX_QUOTE_CHARS: usize = 2_000;
/// Longest rationale, note, description or other long text, in characters.
pub const MAX_LONG_TEXT_CHARS: usize = 10_000;
/// Longest report URL, in characters.
pub const MAX_URL_CHARS: usize = 2_000;
/// Longest language tag, in characters (BCP 47 recommends supporting at least 35).
pub const MAX_LANGUAGE_CHARS: usize = 35;
/// Largest encoded event body, in bytes: with its envelope a record stays under the chain's 256 KiB
/// record limit, and so far below NATS's 1 MiB payload limit.
pub const MAX_EVENT_BODY_BYTES: usize = 192 * 1024;

/// A validation problem; the same type as a parse problem.
pub type ValidationError = BundleError;

/// A report already recorded in the ledger, with its text if the content store still has it.
#[derive(Clone, Debug, PartialEq)]
pub struct KnownReport {
    /// The recorded report.
    pub report: Report,
    /// The report text from the content store; `None` if redacted or missing, in which case
    /// quote spans into it cannot be checked and claims quoting it are rejected.
    pub text: Option<String>,
}

/// Entities already in the ledger that a bundle refers to (see [`Bundle::external_references`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KnownEntities {
    /// Recorded sources.
    pub sources: BTreeSet<EntityId>,
    /// Recorded reports.
    pub reports: BTreeMap<EntityId, KnownReport>,
    /// Recorded questions.
    pub questions: BTreeMap<EntityId, Question>,
    /// Recorded claims.
    pub claims: BTreeMap<EntityId, Claim>,
    /// Recorded assessments.
    pub assessments: BTreeSet<EntityId>,
    /// Forecast claims that already have a recorded resolution. A resolution of one of these
    /// is rejected, so a caller re-publishing an identical resolution should leave its
    /// forecast out of this set (or drop the already-recorded event before validating).
    pub resolved_forecasts: BTreeSet<EntityId>,
    /// The marking of each recorded entity above, as its record carries it, for the rule that
    /// markings are monotone (an entity is never marked less restrictively than what it
    /// references). `dossier_log::ledger::known_entities` and [`KnownEntities::remember`]
    /// fill it; an entity without an entry here is not checked against.
    pub markings: BTreeMap<EntityId, Marking>,
}

/// Something in a valid bundle that an analyst should look at: it does not stop the bundle from
/// being published. `dossier validate` and `dossier publish` print warnings and include them in
/// their JSON output.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ValidationWarning {
    /// The bundle's file name, as given by the caller.
    pub file: String,
    /// JSON Pointer to the value concerned, e.g. `/claims/2/likelihood/wording`.
    pub path: String,
    /// What the warning is about.
    #[serde(flatten)]
    pub kind: WarningKind,
}

/// The kinds of [`ValidationWarning`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "warning", rename_all = "snake_case")]
pub enum WarningKind {
    /// A likelihood wording the mapping does not know, given without a band: the claim keeps
    /// the wording but has no ICD 203 band.
    UnknownLikelihood {
        /// The wording as written.
        wording: String,
        /// The mapping consulted.
        mapping: String,
    },
    /// A speaker this bundle registers without a reliability rating, on a question where a
    /// speaker the bundle does rate says otherwise: ranked as unknown, it loses to the rated
    /// speaker whatever that speaker's grade.
    UnratedSpeakerDisagrees {
        /// The unrated speaker.
        speaker: EntityId,
        /// The question.
        question: EntityId,
        /// A rated speaker who says otherwise.
        rated: EntityId,
    },
}

impl std::fmt::Display for ValidationWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "(document)"
        } else {
            &self.path
        };
        write!(f, "{}: {path}: warning: ", self.file)?;
        match &self.kind {
            WarningKind::UnknownLikelihood { wording, mapping } => write!(
                f,
                "the wording {wording:?} is not in the likelihood mapping {mapping}, so the claim \
                 has no ICD 203 band; give `band` if the speaker's meaning is clear"
            ),
            WarningKind::UnratedSpeakerDisagrees {
                speaker,
                question,
                rated,
            } => write!(
                f,
                "`{speaker}` has no reliability rating, and on `{question}` the rated \
                 `{rated}` says otherwise: unrated, it ranks below every graded source; add a \
                 `reliability` entry (F if it cannot be judged)"
            ),
        }
    }
}

/// A bundle that passed validation, as events ready to append.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedBundle {
    /// The events in append order: report, sources, reliability, questions, interests, claims,
    /// relations, assessments, resolutions (bundle order within each), each with its effective
    /// marking.
    /// `Claim.report` and `Likelihood.band`/`mapping` are filled in.
    pub events: Vec<MarkedEvent>,
    /// Report texts to put in the content store (keyed by their BLAKE3 hash).
    pub texts: Vec<String>,
    /// What an analyst should look at before publishing; never a reason to refuse.
    pub warnings: Vec<ValidationWarning>,
}

impl Bundle {
    /// The ids this bundle refers to but does not define, deduplicated and sorted; the caller
    /// looks these up in the ledger and passes them to [`validate`] as [`KnownEntities`].
    #[must_use]
    pub fn external_references(&self) -> Vec<EntityId> {
        let mut defined: BTreeSet<&EntityId> = BTreeSet::new();
        defined.extend(self.report.iter().map(|r| &r.id));
        defined.extend(self.sources.iter().map(|s| &s.id));
        defined.extend(self.reliability.iter().map(|r| &r.id));
        defined.extend(self.questions.iter().map(|q| &q.id));
        defined.extend(self.interests.iter().map(|d| &d.id));
        defined.extend(self.claims.iter().map(|c| &c.id));
        defined.extend(self.assessments.iter().map(|a| &a.id));

        let mut refs: BTreeSet<&EntityId> = BTreeSet::new();
        refs.extend(self.sources.iter().filter_map(|s| s.affiliation.as_ref()));
        refs.extend(self.reliability.iter().map(|r| &r.source));
        for d in &self.interests {
            refs.extend([&d.source, &d.question]);
        }
        for c in &self.claims {
            refs.extend(c.report.as_ref());
            refs.extend([&c.question, &c.speaker]);
            refs.extend(c.via.as_ref());
        }
        for r in &self.relations {
            refs.extend([&r.from, &r.to]);
        }
        for a in &self.assessments {
            refs.insert(&a.question);
            refs.extend(a.based_on.iter());
        }
        for r in &self.resolutions {
            refs.extend([&r.forecast, &r.by]);
        }
        refs.into_iter()
            .filter(|id| !defined.contains(id))
            .cloned()
            .collect()
    }
}

/// Validates a parsed bundle against itself and the entities already in the ledger, and turns
/// it into events.
///
/// # Errors
/// Returns every problem found, each with `file`, a JSON Pointer path and a reason.
pub fn validate(
    file: &str,
    bundle: Bundle,
    known: &KnownEntities,
) -> Result<ValidatedBundle, BundleErrors> {
    let (default_marking, warnings) = {
        let mut v = Validator::new(file, &bundle, known);
        v.check_bundle();
        if !v.errors.is_empty() {
            return Err(BundleErrors(v.errors));
        }
        v.check_unrated_speakers();
        (v.default_marking, v.warnings)
    };
    let (events, paths, texts) = build_events(bundle, default_marking);
    let errors: Vec<BundleError> = events
        .iter()
        .zip(&paths)
        .filter_map(|(e, path)| {
            let len = e.event.encode_body().len();
            (len > MAX_EVENT_BODY_BYTES).then(|| {
                BundleError::new(
                    file,
                    path.clone(),
                    format!(
                        "this entity encodes to {len} bytes, more than the limit of \
                         {MAX_EVENT_BODY_BYTES} bytes per event; shorten it or split it up"
                    ),
                )
            })
        })
        .collect();
    if !errors.is_empty() {
        return Err(BundleErrors(errors));
    }
    Ok(ValidatedBundle {
        events,
        texts,
        warnings,
    })
}

/// Converts a validated bundle into marked events, the JSON Pointer of each entity, and the
/// report texts.
fn build_events(
    bundle: Bundle,
    default_marking: Option<Marking>,
) -> (Vec<MarkedEvent>, Vec<String>, Vec<String>) {
    let report_marking = bundle.report.as_ref().map(|r| r.marking);
    // Validation guarantees a marking whenever there is a non-report entity.
    let marking = default_marking.or(report_marking).unwrap_or(Marking::Red);
    let report_id = bundle.report.as_ref().map(|r| r.id.clone());
    let mut events = Vec::with_capacity(bundle.event_count());
    let mut paths = Vec::with_capacity(bundle.event_count());
    let mut push = |path: String, marking: Marking, event: DomainEvent| {
        paths.push(path);
        events.push(MarkedEvent { marking, event });
    };
    let mut texts = Vec::new();
    if let Some(r) = bundle.report {
        push(
            "/report".to_owned(),
            r.marking,
            DomainEvent::Report(r.to_report()),
        );
        texts.push(r.text);
    }
    for (i, x) in bundle.sources.into_iter().enumerate() {
        push(format!("/sources/{i}"), marking, DomainEvent::Source(x));
    }
    for (i, x) in bundle.reliability.into_iter().enumerate() {
        push(
            format!("/reliability/{i}"),
            marking,
            DomainEvent::Reliability(x),
        );
    }
    for (i, x) in bundle.questions.into_iter().enumerate() {
        push(format!("/questions/{i}"), marking, DomainEvent::Question(x));
    }
    for (i, x) in bundle.interests.into_iter().enumerate() {
        push(format!("/interests/{i}"), marking, DomainEvent::Interest(x));
    }
    for (i, mut c) in bundle.claims.into_iter().enumerate() {
        if c.report.is_none() {
            c.report.clone_from(&report_id);
        }
        if let Some(l) = &mut c.likelihood {
            fill_likelihood(l);
        }
        push(format!("/claims/{i}"), marking, DomainEvent::Claim(c));
    }
    for (i, x) in bundle.relations.into_iter().enumerate() {
        push(format!("/relations/{i}"), marking, DomainEvent::Relation(x));
    }
    for (i, x) in bundle.assessments.into_iter().enumerate() {
        push(
            format!("/assessments/{i}"),
            marking,
            DomainEvent::Assessment(x),
        );
    }
    for (i, x) in bundle.resolutions.into_iter().enumerate() {
        push(
            format!("/resolutions/{i}"),
            marking,
            DomainEvent::Resolution(x),
        );
    }
    (events, paths, texts)
}

/// Fills in the band (derived from the wording if absent) and the mapping version.
///
/// The stamp is the oldest mapping that knows the wording ([`mapped`]), so a claim that could
/// be published before `dossier-icd203/2` existed encodes to the same bytes now: a wording
/// `/1` knows is stamped `/1`, and so is a band given explicitly (the mapping was not
/// consulted, and `/1` was the stamp then). Only a band derived from a wording new in `/2`,
/// or an unknown wording without a band (refused before `/2`), is stamped `/2`.
fn fill_likelihood(l: &mut Likelihood) {
    let mapping = if l.band.is_some() {
        MAPPING_V1
    } else {
        match mapped(&l.wording) {
            Some((band, version)) => {
                l.band = Some(band);
                version
            }
            None => MAPPING_VERSION,
        }
    };
    l.mapping = Some(mapping.to_owned());
}

/// Whether two claims on one question say different things (rule 1 of `docs/BELIEFS.md`): on
/// a yes/no question different truth values; otherwise different values, or one denies.
fn says_otherwise(a: &Claim, b: &Claim, yes_no: bool) -> bool {
    let truth = |c: &Claim| match (&c.value, c.stance) {
        (None, Stance::Asserts | Stance::Forecasts) => Some(true),
        (None, Stance::Denies) => Some(false),
        (Some(ClaimValue::Boolean(v)), Stance::Asserts | Stance::Forecasts) => Some(*v),
        (Some(ClaimValue::Boolean(v)), Stance::Denies) => Some(!*v),
        (Some(_), _) => None,
    };
    if yes_no {
        return matches!((truth(a), truth(b)), (Some(x), Some(y)) if x != y);
    }
    match (a.stance, b.stance) {
        (Stance::Denies, Stance::Denies) => false,
        (Stance::Denies, _) | (_, Stance::Denies) => a.value.is_some() || b.value.is_some(),
        _ => matches!((&a.value, &b.value), (Some(x), Some(y)) if x != y),
    }
}

/// Truncates a string to `max` characters, marking the cut with `…`.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Character-offset index into a text, for quote spans (which count Unicode scalar values).
///
/// Keeps the byte offset of every [`CharIndex::STRIDE`]-th character so that slicing is cheap
/// even for many quotes into a long text.
struct CharIndex<'a> {
    text: &'a str,
    checkpoints: Vec<usize>,
    chars: usize,
}

impl<'a> CharIndex<'a> {
    const STRIDE: usize = 256;

    fn new(text: &'a str) -> Self {
        let mut checkpoints = Vec::new();
        let mut chars = 0;
        for (n, (byte, _)) in text.char_indices().enumerate() {
            if n % Self::STRIDE == 0 {
                checkpoints.push(byte);
            }
            chars = n + 1;
        }
        if chars % Self::STRIDE == 0 {
            checkpoints.push(text.len());
        }
        CharIndex {
            text,
            checkpoints,
            chars,
        }
    }

    /// Byte offset of character `pos` (`pos` ≤ number of characters).
    fn byte_offset(&self, pos: usize) -> usize {
        let base = self
            .checkpoints
            .get(pos / Self::STRIDE)
            .copied()
            .unwrap_or(self.text.len());
        let rest = &self.text[base..];
        rest.char_indices()
            .nth(pos % Self::STRIDE)
            .map_or(self.text.len(), |(i, _)| base + i)
    }

    /// The characters `start..end` (both ≤ number of characters, `start` ≤ `end`).
    fn slice(&self, start: usize, end: usize) -> &'a str {
        let text: &'a str = self.text;
        &text[self.byte_offset(start)..self.byte_offset(end)]
    }

    /// Character offset of a byte offset that lies on a character boundary.
    fn char_offset(&self, byte: usize) -> usize {
        self.text[..byte].chars().count()
    }
}

/// Collects problems while walking a bundle.
struct Validator<'a> {
    file: &'a str,
    bundle: &'a Bundle,
    known: &'a KnownEntities,
    errors: Vec<BundleError>,
    warnings: Vec<ValidationWarning>,
    default_marking: Option<Marking>,
    /// Ids defined in the bundle, with the path of their first definition.
    defined: BTreeMap<&'a EntityId, String>,
    sources: BTreeSet<&'a EntityId>,
    questions: BTreeMap<&'a EntityId, &'a QuestionKind>,
    claims: BTreeMap<&'a EntityId, &'a Claim>,
    assessments: BTreeSet<&'a EntityId>,
    texts: BTreeMap<&'a EntityId, CharIndex<'a>>,
}

impl<'a> Validator<'a> {
    fn new(file: &'a str, bundle: &'a Bundle, known: &'a KnownEntities) -> Self {
        Validator {
            file,
            bundle,
            known,
            errors: Vec::new(),
            warnings: Vec::new(),
            default_marking: None,
            defined: BTreeMap::new(),
            sources: BTreeSet::new(),
            questions: BTreeMap::new(),
            claims: BTreeMap::new(),
            assessments: BTreeSet::new(),
            texts: BTreeMap::new(),
        }
    }

    fn err(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(BundleError::new(self.file, path, reason));
    }

    // ----- lookups: the bundle first, then the ledger -----

    fn source_exists(&self, id: &EntityId) -> bool {
        self.sources.contains(id) || self.known.sources.contains(id)
    }

    fn report_exists(&self, id: &EntityId) -> bool {
        self.bundle.report.as_ref().is_some_and(|r| &r.id == id)
            || self.known.reports.contains_key(id)
    }

    fn question_kind(&self, id: &EntityId) -> Option<&'a QuestionKind> {
        let known: &'a KnownEntities = self.known;
        self.questions
            .get(id)
            .copied()
            .or_else(|| known.questions.get(id).map(|q| &q.kind))
    }

    fn claim(&self, id: &EntityId) -> Option<&'a Claim> {
        let known: &'a KnownEntities = self.known;
        self.claims
            .get(id)
            .copied()
            .or_else(|| known.claims.get(id))
    }

    fn assessment_exists(&self, id: &EntityId) -> bool {
        self.assessments.contains(id) || self.known.assessments.contains(id)
    }

    fn exists(&self, id: &EntityId) -> bool {
        match id.kind() {
            EntityKind::Source => self.source_exists(id),
            EntityKind::Report => self.report_exists(id),
            EntityKind::Question => self.question_kind(id).is_some(),
            EntityKind::Claim => self.claim(id).is_some(),
            EntityKind::Assessment => self.assessment_exists(id),
            EntityKind::Reliability | EntityKind::Interest => self.defined.contains_key(id),
        }
    }

    // ----- generic checks -----

    /// Checks an id has one of the expected kinds; returns whether it does.
    fn check_kind(&mut self, path: &str, field: &str, id: &EntityId, kinds: &[EntityKind]) -> bool {
        if kinds.contains(&id.kind()) {
            return true;
        }
        let expected = kinds
            .iter()
            .map(|k| format!("`{k}:`"))
            .collect::<Vec<_>>()
            .join(" or ");
        self.err(
            path,
            format!(
                "`{field}` must be a {expected} id, but `{id}` is a {} id",
                id.kind()
            ),
        );
        false
    }

    /// Checks a reference has an expected kind and is defined in the bundle or the ledger.
    fn check_ref(&mut self, path: &str, field: &str, id: &EntityId, kinds: &[EntityKind]) -> bool {
        if !self.check_kind(path, field, id, kinds) {
            return false;
        }
        if self.exists(id) {
            return true;
        }
        self.err(
            path,
            format!("`{id}` is not defined in this bundle nor recorded in the ledger"),
        );
        false
    }

    /// The marking of a referenced entity where it may differ from the bundle's entities':
    /// the bundle's report (marked on its own), or an entity recorded in the ledger, with how
    /// it got it. `None` for entities this bundle defines otherwise (they share its marking)
    /// and for recorded entities whose marking is not known.
    fn referenced_marking(&self, id: &EntityId) -> Option<(Marking, &'static str)> {
        if let Some(r) = self.bundle.report.as_ref().filter(|r| &r.id == id) {
            return Some((r.marking, "marked in this bundle"));
        }
        if self.defined.contains_key(id) {
            return None;
        }
        self.known.markings.get(id).map(|m| (*m, "recorded as"))
    }

    /// Markings are monotone: the entity at `path` (described by `referrer`), marked with the
    /// bundle's marking, may not be marked less restrictively than `target`, which its field
    /// `field` references.
    fn check_marking(&mut self, path: &str, referrer: &str, field: &str, target: &EntityId) {
        let Some(marking) = self.default_marking else {
            return;
        };
        let Some((theirs, how)) = self.referenced_marking(target) else {
            return;
        };
        if marking < theirs {
            self.err(
                path,
                format!(
                    "{referrer} would be marked {marking}, less restrictively than {} `{target}` \
                     (its `{field}`), {how} {theirs}: an entity may not be marked below what it \
                     references, or readers cleared for {marking} would learn of it; set the \
                     bundle's `marking` to {theirs} or stricter",
                    target.kind(),
                ),
            );
        }
    }

    /// [`Self::check_ref`], then [`Self::check_marking`] if the reference holds.
    fn check_ref_marked(
        &mut self,
        path: &str,
        referrer: &str,
        field: &str,
        id: &EntityId,
        kinds: &[EntityKind],
    ) -> bool {
        let ok = self.check_ref(path, field, id, kinds);
        if ok {
            self.check_marking(path, referrer, field, id);
        }
        ok
    }

    /// Checks a defining id has the right kind and is not defined twice.
    fn define(&mut self, path: String, id: &'a EntityId, kind: EntityKind) -> bool {
        if !self.check_kind(&path, "id", id, &[kind]) {
            return false;
        }
        if let Some(first) = self.defined.get(id) {
            let first = first.clone();
            self.err(
                path,
                format!("duplicate id `{id}`: already defined at {first}"),
            );
            return false;
        }
        self.defined.insert(id, path);
        true
    }

    /// Checks a required text is not blank and at most `max` characters long.
    fn check_text(&mut self, path: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.err(path, "must not be empty or blank");
            return;
        }
        let len = value.chars().count();
        if len > max {
            self.err(
                path,
                format!("is {len} characters long; at most {max} are allowed"),
            );
        }
    }

    /// [`Self::check_text`] for an optional field.
    fn check_opt_text(&mut self, path: &str, value: Option<&String>, max: usize) {
        if let Some(v) = value {
            self.check_text(path, v, max);
        }
    }

    fn check_valid_time(&mut self, path: &str, vt: &ValidTime) {
        if let Err(reason) = vt.check() {
            self.err(path, reason);
        }
    }

    // ----- the bundle -----

    fn check_bundle(&mut self) {
        let b = self.bundle;
        if b.version != BUNDLE_VERSION {
            self.err(
                "/version",
                format!(
                    "unsupported bundle version {}: this build reads version {BUNDLE_VERSION}",
                    b.version
                ),
            );
        }
        let count = b.event_count();
        if count == 0 {
            self.err(
                "",
                "the bundle defines nothing: add a report, sources, reliability, questions, interests, \
                 claims, relations, assessments or resolutions",
            );
        }
        if count > MAX_EVENTS_PER_BUNDLE {
            self.err(
                "",
                format!(
                    "the bundle would produce {count} events, more than the limit of \
                     {MAX_EVENTS_PER_BUNDLE} per atomic publish; split the bundle"
                ),
            );
        }
        self.default_marking = b.marking.or(b.report.as_ref().map(|r| r.marking));
        if self.default_marking.is_none() && count > usize::from(b.report.is_some()) {
            self.err(
                "/marking",
                "no marking for the bundle's entities: set `marking` (e.g. \"TLP:AMBER\") or \
                 include a report, whose marking then applies",
            );
        }

        // Definitions first, so that references can be resolved in any order.
        if let Some(r) = &b.report {
            self.define("/report/id".to_owned(), &r.id, EntityKind::Report);
        }
        for (i, s) in b.sources.iter().enumerate() {
            if self.define(format!("/sources/{i}/id"), &s.id, EntityKind::Source) {
                self.sources.insert(&s.id);
            }
        }
        for (i, r) in b.reliability.iter().enumerate() {
            self.define(
                format!("/reliability/{i}/id"),
                &r.id,
                EntityKind::Reliability,
            );
        }
        for (i, q) in b.questions.iter().enumerate() {
            if self.define(format!("/questions/{i}/id"), &q.id, EntityKind::Question) {
                self.questions.insert(&q.id, &q.kind);
            }
        }
        for (i, d) in b.interests.iter().enumerate() {
            self.define(format!("/interests/{i}/id"), &d.id, EntityKind::Interest);
        }
        for (i, c) in b.claims.iter().enumerate() {
            if self.define(format!("/claims/{i}/id"), &c.id, EntityKind::Claim) {
                self.claims.insert(&c.id, c);
            }
        }
        for (i, a) in b.assessments.iter().enumerate() {
            if self.define(
                format!("/assessments/{i}/id"),
                &a.id,
                EntityKind::Assessment,
            ) {
                self.assessments.insert(&a.id);
            }
        }

        self.check_report();
        self.check_sources();
        self.check_reliability();
        self.check_questions();
        self.check_interests();
        for i in 0..b.claims.len() {
            self.check_claim(i);
        }
        self.check_relations();
        self.check_assessments();
        self.check_resolutions();
    }

    fn check_report(&mut self) {
        let Some(r) = &self.bundle.report else { return };
        self.check_text("/report/publisher", &r.publisher, MAX_SHORT_TEXT_CHARS);
        self.check_text("/report/title", &r.title, MAX_SHORT_TEXT_CHARS);
        if let Some(url) = &r.url {
            let len = url.chars().count();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                self.err(
                    "/report/url",
                    format!(
                        "url must start with http:// or https://, got {:?}",
                        truncate(url, 80)
                    ),
                );
            } else if url.chars().any(char::is_whitespace) {
                self.err("/report/url", "url must not contain whitespace");
            } else if len > MAX_URL_CHARS {
                self.err(
                    "/report/url",
                    format!("url is {len} characters long; at most {MAX_URL_CHARS} are allowed"),
                );
            }
        }
        let lang = &r.language;
        if lang.is_empty() {
            self.err(
                "/report/language",
                "language must be a BCP 47 tag such as \"en\" or \"ko\"",
            );
        } else if lang.chars().count() > MAX_LANGUAGE_CHARS
            || !lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            self.err(
                "/report/language",
                format!(
                    "language {lang:?} is not a BCP 47 tag (letters, digits and `-`, at most \
                     {MAX_LANGUAGE_CHARS} characters), e.g. \"en\" or \"ko\""
                ),
            );
        }
        if r.text.trim().is_empty() {
            self.err("/report/text", "the report text must not be empty");
        }
    }

    fn check_sources(&mut self) {
        let b = self.bundle;
        for (i, s) in b.sources.iter().enumerate() {
            let p = format!("/sources/{i}");
            self.check_text(&format!("{p}/name"), &s.name, MAX_SHORT_TEXT_CHARS);
            for (j, alias) in s.aliases.iter().enumerate() {
                self.check_text(&format!("{p}/aliases/{j}"), alias, MAX_SHORT_TEXT_CHARS);
            }
            if let Some(aff) = &s.affiliation {
                let path = format!("{p}/affiliation");
                if aff == &s.id {
                    self.err(path, "a source cannot be affiliated with itself");
                } else {
                    let referrer = format!("source `{}`", s.id);
                    self.check_ref_marked(
                        &path,
                        &referrer,
                        "affiliation",
                        aff,
                        &[EntityKind::Source],
                    );
                }
            }
            self.check_opt_text(
                &format!("{p}/description"),
                s.description.as_ref(),
                MAX_LONG_TEXT_CHARS,
            );
        }
    }

    fn check_reliability(&mut self) {
        let b = self.bundle;
        for (i, r) in b.reliability.iter().enumerate() {
            let p = format!("/reliability/{i}");
            let referrer = format!("reliability assessment `{}`", r.id);
            self.check_ref_marked(
                &format!("{p}/source"),
                &referrer,
                "source",
                &r.source,
                &[EntityKind::Source],
            );
            self.check_opt_text(
                &format!("{p}/scope"),
                r.scope.as_ref(),
                MAX_SHORT_TEXT_CHARS,
            );
            self.check_opt_text(
                &format!("{p}/rationale"),
                r.rationale.as_ref(),
                MAX_LONG_TEXT_CHARS,
            );
        }
    }

    /// An interest designation names a source and a question, each defined in the bundle or
    /// recorded, and says why.
    fn check_interests(&mut self) {
        let b = self.bundle;
        for (i, d) in b.interests.iter().enumerate() {
            let p = format!("/interests/{i}");
            let referrer = format!("interest designation `{}`", d.id);
            self.check_ref_marked(
                &format!("{p}/source"),
                &referrer,
                "source",
                &d.source,
                &[EntityKind::Source],
            );
            self.check_ref_marked(
                &format!("{p}/question"),
                &referrer,
                "question",
                &d.question,
                &[EntityKind::Question],
            );
            self.check_text(&format!("{p}/rationale"), &d.rationale, MAX_LONG_TEXT_CHARS);
            self.check_opt_text(&format!("{p}/note"), d.note.as_ref(), MAX_LONG_TEXT_CHARS);
        }
    }

    fn check_questions(&mut self) {
        let b = self.bundle;
        for (i, q) in b.questions.iter().enumerate() {
            let p = format!("/questions/{i}");
            self.check_text(&format!("{p}/text"), &q.text, MAX_SHORT_TEXT_CHARS);
            match &q.kind {
                QuestionKind::Boolean => {}
                QuestionKind::Quantity { unit } => {
                    self.check_text(&format!("{p}/kind/unit"), unit, MAX_SHORT_TEXT_CHARS);
                }
                QuestionKind::Categorical { categories } => {
                    if categories.is_empty() {
                        self.err(
                            format!("{p}/kind/categories"),
                            "a categorical question needs at least one category",
                        );
                    }
                    let mut seen = BTreeSet::new();
                    for (j, c) in categories.iter().enumerate() {
                        let path = format!("{p}/kind/categories/{j}");
                        self.check_text(&path, c, MAX_SHORT_TEXT_CHARS);
                        if !seen.insert(c) {
                            self.err(path, format!("category {c:?} is listed twice"));
                        }
                    }
                }
                QuestionKind::Forecast { event, window } => {
                    self.check_opt_text(
                        &format!("{p}/kind/event"),
                        event.as_ref(),
                        MAX_SHORT_TEXT_CHARS,
                    );
                    if let Some(w) = window {
                        self.check_valid_time(&format!("{p}/kind/window"), w);
                    }
                }
            }
        }
    }

    /// Checks a value on its own (numbers, texts) and against the question's kind.
    fn check_value(
        &mut self,
        path: &str,
        value: &ClaimValue,
        question: Option<(&EntityId, &QuestionKind)>,
    ) {
        let check_number = |v: &mut Self, path: String, x: f64| {
            if !x.is_finite() || x < 0.0 {
                v.err(path, format!("must be a finite number ≥ 0, got {x}"));
            }
        };
        match value {
            ClaimValue::Boolean(_) => {}
            ClaimValue::Quantity { value, unit, .. } => {
                check_number(self, format!("{path}/quantity/value"), *value);
                if let Some(u) = unit {
                    self.check_text(&format!("{path}/quantity/unit"), u, MAX_SHORT_TEXT_CHARS);
                }
            }
            ClaimValue::Range { low, high, unit } => {
                check_number(self, format!("{path}/range/low"), *low);
                check_number(self, format!("{path}/range/high"), *high);
                if low > high {
                    self.err(
                        format!("{path}/range"),
                        format!("range low {low} is above high {high}"),
                    );
                }
                if let Some(u) = unit {
                    self.check_text(&format!("{path}/range/unit"), u, MAX_SHORT_TEXT_CHARS);
                }
            }
            ClaimValue::Category(c) => {
                self.check_text(&format!("{path}/category"), c, MAX_SHORT_TEXT_CHARS)
            }
        }

        let Some((qid, kind)) = question else { return };
        let mismatch = |v: &mut Self, accepted: &str| {
            v.err(
                path,
                format!(
                    "question `{qid}` is a {} question, which takes {accepted}, not a {} value",
                    kind.type_name(),
                    value.type_name()
                ),
            );
        };
        match (kind, value) {
            (QuestionKind::Boolean | QuestionKind::Forecast { .. }, ClaimValue::Boolean(_)) => {}
            (QuestionKind::Boolean | QuestionKind::Forecast { .. }, _) => {
                mismatch(self, "a boolean value or none");
            }
            (
                QuestionKind::Quantity { unit: qunit },
                ClaimValue::Quantity { unit, .. } | ClaimValue::Range { unit, .. },
            ) => {
                if let Some(u) = unit.as_ref().filter(|u| *u != qunit) {
                    self.err(
                        format!("{path}/{}/unit", value.type_name()),
                        format!("unit {u:?} differs from the unit {qunit:?} of question `{qid}`"),
                    );
                }
            }
            (QuestionKind::Quantity { .. }, _) => mismatch(self, "a quantity or a range"),
            (QuestionKind::Categorical { categories }, ClaimValue::Category(c)) => {
                if !categories.contains(c) {
                    let list = categories
                        .iter()
                        .map(|c| format!("{c:?}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    self.err(
                        format!("{path}/category"),
                        format!("{c:?} is not one of the categories of question `{qid}`: {list}"),
                    );
                }
            }
            (QuestionKind::Categorical { .. }, _) => mismatch(self, "a category"),
        }
    }

    fn check_claim(&mut self, i: usize) {
        let b = self.bundle;
        let c = &b.claims[i];
        let p = format!("/claims/{i}");

        // Report: explicit, or the bundle's.
        let report = match (&c.report, &b.report) {
            (Some(r), _) => self
                .check_ref(&format!("{p}/report"), "report", r, &[EntityKind::Report])
                .then_some(r),
            (None, Some(entry)) => Some(&entry.id),
            (None, None) => {
                self.err(
                    format!("{p}/report"),
                    "the claim names no report and the bundle has none: set `report` to a recorded \
                     report's id, or include the report",
                );
                None
            }
        };

        // A claim quotes its report, so it may not be marked less restrictively than the report.
        if let (Some(report), Some(marking)) = (report, self.default_marking) {
            let report_marking = match &b.report {
                Some(entry) if entry.id == *report => Some(entry.marking),
                _ => self.known.reports.get(report).map(|k| k.report.marking),
            };
            if let Some(rm) = report_marking.filter(|rm| marking < *rm) {
                self.err(
                    format!("{p}/report"),
                    format!(
                        "claim `{}` quotes report `{report}` marked {}, but the bundle marks its entities {}: \
                         set the bundle's `marking` to {} or stricter",
                        c.id,
                        rm.as_str(),
                        marking.as_str(),
                        rm.as_str()
                    ),
                );
            }
        }

        // Question, speaker, via.
        let referrer = format!("claim `{}`", c.id);
        let question = self
            .check_ref_marked(
                &format!("{p}/question"),
                &referrer,
                "question",
                &c.question,
                &[EntityKind::Question],
            )
            .then(|| self.question_kind(&c.question))
            .flatten();
        self.check_ref_marked(
            &format!("{p}/speaker"),
            &referrer,
            "speaker",
            &c.speaker,
            &[EntityKind::Source],
        );
        if let Some(via) = &c.via {
            self.check_ref_marked(
                &format!("{p}/via"),
                &referrer,
                "via",
                via,
                &[EntityKind::Source],
            );
        }

        // Stance and value against the question.
        if let Some(kind) = question
            && c.stance == Stance::Forecasts
            && !matches!(kind, QuestionKind::Forecast { .. })
        {
            self.err(
                format!("{p}/stance"),
                format!(
                    "stance `forecasts` is only for forecast questions, and `{}` is a {} question",
                    c.question,
                    kind.type_name()
                ),
            );
        }
        if let Some(value) = &c.value {
            self.check_value(
                &format!("{p}/value"),
                value,
                question.map(|k| (&c.question, k)),
            );
        }
        if let Some(vt) = &c.valid_time {
            self.check_valid_time(&format!("{p}/valid_time"), vt);
        }

        // Quote.
        self.check_quote(&p, c, report);

        // Likelihood.
        if let Some(l) = &c.likelihood {
            self.check_text(
                &format!("{p}/likelihood/wording"),
                &l.wording,
                MAX_SHORT_TEXT_CHARS,
            );
            if l.band.is_none() && !l.wording.trim().is_empty() && mapped(&l.wording).is_none() {
                self.warnings.push(ValidationWarning {
                    file: self.file.to_owned(),
                    path: format!("{p}/likelihood/wording"),
                    kind: WarningKind::UnknownLikelihood {
                        wording: truncate(&l.wording, 80),
                        mapping: MAPPING_VERSION.to_owned(),
                    },
                });
            }
            if let Some(m) = l
                .mapping
                .as_ref()
                .filter(|m| !MAPPING_VERSIONS.contains(&m.as_str()))
            {
                self.err(
                    format!("{p}/likelihood/mapping"),
                    format!("unknown mapping {m:?}: leave `mapping` out (it is filled in)"),
                );
            }
        }
    }

    /// Warns about a speaker this bundle registers without rating it, on a question where a
    /// speaker the bundle rates says otherwise (rule 1 of `docs/BELIEFS.md`: a denial of a
    /// figure or category says otherwise too). Only what the bundle itself shows is judged: a
    /// source already recorded may have been rated before, so it is never warned about.
    fn check_unrated_speakers(&mut self) {
        let b = self.bundle;
        let rated: BTreeSet<&EntityId> = b.reliability.iter().map(|r| &r.source).collect();
        let new_unrated = |s: &EntityId| {
            b.sources.iter().any(|x| &x.id == s)
                && !rated.contains(s)
                && !self.known.sources.contains(s)
        };
        let mut warned: BTreeSet<(&EntityId, &EntityId)> = BTreeSet::new();
        for (i, c) in b.claims.iter().enumerate() {
            if !new_unrated(&c.speaker) || warned.contains(&(&c.speaker, &c.question)) {
                continue;
            }
            let kind = self.question_kind(&c.question);
            let yes_no = matches!(
                kind,
                Some(QuestionKind::Boolean | QuestionKind::Forecast { .. })
            );
            let other = b.claims.iter().find(|o| {
                o.question == c.question
                    && o.speaker != c.speaker
                    && rated.contains(&o.speaker)
                    && says_otherwise(c, o, yes_no)
            });
            if let Some(o) = other {
                warned.insert((&c.speaker, &c.question));
                self.warnings.push(ValidationWarning {
                    file: self.file.to_owned(),
                    path: format!("/claims/{i}/speaker"),
                    kind: WarningKind::UnratedSpeakerDisagrees {
                        speaker: c.speaker.clone(),
                        question: c.question.clone(),
                        rated: o.speaker.clone(),
                    },
                });
            }
        }
    }

    fn check_quote(&mut self, p: &str, c: &'a Claim, report: Option<&'a EntityId>) {
        let q = &c.quote;
        let quote_chars = q.text.chars().count();
        if q.text.is_empty() {
            self.err(format!("{p}/quote/text"), "the quote must not be empty");
        } else if quote_chars > MAX_QUOTE_CHARS {
            self.err(
                format!("{p}/quote/text"),
                format!("the quote is {quote_chars} characters long; at most {MAX_QUOTE_CHARS} are allowed"),
            );
        }
        if q.start >= q.end {
            self.err(
                format!("{p}/quote/end"),
                format!("end ({}) must be greater than start ({})", q.end, q.start),
            );
            return;
        }
        let Some(report) = report else { return };
        if !self.texts.contains_key(report) {
            let bundle_text = self
                .bundle
                .report
                .as_ref()
                .filter(|r| &r.id == report)
                .map(|r| r.text.as_str());
            let known: &'a KnownEntities = self.known;
            let text =
                bundle_text.or_else(|| known.reports.get(report).and_then(|k| k.text.as_deref()));
            match text {
                Some(text) => {
                    self.texts.insert(report, CharIndex::new(text));
                }
                None => {
                    if self.known.reports.contains_key(report) {
                        self.err(
                            format!("{p}/quote"),
                            format!(
                                "cannot check the quote: the text of report `{report}` is not in the \
                                 content store (redacted or missing)"
                            ),
                        );
                    }
                    return;
                }
            }
        }
        let Some(index) = self.texts.get(report) else {
            return;
        };
        let len = index.chars;
        let (Ok(start), Ok(end)) = (usize::try_from(q.start), usize::try_from(q.end)) else {
            self.err(
                format!("{p}/quote/end"),
                format!(
                    "end {} is beyond the end of the report text ({len} characters)",
                    q.end
                ),
            );
            return;
        };
        if end > len {
            self.err(
                format!("{p}/quote/end"),
                format!(
                    "end {end} is beyond the end of the text of report `{report}` ({len} characters; \
                     offsets count characters, not bytes)"
                ),
            );
            return;
        }
        let actual = index.slice(start, end);
        if actual != q.text {
            let mut reason = format!(
                "the quote does not match characters {start}..{end} of report `{report}`, which hold {:?}",
                truncate(actual, 80)
            );
            if let Some(byte) = (!q.text.is_empty())
                .then(|| index.text.find(&q.text))
                .flatten()
            {
                let at = index.char_offset(byte);
                reason.push_str(&format!(
                    "; the quoted text occurs at characters {at}..{} (offsets count characters, not bytes)",
                    at + quote_chars
                ));
            }
            self.err(format!("{p}/quote/text"), reason);
        }
    }

    fn check_relations(&mut self) {
        let b = self.bundle;
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, r) in b.relations.iter().enumerate() {
            let p = format!("/relations/{i}");
            let key = r.entity_key();
            let referrer = format!("relation `{key}`");
            if let Some(first) = seen.get(&key) {
                self.err(
                    p.clone(),
                    format!("duplicate relation `{key}`: already given at /relations/{first}"),
                );
            } else {
                seen.insert(key, i);
            }
            let from_kinds: &[EntityKind] = if r.kind == RelationKind::Retracts {
                &[EntityKind::Claim, EntityKind::Report]
            } else {
                &[EntityKind::Claim]
            };
            let from_ok =
                self.check_ref_marked(&format!("{p}/from"), &referrer, "from", &r.from, from_kinds);
            let to_ok = self.check_ref_marked(
                &format!("{p}/to"),
                &referrer,
                "to",
                &r.to,
                &[EntityKind::Claim],
            );
            if r.from == r.to {
                self.err(
                    format!("{p}/to"),
                    format!("a claim cannot {} itself", r.kind),
                );
            } else if r.kind == RelationKind::Supersedes
                && from_ok
                && to_ok
                && let (Some(new), Some(old)) = (self.claim(&r.from), self.claim(&r.to))
            {
                if new.speaker != old.speaker {
                    self.err(
                            p.clone(),
                            format!(
                                "`{}` (speaker `{}`) cannot supersede `{}` (speaker `{}`): supersedes is \
                                 a source updating its own claim; a different source's claim is a \
                                 dispute (use kind `disputes`)",
                                r.from, new.speaker, r.to, old.speaker
                            ),
                        );
                } else if new.question != old.question {
                    self.err(
                            p.clone(),
                            format!(
                                "`{}` (question `{}`) cannot supersede `{}` (question `{}`): both claims \
                                 must answer the same question",
                                r.from, new.question, r.to, old.question
                            ),
                        );
                }
            }
            match (r.kind, r.independence) {
                (RelationKind::Corroborates, None) => self.err(
                    format!("{p}/independence"),
                    "`corroborates` needs `independence`: independent, same_primary_source or unknown",
                ),
                (RelationKind::Corroborates, Some(_)) | (_, None) => {}
                (kind, Some(_)) => self.err(
                    format!("{p}/independence"),
                    format!("`independence` only applies to `corroborates`, not to `{kind}`"),
                ),
            }
            self.check_opt_text(&format!("{p}/note"), r.note.as_ref(), MAX_LONG_TEXT_CHARS);
        }
    }

    fn check_assessments(&mut self) {
        let b = self.bundle;
        for (i, a) in b.assessments.iter().enumerate() {
            let p = format!("/assessments/{i}");
            let referrer = format!("assessment `{}`", a.id);
            let question = self
                .check_ref_marked(
                    &format!("{p}/question"),
                    &referrer,
                    "question",
                    &a.question,
                    &[EntityKind::Question],
                )
                .then(|| self.question_kind(&a.question))
                .flatten();
            if let Some(value) = &a.value {
                self.check_value(
                    &format!("{p}/value"),
                    value,
                    question.map(|k| (&a.question, k)),
                );
            }
            self.check_text(&format!("{p}/rationale"), &a.rationale, MAX_LONG_TEXT_CHARS);
            for (j, claim) in a.based_on.iter().enumerate() {
                self.check_ref_marked(
                    &format!("{p}/based_on/{j}"),
                    &referrer,
                    "based_on",
                    claim,
                    &[EntityKind::Claim],
                );
            }
        }
    }

    fn check_resolutions(&mut self) {
        let b = self.bundle;
        let mut seen: BTreeMap<&EntityId, usize> = BTreeMap::new();
        for (i, r) in b.resolutions.iter().enumerate() {
            let p = format!("/resolutions/{i}");
            let fp = format!("{p}/forecast");
            if let Some(first) = seen.get(&r.forecast) {
                self.err(
                    fp.clone(),
                    format!(
                        "`{}` is already resolved at /resolutions/{first}",
                        r.forecast
                    ),
                );
            } else {
                seen.insert(&r.forecast, i);
            }
            let referrer = format!("the resolution of `{}`", r.forecast);
            if self.check_ref_marked(
                &fp,
                &referrer,
                "forecast",
                &r.forecast,
                &[EntityKind::Claim],
            ) {
                if let Some(claim) = self.claim(&r.forecast)
                    && claim.stance != Stance::Forecasts
                {
                    self.err(
                            fp.clone(),
                            format!(
                                "`{}` has stance `{}`; only claims with stance `forecasts` can be resolved",
                                r.forecast,
                                claim.stance.as_str()
                            ),
                        );
                }
                if self.known.resolved_forecasts.contains(&r.forecast) {
                    self.err(
                        fp.clone(),
                        format!(
                            "forecast `{}` is already resolved in the ledger",
                            r.forecast
                        ),
                    );
                }
            }
            if r.by == r.forecast {
                self.err(format!("{p}/by"), "a forecast cannot resolve itself");
            } else {
                self.check_ref_marked(
                    &format!("{p}/by"),
                    &referrer,
                    "by",
                    &r.by,
                    &[EntityKind::Claim, EntityKind::Assessment],
                );
            }
            self.check_opt_text(&format!("{p}/note"), r.note.as_ref(), MAX_LONG_TEXT_CHARS);
        }
    }
}

impl KnownEntities {
    /// Whether an entity with this id is known.
    #[must_use]
    pub fn contains(&self, id: &EntityId) -> bool {
        self.sources.contains(id)
            || self.reports.contains_key(id)
            || self.questions.contains_key(id)
            || self.claims.contains_key(id)
            || self.assessments.contains(id)
    }

    /// Adds what a validated bundle defines, so that later bundles (for example, later files of
    /// one publish) can refer to it before it is recorded.
    pub fn remember(&mut self, bundle: &ValidatedBundle) {
        for MarkedEvent { event, marking } in &bundle.events {
            let referable = match event {
                DomainEvent::Source(x) => Some(&x.id),
                DomainEvent::Report(x) => Some(&x.id),
                DomainEvent::Question(x) => Some(&x.id),
                DomainEvent::Claim(x) => Some(&x.id),
                DomainEvent::Assessment(x) => Some(&x.id),
                _ => None,
            };
            if let Some(id) = referable {
                self.markings.insert(id.clone(), *marking);
            }
            match event {
                DomainEvent::Source(s) => {
                    self.sources.insert(s.id.clone());
                }
                DomainEvent::Report(r) => {
                    let text = bundle
                        .texts
                        .iter()
                        .find(|t| crate::entity::content_hash(t) == r.content_hash)
                        .cloned();
                    self.reports.insert(
                        r.id.clone(),
                        KnownReport {
                            report: r.clone(),
                            text,
                        },
                    );
                }
                DomainEvent::Question(q) => {
                    self.questions.insert(q.id.clone(), q.clone());
                }
                DomainEvent::Claim(c) => {
                    self.claims.insert(c.id.clone(), c.clone());
                }
                DomainEvent::Assessment(a) => {
                    self.assessments.insert(a.id.clone());
                }
                DomainEvent::Resolution(r) => {
                    self.resolved_forecasts.insert(r.forecast.clone());
                }
                DomainEvent::Reliability(_)
                | DomainEvent::Interest(_)
                | DomainEvent::Relation(_) => {}
            }
        }
    }

    /// Adds everything `other` knows.
    pub fn extend(&mut self, other: KnownEntities) {
        self.sources.extend(other.sources);
        self.reports.extend(other.reports);
        self.questions.extend(other.questions);
        self.claims.extend(other.claims);
        self.assessments.extend(other.assessments);
        self.resolved_forecasts.extend(other.resolved_forecasts);
        self.markings.extend(other.markings);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn char_index_slices_by_characters() {
        let text: String = "신원식 국방부 장관은 7,000개 컨테이너라고 말했다. ".repeat(40);
        let index = CharIndex::new(&text);
        let chars: Vec<char> = text.chars().collect();
        assert_eq!(index.chars, chars.len());
        for (start, end) in [
            (0, 0),
            (0, 3),
            (250, 260),
            (255, 257),
            (512, chars.len()),
            (chars.len(), chars.len()),
        ] {
            let expected: String = chars[start..end].iter().collect();
            assert_eq!(index.slice(start, end), expected, "{start}..{end}");
        }
        let exact = "가".repeat(512);
        let index = CharIndex::new(&exact);
        assert_eq!(index.slice(500, 512), "가".repeat(12));
        assert_eq!(CharIndex::new("").slice(0, 0), "");
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("신원식", 2), "신원…");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
