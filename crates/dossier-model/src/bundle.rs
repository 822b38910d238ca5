//! The bundle: the hand-written JSON file a producer publishes.
//!
//! A bundle holds at most one report (with its full text) and any number of sources,
//! reliability assessments, questions, interest designations, claims, relations, assessments
//! and forecast resolutions.
//! [`parse_bundle`] turns bytes into a [`Bundle`] with precise errors (file, JSON Pointer path,
//! reason, line and column); [`crate::validate::validate`] then checks it against itself and the
//! ledger and turns it into events.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::entity::{
    Assessment, Claim, ForecastResolution, InterestDesignation, Marking, Question, Relation,
    ReliabilityAssessment, ReportEntry, Source,
};

/// The largest bundle file accepted, in bytes (16 MiB).
pub const MAX_BUNDLE_BYTES: usize = 16 * 1024 * 1024;

/// The most events one bundle may produce; a publish is one atomic batch.
pub const MAX_EVENTS_PER_BUNDLE: usize = 999;

/// The start of a placeholder string: a value a tool left for an analyst to fill in (for
/// example `dossier import --format stix`, docs/STIX.md §9). A bundle holding a string that
/// starts with it, anywhere, is refused with the place of each one (docs/BUNDLES.md §6.1).
pub const PLACEHOLDER: &str = "FILL IN:";

/// The bundle format version this crate reads.
pub const BUNDLE_VERSION: u32 = 1;

/// A bundle file: one report and what it says, or additions to entities already in the ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Optional URL or path of the JSON Schema, for editors; ignored.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Bundle format version; must be 1.
    pub version: u32,
    /// Default marking for every entity except the report (which has its own); if absent the
    /// report's marking is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marking: Option<Marking>,
    /// The report the bundle is about, with its full text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportEntry>,
    /// Sources (speakers and outlets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
    /// Reliability assessments of sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reliability: Vec<ReliabilityAssessment>,
    /// Questions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub questions: Vec<Question>,
    /// Designations of sources as interested parties to questions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interests: Vec<InterestDesignation>,
    /// Claims made in the report (or in reports already recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<Claim>,
    /// Relations between claims.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relations: Vec<Relation>,
    /// Analysts' assessments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assessments: Vec<Assessment>,
    /// Resolutions of forecast claims.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolutions: Vec<ForecastResolution>,
}

impl Bundle {
    /// The number of events the bundle produces: one per entity (the report counts as one).
    #[must_use]
    pub fn event_count(&self) -> usize {
        usize::from(self.report.is_some())
            + self.sources.len()
            + self.reliability.len()
            + self.questions.len()
            + self.interests.len()
            + self.claims.len()
            + self.relations.len()
            + self.assessments.len()
            + self.resolutions.len()
    }
}

/// One problem with a bundle: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {}: {reason}", display_path(path))]
pub struct BundleError {
    /// The bundle's file name, as given by the caller.
    pub file: String,
    /// JSON Pointer to the offending value, e.g. `/claims/2/quote/start`; `""` for the whole
    /// document.
    pub path: String,
    /// What is wrong, in words a producer can act on.
    pub reason: String,
}

