//! The local event-id index: derived from the stream, kept in a SQLite file.
//!
//! The ids are stored as the stream delivers them, one row per run of records indexed
//! together (`id_runs`: first seq, count, and the records' 16-byte event ids concatenated in
//! seq order: a batch message's worth), not one row per event: an append writes one row, not
//! a thousand random-key B-tree entries. Lookups go to an [`IdSet`] in memory, loaded from the
//! rows at the first lookup and caught up from the rows that any process added since.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use dossier_chain::{EventId, GENESIS_PREV, Hash, RecordView, StoredRecord};
use dossier_log::{IdSet, LogError, id_key, ids_in};
use rusqlite::{Connection, OptionalExtension, params};

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS id_runs (first INTEGER PRIMARY KEY, count INTEGER NOT NULL, ids BLOB NOT NULL);
";

/// How far the index has read the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Watermark {
    /// Last record indexed (0: none).
    pub seq: u64,
    /// Its hash.
    pub hash: Hash,
}

/// Event id → sequence number, for every record up to the watermark.
#[derive(Debug)]
pub(crate) struct Index {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    conn: Connection,
    /// The ids of the rows up to `upto`, once loaded.
    ids: Option<IdSet>,
    /// The last seq whose row is in `ids`.
    upto: u64,
}

impl Inner {
    /// Brings the ids in memory up to the rows stored (by this process or another).
    fn catch_up(&mut self) -> Result<&IdSet, LogError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT first, count, ids FROM id_runs WHERE first > ?1 ORDER BY first")
            .map_err(corrupt)?;
        let mut rows = stmt.query(params![self.upto]).map_err(corrupt)?;
        let mut load = match self.ids {
            Some(_) => None,
            None => {
                // Exactly the room needed: growing by doubling would peak at twice the set.
                let events: u64 = self
                    .conn
                    .query_row(
                        "SELECT coalesce(sum(count), 0) FROM id_runs WHERE first > ?1",
                        params![self.upto],
                        |r| r.get(0),
                    )
                    .map_err(corrupt)?;
                Some(IdSet::bulk(usize::try_from(events).unwrap_or(0)))
            }
        };
        while let Some(r) = rows.next().map_err(corrupt)? {
            let first: u64 = r.get(0).map_err(corrupt)?;
            let count: u64 = r.get(1).map_err(corrupt)?;
            let ids: &[u8] = match r.get_ref(2).map_err(corrupt)? {
                rusqlite::types::ValueRef::Blob(b) => b,
                _ => &[],
            };
            for (seq, id) in (first..).zip(ids_in(ids)) {
                match (&mut load, &mut self.ids) {
                    (Some(l), _) => l.push(id, seq),
                    (None, Some(set)) => set.insert(id, seq),
                    (None, None) => {}
                }
            }
            self.upto = self.upto.max(first + count.max(1) - 1);
        }
        drop(rows);
        drop(stmt);
        if let Some(l) = load {
            self.ids = Some(l.finish());
        }
        Ok(self.ids.get_or_insert_with(IdSet::default))
    }
}

fn corrupt(e: rusqlite::Error) -> LogError {
    LogError::Sqlite(e)
}

/// How far the index reaches, read on `conn`.
fn watermark(conn: &Connection) -> Result<Watermark, LogError> {
    let get = |key: &str| -> Result<Option<Vec<u8>>, LogError> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
            r.get(0)
        })
        .optional()
        .map_err(corrupt)
    };
    let seq = get("through")?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, u64::from_be_bytes);
    let hash = get("through_hash")?
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .map_or(GENESIS_PREV, Hash);
    Ok(Watermark { seq, hash })
}

