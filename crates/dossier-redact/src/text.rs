//! Reading a report text the way every face must: the text, or the redaction that removed it.

use dossier_chain::{Hash, RecordView};
use dossier_log::{EventLog, LogError};
use dossier_model::Marking;
use serde::Serialize;

use crate::record::{MARKING, REDACTED, RedactBody, redaction_event_id};

/// A recorded redaction: who, when and why, read from its `report.redacted` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Redaction {
    /// Sequence number of the `report.redacted` record.
    pub seq: u64,
    /// The report named by the redaction.
    pub report: String,
    /// The text's BLAKE3 hash (hex).
    pub content_hash: String,
    /// Why.
    pub reason: String,
    /// Key id of the key that sealed it (who).
    pub key: String,
    /// Display name of the producer that sealed it.
    pub by: String,
    /// Its recorded time, the seal's (when).
    pub recorded: String,
}

impl Redaction {
    /// Whether a reader of `clearance` may see who, when and why (the record is
    /// [`MARKING`]); below it a face says only that the text was redacted.
    #[must_use]
    pub fn details_visible(clearance: Marking) -> bool {
        clearance.rank() >= MARKING.rank()
    }
}

/// What the content store holds for a text's hash, as faces must show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Text {
    /// The text's bytes (checked against the hash by the backend).
    Stored(Vec<u8>),
    /// The text was redacted. (A text whose erase was interrupted is still stored, but is
    /// answered as redacted all the same.)
    Redacted(Redaction),
    /// Neither stored nor redacted (an imported prefix whose text has not come yet, or a
    /// damaged store).
    Missing,
}

/// The redaction of the text `hash`, if one is recorded.
///
/// # Errors
/// If the backend fails, or the record the index names is not a well-formed redaction.
pub async fn redaction<L: EventLog + ?Sized>(
    log: &L,
    hash: &Hash,
) -> Result<Option<Redaction>, LogError> {
    let hex = hash.to_hex();
    let Some(Some(entry)) = log
        .lookup(&[redaction_event_id(&hex)])
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let seq = entry.seq;
    let Some(record) = log.read(seq, 1).await?.into_iter().next() else {
        return Err(LogError::Corrupt(format!(
            "the index points the redaction of text {hex} at seq {seq}, which is not stored"
        )));
    };
    let view = RecordView::parse(&record.bytes)
        .map_err(|e| LogError::Corrupt(format!("seq {seq}: {e}")))?;
    if view.event_type != REDACTED {
        return Err(LogError::Corrupt(format!(
            "seq {seq} is a {} record, not the redaction of text {hex}",
            view.event_type
        )));
    }
    let body: RedactBody = serde_json::from_str(view.body.get())
        .map_err(|e| LogError::Corrupt(format!("seq {seq}: report.redacted body: {e}")))?;
    if body.content_hash != hex {
        return Err(LogError::Corrupt(format!(
            "seq {seq} redacts text {}, not {hex}",
            body.content_hash
        )));
    }
    Ok(Some(Redaction {
        seq,
        report: body.report,
        content_hash: body.content_hash,
        reason: body.reason,
        key: view.actor.key.to_owned(),
        by: view.actor.name.into_owned(),
        recorded: view.recorded.to_owned(),
    }))
}

/// The text `hash` names: stored, redacted (with who, when and why), or missing.
///
/// # Errors
/// If the backend fails or a stored record or text is damaged.
pub async fn text<L: EventLog + ?Sized>(log: &L, hash: &Hash) -> Result<Text, LogError> {
    if let Some(r) = redaction(log, hash).await? {
        return Ok(Text::Redacted(r));
    }
    Ok(match log.content(hash).await? {
        Some(bytes) => Text::Stored(bytes),
        None => Text::Missing,
    })
}

/// What a reader of some clearance is told of a report whose text was redacted: always that
/// it was; who, when and why only at `TLP:RED` ([`Redaction::details_visible`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// The report (as the reader's view names it).
    pub report: String,
    /// The text's hash (hex).
    pub content_hash: String,
    /// The redaction, if the reader may see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redaction: Option<Redaction>,
}

/// The notices of the reports among `reports` (`(report id, content hash hex)`, each looked
/// up once) whose text was redacted, in the order given, for a reader of `clearance`.
///
/// # Errors
/// As [`redaction`].
pub async fn notices<L: EventLog + ?Sized>(
    log: &L,
    clearance: Marking,
    reports: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<Notice>, LogError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (report, hex) in reports {
        if !seen.insert((report.clone(), hex.clone())) {
            continue;
        }
        let Ok(hash) = Hash::from_hex(&hex) else {
            continue;
        };
        if let Some(r) = redaction(log, &hash).await? {
            out.push(Notice {
                report,
                content_hash: hex,
                redaction: Redaction::details_visible(clearance).then_some(r),
            });
        }
    }
    Ok(out)
}
