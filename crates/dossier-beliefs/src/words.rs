//! The typed values of the views in words, for people: `~6,700 containers`, `≥7,000`,
//! `very likely, moderate confidence`. Every face that shows a belief (the CLI's text, the web
//! page) says a value the same way.

use dossier_model::{ClaimValue, Confidence, Icd203Band, Qualifier};

use crate::BeliefValue;

/// A number without a needless `.0`, with thousands separators: `6,700`.
#[must_use]
pub fn number(f: f64) -> String {
    if f.fract() != 0.0 || !f.is_finite() {
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

fn unit(u: Option<&String>) -> String {
    u.map(|u| format!(" {u}")).unwrap_or_default()
}

/// A claim value in words: `yes`, `~6,700 containers`, `≥7,000 containers`, `rail`.
#[must_use]
pub fn claim_value(v: &ClaimValue) -> String {
    match v {
        ClaimValue::Boolean(b) => if *b { "yes" } else { "no" }.to_owned(),
        ClaimValue::Quantity {
            value,
            qualifier,
            unit: u,
        } => {
            let prefix = match qualifier {
                Qualifier::Approximately => "~",
                Qualifier::AtLeast => "≥",
                Qualifier::AtMost => "≤",
                Qualifier::Exact => "",
            };
            format!("{prefix}{}{}", number(*value), unit(u.as_ref()))
        }
        ClaimValue::Range { low, high, unit: u } => {
            format!("{}–{}{}", number(*low), number(*high), unit(u.as_ref()))
        }
        ClaimValue::Category(c) => c.clone(),
    }
}

/// A belief's answer in words (`—` for none).
#[must_use]
pub fn belief_value(v: Option<&BeliefValue>) -> String {
    match v {
        None => "—".to_owned(),
        Some(BeliefValue::Single { value }) => claim_value(value),
        Some(BeliefValue::Range { low, high, unit: u }) => {
            format!("{}–{}{}", number(*low), number(*high), unit(u.as_ref()))
        }
        Some(BeliefValue::Alternatives { values }) => values
            .iter()
            .map(claim_value)
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

/// An analyst's judgment: `likely, moderate confidence`, or `no assessment`.
#[must_use]
pub fn judgment(likelihood: Option<Icd203Band>, confidence: Option<Confidence>) -> String {
    let l = likelihood.map(|l| l.as_str().replace('_', " "));
    match (l, confidence) {
        (Some(l), Some(c)) => format!("{l}, {} confidence", c.as_str()),
        (None, Some(c)) => format!("{} confidence", c.as_str()),
        (Some(l), None) => l,
        (None, None) => "no assessment".to_owned(),
    }
}
