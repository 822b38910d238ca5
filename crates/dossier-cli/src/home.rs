//! The data directory: where a ledger, its keys and its pinned trust root live.
//!
//! ```text
//! <dir>/ledger.db          the SQLite ledger (records, content store)
//! <dir>/root.pub           the founding public key (hex): the trust root `verify` pins
//! <dir>/producer           the key id this directory publishes with
//! <dir>/keys/<id>.key      secret keys (hex, mode 0600), first line; second line the holder's name
//! <dir>/views.db           the belief views kept by the projector (rebuildable from the ledger)
//! <dir>/jetstream/<ledger>-views.db   the same, for a ledger in JetStream
//! <dir>/auditor.db         the continuous auditor's checkpoints and alarms (outside the ledger)
//! <dir>/jetstream/<ledger>-auditor.db the same, for a ledger in JetStream
//! <dir>/access.db          the access log: reads of TLP:RED material served from here
//! ```

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use dossier_chain::Signer;
use dossier_jetstream::{JetStreamConfig, JetStreamError, JetStreamLog};
use dossier_log::{EventLog as _, SqliteLog};

use crate::backend::Backend;

use crate::exit::{CliError, CliResult, NO_LEDGER};

/// A data directory, and where its ledger's records live.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
    nats: Option<JetStreamConfig>,
}

impl Home {
    /// The directory given by flag or `DOSSIER_HOME`, else the platform default.
    pub fn resolve(flag: Option<PathBuf>) -> anyhow::Result<Home> {
        if let Some(dir) = flag {
            return Ok(Home { dir, nats: None });
        }
        let base = match std::env::var_os("XDG_DATA_HOME") {
            Some(x) if !x.is_empty() => PathBuf::from(x),
            _ => match std::env::var_os("HOME") {
                Some(h) => PathBuf::from(h).join(".local/share"),
                None => bail!("no data directory: pass --data-dir or set DOSSIER_HOME"),
            },
        };
        Ok(Home {
            dir: base.join("dossier"),
            nats: None,
        })
    }

    /// A specific directory.
    pub fn at(dir: PathBuf) -> Home {
        Home { dir, nats: None }
    }

    /// The data directory's path.
    pub fn dir_path(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Keeps the ledger in JetStream; the local event-id index goes under `jetstream/`.
    pub fn with_nats(mut self, mut cfg: JetStreamConfig) -> Home {
        cfg.index_path = self
            .dir
            .join("jetstream")
            .join(format!("{}-index.db", cfg.ledger));
        self.nats = Some(cfg);
        self
    }

    /// For auditing: open the stream even if its configuration could lose records (reading
    /// cannot make that worse, and verification reports what is missing).
    pub fn for_audit(mut self) -> Home {
        if let Some(cfg) = &mut self.nats {
            cfg.allow_unsafe_stream = true;
        }
        self
    }

    /// Where the records live, for messages.
    pub fn describe(&self) -> String {
        match &self.nats {
            Some(c) => format!("stream {} at {}", c.stream(), c.url),
            None => self.dir.display().to_string(),
        }
    }

    /// Opens the ledger's backend, creating the SQLite file or the stream if needed.
    pub async fn create_log(&self) -> CliResult<Backend> {
        match &self.nats {
            Some(cfg) => {
                let mut cfg = cfg.clone();
                cfg.create = true;
                let log = JetStreamLog::open(&cfg)
                    .await
                    .context("opening the JetStream ledger")?;
                Ok(Backend::JetStream(Box::new(log)))
            }
            None => {
                let log = SqliteLog::open(&self.db_path())
                    .with_context(|| format!("creating {}", self.db_path().display()))?;
                Ok(Backend::Sqlite(log))
            }
        }
    }

    /// Opens the ledger if there is one (`None` if the data directory or stream holds none).
    pub async fn open_log_if_exists(&self) -> CliResult<Option<Backend>> {
        match &self.nats {
            None if !self.has_ledger() => Ok(None),
            None => self.open_sqlite().map(Some),
            Some(cfg) => {
                let mut cfg = cfg.clone();
                cfg.create = false;
                let log = match JetStreamLog::open(&cfg).await {
                    Ok(log) => Backend::JetStream(Box::new(log)),
                    Err(JetStreamError::NoLedger { .. }) => return Ok(None),
                    Err(e) => {
                        return Err(anyhow::Error::new(e)
                            .context("opening the JetStream ledger")
                            .into());
                    }
                };
                let empty = log.head().await.context("reading the head")?.seq == 0;
                Ok((!empty).then_some(log))
            }
        }
    }

    /// The projector's belief views for this ledger: `views.db`, or under `jetstream/` for a
    /// ledger kept in JetStream.
    pub fn views_path(&self) -> PathBuf {
        match &self.nats {
            Some(c) => self
                .dir
                .join("jetstream")
                .join(format!("{}-views.db", c.ledger)),
            None => self.dir.join(dossier_projector::STORE_FILE),
        }
    }

    /// The continuous auditor's store: `auditor.db`, or under `jetstream/` for a ledger kept in
    /// JetStream (one per ledger name, like the views).
    pub fn auditor_path(&self) -> PathBuf {
        match &self.nats {
            Some(c) => self
                .dir
                .join("jetstream")
                .join(format!("{}-auditor.db", c.ledger)),
            None => self.dir.join(dossier_auditor::STORE_FILE),
        }
    }

    /// Whether the ledger is kept in JetStream.
    pub fn is_nats(&self) -> bool {
        self.nats.is_some()
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
    pub async fn open_log(&self) -> CliResult<Backend> {
        if self.nats.is_some() {
            return match self.open_log_if_exists().await? {
                Some(log) => Ok(log),
                None => Err(CliError::new(
                    NO_LEDGER,
                    anyhow::anyhow!(
                        "no ledger in {}; run `dossier init` with the same --nats and --ledger",
                        self.describe()
                    ),
                )),
            };
        }
        if !self.has_ledger() {
            return Err(CliError::new(
                NO_LEDGER,
                anyhow::anyhow!(
                    "no ledger in {}; run `dossier init` (or pass --data-dir / DOSSIER_HOME)",
                    self.dir.display()
                ),
            ));
        }
        self.open_sqlite()
    }

    fn open_sqlite(&self) -> CliResult<Backend> {
        let log = SqliteLog::open(&self.db_path())
            .with_context(|| format!("opening {}", self.db_path().display()))?;
        Ok(Backend::Sqlite(log))
    }

    /// Creates the directory (and `keys/`).
    pub fn create(&self) -> anyhow::Result<()> {
        fs::create_dir_all(self.keys_dir())
            .with_context(|| format!("creating {}", self.keys_dir().display()))
    }

    /// Stores a secret key (mode 0600).
    pub fn save_key(&self, signer: &Signer) -> anyhow::Result<PathBuf> {
        let path = self.keys_dir().join(format!("{}.key", signer.id()));
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts
            .open(&path)
            .with_context(|| format!("creating key file {}", path.display()))?;
        writeln!(f, "{}\n{}", signer.secret_hex(), signer.name())
            .with_context(|| format!("writing {}", path.display()))?;
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
        let signer = Signer::from_secret_hex(secret, name)
            .with_context(|| format!("reading {}", path.display()))?;
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
                    format!(
                        "no producer key configured ({} is missing); pass --key",
                        path.display()
                    )
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
