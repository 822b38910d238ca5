//! Redacting: record the `report.redacted` event, then erase the text.

use dossier_chain::{Hash, Signer};
use dossier_log::{EventLog, PublishError, PublishOutcome, Publisher, ledger};
use dossier_model::DomainEvent;
use serde::Serialize;

use crate::RedactError;
use crate::record::{RedactBody, check_reason, check_report_id};
use crate::text::{Redaction, redaction};

/// What a [`redact`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The redaction was recorded and the text erased.
    Redacted,
    /// The redaction was recorded before, but the text was still stored (an interrupted
    /// redaction): it is erased now.
    Completed,
    /// The text was redacted before; nothing changed.
    AlreadyRedacted,
}

/// The answer of [`redact`]: what it did, and the redaction as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Redacted {
    /// What was done.
    pub outcome: Outcome,
    /// The redaction (the one recorded before, for [`Outcome::AlreadyRedacted`] and
    /// [`Outcome::Completed`]: possibly of another report naming the same text, with its own
    /// reason).
    #[serde(flatten)]
    pub redaction: Redaction,
}

/// Redacts the text of `report`: records a `report.redacted` event sealed by `signer` (the
/// data directory's producer key), then erases the text from the content store. A text
/// already redacted is erased again if it is still stored (finishing an interrupted
/// redaction) and otherwise left as it is; nothing is recorded twice.
///
/// # Errors
/// [`RedactError::Invalid`] for a bad id or reason and [`RedactError::UnknownReport`] for a
/// report not recorded (nothing recorded); [`RedactError::Publish`] or
/// [`RedactError::Log`] if it could not be recorded (nothing was); [`RedactError::Erase`] if
/// it was recorded but the erase failed.
pub async fn redact<L: EventLog>(
    log: &L,
    signer: &Signer,
    report: &str,
    reason: &str,
) -> Result<Redacted, RedactError> {
    let id = check_report_id(report)?;
    check_reason(reason)?;
    let Some((_, DomainEvent::Report(recorded))) = ledger::entity(log, &id).await? else {
        return Err(RedactError::UnknownReport(report.to_owned()));
    };
    let hash = Hash::from_hex(&recorded.content_hash).map_err(|e| {
        RedactError::Corrupt(format!(
            "report {report}: content hash {:?}: {e}",
            recorded.content_hash
        ))
    })?;
    if let Some(earlier) = redaction(log, &hash).await? {
        let erased = erase(log, &hash, earlier.seq).await?;
        return Ok(Redacted {
            outcome: if erased {
                Outcome::Completed
            } else {
                Outcome::AlreadyRedacted
            },
            redaction: earlier,
        });
    }
    let body = RedactBody {
        report: report.to_owned(),
        content_hash: hash.to_hex(),
        reason: reason.to_owned(),
    };
    let event = body.event()?;
    let ledger_id = ledger::ledger_id(log)
        .await?
        .ok_or(RedactError::Publish(PublishError::NotInitialized))?;
    // Another process may record a redaction of the same text meanwhile: with the same body
    // the publish is a no-op, with another reason a conflict; either way the redaction now
    // recorded is the one to show and to complete.
    let outcome = match Publisher::new(log, signer, ledger_id)
        .publish(std::slice::from_ref(&event), &[])
        .await
    {
        Ok(PublishOutcome::Appended { .. }) => Outcome::Redacted,
        Ok(PublishOutcome::AlreadyRecorded { .. }) | Err(PublishError::ContentConflict { .. }) => {
            Outcome::Completed
        }
        Err(e) => return Err(e.into()),
    };
    let Some(recorded) = redaction(log, &hash).await? else {
        return Err(RedactError::Corrupt(format!(
            "the redaction of {report} was published but is not found by its event id"
        )));
    };
    erase(log, &hash, recorded.seq).await?;
    Ok(Redacted {
        outcome,
        redaction: recorded,
    })
}

async fn erase<L: EventLog>(log: &L, hash: &Hash, seq: u64) -> Result<bool, RedactError> {
    log.erase_content(hash)
        .await
        .map_err(|source| RedactError::Erase { seq, source })
}
