//! Report bundles in, sealed batches out: checking bundles against each other and the ledger
//! (problems, conflicts and warnings returned as data), and publishing the checked ones.
//!
//! Every bundle of a run is checked before anything is appended, in order: a later bundle may
//! refer to an earlier one, and an event defined twice in a run must be defined identically.
//! [`check`] never stops at the first problem: it reports every one, with its bundle and JSON
//! Pointer. [`publish`] then appends one atomic batch per bundle.

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::atomic::AtomicBool;

use dossier_chain::{EventId, Hash, Head, MAX_FRAMED_BATCH_BYTES, Signer, event_id, framed_len};
use dossier_log::{EventLog, PendingEvent, PublishOutcome, Publisher, ledger};
use dossier_model::{
    BundleError, DomainEvent, KnownEntities, MAX_BUNDLE_BYTES, ValidatedBundle, ValidationWarning,
    parse_bundle, validate as validate_bundle,
};
use serde::Serialize;

use crate::error::{AppError, AppResult};

/// One problem that refuses a bundle: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{file}: {}: {message}", if pointer.is_empty() { "(document)" } else { pointer })]
pub struct Problem {
    /// The bundle's name (a file name, `<stdin>`, or what the caller named it).
    pub file: String,
    /// JSON Pointer to the offending value; `""` for the whole document.
    pub pointer: String,
    /// What is wrong, in words a producer can act on.
    pub message: String,
}

impl From<BundleError> for Problem {
    fn from(e: BundleError) -> Problem {
        Problem {
            file: e.file,
            pointer: e.path,
            message: e.reason,
        }
    }
}

/// Where the other version of a conflicting event is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum ConflictWith {
    /// Recorded in the ledger.
    Ledger {
        /// The record holding it.
        seq: u64,
    },
    /// Defined by an earlier bundle of the same run.
    Bundle {
        /// That bundle's name.
        file: String,
    },
}

/// An event a bundle defines under an id that already stands for different content. Refuses
/// the run: recorded events are never changed, only corrected by new ones ([`Conflict::hint`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The bundle defining the event.
    pub file: String,
    /// The entity's key (the analyst-chosen id).
    pub entity: String,
    /// The event type, e.g. `claim.recorded`.
    pub event_type: String,
    /// The event id (hex) both versions share.
    pub event_id: String,
    /// Where the other version is.
    pub with: ConflictWith,
    /// What to publish instead.
    pub hint: &'static str,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.with {
            ConflictWith::Bundle { file } => write!(
                f,
                "{}: {} is also defined by {file} with different content; {}",
                self.file, self.entity, self.hint
            ),
            ConflictWith::Ledger { seq } => write!(
                f,
                "{}: {} is already recorded at seq {seq} with different content; {}",
                self.file, self.entity, self.hint
            ),
        }
    }
}

/// A bundle to check: its name and bytes, or why it could not be read.
#[derive(Clone, Debug)]
pub enum Input {
    /// The bundle's bytes.
    Bytes {
        /// Its name in problems and results.
        name: String,
        /// Its bytes (parsing refuses more than [`MAX_BUNDLE_BYTES`]).
        bytes: Vec<u8>,
    },
    /// It could not be read: reported as a problem of the run.
    Unreadable(Problem),
}

impl Input {
    /// A bundle already in memory (a request body).
    pub fn bytes(name: impl Into<String>, bytes: Vec<u8>) -> Input {
        Input::Bytes {
            name: name.into(),
            bytes,
        }
    }

    /// Reads a bundle file (`-` = standard input, named `<stdin>`), refusing oversized input
    /// before reading it all.
    #[must_use]
    pub fn read(name: &str) -> Input {
        match read_input(name) {
            Ok((name, bytes)) => Input::Bytes { name, bytes },
            Err(e) => Input::Unreadable(e.into()),
        }
    }
}

/// Reads a bundle file (`-` = standard input), refusing oversized input before reading it all.
fn read_input(name: &str) -> Result<(String, Vec<u8>), BundleError> {
    let limit = MAX_BUNDLE_BYTES as u64;
    // Standard input is read only up to just past the limit, so its size is a lower bound.
    let too_big = |size: u64, file: &str, exact: bool| {
        BundleError::new(
            file,
            "",
            format!(
                "the {} {:.1} MB; a bundle is limited to {} MiB (it holds one report's text, not attachments)",
                if exact {
                    "file is"
                } else {
                    "input is more than"
                },
                size as f64 / 1e6,
                limit / (1024 * 1024)
            ),
        )
    };
    if name == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                BundleError::new("<stdin>", "", format!("cannot read standard input: {e}"))
            })?;
        if bytes.len() as u64 > limit {
            return Err(too_big(limit, "<stdin>", false));
        }
        return Ok(("<stdin>".to_owned(), bytes));
    }
    let meta = std::fs::metadata(name)
        .map_err(|e| BundleError::new(name, "", format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(BundleError::new(name, "", "not a regular file"));
    }
    if meta.len() > limit {
        return Err(too_big(meta.len(), name, true));
    }
    let bytes =
        std::fs::read(name).map_err(|e| BundleError::new(name, "", format!("cannot read: {e}")))?;
    Ok((name.to_owned(), bytes))
}

