//! [`Grants`]: the fold of a ledger's access records, and authentication against it.

use std::collections::{BTreeMap, HashMap, HashSet};

use dossier_chain::{
    GenesisBody, KeyRegistered, KeyRevoked, KeyRole, RecordView, StoredRecord, control,
};
use dossier_log::EventLog;
use dossier_model::{Marking, Timestamp};
use serde::{Deserialize, Serialize};

use crate::AccessError;
use crate::record::{
    Credential, ENTITY_PREFIX, GRANTED, GrantBody, MARKING, REVOKED, RevokeBody, Role, SCHEMA,
    token_sha256,
};

/// Who a request comes from, once authenticated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The principal's name, as granted.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The most restrictive marking it may see.
    pub clearance: Marking,
    /// The grant it authenticated with (its id).
    pub grant: String,
}

/// Why a credential does not authenticate. A service answers all three alike (401) and logs
/// which it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthError {
    /// No grant holds this credential.
    #[error("no grant holds this credential")]
    Unknown,
    /// The grant holding it was revoked.
    #[error("the grant holding this credential was revoked")]
    Revoked,
    /// The grant holding it has expired.
    #[error("the grant holding this credential has expired")]
    Expired,
}

/// The state of a grant at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    /// It authenticates.
    Active,
    /// Its expiry has passed.
    Expired,
    /// It was revoked (whether or not it has also expired).
    Revoked,
}

impl GrantState {
    /// `active`, `expired` or `revoked`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            GrantState::Active => "active",
            GrantState::Expired => "expired",
            GrantState::Revoked => "revoked",
        }
    }
}

/// A revocation as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationInfo {
    /// Sequence number of the `access.revoked` record.
    pub seq: u64,
    /// Its recorded time (fixed-width form).
    pub recorded: String,
    /// Key id that sealed it.
    pub by: String,
    /// Why.
    pub reason: String,
}

/// A grant as recorded, with its revocation if any. Holds the credential's hash (the token
/// itself is never stored anywhere).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantInfo {
    /// The grant id.
    pub grant: String,
    /// Who holds it.
    pub principal: String,
    /// What it allows.
    pub role: Role,
    /// Its clearance.
    pub clearance: Marking,
    /// When it stops authenticating, or `None` for never.
    pub expires: Option<Timestamp>,
    /// The credential's kind and hash.
    pub credential: Credential,
    /// Sequence number of the `access.granted` record.
    pub seq: u64,
    /// Its recorded time (fixed-width form).
    pub recorded: String,
    /// Key id that sealed it.
    pub by: String,
    /// The revocation, if any.
    pub revoked: Option<RevocationInfo>,
}

impl GrantInfo {
    /// The grant's state at `now`: revoked wins over expired.
    #[must_use]
    pub fn state(&self, now: Timestamp) -> GrantState {
        if self.revoked.is_some() {
            GrantState::Revoked
        } else if self.expires.is_some_and(|e| now >= e) {
            GrantState::Expired
        } else {
            GrantState::Active
        }
    }

    fn principal(&self) -> Principal {
        Principal {
            name: self.principal.clone(),
            role: self.role,
            clearance: self.clearance,
            grant: self.grant.clone(),
        }
    }
}

/// An access record the fold did not honour, and why (a grant that is malformed, or sealed by
/// a key the ledger does not trust, never authenticates).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// Its sequence number.
    pub seq: u64,
    /// Why it was not honoured.
    pub reason: String,
}

/// One grant, with its credential's hash as bytes.
#[derive(Clone, Debug)]
struct Entry {
    info: GrantInfo,
    hash: [u8; 32],
}

/// A record of the batch being read, kept until its seal.
#[derive(Debug)]
enum Pending {
    Key(KeyChange),
    Access(AccessRecord),
}

#[derive(Debug)]
enum KeyChange {
    Register(String, KeyRole),
    Revoke(String),
}

#[derive(Debug)]
struct AccessRecord {
    seq: u64,
    event_type: String,
    schema: u32,
    entity: String,
    marking: String,
    recorded: String,
    key: String,
    body: String,
}

/// The grants of a ledger: a fold of its `access.granted` and `access.revoked` records.
///
/// Records are applied in order ([`Grants::apply`], or [`Grants::catch_up`] from a log). Like
/// key events (`docs/FORMAT.md` §5.3), an access record takes effect when the seal of its
/// batch is read, and only if the key that sealed the batch was trusted (the founding key or
/// registered, and not revoked) before that batch and may administer the ledger (the founding
/// key, an admin key, or a key registered without a role; never a producer or log key). Whether the seal's signature holds is the
/// verifier's and the auditor's job: a service serving grants runs the auditor and stops on
/// its alarms. An access record that is malformed, not marked `TLP:RED`, sealed by an
/// untrusted key, or that revokes an unknown or already revoked grant is not honoured and is
/// listed by [`Grants::rejected`].
#[derive(Debug, Default)]
pub struct Grants {
    next: u64,
    trusted: HashMap<String, KeyRole>,
    revoked_keys: HashSet<String>,
    batch: Vec<Pending>,
    grants: BTreeMap<String, Entry>,
    rejected: Vec<Rejected>,
    scratch: String,
}

