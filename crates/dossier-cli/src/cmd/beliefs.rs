//! `dossier beliefs`, `dossier why`, `dossier history` and `dossier views`: answers from the
//! projector's stored views, brought up to date from the ledger first.

use std::time::Duration;

use anyhow::Context as _;
use dossier_projector::{Cut, Error as ProjectorError, Progress, ViewStore};
use serde_json::{Value, json};

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

/// A number without a needless `.0`, with thousands separators.
fn number(v: &Value) -> String {
    let Some(f) = v.as_f64() else {
        return v.to_string();
    };
    if f.fract() != 0.0 {
        return format!("{f}");
    }
    let digits = format!("{}", f.abs() as u64);
    let mut s = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            s.push(',');
        }
        s.push(c);
    }
    if f < 0.0 { format!("-{s}") } else { s }
}

fn unit(u: &Value) -> String {
    u.as_str().map(|u| format!(" {u}")).unwrap_or_default()
}

/// A claim value (`{"quantity": {...}}`, `{"boolean": true}`, ...) in words.
fn claim_value(v: &Value) -> String {
    if let Some(b) = v.get("boolean").and_then(Value::as_bool) {
        return if b { "yes" } else { "no" }.to_owned();
    }
    if let Some(q) = v.get("quantity") {
        let prefix = match q["qualifier"].as_str() {
            Some("approximately") => "~",
            Some("at_least") => "≥",
            Some("at_most") => "≤",
            _ => "",
        };
        return format!("{prefix}{}{}", number(&q["value"]), unit(&q["unit"]));
    }
    if let Some(r) = v.get("range") {
        return format!(
            "{}–{}{}",
            number(&r["low"]),
            number(&r["high"]),
            unit(&r["unit"])
        );
    }
    if let Some(c) = v.get("category").and_then(Value::as_str) {
        return c.to_owned();
    }
    v.to_string()
}

/// A belief value (`{"kind": "single" | "range" | "alternatives", ...}`) in words.
fn belief_value(v: &Value) -> String {
    match v["kind"].as_str() {
        Some("single") => claim_value(&v["value"]),
        Some("range") => format!(
            "{}–{}{}",
            number(&v["low"]),
            number(&v["high"]),
            unit(&v["unit"])
        ),
        Some("alternatives") => v["values"]
            .as_array()
            .map(|a| a.iter().map(claim_value).collect::<Vec<_>>().join(" | "))
            .unwrap_or_default(),
        _ => "—".to_owned(),
    }
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn status_words(b: &Value) -> String {
    let summary = b["status"]["summary"].as_str().unwrap_or("?");
    let flags: Vec<&str> = strs(&b["status"]["flags"])
        .into_iter()
        .filter(|f| *f != summary)
        .collect();
    if flags.is_empty() {
        summary.to_owned()
    } else {
        format!("{summary} [{}]", flags.join(", "))
    }
}

fn judgment(b: &Value) -> String {
    match (b["likelihood"].as_str(), b["confidence"].as_str()) {
        (Some(l), Some(c)) => format!("{}, {c} confidence", l.replace('_', " ")),
        (None, Some(c)) => format!("{c} confidence"),
        (Some(l), None) => l.replace('_', " "),
        (None, None) => "no assessment".to_owned(),
    }
}

fn when(v: &Value) -> String {
    // Recorded times are fixed-width; show them to the millisecond.
    v.as_str()
        .map(|s| {
            if s.len() >= 23 {
                format!("{}Z", &s[..23])
            } else {
                s.to_owned()
            }
        })
        .unwrap_or_default()
}

fn as_of_line(as_of: Option<&str>, progress: &Progress, cut: &Cut) -> String {
    // Views a running projector had not brought to the head in time say how far behind they are.
    let views = match progress.lag() {
        0 => format!("views at seq {}", progress.applied),
        lag => format!(
            "views at seq {}, {lag} record(s) behind the ledger's head",
            progress.applied
        ),
    };
    let digest = &cut.digest[..cut.digest.len().min(12)];
    match as_of {
        Some(t) => format!(
            "as of {} (seq {}, digest {digest}…; {views})",
            when(&json!(t)),
            cut.seq
        ),
        None => format!("current ({views}, digest {digest}…)"),
    }
}

/// `dossier beliefs`.
pub async fn beliefs(home: &Home, args: &BeliefsArgs) -> CliResult {
    let (views, progress) = fresh_views(home, args.stale_ok).await?;
    let (cut, mut list) = views
        .beliefs_at_cut(args.as_of.as_deref())
        .map_err(store_err)?;
    if let Some(at) = args.at {
        // At a valid time each view is folded from its stored events.
        let mut at_list = Vec::with_capacity(list.len());
        for line in &list {
            let q = line["question"]["id"].as_str().unwrap_or_default();
            if let Some(b) = belief_json(&views, q, args.as_of.as_deref(), Some(at))? {
                at_list.push(b);
            }
        }
        list = at_list;
    }
    if args.json {
        // The digest is of the stored lines at the cut; lines at a valid time are folded
        // afresh and have none.
        let digest = args.at.is_none().then_some(&cut.digest);
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
    let mut text = format!(
        "{}{} — {} question(s)\n",
        as_of_line(args.as_of.as_deref(), &progress, &cut),
        args.at
            .map(|t| format!(", valid at {t}"))
            .unwrap_or_default(),
        list.len()
    );
    // Columns as wide as their widest cell (widths count characters: "≥" and "—" are one).
    let rows: Vec<[String; 5]> = list
        .iter()
        .map(|b| {
            let sources = b["sources"].as_u64().unwrap_or(0);
            [
                b["question"]["id"].as_str().unwrap_or("?").to_owned(),
                if b["value"].is_null() {
                    "—".to_owned()
                } else {
                    belief_value(&b["value"])
                },
                status_words(b),
                judgment(b),
                format!("{sources} source{}", if sources == 1 { "" } else { "s" }),
            ]
        })
        .collect();
    let mut widths = [0; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for [question, value, status, judgment, sources] in &rows {
        let [wq, wv, ws, wj, _] = widths;
        text.push_str(&format!(
            "{question:<wq$}  {value:<wv$}  {status:<ws$}  {judgment:<wj$}  {sources}\n"
        ));
    }
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
                when(&json!(t))
            ),
            None => anyhow::anyhow!(
                "no question {q} in the ledger; `dossier beliefs` lists the questions"
            ),
        },
    )
}

