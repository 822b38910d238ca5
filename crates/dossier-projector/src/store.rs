//! The SQLite view store: schema, writing helpers and read-only queries.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dossier_beliefs::{
    Belief, BeliefChange, BeliefLine, BeliefSummary, LineHash, LineSum, POLICY_VERSION,
};
use dossier_model::{EntityId, Marking, Timestamp};
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, params};

use crate::Error;

/// The store's file name in a data directory.
pub const STORE_FILE: &str = "views.db";

/// How long a connection waits for another one's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The layout version of the store's tables; a store of another layout must be rebuilt.
pub(crate) const LAYOUT: &str = "dossier-views/5";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS checkpoint (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY,
    hash     BLOB NOT NULL,
    recorded TEXT NOT NULL,
    type     TEXT NOT NULL,
    schema   INTEGER NOT NULL,
    marking  INTEGER NOT NULL,
    body     TEXT NOT NULL
);
-- The reports and the questions, few among the events: to find the report naming a text, and
-- to list question texts (created on the next writer's open in stores of this layout built
-- before them).
CREATE INDEX IF NOT EXISTS events_reports ON events (seq) WHERE type = 'report.recorded';
CREATE INDEX IF NOT EXISTS events_questions ON events (seq) WHERE type = 'question.posed';
-- The claims by the report they quote, for a report's page.
CREATE INDEX IF NOT EXISTS events_claims_by_report ON events (json_extract(body, '$.report'))
    WHERE type = 'claim.recorded';
