//! Fault-injection points for crash tests.
//!
//! When the environment variable `DOSSIER_FAULT_PAUSE` names a point (`before-commit` or
//! `after-commit`), the process prints `dossier: paused at <point>` to standard error and
//! sleeps for an hour when it reaches that point, so a test can kill it there with SIGKILL.
//! Unset (always, outside tests), the check costs one environment lookup per append.

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
