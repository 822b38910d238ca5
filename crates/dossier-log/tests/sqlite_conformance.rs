//! The SQLite backend against the backend conformance suite.

use dossier_log::conformance::Fixture;
use dossier_log::SqliteLog;

async fn fresh() -> Fixture<SqliteLog> {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = SqliteLog::open(&dir.path().join("ledger.db")).expect("open");
    Fixture { log, guard: Box::new(dir) }
}

dossier_log::conformance_suite!(fresh);
