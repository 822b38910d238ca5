//! The incremental current view: what [`Engine::apply`](crate::Engine::apply) needs to judge a
//! question *now* (valid time unrestricted) in time proportional to its number of claims,
//! without building provenance.
//!
//! Entities are interned to dense indices as they are recorded; every claim keeps its own
//! derived facts (retraction count, superseding, corroborating and disputing claims, the claims
//! joined to it by `same_primary_source`, its forecast resolution) and every source its
//! reliability rank, updated by the events that change them. [`Current::judge`] then applies
//! rules 1–10 of `docs/BELIEFS.md` with integer lookups only. Policy 3's rules cost one walk
//! of the question's claims as before: divergence (rule 7a) is a second pass that stops at the
//! first gap, the ranking of a question about an event counts the sources of each answer in
//! one more pass, and sources are joined only through the relations of the claims a relation
//! points at and, on a question with designated interested parties (rule 5a), through their
//! claims saying the same.
//!
//! # Invariant
//!
//! `judge(q)` equals the summary of the reference computation `Engine::compute(q, None)`, which
//! also builds the provenance. [`Engine::stale_views`](crate::Engine::stale_views) and the
//! property tests compare the two on every question; any rule changed in one place must change
//! in the other.

use hashbrown::{HashTable, hash_table};
use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};

use serde::{Deserialize, Deserializer, Serialize};

use dossier_model::{
    Claim, ClaimValue, EntityId, EntityKind, ForecastResolution, Independence, QuestionKind,
    Relation, RelationKind, Stance, Subject,
};

use crate::engine::{
    Facts8, admiralty_rank, as_of_point, credibility_rank, interval, rule8_flags, values_agree,
};
use crate::view::{BeliefValue, Status};

/// An interned claim: index into [`Current::claims`].
type Cx = u32;
/// An interned source.
type Sx = u32;

/// What the current view keeps of a claim.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Node {
    id: EntityId,
    /// `None` until the claim itself is recorded (relations may name it first).
    claim: Option<Facts>,
    /// Relations of kind `retracts` pointing at it.
    retractions: u32,
    /// Its other incoming relations; few claims have any, so they are boxed apart.
    links: Option<Box<Links>>,
    /// Its forecast resolution: outcome and the seq that recorded it.
    resolution: Option<(bool, u64)>,
    /// Its index in its question's [`Slot`]s, once recorded.
    slot: u32,
    /// Some relation names it, at either end (so an event on it may reach other questions).
    related: bool,
}

/// The relations into a claim other than retractions.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Links {
    /// Claims that say they supersede it (`supersedes` relations into it).
    superseded_by: Vec<Cx>,
    /// Claims corroborating it, with the independence the relation states.
    corroborated_by: Vec<(Cx, Option<Independence>)>,
    /// Claims disputing it.
    disputed_by: Vec<Cx>,
    /// Claims joined to it by a `same_primary_source` corroboration, in either direction
    /// (rule 3 follows them to relays of a superseded statement).
    same_source: Vec<Cx>,
}

static NO_LINKS: Links = Links {
    superseded_by: Vec::new(),
    corroborated_by: Vec::new(),
    disputed_by: Vec::new(),
    same_source: Vec::new(),
};

impl Node {
    fn links(&self) -> &Links {
        self.links.as_deref().unwrap_or(&NO_LINKS)
    }

    fn links_mut(&mut self) -> &mut Links {
        self.links.get_or_insert_with(Box::default)
    }
}

/// A valid-time point as (seconds, nanoseconds) since the epoch: ordered as the instants are,
/// smaller than a `Timestamp` and faster to compare.
type Point = (i64, u32);

fn point(t: dossier_model::Timestamp) -> Point {
    let nanos = t.unix_nanos();
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(i64::MAX);
    let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0);
    (secs, sub)
}

/// A recorded claim as its question's judgment reads it, kept with the question's other
/// claims so that judging a question walks one contiguous list. Immutable facts are copied
/// from [`Facts`]; `marks` say which of the claim's relations exist (relations are never
/// removed, so marks are only ever set), and only a marked claim's [`Node`] is read.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Slot {
    cx: Cx,
    speaker: Sx,
    via: Option<Sx>,
    credibility: u8,
    stance: Stance,
    seq: u64,
    /// Rule 6's valid-time point.
    point: Option<Point>,
    /// Its value: an index into its question's [`Current::values`].
    value: Option<u32>,
    /// What it says in a yes/no question (rule 1).
    yes_no: Says,
    /// What it says in a question of figures or categories (rule 1).
    other: Says,
    marks: u8,
}

/// A `retracts` relation points at the claim.
const RETRACTED: u8 = 1;
/// A `supersedes` relation points at the claim.
const SUPERSEDES_IT: u8 = 2;
/// The claim has a forecast resolution.
const RESOLVED: u8 = 4;
/// A `corroborates` or `disputes` relation points at the claim.
const LINKED: u8 = 8;
/// A `same_primary_source` corroboration joins the claim to another, either way.
const JOINED: u8 = 16;

/// What the state of another claim needs of a recorded claim (the rest is in its [`Slot`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Facts {
    question: u32,
    speaker: Sx,
    stance: Stance,
}

/// The interned state of the current view.
///
/// Serialized without its claim index, which [`Current::deserialize_indexed`] rebuilds from
/// the claims, and without the judgment's buffers.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Current {
    /// Claim indices by id (hashed by id; each id is stored once, in its [`Node`]).
    #[serde(skip)]
    claim_ix: HashTable<Cx>,
    claims: Vec<Node>,
    source_ix: HashMap<EntityId, Sx>,
    /// Reliability rank per source (rule 6): A..E are 0..4, unknown 5.
    source_rank: Vec<u8>,
    /// Claims per source, spoken or relayed, in the order recorded (a claim relayed by its own
    /// speaker is listed twice, which is harmless).
    by_source: Vec<Vec<Cx>>,
    report_ix: HashMap<EntityId, u32>,
    /// Claims per report, in the order recorded.
    by_report: Vec<Vec<Cx>>,
    question_ix: HashMap<EntityId, u32>,
    /// Question ids by index.
    question_ids: Vec<EntityId>,
    /// Per question, whether it is posed as a yes/no question (boolean or forecast); `false`
    /// until posed, as the reference computation reads a claim of an unposed question.
    yes_no: Vec<bool>,
    /// Claims per question, in the order recorded.
    by_question: Vec<Vec<Slot>>,
    /// Per question, the distinct values its claims give, each with its class: the index of
    /// the first value that agrees with it (`engine::values_agree`, an equivalence). A claim's
    /// [`Says::Value`] is a class, so that agreeing is comparing integers.
    #[serde(with = "crate::as_json")]
    values: Vec<Vec<(ClaimValue, u32)>>,
    /// Per question, the sources designated interested parties to it (rule 5a), sorted.
    interested: Vec<Vec<Sx>>,
    /// Buffers [`Current::judge`] reuses.
    #[serde(skip)]
    scratch: RefCell<Scratch>,
}

