//! Building one belief with provenance from the stored events (no log access, no stored
//! provenance): gather the events its view depends on, fold them into a fresh engine.
//!
//! The gathering follows [`crate::refs`]: the question's view, then every claim reached
//! through relations (transitively: corroborating, disputing and superseding claims and what
//! retracts or supersedes *them*), the questions of claims on other questions, and the sources
//! and reports of every claim gathered. Everything is bounded by a sequence number, so the
//! same function answers "now" (the checkpoint) and "as of" any recorded time. The engine is
//! filled with [`Engine::load`], which records without judging: folding a view of a few hundred
//! events takes about a millisecond.

use std::collections::{BTreeMap, BTreeSet};

use dossier_beliefs::{Engine, Recorded};
use dossier_model::{DomainEvent, EntityId, EntityKind, Timestamp};
use rusqlite::Connection;

use crate::{Error, refs};

/// A stored domain event.
struct Stored {
    hash: String,
    recorded: Timestamp,
    event: DomainEvent,
}

struct Gatherer<'c> {
    conn: &'c Connection,
    bound: i64,
    /// The most restrictive effective marking rank gathered: events above it are left out,
    /// and nothing is followed through them.
    max_rank: i64,
    /// Reference keys already read.
    keys: BTreeSet<i64>,
    events: BTreeMap<u64, Stored>,
}

/// Keys (and seqs) per statement: well under SQLite's limit on bound parameters.
const PER_STATEMENT: usize = 500;

impl Gatherer<'_> {
    /// Reads the events filed under any of `keys` (those not read before) up to the bound, in
    /// a few statements; returns the seqs new to the set, each with whether it was reached
    /// through a key that is followed further.
    fn read(&mut self, keys: Vec<(i64, bool)>) -> Result<Vec<(u64, bool)>, Error> {
        let mut follow_of: BTreeMap<i64, bool> = BTreeMap::new();
        for (key, follow) in keys {
            if !self.keys.contains(&key) {
                let f = follow_of.entry(key).or_insert(false);
                *f |= follow;
            }
        }
        self.keys.extend(follow_of.keys().copied());
        let wanted: Vec<i64> = follow_of.keys().copied().collect();
        let mut found: BTreeMap<u64, bool> = BTreeMap::new();
        for chunk in wanted.chunks(PER_STATEMENT) {
            let sql = format!(
                "SELECT key, seq FROM refs WHERE seq <= ?1 AND key IN ({})",
                placeholders(2, chunk.len())
            );
            let mut st = self.conn.prepare_cached(&sql)?;
            let params = std::iter::once(self.bound).chain(chunk.iter().copied());
            let mut rows = st.query(rusqlite::params_from_iter(params))?;
            while let Some(row) = rows.next()? {
                let (key, seq): (i64, i64) = (row.get(0)?, row.get(1)?);
                let seq = seq as u64;
                if self.events.contains_key(&seq) {
                    continue;
                }
                let f = found.entry(seq).or_insert(false);
                *f |= follow_of.get(&key).copied().unwrap_or(false);
            }
        }
        let seqs: Vec<u64> = found.keys().copied().collect();
        for chunk in seqs.chunks(PER_STATEMENT) {
            self.load(chunk)?;
        }
        // Events above the reader's clearance were not loaded.
        Ok(found
            .into_iter()
            .filter(|(seq, _)| self.events.contains_key(seq))
            .collect())
    }

    /// Loads and decodes the stored events `seqs`.
    fn load(&mut self, seqs: &[u64]) -> Result<(), Error> {
        let sql = format!(
            "SELECT seq, hash, recorded, type, schema, body FROM events
             WHERE marking <= ?1 AND seq IN ({})",
            placeholders(2, seqs.len())
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let params = std::iter::once(self.max_rank).chain(seqs.iter().map(|&s| s as i64));
        let mut rows = st.query(rusqlite::params_from_iter(params))?;
        while let Some(row) = rows.next()? {
            let seq = row.get::<_, i64>(0)? as u64;
            let corrupt = |reason: String| Error::Corrupt { seq, reason };
            let recorded: String = row.get(2)?;
            let event_type: String = row.get(3)?;
            let body = row.get_ref(5)?.as_str().map_err(rusqlite::Error::from)?;
            let stored = Stored {
                hash: crate::store::stored_hash(seq, row.get_ref(1)?)?,
                recorded: Timestamp::parse(&recorded).map_err(|e| corrupt(e.to_string()))?,
                event: DomainEvent::decode(&event_type, row.get(4)?, body.as_bytes())
                    .map_err(|e| corrupt(e.to_string()))?,
            };
            self.events.insert(seq, stored);
        }
        Ok(())
    }
}

