//! The keys a ledger trusts, and changing them: listing every registered key, registering,
//! revoking and rotating, with the rules a revocation must pass before anything is recorded.
//!
//! Every change is a control event (`key.registered`, `key.revoked`, docs/FORMAT.md §5) sealed
//! through [`Publisher`] by a key of the data directory able to administer the ledger (the key
//! named, else the producer key if it administers, else the founding key or an admin key kept
//! here). Every rule of the key roles (docs/FORMAT.md §5.3) is checked before anything is
//! recorded, and a breach is a typed [`KeyRefusal`]. Faces ask for confirmation (the CLI on a
//! terminal) between [`plan_revocation`], which checks the rules, and [`revoke`].

use dossier_chain::{
    GenesisBody, KeyRegistered, KeyRevoked, KeyRole, RecordView, Role, Signer, control, key_id,
    parse_public_hex,
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
    /// What it may do: `founding`, `admin`, `producer`, `log`, or `unrestricted` (registered
    /// without a role, under format version 1's rules).
    pub role: KeyRole,
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

/// Why a key change is refused before anything is recorded.
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
    /// The key is the last one not revoked able to administer the ledger (the founding key,
    /// an admin key, or a key registered without a role): without it no key could register or
    /// revoke keys.
    #[error(
        "key {key} is the ledger's last trusted key able to administer it: without it no key could register or revoke keys"
    )]
    LastTrustedKey {
        /// The key id.
        key: String,
    },
    /// Once the ledger has key roles, only the founding key may revoke the last admin key.
    #[error(
        "key {key} is the ledger's last admin key: only the founding key may revoke it, and this directory signs with {signer}"
    )]
    LastAdmin {
        /// The admin key's id.
        key: String,
        /// The key this data directory signs with.
        signer: String,
    },
    /// The signing key may not register or revoke keys (a producer or log key).
    #[error(
        "key {signer} is a {role} key: only the founding key or an admin key may register or revoke keys"
    )]
    NotAdministrator {
        /// The key that would sign.
        signer: String,
        /// Its role.
        role: KeyRole,
    },
    /// The signing key is not a key of the ledger able to sign: not registered, or revoked.
    #[error("key {signer} is not a trusted key of this ledger (not registered, or revoked)")]
    SignerNotTrusted {
        /// The key that would sign.
        signer: String,
    },
    /// This data directory keeps no key able to administer the ledger.
    #[error(
        "this data directory keeps no key able to register or revoke keys (the founding key or an admin key)"
    )]
    NoAdministratorHere,
    /// The key may not sign checkpoints of the ledger (docs/PROOFS.md §5): not its log key (nor
    /// the founding key while it has none), or revoked.
    #[error(
        "key {key} ({role}{revoked}) may not sign checkpoints of this ledger: its log key signs them (the founding key while it has none)"
    )]
    NotCheckpointKey {
        /// The key id.
        key: String,
        /// Its role.
        role: KeyRole,
        /// ", revoked" when it was revoked.
        revoked: &'static str,
    },
    /// This data directory keeps the secret of no key that may sign checkpoints.
    #[error(
        "this data directory keeps no key that may sign checkpoints of the ledger (its log key, or the founding key while it has none)"
    )]
    NoCheckpointKeyHere,
    /// A log key signs checkpoints and seals no batch: it cannot be a producer key.
    #[error(
        "key {key} is a log key: it signs checkpoints and seals no batch, so it cannot publish"
    )]
    LogKeyPublishes {
        /// The log key's id.
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
                keys.push(info(home, g.founding_key, r.position, KeyRole::Founding));
            }
            control::KEY_REGISTERED => {
                let k: KeyRegistered = serde_json::from_str(view.body.get())
                    .map_err(|e| unreadable(r.position, &e))?;
                let role = KeyRole::registered(k.role);
                keys.push(info(home, k, r.position, role));
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

fn info(home: &Home, k: KeyRegistered, seq: u64, role: KeyRole) -> KeyInfo {
    let secret_here = home.has_key(&k.key);
    KeyInfo {
        key: k.key,
        name: k.name,
        public: k.public,
        registered_seq: seq,
        revoked_seq: None,
        founding: role == KeyRole::Founding,
        role,
        secret_here,
    }
}

/// Whether the ledger adopted key roles: a key was registered with a role (docs/FORMAT.md §5.3).
#[must_use]
pub fn roles_adopted(keys: &[KeyInfo]) -> bool {
    keys.iter()
        .any(|k| matches!(k.role, KeyRole::Admin | KeyRole::Producer | KeyRole::Log))
}

/// The key of this data directory that signs a key change: `key` if given (refused unless it
/// may administer the ledger), else the producer key if it may, else the founding key or an
/// admin key whose secret is kept here.
///
/// # Errors
/// [`AppError::KeyRefused`] ([`KeyRefusal::NotAdministrator`], [`KeyRefusal::SignerNotTrusted`],
/// [`KeyRefusal::NoAdministratorHere`]); key files.
pub fn administrator(home: &Home, keys: &[KeyInfo], key: Option<&str>) -> AppResult<Signer> {
    let active = |id: &str| keys.iter().find(|k| k.key == id && k.revoked_seq.is_none());
    let checked = |signer: Signer| -> AppResult<Signer> {
        match active(signer.id()) {
            None => Err(AppError::KeyRefused(KeyRefusal::SignerNotTrusted {
                signer: signer.id().to_owned(),
            })),
            Some(k) if !k.role.administers() => {
                Err(AppError::KeyRefused(KeyRefusal::NotAdministrator {
                    signer: signer.id().to_owned(),
                    role: k.role,
                }))
            }
            Some(_) => Ok(signer),
        }
    };
    if let Some(id) = key {
        return checked(home.producer(Some(id))?);
    }
    let producer = home.producer(None).ok();
    if let Some(p) = &producer
        && active(p.id()).is_some_and(|k| k.role.administers())
    {
        return Ok(p.clone());
    }
    let here = keys
        .iter()
        .filter(|k| k.revoked_seq.is_none() && k.role.administers() && k.secret_here)
        .min_by_key(|k| (k.role != KeyRole::Founding, k.registered_seq));
    match (here, producer) {
        (Some(k), _) => home.load_key(&k.key),
        (None, Some(p)) => checked(p),
        (None, None) => Err(AppError::KeyRefused(KeyRefusal::NoAdministratorHere)),
    }
}

/// What to register: the holder's name, the public key (none: a new key made here), its role,
/// whether this directory publishes with it from then on, and the key that signs (none: see
/// [`administrator`]).
#[derive(Clone, Copy, Debug)]
pub struct Registration<'a> {
    /// Who holds it.
    pub name: &'a str,
    /// A public key (64 hex digits) whose secret is elsewhere.
    pub public: Option<&'a str>,
    /// Its role.
    pub role: Role,
    /// Make it this directory's producer key.
    pub use_it: bool,
    /// The key that signs the registration.
    pub signer: Option<&'a str>,
}

