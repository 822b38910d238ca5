//! The applying thread of a page: checks each decoded record's chain link, folds it into every
//! level that sees it and hands the writer what changed.

use dossier_beliefs::{BeliefChange, Engine, Recorded};
use dossier_chain::{Hash, RecordView, StoredRecord};
use dossier_model::{DomainEvent, EntityId};

use crate::decode::{Decoded, Prev, for_each_decoded};
use crate::levels::{Birth, Level, Levels, Markings};
use crate::write::{Outcome, Output, Write};
use crate::{Error, refs};

/// What the applying thread of [`Projector::pump_once`] owns while it runs: the engine, the
/// lines as last written, and the chain position.
pub(crate) struct Fold {
    pub(crate) levels: Levels,
    pub(crate) markings: Markings,
    pub(crate) applied: u64,
    pub(crate) last_hash: Hash,
    /// Records per page (a shorter page reached the head).
    pub(crate) page: usize,
}

/// How the applying thread ended.
pub(crate) struct Ended {
    /// Why it stopped early (a broken chain, the writer gone).
    pub(crate) failure: Option<Error>,
    /// What the writer reported meanwhile.
    pub(crate) outcomes: Vec<Outcome>,
}

impl Fold {
    /// Applies the pages received, in order, until the channel closes, a page reaches the
    /// head, the writer reports the store is not this projector's, or something fails; the
    /// writes go to the writer through `out`.
    pub(crate) fn apply_pages(
        &mut self,
        mut pages: tokio::sync::mpsc::Receiver<Vec<StoredRecord>>,
        mut out: Output,
        done: &std::sync::mpsc::Receiver<Outcome>,
    ) -> Ended {
        let mut ended = Ended {
            failure: None,
            outcomes: Vec::new(),
        };
        while let Some(page) = pages.blocking_recv() {
            let (fail, at_head) = self.apply_records(&page, &mut out);
            if fail.is_some() {
                ended.failure = fail;
                break;
            }
            ended.outcomes.extend(done.try_iter());
            let lost = ended.outcomes.iter().any(|o| matches!(o, Outcome::Lost));
            if at_head || lost || out.closed {
                break;
            }
            if let Err(e) = out.send() {
                ended.failure = Some(e);
                break;
            }
        }
        let _ = out.send();
        ended
    }

    /// Applies one page's records to the engine, handing its writes to `out`: a
    /// [`Write::Begin`], each event's writes, the lines of each group and a
    /// [`Write::Commit`] with the checkpoint (and the digest if the page reached the head).
    /// Returns a broken-chain failure (the records before it are committed) and whether the
    /// page reached the head.
    fn apply_records(&mut self, page: &[StoredRecord], out: &mut Output) -> (Option<Error>, bool) {
        let start = self.applied;
        // The digest serializes every line: written when the page reaches the head (and when a
        // later read finds nothing new), not for every page of a long catch-up.
        let short_page = page.len() < self.page;
        let Fold {
            levels,
            markings,
            applied,
            last_hash,
            ..
        } = self;
        if out.push(Write::Begin { start }).is_err() {
            return (None, false);
        }
        // The records of one recorded time (a batch shares one) read so far. The group is
        // closed — its changed lines computed and its cut written — before any record of a
        // later recorded time is applied, so that a line version stamped with a time holds
        // exactly the events recorded by then.
        let mut group: Option<Group> = None;
        let mut failure = None;
        let applying = for_each_decoded(page, |rec, decoded| -> Result<(), Error> {
            let later = matches!((&decoded, &group), (Ok(d), Some(g)) if d.recorded != g.recorded);
            if later && let Some(g) = group.take() {
                g.close(levels, out)?;
            }
            let (recorded, applied_event) =
                match advance_in(levels, markings, applied, last_hash, rec, decoded) {
                    Ok(x) => x,
                    Err(e) => {
                        // Keep the broken-chain error; `Stopped` only ends the iteration.
                        failure = Some(e);
                        return Err(Error::Stopped);
                    }
                };
            let g = group.get_or_insert(Group { recorded, last: 0 });
            g.last = *applied;
            // Control records change no view; they only move the cut.
            let Some(a) = applied_event else {
                return Ok(());
            };
            if let Some(top) = a.top {
                out.push(Write::Top(top))?;
            }
            if let Some(birth) = a.birth {
                out.push(Write::Birth(birth))?;
            }
            let refs = refs::keys(&a.event, |c| levels.full().engine.question_of(c));
            out.push(Write::Event {
                seq: *applied as i64,
                hash: *last_hash,
                recorded: g.recorded.clone(),
                event_type: a.event_type,
                schema: a.schema,
                marking: a.marking,
                body: a.body,
                refs,
                changes: a.changes,
            })?;
            Ok(())
        });
        if let Err(e) = applying
            && !matches!(e, Error::Stopped)
        {
            return (Some(e), false);
        }
        if out.closed {
            return (failure, false);
        }
        // The page may end inside a recorded time: its lines and cut so far are written now
        // and again, moved on, by the next page.
        if let Some(g) = group.take()
            && g.close(levels, out).is_err()
        {
            return (failure, false);
        }
        let at_head = failure.is_none() && short_page;
        if *applied > start {
            let _ = out.push(Write::Commit {
                seq: *applied,
                hash: last_hash.to_hex(),
                digest: at_head,
            });
        } else {
            let _ = out.push(Write::Abort);
        }
        (failure, at_head)
    }
}

