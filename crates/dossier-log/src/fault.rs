//! Fault-injection points for crash tests.
//!
//! When the environment variable `DOSSIER_FAULT_PAUSE` names a point, the process prints
//! `dossier: paused at <point>` to standard error and sleeps for an hour when it reaches that
//! point, so a test can kill it there with SIGKILL. The points: `before-commit` and
//! `after-commit` (an append, on either backend); `views-create` (inside the transaction that
//! creates a view store's tables and names it, before its commit); `rebuild-swap` and
//! `rebuild-swapped` (a views rebuild holding the old store's write lock, before and after
//! renaming the new store over it). Unset (always, outside tests), the check costs one
//! environment lookup.

use std::io::Write as _;

/// Pauses here if `DOSSIER_FAULT_PAUSE` names this point.
pub fn point(name: &str) {
    if std::env::var("DOSSIER_FAULT_PAUSE").is_ok_and(|v| v == name) {
        let mut err = std::io::stderr();
        let _ = writeln!(err, "dossier: paused at {name}");
        let _ = err.flush();
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