/// A bundle that passed every check, ready to publish.
#[derive(Clone, Debug)]
pub struct Checked {
    /// Its name.
    pub file: String,
    /// Its events, with deterministic bodies.
    pub events: Vec<PendingEvent>,
    /// The report texts, for the content store.
    pub texts: Vec<Vec<u8>>,
    /// The report it defines, if any, with its text's content hash (hex): checked against the
    /// ledger's redactions by [`check`] and again by [`publish`].
    pub report: Option<ReportText>,
    /// How many of its events are already recorded with identical content.
    pub already_recorded: usize,
    /// What validation found worth a look; never a reason to refuse the bundle.
    pub warnings: Vec<ValidationWarning>,
}

/// What [`check`] found: the bundles that passed, and every problem and conflict of the others.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    /// The bundles that passed every check, in order.
    pub passed: Vec<Checked>,
    /// Problems that refuse a bundle (unreadable, unparsable, invalid).
    pub problems: Vec<Problem>,
    /// Events defined under an id that stands for different content.
    pub conflicts: Vec<Conflict>,
}

impl CheckReport {
    /// The warnings of the bundles that passed, in order.
    pub fn warnings(&self) -> impl Iterator<Item = &ValidationWarning> {
        self.passed.iter().flat_map(|c| &c.warnings)
    }

    /// The checked bundles, if nothing refuses the run.
    ///
    /// # Errors
    /// [`AppError::Invalid`] if any bundle has a problem (with the conflicts found beside);
    /// else [`AppError::Conflict`] if any event conflicts.
    pub fn accept(self) -> AppResult<Vec<Checked>> {
        if !self.problems.is_empty() {
            return Err(AppError::Invalid {
                problems: self.problems,
                conflicts: self.conflicts,
            });
        }
        if !self.conflicts.is_empty() {
            return Err(AppError::Conflict {
                conflicts: self.conflicts,
            });
        }
        Ok(self.passed)
    }
}

/// The report a bundle defines and the content hash of its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportText {
    /// The report's id (`report:…`).
    pub report: String,
    /// Its text's BLAKE3 hash, 64 lowercase hex digits.
    pub content_hash: String,
}

impl ReportText {
    /// The report a validated bundle defines, if any.
    fn of(bundle: &ValidatedBundle) -> Option<ReportText> {
        bundle.events.iter().find_map(|m| match &m.event {
            DomainEvent::Report(r) => Some(ReportText {
                report: r.id.to_string(),
                content_hash: r.content_hash.clone(),
            }),
            _ => None,
        })
    }
}

/// The problems of the bundles (`(file, report)`) whose report text has a `report.redacted`
/// record in `log`: a redacted text is never stored again (`docs/FORMAT.md` §5.5). Producers
/// hold `TLP:RED` clearance, so naming the report and the redaction's seq reveals nothing
/// above theirs; the reason is left out all the same.
async fn redacted_texts<'a, L: EventLog>(
    log: &L,
    bundles: impl IntoIterator<Item = (&'a str, &'a ReportText)>,
) -> AppResult<Vec<Problem>> {
    let bundles: Vec<_> = bundles.into_iter().collect();
    if bundles.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<EventId> = bundles
        .iter()
        .map(|(_, r)| dossier_redact::redaction_event_id(&r.content_hash))
        .collect();
    let found = log
        .lookup(&ids)
        .await
        .map_err(|e| AppError::log("reading the ledger index", e))?;
    Ok(bundles
        .into_iter()
        .zip(found)
        .filter_map(|((file, r), entry)| {
            entry.map(|entry| Problem {
                file: file.to_owned(),
                pointer: "/report/text".to_owned(),
                message: format!(
                    "the text of {} was redacted (report.redacted at seq {}); a redacted text is never stored again: leave the report out of the bundle (claims may refer to it as recorded)",
                    r.report, entry.seq
                ),
            })
        })
        .collect())
}

/// A signer for measuring batches where the producer's key is not known.
fn placeholder_signer() -> Signer {
    Signer::from_secret([7; 32], "producer")
}

