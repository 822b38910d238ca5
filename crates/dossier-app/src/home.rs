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

use dossier_chain::Signer;
use dossier_jetstream::{JetStreamConfig, JetStreamError, JetStreamLog};
use dossier_log::{EventLog as _, SqliteLog};

use crate::backend::Backend;
use crate::error::{AppError, AppResult, BackendKind};

/// A data directory, and where its ledger's records live.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
    nats: Option<JetStreamConfig>,
}

impl Home {
    /// The directory given (by a flag or `DOSSIER_HOME`), else the platform default
    /// (`$XDG_DATA_HOME/dossier`, else `$HOME/.local/share/dossier`).
    ///
    /// # Errors
    /// [`AppError::NoDataDir`] if none is given and neither variable is set.
    pub fn resolve(given: Option<PathBuf>) -> AppResult<Home> {
        if let Some(dir) = given {
            return Ok(Home { dir, nats: None });
        }
        let base = match std::env::var_os("XDG_DATA_HOME") {
            Some(x) if !x.is_empty() => PathBuf::from(x),
            _ => match std::env::var_os("HOME") {
                Some(h) => PathBuf::from(h).join(".local/share"),
                None => return Err(AppError::NoDataDir),
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
    ///
    /// # Errors
    /// If the file or stream cannot be opened or created.
    pub async fn create_log(&self) -> AppResult<Backend> {
        match &self.nats {
            Some(cfg) => {
                let mut cfg = cfg.clone();
                cfg.create = true;
                let log = JetStreamLog::open(&cfg)
                    .await
                    .map_err(|source| AppError::JetStream {
                        what: "opening the JetStream ledger".to_owned(),
                        source,
                    })?;
                Ok(Backend::JetStream(Box::new(log)))
            }
            None => {
                let log = SqliteLog::open(&self.db_path()).map_err(|e| {
                    AppError::log(format!("creating {}", self.db_path().display()), e)
                })?;
                Ok(Backend::Sqlite(log))
            }
        }
    }

    /// Opens the ledger if there is one (`None` if the data directory or stream holds none).
    ///
    /// # Errors
    /// If the file or stream exists but cannot be opened, or its head cannot be read.
    pub async fn open_log_if_exists(&self) -> AppResult<Option<Backend>> {
        match &self.nats {
            None if !self.has_ledger() => Ok(None),
            None => self.open_sqlite().map(Some),
            Some(cfg) => {
                let mut cfg = cfg.clone();
                cfg.create = false;
                let log = match JetStreamLog::open(&cfg).await {
                    Ok(log) => Backend::JetStream(Box::new(log)),
                    Err(JetStreamError::NoLedger { .. }) => return Ok(None),
                    Err(source) => {
                        return Err(AppError::JetStream {
                            what: "opening the JetStream ledger".to_owned(),
                            source,
                        });
                    }
                };
                let empty = log
                    .head()
                    .await
                    .map_err(|e| AppError::log("reading the head", e))?
                    .seq
                    == 0;
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

    /// The JetStream settings, when the ledger is kept in JetStream.
    pub fn nats_config(&self) -> Option<&JetStreamConfig> {
        self.nats.as_ref()
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

    /// Opens the existing ledger.
    ///
    /// # Errors
    /// [`AppError::NoLedger`] if there is none; otherwise as [`Home::open_log_if_exists`].
    pub async fn open_log(&self) -> AppResult<Backend> {
        if self.nats.is_some() {
            return match self.open_log_if_exists().await? {
                Some(log) => Ok(log),
                None => Err(AppError::NoLedger {
                    place: self.describe(),
                    backend: BackendKind::JetStream,
                }),
            };
        }
        if !self.has_ledger() {
            return Err(AppError::NoLedger {
                place: self.dir.display().to_string(),
                backend: BackendKind::Sqlite,
            });
        }
        self.open_sqlite()
    }

    fn open_sqlite(&self) -> AppResult<Backend> {
        let log = SqliteLog::open(&self.db_path())
            .map_err(|e| AppError::log(format!("opening {}", self.db_path().display()), e))?;
        Ok(Backend::Sqlite(log))
    }

    /// Creates the directory (and `keys/`).
    ///
    /// # Errors
    /// If the directories cannot be created.
    pub fn create(&self) -> AppResult<()> {
        fs::create_dir_all(self.keys_dir())
            .map_err(|e| AppError::io(format!("creating {}", self.keys_dir().display()), e))
    }

    /// Stores a secret key (mode 0600).
    ///
    /// # Errors
    /// If the key file exists already or cannot be written.
    pub fn save_key(&self, signer: &Signer) -> AppResult<PathBuf> {
        let path = self.keys_dir().join(format!("{}.key", signer.id()));
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts
            .open(&path)
            .map_err(|e| AppError::io(format!("creating key file {}", path.display()), e))?;
        writeln!(f, "{}\n{}", signer.secret_hex(), signer.name())
            .and_then(|()| f.sync_all())
            .map_err(|e| AppError::io(format!("writing {}", path.display()), e))?;
        Ok(path)
    }

    /// Loads a secret key by id.
    ///
    /// # Errors
    /// [`AppError::Key`] if the key file is missing, unreadable, or holds another key.
    pub fn load_key(&self, id: &str) -> AppResult<Signer> {
        let path = self.keys_dir().join(format!("{id}.key"));
        let text = fs::read_to_string(&path).map_err(|e| AppError::Key {
            what: format!("no secret key {id} in {}", self.keys_dir().display()),
            source: Some(Box::new(e)),
        })?;
        let mut lines = text.lines();
        let secret = lines.next().unwrap_or_default();
        let name = lines.next().unwrap_or("producer");
        let signer = Signer::from_secret_hex(secret, name).map_err(|e| AppError::Key {
            what: format!("reading {}", path.display()),
            source: Some(Box::new(e)),
        })?;
        if signer.id() != id {
            return Err(AppError::Key {
                what: format!("{} holds key {}, not {id}", path.display(), signer.id()),
                source: None,
            });
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

    /// The producer key: the key with id `key` if given, else the one named in `producer`.
    ///
    /// # Errors
    /// [`AppError::NoProducer`] if none is given and none is configured; as
    /// [`Home::load_key`].
    pub fn producer(&self, key: Option<&str>) -> AppResult<Signer> {
        match key {
            Some(id) => self.load_key(id),
            None => {
                let path = self.dir.join("producer");
                let id = match fs::read_to_string(&path) {
                    Ok(id) => id,
                    Err(source) => return Err(AppError::NoProducer { path, source }),
                };
                self.load_key(id.trim())
            }
        }
    }

    /// Makes a key the producer key.
    ///
    /// # Errors
    /// If `producer` cannot be written.
    pub fn set_producer(&self, id: &str) -> AppResult<()> {
        write_atomic(&self.dir.join("producer"), format!("{id}\n").as_bytes())
    }

    /// Stores the founding public key (the trust root).
    ///
    /// # Errors
    /// If `root.pub` cannot be written.
    pub fn save_root(&self, public_hex: &str) -> AppResult<()> {
        write_atomic(&self.root_path(), format!("{public_hex}\n").as_bytes())
    }

    /// The pinned founding public key, if `init` stored one.
    ///
    /// # Errors
    /// If `root.pub` exists but cannot be read.
    pub fn root(&self) -> AppResult<Option<String>> {
        match fs::read_to_string(self.root_path()) {
            Ok(t) => Ok(Some(t.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AppError::io(
                format!("reading {}", self.root_path().display()),
                e,
            )),
        }
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> AppResult<()> {
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    fs::write(&tmp, bytes).map_err(|e| AppError::io(format!("writing {}", tmp.display()), e))?;
    fs::rename(&tmp, path).map_err(|e| AppError::io(format!("writing {}", path.display()), e))
}
