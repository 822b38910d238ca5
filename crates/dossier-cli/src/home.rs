//! The data directory: where a ledger, its keys and its pinned trust root live.
//!
//! ```text
//! <dir>/ledger.db          the SQLite ledger (records, content store)
//! <dir>/root.pub           the founding public key (hex): the trust root `verify` pins
//! <dir>/producer           the key id this directory publishes with
//! <dir>/keys/<id>.key      secret keys (hex, mode 0600), first line; second line the holder's name
//! ```

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use dossier_chain::Signer;
use dossier_log::SqliteLog;

use crate::exit::{CliError, CliResult, NO_LEDGER};

/// A data directory.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// The directory given by flag or `DOSSIER_HOME`, else the platform default.
    pub fn resolve(flag: Option<PathBuf>) -> anyhow::Result<Home> {
        if let Some(dir) = flag {
            return Ok(Home { dir });
        }
        let base = match std::env::var_os("XDG_DATA_HOME") {
            Some(x) if !x.is_empty() => PathBuf::from(x),
            _ => match std::env::var_os("HOME") {
                Some(h) => PathBuf::from(h).join(".local/share"),
                None => bail!("no data directory: pass --data-dir or set DOSSIER_HOME"),
            },
        };
        Ok(Home { dir: base.join("dossier") })
    }

    /// A specific directory.
    pub fn at(dir: PathBuf) -> Home {
        Home { dir }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The ledger database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("ledger.db")
    }

    fn root_path(&self) -> PathBuf {
        self.dir.join("root.pub")
    }

    fn keys_dir(&self) -> PathBuf {
        self.dir.join("keys")
    }

    /// Whether a ledger exists here.
    pub fn has_ledger(&self) -> bool {
        self.db_path().is_file()
    }

    /// Opens the existing ledger, or fails with the "no ledger" exit code.
    pub fn open_log(&self) -> CliResult<SqliteLog> {
        if !self.has_ledger() {
            return Err(CliError::new(
                NO_LEDGER,
                anyhow::anyhow!("no ledger in {}; run `dossier init` (or pass --data-dir / DOSSIER_HOME)", self.dir.display()),
            ));
        }
        SqliteLog::open(&self.db_path()).with_context(|| format!("opening {}", self.db_path().display())).map_err(Into::into)
    }

    /// Creates the directory (and `keys/`).
    pub fn create(&self) -> anyhow::Result<()> {
        fs::create_dir_all(self.keys_dir()).with_context(|| format!("creating {}", self.keys_dir().display()))
    }

    /// Stores a secret key (mode 0600).
    pub fn save_key(&self, signer: &Signer) -> anyhow::Result<PathBuf> {
        let path = self.keys_dir().join(format!("{}.key", signer.id()));
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&path).with_context(|| format!("creating key file {}", path.display()))?;
        writeln!(f, "{}\n{}", signer.secret_hex(), signer.name()).with_context(|| format!("writing {}", path.display()))?;
        f.sync_all()?;
        Ok(path)
    }

    /// Loads a secret key by id.
    pub fn load_key(&self, id: &str) -> anyhow::Result<Signer> {
        let path = self.keys_dir().join(format!("{id}.key"));
        let text = fs::read_to_string(&path)
            .with_context(|| format!("no secret key {id} in {}", self.keys_dir().display()))?;
        let mut lines = text.lines();
        let secret = lines.next().unwrap_or_default();
        let name = lines.next().unwrap_or("producer");
        let signer = Signer::from_secret_hex(secret, name).with_context(|| format!("reading {}", path.display()))?;
        if signer.id() != id {
            bail!("{} holds key {}, not {id}", path.display(), signer.id());
        }
        Ok(signer)
    }

    /// Deletes a secret key that was never registered (best effort: a leftover file holds a
    /// key nobody trusts).
    pub fn remove_key(&self, id: &str) {
        let _ = fs::remove_file(self.keys_dir().join(format!("{id}.key")));
    }

    /// Whether the secret of a key is here.
    pub fn has_key(&self, id: &str) -> bool {
        self.keys_dir().join(format!("{id}.key")).is_file()
    }

    /// The producer key: `--key` if given, else the one named in `producer`.
    pub fn producer(&self, key: Option<&str>) -> anyhow::Result<Signer> {
        match key {
            Some(id) => self.load_key(id),
            None => {
                let path = self.dir.join("producer");
                let id = fs::read_to_string(&path).with_context(|| {
                    format!("no producer key configured ({} is missing); pass --key", path.display())
                })?;
                self.load_key(id.trim())
            }
        }
    }

    /// Makes a key the producer key.
    pub fn set_producer(&self, id: &str) -> anyhow::Result<()> {
        write_atomic(&self.dir.join("producer"), format!("{id}\n").as_bytes())
    }

    /// Stores the founding public key (the trust root).
    pub fn save_root(&self, public_hex: &str) -> anyhow::Result<()> {
        write_atomic(&self.root_path(), format!("{public_hex}\n").as_bytes())
    }

    /// The pinned founding public key, if `init` stored one.
    pub fn root(&self) -> anyhow::Result<Option<String>> {
        match fs::read_to_string(self.root_path()) {
            Ok(t) => Ok(Some(t.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.root_path().display())),
        }
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
