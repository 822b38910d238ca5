//! The keys a ledger trusts, and changing them: listing every registered key, registering,
//! revoking and rotating, with the rules a revocation must pass before anything is recorded.
//!
//! Every change is a control event (`key.registered`, `key.revoked`, docs/FORMAT.md §5) sealed by
//! the data directory's producer key through [`Publisher`]. Faces ask for confirmation (the
//! CLI on a terminal) between [`plan_revocation`], which checks the rules, and [`revoke`].

use dossier_chain::{
    GenesisBody, KeyRegistered, KeyRevoked, RecordView, Signer, control, key_id, parse_public_hex,
};
use dossier_log::{PendingEvent, PublishOutcome, Publisher, ledger};
use serde::Serialize;

use crate::backend::Backend;
use crate::error::{AppError, AppResult};
use crate::home::Home;

/// A key the ledger registered (the founding key included), as `keys list --json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct KeyInfo {
    /// The key id (16 hex digits).
    pub key: String,
    /// The name it was registered with.
    pub name: String,
    /// Its Ed25519 public key (64 hex digits).
    pub public: String,
    /// The seq of the record that registered it (1 for the founding key).
    pub registered_seq: u64,
    /// The seq of its revocation, if it was revoked.
    pub revoked_seq: Option<u64>,
    /// Whether it is the founding key (named by the genesis).
    pub founding: bool,
    /// Whether this data directory holds its secret.
    pub secret_here: bool,
}

/// What a key change recorded, as `keys register`, `revoke` and `rotate --json` print it.
#[derive(Clone, Debug, Serialize)]
pub struct KeyChange {
    /// The key registered, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered: Option<String>,
    /// The key revoked, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    /// The key whose seal recorded the change.
    pub signed_by: String,
    /// The data directory's producer key, if the change set it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
    /// Whether a secret of the revoked key kept in this directory was destroyed.
    #[serde(skip)]
    pub destroyed: bool,
}

/// Why a revocation is refused before anything is recorded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    /// The key is not registered in the ledger: its revocation would fail verification for good.
    #[error("key {key} is not registered in this ledger")]
    NotRegistered {
        /// The key id given.
        key: String,
    },
    /// The key is already revoked.
    #[error("key {key} was already revoked at seq {seq}")]
    AlreadyRevoked {
        /// The key id.
        key: String,
        /// The seq of its revocation.
        seq: u64,
    },
    /// No reason was given (a revocation records why).
    #[error("a revocation needs a reason")]
    NoReason,
    /// The key is the last one not revoked: under format version 1 every trusted key may
    /// register and revoke keys, so without it no key could administer the ledger or publish.
    #[error(
        "key {key} is the ledger's last trusted key: without it no key could register or revoke keys, or publish"
    )]
    LastTrustedKey {
        /// The key id.
        key: String,
    },
    /// Only the founding key itself may revoke the founding key.
    #[error(
        "key {key} is the founding key: only the founding key itself may revoke it, and this directory signs with {signer}"
    )]
    FoundingKey {
        /// The founding key's id.
        key: String,
        /// The key this data directory signs with.
        signer: String,
    },
}

