//! The writing thread: one SQLite transaction per page of applied records, with its checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use dossier_beliefs::{BeliefChange, BeliefLine, LineHash, LineSum, POLICY_VERSION, line_hash};
use dossier_chain::Hash;
use rusqlite::types::Value;
use rusqlite::{Connection, params};

use crate::Error;
use crate::levels::{Birth, Level, TOP};
use crate::materialised::{self, Watches};
use crate::projector::file_id;
use crate::store::read_checkpoint;

/// What a store built aside by [`rebuild`] leaves to the end, where it is written in one go
/// ([`Aside::finish`]): the reference keys, kept in memory instead of inserted at random
/// places in `refs`, and the current lines (meanwhile only line versions are written).
#[derive(Debug, Default)]
pub(crate) struct Aside {
    pub(crate) refs: Vec<(i64, i64)>,
}

impl Aside {
    /// Inserts the reference keys sorted, in one transaction (rows go to the end of the table's
    /// b-tree, several per statement), and makes each question's current line its latest
    /// version (SQLite takes the bare columns from the row holding the maximum).
    pub(crate) fn finish(mut self, conn: &mut Connection) -> Result<(), Error> {
        self.refs.sort_unstable();
        self.refs.dedup();
        let tx = conn.transaction()?;
        let mut batch = Batched::new("INSERT INTO refs (key, seq) VALUES", "(?, ?)");
        for &(key, seq) in &self.refs {
            batch.push(&tx, [Value::Integer(key), Value::Integer(seq)])?;
        }
        batch.flush(&tx)?;
        tx.execute_batch(
            "INSERT INTO beliefs (level, question, seq, recorded, marking, line)
             SELECT level, question, MAX(seq), recorded, marking, line FROM belief_versions
             GROUP BY level, question",
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// What the applying thread hands the writing thread.
pub(crate) enum Write {
    /// A page starts: open its transaction, if the store is still at `start` (and the file
    /// the one opened).
    Begin { start: u64 },
    /// The page applied nothing (a broken chain at its first record): roll back.
    Abort,
    /// The highest effective rank that occurred is now this one (see [`crate::levels`]).
    Top(u8),
    /// A clearance level is born (before the event that needs it): copy the stored rows of
    /// the level it was born from (see [`crate::levels`]).
    Birth(Birth),
    /// A domain event: its row, its reference keys and the changes of belief it caused at each
    /// level.
    Event {
        seq: i64,
        hash: Hash,
        recorded: String,
        event_type: String,
        schema: u32,
        marking: u8,
        body: String,
        refs: Vec<i64>,
        changes: Vec<(u8, Vec<BeliefChange>)>,
    },
    /// The end of a group of events recorded at one time: the lines of one level that changed,
    /// stamped with the last event of the group that level applied.
    Lines {
        level: u8,
        seq: i64,
        recorded: String,
        /// Each line with its marking rank.
        lines: Vec<(BeliefLine, u8)>,
    },
    /// The end of the records of one recorded time (so far): the last record's seq; each
    /// level's cut digest is that of its lines as written up to here.
    Cut { recorded: String, seq: u64 },
    /// Write the checkpoint (and the digest of all current lines, at the head) and commit.
    Commit {
        seq: u64,
        hash: String,
        digest: bool,
    },
}

/// Writes sent in one message.
pub(crate) const OPS_PER_SEND: usize = 256;

/// What the writer reports per page.
pub(crate) enum Outcome {
    /// The page's transaction was committed with checkpoint `seq` (and the digest).
    Committed { seq: u64, digest: bool },
    /// The store was not this projector's any more; the page was not written.
    Lost,
}

/// The applying side of the channel to the writer, buffering writes.
pub(crate) struct Output {
    pub(crate) ops: Vec<Write>,
    pub(crate) sender: std::sync::mpsc::SyncSender<Vec<Write>>,
    /// The writer stopped (its error says why).
    pub(crate) closed: bool,
}

impl Output {
    pub(crate) fn push(&mut self, op: Write) -> Result<(), Error> {
        self.ops.push(op);
        if self.ops.len() >= OPS_PER_SEND {
            self.send()?;
        }
        Ok(())
    }

    /// Sends what is buffered; an error means the writer stopped.
    pub(crate) fn send(&mut self) -> Result<(), Error> {
        if self.ops.is_empty() || self.closed {
            return if self.closed {
                Err(Error::Stopped)
            } else {
                Ok(())
            };
        }
        let ops = std::mem::replace(&mut self.ops, Vec::with_capacity(OPS_PER_SEND));
        if self.sender.send(ops).is_err() {
            self.closed = true;
            return Err(Error::Stopped);
        }
        Ok(())
    }
}

/// The writing thread of [`Projector::pump_once`]: for each page, opens a transaction under
/// the store's write lock, checks that the store is still this projector's (see
/// [`still_ours`]; if not, reports [`Outcome::Lost`] and skips the page), writes what it
/// receives and commits on [`Write::Commit`]. An unfinished page (an error, the applying side
/// stopping) is rolled back.
pub(crate) fn write_pages(
    conn: &mut Connection,
    mut target: Target<'_>,
    ops: &std::sync::mpsc::Receiver<Vec<Write>>,
    done: &std::sync::mpsc::Sender<Outcome>,
) -> Result<(), Error> {
    let mut open = false;
    let result = write_ops(conn, &mut target, ops, done, &mut open);
    if open {
        let _ = conn.execute_batch("ROLLBACK");
        target.watches.forget();
    }
    result
}

/// The store the writing thread writes to.
pub(crate) struct Target<'a> {
    pub(crate) path: &'a Path,
    pub(crate) file_id: Option<(u64, u64)>,
    /// The digest of the lines written, moved on with every line.
    pub(crate) sums: &'a mut Sums,
    /// See [`Projector::aside`].
    pub(crate) aside: Option<&'a mut Aside>,
    /// The materialised rows' keys, to remove those a page's events can change.
    pub(crate) watches: &'a mut Watches,
}

fn write_ops(
    conn: &Connection,
    target: &mut Target<'_>,
    ops: &std::sync::mpsc::Receiver<Vec<Write>>,
    done: &std::sync::mpsc::Sender<Outcome>,
    open: &mut bool,
) -> Result<(), Error> {
    // Whether the current page is being skipped (the store was not ours).
    let mut skipping = false;
    let mut events = events_batch();
    let mut history = history_batch();
    for batch in ops {
        for op in batch {
            match op {
                Write::Begin { start } => {
                    conn.execute_batch("BEGIN IMMEDIATE")?;
                    *open = true;
                    skipping = !still_ours(conn, target.path, target.file_id, start)?;
                    if skipping {
                        conn.execute_batch("ROLLBACK")?;
                        *open = false;
                        let _ = done.send(Outcome::Lost);
                    }
                }
                _ if skipping => {}
                Write::Top(rank) => set_meta(conn, "top", &rank.to_string())?,
                Write::Birth(birth) => {
                    history.flush(conn)?;
                    copy_level(conn, birth)?;
                    target.sums.born(birth);
                }
                Write::Abort => {
                    events.clear();
                    history.clear();
                    conn.execute_batch("ROLLBACK")?;
                    *open = false;
                    target.watches.forget();
                }
                Write::Event {
                    seq,
                    hash,
                    recorded,
                    event_type,
                    schema,
                    marking,
                    body,
                    refs,
                    changes,
                } => {
                    if let Some(aside) = target.aside.as_deref_mut() {
                        aside.refs.extend(refs.iter().map(|&key| (key, seq)));
                    } else {
                        let mut add_ref = conn.prepare_cached(
                            "INSERT OR IGNORE INTO refs (key, seq) VALUES (?1, ?2)",
                        )?;
                        for key in &refs {
                            add_ref.execute(params![key, seq])?;
                        }
                        // A store built aside has no materialised rows yet.
                        target.watches.invalidate(conn, &refs)?;
                    }
                    for (level, c) in changes
                        .into_iter()
                        .flat_map(|(l, cs)| cs.into_iter().map(move |c| (l, c)))
                    {
                        let after = serde_json::to_string(&c.after)?;
                        history.push(
                            conn,
                            [
                                Value::Integer(i64::from(level)),
                                Value::Text(c.question.as_str().to_owned()),
                                Value::Integer(seq),
                                Value::Text(c.reason),
                                Value::Text(after),
                            ],
                        )?;
                    }
                    events.push(
                        conn,
                        [
                            Value::Integer(seq),
                            Value::Blob(hash.0.to_vec()),
                            Value::Text(recorded),
                            Value::Text(event_type),
                            Value::Integer(i64::from(schema)),
                            Value::Integer(i64::from(marking)),
                            Value::Text(body),
                        ],
                    )?;
                }
                Write::Lines {
                    level,
                    seq,
                    recorded,
                    lines,
                } => {
                    // While a rebuild builds aside, only the versions are written; the current
                    // rows are taken from them at the end.
                    let current = target.aside.is_none();
                    let sums = target.sums.level(level);
                    write_lines(conn, level, seq, &recorded, &lines, current, sums)?;
                }
                Write::Cut { recorded, seq } => {
                    let mut st = conn.prepare_cached(
                        "INSERT INTO times (level, recorded, seq, digest) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (level, recorded) DO UPDATE SET seq = excluded.seq, digest = excluded.digest",
                    )?;
                    for (level, sums) in &target.sums.levels {
                        st.execute(params![level, recorded, seq as i64, sums.digest()])?;
                    }
                }
                Write::Commit { seq, hash, digest } => {
                    events.flush(conn)?;
                    history.flush(conn)?;
                    conn.execute(
                        "INSERT INTO checkpoint (id, seq, hash) VALUES (1, ?1, ?2)
                         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                        params![seq as i64, hash],
                    )?;
                    materialised::mark(conn, seq)?;
                    let with_digest = digest;
                    if digest {
                        write_digest(conn, target.sums, seq)?;
                    }
                    conn.execute_batch("COMMIT")?;
                    *open = false;
                    let _ = done.send(Outcome::Committed {
                        seq,
                        digest: with_digest,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Rows waiting to be inserted [`Batched::ROWS`] per statement into one table: fewer
/// statements for the million rows of a rebuild.
struct Batched {
    /// `INSERT … INTO table (columns) VALUES`: the statement before its value lists.
    insert: &'static str,
    /// The value list of one row, e.g. `(?, ?)`.
    row: &'static str,
    /// The rows' values, one after another.
    values: Vec<Value>,
    rows: usize,
}

impl Batched {
    /// Rows per statement.
    const ROWS: usize = 64;

    fn new(insert: &'static str, row: &'static str) -> Self {
        Batched {
            insert,
            row,
            values: Vec::new(),
            rows: 0,
        }
    }

    fn push<const N: usize>(&mut self, conn: &Connection, row: [Value; N]) -> Result<(), Error> {
        self.values.extend(row);
        self.rows += 1;
        if self.rows >= Self::ROWS {
            self.flush(conn)?;
        }
        Ok(())
    }

    /// Forgets the rows waiting (the page is rolled back).
    fn clear(&mut self) {
        self.values.clear();
        self.rows = 0;
    }

    /// Inserts the rows waiting (before a commit).
    fn flush(&mut self, conn: &Connection) -> Result<(), Error> {
        if self.rows == 0 {
            return Ok(());
        }
        let sql = format!("{} {}", self.insert, vec![self.row; self.rows].join(", "));
        conn.prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(self.values.drain(..)))?;
        self.rows = 0;
        Ok(())
    }
}

fn events_batch() -> Batched {
    Batched::new(
        "INSERT INTO events (seq, hash, recorded, type, schema, marking, body) VALUES",
        "(?, ?, ?, ?, ?, ?, ?)",
    )
}

fn history_batch() -> Batched {
    // The rest of a change is the event's (see `ViewStore::history`).
    Batched::new(
        "INSERT OR REPLACE INTO history (level, question, seq, reason, after) VALUES",
        "(?, ?, ?, ?, ?)",
    )
}

/// Writes lines as the current rows and new versions, and moves the digest on.
fn write_lines(
    tx: &Connection,
    level: u8,
    seq: i64,
    recorded: &str,
    lines: &[(BeliefLine, u8)],
    current_rows: bool,
    sums: &mut LevelSums,
) -> Result<(), Error> {
    let mut current = tx.prepare_cached(
        "INSERT INTO beliefs (level, question, seq, recorded, marking, line) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (level, question) DO UPDATE SET seq = excluded.seq, recorded = excluded.recorded,
         marking = excluded.marking, line = excluded.line",
    )?;
    let mut version = tx.prepare_cached(
        "INSERT OR REPLACE INTO belief_versions (level, question, seq, recorded, marking, line)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (line, marking) in lines {
        let json = serde_json::to_string(line)?;
        let q = line.question.id.as_str();
        sums.replace(q, LineHash::of(POLICY_VERSION, json.as_bytes()));
        if current_rows {
            current.execute(params![level, q, seq, recorded, marking, json])?;
        }
        version.execute(params![level, q, seq, recorded, marking, json])?;
    }
    Ok(())
}

/// Copies the stored rows of the level a new level is born from (its lines, versions, history
/// and cuts); a level born empty gets the cuts of level 4 with the digest of no lines.
fn copy_level(tx: &Connection, birth: Birth) -> Result<(), Error> {
    let to = i64::from(birth.rank);
    tx.execute(
        "INSERT INTO levels (level, digest) VALUES (?1, NULL) ON CONFLICT (level) DO NOTHING",
        [to],
    )?;
    let Some(from) = birth.from.map(i64::from) else {
        let empty = LineSum::default().digest(POLICY_VERSION);
        tx.execute(
            "INSERT INTO times (level, recorded, seq, digest)
             SELECT ?1, recorded, seq, ?2 FROM times WHERE level = ?3",
            params![to, empty, i64::from(TOP)],
        )?;
        return Ok(());
    };
    for sql in [
        "INSERT INTO beliefs (level, question, seq, recorded, marking, line)
         SELECT ?1, question, seq, recorded, marking, line FROM beliefs WHERE level = ?2",
        "INSERT INTO belief_versions (level, question, seq, recorded, marking, line)
         SELECT ?1, question, seq, recorded, marking, line FROM belief_versions WHERE level = ?2",
        "INSERT INTO history (level, question, seq, reason, after)
         SELECT ?1, question, seq, reason, after FROM history WHERE level = ?2",
        "INSERT INTO times (level, recorded, seq, digest)
         SELECT ?1, recorded, seq, digest FROM times WHERE level = ?2",
    ] {
        tx.execute(sql, params![to, from])?;
    }
    Ok(())
}

/// Whether the store, checked under its write lock, is still the file this projector opened and
/// still at the checkpoint it holds in memory. Not so if [`rebuild`] swapped the file (it does
/// so holding the old file's lock) or another process (`dossier beliefs` catching up while a
/// projector runs) applied records meanwhile; the projector then reopens the store, so it
/// never writes to a replaced file nor moves a checkpoint back.
pub(crate) fn still_ours(
    tx: &Connection,
    path: &Path,
    opened: Option<(u64, u64)>,
    applied: u64,
) -> Result<bool, Error> {
    if file_id(path) != opened {
        return Ok(false);
    }
    Ok(read_checkpoint(tx)?.map_or(0, |c| c.seq) == applied)
}

/// Stores each level's digest and the checkpoint they belong to.
pub(crate) fn write_digest(tx: &Connection, sums: &Sums, seq: u64) -> Result<(), Error> {
    let mut st = tx.prepare_cached(
        "INSERT INTO levels (level, digest) VALUES (?1, ?2)
         ON CONFLICT (level) DO UPDATE SET digest = excluded.digest",
    )?;
    for (level, s) in &sums.levels {
        st.execute(params![level, s.digest()])?;
    }
    set_meta(tx, "digest_seq", &seq.to_string())
}

/// Sets a `meta` value.
fn set_meta(tx: &Connection, key: &str, value: &str) -> Result<(), Error> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// The digests of every level's current lines, kept by the writing thread (see
/// [`crate::levels`]).
#[derive(Debug)]
pub(crate) struct Sums {
    pub(crate) levels: BTreeMap<u8, LevelSums>,
}

impl Default for Sums {
    fn default() -> Self {
        Sums {
            levels: BTreeMap::from([(TOP, LevelSums::default())]),
        }
    }
}

impl Sums {
    /// The sums of the levels' cached lines.
    pub(crate) fn of(levels: &[Level]) -> Sums {
        Sums {
            levels: levels
                .iter()
                .map(|l| {
                    (
                        l.rank,
                        LevelSums::of(l.cache.values().map(|(line, _)| line)),
                    )
                })
                .collect(),
        }
    }

    /// One level's sums (created empty if it has none yet).
    pub(crate) fn level(&mut self, level: u8) -> &mut LevelSums {
        self.levels.entry(level).or_default()
    }

    /// A level is born (see [`Write::Birth`]).
    fn born(&mut self, birth: Birth) {
        let sums = birth
            .from
            .and_then(|f| self.levels.get(&f).cloned())
            .unwrap_or_default();
        self.levels.insert(birth.rank, sums);
    }

    /// The digest of one level's lines (of no lines for a level that does not exist).
    pub(crate) fn digest(&self, level: u8) -> String {
        self.levels
            .get(&level)
            .map_or_else(|| LevelSums::default().digest(), LevelSums::digest)
    }
}

/// The digest of one level's current lines (see [`LineSum`]), kept up to date line by line:
/// each question's line hash and their sum. Cuts and the checkpoint take their digest from it.
#[derive(Clone, Debug, Default)]
pub(crate) struct LevelSums {
    sum: LineSum,
    lines: HashMap<String, LineHash>,
}

impl LevelSums {
    /// The sums of the given lines.
    pub(crate) fn of<'a>(lines: impl IntoIterator<Item = &'a BeliefLine>) -> LevelSums {
        let mut sums = LevelSums::default();
        for line in lines {
            sums.replace(line.question.id.as_str(), line_hash(line));
        }
        sums
    }

    /// A question's line is now the one hashing to `hash`.
    pub(crate) fn replace(&mut self, question: &str, hash: LineHash) {
        match self.lines.get_mut(question) {
            Some(old) => {
                self.sum.remove(*old);
                *old = hash;
            }
            None => {
                self.lines.insert(question.to_owned(), hash);
            }
        }
        self.sum.add(hash);
    }

    /// The digest of the lines.
    pub(crate) fn digest(&self) -> String {
        self.sum.digest(POLICY_VERSION)
    }
}
