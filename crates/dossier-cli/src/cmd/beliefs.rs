//! `dossier beliefs`, `dossier why`, `dossier history` and `dossier views`: answers from the
//! projector's stored views, brought up to date from the ledger first.

use std::time::Duration;

use anyhow::Context as _;
use dossier_projector::{Error as ProjectorError, Progress, ViewStore};
use serde_json::{Value, json};

use super::render;

use crate::cli::{BeliefsArgs, QuestionArgs, ViewsCommand};
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

/// Brings the views up to date from the ledger and opens them for reading.
/// How long a reader waits for a running `dossier serve` (or `dossier projector`) to bring
/// the views it serves to the head, before answering from them as they stand.
const SERVED_WAIT: Duration = Duration::from_secs(10);

///
/// Before anything is answered, the record at the views' checkpoint must still be in the ledger
/// as the views applied it ([`dossier_projector::check_checkpoint`]), and the auditor, if one
/// runs on this data directory, must never have raised an alarm. Otherwise nothing is answered
/// (exit 5), unless `stale_ok`: then the views answer as they stand, with a warning, and are not
/// brought up to date over a ledger that failed.
async fn fresh_views(home: &Home, stale_ok: bool) -> CliResult<(ViewStore, Progress)> {
    let log = home.open_log().await?.for_folding()?;
    let path = home.views_path();
    let distrust = match dossier_projector::check_checkpoint(&log, &path).await {
        Ok(()) => auditor_alarm(home)?,
        Err(e @ ProjectorError::Rewritten { .. }) => Some(e.to_string()),
        Err(e) => return Err(projector_error(e)),
    };
    let progress = match distrust {
        None => dossier_projector::refresh(&log, &path, SERVED_WAIT)
            .await
            .map_err(projector_error)?,
        Some(why) if stale_ok => {
            eprintln!("warning: answering from views that may be stale or unsound: {why}");
            dossier_projector::status(&log, &path)
                .await
                .map_err(projector_error)?
        }
        Some(why) => {
            return Err(CliError::new(
                VERIFY_FAILED,
                anyhow::anyhow!(
                    "{why}; nothing was answered from the views (--stale-ok answers from them as they stand)"
                ),
            ));
        }
    };
    let views = ViewStore::open(&path).map_err(projector_error)?;
    Ok((views, progress))
}

/// The auditor's verdict, if an auditor runs on this data directory: why not to trust the
/// ledger (its latest alarm), or `None`.
fn auditor_alarm(home: &Home) -> CliResult<Option<String>> {
    let path = home.auditor_path();
    if !path.is_file() {
        return Ok(None);
    }
    let status = dossier_auditor::status(&path).map_err(|e| {
        CliError::new(
            FAILURE,
            anyhow::Error::new(e).context("reading the auditor's status"),
        )
    })?;
    if status.healthy {
        return Ok(None);
    }
    let latest = status.alarms.first().map_or_else(String::new, |a| {
        let at = a.seq.map(|s| format!(" at seq {s}")).unwrap_or_default();
        format!("; the latest: {}{at}: {}", a.kind, a.detail)
    });
    Ok(Some(format!(
        "the auditor raised {} alarm(s) on this ledger{latest}",
        status.alarm_count
    )))
}