/// The working lists of one judgment, kept between judgments to save allocations.
#[derive(Clone, Debug, Default)]
struct Scratch {
    valued: Vec<Valued>,
    active: Vec<u32>,
    supporting: Vec<Member>,
    contradicting: Vec<Member>,
    queue: Vec<Cx>,
    speakers: Vec<Sx>,
    parent: Vec<usize>,
    /// The valued claims a `corroborates` or `disputes` relation points at (indices into
    /// `valued`): the only ones whose sources a relation may join (rules 6 and 8).
    linked: Vec<u32>,
    /// The sources saying "false" on a yes/no question about an event (`seen` has those
    /// saying "true"; rule 6).
    seen_no: Seen,
    /// Speakers of valued claims joined by a `same_primary_source` corroboration.
    joins: Vec<(Sx, Sx)>,
    /// Per valued claim, its source (rule 5) as a speaker index.
    keys: Vec<Sx>,
    /// (value, source) pairs of a question about an event (rule 6).
    pairs: Vec<(u64, Sx)>,
    /// Per class of value, in order of first appearance: its first valued claim (whose value
    /// is shown) and its best (indices into `valued`).
    firsts: Vec<(u32, usize, usize)>,
    seen: Seen,
}

/// Counts distinct sources in a list without sorting it: a stamp per source, the judgment's
/// number when last seen.
#[derive(Clone, Debug, Default)]
struct Seen {
    stamps: Vec<u32>,
    round: u32,
}

impl Seen {
    /// Starts a new round over items `0..len`, all unmarked.
    fn start(&mut self, len: usize) {
        if self.stamps.len() < len {
            self.stamps.resize(len, 0);
        }
        self.round = self.round.wrapping_add(1);
        if self.round == 0 {
            // Wrapped around: old stamps could collide with new rounds.
            self.stamps.fill(0);
            self.round = 1;
        }
    }

    /// Marks an item; whether it was unmarked this round (`None` if out of range).
    fn mark(&mut self, item: usize) -> Option<bool> {
        let stamp = self.stamps.get_mut(item)?;
        let new = *stamp != self.round;
        *stamp = self.round;
        Some(new)
    }

    /// The number of distinct sources in `speakers`, all below `sources`; `None` if one is not.
    fn count_distinct(
        &mut self,
        speakers: impl Iterator<Item = Sx>,
        sources: usize,
    ) -> Option<usize> {
        self.start(sources);
        let mut n = 0;
        for sx in speakers {
            if self.mark(sx as usize)? {
                n += 1;
            }
        }
        Some(n)
    }
}

/// What [`Current::judge`] finds: the judgment-bearing parts of the belief and the number of
/// independent sources supporting it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Judgment {
    pub(crate) value: Option<BeliefValue>,
    pub(crate) status: Status,
    pub(crate) best_claim: Option<EntityId>,
    pub(crate) sources: usize,
}

/// Rule 6's ranking key without the claim id: valid-time recency, speaker reliability,
/// credibility, relay, recorded later first.
/// On a question about an event the first key is [`event_key`] of the speaker's reliability,
/// the credibility and the independent sources for the claim's value (0, equal for all, on a
/// state).
type Rank = (u32, Reverse<Option<Point>>, u8, u8, u8, Reverse<u64>);

/// Rule 6's first key on a question about an event, packed so that smaller is better:
/// reliability rank, then credibility rank, then more independent sources.
fn event_key(reliability: u8, credibility: u8, sources: usize) -> u32 {
    let fewer = 0xFFFF - u32::try_from(sources.min(0xFFFF)).unwrap_or(0xFFFF);
    (u32::from(reliability) << 24) | (u32::from(credibility) << 16) | fewer
}

/// What a claim says (rule 1): the truth value of a yes/no question's proposition, a value
/// (its class, see [`Current::values`]), a denial of a figure or category, or nothing usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Says {
    Truth(bool),
    Value(u32),
    Denial,
    Nothing,
}

impl Says {
    /// Whether two values say the same (`engine::values_agree`, which is an equivalence).
    fn agrees(self, other: Says) -> bool {
        self.is_value() && self == other
    }

    fn is_value(self) -> bool {
        matches!(self, Says::Truth(_) | Says::Value(_))
    }
}

/// An active claim that gives a value: its slot's index, what it says and its rank.
#[derive(Clone, Debug)]
struct Valued {
    slot: u32,
    says: Says,
    rank: Rank,
}

/// A supporting or contradicting claim (see [`Current::member`]).
#[derive(Clone, Debug)]
struct Member {
    cx: Cx,
    speaker: Sx,
    /// Its node must be read for its corroborations and disputes.
    linked: bool,
    /// A forecast (rule 10: once a resolution applies, it does not make the belief disputed).
    forecast: bool,
}

/// The state of a claim in the current view (rules 3 and 4).
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    Superseded,
    Retracted,
}

impl Current {
    /// Reads a serialized current view back and rebuilds its claim index (the only way one is
    /// read, see [`Engine`](crate::Engine)'s `fast`).
    pub(crate) fn deserialize_indexed<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Current, D::Error> {
        let mut current = Current::deserialize(d)?;
        let nodes = &current.claims;
        let mut index = HashTable::with_capacity(nodes.len());
        for (cx, node) in nodes.iter().enumerate() {
            let cx = Cx::try_from(cx).map_err(serde::de::Error::custom)?;
            index.insert_unique(hash_id(&node.id), cx, |&c| hash_id(&nodes[c as usize].id));
        }
        current.claim_ix = index;
        Ok(current)
    }

    /// The index of a claim id, if interned.
    fn find_claim(&self, id: &EntityId) -> Option<Cx> {
        self.claim_ix
            .find(hash_id(id), |&cx| self.claims[cx as usize].id == *id)
            .copied()
    }

    fn claim(&mut self, id: &EntityId) -> Cx {
        let hash = hash_id(id);
        let claims = &self.claims;
        match self.claim_ix.entry(
            hash,
            |&cx| claims[cx as usize].id == *id,
            |&cx| hash_id(&claims[cx as usize].id),
        ) {
            hash_table::Entry::Occupied(e) => *e.get(),
            hash_table::Entry::Vacant(e) => {
                let ix = Cx::try_from(claims.len()).unwrap_or(Cx::MAX);
                e.insert(ix);
                self.claims.push(Node {
                    id: id.clone(),
                    claim: None,
                    retractions: 0,
                    links: None,
                    resolution: None,
                    slot: 0,
                    related: false,
                });
                ix
            }
        }
    }

