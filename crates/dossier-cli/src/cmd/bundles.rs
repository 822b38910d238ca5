//! `dossier validate` and `dossier publish`: report bundles in, sealed batches out.

use std::io::Read as _;

use anyhow::Context as _;
use dossier_chain::event_id;
use dossier_log::{EventLog, PendingEvent, PublishError, PublishOutcome, Publisher, ledger};

use crate::backend::Backend;
use dossier_model::{
    BundleError, KnownEntities, MAX_BUNDLE_BYTES, ValidationWarning, parse_bundle,
    validate as validate_bundle,
};
use serde::Serialize;

use crate::cli::{FilesArgs, PublishArgs};
use crate::exit::{CONFLICT, CliError, CliResult, INVALID_INPUT};
use crate::home::Home;
use crate::interrupt::Interrupt;

/// A bundle that passed every check.
pub struct Checked {
    pub file: String,
    pub events: Vec<PendingEvent>,
    pub texts: Vec<Vec<u8>>,
    pub already_recorded: usize,
    /// What validation found worth a look; never a reason to refuse the bundle.
    pub warnings: Vec<ValidationWarning>,
}

/// What became of one file: built once, rendered in one place ([`FileResult::render`]), as a
/// line of text or one JSON object.
#[derive(Debug, Serialize)]
pub struct FileResult {
    /// The file (`<stdin>` for standard input).
    pub file: String,
    /// What publishing did with it (`validate` appends nothing and leaves this out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<FileStatus>,
    /// Events the bundle defines.
    pub events: usize,
    /// Events not yet recorded (validate) or appended (publish).
    pub new: usize,
    /// Events already recorded with identical content.
    pub already_recorded: usize,
    /// First sequence number of its batch, when one was appended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<u64>,
    /// Last sequence number of its batch (the seal), when one was appended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
    /// What validation found worth a look in the file (never a reason to refuse it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ValidationWarning>,
}

/// What publishing did with a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Its batch is committed.
    Published,
    /// Every event was already recorded; nothing appended.
    Unchanged,
}

