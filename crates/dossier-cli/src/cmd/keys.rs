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
        KeysCommand::Revoke { key, reason, json } => {
            // A revocation of a key the ledger does not know, or of one already revoked, would
            // be recorded for good and fail verification from then on.
            let keys = list_keys(home, &log).await?;
            match keys.iter().find(|k| &k.key == key) {
                None => {
                    return Err(CliError::new(
                        FAILURE,
                        anyhow::anyhow!(
                            "key {key} is not registered in this ledger (`dossier keys list` shows its keys); nothing was appended"
                        ),
                    ));
                }
                Some(KeyInfo {
                    revoked_seq: Some(seq),
                    ..
                }) => {
                    return Err(CliError::new(
                        FAILURE,
                        anyhow::anyhow!(
                            "key {key} was already revoked at seq {seq}; nothing was appended"
                        ),
                    ));
                }
                Some(_) => {}
            }
            let signer = home.producer(None)?;
            publish(&log, &signer, &[revocation(key, reason)?]).await?;
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
        }
        KeysCommand::Rotate { name, json } => {
            let old = home.producer(None)?;
            let new = Signer::generate(name.as_deref().unwrap_or(old.name()));
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
                "rotated: key {} replaces {} (revoked); this directory now publishes with {}",
                new.id(),
                old.id(),
                new.id()
            )?;
        }
    }
    Ok(())
}
