//! `dossier keys`: the producer keys a ledger trusts.

use anyhow::Context as _;
use dossier_chain::{
    GenesisBody, KeyRegistered, KeyRevoked, RecordView, Signer, control, key_id, parse_public_hex,
};
use dossier_log::{PendingEvent, PublishOutcome, Publisher, ledger};

use crate::backend::Backend;
use serde::Serialize;

use crate::cli::KeysCommand;
use crate::exit::{CliError, CliResult, FAILURE};
use crate::home::Home;

#[derive(Debug, Serialize)]
pub(crate) struct KeyInfo {
    key: String,
    name: String,
    pub(crate) public: String,
    registered_seq: u64,
    revoked_seq: Option<u64>,
    founding: bool,
    secret_here: bool,
}

/// Every key registered in the ledger, in order of registration.
pub(crate) async fn list_keys(home: &Home, log: &Backend) -> anyhow::Result<Vec<KeyInfo>> {
    let mut keys: Vec<KeyInfo> = Vec::new();
    dossier_log::for_each_record(log, 1, |r| -> anyhow::Result<()> {
        let view = RecordView::parse(&r.bytes)
            .with_context(|| format!("record {} is unreadable", r.position))?;
        match view.event_type {
            control::GENESIS => {
                let g: GenesisBody = serde_json::from_str(view.body.get())?;
                keys.push(info(home, g.founding_key, r.position, true));
            }
            control::KEY_REGISTERED => {
                let k: KeyRegistered = serde_json::from_str(view.body.get())?;
                keys.push(info(home, k, r.position, false));
            }
            control::KEY_REVOKED => {
                let k: KeyRevoked = serde_json::from_str(view.body.get())?;
                if let Some(i) = keys.iter_mut().find(|i| i.key == k.key) {
                    i.revoked_seq = Some(r.position);
                }
            }
            _ => {}
        }
        Ok(())
    })
    .await?;
    Ok(keys)
}

fn info(home: &Home, k: KeyRegistered, seq: u64, founding: bool) -> KeyInfo {
    let secret_here = home.has_key(&k.key);
    KeyInfo {
        key: k.key,
        name: k.name,
        public: k.public,
        registered_seq: seq,
        revoked_seq: None,
        founding,
        secret_here,
    }
}

fn registration(public_hex: &str, name: &str) -> anyhow::Result<PendingEvent> {
    let public = parse_public_hex(public_hex)?;
    let body = KeyRegistered {
        key: key_id(&public),
        public: hex_lower(public_hex),
        name: name.to_owned(),
    };
    Ok(PendingEvent {
        event_type: control::KEY_REGISTERED.into(),
        schema: control::SCHEMA,
        entity_key: body.key.clone(),
        marking: "TLP:CLEAR".into(),
        body: serde_json::to_vec(&body)?,
    })
}

fn revocation(key: &str, reason: &str) -> anyhow::Result<PendingEvent> {
    let body = KeyRevoked {
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    Ok(PendingEvent {
        event_type: control::KEY_REVOKED.into(),
        schema: control::SCHEMA,
        entity_key: key.to_owned(),
        marking: "TLP:CLEAR".into(),
        body: serde_json::to_vec(&body)?,
    })
}

fn hex_lower(text: &str) -> String {
    text.trim().to_ascii_lowercase()
}

async fn publish(
    log: &Backend,
    signer: &Signer,
    events: &[PendingEvent],
) -> CliResult<PublishOutcome> {
    let ledger = ledger::ledger_id(log)
        .await
        .context("reading the genesis")?
        .context("the ledger is empty")?;
    Publisher::new(log, signer, ledger)
        .publish(events, &[])
        .await
        .map_err(|e| CliError::new(FAILURE, e))
}

/// What `keys register`, `revoke` and `rotate --json` print.
#[derive(serde::Serialize)]
struct KeyChange<'a> {
    /// The key registered, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    registered: Option<&'a str>,
    /// The key revoked, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked: Option<&'a str>,
    /// The key whose seal recorded the change.
    signed_by: &'a str,
    /// The data directory's producer key, if the command changed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    producer: Option<&'a str>,
}

