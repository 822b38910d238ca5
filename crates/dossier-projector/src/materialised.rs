//! Materialised current provenance: for each clearance level and question, the stored events
//! that the question's current belief with provenance is folded from at that level, found once
//! by [`provenance::gather`] and kept in table `provenance`, so that a query for a current
//! belief reads them directly instead of walking the references again.
//!
//! A row holds the seqs of the events (delta-encoded) and the reference keys under which a
//! later event can change the view (every key the gathering read, but those of the question's
//! own claims, whose events are all filed under the question's view key too). It is exactly
//! what the walk finds at the level's rank (the test `materialised_rows_equal_the_fold` checks
//! it at every level, after a rebuild and after following):
//!
//! - **Filled** by a serving projector when it has nothing else to do
//!   ([`crate::Projector::materialise`]), a few rows per transaction, for every line of every
//!   level that has no row; never during a rebuild, whose cost it would add to.
//! - **Removed** in the transaction of the page whose event is filed under one of its keys
//!   (the writer keeps the keys of every row in memory, [`Watches`]), and filled again later.
//! - **Trusted** by a reader only if meta `materialised` names the store's checkpoint: every
//!   writer of this version moves it with each page, so a store last written by an earlier
//!   version (which does not remove stale rows) is answered by the walk until a projector of
//!   this version opens it and drops its rows. A question without a row is answered by the
//!   walk too.

use rusqlite::{Connection, OptionalExtension as _, params};
use rustc_hash::FxHashMap;

use dossier_model::EntityId;

use crate::provenance::{self, Gathered};
use crate::store::read_checkpoint;
use crate::{Error, refs};

/// The `meta` key naming the checkpoint up to which the rows were kept.
pub(crate) const MARKER: &str = "materialised";

/// A row's blob: the events' seqs as differences from the one before, and the keys watched.
#[derive(serde::Serialize, serde::Deserialize)]
struct Row {
    seqs: Vec<u64>,
    watch: Vec<i64>,
}

fn encode(seqs: &[u64], watch: &[i64]) -> Result<Vec<u8>, Error> {
    let mut prev = 0;
    let deltas = seqs
        .iter()
        .map(|&s| {
            let d = s - prev;
            prev = s;
            d
        })
        .collect();
    postcard::to_allocvec(&Row {
        seqs: deltas,
        watch: watch.to_vec(),
    })
    .map_err(|e| Error::Corrupt {
        seq: 0,
        reason: format!("a materialised provenance row does not encode: {e}"),
    })
}

fn decode(blob: &[u8]) -> Result<Row, Error> {
    let mut row: Row = postcard::from_bytes(blob).map_err(|e| Error::Corrupt {
        seq: 0,
        reason: format!("a materialised provenance row does not decode: {e}"),
    })?;
    let mut at = 0u64;
    for s in &mut row.seqs {
        at = at.saturating_add(*s);
        *s = at;
    }
    Ok(row)
}

/// The materialised events of `question`'s current view at `level`, loaded (those of
/// effective rank at most `max_rank`); `None` if there is no row or the rows are not known to
/// be current (see the module's documentation).
pub(crate) fn read(
    tx: &Connection,
    level: u8,
    question: &str,
    max_rank: u8,
) -> Result<Option<Gathered>, Error> {
    let marker: Option<String> = tx
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([MARKER], |r| r.get(0))
        .optional()?;
    let checkpoint = read_checkpoint(tx)?.map_or(0, |c| c.seq);
    if marker.and_then(|m| m.parse::<u64>().ok()) != Some(checkpoint) {
        return Ok(None);
    }
    let blob: Option<Vec<u8>> = tx
        .prepare_cached("SELECT events FROM provenance WHERE level = ?1 AND question = ?2")?
        .query_row(params![level, question], |r| r.get(0))
        .optional()?;
    let Some(blob) = blob else {
        return Ok(None);
    };
    let row = decode(&blob)?;
    Ok(Some(provenance::load(tx, &row.seqs, max_rank)?))
}