impl FileResult {
    /// What `validate` found in a checked file.
    fn validated(c: &Checked) -> FileResult {
        FileResult {
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

    /// What publishing a checked file came to.
    fn published(c: &Checked, outcome: &PublishOutcome) -> FileResult {
        match *outcome {
            PublishOutcome::Appended {
                first,
                last,
                appended,
                already_recorded,
                ..
            } => FileResult {
                file: c.file.clone(),
                status: Some(FileStatus::Published),
                events: appended + already_recorded,
                new: appended,
                already_recorded,
                first_seq: Some(first),
                last_seq: Some(last),
                warnings: c.warnings.clone(),
            },
            PublishOutcome::AlreadyRecorded { events } => FileResult {
                file: c.file.clone(),
                status: Some(FileStatus::Unchanged),
                events,
                new: 0,
                already_recorded: events,
                first_seq: None,
                last_seq: None,
                warnings: c.warnings.clone(),
            },
        }
    }

    /// The line of text for this file.
    fn text(&self) -> String {
        let file = &self.file;
        match (self.status, self.first_seq, self.last_seq) {
            (Some(FileStatus::Published), Some(first), Some(last)) => format!(
                "published {file}: seq {first}..={last} ({} events + seal{})",
                self.new,
                if self.already_recorded > 0 {
                    format!(", {} already recorded", self.already_recorded)
                } else {
                    String::new()
                }
            ),
            (Some(FileStatus::Unchanged), ..) => format!(
                "unchanged {file}: all {} events are already recorded; nothing appended",
                self.events
            ),
            _ => format!(
                "ok {file}: {} events ({} new, {} already recorded)",
                self.events, self.new, self.already_recorded
            ),
        }
    }

    /// The file's line: text, or one JSON object (a line of JSON Lines).
    fn render(&self, json: bool) -> anyhow::Result<String> {
        if json {
            serde_json::to_string(self).context("encoding JSON")
        } else {
            Ok(self.text())
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

/// Runs every check of `publish` on the files, in order (later files may refer to earlier
/// ones). Prints every error and fails with [`INVALID_INPUT`] or [`CONFLICT`] if any.
pub async fn check(log: Option<&Backend>, files: &[String]) -> CliResult<Vec<Checked>> {
    let mut errors: Vec<BundleError> = Vec::new();
    let mut conflicts: Vec<String> = Vec::new();
    let mut earlier = KnownEntities::default();
    // Events defined by earlier files of this run: an identical one later is a no-op, a
    // different one under the same id a conflict, found before anything is appended.
    let mut in_run: std::collections::HashMap<
        dossier_chain::EventId,
        (dossier_chain::Hash, String),
    > = std::collections::HashMap::new();
    let mut checked = Vec::new();
    for name in files {
        let (file, bytes) = match read_input(name) {
            Ok(x) => x,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let bundle = match parse_bundle(&file, &bytes) {
            Ok(b) => b,
            Err(e) => {
                errors.extend(e.0);
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
                .context("reading the ledger")?;
            known.extend(fetched);
        }
        let bundle = match validate_bundle(&file, bundle, &known) {
            Ok(b) => b,
            Err(e) => {
                errors.extend(e.0);
                continue;
            }
        };
        ledger::remember(&mut earlier, &bundle);
        let (events, texts) = ledger::pending_events(&bundle);
        let mut already_recorded = 0;
        for e in &events {
            let id = event_id(&e.event_type, &e.entity_key);
            match in_run.get(&id) {
                Some((digest, first)) if *digest != e.digest() => conflicts.push(format!(
                    "{file}: {} is also defined by {first} with different content; {}",
                    e.entity_key,
                    dossier_log::correction_hint(&e.event_type)
                )),
                Some(_) => {}
                None => {
                    in_run.insert(id, (e.digest(), file.clone()));
                }
            }
        }
        if let Some(log) = log {
            let ids: Vec<_> = events
                .iter()
                .map(|e| event_id(&e.event_type, &e.entity_key))
                .collect();
            let found = log.lookup(&ids).await.context("reading the ledger index")?;
            for (e, f) in events.iter().zip(found) {
                match f {
                    Some(entry) if entry.digest == e.digest() => already_recorded += 1,
                    Some(entry) => conflicts.push(format!(
                        "{file}: {} is already recorded at seq {} with different content; {}",
                        e.entity_key,
                        entry.seq,
                        dossier_log::correction_hint(&e.event_type)
                    )),
                    None => {}
                }
            }
        }
        checked.push(Checked {
            file,
            events,
            texts,
            already_recorded,
            warnings: bundle.warnings,
        });
    }
    print_warnings(&checked);
    if !errors.is_empty() {
        let mut err = CliError::new(
            INVALID_INPUT,
            anyhow::anyhow!(
                "{} error(s) in the input; nothing was appended",
                errors.len()
            ),
        );
        err.printed = true;
        err.details = errors
            .iter()
            .map(ToString::to_string)
            .chain(conflicts)
            .collect();
        return Err(err);
    }
    if !conflicts.is_empty() {
        let mut err = CliError::new(
            CONFLICT,
            anyhow::anyhow!(
                "{} conflict(s) with the ledger; nothing was appended",
                conflicts.len()
            ),
        );
        err.printed = true;
        err.details = conflicts;
        return Err(err);
    }
    Ok(checked)
}

/// Prints the validation warnings of the checked files on standard error, one line each
/// (`<file>: <JSON Pointer>: warning: <what>`), whatever the output format.
fn print_warnings(checked: &[Checked]) {
    for w in checked.iter().flat_map(|c| &c.warnings) {
        eprintln!("{w}");
    }
}

/// `dossier validate`.
pub async fn validate(home: &Home, args: &FilesArgs) -> CliResult {
    let log = home.open_log_if_exists().await?;
    if log.is_none() && !args.json {
        eprintln!(
            "note: no ledger in {}; references are checked against the given files only",
            home.describe()
        );
    }
    let checked = check(log.as_ref(), &args.files).await?;
    let results: Vec<_> = checked.iter().map(FileResult::validated).collect();
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&results).context("encoding JSON")?
        )?;
    } else {
        for r in &results {
            crate::outln!("{}", r.render(false)?)?;
        }
    }
    Ok(())
}

/// `dossier publish`: one line per file as soon as its batch is committed (JSON Lines with
/// `--json`), so that a caller knows what is committed even if the run does not finish. On
/// SIGINT or SIGTERM no further batch is committed, and the exit code is 130 or 143.
pub async fn publish(home: &Home, args: &PublishArgs) -> CliResult {
    let interrupt = Interrupt::install().context("watching for SIGINT and SIGTERM")?;
    let log = home.open_log().await?;
    let checked = check(Some(&log), &args.files.files).await?;
    let signer = home.producer(args.key.as_deref())?;
    let ledger_id = ledger::ledger_id(&log)
        .await
        .context("reading the genesis record")?
        .context("the ledger is empty")?;
    // `check` has just consulted the index, so the first attempt need not repeat it.
    let publisher = Publisher::new(&log, &signer, ledger_id).optimistic(true);
    // Several files go through the pipelined path: the next batch is built while one is
    // appended. Each file is still one atomic batch.
    let batches = checked
        .iter()
        .map(|c| (c.events.clone(), c.texts.clone()))
        .collect();
    let json = args.files.json;
    // A line that cannot be encoded or written does not undo the commit, nor stop the run; the
    // first such failure is reported once the run ends.
    let mut unwritten: Option<anyhow::Error> = None;
    let mut reported = 0;
    interrupt.publishing();
    let run = publisher
        .publish_each(batches, interrupt.stop_flag(), |i, outcome| {
            reported = i + 1;
            let line = FileResult::published(&checked[i], &outcome).render(json);
            if let Err(e) = line.and_then(|line| crate::outln!("{line}")) {
                unwritten.get_or_insert(e);
            }
        })
        .await;
    interrupt.finished();
    if let Some(e) = unwritten {
        return Err(e.into());
    }
    let total = checked.len();
    let committed = match run {
        Ok(n) => n,
        Err(e) => {
            let code = if matches!(e, PublishError::ContentConflict { .. }) {
                CONFLICT
            } else {
                crate::exit::FAILURE
            };
            let file = checked.get(reported).map_or("", |c| c.file.as_str());
            let before = if reported > 0 {
                format!(
                    " ({reported} of {total} files were committed before it, each reported above)"
                )
            } else {
                String::new()
            };
            return Err(CliError::new(
                code,
                anyhow::Error::new(e).context(format!("publishing {file}{before}")),
            ));
        }
    };
    match interrupt.exit_code() {
        None => Ok(()),
        Some(code) => {
            let what = if committed == total {
                format!("all {total} files were committed")
            } else {
                format!(
                    "{committed} of {total} files were committed (each reported above); the other {} were not: publish them again",
                    total - committed
                )
            };
            Err(CliError::new(code, anyhow::anyhow!("interrupted: {what}")))
        }
    }
}
