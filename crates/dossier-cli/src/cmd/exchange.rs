//! `dossier export --format stix|misp`: faces over `dossier_app::exchange`; `dossier import
//! --format stix`: a face over `dossier_exchange::stix_import` (docs/STIX.md).

use std::io::Write;

use anyhow::Context as _;
use dossier_app::exchange::{self, Selection};
use dossier_app::{AppResult, Home};
use dossier_exchange::stix::Written;
use dossier_exchange::stix_import;
use dossier_log::EventLog;
use dossier_query::Reader;

use super::beliefs::{app_error, question_id, reader};
use super::partial::Partial;
use crate::cli::{ExportArgs, ExportFormat, ImportArgs};
use crate::exit::{CliError, CliResult, INVALID_INPUT};

/// What an export wrote.
enum Done {
    Stix(Written),
    Misp(u64),
}

async fn write<L: EventLog, W: Write>(
    log: &L,
    reader: &Reader,
    args: &ExportArgs,
    selection: &Selection,
    out: W,
    progress: impl FnMut(u64, u64),
) -> AppResult<Done> {
    let as_of = args.as_of.as_deref();
    Ok(match args.format {
        ExportFormat::Misp => {
            let report = match selection {
                Selection::Report(r) => Some(r),
                _ => None,
            };
            let (_, n) =
                exchange::misp(log, reader, args.clearance, report, as_of, out, progress).await?;
            Done::Misp(n)
        }
        _ => {
            let (mut out, w) =
                exchange::stix(log, reader, args.clearance, selection, as_of, out, progress)
                    .await?;
            out.flush().map_err(|source| dossier_app::AppError::Io {
                what: "writing the export".to_owned(),
                source,
            })?;
            Done::Stix(w)
        }
    })
}

/// `dossier export --format stix|misp`: what the clearance sees, written one question (or
/// report) at a time to the file (beside it, renamed into place when complete) or standard
/// output; a summary on standard error.
pub async fn export(home: &Home, args: &ExportArgs) -> CliResult {
    if args.from.is_some() || args.to.is_some() {
        return Err(CliError::new(
            INVALID_INPUT,
            anyhow::anyhow!(
                "--from and --to choose records of the raw log (--format log); this export takes --question, --report, --as-of and --clearance"
            ),
        ));
    }
    let selection = match (&args.question, &args.report) {
        (Some(_), _) if args.format == ExportFormat::Misp => {
            return Err(CliError::new(
                INVALID_INPUT,
                anyhow::anyhow!(
                    "a MISP export holds one event per report: give --report or nothing"
                ),
            ));
        }
        (Some(q), _) => Selection::Question(question_id(q)),
        (None, Some(r)) => Selection::Report(
            dossier_model::EntityId::parse(r)
                .map_err(|e| CliError::new(INVALID_INPUT, anyhow::anyhow!("--report {r}: {e}")))?,
        ),
        (None, None) => Selection::All,
    };
    let reader = reader(home, false).await?;
    let log = home.open_log().await?;
    let bar = if args.quiet || args.output.is_none() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
    };
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let done = match &args.output {
        None => {
            let stdout = std::io::stdout();
            let w = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            write(&log, &reader, args, &selection, w, progress)
                .await
                .map_err(app_error)?
        }
        Some(path) => {
            let partial = Partial::create(path)?;
            let w = std::io::BufWriter::with_capacity(1 << 16, partial.file());
            let done = write(&log, &reader, args, &selection, w, progress)
                .await
                .map_err(app_error)?;
            partial.finish()?;
            done
        }
    };
    bar.finish_and_clear();
    let summary = match (&done, args.json) {
        (Done::Stix(w), true) => serde_json::to_string_pretty(w).context("encoding JSON")?,
        (Done::Misp(n), true) => serde_json::json!({ "events": n }).to_string(),
        (Done::Stix(w), false) => format!(
            "exported {} STIX objects ({} claims of {} questions) for {}",
            w.objects, w.claims, w.questions, args.clearance
        ),
        (Done::Misp(n), false) => format!("exported {n} MISP events for {}", args.clearance),
    };
    eprintln!("{summary}");
    Ok(())
}

/// `dossier import --format stix`: a draft report bundle of the STIX report, to standard
/// output or `-o FILE` (written beside it and renamed into place); the places to fill in and
/// what was dropped on standard error (or as JSON). The ledger is not opened: a draft is
/// published by `dossier publish` once an analyst has completed it.
pub fn import_stix(args: &ImportArgs) -> CliResult {
    if args.trust.is_some() {
        return Err(CliError::new(
            INVALID_INPUT,
            anyhow::anyhow!(
                "--trust verifies a raw log import (--format log); a STIX import appends nothing"
            ),
        ));
    }
    let bytes = if args.file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf)
            .context("reading standard input")?;
        buf
    } else {
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?
    };
    let retrieved = dossier_model::Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc())
        .context("reading the clock")?;
    let draft = stix_import::draft(&bytes, args.report.as_deref(), &retrieved.to_string())
        .map_err(|e| {
            CliError::new(
                INVALID_INPUT,
                anyhow::anyhow!("{}: {e}", args.file.display()),
            )
        })?;
    let mut text = serde_json::to_vec_pretty(&draft.bundle).context("encoding the draft")?;
    text.push(b'\n');
    match &args.output {
        None => std::io::stdout()
            .lock()
            .write_all(&text)
            .context("writing the draft")?,
        Some(path) => {
            let partial = Partial::create(path)?;
            let mut file = partial.file();
            file.write_all(&text)
                .with_context(|| format!("writing {}", path.display()))?;
            partial.finish()?;
        }
    }
    if args.json {
        let summary = serde_json::to_string_pretty(&draft).context("encoding JSON")?;
        if args.output.is_some() {
            crate::outln!("{summary}")?;
        } else {
            eprintln!("{summary}");
        }
        return Ok(());
    }
    for d in &draft.dropped {
        eprintln!("dropped {}: {}", d.id, d.reason);
    }
    for t in &draft.todo {
        eprintln!("fill in {}: {}", t.path, t.what);
    }
    eprintln!(
        "drafted {} as a report bundle: {} place(s) to fill in, {} object(s) dropped; complete it, check it with `dossier validate`, then `dossier publish` it",
        draft.report,
        draft.todo.len(),
        draft.dropped.len()
    );
    Ok(())
}
