//! Text rendering of the belief views for a terminal: `beliefs` lines, the `why` provenance
//! tree and `history`. Works on the typed views (`dossier_beliefs`); `--json` prints the same
//! types as they serialize.

use dossier_beliefs::words::{belief_value, claim_value, judgment};
use dossier_beliefs::{
    Belief, BeliefChange, BeliefLine, ClaimState, ClaimView, EventRef, Flag, SourceView, Status,
    Summary,
};
use dossier_model::{Marking, Timestamp, ValidTime};
use dossier_projector::Progress;
use dossier_query::{Answer, Marked};

/// The summary, then the other flags: `disputed [corroborated]`.
fn status_words(summary: Summary, flags: &[Flag]) -> String {
    let others: Vec<&str> = flags
        .iter()
        .map(|f| f.as_str())
        .filter(|f| *f != summary.as_str())
        .collect();
    if others.is_empty() {
        summary.as_str().to_owned()
    } else {
        format!("{} [{}]", summary.as_str(), others.join(", "))
    }
}

fn status(s: &Status) -> String {
    status_words(s.summary, &s.flags)
}

/// A recorded time to the millisecond: `2024-03-19T18:00:00.000Z`.
pub fn when(t: Timestamp) -> String {
    let fixed = dossier_chain::format_recorded(t.to_offset_datetime());
    format!("{}Z", &fixed[..fixed.len().min(23)])
}

/// An as-of time as given (the fixed-width recorded form), to the millisecond.
pub fn when_text(t: &str) -> String {
    if t.len() >= 23 {
        format!("{}Z", &t[..23])
    } else {
        t.to_owned()
    }
}

/// The header line: now or as of a time, the cut, how far the views stand behind.
pub fn as_of_line<T>(answer: &Answer<T>, progress: Progress) -> String {
    // Views a running projector had not brought to the head in time say how far behind they are.
    let views = match progress.lag() {
        0 => format!("views at seq {}", progress.applied),
        lag => format!(
            "views at seq {}, {lag} record(s) behind the ledger's head",
            progress.applied
        ),
    };
    let digest = answer
        .digest
        .as_deref()
        .map(|d| format!("digest {}…", &d[..d.len().min(12)]));
    match (&answer.as_of, digest) {
        (Some(t), Some(d)) => format!("as of {} (seq {}, {d}; {views})", when_text(t), answer.seq),
        (Some(t), None) => format!("as of {} (seq {}; {views})", when_text(t), answer.seq),
        (None, Some(d)) => format!("current ({views}, {d})"),
        (None, None) => format!("current ({views})"),
    }
}

/// One row per question, columns as wide as their widest cell (widths count characters: "≥"
/// and "—" are one).
pub fn lines_table(rows: &[[String; 6]]) -> String {
    let mut widths = [0; 6];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for [question, value, status, judgment, sources, marking] in rows {
        let [wq, wv, ws, wj, wn, _] = widths;
        text.push_str(&format!(
            "{question:<wq$}  {value:<wv$}  {status:<ws$}  {judgment:<wj$}  {sources:<wn$}  {marking}\n"
        ));
    }
    text
}

fn sources(n: usize) -> String {
    format!("{n} source{}", if n == 1 { "" } else { "s" })
}

/// A `beliefs` row of a line: question, value, status, judgment, sources, marking.
pub fn line_row(b: &BeliefLine, marking: Marking) -> [String; 6] {
    [
        b.question.id.as_str().to_owned(),
        belief_value(b.value.as_ref()),
        status(&b.status),
        judgment(b.likelihood, b.confidence),
        sources(b.sources),
        marking.as_str().to_owned(),
    ]
}

fn event_ref(e: &EventRef) -> String {
    format!("seq {} hash {}…", e.seq, &e.hash[..e.hash.len().min(12)])
}

fn source_line(s: &SourceView) -> String {
    let name = s
        .name
        .as_ref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let rel = match &s.reliability {
        None => "reliability unknown (never assessed)".to_owned(),
        Some(r) => format!(
            "reliability {}{}",
            r.rating.as_str(),
            if r.known { "" } else { " (cannot be judged)" }
        ),
    };
    let interest = s
        .interest
        .as_ref()
        .map(|d| {
            format!(
                ", interested party to the question ({}, {})",
                d.designation,
                event_ref(&d.event)
            )
        })
        .unwrap_or_default();
    format!("{}{name}, {rel}{interest}", s.id)
}

fn valid_time(v: &ValidTime) -> String {
    match (&v.from, &v.until) {
        (Some(f), Some(u)) => format!("{f} … {u}"),
        (Some(f), None) => format!("from {f}"),
        (None, Some(u)) => format!("until {u}"),
        (None, None) => String::new(),
    }
}

