//! The access log on a real SQLite file: durable, ordered, filtered by time, append-only.
#![allow(clippy::unwrap_used, missing_docs)]

use dossier_access::{AccessEntry, AccessLog, Role};
use dossier_model::{Marking, Timestamp};

fn entry(at: &str, what: &str) -> AccessEntry {
    AccessEntry {
        at: Timestamp::parse(at).unwrap(),
        principal: "alice".to_owned(),
        role: Role::Reader,
        grant: "ab".repeat(16),
        route: "GET /v1/ledgers/{ledger}/questions/{id}".to_owned(),
        what: what.to_owned(),
        marking: Marking::Red,
    }
}

#[test]
fn entries_survive_reopening_and_list_by_time_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(dossier_access::ACCESS_LOG_FILE);
    let a = entry("2026-01-01T10:00:00Z", "question:a");
    let b = entry("2026-01-01T11:00:00.5Z", "question:b");
    let c = entry("2026-01-02T09:00:00Z", "records 10..=20");
    {
        let log = AccessLog::open(&path).unwrap();
        for e in [&a, &b, &c] {
            log.record(e).unwrap();
        }
    }
    let log = AccessLog::open(&path).unwrap();
    assert_eq!(
        log.list(None, 100).unwrap(),
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(log.list(None, 2).unwrap(), vec![a, b.clone()]);
    let since = Timestamp::parse("2026-01-01T11:00:00.5Z").unwrap();
    assert_eq!(log.list(Some(since), 100).unwrap(), vec![b, c]);
    let later = Timestamp::parse("2027-01-01T00:00:00Z").unwrap();
    assert!(log.list(Some(later), 100).unwrap().is_empty());
}

#[test]
fn rows_cannot_be_changed_or_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.db");
    let log = AccessLog::open(&path).unwrap();
    log.record(&entry("2026-01-01T10:00:00Z", "question:a"))
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let e = conn.execute("DELETE FROM reads", []).unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = conn
        .execute("UPDATE reads SET principal = 'eve'", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    assert_eq!(log.list(None, 10).unwrap()[0].principal, "alice");
}