impl Index {
    pub(crate) fn open(path: &Path) -> Result<Index, LogError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| LogError::Corrupt(format!("creating {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Derived data: a crash may lose the last updates, which the next catch-up redoes.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        // An index of an earlier version (one row per event id) is derived data like this
        // one: dropped, and rebuilt from the stream by the next catch-up.
        let legacy: bool = conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'event_ids'",
                [],
                |r| r.get(0),
            )
            .map_err(corrupt)?;
        if legacy {
            tracing::info!(
                "the local event-id index is of an earlier version; rebuilding it from the stream"
            );
            conn.execute_batch("DROP TABLE event_ids; DELETE FROM meta; DELETE FROM id_runs;")?;
        }
        Ok(Index {
            inner: Mutex::new(Inner {
                conn,
                ids: None,
                upto: 0,
            }),
        })
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn watermark(&self) -> Result<Watermark, LogError> {
        watermark(&self.inner().conn)
    }

    /// The genesis record hash this index was built from, if any.
    pub(crate) fn genesis(&self) -> Result<Option<Hash>, LogError> {
        let inner = self.inner();
        let v: Option<Vec<u8>> = inner
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'genesis'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(corrupt)?;
        Ok(v.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .map(Hash))
    }

    /// How many entries the index lacks, if any: every record up to the watermark has an
    /// event id of its own, so an index holding fewer ids than the watermark's seq lost some
    /// (rows deleted behind dossier's back, or a file restored from an older copy).
    pub(crate) fn missing_entries(&self) -> Result<Option<u64>, LogError> {
        let inner = self.inner();
        let mark = watermark(&inner.conn)?;
        // A row whose ids are shorter than its count holds only the whole ids it has.
        let held: u64 = inner
            .conn
            .query_row(
                "SELECT coalesce(sum(min(count, length(ids) / 16)), 0) FROM id_runs",
                [],
                |r| r.get(0),
            )
            .map_err(corrupt)?;
        Ok((held < mark.seq).then(|| mark.seq - held))
    }

    /// Forgets everything (the stream is another ledger than the one indexed).
    pub(crate) fn reset(&self) -> Result<(), LogError> {
        let mut inner = self.inner();
        inner
            .conn
            .execute_batch("DELETE FROM id_runs; DELETE FROM meta;")
            .map_err(corrupt)?;
        inner.ids = None;
        inner.upto = 0;
        Ok(())
    }

    /// Indexes records that follow the watermark `start`, checking that each links to the one
    /// before. If the index has moved past `start` meanwhile (this process indexed a batch it
    /// appended), stores nothing: the returned watermark says where the index is.
    ///
    /// # Errors
    /// [`LogError::Corrupt`] naming the sequence number where the stream does not continue the
    /// chain the index has seen.
    pub(crate) fn extend(
        &self,
        start: Watermark,
        records: &[StoredRecord],
    ) -> Result<Watermark, LogError> {
        let mut mark = start;
        let mut entries = Vec::with_capacity(records.len());
        for r in records {
            if r.position != mark.seq + 1 {
                return Err(LogError::Corrupt(format!(
                    "the stream holds record {} where {} was expected: records are missing",
                    r.position,
                    mark.seq + 1
                )));
            }
            let view = RecordView::parse(&r.bytes)
                .map_err(|e| LogError::Corrupt(format!("seq {}: not a record: {e}", r.position)))?;
            let hash = Hash::of_record(&r.bytes);
            if view.seq != r.position || Hash::from_hex(view.prev).ok() != Some(mark.hash) {
                return Err(LogError::Corrupt(format!(
                    "seq {}: the record does not continue the chain (run `dossier verify`)",
                    r.position
                )));
            }
            let id = EventId::from_hex(view.id)
                .map_err(|_| LogError::Corrupt(format!("seq {}: bad event id", r.position)))?;
            mark = Watermark {
                seq: r.position,
                hash,
            };
            entries.push((id, mark));
        }
        self.write(start, &entries)
    }

    /// The entries for a batch this process has just appended: its records were built here,
    /// so their ids and links need no re-parsing.
    pub(crate) fn own_entries(
        records: &[dossier_chain::EncodedRecord],
    ) -> Vec<(EventId, Watermark)> {
        records
            .iter()
            .map(|r| {
                (
                    r.event_id,
                    Watermark {
                        seq: r.seq,
                        hash: r.hash,
                    },
                )
            })
            .collect()
    }

    /// Indexes the entries of a batch this process appended on the watermark `after` (from
    /// [`Index::own_entries`]); does nothing if the index has moved meanwhile (a catch-up read
    /// the batch from the stream).
    ///
    /// # Errors
    /// [`LogError::Corrupt`] if the entries do not follow `after`.
    pub(crate) fn extend_own(
        &self,
        after: Watermark,
        entries: &[(EventId, Watermark)],
    ) -> Result<Watermark, LogError> {
        if entries.first().is_some_and(|(_, m)| m.seq != after.seq + 1) {
            return Err(LogError::Corrupt(format!(
                "own records do not follow the index at {}",
                after.seq
            )));
        }
        self.write(after, entries)
    }

    /// Stores checked entries (event id, the watermark after its record) that follow the
    /// watermark `after`, and the new watermark, in one transaction; returns the new
    /// watermark. If the index is no longer at `after` (another writer got there first),
    /// stores nothing and returns where the index is.
    fn write(
        &self,
        after: Watermark,
        entries: &[(EventId, Watermark)],
    ) -> Result<Watermark, LogError> {
        let Some(((_, first), (_, last))) = entries.first().zip(entries.last()) else {
            return Ok(after);
        };
        let mut ids = Vec::with_capacity(entries.len() * 16);
        for (id, _) in entries {
            ids.extend_from_slice(&id.0);
        }
        let mut inner = self.inner();
        let tx = inner
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(corrupt)?;
        let now = watermark(&tx)?;
        if now != after {
            return Ok(now);
        }
        {
            tx.prepare_cached("INSERT INTO id_runs (first, count, ids) VALUES (?1, ?2, ?3)")
                .map_err(corrupt)?
                .execute(params![first.seq, entries.len() as u64, ids])
                .map_err(corrupt)?;
            let mut meta = tx
                .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
                .map_err(corrupt)?;
            if first.seq == 1 {
                meta.execute(params!["genesis", &first.hash.0[..]])
                    .map_err(corrupt)?;
            }
            meta.execute(params!["through", &last.seq.to_be_bytes()[..]])
                .map_err(corrupt)?;
            meta.execute(params!["through_hash", &last.hash.0[..]])
                .map_err(corrupt)?;
        }
        tx.commit().map_err(corrupt)?;
        // Only what is committed enters the ids in memory, and only if they are up to the row
        // before (otherwise the next lookup catches up from the rows).
        let inner = &mut *inner;
        if let Some(set) = &mut inner.ids
            && inner.upto + 1 == first.seq
        {
            for (id, mark) in entries {
                set.insert(id_key(&id.0), mark.seq);
            }
            inner.upto = last.seq;
        }
        Ok(*last)
    }

    /// The sequence number of each event id, if indexed (in memory, caught up from the rows
    /// first).
    pub(crate) fn lookup(&self, ids: &[EventId]) -> Result<Vec<Option<u64>>, LogError> {
        let mut inner = self.inner();
        let set = inner.catch_up()?;
        Ok(ids.iter().map(|id| set.get(id_key(&id.0))).collect())
    }
}
