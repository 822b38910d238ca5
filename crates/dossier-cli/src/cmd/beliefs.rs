//! `dossier beliefs`, `dossier why`, `dossier history` and `dossier views`: answers from the
//! projector's stored views, brought up to date from the ledger first.

use std::time::Duration;

use anyhow::Context as _;
use dossier_projector::{Error as ProjectorError, ViewStore};
use dossier_query::{
    BeliefList, Freshness, QueryError, QueryErrorKind, Reader, Sources, Staleness,
};
use serde_json::json;

use super::render;

use crate::cli::{BeliefsArgs, QuestionArgs, ViewsCommand, WhyFormat};
use crate::exit::{CliError, CliResult, FAILURE, VERIFY_FAILED};
use crate::home::Home;

/// Maps a projector failure to an exit code: a broken or unreadable chain did not verify.
pub fn projector_error(e: ProjectorError) -> CliError {
    let code = match e {
        ProjectorError::BrokenChain { .. }
        | ProjectorError::Corrupt { .. }
        | ProjectorError::Rewritten { .. } => VERIFY_FAILED,
        _ => FAILURE,
    };
    let hint = matches!(e, ProjectorError::Mismatch { .. });
    let mut err = anyhow::Error::new(e).context("updating the belief views");
    if hint {
        err = err.context("the stored views do not fit this ledger; run `dossier views rebuild`");
    }
    CliError::new(code, err)
}

/// How long a reader waits for a running `dossier serve` (or `dossier projector`) to bring
/// the views it serves to the head, before answering from them as they stand.
const SERVED_WAIT: Duration = Duration::from_secs(10);

/// A query failure as the CLI reports it: a ledger that failed a check exits 5; hints say what
/// to do next.
fn query_error(e: QueryError) -> CliError {
    match e.kind() {
        QueryErrorKind::Integrity => {
            let hint = matches!(e, QueryError::Distrusted(_)).then_some(
                "nothing was answered from the views (--stale-ok answers from them as they stand)",
            );
            let mut err = anyhow::Error::new(e);
            if let Some(hint) = hint {
                err = anyhow::anyhow!("{err}; {hint}");
            }
            CliError::new(VERIFY_FAILED, err)
        }
        QueryErrorKind::NotFound => CliError::new(
            FAILURE,
            anyhow::anyhow!("{e}; `dossier beliefs` lists the questions"),
        ),
        QueryErrorKind::Mismatch => CliError::new(
            FAILURE,
            anyhow::Error::new(e)
                .context("the stored views do not fit this ledger; run `dossier views rebuild`"),
        ),
        QueryErrorKind::Internal => CliError::new(
            FAILURE,
            anyhow::Error::new(e).context("reading the belief views"),
        ),
    }
}

/// Opens the views for answering: checked against the ledger and the auditor, and brought up
/// to date (see `dossier_query::Reader`). With `stale_ok`, views that are not trusted answer
/// as they stand, after a warning.
pub(super) async fn reader(home: &Home, stale_ok: bool) -> CliResult<Reader> {
    let log = home.open_log().await?.for_folding()?;
    let sources = Sources {
        views: home.views_path(),
        auditor: Some(home.auditor_path()),
        wait: SERVED_WAIT,
    };
    let staleness = if stale_ok {
        Staleness::Accepted
    } else {
        Staleness::Refused
    };
    let reader = Reader::open(&log, &sources, staleness)
        .await
        .map_err(query_error)?;
    if let Freshness::Distrusted(why) = reader.freshness() {
        eprintln!("warning: answering from views that may be stale or unsound: {why}");
    }
    Ok(reader)
}

pub(super) fn question_id(q: &str) -> String {
    if q.starts_with("question:") {
        q.to_owned()
    } else {
        format!("question:{q}")
    }
}

fn store_err(e: ProjectorError) -> CliError {
    CliError::new(
        FAILURE,
        anyhow::Error::new(e).context("reading the belief views"),
    )
}

fn out(text: &str) -> CliResult {
    Ok(crate::output::write(text)?)
}

fn pretty(v: &impl serde::Serialize) -> CliResult<String> {
    Ok(format!(
        "{}\n",
        serde_json::to_string_pretty(v).context("encoding JSON")?
    ))
}

/// `dossier beliefs`.
pub async fn beliefs(home: &Home, args: &BeliefsArgs) -> CliResult {
    let reader = reader(home, args.stale_ok).await?;
    let answer = reader
        .beliefs(args.clearance, args.as_of.as_deref(), args.at)
        .map_err(query_error)?;
    if args.json {
        return out(&pretty(&answer)?);
    }
    let rows: Vec<[String; 6]> = match &answer.answer.beliefs {
        BeliefList::Lines(lines) => lines
            .iter()
            .map(|l| render::line_row(&l.item, l.marking))
            .collect(),
        BeliefList::AtValidTime(folded) => folded
            .iter()
            .map(|b| render::line_row(&b.item.line(), b.marking))
            .collect(),
    };
    let mut text = format!(
        "{}{} — {} question(s)\n",
        render::as_of_line(&answer, reader.progress()),
        args.at
            .map(|t| format!(", valid at {t}"))
            .unwrap_or_default(),
        rows.len()
    );
    text.push_str(&render::lines_table(&rows));
    out(&text)
}

