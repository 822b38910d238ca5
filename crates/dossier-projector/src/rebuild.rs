//! Rebuilding a store aside from the ledger and swapping it in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dossier_log::EventLog;
use rusqlite::Connection;

use crate::Error;
use crate::follow::Progress;
use crate::projector::Projector;
use crate::snapshot::{self, snapshot_path};
use crate::store::rebuild_path;
use crate::write::Aside;

/// Records per transaction while [`rebuild`] builds a store aside.
const REBUILD_PAGE: usize = 32_768;

/// Rebuilds the store from sequence 1 without downtime: builds a fresh store aside
/// ([`rebuild_path`], `views.db.rebuild`), brings it to the head, closes it, then renames it
/// over `store` in one step. Readers see the old store until the rename and the new one after.
///
/// The rename happens under the old store's write lock; a projector running on the old store
/// checks the file under that lock before each transaction, so it never writes to the replaced
/// file: it reopens the new one and continues from its checkpoint.
///
/// # Errors
/// As [`catch_up`]; file operations. On failure the old store is untouched.
pub async fn rebuild<L: EventLog>(log: &L, store: &Path) -> Result<Progress, Error> {
    let aside = rebuild_path(store);
    for stale in [aside.clone(), journal_path(&aside), snapshot_path(&aside)] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    path: stale,
                    source,
                });
            }
        }
    }
    let progress = {
        let mut p = Projector::open(log, &aside).await?;
        // The file being built aside is thrown away if anything fails before the swap, so its
        // transactions need not reach the disk one by one (one sync before the rename does) and
        // need no rollback journal; nobody else reads it, so pages can be large.
        p.conn.pragma_update(None, "synchronous", "OFF")?;
        p.conn.pragma_update(None, "journal_mode", "OFF")?;
        p.set_page_size(REBUILD_PAGE);
        // The whole ledger is coming: let the engine size its tables once.
        let head = log.head().await?.seq;
        p.levels.reserve(usize::try_from(head).unwrap_or(0));
        p.markings.reserve(usize::try_from(head).unwrap_or(0));
        // About two references per event, left to the end (see `Aside`).
        p.aside = Some(Aside {
            refs: Vec::with_capacity(usize::try_from(head.saturating_mul(2)).unwrap_or(0)),
        });
        let progress = p.catch_up(log).await?;
        // The engines' snapshot (for the next restart) is encoded and written while the
        // references left to the end are inserted.
        let refs = p.aside.take().unwrap_or_default();
        let (levels, markings, applied, hash) = (&p.levels, &p.markings, p.applied, p.last_hash);
        let conn = &mut p.conn;
        let (finished, snapshotted) = std::thread::scope(|s| {
            let finished = s.spawn(|| refs.finish(conn));
            let snapshotted = snapshot::write_state(&aside, levels, markings, applied, hash);
            (finished.join(), snapshotted)
        });
        finished.map_err(|_| Error::Stopped)??;
        if let Err(e) = snapshotted {
            tracing::warn!(error = %e, "writing a snapshot of the views' engines failed");
        }
        // Closing commits nothing new; no journal is left behind. The engine's memory is freed
        // on another thread: nothing waits for it.
        let Projector { conn, levels, .. } = p;
        drop(conn);
        std::thread::spawn(move || drop(levels));
        std::fs::File::open(&aside)
            .and_then(|f| f.sync_all())
            .map_err(|source| Error::Io {
                path: aside.clone(),
                source,
            })?;
        progress
    };
    // Swap while holding the old store's write lock: no projector is inside a transaction on
    // the old file (so it has no journal that readers of the new file could mistake for
    // theirs), and a projector waiting for the lock sees the new file once it gets it.
    let old = if store.is_file() {
        let conn = Connection::open(store)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.execute_batch("BEGIN EXCLUSIVE")?;
        Some(conn)
    } else {
        None
    };
    dossier_log::fault::point("rebuild-swap");
    std::fs::rename(&aside, store).map_err(|source| Error::Io {
        path: store.to_owned(),
        source,
    })?;
    dossier_log::fault::point("rebuild-swapped");
    if let Some(conn) = old {
        conn.execute_batch("ROLLBACK")?;
    }
    // The snapshot depends on the ledger only, so the old store's (if this rename is lost)
    // still holds for the new store, whose checkpoint is at least as far.
    if let Err(e) = snapshot::rename(&aside, store) {
        tracing::warn!(error = %e, "moving the snapshot of the views' engines failed");
    }
    if let Some(dir) = store.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the rename durable (best effort: not every platform can sync a directory).
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(progress)
}

fn journal_path(db: &Path) -> PathBuf {
    let mut name = db
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push("-journal");
    db.with_file_name(name)
}