fn event_ref(e: &Value) -> String {
    let hash = e["hash"].as_str().unwrap_or("");
    format!("seq {} hash {}…", e["seq"], &hash[..hash.len().min(12)])
}

fn source_line(s: &Value) -> String {
    let name = s["name"]
        .as_str()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let rel = match &s["reliability"] {
        Value::Null => "reliability unknown (never assessed)".to_owned(),
        r => format!(
            "reliability {}{}",
            r["rating"].as_str().unwrap_or("?"),
            if r["known"] == false {
                " (cannot be judged)"
            } else {
                ""
            }
        ),
    };
    format!("{}{name}, {rel}", s["id"].as_str().unwrap_or("?"))
}

fn valid_time(v: &Value) -> String {
    match (v["from"].as_str(), v["until"].as_str()) {
        (Some(f), Some(u)) => format!("{f} … {u}"),
        (Some(f), None) => format!("from {f}"),
        (None, Some(u)) => format!("until {u}"),
        (None, None) => String::new(),
    }
}

fn claim_tree(text: &mut String, c: &Value, lead: &str) {
    let value = c
        .get("value")
        .map(claim_value)
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    let vt = c
        .get("valid_time")
        .map(valid_time)
        .filter(|s| !s.is_empty())
        .map(|s| format!(", valid {s}"))
        .unwrap_or_default();
    text.push_str(&format!(
        "{lead}{} — {}{value}{vt}, credibility {}\n",
        c["id"].as_str().unwrap_or("?"),
        c["stance"].as_str().unwrap_or("?"),
        c["credibility"]["grade"],
    ));
    let sub = " ".repeat(lead.chars().count());
    text.push_str(&format!("{sub}speaker: {}\n", source_line(&c["speaker"])));
    if let Some(via) = c.get("via") {
        text.push_str(&format!("{sub}via:     {}\n", source_line(via)));
    }
    text.push_str(&format!(
        "{sub}quote:   “{}”\n",
        c["quote"]["text"].as_str().unwrap_or("")
    ));
    if let Some(r) = c.get("report") {
        text.push_str(&format!(
            "{sub}report:  {} “{}” — {}, published {}{}\n",
            r["id"].as_str().unwrap_or("?"),
            r["title"].as_str().unwrap_or("?"),
            r["publisher"].as_str().unwrap_or("?"),
            r["published"].as_str().unwrap_or("?"),
            r.get("event")
                .map(|e| format!(" ({})", event_ref(e)))
                .unwrap_or_default(),
        ));
    }
    let by: Vec<&str> = strs(&c["superseded_by"])
        .into_iter()
        .chain(strs(&c["retracted_by"]))
        .collect();
    if !by.is_empty() {
        let what = if c["state"] == "retracted" {
            "retracted by"
        } else {
            "superseded by"
        };
        text.push_str(&format!("{sub}{what} {}\n", by.join(", ")));
    }
    for r in c["relations"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "{sub}relation: {} {} {} ({})\n",
            r["from"].as_str().unwrap_or("?"),
            r["kind"].as_str().unwrap_or("?"),
            r["to"].as_str().unwrap_or("?"),
            event_ref(&r["event"]),
        ));
    }
    text.push_str(&format!(
        "{sub}event:   {} ({})\n",
        event_ref(&c["event"]),
        when(&c["event"]["recorded"])
    ));
}