/// Every key registered in the ledger, in order of registration.
///
/// # Errors
/// The ledger cannot be read, or a record is unreadable.
pub async fn list(home: &Home, log: &Backend) -> AppResult<Vec<KeyInfo>> {
    let mut keys: Vec<KeyInfo> = Vec::new();
    let unreadable = |seq: u64, e: &dyn std::fmt::Display| {
        dossier_log::LogError::Corrupt(format!("record {seq} is unreadable: {e}"))
    };
    dossier_log::for_each_record(log, 1, |r| -> Result<(), dossier_log::LogError> {
        let view = RecordView::parse(&r.bytes).map_err(|e| unreadable(r.position, &e))?;
        match view.event_type {
            control::GENESIS => {
                let g: GenesisBody = serde_json::from_str(view.body.get())
                    .map_err(|e| unreadable(r.position, &e))?;
                keys.push(info(home, g.founding_key, r.position, true));
            }
            control::KEY_REGISTERED => {
                let k: KeyRegistered = serde_json::from_str(view.body.get())
                    .map_err(|e| unreadable(r.position, &e))?;
                keys.push(info(home, k, r.position, false));
            }
            control::KEY_REVOKED => {
                let k: KeyRevoked = serde_json::from_str(view.body.get())
                    .map_err(|e| unreadable(r.position, &e))?;
                if let Some(i) = keys.iter_mut().find(|i| i.key == k.key) {
                    i.revoked_seq = Some(r.position);
                }
            }
            _ => {}
        }
        Ok(())
    })
    .await
    .map_err(|e| AppError::log("reading the keys of the ledger", e))?;
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

/// Registers a key: the public key given, or a new one generated and saved in the data
/// directory (removed again if the registration is not recorded); with `use_it`, the data
/// directory publishes with it from then on.
///
/// # Errors
/// A malformed public key, no producer key, key files, the publish.
pub async fn register(
    home: &Home,
    log: &Backend,
    name: &str,
    public: Option<&str>,
    use_it: bool,
) -> AppResult<KeyChange> {
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
    if let Err(e) = publish(log, &signer, std::slice::from_ref(&event)).await {
        if let Some(new) = &new {
            home.remove_key(new.id());
        }
        return Err(e);
    }
    if use_it {
        home.set_producer(&event.entity_key)?;
    }
    Ok(KeyChange {
        registered: Some(event.entity_key.clone()),
        revoked: None,
        signed_by: signer.id().to_owned(),
        producer: use_it.then_some(event.entity_key),
        destroyed: false,
    })
}

/// A revocation that passed the rules, ready to be recorded by [`revoke`].
#[derive(Debug)]
pub struct RevocationPlan {
    /// The key to revoke.
    pub key: String,
    /// Its registered name.
    pub name: String,
    /// The reason, trimmed.
    pub reason: String,
    signer: Signer,
}

/// Checks a revocation against the rules: the key is registered and not revoked, a reason is
/// given, the ledger keeps a trusted key (under format version 1 every trusted key may register
/// and revoke keys, so the last one is the last key able to administer the ledger), and only the
/// founding key revokes the founding key. Nothing is recorded.
///
/// # Errors
/// [`AppError::KeyRefused`] naming the rule; no producer key; the ledger cannot be read.
pub async fn plan_revocation(
    home: &Home,
    log: &Backend,
    key: &str,
    reason: &str,
) -> AppResult<RevocationPlan> {
    let signer = home.producer(None)?;
    let keys = list(home, log).await?;
    check_revocation(&keys, key, reason, signer.id()).map_err(AppError::KeyRefused)?;
    let name = keys
        .iter()
        .find(|k| k.key == key)
        .map(|k| k.name.clone())
        .unwrap_or_default();
    Ok(RevocationPlan {
        key: key.to_owned(),
        name,
        reason: reason.trim().to_owned(),
        signer,
    })
}

/// The rules of [`plan_revocation`], over the ledger's keys.
fn check_revocation(
    keys: &[KeyInfo],
    key: &str,
    reason: &str,
    signer: &str,
) -> Result<(), KeyRefusal> {
    // A revocation of a key the ledger does not know, or of one already revoked, would be
    // recorded for good and fail verification from then on.
    let target = match keys.iter().find(|k| k.key == key) {
        None => {
            return Err(KeyRefusal::NotRegistered {
                key: key.to_owned(),
            });
        }
        Some(KeyInfo {
            revoked_seq: Some(seq),
            ..
        }) => {
            return Err(KeyRefusal::AlreadyRevoked {
                key: key.to_owned(),
                seq: *seq,
            });
        }
        Some(k) => k,
    };
    if reason.trim().is_empty() {
        return Err(KeyRefusal::NoReason);
    }
    if !keys.iter().any(|k| k.revoked_seq.is_none() && k.key != key) {
        return Err(KeyRefusal::LastTrustedKey {
            key: key.to_owned(),
        });
    }
    if target.founding && signer != key {
        return Err(KeyRefusal::FoundingKey {
            key: key.to_owned(),
            signer: signer.to_owned(),
        });
    }
    Ok(())
}

/// Records a planned revocation and destroys the key's secret if this directory keeps it.
///
/// # Errors
/// The publish; destroying the secret.
pub async fn revoke(home: &Home, log: &Backend, plan: RevocationPlan) -> AppResult<KeyChange> {
    publish(log, &plan.signer, &[revocation(&plan.key, &plan.reason)?]).await?;
    let destroyed = home.destroy_key(&plan.key)?;
    Ok(KeyChange {
        registered: None,
        revoked: Some(plan.key),
        signed_by: plan.signer.id().to_owned(),
        producer: None,
        destroyed,
    })
}

/// Replaces the data directory's producer key by a new one (named `name`, or as the old one):
/// registers the new key and revokes the old one in one batch sealed by the old key, then
/// publishes with the new key and destroys the old secret. A key replacing an encrypted one is
/// encrypted too.
///
/// # Errors
/// No producer key, key files, the publish.
pub async fn rotate(home: &Home, log: &Backend, name: Option<&str>) -> AppResult<KeyChange> {
    let old = home.producer(None)?;
    let new = Signer::generate(name.unwrap_or(old.name()));
    let encrypted;
    let home = if home.key_is_encrypted(old.id()) {
        encrypted = home
            .clone()
            .with_keys(home.key_files().clone().encrypt(true));
        &encrypted
    } else {
        home
    };
    home.save_key(&new)?;
    let events = [
        registration(&new.public_hex(), new.name())?,
        revocation(old.id(), &format!("rotated to {}", new.id()))?,
    ];
    if let Err(e) = publish(log, &old, &events).await {
        home.remove_key(new.id());
        return Err(e);
    }
    home.set_producer(new.id())?;
    let destroyed = home.destroy_key(old.id())?;
    Ok(KeyChange {
        registered: Some(new.id().to_owned()),
        revoked: Some(old.id().to_owned()),
        signed_by: old.id().to_owned(),
        producer: Some(new.id().to_owned()),
        destroyed,
    })
}

fn registration(public_hex: &str, name: &str) -> AppResult<PendingEvent> {
    let public = parse_public_hex(public_hex).map_err(|e| AppError::Key {
        what: format!("the public key to register is malformed: {e}"),
        source: None,
    })?;
    let body = KeyRegistered {
        key: key_id(&public),
        public: public_hex.trim().to_ascii_lowercase(),
        name: name.to_owned(),
    };
    Ok(PendingEvent {
        event_type: control::KEY_REGISTERED.into(),
        schema: control::SCHEMA,
        entity_key: body.key.clone(),
        marking: "TLP:CLEAR".into(),
        body: encode(&body)?,
    })
}

fn revocation(key: &str, reason: &str) -> AppResult<PendingEvent> {
    let body = KeyRevoked {
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    Ok(PendingEvent {
        event_type: control::KEY_REVOKED.into(),
        schema: control::SCHEMA,
        entity_key: key.to_owned(),
        marking: "TLP:CLEAR".into(),
        body: encode(&body)?,
    })
}

fn encode(body: &impl Serialize) -> AppResult<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| AppError::Key {
        what: format!("encoding a key event: {e}"),
        source: None,
    })
}

