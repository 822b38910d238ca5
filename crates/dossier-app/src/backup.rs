//! A backup of a data directory's trust material — its key files, the pinned root, the
//! producer choice and a consistent copy of the auditor's store — as one passphrase-encrypted
//! file, and its restoration into a data directory beside the same ledger.
//!
//! The backup is an ASCII-armored age file (scrypt, as encrypted key files) of a JSON document:
//!
//! ```json
//! {"format":"dossier-keys-backup/2","ledger":"<uuid>","root":"<64 hex>","producer":"<key id>",
//!  "keys":[{"key":"<key id>","file":"<the key file's text, encrypted or not>"}],
//!  "auditor":"<base64 of auditor.db, copied with VACUUM INTO>"}
//! ```
//!
//! `auditor` is absent when the directory has no auditor store; version 1 (no `auditor`) is
//! still read. A restored auditor store lets the restored directory's auditor resume from its
//! checkpoints (and keep its alarms) instead of starting over.
//!
//! Key files are kept as they are (an encrypted one stays encrypted inside the backup), so the
//! backup is always encrypted and never weaker than the files. Secrets of keys the ledger
//! records as revoked are never backed up, and are destroyed again if a backup holding them is
//! restored.

use std::fs;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use dossier_chain::Signer;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::error::{AppError, AppResult};
use crate::home::Home;

