//! `auditor.db`: the auditor's own SQLite file, outside the ledger.
//!
//! ```text
//! checkpoints   every checkpoint the auditor signed: size, ledger, root, head, note, signed_at
//! state         one row: the ledger id, the size and head of the last checkpoint, and the
//!               Merkle frontier at that size (to continue the tree without re-reading)
//! key_records   the records of every batch that holds a ledger.genesis, key.registered or
//!               key.revoked event (to rebuild the chain verifier's key set on restart)
//! tail_records  the records of the batch that ends at the last checkpoint (to resume the
//!               chain verifier on the exact head, with its recorded time)
//! alarms        every alarm raised: when, kind, sequence number, detail, the checkpoint size
//! ```
//!
//! Everything a checkpoint changes is written in one transaction, so a crash leaves the file
//! at the previous checkpoint or at the new one, never between.

use std::path::Path;

use dossier_chain::Hash;
use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;

use crate::Error;

/// The auditor's file name in a data directory.
pub const STORE_FILE: &str = "auditor.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS checkpoints (
    size      INTEGER PRIMARY KEY,
    ledger    TEXT NOT NULL,
    root      TEXT NOT NULL,
    head      TEXT NOT NULL,
    note      TEXT NOT NULL,
    signed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    ledger   TEXT NOT NULL,
    size     INTEGER NOT NULL,
    head     TEXT NOT NULL,
    frontier BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS key_records (
    position INTEGER PRIMARY KEY,
    bytes    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tail_records (
    position INTEGER PRIMARY KEY,
    bytes    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS event_ids (
    id  BLOB PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarms (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    raised_at       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    seq             INTEGER,
    detail          TEXT NOT NULL,
    checkpoint_size INTEGER
);
";

/// A checkpoint the auditor signed and stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct StoredCheckpoint {
    /// Tree size: the number of records covered (records 1 to `size`).
    pub size: u64,
    /// The ledger id.
    pub ledger: String,
    /// The Merkle root (hex).
    pub root: String,
    /// The hash of record `size`, the chain head (hex).
    pub head: String,
    /// The signed C2SP checkpoint note, as `dossier verify --checkpoint` reads it.
    pub note: String,
    /// When it was signed (RFC 3339, UTC).
    pub signed_at: String,
}

impl StoredCheckpoint {
    /// The tree version of the checkpoint (`docs/PROOFS.md` §11), from its note's extension
    /// keyword: a store written before version 2 holds version-1 checkpoints until the
    /// auditor's next run.
    ///
    /// # Errors
    /// [`Error::State`] if the stored note is not a dossier checkpoint.
    pub fn tree_version(&self) -> Result<dossier_proofs::TreeVersion, Error> {
        let text = dossier_proofs::SignedNote::parse(&self.note)
            .map_err(|e| Error::State(format!("the stored checkpoint is not a signed note: {e}")))?
            .text;
        Ok(dossier_proofs::Checkpoint::parse_body(&text)?.tree.version)
    }
}

/// An alarm the auditor raised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Alarm {
    /// When (RFC 3339, UTC).
    pub raised_at: String,
    /// What: `verify:<failure kind>` (a record failed to verify), `truncated` (the ledger is
    /// shorter than what was verified), `rewritten` (records already verified or checkpointed
    /// no longer hash to what they did).
    pub kind: String,
    /// Where, if it is located at a record.
    pub seq: Option<u64>,
    /// Details for a person.
    pub detail: String,
    /// The size of the auditor's last checkpoint when it was raised.
    pub checkpoint_size: Option<u64>,
}

/// What the auditor needs to resume: its last checkpoint's size, head and frontier.
#[derive(Clone, Debug)]
pub(crate) struct Resume {
    pub ledger: String,
    pub size: u64,
    pub head: Hash,
    pub frontier: Vec<Hash>,
}

/// What a checkpoint writes, in one transaction.
pub(crate) struct CheckpointWrite<'a> {
    pub checkpoint: &'a StoredCheckpoint,
    pub head: Hash,
    pub frontier: &'a [Hash],
    pub key_records: &'a [(u64, Vec<u8>)],
    pub tail_records: &'a [(u64, Vec<u8>)],
}

/// The open `auditor.db`.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

fn to_i64(v: u64) -> Result<i64, Error> {
    i64::try_from(v).map_err(|_| Error::State(format!("{v} does not fit in SQLite")))
}

fn from_i64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