fn refuse(message: String) -> CliError {
    CliError::new(FAILURE, anyhow::anyhow!("{message}; nothing was appended"))
}

/// The rules a revocation must pass before it is recorded: the key is registered and not
/// revoked, a reason is given, the ledger keeps a trusted key (under format version 1 every
/// trusted key may register and revoke keys, so the last one is the last key able to
/// administer the ledger), and only the founding key revokes the founding key.
fn check_revocation(keys: &[KeyInfo], key: &str, reason: &str, signer: &str) -> CliResult {
    // A revocation of a key the ledger does not know, or of one already revoked, would be
    // recorded for good and fail verification from then on.
    let target = match keys.iter().find(|k| k.key == key) {
        None => {
            return Err(refuse(format!(
                "key {key} is not registered in this ledger (`dossier keys list` shows its keys)"
            )));
        }
        Some(KeyInfo {
            revoked_seq: Some(seq),
            ..
        }) => {
            return Err(refuse(format!(
                "key {key} was already revoked at seq {seq}"
            )));
        }
        Some(k) => k,
    };
    if reason.trim().is_empty() {
        return Err(refuse(
            "a revocation needs a reason (--reason TEXT)".to_owned(),
        ));
    }
    if !keys.iter().any(|k| k.revoked_seq.is_none() && k.key != key) {
        return Err(refuse(format!(
            "key {key} is the ledger's last trusted key: without it no key could register or revoke keys, or publish; register another key first (`dossier keys register`)"
        )));
    }
    if target.founding && signer != key {
        return Err(refuse(format!(
            "key {key} is the founding key: only the founding key itself may revoke it, and this directory signs with {signer}"
        )));
    }
    Ok(())
}

/// Asks on the terminal for the key id to be typed back; refuses without a terminal.
fn confirm_revocation(keys: &[KeyInfo], key: &str) -> CliResult {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(refuse(format!(
            "revoking key {key} needs confirmation and there is no terminal to ask on: pass --yes"
        )));
    }
    let name = keys
        .iter()
        .find(|k| k.key == key)
        .map_or("", |k| k.name.as_str());
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "Revoke key {key} ({name})? Seals it signs after this fail verification, for good, and its secret in this directory is destroyed.\nType the key id to confirm: "
    );
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the confirmation")?;
    if line.trim() != key {
        return Err(refuse(format!("revocation of key {key} not confirmed")));
    }
    Ok(())
}