/// The `format` of a keys backup.
pub const BACKUP_FORMAT: &str = "dossier-keys-backup/2";
/// The `format` of a keys backup without the auditor's store, still read.
pub const BACKUP_FORMAT_V1: &str = "dossier-keys-backup/1";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Backup {
    format: String,
    ledger: String,
    root: String,
    producer: Option<String>,
    keys: Vec<BackedUpKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auditor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackedUpKey {
    key: String,
    file: String,
}

/// What a backup holds, or what a restore wrote.
#[derive(Debug, Clone, Serialize)]
pub struct KeysBackup {
    /// The ledger id.
    pub ledger: String,
    /// The key ids whose files are in the backup (restored: written or already here).
    pub keys: Vec<String>,
    /// The producer key named in the backup.
    pub producer: Option<String>,
    /// Restored only: keys of the backup destroyed at once because the ledger records them as
    /// revoked.
    pub destroyed: Vec<String>,
    /// Whether the auditor's store is in the backup (restored: whether it was written here; one
    /// already here is kept).
    pub auditor: bool,
}

fn invalid(what: impl Into<String>) -> AppError {
    AppError::Backup { what: what.into() }
}

async fn founding_of(log: &Backend) -> AppResult<(String, String)> {
    let genesis = dossier_log::ledger::genesis(log)
        .await
        .map_err(|e| AppError::log("reading the genesis", e))?
        .ok_or(AppError::EmptyLedger)?;
    Ok((genesis.ledger, genesis.founding_key.public))
}

impl Home {
    /// The encrypted backup of this data directory's key files (those of keys not revoked),
    /// pinned root and producer choice, for the ledger `log` (already opened through this
    /// `Home`, so the secrets of revoked keys are gone).
    ///
    /// # Errors
    /// [`AppError::NoPassphrase`] without a passphrase; if a file cannot be read, or the
    /// directory pins no root or another root than the ledger's founding key.
    pub async fn backup_keys(&self, log: &Backend) -> AppResult<(Vec<u8>, KeysBackup)> {
        let (ledger, founding) = founding_of(log).await?;
        let root = self
            .root()?
            .ok_or_else(|| invalid("this data directory pins no root (root.pub)"))?;
        if root != founding {
            return Err(invalid(format!(
                "root.pub ({root}) is not the ledger's founding key ({founding})"
            )));
        }
        let producer = fs::read_to_string(self.dir_path().join("producer"))
            .ok()
            .map(|p| p.trim().to_owned());
        let mut keys = Vec::new();
        for key in self.kept_keys() {
            let path = self.key_path(&key);
            let file = fs::read_to_string(&path)
                .map_err(|e| AppError::io(format!("reading {}", path.display()), e))?;
            keys.push(BackedUpKey { key, file });
        }
        let auditor = dossier_auditor::snapshot_store(&self.auditor_path())
            .map_err(|e| invalid(format!("copying the auditor's store: {e}")))?
            .map(|bytes| BASE64.encode(bytes));
        let doc = Backup {
            format: BACKUP_FORMAT.to_owned(),
            ledger: ledger.clone(),
            root,
            producer: producer.clone(),
            keys,
            auditor,
        };
        let summary = KeysBackup {
            ledger,
            keys: doc.keys.iter().map(|k| k.key.clone()).collect(),
            producer,
            destroyed: Vec::new(),
            auditor: doc.auditor.is_some(),
        };
        let plain = serde_json::to_vec(&doc).map_err(|e| invalid(format!("encoding: {e}")))?;
        let sealed = self
            .key_files()
            .encrypt_always(std::path::Path::new("the backup"), &plain)?;
        Ok((sealed, summary))
    }

    /// Restores a backup made by [`Home::backup_keys`] into this data directory, beside the
    /// same ledger (`log`): the pinned root, the producer choice (if none is set here) and every
    /// key file not already here. Nothing is written unless every check passes; keys the ledger
    /// records as revoked are destroyed at once.
    ///
    /// # Errors
    /// [`AppError::NoPassphrase`] or [`AppError::WrongPassphrase`]; [`AppError::Backup`] if
    /// the file is not a keys backup, is of another ledger, names another root than the
    /// ledger's founding key or this directory's `root.pub`, or holds a key whose file here
    /// differs.
    pub async fn restore_keys(
        &self,
        log: &Backend,
        name: &std::path::Path,
        bytes: Vec<u8>,
    ) -> AppResult<KeysBackup> {
        if !crate::keyfiles::is_encrypted(&bytes) {
            return Err(invalid(format!(
                "{} is not an encrypted keys backup",
                name.display()
            )));
        }
        let plain = self.key_files().open(name, bytes)?;
        let doc: Backup = serde_json::from_slice(&plain)
            .map_err(|e| invalid(format!("{} is not a keys backup: {e}", name.display())))?;
        if doc.format != BACKUP_FORMAT && doc.format != BACKUP_FORMAT_V1 {
            return Err(invalid(format!(
                "{} is a backup of format {}, not {BACKUP_FORMAT} or {BACKUP_FORMAT_V1}",
                name.display(),
                doc.format
            )));
        }
        let (ledger, founding) = founding_of(log).await?;
        if doc.ledger != ledger {
            return Err(invalid(format!(
                "the backup is of ledger {}, this ledger is {ledger}",
                doc.ledger
            )));
        }
        if doc.root != founding {
            return Err(invalid(format!(
                "the backup pins root {}, but the ledger's founding key is {founding}",
                doc.root
            )));
        }
        if let Some(root) = self.root()?
            && root != doc.root
        {
            return Err(invalid(format!(
                "this data directory pins another root ({root}) than the backup"
            )));
        }
        let mut to_write = Vec::new();
        for k in &doc.keys {
            let valid_id = k.key.len() == 16
                && k.key
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
            if !valid_id {
                return Err(invalid(format!(
                    "the backup holds a bad key id {:?}",
                    k.key
                )));
            }
            if !crate::keyfiles::is_encrypted(k.file.as_bytes()) {
                let mut lines = k.file.lines();
                let secret = lines.next().unwrap_or_default();
                let holds = Signer::from_secret_hex(secret, lines.next().unwrap_or("producer"))
                    .is_ok_and(|s| s.id() == k.key);
                if !holds {
                    return Err(invalid(format!(
                        "the backup's file for key {} does not hold that key",
                        k.key
                    )));
                }
            }
            match fs::read_to_string(self.key_path(&k.key)) {
                Ok(here) if here == k.file => {}
                Ok(_) => {
                    return Err(invalid(format!(
                        "key {}'s file here differs from the backup's; move it aside first",
                        k.key
                    )));
                }
                Err(_) => to_write.push(k),
            }
        }
        let auditor = match &doc.auditor {
            Some(b64) if !self.auditor_path().exists() => Some(
                BASE64
                    .decode(b64)
                    .map_err(|e| invalid(format!("the backup's auditor store: {e}")))?,
            ),
            _ => None,
        };
        self.create()?;
        let auditor_restored = match auditor {
            Some(bytes) => {
                self.restore_auditor_store(&ledger, &bytes)?;
                true
            }
            None => false,
        };
        if self.root()?.is_none() {
            self.save_root(&doc.root)?;
        }
        if let Some(p) = &doc.producer
            && !self.dir_path().join("producer").exists()
        {
            self.set_producer(p)?;
        }
        for k in to_write {
            self.write_key_file(&k.key, k.file.as_bytes())?;
        }
        let destroyed = self.destroy_revoked_secrets(log).await?;
        Ok(KeysBackup {
            ledger,
            keys: doc.keys.iter().map(|k| k.key.clone()).collect(),
            producer: doc.producer,
            destroyed,
            auditor: auditor_restored,
        })
    }

    /// Writes a backed-up auditor store as this directory's `auditor.db` (0600), after checking
    /// that it opens as an auditor store of `ledger`.
    fn restore_auditor_store(&self, ledger: &str, bytes: &[u8]) -> AppResult<()> {
        let path = self.auditor_path();
        let tmp = path.with_extension(format!("db.restore-{}", std::process::id()));
        let checked = (|| {
            crate::home::create_private(&tmp)
                .and_then(|mut f| {
                    std::io::Write::write_all(&mut f, bytes)?;
                    f.sync_all()
                })
                .map_err(|e| AppError::io(format!("writing {}", tmp.display()), e))?;
            let store = dossier_auditor::Store::open(&tmp)
                .map_err(|e| invalid(format!("the backup's auditor store: {e}")))?;
            let last = store
                .last_checkpoint()
                .map_err(|e| invalid(format!("the backup's auditor store: {e}")))?;
            drop(store);
            if let Some(cp) = last
                && cp.ledger != ledger
            {
                return Err(invalid(format!(
                    "the backup's auditor store is of ledger {}, this ledger is {ledger}",
                    cp.ledger
                )));
            }
            fs::rename(&tmp, &path)
                .map_err(|e| AppError::io(format!("writing {}", path.display()), e))
        })();
        if checked.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        checked
    }
}
