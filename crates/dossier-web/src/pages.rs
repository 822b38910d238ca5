//! The page templates (`maud`: checked when compiled, every inserted value escaped). They render
//! the query layer's typed answers as they are; the only work done here is presentation: words
//! for values, the page of a long list, the split of a report's text at its quotes.

use std::collections::HashMap;

use axum::http::StatusCode;
use dossier_beliefs::{Belief, BeliefChange, BeliefValue, ClaimView, EventRef, SourceView, Status};
use dossier_http::Principal;
use dossier_model::{Confidence, Icd203Band, Marking};
use dossier_query::{Answer, BeliefList, Beliefs, History, Marked, ServedRecord, Why};
use maud::{DOCTYPE, Markup, html};

use crate::words;
use crate::{PAGE_SIZE, ReportPage, StatusPage, Times};

/// The CSS class of a marking's badge: `tlp-clear`, `tlp-amber-strict`.
fn marking_class(m: Marking) -> String {
    format!(
        "tlp tlp-{}",
        m.as_str()
            .trim_start_matches("TLP:")
            .to_ascii_lowercase()
            .replace('+', "-")
    )
}

fn marking(m: Marking) -> Markup {
    html! { span class=(marking_class(m)) data-marking=(m.as_str()) { (m.as_str()) } }
}

fn status_badges(s: &Status) -> Markup {
    html! {
        span.badges data-summary=(s.summary.as_str()) {
            span class=(format!("badge badge-{}", s.summary.as_str())) { (words::summary(s.summary)) }
            @for f in &s.flags {
                @if f.as_str() != s.summary.as_str() {
                    " "
                    span class=(format!("badge flag flag-{}", f.as_str())) data-flag=(f.as_str()) { (words::flag(*f)) }
                }
            }
        }
    }
}

fn event_link(times: &Times, e: &EventRef) -> Markup {
    html! {
        a.event href=(times.link(&format!("/records/{}", e.seq), &[])) title=(e.hash) data-seq=(e.seq) {
            "seq " (e.seq) " · " code { (words::short_hash(&e.hash)) "…" }
        }
    }
}

/// The frame of every signed-in page: who reads, where, the time control, the navigation.
fn layout(
    title: &str,
    p: &Principal,
    times: &Times,
    form_path: &str,
    hidden: &[(&str, Option<&str>)],
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — dossier" }
                link rel="stylesheet" href="/assets/style.css";
                link rel="icon" href="/assets/icon.svg" type="image/svg+xml";
                script src="/assets/page.js" defer {}
                script src="/assets/verify.js" defer {}
            }
            body data-seq=[times.seq] data-live=(if times.as_of.is_none() && times.at.is_none() { "now" } else { "past" }) {
                a.skip href="#main" { "Skip to content" }
                div #live role="status" aria-live="polite" hidden {}
                header.top {
                    nav aria-label="Main" {
                        a.brand href=(times.link("/beliefs", &[])) { "dossier" }
                        ul {
                            li { a href=(times.link("/beliefs", &[])) { "Beliefs" } }
                            li { a href=(times.link("/records", &[])) { "Records" } }
                            li { a href=(times.link("/status", &[])) { "Status" } }
                        }
                    }
                    div.reader {
                        span { "Signed in as " strong #reader-name { (p.name) } }
                        " · "
                        span { "clearance " span #reader-clearance { (marking(p.clearance)) } }
                        form.inline method="post" action="/sign-out" {
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                form.times method="get" action=(form_path) aria-label="As of and at" {
                    @for (k, v) in hidden {
                        @if let Some(v) = v {
                            input type="hidden" name=(k) value=(v);
                        }
                    }
                    label for="as_of" { "As of (recorded)" }
                    input #as_of name="as_of" type="text" inputmode="text" placeholder="now — e.g. 2024-03-01" value=[times.as_of.as_deref()];
                    label for="at" { "At (valid time)" }
                    input #at name="at" type="text" placeholder="any — e.g. 2024-02-15" value=[times.at.as_deref()];
                    button type="submit" { "Show" }
                    @if times.as_of.is_some() || times.at.is_some() {
                        a href=(form_path_now(form_path, hidden)) { "Now" }
                    }
                }
                main #main {
                    (body)
                }
            }
        }
    }
}

fn form_path_now(path: &str, hidden: &[(&str, Option<&str>)]) -> String {
    format!("{path}{}", words::query(hidden))
}

/// The bare frame of the pages without a reader (sign-in, errors).
fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — dossier" }
                link rel="stylesheet" href="/assets/style.css";
                link rel="icon" href="/assets/icon.svg" type="image/svg+xml";
                script src="/assets/verify.js" defer {}
            }
            body {
                main #main.narrow { (body) }
            }
        }
    }
}

