//! The fold: [`Engine::apply`] takes recorded events one by one and keeps every question's
//! current [`Belief`] and its history of [`BeliefChange`]s. The rules it implements are numbered
//! in `docs/BELIEFS.md`; comments below cite them as "rule N".

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::{FxHashMap, FxHashSet};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use dossier_model::{
    Admiralty, Assessment, Claim, ClaimValue, DomainEvent, EntityId, EntityKind,
    ForecastResolution, Independence, InterestDesignation, Qualifier, Question, QuestionKind,
    Relation, RelationKind, ReliabilityAssessment, Report, Source, Stance, Subject, Timestamp,
};

use crate::current::Current;
use crate::digest::{LineHash, LineSum};
use crate::view::{
    AssessmentView, Belief, BeliefChange, BeliefLine, BeliefValue, ClaimState, ClaimView,
    CredibilityView, EventRef, Flag, InterestView, Provenance, QuestionRef, QuestionView,
    RelationView, ReliabilityView, ReportView, ResolutionView, SourceView, Status,
};
use crate::{POLICY_VERSION, Recorded};

/// An entity with the event that recorded it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: DeserializeOwned"))]
struct Stamped<T> {
    #[serde(with = "crate::as_json")]
    item: T,
    event: EventRef,
}

impl<T> Stamped<T> {
    fn new(item: T, at: &EventRef) -> Self {
        Stamped {
            item,
            event: at.clone(),
        }
    }
}

/// The belief engine: a pure, deterministic fold over recorded domain events.
///
/// Feed it events in sequence order with [`apply`](Engine::apply). It does no I/O and reads no
/// clock: the same events always give the same beliefs, histories and [`digest`](Engine::digest).
///
/// It serializes (with serde, into any format: the projector keeps a snapshot of its engines
/// with `postcard`) as its whole state, so that an engine read back folds on exactly as the one
/// written would have; entities and lines are kept as their JSON inside it.
/// "What did we believe as of recorded time T" is the engine that has folded exactly the events
/// recorded at or before T (recorded time never decreases along the log, so that is a prefix).
///
/// # Examples
///
/// ```
/// use dossier_beliefs::{Engine, POLICY_VERSION};
///
/// let engine = Engine::new();
/// assert!(engine.beliefs().is_empty());
/// assert_eq!(engine.digest().len(), 64);
/// assert_eq!(POLICY_VERSION, "dossier-beliefs/3");
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Engine {
    // Maps are hash maps for speed; the ones iterated (questions, current lines) are iterated
    // through their keys sorted, so hash order never reaches a view.
    questions: FxHashMap<EntityId, Stamped<Question>>,
    sources: FxHashMap<EntityId, Stamped<Source>>,
    /// Per source, its reliability assessments in sequence order.
    reliability: FxHashMap<EntityId, Vec<Stamped<ReliabilityAssessment>>>,
    reports: FxHashMap<EntityId, Stamped<Report>>,
    /// Per question, the designations of interested parties to it, in sequence order.
    interests: FxHashMap<EntityId, Vec<Stamped<InterestDesignation>>>,
    interest_ids: FxHashSet<EntityId>,
    /// Boxed: the table then moves pointers, not claims, when it grows.
    claims: FxHashMap<EntityId, Box<Stamped<Claim>>>,
    /// Relations by entity key (`kind|from|to`).
    relations: FxHashMap<String, Stamped<Relation>>,
    /// Relation keys by `to`.
    relations_to: FxHashMap<EntityId, Vec<String>>,
    /// Relation keys by `from`.
    relations_from: FxHashMap<EntityId, Vec<String>>,
    /// Assessments per question, in sequence order.
    assessments: FxHashMap<EntityId, Vec<Stamped<Assessment>>>,
    assessment_ids: FxHashSet<EntityId>,
    /// Resolutions by forecast claim.
    resolutions: FxHashMap<EntityId, Stamped<ForecastResolution>>,
    claims_by_question: FxHashMap<EntityId, Vec<EntityId>>,
    /// The interned state that judges a question now without building provenance.
    #[serde(deserialize_with = "Current::deserialize_indexed")]
    fast: Current,
    /// Every posed question's current judgment, as last reported.
    #[serde(with = "crate::as_json")]
    current: FxHashMap<EntityId, BeliefLine>,
    #[serde(with = "crate::as_json")]
    history: BTreeMap<EntityId, Vec<BeliefChange>>,
    /// Whether [`Engine::history`] is left empty.
    forget_history: bool,
    /// A projection engine: claims are kept only in the current view (see
    /// [`Engine::for_projection`]).
    lean: bool,
    /// Questions whose line changed since [`Engine::take_changed`].
    changed: FxHashSet<EntityId>,
    last_seq: u64,
}

/// A line's [`LineHash`] under this policy, over its JSON exactly as a view store keeps it.
#[must_use]
pub fn line_hash(line: &BeliefLine) -> LineHash {
    // Belief lines hold only strings, numbers, booleans and string-keyed structs, so
    // serialization cannot fail; the fallback keeps the function total regardless.
    let json = serde_json::to_vec(line)
        .unwrap_or_else(|e| format!("unserializable belief line: {e}").into_bytes());
    LineHash::of(POLICY_VERSION, &json)
}

impl Engine {
    /// An engine that has folded nothing.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The sequence number of the last event applied (0 if none).
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Records one event without judging anything: for building an engine from a set of events
    /// (a part of the ledger) only to ask [`belief`](Engine::belief) afterwards. The current
    /// judgments ([`lines`](Engine::lines), [`digest`](Engine::digest)) and the history are
    /// left untouched; use [`apply`](Engine::apply) to keep them.
    pub fn load(&mut self, r: Recorded<'_>) {
        let event = EventRef {
            seq: r.seq,
            hash: r.hash.to_owned(),
            recorded: r.recorded,
        };
        self.last_seq = self.last_seq.max(r.seq);
        let _ = self.record(r.event, &event);
    }

    /// Folds one recorded event and returns the changes of belief it caused, sorted by question
    /// id.
    ///
    /// A change is reported when a question's value, flags, summary, best claim, likelihood or
    /// confidence changes, and when a question is first posed. Provenance-only updates (a
    /// source re-rated without effect on the ranking, a further supporting claim from the same
    /// source) update the stored belief without a change entry.
    ///
    /// Events are expected in sequence order as the ledger delivers them; an entity recorded a
    /// second time (same id, or same relation key, or a second resolution of a forecast) is
    /// ignored, as the ledger itself never records it.
    pub fn apply(&mut self, r: Recorded<'_>) -> Vec<BeliefChange> {
        let event = EventRef {
            seq: r.seq,
            hash: r.hash.to_owned(),
            recorded: r.recorded,
        };
        self.last_seq = self.last_seq.max(r.seq);
        let Some(affected) = self.record(r.event, &event) else {
            return Vec::new();
        };
        let mut why: Option<String> = None;
        let mut changes = Vec::new();
        for question in affected {
            let Some(after) = self.judge(&question) else {
                continue;
            };
            let previous = self.current.get(&question);
            if previous == Some(&after) {
                continue;
            }
            let before = previous.map(BeliefLine::summary);
            let after_summary = after.summary();
            if before.as_ref() != Some(&after_summary) {
                let change = BeliefChange {
                    question: question.clone(),
                    seq: event.seq,
                    hash: event.hash.clone(),
                    recorded: event.recorded,
                    event_type: r.event.event_type().to_owned(),
                    before,
                    after: after_summary,
                    reason: why
                        .get_or_insert_with(|| reason(r.event, event.seq))
                        .clone(),
                };
                if !self.forget_history {
                    self.history
                        .entry(question.clone())
                        .or_default()
                        .push(change.clone());
                }
                changes.push(change);
            }
            self.changed.insert(question.clone());
            self.current.insert(question, after);
        }
        changes
    }

