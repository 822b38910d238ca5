//! Where the passphrase of encrypted key files comes from, and what the user is told about key
//! files: the command line's side of `dossier_app::KeyFiles`.
//!
//! The passphrase is taken from `DOSSIER_PASSPHRASE`, else from the file named by
//! `--passphrase-file` / `DOSSIER_PASSPHRASE_FILE` (its first line; `/dev/fd/N` for a service
//! handed a descriptor), else asked for on the terminal (twice for a new key file). It is asked
//! for at most once per run.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use age::secrecy::SecretString;
use dossier_app::{KeyFiles, KeyNotice, PassphraseUse};

/// The environment variable holding the passphrase itself.
pub const PASSPHRASE_VAR: &str = "DOSSIER_PASSPHRASE";

/// The key-file settings of a run.
pub fn key_files(file: Option<&Path>, encrypt: bool, insecure: bool) -> KeyFiles {
    let from_env = std::env::var(PASSPHRASE_VAR).ok().filter(|p| !p.is_empty());
    let given = from_env.is_some() || file.is_some();
    let file: Option<PathBuf> = file.map(Path::to_path_buf);
    let cached: Arc<Mutex<Option<SecretString>>> = Arc::new(Mutex::new(None));
    let source = move |purpose: PassphraseUse| -> Result<Option<SecretString>, String> {
        let mut cache = cached
            .lock()
            .map_err(|_| "a passphrase prompt failed".to_owned())?;
        if let Some(p) = &*cache {
            return Ok(Some(p.clone()));
        }
        let got = if let Some(p) = &from_env {
            Some(SecretString::from(p.clone()))
        } else if let Some(path) = &file {
            Some(read_file(path)?)
        } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            Some(prompt(purpose)?)
        } else {
            None
        };
        cache.clone_from(&got);
        Ok(got)
    };
    let notices = move |n: &KeyNotice| match n {
        KeyNotice::WrittenInClear(path) if !insecure => eprintln!(
            "dossier: warning: the secret key in {} is written unencrypted; set {PASSPHRASE_VAR} \
             or DOSSIER_PASSPHRASE_FILE, or pass --encrypt-keys, to encrypt key files \
             (--insecure-keys if this is deliberate)",
            path.display()
        ),
        KeyNotice::LoadedInClear(path) if !insecure => eprintln!(
            "dossier: warning: the secret key in {} is not encrypted \
             (--insecure-keys if this is deliberate)",
            path.display()
        ),
        KeyNotice::Destroyed { key, revoked_seq } => {
            eprintln!("dossier: destroyed the secret of key {key}, revoked at seq {revoked_seq}")
        }
        _ => {}
    };
    KeyFiles::new()
        .encrypt(encrypt || given)
        .passphrase(Arc::new(source))
        .notices(Arc::new(notices))
}

fn read_file(path: &Path) -> Result<SecretString, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading passphrase file {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(format!("passphrase file {} is empty", path.display()));
    }
    Ok(SecretString::from(line.to_owned()))
}

fn prompt(purpose: PassphraseUse) -> Result<SecretString, String> {
    let ask = |text: &str| {
        rpassword::prompt_password(text).map_err(|e| format!("reading the passphrase: {e}"))
    };
    let first = ask("passphrase for dossier key files: ")?;
    if first.is_empty() {
        return Err("the passphrase is empty".to_owned());
    }
    if purpose == PassphraseUse::Encrypt {
        let again = ask("the same passphrase again: ")?;
        if again != first {
            return Err("the two passphrases differ".to_owned());
        }
    }
    Ok(SecretString::from(first))
}