/// A belief with provenance from the views, as JSON.
fn belief_json(
    views: &ViewStore,
    q: &str,
    as_of: Option<&str>,
    valid_at: Option<dossier_model::Timestamp>,
) -> CliResult<Option<Value>> {
    views
        .belief_view(q, as_of, valid_at)
        .map_err(store_err)?
        .map(|b| serde_json::to_value(&b).context("encoding the belief"))
        .transpose()
        .map_err(CliError::from)
}

/// `dossier why`.
pub async fn why(home: &Home, args: &QuestionArgs) -> CliResult {
    let (views, progress) = fresh_views(home, args.stale_ok).await?;
    let q = question_id(&args.question);
    let Some(b) = belief_json(&views, &q, args.as_of.as_deref(), args.at)? else {
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
    let text = why_text(&b, args.as_of.as_deref(), &progress, &cut);
    match args.at {
        Some(at) => out(&format!("valid at {at}\n{text}")),
        None => out(&text),
    }
}

/// The provenance tree of a belief, for a terminal.
pub fn why_text(b: &Value, as_of: Option<&str>, progress: &Progress, cut: &Cut) -> String {
    let mut t = String::new();
    t.push_str(&format!(
        "{} — {}\n",
        b["question"]["id"].as_str().unwrap_or("?"),
        b["question"]["text"].as_str().unwrap_or("")
    ));
    t.push_str(&format!("  {}\n", as_of_line(as_of, progress, cut)));
    let value = if b["value"].is_null() {
        "—".to_owned()
    } else {
        belief_value(&b["value"])
    };
    t.push_str(&format!("  belief:   {value}\n"));
    if b["evidence_value"] != b["value"] {
        let ev = if b["evidence_value"].is_null() {
            "—".to_owned()
        } else {
            belief_value(&b["evidence_value"])
        };
        t.push_str(&format!("  evidence: {ev}\n"));
    }
    t.push_str(&format!("  status:   {}\n", status_words(b)));
    t.push_str(&format!("  judgment: {}\n", judgment(b)));
    t.push_str(&format!(
        "  sources:  {} independent\n",
        b["sources"].as_u64().unwrap_or(0)
    ));
    if let Some(best) = b["best_claim"].as_str() {
        t.push_str(&format!("  best claim: {best}\n"));
    }
    let p = &b["provenance"];
    let sections = [
        ("supporting", &p["supporting"]),
        ("contradicting", &p["contradicting"]),
        ("other", &p["other"]),
        ("superseded", &p["superseded"]),
        ("retracted", &p["retracted"]),
    ];
    for (name, list) in sections {
        let list = list.as_array().cloned().unwrap_or_default();
        if list.is_empty() {
            continue;
        }
        t.push_str(&format!("  {name} ({})\n", list.len()));
        for c in &list {
            claim_tree(&mut t, c, "    • ");
        }
    }
    if let Some(a) = p.get("assessment") {
        t.push_str(&format!(
            "  assessment {} — {}{}: {} ({})\n",
            a["id"].as_str().unwrap_or("?"),
            a.get("value")
                .map(|v| format!("{} ", claim_value(v)))
                .unwrap_or_default(),
            judgment(&json!({ "likelihood": a["likelihood"], "confidence": a["confidence"] })),
            a["rationale"].as_str().unwrap_or(""),
            event_ref(&a["event"]),
        ));
    }
    if let Some(r) = p.get("resolution") {
        t.push_str(&format!(
            "  resolution: forecast {} resolved {} by {} ({})\n",
            r["forecast"].as_str().unwrap_or("?"),
            r["outcome"],
            r["by"].as_str().unwrap_or("?"),
            event_ref(&r["event"]),
        ));
    }
    t.push_str(&format!(
        "  policy {}\n",
        b["policy"].as_str().unwrap_or("?")
    ));
    t
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
        as_of_line(args.as_of.as_deref(), &progress, &cut),
        changes.len()
    );
    for c in &changes {
        let after = &c["after"];
        let value = if after["value"].is_null() {
            "—".to_owned()
        } else {
            belief_value(&after["value"])
        };
        t.push_str(&format!(
            "{}  seq {:>6}  {}\n{:38}→ {value}, {}\n",
            when(&c["recorded"]),
            c["seq"],
            c["reason"].as_str().unwrap_or(""),
            "",
            status_words(
                &json!({ "status": { "summary": after["summary"], "flags": after["flags"] } })
            ),
        ));
    }
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
