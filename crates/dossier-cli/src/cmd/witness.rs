//! `dossier witness`: a C2SP tlog-witness (`dossier-witness`) run from the command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use dossier_app::KeyFiles;
use dossier_proofs::NoteVerifier;
use dossier_witness::{KEY_FILE, STORE_FILE, Store, Witness, WitnessBackup, WitnessKeyFile};

use crate::cli::{WitnessArgs, WitnessCommand};
use crate::exit::{CliError, CliResult, INVALID_INPUT};
use crate::home::Home;

/// The witness of `dir`, its key read through `keys` (decrypted if it is encrypted).
fn open(dir: &Path, keys: &KeyFiles) -> anyhow::Result<Witness> {
    Witness::open_with(dir, load_key(dir, keys)?).map_err(|e| anyhow::anyhow!(e))
}

fn load_key(dir: &Path, keys: &KeyFiles) -> anyhow::Result<dossier_proofs::Cosigner> {
    let path = dir.join(KEY_FILE);
    let plain = keys.read(&path)?;
    WitnessKeyFile::parse(&path, &plain).map_err(|e| anyhow::anyhow!(e))
}

/// Runs `dossier witness …`.
pub async fn run(data_dir: Option<PathBuf>, keys: &KeyFiles, args: &WitnessArgs) -> CliResult {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => Home::resolve(data_dir)?.dir_path().join("witness"),
    };
    match &args.command {
        WitnessCommand::Init { name, .. } => {
            let (cosigner, plain) = WitnessKeyFile::generate(&dir, name)
                .map_err(|e| CliError::new(INVALID_INPUT, anyhow::anyhow!(e)))?;
            keys.write_new(&dir.join(KEY_FILE), &plain)?;
            Store::open(&dir.join(STORE_FILE)).context("creating witness.db")?;
            crate::outln!("{}", cosigner.key().to_vkey())?;
        }
        WitnessCommand::Vkey => {
            let cosigner = load_key(&dir, keys)?;
            crate::outln!("{}", cosigner.key().to_vkey())?;
        }
        WitnessCommand::AddLog { origin, key } => {
            let verifier = if key.contains('+') {
                NoteVerifier::from_vkey(key)
            } else {
                NoteVerifier::new(origin, super::proofs::read_key(key)?)
            }
            .map_err(|e| {
                CliError::new(
                    INVALID_INPUT,
                    anyhow::anyhow!("the log's verifier key: {e}"),
                )
            })?;
            let vkey = &verifier.to_vkey();
            if verifier.name() != origin {
                return Err(CliError::new(
                    INVALID_INPUT,
                    anyhow::anyhow!(
                        "the verifier key is named {}, not the origin {origin}",
                        verifier.name()
                    ),
                ));
            }
            let witness = open(&dir, keys)?;
            witness
                .with_store(|s| s.add_log(origin, vkey))
                .context("writing witness.db")?;
            crate::outln!("witnessing {origin}")?;
        }
        WitnessCommand::Status { json } => {
            let witness = open(&dir, keys)?;
            let logs = witness
                .with_store(Store::logs)
                .context("reading witness.db")?;
            if *json {
                let doc: Vec<_> = logs
                    .iter()
                    .map(|l| {
                        serde_json::json!({
                            "origin": l.origin,
                            "vkey": l.vkey,
                            "size": l.size,
                            "root": l.root.map(|r| r.to_hex()),
                        })
                    })
                    .collect();
                crate::output::json(&serde_json::json!({
                    "witness": witness.cosigner().key().to_vkey(),
                    "logs": doc,
                }))?;
            } else {
                crate::outln!("witness {}", witness.cosigner().key().to_vkey())?;
                for l in logs {
                    crate::outln!("{} size {}", l.origin, l.size)?;
                }
            }
        }
        WitnessCommand::Backup { file } => {
            let doc = WitnessBackup::take(&dir).map_err(|e| anyhow::anyhow!(e))?;
            let plain = serde_json::to_vec(&doc).context("encoding the backup")?;
            let sealed = keys.encrypt_always(file, &plain)?;
            super::keys::write_new(file, &sealed)?;
            crate::outln!(
                "backed up the witness's key and witness.db to {} (encrypted)",
                file.display()
            )?;
        }
        WitnessCommand::Restore { file } => {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            if !dossier_app::keyfiles::is_encrypted(&bytes) {
                return Err(CliError::new(
                    INVALID_INPUT,
                    anyhow::anyhow!("{} is not an encrypted witness backup", file.display()),
                ));
            }
            let plain = keys.open(file, bytes)?;
            let doc = WitnessBackup::parse(&plain).map_err(|e| {
                CliError::new(INVALID_INPUT, anyhow::anyhow!("{}: {e}", file.display()))
            })?;
            // The key must read (with the same passphrase, if it is encrypted) before anything
            // is written.
            let key_bytes = if dossier_app::keyfiles::is_encrypted(doc.key.as_bytes()) {
                keys.open(&dir.join(KEY_FILE), doc.key.clone().into_bytes())?
            } else {
                doc.key.clone().into_bytes()
            };
            let cosigner = WitnessKeyFile::parse(&dir.join(KEY_FILE), &key_bytes)
                .map_err(|e| CliError::new(INVALID_INPUT, anyhow::anyhow!(e)))?;
            doc.restore(&dir)
                .map_err(|e| CliError::new(INVALID_INPUT, anyhow::anyhow!(e)))?;
            crate::outln!("restored witness {}", cosigner.key().to_vkey())?;
        }
        WitnessCommand::Serve { listen } => {
            let witness = Arc::new(open(&dir, keys)?);
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            let addr = listener.local_addr().context("the bound address")?;
            crate::outln!(
                "witness {} listening on http://{addr}",
                witness.cosigner().key().name()
            )?;
            dossier_witness::http::serve(listener, witness, super::serve::shutdown_signal())
                .await
                .context("serving")?;
        }
    }
    Ok(())
}
