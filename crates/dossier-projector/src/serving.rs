//! Whether a projector is serving a store: a running projector ([`run`](crate::run)) holds an
//! exclusive lock on the file `views.db.serving` beside the store for as long as it runs. The
//! operating system releases the lock when the process ends, however it ends (SIGKILL
//! included), so a lock that is held always means a live projector.
//!
//! Readers use it to wait for that projector instead of catching the store up beside it
//! ([`refresh`](crate::refresh)): a second writer would refold the whole ledger first (seconds
//! at a million records) and then make the running projector reopen the store, and refold, too.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::store::beside;

/// The lock file of the store at `store`: `views.db.serving` next to `views.db`.
#[must_use]
pub fn serving_path(store: &Path) -> PathBuf {
    beside(store, ".serving")
}

/// The serving lock, held until dropped.
#[derive(Debug)]
pub(crate) struct Serving {
    _file: File,
}

impl Serving {
    /// Takes the serving lock of `store`; `None` if another projector holds it (both then run,
    /// as two writers on one store may) or the lock file cannot be made.
    pub(crate) fn take(store: &Path) -> Option<Serving> {
        let path = serving_path(store);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .inspect_err(|e| tracing::warn!("cannot create {}: {e}", path.display()))
            .ok()?;
        match file.try_lock() {
            Ok(()) => Some(Serving { _file: file }),
            Err(TryLockError::WouldBlock) => {
                tracing::info!("another projector is serving {}", store.display());
                None
            }
            Err(TryLockError::Error(e)) => {
                tracing::warn!("cannot lock {}: {e}", path.display());
                None
            }
        }
    }
}

/// Whether a running projector holds the serving lock of `store`.
#[must_use]
pub fn is_served(store: &Path) -> bool {
    let Ok(file) = File::open(serving_path(store)) else {
        return false;
    };
    matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
}
