//! Fault-injection points for crash tests.
//!
//! When the environment variable `DOSSIER_FAULT_PAUSE` names a point, the process prints
//! `dossier: paused at <point>` to standard error and sleeps for an hour when it reaches that
//! point, so a test can kill it there with SIGKILL. The points: `before-commit` and
//! `after-commit` (an append, on either backend); `views-create` (inside the transaction that
//! creates a view store's tables and names it, before its commit); `rebuild-swap` and
//! `rebuild-swapped` (a views rebuild holding the old store's write lock, before and after
//! renaming the new store over it). `<point>@<n>` pauses at the point's *n*th passage instead
//! of its first (`before-commit@3`: before the third batch commits). Unset (always, outside
//! tests), the check costs one environment lookup per passage.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Passages through the point `DOSSIER_FAULT_PAUSE` names.
static PASSED: AtomicU64 = AtomicU64::new(0);

/// Pauses here if `DOSSIER_FAULT_PAUSE` names this point (and this passage).
pub fn point(name: &str) {
    let Ok(wanted) = std::env::var("DOSSIER_FAULT_PAUSE") else {
        return;
    };
    let (point, nth) = match wanted.split_once('@') {
        Some((point, n)) => (point, n.parse().unwrap_or(1)),
        None => (wanted.as_str(), 1),
    };
    if point == name && PASSED.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        let mut err = std::io::stderr();
        let _ = writeln!(err, "dossier: paused at {name}");
        let _ = err.flush();
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
