//! Changing a layout-2 ledger file behind dossier's back, for tamper tests (feature `tamper`):
//! what someone with write access to the file and the `sqlite3` shell can do once the
//! immutability triggers are dropped.
//!
//! [`entries`] reads a batch row as its records' bytes with the hash each was stored with;
//! [`set_entries`] writes a batch row back from such a list (re-framed, with the seq index
//! rewritten to agree with the new frame: the careful tamperer), keeping the row's first seq,
//! count and seal hash as they were. Everything else is plain SQL on the connection.

use dossier_chain::{ENTRY_OVERHEAD, Hash};
use rusqlite::{Connection, params};

/// One record of a batch row: its bytes, and the hash its index row records.
pub type Entry = (Vec<u8>, Hash);

/// Opens the file with the immutability triggers dropped.
///
/// # Panics
/// If the file cannot be opened or has no triggers to drop.
#[must_use]
pub fn open(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).expect("open the ledger file");
    conn.execute_batch(
        "DROP TRIGGER batches_no_update; DROP TRIGGER batches_no_delete;
         DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete;",
    )
    .expect("drop the triggers");
    conn
}

/// The first seq of the batch row holding `seq`.
///
/// # Panics
/// If there is none.
#[must_use]
pub fn batch_of(conn: &Connection, seq: u64) -> u64 {
    conn.query_row(
        "SELECT max(first) FROM batches WHERE first <= ?1",
        [seq],
        |r| r.get(0),
    )
    .expect("a batch holds the seq")
}