fn question_id(q: &str) -> String {
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

fn pretty(v: &Value) -> CliResult<String> {
    Ok(format!(
        "{}\n",
        serde_json::to_string_pretty(v).context("encoding JSON")?
    ))
}

/// `dossier beliefs`.
pub async fn beliefs(home: &Home, args: &BeliefsArgs) -> CliResult {
    let (views, progress) = fresh_views(home, args.stale_ok).await?;
    let (cut, lines) = views
        .beliefs_at_cut(args.as_of.as_deref())
        .map_err(store_err)?;
    // At a valid time each view is folded from its stored events.
    let at_valid_time = match args.at {
        Some(at) => {
            let mut folded = Vec::with_capacity(lines.len());
            for line in &lines {
                let q = line.question.id.as_str();
                if let Some(b) = views
                    .belief_view(q, args.as_of.as_deref(), Some(at))
                    .map_err(store_err)?
                {
                    folded.push(b);
                }
            }
            Some(folded)
        }
        None => None,
    };
    if args.json {
        // The digest is of the stored lines at the cut; lines at a valid time are folded
        // afresh and have none.
        let digest = args.at.is_none().then_some(&cut.digest);
        let list = match &at_valid_time {
            Some(folded) => serde_json::to_value(folded),
            None => serde_json::to_value(&lines),
        }
        .context("encoding the beliefs")?;
        let doc = json!({
            "as_of": args.as_of,
            "valid_at": args.at.map(|t| t.to_string()),
            "seq": cut.seq,
            "lag": progress.lag(),
            "policy": dossier_beliefs_policy(&views)?,
            "digest": digest,
            "beliefs": list,
        });
        return out(&pretty(&doc)?);
    }
    let rows: Vec<[String; 5]> = match &at_valid_time {
        Some(folded) => folded.iter().map(render::belief_row).collect(),
        None => lines.iter().map(render::line_row).collect(),
    };
    let mut text = format!(
        "{}{} — {} question(s)\n",
        render::as_of_line(args.as_of.as_deref(), &progress, &cut),
        args.at
            .map(|t| format!(", valid at {t}"))
            .unwrap_or_default(),
        rows.len()
    );
    text.push_str(&render::lines_table(&rows));
    out(&text)
}

fn dossier_beliefs_policy(views: &ViewStore) -> CliResult<Option<String>> {
    views.policy().map_err(store_err)
}

fn not_posed(q: &str, as_of: Option<&str>) -> CliError {
    CliError::new(
        FAILURE,
        match as_of {
            Some(t) => anyhow::anyhow!(
                "{q} was not posed as of {}; `dossier beliefs` lists the questions",
                render::when_text(t)
            ),
            None => anyhow::anyhow!(
                "no question {q} in the ledger; `dossier beliefs` lists the questions"
            ),
        },
    )
}

/// `dossier why`.
pub async fn why(home: &Home, args: &QuestionArgs) -> CliResult {
    let (views, progress) = fresh_views(home, args.stale_ok).await?;
    let q = question_id(&args.question);
    let Some(b) = views
        .belief_view(&q, args.as_of.as_deref(), args.at)
        .map_err(store_err)?
    else {
        return Err(not_posed(&q, args.as_of.as_deref()));
    };
    let cut = views.cut(args.as_of.as_deref()).map_err(store_err)?;
    if args.json {
        let mut doc = json!({ "as_of": args.as_of, "seq": cut.seq, "digest": cut.digest, "lag": progress.lag(), "belief": b });
        if let Some(at) = args.at {
            doc["valid_at"] = json!(at.to_string());
        }
        return out(&pretty(&doc)?);
    }
    let header = render::as_of_line(args.as_of.as_deref(), &progress, &cut);
    let text = render::why_text(&b, &header);
    match args.at {
        Some(at) => out(&format!("valid at {at}\n{text}")),
        None => out(&text),
    }
}

/// `dossier history`.
pub async fn history(home: &Home, args: &QuestionArgs) -> CliResult {
    let (views, progress) = fresh_views(home, args.stale_ok).await?;
    let q = question_id(&args.question);
    if views
        .belief(&q, args.as_of.as_deref())
        .map_err(store_err)?
        .is_none()
    {
        return Err(not_posed(&q, args.as_of.as_deref()));
    }
    let changes = views
        .history(&q, args.as_of.as_deref())
        .map_err(store_err)?;
    let cut = views.cut(args.as_of.as_deref()).map_err(store_err)?;
    if args.json {
        return out(&pretty(
            &json!({ "question": q, "as_of": args.as_of, "seq": cut.seq, "digest": cut.digest, "lag": progress.lag(), "changes": changes }),
        )?);
    }
    let mut t = format!(
        "{q} — {}, {} change(s)\n",
        render::as_of_line(args.as_of.as_deref(), &progress, &cut),
        changes.len()
    );
    t.push_str(&render::history_text(&changes));
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
            v.digest().map_err(store_err)?,
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
