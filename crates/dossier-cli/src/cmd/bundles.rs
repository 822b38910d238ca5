//! `dossier validate` and `dossier publish`: report bundles in, sealed batches out.

use anyhow::Context as _;
use dossier_app::{AppError, BundleResult, BundleStatus, CheckReport, Checked, Input};
use dossier_log::{AppendError, LogError, PublishError};

use crate::backend::Backend;
use crate::cli::{FilesArgs, PublishArgs};
use crate::exit::{CONFLICT, CliError, CliResult, FAILURE};
use crate::home::Home;
use crate::interrupt::Interrupt;

/// The line of text for a bundle's result.
fn text(r: &BundleResult) -> String {
    let file = &r.file;
    match (r.status, r.first_seq, r.last_seq) {
        (Some(BundleStatus::Published), Some(first), Some(last)) => format!(
            "published {file}: seq {first}..={last} ({} events + seal{})",
            r.new,
            if r.already_recorded > 0 {
                format!(", {} already recorded", r.already_recorded)
            } else {
                String::new()
            }
        ),
        (Some(BundleStatus::Unchanged), ..) => format!(
            "unchanged {file}: all {} events are already recorded; nothing appended",
            r.events
        ),
        _ => format!(
            "ok {file}: {} events ({} new, {} already recorded)",
            r.events, r.new, r.already_recorded
        ),
    }
}

/// A bundle's line: text, or one JSON object (a line of JSON Lines).
fn render(r: &BundleResult, json: bool) -> anyhow::Result<String> {
    if json {
        serde_json::to_string(r).context("encoding JSON")
    } else {
        Ok(text(r))
    }
}

/// Runs every check of `publish` on the files, in order (later files may refer to earlier
/// ones). Prints the warnings of the files that passed on standard error, one line each
/// (`<file>: <JSON Pointer>: warning: <what>`), whatever the output format; fails with every
/// problem and conflict (exit 3 or 4) if any.
async fn check(log: Option<&Backend>, files: &[String]) -> CliResult<Vec<Checked>> {
    let report: CheckReport = dossier_app::check(log, files.iter().map(|f| Input::read(f))).await?;
    for w in report.warnings() {
        eprintln!("{w}");
    }
    Ok(report.accept()?)
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
    let results: Vec<_> = checked.iter().map(BundleResult::validated).collect();
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&results).context("encoding JSON")?
        )?;
    } else {
        for r in &results {
            crate::outln!("{}", text(r))?;
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
    let signer = dossier_app::keys::publisher(home, &log, args.key.as_deref())
        .await
        .map_err(super::keys::hint_refusal)?;
    let json = args.files.json;
    // A line that cannot be encoded or written does not undo the commit, nor stop the run; the
    // first such failure is reported once the run ends.
    let mut unwritten: Option<anyhow::Error> = None;
    interrupt.publishing();
    let run = dossier_app::publish(
        &log,
        &signer,
        &checked,
        interrupt.stop_flag(),
        |_, result| {
            if let Err(e) = render(&result, json).and_then(|line| crate::outln!("{line}")) {
                unwritten.get_or_insert(e);
            }
        },
    )
    .await;
    interrupt.finished();
    if let Some(e) = unwritten {
        return Err(e.into());
    }
    let total = checked.len();
    let committed = match run {
        Ok(n) => n,
        Err(AppError::Publish {
            file,
            committed: reported,
            source,
        }) => {
            let code = if matches!(source, PublishError::ContentConflict { .. }) {
                CONFLICT
            } else {
                FAILURE
            };
            let migrate = if matches!(
                &source,
                PublishError::Log(LogError::ReadOnlyLayout { .. })
                    | PublishError::Append(AppendError::Log(LogError::ReadOnlyLayout { .. }))
            ) {
                "; run `dossier migrate` to convert the ledger (the old file is kept)"
            } else {
                ""
            };
            let before = if reported > 0 {
                format!(
                    " ({reported} of {total} files were committed before it, each reported above)"
                )
            } else {
                String::new()
            };
            return Err(CliError::new(
                code,
                anyhow::Error::new(source).context(format!("publishing {file}{before}{migrate}")),
            ));
        }
        Err(e) => return Err(e.into()),
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
