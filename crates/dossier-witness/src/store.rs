//! `witness.db`: the logs a witness witnesses (origin and verifier key), the latest tree it
//! cosigned for each (size and root), and the checkpoints it refused as evidence. SQLite in WAL
//! mode with `synchronous = FULL`, so a committed update is on disk before the witness answers.

use std::path::Path;

use dossier_chain::Hash;
use rusqlite::{Connection, OptionalExtension as _, params};

/// The store's file name in a witness directory.
pub const STORE_FILE: &str = "witness.db";

/// The latest tree a witness cosigned for a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogState {
    /// The log's origin line.
    pub origin: String,
    /// The log's signed-note verifier key.
    pub vkey: String,
    /// Size of the latest cosigned checkpoint (0 if none).
    pub size: u64,
    /// Its root (`None` before the first cosignature).
    pub root: Option<Hash>,
}

/// The witness's SQLite store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn open(path: &Path) -> rusqlite::Result<Store> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS logs (
                 origin TEXT PRIMARY KEY,
                 vkey TEXT NOT NULL,
                 size INTEGER NOT NULL DEFAULT 0,
                 root BLOB,
                 updated INTEGER
             );
             CREATE TABLE IF NOT EXISTS refusals (
                 id INTEGER PRIMARY KEY,
                 origin TEXT NOT NULL,
                 received INTEGER NOT NULL,
                 reason TEXT NOT NULL,
                 request BLOB NOT NULL
             );",
        )?;
        Ok(Store { conn })
    }

    /// Adds a log, or replaces the verifier key of a known one (its state is kept).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn add_log(&self, origin: &str, vkey: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO logs (origin, vkey) VALUES (?1, ?2)
             ON CONFLICT(origin) DO UPDATE SET vkey = excluded.vkey",
            params![origin, vkey],
        )?;
        Ok(())
    }

    /// The state of one log, if the witness knows it.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn log(&self, origin: &str) -> rusqlite::Result<Option<LogState>> {
        self.conn
            .query_row(
                "SELECT origin, vkey, size, root FROM logs WHERE origin = ?1",
                [origin],
                row_state,
            )
            .optional()
    }

    /// Every log, by origin.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn logs(&self) -> rusqlite::Result<Vec<LogState>> {
        let mut st = self
            .conn
            .prepare("SELECT origin, vkey, size, root FROM logs ORDER BY origin")?;
        st.query_map([], row_state)?.collect()
    }

    /// Moves a log's state to `size` and `root` if it is still at `old` (the compare and the
    /// write are one statement, so two requests cannot both move it from the same size).
    /// Returns whether it moved.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn advance(
        &self,
        origin: &str,
        old: u64,
        size: u64,
        root: &Hash,
        now: u64,
    ) -> rusqlite::Result<bool> {
        let n = self.conn.execute(
            "UPDATE logs SET size = ?3, root = ?4, updated = ?5 WHERE origin = ?1 AND size = ?2",
            params![origin, to_i64(old), to_i64(size), &root.0[..], to_i64(now)],
        )?;
        Ok(n == 1)
    }

    /// Keeps a refused request as evidence.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn record_refusal(
        &self,
        origin: &str,
        now: u64,
        reason: &str,
        request: &[u8],
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO refusals (origin, received, reason, request) VALUES (?1, ?2, ?3, ?4)",
            params![origin, to_i64(now), reason, request],
        )?;
        Ok(())
    }

    /// The number of refusals kept for a log.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn refusals(&self, origin: &str) -> rusqlite::Result<u64> {
        self.conn.query_row(
            "SELECT count(*) FROM refusals WHERE origin = ?1",
            [origin],
            |r| r.get::<_, i64>(0).map(|n| u64::try_from(n).unwrap_or(0)),
        )
    }
}

fn row_state(r: &rusqlite::Row<'_>) -> rusqlite::Result<LogState> {
    let root: Option<Vec<u8>> = r.get(3)?;
    Ok(LogState {
        origin: r.get(0)?,
        vkey: r.get(1)?,
        size: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
        root: root.and_then(|v| v.try_into().ok()).map(Hash),
    })
}