/// Drops every row unless they are known current at the store's checkpoint (a store written by
/// an earlier version), and names the checkpoint. In the caller's transaction.
pub(crate) fn settle(tx: &Connection) -> Result<(), Error> {
    let checkpoint = read_checkpoint(tx)?.map_or(0, |c| c.seq);
    let marker: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = ?1", [MARKER], |r| {
            r.get(0)
        })
        .optional()?;
    if marker.and_then(|m| m.parse::<u64>().ok()) != Some(checkpoint) {
        tx.execute("DELETE FROM provenance", [])?;
        mark(tx, checkpoint)?;
    }
    Ok(())
}

/// Names `seq` as the checkpoint the rows are current at (with each page's checkpoint).
pub(crate) fn mark(tx: &Connection, seq: u64) -> Result<(), Error> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![MARKER, seq.to_string()])?;
    Ok(())
}

/// The writer's index of the stored rows by the keys they watch: which rows an event filed
/// under a key makes stale. Loaded from the table when first needed; forgotten (to be loaded
/// again) when a transaction that removed rows is rolled back.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    loaded: bool,
    rows: Vec<(u8, Box<str>)>,
    by_key: FxHashMap<i64, Vec<u32>>,
}

impl Watches {
    fn load(&mut self, tx: &Connection) -> Result<(), Error> {
        if self.loaded {
            return Ok(());
        }
        self.rows.clear();
        self.by_key.clear();
        let mut st = tx.prepare("SELECT level, question, events FROM provenance")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let level: u8 = r.get(0)?;
            let question: String = r.get(1)?;
            let row = decode(r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?)?;
            self.add(level, question.into(), &row.watch);
        }
        self.loaded = true;
        Ok(())
    }

    fn add(&mut self, level: u8, question: Box<str>, watch: &[i64]) {
        let id = u32::try_from(self.rows.len()).unwrap_or(u32::MAX);
        self.rows.push((level, question));
        for &key in watch {
            self.by_key.entry(key).or_default().push(id);
        }
    }

    /// The transaction the rows were removed in was rolled back: load them again next time.
    pub(crate) fn forget(&mut self) {
        *self = Watches::default();
    }

    /// Removes the rows that an event filed under `keys` can change. In the page's
    /// transaction.
    pub(crate) fn invalidate(&mut self, tx: &Connection, keys: &[i64]) -> Result<(), Error> {
        self.load(tx)?;
        let mut delete =
            tx.prepare_cached("DELETE FROM provenance WHERE level = ?1 AND question = ?2")?;
        for key in keys {
            for id in self.by_key.remove(key).unwrap_or_default() {
                if let Some((level, question)) = self.rows.get(id as usize) {
                    delete.execute(params![level, &**question])?;
                }
            }
        }
        Ok(())
    }
}

/// Fills up to `max` missing rows (lines of any level without one) from the store as it stands
/// at `bound` (its checkpoint); returns how many. In the caller's write transaction.
pub(crate) fn fill(
    tx: &Connection,
    watches: &mut Watches,
    bound: u64,
    max: usize,
) -> Result<usize, Error> {
    watches.load(tx)?;
    let missing: Vec<(u8, String)> = tx
        .prepare_cached(
            "SELECT b.level, b.question FROM beliefs b
             WHERE NOT EXISTS (SELECT 1 FROM provenance p
                               WHERE p.level = b.level AND p.question = b.question)
             LIMIT ?1",
        )?
        .query_map([i64::try_from(max).unwrap_or(i64::MAX)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO provenance (level, question, seq, events) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (level, question) in &missing {
        let qid = EntityId::parse(question).map_err(|e| Error::Corrupt {
            seq: bound,
            reason: format!("a stored line's question: {e}"),
        })?;
        // A line at a level is the fold of the events that level sees, so its question is
        // posed there; were it not, the row holds no event (as the walk would find none) and
        // waits for the question's view to change.
        let (seqs, watch) = match provenance::gather(tx, &qid, bound, *level)? {
            Some(g) => (g.seqs(), g.watch(&qid)),
            None => (Vec::new(), vec![refs::view(&qid)]),
        };
        insert.execute(params![
            level,
            question,
            i64::try_from(bound).unwrap_or(i64::MAX),
            encode(&seqs, &watch)?
        ])?;
        watches.add(*level, question.as_str().into(), &watch);
    }
    Ok(missing.len())
}
