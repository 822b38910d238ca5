//! The configuration file: the lowest-precedence source of settings.
//!
//! ```toml
//! # <data dir>/config.toml, or --config FILE / DOSSIER_CONFIG
//! nats_url = "nats://127.0.0.1:4222"
//! ledger = "dprk"
//! replicas = 3
//! nats_creds = "/etc/dossier/producer.creds"
//! passphrase_file = "/run/credentials/dossier.service/passphrase"
//! insecure_keys = false
//! ```
//!
//! Every key is optional; a flag or environment variable for the same setting wins.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

use crate::cli::Cli;

/// The settings a configuration file may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    nats_url: Option<String>,
    ledger: Option<String>,
    replicas: Option<usize>,
    nats_user: Option<String>,
    nats_password: Option<String>,
    nats_token: Option<String>,
    nats_nkey: Option<String>,
    nats_creds: Option<PathBuf>,
    nats_ca: Option<PathBuf>,
    nats_cert: Option<PathBuf>,
    nats_key: Option<PathBuf>,
    passphrase_file: Option<PathBuf>,
    insecure_keys: Option<bool>,
}

impl FileConfig {
    /// Reads `explicit` (which must exist), else `default` if it exists, else nothing.
    pub fn load(explicit: Option<&Path>, default: &Path) -> anyhow::Result<FileConfig> {
        let path = match explicit {
            Some(p) => p.to_owned(),
            None if default.is_file() => default.to_owned(),
            None => return Ok(FileConfig::default()),
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading configuration {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("configuration {}", path.display()))
    }

    /// Fills every setting the command line and environment left unset.
    pub fn fill(self, cli: &mut Cli) {
        fn or<T>(slot: &mut Option<T>, value: Option<T>) {
            if slot.is_none() {
                *slot = value;
            }
        }
        or(&mut cli.nats_url, self.nats_url);
        or(&mut cli.passphrase_file, self.passphrase_file);
        cli.insecure_keys |= self.insecure_keys.unwrap_or(false);
        let n = &mut cli.nats;
        or(&mut n.ledger, self.ledger);
        or(&mut n.replicas, self.replicas);
        or(&mut n.nats_user, self.nats_user);
        or(&mut n.nats_password, self.nats_password);
        or(&mut n.nats_token, self.nats_token);
        or(&mut n.nats_nkey, self.nats_nkey);
        or(&mut n.nats_creds, self.nats_creds);
        or(&mut n.nats_ca, self.nats_ca);
        or(&mut n.nats_cert, self.nats_cert);
        or(&mut n.nats_key, self.nats_key);
    }
}