/// The records of one recorded time applied in a page, see [`Fold::apply_records`].
struct Group {
    /// Their recorded time (fixed-width form).
    recorded: String,
    /// The last record among them.
    last: u64,
}

impl Group {
    /// Hands the writer the lines that changed in the group at each level, stamped with the
    /// last domain event of the group that level applied, and the group's cut: the last record
    /// of its recorded time so far.
    fn close(self, levels: &mut Levels, out: &mut Output) -> Result<(), Error> {
        for level in levels.all_mut() {
            if let Some(seq) = level.group_last.take() {
                out.push(changed_lines(level, seq, self.recorded.clone()))?;
            }
        }
        out.push(Write::Cut {
            recorded: self.recorded,
            seq: self.last,
        })
    }
}

/// A domain event as applied: the changes of belief it caused and what the store keeps of it.
pub(crate) struct Applied {
    /// The highest effective rank that occurred, if this event raised it.
    top: Option<u8>,
    /// The level born to see it, if any.
    birth: Option<Birth>,
    /// The changes of belief it caused, per level (by rank).
    changes: Vec<(u8, Vec<BeliefChange>)>,
    event: DomainEvent,
    event_type: String,
    schema: u32,
    /// Its effective marking, as its rank: the most restrictive of its own and those of the
    /// entities it references (see [`crate::levels`]).
    marking: u8,
    /// The event's body exactly as recorded.
    body: String,
}

