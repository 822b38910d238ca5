//! Tampering with a stored ledger (on a copy, with the immutability triggers dropped): every
//! change is found and located; a re-chained forgery fails only because the root is pinned.

use dossier_chain::{BatchBuilder, Genesis, GenesisBody, Hash, Head, RecordView, Signer};
use dossier_log::{EventLog as _, SqliteLog, tamper};
use rusqlite::{Connection, params};
use serde_json::Value;

use crate::support::{Ledger, copy_ledger};

/// A copy of a ledger holding the examples, opened with the triggers dropped.
fn tamperable(base: &Ledger) -> (Ledger, Connection) {
    let copy = copy_ledger(base);
    let conn = tamper::open(&copy.db());
    (copy, conn)
}

/// Runs `verify` (text and JSON); checks exit 5, the summary line, and returns the failures as
/// `(seq, kind)`.
#[track_caller]
pub(crate) fn failures(l: &Ledger) -> Vec<(u64, String)> {
    let (code, v) = l.verify_json();
    assert_eq!(code, 5, "{v}");
    assert_eq!(v["ok"], false);
    let list: Vec<(u64, String)> = v["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| {
            (
                f["seq"].as_u64().expect("seq"),
                f["kind"].as_str().expect("kind").to_owned(),
            )
        })
        .collect();
    let text = l.run(&["verify"]);
    text.expect_code(5);
    for (seq, kind) in &list {
        assert!(
            text.stdout.contains(&format!("FAIL seq {seq}: {kind}: ")),
            "{}",
            text.stdout
        );
    }
    let (seq, kind) = &list[0];
    assert!(
        text.stderr.contains(&format!(
            "verification FAILED: {} failure(s); first at seq {seq}: {kind}",
            list.len()
        )),
        "{}",
        text.stderr
    );
    list
}

fn f(seq: u64, kind: &str) -> (u64, String) {
    (seq, kind.to_owned())
}

#[test]
fn a_good_ledger_verifies_and_the_triggers_refuse_changes() {
    let l = Ledger::with_examples();
    let (code, v) = l.verify_json();
    assert_eq!(code, 0);
    assert_eq!(v["ok"], true);
    assert_eq!(v["failures"], Value::Array(Vec::new()));
    assert_eq!(
        (
            v["records"].as_u64(),
            v["last_seq"].as_u64(),
            v["last_sealed"].as_u64()
        ),
        (Some(58), Some(58), Some(58))
    );
    assert_eq!(v["pinned"], true);
    let text = l.run(&["verify"]);
    assert!(
        text.ok().stdout.contains("matches the pinned trust root"),
        "{}",
        text.stdout
    );

    let conn = Connection::open(l.db()).expect("open");
    for sql in [
        "UPDATE batches SET frame = x'00' WHERE first = 3",
        "DELETE FROM batches WHERE first = 3",
        "UPDATE records SET hash = x'00' WHERE seq = 21",
        "DELETE FROM records WHERE seq = 58",
    ] {
        let err = conn.execute(sql, []).expect_err(sql);
        assert!(
            err.to_string().contains("dossier records are immutable"),
            "{sql}: {err}"
        );
    }
    drop(conn);
    assert_eq!(l.verify_json().0, 0);
}

/// Record 21 (claim:rok-mnd/containers-2024-02, ~6,700) with the figure changed.
fn changed_21(conn: &Connection) -> Vec<u8> {
    let mut bytes = tamper::record(conn, 21);
    let at = bytes
        .windows(4)
        .position(|w| w == b"6700")
        .expect("the figure is in the record");
    bytes[at] = b'7';
    bytes
}

#[test]
fn one_changed_byte_is_changed_bytes_at_that_seq() {
    let base = Ledger::with_examples();
    let (l, conn) = tamperable(&base);
    // Record 21 is in the middle of batch 3..=24.
    let bytes = changed_21(&conn);
    tamper::set_record(&conn, 21, &bytes);
    assert_eq!(failures(&l), vec![f(21, "changed_bytes")]);
}

#[test]
fn changed_bytes_with_a_matching_hash_breaks_the_next_link() {
    let base = Ledger::with_examples();
    let (l, conn) = tamperable(&base);
    let bytes = changed_21(&conn);
    let mut all = tamper::entries(&conn, 3);
    all[18] = (bytes.clone(), Hash::of_record(&bytes));
    tamper::set_entries(&conn, 3, &all);
    assert_eq!(failures(&l), vec![f(22, "broken_link")]);
}

