//! The data directory: where a ledger, its keys and its pinned trust root live.
//!
//! ```text
//! <dir>/ledger.db          the SQLite ledger (records, content store)
//! <dir>/root.pub           the founding public key (hex): the trust root `verify` pins
//! <dir>/producer           the key id this directory publishes with
//! <dir>/keys/<id>.key      secret keys: the secret in hex on the first line, the holder's name on
//!                          the second; in the clear, or that text encrypted with a passphrase (an
//!                          ASCII-armored age file: `keyfiles`)
//! <dir>/views.db           the belief views kept by the projector (rebuildable from the ledger)
//! <dir>/jetstream/<ledger>-views.db   the same, for a ledger in JetStream
//! <dir>/auditor.db         the continuous auditor's checkpoints and alarms (outside the ledger)
//! <dir>/jetstream/<ledger>-auditor.db the same, for a ledger in JetStream
//! <dir>/access.db          the access log: reads of TLP:RED material served from here
//! ```
//!
//! The directory is created 0700 and every file in it 0600, whatever the umask: the files dossier
//! writes itself are created with those modes, and [`private_umask`] (which the `dossier` command
//! calls as it starts) covers what libraries create beside them (SQLite's `-wal`, `-shm` and
//! journal files, lock files, the JetStream index).
//!
//! Opening the ledger of a data directory ([`Home::open_log`], [`Home::open_log_if_exists`])
//! destroys the secrets kept here of keys the ledger records as revoked
//! ([`Home::destroy_revoked_secrets`]).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use dossier_chain::{Signer, control, event_id};
use dossier_jetstream::{JetStreamConfig, JetStreamError, JetStreamLog};
use dossier_log::{EventLog as _, SqliteLog};

use crate::backend::Backend;
use crate::error::{AppError, AppResult, BackendKind};
use crate::keyfiles::{KeyFiles, KeyNotice};

/// How long each request of a long-running service rides out an outage of the ledger's server
/// before the service's own retry loop takes over ([`Home::for_service`]).
pub const SERVICE_RIDE_OUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Makes every file and directory this process creates private to its user (umask 077: files
/// 0600, directories 0700), whatever umask it was started with.
///
/// A process-wide umask rather than a mode on each file dossier opens: SQLite creates its
/// `-wal`, `-shm` and journal files itself (with the main file's mode, but a journal of a file
/// another tool created would not be), and so do the lock files, the JetStream index and the
/// temporary files of the services; the umask covers all of them, including files added later,
/// without a code path to miss. Files dossier writes itself are also created with explicit modes.
/// Call it once as the process starts; it changes nothing on platforms without a umask.
pub fn private_umask() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// A data directory, and where its ledger's records live.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
    nats: Option<JetStreamConfig>,
    keys: KeyFiles,
}

impl Home {
    /// The directory given (by a flag or `DOSSIER_HOME`), else the platform default
    /// (`$XDG_DATA_HOME/dossier`, else `$HOME/.local/share/dossier`).
    ///
    /// # Errors
    /// [`AppError::NoDataDir`] if none is given and neither variable is set.
    pub fn resolve(given: Option<PathBuf>) -> AppResult<Home> {
        if let Some(dir) = given {
            return Ok(Home::at(dir));
        }
        let base = match std::env::var_os("XDG_DATA_HOME") {
            Some(x) if !x.is_empty() => PathBuf::from(x),
            _ => match std::env::var_os("HOME") {
                Some(h) => PathBuf::from(h).join(".local/share"),
                None => return Err(AppError::NoDataDir),
            },
        };
        Ok(Home::at(base.join("dossier")))
    }

    /// A specific directory.
    pub fn at(dir: PathBuf) -> Home {
        Home {
            dir,
            nats: None,
            keys: KeyFiles::default(),
        }
    }

    /// Reads and writes secret key files as `keys` says (passphrase, encryption, notices).
    #[must_use]
    pub fn with_keys(mut self, keys: KeyFiles) -> Home {
        self.keys = keys;
        self
    }

    /// How this data directory's key files are read and written.
    pub fn key_files(&self) -> &KeyFiles {
        &self.keys
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

    /// For a long-running service with its own retry loop (the projector, the auditor): each
    /// request to the ledger's server rides out an outage for at most [`SERVICE_RIDE_OUT`]
    /// before it fails, so that the service notices the outage, says so, and keeps retrying
    /// with its own backoff (a 30 s ride-out would keep it silent through most outages).
    pub fn for_service(mut self) -> Home {
        if let Some(cfg) = &mut self.nats {
            cfg.ride_out = SERVICE_RIDE_OUT;
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
        let log = self.open_log_if_exists_only().await?;
        if let Some(log) = &log {
            self.destroy_revoked_secrets(log).await?;
        }
        Ok(log)
    }

    async fn open_log_if_exists_only(&self) -> AppResult<Option<Backend>> {
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

    /// The notifier's store (`dossier-notify`): `notify.db`, or under `jetstream/` for a
    /// ledger kept in JetStream (one per ledger name, like the views).
    pub fn notify_path(&self) -> PathBuf {
        match &self.nats {
            Some(c) => self
                .dir
                .join("jetstream")
                .join(format!("{}-notify.db", c.ledger)),
            None => self.dir.join("notify.db"),
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
        let log = self.open_log_only().await?;
        self.destroy_revoked_secrets(&log).await?;
        Ok(log)
    }

    async fn open_log_only(&self) -> AppResult<Backend> {
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
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(self.keys_dir())
            .map_err(|e| AppError::io(format!("creating {}", self.keys_dir().display()), e))?;
        // An existing directory (made by hand, or by a tool with another umask) is made private too.
        #[cfg(unix)]
        for dir in [&self.dir, &self.keys_dir()] {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| AppError::io(format!("making {} private", dir.display()), e))?;
        }
        Ok(())
    }

    /// Stores a secret key (mode 0600), encrypted if [`KeyFiles::encrypts`].
    ///
    /// # Errors
    /// If the key file exists already or cannot be written; [`AppError::NoPassphrase`] if it
    /// is to be encrypted and no passphrase is given.
    pub fn save_key(&self, signer: &Signer) -> AppResult<PathBuf> {
        let path = self.key_path(signer.id());
        let plain = format!("{}\n{}\n", signer.secret_hex(), signer.name());
        let bytes = self.keys.seal(&path, plain.as_bytes())?;
        self.write_key_file(signer.id(), &bytes)?;
        Ok(path)
    }

    pub(crate) fn key_path(&self, id: &str) -> PathBuf {
        self.keys_dir().join(format!("{id}.key"))
    }

    /// Writes a key file's bytes as they are (mode 0600); it must not exist.
    pub(crate) fn write_key_file(&self, id: &str, bytes: &[u8]) -> AppResult<()> {
        let path = self.key_path(id);
        let mut f = create_private(&path)
            .map_err(|e| AppError::io(format!("creating key file {}", path.display()), e))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| AppError::io(format!("writing {}", path.display()), e))
    }

    /// The ids of the keys whose secret files are here, sorted.
    pub(crate) fn kept_keys(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.keys_dir()) else {
            return Vec::new();
        };
        let mut kept: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let id = name.strip_suffix(".key")?;
                (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
            })
            .collect();
        kept.sort();
        kept
    }

