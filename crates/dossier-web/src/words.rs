//! The typed values of the views in words, for the page: values, statuses, judgments, times,
//! and the query strings of links. Pure functions, no markup (the templates escape what these
//! return).

use dossier_beliefs::{Flag, Summary};
use dossier_model::{Timestamp, ValidTime};

pub use dossier_beliefs::words::{belief_value, claim_value, judgment, number};

/// A status word for a person: `superseded history`, `forecast pending`.
#[must_use]
pub fn flag(f: Flag) -> String {
    f.as_str().replace('_', " ")
}

/// A summary word for a person: `resolved true`.
#[must_use]
pub fn summary(s: Summary) -> String {
    s.as_str().replace('_', " ")
}

/// Every summary, in the order of the status filter.
pub const SUMMARIES: [Summary; 10] = [
    Summary::Disputed,
    Summary::Divergent,
    Summary::Corroborated,
    Summary::Uncontested,
    Summary::Pending,
    Summary::ResolvedTrue,
    Summary::ResolvedFalse,
    Summary::Superseded,
    Summary::Retracted,
    Summary::Unanswered,
];

/// A recorded time to the millisecond: `2024-03-19T18:00:00.000Z`.
#[must_use]
pub fn when(t: Timestamp) -> String {
    when_text(&dossier_chain::format_recorded(t.to_offset_datetime()))
}

/// A stored recorded time (fixed-width form) to the millisecond.
#[must_use]
pub fn when_text(t: &str) -> String {
    match t.get(..23) {
        Some(head) if t.len() > 23 => format!("{head}Z"),
        _ => t.to_owned(),
    }
}

/// A claim's valid time: `2023-07 … 2024-02`, `from 2023-07`.
#[must_use]
pub fn valid_time(v: &ValidTime) -> String {
    match (&v.from, &v.until) {
        (Some(f), Some(u)) => format!("{f} … {u}"),
        (Some(f), None) => format!("from {f}"),
        (None, Some(u)) => format!("until {u}"),
        (None, None) => "any time".to_owned(),
    }
}

/// The first 12 hex digits of a hash, for display (the full hash is in the link's title).
#[must_use]
pub fn short_hash(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

/// Percent-encodes a query-string component (everything but RFC 3986 unreserved characters).
#[must_use]
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string from pairs, leaving out empty values: `?id=question%3Aa&as_of=2024-03-01`.
#[must_use]
pub fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| {
            v.filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", encode(v)))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Splits `text` at character (Unicode scalar value) offsets `spans` (each `start..end`, in
/// characters, as quotes store them) into segments, each with the indexes of the spans that
/// cover it. Spans beyond the text are clipped; empty spans cover nothing.
#[must_use]
pub fn segments(text: &str, spans: &[(u64, u64)]) -> Vec<(String, Vec<usize>)> {
    let chars: Vec<char> = text.chars().collect();
    let len = chars.len() as u64;
    let mut cuts: Vec<u64> = vec![0, len];
    for &(s, e) in spans {
        cuts.push(s.min(len));
        cuts.push(e.min(len));
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a == b {
            continue;
        }
        let covering: Vec<usize> = spans
            .iter()
            .enumerate()
            .filter(|(_, (s, e))| *s <= a && b <= *e)
            .map(|(i, _)| i)
            .collect();
        let (ai, bi) = (
            usize::try_from(a).unwrap_or(usize::MAX),
            usize::try_from(b).unwrap_or(usize::MAX),
        );
        out.push((chars[ai..bi].iter().collect(), covering));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_count_characters_not_bytes() {
        let text = "장관 신원식 said: about 6,700.";
        // "about 6,700" starts at character 13.
        let start = 13;
        assert_eq!(
            text.find("about"),
            Some(23),
            "bytes differ from characters here"
        );
        let segs = segments(text, &[(start, start + 11)]);
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[1], ("about 6,700".to_owned(), vec![0]));
        assert!(segs[0].1.is_empty() && segs[2].1.is_empty());
    }

    #[test]
    fn segments_split_overlapping_spans() {
        let segs = segments("abcdef", &[(1, 4), (3, 5), (9, 12)]);
        let got: Vec<(&str, Vec<usize>)> =
            segs.iter().map(|(s, c)| (s.as_str(), c.clone())).collect();
        assert_eq!(
            got,
            vec![
                ("a", vec![]),
                ("bc", vec![0]),
                ("d", vec![0, 1]),
                ("e", vec![1]),
                ("f", vec![]),
            ]
        );
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(
            query(&[
                ("id", Some("question:a/b c&d")),
                ("as_of", None),
                ("at", Some(""))
            ]),
            "?id=question%3Aa%2Fb%20c%26d"
        );
        assert_eq!(number(6700.0), "6,700");
        assert_eq!(
            when_text("2024-03-19T18:00:00.123456789Z"),
            "2024-03-19T18:00:00.123Z"
        );
    }
}