fn claim_tree(text: &mut String, c: &ClaimView, lead: &str) {
    let value = c
        .value
        .as_ref()
        .map(|v| format!(" {}", claim_value(v)))
        .unwrap_or_default();
    let vt = c
        .valid_time
        .as_ref()
        .map(valid_time)
        .filter(|s| !s.is_empty())
        .map(|s| format!(", valid {s}"))
        .unwrap_or_default();
    text.push_str(&format!(
        "{lead}{} — {}{value}{vt}, credibility {}\n",
        c.id,
        c.stance.as_str(),
        c.credibility.grade,
    ));
    let sub = " ".repeat(lead.chars().count());
    text.push_str(&format!("{sub}speaker: {}\n", source_line(&c.speaker)));
    if let Some(via) = &c.via {
        text.push_str(&format!("{sub}via:     {}\n", source_line(via)));
    }
    text.push_str(&format!("{sub}quote:   “{}”\n", c.quote.text));
    if let Some(r) = &c.report {
        let or_unknown = |s: Option<String>| s.unwrap_or_else(|| "?".to_owned());
        text.push_str(&format!(
            "{sub}report:  {} “{}” — {}, published {}{}\n",
            r.id,
            or_unknown(r.title.clone()),
            or_unknown(r.publisher.clone()),
            or_unknown(r.published.map(|p| p.to_string())),
            r.event
                .as_ref()
                .map(|e| format!(" ({})", event_ref(e)))
                .unwrap_or_default(),
        ));
    }
    let by: Vec<&str> = c
        .superseded_by
        .iter()
        .chain(&c.retracted_by)
        .map(|id| id.as_str())
        .collect();
    if !by.is_empty() {
        let what = if c.state == ClaimState::Retracted {
            "retracted by"
        } else {
            "superseded by"
        };
        text.push_str(&format!("{sub}{what} {}\n", by.join(", ")));
    }
    for r in &c.relations {
        text.push_str(&format!(
            "{sub}relation: {} {} {} ({})\n",
            r.from,
            r.kind,
            r.to,
            event_ref(&r.event),
        ));
    }
    text.push_str(&format!(
        "{sub}event:   {} ({})\n",
        event_ref(&c.event),
        when(c.event.recorded)
    ));
}

/// The provenance tree of a belief.
pub fn why_text(b: &Belief, marking: Marking, header: &str) -> String {
    let mut t = String::new();
    t.push_str(&format!("{} — {}\n", b.question.id, b.question.text));
    t.push_str(&format!("  {header}\n"));
    t.push_str(&format!("  marking:  {marking}\n"));
    t.push_str(&format!("  belief:   {}\n", belief_value(b.value.as_ref())));
    if b.evidence_value != b.value {
        t.push_str(&format!(
            "  evidence: {}\n",
            belief_value(b.evidence_value.as_ref())
        ));
    }
    t.push_str(&format!("  status:   {}\n", status(&b.status)));
    t.push_str(&format!(
        "  judgment: {}\n",
        judgment(b.likelihood, b.confidence)
    ));
    t.push_str(&format!("  sources:  {} independent\n", b.sources));
    if let Some(best) = &b.best_claim {
        t.push_str(&format!("  best claim: {best}\n"));
    }
    let p = &b.provenance;
    let sections = [
        ("supporting", &p.supporting),
        ("contradicting", &p.contradicting),
        ("other", &p.other),
        ("superseded", &p.superseded),
        ("retracted", &p.retracted),
    ];
    for (name, list) in sections {
        if list.is_empty() {
            continue;
        }
        t.push_str(&format!("  {name} ({})\n", list.len()));
        for c in list {
            claim_tree(&mut t, c, "    • ");
        }
    }
    if let Some(a) = &p.assessment {
        t.push_str(&format!(
            "  assessment {} — {}{}: {} ({})\n",
            a.id,
            a.value
                .as_ref()
                .map(|v| format!("{} ", claim_value(v)))
                .unwrap_or_default(),
            judgment(a.likelihood, Some(a.confidence)),
            a.rationale,
            event_ref(&a.event),
        ));
    }
    if let Some(r) = &p.resolution {
        t.push_str(&format!(
            "  resolution: forecast {} resolved {} by {} ({})\n",
            r.forecast,
            r.outcome,
            r.by,
            event_ref(&r.event),
        ));
    }
    t.push_str(&format!("  policy {}\n", b.policy));
    t
}

/// Each change of belief with the event that caused it.
pub fn history_text(changes: &[Marked<BeliefChange>]) -> String {
    let mut t = String::new();
    for Marked { marking, item: c } in changes {
        let after = &c.after;
        t.push_str(&format!(
            "{}  seq {:>6}  {marking}  {}\n{:38}→ {}, {}\n",
            when(c.recorded),
            c.seq,
            c.reason,
            "",
            belief_value(after.value.as_ref()),
            status_words(after.summary, &after.flags),
        ));
    }
    t
}

/// The reports of a `why` whose text was redacted: one line each (who, when and why when the
/// reader may see them); nothing when there are none.
pub fn redactions_text(notices: &[dossier_redact::Notice]) -> String {
    let mut text = String::new();
    for n in notices {
        match &n.redaction {
            Some(r) => text.push_str(&format!(
                "redacted: the text of {} was redacted at seq {} by {} ({}), recorded {}: {} (its claims and quotes stay)\n",
                n.report, r.seq, r.key, r.by, r.recorded, r.reason
            )),
            None => text.push_str(&format!(
                "redacted: the text of {} was redacted (its claims and quotes stay)\n",
                n.report
            )),
        }
    }
    text
}