/// The ids of the keys that may sign a checkpoint of the ledger at `size` records (a batch
/// boundary): [`dossier_chain::checkpoint_key_ids`] over the keys registered by then, revoked by
/// then or not.
#[must_use]
pub fn checkpoint_keys_at(keys: &[KeyInfo], size: u64) -> Vec<&KeyInfo> {
    let then: Vec<(&KeyInfo, bool)> = keys
        .iter()
        .filter(|k| k.registered_seq <= size)
        .map(|k| (k, k.revoked_seq.is_some_and(|r| r <= size)))
        .collect();
    let ids = dossier_chain::checkpoint_key_ids(
        then.iter()
            .map(|(k, revoked)| (k.key.as_str(), k.role, *revoked)),
    );
    ids.into_iter()
        .filter_map(|id| keys.iter().find(|k| k.key == id))
        .collect()
}

/// The keys of this data directory that may sign the ledger's checkpoints now (for the
/// auditor, which signs with the first its verification allows): `key` alone if given, else
/// every allowed key whose secret is kept here.
///
/// # Errors
/// [`AppError::KeyRefused`] ([`KeyRefusal::NotCheckpointKey`] for a `key` that may not sign,
/// [`KeyRefusal::NoCheckpointKeyHere`]); key files; the ledger cannot be read.
pub async fn checkpoint_signers(
    home: &Home,
    log: &Backend,
    key: Option<&str>,
) -> AppResult<Vec<Signer>> {
    checkpoint_signers_at(home, log, key, u64::MAX).await
}