/// `?first, ?first+1, …` (`n` of them).
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The keys an event leads to, each with whether what it files is followed further: claims
/// and relations are; the leaves (a question, source or report and what else is filed with
/// them) are not.
fn next_keys(event: &DomainEvent, q: &EntityId, next: &mut Vec<(i64, bool)>) {
    match event {
        DomainEvent::Claim(c) => {
            next.push((refs::entity(&c.id), true));
            if &c.question != q {
                next.push((refs::entity(&c.question), false));
            }
            next.push((refs::source(&c.speaker), false));
            if let Some(via) = &c.via {
                next.push((refs::source(via), false));
            }
            if let Some(report) = &c.report {
                next.push((refs::entity(report), false));
            }
        }
        DomainEvent::Relation(r) => {
            for end in [&r.from, &r.to] {
                if end.kind() == EntityKind::Claim {
                    next.push((refs::entity(end), true));
                }
            }
        }
        DomainEvent::Resolution(r) => next.push((refs::entity(&r.forecast), true)),
        DomainEvent::Question(_)
        | DomainEvent::Source(_)
        | DomainEvent::Reliability(_)
        | DomainEvent::Interest(_)
        | DomainEvent::Report(_)
        | DomainEvent::Assessment(_) => {}
    }
}

/// What [`gather`] found for a question: the stored events its view depends on, and the keys
/// that were read to find them.
pub(crate) struct Gathered {
    events: BTreeMap<u64, Stored>,
    keys: BTreeSet<i64>,
}

impl Gathered {
    /// The seqs of the events gathered, in order.
    pub(crate) fn seqs(&self) -> Vec<u64> {
        self.events.keys().copied().collect()
    }

    /// The keys under which a later event can change this view: every key read, but those of
    /// the question's own claims (everything filed under a claim of question `q` is filed under
    /// `view(q)` too, which is kept; see [`refs::keys`]).
    pub(crate) fn watch(&self, q: &EntityId) -> Vec<i64> {
        let own: BTreeSet<i64> = self
            .events
            .values()
            .filter_map(|s| match &s.event {
                DomainEvent::Claim(c) if &c.question == q => Some(refs::entity(&c.id)),
                _ => None,
            })
            .collect();
        self.keys
            .iter()
            .copied()
            .filter(|k| !own.contains(k))
            .collect()
    }

    /// A fresh engine that recorded the events (see [`Engine::load`]).
    pub(crate) fn engine(&self) -> Engine {
        let mut engine = Engine::new();
        for (seq, s) in &self.events {
            engine.load(Recorded {
                seq: *seq,
                hash: &s.hash,
                recorded: s.recorded,
                event: &s.event,
            });
        }
        engine
    }
}

/// Every stored event up to `bound` that question `q`'s view depends on, of those whose
/// effective marking rank is at most `max_rank`; `None` if `q` was not posed by then (or not
/// visibly).
///
/// The gathering goes level by level (the view; what its claims and relations lead to; and
/// so on to closure), reading each level's keys and events in a few statements.
pub(crate) fn gather(
    conn: &Connection,
    q: &EntityId,
    bound: u64,
    max_rank: u8,
) -> Result<Option<Gathered>, Error> {
    let mut g = Gatherer {
        conn,
        bound: i64::try_from(bound).unwrap_or(i64::MAX),
        max_rank: i64::from(max_rank),
        keys: BTreeSet::new(),
        events: BTreeMap::new(),
    };
    let mut level = g.read(vec![(refs::view(q), true)])?;
    let posed = level
        .iter()
        .any(|(s, _)| matches!(&g.events[s].event, DomainEvent::Question(x) if &x.id == q));
    if !posed {
        return Ok(None);
    }
    while !level.is_empty() {
        let mut next = Vec::new();
        for (seq, follow) in &level {
            if *follow {
                next_keys(&g.events[seq].event, q, &mut next);
            }
        }
        level = g.read(next)?;
    }
    Ok(Some(Gathered {
        events: g.events,
        keys: g.keys,
    }))
}

/// The stored events `seqs` whose effective marking rank is at most `max_rank`, as gathered
/// earlier by [`gather`] (a materialised view, see [`crate::materialised`]), read directly.
pub(crate) fn load(conn: &Connection, seqs: &[u64], max_rank: u8) -> Result<Gathered, Error> {
    let mut g = Gatherer {
        conn,
        bound: i64::MAX,
        max_rank: i64::from(max_rank),
        keys: BTreeSet::new(),
        events: BTreeMap::new(),
    };
    for chunk in seqs.chunks(PER_STATEMENT) {
        g.load(chunk)?;
    }
    Ok(Gathered {
        events: g.events,
        keys: g.keys,
    })
}