    /// See [`Engine::reserve`](crate::Engine::reserve).
    pub(crate) fn reserve(&mut self, claims: usize) {
        self.claims.reserve(claims);
        let nodes = &self.claims;
        self.claim_ix
            .reserve(claims, |&cx| hash_id(&nodes[cx as usize].id));
    }

    fn source(&mut self, id: &EntityId) -> Sx {
        if let Some(&ix) = self.source_ix.get(id) {
            return ix;
        }
        let ix = Sx::try_from(self.source_rank.len()).unwrap_or(Sx::MAX);
        self.source_rank.push(5);
        self.by_source.push(Vec::new());
        self.source_ix.insert(id.clone(), ix);
        ix
    }

    fn report(&mut self, id: &EntityId) -> u32 {
        if let Some(&ix) = self.report_ix.get(id) {
            return ix;
        }
        let ix = u32::try_from(self.by_report.len()).unwrap_or(u32::MAX);
        self.by_report.push(Vec::new());
        self.report_ix.insert(id.clone(), ix);
        ix
    }

    /// The claims listed for an interned id (by source or by report), in the order recorded.
    fn listed<'a>(
        &'a self,
        index: &HashMap<EntityId, u32>,
        lists: &'a [Vec<Cx>],
        id: &EntityId,
    ) -> impl Iterator<Item = &'a EntityId> + 'a {
        index
            .get(id)
            .and_then(|&ix| lists.get(ix as usize))
            .into_iter()
            .flatten()
            .map(|&cx| &self.claims[cx as usize].id)
    }

    /// The claims a source spoke or relayed, in the order recorded.
    pub(crate) fn claims_of_source<'a>(
        &'a self,
        id: &EntityId,
    ) -> impl Iterator<Item = &'a EntityId> + 'a {
        self.listed(&self.source_ix, &self.by_source, id)
    }

    /// The claims of a report, in the order recorded.
    pub(crate) fn claims_of_report<'a>(
        &'a self,
        id: &EntityId,
    ) -> impl Iterator<Item = &'a EntityId> + 'a {
        self.listed(&self.report_ix, &self.by_report, id)
    }

    fn question(&mut self, id: &EntityId) -> u32 {
        if let Some(&ix) = self.question_ix.get(id) {
            return ix;
        }
        let ix = u32::try_from(self.by_question.len()).unwrap_or(u32::MAX);
        self.by_question.push(Vec::new());
        self.values.push(Vec::new());
        self.question_ids.push(id.clone());
        self.yes_no.push(false);
        self.interested.push(Vec::new());
        self.question_ix.insert(id.clone(), ix);
        ix
    }

    /// The claims recorded on a question, in the order recorded.
    pub(crate) fn claims_of_question<'a>(
        &'a self,
        id: &EntityId,
    ) -> impl Iterator<Item = &'a EntityId> + 'a {
        self.question_ix
            .get(id)
            .and_then(|&q| self.by_question.get(q as usize))
            .into_iter()
            .flatten()
            .map(|s| &self.claims[s.cx as usize].id)
    }

    /// A question is posed, with its kind.
    pub(crate) fn pose(&mut self, id: &EntityId, kind: &QuestionKind) {
        let q = self.question(id) as usize;
        self.yes_no[q] = matches!(kind, QuestionKind::Boolean | QuestionKind::Forecast { .. });
    }

    /// The question of a recorded claim.
    pub(crate) fn question_of(&self, id: &EntityId) -> Option<&EntityId> {
        let cx = self.find_claim(id)?;
        let q = self.claims[cx as usize].claim.as_ref()?.question;
        self.question_ids.get(q as usize)
    }

    /// Records a claim at `seq`: `None` if it was recorded before (the engine drops repeats),
    /// otherwise whether a relation already names it.
    pub(crate) fn add_claim(&mut self, c: &Claim, seq: u64) -> Option<bool> {
        let cx = self.claim(&c.id);
        if self.claims[cx as usize].claim.is_some() {
            return None;
        }
        let question = self.question(&c.question);
        let speaker = self.source(&c.speaker);
        self.by_source[speaker as usize].push(cx);
        let via = c.via.as_ref().map(|v| self.source(v));
        if let Some(v) = via {
            self.by_source[v as usize].push(cx);
        }
        if let Some(report) = &c.report {
            let rx = self.report(report) as usize;
            self.by_report[rx].push(cx);
        }
        let point = as_of_point(c).map(point);
        let credibility = credibility_rank(c.credibility.get());
        let node = &mut self.claims[cx as usize];
        node.claim = Some(Facts {
            question,
            speaker,
            stance: c.stance,
        });
        // Relations may have named the claim before it was recorded.
        let mut marks = 0;
        if node.retractions > 0 {
            marks |= RETRACTED;
        }
        let links = node.links();
        if !links.superseded_by.is_empty() {
            marks |= SUPERSEDES_IT;
        }
        if node.resolution.is_some() {
            marks |= RESOLVED;
        }
        if !links.corroborated_by.is_empty() || !links.disputed_by.is_empty() {
            marks |= LINKED;
        }
        if !links.same_source.is_empty() {
            marks |= JOINED;
        }
        let related = node.related;
        let value = c.value.as_ref().map(|v| {
            let values = &mut self.values[question as usize];
            let index = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
            match values.iter().position(|(d, _)| identical(d, v)) {
                Some(i) => index(i),
                None => {
                    let class = values
                        .iter()
                        .find(|(d, _)| values_agree(d, v))
                        .map_or(index(values.len()), |&(_, class)| class);
                    values.push((v.clone(), class));
                    index(values.len() - 1)
                }
            }
        });
        let class = value.map(|i| self.values[question as usize][i as usize].1);
        let (yes_no, other) = says(c.value.as_ref(), class, c.stance);
        let slots = &mut self.by_question[question as usize];
        self.claims[cx as usize].slot = u32::try_from(slots.len()).unwrap_or(u32::MAX);
        slots.push(Slot {
            cx,
            speaker,
            via,
            credibility,
            stance: c.stance,
            seq,
            point,
            value,
            yes_no,
            other,
            marks,
        });
        Some(related)
    }

    /// Sets a mark on a recorded claim's slot (nothing for a claim not recorded yet: it takes
    /// its marks from its node when it is).
    fn mark(&mut self, cx: usize, mark: u8) {
        let node = &self.claims[cx];
        if let Some(f) = &node.claim
            && let Some(slot) = self.by_question[f.question as usize].get_mut(node.slot as usize)
        {
            slot.marks |= mark;
        }
    }

    /// A relation (first recording of its key only).
    pub(crate) fn add_relation(&mut self, r: &Relation) {
        let to = self.claim(&r.to) as usize;
        self.claims[to].related = true;
        if r.from.kind() == EntityKind::Claim {
            let from = self.claim(&r.from) as usize;
            self.claims[from].related = true;
        }
        if r.kind == RelationKind::Retracts {
            self.claims[to].retractions += 1;
            self.mark(to, RETRACTED);
            return;
        }
        // Supersession, disputes and corroboration are between claims; an end that is not a
        // claim id never names a recorded claim, so interning it changes nothing.
        let from = self.claim(&r.from);
        let links = self.claims[to].links_mut();
        let mark = match r.kind {
            RelationKind::Supersedes => {
                links.superseded_by.push(from);
                SUPERSEDES_IT
            }
            RelationKind::Disputes => {
                links.disputed_by.push(from);
                LINKED
            }
            RelationKind::Corroborates => {
                links.corroborated_by.push((from, r.independence));
                LINKED
            }
            RelationKind::Retracts => 0,
        };
        self.mark(to, mark);
        if r.kind == RelationKind::Corroborates
            && r.independence == Some(Independence::SamePrimarySource)
        {
            self.claims[to].links_mut().same_source.push(from);
            self.claims[from as usize]
                .links_mut()
                .same_source
                .push(to as Cx);
            self.mark(to, JOINED);
            self.mark(from as usize, JOINED);
        }
    }

    /// A source is designated an interested party to a question (rule 5a).
    pub(crate) fn designate(&mut self, source: &EntityId, question: &EntityId) {
        let sx = self.source(source);
        let q = self.question(question) as usize;
        let list = &mut self.interested[q];
        if let Err(at) = list.binary_search(&sx) {
            list.insert(at, sx);
        }
    }

    /// Rule 5a: what claim `cx` says (its side), if it is a claim of question `q` whose
    /// speaker is among `interested` and it gives a value or denies.
    fn interested_side(
        &self,
        q: u32,
        slots: &[Slot],
        yes_no: bool,
        interested: &[Sx],
        cx: Cx,
    ) -> Option<(Says, Sx)> {
        let node = &self.claims[cx as usize];
        let f = node.claim.as_ref()?;
        if f.question != q || interested.binary_search(&f.speaker).is_err() {
            return None;
        }
        let s = slots.get(node.slot as usize).filter(|s| s.cx == cx)?;
        let says = if yes_no { s.yes_no } else { s.other };
        (says != Says::Nothing).then_some((says, f.speaker))
    }

    /// A source's latest reliability assessment (rule 6).
    pub(crate) fn set_reliability(&mut self, source: &EntityId, rating: dossier_model::Admiralty) {
        let sx = self.source(source) as usize;
        self.source_rank[sx] = admiralty_rank(rating);
    }

    /// A forecast resolution recorded at `seq` (first one per forecast only).
    pub(crate) fn resolve(&mut self, r: &ForecastResolution, seq: u64) {
        let cx = self.claim(&r.forecast) as usize;
        self.claims[cx].resolution = Some((r.outcome, seq));
        self.mark(cx, RESOLVED);
    }

    fn facts(&self, cx: Cx) -> Option<&Facts> {
        self.claims[cx as usize].claim.as_ref()
    }

    /// Rule 3: whether a claim is superseded directly, by a claim other than `except`.
    fn superseded_directly(&self, cx: Cx, except: Cx) -> bool {
        let node = &self.claims[cx as usize];
        let Some(me) = &node.claim else {
            return false;
        };
        node.links().superseded_by.iter().any(|&s| {
            let by = &self.claims[s as usize];
            s != except
                && by.retractions == 0
                && by
                    .claim
                    .as_ref()
                    .is_some_and(|f| f.speaker == me.speaker && f.question == me.question)
        })
    }

    /// Rule 3: whether a claim relays a superseded statement: a claim joined to it by
    /// `same_primary_source` (transitively), on its question and saying the same, is
    /// superseded by a claim other than this one.
    fn relays_superseded(&self, cx: Cx, me: &Facts) -> bool {
        let yes_no = self
            .yes_no
            .get(me.question as usize)
            .copied()
            .unwrap_or(false);
        let slots = &self.by_question[me.question as usize];
        let said = |x: Cx| {
            slots
                .get(self.claims[x as usize].slot as usize)
                .map_or(Says::Nothing, |s| if yes_no { s.yes_no } else { s.other })
        };
        let mine = said(cx);
        if !(mine.is_value() || mine == Says::Denial) {
            return false;
        }
        let mut seen: Vec<Cx> = vec![cx];
        let mut queue: Vec<Cx> = vec![cx];
        while let Some(x) = queue.pop() {
            for &y in &self.claims[x as usize].links().same_source {
                if seen.contains(&y) {
                    continue;
                }
                seen.push(y);
                queue.push(y);
                if let Some(f) = &self.claims[y as usize].claim
                    && f.question == me.question
                    && said(y) == mine
                    && self.superseded_directly(y, cx)
                {
                    return true;
                }
            }
        }
        false
    }

    /// Rules 3 and 4 in the current view.
    fn state(&self, cx: Cx) -> State {
        let node = &self.claims[cx as usize];
        if node.retractions > 0 {
            return State::Retracted;
        }
        let Some(me) = &node.claim else {
            return State::Active;
        };
        if self.superseded_directly(cx, Cx::MAX)
            || (!node.links().same_source.is_empty() && self.relays_superseded(cx, me))
        {
            State::Superseded
        } else {
            State::Active
        }
    }

    fn is_active(&self, cx: Cx) -> bool {
        self.facts(cx).is_some() && self.state(cx) == State::Active
    }

    /// Rule 6 ranking of a slot: smaller is better (ties broken by claim id).
    fn rank(&self, s: &Slot) -> Rank {
        (
            0,
            Reverse(s.point),
            self.source_rank[s.speaker as usize],
            s.credibility,
            s.via.map_or(0, |v| 1 + self.source_rank[v as usize]),
            Reverse(s.seq),
        )
    }

    /// Rules 3 and 4 for a slot: its node is read only if a relation may change its state.
    fn slot_state(&self, s: &Slot) -> State {
        if s.marks & (RETRACTED | SUPERSEDES_IT | JOINED) == 0 {
            State::Active
        } else {
            self.state(s.cx)
        }
    }

    /// Rule 6: compares two ranked claims (smaller is better; ties broken by claim id).
    fn cmp_ranked(&self, slots: &[Slot], x: &Valued, y: &Valued) -> Ordering {
        x.rank.cmp(&y.rank).then_with(|| {
            let id = |v: &Valued| &self.claims[slots[v.slot as usize].cx as usize].id;
            id(x).cmp(id(y))
        })
    }

    /// A claim that supports or contradicts, with what its independence and links need: its
    /// speaker and whether its node must be read (a claim of another question always is).
    fn member(&self, cx: Cx, slot: Option<&Slot>) -> Member {
        match slot {
            Some(s) => Member {
                cx,
                speaker: s.speaker,
                linked: s.marks & LINKED != 0,
                forecast: s.stance == Stance::Forecasts,
            },
            None => {
                let n = &self.claims[cx as usize];
                Member {
                    cx,
                    speaker: n.claim.as_ref().map_or(Sx::MAX, |f| f.speaker),
                    linked: true,
                    forecast: n
                        .claim
                        .as_ref()
                        .is_some_and(|f| f.stance == Stance::Forecasts),
                }
            }
        }
    }

    /// Judges a question now: rules 1–10 without provenance. `kind` is the question's kind and
    /// `assessment` the value of its latest assessment (rule 9), if any.
    ///
    /// The question's claims are one contiguous list of [`Slot`]s, walked once; a claim's node
    /// is read only when a relation or resolution marks it. Values are compared by class (see
    /// [`Current::classes`]) and claims are not sorted unless the order shows (the alternatives
    /// of a categorical question): the best claim is a minimum, a range is order-free.
    pub(crate) fn judge(
        &self,
        question: &EntityId,
        kind: &QuestionKind,
        subject: Subject,
        assessment: Option<Option<&ClaimValue>>,
    ) -> Judgment {
        let yes_no = matches!(kind, QuestionKind::Boolean | QuestionKind::Forecast { .. });
        let qx = self.question_ix.get(question).copied();
        let interested: &[Sx] = qx.map_or(&[], |q| self.interested[q as usize].as_slice());
        let (slots, values): (&[Slot], &[(ClaimValue, u32)]) = qx.map_or((&[], &[]), |q| {
            (
                self.by_question[q as usize].as_slice(),
                self.values[q as usize].as_slice(),
            )
        });
        let mut guard = self.scratch.borrow_mut();
        let Scratch {
            valued,
            active,
            supporting,
            contradicting,
            queue,
            speakers,
            parent,
            linked,
            seen_no,
            joins,
            keys,
            pairs,
            firsts,
            seen,
        } = &mut *guard;
        valued.clear();
        linked.clear();
        active.clear();
        supporting.clear();
        contradicting.clear();

        // One walk: states (rules 3, 4), the latest resolution of a non-retracted forecast
        // (rule 10), the claims giving a value with their rank (rules 1, 6) and the best of them.
        let (mut any_superseded, mut any_retracted, mut active_forecast) = (false, false, false);
        let mut outcome: Option<(bool, u64)> = None;
        let mut best: Option<usize> = None;
        // On a question about an event the ranking needs every valued claim first (key c).
        let event_question = subject == Subject::Event;
        for (i, s) in slots.iter().enumerate() {
            if s.marks & RESOLVED != 0
                && s.marks & RETRACTED == 0
                && s.stance == Stance::Forecasts
                && let Some(r) = self.claims[s.cx as usize].resolution
                && outcome.is_none_or(|(_, seq)| r.1 >= seq)
            {
                outcome = Some(r);
            }
            match self.slot_state(s) {
                State::Active => {}
                State::Superseded => {
                    any_superseded = true;
                    continue;
                }
                State::Retracted => {
                    any_retracted = true;
                    continue;
                }
            }
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            active.push(i);
            active_forecast |= s.stance == Stance::Forecasts;
            let says = if yes_no { s.yes_no } else { s.other };
            if says.is_value() {
                if s.marks & LINKED != 0 {
                    linked.push(u32::try_from(valued.len()).unwrap_or(u32::MAX));
                }
                valued.push(Valued {
                    slot: i,
                    says,
                    rank: self.rank(s),
                });
                let v = valued.len() - 1;
                if !event_question
                    && best.is_none_or(|b| self.cmp_ranked(slots, &valued[v], &valued[b]).is_lt())
                {
                    best = Some(v);
                }
            }
        }
        let outcome = outcome.map(|(o, _)| o);

        // Rules 5, 6 and 8: the sources of the valued claims, for divergence and the ranking
        // of a question about an event: by speaker, and joined by `same_primary_source`
        // corroborations only where a valued claim has one.
        let speaker_of = |v: &Valued| slots[v.slot as usize].speaker;
        let mut divergent = outcome.is_none()
            && !yes_no
            && valued.len() >= 2
            && self.diverges(
                kind,
                slots,
                values,
                valued.iter().map(|v| (v, speaker_of(v))),
            );
        let joined = (!linked.is_empty() || !interested.is_empty())
            && (divergent || event_question)
            && qx.is_some_and(|q| {
                self.source_keys(
                    q, yes_no, interested, slots, valued, linked, joins, speakers, parent, keys,
                )
            });
        if joined && divergent {
            // Joining sources can only remove divergence.
            divergent = self.diverges(kind, slots, values, valued.iter().zip(keys.iter().copied()));
        }
        if event_question && !valued.is_empty() {
            best = if yes_no && !joined {
                self.rank_yes_no_event(slots, valued, [seen, seen_no])
            } else {
                if !joined {
                    keys.clear();
                    keys.extend(valued.iter().map(speaker_of));
                }
                self.rank_event(slots, valued, keys, pairs);
                (0..valued.len()).min_by(|&a, &b| self.cmp_ranked(slots, &valued[a], &valued[b]))
            };
        }

        // Rules 1, 6 and 10: the value and the best claim.
        let target: Option<Says> = match outcome {
            Some(o) => Some(Says::Truth(o)),
            None => best.map(|b| valued[b].says),
        };
        let best_agreeing = target.and_then(|t| match outcome {
            // Without a resolution the best claim is the best of all, which agrees.
            None => best,
            Some(_) => (0..valued.len())
                .filter(|&v| t.agrees(valued[v].says))
                .min_by(|&a, &b| self.cmp_ranked(slots, &valued[a], &valued[b])),
        });
        let value_of = |v: usize| {
            slots[valued[v].slot as usize]
                .value
                .map(|i| &values[i as usize].0)
        };
        let target_value: Option<ClaimValue> = match target {
            Some(Says::Truth(b)) => Some(ClaimValue::Boolean(b)),
            Some(Says::Value(_)) => best.and_then(value_of).cloned(),
            _ => None,
        };
        let evidence_value = match (target_value, target) {
            (Some(v), _) if outcome.is_some() || yes_no => Some(BeliefValue::Single { value: v }),
            (Some(v), Some(t)) => Some(self.spread(slots, valued, firsts, &v, t, kind, value_of)),
            _ => None,
        };

        // Rules 5 and 7: supporting and contradicting claims (by claim, sorted).
        if let Some(t) = target {
            for v in valued.iter().filter(|v| t.agrees(v.says)) {
                let s = &slots[v.slot as usize];
                supporting.push(self.member(s.cx, Some(s)));
            }
        }
        supporting.sort_unstable_by_key(|m| m.cx);
        // Claims corroborating a supporting claim support it too, whatever their question.
        queue.clear();
        queue.extend(supporting.iter().filter(|m| m.linked).map(|m| m.cx));
        while let Some(cx) = queue.pop() {
            for &(from, _) in &self.claims[cx as usize].links().corroborated_by {
                if self.is_active(from)
                    && let Err(at) = supporting.binary_search_by_key(&from, |m| m.cx)
                {
                    supporting.insert(at, self.member(from, None));
                    queue.push(from);
                }
            }
        }
        for &i in active.iter() {
            let s = &slots[i as usize];
            let opposes = if yes_no {
                s.yes_no.is_value() && target.is_some_and(|t| !t.agrees(s.yes_no))
            } else {
                s.other == Says::Denial
            };
            if opposes {
                contradicting.push(self.member(s.cx, Some(s)));
            }
        }
        for m in supporting.iter().filter(|m| m.linked) {
            for &from in &self.claims[m.cx as usize].links().disputed_by {
                if self.is_active(from) {
                    contradicting.push(self.member(from, None));
                }
            }
        }
        contradicting.sort_unstable_by_key(|m| m.cx);
        contradicting.dedup_by_key(|m| m.cx);
        if !contradicting.is_empty() {
            supporting.retain(|m| contradicting.binary_search_by_key(&m.cx, |c| c.cx).is_err());
        }
        // Rule 5a: supporting claims of interested parties to the question saying the same.
        joins.clear();
        if let Some(q) = qx
            && !interested.is_empty()
        {
            join_sides(
                supporting
                    .iter()
                    .filter_map(|m| self.interested_side(q, slots, yes_no, interested, m.cx)),
                joins,
            );
        }
        let sources = self.independent(supporting, joins, speakers, parent, seen);

        // Rule 8: flags.
        let flags = rule8_flags(&Facts8 {
            // Rule 10: once a resolution applies, a forecast that turned out wrong contradicts
            // without disputing.
            disputed: contradicting
                .iter()
                .any(|m| !(m.forecast && outcome.is_some())),
            divergent,
            supported: !supporting.is_empty(),
            independent_sources: sources,
            any_superseded,
            any_retracted,
            any_active: !active.is_empty(),
            forecast_question: matches!(kind, QuestionKind::Forecast { .. }),
            outcome,
            active_forecast,
        });
        let best_claim = best_agreeing.map(|v| {
            self.claims[slots[valued[v].slot as usize].cx as usize]
                .id
                .clone()
        });

        // Rule 9: the analyst's judgment.
        let value = match assessment.flatten() {
            Some(v) => Some(BeliefValue::Single { value: v.clone() }),
            None => evidence_value,
        };
        Judgment {
            value,
            status: Status::new(flags),
            best_claim,
            sources,
        }
    }

    /// Rule 6 for a question of figures or categories without a resolution: the best value
    /// `best` if every value agrees with it (`target`), else the range of the figures, else the
    /// distinct values, each shown as its first claim gives it and listed in the order of the
    /// best claim giving each (the same as `engine::spread` and its ordering).
    #[allow(clippy::too_many_arguments)]
    fn spread<'s>(
        &self,
        slots: &[Slot],
        valued: &[Valued],
        firsts: &mut Vec<(u32, usize, usize)>,
        best: &ClaimValue,
        target: Says,
        kind: &QuestionKind,
        value_of: impl Fn(usize) -> Option<&'s ClaimValue>,
    ) -> BeliefValue {
        if valued.iter().all(|v| v.says == target) {
            return BeliefValue::Single {
                value: best.clone(),
            };
        }
        if let QuestionKind::Quantity { unit } = kind {
            let (low, high) = (0..valued.len()).filter_map(&value_of).fold(
                (f64::INFINITY, f64::NEG_INFINITY),
                |(lo, hi), v| match v {
                    ClaimValue::Quantity { value, .. } => (lo.min(*value), hi.max(*value)),
                    ClaimValue::Range { low, high, .. } => (lo.min(*low), hi.max(*high)),
                    ClaimValue::Boolean(_) | ClaimValue::Category(_) => (lo, hi),
                },
            );
            if low <= high {
                return BeliefValue::Range {
                    low,
                    high,
                    unit: Some(unit.clone()),
                };
            }
        }
        firsts.clear();
        for (v, val) in valued.iter().enumerate() {
            let Says::Value(class) = val.says else {
                continue;
            };
            match firsts.iter_mut().find(|f| f.0 == class) {
                Some(f) => {
                    if self.cmp_ranked(slots, val, &valued[f.2]).is_lt() {
                        f.2 = v;
                    }
                }
                None => firsts.push((class, v, v)),
            }
        }
        firsts.sort_by(|a, b| self.cmp_ranked(slots, &valued[a.2], &valued[b.2]));
        BeliefValue::Alternatives {
            values: firsts
                .iter()
                .filter_map(|f| value_of(f.1).cloned())
                .collect(),
        }
    }

    /// Rules 5 and 5a: the source of each valued claim, as a speaker index standing for all
    /// speakers joined with it by `same_primary_source` corroborations among the valued claims
    /// or, for interested parties to the question (`interested`), by saying the same.
    ///
    /// Joins are few: only the valued claims a relation points at are looked at, and only the
    /// speakers joins name enter a union-find.
    /// Returns whether any speakers are joined; `keys` is filled only then.
    #[allow(clippy::too_many_arguments)]
    fn source_keys(
        &self,
        question: u32,
        yes_no: bool,
        interested: &[Sx],
        slots: &[Slot],
        valued: &[Valued],
        linked: &[u32],
        joins: &mut Vec<(Sx, Sx)>,
        speakers: &mut Vec<Sx>,
        parent: &mut Vec<usize>,
        keys: &mut Vec<Sx>,
    ) -> bool {
        // Whether a claim is valued here: recorded on this question, active, giving a value
        // (what the walk of `judge` kept).
        let is_valued = |cx: Cx| {
            let node = &self.claims[cx as usize];
            node.claim.as_ref().is_some_and(|f| f.question == question)
                && slots.get(node.slot as usize).is_some_and(|s| {
                    s.cx == cx
                        && (if yes_no { s.yes_no } else { s.other }).is_value()
                        && self.slot_state(s) == State::Active
                })
        };
        joins.clear();
        for &v in linked {
            let s = &slots[valued[v as usize].slot as usize];
            for &(from, independence) in &self.claims[s.cx as usize].links().corroborated_by {
                if independence == Some(Independence::SamePrimarySource)
                    && is_valued(from)
                    && let Some(f) = self.facts(from)
                    && f.speaker != s.speaker
                {
                    joins.push((s.speaker, f.speaker));
                }
            }
        }
        if !interested.is_empty() {
            join_sides(
                valued.iter().filter_map(|v| {
                    let s = &slots[v.slot as usize];
                    interested
                        .binary_search(&s.speaker)
                        .is_ok()
                        .then_some((v.says, s.speaker))
                }),
                joins,
            );
        }
        if joins.is_empty() {
            return false;
        }
        keys.clear();
        keys.extend(valued.iter().map(|v| slots[v.slot as usize].speaker));
        speakers.clear();
        speakers.extend(joins.iter().flat_map(|&(a, b)| [a, b]));
        speakers.sort_unstable();
        speakers.dedup();
        parent.clear();
        parent.extend(0..speakers.len());
        for &(a, b) in joins.iter() {
            if let (Ok(a), Ok(b)) = (speakers.binary_search(&a), speakers.binary_search(&b)) {
                let (ra, rb) = (find(parent, a), find(parent, b));
                parent[ra.max(rb)] = ra.min(rb);
            }
        }
        for k in keys.iter_mut() {
            if let Ok(i) = speakers.binary_search(k) {
                *k = speakers[find(parent, i)];
            }
        }
        true
    }

    /// Rule 8: whether valued claims, each with its source, diverge (see [`Figures`],
    /// [`Categories`]).
    fn diverges<'v>(
        &self,
        kind: &QuestionKind,
        slots: &[Slot],
        values: &[(ClaimValue, u32)],
        claims: impl Iterator<Item = (&'v Valued, Sx)>,
    ) -> bool {
        if matches!(kind, QuestionKind::Quantity { .. }) {
            let mut figures = Figures::default();
            for (v, k) in claims {
                if let Some((low, high)) = slots[v.slot as usize]
                    .value
                    .and_then(|x| interval(&values[x as usize].0))
                {
                    figures.add(low, high, k);
                    if figures.divergent {
                        return true;
                    }
                }
            }
            false
        } else {
            let mut categories = Categories::default();
            for (v, k) in claims {
                categories.add(v.says, k);
                if categories.divergent() {
                    return true;
                }
            }
            false
        }
    }

    /// Rule 6 on a question about an event: ranks the valued claims by speaker reliability,
    /// credibility and the independent sources (`keys`) giving their value, before recency.
    fn rank_event(
        &self,
        slots: &[Slot],
        valued: &mut [Valued],
        keys: &[Sx],
        pairs: &mut Vec<(u64, Sx)>,
    ) {
        let code = |says: Says| match says {
            Says::Truth(b) => u64::from(b),
            Says::Value(class) => 2 + u64::from(class),
            Says::Denial | Says::Nothing => u64::MAX,
        };
        pairs.clear();
        pairs.extend(valued.iter().zip(keys).map(|(v, &k)| (code(v.says), k)));
        pairs.sort_unstable();
        pairs.dedup();
        for v in valued.iter_mut() {
            let c = code(v.says);
            let start = pairs.partition_point(|p| p.0 < c);
            let end = pairs.partition_point(|p| p.0 <= c);
            let s = &slots[v.slot as usize];
            v.rank.0 = event_key(
                self.source_rank[s.speaker as usize],
                s.credibility,
                end - start,
            );
        }
    }

    /// Rule 6 on a yes/no question about an event whose speakers no relation joins, in one
    /// pass: key c is the same for every claim giving one answer, so each claim is ranked
    /// without it, the best claim of each answer kept, and the two compared with it. Returns
    /// the best claim (an index into `valued`).
    fn rank_yes_no_event(
        &self,
        slots: &[Slot],
        valued: &mut [Valued],
        [yes, no]: [&mut Seen; 2],
    ) -> Option<usize> {
        yes.start(self.source_rank.len());
        no.start(self.source_rank.len());
        let (mut best_of, mut sources_of) = ([None::<usize>; 2], [0_usize; 2]);
        for v in 0..valued.len() {
            let s = &slots[valued[v].slot as usize];
            let answer = usize::from(valued[v].says == Says::Truth(true));
            let seen = if answer == 1 { &mut *yes } else { &mut *no };
            sources_of[answer] += usize::from(seen.mark(s.speaker as usize) == Some(true));
            valued[v].rank.0 = event_key(self.source_rank[s.speaker as usize], s.credibility, 0);
            let best = &mut best_of[answer];
            if best.is_none_or(|b| self.cmp_ranked(slots, &valued[v], &valued[b]).is_lt()) {
                *best = Some(v);
            }
        }
        let [Some(no), Some(yes)] = best_of else {
            return best_of[0].or(best_of[1]);
        };
        let keyed = |v: usize, sources: usize| {
            let mut k = valued[v].clone();
            let s = &slots[k.slot as usize];
            k.rank.0 = event_key(self.source_rank[s.speaker as usize], s.credibility, sources);
            k
        };
        let (n, y) = (keyed(no, sources_of[0]), keyed(yes, sources_of[1]));
        Some(if self.cmp_ranked(slots, &n, &y).is_lt() {
            no
        } else {
            yes
        })
    }

    /// Rule 5: sorts and deduplicates the speakers of `claims` (sorted by claim) into
    /// `speakers`, and joins in `parent` (a union-find over `speakers`) those whose claims a
    /// `same_primary_source` corroboration joins.
    fn join_sources(&self, claims: &[Member], speakers: &mut Vec<Sx>, parent: &mut Vec<usize>) {
        speakers.clear();
        speakers.extend(claims.iter().map(|m| m.speaker));
        speakers.sort_unstable();
        speakers.dedup();
        parent.clear();
        parent.extend(0..speakers.len());
        let slot = |s: Sx| speakers.binary_search(&s).ok();
        for m in claims.iter().filter(|m| m.linked) {
            for &(from, independence) in &self.claims[m.cx as usize].links().corroborated_by {
                if independence != Some(Independence::SamePrimarySource) {
                    continue;
                }
                let Ok(j) = claims.binary_search_by_key(&from, |c| c.cx) else {
                    continue;
                };
                if let (Some(a), Some(b)) = (slot(m.speaker), slot(claims[j].speaker)) {
                    let (ra, rb) = (find(parent, a), find(parent, b));
                    match ra.cmp(&rb) {
                        Ordering::Less => parent[rb] = ra,
                        Ordering::Greater => parent[ra] = rb,
                        Ordering::Equal => {}
                    }
                }
            }
        }
    }

    /// Rules 5 and 5a: independent sources among claims (sorted by claim): one per speaker,
    /// claims joined by a `same_primary_source` corroboration count once, and so do the
    /// speakers `extra` joins (interested parties saying the same).
    fn independent(
        &self,
        claims: &[Member],
        extra: &[(Sx, Sx)],
        speakers: &mut Vec<Sx>,
        parent: &mut Vec<usize>,
        seen: &mut Seen,
    ) -> usize {
        if extra.is_empty() && !claims.iter().any(|m| m.linked) {
            // No corroboration to follow: count distinct speakers without sorting.
            if let Some(n) =
                seen.count_distinct(claims.iter().map(|m| m.speaker), self.source_rank.len())
            {
                return n;
            }
            speakers.clear();
            speakers.extend(claims.iter().map(|m| m.speaker));
            speakers.sort_unstable();
            speakers.dedup();
            return speakers.len();
        }
        self.join_sources(claims, speakers, parent);
        for &(a, b) in extra {
            if let (Ok(a), Ok(b)) = (speakers.binary_search(&a), speakers.binary_search(&b)) {
                let (ra, rb) = (find(parent, a), find(parent, b));
                parent[ra.max(rb)] = ra.min(rb);
            }
        }
        (0..speakers.len())
            .filter(|&i| find(parent, i) == i)
            .count()
    }
}

