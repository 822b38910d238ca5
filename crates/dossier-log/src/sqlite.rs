//! The embedded backend: one ledger per SQLite database file, one row per sealed batch.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dossier_chain::{
    BATCH_FRAMING, Declared, EncodedRecord, EventId, Frames, Hash, Head, MAX_BATCH_RECORDS,
    RecordView, StoredRecord, content_digest, frame_batch,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::log::{AppendReceipt, EventLog, IndexEntry, ReadItem};
use crate::{AppendError, IdSet, LogError, fault, ids_in};

/// The layout of a ledger file: one record per row, read-only since layout 2 (convert it with
/// the migration in `dossier-app`).
pub const LAYOUT_PER_RECORD: i64 = 1;

/// The layout written since: one row per sealed batch (docs/FORMAT.md §7.1).
pub const LAYOUT_BATCHES: i64 = 2;

const SCHEMA: &str = r"
CREATE TABLE batches (
    first    INTEGER PRIMARY KEY,
    count    INTEGER NOT NULL,
    seal     BLOB NOT NULL,
    recorded TEXT NOT NULL,
    ids      BLOB NOT NULL,
    frame    BLOB NOT NULL
);
CREATE TABLE records (
    seq    INTEGER PRIMARY KEY,
    batch  INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    hash   BLOB NOT NULL
);
CREATE TABLE content (
    hash  BLOB PRIMARY KEY,
    bytes BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER batches_no_update BEFORE UPDATE ON batches
BEGIN SELECT RAISE(ABORT, 'dossier records are immutable: corrections are new events'); END;
CREATE TRIGGER batches_no_delete BEFORE DELETE ON batches
BEGIN SELECT RAISE(ABORT, 'dossier records are immutable: corrections are new events'); END;
CREATE TRIGGER records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'dossier records are immutable: corrections are new events'); END;
CREATE TRIGGER records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'dossier records are immutable: corrections are new events'); END;
CREATE VIEW events AS
SELECT seq,
       json_extract(j, '$.type')       AS type,
       json_extract(j, '$.entity')     AS entity,
       json_extract(j, '$.recorded')   AS recorded,
       json_extract(j, '$.actor.name') AS actor,
       json_extract(j, '$.marking')    AS marking,
       lower(hex(hash))                AS hash,
       json_extract(j, '$.body')       AS body
FROM (SELECT r.seq AS seq, r.hash AS hash,
             CAST(substr(b.frame, r.offset + 1, r.length) AS TEXT) AS j
      FROM records r JOIN batches b ON b.first = r.batch);
";

/// The layout a ledger file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqliteLayout {
    /// Layout 1: one row per record and a per-event index table. Read as before; appends are
    /// refused ([`LogError::ReadOnlyLayout`]) until the file is migrated.
    PerRecord,
    /// Layout 2: one row per sealed batch, framed (`dossier-batch/1`).
    Batches,
}

/// A ledger kept in one SQLite database file (WAL mode, `synchronous=FULL`: an acknowledged
/// append survives a crash of the process or the machine).
///
/// Layout 2 (docs/FORMAT.md §7.1): the `batches` table holds one row per sealed batch (its
/// records' exact bytes framed as `dossier-batch/1`, the first seq, the count, the seal's hash,
/// the seal's recorded time and the batch's event ids); the `records` table maps each seq to
/// its batch, offset, length and hash (a sequential key: appending to it touches the B-tree's
/// last page only). Triggers refuse updates and deletes of both. The `content` table is the
/// content store (report texts by BLAKE3 hash). The `events` view is for people using the
/// `sqlite3` shell.
///
/// Idempotency: the event ids of every batch are kept in memory ([`IdIndex`]), loaded from
/// the batches' `ids` columns at the first append or lookup and brought up to the head inside
/// each append's write transaction, so an id recorded by any process is refused forever
/// without a per-event index write.
#[derive(Debug)]
pub struct SqliteLog {
    inner: Box<Mutex<Inner>>,
    path: PathBuf,
    layout: SqliteLayout,
}

