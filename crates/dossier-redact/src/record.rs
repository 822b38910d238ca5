//! The `report.redacted` record: its body, entity key and event id, and the checks every
//! writer applies (`docs/FORMAT.md` §5.5).

use dossier_chain::{EventId, event_id};
use dossier_log::PendingEvent;
use dossier_model::{EntityId, EntityKind, Marking};
use serde::{Deserialize, Serialize};

use crate::RedactError;

/// Event type of a redaction.
pub const REDACTED: &str = "report.redacted";
/// Body schema version.
pub const SCHEMA: u32 = 1;
/// The marking of every redaction record: a reason can name a source or an order.
pub const MARKING: Marking = Marking::Red;
/// Prefix of a redaction's entity key: `text:<content hash>`.
pub const ENTITY_PREFIX: &str = "text:";
/// Longest reason, in characters.
pub const MAX_REASON_CHARS: usize = 1_000;

/// Body of a `report.redacted` record. Members in this order, exactly these. Who redacted and
/// when are the record's `actor` and `recorded` (its batch's seal's signer and time).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactBody {
    /// The report whose text is removed (its entity id, `report:…`).
    pub report: String,
    /// The text's BLAKE3 hash, 64 lowercase hex digits: the report's `content_hash`.
    pub content_hash: String,
    /// Why (free text, one line).
    pub reason: String,
}

/// The entity key of a redaction: `text:<content hash>`.
#[must_use]
pub fn entity_key(content_hash: &str) -> String {
    format!("{ENTITY_PREFIX}{content_hash}")
}

/// The event id of the redaction of a text: `event_id("report.redacted", "text:<hash>")`.
/// A text has at most one.
#[must_use]
pub fn redaction_event_id(content_hash: &str) -> EventId {
    event_id(REDACTED, &entity_key(content_hash))
}

/// Checks a reason: not blank, no control characters, at most [`MAX_REASON_CHARS`].
///
/// # Errors
/// [`RedactError::Invalid`] naming the rule broken.
pub fn check_reason(reason: &str) -> Result<(), RedactError> {
    if reason.trim().is_empty() {
        return Err(RedactError::Invalid(
            "the reason must not be empty or blank".to_owned(),
        ));
    }
    if reason.chars().any(char::is_control) {
        return Err(RedactError::Invalid(
            "the reason must not contain control characters".to_owned(),
        ));
    }
    let len = reason.chars().count();
    if len > MAX_REASON_CHARS {
        return Err(RedactError::Invalid(format!(
            "the reason is {len} characters long; at most {MAX_REASON_CHARS} are allowed"
        )));
    }
    Ok(())
}

/// Checks a report id: an entity id of kind `report`.
///
/// # Errors
/// [`RedactError::Invalid`] otherwise.
pub fn check_report_id(report: &str) -> Result<EntityId, RedactError> {
    let id = EntityId::parse(report)
        .map_err(|e| RedactError::Invalid(format!("report id {report:?}: {e}")))?;
    if id.kind() != EntityKind::Report {
        return Err(RedactError::Invalid(format!(
            "{report:?} is not a report id (report:…)"
        )));
    }
    Ok(id)
}

impl RedactBody {
    /// Checks the report id, the hash (64 lowercase hex digits) and the reason.
    ///
    /// # Errors
    /// [`RedactError::Invalid`].
    pub fn check(&self) -> Result<(), RedactError> {
        check_report_id(&self.report)?;
        let h = &self.content_hash;
        if h.len() != 64 || !h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(RedactError::Invalid(format!(
                "content hash {h:?} is not 64 lowercase hex digits"
            )));
        }
        check_reason(&self.reason)
    }

    /// The body's bytes: compact JSON, members in declaration order (deterministic).
    ///
    /// # Errors
    /// Never in practice (every member serializes); a failure is [`RedactError::Invalid`].
    pub fn encode(&self) -> Result<Vec<u8>, RedactError> {
        serde_json::to_vec(self).map_err(|e| RedactError::Invalid(format!("encoding: {e}")))
    }

    /// The event to publish, after [`RedactBody::check`].
    ///
    /// # Errors
    /// As [`RedactBody::check`].
    pub fn event(&self) -> Result<PendingEvent, RedactError> {
        self.check()?;
        Ok(PendingEvent {
            event_type: REDACTED.to_owned(),
            schema: SCHEMA,
            entity_key: entity_key(&self.content_hash),
            marking: MARKING.as_str().to_owned(),
            body: self.encode()?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn body() -> RedactBody {
        RedactBody {
            report: "report:yonhap/2024-03-05".into(),
            content_hash: "ab".repeat(32),
            reason: "names a protected source".into(),
        }
    }

    #[test]
    fn rules() {
        body().check().unwrap();
        for bad in [
            RedactBody {
                report: "claim:x/y".into(),
                ..body()
            },
            RedactBody {
                report: "not an id".into(),
                ..body()
            },
            RedactBody {
                content_hash: "AB".repeat(32),
                ..body()
            },
            RedactBody {
                content_hash: "ab".into(),
                ..body()
            },
            RedactBody {
                reason: " \t".into(),
                ..body()
            },
            RedactBody {
                reason: "a\nb".into(),
                ..body()
            },
            RedactBody {
                reason: "x".repeat(MAX_REASON_CHARS + 1),
                ..body()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn body_bytes_and_id_are_stable() {
        let e = body().event().unwrap();
        assert_eq!(e.event_type, "report.redacted");
        assert_eq!(e.marking, "TLP:RED");
        assert_eq!(e.entity_key, format!("text:{}", "ab".repeat(32)));
        assert_eq!(
            String::from_utf8(e.body).unwrap(),
            format!(
                r#"{{"report":"report:yonhap/2024-03-05","content_hash":"{}","reason":"names a protected source"}}"#,
                "ab".repeat(32)
            )
        );
    }
}
