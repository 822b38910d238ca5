//! The access log: a local, durable record of who read TLP:RED material, and when.
//!
//! `access.db` in the data directory, one SQLite file per node (not in the ledger: reads are
//! not events of the ledger, and each API node logs the reads it served):
//!
//! ```text
//! reads   id (ascending), at (fixed-width UTC, 30 bytes), principal, role, grant, route,
//!         what, marking
//! ```
//!
//! Rows are only ever inserted (triggers refuse `UPDATE` and `DELETE`); each insert is its own
//! transaction, committed with `synchronous=FULL` before [`AccessLog::record`] returns, so an
//! answer is sent only after its read is logged.

use std::path::Path;
use std::sync::Mutex;

use dossier_chain::format_recorded;
use dossier_model::{Marking, Timestamp};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::AccessError;
use crate::record::Role;

/// The access log's file name in a data directory.
pub const ACCESS_LOG_FILE: &str = "access.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reads (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    principal TEXT NOT NULL,
    role      TEXT NOT NULL,
    grant_id  TEXT NOT NULL,
    route     TEXT NOT NULL,
    what      TEXT NOT NULL,
    marking   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reads_at ON reads (at);
CREATE TRIGGER IF NOT EXISTS reads_no_update BEFORE UPDATE ON reads
    BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS reads_no_delete BEFORE DELETE ON reads
    BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
";

/// One read of marked material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    /// When it was served.
    pub at: Timestamp,
    /// Who read it (the principal's name).
    pub principal: String,
    /// The principal's role.
    pub role: Role,
    /// The grant it authenticated with.
    pub grant: String,
    /// The route served, e.g. `GET /v1/ledgers/{ledger}/questions/{id}`.
    pub route: String,
    /// What was read: a question id, a seq range, a content hash.
    pub what: String,
    /// The most restrictive marking in the answer.
    pub marking: Marking,
}

/// The access log file. Shareable between threads (one connection behind a mutex).
#[derive(Debug)]
pub struct AccessLog {
    conn: Mutex<Connection>,
}

impl AccessLog {
    /// Opens (creating if needed) the access log at `path`.
    ///
    /// # Errors
    /// [`AccessError::Store`] if SQLite fails.
    pub fn open(path: &Path) -> Result<AccessLog, AccessError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(AccessLog {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-written row (SQLite's transaction).
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that `principal` was served `what` at `route`, now, if it holds TLP:RED
    /// material (`marking`); anything less restricted is not logged. The faces that serve
    /// readers (the API, the page) call this before sending an answer, and do not send one
    /// that could not be recorded.
    ///
    /// # Errors
    /// [`AccessError::Store`] if SQLite fails; [`AccessError::Invalid`] if the clock is out of
    /// the range of a timestamp.
    pub fn record_red_read(
        &self,
        principal: &crate::Principal,
        route: &str,
        what: impl FnOnce() -> String,
        marking: Marking,
    ) -> Result<(), AccessError> {
        if marking < Marking::Red {
            return Ok(());
        }
        let at = Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc())
            .map_err(|e| AccessError::Invalid(e.to_string()))?;
        self.record(&AccessEntry {
            at,
            principal: principal.name.clone(),
            role: principal.role,
            grant: principal.grant.clone(),
            route: route.to_owned(),
            what: what(),
            marking,
        })
    }

    /// Appends an entry, durably.
    ///
    /// # Errors
    /// [`AccessError::Store`] if SQLite fails.
    pub fn record(&self, entry: &AccessEntry) -> Result<(), AccessError> {
        self.conn().execute(
            "INSERT INTO reads (at, principal, role, grant_id, route, what, marking)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                format_recorded(entry.at.to_offset_datetime()),
                entry.principal,
                entry.role.as_str(),
                entry.grant,
                entry.route,
                entry.what,
                entry.marking.as_str(),
            ],
        )?;
        Ok(())
    }

    /// Entries at or after `since` (all if `None`), oldest first, at most `limit`.
    ///
    /// # Errors
    /// [`AccessError::Store`] if SQLite fails; [`AccessError::Corrupt`] for a row this
    /// version did not write.
    pub fn list(
        &self,
        since: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<AccessEntry>, AccessError> {
        let since = since.map_or_else(String::new, |t| format_recorded(t.to_offset_datetime()));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT at, principal, role, grant_id, route, what, marking FROM reads
             WHERE at >= ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![since, limit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (at, principal, role, grant, route, what, marking) = row?;
            let corrupt = |what: &str, value: &str| {
                AccessError::Corrupt(format!("access log: {what} {value:?} is not valid"))
            };
            out.push(AccessEntry {
                at: Timestamp::parse(&at).map_err(|_| corrupt("time", &at))?,
                principal,
                role: role.parse().map_err(|_| corrupt("role", &role))?,
                grant,
                route,
                what,
                marking: marking.parse().map_err(|_| corrupt("marking", &marking))?,
            });
        }
        Ok(out)
    }
}
