//! The notifier's store, `notify.db` in the data directory (0600): the watches with their
//! secrets, the delivery queue, the dead letters, and the notifier's position (the last seq
//! whose changes are all queued) — the position moves in the same transaction as the
//! deliveries it queues.

use std::path::Path;
use std::sync::Mutex;

use dossier_access::Principal;
use dossier_model::Marking;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::NotifyError;
use crate::allow::{AllowEntry, WebhookPolicy};
use crate::watch::{Trigger, Watch, WatchSpec};

/// The store's file name in a data directory.
pub const STORE_FILE: &str = "notify.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS watches (
    id TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    clearance TEXT NOT NULL,
    question TEXT,
    trigger TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    since INTEGER NOT NULL,
    created TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS position (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    version INTEGER NOT NULL
) STRICT;
INSERT OR IGNORE INTO position (id, seq, version) VALUES (1, 0, 0);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    watch TEXT NOT NULL,
    seq INTEGER NOT NULL,
    webhook_id TEXT NOT NULL,
    body TEXT NOT NULL,
    marking TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'dead')),
    last_error TEXT,
    queued TEXT NOT NULL,
    UNIQUE (watch, seq)
) STRICT;
CREATE INDEX IF NOT EXISTS deliveries_by_watch ON deliveries (state, watch, id);
CREATE TABLE IF NOT EXISTS webhook_allow (
    prefix TEXT PRIMARY KEY
) STRICT;
";

/// Where the notifier stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Position {
    /// Every change of belief caused by a record up to this seq is queued (or fired no watch).
    pub seq: u64,
    /// Bumped by every change to the set of watches: a round of queuing that began before a
    /// change is not committed (it is read again with the new set).
    pub version: u64,
}

/// A delivery to queue: one watch, one causing record, its payload.
#[derive(Clone, Debug)]
pub(crate) struct NewDelivery {
    pub watch: String,
    pub seq: u64,
    pub body: String,
    /// The most restrictive marking among its changes.
    pub marking: Marking,
}

/// A delivery due to be sent.
#[derive(Clone, Debug)]
pub(crate) struct Due {
    pub id: i64,
    pub watch: String,
    pub principal: String,
    pub seq: u64,
    pub marking: Marking,
    pub webhook_id: String,
    pub body: String,
    pub attempts: u32,
    pub url: String,
    pub secret: String,
    pub grant: String,
}

/// What became of one attempt.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    /// The receiver answered 2xx: the delivery is done (removed from the queue).
    Delivered,
    /// It failed: tried again at `retry_at` (unix ms), or, with `None`, a dead letter.
    Failed {
        error: String,
        retry_at: Option<i64>,
    },
}

/// A delivery that failed every attempt, for an admin to inspect and replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeadLetter {
    /// Its id (give it to replay).
    pub id: i64,
    /// The watch.
    pub watch: String,
    /// The watch's principal (`None` if the watch was removed since).
    pub principal: Option<String>,
    /// The causing record's seq.
    pub seq: u64,
    /// The idempotency key (`webhook-id`).
    pub webhook_id: String,
    /// Attempts made.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was queued (RFC 3339).
    pub queued: String,
}

/// The notifier's store (see the module documentation).
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    path: std::path::PathBuf,
}

/// The running lock of a store, held by the notifier that sends from it until dropped (see
/// [`Store::take_running`]).
#[derive(Debug)]
pub struct Running {
    _file: std::fs::File,
}