#[test]
fn a_byte_flipped_in_a_frame_row_is_found_at_its_record() {
    let base = Ledger::with_examples();
    // A byte of record 21 flipped in place, inside the batch row's blob (the index untouched).
    let (l, conn) = tamperable(&base);
    let offset: i64 = conn
        .query_row("SELECT offset FROM records WHERE seq = 21", [], |r| {
            r.get(0)
        })
        .expect("index row");
    let mut frame: Vec<u8> = conn
        .query_row("SELECT frame FROM batches WHERE first = 3", [], |r| {
            r.get(0)
        })
        .expect("batch row");
    frame[usize::try_from(offset).expect("offset") + 40] ^= 0x01;
    conn.execute(
        "UPDATE batches SET frame = ?1 WHERE first = 3",
        params![frame],
    )
    .expect("tamper");
    assert_eq!(failures(&l)[0], f(21, "changed_bytes"));

    // A byte of record 21's length prefix: the frame no longer decodes there.
    let (l, conn) = tamperable(&base);
    let mut frame: Vec<u8> = conn
        .query_row("SELECT frame FROM batches WHERE first = 3", [], |r| {
            r.get(0)
        })
        .expect("batch row");
    frame[usize::try_from(offset).expect("offset") - 4] ^= 0x80;
    conn.execute(
        "UPDATE batches SET frame = ?1 WHERE first = 3",
        params![frame],
    )
    .expect("tamper");
    let found = failures(&l);
    assert_eq!(found[0], f(21, "bad_frame"), "{found:?}");
    // Verification goes on with the next batch row: nothing else is reported after it.
    assert!(found.iter().all(|(seq, _)| *seq <= 24), "{found:?}");
    let text = l.run(&["verify"]).stdout;
    assert!(
        text.contains("FAIL seq 21: bad_frame: batch 3: record 18 of the framed batch announces"),
        "{text}"
    );
    // And a reader of that batch is refused, naming the seq.
    let out = l.run(&["show", "21"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("seq 21"), "{}", out.stderr);

    // The seq index moved off its record: the view would show other bytes.
    let (l, conn) = tamperable(&base);
    conn.execute("UPDATE records SET offset = offset + 1 WHERE seq = 21", [])
        .expect("tamper");
    assert_eq!(failures(&l), vec![f(21, "bad_frame")]);
}

#[test]
fn a_deleted_record_is_a_gap_at_its_seq() {
    let base = Ledger::with_examples();
    let (l, conn) = tamperable(&base);
    let mut all = tamper::entries(&conn, 3);
    all.remove(18);
    tamper::set_entries(&conn, 3, &all);
    let found = failures(&l);
    assert_eq!(found[0], f(21, "gap"), "{found:?}");
    // The batch's seal (now at 23) no longer counts its records, and the row holds one record
    // fewer than it says.
    assert!(found.contains(&f(23, "bad_seal")), "{found:?}");
    assert!(found.contains(&f(24, "bad_frame")), "{found:?}");
    assert!(found.iter().all(|(seq, _)| *seq <= 24), "{found:?}");
    let text = l.run(&["verify"]).stdout;
    assert!(
        text.contains("FAIL seq 21: gap: record 21 is missing"),
        "{text}"
    );
}

#[test]
fn a_record_duplicated_inside_a_batch_row_is_a_duplicate_at_the_copy() {
    let base = Ledger::with_examples();
    let (l, conn) = tamperable(&base);
    let mut all = tamper::entries(&conn, 3);
    all.insert(19, all[18].clone());
    tamper::set_entries(&conn, 3, &all);
    let found = failures(&l);
    assert_eq!(found[0], f(22, "duplicate"), "{found:?}");
    assert!(
        found.iter().any(|(seq, k)| *seq == 25 && k == "bad_frame"),
        "{found:?}"
    );
}

#[test]
fn whole_batch_rows_swapped_or_deleted_are_found_at_their_first_seq() {
    let base = Ledger::with_examples();
    let (l, conn) = tamperable(&base);
    let batches = tamper::batches(&conn);
    assert!(batches.len() >= 4, "{batches:?}");
    let (a, b) = (batches[2], batches[3]);
    // Swap two batch rows' contents (blob, count, seal, ids), keeping each row's first seq.
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE t AS SELECT * FROM batches WHERE first IN ({a}, {b});
         UPDATE batches SET (count, seal, recorded, ids, frame) =
           (SELECT count, seal, recorded, ids, frame FROM t WHERE t.first = {b}) WHERE first = {a};
         UPDATE batches SET (count, seal, recorded, ids, frame) =
           (SELECT count, seal, recorded, ids, frame FROM t WHERE t.first = {a}) WHERE first = {b};"
    ))
    .expect("swap rows");
    let found = failures(&l);
    assert_eq!(found[0].0, a, "{found:?}");

    // A whole batch row deleted, with its index rows: a gap at its first seq.
    let (l, conn) = tamperable(&base);
    let (first, next) = (batches[2], batches[3]);
    conn.execute("DELETE FROM batches WHERE first = ?1", [first])
        .expect("delete row");
    conn.execute(
        "DELETE FROM records WHERE seq >= ?1 AND seq < ?2",
        [first, next],
    )
    .expect("delete index rows");
    let found = failures(&l);
    assert_eq!(found[0], f(first, "gap"), "{found:?}");
}