/// Rule 5a: joins each speaker to the first speaker saying the same (`(side, speaker)` pairs
/// of interested parties' claims), as pairs appended to `joins`.
fn join_sides(sides: impl Iterator<Item = (Says, Sx)>, joins: &mut Vec<(Sx, Sx)>) {
    let mut firsts: Vec<(Says, Sx)> = Vec::new();
    for (says, sx) in sides {
        match firsts.iter().find(|f| f.0 == says) {
            Some(&(_, first)) if first != sx => joins.push((first, sx)),
            Some(_) => {}
            None => firsts.push((says, sx)),
        }
    }
}

/// The root of `i` in a union-find, halving paths on the way.
fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// The most extreme value seen and its source, and the most extreme of another source.
#[derive(Clone, Copy, Debug, Default)]
struct Extreme {
    best: Option<(f64, Sx)>,
    other: Option<f64>,
}

impl Extreme {
    fn offer(&mut self, x: f64, k: Sx, beyond: impl Fn(f64, f64) -> bool) {
        match self.best {
            None => self.best = Some((x, k)),
            Some((b, bk)) if beyond(x, b) => {
                if bk != k {
                    self.other = Some(b);
                }
                self.best = Some((x, k));
            }
            Some((_, bk)) => {
                if bk != k && self.other.is_none_or(|o| beyond(x, o)) {
                    self.other = Some(x);
                }
            }
        }
    }