    /// An engine for a projector, which stores what [`apply`](Engine::apply) returns and builds
    /// provenance elsewhere (from stored events, with [`load`](Engine::load)): it keeps no
    /// history of changes ([`history`] stays empty) and keeps claims only in the incremental
    /// current view, so [`belief`](Engine::belief) and [`beliefs`](Engine::beliefs) answer
    /// nothing. [`line`](Engine::line), [`lines`](Engine::lines), [`digest`](Engine::digest)
    /// and the changes are those of a full engine (a test folds both and compares them).
    ///
    /// [`history`]: Engine::history
    #[must_use]
    pub fn for_projection() -> Self {
        Engine {
            forget_history: true,
            lean: true,
            ..Self::default()
        }
    }

    /// Makes room for about `events` more events, most of them claims (a hint, e.g. for a
    /// catch-up of that many records): the claim tables then grow once instead of doubling
    /// their way there, copying and faulting in memory each time. Reserved space that is never
    /// used is address space only.
    pub fn reserve(&mut self, events: usize) {
        self.fast.reserve(events);
    }

    /// The questions whose [`line`](Engine::line) changed since the last call (in any part,
    /// including the number of sources, which is not a change of belief), sorted by id.
    pub fn take_changed(&mut self) -> Vec<EntityId> {
        let mut changed: Vec<EntityId> = self.changed.drain().collect();
        changed.sort_unstable();
        changed
    }

