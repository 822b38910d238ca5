//! Clearance levels: one belief view per marking that occurs, each the fold of exactly the
//! events a reader at that marking may see.
//!
//! **Visibility.** An event's *effective* marking is the most restrictive of its own marking and
//! the effective markings of every entity it references ([`DomainEvent::references`]), so it
//! is transitive: a claim on a `TLP:RED` question is `TLP:RED` whatever it is marked itself. A
//! reader cleared for `c` sees an event if its effective rank is at most `c`'s (ranks: 0
//! `TLP:CLEAR` … 4 `TLP:RED`). The served view for `c` is the fold of the events it sees.
//!
//! **Levels.** A view per rank 0..=4 would fold most events several times over; the views of two
//! clearances differ only if some event's effective rank lies between them. So the projector
//! keeps one engine per *level*:
//!
//! - level 4 (`TOP`) always exists and folds every event: the view of the highest rank that
//!   occurs (`top`), and so of every clearance at or above it;
//! - below `top`, a level exists for each rank that occurs, folding the events of that rank
//!   and below.
//!
//! A clearance `c` is served from level 4 if `c >= top`, else from the highest existing level
//! at or below `c`; with no such level it sees no event at all. A ledger whose events all carry
//! one marking has one level, so it costs what a single view costs.
//!
//! **Births.** When an event brings a rank the levels do not cover, a level is born as a copy
//! of the one whose visible set it equals up to now, before the event is applied: a rank above
//! `top` makes the old `top` a level of its own, copied from level 4 (until now they saw the
//! same events); a rank below `top` with no level yet is copied from the highest level below
//! it (or born empty if there is none). The writer copies that level's stored rows (lines,
//! versions, history, cuts), so a level's stored past is complete from record 1 and as-of
//! answers need no special case.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};

use dossier_beliefs::{BeliefLine, Engine};
use dossier_model::{DomainEvent, EntityId};
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

/// The level that folds every event.
pub(crate) const TOP: u8 = 4;

/// The effective rank of every entity defined so far, keyed by a 64-bit hash of its id. Two
/// ids with equal hashes share a slot holding the more restrictive rank: a collision can only
/// hide an event from a reader who could have seen it, never show one.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Markings {
    ranks: FxHashMap<u64, u8>,
}

fn slot(id: &EntityId) -> u64 {
    let mut h = FxBuildHasher.build_hasher();
    h.write(id.as_str().as_bytes());
    h.finish()
}

impl Markings {
    /// Sizes the table for about `entities` entities.
    pub(crate) fn reserve(&mut self, entities: usize) {
        self.ranks.reserve(entities);
    }

    /// The effective rank of `event`, whose own marking has rank `own`; records it for the
    /// entity the event defines. A referenced entity the ledger never defined counts as
    /// nothing (validation refuses such references; an old ledger keeps its own marking).
    pub(crate) fn effective(&mut self, event: &DomainEvent, own: u8) -> u8 {
        let rank = event
            .references()
            .into_iter()
            .filter_map(|id| self.ranks.get(&slot(id)).copied())
            .fold(own, u8::max);
        if let Some(id) = event.defined() {
            let r = self.ranks.entry(slot(id)).or_insert(rank);
            *r = (*r).max(rank);
        }
        rank
    }
}

/// One level's fold: its engine and its lines as last written.
///
/// A snapshot (see [`crate::snapshot`]) keeps its rank, engine and marks; the rest is filled
/// in at open ([`Level::sync_cache`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Level {
    /// The highest effective rank it sees.
    pub(crate) rank: u8,
    pub(crate) engine: Engine,
    /// The current lines as last written to the store, each with its marking rank.
    #[serde(skip)]
    pub(crate) cache: BTreeMap<EntityId, (BeliefLine, u8)>,
    /// Each question's marking rank: the most restrictive effective marking among the events
    /// in its view (filed under it: the question, its claims, the relations touching them,
    /// its assessments, resolutions and designations) and the events that changed its line.
    pub(crate) marks: FxHashMap<EntityId, u8>,
    /// Questions whose line or marking may have changed since the lines were last handed to
    /// the writer.
    #[serde(skip)]
    pub(crate) pending: FxHashSet<EntityId>,
    /// The last domain event of the current recorded time it applied (its lines are stamped
    /// with it).
    #[serde(skip)]
    pub(crate) group_last: Option<u64>,
}