async fn publish(
    log: &Backend,
    signer: &Signer,
    events: &[PendingEvent],
) -> AppResult<PublishOutcome> {
    let ledger = ledger::ledger_id(log)
        .await
        .map_err(|e| AppError::log("reading the genesis", e))?
        .ok_or(AppError::EmptyLedger)?;
    Publisher::new(log, signer, ledger)
        .publish(events, &[])
        .await
        .map_err(|source| AppError::Publish {
            file: "the key change".to_owned(),
            committed: 0,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, founding: bool, revoked: Option<u64>) -> KeyInfo {
        KeyInfo {
            key: id.to_owned(),
            name: id.to_owned(),
            public: String::new(),
            registered_seq: 1,
            revoked_seq: revoked,
            founding,
            secret_here: false,
        }
    }

    #[test]
    fn each_rule_refuses_what_it_names() {
        let keys = [
            key("f", true, None),
            key("a", false, None),
            key("r", false, Some(9)),
        ];
        let refused =
            |k: &str, reason: &str, signer: &str| check_revocation(&keys, k, reason, signer);
        assert!(matches!(
            refused("x", "why", "f"),
            Err(KeyRefusal::NotRegistered { .. })
        ));
        assert_eq!(
            refused("r", "why", "f"),
            Err(KeyRefusal::AlreadyRevoked {
                key: "r".into(),
                seq: 9
            })
        );
        assert_eq!(refused("a", "  ", "f"), Err(KeyRefusal::NoReason));
        assert!(matches!(
            refused("f", "coup", "a"),
            Err(KeyRefusal::FoundingKey { .. })
        ));
        assert_eq!(refused("f", "retired", "f"), Ok(()));
        assert_eq!(refused("a", "left", "f"), Ok(()));
        let last = [key("f", true, None), key("a", false, Some(3))];
        assert!(matches!(
            check_revocation(&last, "f", "gone", "f"),
            Err(KeyRefusal::LastTrustedKey { .. })
        ));
    }
}