/// Compares two hashes in constant time.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

impl Grants {
    /// No grants; the next record to apply is record 1.
    #[must_use]
    pub fn new() -> Grants {
        Grants {
            next: 1,
            ..Grants::default()
        }
    }

    /// The sequence number of the last record applied (0 before any).
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.next.max(1) - 1
    }

    /// The access records that were not honoured.
    #[must_use]
    pub fn rejected(&self) -> &[Rejected] {
        &self.rejected
    }

    /// Applies the next record of the ledger.
    ///
    /// # Errors
    /// [`AccessError::Corrupt`] if the record is not the next one (its position is not
    /// [`Grants::seq`] + 1); nothing is applied then.
    pub fn apply(&mut self, rec: &StoredRecord) -> Result<(), AccessError> {
        let next = self.next.max(1);
        if rec.position != next {
            return Err(AccessError::Corrupt(format!(
                "grants are folded in order: expected record {next}, got record {}",
                rec.position
            )));
        }
        self.next = next + 1;
        let mut scratch = std::mem::take(&mut self.scratch);
        match RecordView::parse_envelope(&rec.bytes, &mut scratch) {
            Some((view, body)) => self.apply_view(rec.position, &view, body),
            None => {
                // Not splittable: the full parse, or (malformed) nothing: the verifier says what.
                if let Ok(view) = RecordView::parse(&rec.bytes) {
                    self.apply_view(rec.position, &view, view.body.get());
                }
            }
        }
        self.scratch = scratch;
        Ok(())
    }

    fn apply_view(&mut self, seq: u64, view: &RecordView<'_>, body: &str) {
        match view.event_type {
            control::GENESIS => {
                if let Ok(g) = serde_json::from_str::<GenesisBody>(body) {
                    self.trusted.insert(g.founding_key.key, KeyRole::Founding);
                }
            }
            control::KEY_REGISTERED => {
                if let Ok(k) = serde_json::from_str::<KeyRegistered>(body) {
                    let role = KeyRole::registered(k.role);
                    self.batch
                        .push(Pending::Key(KeyChange::Register(k.key, role)));
                }
            }
            control::KEY_REVOKED => {
                if let Ok(k) = serde_json::from_str::<KeyRevoked>(body) {
                    self.batch.push(Pending::Key(KeyChange::Revoke(k.key)));
                }
            }
            GRANTED | REVOKED => self.batch.push(Pending::Access(AccessRecord {
                seq,
                event_type: view.event_type.to_owned(),
                schema: view.schema,
                entity: view.entity.clone().into_owned(),
                marking: view.marking.clone().into_owned(),
                recorded: view.recorded.to_owned(),
                key: view.actor.key.to_owned(),
                body: body.to_owned(),
            })),
            control::SEAL => self.seal(),
            _ => {}
        }
    }

    /// The batch's seal: its access records take effect if their key was trusted before the
    /// batch, then its key changes.
    fn seal(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        let mut changes = Vec::new();
        for p in batch {
            match p {
                Pending::Key(c) => changes.push(c),
                Pending::Access(a) => {
                    if let Err(reason) = self.access(&a) {
                        self.rejected.push(Rejected { seq: a.seq, reason });
                    }
                }
            }
        }
        for c in changes {
            match c {
                KeyChange::Register(k, role) => {
                    if !self.revoked_keys.contains(&k) {
                        self.trusted.insert(k, role);
                    }
                }
                KeyChange::Revoke(k) => {
                    self.trusted.remove(&k);
                    self.revoked_keys.insert(k);
                }
            }
        }
    }

    fn access(&mut self, a: &AccessRecord) -> Result<(), String> {
        match self.trusted.get(&a.key) {
            None => {
                return Err(format!(
                    "sealed by key {}, which the ledger did not trust then",
                    a.key
                ));
            }
            Some(role) if !role.administers() => {
                return Err(format!(
                    "sealed by key {}, a {role} key: only the founding key or an admin key records access",
                    a.key
                ));
            }
            Some(_) => {}
        }
        if a.schema != SCHEMA {
            return Err(format!("unknown {} schema {}", a.event_type, a.schema));
        }
        if a.marking != MARKING.as_str() {
            return Err(format!(
                "marked {}; access records are marked {}",
                a.marking,
                MARKING.as_str()
            ));
        }
        let grant_of_entity = a.entity.strip_prefix(ENTITY_PREFIX);
        if a.event_type == GRANTED {
            let body: GrantBody =
                serde_json::from_str(&a.body).map_err(|e| format!("access.granted body: {e}"))?;
            body.check().map_err(|e| e.to_string())?;
            if grant_of_entity != Some(body.grant.as_str()) {
                return Err(format!("entity {} is not grant:{}", a.entity, body.grant));
            }
            if self.grants.contains_key(&body.grant) {
                return Err(format!("grant {} is already recorded", body.grant));
            }
            let Some(hash) = body.credential.hash() else {
                return Err("credential hash is not 64 lowercase hex digits".to_owned());
            };
            let info = GrantInfo {
                grant: body.grant.clone(),
                principal: body.principal,
                role: body.role,
                clearance: body.clearance,
                expires: body.expires,
                credential: body.credential,
                seq: a.seq,
                recorded: a.recorded.clone(),
                by: a.key.clone(),
                revoked: None,
            };
            self.grants.insert(body.grant, Entry { info, hash });
        } else {
            let body: RevokeBody =
                serde_json::from_str(&a.body).map_err(|e| format!("access.revoked body: {e}"))?;
            body.check().map_err(|e| e.to_string())?;
            if grant_of_entity != Some(body.grant.as_str()) {
                return Err(format!("entity {} is not grant:{}", a.entity, body.grant));
            }
            let Some(entry) = self.grants.get_mut(&body.grant) else {
                return Err(format!(
                    "revokes grant {}, which is not recorded",
                    body.grant
                ));
            };
            if let Some(r) = &entry.info.revoked {
                return Err(format!(
                    "grant {} is already revoked at seq {}",
                    body.grant, r.seq
                ));
            }
            entry.info.revoked = Some(RevocationInfo {
                seq: a.seq,
                recorded: a.recorded.clone(),
                by: a.key.clone(),
                reason: body.reason,
            });
        }
        Ok(())
    }

    /// Applies every record after the last one applied, up to the log's head; returns how
    /// many records were read.
    ///
    /// # Errors
    /// [`AccessError::Log`] if the backend fails; [`AccessError::Corrupt`] if it returns
    /// records out of order.
    pub async fn catch_up<L: EventLog + ?Sized>(&mut self, log: &L) -> Result<u64, AccessError> {
        let mut read = 0;
        loop {
            let page = log.read(self.next.max(1), 4096).await?;
            if page.is_empty() {
                return Ok(read);
            }
            for rec in &page {
                self.apply(rec)?;
                read += 1;
            }
        }
    }

    /// Authenticates a bearer token: SHA-256 of the token compared, in constant time, with
    /// every token grant's hash.
    ///
    /// # Errors
    /// [`AuthError`]: no grant holds it, or the grant is revoked or expired at `now`.
    pub fn authenticate_token(&self, token: &str, now: Timestamp) -> Result<Principal, AuthError> {
        let hash = token_sha256(token);
        self.authenticate(&hash, now, |c| matches!(c, Credential::TokenSha256(_)))
    }

    /// Authenticates a client certificate by the SHA-256 of its SubjectPublicKeyInfo (see
    /// [`crate::spki_sha256_from_der`]).
    ///
    /// # Errors
    /// [`AuthError`]: no grant holds it, or every grant holding it is revoked or expired.
    pub fn authenticate_cert(
        &self,
        spki_sha256: &[u8; 32],
        now: Timestamp,
    ) -> Result<Principal, AuthError> {
        self.authenticate(spki_sha256, now, |c| {
            matches!(c, Credential::CertSpkiSha256(_))
        })
    }

    /// Every grant of the credential's kind is compared (no early exit); of the grants
    /// holding it (several may hold one certificate), the latest active one authenticates.
    fn authenticate(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
        kind: impl Fn(&Credential) -> bool,
    ) -> Result<Principal, AuthError> {
        let mut best: Option<&GrantInfo> = None;
        let mut outcome = AuthError::Unknown;
        for e in self.grants.values() {
            let same_kind = kind(&e.info.credential);
            if !(ct_eq(&e.hash, hash) && same_kind) {
                continue;
            }
            match e.info.state(now) {
                GrantState::Active => {
                    if best.is_none_or(|b| b.seq < e.info.seq) {
                        best = Some(&e.info);
                    }
                }
                GrantState::Revoked => outcome = AuthError::Revoked,
                GrantState::Expired => {
                    if outcome == AuthError::Unknown {
                        outcome = AuthError::Expired;
                    }
                }
            }
        }
        best.map(GrantInfo::principal).ok_or(outcome)
    }

    /// One grant by id.
    #[must_use]
    pub fn get(&self, grant: &str) -> Option<&GrantInfo> {
        self.grants.get(grant).map(|e| &e.info)
    }

    /// Every grant, in order of recording.
    #[must_use]
    pub fn list(&self) -> Vec<GrantInfo> {
        let mut all: Vec<GrantInfo> = self.grants.values().map(|e| e.info.clone()).collect();
        all.sort_by_key(|g| g.seq);
        all
    }
}