/// The sign-in page, with why the last attempt failed.
pub(crate) fn sign_in(refused: Option<&str>, checkpoint_key: Option<&str>) -> Markup {
    bare(
        "Sign in",
        html! {
            h1 { "Sign in to dossier" }
            @if let Some(why) = refused {
                p.error role="alert" { (why) }
            }
            form method="post" action="/sign-in" {
                label for="token" { "Access token" }
                input #token name="token" type="password" autocomplete="off" required;
                p.hint { "The token printed by " code { "dossier access grant" } "." }
                button type="submit" { "Sign in" }
            }
            @if let Some(k) = checkpoint_key {
                h2 { "Checkpoint key" }
                p.hint { "Records are checked in your browser against checkpoints signed by this key, which your browser keeps from here. Compare it with the one your ledger's operator publishes." }
                pre #checkpoint-key data-key=(k) tabindex="0" { (k) }
            }
        },
    )
}

/// An error page.
pub(crate) fn error(status: StatusCode, detail: &str) -> Markup {
    bare(
        status.canonical_reason().unwrap_or("Error"),
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
            p #problem { (detail) }
            p { a href="/beliefs" { "Back to the beliefs" } }
        },
    )
}

/// The order of the beliefs page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sort {
    /// By question id.
    Question,
    /// The most recently changed first (the last change visible at the reader's clearance).
    Changed,
}

impl Sort {
    fn as_str(self) -> &'static str {
        match self {
            Sort::Question => "question",
            Sort::Changed => "changed",
        }
    }
}

/// What the beliefs page was asked to show.
pub(crate) struct BeliefFilter {
    pub(crate) status: Option<String>,
    pub(crate) q: Option<String>,
    pub(crate) page: u64,
    pub(crate) sort: Sort,
}

/// One row of the beliefs table, from a stored line or a belief at a valid time.
struct Row<'a> {
    id: &'a str,
    text: Option<&'a str>,
    value: Option<&'a BeliefValue>,
    status: &'a Status,
    likelihood: Option<Icd203Band>,
    confidence: Option<Confidence>,
    sources: usize,
    marking: Marking,
    /// The seq and recorded time of the last visible change.
    changed: Option<&'a (u64, String)>,
}

fn answer_line(answer: &Answer<impl Sized>) -> Markup {
    html! {
        p.cut {
            @match &answer.as_of {
                Some(t) => { "As of " time { (words::when_text(t)) } },
                None => { "Now" },
            }
            @if let Some(at) = answer.valid_at {
                ", at " time { (at.to_string()) }
            }
            " · through seq " span #cut-seq { (answer.seq) }
            @if answer.lag > 0 {
                " · " span.lag { (answer.lag) " records behind the head" }
            }
        }
    }
}

