//! The question page's timeline: each claim's value plotted against its valid time, as an
//! inline SVG drawn on the server (no script). Presentation only: it places the claims the
//! query layer gave (their values, valid times and states) on two axes.
//!
//! - x is valid time (the world time a claim is about), from the earliest bound to the latest;
//!   a claim open at one end runs to the plot's edge and ends in an arrow.
//! - y is the question's value: numbers on a linear axis from 0 (quantity and range
//!   questions), or one row per value (yes/no and categorical questions).
//! - A range value is drawn as a band (a rectangle from low to high over the valid time); a
//!   single value as a mark (a bar over the valid time, with a dot at each end, or a dot alone
//!   for an instant). "At least" and "at most" add a triangle pointing up or down.
//! - The claim's state is told by shape as well as colour: active claims are solid,
//!   superseded ones dashed and hollow, retracted ones dotted, hollow and struck through.
//!
//! The SVG has a `title` and a `desc` naming what is plotted; every claim's shape has its own
//! `title` (its id, stance, value, valid time and state) and a link to its record.

use dossier_beliefs::{ClaimState, ClaimView};
use dossier_model::{ClaimValue, Qualifier, Timestamp};
use maud::{Markup, html};

use crate::Times;
use crate::words;

/// The drawing's size in SVG units (it scales to the page's width).
const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 280.0;
/// The plot area inside the axes.
const LEFT: f64 = 92.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

/// Where a claim's value sits on the y axis.
#[derive(Clone, Debug, PartialEq)]
enum Y {
    /// A number, with its qualifier.
    Number(f64, Qualifier),
    /// A range of numbers.
    Band(f64, f64),
    /// A row of a yes/no or categorical question.
    Row(String),
}

/// One claim as plotted.
struct Placed<'a> {
    claim: &'a ClaimView,
    /// Valid time in seconds since the epoch; `None`: open at that end.
    from: Option<f64>,
    until: Option<f64>,
    y: Y,
}

fn seconds(t: Timestamp) -> f64 {
    // Seconds are plenty for a plot; the nanoseconds of a recorded time do not matter here.
    (t.unix_nanos() / 1_000_000_000) as f64
}

fn y_of(v: &ClaimValue) -> Y {
    match v {
        ClaimValue::Quantity {
            value, qualifier, ..
        } => Y::Number(*value, *qualifier),
        ClaimValue::Range { low, high, .. } => Y::Band(*low, *high),
        ClaimValue::Boolean(b) => Y::Row(if *b { "yes" } else { "no" }.to_owned()),
        ClaimValue::Category(c) => Y::Row(c.clone()),
    }
}

fn state_word(s: ClaimState) -> &'static str {
    match s {
        ClaimState::Active => "active",
        ClaimState::Superseded => "superseded",
        ClaimState::Retracted => "retracted",
    }
}

