//! A witness's backup: its key file (as it is kept, encrypted or not) and a consistent copy of
//! `witness.db` (SQLite's `VACUUM INTO`, so it can be taken while the witness serves), as one
//! JSON document — `{"format":"dossier-witness-backup/1","key":"<the key file's text>",
//! "store":"<base64 of witness.db>"}` — which the caller encrypts (dossier: with the key-file
//! passphrase). Restored into a directory that holds no witness, the witness resumes at the
//! sizes it had cosigned, so it still refuses an older checkpoint.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rusqlite::{Connection, OpenFlags, params};
use serde::{Deserialize, Serialize};

use crate::key::{KEY_FILE, write_private};
use crate::store::{STORE_FILE, Store};

/// The `format` of a witness backup.
pub const BACKUP_FORMAT: &str = "dossier-witness-backup/1";

/// A witness backup's document.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessBackup {
    /// [`BACKUP_FORMAT`].
    pub format: String,
    /// The key file's text, as kept (an encrypted one stays encrypted).
    pub key: String,
    /// `witness.db`, base64.
    pub store: String,
}

impl WitnessBackup {
    /// The backup of the witness directory `dir` (which may be serving).
    ///
    /// # Errors
    /// A message: no witness there, or its store cannot be copied.
    pub fn take(dir: &Path) -> Result<WitnessBackup, String> {
        let key_path = dir.join(KEY_FILE);
        let key = std::fs::read_to_string(&key_path)
            .map_err(|e| format!("reading {}: {e}", key_path.display()))?;
        let db = dir.join(STORE_FILE);
        let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("opening {}: {e}", db.display()))?;
        let copy = dir.join(format!("{STORE_FILE}.backup-{}", std::process::id()));
        let _ = std::fs::remove_file(&copy);
        let copied = conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .and_then(|()| conn.execute("VACUUM INTO ?1", params![copy.to_string_lossy()]))
            .map_err(|e| format!("copying {}: {e}", db.display()))
            .and_then(|_| {
                std::fs::read(&copy).map_err(|e| format!("reading {}: {e}", copy.display()))
            });
        let _ = std::fs::remove_file(&copy);
        Ok(WitnessBackup {
            format: BACKUP_FORMAT.to_owned(),
            key,
            store: STANDARD.encode(copied?),
        })
    }

    /// Parses a backup document.
    ///
    /// # Errors
    /// A message: not a witness backup, or of another format.
    pub fn parse(plain: &[u8]) -> Result<WitnessBackup, String> {
        let doc: WitnessBackup =
            serde_json::from_slice(plain).map_err(|e| format!("not a witness backup: {e}"))?;
        if doc.format != BACKUP_FORMAT {
            return Err(format!(
                "a backup of format {}, not {BACKUP_FORMAT}",
                doc.format
            ));
        }
        Ok(doc)
    }

    /// Writes the backup into `dir` (created 0700), which must hold no key file and no store:
    /// the key file and `witness.db` (0600), the store checked to open first.
    ///
    /// # Errors
    /// A message: a witness already there, a store that does not open, an I/O error. Nothing is
    /// left written on an error.
    pub fn restore(&self, dir: &Path) -> Result<(), String> {
        let (key_path, db) = (dir.join(KEY_FILE), dir.join(STORE_FILE));
        if key_path.exists() || db.exists() {
            return Err(format!(
                "{} already holds a witness; restore into an empty directory",
                dir.display()
            ));
        }
        let store = STANDARD
            .decode(&self.store)
            .map_err(|e| format!("the backup's store: {e}"))?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let tmp = dir.join(format!("{STORE_FILE}.restore-{}", std::process::id()));
        let written = write_private(&tmp, &store)
            .and_then(|()| {
                Store::open(&tmp)
                    .and_then(|s| s.logs().map(drop))
                    .map_err(|e| format!("the backup's store: {e}"))
            })
            .and_then(|()| write_private(&key_path, self.key.as_bytes()))
            .and_then(|()| {
                std::fs::rename(&tmp, &db).map_err(|e| format!("writing {}: {e}", db.display()))
            });
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
            let _ = std::fs::remove_file(&key_path);
        }
        written
    }
}
