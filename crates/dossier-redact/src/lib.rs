//! Redaction of report texts (`docs/FORMAT.md` §5.5).
//!
//! A report's text lives outside the records, in the content store keyed by its BLAKE3 hash,
//! so that it can be removed without rewriting history. A redaction records a
//! `report.redacted` event (the report, the text's hash, the reason; who and when are the
//! record's signing key and recorded time) through the ordinary [`dossier_log::Publisher`],
//! then erases the text from the content store ([`dossier_log::EventLog::erase_content`]).
//!
//! - [`record`](mod@record): the record's body, entity key and event id, the checks. Pure.
//! - [`redact`]: record and erase; idempotent, and completes a redaction whose erase was
//!   interrupted.
//! - [`text`] and [`redaction`]: what every face asks instead of the bare content store: the
//!   text, or the redaction that removed it (with who, when and why), or nothing.
//!
//! Invariants:
//!
//! - **The event comes first**: a text is erased only once its redaction is recorded, so a
//!   text is never gone without the record saying why; a crash between the two leaves the text
//!   stored and the event recorded, and the next [`redact`] of the report finishes the erase.
//! - **A redaction is keyed by the text's hash** (`text:<hash>`), so one text is redacted at
//!   most once, whichever report named it, and the faces find it from the hash they hold.
//! - **Every `report.redacted` record is marked `TLP:RED`**: a reason can name a source.
//!   Below `TLP:RED` a face says only that the text was redacted.

mod error;
mod flow;
pub mod record;
mod text;

pub use error::{RedactError, RedactErrorKind};
pub use flow::{Outcome, Redacted, redact};
pub use record::{MARKING, REDACTED, RedactBody, SCHEMA, entity_key, redaction_event_id};
pub use text::{Notice, Redaction, Text, notices, redaction, text};