    /// [`Engine::take_changed`] in no particular order, without collecting them (for a caller
    /// that asks after every event).
    pub fn drain_changed(&mut self) -> impl Iterator<Item = EntityId> + '_ {
        self.changed.drain()
    }

    /// The belief on a question with full provenance: the current view (`valid_at` `None`), or
    /// the view at a valid (world) time. `None` if the question has not been posed.
    ///
    /// Provenance is built on request (it costs time proportional to the claims shown).
    #[must_use]
    pub fn belief(&self, question: &EntityId, valid_at: Option<Timestamp>) -> Option<Belief> {
        if self.lean {
            return None;
        }
        self.compute(question, valid_at)
    }

    /// The current beliefs on all posed questions with full provenance, sorted by question id.
    #[must_use]
    pub fn beliefs(&self) -> Vec<Belief> {
        if self.lean {
            return Vec::new();
        }
        self.question_ids()
            .into_iter()
            .filter_map(|q| self.compute(q, None))
            .collect()
    }

    /// The posed questions, sorted by id.
    fn question_ids(&self) -> Vec<&EntityId> {
        let mut ids: Vec<&EntityId> = self.questions.keys().collect();
        ids.sort_unstable();
        ids
    }

    /// The current judgment on every posed question (as of the last [`apply`](Engine::apply)),
    /// sorted by question id: one line each, without provenance.
    #[must_use]
    pub fn lines(&self) -> Vec<&BeliefLine> {
        let mut lines: Vec<&BeliefLine> = self.current.values().collect();
        lines.sort_unstable_by(|a, b| a.question.id.cmp(&b.question.id));
        lines
    }

    /// The current judgment on one question, `None` if it has not been posed (or the engine was
    /// filled with [`load`](Engine::load)).
    #[must_use]
    pub fn line(&self, question: &EntityId) -> Option<&BeliefLine> {
        self.current.get(question)
    }

    /// The question a recorded claim is about.
    #[must_use]
    pub fn question_of(&self, claim: &EntityId) -> Option<&EntityId> {
        self.fast.question_of(claim)
    }

    /// Judges a question now through the incremental state (no provenance).
    fn judge(&self, qid: &EntityId) -> Option<BeliefLine> {
        let question = self.questions.get(qid)?;
        let assessment = self.assessments.get(qid).and_then(|l| l.last());
        let j = self.fast.judge(
            qid,
            &question.item.kind,
            question.item.subject(),
            assessment.map(|a| a.item.value.as_ref()),
        );
        Some(BeliefLine {
            question: QuestionRef { id: qid.clone() },
            value: j.value,
            status: j.status,
            best_claim: j.best_claim,
            likelihood: assessment.and_then(|a| a.item.likelihood),
            confidence: assessment.map(|a| a.item.confidence),
            sources: j.sources,
        })
    }

    /// The line the reference computation (with provenance) gives for a question.
    fn reference_line(&self, qid: &EntityId) -> Option<BeliefLine> {
        self.compute(qid, None).map(|b| b.line())
    }

    /// The changes of belief on a question, in sequence order (empty if none).
    #[must_use]
    pub fn history(&self, question: &EntityId) -> &[BeliefChange] {
        self.history.get(question).map_or(&[], Vec::as_slice)
    }

    /// Recomputes every question's judgment with the reference computation (the one that builds
    /// provenance) and returns the questions whose current line differs, or that were posed
    /// but have no line. Always empty unless the engine has a bug; audits and tests use it to
    /// check that the incremental judgments never go stale. A [projection
    /// engine](Engine::for_projection) has no reference to compare with: it reports every
    /// question.
    #[must_use]
    pub fn stale_views(&self) -> Vec<EntityId> {
        let ids = self.question_ids().into_iter();
        if self.lean {
            return ids.cloned().collect();
        }
        ids.filter(|q| self.reference_line(q).as_ref() != self.current.get(*q))
            .cloned()
            .collect()
    }

    /// The digest of the current [`BeliefLine`]s of all posed questions (`dossier-digest/2`,
    /// see [`LineSum`]): two engines that folded the same events have the same digest, and a
    /// view store keeping the same lines computes the same one incrementally. Provenance is not
    /// hashed: it is a function of the events, which the ledger's chain fixes.
    #[must_use]
    pub fn digest(&self) -> String {
        let mut sum = LineSum::default();
        for line in self.lines() {
            sum.add(line_hash(line));
        }
        sum.digest(POLICY_VERSION)
    }

    // ----- recording -----

    /// Stores the event's entity and returns the questions it may affect; `None` for a
    /// duplicate.
    fn record(&mut self, ev: &DomainEvent, at: &EventRef) -> Option<BTreeSet<EntityId>> {
        let seq = at.seq;
        let mut claims: BTreeSet<EntityId> = BTreeSet::new();
        let mut questions: BTreeSet<EntityId> = BTreeSet::new();
        match ev {
            DomainEvent::Question(q) => {
                if self.questions.contains_key(&q.id) {
                    return None;
                }
                self.questions
                    .insert(q.id.clone(), Stamped::new(q.clone(), at));
                self.fast.pose(&q.id, &q.kind);
                questions.insert(q.id.clone());
                // Claims recorded before their question was posed now read it as its kind (a
                // relay's statement, rule 3), which can reach the questions they relate to.
                claims.extend(self.fast.claims_of_question(&q.id).cloned());
            }
            DomainEvent::Source(s) => {
                if self.sources.contains_key(&s.id) {
                    return None;
                }
                self.sources
                    .insert(s.id.clone(), Stamped::new(s.clone(), at));
                claims.extend(self.fast.claims_of_source(&s.id).cloned());
            }
            DomainEvent::Reliability(a) => {
                let list = self.reliability.entry(a.source.clone()).or_default();
                if list.iter().any(|x| x.item.id == a.id) {
                    return None;
                }
                list.push(Stamped::new(a.clone(), at));
                self.fast.set_reliability(&a.source, a.rating);
                claims.extend(self.fast.claims_of_source(&a.source).cloned());
            }
            DomainEvent::Interest(d) => {
                if !self.interest_ids.insert(d.id.clone()) {
                    return None;
                }
                self.interests
                    .entry(d.question.clone())
                    .or_default()
                    .push(Stamped::new(d.clone(), at));
                self.fast.designate(&d.source, &d.question);
                // Rule 5a joins only claims on the designated question.
                questions.insert(d.question.clone());
            }
            DomainEvent::Report(rep) => {
                if self.reports.contains_key(&rep.id) {
                    return None;
                }
                self.reports
                    .insert(rep.id.clone(), Stamped::new(rep.clone(), at));
                claims.extend(self.fast.claims_of_report(&rep.id).cloned());
            }
            DomainEvent::Claim(c) => {
                let related = self.fast.add_claim(c, seq)?;
                if !self.lean {
                    self.claims
                        .insert(c.id.clone(), Box::new(Stamped::new(c.clone(), at)));
                    push_to(&mut self.claims_by_question, &c.question, &c.id);
                }
                if !related {
                    // No relation names it (the usual case): it reaches its own question only.
                    if self.questions.contains_key(&c.question) {
                        questions.insert(c.question.clone());
                    }
                    return Some(questions);
                }
                claims.insert(c.id.clone());
            }
            DomainEvent::Relation(rel) => {
                let key = rel.entity_key();
                if self.relations.contains_key(&key) {
                    return None;
                }
                self.relations
                    .insert(key.clone(), Stamped::new(rel.clone(), at));
                self.fast.add_relation(rel);
                self.relations_to
                    .entry(rel.to.clone())
                    .or_default()
                    .push(key.clone());
                self.relations_from
                    .entry(rel.from.clone())
                    .or_default()
                    .push(key);
                claims.insert(rel.to.clone());
                if rel.from.kind() == EntityKind::Claim {
                    claims.insert(rel.from.clone());
                }
            }
            DomainEvent::Assessment(a) => {
                if !self.assessment_ids.insert(a.id.clone()) {
                    return None;
                }
                self.assessments
                    .entry(a.question.clone())
                    .or_default()
                    .push(Stamped::new(a.clone(), at));
                questions.insert(a.question.clone());
            }
            DomainEvent::Resolution(res) => {
                if self.resolutions.contains_key(&res.forecast) {
                    return None;
                }
                self.resolutions
                    .insert(res.forecast.clone(), Stamped::new(res.clone(), at));
                self.fast.resolve(res, seq);
                claims.insert(res.forecast.clone());
                if res.by.kind() == EntityKind::Claim {
                    claims.insert(res.by.clone());
                }
            }
        }
        // A claim's view and state reach the questions of every claim connected to it by
        // relations, transitively (corroboration and supersession chains).
        let mut queue: Vec<EntityId> = claims.iter().cloned().collect();
        while let Some(id) = queue.pop() {
            for key in self.relation_keys(&id) {
                if let Some(rel) = self.relations.get(key) {
                    for end in [&rel.item.from, &rel.item.to] {
                        if claims.insert(end.clone()) {
                            queue.push(end.clone());
                        }
                    }
                }
            }
        }
        for id in &claims {
            if let Some(q) = self.fast.question_of(id) {
                questions.insert(q.clone());
            }
        }
        questions.retain(|q| self.questions.contains_key(q));
        Some(questions)
    }

    /// A recorded claim.
    fn claim(&self, id: &EntityId) -> Option<&Stamped<Claim>> {
        self.claims.get(id).map(|b| &**b)
    }

    fn relation_keys<'a>(&'a self, id: &EntityId) -> impl Iterator<Item = &'a String> + 'a {
        let to = self.relations_to.get(id).into_iter().flatten();
        let from = self.relations_from.get(id).into_iter().flatten();
        to.chain(from)
    }

    /// Relations of a kind pointing at `to`, in sequence order.
    fn relations_into(&self, to: &EntityId, kind: RelationKind) -> Vec<&Stamped<Relation>> {
        let mut out: Vec<&Stamped<Relation>> = self
            .relations_to
            .get(to)
            .into_iter()
            .flatten()
            .filter_map(|k| self.relations.get(k))
            .filter(|r| r.item.kind == kind)
            .collect();
        out.sort_by_key(|r| r.event.seq);
        out
    }

    // ----- computing a view -----

    /// The kind of a claim's question, if posed.
    fn kind_of(&self, claim: &Claim) -> Option<&QuestionKind> {
        self.questions.get(&claim.question).map(|q| &q.item.kind)
    }

    /// What a claim's question asks about (state unless the question says or its kind
    /// defaults otherwise); a state for a claim whose question is not posed.
    fn subject_of(&self, claim: &Claim) -> Subject {
        self.questions
            .get(&claim.question)
            .map_or(Subject::State, |q| q.item.subject())
    }

    /// Rule 2: when a claim without a valid time was said: its utterance, else its report's
    /// publication; `None` if neither is known (the report is not in the fold).
    fn said_at(&self, claim: &Claim) -> Option<Timestamp> {
        claim.uttered.or_else(|| {
            let report = claim.report.as_ref()?;
            self.reports.get(report).map(|r| r.item.published)
        })
    }

    /// Rule 2: whether a claim is in force in a view at valid time `t` (always, in the current
    /// view).
    fn in_force(&self, claim: &Claim, t: Option<Timestamp>) -> bool {
        let Some(t) = t else { return true };
        let Some(vt) = &claim.valid_time else {
            // In force from the time it was said on, never before.
            return self.said_at(claim).is_none_or(|s| s <= t);
        };
        if self.subject_of(claim) == Subject::Event {
            // Whether the event happened stays answered once its time has begun.
            return vt.start().is_none_or(|s| s <= t);
        }
        if matches!(self.kind_of(claim), Some(QuestionKind::Quantity { .. })) {
            as_of_point(claim).is_none_or(|a| a <= t)
        } else {
            vt.start().is_none_or(|s| s <= t) && vt.end().is_none_or(|e| t <= e)
        }
    }

    /// Rule 4: the claims and reports retracting a claim.
    fn retracted_by(&self, id: &EntityId) -> Vec<EntityId> {
        let mut by: Vec<EntityId> = self
            .relations_into(id, RelationKind::Retracts)
            .into_iter()
            .map(|r| r.item.from.clone())
            .collect();
        by.sort();
        by.dedup();
        by
    }

    /// Rule 3: the claims directly superseding a claim in a view at `t`: not retracted, in
    /// force at `t`, same speaker and same question.
    fn superseded_directly(&self, claim: &Claim, t: Option<Timestamp>) -> Vec<EntityId> {
        self.relations_into(&claim.id, RelationKind::Supersedes)
            .into_iter()
            .filter_map(|r| self.claim(&r.item.from))
            .map(|s| &s.item)
            .filter(|new| {
                new.speaker == claim.speaker
                    && new.question == claim.question
                    && self.retracted_by(&new.id).is_empty()
                    && self.in_force(new, t)
            })
            .map(|new| new.id.clone())
            .collect()
    }

    /// Rule 5: the claims joined to a claim by `same_primary_source` corroborations, in either
    /// direction and transitively, the claim itself excluded; sorted.
    fn same_source_claims(&self, id: &EntityId) -> Vec<EntityId> {
        // Most claims have no such corroboration: answer them without allocating.
        let joined = |key: &String| {
            self.relations.get(key).is_some_and(|r| {
                r.item.kind == RelationKind::Corroborates
                    && r.item.independence == Some(Independence::SamePrimarySource)
            })
        };
        if !self.relation_keys(id).any(joined) {
            return Vec::new();
        }
        let mut seen: BTreeSet<EntityId> = BTreeSet::from([id.clone()]);
        let mut queue = vec![id.clone()];
        while let Some(x) = queue.pop() {
            for key in self.relation_keys(&x) {
                let Some(r) = self.relations.get(key) else {
                    continue;
                };
                if r.item.kind != RelationKind::Corroborates
                    || r.item.independence != Some(Independence::SamePrimarySource)
                {
                    continue;
                }
                for end in [&r.item.from, &r.item.to] {
                    if seen.insert(end.clone()) {
                        queue.push(end.clone());
                    }
                }
            }
        }
        seen.remove(id);
        seen.into_iter().collect()
    }

    /// Rule 3: the claims superseding a claim in a view at `t`: those superseding it directly,
    /// and, for a relay of a superseded statement (a claim joined to it by `same_primary_source`
    /// on the same question, saying the same), those superseding that statement, the claim
    /// itself excepted.
    fn superseded_by(&self, claim: &Claim, t: Option<Timestamp>) -> Vec<EntityId> {
        let mut by = self.superseded_directly(claim, t);
        let relays = self.same_source_claims(&claim.id);
        if relays.is_empty() {
            by.sort();
            by.dedup();
            return by;
        }
        let yes_no = self
            .kind_of(claim)
            .is_some_and(|k| matches!(k, QuestionKind::Boolean | QuestionKind::Forecast { .. }));
        let said = |c: &Claim| effective_value(c.stance, c.value.as_ref(), yes_no);
        let mine = said(claim);
        for other in relays {
            let Some(a) = self.claim(&other).map(|a| &a.item) else {
                continue;
            };
            if a.question != claim.question || !says_the_same(&said(a), &mine) {
                continue;
            }
            by.extend(
                self.superseded_directly(a, t)
                    .into_iter()
                    .filter(|d| *d != claim.id),
            );
        }
        by.sort();
        by.dedup();
        by
    }

    fn state(&self, claim: &Claim, t: Option<Timestamp>) -> ClaimState {
        if !self.retracted_by(&claim.id).is_empty() {
            ClaimState::Retracted
        } else if !self.superseded_by(claim, t).is_empty() {
            ClaimState::Superseded
        } else {
            ClaimState::Active
        }
    }

    /// Whether a claim counts (in force at `t` and active); used for claims related from other
    /// questions.
    fn is_active(&self, claim: &Claim, t: Option<Timestamp>) -> bool {
        self.in_force(claim, t) && self.state(claim, t) == ClaimState::Active
    }

    /// The latest reliability assessment of a source recorded so far (rule 6).
    fn reliability_of(&self, source: &EntityId) -> Option<&Stamped<ReliabilityAssessment>> {
        self.reliability.get(source).and_then(|l| l.last())
    }

    /// Rule 5a: the first designation of a source as an interested party to a question, if
    /// one is recorded so far.
    fn interest_in(
        &self,
        question: &EntityId,
        source: &EntityId,
    ) -> Option<&Stamped<InterestDesignation>> {
        self.interests
            .get(question)
            .and_then(|l| l.iter().find(|d| d.item.source == *source))
    }

    /// Rule 6 ranking key of a source: A..E are 0..4, unknown (F or never assessed) is 5.
    fn reliability_rank(&self, source: &EntityId) -> u8 {
        self.reliability_of(source)
            .map_or(5, |a| admiralty_rank(a.item.rating))
    }

    /// Rule 6: the ranking key of a claim; smaller is better. `sources` gives, for a claim on
    /// a question about an event, the independent sources saying its value.
    fn rank_key<'c>(
        &self,
        claim: &'c Stamped<Claim>,
        sources: &FxHashMap<EntityId, usize>,
    ) -> RankKey<'c> {
        let c = &claim.item;
        let event = (self.subject_of(c) == Subject::Event).then(|| {
            (
                self.reliability_rank(&c.speaker),
                credibility_rank(c.credibility.get()),
                Reverse(sources.get(&c.id).copied().unwrap_or(0)),
            )
        });
        RankKey {
            event,
            recency: Reverse(as_of_point(c)),
            reliability: self.reliability_rank(&c.speaker),
            credibility: credibility_rank(c.credibility.get()),
            relay: c.via.as_ref().map_or(0, |v| 1 + self.reliability_rank(v)),
            seq: Reverse(claim.event.seq),
            id: &c.id,
        }
    }

    fn sort_ranked<'c>(
        &self,
        claims: &mut [&'c Stamped<Claim>],
        sources: &FxHashMap<EntityId, usize>,
    ) {
        claims.sort_by_cached_key(|c: &&'c Stamped<Claim>| self.rank_key(c, sources));
    }

    /// Rule 6 for a question about an event: per active claim giving a value, the number of
    /// independent sources (rule 5, joined through all the valued claims) among the active
    /// claims of the question giving an agreeing value. Empty for a question about a state, whose ranking does not use it.
    fn sources_per_value(
        &self,
        judged: Judged<'_>,
        subject: Subject,
        valued: &[&Stamped<Claim>],
        said: impl Fn(&Claim) -> Said,
    ) -> FxHashMap<EntityId, usize> {
        let mut out = FxHashMap::default();
        if subject != Subject::Event {
            return out;
        }
        let component = self.components(valued, judged);
        let saids: Vec<Said> = valued.iter().map(|c| said(&c.item)).collect();
        // The count depends only on what a claim says: computed once per distinct statement.
        let mut counted: Vec<(&Said, usize)> = Vec::new();
        for (c, mine) in valued.iter().zip(&saids) {
            let n = match counted.iter().find(|(s, _)| *s == mine) {
                Some(&(_, n)) => n,
                None => {
                    let sources: BTreeSet<usize> = saids
                        .iter()
                        .enumerate()
                        .filter(|(_, o)| says_the_same(o, mine))
                        .map(|(j, _)| component[j])
                        .collect();
                    counted.push((mine, sources.len()));
                    sources.len()
                }
            };
            out.insert(c.item.id.clone(), n);
        }
        out
    }

    /// Rule 8: whether active claims from independent sources (rule 5) diverge: on a quantity
    /// question, two figures whose intervals ([`interval`]) do not overlap; on a categorical
    /// question, two different categories.
    fn diverges(
        &self,
        judged: Judged<'_>,
        kind: &QuestionKind,
        valued: &[&Stamped<Claim>],
    ) -> bool {
        let component = self.components(valued, judged);
        let pairs = valued.iter().enumerate().flat_map(|(i, a)| {
            valued[i + 1..]
                .iter()
                .enumerate()
                .map(move |(j, b)| (i, i + 1 + j, a, b))
        });
        for (i, j, a, b) in pairs {
            if component[i] == component[j] {
                continue;
            }
            let (Some(x), Some(y)) = (&a.item.value, &b.item.value) else {
                continue;
            };
            let apart = match kind {
                QuestionKind::Quantity { .. } => match (interval(x), interval(y)) {
                    (Some((xl, xh)), Some((yl, yh))) => xl > yh || yl > xh,
                    _ => false,
                },
                QuestionKind::Categorical { .. } => !values_agree(x, y),
                QuestionKind::Boolean | QuestionKind::Forecast { .. } => false,
            };
            if apart {
                return true;
            }
        }
        false
    }

    /// Computes the belief on a question at a valid time (`None`: current view).
    fn compute(&self, qid: &EntityId, t: Option<Timestamp>) -> Option<Belief> {
        let question = self.questions.get(qid)?;
        let kind = &question.item.kind;
        let yes_no = matches!(kind, QuestionKind::Boolean | QuestionKind::Forecast { .. });

        // Rule 2: the claims in force at t.
        let candidates: Vec<&Stamped<Claim>> = self
            .claims_by_question
            .get(qid)
            .into_iter()
            .flatten()
            .filter_map(|id| self.claim(id))
            .filter(|c| self.in_force(&c.item, t))
            .collect();
        let mut active = Vec::new();
        let mut superseded = Vec::new();
        let mut retracted = Vec::new();
        for c in &candidates {
            match self.state(&c.item, t) {
                ClaimState::Active => active.push(*c),
                ClaimState::Superseded => superseded.push(*c),
                ClaimState::Retracted => retracted.push(*c),
            }
        }

        // Rule 10: a resolution of a (non-retracted) forecast in the view settles the question.
        let resolution = candidates
            .iter()
            .filter(|c| c.item.stance == Stance::Forecasts)
            .filter(|c| self.retracted_by(&c.item.id).is_empty())
            .filter_map(|c| self.resolutions.get(&c.item.id))
            .max_by_key(|r| r.event.seq);
        let outcome = resolution.map(|r| r.item.outcome);

        // Rule 1: what each active claim says; rule 6: their ranking.
        let said = |c: &Claim| effective_value(c.stance, c.value.as_ref(), yes_no);
        let subject = question.item.subject();
        let mut valued: Vec<&Stamped<Claim>> = active
            .iter()
            .copied()
            .filter(|c| matches!(said(&c.item), Said::Value(_)))
            .collect();
        let judged = Judged {
            question: qid,
            yes_no,
        };
        let per_value = self.sources_per_value(judged, subject, &valued, said);
        self.sort_ranked(&mut active, &per_value);
        // The ranking is a total order (the claim id breaks ties): the valued claims in ranking
        // order are the ranked active claims that give a value.
        valued = active
            .iter()
            .copied()
            .filter(|c| matches!(said(&c.item), Said::Value(_)))
            .collect();

        // Rules 6 and 10: the value the claims support, and the best claim giving it.
        let target: Option<ClaimValue> = match outcome {
            Some(o) => Some(ClaimValue::Boolean(o)),
            None => valued.first().and_then(|c| said(&c.item).value()),
        };
        let best = target.as_ref().and_then(|v| {
            valued
                .iter()
                .find(|c| said(&c.item).value().is_some_and(|w| values_agree(v, &w)))
                .map(|c| c.item.id.clone())
        });
        let evidence_value = match (&target, outcome) {
            (Some(v), Some(_)) => Some(BeliefValue::Single { value: v.clone() }),
            (Some(v), None) if yes_no => Some(BeliefValue::Single { value: v.clone() }),
            (Some(v), None) => {
                let values: Vec<ClaimValue> = valued
                    .iter()
                    .filter_map(|c| said(&c.item).value())
                    .collect();
                Some(spread(v, values.iter(), kind))
            }
            (None, _) => None,
        };

        // Rules 5 and 7: supporting and contradicting claims.
        let agrees = |c: &Claim| matches!((&target, said(c).value()), (Some(v), Some(w)) if values_agree(v, &w));
        let mut supporting: BTreeSet<EntityId> = active
            .iter()
            .filter(|c| agrees(&c.item))
            .map(|c| c.item.id.clone())
            .collect();
        // Claims corroborating a supporting claim support it too, whatever their question.
        loop {
            let mut added = false;
            for id in supporting.clone() {
                for r in self.relations_into(&id, RelationKind::Corroborates) {
                    if let Some(c) = self.claim(&r.item.from)
                        && self.is_active(&c.item, t)
                        && supporting.insert(c.item.id.clone())
                    {
                        added = true;
                    }
                }
            }
            if !added {
                break;
            }
        }
        let mut contradicting: BTreeSet<EntityId> = BTreeSet::new();
        for c in &active {
            let opposes = match said(&c.item) {
                Said::Denial => true,
                Said::Value(v) => yes_no && target.as_ref().is_some_and(|t| !values_agree(t, &v)),
                Said::Nothing => false,
            };
            if opposes {
                contradicting.insert(c.item.id.clone());
            }
        }
        for id in &supporting {
            for r in self.relations_into(id, RelationKind::Disputes) {
                if let Some(c) = self.claim(&r.item.from)
                    && self.is_active(&c.item, t)
                {
                    contradicting.insert(c.item.id.clone());
                }
            }
        }
        supporting.retain(|id| !contradicting.contains(id));

        // Rule 5: independent sources among the supporting claims.
        let support_claims: Vec<&Stamped<Claim>> =
            supporting.iter().filter_map(|id| self.claim(id)).collect();
        let independent_sources = self.count_independent(&support_claims, judged);

        // Rule 8: flags.
        // Rule 10: once a resolution applies, a forecast that turned out wrong (whoever made
        // it) contradicts without disputing.
        let settled_forecast = |c: &Claim| c.stance == Stance::Forecasts && outcome.is_some();
        let flags = rule8_flags(&Facts8 {
            disputed: contradicting
                .iter()
                .filter_map(|id| self.claim(id))
                .any(|c| !settled_forecast(&c.item)),
            divergent: outcome.is_none() && !yes_no && self.diverges(judged, kind, &valued),
            supported: !supporting.is_empty(),
            independent_sources,
            any_superseded: !superseded.is_empty(),
            any_retracted: !retracted.is_empty(),
            any_active: !active.is_empty(),
            forecast_question: matches!(kind, QuestionKind::Forecast { .. }),
            outcome,
            active_forecast: active.iter().any(|c| c.item.stance == Stance::Forecasts),
        });
        let status = Status::new(flags);

        // Rule 9: the analyst's judgment, in the current view.
        let assessment = if t.is_none() {
            self.assessments.get(qid).and_then(|l| l.last())
        } else {
            None
        };
        let value = match assessment.and_then(|a| a.item.value.clone()) {
            Some(v) => Some(BeliefValue::Single { value: v }),
            None => evidence_value.clone(),
        };

        // Provenance.
        let view = |c: &Stamped<Claim>, state| self.claim_view(c, state, t, qid);
        let mut support_list: Vec<&Stamped<Claim>> = support_claims;
        self.sort_ranked(&mut support_list, &per_value);
        let mut contra_list: Vec<&Stamped<Claim>> = contradicting
            .iter()
            .filter_map(|id| self.claim(id))
            .collect();
        self.sort_ranked(&mut contra_list, &per_value);
        let other: Vec<ClaimView> = active
            .iter()
            .filter(|c| !supporting.contains(&c.item.id) && !contradicting.contains(&c.item.id))
            .map(|c| view(c, ClaimState::Active))
            .collect();
        superseded.sort_by_key(|c| c.event.seq);
        retracted.sort_by_key(|c| c.event.seq);
        let provenance = Provenance {
            supporting: support_list
                .iter()
                .map(|c| view(c, ClaimState::Active))
                .collect(),
            contradicting: contra_list
                .iter()
                .map(|c| view(c, ClaimState::Active))
                .collect(),
            other,
            superseded: superseded
                .iter()
                .map(|c| view(c, ClaimState::Superseded))
                .collect(),
            retracted: retracted
                .iter()
                .map(|c| view(c, ClaimState::Retracted))
                .collect(),
            assessment: assessment.map(|a| AssessmentView {
                id: a.item.id.clone(),
                value: a.item.value.clone(),
                likelihood: a.item.likelihood,
                confidence: a.item.confidence,
                rationale: a.item.rationale.clone(),
                based_on: a.item.based_on.clone(),
                event: a.event.clone(),
            }),
            resolution: resolution.map(|r| ResolutionView {
                forecast: r.item.forecast.clone(),
                outcome: r.item.outcome,
                by: r.item.by.clone(),
                note: r.item.note.clone(),
                event: r.event.clone(),
            }),
        };

        Some(Belief {
            question: QuestionView {
                id: question.item.id.clone(),
                text: question.item.text.clone(),
                kind: kind.clone(),
                event: question.event.clone(),
            },
            valid_at: t,
            value,
            evidence_value,
            status,
            likelihood: assessment.and_then(|a| a.item.likelihood),
            confidence: assessment.map(|a| a.item.confidence),
            best_claim: best,
            sources: independent_sources,
            provenance,
            policy: POLICY_VERSION.to_owned(),
        })
    }

    /// Rule 5: the number of independent sources among claims. Claims of the same speaker are
    /// one source; claims joined by a `corroborates` relation saying `same_primary_source`
    /// are one source; claims of interested parties to the judged question saying the same
    /// are one source (rule 5a).
    fn count_independent(&self, claims: &[&Stamped<Claim>], judged: Judged<'_>) -> usize {
        self.components(claims, judged)
            .into_iter()
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Rules 5 and 5a: the source of each claim, as the index of the first claim of its source.
    fn components(&self, claims: &[&Stamped<Claim>], judged: Judged<'_>) -> Vec<usize> {
        let ids: Vec<&EntityId> = claims.iter().map(|c| &c.item.id).collect();
        let mut parent: Vec<usize> = (0..claims.len()).collect();
        fn find(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        let union = |parent: &mut Vec<usize>, a: usize, b: usize| {
            let (ra, rb) = (find(parent, a), find(parent, b));
            if ra != rb {
                parent[ra.max(rb)] = ra.min(rb);
            }
        };
        // Claims by the same speaker are one source: each joins the speaker's first claim.
        let mut first_of: FxHashMap<&EntityId, usize> = FxHashMap::default();
        for (i, c) in claims.iter().enumerate() {
            let first = *first_of.entry(&c.item.speaker).or_insert(i);
            if first != i {
                union(&mut parent, first, i);
            }
        }
        for (i, id) in ids.iter().enumerate() {
            for r in self.relations_into(id, RelationKind::Corroborates) {
                if r.item.independence == Some(Independence::SamePrimarySource)
                    && let Some(j) = ids.iter().position(|x| **x == r.item.from)
                {
                    union(&mut parent, i, j);
                }
            }
        }
        // Rule 5a: on the judged question, the claims of interested parties to it that say the
        // same (agreeing values, or both denials) are one source.
        let sides: Vec<Option<Said>> = claims
            .iter()
            .map(|c| {
                let c = &c.item;
                let interested = c.question == *judged.question
                    && self.interest_in(&c.question, &c.speaker).is_some();
                let said = effective_value(c.stance, c.value.as_ref(), judged.yes_no);
                (interested && said != Said::Nothing).then_some(said)
            })
            .collect();
        for (i, a) in sides.iter().enumerate() {
            let Some(a) = a else { continue };
            for (j, b) in sides.iter().enumerate().skip(i + 1) {
                if b.as_ref().is_some_and(|b| says_the_same(a, b)) {
                    union(&mut parent, i, j);
                }
            }
        }
        (0..claims.len()).map(|i| find(&mut parent, i)).collect()
    }

    fn source_view(&self, id: &EntityId) -> SourceView {
        let source = self.sources.get(id);
        SourceView {
            id: id.clone(),
            name: source.map(|s| s.item.name.clone()),
            kind: source.map(|s| s.item.kind),
            reliability: self.reliability_of(id).map(|a| ReliabilityView {
                rating: a.item.rating,
                known: !a.item.rating.is_unknown(),
                assessment: a.item.id.clone(),
                scope: a.item.scope.clone(),
                event: a.event.clone(),
            }),
            interest: None,
            event: source.map(|s| s.event.clone()),
        }
    }

    /// A claim in the view of `question`; its speaker shows a designation as an interested
    /// party only if the claim is on `question` (rule 5a joins nothing else).
    fn claim_view(
        &self,
        c: &Stamped<Claim>,
        state: ClaimState,
        t: Option<Timestamp>,
        question: &EntityId,
    ) -> ClaimView {
        let claim = &c.item;
        let report = claim.report.as_ref().map(|id| {
            let r = self.reports.get(id);
            ReportView {
                id: id.clone(),
                title: r.map(|r| r.item.title.clone()),
                publisher: r.map(|r| r.item.publisher.clone()),
                published: r.map(|r| r.item.published),
                content_hash: r.map(|r| r.item.content_hash.clone()),
                event: r.map(|r| r.event.clone()),
            }
        });
        let mut relations: Vec<&Stamped<Relation>> = self
            .relation_keys(&claim.id)
            .filter_map(|k| self.relations.get(k))
            .collect();
        relations.sort_by_key(|r| r.event.seq);
        relations.dedup_by_key(|r| r.event.seq);
        ClaimView {
            id: claim.id.clone(),
            question: claim.question.clone(),
            state,
            stance: claim.stance,
            value: claim.value.clone(),
            valid_time: claim.valid_time.clone(),
            uttered: claim.uttered,
            quote: claim.quote.clone(),
            credibility: CredibilityView {
                grade: claim.credibility.get(),
                known: !claim.credibility.is_unknown(),
            },
            likelihood: claim.likelihood.clone(),
            report,
            speaker: SourceView {
                interest: (claim.question == *question)
                    .then(|| self.interest_in(question, &claim.speaker))
                    .flatten()
                    .map(|d| InterestView {
                        designation: d.item.id.clone(),
                        rationale: d.item.rationale.clone(),
                        event: d.event.clone(),
                    }),
                ..self.source_view(&claim.speaker)
            },
            via: claim.via.as_ref().map(|v| self.source_view(v)),
            superseded_by: self.superseded_by(claim, t),
            retracted_by: self.retracted_by(&claim.id),
            resolved: self.resolutions.get(&claim.id).map(|r| r.item.outcome),
            relations: relations
                .into_iter()
                .map(|r| RelationView {
                    kind: r.item.kind,
                    from: r.item.from.clone(),
                    to: r.item.to.clone(),
                    independence: r.item.independence,
                    note: r.item.note.clone(),
                    event: r.event.clone(),
                })
                .collect(),
            event: c.event.clone(),
        }
    }
}

/// The one-line reason of a change of belief caused by `ev`, recorded at `seq`.
fn reason(ev: &DomainEvent, seq: u64) -> String {
    match ev {
        DomainEvent::Question(q) => format!("{} posed (seq {seq})", q.id),
        DomainEvent::Source(s) => format!("{} registered (seq {seq})", s.id),
        DomainEvent::Reliability(a) => format!(
            "reliability of {} assessed {:?} by {} (seq {seq})",
            a.source, a.rating, a.id
        ),
        DomainEvent::Interest(d) => format!(
            "{} designated an interested party to {} by {} (seq {seq})",
            d.source, d.question, d.id
        ),
        DomainEvent::Report(rep) => format!("{} recorded (seq {seq})", rep.id),
        DomainEvent::Claim(c) => format!(
            "{} recorded: {} {} (seq {seq})",
            c.id,
            c.speaker,
            describe_stance(c)
        ),
        DomainEvent::Relation(rel) => match rel.kind {
            RelationKind::Supersedes => {
                format!("{} superseded by {} (seq {seq})", rel.to, rel.from)
            }
            RelationKind::Disputes => format!("{} disputed by {} (seq {seq})", rel.to, rel.from),
            RelationKind::Retracts => format!("{} retracted by {} (seq {seq})", rel.to, rel.from),
            RelationKind::Corroborates => format!(
                "{} corroborated by {} ({}) (seq {seq})",
                rel.to,
                rel.from,
                match rel.independence {
                    Some(Independence::Independent) => "independent",
                    Some(Independence::SamePrimarySource) => "same primary source",
                    Some(Independence::Unknown) | None => "independence unknown",
                }
            ),
        },
        DomainEvent::Assessment(a) => {
            let likelihood = a
                .likelihood
                .map_or_else(|| "no likelihood".to_owned(), |b| b.as_str().to_owned());
            format!(
                "{} recorded: {likelihood}, {} confidence (seq {seq})",
                a.id,
                confidence_str(a.confidence)
            )
        }
        DomainEvent::Resolution(res) => format!(
            "forecast {} resolved {} by {} (seq {seq})",
            res.forecast, res.outcome, res.by
        ),
    }
}

/// What rule 8 looks at.
pub(crate) struct Facts8 {
    /// An active claim contradicts the value (a forecast settled by a resolution does not
    /// count).
    pub(crate) disputed: bool,
    /// Active figures or categories from independent sources diverge.
    pub(crate) divergent: bool,
    /// Some claim supports the value.
    pub(crate) supported: bool,
    /// Independent sources among the supporting claims (rule 5).
    pub(crate) independent_sources: usize,
    pub(crate) any_superseded: bool,
    pub(crate) any_retracted: bool,
    pub(crate) any_active: bool,
    pub(crate) forecast_question: bool,
    /// The forecast resolution that settles the question (rule 10).
    pub(crate) outcome: Option<bool>,
    /// An active claim forecasts.
    pub(crate) active_forecast: bool,
}

/// Rule 8: the status flags; the one place both the reference computation and the
/// incremental view take them from.
pub(crate) fn rule8_flags(f: &Facts8) -> Vec<Flag> {
    let mut flags = Vec::new();
    if f.disputed {
        flags.push(Flag::Disputed);
    }
    if f.divergent {
        flags.push(Flag::Divergent);
    }
    if f.supported && !f.disputed && !f.divergent {
        flags.push(Flag::Uncontested);
    }
    if f.independent_sources >= 2 {
        flags.push(Flag::Corroborated);
    }
    if f.any_superseded {
        flags.push(Flag::SupersededHistory);
    }
    if f.any_retracted {
        flags.push(Flag::Retracted);
    }
    if !f.any_active {
        flags.push(Flag::NoActiveClaim);
    }
    if f.forecast_question {
        match f.outcome {
            Some(true) => flags.push(Flag::ForecastResolvedTrue),
            Some(false) => flags.push(Flag::ForecastResolvedFalse),
            None if f.active_forecast => flags.push(Flag::ForecastPending),
            None => {}
        }
    }
    flags
}

/// Appends `id` to the list of `key`, cloning the key only for a new list.
fn push_to(map: &mut FxHashMap<EntityId, Vec<EntityId>>, key: &EntityId, id: &EntityId) {
    match map.get_mut(key) {
        Some(list) => list.push(id.clone()),
        None => {
            map.insert(key.clone(), vec![id.clone()]);
        }
    }
}

/// The ranking key of rule 6; `Ord` puts the best claim first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RankKey<'c> {
    /// On a question about an event, first: speaker reliability, credibility, and the most
    /// independent sources saying the claim's value; `None` (equal for all) on a state.
    event: Option<(u8, u8, Reverse<usize>)>,
    /// Later valid time first; claims without a valid time last.
    recency: Reverse<Option<Timestamp>>,
    /// Speaker reliability A..E, then unknown.
    reliability: u8,
    /// Credibility 1..5, then 6 (unknown).
    credibility: u8,
    /// First-hand, then relayed by outlets A..E, then by an outlet of unknown reliability.
    relay: u8,
    /// Later recorded first.
    seq: Reverse<u64>,
    /// Claim id, for a total order.
    id: &'c EntityId,
}

/// The question being judged, as rule 5a needs it: interested parties join only on it, and
/// what a claim says (its side) depends on whether it is a yes/no question.
#[derive(Clone, Copy, Debug)]
struct Judged<'q> {
    question: &'q EntityId,
    yes_no: bool,
}