fn hash_hex(text: &str, what: &str) -> Result<Hash, Error> {
    Hash::from_hex(text).map_err(|e| Error::State(format!("{what} {text:?} in auditor.db: {e}")))
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    ///
    /// # Errors
    /// If SQLite cannot open or initialise the file.
    pub fn open(path: &Path) -> Result<Store, Error> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::State(format!("creating {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn })
    }

    /// Opens an existing store to read it only: no schema, no pragma written (fails if it is
    /// missing). What a reader checking the auditor's verdict before every answer needs.
    pub(crate) fn open_to_read(path: &Path) -> Result<Store, Error> {
        if !path.is_file() {
            return Err(Error::NoStore(path.display().to_string()));
        }
        // Writable but query-only, like the views: a reader of a WAL database may have to
        // recover its index after a crash.
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(Store { conn })
    }

    /// Opens an existing store read-only enough for [`crate::status`] (fails if it is missing).
    pub(crate) fn open_existing(path: &Path) -> Result<Store, Error> {
        if !path.is_file() {
            return Err(Error::NoStore(path.display().to_string()));
        }
        Store::open(path)
    }

    pub(crate) fn resume(&self) -> Result<Option<Resume>, Error> {
        let row = self
            .conn
            .query_row(
                "SELECT ledger, size, head, frontier FROM state WHERE id = 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((ledger, size, head, frontier)) = row else {
            return Ok(None);
        };
        if frontier.len() % 32 != 0 {
            return Err(Error::State(
                "the stored frontier is not a list of 32-byte hashes".into(),
            ));
        }
        let frontier = frontier
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                Hash(h)
            })
            .collect();
        Ok(Some(Resume {
            ledger,
            size: from_i64(size),
            head: hash_hex(&head, "head")?,
            frontier,
        }))
    }

    /// The records to replay through a fresh chain verifier on restart: key batches and the
    /// last checkpoint's batch, in order, each position once.
    pub(crate) fn replay_records(&self) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        let mut stmt = self.conn.prepare(
            "SELECT position, bytes FROM key_records UNION SELECT position, bytes FROM tail_records ORDER BY position",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((from_i64(r.get::<_, i64>(0)?), r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out: Vec<(u64, Vec<u8>)> = Vec::new();
        for row in rows {
            let (pos, bytes) = row?;
            if out.last().is_some_and(|(p, _)| *p == pos) {
                return Err(Error::State(format!(
                    "two different records are kept for position {pos}"
                )));
            }
            out.push((pos, bytes));
        }
        Ok(out)
    }

    pub(crate) fn write_checkpoint(&mut self, w: &CheckpointWrite<'_>) -> Result<(), Error> {
        let tx = self.conn.transaction()?;
        let cp = w.checkpoint;
        // One checkpoint per size: the version-2 checkpoint the auditor signs when it moves a
        // store from tree version 1 replaces the version-1 one of the same size
        // (docs/PROOFS.md §11); any other conflict is refused.
        let replaced = tx.execute(
            "INSERT INTO checkpoints (size, ledger, root, head, note, signed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (size) DO UPDATE SET root = excluded.root, note = excluded.note,
                 signed_at = excluded.signed_at
             WHERE checkpoints.ledger = excluded.ledger AND checkpoints.head = excluded.head
                 AND checkpoints.note LIKE '%' || char(10) || 'dossier-head %'",
            params![to_i64(cp.size)?, cp.ledger, cp.root, cp.head, cp.note, cp.signed_at],
        )?;
        if replaced == 0 {
            return Err(Error::State(format!(
                "a checkpoint of size {} is already stored",
                cp.size
            )));
        }
        let frontier: Vec<u8> = w.frontier.iter().flat_map(|h| h.0).collect();
        tx.execute(
            "INSERT INTO state (id, ledger, size, head, frontier) VALUES (1, ?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET ledger = excluded.ledger, size = excluded.size,
                 head = excluded.head, frontier = excluded.frontier",
            params![cp.ledger, to_i64(cp.size)?, w.head.to_hex(), frontier],
        )?;
        {
            let mut ins =
                tx.prepare("INSERT OR REPLACE INTO key_records (position, bytes) VALUES (?1, ?2)")?;
            for (pos, bytes) in w.key_records {
                ins.execute(params![to_i64(*pos)?, bytes])?;
            }
        }
        // The batch ending at the checkpoint; a re-signed checkpoint of the same size (the move
        // to tree version 2) keeps the one stored.
        if !w.tail_records.is_empty() {
            tx.execute("DELETE FROM tail_records", [])?;
        }
        {
            let mut ins =
                tx.prepare("INSERT INTO tail_records (position, bytes) VALUES (?1, ?2)")?;
            for (pos, bytes) in w.tail_records {
                ins.execute(params![to_i64(*pos)?, bytes])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records the event ids of verified records (id, position) in one transaction and
    /// returns those an earlier position already carries: (position, earlier position, id).
    /// Seeing a record again at the same position (after a restart) is not a repeat.
    pub(crate) fn record_event_ids(
        &mut self,
        pairs: &[(u128, u64)],
    ) -> Result<Vec<(u64, u64, u128)>, Error> {
        let mut repeated = Vec::new();
        if pairs.is_empty() {
            return Ok(repeated);
        }
        let tx = self.conn.transaction()?;
        {
            let mut get = tx.prepare_cached("SELECT seq FROM event_ids WHERE id = ?1")?;
            let mut put = tx.prepare_cached("INSERT INTO event_ids (id, seq) VALUES (?1, ?2)")?;
            for (id, pos) in pairs {
                let key = id.to_be_bytes();
                match get
                    .query_row(params![&key[..]], |r| r.get::<_, i64>(0))
                    .optional()?
                {
                    Some(first) if from_i64(first) < *pos => {
                        repeated.push((*pos, from_i64(first), *id));
                    }
                    Some(_) => {}
                    None => {
                        put.execute(params![&key[..], to_i64(*pos)?])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(repeated)
    }

    pub(crate) fn set_checkpoint_note(&self, size: u64, note: &str) -> Result<(), Error> {
        self.conn.execute(
            "UPDATE checkpoints SET note = ?2 WHERE size = ?1",
            params![i64::try_from(size).unwrap_or(i64::MAX), note],
        )?;
        Ok(())
    }

    pub(crate) fn insert_alarm(&self, a: &Alarm) -> Result<(), Error> {
        self.conn.execute(
            "INSERT INTO alarms (raised_at, kind, seq, detail, checkpoint_size) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                a.raised_at,
                a.kind,
                a.seq.map(to_i64).transpose()?,
                a.detail,
                a.checkpoint_size.map(to_i64).transpose()?
            ],
        )?;
        Ok(())
    }

    /// The last checkpoint signed, if any.
    ///
    /// # Errors
    /// On a database error.
    pub fn last_checkpoint(&self) -> Result<Option<StoredCheckpoint>, Error> {
        Ok(self
            .conn
            .query_row(
                "SELECT size, ledger, root, head, note, signed_at FROM checkpoints ORDER BY size DESC LIMIT 1",
                [],
                |r| {
                    Ok(StoredCheckpoint {
                        size: from_i64(r.get(0)?),
                        ledger: r.get(1)?,
                        root: r.get(2)?,
                        head: r.get(3)?,
                        note: r.get(4)?,
                        signed_at: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    /// How many checkpoints were signed.
    ///
    /// # Errors
    /// On a database error.
    pub fn checkpoint_count(&self) -> Result<u64, Error> {
        Ok(from_i64(self.conn.query_row(
            "SELECT count(*) FROM checkpoints",
            [],
            |r| r.get(0),
        )?))
    }

    /// How many alarms were raised.
    ///
    /// # Errors
    /// On a database error.
    pub fn alarm_count(&self) -> Result<u64, Error> {
        Ok(from_i64(self.conn.query_row(
            "SELECT count(*) FROM alarms",
            [],
            |r| r.get(0),
        )?))
    }

    /// The latest `limit` alarms, newest first.
    ///
    /// # Errors
    /// On a database error.
    pub fn alarms(&self, limit: usize) -> Result<Vec<Alarm>, Error> {
        let mut stmt = self.conn.prepare(
            "SELECT raised_at, kind, seq, detail, checkpoint_size FROM alarms ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([to_i64(limit as u64)?], |r| {
            Ok(Alarm {
                raised_at: r.get(0)?,
                kind: r.get(1)?,
                seq: r.get::<_, Option<i64>>(2)?.map(from_i64),
                detail: r.get(3)?,
                checkpoint_size: r.get::<_, Option<i64>>(4)?.map(from_i64),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// A consistent copy of the auditor's store at `path` (`VACUUM INTO` a file beside it, read and
/// removed): the bytes of a SQLite database holding its checkpoints, alarms and resume state,
/// for a backup. `None` if there is no store.
///
/// # Errors
/// If the store cannot be read or copied.
pub fn snapshot(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let copy = path.with_extension(format!("db.snapshot-{}", std::process::id()));
    let _ = std::fs::remove_file(&copy);
    let copied = conn
        .execute("VACUUM INTO ?1", params![copy.to_string_lossy()])
        .map_err(Error::from)
        .and_then(|_| {
            std::fs::read(&copy)
                .map_err(|e| Error::State(format!("reading {}: {e}", copy.display())))
        });
    let _ = std::fs::remove_file(&copy);
    copied.map(Some)
}