/// Creates `path` 0600 if it does not exist (the data directory's files are private).
fn create_private(path: &Path) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path).map(|_| ())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Opens (creating, 0600) the store at `path`.
    ///
    /// # Errors
    /// [`NotifyError::Io`] or [`NotifyError::Store`].
    pub fn open(path: &Path) -> Result<Store, NotifyError> {
        create_private(path).map_err(|e| NotifyError::Io {
            what: format!("creating {}", path.display()),
            source: e,
        })?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL in WAL mode: a commit survives the process being killed (what at-least-once
        // needs); a power loss may drop the last commits, which puts deliveries back in the queue
        // together with the position before them — delivered again, never skipped.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        })
    }

    /// Takes the store's running lock, an exclusive lock on the file `notify.db.running` beside
    /// it: one notifier sends from a store at a time (two would both send every delivery). The
    /// operating system releases it when the process ends, however it ends. `None` if another
    /// notifier holds it.
    ///
    /// # Errors
    /// [`NotifyError::Io`] if the lock file cannot be made or locked.
    pub fn take_running(&self) -> Result<Option<Running>, NotifyError> {
        let mut name = self.path.clone().into_os_string();
        name.push(".running");
        let path = std::path::PathBuf::from(name);
        let io = |e| NotifyError::Io {
            what: format!("locking {}", path.display()),
            source: e,
        };
        create_private(&path).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Running { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-written row (SQLite's transaction).
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where the notifier stands.
    ///
    /// # Errors
    /// [`NotifyError::Store`].
    pub fn position(&self) -> Result<Position, NotifyError> {
        let conn = self.conn();
        position(&conn)
    }

    /// The webhook URLs watches may deliver to: the admin's allow-list, or the default.
    ///
    /// # Errors
    /// The database failed.
    pub fn webhook_policy(&self) -> Result<WebhookPolicy, NotifyError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT prefix FROM webhook_allow ORDER BY prefix")?;
        let entries = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(WebhookPolicy::of(
            entries
                .iter()
                .filter_map(|e| AllowEntry::parse(e).ok())
                .collect(),
        ))
    }

    /// Replaces the allow-list of webhook URL prefixes (empty: the default policy). Watches
    /// are kept, but a delivery to a URL no longer allowed is not sent: it becomes a dead
    /// letter, replayable once the URL is allowed.
    ///
    /// # Errors
    /// [`NotifyError::Invalid`] for an entry that is not an allowed prefix
    /// ([`AllowEntry::parse`]): nothing is changed.
    pub fn set_webhook_allow(&self, prefixes: &[String]) -> Result<WebhookPolicy, NotifyError> {
        let entries = prefixes
            .iter()
            .map(|p| AllowEntry::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM webhook_allow", [])?;
            for e in &entries {
                tx.execute(
                    "INSERT OR IGNORE INTO webhook_allow (prefix) VALUES (?1)",
                    params![e.as_str()],
                )?;
            }
            tx.commit()?;
        }
        self.webhook_policy()
    }

    /// Creates a watch for `principal` (its clearance and grant are stored with it), firing on
    /// changes caused by records after `head` (the ledger's head now; or after the notifier's
    /// position, if later); returns it and its secret, which is shown this once.
    ///
    /// # Errors
    /// [`NotifyError::Invalid`] for a bad definition; [`NotifyError::Store`].
    pub fn add_watch(
        &self,
        principal: &Principal,
        spec: &WatchSpec,
        head: u64,
    ) -> Result<(Watch, String), NotifyError> {
        spec.check()?;
        self.webhook_policy()?.check(&spec.url)?;
        let secret = crate::sign::new_secret();
        let id = uuid::Uuid::new_v4().to_string();
        let created = now_rfc3339();
        let trigger = serde_json::to_string(&spec.trigger).map_err(NotifyError::internal)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let since = position(&tx)?.seq.max(head);
        tx.execute(
            "INSERT INTO watches (id, principal, grant_id, clearance, question, trigger, url,
                secret, since, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                id,
                principal.name,
                principal.grant,
                principal.clearance.as_str(),
                spec.question,
                trigger,
                spec.url,
                secret,
                to_i64(since),
                created,
            ],
        )?;
        tx.execute("UPDATE position SET version = version + 1", [])?;
        tx.commit()?;
        let watch = Watch {
            id,
            principal: principal.name.clone(),
            grant: principal.grant.clone(),
            clearance: principal.clearance,
            spec: spec.clone(),
            since,
            created,
        };
        Ok((watch, secret))
    }

    /// The watches, all of them or one principal's, oldest first.
    ///
    /// # Errors
    /// [`NotifyError::Store`].
    pub fn watches(&self, principal: Option<&str>) -> Result<Vec<Watch>, NotifyError> {
        Ok(self
            .watches_with_secrets(principal)?
            .into_iter()
            .map(|(w, _)| w)
            .collect())
    }

    pub(crate) fn watches_with_secrets(
        &self,
        principal: Option<&str>,
    ) -> Result<Vec<(Watch, String)>, NotifyError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT id, principal, grant_id, clearance, question, trigger, url, secret, since,
                created FROM watches WHERE ?1 IS NULL OR principal = ?1 ORDER BY rowid",
        )?;
        let rows = st.query_map(params![principal], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, i64>(8)?,
                r.get::<_, String>(9)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, principal, grant, clearance, question, trigger, url, secret, since, created) =
                row?;
            let clearance: Marking = clearance
                .parse()
                .map_err(|_| NotifyError::Corrupt(format!("watch {id}: clearance {clearance}")))?;
            let trigger: Trigger = serde_json::from_str(&trigger)
                .map_err(|e| NotifyError::Corrupt(format!("watch {id}: trigger: {e}")))?;
            out.push((
                Watch {
                    id,
                    principal,
                    grant,
                    clearance,
                    spec: WatchSpec {
                        question,
                        trigger,
                        url,
                    },
                    since: u64::try_from(since).unwrap_or(0),
                    created,
                },
                secret,
            ));
        }
        Ok(out)
    }

    /// Removes a watch (of `principal`, if given) and its queued deliveries and dead letters;
    /// whether there was one.
    ///
    /// # Errors
    /// [`NotifyError::Store`].
    pub fn remove_watch(&self, id: &str, principal: Option<&str>) -> Result<bool, NotifyError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "DELETE FROM watches WHERE id = ?1 AND (?2 IS NULL OR principal = ?2)",
            params![id, principal],
        )?;
        if n > 0 {
            tx.execute("DELETE FROM deliveries WHERE watch = ?1", params![id])?;
            tx.execute("UPDATE position SET version = version + 1", [])?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    /// Queues `deliveries` and moves the position to `covered`, in one transaction, if the
    /// position still is `expected` (no other round and no change of the watches came
    /// between); whether it was committed.
    pub(crate) fn queue(
        &self,
        expected: Position,
        covered: u64,
        deliveries: &[NewDelivery],
        now_ms: i64,
    ) -> Result<bool, NotifyError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let moved = tx.execute(
            "UPDATE position SET seq = ?1 WHERE seq = ?2 AND version = ?3",
            params![
                to_i64(covered),
                to_i64(expected.seq),
                to_i64(expected.version)
            ],
        )?;
        if moved == 0 {
            return Ok(false);
        }
        let queued = now_rfc3339();
        {
            let mut ins = tx.prepare(
                "INSERT INTO deliveries (watch, seq, webhook_id, body, marking, due, state, queued)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)",
            )?;
            for d in deliveries {
                ins.execute(params![
                    d.watch,
                    to_i64(d.seq),
                    webhook_id(&d.watch, d.seq),
                    d.body,
                    d.marking.as_str(),
                    now_ms,
                    queued
                ])?;
            }
        }
        tx.commit()?;
        Ok(true)
    }

    /// The pending deliveries with an id above `after`, in id order: (id, watch, due).
    pub(crate) fn pending_after(&self, after: i64) -> Result<Vec<(i64, String, i64)>, NotifyError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT id, watch, due FROM deliveries WHERE state = 'pending' AND id > ?1 ORDER BY id",
        )?;
        let rows = st.query_map(params![after], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A pending delivery with what sending it needs, if it is still pending.
    pub(crate) fn delivery(&self, id: i64) -> Result<Option<Due>, NotifyError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT d.id, d.watch, d.webhook_id, d.body, d.attempts, w.url, w.secret, w.grant_id,
                w.principal, d.seq, d.marking
             FROM deliveries d JOIN watches w ON w.id = d.watch
             WHERE d.id = ?1 AND d.state = 'pending'",
        )?;
        Ok(st
            .query_row(params![id], |r| {
                Ok(Due {
                    id: r.get(0)?,
                    watch: r.get(1)?,
                    webhook_id: r.get(2)?,
                    body: r.get(3)?,
                    attempts: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(u32::MAX),
                    url: r.get(5)?,
                    secret: r.get(6)?,
                    grant: r.get(7)?,
                    principal: r.get(8)?,
                    seq: u64::try_from(r.get::<_, i64>(9)?).unwrap_or(0),
                    marking: r.get::<_, String>(10)?.parse().unwrap_or(Marking::Red),
                })
            })
            .optional()?)
    }

    /// Records what became of attempts, in one transaction.
    pub(crate) fn record(&self, outcomes: &[(i64, Outcome)]) -> Result<(), NotifyError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for (id, outcome) in outcomes {
            match outcome {
                Outcome::Delivered => {
                    tx.execute("DELETE FROM deliveries WHERE id = ?1", params![id])?;
                }
                Outcome::Failed { error, retry_at } => {
                    let (state, due) = match retry_at {
                        Some(at) => ("pending", *at),
                        None => ("dead", 0),
                    };
                    tx.execute(
                        "UPDATE deliveries SET attempts = attempts + 1, last_error = ?2,
                            state = ?3, due = ?4 WHERE id = ?1",
                        params![id, error, state, due],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The dead letters, oldest first.
    ///
    /// # Errors
    /// [`NotifyError::Store`].
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, NotifyError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT d.id, d.watch, w.principal, d.seq, d.webhook_id, d.attempts, d.last_error,
                d.queued
             FROM deliveries d LEFT JOIN watches w ON w.id = d.watch
             WHERE d.state = 'dead' ORDER BY d.id",
        )?;
        let rows = st.query_map([], dead_letter)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Puts a dead letter back in the queue, due now, with its attempts counted afresh; the
    /// dead letter as it was, or `None` if there is no dead letter `id`.
    ///
    /// # Errors
    /// [`NotifyError::Store`].
    pub fn replay(&self, id: i64, now_ms: i64) -> Result<Option<DeadLetter>, NotifyError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let found = tx
            .query_row(
                "SELECT d.id, d.watch, w.principal, d.seq, d.webhook_id, d.attempts,
                    d.last_error, d.queued
                 FROM deliveries d LEFT JOIN watches w ON w.id = d.watch
                 WHERE d.state = 'dead' AND d.id = ?1",
                params![id],
                dead_letter,
            )
            .optional()?;
        if found.is_some() {
            tx.execute(
                "UPDATE deliveries SET state = 'pending', attempts = 0, due = ?2 WHERE id = ?1",
                params![id, now_ms],
            )?;
        }
        tx.commit()?;
        Ok(found)
    }

    /// How many deliveries are queued (pending, not dead).
    ///
    /// # Errors
    /// [`NotifyError::Store`].
    pub fn pending(&self) -> Result<u64, NotifyError> {
        let conn = self.conn();
        let n: i64 = conn.query_row(
            "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

fn dead_letter(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeadLetter> {
    Ok(DeadLetter {
        id: r.get(0)?,
        watch: r.get(1)?,
        principal: r.get(2)?,
        seq: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
        webhook_id: r.get(4)?,
        attempts: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(u32::MAX),
        last_error: r.get(6)?,
        queued: r.get(7)?,
    })
}

fn position(conn: &Connection) -> Result<Position, NotifyError> {
    let (seq, version): (i64, i64) =
        conn.query_row("SELECT seq, version FROM position WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(Position {
        seq: u64::try_from(seq).unwrap_or(0),
        version: u64::try_from(version).unwrap_or(0),
    })
}

/// The idempotency key of the delivery of the changes record `seq` caused to `watch`: the
/// `webhook-id` header, the same on every attempt and every replay.
#[must_use]
pub fn webhook_id(watch: &str, seq: u64) -> String {
    format!("{watch}_{seq}")
}