/// What a claim says about its question (rule 1).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Said {
    /// A value: for yes/no questions the truth value of the proposition.
    Value(ClaimValue),
    /// A denial on a quantity or categorical question: contradicts, never a figure.
    Denial,
    /// Nothing usable (no value, or a value of the wrong type).
    Nothing,
}

impl Said {
    fn value(&self) -> Option<ClaimValue> {
        match self {
            Said::Value(v) => Some(v.clone()),
            Said::Denial | Said::Nothing => None,
        }
    }
}

/// Rule 1: the effective value of a claim with this stance and value.
pub(crate) fn effective_value(stance: Stance, value: Option<&ClaimValue>, yes_no: bool) -> Said {
    if yes_no {
        let truth = match (value, stance) {
            (None, Stance::Asserts | Stance::Forecasts) => true,
            (None, Stance::Denies) => false,
            (Some(ClaimValue::Boolean(b)), Stance::Asserts | Stance::Forecasts) => *b,
            (Some(ClaimValue::Boolean(b)), Stance::Denies) => !*b,
            (Some(_), _) => return Said::Nothing,
        };
        Said::Value(ClaimValue::Boolean(truth))
    } else {
        match (value, stance) {
            (_, Stance::Denies) => Said::Denial,
            (Some(ClaimValue::Boolean(_)) | None, _) => Said::Nothing,
            (Some(v), Stance::Asserts | Stance::Forecasts) => Said::Value(v.clone()),
        }
    }
}