/// `dossier why`.
pub async fn why(home: &Home, args: &QuestionArgs) -> CliResult {
    let reader = reader(home, args.stale_ok).await?;
    let q = question_id(&args.question);
    if args.format == Some(WhyFormat::ProvJson) {
        let log = home.open_log().await?;
        let doc = dossier_app::exchange::prov(
            &log,
            &reader,
            args.clearance,
            &q,
            args.as_of.as_deref(),
            args.at,
        )
        .await
        .map_err(app_error)?;
        return out(&pretty(&doc.document)?);
    }
    let answer = reader
        .why(args.clearance, &q, args.as_of.as_deref(), args.at)
        .map_err(query_error)?;
    // Reports whose text was redacted: said so (who, when, why at TLP:RED); their claims and
    // quotes stay.
    let p = &answer.answer.belief.provenance;
    let reports = p
        .supporting
        .iter()
        .chain(&p.contradicting)
        .chain(&p.other)
        .chain(&p.superseded)
        .chain(&p.retracted)
        .filter_map(|c| c.report.as_ref())
        .filter_map(|r| Some((r.id.to_string(), r.content_hash.clone()?)))
        .collect::<Vec<_>>();
    let log = home.open_log().await?;
    let redactions = dossier_redact::notices(&log, args.clearance, reports)
        .await
        .context("looking up redactions of the reports")?;
    if args.json {
        #[derive(serde::Serialize)]
        struct WhyOut<'a, T: serde::Serialize> {
            #[serde(flatten)]
            answer: &'a T,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            redactions: Vec<dossier_redact::Notice>,
        }
        return out(&pretty(&WhyOut {
            answer: &answer,
            redactions,
        })?);
    }
    let header = render::as_of_line(&answer, reader.progress());
    let mut text = render::why_text(&answer.answer.belief, answer.answer.marking, &header);
    text.push_str(&render::redactions_text(&redactions));
    match args.at {
        Some(at) => out(&format!("valid at {at}\n{text}")),
        None => out(&text),
    }
}

/// `dossier history`.
pub async fn history(home: &Home, args: &QuestionArgs) -> CliResult {
    let reader = reader(home, args.stale_ok).await?;
    let q = question_id(&args.question);
    let answer = reader
        .history(args.clearance, &q, args.as_of.as_deref())
        .map_err(query_error)?;
    if args.json {
        return out(&pretty(&answer)?);
    }
    let mut t = format!(
        "{q} — {}, {} change(s)\n",
        render::as_of_line(&answer, reader.progress()),
        answer.answer.changes.len()
    );
    t.push_str(&render::history_text(&answer.answer.changes));
    out(&t)
}

/// `dossier views`.
pub async fn views(home: &Home, cmd: &ViewsCommand) -> CliResult {
    let log = home.open_log().await?.for_folding()?;
    let path = home.views_path();
    let (json_out, rebuilt) = match cmd {
        ViewsCommand::Status { json } => (*json, false),
        ViewsCommand::Rebuild { json } => {
            dossier_projector::rebuild(&log, &path)
                .await
                .map_err(projector_error)?;
            (*json, true)
        }
    };
    let progress = dossier_projector::status(&log, &path)
        .await
        .map_err(projector_error)?;
    let (checkpoint, digest) = match ViewStore::open(&path) {
        Ok(v) => (
            v.checkpoint().map_err(store_err)?,
            v.digest(dossier_model::Marking::Red).map_err(store_err)?,
        ),
        Err(ProjectorError::NoStore(_)) => (None, None),
        Err(e) => return Err(store_err(e)),
    };
    if json_out {
        return out(&pretty(&json!({
            "store": path.display().to_string(),
            "seq": progress.applied,
            "hash": checkpoint.map(|c| c.hash),
            "head": progress.head,
            "lag": progress.lag(),
            "digest": digest,
            "rebuilt": rebuilt,
        }))?);
    }
    out(&format!(
        "{}{}: seq {} of {} ({} behind), digest {}\n",
        if rebuilt { "rebuilt " } else { "" },
        path.display(),
        progress.applied,
        progress.head,
        progress.lag(),
        digest.as_deref().unwrap_or("—"),
    ))
}

/// An application error as the CLI reports it: a failed query as [`query_error`] does.
pub(super) fn app_error(e: dossier_app::AppError) -> CliError {
    match e {
        dossier_app::AppError::Query { source, .. } => query_error(source),
        other => other.into(),
    }
}