    /// Whether the key file of `id` is encrypted (false if there is none).
    pub fn key_is_encrypted(&self, id: &str) -> bool {
        fs::read(self.key_path(id)).is_ok_and(|b| crate::keyfiles::is_encrypted(&b))
    }

    /// Loads a secret key by id.
    ///
    /// # Errors
    /// [`AppError::Key`] if the key file is missing, unreadable, or holds another key.
    pub fn load_key(&self, id: &str) -> AppResult<Signer> {
        let path = self.key_path(id);
        let bytes = fs::read(&path).map_err(|e| AppError::Key {
            what: format!("no secret key {id} in {}", self.keys_dir().display()),
            source: Some(Box::new(e)),
        })?;
        let plain = self.keys.open(&path, bytes)?;
        let text = String::from_utf8(plain).map_err(|e| AppError::Key {
            what: format!("reading {}", path.display()),
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

    /// Destroys a secret key that was never registered (best effort: a leftover file holds a
    /// key nobody trusts).
    pub fn remove_key(&self, id: &str) {
        let _ = self.destroy_key(id);
    }

    /// Destroys the secret of a key: overwrites its file with zeros, flushes that to disk, and
    /// removes it. Returns whether there was one.
    ///
    /// Overwriting in place is what a file system lets a program do; copy-on-write file
    /// systems, snapshots and flash translation layers may still keep the old blocks, which is
    /// why key files should also be encrypted.
    ///
    /// # Errors
    /// If the file exists and cannot be overwritten or removed.
    pub fn destroy_key(&self, id: &str) -> AppResult<bool> {
        let path = self.key_path(id);
        let mut f = match fs::OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(AppError::io(format!("opening {}", path.display()), e)),
        };
        let overwrite = |f: &mut fs::File| -> std::io::Result<()> {
            let len = usize::try_from(f.metadata()?.len()).unwrap_or(usize::MAX);
            f.write_all(&vec![0u8; len])?;
            f.sync_all()
        };
        overwrite(&mut f)
            .map_err(|e| AppError::io(format!("overwriting {}", path.display()), e))?;
        drop(f);
        fs::remove_file(&path)
            .map_err(|e| AppError::io(format!("removing {}", path.display()), e))?;
        if let Ok(dir) = fs::File::open(self.keys_dir()) {
            let _ = dir.sync_all();
        }
        Ok(true)
    }

    /// Destroys ([`Home::destroy_key`]) the secret of every key kept here that the ledger
    /// records as revoked, telling the [`KeyFiles`] notice hook of each; returns their ids.
    ///
    /// The check is one lookup of each kept key's `key.revoked` event id in the ledger's
    /// event-id index (as a publisher checks its own key). A ledger that cannot be read here
    /// is left to the command's own reads to report; the next open that can read it destroys
    /// the secrets.
    ///
    /// # Errors
    /// If a revoked key's file cannot be overwritten or removed.
    pub async fn destroy_revoked_secrets(&self, log: &Backend) -> AppResult<Vec<String>> {
        let kept = self.kept_keys();
        if kept.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<_> = kept
            .iter()
            .map(|k| event_id(control::KEY_REVOKED, k))
            .collect();
        let Ok(found) = log.lookup(&ids).await else {
            return Ok(Vec::new());
        };
        let mut destroyed = Vec::new();
        for (key, entry) in kept.into_iter().zip(found) {
            let Some(entry) = entry else { continue };
            if self.destroy_key(&key)? {
                self.keys.notify(&KeyNotice::Destroyed {
                    key: key.clone(),
                    revoked_seq: entry.seq,
                });
                destroyed.push(key);
            }
        }
        Ok(destroyed)
    }

    /// Whether the secret of a key is here.
    pub fn has_key(&self, id: &str) -> bool {
        self.key_path(id).is_file()
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

/// Creates a new file, 0600 on Unix.
pub(crate) fn create_private(path: &Path) -> std::io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> AppResult<()> {
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    create_private(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| AppError::io(format!("writing {}", tmp.display()), e))?;
    fs::rename(&tmp, path).map_err(|e| AppError::io(format!("writing {}", path.display()), e))
}