/// Whether two values say the same: equal booleans or categories, equal figures with equal
/// qualifiers, equal ranges. Units are not compared (validation makes them the question's).
pub(crate) fn values_agree(a: &ClaimValue, b: &ClaimValue) -> bool {
    match (a, b) {
        (ClaimValue::Boolean(x), ClaimValue::Boolean(y)) => x == y,
        (ClaimValue::Category(x), ClaimValue::Category(y)) => x == y,
        (
            ClaimValue::Quantity {
                value: x,
                qualifier: qx,
                ..
            },
            ClaimValue::Quantity {
                value: y,
                qualifier: qy,
                ..
            },
        ) => x == y && qx == qy,
        (
            ClaimValue::Range {
                low: lx, high: hx, ..
            },
            ClaimValue::Range {
                low: ly, high: hy, ..
            },
        ) => lx == ly && hx == hy,
        _ => false,
    }
}

/// Rule 3: whether two claims repeat one statement: both say agreeing values, or both deny a
/// figure or category.
fn says_the_same(a: &Said, b: &Said) -> bool {
    match (a, b) {
        (Said::Value(x), Said::Value(y)) => values_agree(x, y),
        (Said::Denial, Said::Denial) => true,
        _ => false,
    }
}

/// Rule 6: the value of a quantity or categorical question given all active values: the best
/// value if all agree, else a range of figures or the distinct categories.
pub(crate) fn spread<'a>(
    best: &ClaimValue,
    values: impl Iterator<Item = &'a ClaimValue>,
    kind: &QuestionKind,
) -> BeliefValue {
    let values: Vec<&ClaimValue> = values.collect();
    if values.iter().all(|v| values_agree(best, v)) {
        return BeliefValue::Single {
            value: best.clone(),
        };
    }
    if let QuestionKind::Quantity { unit } = kind {
        let bounds = values.iter().filter_map(|v| match v {
            ClaimValue::Quantity { value, .. } => Some((*value, *value)),
            ClaimValue::Range { low, high, .. } => Some((*low, *high)),
            ClaimValue::Boolean(_) | ClaimValue::Category(_) => None,
        });
        let (low, high) = bounds.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (l, h)| {
            (lo.min(l), hi.max(h))
        });
        if low <= high {
            return BeliefValue::Range {
                low,
                high,
                unit: Some(unit.clone()),
            };
        }
    }
    let mut distinct: Vec<ClaimValue> = Vec::new();
    for v in values {
        if !distinct.iter().any(|d| values_agree(d, v)) {
            distinct.push(v.clone());
        }
    }
    BeliefValue::Alternatives { values: distinct }
}