/// Swaps records `a` and `b` inside their batch row, with their stored hashes too if
/// `with_hash`.
fn swap(conn: &Connection, a: u64, b: u64, with_hash: bool) {
    let first = tamper::batch_of(conn, a);
    assert_eq!(first, tamper::batch_of(conn, b));
    let mut all = tamper::entries(conn, first);
    let (i, j) = (
        usize::try_from(a - first).expect("index"),
        usize::try_from(b - first).expect("index"),
    );
    if with_hash {
        all.swap(i, j);
    } else {
        let x = all[i].0.clone();
        all[i].0 = std::mem::replace(&mut all[j].0, x);
    }
    tamper::set_entries(conn, first, &all);
}

/// Positions of the failures other than the batch seal's (24 closes the batch 3..=24, whose
/// count or head a moved record may upset).
fn positions(found: &[(u64, String)]) -> Vec<u64> {
    let mut p: Vec<u64> = found
        .iter()
        .filter(|(seq, kind)| !(*seq == 24 && kind == "bad_seal"))
        .map(|(seq, _)| *seq)
        .collect();
    p.dedup();
    p
}

#[test]
fn swapped_records_are_reordered_at_the_right_seq() {
    let base = Ledger::with_examples();

    // Neighbours swapped, bytes and hashes together (a careful forger): only the order gives
    // it away, at exactly those two positions.
    let (l, conn) = tamperable(&base);
    swap(&conn, 10, 11, true);
    let found = failures(&l);
    assert_eq!(found[0].0, 10, "{found:?}");
    assert_eq!(positions(&found), vec![10, 11], "{found:?}");
    assert!(
        found
            .iter()
            .any(|(seq, kind)| kind == "reordered" && (*seq == 10 || *seq == 11)),
        "{found:?}"
    );

    // Two records further apart.
    let (l, conn) = tamperable(&base);
    swap(&conn, 10, 13, true);
    let found = failures(&l);
    assert_eq!(found[0].0, 10, "{found:?}");
    assert!(found.contains(&f(13, "reordered")), "{found:?}");
    let p = positions(&found);
    assert_eq!((p.first(), p.last()), (Some(&10), Some(&13)), "{found:?}");
    let text = l.run(&["verify"]).stdout;
    let line = text
        .lines()
        .find(|l| l.starts_with("FAIL seq 10: "))
        .expect("a failure at 10");
    assert!(
        line.contains("record 13"),
        "position 10 holds record 13: {line}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("FAIL seq 13: reordered"))
        .expect("a failure at 13");
    assert!(
        line.contains("record 10 is stored at position 13"),
        "{line}"
    );

    // Bytes only: the stored hashes no longer match either.
    let (l, conn) = tamperable(&base);
    swap(&conn, 10, 13, false);
    let found = failures(&l);
    assert_eq!(found[0], f(10, "changed_bytes"), "{found:?}");
    assert!(found.contains(&f(13, "changed_bytes")), "{found:?}");
    assert!(found.contains(&f(13, "reordered")), "{found:?}");
    let p = positions(&found);
    assert_eq!((p.first(), p.last()), (Some(&10), Some(&13)), "{found:?}");
}

/// Re-chains every record of `victim` under a new founding key into a new SQLite ledger in
/// `into`; returns the forger's public key (hex).
fn forge(victim: &Ledger, into: &Ledger) -> String {
    let conn = Connection::open(victim.db()).expect("open victim");
    let records: Vec<Vec<u8>> = tamper::batches(&conn)
        .into_iter()
        .flat_map(|first| tamper::entries(&conn, first))
        .map(|(bytes, _)| bytes)
        .collect();
    let genesis = RecordView::parse(&records[0]).expect("genesis");
    assert_eq!(genesis.event_type, "ledger.genesis");
    let body: GenesisBody = serde_json::from_str(genesis.body.get()).expect("genesis body");
    let ledger = uuid::Uuid::parse_str(&body.ledger).expect("ledger id");
    let forger = Signer::generate(&body.founding_key.name);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let log = SqliteLog::open(&into.db()).expect("new ledger file");
    rt.block_on(async {
        let now = time::OffsetDateTime::now_utc();
        let first = Genesis::build(ledger, &body.name, &forger, now).expect("genesis");
        log.append(0, &first, &[]).await.expect("append genesis");
        // Skip the victim's genesis batch; re-seal every later batch with the forger's key.
        let mut batch: Option<BatchBuilder<'_>> = None;
        for bytes in &records[2..] {
            let view = RecordView::parse(bytes).expect("record");
            if view.event_type == "batch.seal" {
                let sealed = batch
                    .take()
                    .expect("a batch before its seal")
                    .seal()
                    .expect("seal");
                let head = log.head().await.expect("head");
                log.append(head.seq, &sealed, &[])
                    .await
                    .expect("append batch");
                continue;
            }
            if batch.is_none() {
                let head: Head = log.head().await.expect("head");
                batch = Some(BatchBuilder::new(
                    ledger,
                    &head,
                    now,
                    &forger,
                    uuid::Uuid::new_v4(),
                ));
            }
            let b = batch.as_mut().expect("just set");
            b.push(
                view.event_type,
                view.schema,
                &view.entity,
                &view.marking,
                view.body.get().as_bytes(),
            )
            .expect("push");
        }
        assert!(batch.is_none(), "the victim ends with an unsealed batch");
    });
    forger.public_hex()
}

#[test]
fn a_rechained_forgery_fails_only_against_the_pinned_root() {
    let victim = Ledger::with_examples();
    let forged = Ledger::empty();
    let forger_public = forge(&victim, &forged);
    // The forger publishes the victim's trust root next to the forged chain.
    std::fs::copy(victim.dir().join("root.pub"), forged.dir().join("root.pub"))
        .expect("copy root.pub");

    // Same events, same count, a different chain.
    let (victim_log, forged_log) = (victim.log(), forged.log());
    assert_eq!(forged_log.len(), victim_log.len());
    let strip = |l: &[crate::support::LogLine]| {
        l.iter()
            .map(|r| (r.event_type.clone(), r.entity.clone()))
            .skip(2)
            .filter(|(t, _)| t != "batch.seal")
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&forged_log), strip(&victim_log));
    assert_ne!(
        forged_log.last().map(|r| &r.hash),
        victim_log.last().map(|r| &r.hash)
    );

    let found = failures(&forged);
    assert_eq!(found[0], f(1, "untrusted_root"), "{found:?}");
    let (_, v) = forged.verify_json();
    let detail = v["failures"][0]["detail"].as_str().expect("detail");
    assert!(detail.contains("but the pinned root is"), "{detail}");

    // The pin is what protects: trusting the forger's key, the forgery verifies perfectly.
    let out = forged.run(&["verify", "--json", "--trust", &forger_public]);
    let v = out.ok().json();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["last_seq"].as_u64(), Some(58));
    // And unpinned it verifies too, with a warning.
    std::fs::remove_file(forged.dir().join("root.pub")).expect("remove root.pub");
    let out = forged.run(&["verify"]);
    assert!(
        out.ok().stdout.contains("WARNING: no trust root pinned"),
        "{}",
        out.stdout
    );
    // The victim's key pinned explicitly on the victim: fine; on the forgery: refused.
    let victim_public = std::fs::read_to_string(victim.dir().join("root.pub")).expect("root.pub");
    victim
        .run(&["verify", "--trust", victim_public.trim()])
        .ok();
    forged
        .run(&["verify", "--trust", victim_public.trim()])
        .expect_code(5);
}