    /// Whether `test` holds for the most extreme value of a source other than `k`.
    fn of_another(&self, k: Sx, test: impl Fn(f64) -> bool) -> bool {
        match self.best {
            Some((b, bk)) if bk != k => test(b),
            Some(_) => self.other.is_some_and(test),
            None => false,
        }
    }
}

/// Rule 8 on a quantity question: whether two intervals from different sources do not overlap.
/// Each interval is checked against those before it through the highest low and the lowest
/// high seen so far, and the most extreme of another source than theirs (the only ones that
/// can be furthest from it), so one pass suffices and it can stop at the first gap.
#[derive(Clone, Copy, Debug, Default)]
struct Figures {
    lows: Extreme,
    highs: Extreme,
    divergent: bool,
}

impl Figures {
    /// Adds the interval `low..=high` of source `k`.
    fn add(&mut self, low: f64, high: f64, k: Sx) {
        if self.divergent {
            return;
        }
        if self.highs.of_another(k, |h| low > h) || self.lows.of_another(k, |l| high < l) {
            self.divergent = true;
            return;
        }
        self.lows.offer(low, k, |a, b| a > b);
        self.highs.offer(high, k, |a, b| a < b);
    }
}

/// Rule 8 on a categorical question: whether two categories from different sources differ.
/// With two sources and two categories some pair differs in both, so a first claim is enough
/// to compare every other with.
#[derive(Clone, Copy, Debug, Default)]
struct Categories {
    first: Option<(Says, Sx)>,
    other_value: bool,
    other_source: bool,
}

