//! Granting and revoking: build the record, publish it as a sealed batch, report what was
//! recorded. Shared by the CLI and the HTTP service.

use dossier_chain::{RecordView, Signer};
use dossier_log::{EventLog, PublishError, PublishOutcome, Publisher, ledger};
use dossier_model::{Marking, Timestamp};
use rand_core::{OsRng, RngCore as _};
use serde::Serialize;

use crate::AccessError;
use crate::grants::GrantInfo;
use crate::record::{
    Credential, Expiry, GrantBody, RevokeBody, Role, grant_event_id, revoke_event_id,
    token_from_bytes, token_sha256,
};

/// How the new grant's holder will authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialRequest {
    /// A new random bearer token (returned once, never stored).
    Token,
    /// A client certificate, by the SHA-256 of its SubjectPublicKeyInfo.
    Certificate {
        /// See [`crate::spki_sha256_from_pem`].
        spki_sha256: [u8; 32],
    },
}

/// A grant to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantRequest {
    /// Who will hold it.
    pub principal: String,
    /// What it allows.
    pub role: Role,
    /// Its clearance (`TLP:RED` for every role but `reader`).
    pub clearance: Marking,
    /// When it expires.
    pub expiry: Expiry,
    /// How its holder authenticates.
    pub credential: CredentialRequest,
}

/// A grant that was recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Granted {
    /// The grant as recorded.
    #[serde(flatten)]
    pub info: GrantInfo,
    /// The bearer token, for a token grant: shown once, never stored (the ledger holds its
    /// SHA-256 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A revocation that was recorded (or had been, identically).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Revoked {
    /// The grant id.
    pub grant: String,
    /// Sequence number of the `access.revoked` record.
    pub seq: u64,
    /// Whether an identical revocation was already recorded (nothing was appended).
    pub already_recorded: bool,
}

/// The body of a new grant made at `now`, from the random bytes given (the grant id, and the
/// token for a token grant); returns the body and the token. Pure: [`grant`] draws the bytes
/// from the operating system.
///
/// # Errors
/// [`AccessError::Invalid`] if the request breaks a rule of [`GrantBody::check`] or the
/// expiry is not in the future.
pub fn new_grant(
    request: &GrantRequest,
    now: Timestamp,
    id: [u8; 16],
    token_bytes: [u8; 32],
) -> Result<(GrantBody, Option<String>), AccessError> {
    let (credential, token) = match request.credential {
        CredentialRequest::Token => {
            let token = token_from_bytes(&token_bytes);
            (
                Credential::TokenSha256(hex::encode(token_sha256(&token))),
                Some(token),
            )
        }
        CredentialRequest::Certificate { spki_sha256 } => {
            (Credential::CertSpkiSha256(hex::encode(spki_sha256)), None)
        }
    };
    let body = GrantBody {
        grant: hex::encode(id),
        principal: request.principal.clone(),
        role: request.role,
        clearance: request.clearance,
        expires: request.expiry.resolve(now)?,
        credential,
    };
    body.check()?;
    Ok((body, token))
}

async fn publisher_ledger<L: EventLog>(log: &L) -> Result<uuid::Uuid, AccessError> {
    ledger::ledger_id(log)
        .await?
        .ok_or(AccessError::Publish(PublishError::NotInitialized))
}

/// Records a new grant, sealed by `signer` (the data directory's producer key; see
/// `docs/FORMAT.md` §5.4 on which keys may grant), and returns it with its token.
///
/// # Errors
/// [`AccessError::Invalid`] for a bad request; [`AccessError::Publish`] or
/// [`AccessError::Log`] if it could not be recorded (then nothing was).
pub async fn grant<L: EventLog>(
    log: &L,
    signer: &Signer,
    request: &GrantRequest,
    now: Timestamp,
) -> Result<Granted, AccessError> {
    let mut id = [0u8; 16];
    let mut token_bytes = [0u8; 32];
    OsRng.fill_bytes(&mut id);
    OsRng.fill_bytes(&mut token_bytes);
    let (body, token) = new_grant(request, now, id, token_bytes)?;
    let event = body.event()?;
    let ledger = publisher_ledger(log).await?;
    let outcome = Publisher::new(log, signer, ledger)
        .publish(std::slice::from_ref(&event), &[])
        .await?;
    let seq = match outcome {
        PublishOutcome::Appended { first, .. } => first,
        // A fresh random id cannot be recorded already.
        PublishOutcome::AlreadyRecorded { .. } => {
            return Err(AccessError::Corrupt(format!(
                "grant {} was already recorded",
                body.grant
            )));
        }
    };
    let recorded = recorded_at(log, seq).await?;
    Ok(Granted {
        info: GrantInfo {
            grant: body.grant,
            principal: body.principal,
            role: body.role,
            clearance: body.clearance,
            expires: body.expires,
            credential: body.credential,
            seq,
            recorded,
            by: signer.id().to_owned(),
            revoked: None,
        },
        token,
    })
}

async fn recorded_at<L: EventLog>(log: &L, seq: u64) -> Result<String, AccessError> {
    let rec = log.read(seq, 1).await?.into_iter().next();
    let rec = rec.ok_or_else(|| AccessError::Corrupt(format!("record {seq} is not stored")))?;
    let view = RecordView::parse(&rec.bytes)
        .map_err(|e| AccessError::Corrupt(format!("record {seq}: {e}")))?;
    Ok(view.recorded.to_owned())
}

/// Records the revocation of a grant, sealed by `signer`. Revoking a grant again with the
/// same reason records nothing and says so; with another reason it is a conflict.
///
/// # Errors
/// [`AccessError::UnknownGrant`] if no such grant is recorded;
/// [`AccessError::AlreadyRevoked`] if it was revoked with another reason;
/// [`AccessError::Invalid`] for a bad id or reason; storage errors as [`grant`].
pub async fn revoke<L: EventLog>(
    log: &L,
    signer: &Signer,
    grant: &str,
    reason: &str,
) -> Result<Revoked, AccessError> {
    let body = RevokeBody {
        grant: grant.to_owned(),
        reason: reason.to_owned(),
    };
    let event = body.event()?;
    let found = log
        .lookup(&[grant_event_id(grant), revoke_event_id(grant)])
        .await?;
    if found.first().is_none_or(Option::is_none) {
        return Err(AccessError::UnknownGrant(grant.to_owned()));
    }
    let ledger = publisher_ledger(log).await?;
    match Publisher::new(log, signer, ledger)
        .publish(std::slice::from_ref(&event), &[])
        .await
    {
        Ok(PublishOutcome::Appended { first, .. }) => Ok(Revoked {
            grant: grant.to_owned(),
            seq: first,
            already_recorded: false,
        }),
        Ok(PublishOutcome::AlreadyRecorded { .. }) => {
            let seq = log
                .lookup(&[revoke_event_id(grant)])
                .await?
                .into_iter()
                .flatten()
                .next()
                .map_or(0, |e| e.seq);
            Ok(Revoked {
                grant: grant.to_owned(),
                seq,
                already_recorded: true,
            })
        }
        Err(PublishError::ContentConflict { seq, .. }) => Err(AccessError::AlreadyRevoked {
            grant: grant.to_owned(),
            seq,
        }),
        Err(e) => Err(e.into()),
    }
}