impl Level {
    fn empty(rank: u8) -> Level {
        Level {
            rank,
            engine: Engine::for_projection(),
            cache: BTreeMap::new(),
            marks: FxHashMap::default(),
            pending: FxHashSet::default(),
            group_last: None,
        }
    }

    /// The cache filled from the engine's lines (after a refold without writing).
    pub(crate) fn sync_cache(&mut self) {
        self.engine.take_changed();
        self.pending.clear();
        let marks = &self.marks;
        self.cache = self
            .engine
            .lines()
            .into_iter()
            .map(|l| {
                let mark = marks.get(&l.question.id).copied().unwrap_or(0);
                (l.question.id.clone(), (l.clone(), mark))
            })
            .collect();
    }

    /// Applies an event of effective rank `rank` that is filed under the views of `questions`
    /// (see [`Level::marks`]); returns the changes of belief.
    pub(crate) fn apply(
        &mut self,
        rank: u8,
        questions: &[&EntityId],
        event: dossier_beliefs::Recorded<'_>,
    ) -> Vec<dossier_beliefs::BeliefChange> {
        let changes = self.engine.apply(event);
        for q in questions {
            match self.marks.get_mut(*q) {
                Some(m) if *m >= rank => {}
                Some(m) => {
                    *m = rank;
                    self.pending.insert((*q).clone());
                }
                None => {
                    self.marks.insert((*q).clone(), rank);
                    self.pending.insert((*q).clone());
                }
            }
        }
        for q in self.engine.drain_changed() {
            match self.marks.get_mut(&q) {
                Some(m) => *m = (*m).max(rank),
                None => {
                    self.marks.insert(q.clone(), rank);
                }
            }
            self.pending.insert(q);
        }
        changes
    }

    /// The questions whose line or marking may have changed since the last call, sorted.
    pub(crate) fn take_pending(&mut self) -> Vec<EntityId> {
        let mut pending: Vec<EntityId> = self.pending.drain().collect();
        pending.sort_unstable();
        pending
    }
}

/// A level born: its rank and the level it was copied from (`None`: born empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Birth {
    pub(crate) rank: u8,
    pub(crate) from: Option<u8>,
}

/// Every level, by rank (level [`TOP`] last), and the highest rank that occurred.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Levels {
    levels: Vec<Level>,
    top: Option<u8>,
}

impl Default for Levels {
    fn default() -> Self {
        Levels {
            levels: vec![Level::empty(TOP)],
            top: None,
        }
    }
}

impl Levels {
    /// The level folding every event.
    pub(crate) fn full(&self) -> &Level {
        self.levels
            .last()
            .unwrap_or_else(|| unreachable!("level 4 always exists"))
    }

    /// The highest effective rank that occurred.
    pub(crate) fn top(&self) -> Option<u8> {
        self.top
    }

    /// All levels, by rank.
    pub(crate) fn all(&self) -> &[Level] {
        &self.levels
    }

    /// All levels, by rank, mutably.
    pub(crate) fn all_mut(&mut self) -> &mut [Level] {
        &mut self.levels
    }

    /// Makes the levels cover an event of effective rank `rank`, before it is applied: the
    /// level born, if any (see the module documentation).
    pub(crate) fn admit(&mut self, rank: u8) -> Option<Birth> {
        let rank = rank.min(TOP);
        match self.top {
            None => {
                self.top = Some(rank);
                None
            }
            Some(top) if rank == top => None,
            Some(top) if rank > top => {
                self.top = Some(rank);
                let mut born = self.full().clone();
                born.rank = top;
                self.insert(born);
                Some(Birth {
                    rank: top,
                    from: Some(TOP),
                })
            }
            Some(_) => {
                if self.levels.iter().any(|l| l.rank == rank) {
                    return None;
                }
                let below = self.levels.iter().rev().find(|l| l.rank < rank);
                let from = below.map(|l| l.rank);
                let mut born = below.cloned().unwrap_or_else(|| Level::empty(rank));
                born.rank = rank;
                self.insert(born);
                Some(Birth { rank, from })
            }
        }
    }