/// Every batch row's first seq, in order.
///
/// # Panics
/// If the query fails.
#[must_use]
pub fn batches(conn: &Connection) -> Vec<u64> {
    conn.prepare("SELECT first FROM batches ORDER BY first")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// The records of the batch row starting at `first`, with their stored hashes.
///
/// # Panics
/// If the row or its index rows are missing or do not agree with the frame.
#[must_use]
pub fn entries(conn: &Connection, first: u64) -> Vec<Entry> {
    let (count, frame): (u64, Vec<u8>) = conn
        .query_row(
            "SELECT count, frame FROM batches WHERE first = ?1",
            [first],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the batch row");
    let mut out = Vec::new();
    let mut at = 0;
    for i in 0..count {
        let len = u32::from_be_bytes(frame[at..at + 4].try_into().expect("4 bytes")) as usize;
        at += ENTRY_OVERHEAD;
        let hash: Vec<u8> = conn
            .query_row(
                "SELECT hash FROM records WHERE seq = ?1",
                [first + i],
                |r| r.get(0),
            )
            .expect("the index row");
        out.push((
            frame[at..at + len].to_vec(),
            Hash(hash.try_into().expect("32 bytes")),
        ));
        at += len;
    }
    out
}

/// The bytes of the record at `seq`.
///
/// # Panics
/// As [`entries`].
#[must_use]
pub fn record(conn: &Connection, seq: u64) -> Vec<u8> {
    let first = batch_of(conn, seq);
    entries(conn, first)
        .swap_remove(usize::try_from(seq - first).expect("index"))
        .0
}

/// Rewrites the batch row starting at `first` to hold `entries` (framed without any check),
/// and its seq index rows to agree with it: the rows of the positions the batch used to hold
/// are replaced by one row per entry, at `first`, `first + 1`, ...; the row's count and seal
/// hash are left as they were.
///
/// # Panics
/// If the SQL fails.
pub fn set_entries(conn: &Connection, first: u64, entries: &[Entry]) {
    let old: u64 = conn
        .query_row("SELECT count FROM batches WHERE first = ?1", [first], |r| {
            r.get(0)
        })
        .expect("the batch row");
    let mut frame = Vec::new();
    let mut rows = Vec::new();
    for (i, (bytes, hash)) in entries.iter().enumerate() {
        frame.extend_from_slice(&u32::try_from(bytes.len()).expect("u32").to_be_bytes());
        rows.push((first + i as u64, frame.len(), bytes.len(), *hash));
        frame.extend_from_slice(bytes);
    }
    conn.execute(
        "UPDATE batches SET frame = ?1 WHERE first = ?2",
        params![frame, first],
    )
    .expect("update the frame");
    conn.execute(
        "DELETE FROM records WHERE seq >= ?1 AND seq < ?2",
        params![first, first + old.max(entries.len() as u64)],
    )
    .expect("delete index rows");
    for (seq, offset, length, hash) in rows {
        conn.execute(
            "INSERT INTO records (seq, batch, offset, length, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![seq, first, offset, length, &hash.0[..]],
        )
        .expect("insert index row");
    }
}

/// Replaces the bytes of the record at `seq` inside its batch row, keeping the hash its index
/// row recorded (so verification finds the change at `seq`).
///
/// # Panics
/// As [`set_entries`].
pub fn set_record(conn: &Connection, seq: u64, bytes: &[u8]) {
    let first = batch_of(conn, seq);
    let mut all = entries(conn, first);
    all[usize::try_from(seq - first).expect("index")].0 = bytes.to_vec();
    set_entries(conn, first, &all);
}

/// Removes every record after `keep`: the batch rows after it, the index rows after it, and
/// the tail of the batch row holding `keep` if `keep` is not its last record (that row then
/// says it holds the records kept, sealed by the last of them: a careful tamperer).
///
/// # Panics
/// If the SQL fails.
pub fn truncate_after(conn: &Connection, keep: u64) {
    if keep > 0 {
        let first = batch_of(conn, keep);
        let mut all = entries(conn, first);
        let kept = usize::try_from(keep - first + 1).expect("index");
        if kept < all.len() {
            all.truncate(kept);
            set_entries(conn, first, &all);
            let seal = Hash::of_record(&all[kept - 1].0);
            conn.execute(
                "UPDATE batches SET count = ?1, seal = ?2, ids = substr(ids, 1, ?3) WHERE first = ?4",
                params![kept, &seal.0[..], kept * 16, first],
            )
            .expect("update the batch row");
        }
    }
    conn.execute("DELETE FROM batches WHERE first > ?1", [keep])
        .expect("delete batch rows");
    conn.execute("DELETE FROM records WHERE seq > ?1", [keep])
        .expect("delete index rows");
}

/// Appends `records` (a batch built on the file's head) as the backend would store them — one
/// batch row with its frame, ids, count, seal hash and recorded time, one seq index row per
/// record — but without the idempotency check: how an event is forced into the ledger twice.
///
/// # Panics
/// If the SQL fails.
pub fn append_unchecked(conn: &Connection, records: &[dossier_chain::EncodedRecord]) {
    let first = records.first().expect("records").seq;
    let last = records.last().expect("records");
    let mut frame = Vec::new();
    let mut ids = Vec::new();
    let mut rows = Vec::new();
    for r in records {
        frame.extend_from_slice(&u32::try_from(r.bytes.len()).expect("u32").to_be_bytes());
        rows.push((r.seq, frame.len(), r.bytes.len(), r.hash));
        frame.extend_from_slice(&r.bytes);
        ids.extend_from_slice(&r.event_id.0);
    }
    conn.execute(
        "INSERT INTO batches (first, count, seal, recorded, ids, frame) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![first, records.len(), &last.hash.0[..], last.recorded, ids, frame],
    )
    .expect("insert the batch row");
    for (seq, offset, length, hash) in rows {
        conn.execute(
            "INSERT INTO records (seq, batch, offset, length, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![seq, first, offset, length, &hash.0[..]],
        )
        .expect("insert index row");
    }
}

/// Removes the event ids of the batch row starting at `first` from the idempotency index (its
/// `ids` column), leaving its records alone.
///
/// # Panics
/// If the SQL fails.
pub fn forget_ids(conn: &Connection, first: u64) {
    conn.execute("UPDATE batches SET ids = X'' WHERE first = ?1", [first])
        .expect("clear the ids column");
}
