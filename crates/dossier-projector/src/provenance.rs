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
use rusqlite::{Connection, params};

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
    /// Reference keys already read.
    keys: BTreeSet<i64>,
    events: BTreeMap<u64, Stored>,
}

impl Gatherer<'_> {
    /// Reads the events filed under `key` up to the bound; returns the seqs new to the set.
    fn read(&mut self, key: i64) -> Result<Vec<u64>, Error> {
        if !self.keys.insert(key) {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare_cached("SELECT seq FROM refs WHERE key = ?1 AND seq <= ?2 ORDER BY seq")?;
        let seqs: Vec<u64> = st
            .query_map(params![key, self.bound], |r| r.get::<_, i64>(0))?
            .map(|s| s.map(|s| s as u64))
            .collect::<Result<_, _>>()?;
        let mut new = Vec::new();
        for seq in seqs {
            if self.events.contains_key(&seq) {
                continue;
            }
            self.events.insert(seq, self.load(seq)?);
            new.push(seq);
        }
        Ok(new)
    }

    fn load(&self, seq: u64) -> Result<Stored, Error> {
        let mut st = self.conn.prepare_cached(
            "SELECT hash, recorded, type, schema, body FROM events WHERE seq = ?1",
        )?;
        let (hash, recorded, event_type, schema, body): (String, String, String, u32, String) = st
            .query_row([seq as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
        let corrupt = |reason: String| Error::Corrupt { seq, reason };
        Ok(Stored {
            hash,
            recorded: Timestamp::parse(&recorded).map_err(|e| corrupt(e.to_string()))?,
            event: DomainEvent::decode(&event_type, schema, body.as_bytes())
                .map_err(|e| corrupt(e.to_string()))?,
        })
    }
}

/// An engine holding every stored event up to `bound` that question `q`'s view depends on;
/// `None` if `q` was not posed by then.
pub(crate) fn gather(conn: &Connection, q: &EntityId, bound: u64) -> Result<Option<Engine>, Error> {
    let mut g = Gatherer {
        conn,
        bound: i64::try_from(bound).unwrap_or(i64::MAX),
        keys: BTreeSet::new(),
        events: BTreeMap::new(),
    };
    let mut pending: Vec<u64> = g.read(refs::view(q))?;
    let posed = pending
        .iter()
        .any(|s| matches!(&g.events[s].event, DomainEvent::Question(x) if &x.id == q));
    if !posed {
        return Ok(None);
    }
    // Claims and what points at them, to closure; then each claim's question, sources, report.
    while let Some(seq) = pending.pop() {
        // (key, whether what it files is followed further): claims and relations are; the
        // leaves (a question, source or report and what else is filed with them) are not.
        let mut next: Vec<(i64, bool)> = Vec::new();
        match &g.events[&seq].event {
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
            | DomainEvent::Report(_)
            | DomainEvent::Assessment(_) => {}
        }
        for (key, follow) in next {
            let new = g.read(key)?;
            if follow {
                pending.extend(new);
            }
        }
    }
    let mut engine = Engine::new();
    for (seq, s) in &g.events {
        engine.load(Recorded {
            seq: *seq,
            hash: &s.hash,
            recorded: s.recorded,
            event: &s.event,
        });
    }
    Ok(Some(engine))
}