/// Rule 8's tolerance: an `approximately` figure stands for every figure within this fraction
/// of it, either way.
pub(crate) const APPROXIMATE_TOLERANCE: f64 = 0.1;

/// Rule 8: the figures a quantity value allows, as a closed interval: an exact figure itself,
/// an approximate one widened by [`APPROXIMATE_TOLERANCE`], `at_least` up to infinity,
/// `at_most` down to zero, a range its bounds. `None` for a value that is not a figure.
pub(crate) fn interval(v: &ClaimValue) -> Option<(f64, f64)> {
    match v {
        ClaimValue::Quantity {
            value, qualifier, ..
        } => Some(match qualifier {
            Qualifier::Exact => (*value, *value),
            Qualifier::Approximately => (
                value * (1.0 - APPROXIMATE_TOLERANCE),
                value * (1.0 + APPROXIMATE_TOLERANCE),
            ),
            Qualifier::AtLeast => (*value, f64::INFINITY),
            Qualifier::AtMost => (0.0, *value),
        }),
        ClaimValue::Range { low, high, .. } => Some((*low, *high)),
        ClaimValue::Boolean(_) | ClaimValue::Category(_) => None,
    }
}

/// The instant a claim is about (rule 2): the end of its valid time, else its start, else none.
pub(crate) fn as_of_point(c: &Claim) -> Option<Timestamp> {
    let vt = c.valid_time.as_ref()?;
    vt.end().or_else(|| vt.start())
}

