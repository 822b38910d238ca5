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

/// A bundle that passed every check.
pub struct Checked {
    pub file: String,
    pub events: Vec<PendingEvent>,
    pub texts: Vec<Vec<u8>>,
    pub already_recorded: usize,
    /// What validation found worth a look; never a reason to refuse the bundle.
    pub warnings: Vec<ValidationWarning>,
}

#[derive(Serialize)]
struct FileReport<'a> {
    file: &'a str,
    events: usize,
    new: usize,
    already_recorded: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seq: Option<u64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    warnings: &'a [ValidationWarning],
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
    for e in &errors {
        eprintln!("{e}");
    }
    for c in &conflicts {
        eprintln!("{c}");
    }
    if !errors.is_empty() {
        let mut err = CliError::new(
            INVALID_INPUT,
            anyhow::anyhow!(
                "{} error(s) in the input; nothing was appended",
                errors.len()
            ),
        );
        err.printed = true;
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
    let reports: Vec<_> = checked
        .iter()
        .map(|c| FileReport {
            file: &c.file,
            events: c.events.len(),
            new: c.events.len() - c.already_recorded,
            already_recorded: c.already_recorded,
            first_seq: None,
            last_seq: None,
            warnings: &c.warnings,
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).context("encoding JSON")?
        );
    } else {
        for r in &reports {
            println!(
                "ok {}: {} events ({} new, {} already recorded)",
                r.file, r.events, r.new, r.already_recorded
            );
        }
    }
    Ok(())
}

/// `dossier publish`.
pub async fn publish(home: &Home, args: &PublishArgs) -> CliResult {
    let log = home.open_log().await?;
    let checked = check(Some(&log), &args.files.files).await?;
    let signer = home.producer(args.key.as_deref())?;
    let ledger_id = ledger::ledger_id(&log)
        .await
        .context("reading the genesis record")?
        .context("the ledger is empty")?;
    // `check` has just consulted the index, so the first attempt need not repeat it.
    let publisher = Publisher::new(&log, &signer, ledger_id).optimistic(true);
    let mut reports = Vec::new();
    // Several files go through the pipelined path: the next batch is built while one is
    // appended. Each file is still one atomic batch.
    let batches = checked
        .iter()
        .map(|c| (c.events.clone(), c.texts.clone()))
        .collect();
    let outcomes = publisher.publish_all(batches).await.map_err(|e| match e {
        PublishError::ContentConflict { .. } => CliError::new(CONFLICT, e),
        other => CliError::from(anyhow::Error::new(other).context("publishing")),
    })?;
    for (c, outcome) in checked.iter().zip(outcomes) {
        let report = match outcome {
            PublishOutcome::Appended {
                first,
                last,
                appended,
                already_recorded,
                ..
            } => {
                if !args.files.json {
                    println!(
                        "published {}: seq {first}..={last} ({appended} events + seal{})",
                        c.file,
                        if already_recorded > 0 {
                            format!(", {already_recorded} already recorded")
                        } else {
                            String::new()
                        }
                    );
                }
                FileReport {
                    file: &c.file,
                    events: appended + already_recorded,
                    new: appended,
                    already_recorded,
                    first_seq: Some(first),
                    last_seq: Some(last),
                    warnings: &c.warnings,
                }
            }
            PublishOutcome::AlreadyRecorded { events } => {
                if !args.files.json {
                    println!(
                        "unchanged {}: all {events} events are already recorded; nothing appended",
                        c.file
                    );
                }
                FileReport {
                    file: &c.file,
                    events,
                    new: 0,
                    already_recorded: events,
                    first_seq: None,
                    last_seq: None,
                    warnings: &c.warnings,
                }
            }
        };
        reports.push(report);
    }
    if args.files.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).context("encoding JSON")?
        );
    }
    Ok(())
}