/// The problem of a bundle whose batch, signed by `signer`, would exceed the framing's budget
/// (`dossier-batch/1`, 1,040,384 bytes), naming its size and the limit.
fn oversized(file: &str, events: &[PendingEvent], signer: &Signer) -> Option<Problem> {
    // Sequence numbers of up to 12 digits and a full-length recorded time: an upper bound on
    // the envelope of any ledger this century.
    let head = Head {
        seq: 100_000_000_000,
        hash: Hash([0; 32]),
        recorded: None,
    };
    let records = dossier_log::seal_batch(uuid::Uuid::nil(), &head, signer, events).ok()?;
    let bytes = framed_len(records.iter().map(|r| r.bytes.len()));
    (bytes > MAX_FRAMED_BATCH_BYTES).then(|| Problem {
        file: file.to_owned(),
        pointer: String::new(),
        message: format!(
            "the bundle's batch would be {bytes} bytes framed, more than the {MAX_FRAMED_BATCH_BYTES} bytes one batch may be (dossier-batch/1): split it into several bundles"
        ),
    })
}

/// Runs every check of a publish on the bundles, in order (later bundles may refer to earlier
/// ones): parsing, validation against the earlier bundles and what `log` holds (without a log,
/// against the earlier bundles only), and the event ids against the run and the ledger's index
/// (identical events are already recorded, different ones conflict). Appends nothing.
///
/// # Errors
/// Only if the ledger cannot be read; what is wrong with the bundles is in the report.
pub async fn check<L: EventLog>(
    log: Option<&L>,
    inputs: impl IntoIterator<Item = Input>,
) -> AppResult<CheckReport> {
    let mut report = CheckReport::default();
    let mut earlier = KnownEntities::default();
    // Events defined by earlier bundles of this run: an identical one later is a no-op, a
    // different one under the same id a conflict, found before anything is appended.
    let mut in_run: HashMap<EventId, (Hash, String)> = HashMap::new();
    for input in inputs {
        let (file, bytes) = match input {
            Input::Bytes { name, bytes } => (name, bytes),
            Input::Unreadable(p) => {
                report.problems.push(p);
                continue;
            }
        };
        let bundle = match parse_bundle(&file, &bytes) {
            Ok(b) => b,
            Err(e) => {
                report.problems.extend(e.0.into_iter().map(Problem::from));
                continue;
            }
        };
        let mut known = earlier.clone();
        if let Some(log) = log {
            let refs: Vec<_> = bundle
                .external_references()
                .into_iter()
                .filter(|id| !known.contains(id))
                .collect();
            let fetched = ledger::known_entities(log, &refs)
                .await
                .map_err(|e| AppError::log("reading the ledger", e))?;
            known.extend(fetched);
        }
        let bundle = match validate_bundle(&file, bundle, &known) {
            Ok(b) => b,
            Err(e) => {
                report.problems.extend(e.0.into_iter().map(Problem::from));
                continue;
            }
        };
        ledger::remember(&mut earlier, &bundle);
        let (events, texts) = ledger::pending_events(&bundle);
        let report_text = ReportText::of(&bundle);
        if let (Some(log), Some(r)) = (log, &report_text) {
            let problems = redacted_texts(log, [(file.as_str(), r)]).await?;
            if !problems.is_empty() {
                report.problems.extend(problems);
                continue;
            }
        }
        // The whole bundle is one batch, carried as one framed blob (one JetStream message):
        // measured here as a producer key named "producer" would sign it, and again with the
        // key's own name by `publish` before anything is appended.
        if let Some(problem) = oversized(&file, &events, &placeholder_signer()) {
            report.problems.push(problem);
            continue;
        }
        let conflict = |e: &PendingEvent, id: &EventId, with: ConflictWith| Conflict {
            file: file.clone(),
            entity: e.entity_key.clone(),
            event_type: e.event_type.clone(),
            event_id: id.to_string(),
            with,
            hint: dossier_log::correction_hint(&e.event_type),
        };
        let ids: Vec<_> = events
            .iter()
            .map(|e| event_id(&e.event_type, &e.entity_key))
            .collect();
        for (e, id) in events.iter().zip(&ids) {
            match in_run.get(id) {
                Some((digest, first)) if *digest != e.digest() => report.conflicts.push(conflict(
                    e,
                    id,
                    ConflictWith::Bundle {
                        file: first.clone(),
                    },
                )),
                Some(_) => {}
                None => {
                    in_run.insert(*id, (e.digest(), file.clone()));
                }
            }
        }
        let mut already_recorded = 0;
        if let Some(log) = log {
            let found = log
                .lookup(&ids)
                .await
                .map_err(|e| AppError::log("reading the ledger index", e))?;
            for ((e, id), f) in events.iter().zip(&ids).zip(found) {
                match f {
                    Some(entry) if entry.digest == e.digest() => already_recorded += 1,
                    Some(entry) => report.conflicts.push(conflict(
                        e,
                        id,
                        ConflictWith::Ledger { seq: entry.seq },
                    )),
                    None => {}
                }
            }
        }
        report.passed.push(Checked {
            file,
            events,
            texts,
            report: report_text,
            already_recorded,
            warnings: bundle.warnings,
        });
    }
    Ok(report)
}