impl BundleError {
    /// Builds an error.
    #[must_use]
    pub fn new(
        file: impl Into<String>,
        path: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        BundleError {
            file: file.into(),
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Renders an empty path as `(document)`.
fn display_path(path: &str) -> &str {
    if path.is_empty() { "(document)" } else { path }
}

/// All problems found in a bundle; displayed one per line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct BundleErrors(pub Vec<BundleError>);

impl BundleErrors {
    /// The individual errors.
    #[must_use]
    pub fn errors(&self) -> &[BundleError] {
        &self.0
    }

    /// Iterates over the individual errors.
    pub fn iter(&self) -> std::slice::Iter<'_, BundleError> {
        self.0.iter()
    }

    /// The number of errors.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no errors (never the case for a returned `Err`).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for BundleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<BundleError> for BundleErrors {
    fn from(e: BundleError) -> Self {
        BundleErrors(vec![e])
    }
}

impl IntoIterator for BundleErrors {
    type Item = BundleError;
    type IntoIter = std::vec::IntoIter<BundleError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a BundleErrors {
    type Item = &'a BundleError;
    type IntoIter = std::slice::Iter<'a, BundleError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Escapes one JSON Pointer reference token (RFC 6901).
pub(crate) fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Renders a serde path as a JSON Pointer.
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                out.push('/');
                out.push_str(&index.to_string());
            }
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push('/');
                out.push_str(&escape_pointer_token(key));
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// Line and column (1-based, in characters) of a byte offset in a UTF-8 prefix.
fn line_column(valid: &str) -> (usize, usize) {
    let line = valid.matches('\n').count() + 1;
    let line_start = valid.rfind('\n').map_or(0, |i| i + 1);
    (line, valid[line_start..].chars().count() + 1)
}

/// serde_json's message without its trailing " at line L column C".
fn bare_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix)
        .map_or(full.clone(), str::to_owned)
}

/// Parses a bundle file.
///
/// `file` is only used in error messages. A leading UTF-8 byte order mark is ignored. Errors
/// are precise: an empty file, a file over [`MAX_BUNDLE_BYTES`], invalid UTF-8 (with the byte
/// offset), malformed JSON (with line and column), and unknown fields, wrong types, missing
/// fields, bad ids or enum values (with the JSON Pointer path, serde's message, and line and
/// column). Semantic checks are done by [`crate::validate::validate`].
///
/// # Errors
/// Returns [`BundleErrors`] holding the first problem found.
pub fn parse_bundle(file: &str, bytes: &[u8]) -> Result<Bundle, BundleErrors> {
    let err = |path: &str, reason: String| BundleErrors::from(BundleError::new(file, path, reason));

    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(err(
            "",
            format!(
                "file is {} bytes, larger than the limit of {MAX_BUNDLE_BYTES} bytes (16 MiB); \
                 report texts belong in the bundle, but large attachments do not",
                bytes.len()
            ),
        ));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(err(
            "",
            "file is empty: expected a JSON bundle object".to_owned(),
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let offset = e.valid_up_to();
            let (line, column) = line_column(std::str::from_utf8(&bytes[..offset]).unwrap_or(""));
            return Err(err(
                "",
                format!(
                    "invalid UTF-8 at byte offset {offset} (line {line}, column {column}); \
                     bundles must be UTF-8 encoded"
                ),
            ));
        }
    };

    if text.contains(PLACEHOLDER)
        && let Ok(doc) = serde_json::from_str::<serde_json::Value>(text)
    {
        let mut found = Vec::new();
        placeholders(&doc, &mut String::new(), &mut found);
        if !found.is_empty() {
            return Err(BundleErrors(
                found
                    .into_iter()
                    .map(|(path, what)| {
                        BundleError::new(
                            file,
                            path,
                            format!(
                                "placeholder to fill in: {}",
                                what.strip_prefix(PLACEHOLDER).unwrap_or(&what).trim()
                            ),
                        )
                    })
                    .collect(),
            ));
        }
    }

    let mut de = serde_json::Deserializer::from_str(text);
    let bundle: Bundle = match serde_path_to_error::deserialize(&mut de) {
        Ok(bundle) => bundle,
        Err(e) => {
            let path = pointer(e.path());
            let inner = e.into_inner();
            return Err(err(&path, describe_json_error(&inner)));
        }
    };
    if let Err(e) = de.end() {
        return Err(err("", describe_json_error(&e)));
    }
    Ok(bundle)
}

/// Every string of `v` that starts with [`PLACEHOLDER`], with its JSON Pointer, in document
/// order.
fn placeholders(v: &serde_json::Value, path: &mut String, found: &mut Vec<(String, String)>) {
    use serde_json::Value;
    let len = path.len();
    match v {
        Value::String(s) if s.starts_with(PLACEHOLDER) => found.push((path.clone(), s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push('/');
                path.push_str(&i.to_string());
                placeholders(item, path, found);
                path.truncate(len);
            }
        }
        Value::Object(members) => {
            for (key, item) in members {
                path.push('/');
                path.push_str(&escape_pointer_token(key));
                placeholders(item, path, found);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Words a serde_json error the way bundle authors need it.
fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let message = bare_message(e);
    let position = if e.line() > 0 {
        format!(" (line {}, column {})", e.line(), e.column())
    } else {
        String::new()
    };
    match e.classify() {
        Category::Syntax => format!(
            "malformed JSON at line {}, column {}: {message}",
            e.line(),
            e.column()
        ),
        Category::Eof => format!(
            "malformed JSON: unexpected end of file at line {}, column {}: {message}",
            e.line(),
            e.column()
        ),
        Category::Data | Category::Io => format!("{message}{position}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse_err(bytes: &[u8]) -> BundleError {
        let errs = parse_bundle("b.json", bytes).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs}");
        errs.0.into_iter().next().unwrap()
    }

    const MINIMAL: &str = r#"{"version": 1, "marking": "TLP:CLEAR",
  "sources": [{"id": "source:shin-won-sik", "name": "Shin Won-sik", "kind": "person", "aliases": ["신원식"]}]}"#;

    #[test]
    fn placeholders_are_named_wherever_they_are() {
        let draft = r#"{"version": 1, "marking": "TLP:CLEAR", "claims": [{"credibility": "FILL IN: 1 to 6",
            "quote": {"text": "FILL IN: the words", "start": 3}}], "sources": ["FILL IN:x"]}"#;
        let errs = parse_bundle("d.json", draft.as_bytes()).unwrap_err();
        let found: Vec<(&str, &str)> = errs
            .iter()
            .map(|e| (e.path.as_str(), e.reason.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("/claims/0/credibility", "placeholder to fill in: 1 to 6"),
                ("/claims/0/quote/text", "placeholder to fill in: the words"),
                ("/sources/0", "placeholder to fill in: x"),
            ]
        );
        // Inside a string, or as a key, it is text like any other.
        let fine = r#"{"version": 1, "marking": "TLP:CLEAR", "sources": [{"id": "source:a",
            "name": "a FILL IN: b", "kind": "person"}]}"#;
        parse_bundle("b.json", fine.as_bytes()).unwrap();
    }

    #[test]
    fn parses_minimal_bundle() {
        let b = parse_bundle("b.json", MINIMAL.as_bytes()).unwrap();
        assert_eq!(b.version, 1);
        assert_eq!(b.sources[0].aliases, vec!["신원식".to_owned()]);
        assert_eq!(b.event_count(), 1);
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), MINIMAL.as_bytes()].concat();
        assert!(parse_bundle("b.json", &with_bom).is_ok());
    }

    #[test]
    fn empty_file() {
        for input in [&b""[..], b"  \n\t "] {
            let e = parse_err(input);
            assert_eq!((e.file.as_str(), e.path.as_str()), ("b.json", ""));
            assert!(e.reason.contains("empty"), "{e}");
            assert!(
                e.to_string()
                    .starts_with("b.json: (document): file is empty"),
                "{e}"
            );
        }
    }

    #[test]
    fn too_large() {
        let big = vec![b' '; MAX_BUNDLE_BYTES + 1];
        let e = parse_err(&big);
        assert!(
            e.reason
                .contains(&format!("{} bytes", MAX_BUNDLE_BYTES + 1)),
            "{e}"
        );
        assert!(e.reason.contains("16777216"), "{e}");
        assert!(e.reason.contains("attachments"), "{e}");
    }

    #[test]
    fn invalid_utf8_reports_offset() {
        let e = parse_err(b"{\"version\": 1,\n \"x\": \"\xff\"}");
        assert_eq!(e.path, "");
        assert!(e.reason.contains("invalid UTF-8 at byte offset 22"), "{e}");
        assert!(e.reason.contains("line 2, column 8"), "{e}");
    }

    #[test]
    fn malformed_json_reports_line_and_column() {
        let e = parse_err(b"{\"version\": 1,\n  \"sources\": [,]}");
        assert_eq!(e.path, "/sources/0");
        assert!(
            e.reason.starts_with("malformed JSON at line 2, column 15"),
            "{e}"
        );
        let e = parse_err(b"{\"version\": 1");
        assert!(e.reason.contains("end of file"), "{e}");
        let e = parse_err(b"{\"version\": 1} {}");
        assert!(e.reason.contains("trailing characters"), "{e}");
    }

    #[test]
    fn unknown_field_has_pointer_path() {
        let input = MINIMAL.replace("\"kind\": \"person\"", "\"kind\": \"person\", \"rank\": 3");
        let e = parse_err(input.as_bytes());
        assert_eq!(e.path, "/sources/0/rank");
        assert!(e.reason.contains("unknown field `rank`"), "{e}");
        assert!(e.reason.contains("line 2"), "{e}");
        let e = parse_err(br#"{"version": 1, "claimz": []}"#);
        assert_eq!(e.path, "/claimz");
    }

    #[test]
    fn wrong_type_and_missing_field() {
        let e = parse_err(br#"{"version": "1"}"#);
        assert_eq!(e.path, "/version");
        assert!(
            e.reason
                .contains("invalid type: string \"1\", expected u32"),
            "{e}"
        );
        let e = parse_err(br#"{"version": 1, "sources": [{"id": "source:x", "kind": "person"}]}"#);
        assert_eq!(e.path, "/sources/0");
        assert!(e.reason.contains("missing field `name`"), "{e}");
        let e = parse_err(br#"{"marking": "TLP:CLEAR"}"#);
        assert_eq!(e.path, "");
        assert!(e.reason.contains("missing field `version`"), "{e}");
        let e = parse_err(br#"{"version": 1, "marking": "TLP:WHITE"}"#);
        assert_eq!(e.path, "/marking");
        assert!(e.reason.contains("unknown variant `TLP:WHITE`"), "{e}");
    }

    #[test]
    fn bad_credibility_and_bad_id() {
        let claim = r#"{"version": 1, "claims": [{"id": "claim:a", "question": "question:q",
            "speaker": "source:s", "stance": "asserts",
            "quote": {"text": "x", "start": 0, "end": 1}, "credibility": 7}]}"#;
        let e = parse_err(claim.as_bytes());
        assert_eq!(e.path, "/claims/0/credibility");
        assert!(e.reason.contains("credibility must be 1 to 6"), "{e}");
        let e = parse_err(claim.replace("source:s", "speaker:s").as_bytes());
        assert_eq!(e.path, "/claims/0/speaker");
        assert!(e.reason.contains("unknown id kind `speaker`"), "{e}");
        let e = parse_err(claim.replace("\"start\": 0", "\"start\": -1").as_bytes());
        assert_eq!(e.path, "/claims/0/quote/start");
    }

    #[test]
    fn errors_display_one_per_line() {
        let errs = BundleErrors(vec![
            BundleError::new("f", "", "a"),
            BundleError::new("f", "/claims/0", "b"),
        ]);
        assert_eq!(errs.to_string(), "f: (document): a\nf: /claims/0: b");
    }

    #[test]
    fn pointer_escapes() {
        assert_eq!(escape_pointer_token("a/b~c"), "a~1b~0c");
    }
}
