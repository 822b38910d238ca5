//! The embedded backend: one ledger per SQLite database file.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dossier_chain::{EncodedRecord, EventId, Hash, Head, RecordView, StoredRecord, content_digest};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::log::{AppendReceipt, EventLog, IndexEntry};
use crate::{AppendError, LogError, fault};

/// Version of the database layout (stored in `PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS records (
    seq         INTEGER PRIMARY KEY,
    hash        BLOB NOT NULL,
    event_id    BLOB NOT NULL,
    type        TEXT NOT NULL,
    recorded    TEXT NOT NULL,
    bytes       BLOB NOT NULL
);
-- The event-id index in two levels: appends go to the small `event_ids_recent`, which is
-- merged into `event_ids` in key order every MERGE_THRESHOLD events. An id is in exactly one.
CREATE TABLE IF NOT EXISTS event_ids (
    id  BLOB PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_ids_recent (
    id  BLOB PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS content (
    hash  BLOB PRIMARY KEY,
    bytes BLOB NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'dossier records are immutable: corrections are new events'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'dossier records are immutable: corrections are new events'); END;
CREATE VIEW IF NOT EXISTS events AS
SELECT seq,
       type,
       json_extract(CAST(bytes AS TEXT), '$.entity')     AS entity,
       recorded,
       json_extract(CAST(bytes AS TEXT), '$.actor.name') AS actor,
       json_extract(CAST(bytes AS TEXT), '$.marking')    AS marking,
       lower(hex(hash))                                   AS hash,
       json_extract(CAST(bytes AS TEXT), '$.body')       AS body
FROM records;
";

/// Events in `event_ids_recent` before it is merged into `event_ids`.
///
/// Event ids are hashes, so each insert into a large index dirties a random page, and every
/// batch rewrote about one 4 KiB page per event. A small recent level keeps those writes in
/// a few hot pages; merging it in key order touches each page of the large level once
/// (measured on 1M 700-byte rows in batches of 1,000: 58k -> 115k inserts/s).
const MERGE_THRESHOLD: i64 = 20_000;

/// A ledger kept in one SQLite database file (WAL mode, `synchronous=FULL`: an acknowledged
/// append survives a crash of the process or the machine).
///
/// The `records` table holds each record's exact bytes with its hash, event id, type, body
/// digest and recorded time; triggers refuse updates and deletes. The `content` table is the
/// content store (report texts by BLAKE3 hash). The `events` view is for people using the
/// `sqlite3` shell.
#[derive(Debug)]
pub struct SqliteLog {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl SqliteLog {
    /// Opens (creating if needed) the ledger database at `path`.
    ///
    /// # Errors
    /// If the file cannot be opened or was written by an incompatible version.
    pub fn open(path: &Path) -> Result<SqliteLog, LogError> {
        // Switching a new file to WAL needs an exclusive lock, which SQLite refuses at once
        // (without waiting for the busy timeout) while another process is doing the same; such
        // a race between two first opens is retried briefly.
        let mut attempt = 0;
        loop {
            match Self::open_once(path) {
                Err(LogError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                    if matches!(
                        e.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) && attempt < 100 =>
                {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path) -> Result<SqliteLog, LogError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        // 16 KiB pages for a new ledger (an existing one keeps its own; this must come before
        // WAL is switched on): about 20 records per page instead of 5, fewer pages for the
        // event-id index to dirty. Publishing in batches of 999 measured 55-65k -> 81-85k
        // events/s in alternating runs.
        conn.pragma_update(None, "page_size", 16_384)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // The event-id index takes random inserts, so nearly every event dirties an index
        // page. A larger page cache keeps the index in memory, and checkpointing the WAL every
        // 16,384 pages (64 MiB) instead of 1,000 writes each hot page back once rather than
        // once per batch (measured: 62k -> 94k inserts/s of 700-byte rows, batches of 1,000).
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(LogError::Incompatible(format!(
                "{} has database layout {version}; this dossier understands up to {SCHEMA_VERSION}",
                path.display()
            )));
        }
        if version < SCHEMA_VERSION {
            // IMMEDIATE: two processes creating the same file wait for each other instead of
            // failing to upgrade a read lock.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            tx.commit()?;
        }
        Ok(SqliteLog {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the database file through a memory map from now on (SQLite caps it at 2 GiB)
    /// instead of copying each page out of the page cache: for a reader that goes through the
    /// whole ledger, such as the projector (folding a 1M-event ledger into views took about 1 s
    /// less CPU). Writes still go through the WAL. The costs: the mapped pages count in the
    /// process's resident memory, and an I/O error while reading surfaces as a SIGBUS instead of
    /// an error. Verification does not use it, so its memory stays flat.
    ///
    /// # Errors
    /// If SQLite refuses the setting.
    pub fn map_reads(&self) -> Result<(), LogError> {
        self.conn().pragma_update(None, "mmap_size", 1_i64 << 31)?;
        Ok(())
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back on drop), so a poisoned lock is safe to reuse.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn head_sync(conn: &Connection) -> Result<Head, LogError> {
        let row = conn
            .query_row(
                "SELECT seq, hash, recorded FROM records ORDER BY seq DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, u64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()?;
        match row {
            None => Ok(Head::empty()),
            Some((seq, hash, recorded)) => Ok(Head {
                seq,
                hash: to_hash(&hash)?,
                recorded: Some(recorded),
            }),
        }
    }

    fn append_sync(
        &self,
        expected: u64,
        records: &[EncodedRecord],
        contents: &[Vec<u8>],
    ) -> Result<AppendReceipt, AppendError> {
        check_contiguous(expected, records)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(LogError::from)?;
        let head = Self::head_sync(&tx)?;
        if head.seq != expected {
            return Err(AppendError::Conflict {
                expected,
                actual: head.seq,
            });
        }
        {
            let mut in_main = tx
                .prepare_cached("SELECT 1 FROM event_ids WHERE id = ?1")
                .map_err(LogError::from)?;
            let mut index = tx
                .prepare_cached("INSERT INTO event_ids_recent (id, seq) VALUES (?1, ?2)")
                .map_err(LogError::from)?;
            let mut insert = tx
                .prepare_cached("INSERT INTO records (seq, hash, event_id, type, recorded, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(LogError::from)?;
            for r in records {
                let duplicate = || AppendError::DuplicateEvent(r.event_id.to_hex());
                if in_main
                    .exists(params![&r.event_id.0[..]])
                    .map_err(LogError::from)?
                {
                    return Err(duplicate());
                }
                match index.execute(params![&r.event_id.0[..], r.seq]) {
                    Ok(_) => {}
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        return Err(duplicate());
                    }
                    Err(e) => return Err(LogError::from(e).into()),
                }
                insert
                    .execute(params![
                        r.seq,
                        &r.hash.0[..],
                        &r.event_id.0[..],
                        r.event_type,
                        r.recorded,
                        r.bytes
                    ])
                    .map_err(LogError::from)?;
            }
            let mut put = tx
                .prepare_cached("INSERT OR IGNORE INTO content (hash, bytes) VALUES (?1, ?2)")
                .map_err(LogError::from)?;
            for c in contents {
                put.execute(params![&Hash::of_bytes(c).0[..], c])
                    .map_err(LogError::from)?;
            }
            let recent: i64 = tx
                .query_row("SELECT count(*) FROM event_ids_recent", [], |r| r.get(0))
                .map_err(LogError::from)?;
            if recent >= MERGE_THRESHOLD {
                tx.execute_batch(
                    "INSERT INTO event_ids (id, seq) SELECT id, seq FROM event_ids_recent ORDER BY id;
                     DELETE FROM event_ids_recent;",
                )
                .map_err(LogError::from)?;
            }
        }
        fault::point("before-commit");
        tx.commit().map_err(LogError::from)?;
        fault::point("after-commit");
        Ok(AppendReceipt {
            first: expected + 1,
            last: expected + records.len() as u64,
        })
    }

    fn read_sync(&self, from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, hash, bytes FROM records WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![from, i64::try_from(max).unwrap_or(i64::MAX)])?;
        let mut out = Vec::with_capacity(max.min(16_384));
        while let Some(r) = rows.next()? {
            // A stored hash of the wrong length is itself tampering; verification reports the
            // record as changed because no 32-byte hash can match.
            let hash = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            out.push(StoredRecord {
                position: r.get(0)?,
                stored_hash: Some(to_hash(hash).unwrap_or(Hash([0xff; 32]))),
                bytes: r.get(2)?,
            });
        }
        Ok(out)
    }

    fn lookup_sync(&self, ids: &[EventId]) -> Result<Vec<Option<IndexEntry>>, LogError> {
        let conn = self.conn();
        let mut recent = conn.prepare_cached("SELECT seq FROM event_ids_recent WHERE id = ?1")?;
        let mut main = conn.prepare_cached("SELECT seq FROM event_ids WHERE id = ?1")?;
        let mut record = conn.prepare_cached("SELECT bytes FROM records WHERE seq = ?1")?;
        ids.iter()
            .map(|id| {
                let key = params![&id.0[..]];
                let seq: Option<u64> = match recent.query_row(key, |r| r.get(0)).optional()? {
                    Some(seq) => Some(seq),
                    None => main.query_row(key, |r| r.get(0)).optional()?,
                };
                let Some(seq) = seq else { return Ok(None) };
                // The content digest is computed from the stored record when an id is found (a
                // republish or a reference), so appends need not store it.
                let bytes: Vec<u8> = record.query_row(params![seq], |r| r.get(0))?;
                let view = RecordView::parse(&bytes).map_err(|e| {
                    LogError::Corrupt(format!(
                        "the index points at seq {seq}, which is unreadable: {e}"
                    ))
                })?;
                Ok(Some(IndexEntry {
                    seq,
                    digest: content_digest(&view.marking, view.body.get().as_bytes()),
                }))
            })
            .collect()
    }

    fn content_sync(&self, hash: &Hash) -> Result<Option<Vec<u8>>, LogError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT bytes FROM content WHERE hash = ?1",
                params![&hash.0[..]],
                |r| r.get(0),
            )
            .optional()?)
    }
}

fn to_hash(bytes: &[u8]) -> Result<Hash, LogError> {
    <[u8; 32]>::try_from(bytes)
        .map(Hash)
        .map_err(|_| LogError::Corrupt(format!("a stored hash has {} bytes, not 32", bytes.len())))
}

fn check_contiguous(expected: u64, records: &[EncodedRecord]) -> Result<(), AppendError> {
    if records.is_empty() {
        return Err(AppendError::InvalidBatch("no records".into()));
    }
    for (i, r) in records.iter().enumerate() {
        let want = expected + 1 + i as u64;
        if r.seq != want {
            return Err(AppendError::InvalidBatch(format!(
                "record {i} has seq {}, expected {want}",
                r.seq
            )));
        }
    }
    Ok(())
}

impl EventLog for SqliteLog {
    async fn head(&self) -> Result<Head, LogError> {
        Self::head_sync(&self.conn())
    }

    async fn append(
        &self,
        expected: u64,
        records: &[EncodedRecord],
        contents: &[Vec<u8>],
    ) -> Result<AppendReceipt, AppendError> {
        self.append_sync(expected, records, contents)
    }

    async fn read(&self, from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError> {
        self.read_sync(from, max)
    }

    async fn lookup(&self, ids: &[EventId]) -> Result<Vec<Option<IndexEntry>>, LogError> {
        self.lookup_sync(ids)
    }

    async fn content(&self, hash: &Hash) -> Result<Option<Vec<u8>>, LogError> {
        self.content_sync(hash)
    }

    async fn wait_for(&self, after: u64, timeout: Duration) -> Result<u64, LogError> {
        let deadline = Instant::now() + timeout;
        loop {
            let seq = Self::head_sync(&self.conn())?.seq;
            if seq > after || Instant::now() >= deadline {
                return Ok(seq);
            }
            tokio::time::sleep(
                Duration::from_millis(20).min(deadline.saturating_duration_since(Instant::now())),
            )
            .await;
        }
    }
}