/// The keys of this data directory that may sign a checkpoint of the ledger's first `size`
/// records (a batch boundary; `u64::MAX`: now), as [`checkpoint_signers`]: a range export's
/// key context is a checkpoint of the records before the range.
///
/// # Errors
/// As [`checkpoint_signers`].
pub async fn checkpoint_signers_at(
    home: &Home,
    log: &Backend,
    key: Option<&str>,
    size: u64,
) -> AppResult<Vec<Signer>> {
    let keys = list(home, log).await?;
    let allowed = checkpoint_keys_at(&keys, size);
    if let Some(id) = key {
        if allowed.iter().any(|k| k.key == id) {
            return Ok(vec![home.producer(Some(id))?]);
        }
        let found = keys.iter().find(|k| k.key == id);
        return Err(match found {
            None => AppError::KeyRefused(KeyRefusal::NotRegistered { key: id.to_owned() }),
            Some(k) => AppError::KeyRefused(KeyRefusal::NotCheckpointKey {
                key: id.to_owned(),
                role: k.role,
                revoked: if k.revoked_seq.is_some() {
                    ", revoked"
                } else {
                    ""
                },
            }),
        });
    }
    // The producer key first where it may sign (a ledger without key roles), as before them.
    let producer = home.producer(None).ok().map(|p| p.id().to_owned());
    let mut allowed = allowed;
    allowed.sort_by_key(|k| Some(&k.key) != producer.as_ref());
    let signers = allowed
        .iter()
        .filter(|k| k.secret_here)
        .map(|k| home.load_key(&k.key))
        .collect::<AppResult<Vec<Signer>>>()?;
    if signers.is_empty() {
        return Err(AppError::KeyRefused(KeyRefusal::NoCheckpointKeyHere));
    }
    Ok(signers)
}

/// The role key `id` was registered with, found by one event-id lookup of its
/// `key.registered` (`None`: no such registration — the founding key, or a key the ledger does
/// not know).
///
/// # Errors
/// The ledger cannot be read.
pub async fn registered_role(log: &Backend, id: &str) -> AppResult<Option<KeyRole>> {
    use dossier_log::EventLog as _;
    let reading = |e| AppError::log("looking up a key's registration", e);
    let found = log
        .lookup(&[dossier_chain::event_id(control::KEY_REGISTERED, id)])
        .await
        .map_err(reading)?;
    let Some(Some(entry)) = found.into_iter().next() else {
        return Ok(None);
    };
    let records = log.read(entry.seq, 1).await.map_err(reading)?;
    let registered = records.first().and_then(|rec| {
        RecordView::parse(&rec.bytes)
            .ok()
            .and_then(|v| serde_json::from_str::<KeyRegistered>(v.body.get()).ok())
    });
    Ok(registered.map(|k| KeyRole::registered(k.role)))
}

/// The key that publishes domain events (the CLI's `publish`, the HTTP service's posted
/// bundles): the data directory's producer key (or `key`), refused if the ledger registered it
/// as a log key, which seals no batch.
///
/// # Errors
/// [`AppError::KeyRefused`] ([`KeyRefusal::LogKeyPublishes`]); no producer key; key files; the
/// ledger cannot be read.
pub async fn publisher(home: &Home, log: &Backend, key: Option<&str>) -> AppResult<Signer> {
    let signer = home.producer(key)?;
    if registered_role(log, signer.id()).await? == Some(KeyRole::Log) {
        return Err(AppError::KeyRefused(KeyRefusal::LogKeyPublishes {
            key: signer.id().to_owned(),
        }));
    }
    Ok(signer)
}

