//! The local event-id index: derived from the stream, kept in a SQLite file.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use dossier_chain::{EventId, GENESIS_PREV, Hash, RecordView, StoredRecord};
use dossier_log::LogError;
use rusqlite::{Connection, OptionalExtension, params};

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_ids (id BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
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
    conn: Mutex<Connection>,
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
        // Event ids are hashes, so lookups and inserts land on random pages: keep them in
        // memory (up to 64 MiB, allocated as used) rather than re-reading them for every batch,
        // and checkpoint the WAL less often (at 16 MiB), so that a page changed by several
        // batches is written back once.
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "wal_autocheckpoint", 4_096)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Index {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn watermark(&self) -> Result<Watermark, LogError> {
        watermark(&self.conn())
    }

    /// The genesis record hash this index was built from, if any.
    pub(crate) fn genesis(&self) -> Result<Option<Hash>, LogError> {
        let conn = self.conn();
        let v: Option<Vec<u8>> = conn
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
        let conn = self.conn();
        let mark = watermark(&conn)?;
        let held: u64 = conn
            .query_row("SELECT count(*) FROM event_ids", [], |r| r.get(0))
            .map_err(corrupt)?;
        Ok((held < mark.seq).then(|| mark.seq - held))
    }

    /// Forgets everything (the stream is another ledger than the one indexed).
    pub(crate) fn reset(&self) -> Result<(), LogError> {
        self.conn()
            .execute_batch("DELETE FROM event_ids; DELETE FROM meta;")
            .map_err(corrupt)
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
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(corrupt)?;
        let now = watermark(&tx)?;
        if now != after {
            return Ok(now);
        }
        let mut last = None;
        {
            let mut put = tx
                .prepare_cached("INSERT OR REPLACE INTO event_ids (id, seq) VALUES (?1, ?2)")
                .map_err(corrupt)?;
            let mut meta = tx
                .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
                .map_err(corrupt)?;
            for (id, mark) in entries {
                put.execute(params![&id.0[..], mark.seq]).map_err(corrupt)?;
                if mark.seq == 1 {
                    meta.execute(params!["genesis", &mark.hash.0[..]])
                        .map_err(corrupt)?;
                }
                last = Some(*mark);
            }
            if let Some(mark) = last {
                meta.execute(params!["through", &mark.seq.to_be_bytes()[..]])
                    .map_err(corrupt)?;
                meta.execute(params!["through_hash", &mark.hash.0[..]])
                    .map_err(corrupt)?;
            }
        }
        tx.commit().map_err(corrupt)?;
        Ok(last.unwrap_or(after))
    }

    /// The sequence number of each event id, if indexed. All ids are looked up in one read
    /// transaction (one lock, one snapshot), not one per statement.
    pub(crate) fn lookup(&self, ids: &[EventId]) -> Result<Vec<Option<u64>>, LogError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(corrupt)?;
        let found = {
            let mut stmt = tx
                .prepare_cached("SELECT seq FROM event_ids WHERE id = ?1")
                .map_err(corrupt)?;
            ids.iter()
                .map(|id| {
                    stmt.query_row(params![&id.0[..]], |r| r.get(0))
                        .optional()
                        .map_err(corrupt)
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        tx.commit().map_err(corrupt)?;
        Ok(found)
    }
}
