//! The witness's key file `witness.key`: the plain text is JSON
//! `{"name": …, "secret": <64 hex digits>}`. How it is kept at rest (encrypted with a passphrase,
//! or in the clear, 0600) is the caller's business: dossier writes it through the same key-file
//! code as a ledger's keys (`dossier_app::KeyFiles`), so this module only makes and reads the
//! plain text, and creates the witness directory (0700).

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

use dossier_proofs::Cosigner;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

/// The key file's name in a witness directory.
pub const KEY_FILE: &str = "witness.key";

/// The key file's plain text.
#[derive(Serialize, Deserialize)]
pub struct WitnessKeyFile {
    /// The witness's name (its cosignatures' key name).
    pub name: String,
    /// The Ed25519 secret, 64 lowercase hex digits.
    pub secret: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl WitnessKeyFile {
    /// Creates the witness directory `dir` (0700) if needed and a new key named `name`: its
    /// cosigner and the key file's plain text. Refuses a directory that holds a key file.
    ///
    /// # Errors
    /// A message: a bad name, an existing key, an I/O error.
    pub fn generate(dir: &Path, name: &str) -> Result<(Cosigner, Vec<u8>), String> {
        let secret = SigningKey::generate(&mut rand_core::OsRng);
        let cosigner = Cosigner::new(name, secret.clone()).map_err(|e| e.to_string())?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let path = dir.join(KEY_FILE);
        if path.exists() {
            return Err(format!("{} exists already", path.display()));
        }
        let body = serde_json::to_vec_pretty(&WitnessKeyFile {
            name: name.to_owned(),
            secret: hex(secret.as_bytes()),
        })
        .map_err(|e| e.to_string())?;
        Ok((cosigner, body))
    }

    /// The cosigner a key file's plain text (read from `path`) holds.
    ///
    /// # Errors
    /// A message: a malformed key file.
    pub fn parse(path: &Path, plain: &[u8]) -> Result<Cosigner, String> {
        let file: WitnessKeyFile = serde_json::from_slice(plain)
            .map_err(|e| format!("{}: not a witness key file: {e}", path.display()))?;
        let bytes: [u8; 32] = (0..32)
            .map(|i| {
                file.secret
                    .get(2 * i..2 * i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .filter(|_| file.secret.len() == 64)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| format!("{}: the secret must be 64 hex digits", path.display()))?;
        Cosigner::new(&file.name, SigningKey::from_bytes(&bytes)).map_err(|e| e.to_string())
    }

    /// Creates a witness directory with a new key named `name` kept in the clear (file 0600),
    /// for tests and benchmarks; `dossier witness init` encrypts it.
    ///
    /// # Errors
    /// A message: a bad name, an existing key, an I/O error.
    pub fn create(dir: &Path, name: &str) -> Result<Cosigner, String> {
        let (cosigner, body) = WitnessKeyFile::generate(dir, name)?;
        write_private(&dir.join(KEY_FILE), &body)?;
        Ok(cosigner)
    }

    /// Reads the key of a witness directory whose key file is in the clear.
    ///
    /// # Errors
    /// A message: a missing or malformed key file.
    pub fn load(dir: &Path) -> Result<Cosigner, String> {
        let path = dir.join(KEY_FILE);
        let text = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        WitnessKeyFile::parse(&path, &text)
    }
}

/// Writes a new file (0600; it must not exist) and syncs it.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}