CREATE TABLE IF NOT EXISTS refs (
    key INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (key, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS levels (
    level  INTEGER PRIMARY KEY,
    digest TEXT
);
CREATE TABLE IF NOT EXISTS times (
    level    INTEGER NOT NULL,
    recorded TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    digest   TEXT NOT NULL,
    PRIMARY KEY (level, recorded)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS beliefs (
    level    INTEGER NOT NULL,
    question TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    recorded TEXT NOT NULL,
    marking  INTEGER NOT NULL,
    line     TEXT NOT NULL,
    PRIMARY KEY (level, question)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS belief_versions (
    level    INTEGER NOT NULL,
    question TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    recorded TEXT NOT NULL,
    marking  INTEGER NOT NULL,
    line     TEXT NOT NULL,
    PRIMARY KEY (level, question, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    level    INTEGER NOT NULL,
    question TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    reason   TEXT NOT NULL,
    after    TEXT NOT NULL,
    PRIMARY KEY (level, question, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Each level's questions' current provenance: the events it is folded from (see
-- `materialised.rs`; created on the next writer's open in stores of this layout built before it).
CREATE TABLE IF NOT EXISTS provenance (
    level    INTEGER NOT NULL,
    question TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    events   BLOB NOT NULL,
    PRIMARY KEY (level, question)
) WITHOUT ROWID;
";

/// A question's text and last visible change, for listing (see [`ViewStore::line_index`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineIndex {
    /// The question's id.
    pub question: String,
    /// Its text, if its `question.posed` event is visible.
    pub text: Option<String>,
    /// The seq and recorded time (fixed-width form) of its latest visible change of belief.
    pub last_change: Option<(u64, String)>,
}

/// Where [`rebuild`](crate::rebuild) builds the fresh store before swapping it in:
/// `views.db.rebuild` next to `views.db`.
#[must_use]
pub fn rebuild_path(store: &Path) -> PathBuf {
    beside(store, ".rebuild")
}

/// The file named like the store plus `suffix`, in the store's directory.
pub(crate) fn beside(store: &Path, suffix: &str) -> PathBuf {
    let mut name = store
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_else(|| STORE_FILE.into());
    name.push(suffix);
    store.with_file_name(name)
}

/// The last record applied to a store and its record hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Sequence number of the last applied record (0: nothing applied).
    pub seq: u64,
    /// Hex record hash of that record.
    pub hash: String,
}

/// Where an answer was cut from the ledger: the last record it includes and the digest of the
/// belief lines there (`dossier-digest/2`, see [`dossier_beliefs::LineSum`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cut {
    /// Sequence number of the last record the answer includes (0: none).
    pub seq: u64,
    /// The digest of all belief lines as of that record.
    pub digest: String,
}

/// An item of an answer with its marking: the most restrictive effective marking among the
/// events it was computed from — for a question's line and belief, those in the question's
/// view and those that changed its line; for a change of belief, the event that caused it. A
/// reader may pass it on only to those cleared for that marking.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Marked_{T}")]
pub struct Marked<T> {
    /// The marking.
    pub marking: Marking,
    /// The item.
    #[serde(flatten)]
    pub item: T,
}

/// A question's changes of belief, each with its marking.
pub type MarkedHistory = Vec<Marked<BeliefChange>>;

/// A stored marking rank as a marking.
fn marking_of(seq: u64, rank: i64) -> Result<Marking, Error> {
    u8::try_from(rank)
        .ok()
        .and_then(Marking::from_rank)
        .ok_or_else(|| Error::Corrupt {
            seq,
            reason: format!("the stored marking rank {rank} is not one of 0..=4"),
        })
}

/// Opens (creating if needed) a store for writing.
pub(crate) fn open_rw(path: &Path) -> Result<Connection, Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // 16 KiB pages for a new store (an existing one keeps its own): a page holds about 30
    // stored events instead of 8, which at 1M events made a rebuild about 15% cheaper and a
    // query with provenance no slower (64 KiB made queries slower: every event read costs a
    // whole page).
    conn.pragma_update(None, "page_size", 16_384)?;
    // A rollback journal keeps the whole store in one file, so a rename swaps all of it.
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // The reference index takes random keys; a large cache keeps its pages in memory.
    conn.pragma_update(None, "cache_size", -262_144)?;
    // The tables and the store's identity are created in one transaction: a process killed at
    // any instant leaves either no tables or a whole, named store (the rollback journal undoes
    // a half-created one). A store of another layout (or policy) is refused before anything is
    // created in it.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let created = check_fits(&conn, path).and_then(|()| {
        conn.execute_batch(SCHEMA)?;
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('layout', ?1), ('policy', ?2)",
            [LAYOUT, POLICY_VERSION],
        )?;
        conn.execute(
            "INSERT OR IGNORE INTO levels (level, digest) VALUES (?1, NULL)",
            [i64::from(crate::levels::TOP)],
        )?;
        dossier_log::fault::point("views-create");
        Ok(())
    });
    match created {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(conn)
}

/// Refuses ([`Error::Outdated`]) a store whose `meta` names another layout or policy than
/// this version's; a store without `meta` is a new one.
fn check_fits(conn: &Connection, path: &Path) -> Result<(), Error> {
    let has_meta: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)?;
    if has_meta && !never_written(conn)? {
        for (key, want) in [("layout", LAYOUT), ("policy", POLICY_VERSION)] {
            let have: Option<String> = conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?;
            if have.as_deref() != Some(want) {
                return Err(Error::Outdated {
                    path: path.to_owned(),
                    reason: format!(
                        "it was built with {key} {}, this is {want}",
                        have.as_deref().unwrap_or("(older, unnamed)")
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Whether a store holds nothing at all: no identity in `meta` and no checkpoint. Versions
/// before store creation was one transaction could be killed between creating the tables and
/// naming the store; such a store never held a view, so it is taken as new rather than refused.
fn never_written(conn: &Connection) -> Result<bool, Error> {
    let named: i64 = conn.query_row("SELECT COUNT(*) FROM meta", [], |r| r.get(0))?;
    if named > 0 {
        return Ok(false);
    }
    let has_checkpoint: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'checkpoint'",
        [],
        |r| r.get(0),
    )?;
    if has_checkpoint == 0 {
        return Ok(true);
    }
    let rows: i64 = conn.query_row("SELECT COUNT(*) FROM checkpoint", [], |r| r.get(0))?;
    Ok(rows == 0)
}

/// A stored event's record hash (32 bytes) in hex.
pub(crate) fn stored_hash(seq: u64, value: rusqlite::types::ValueRef<'_>) -> Result<String, Error> {
    let bytes: [u8; 32] = value
        .as_blob()
        .map_err(rusqlite::Error::from)?
        .try_into()
        .map_err(|_| Error::Corrupt {
            seq,
            reason: "the stored record hash is not 32 bytes".into(),
        })?;
    Ok(dossier_chain::Hash(bytes).to_hex())
}

pub(crate) fn digest_seq(conn: &Connection) -> Result<u64, Error> {
    let v: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'digest_seq'", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Whether the store's tables exist. A process killed while it created the store leaves a
/// file without them (the transaction creating them is rolled back); until a projector
/// creates them, readers take such a store as one with nothing applied.
fn created(conn: &Connection) -> Result<bool, Error> {
    let tables: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'checkpoint'",
        [],
        |r| r.get(0),
    )?;
    Ok(tables > 0)
}

pub(crate) fn read_checkpoint(conn: &Connection) -> Result<Option<Checkpoint>, Error> {
    Ok(conn
        .query_row("SELECT seq, hash FROM checkpoint WHERE id = 1", [], |r| {
            Ok(Checkpoint {
                seq: r.get::<_, i64>(0)? as u64,
                hash: r.get(1)?,
            })
        })
        .optional()?)
}

/// Queries on a view store (they never write). Every query opens the file afresh, so a store swapped in
/// by [`rebuild`](crate::rebuild) is seen by the next query, and a query never sees a
/// half-built store.
#[derive(Clone, Debug)]
pub struct ViewStore {
    path: PathBuf,
}

impl ViewStore {
    /// A store at `path`.
    ///
    /// # Errors
    /// [`Error::NoStore`] if there is no file at `path`.
    pub fn open(path: &Path) -> Result<ViewStore, Error> {
        if !path.is_file() {
            return Err(Error::NoStore(path.to_owned()));
        }
        Ok(ViewStore {
            path: path.to_owned(),
        })
    }

    /// The store's file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> Result<Connection, Error> {
        if !self.path.is_file() {
            return Err(Error::NoStore(self.path.clone()));
        }
        // Opened writable but query-only: a projector killed inside a transaction leaves a hot
        // journal, which only a writable connection may roll back before reading.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    /// The last applied record, `None` if nothing was applied yet.
    ///
    /// # Errors
    /// If the store cannot be read.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, Error> {
        let conn = self.conn()?;
        if !created(&conn)? {
            return Ok(None);
        }
        read_checkpoint(&conn)
    }

    /// The checkpoint, if this store fits this version (layout and policy) and its digest was
    /// written at the checkpoint: then a store whose checkpoint is the ledger's head has
    /// nothing left to do (see [`catch_up`](crate::catch_up)).
    ///
    /// # Errors
    /// [`Error::Outdated`] for a store of another layout or policy; if it cannot be read.
    pub(crate) fn finished_checkpoint(&self) -> Result<Option<Checkpoint>, Error> {
        let conn = self.conn()?;
        check_fits(&conn, &self.path)?;
        let tx = conn.unchecked_transaction()?;
        let Some(cp) = read_checkpoint(&tx)? else {
            return Ok(None);
        };
        Ok((digest_seq(&tx)? == cp.seq).then_some(cp))
    }

    /// The digest of the current lines a reader cleared for `clearance` is served, at the
    /// checkpoint; for `TLP:RED` equal to [`Engine::digest`](dossier_beliefs::Engine::digest)
    /// of an engine that folded the same records; `None` if nothing was applied. The projector
    /// stores each level's digest when it reaches the head; in the middle of a catch-up it is
    /// computed from the stored lines.
    ///
    /// # Errors
    /// If the store cannot be read.
    pub fn digest(&self, clearance: Marking) -> Result<Option<String>, Error> {
        let conn = self.conn()?;
        if !created(&conn)? {
            return Ok(None);
        }
        let tx = conn.unchecked_transaction()?;
        let level = level_in(&tx, clearance)?;
        digest_in(&tx, level)
    }

    /// The cut an answer to a reader cleared for `clearance` is given at, and the digest of the
    /// lines it is served there: now (`as_of` `None`: the checkpoint and
    /// [`ViewStore::digest`]), or as of a recorded time (fixed-width form): the last record
    /// recorded at or before it and the digest of the lines as they stood then, as stored when
    /// the projector passed that record. An answer as of T given today carries the same seq
    /// and digest as the current answer given when the ledger ended at that record. Before
    /// anything was recorded the cut is seq 0 and the digest of no lines.
    ///
    /// # Errors
    /// If the store cannot be read.
    pub fn cut(&self, clearance: Marking, as_of: Option<&str>) -> Result<Cut, Error> {
        let conn = self.conn()?;
        let tx = conn.unchecked_transaction()?;
        let level = level_in(&tx, clearance)?;
        cut_in(&tx, level, as_of)
    }

    /// The belief policy version the views were built with.
    ///
    /// # Errors
    /// If the store cannot be read.
    pub fn policy(&self) -> Result<Option<String>, Error> {
        self.meta("policy")
    }

    fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        Ok(self
            .conn()?
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// The current line of every question a reader cleared for `clearance` sees (its judgment
    /// from the events visible at that clearance, without provenance), sorted by question id:
    /// now (`as_of` `None`), or as of a recorded time (fixed-width form, see
    /// [`dossier_chain::format_recorded`]): for each question the latest stored version
    /// recorded at or before it. Questions posed later, or not visible, are left out.
    ///
    /// # Errors
    /// If the store cannot be read or holds malformed JSON.
    pub fn beliefs(
        &self,
        clearance: Marking,
        as_of: Option<&str>,
    ) -> Result<Vec<Marked<BeliefLine>>, Error> {
        Ok(self.beliefs_at_cut(clearance, as_of)?.1)
    }

    /// [`ViewStore::beliefs`] with the [`Cut`] they were read at, both read in one transaction
    /// (a projector writing meanwhile cannot put them at different seqs).
    ///
    /// # Errors
    /// If the store cannot be read or holds malformed JSON.
    pub fn beliefs_at_cut(
        &self,
        clearance: Marking,
        as_of: Option<&str>,
    ) -> Result<(Cut, Vec<Marked<BeliefLine>>), Error> {
        let conn = self.conn()?;
        let conn = conn.unchecked_transaction()?;
        let level = level_in(&conn, clearance)?;
        let cut = cut_in(&conn, level, as_of)?;
        let Some(level) = level else {
            return Ok((cut, Vec::new()));
        };
        let rows: Vec<(i64, i64, String)> = match as_of {
            None => {
                let mut st = conn.prepare(
                    "SELECT seq, marking, line FROM beliefs WHERE level = ?1 ORDER BY question",
                )?;
                st.query_map([level], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()?
            }
            Some(t) => {
                // SQLite takes the bare columns from the row holding the MAX.
                let mut st = conn.prepare(
                    "SELECT MAX(seq), marking, line FROM belief_versions
                     WHERE level = ?1 AND recorded <= ?2 GROUP BY question ORDER BY question",
                )?;
                st.query_map(params![level, t], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()?
            }
        };
        let lines = rows
            .iter()
            .map(|(seq, rank, line)| {
                Ok(Marked {
                    marking: marking_of(*seq as u64, *rank)?,
                    item: serde_json::from_str(line)?,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok((cut, lines))
    }

    /// The marking of a question's line as a reader cleared for `clearance` is served it, now
    /// or as of a recorded time (see [`Marked`]); `None` if the question was not posed (by
    /// then) or is not visible.
    ///
    /// # Errors
    /// If the store cannot be read or holds a rank that is not a marking.
    pub fn line_marking(
        &self,
        clearance: Marking,
        question: &str,
        as_of: Option<&str>,
    ) -> Result<Option<Marking>, Error> {
        let conn = self.conn()?;
        let tx = conn.unchecked_transaction()?;
        let level = level_in(&tx, clearance)?;
        line_marking_in(&tx, level, question, as_of)
    }

    /// One question's line as a reader cleared for `clearance` is served it (see
    /// [`ViewStore::beliefs`]), with the [`Cut`] it was read at, in one transaction; `None` if
    /// the question was not posed (by then) or is not visible.
    ///
    /// # Errors
    /// If the store cannot be read or holds malformed data.
    pub fn line_at_cut(
        &self,
        clearance: Marking,
        question: &str,
        as_of: Option<&str>,
    ) -> Result<(Cut, Option<Marked<BeliefLine>>), Error> {
        let conn = self.conn()?;
        let tx = conn.unchecked_transaction()?;
        let level = level_in(&tx, clearance)?;
        let cut = cut_in(&tx, level, as_of)?;
        Ok((cut, line_in(&tx, level, question, as_of)?))
    }

    /// [`ViewStore::belief_view`] with its marking and the [`Cut`] it was given at, all read in
    /// one transaction (a projector writing meanwhile cannot put them at different seqs);
    /// `None` if the question was not posed (by then) or is not visible.
    ///
    /// # Errors
    /// If the store cannot be read or holds malformed data.
    pub fn belief_at_cut(
        &self,
        clearance: Marking,
        question: &str,
        as_of: Option<&str>,
        valid_at: Option<Timestamp>,
    ) -> Result<(Cut, Option<Marked<Belief>>), Error> {
        let conn = self.conn()?;
        let tx = conn.unchecked_transaction()?;
        let level = level_in(&tx, clearance)?;
        let cut = cut_in(&tx, level, as_of)?;
        let Some(marking) = line_marking_in(&tx, level, question, as_of)? else {
            return Ok((cut, None));
        };
        let belief = belief_view_in(&tx, clearance, question, as_of, valid_at)?;
        Ok((cut, belief.map(|item| Marked { marking, item })))
    }

    /// [`ViewStore::history`] with the [`Cut`] it was given at, read in one transaction; `None`
    /// if the question was not posed (by then) or is not visible.
    ///
    /// # Errors
    /// If the store cannot be read or holds malformed data.
    pub fn history_at_cut(
        &self,
        clearance: Marking,
        question: &str,
        as_of: Option<&str>,
    ) -> Result<(Cut, Option<MarkedHistory>), Error> {
        let conn = self.conn()?;
        let tx = conn.unchecked_transaction()?;
        let level = level_in(&tx, clearance)?;
        let cut = cut_in(&tx, level, as_of)?;
        if line_marking_in(&tx, level, question, as_of)?.is_none() {
            return Ok((cut, None));
        }
        let history = history_in(&tx, level, question, as_of)?;
        Ok((cut, Some(history)))
    }

    /// One question's belief with full provenance, as a reader cleared for `clearance` sees it,
    /// now or as of a recorded time (see [`ViewStore::beliefs`]); `None` if the question was
    /// not posed (by then) or is not visible. [`ViewStore::belief_view`] without a valid time.
    ///
    /// # Errors
    /// If the store cannot be read or holds malformed data.
    pub fn belief(
        &self,
        clearance: Marking,
        question: &str,
        as_of: Option<&str>,
    ) -> Result<Option<Belief>, Error> {
        self.belief_view(clearance, question, as_of, None)
    }

    /// One question's belief with full provenance as a reader cleared for `clearance` sees it,
    /// as of a recorded time (`None`: the checkpoint), optionally at a valid (world) time;
    /// `None` if the question was not posed (by then) or is not visible.
    ///
    /// The belief is computed from the stored events its view depends on (found through the
    /// `refs` table) that the reader may see (effective marking at most `clearance`), recorded
    /// up to `as_of`, and folded by the belief engine; the log is not read. Its judgment equals
    /// the stored line's at that clearance (a test checks it on every question).
    ///
    /// # Errors
    /// If the store cannot be read or holds malformed data.
    pub fn belief_view(
        &self,
        clearance: Marking,
        question: &str,
        as_of: Option<&str>,
        valid_at: Option<Timestamp>,
    ) -> Result<Option<Belief>, Error> {
        let conn = self.conn()?;
        let tx = conn.unchecked_transaction()?;
        belief_view_in(&tx, clearance, question, as_of, valid_at)
    }

    /// The changes of belief on a question a reader cleared for `clearance` sees, in sequence
    /// order, all of them or those recorded at or before `as_of`.
    ///
    /// A stored change keeps only its reason and the belief after it: the causing event's hash,
    /// recorded time and type are the stored event's, and the belief before a change is the one
    /// after the change before it (none before the first, when the question was posed).
    ///
    /// # Errors
    /// If the store cannot be read or holds malformed JSON.
    pub fn history(
        &self,
        clearance: Marking,
        question: &str,
        as_of: Option<&str>,
    ) -> Result<Vec<Marked<BeliefChange>>, Error> {
        let conn = self.conn()?;
        let tx = conn.unchecked_transaction()?;
        let level = level_in(&tx, clearance)?;
        history_in(&tx, level, question, as_of)
    }

    /// The changes of belief a reader cleared for `clearance` sees that were caused by records
    /// after seq `after`, in sequence order (then by question), up to about `max` of them:
    /// never part of one record's changes (a record's changes all come in one call, even past
    /// `max`), so a follower that asks again from the last seq it received misses nothing.
    ///
    /// # Errors
    /// If the store cannot be read or holds malformed JSON.
    pub fn changes_since(
        &self,
        clearance: Marking,
        after: u64,
        max: usize,
    ) -> Result<Vec<Marked<BeliefChange>>, Error> {
        let conn = self.conn()?;
        let tx = conn.unchecked_transaction()?;
        let Some(level) = level_in(&tx, clearance)? else {
            return Ok(Vec::new());
        };
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let max = i64::try_from(max.max(1)).unwrap_or(i64::MAX);
        // The last seq to include: the max-th change's, so that all of its record's come too.
        let last: Option<i64> = tx
            .query_row(
                "SELECT seq FROM history WHERE level = ?1 AND seq > ?2
                 ORDER BY seq LIMIT 1 OFFSET ?3",
                params![level, after, max - 1],
                |r| r.get(0),
            )
            .optional()?;
        let mut st = tx.prepare(
            "SELECT h.seq, e.hash, e.recorded, e.type, h.reason, h.after, e.marking, h.question
             FROM history h JOIN events e ON e.seq = h.seq
             WHERE h.level = ?1 AND h.seq > ?2 AND (?3 IS NULL OR h.seq <= ?3)
             ORDER BY h.seq, h.question",
        )?;
        let mut before = tx.prepare(
            "SELECT after FROM history WHERE level = ?1 AND question = ?2 AND seq < ?3
             ORDER BY seq DESC LIMIT 1",
        )?;
        let mut rows = st.query(params![level, after, last])?;
        let mut changes = Vec::new();
        while let Some(row) = rows.next()? {
            let question: String = row.get(7)?;
            let seq: i64 = row.get(0)?;
            let qid = EntityId::parse(&question).map_err(|e| Error::Corrupt {
                seq: seq as u64,
                reason: e.to_string(),
            })?;
            let mut change = change_from(&qid, row)?;
            let prior: Option<String> = before
                .query_row(params![level, question, seq], |r| r.get(0))
                .optional()?;
            change.item.before = prior
                .map(|s| serde_json::from_str::<BeliefSummary>(&s))
                .transpose()?;
            changes.push(change);
        }
        Ok(changes)
    }

    /// For each question a reader cleared for `clearance` sees, now or as of a recorded time
    /// (fixed-width form): its text (from its `question.posed` event, if visible) and the last
    /// change of its belief visible at that clearance (the seq and recorded time of the latest
    /// change in its history at the reader's level, recorded by `as_of`), sorted by question.
    /// What a beliefs page needs to search question texts and sort by last change, without
    /// folding any belief.
    ///
    /// # Errors
    /// If the store cannot be read or holds malformed data.
    pub fn line_index(
        &self,
        clearance: Marking,
        as_of: Option<&str>,
    ) -> Result<Vec<LineIndex>, Error> {
        let conn = self.conn()?;
        let tx = conn.unchecked_transaction()?;
        let Some(level) = level_in(&tx, clearance)? else {
            return Ok(Vec::new());
        };
        let mut out: std::collections::BTreeMap<String, LineIndex> =
            std::collections::BTreeMap::new();
        // Every question with a line at the level has its history there; its latest change
        // (by then) is one descent of the history's key per question, not a scan of it all.
        let mut questions = tx.prepare("SELECT question FROM beliefs WHERE level = ?1")?;
        let mut last = tx.prepare(
            "SELECT h.seq, e.recorded FROM history h JOIN events e ON e.seq = h.seq
             WHERE h.level = ?1 AND h.question = ?2 AND (?3 IS NULL OR e.recorded <= ?3)
             ORDER BY h.seq DESC LIMIT 1",
        )?;
        let mut rows = questions.query(params![level])?;
        while let Some(row) = rows.next()? {
            let question: String = row.get(0)?;
            let found = last
                .query_row(params![level, question, as_of], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
                })
                .optional()?;
            if let Some(change) = found {
                out.insert(
                    question.clone(),
                    LineIndex {
                        question,
                        text: None,
                        last_change: Some(change),
                    },
                );
            }
        }
        // The literal type lets SQLite read the questions' partial index.
        let mut st = tx.prepare(
            "SELECT seq, type, schema, body FROM events
             WHERE type = 'question.posed' AND marking <= ?1 AND (?2 IS NULL OR recorded <= ?2)",
        )?;
        debug_assert_eq!(dossier_model::event::QUESTION_POSED, "question.posed");
        let mut rows = st.query(params![i64::from(clearance.rank()), as_of])?;
        while let Some(row) = rows.next()? {
            let seq = row.get::<_, i64>(0)? as u64;
            let event_type: String = row.get(1)?;
            let body = row.get_ref(3)?.as_str().map_err(rusqlite::Error::from)?;
            let event =
                dossier_model::DomainEvent::decode(&event_type, row.get(2)?, body.as_bytes())
                    .map_err(|e| Error::Corrupt {
                        seq,
                        reason: e.to_string(),
                    })?;
            if let dossier_model::DomainEvent::Question(q) = event
                && let Some(entry) = out.get_mut(q.id.as_str())
            {
                entry.text = Some(q.text);
            }
        }
        Ok(out.into_values().collect())
    }

    /// The effective marking of the domain event at `seq` (the most restrictive of its own and
    /// those of everything it references, see the crate documentation); `None` if no domain
    /// event was applied there (a control record, or beyond the checkpoint).
    ///
    /// # Errors
    /// If the store cannot be read or holds a rank that is not a marking.
    pub fn effective_marking(&self, seq: u64) -> Result<Option<Marking>, Error> {
        let conn = self.conn()?;
        let rank: Option<i64> = conn
            .query_row(
                "SELECT marking FROM events WHERE seq = ?1",
                [i64::try_from(seq).unwrap_or(i64::MAX)],
                |r| r.get(0),
            )
            .optional()?;
        rank.map(|r| marking_of(seq, r)).transpose()
    }

    /// [`ViewStore::effective_marking`] of each of `seqs` (those stored), on one connection:
    /// what the exchange exports ask for every event of a question's provenance.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn effective_markings_of(
        &self,
        seqs: impl IntoIterator<Item = u64>,
    ) -> Result<Vec<(u64, Marking)>, Error> {
        let conn = self.conn()?;
        let mut st = conn.prepare("SELECT marking FROM events WHERE seq = ?1")?;
        let mut out = Vec::new();
        for seq in seqs {
            let rank: Option<i64> = st
                .query_row([i64::try_from(seq).unwrap_or(i64::MAX)], |r| r.get(0))
                .optional()?;
            if let Some(rank) = rank {
                out.push((seq, marking_of(seq, rank)?));
            }
        }
        Ok(out)
    }

    /// [`ViewStore::effective_marking`] of every stored domain event with a seq in
    /// `first..=last`, in seq order, read at once (records that are not stored domain events
    /// are left out).
    ///
    /// # Errors
    /// If the store cannot be read or holds a rank that is not a marking.
    pub fn effective_markings(&self, first: u64, last: u64) -> Result<Vec<(u64, Marking)>, Error> {
        let conn = self.conn()?;
        let bound = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        let mut st = conn
            .prepare("SELECT seq, marking FROM events WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq")?;
        let rows = st.query_map([bound(first), bound(last)], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)?))
        })?;
        rows.map(|row| {
            let (seq, rank) = row?;
            Ok((seq, marking_of(seq, rank)?))
        })
        .collect()
    }

    /// The effective marking of the first report naming the text `content_hash` (hex) that a
    /// reader cleared for `clearance` sees, `None` if no such report is visible: what decides
    /// whether the text may be served to them.
    ///
    /// # Errors
    /// If the store cannot be read or holds a rank that is not a marking.
    pub fn text_marking(
        &self,
        clearance: Marking,
        content_hash: &str,
    ) -> Result<Option<Marking>, Error> {
        let conn = self.conn()?;
        let row: Option<(i64, i64)> = conn
            .prepare_cached(
                "SELECT seq, marking FROM events
                 WHERE type = 'report.recorded' AND marking <= ?1
                   AND json_extract(body, '$.content_hash') = ?2
                 ORDER BY seq LIMIT 1",
            )?
            .query_row(params![i64::from(clearance.rank()), content_hash], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        row.map(|(seq, rank)| marking_of(seq as u64, rank))
            .transpose()
    }

    /// The claims quoting report `report` that a reader cleared for `clearance` sees (by their
    /// effective marking), recorded by `as_of` if given (fixed-width form), in seq order.
    ///
    /// # Errors
    /// If the store cannot be read or holds an event that does not decode.
    pub fn report_claims(
        &self,
        clearance: Marking,
        report: &str,
        as_of: Option<&str>,
    ) -> Result<Vec<(u64, dossier_model::Claim)>, Error> {
        let conn = self.conn()?;
        // The type and the expression as the partial index has them, so SQLite reads it.
        let mut st = conn.prepare_cached(
            "SELECT seq, schema, body FROM events
             WHERE type = 'claim.recorded' AND json_extract(body, '$.report') = ?1
               AND marking <= ?2 AND (?3 IS NULL OR recorded <= ?3)
             ORDER BY seq",
        )?;
        let mut rows = st.query(params![report, i64::from(clearance.rank()), as_of])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let seq = row.get::<_, i64>(0)? as u64;
            let body = row.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
            let event = dossier_model::DomainEvent::decode(
                dossier_model::event::CLAIM_RECORDED,
                row.get(1)?,
                body.as_bytes(),
            )
            .map_err(|e| Error::Corrupt {
                seq,
                reason: e.to_string(),
            })?;
            if let dossier_model::DomainEvent::Claim(c) = event {
                out.push((seq, c));
            }
        }
        Ok(out)
    }

    /// Number of stored versions (all questions), for diagnostics and tests.
    ///
    /// # Errors
    /// If the store cannot be read.
    pub fn version_count(&self) -> Result<u64, Error> {
        Ok(self
            .conn()?
            .query_row("SELECT COUNT(*) FROM belief_versions", [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
    }
}

/// A stored change of belief from a row (`seq, hash, recorded, type, reason, after, marking`),
/// without the belief before it.
fn change_from(
    question: &EntityId,
    row: &rusqlite::Row<'_>,
) -> Result<Marked<BeliefChange>, Error> {
    let seq = row.get::<_, i64>(0)? as u64;
    let corrupt = |reason: String| Error::Corrupt { seq, reason };
    let hash = stored_hash(seq, row.get_ref(1)?)?;
    let recorded: String = row.get(2)?;
    let recorded = Timestamp::parse(&recorded).map_err(|e| corrupt(e.to_string()))?;
    let after: BeliefSummary =
        serde_json::from_str(row.get_ref(5)?.as_str().map_err(rusqlite::Error::from)?)?;
    Ok(Marked {
        marking: marking_of(seq, row.get(6)?)?,
        item: BeliefChange {
            question: question.clone(),
            seq,
            hash,
            recorded,
            event_type: row.get(3)?,
            before: None,
            after,
            reason: row.get(4)?,
        },
    })
}

/// The level a reader cleared for `clearance` is served from (see [`crate::levels`]); `None`:
/// it sees no event.
fn level_in(tx: &Connection, clearance: Marking) -> Result<Option<u8>, Error> {
    let top: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = 'top'", [], |r| r.get(0))
        .optional()?;
    let top = top.and_then(|t| t.parse::<u8>().ok());
    let mut st = tx.prepare_cached("SELECT level FROM levels")?;
    let existing: Vec<u8> = st
        .query_map([], |r| r.get::<_, i64>(0))?
        .filter_map(|l| l.ok().and_then(|l| u8::try_from(l).ok()))
        .collect();
    Ok(crate::levels::level_for(clearance.rank(), top, &existing))
}

/// [`ViewStore::digest`] in a transaction, for a level (`None`: the digest of no lines).
fn digest_in(tx: &Connection, level: Option<u8>) -> Result<Option<String>, Error> {
    let Some(cp) = read_checkpoint(tx)? else {
        return Ok(None);
    };
    let Some(level) = level else {
        return Ok(Some(LineSum::default().digest(POLICY_VERSION)));
    };
    let stored: Option<String> = tx
        .query_row("SELECT digest FROM levels WHERE level = ?1", [level], |r| {
            r.get(0)
        })
        .optional()?
        .flatten();
    if digest_seq(tx)? == cp.seq
        && let Some(d) = stored
    {
        return Ok(Some(d));
    }
    // The digest of the stored lines, each hashed exactly as stored (see `LineSum`).
    let mut sum = LineSum::default();
    let mut st = tx.prepare("SELECT line FROM beliefs WHERE level = ?1")?;
    let mut rows = st.query([level])?;
    while let Some(row) = rows.next()? {
        let line = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
        sum.add(LineHash::of(POLICY_VERSION, line.as_bytes()));
    }
    Ok(Some(sum.digest(POLICY_VERSION)))
}

/// [`ViewStore::cut`] in a transaction, for a level (`None`: the digest of no lines).
fn cut_in(tx: &Connection, level: Option<u8>, as_of: Option<&str>) -> Result<Cut, Error> {
    let empty = || LineSum::default().digest(POLICY_VERSION);
    let Some(t) = as_of else {
        let seq = read_checkpoint(tx)?.map_or(0, |c| c.seq);
        let digest = digest_in(tx, level)?.unwrap_or_else(empty);
        return Ok(Cut { seq, digest });
    };
    // Every level holds every recorded time's cut (a level born later got copies); level 4
    // always exists, so it gives the seq for a reader who sees nothing.
    let row: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, digest FROM times WHERE level = ?1 AND recorded <= ?2
             ORDER BY recorded DESC LIMIT 1",
            params![level.unwrap_or(crate::levels::TOP), t],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match row {
        Some((seq, digest)) => Cut {
            seq: seq as u64,
            digest: if level.is_some() { digest } else { empty() },
        },
        None => Cut {
            seq: 0,
            digest: empty(),
        },
    })
}

/// [`ViewStore::line_marking`] in a transaction, at a level (`None`: nothing is visible).
fn line_marking_in(
    tx: &Connection,
    level: Option<u8>,
    question: &str,
    as_of: Option<&str>,
) -> Result<Option<Marking>, Error> {
    Ok(line_in(tx, level, question, as_of)?.map(|l| l.marking))
}

/// [`ViewStore::line_at_cut`]'s line, in a transaction.
fn line_in(
    tx: &Connection,
    level: Option<u8>,
    question: &str,
    as_of: Option<&str>,
) -> Result<Option<Marked<BeliefLine>>, Error> {
    let Some(level) = level else {
        return Ok(None);
    };
    let row: Option<(i64, i64, String)> = match as_of {
        None => tx
            .prepare_cached(
                "SELECT seq, marking, line FROM beliefs WHERE level = ?1 AND question = ?2",
            )?
            .query_row(params![level, question], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?,
        Some(t) => tx
            .prepare_cached(
                "SELECT seq, marking, line FROM belief_versions
                 WHERE level = ?1 AND question = ?2 AND recorded <= ?3
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row(params![level, question, t], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?,
    };
    row.map(|(seq, rank, line)| {
        Ok(Marked {
            marking: marking_of(seq as u64, rank)?,
            item: serde_json::from_str(&line)?,
        })
    })
    .transpose()
}

/// [`ViewStore::belief_view`] in a transaction.
fn belief_view_in(
    tx: &Connection,
    clearance: Marking,
    question: &str,
    as_of: Option<&str>,
    valid_at: Option<Timestamp>,
) -> Result<Option<Belief>, Error> {
    let Ok(qid) = EntityId::parse(question) else {
        return Ok(None);
    };
    let bound = match as_of {
        None => read_checkpoint(tx)?.map_or(0, |c| c.seq),
        Some(t) => tx
            .query_row(
                "SELECT MAX(seq) FROM times WHERE level = ?1 AND recorded <= ?2",
                params![crate::levels::TOP, t],
                |r| r.get::<_, Option<i64>>(0),
            )?
            .map_or(0, |s| s as u64),
    };
    // The current view, when it is materialised at the reader's level: its events read
    // directly (see `materialised.rs`).
    if as_of.is_none()
        && valid_at.is_none()
        && let Some(level) = level_in(tx, clearance)?
        && let Some(g) = crate::materialised::read(tx, level, question, clearance.rank())?
    {
        return Ok(g.engine().belief(&qid, None));
    }
    let Some(g) = crate::provenance::gather(tx, &qid, bound, clearance.rank())? else {
        return Ok(None);
    };
    Ok(g.engine().belief(&qid, valid_at))
}

/// [`ViewStore::history`] in a transaction, at a level (`None`: nothing is visible).
fn history_in(
    tx: &Connection,
    level: Option<u8>,
    question: &str,
    as_of: Option<&str>,
) -> Result<Vec<Marked<BeliefChange>>, Error> {
    let Some(level) = level else {
        return Ok(Vec::new());
    };
    let Ok(qid) = EntityId::parse(question) else {
        return Ok(Vec::new());
    };
    let mut st = tx.prepare_cached(
        "SELECT h.seq, e.hash, e.recorded, e.type, h.reason, h.after, e.marking
         FROM history h JOIN events e ON e.seq = h.seq
         WHERE h.level = ?1 AND h.question = ?2 AND (?3 IS NULL OR e.recorded <= ?3)
         ORDER BY h.seq",
    )?;
    let mut rows = st.query(params![level, question, as_of])?;
    let mut changes: Vec<Marked<BeliefChange>> = Vec::new();
    while let Some(row) = rows.next()? {
        let mut change = change_from(&qid, row)?;
        change.item.before = changes.last().map(|c| c.item.after.clone());
        changes.push(change);
    }
    Ok(changes)
}