/// Checks one decoded record against the chain (position, stored hash, seq, prev link) and
/// folds it into the engine. Returns its recorded time and, for a domain event, what it did
/// (`None` for a control record). Works on split borrows so that a transaction can hold the
/// connection meanwhile.
pub(crate) fn advance_in(
    levels: &mut Levels,
    markings: &mut Markings,
    applied: &mut u64,
    last_hash: &mut Hash,
    rec: &StoredRecord,
    decoded: Result<Decoded, Error>,
) -> Result<(String, Option<Applied>), Error> {
    let seq = *applied + 1;
    if rec.position != seq {
        return Err(Error::BrokenChain {
            seq,
            reason: format!(
                "the ledger returned record {} where record {seq} was expected",
                rec.position
            ),
        });
    }
    let d = decoded?;
    if rec.stored_hash.is_some_and(|stored| stored != d.hash) {
        return Err(Error::BrokenChain {
            seq,
            reason: "the record's bytes changed after it was appended".into(),
        });
    }
    if d.seq != seq {
        return Err(Error::BrokenChain {
            seq,
            reason: format!("the record says it is seq {}", d.seq),
        });
    }
    let linked = match d.prev {
        // The record before it in the page was the one applied just before (seq - 1).
        Prev::Follows => true,
        Prev::Hash(prev) => prev == Some(*last_hash),
    };
    if !linked {
        let prev = RecordView::parse(&rec.bytes).map_or_else(|_| "?".into(), |v| v.prev.to_owned());
        return Err(Error::BrokenChain {
            seq,
            reason: format!(
                "its prev is {prev}, but record {} hashes to {}",
                seq - 1,
                last_hash.to_hex()
            ),
        });
    }
    let applied_event = d.domain.map(|part| {
        let hex = d.hex;
        let marking = markings.effective(&part.event, part.marking);
        let top = levels.top();
        let birth = levels.admit(marking);
        let top = (levels.top() != top).then(|| levels.top()).flatten();
        let claims_of = claim_questions(&part.event, &levels.full().engine);
        let questions = view_questions(&part.event, &claims_of);
        let changes = levels
            .seeing(marking)
            .map(|level| {
                level.group_last = Some(seq);
                let changes = level.apply(
                    marking,
                    &questions,
                    Recorded {
                        seq,
                        hash: &hex,
                        recorded: part.recorded,
                        event: &part.event,
                    },
                );
                (level.rank, changes)
            })
            .filter(|(_, c)| !c.is_empty())
            .collect();
        Applied {
            top,
            birth,
            changes,
            event: part.event,
            event_type: part.event_type,
            schema: part.schema,
            marking,
            body: part.body,
        }
    });
    *applied = seq;
    *last_hash = d.hash;
    Ok((d.recorded, applied_event))
}

/// The questions of the claims a relation or resolution names (`full` knows every recorded
/// claim's question); nothing for other events.
fn claim_questions(event: &DomainEvent, full: &Engine) -> Vec<EntityId> {
    let of_claim = |c: &EntityId| full.question_of(c).cloned();
    match event {
        DomainEvent::Relation(r) => [&r.from, &r.to].into_iter().filter_map(of_claim).collect(),
        DomainEvent::Resolution(r) => of_claim(&r.forecast).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The questions whose views an event is filed under (see [`crate::levels::Level::marks`]);
/// `claims_of` holds those of the claims it names ([`claim_questions`]).
fn view_questions<'a>(event: &'a DomainEvent, claims_of: &'a [EntityId]) -> Vec<&'a EntityId> {
    match event {
        DomainEvent::Question(q) => vec![&q.id],
        DomainEvent::Claim(c) => vec![&c.question],
        DomainEvent::Interest(d) => vec![&d.question],
        DomainEvent::Assessment(a) => vec![&a.question],
        DomainEvent::Relation(_) | DomainEvent::Resolution(_) => claims_of.iter().collect(),
        DomainEvent::Source(_) | DomainEvent::Reliability(_) | DomainEvent::Report(_) => Vec::new(),
    }
}

/// The lines of the questions whose line changed in the group and differ from what the store
/// holds (the cache is updated to what will be written), stamped with `seq`, the last domain
/// event of the group, and its recorded time.
fn changed_lines(level: &mut Level, seq: u64, recorded: String) -> Write {
    let mut lines = Vec::new();
    for q in level.take_pending() {
        let Some(line) = level.engine.line(&q) else {
            continue;
        };
        let mark = level.marks.get(&q).copied().unwrap_or(0);
        if level
            .cache
            .get(&q)
            .is_some_and(|(l, m)| l == line && *m == mark)
        {
            continue;
        }
        level.cache.insert(q, (line.clone(), mark));
        lines.push((line.clone(), mark));
    }
    Write::Lines {
        level: level.rank,
        seq: seq as i64,
        recorded,
        lines,
    }
}
