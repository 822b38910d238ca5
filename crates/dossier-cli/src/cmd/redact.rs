//! `dossier redact`: record a redaction and erase the text (through `dossier-redact`).

use anyhow::Context as _;
use dossier_redact::{Outcome, RedactError, RedactErrorKind};

use crate::cli::RedactArgs;
use crate::exit::{CliError, CliResult, FAILURE, INVALID_INPUT};
use crate::home::Home;

/// The library's error with its exit code (`Invalid` is refused input, nothing appended).
fn cli_error(e: RedactError) -> CliError {
    let code = match e.kind() {
        RedactErrorKind::Invalid => INVALID_INPUT,
        RedactErrorKind::NotFound | RedactErrorKind::Storage | RedactErrorKind::Corrupt => FAILURE,
    };
    let hint = match &e {
        RedactError::Invalid(_) | RedactError::UnknownReport(_) => "; nothing was appended",
        RedactError::Erase {
            source: dossier_log::LogError::Incompatible(why),
            ..
        } if why.contains("deny_delete") => {
            "; run `dossier migrate --texts` (with producers stopped) to recreate the texts stream without deny_delete: it leaves this text out"
        }
        RedactError::Erase { .. } => "; run the same `dossier redact` again to finish the erase",
        _ => "",
    };
    CliError::new(code, anyhow::anyhow!("{e}{hint}"))
}

/// Asks on the terminal for the report id to be typed back; refuses without a terminal.
fn confirm(report: &str) -> CliResult {
    crate::confirm::ask(&crate::confirm::Confirmation {
        id: report,
        question: format!(
            "Redact the text of {report}? It is erased from the content store for good (records, claims and quotes stay)."
        ),
        doing: format!("redacting {report}"),
        change: format!("redaction of {report}"),
    })
}

/// `dossier redact REPORT --reason TEXT [--yes] [--json]`.
pub(crate) async fn run(home: &Home, a: &RedactArgs) -> CliResult {
    // The cheap checks first, so bad input is refused before any question is asked.
    dossier_redact::record::check_report_id(&a.report).map_err(cli_error)?;
    dossier_redact::record::check_reason(&a.reason).map_err(cli_error)?;
    let log = home.open_log().await?;
    let signer = dossier_app::keys::publisher(home, &log, None)
        .await
        .map_err(super::keys::hint_refusal)?;
    if !a.yes {
        confirm(&a.report)?;
    }
    let done = dossier_redact::redact(&log, &signer, &a.report, &a.reason)
        .await
        .map_err(cli_error)?;
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&done).context("encoding JSON")?
        )?;
        return Ok(());
    }
    let r = &done.redaction;
    match done.outcome {
        Outcome::Redacted => crate::outln!(
            "redacted the text of {} ({}) at seq {}, signed by {} ({}), recorded {}; the text is erased",
            a.report,
            r.content_hash,
            r.seq,
            r.key,
            r.by,
            r.recorded
        )?,
        Outcome::Completed => crate::outln!(
            "the text of {} ({}) was redacted at seq {} ({}, recorded {}), but was still stored: erased now",
            a.report,
            r.content_hash,
            r.seq,
            r.reason,
            r.recorded
        )?,
        Outcome::AlreadyRedacted => crate::outln!(
            "the text of {} ({}) was already redacted at seq {} by {} ({}), recorded {}: {}; nothing changed",
            a.report,
            r.content_hash,
            r.seq,
            r.key,
            r.by,
            r.recorded,
            r.reason
        )?,
    }
    Ok(())
}