pub(crate) fn beliefs(
    p: &Principal,
    times: &Times,
    answer: &Answer<Beliefs>,
    index: &HashMap<String, dossier_query::LineIndex>,
    filter: &BeliefFilter,
) -> Markup {
    let indexed = |id: &str| index.get(id);
    let rows: Vec<Row<'_>> = match &answer.answer.beliefs {
        BeliefList::Lines(lines) => lines
            .iter()
            .map(|Marked { marking, item }| Row {
                id: item.question.id.as_str(),
                text: indexed(item.question.id.as_str()).and_then(|l| l.text.as_deref()),
                value: item.value.as_ref(),
                status: &item.status,
                likelihood: item.likelihood,
                confidence: item.confidence,
                sources: item.sources,
                marking: *marking,
                changed: indexed(item.question.id.as_str()).and_then(|l| l.last_change.as_ref()),
            })
            .collect(),
        BeliefList::AtValidTime(list) => list
            .iter()
            .map(|Marked { marking, item }| Row {
                id: item.question.id.as_str(),
                text: Some(item.question.text.as_str()),
                value: item.value.as_ref(),
                status: &item.status,
                likelihood: item.likelihood,
                confidence: item.confidence,
                sources: item.sources,
                marking: *marking,
                changed: indexed(item.question.id.as_str()).and_then(|l| l.last_change.as_ref()),
            })
            .collect(),
    };
    let needle = filter.q.as_deref().map(|q| q.trim().to_lowercase());
    let mut shown: Vec<&Row<'_>> = rows
        .iter()
        .filter(|r| {
            filter.status.as_deref().is_none_or(|s| {
                r.status.summary.as_str() == s || r.status.flags.iter().any(|f| f.as_str() == s)
            })
        })
        .filter(|r| {
            needle.as_deref().is_none_or(|n| {
                r.id.to_lowercase().contains(n)
                    || r.text.is_some_and(|t| t.to_lowercase().contains(n))
            })
        })
        .collect();
    if filter.sort == Sort::Changed {
        // The latest change first; the stable sort keeps the id order among equals.
        shown.sort_by_key(|r| std::cmp::Reverse(r.changed.map(|c| c.0)));
    }
    let pages = shown.len().div_ceil(PAGE_SIZE).max(1) as u64;
    let page = filter.page.min(pages);
    let start = usize::try_from((page - 1) * PAGE_SIZE as u64).unwrap_or(0);
    let here = &shown[start.min(shown.len())..(start + PAGE_SIZE).min(shown.len())];
    let page_link = |n: u64| {
        let n = n.to_string();
        times.link(
            "/beliefs",
            &[
                ("status", filter.status.as_deref()),
                ("q", filter.q.as_deref()),
                ("sort", Some(filter.sort.as_str())),
                ("page", Some(n.as_str())),
            ],
        )
    };
    let hidden = [
        ("status", filter.status.as_deref()),
        ("q", filter.q.as_deref()),
        ("sort", Some(filter.sort.as_str())),
    ];
    layout(
        "Beliefs",
        p,
        times,
        "/beliefs",
        &hidden,
        html! {
            h1 { "Beliefs" }
            (answer_line(answer))
            form.filters method="get" action="/beliefs" role="search" {
                @for (k, v) in times.pairs() {
                    @if let Some(v) = v { input type="hidden" name=(k) value=(v); }
                }
                label for="q" { "Search questions" }
                input #q name="q" type="search" value=[filter.q.as_deref()];
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" selected[filter.status.is_none()] { "any" }
                    @for s in words::SUMMARIES {
                        option value=(s.as_str()) selected[filter.status.as_deref() == Some(s.as_str())] { (words::summary(s)) }
                    }
                    option value="superseded_history" selected[filter.status.as_deref() == Some("superseded_history")] { "has superseded history" }
                    option value="retracted" selected[filter.status.as_deref() == Some("retracted")] { "has retractions" }
                }
                label for="sort" { "Sort by" }
                select #sort name="sort" {
                    option value="question" selected[filter.sort == Sort::Question] { "question" }
                    option value="changed" selected[filter.sort == Sort::Changed] { "last change" }
                }
                button type="submit" { "Filter" }
            }
            p #count { (shown.len()) " of " (rows.len()) " questions" @if pages > 1 { " · page " (page) " of " (pages) } }
            div.table-wrap {
                table #beliefs {
                    caption.visually-hidden { "Every question's current belief" }
                    thead {
                        tr {
                            th scope="col" { "Question" }
                            th scope="col" { "Value" }
                            th scope="col" { "Status" }
                            th scope="col" { "Judgment" }
                            th scope="col" { "Sources" }
                            th scope="col" { "Marking" }
                            th scope="col" { "Last change" }
                        }
                    }
                    tbody {
                        @for r in here {
                            tr data-question=(r.id) {
                                th scope="row" {
                                    a href=(times.link("/question", &[("id", Some(r.id))])) { (r.id) }
                                    @if let Some(t) = r.text { div.qtext { (t) } }
                                }
                                td.value { (words::belief_value(r.value)) }
                                td { (status_badges(r.status)) }
                                td { (words::judgment(r.likelihood, r.confidence)) }
                                td.num { (r.sources) }
                                td { (marking(r.marking)) }
                                td.changed data-seq=[r.changed.map(|c| c.0)] {
                                    @if let Some((seq, at)) = r.changed {
                                        a href=(times.link(&format!("/records/{seq}"), &[])) { "seq " (seq) }
                                        br;
                                        time { (words::when_text(at)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if pages > 1 {
                nav.pager aria-label="Pages" {
                    @if page > 1 { a rel="prev" href=(page_link(page - 1)) { "← Previous" } }
                    " "
                    @if page < pages { a rel="next" href=(page_link(page + 1)) { "Next →" } }
                }
            }
        },
    )
}

fn source(s: &SourceView) -> Markup {
    html! {
        span.source data-source=(s.id.as_str()) {
            @if let Some(n) = &s.name { strong { (n) } " " }
            span.id { "(" (s.id.as_str()) ")" }
            ", "
            @match &s.reliability {
                None => { span.rel { "reliability never assessed" } },
                Some(r) => {
                    span.rel title="As assessed when the claim was recorded" {
                        "reliability " strong { (r.rating.as_str()) }
                        @if !r.known { " (cannot be judged)" }
                    }
                },
            }
            @if let Some(i) = &s.interest {
                ", " span.interest { "interested party (" (i.designation.as_str()) ")" }
            }
        }
    }
}

fn claim(times: &Times, c: &ClaimView, markings: &HashMap<u64, Marking>) -> Markup {
    html! {
        article.claim data-claim=(c.id.as_str()) data-state=(format!("{:?}", c.state).to_lowercase()) {
            h4 {
                span.stance { (c.stance.as_str()) }
                " "
                @if let Some(v) = &c.value { span.cvalue { (words::claim_value(v)) } }
                @if let Some(vt) = &c.valid_time { " " span.vt { "valid " (words::valid_time(vt)) } }
            }
            dl {
                dt { "Speaker" } dd { (source(&c.speaker)) }
                @if let Some(via) = &c.via { dt { "Via" } dd { (source(via)) } }
                dt { "Quote" }
                dd {
                    blockquote.quote { (c.quote.text) }
                    @if let Some(r) = &c.report {
                        "in "
                        @match &r.event {
                            Some(e) => {
                                a href=(times.link(&format!("/reports/{}", e.seq), &[])) {
                                    "“" (r.title.as_deref().unwrap_or(r.id.as_str())) "”"
                                }
                            },
                            None => { "“" (r.title.as_deref().unwrap_or(r.id.as_str())) "”" },
                        }
                        @if let Some(p) = &r.publisher { " — " (p) }
                        @if let Some(d) = r.published { ", " time { (d.to_string()) } }
                        " (characters " (c.quote.start) "–" (c.quote.end) ")"
                    }
                }
                dt { "Credibility" }
                dd { (c.credibility.grade) @if !c.credibility.known { " (cannot be judged)" } }
                @if let Some(l) = &c.likelihood {
                    dt { "Likelihood" }
                    dd { "“" (l.wording) "”" @if let Some(b) = l.band { " = " (b.as_str().replace('_', " ")) } }
                }
                @if !c.superseded_by.is_empty() {
                    dt { "Superseded by" }
                    dd { @for (i, id) in c.superseded_by.iter().enumerate() { @if i > 0 { ", " } (id.as_str()) } }
                }
                @if !c.retracted_by.is_empty() {
                    dt { "Retracted by" }
                    dd { @for (i, id) in c.retracted_by.iter().enumerate() { @if i > 0 { ", " } (id.as_str()) } }
                }
                @for r in &c.relations {
                    dt { "Relation" }
                    dd { (r.from.as_str()) " " (r.kind.as_str()) " " (r.to.as_str()) " (" (event_link(times, &r.event)) ")" }
                }
                dt { "Marking" }
                dd { @match markings.get(&c.event.seq) { Some(m) => { (marking(*m)) }, None => { "—" } } }
                dt { "Recorded" }
                dd { (event_link(times, &c.event)) ", " time { (words::when(c.event.recorded)) } }
            }
        }
    }
}

fn claims_section(
    times: &Times,
    id: &str,
    title: &str,
    claims: &[ClaimView],
    markings: &HashMap<u64, Marking>,
) -> Markup {
    html! {
        section.prov #(id) aria-labelledby=(format!("{id}-h")) data-count=(claims.len()) {
            h3 #(format!("{id}-h")) { (title) " (" (claims.len()) ")" }
            @for c in claims { (claim(times, c, markings)) }
        }
    }
}

fn belief_head(b: &Belief, m: Marking) -> Markup {
    html! {
        dl.summary {
            dt { "Value" } dd #value { (words::belief_value(b.value.as_ref())) }
            dt { "Status" } dd #status { (status_badges(&b.status)) }
            dt { "Judgment" } dd { (words::judgment(b.likelihood, b.confidence)) }
            dt { "Independent sources" } dd #sources { (b.sources) }
            dt { "Marking" } dd { (marking(m)) }
        }
    }
}

fn history_table(times: &Times, changes: &[Marked<BeliefChange>]) -> Markup {
    html! {
        div.table-wrap {
            table #history {
                caption.visually-hidden { "Changes of belief" }
                thead { tr {
                    th scope="col" { "Recorded" }
                    th scope="col" { "Event" }
                    th scope="col" { "Belief after" }
                    th scope="col" { "Why" }
                    th scope="col" { "Marking" }
                } }
                tbody {
                    @for Marked { marking: m, item: c } in changes {
                        tr data-seq=(c.seq) {
                            td { time { (words::when(c.recorded)) } }
                            td {
                                a href=(times.link(&format!("/records/{}", c.seq), &[])) title=(c.hash) { "seq " (c.seq) } " "
                                code { (c.event_type) }
                            }
                            td { (words::belief_value(c.after.value.as_ref())) " " span class=(format!("badge badge-{}", c.after.summary.as_str())) { (words::summary(c.after.summary)) } }
                            td { (c.reason) }
                            td { (marking(*m)) }
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn question(
    p: &Principal,
    times: &Times,
    why: &Answer<Why>,
    history: &Answer<History>,
    markings: &HashMap<u64, Marking>,
) -> Markup {
    let b = &why.answer.belief;
    let prov = &b.provenance;
    let id = b.question.id.as_str();
    let all_claims: Vec<&ClaimView> = prov
        .supporting
        .iter()
        .chain(&prov.contradicting)
        .chain(&prov.other)
        .chain(&prov.superseded)
        .chain(&prov.retracted)
        .collect();
    let unit = match &b.question.kind {
        dossier_model::QuestionKind::Quantity { unit } => Some(unit.as_str()),
        _ => None,
    };
    layout(
        b.question.text.as_str(),
        p,
        times,
        "/question",
        &[("id", Some(id))],
        html! {
            p.crumbs { a href=(times.link("/beliefs", &[])) { "Beliefs" } " › " code #question-id { (id) } }
            h1 #question-text { (b.question.text) }
            (answer_line(why))
            (belief_head(b, why.answer.marking))
            p { "Posed " (event_link(times, &b.question.event)) }
            @if let Some(a) = &prov.assessment {
                section #assessment aria-labelledby="assessment-h" {
                    h2 #assessment-h { "Analyst's assessment" }
                    p {
                        @if let Some(v) = &a.value { (words::claim_value(v)) ", " }
                        (words::judgment(a.likelihood, Some(a.confidence)))
                        " — " (a.rationale) " (" (event_link(times, &a.event)) ")"
                    }
                }
            }
            @if let Some(r) = &prov.resolution {
                section #resolution aria-labelledby="resolution-h" {
                    h2 #resolution-h { "Resolution" }
                    p {
                        @if r.outcome { "Happened" } @else { "Did not happen" }
                        @if let Some(n) = &r.note { " — " (n) }
                        " (" (event_link(times, &r.event)) ")"
                    }
                }
            }
            section aria-labelledby="prov-h" {
                h2 #prov-h { "Provenance" }
                (claims_section(times, "supporting", "Supporting", &prov.supporting, markings))
                (claims_section(times, "contradicting", "Contradicting", &prov.contradicting, markings))
                (claims_section(times, "other", "Other", &prov.other, markings))
                (claims_section(times, "superseded", "Superseded", &prov.superseded, markings))
                (claims_section(times, "retracted", "Retracted", &prov.retracted, markings))
            }
            section #timeline-section aria-labelledby="timeline-h" {
                h2 #timeline-h { "Timeline" }
                p.hint { "Each claim's value over the world time it is about (valid time). Select a claim to open its record." }
                (crate::timeline::timeline(times, &all_claims, unit))
                h3 #history-h { "Changes of belief over recorded time" }
                (history_table(times, &history.answer.changes))
            }
        },
    )
}

/// [`words::segments`] with each segment's character offset in the text.
fn placed(text: &str, spans: &[(u64, u64)]) -> Vec<(usize, String, Vec<usize>)> {
    let mut offset = 0;
    words::segments(text, spans)
        .into_iter()
        .map(|(seg, covering)| {
            let here = offset;
            offset += seg.chars().count();
            (here, seg, covering)
        })
        .collect()
}

pub(crate) fn report(p: &Principal, times: &Times, page: &ReportPage) -> Markup {
    let r = &page.report;
    let spans: Vec<(u64, u64)> = page
        .claims
        .iter()
        .map(|(_, c)| (c.quote.start, c.quote.end))
        .collect();
    let path = format!("/reports/{}", page.seq);
    layout(
        r.title.as_str(),
        p,
        times,
        &path,
        &[],
        html! {
            h1 #report-title { (r.title) }
            dl.summary {
                dt { "Report" } dd { code { (r.id.as_str()) } }
                dt { "Publisher" } dd { (r.publisher) }
                dt { "Published" } dd { time { (r.published.to_string()) } }
                dt { "Retrieved" } dd { time { (r.retrieved.to_string()) } }
                @if let Some(u) = &r.url { dt { "Address" } dd { code { (u) } } }
                dt { "Language" } dd { (r.language) }
                dt { "Marking" } dd { (marking(page.marking)) }
                dt { "Text hash" } dd { code { (r.content_hash) } }
                dt { "Recorded" } dd { a href=(times.link(&format!("/records/{}", page.seq), &[])) title=(page.hash) { "seq " (page.seq) " · " code { (words::short_hash(&page.hash)) "…" } } }
            }
            h2 { "Text" }
            @match (&page.text, &page.redacted) {
                (_, Some(n)) => {
                    p #report-redacted {
                        @match &n.redaction {
                            Some(r) => {
                                "The text was redacted by " code { (r.key) } " (" (r.by) "), recorded "
                                (r.recorded) ", at " a href=(times.link(&format!("/records/{}", r.seq), &[])) { "seq " (r.seq) }
                                ": " q { (r.reason) } ". "
                            },
                            None => { "The text was redacted. " },
                        }
                        "The claims quoting it, and their quotes, stay."
                    }
                },
                (None, None) => { p { "The text is not in this ledger's content store." } },
                (Some(text), None) => {
                    div #report-text lang=(r.language) {
                        @for (here, seg, covering) in placed(text, &spans) {
                            @if covering.is_empty() {
                                (seg)
                            } @else {
                                @let ids = covering.iter().map(|i| page.claims[*i].1.id.as_str()).collect::<Vec<_>>();
                                mark data-claims=(ids.join(" ")) data-offset=(here)
                                    title=(format!("Quoted by {}", ids.join(", "))) {
                                    (seg)
                                }
                            }
                        }
                    }
                },
            }
            h2 { "Claims quoting it (" (page.claims.len()) ")" }
            ul #report-claims {
                @for (seq, c) in &page.claims {
                    li data-claim=(c.id.as_str()) {
                        code { (c.id.as_str()) } " — " (c.stance.as_str())
                        @if let Some(v) = &c.value { " " (words::claim_value(v)) }
                        " on " a href=(times.link("/question", &[("id", Some(c.question.as_str()))])) { (c.question.as_str()) }
                        ", characters " (c.quote.start) "–" (c.quote.end)
                        @if page.redacted.is_some() { ": " q { (c.quote.text) } }
                        " (" a href=(times.link(&format!("/records/{seq}"), &[])) { "seq " (seq) } ")"
                    }
                }
            }
        },
    )
}

/// A page of the log.
pub(crate) struct RecordListing {
    pub(crate) records: Vec<ServedRecord>,
    pub(crate) next: Option<u64>,
    pub(crate) from: u64,
    pub(crate) kind: Option<String>,
    pub(crate) entity: Option<String>,
}

pub(crate) fn records(p: &Principal, times: &Times, l: &RecordListing) -> Markup {
    let hidden = [("type", l.kind.as_deref()), ("entity", l.entity.as_deref())];
    layout(
        "Records",
        p,
        times,
        "/records",
        &hidden,
        html! {
            h1 { "Records" }
            p { "The ledger's records from seq " (l.from) ". A record above your clearance shows only its seq and hash"
                @if l.kind.is_some() || l.entity.is_some() { " and is left out of a filtered listing" } "." }
            form.filters method="get" action="/records" {
                @for (k, v) in times.pairs() {
                    @if let Some(v) = v { input type="hidden" name=(k) value=(v); }
                }
                label for="from" { "From seq" }
                input #from name="from" type="number" min="1" value=(l.from);
                label for="type" { "Type" }
                input #type name="type" type="text" placeholder="e.g. claim.recorded" value=[l.kind.as_deref()];
                label for="entity" { "Entity" }
                input #entity name="entity" type="text" placeholder="e.g. claim:…" value=[l.entity.as_deref()];
                button type="submit" { "Filter" }
            }
            div.table-wrap {
                table #records {
                    caption.visually-hidden { "Records" }
                    thead { tr {
                        th scope="col" { "Seq" }
                        th scope="col" { "Hash" }
                        th scope="col" { "Type" }
                        th scope="col" { "Recorded" }
                        th scope="col" { "Marking" }
                    } }
                    tbody {
                        @for r in &l.records {
                            @match r {
                                ServedRecord::Visible { seq, hash, recorded, event_type, marking: m, .. } => {
                                    tr data-seq=(seq) data-served="visible" {
                                        td { a href=(times.link(&format!("/records/{seq}"), &[])) { (seq) } }
                                        td { code title=(hash) { (words::short_hash(hash)) "…" } }
                                        td { code { (event_type) } }
                                        td { time { (words::when_text(recorded)) } }
                                        td { (marking(*m)) }
                                    }
                                },
                                ServedRecord::Withheld { seq, hash } => {
                                    tr data-seq=(seq) data-served="withheld" {
                                        td { (seq) }
                                        td { code title=(hash) { (words::short_hash(hash)) "…" } }
                                        td colspan="3" { em { "above your clearance" } }
                                    }
                                },
                            }
                        }
                    }
                }
            }
            @if let Some(n) = l.next {
                @let n = n.to_string();
                nav.pager aria-label="Pages" {
                    a rel="next" href=(times.link("/records", &[("from", Some(n.as_str())), ("type", l.kind.as_deref()), ("entity", l.entity.as_deref())])) { "Next →" }
                }
            }
        },
    )
}

pub(crate) fn record(p: &Principal, times: &Times, r: &ServedRecord) -> Markup {
    let (seq, hash) = match r {
        ServedRecord::Visible { seq, hash, .. } | ServedRecord::Withheld { seq, hash } => {
            (*seq, hash.as_str())
        }
    };
    let path = format!("/records/{seq}");
    layout(
        &format!("Record {seq}"),
        p,
        times,
        &path,
        &[],
        html! {
            h1 { "Record " (seq) }
            dl.summary {
                dt { "Seq" } dd #record-seq { (seq) }
                dt { "Hash" } dd { code #record-hash { (hash) } }
                @if let ServedRecord::Visible { recorded, event_type, marking: m, .. } = r {
                    dt { "Type" } dd { code { (event_type) } }
                    dt { "Recorded" } dd { time { (words::when_text(recorded)) } }
                    dt { "Marking" } dd { (marking(*m)) }
                }
            }
            @match r {
                ServedRecord::Visible { record, .. } => {
                    section #proof data-seq=(seq) data-state="checking" aria-labelledby="proof-h" {
                        h2 #proof-h { "Inclusion proof, checked in your browser" }
                        p #proof-verdict role="status" aria-live="polite" { "Checking… (this needs JavaScript)" }
                        p.hint { "The record's hash is computed here from its exact bytes, its audit path is followed to the root of the latest signed checkpoint, and the checkpoint's signature is checked against the key pinned at sign-in: " code #proof-key { "—" } }
                    }
                    h2 { "Exact bytes" }
                    p.hint { "As stored; the record hash is computed over these bytes." }
                    pre #record-bytes tabindex="0" { (record) }
                },
                ServedRecord::Withheld { .. } => {
                    p #withheld { "This record is above your clearance: only its seq and hash are shown." }
                },
            }
        },
    )
}

pub(crate) fn status(p: &Principal, times: &Times, s: &StatusPage) -> Markup {
    layout(
        "Status",
        p,
        times,
        "/status",
        &[],
        html! {
            h1 { "Status" }
            h2 { "Views" }
            dl.summary {
                dt { "Applied seq" } dd #applied { (s.applied) }
                dt { "Head" } dd #head { (s.head) }
                dt { "Lag" } dd #lag { (s.lag) " records" }
                dt { "Digest (lines visible to you)" } dd { code #digest { (s.digest.as_deref().unwrap_or("—")) } }
            }
            h2 { "Auditor" }
            @match &s.auditor {
                None => { p #auditor { "No auditor runs on this ledger here." } },
                Some(a) => {
                    dl.summary #auditor {
                        dt { "Health" }
                        dd #auditor-health {
                            @if a.healthy { span.badge.badge-ok { "healthy" } } @else { span.badge.badge-alarm { "ALARM" } }
                        }
                        dt { "Alarms" } dd { (a.alarm_count) }
                        dt { "Checkpoints signed" } dd { (a.checkpoints) }
                        @if let Some(c) = &a.last_checkpoint {
                            dt { "Latest checkpoint" } dd { "size " (c.size) ", head " code { (words::short_hash(&c.head)) "…" } }
                        }
                    }
                },
            }
        },
    )
}