pub(crate) fn admiralty_rank(a: Admiralty) -> u8 {
    match a {
        Admiralty::A => 0,
        Admiralty::B => 1,
        Admiralty::C => 2,
        Admiralty::D => 3,
        Admiralty::E => 4,
        Admiralty::F => 5,
    }
}

/// Credibility 1..5 rank as 0..4; 6 ("cannot be judged") ranks after them, as unknown.
pub(crate) fn credibility_rank(grade: u8) -> u8 {
    grade.saturating_sub(1)
}

fn confidence_str(c: dossier_model::Confidence) -> &'static str {
    match c {
        dossier_model::Confidence::Low => "low",
        dossier_model::Confidence::Moderate => "moderate",
        dossier_model::Confidence::High => "high",
    }
}

/// `asserts 7000 (at_least)`, `denies`, `forecasts true`.
fn describe_stance(c: &Claim) -> String {
    let value = match &c.value {
        None => String::new(),
        Some(ClaimValue::Boolean(b)) => format!(" {b}"),
        Some(ClaimValue::Category(s)) => format!(" {s}"),
        Some(ClaimValue::Quantity {
            value, qualifier, ..
        }) => {
            let q = serde_json::to_value(qualifier)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            format!(" {value} ({q})")
        }
        Some(ClaimValue::Range { low, high, .. }) => format!(" {low}..{high}"),
    };
    format!("{}{value}", c.stance.as_str())
}