impl Categories {
    fn add(&mut self, says: Says, k: Sx) {
        match self.first {
            None => self.first = Some((says, k)),
            Some((v, s)) => {
                self.other_value |= says != v;
                self.other_source |= k != s;
            }
        }
    }

    fn divergent(&self) -> bool {
        self.other_value && self.other_source
    }
}

/// Whether two values are the same value (not only agreeing): equal variants and fields,
/// figures compared bit for bit.
fn identical(a: &ClaimValue, b: &ClaimValue) -> bool {
    match (a, b) {
        (
            ClaimValue::Quantity {
                value: x,
                qualifier: qx,
                unit: ux,
            },
            ClaimValue::Quantity {
                value: y,
                qualifier: qy,
                unit: uy,
            },
        ) => x.to_bits() == y.to_bits() && qx == qy && ux == uy,
        (
            ClaimValue::Range {
                low: lx,
                high: hx,
                unit: ux,
            },
            ClaimValue::Range {
                low: ly,
                high: hy,
                unit: uy,
            },
        ) => lx.to_bits() == ly.to_bits() && hx.to_bits() == hy.to_bits() && ux == uy,
        _ => a == b,
    }
}

/// The hash of a claim id in [`Current::claim_ix`].
fn hash_id(id: &EntityId) -> u64 {
    use std::hash::BuildHasher as _;
    rustc_hash::FxBuildHasher.hash_one(id.as_str())
}

/// Rule 1 (the same table as `engine::effective_value`): what a claim with this value (of
/// class `class` in its question) and stance says in a yes/no question, and in a question of
/// figures or categories.
fn says(value: Option<&ClaimValue>, class: Option<u32>, stance: Stance) -> (Says, Says) {
    let yes_no = match (value, stance) {
        (None, Stance::Asserts | Stance::Forecasts) => Says::Truth(true),
        (None, Stance::Denies) => Says::Truth(false),
        (Some(ClaimValue::Boolean(b)), Stance::Asserts | Stance::Forecasts) => Says::Truth(*b),
        (Some(ClaimValue::Boolean(b)), Stance::Denies) => Says::Truth(!*b),
        (Some(_), _) => Says::Nothing,
    };
    let other = match (value, stance) {
        (_, Stance::Denies) => Says::Denial,
        (Some(ClaimValue::Boolean(_)) | None, _) => Says::Nothing,
        (Some(_), Stance::Asserts | Stance::Forecasts) => class.map_or(Says::Nothing, Says::Value),
    };
    (yes_no, other)
}