/// Creates `path` (0600, refusing an existing file) holding `bytes`.
fn write_new(path: &std::path::Path, bytes: &[u8]) -> CliResult {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `dossier keys …`.
pub async fn run(home: &Home, cmd: &KeysCommand) -> CliResult {
    let log = home.open_log().await?;
    match cmd {
        KeysCommand::List { json } => {
            let keys = list_keys(home, &log).await?;
            if *json {
                crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&keys).context("encoding JSON")?
                )?;
            } else {
                for k in keys {
                    let state = match k.revoked_seq {
                        Some(s) => format!("revoked at seq {s}"),
                        None => "active".to_owned(),
                    };
                    crate::outln!(
                        "{}  {:<20} registered at seq {:<6} {state}{}{}",
                        k.key,
                        k.name,
                        k.registered_seq,
                        if k.founding { ", founding key" } else { "" },
                        if k.secret_here {
                            ", secret in this directory"
                        } else {
                            ""
                        }
                    )?;
                }
            }
        }
        KeysCommand::Register {
            name,
            public,
            use_it,
            json,
            ..
        } => {
            let signer = home.producer(None)?;
            let (event, new) = match public {
                Some(p) => (registration(p, name)?, None),
                None => {
                    let new = Signer::generate(name);
                    (registration(&new.public_hex(), name)?, Some(new))
                }
            };
            if let Some(new) = &new {
                home.save_key(new)?;
            }
            if let Err(e) = publish(&log, &signer, std::slice::from_ref(&event)).await {
                if let Some(new) = &new {
                    home.remove_key(new.id());
                }
                return Err(e);
            }
            if *use_it {
                home.set_producer(&event.entity_key)?;
            }
            if *json {
                crate::output::json(&KeyChange {
                    registered: Some(&event.entity_key),
                    revoked: None,
                    signed_by: signer.id(),
                    producer: use_it.then_some(event.entity_key.as_str()),
                })?;
                return Ok(());
            }
            crate::outln!(
                "registered key {} ({name}), signed by {}",
                event.entity_key,
                signer.id()
            )?;
            if *use_it {
                crate::outln!("this directory now publishes with key {}", event.entity_key)?;
            }
        }
        KeysCommand::Revoke {
            key,
            reason,
            yes,
            json,
        } => {
            let signer = home.producer(None)?;
            let keys = list_keys(home, &log).await?;
            check_revocation(&keys, key, reason, signer.id())?;
            if !*yes {
                confirm_revocation(&keys, key)?;
            }
            publish(&log, &signer, &[revocation(key, reason.trim())?]).await?;
            let destroyed = home.destroy_key(key)?;
            if *json {
                crate::output::json(&KeyChange {
                    registered: None,
                    revoked: Some(key),
                    signed_by: signer.id(),
                    producer: None,
                })?;
                return Ok(());
            }
            crate::outln!("revoked key {key}, signed by {}", signer.id())?;
            if destroyed {
                crate::outln!("its secret in this directory was destroyed")?;
            }
        }
        KeysCommand::Backup { out, json } => {
            let (bytes, summary) = home.backup_keys(&log).await?;
            write_new(out, &bytes)?;
            if *json {
                crate::output::json(&summary)?;
                return Ok(());
            }
            crate::outln!(
                "backed up {} key file(s) ({}), the pinned root and the producer choice of ledger {} to {} (encrypted)",
                summary.keys.len(),
                summary.keys.join(", "),
                summary.ledger,
                out.display()
            )?;
        }
        KeysCommand::Restore { file, json } => {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let restored = home.restore_keys(&log, file, bytes).await?;
            if *json {
                crate::output::json(&restored)?;
                return Ok(());
            }
            crate::outln!(
                "restored {} key file(s) ({}) and the pinned root of ledger {}",
                restored.keys.len(),
                restored.keys.join(", "),
                restored.ledger
            )?;
            if !restored.destroyed.is_empty() {
                crate::outln!(
                    "destroyed at once, revoked since the backup: {}",
                    restored.destroyed.join(", ")
                )?;
            }
        }
        KeysCommand::Rotate { name, json, .. } => {
            let old = home.producer(None)?;
            let new = Signer::generate(name.as_deref().unwrap_or(old.name()));
            // A key replacing an encrypted one is never kept in the clear.
            let home = if home.key_is_encrypted(old.id()) {
                &home
                    .clone()
                    .with_keys(home.key_files().clone().encrypt(true))
            } else {
                home
            };
            home.save_key(&new)?;
            let events = [
                registration(&new.public_hex(), new.name())?,
                revocation(old.id(), &format!("rotated to {}", new.id()))?,
            ];
            if let Err(e) = publish(&log, &old, &events).await {
                home.remove_key(new.id());
                return Err(e);
            }
            home.set_producer(new.id())?;
            home.destroy_key(old.id())?;
            if *json {
                crate::output::json(&KeyChange {
                    registered: Some(new.id()),
                    revoked: Some(old.id()),
                    signed_by: old.id(),
                    producer: Some(new.id()),
                })?;
                return Ok(());
            }
            crate::outln!(
                "rotated: key {} replaces {} (revoked, its secret destroyed); this directory now publishes with {}",
                new.id(),
                old.id(),
                new.id()
            )?;
        }
    }
    Ok(())
}