#[derive(Debug)]
struct Inner {
    /// The connection verification reads through ([`SqliteLog::read_checked`]), opened at its
    /// first use: read-only, with a small page cache, since a scan from the first record to the
    /// last reads each page once (with the 64 MiB cache of `conn`, the memory of a verification
    /// would grow with the ledger until the cache is full). Declared first so that it closes
    /// first: `conn`, closing last, checkpoints the WAL and removes it, as without this one.
    scan: Option<Connection>,
    conn: Connection,
    ids: Box<IdIndex>,
}

/// Page cache of the verifying connection, in KiB (SQLite's negative `cache_size`).
const SCAN_CACHE_KIB: i64 = 2048;

/// A report text of the content store: its hash and bytes.
pub(crate) type ContentRow = (Vec<u8>, Vec<u8>);

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
        // WAL is switched on): a framed batch of 1,000 600-byte records spans about 37 pages.
        conn.pragma_update(None, "page_size", 16_384)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        let mut version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            // IMMEDIATE: two processes creating the same file wait for each other instead of
            // failing to upgrade a read lock; the second finds the layout written.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            version = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if version == 0 {
                tx.execute_batch(SCHEMA)?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('layout', ?1), ('framing', ?2)",
                    params![LAYOUT_BATCHES.to_string(), BATCH_FRAMING],
                )?;
                tx.pragma_update(None, "user_version", LAYOUT_BATCHES)?;
                version = LAYOUT_BATCHES;
            }
            tx.commit()?;
        }
        let layout = match version {
            LAYOUT_PER_RECORD => SqliteLayout::PerRecord,
            LAYOUT_BATCHES => SqliteLayout::Batches,
            _ => {
                return Err(LogError::Incompatible(format!(
                    "{} has database layout {version}; this dossier understands up to {LAYOUT_BATCHES}",
                    path.display()
                )));
            }
        };
        if layout == SqliteLayout::Batches {
            let framing: Option<String> = conn
                .query_row("SELECT value FROM meta WHERE key = 'framing'", [], |r| {
                    r.get(0)
                })
                .optional()?;
            if framing.as_deref() != Some(BATCH_FRAMING) {
                return Err(LogError::Incompatible(format!(
                    "{} frames its batches as {}; this dossier reads {BATCH_FRAMING}",
                    path.display(),
                    framing.as_deref().unwrap_or("(not recorded)")
                )));
            }
        }
        Ok(SqliteLog {
            inner: Box::new(Mutex::new(Inner {
                conn,
                ids: Box::default(),
                scan: None,
            })),
            path: path.to_owned(),
            layout,
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's layout.
    #[must_use]
    pub fn layout(&self) -> SqliteLayout {
        self.layout
    }

    /// Reads the database file through a memory map from now on (SQLite caps it at 2 GiB)
    /// instead of copying each page out of the page cache: for a reader that goes through the
    /// whole ledger, such as the projector. The costs: the mapped pages count in the process's
    /// resident memory, and an I/O error while reading surfaces as a SIGBUS instead of an
    /// error. Verification does not use it, so its memory stays flat.
    ///
    /// # Errors
    /// If SQLite refuses the setting.
    pub fn map_reads(&self) -> Result<(), LogError> {
        self.inner()
            .conn
            .pragma_update(None, "mmap_size", 1_i64 << 31)?;
        Ok(())
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back on drop), and the id index is only extended after a commit, so a poisoned lock
        // is safe to reuse.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn head_sync(&self, conn: &Connection) -> Result<Head, LogError> {
        let row = match self.layout {
            SqliteLayout::Batches => conn
                .query_row(
                    "SELECT first + count - 1, seal, recorded FROM batches ORDER BY first DESC LIMIT 1",
                    [],
                    |r| Ok((r.get::<_, u64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, String>(2)?)),
                )
                .optional()?,
            SqliteLayout::PerRecord => conn
                .query_row(
                    "SELECT seq, hash, recorded FROM records ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get::<_, u64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, String>(2)?)),
                )
                .optional()?,
        };
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
        if self.layout == SqliteLayout::PerRecord {
            return Err(LogError::ReadOnlyLayout {
                path: self.path.clone(),
                layout: LAYOUT_PER_RECORD,
            }
            .into());
        }
        let mut frame = Vec::with_capacity(dossier_chain::framed_len(
            records.iter().map(|r| r.bytes.len()),
        ));
        frame_batch(records.iter().map(|r| r.bytes.as_slice()), &mut frame)
            .map_err(|e| AppendError::InvalidBatch(e.to_string()))?;
        let mut ids = Vec::with_capacity(records.len() * 16);
        for r in records {
            ids.extend_from_slice(&r.event_id.0);
        }
        let mut guard = self.inner();
        let Inner {
            conn, ids: index, ..
        } = &mut *guard;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(LogError::from)?;
        let head = self.head_sync(&tx)?;
        if head.seq != expected {
            return Err(AppendError::Conflict {
                expected,
                actual: head.seq,
            });
        }
        // Under the write lock: every batch any process committed is in the index now.
        index.catch_up(&tx)?;
        let mut in_batch = HashSet::with_capacity(records.len());
        for r in records {
            let id = u128::from_be_bytes(r.event_id.0);
            if index.get(id).is_some() || !in_batch.insert(id) {
                return Err(AppendError::DuplicateEvent(r.event_id.to_hex()));
            }
        }
        let last = records
            .last()
            .ok_or_else(|| AppendError::InvalidBatch("no records".into()))?;
        tx.prepare_cached(
            "INSERT INTO batches (first, count, seal, recorded, ids, frame) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut s| {
            s.execute(params![
                expected + 1,
                records.len(),
                &last.hash.0[..],
                last.recorded,
                ids,
                frame
            ])
        })
        .map_err(LogError::from)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO records (seq, batch, offset, length, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(LogError::from)?;
            let mut offset = 0;
            for r in records {
                offset += dossier_chain::ENTRY_OVERHEAD;
                insert
                    .execute(params![
                        r.seq,
                        expected + 1,
                        offset,
                        r.bytes.len(),
                        &r.hash.0[..]
                    ])
                    .map_err(LogError::from)?;
                offset += r.bytes.len();
            }
            let mut put = tx
                .prepare_cached("INSERT OR IGNORE INTO content (hash, bytes) VALUES (?1, ?2)")
                .map_err(LogError::from)?;
            for c in contents {
                put.execute(params![&Hash::of_bytes(c).0[..], c])
                    .map_err(LogError::from)?;
            }
        }
        fault::point("before-commit");
        tx.commit().map_err(LogError::from)?;
        // Only what is committed enters the index.
        if index.loaded {
            for r in records {
                index.set.insert(u128::from_be_bytes(r.event_id.0), r.seq);
            }
            index.upto = last.seq;
        }
        fault::point("after-commit");
        Ok(AppendReceipt {
            first: expected + 1,
            last: last.seq,
        })
    }

    fn read_sync(&self, from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let guard = self.inner();
        match self.layout {
            SqliteLayout::PerRecord => legacy_read(&guard.conn, from, max),
            SqliteLayout::Batches => read_batches(&guard.conn, from, max, false)?
                .into_iter()
                .filter_map(|item| match item {
                    ReadItem::Record(r) => Some(Ok(r)),
                    ReadItem::BadFrame {
                        position, detail, ..
                    } => Some(Err(LogError::Corrupt(format!("seq {position}: {detail}")))),
                    ReadItem::Ids { .. } | ReadItem::Derived { .. } => None,
                })
                .collect(),
        }
    }

    fn read_checked_sync(&self, from: u64, max: usize) -> Result<Vec<ReadItem>, LogError> {
        let mut guard = self.inner();
        let conn = match &mut guard.scan {
            Some(c) => c,
            scan @ None => scan.insert(self.open_scan()?),
        };
        match self.layout {
            SqliteLayout::PerRecord => legacy_read_checked(conn, from, max),
            SqliteLayout::Batches => read_batches(conn, from, max, true),
        }
    }

    /// The verifying connection (see [`Inner::scan`]).
    fn open_scan(&self) -> Result<Connection, LogError> {
        let conn = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "cache_size", -SCAN_CACHE_KIB)?;
        Ok(conn)
    }

    fn lookup_sync(&self, ids: &[EventId]) -> Result<Vec<Option<IndexEntry>>, LogError> {
        let mut guard = self.inner();
        let seqs: Vec<Option<u64>> = match self.layout {
            SqliteLayout::PerRecord => legacy_lookup(&guard.conn, ids)?,
            SqliteLayout::Batches => {
                let Inner {
                    conn, ids: index, ..
                } = &mut *guard;
                index.catch_up(conn)?;
                ids.iter()
                    .map(|id| index.get(u128::from_be_bytes(id.0)))
                    .collect()
            }
        };
        drop(guard);
        ids.iter()
            .zip(seqs)
            .map(|(id, seq)| {
                let Some(seq) = seq else { return Ok(None) };
                // The content digest is computed from the stored record when an id is found (a
                // republish or a reference), so appends need not store it.
                let record = self
                    .read_sync(seq, 1)?
                    .into_iter()
                    .next()
                    .filter(|r| r.position == seq);
                let Some(record) = record else {
                    return Err(LogError::Corrupt(format!(
                        "the index points event {} at seq {seq}, which is not stored",
                        id.to_hex()
                    )));
                };
                let view = RecordView::parse(&record.bytes).map_err(|e| {
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
        let guard = self.inner();
        Ok(guard
            .conn
            .query_row(
                "SELECT bytes FROM content WHERE hash = ?1",
                params![&hash.0[..]],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Deletes a text from the content store with `secure_delete` on (its cells and freed
    /// overflow pages overwritten with zeros), then checkpoints the WAL with `TRUNCATE`, so
    /// that neither the database file nor the WAL keeps a copy. A checkpoint that readers of
    /// other connections block is tried again for up to 10 s, then [`LogError::Busy`] (the row
    /// is deleted; erasing again finishes the checkpoint).
    fn erase_content_sync(&self, hash: &Hash) -> Result<bool, LogError> {
        let guard = self.inner();
        guard.conn.pragma_update(None, "secure_delete", "ON")?;
        let deleted = guard
            .conn
            .execute("DELETE FROM content WHERE hash = ?1", params![&hash.0[..]])?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if !wal_checkpoint_truncate(&guard.conn)? {
                break;
            }
            if Instant::now() >= deadline {
                return Err(LogError::Busy(format!(
                    "{}: another process keeps reading the ledger, so its WAL could not be \
                     checkpointed and truncated; the text is deleted, but a copy may remain in \
                     the WAL until the erase is run again",
                    self.path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(deleted > 0)
    }

    /// Records of a per-record (layout 1) file from `from` on, up to `max`, with what an append
    /// needs (for migration).
    pub(crate) fn legacy_encoded(
        &self,
        from: u64,
        max: usize,
    ) -> Result<Vec<EncodedRecord>, LogError> {
        let guard = self.inner();
        let mut stmt = guard.conn.prepare_cached(
            "SELECT seq, hash, event_id, type, recorded, bytes FROM records WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![from, i64::try_from(max).unwrap_or(i64::MAX)])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let seq: u64 = r.get(0)?;
            let hash = to_hash(r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?)?;
            let id = r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
            let id = <[u8; 16]>::try_from(id).map_err(|_| {
                LogError::Corrupt(format!(
                    "seq {seq}: a stored event id has {} bytes, not 16",
                    id.len()
                ))
            })?;
            out.push(EncodedRecord {
                seq,
                hash,
                event_id: EventId(id),
                event_type: r.get(3)?,
                recorded: r.get(4)?,
                bytes: r.get(5)?,
            });
        }
        Ok(out)
    }

    /// Every report text of the content store, `page` at a time in hash order, after `after`.
    pub(crate) fn content_page(
        &self,
        after: Option<&[u8]>,
        page: usize,
    ) -> Result<Vec<ContentRow>, LogError> {
        let guard = self.inner();
        let mut stmt = guard.conn.prepare_cached(
            "SELECT hash, bytes FROM content WHERE hash > ?1 ORDER BY hash LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![
                after.unwrap_or(&[]),
                i64::try_from(page).unwrap_or(i64::MAX)
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores report texts in the content store (for migration: texts are otherwise stored
    /// with the batch that refers to them).
    pub(crate) fn put_contents(&self, contents: &[Vec<u8>]) -> Result<(), LogError> {
        let mut guard = self.inner();
        let tx = guard.conn.transaction()?;
        {
            let mut put =
                tx.prepare_cached("INSERT OR IGNORE INTO content (hash, bytes) VALUES (?1, ?2)")?;
            for c in contents {
                put.execute(params![&Hash::of_bytes(c).0[..], c])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes the WAL back into the database file and empties it, so that the file alone holds
    /// the ledger (before it is renamed).
    ///
    /// # Errors
    /// [`LogError::Busy`] if another process holds the file; SQLite's.
    pub fn checkpoint_wal(&self) -> Result<(), LogError> {
        let guard = self.inner();
        if wal_checkpoint_truncate(&guard.conn)? {
            return Err(LogError::Busy(format!(
                "{} is in use by another process",
                self.path.display()
            )));
        }
        Ok(())
    }
}

/// Writes the WAL back into the database file and truncates it (`PRAGMA
/// wal_checkpoint(TRUNCATE)`); true when another connection kept it from completing.
fn wal_checkpoint_truncate(conn: &Connection) -> Result<bool, LogError> {
    let (busy, _, _): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok(busy != 0)
}

/// Reads a layout-2 file from `from` on: up to `max` records, decoded from their batches'
/// frames and checked against each batch row's count and seal and against the seq index.
/// With `derived` (verification's read), a batch that does not fit whole in what is left of
/// `max` ends the read unless it is the first, and the read also returns what verification
/// checks of the values stored beside each frame: the row's `ids` ([`ReadItem::Ids`],
/// compared with the records by the verifier; a column of the wrong size is reported here) and
/// its `recorded` (compared here with the seal's).
fn read_batches(
    conn: &Connection,
    from: u64,
    max: usize,
    derived: bool,
) -> Result<Vec<ReadItem>, LogError> {
    let from = from.max(1);
    // The batch holding `from` starts at most MAX_BATCH_RECORDS - 1 before it.
    let start: Option<u64> = conn.query_row(
        "SELECT max(first) FROM batches WHERE first <= ?1",
        params![from],
        |r| r.get(0),
    )?;
    let start = start.unwrap_or(from);
    let mut batches = conn.prepare_cached(
        "SELECT first, count, seal, recorded, ids, frame FROM batches WHERE first >= ?1 ORDER BY first",
    )?;
    let mut index = conn.prepare_cached(
        "SELECT seq, batch, offset, length, hash FROM records WHERE seq >= ?1 ORDER BY seq",
    )?;
    let mut rows = batches.query(params![start])?;
    let mut index_rows = index.query(params![from])?;
    let mut pending_index: Option<IndexRow> = None;
    let mut out = Vec::new();
    let mut taken = 0;
    // The item of a lost blob's rest waiting to learn where the next blob starts.
    let mut resume_pending: Option<usize> = None;
    while taken < max {
        let Some(row) = rows.next()? else { break };
        let first: u64 = row.get(0)?;
        if let Some(i) = resume_pending.take()
            && let ReadItem::BadFrame { resume_at, .. } = &mut out[i]
        {
            *resume_at = Some(first);
        }
        let count: i64 = row.get(1)?;
        if derived && taken > 0 && usize::try_from(count).map_or(true, |c| taken + c > max) {
            // Verification reads on from this batch next time rather than splitting it: a
            // batch cut at the end of a page has its whole frame read again for its rest.
            break;
        }
        let seal = stored_bytes(row.get_ref(2)?);
        let frame = stored_bytes(row.get_ref(5)?);
        let mut recorded_column = None;
        let mut ids_len = None;
        let mut pending_ids = None;
        if derived {
            let ids = stored_bytes(row.get_ref(4)?);
            ids_len = Some(ids.len());
            // Handed on before the first record of the batch that this read returns.
            pending_ids = Some(ReadItem::Ids {
                first,
                ids: ids.to_vec(),
            });
            recorded_column = Some(match row.get_ref(3)? {
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                other => format!("{other:?}"),
            });
        }
        // Whether every entry of the frame was read whole (then the ids column's size can be
        // judged: a frame that fails is reported as such, whatever its row says).
        let mut whole = true;
        let declared = Declared {
            count: usize::try_from(count).ok(),
            // A seal hash of the wrong length can match no record: the seal check fails.
            seal: Some(<[u8; 32]>::try_from(seal).map_or(Hash([0xff; 32]), Hash)),
        };
        let mut offset = 0usize;
        let mut index_complaint = false;
        for (i, entry) in Frames::new(frame, declared).enumerate() {
            let position = first + i as u64;
            match entry {
                Ok(bytes) => {
                    offset += dossier_chain::ENTRY_OVERHEAD;
                    let here = offset;
                    offset += bytes.len();
                    if position < from {
                        continue;
                    }
                    if taken >= max {
                        whole = false;
                        break;
                    }
                    out.extend(pending_ids.take());
                    if let Some(column) = &recorded_column
                        && i64::try_from(i).ok() == Some(count - 1)
                    {
                        // The seal: the row's recorded time is derived from it.
                        let seal = RecordView::parse(bytes).ok();
                        let in_record = seal.as_ref().map(|v| v.recorded);
                        if in_record.is_some_and(|r| r != column) {
                            out.push(ReadItem::Derived {
                                position,
                                detail: format!(
                                    "batch {first}: its recorded column says {column}, its seal's recorded time is {}",
                                    in_record.unwrap_or_default()
                                ),
                            });
                        }
                    }
                    // The index row for this position: skip rows before it.
                    let mut row_here = None;
                    loop {
                        let next = match pending_index.take() {
                            Some(r) => Some(r),
                            None => index_rows.next()?.map(IndexRow::read).transpose()?,
                        };
                        match next {
                            Some(r) if r.seq < position => {}
                            Some(r) if r.seq == position => {
                                row_here = Some(r);
                                break;
                            }
                            other => {
                                pending_index = other;
                                break;
                            }
                        }
                    }
                    let agrees = row_here.as_ref().is_some_and(|r| {
                        r.batch == first
                            && r.offset == here as u64
                            && r.length == bytes.len() as u64
                    });
                    out.push(ReadItem::Record(StoredRecord {
                        position,
                        stored_hash: row_here.as_ref().map(|r| r.hash),
                        bytes: bytes.to_vec(),
                    }));
                    taken += 1;
                    if !agrees && !index_complaint {
                        index_complaint = true;
                        let detail = match &row_here {
                            None => format!("the seq index has no row for seq {position}"),
                            Some(r) => format!(
                                "the seq index places seq {position} in batch {} at offset {} length {}; batch {first}'s frame holds it at offset {here} length {}",
                                r.batch,
                                r.offset,
                                r.length,
                                bytes.len()
                            ),
                        };
                        out.push(ReadItem::BadFrame {
                            position,
                            resume_at: None,
                            detail,
                        });
                    }
                }
                Err(e) => {
                    whole = false;
                    let position = first + e.index as u64;
                    if position < from {
                        // Reported when the page holding that position was read.
                        break;
                    }
                    out.extend(pending_ids.take());
                    out.push(ReadItem::BadFrame {
                        position,
                        resume_at: Some(
                            first
                                + u64::try_from(count.clamp(1, MAX_BATCH_RECORDS as i64))
                                    .unwrap_or(1),
                        ),
                        detail: format!("batch {first}: {e}"),
                    });
                    resume_pending = Some(out.len() - 1);
                }
            }
        }
        if whole
            && pending_ids.is_none()
            && let Some(len) = ids_len
            && i64::try_from(len).ok() != count.checked_mul(16)
        {
            out.push(ReadItem::Derived {
                position: first,
                detail: format!(
                    "batch {first}: its ids column holds {len} bytes, not 16 for each of its {count} records"
                ),
            });
        }
    }
    Ok(out)
}

#[derive(Debug)]
struct IndexRow {
    seq: u64,
    batch: u64,
    offset: u64,
    length: u64,
    hash: Hash,
}

impl IndexRow {
    fn read(r: &rusqlite::Row<'_>) -> Result<IndexRow, LogError> {
        let hash = r.get_ref(4)?.as_blob().map_err(rusqlite::Error::from)?;
        Ok(IndexRow {
            seq: r.get(0)?,
            batch: r.get(1)?,
            offset: r.get(2)?,
            length: r.get(3)?,
            // A stored hash of the wrong length is itself tampering; verification reports the
            // record as changed because no 32-byte hash can match.
            hash: to_hash(hash).unwrap_or(Hash([0xff; 32])),
        })
    }
}

fn legacy_read(conn: &Connection, from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, hash, bytes FROM records WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![from, i64::try_from(max).unwrap_or(i64::MAX)])?;
    let mut out = Vec::with_capacity(max.min(16_384));
    while let Some(r) = rows.next()? {
        let hash = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
        out.push(StoredRecord {
            position: r.get(0)?,
            stored_hash: Some(to_hash(hash).unwrap_or(Hash([0xff; 32]))),
            bytes: r.get(2)?,
        });
    }
    Ok(out)
}

/// [`legacy_read`] for verification: each record is preceded by its row's `event_id` column
/// ([`ReadItem::Ids`]), which the verifier compares with the record's id. (The `type` and
/// `recorded` columns of this read-only layout are not compared: docs/FORMAT.md §7.1.)
fn legacy_read_checked(
    conn: &Connection,
    from: u64,
    max: usize,
) -> Result<Vec<ReadItem>, LogError> {
    let records = legacy_read(conn, from, max)?;
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Ok(Vec::new());
    };
    let mut ids = HashMap::with_capacity(records.len());
    let mut stmt = conn.prepare_cached(
        "SELECT seq, event_id FROM records WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![first.position, last.position])?;
    while let Some(r) = rows.next()? {
        let seq: u64 = r.get(0)?;
        let id = match r.get_ref(1)? {
            rusqlite::types::ValueRef::Blob(b) => b.to_vec(),
            _ => Vec::new(),
        };
        ids.insert(seq, id);
    }
    let mut out = Vec::with_capacity(records.len() * 2);
    for r in records {
        let id = ids.remove(&r.position).unwrap_or_default();
        if id.len() != 16 {
            out.push(ReadItem::Derived {
                position: r.position,
                detail: format!("its event_id column holds {} bytes, not 16", id.len()),
            });
        }
        out.push(ReadItem::Ids {
            first: r.position,
            ids: id,
        });
        out.push(ReadItem::Record(r));
    }
    Ok(out)
}

fn legacy_lookup(conn: &Connection, ids: &[EventId]) -> Result<Vec<Option<u64>>, LogError> {
    let mut recent = conn.prepare_cached("SELECT seq FROM event_ids_recent WHERE id = ?1")?;
    let mut main = conn.prepare_cached("SELECT seq FROM event_ids WHERE id = ?1")?;
    ids.iter()
        .map(|id| {
            let key = params![&id.0[..]];
            Ok(match recent.query_row(key, |r| r.get(0)).optional()? {
                Some(seq) => Some(seq),
                None => main.query_row(key, |r| r.get(0)).optional()?,
            })
        })
        .collect()
}

/// Every recorded event id with its seq, in memory ([`IdSet`]), and how far it reaches.
#[derive(Debug, Default)]
struct IdIndex {
    /// Whether the ids of the file were loaded (lazily: reading commands never need them).
    loaded: bool,
    /// The last seq whose batch's ids are in the index.
    upto: u64,
    set: IdSet,
}

impl IdIndex {
    fn get(&self, id: u128) -> Option<u64> {
        self.set.get(id)
    }

    /// Adds the ids of every batch committed after `upto` (by this process or another).
    fn catch_up(&mut self, conn: &Connection) -> Result<(), LogError> {
        let mut stmt = conn.prepare_cached(
            "SELECT first, count, ids FROM batches WHERE first > ?1 ORDER BY first",
        )?;
        let mut bulk = if self.loaded {
            None
        } else {
            let events: Option<i64> = conn.query_row(
                "SELECT sum(count) FROM batches WHERE first > ?1",
                params![self.upto],
                |r| r.get(0),
            )?;
            Some(IdSet::bulk(
                usize::try_from(events.unwrap_or(0)).unwrap_or(0),
            ))
        };
        let mut rows = stmt.query(params![self.upto])?;
        while let Some(r) = rows.next()? {
            let first: u64 = r.get(0)?;
            let count: u64 = r.get(1)?;
            let stored = stored_bytes(r.get_ref(2)?);
            let rebuilt;
            let ids = if stored.len() as u64 == count * 16 {
                stored
            } else {
                // Never trust an index missing entries: an id it lacks could be appended
                // again. The records are the truth; read the ids from them.
                tracing::warn!(
                    batch = first,
                    "the batch's ids column holds {} bytes, not 16 for each of its {count} records; reading its event ids from its records",
                    stored.len()
                );
                rebuilt = ids_from_frame(conn, first, count)?;
                &rebuilt
            };
            for (seq, id) in (first..).zip(ids_in(ids)) {
                match &mut bulk {
                    Some(load) => load.push(id, seq),
                    None => self.set.insert(id, seq),
                }
            }
            self.upto = self.upto.max(first + count - 1);
        }
        if let Some(load) = bulk {
            self.set = load.finish();
            self.loaded = true;
        }
        Ok(())
    }
}

/// The bytes of a blob column as stored: a value of another type (written behind dossier's
/// back: `||` makes text of blobs) is read as its bytes, or as none, and then fails the checks
/// of what it should hold instead of failing the read.
fn stored_bytes(value: rusqlite::types::ValueRef<'_>) -> &[u8] {
    match value {
        rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => b,
        _ => &[],
    }
}

/// The event ids of the batch row starting at `first`, read from its records' bytes.
fn ids_from_frame(conn: &Connection, first: u64, count: u64) -> Result<Vec<u8>, LogError> {
    let frame: Vec<u8> = conn.query_row(
        "SELECT frame FROM batches WHERE first = ?1",
        params![first],
        |r| r.get(0),
    )?;
    let declared = Declared {
        count: usize::try_from(count).ok(),
        seal: None,
    };
    let mut ids = Vec::with_capacity(usize::try_from(count).unwrap_or(0) * 16);
    for (i, entry) in Frames::new(&frame, declared).enumerate() {
        let seq = first + i as u64;
        let bytes = entry
            .map_err(|e| LogError::Corrupt(format!("batch {first}: {e} (run `dossier verify`)")))?;
        let id = RecordView::parse(bytes)
            .ok()
            .and_then(|v| EventId::from_hex(v.id).ok())
            .ok_or_else(|| {
                LogError::Corrupt(format!(
                    "seq {seq}: not a record with an event id (run `dossier verify`)"
                ))
            })?;
        ids.extend_from_slice(&id.0);
    }
    Ok(ids)
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
        let guard = self.inner();
        self.head_sync(&guard.conn)
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

    async fn read_checked(&self, from: u64, max: usize) -> Result<Vec<ReadItem>, LogError> {
        self.read_checked_sync(from, max)
    }

    async fn lookup(&self, ids: &[EventId]) -> Result<Vec<Option<IndexEntry>>, LogError> {
        self.lookup_sync(ids)
    }

    async fn content(&self, hash: &Hash) -> Result<Option<Vec<u8>>, LogError> {
        self.content_sync(hash)
    }

    async fn erase_content(&self, hash: &Hash) -> Result<bool, LogError> {
        self.erase_content_sync(hash)
    }

    async fn wait_for(&self, after: u64, timeout: Duration) -> Result<u64, LogError> {
        let deadline = Instant::now() + timeout;
        loop {
            let seq = {
                let guard = self.inner();
                self.head_sync(&guard.conn)?.seq
            };
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