    fn insert(&mut self, level: Level) {
        let at = self.levels.partition_point(|l| l.rank < level.rank);
        self.levels.insert(at, level);
    }

    /// Lets the full level's engine size its tables for `events` events.
    pub(crate) fn reserve(&mut self, events: usize) {
        if let Some(full) = self.levels.last_mut() {
            full.engine.reserve(events);
        }
    }

    /// The levels that see an event of effective rank `rank`.
    pub(crate) fn seeing(&mut self, rank: u8) -> impl Iterator<Item = &mut Level> {
        self.levels.iter_mut().filter(move |l| l.rank >= rank)
    }
}

/// The level a reader cleared for rank `clearance` is served from, given the highest rank that
/// occurred (`top`) and the levels that exist; `None`: it sees no event.
#[must_use]
pub(crate) fn level_for(clearance: u8, top: Option<u8>, existing: &[u8]) -> Option<u8> {
    match top {
        None => Some(TOP),
        Some(t) if clearance >= t => Some(TOP),
        Some(_) => existing
            .iter()
            .copied()
            .filter(|&l| l != TOP && l <= clearance)
            .max(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_marking_keeps_one_level() {
        let mut l = Levels::default();
        assert_eq!(l.admit(2), None);
        assert_eq!(l.admit(2), None);
        assert_eq!(l.all().len(), 1);
        assert_eq!(level_for(4, l.top(), &[4]), Some(TOP));
        assert_eq!(level_for(2, l.top(), &[4]), Some(TOP));
        assert_eq!(level_for(1, l.top(), &[4]), None);
    }

    #[test]
    fn levels_are_born_from_the_view_they_equal() {
        let mut l = Levels::default();
        l.admit(2);
        // A higher rank: the old top becomes a level, copied from the full view.
        assert_eq!(
            l.admit(4),
            Some(Birth {
                rank: 2,
                from: Some(TOP)
            })
        );
        // A lower rank with nothing below: born empty.
        assert_eq!(
            l.admit(1),
            Some(Birth {
                rank: 1,
                from: None
            })
        );
        // Between two levels: copied from the one below.
        assert_eq!(
            l.admit(3),
            Some(Birth {
                rank: 3,
                from: Some(2)
            })
        );
        let ranks: Vec<u8> = l.all().iter().map(|x| x.rank).collect();
        assert_eq!(ranks, [1, 2, 3, 4]);
        let existing = [1, 2, 3, 4];
        assert_eq!(level_for(0, l.top(), &existing), None);
        assert_eq!(level_for(1, l.top(), &existing), Some(1));
        assert_eq!(level_for(2, l.top(), &existing), Some(2));
        assert_eq!(level_for(4, l.top(), &existing), Some(TOP));
    }

    #[test]
    fn effective_markings_follow_references() {
        use dossier_model::{DomainEvent, Question};
        let q: Question = serde_json::from_value(serde_json::json!({
            "id": "question:q", "text": "Q?", "kind": {"type": "boolean"}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let mut m = Markings::default();
        assert_eq!(m.effective(&DomainEvent::Question(q.clone()), 3), 3);
        let interest: dossier_model::InterestDesignation =
            serde_json::from_value(serde_json::json!({
                "id": "interest:i", "source": "source:s", "question": "question:q",
                "rationale": "r"
            }))
            .unwrap_or_else(|e| panic!("{e}"));
        // Below the question it designates for: raised to the question's rank.
        assert_eq!(m.effective(&DomainEvent::Interest(interest), 0), 3);
    }
}