/// Registers a key (schema 2, with its role): the public key given, or a new one generated and
/// saved in the data directory (removed again if the registration is not recorded); with
/// `use_it`, the data directory publishes with it from then on.
///
/// # Errors
/// [`AppError::KeyRefused`] when the signer may not register keys or a log key would publish; a
/// malformed public key, key files, the publish.
pub async fn register(home: &Home, log: &Backend, what: Registration<'_>) -> AppResult<KeyChange> {
    let Registration {
        name,
        public,
        role,
        use_it,
        signer,
    } = what;
    let keys = list(home, log).await?;
    let signer = administrator(home, &keys, signer)?;
    let (event, new) = match public {
        Some(p) => (registration(p, name, Some(role))?, None),
        None => {
            let new = Signer::generate(name);
            (
                registration(&new.public_hex(), name, Some(role))?,
                Some(new),
            )
        }
    };
    if use_it && role == Role::Log {
        return Err(AppError::KeyRefused(KeyRefusal::LogKeyPublishes {
            key: event.entity_key,
        }));
    }
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

/// Gives a ledger key roles from its start (`dossier init --roles`): registers, signed by the
/// founding key, a producer key named `producer` (this directory's producer key from then on)
/// and a log key named `log`, both made here. Returns the two changes.
///
/// # Errors
/// As [`register`].
pub async fn adopt_roles(
    home: &Home,
    log: &Backend,
    founder: &str,
    producer: &str,
) -> AppResult<[KeyChange; 2]> {
    let made = |name, role, use_it| Registration {
        name,
        public: None,
        role,
        use_it,
        signer: Some(founder),
    };
    let producer = register(home, log, made(producer, Role::Producer, true)).await?;
    let log_key = register(home, log, made("log", Role::Log, false)).await?;
    Ok([producer, log_key])
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

/// Checks a revocation against the rules (docs/FORMAT.md §5.3): the key is registered and not
/// revoked, a reason is given, the signer may administer the ledger, only the founding key
/// revokes the founding key, the ledger keeps a key able to administer it, and (once it has
/// key roles) only the founding key revokes the last admin key. Nothing is recorded.
///
/// # Errors
/// [`AppError::KeyRefused`] naming the rule; no key to sign with; the ledger cannot be read.
pub async fn plan_revocation(
    home: &Home,
    log: &Backend,
    key: &str,
    reason: &str,
    signer: Option<&str>,
) -> AppResult<RevocationPlan> {
    let keys = list(home, log).await?;
    let signer = administrator(home, &keys, signer)?;
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
    let signer_role = keys
        .iter()
        .find(|k| k.key == signer && k.revoked_seq.is_none())
        .map(|k| k.role)
        .ok_or_else(|| KeyRefusal::SignerNotTrusted {
            signer: signer.to_owned(),
        })?;
    if !signer_role.administers() {
        return Err(KeyRefusal::NotAdministrator {
            signer: signer.to_owned(),
            role: signer_role,
        });
    }
    if target.founding && signer != key {
        return Err(KeyRefusal::FoundingKey {
            key: key.to_owned(),
            signer: signer.to_owned(),
        });
    }
    let others = || {
        keys.iter()
            .filter(|k| k.revoked_seq.is_none() && k.key != key && k.role.administers())
    };
    if target.role.administers() && others().next().is_none() {
        return Err(KeyRefusal::LastTrustedKey {
            key: key.to_owned(),
        });
    }
    if roles_adopted(keys)
        && matches!(target.role, KeyRole::Admin | KeyRole::Unrestricted)
        && signer_role != KeyRole::Founding
        && !others().any(|k| k.role != KeyRole::Founding)
    {
        return Err(KeyRefusal::LastAdmin {
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

/// Replaces a key of the data directory (`key`, or the producer key) by a new one with the same
/// role (named `name`, or as the old one; a founding key is replaced by an admin key once the
/// ledger has key roles, by a key without a role before): registers the new key and revokes the
/// old one in one batch, sealed by the old key if it may administer the ledger, else by
/// [`administrator`]; then publishes with the new key if the old one was the producer key, and
/// destroys the old secret. A key replacing an encrypted one is encrypted too.
///
/// # Errors
/// [`AppError::KeyRefused`] when the old key is not trusted or nothing here may sign; no
/// producer key, key files, the publish.
pub async fn rotate(
    home: &Home,
    log: &Backend,
    key: Option<&str>,
    name: Option<&str>,
) -> AppResult<KeyChange> {
    let producer = home.producer(None).ok().map(|p| p.id().to_owned());
    let old = home.producer(key)?;
    let keys = list(home, log).await?;
    let Some(old_info) = keys
        .iter()
        .find(|k| k.key == old.id() && k.revoked_seq.is_none())
    else {
        return Err(AppError::KeyRefused(KeyRefusal::SignerNotTrusted {
            signer: old.id().to_owned(),
        }));
    };
    let role = match old_info.role {
        KeyRole::Founding if roles_adopted(&keys) => Some(Role::Admin),
        KeyRole::Founding | KeyRole::Unrestricted => None,
        KeyRole::Admin => Some(Role::Admin),
        KeyRole::Producer => Some(Role::Producer),
        KeyRole::Log => Some(Role::Log),
    };
    let signer = if old_info.role.administers() {
        old.clone()
    } else {
        administrator(home, &keys, None)?
    };
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
        registration(&new.public_hex(), new.name(), role)?,
        revocation(old.id(), &format!("rotated to {}", new.id()))?,
    ];
    if let Err(e) = publish(log, &signer, &events).await {
        home.remove_key(new.id());
        return Err(e);
    }
    let was_producer = producer.as_deref() == Some(old.id());
    if was_producer {
        home.set_producer(new.id())?;
    }
    let destroyed = home.destroy_key(old.id())?;
    Ok(KeyChange {
        registered: Some(new.id().to_owned()),
        revoked: Some(old.id().to_owned()),
        signed_by: signer.id().to_owned(),
        producer: was_producer.then(|| new.id().to_owned()),
        destroyed,
    })
}

fn registration(public_hex: &str, name: &str, role: Option<Role>) -> AppResult<PendingEvent> {
    let public = parse_public_hex(public_hex).map_err(|e| AppError::Key {
        what: format!("the public key to register is malformed: {e}"),
        source: None,
    })?;
    let body = KeyRegistered {
        key: key_id(&public),
        public: public_hex.trim().to_ascii_lowercase(),
        name: name.to_owned(),
        role,
    };
    Ok(PendingEvent {
        event_type: control::KEY_REGISTERED.into(),
        schema: body.schema(),
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

    fn key(id: &str, role: KeyRole, revoked: Option<u64>) -> KeyInfo {
        KeyInfo {
            key: id.to_owned(),
            name: id.to_owned(),
            public: String::new(),
            registered_seq: 1,
            revoked_seq: revoked,
            founding: role == KeyRole::Founding,
            role,
            secret_here: false,
        }
    }

    #[test]
    fn each_rule_refuses_what_it_names() {
        use KeyRole::{Founding, Unrestricted};
        let keys = [
            key("f", Founding, None),
            key("a", Unrestricted, None),
            key("r", Unrestricted, Some(9)),
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
        let last = [key("f", Founding, None), key("a", Unrestricted, Some(3))];
        assert!(matches!(
            check_revocation(&last, "f", "gone", "f"),
            Err(KeyRefusal::LastTrustedKey { .. })
        ));
    }

    #[test]
    fn role_rules_refuse_what_they_name() {
        use KeyRole::{Admin, Founding, Log, Producer};
        let keys = [
            key("f", Founding, None),
            key("a", Admin, None),
            key("p", Producer, None),
            key("l", Log, None),
        ];
        let check = |k: &str, signer: &str| check_revocation(&keys, k, "why", signer);
        // A producer or log key revokes nothing.
        assert_eq!(
            check("a", "p"),
            Err(KeyRefusal::NotAdministrator {
                signer: "p".into(),
                role: Producer
            })
        );
        assert!(matches!(
            check("p", "l"),
            Err(KeyRefusal::NotAdministrator { role: Log, .. })
        ));
        // The admin revokes a producer or the log key, not the founding key, nor itself as the
        // last admin; the founding key may revoke the last admin.
        assert_eq!(check("p", "a"), Ok(()));
        assert_eq!(check("l", "a"), Ok(()));
        assert!(matches!(
            check("f", "a"),
            Err(KeyRefusal::FoundingKey { .. })
        ));
        assert_eq!(
            check("a", "a"),
            Err(KeyRefusal::LastAdmin {
                key: "a".into(),
                signer: "a".into()
            })
        );
        assert_eq!(check("a", "f"), Ok(()));
        // A revoked signer signs nothing.
        let revoked = [key("f", Founding, None), key("a", Admin, Some(5))];
        assert!(matches!(
            check_revocation(&revoked, "f", "why", "a"),
            Err(KeyRefusal::SignerNotTrusted { .. })
        ));
        // The founding key may not leave the ledger without an administrator.
        let alone = [key("f", Founding, None), key("p", Producer, None)];
        assert!(matches!(
            check_revocation(&alone, "f", "why", "f"),
            Err(KeyRefusal::LastTrustedKey { .. })
        ));
    }
}