/// A "nice" step for about `n` ticks over `0..max`: 1, 2 or 5 times a power of ten.
fn nice_step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn date_label(secs: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// The timeline of `claims` (every claim of the provenance tree), or a sentence saying why
/// nothing can be drawn. `unit` names the numbers on the y axis.
pub(crate) fn timeline(times: &Times, claims: &[&ClaimView], unit: Option<&str>) -> Markup {
    let mut placed = Vec::new();
    let mut unplotted = 0usize;
    for c in claims {
        let (Some(v), Some(vt)) = (&c.value, &c.valid_time) else {
            unplotted += 1;
            continue;
        };
        placed.push(Placed {
            claim: c,
            from: vt.start().map(seconds),
            until: vt.end().map(seconds),
            y: y_of(v),
        });
    }
    let numeric = placed
        .iter()
        .all(|p| matches!(p.y, Y::Number(..) | Y::Band(..)));
    let bounds: Vec<f64> = placed
        .iter()
        .flat_map(|p| [p.from, p.until])
        .flatten()
        .collect();
    if placed.is_empty() || bounds.is_empty() {
        return html! {
            p #timeline-empty { "No claim on this question states a value with a valid time: there is nothing to plot." }
        };
    }
    let (mut x0, mut x1) = bounds
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &t| (a.min(t), b.max(t)));
    // Room on both sides, and some width for a plot of one instant.
    let pad = ((x1 - x0) * 0.05).max(86_400.0 * 15.0);
    x0 -= pad;
    x1 += pad;
    let px = |t: f64| LEFT + (t - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT);
    let plot_h = HEIGHT - TOP - BOTTOM;

    // The y axis: numbers from 0, or rows.
    let rows: Vec<String> = if numeric {
        Vec::new()
    } else {
        let mut r: Vec<String> = Vec::new();
        for p in &placed {
            let label = match &p.y {
                Y::Row(s) => s.clone(),
                Y::Number(v, _) => words::number(*v),
                Y::Band(l, h) => format!("{}–{}", words::number(*l), words::number(*h)),
            };
            if !r.contains(&label) {
                r.push(label);
            }
        }
        r
    };
    let ymax = placed
        .iter()
        .map(|p| match p.y {
            Y::Number(v, _) => v,
            Y::Band(_, h) => h,
            Y::Row(_) => 0.0,
        })
        .fold(0.0f64, f64::max);
    let step = nice_step(ymax.max(1.0) * 1.1, 4.0);
    let ytop = (ymax.max(1.0) * 1.1 / step).ceil() * step;
    let py = |v: f64| TOP + plot_h - v / ytop * plot_h;
    let row_y = |label: &str| {
        let i = rows.iter().position(|r| r == label).unwrap_or(0) as f64;
        TOP + plot_h * (i + 0.5) / rows.len().max(1) as f64
    };
    let y_ticks: Vec<f64> = if numeric {
        (0..)
            .map(|i| f64::from(i) * step)
            .take_while(|v| *v <= ytop + step / 2.0)
            .collect()
    } else {
        Vec::new()
    };
    let x_ticks: Vec<f64> = (0..5)
        .map(|i| x0 + (x1 - x0) * (0.1 + 0.2 * f64::from(i)))
        .collect();
    let bands = placed.iter().filter(|p| matches!(p.y, Y::Band(..))).count();
    let marks = placed.len() - bands;
    let count_state = |s: ClaimState| placed.iter().filter(|p| p.claim.state == s).count();
    let desc = format!(
        "{} claims plotted against valid time ({} as marks, {} as bands): {} active, {} superseded, {} retracted.{}",
        placed.len(),
        marks,
        bands,
        count_state(ClaimState::Active),
        count_state(ClaimState::Superseded),
        count_state(ClaimState::Retracted),
        if unplotted > 0 {
            format!(" {unplotted} claims without a value or a valid time are not plotted.")
        } else {
            String::new()
        },
    );
    let y_label = if numeric {
        unit.unwrap_or("value").to_owned()
    } else {
        "value".to_owned()
    };
    html! {
        figure.timeline {
            svg #timeline role="group" aria-labelledby="timeline-title timeline-desc"
                viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) xmlns="http://www.w3.org/2000/svg"
                data-marks=(marks) data-bands=(bands) {
                title #timeline-title { "Each claim's value against its valid time" }
                desc #timeline-desc { (desc) }
                // Axes and grid.
                g.tl-axis aria-hidden="true" {
                    line x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(TOP + plot_h) {}
                    line x1=(LEFT) y1=(TOP + plot_h) x2=(WIDTH - RIGHT) y2=(TOP + plot_h) {}
                    @for v in &y_ticks {
                        line.tl-grid x1=(LEFT) y1=(py(*v)) x2=(WIDTH - RIGHT) y2=(py(*v)) {}
                        text x=(LEFT - 6.0) y=(py(*v) + 4.0) text-anchor="end" { (words::number(*v)) }
                    }
                    @for r in &rows {
                        line.tl-grid x1=(LEFT) y1=(row_y(r)) x2=(WIDTH - RIGHT) y2=(row_y(r)) {}
                        text x=(LEFT - 6.0) y=(row_y(r) + 4.0) text-anchor="end" { (r) }
                    }
                    @for t in &x_ticks {
                        line x1=(px(*t)) y1=(TOP + plot_h) x2=(px(*t)) y2=(TOP + plot_h + 5.0) {}
                        text x=(px(*t)) y=(TOP + plot_h + 18.0) text-anchor="middle" { (date_label(*t)) }
                    }
                    text x=(LEFT + (WIDTH - LEFT - RIGHT) / 2.0) y=(HEIGHT - 4.0) text-anchor="middle" { "valid time" }
                    text x="12" y=(TOP + plot_h / 2.0) text-anchor="middle"
                        transform=(format!("rotate(-90 12 {})", TOP + plot_h / 2.0)) { (y_label) }
                }
                @for p in &placed {
                    @let a = p.from.map_or(LEFT, &px);
                    @let b = p.until.map_or(WIDTH - RIGHT, &px);
                    @let state = state_word(p.claim.state);
                    @let label = format!(
                        "{} {} {}, valid {} ({})",
                        p.claim.id.as_str(),
                        p.claim.stance.as_str(),
                        p.claim.value.as_ref().map(words::claim_value).unwrap_or_default(),
                        p.claim.valid_time.as_ref().map(words::valid_time).unwrap_or_default(),
                        state,
                    );
                    a href=(times.link(&format!("/records/{}", p.claim.event.seq), &[])) {
                        @match &p.y {
                            Y::Band(lo, hi) => {
                                @let (top, bottom) = (py(*hi), py(*lo));
                                g class=(format!("tl-claim tl-band tl-{state}")) data-claim=(p.claim.id.as_str()) data-state=(state) data-shape="band" {
                                    title { (label) }
                                    rect x=(a) y=(top) width=((b - a).max(2.0)) height=((bottom - top).max(2.0)) {}
                                    @if p.claim.state == ClaimState::Retracted {
                                        line.tl-strike x1=(a) y1=(bottom) x2=(b) y2=(top) {}
                                    }
                                }
                            },
                            y => {
                                @let (yy, q) = match y {
                                    Y::Number(v, q) => (py(*v), Some(*q)),
                                    Y::Row(r) => (row_y(r), None),
                                    Y::Band(..) => (0.0, None),
                                };
                                g class=(format!("tl-claim tl-mark tl-{state}")) data-claim=(p.claim.id.as_str()) data-state=(state) data-shape="mark" {
                                    title { (label) }
                                    @if (b - a) > 1.0 {
                                        line.tl-bar x1=(a) y1=(yy) x2=(b) y2=(yy) {}
                                    }
                                    @if p.from.is_some() { circle cx=(a) cy=(yy) r="5" {} }
                                    @if p.until.is_some() { circle cx=(b) cy=(yy) r="5" {} }
                                    @if p.from.is_none() { path d=(format!("M{a} {yy} l10 -6 v12 z")) {} }
                                    @if p.until.is_none() { path d=(format!("M{b} {yy} l-10 -6 v12 z")) {} }
                                    @match q {
                                        Some(Qualifier::AtLeast) => { path.tl-qual d=(format!("M{} {} l-6 10 h12 z", (a + b) / 2.0, yy - 14.0)) {} },
                                        Some(Qualifier::AtMost) => { path.tl-qual d=(format!("M{} {} l-6 -10 h12 z", (a + b) / 2.0, yy + 14.0)) {} },
                                        _ => {},
                                    }
                                    @if p.claim.state == ClaimState::Retracted {
                                        line.tl-strike x1=(a) y1=(yy + 8.0) x2=(b) y2=(yy - 8.0) {}
                                    }
                                }
                            },
                        }
                    }
                }
            }
            figcaption {
                ul.tl-legend {
                    li { svg.tl-key viewBox="0 0 40 12" aria-hidden="true" { g.tl-mark.tl-active { line.tl-bar x1="4" y1="6" x2="36" y2="6" {} circle cx="4" cy="6" r="4" {} circle cx="36" cy="6" r="4" {} } } " active (solid)" }
                    li { svg.tl-key viewBox="0 0 40 12" aria-hidden="true" { g.tl-mark.tl-superseded { line.tl-bar x1="4" y1="6" x2="36" y2="6" {} circle cx="4" cy="6" r="4" {} circle cx="36" cy="6" r="4" {} } } " superseded (dashed, hollow)" }
                    li { svg.tl-key viewBox="0 0 40 12" aria-hidden="true" { g.tl-mark.tl-retracted { line.tl-bar x1="4" y1="6" x2="36" y2="6" {} line.tl-strike x1="4" y1="11" x2="36" y2="1" {} } } " retracted (dotted, struck through)" }
                    li { svg.tl-key viewBox="0 0 40 12" aria-hidden="true" { g.tl-band.tl-active { rect x="2" y="1" width="36" height="10" {} } } " a range of values" }
                    li { "▲ at least, ▼ at most; an arrow: open-ended valid time" }
                }
                @if unplotted > 0 {
                    p.hint #timeline-unplotted { (unplotted) " claims without a value or a valid time are not plotted." }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::nice_step;

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        assert!((nice_step(18_700.0, 4.0) - 5_000.0).abs() < 1e-9);
        assert!((nice_step(7_700.0, 4.0) - 2_000.0).abs() < 1e-9);
        assert!((nice_step(1.1, 4.0) - 0.5).abs() < 1e-9);
    }
}