/// What became of one bundle: what `dossier validate` and `dossier publish` print (one JSON
/// object each with `--json`) and what the HTTP service answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BundleResult {
    /// The bundle's name (`<stdin>` for standard input).
    pub file: String,
    /// What publishing did with it (a check appends nothing and leaves this out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BundleStatus>,
    /// Events the bundle defines.
    pub events: usize,
    /// Events not yet recorded (check) or appended (publish).
    pub new: usize,
    /// Events already recorded with identical content.
    pub already_recorded: usize,
    /// First sequence number of its batch, when one was appended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<u64>,
    /// Last sequence number of its batch (the seal), when one was appended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
    /// What validation found worth a look in the bundle (never a reason to refuse it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ValidationWarning>,
}

/// What publishing did with a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BundleStatus {
    /// Its batch is committed.
    Published,
    /// Every event was already recorded; nothing appended.
    Unchanged,
}

impl BundleResult {
    /// What a check found in a bundle that passed.
    #[must_use]
    pub fn validated(c: &Checked) -> BundleResult {
        BundleResult {
            file: c.file.clone(),
            status: None,
            events: c.events.len(),
            new: c.events.len() - c.already_recorded,
            already_recorded: c.already_recorded,
            first_seq: None,
            last_seq: None,
            warnings: c.warnings.clone(),
        }
    }

    /// What publishing a checked bundle came to.
    #[must_use]
    pub fn published(c: &Checked, outcome: &PublishOutcome) -> BundleResult {
        match *outcome {
            PublishOutcome::Appended {
                first,
                last,
                appended,
                already_recorded,
                ..
            } => BundleResult {
                file: c.file.clone(),
                status: Some(BundleStatus::Published),
                events: appended + already_recorded,
                new: appended,
                already_recorded,
                first_seq: Some(first),
                last_seq: Some(last),
                warnings: c.warnings.clone(),
            },
            PublishOutcome::AlreadyRecorded { events } => BundleResult {
                file: c.file.clone(),
                status: Some(BundleStatus::Unchanged),
                events,
                new: 0,
                already_recorded: events,
                first_seq: None,
                last_seq: None,
                warnings: c.warnings.clone(),
            },
        }
    }
}

/// Publishes checked bundles, one atomic batch each, signed by `signer`: several go through
/// the pipelined path (the next batch is built while one is appended). `committed` hears of
/// each bundle as its batch is committed (its acknowledgement), in order. Once `stop` is set,
/// no further batch is committed.
///
/// Returns how many bundles were committed (all unless stopped): exactly those `committed`
/// heard of.
///
/// # Errors
/// [`AppError::EmptyLedger`] if the ledger has no genesis; [`AppError::Invalid`] if a bundle's
/// batch is too large or its report's text was redacted since the check (nothing appended);
/// [`AppError::Publish`] naming the
/// bundle that failed (those before it are committed, and `committed` heard of them).
pub async fn publish<L: EventLog>(
    log: &L,
    signer: &Signer,
    checked: &[Checked],
    stop: &AtomicBool,
    mut committed: impl FnMut(usize, BundleResult) + Send,
) -> AppResult<usize> {
    let ledger_id = ledger::ledger_id(log)
        .await
        .map_err(|e| AppError::log("reading the genesis record", e))?
        .ok_or(AppError::EmptyLedger)?;
    // Measured again with the producer key's own name, and the texts looked up again among
    // the redactions (one may have been recorded since the check), before anything is appended.
    let mut problems: Vec<Problem> = checked
        .iter()
        .filter_map(|c| oversized(&c.file, &c.events, signer))
        .collect();
    problems.extend(
        redacted_texts(
            log,
            checked
                .iter()
                .filter_map(|c| Some((c.file.as_str(), c.report.as_ref()?))),
        )
        .await?,
    );
    if !problems.is_empty() {
        return Err(AppError::Invalid {
            problems,
            conflicts: Vec::new(),
        });
    }
    // `check` has just consulted the index, so the first attempt need not repeat it.
    let publisher = Publisher::new(log, signer, ledger_id).optimistic(true);
    let batches = checked
        .iter()
        .map(|c| (c.events.clone(), c.texts.clone()))
        .collect();
    let mut reported = 0;
    publisher
        .publish_each(batches, stop, |i, outcome| {
            reported = i + 1;
            committed(i, BundleResult::published(&checked[i], &outcome));
        })
        .await
        .map_err(|source| AppError::Publish {
            file: checked
                .get(reported)
                .map_or_else(String::new, |c| c.file.clone()),
            committed: reported,
            source,
        })
}
