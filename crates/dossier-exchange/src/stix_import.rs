//! A STIX 2.1 report turned into a draft dossier bundle (docs/STIX.md §9).
//!
//! [`draft`] reads a STIX bundle holding a `report` (as a TAXII feed or OpenCTI delivers it)
//! and writes the report bundle (docs/BUNDLES.md) an analyst completes before publishing:
//! what STIX does not say (the report's full text, a quote's place in it, a credibility) is
//! a placeholder string beginning with [`PLACEHOLDER`], which `dossier validate` names until
//! it is filled in. Every object of the STIX bundle is either mapped or listed in
//! [`Draft::dropped`] with the reason. A marking definition that is not one of the TLP
//! markings [`known_marking`] knows refuses the whole import: a marking dossier cannot
//! enforce must not be lost.

use std::collections::{BTreeMap, HashMap, HashSet};

use dossier_model::Marking;
use dossier_model::bundle::PLACEHOLDER;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::stix::tlp_marking_id;

/// The STIX 2.1 TLP 1.0 marking definitions (STIX 2.1 §7.2.1.4), which have no statement,
/// with their TLP 2.0 equivalents: WHITE is CLEAR, the others keep their names.
pub const TLP_1_MARKINGS: [(&str, Marking); 4] = [
    (
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Marking::Clear,
    ),
    (
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Marking::Green,
    ),
    (
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Marking::Amber,
    ),
    (
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        Marking::Red,
    ),
];

/// The marking of a marking-definition id: one of the five OASIS TLP 2.0 ids or the four
/// STIX 2.1 TLP 1.0 ids; `None` for any other.
#[must_use]
pub fn known_marking(id: &str) -> Option<Marking> {
    Marking::ALL
        .into_iter()
        .find(|m| tlp_marking_id(*m) == id)
        .or_else(|| {
            TLP_1_MARKINGS
                .iter()
                .find(|(tlp1, _)| *tlp1 == id)
                .map(|(_, m)| *m)
        })
}

/// Why a STIX bundle cannot be drafted; nothing is written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    /// Not JSON, not a STIX bundle, or an object without a string `type` and `id`.
    #[error("not a STIX 2.1 bundle: {0}")]
    NotABundle(String),
    /// The bundle holds no report.
    #[error("the STIX bundle holds no report: a draft is made of one `report` object")]
    NoReport,
    /// Several reports and none chosen.
    #[error("the STIX bundle holds {} reports ({}): choose one with --report", .0.len(), .0.join(", "))]
    SeveralReports(Vec<String>),
    /// The chosen report is not in the bundle.
    #[error("the STIX bundle holds no report `{0}`")]
    NoSuchReport(String),
    /// A marking definition dossier does not know is defined or referenced.
    #[error(
        "unknown marking definition `{marking}` ({by}): dossier knows only the OASIS TLP 2.0 marking definitions and the STIX 2.1 TLP 1.0 ones (docs/STIX.md §9.2), and will not drop a marking it cannot enforce; nothing was written"
    )]
    UnknownMarking {
        /// The marking-definition id.
        marking: String,
        /// Where it occurs: `defined in the bundle` or `referenced by OBJECT`.
        by: String,
    },
}

/// A place of the draft the analyst fills in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Todo {
    /// The JSON Pointer of the placeholder in the draft.
    pub path: String,
    /// What goes there.
    pub what: String,
}

/// A STIX object the draft does not hold, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// The STIX id.
    pub id: String,
    /// Why it was left out.
    pub reason: String,
}

/// A draft report bundle with the places left to fill and what was left out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Draft {
    /// The STIX report it was made from.
    pub report: String,
    /// The draft bundle (docs/BUNDLES.md), holding placeholders at [`Draft::todo`].
    #[serde(skip)]
    pub bundle: Value,
    /// Every placeholder, in document order.
    pub todo: Vec<Todo>,
    /// Every STIX object of the input that the draft does not hold, in input order.
    pub dropped: Vec<Dropped>,
}

/// A string property.
fn text<'v>(o: &'v Value, key: &str) -> Option<&'v str> {
    o.get(key).and_then(Value::as_str)
}

/// The UUID part of a STIX id (`type--uuid`).
fn uuid_of(id: &str) -> &str {
    id.split_once("--").map_or(id, |(_, u)| u)
}

/// The `dossier_id` a dossier export put in an object's property extension.
fn dossier_ext(o: &Value) -> Option<&Map<String, Value>> {
    o.get("extensions")
        .and_then(Value::as_object)?
        .get(&crate::stix::property_extension())
        .and_then(Value::as_object)
}

fn dossier_id(o: &Value) -> Option<&str> {
    text(o, "dossier_id").or_else(|| dossier_ext(o).and_then(|e| e.get("dossier_id")?.as_str()))
}

/// The Admiralty credibility of a STIX `confidence`: the inverse of docs/STIX.md §5's table,
/// each grade taking the band around its value (81–100 → 1, …, 1–20 → 5); 0 (no confidence
/// stated) is 6, cannot be judged.
#[must_use]
pub const fn credibility_of_confidence(c: u64) -> u8 {
    match c {
        0 => 6,
        1..=20 => 5,
        21..=40 => 4,
        41..=60 => 3,
        61..=80 => 2,
        _ => 1,
    }
}

/// The character span of `needle` in `haystack` (Unicode scalar values, end exclusive).
fn char_span(haystack: &str, needle: &str) -> Option<(usize, usize)> {
    if needle.trim().is_empty() || needle.chars().count() > 2000 {
        return None;
    }
    let at = haystack.find(needle)?;
    let start = haystack[..at].chars().count();
    Some((start, start + needle.chars().count()))
}

struct Builder<'s> {
    objects: HashMap<&'s str, &'s Value>,
    todo: Vec<Todo>,
    dropped: Vec<Dropped>,
    used: HashSet<&'s str>,
    marking: Option<Marking>,
    sources: Vec<Value>,
    source_ids: BTreeMap<&'s str, String>,
    reliability: Vec<Value>,
    questions: Vec<Value>,
    claims: Vec<Value>,
    relations: Vec<Value>,
    assessments: Vec<Value>,
    /// The dossier id of each claim drafted, by STIX id.
    claim_ids: HashMap<&'s str, String>,
}

impl<'s> Builder<'s> {
    /// A placeholder at `path`, recorded as a place to fill.
    fn fill(&mut self, path: String, what: &str) -> Value {
        self.todo.push(Todo {
            path,
            what: what.to_owned(),
        });
        Value::String(format!("{PLACEHOLDER} {what}"))
    }

    fn drop(&mut self, id: &str, reason: impl Into<String>) {
        self.dropped.push(Dropped {
            id: id.to_owned(),
            reason: reason.into(),
        });
    }

    /// The highest known marking of an object's markings (object and granular).
    fn marking_of(o: &Value) -> Option<Marking> {
        marking_refs(o).filter_map(known_marking).max()
    }

    /// Counts an object's marking into the bundle's.
    fn mark(&mut self, o: &Value) {
        if let Some(m) = Self::marking_of(o) {
            self.marking = Some(self.marking.map_or(m, |b| b.max(m)));
        }
    }

    fn name_of(&self, id: &str) -> String {
        self.objects
            .get(id)
            .and_then(|o| text(o, "name").or_else(|| text(o, "pattern")))
            .unwrap_or(id)
            .to_owned()
    }

    /// The source id of an identity, registering it (and its reliability) the first time.
    fn source(&mut self, id: &'s str) -> Option<String> {
        if let Some(s) = self.source_ids.get(id) {
            return Some(s.clone());
        }
        let o = *self.objects.get(id)?;
        if text(o, "type") != Some("identity") {
            return None;
        }
        self.used.insert(id);
        self.mark(o);
        let ext = dossier_ext(o);
        let sid =
            dossier_id(o).map_or_else(|| format!("source:stix/{}", uuid_of(id)), str::to_owned);
        let kind = ext
            .and_then(|e| e.get("source_kind")?.as_str())
            .unwrap_or_else(|| {
                let government = o.get("sectors").and_then(Value::as_array).is_some_and(|s| {
                    s.iter()
                        .filter_map(Value::as_str)
                        .any(|s| s.starts_with("government"))
                });
                match text(o, "identity_class") {
                    Some("individual") => "person",
                    Some("organization") if government => "government",
                    Some("organization" | "group") => "organisation",
                    _ => "other",
                }
            });
        let mut src = json!({
            "id": sid,
            "name": text(o, "name").unwrap_or(id),
            "kind": kind,
        });
        if let Some(d) = text(o, "description") {
            src["description"] = Value::from(d);
        }
        self.sources.push(src);
        // The Admiralty rating: dossier's own extension, or OpenCTI's `x_opencti_reliability`
        // ("B - Usually reliable" or "B").
        let rating = ext
            .and_then(|e| e.get("admiralty_reliability")?.as_str())
            .or_else(|| text(o, "x_opencti_reliability"))
            .and_then(|r| r.chars().next())
            .filter(|c| ('A'..='F').contains(c));
        if let Some(r) = rating {
            // A dossier export names the assessment it shows; its rationale is not exported.
            let mut entry = match ext.and_then(|e| e.get("reliability_assessment")?.as_str()) {
                Some(rid) => json!({"id": rid}),
                None => json!({
                    "id": format!("reliability:stix/{}", uuid_of(id)),
                    "rationale": format!("As rated by the STIX producer of {id}."),
                }),
            };
            entry["source"] = Value::from(sid.clone());
            entry["rating"] = Value::from(r.to_string());
            if let Some(scope) = ext.and_then(|e| e.get("reliability_scope")) {
                entry["scope"] = scope.clone();
            }
            self.reliability.push(entry);
        }
        self.source_ids.insert(id, sid.clone());
        Some(sid)
    }

    /// The speaker of an object: its creator, else the report's; a placeholder if neither is
    /// an identity of the bundle.
    fn speaker(&mut self, o: &'s Value, report: &'s Value, path: String) -> Value {
        let by = text(o, "created_by_ref").or_else(|| text(report, "created_by_ref"));
        match by.and_then(|b| self.source(b)) {
            Some(s) => Value::String(s),
            None => self.fill(
                path,
                "the source who makes this claim (a `source:` id, defined in `sources` or recorded)",
            ),
        }
    }

    /// The quote of `candidates` found in the report text, else placeholders.
    fn quote(
        &mut self,
        text_of_report: Option<&str>,
        candidates: &[Option<&str>],
        path: &str,
    ) -> Value {
        if let Some(t) = text_of_report {
            for c in candidates.iter().flatten() {
                if let Some((start, end)) = char_span(t, c) {
                    return json!({"text": c, "start": start, "end": end});
                }
            }
        }
        json!({
            "text": self.fill(format!("{path}/text"), "the words of the report text that say this, verbatim"),
            "start": self.fill(format!("{path}/start"), "where the quote starts in the report text (characters, counted from 0)"),
            "end": self.fill(format!("{path}/end"), "where the quote ends in the report text (characters, exclusive)"),
        })
    }

    fn credibility(&mut self, o: &Value, path: String) -> Value {
        match o.get("confidence").and_then(Value::as_u64) {
            Some(c) => Value::from(credibility_of_confidence(c)),
            None => self.fill(
                path,
                "the information credibility, 1 (confirmed) to 6 (cannot be judged): the STIX object states no confidence",
            ),
        }
    }

    /// A STIX statement (an indicator or a relationship) as a yes/no question and a claim
    /// asserting it.
    fn statement(
        &mut self,
        o: &'s Value,
        report: &'s Value,
        report_text: Option<&str>,
        question: String,
        quote: &[Option<&str>],
        valid: (Option<&str>, Option<&str>),
    ) {
        let id = text(o, "id").unwrap_or_default();
        self.used.insert(id);
        self.mark(o);
        let qid = format!("question:stix/{}", uuid_of(id));
        self.questions
            .push(json!({"id": qid, "text": question, "kind": {"type": "boolean"}}));
        let n = self.claims.len();
        let path = format!("/claims/{n}");
        let speaker = self.speaker(o, report, format!("{path}/speaker"));
        let quote = self.quote(report_text, quote, &format!("{path}/quote"));
        let credibility = self.credibility(o, format!("{path}/credibility"));
        let cid = format!("claim:stix/{}", uuid_of(id));
        let mut claim = json!({
            "id": cid,
            "question": qid,
            "speaker": speaker,
            "stance": "asserts",
            "value": {"boolean": true},
        });
        if valid.0.is_some() || valid.1.is_some() {
            let mut vt = Map::new();
            if let Some(f) = valid.0 {
                vt.insert("from".into(), Value::from(f));
            }
            if let Some(u) = valid.1 {
                vt.insert("until".into(), Value::from(u));
            }
            claim["valid_time"] = Value::Object(vt);
        }
        claim["quote"] = quote;
        claim["credibility"] = credibility;
        self.claims.push(claim);
        self.claim_ids.insert(id, cid);
    }

    /// A claim of a dossier export (`x-dossier-claim`), with its question when the export
    /// names its text.
    fn dossier_claim(&mut self, o: &'s Value, report_text: Option<&str>) {
        let id = text(o, "id").unwrap_or_default();
        self.used.insert(id);
        self.mark(o);
        let n = self.claims.len();
        let path = format!("/claims/{n}");
        let cid =
            dossier_id(o).map_or_else(|| format!("claim:stix/{}", uuid_of(id)), str::to_owned);
        let question = text(o, "question").unwrap_or_default().to_owned();
        if let Some(qt) = text(o, "question_text")
            && !self.questions.iter().any(|q| q["id"] == question.as_str())
        {
            let qpath = format!("/questions/{}/kind", self.questions.len());
            let kind = match o.get("value") {
                Some(Value::Object(v)) if v.contains_key("boolean") => {
                    if text(o, "stance") == Some("forecasts") {
                        json!({"type": "forecast"})
                    } else {
                        json!({"type": "boolean"})
                    }
                }
                Some(Value::Object(v)) if v.contains_key("category") => {
                    json!({"type": "categorical", "categories": [v["category"]]})
                }
                Some(Value::Object(v)) => match v.values().next().and_then(|q| q.get("unit")) {
                    Some(unit) => json!({"type": "quantity", "unit": unit}),
                    None => json!({"type": "quantity", "unit": self.fill(format!("{qpath}/unit"), "the question's unit")}),
                },
                _ => self.fill(qpath, "the question's kind (boolean, quantity, categorical or forecast; docs/BUNDLES.md §4.4): the claim has no value to tell it by"),
            };
            self.questions
                .push(json!({"id": question, "text": qt, "kind": kind}));
        }
        let mut claim = json!({"id": cid, "question": question});
        let speaker = text(o, "speaker_ref").and_then(|s| self.source(s));
        claim["speaker"] = speaker.map_or_else(
            || {
                self.fill(
                    format!("{path}/speaker"),
                    "the source who makes this claim (its identity is not in the STIX bundle)",
                )
            },
            Value::String,
        );
        if let Some(via) = text(o, "via_ref").and_then(|s| self.source(s)) {
            claim["via"] = Value::String(via);
        }
        for key in ["stance", "value"] {
            if let Some(v) = o.get(key) {
                claim[key] = v.clone();
            }
        }
        let mut vt = Map::new();
        for (from, to) in [("valid_from", "from"), ("valid_until", "until")] {
            if let Some(v) = o.get(from) {
                vt.insert(to.into(), v.clone());
            }
        }
        if !vt.is_empty() {
            claim["valid_time"] = Value::Object(vt);
        }
        if let Some(u) = o.get("uttered") {
            claim["uttered"] = u.clone();
        }
        let quote = text(o, "quote");
        claim["quote"] = match (quote, report_text) {
            (Some(q), Some(t)) if char_span(t, q).is_some() => {
                let (start, end) = char_span(t, q).unwrap_or_default();
                json!({"text": q, "start": start, "end": end})
            }
            _ => json!({
                "text": quote.map_or_else(|| self.fill(format!("{path}/quote/text"), "the quote"), Value::from),
                "start": o.get("quote_start").cloned().unwrap_or_else(|| self.fill(format!("{path}/quote/start"), "where the quote starts")),
                "end": o.get("quote_end").cloned().unwrap_or_else(|| self.fill(format!("{path}/quote/end"), "where the quote ends")),
            }),
        };
        claim["credibility"] = o.get("credibility").cloned().unwrap_or_else(|| {
            self.fill(
                format!("{path}/credibility"),
                "the information credibility, 1 to 6",
            )
        });
        if let Some(w) = text(o, "likelihood") {
            let mut l = json!({"wording": w});
            if let Some(b) = o.get("likelihood_band") {
                l["band"] = b.clone();
            }
            claim["likelihood"] = l;
        }
        self.claims.push(claim);
        self.claim_ids.insert(id, cid);
    }
}

/// Every marking-definition id an object refers to (object and granular markings).
fn marking_refs(o: &Value) -> impl Iterator<Item = &str> {
    let object = o
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    let granular = o
        .get("granular_markings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| text(g, "marking_ref"));
    object.chain(granular)
}

/// Turns the STIX bundle `stix` into a draft of the report `report` (its STIX id; `None`: the
/// bundle's only report), retrieved at `retrieved` (RFC 3339).
///
/// # Errors
/// See [`DraftError`]; nothing is drafted.
#[allow(clippy::too_many_lines)]
pub fn draft(stix: &[u8], report: Option<&str>, retrieved: &str) -> Result<Draft, DraftError> {
    let doc: Value =
        serde_json::from_slice(stix).map_err(|e| DraftError::NotABundle(e.to_string()))?;
    if text(&doc, "type") != Some("bundle") {
        return Err(DraftError::NotABundle(
            "the document's `type` is not `bundle`".to_owned(),
        ));
    }
    let Some(list) = doc.get("objects").and_then(Value::as_array) else {
        return Err(DraftError::NotABundle(
            "the bundle has no `objects` array".to_owned(),
        ));
    };
    // Every object by id; of several versions of one object, the last `modified`.
    let mut objects: HashMap<&str, &Value> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (i, o) in list.iter().enumerate() {
        let (Some(_), Some(id)) = (text(o, "type"), text(o, "id")) else {
            return Err(DraftError::NotABundle(format!(
                "object {i} has no string `type` and `id`"
            )));
        };
        match objects.get(id) {
            Some(old) if text(old, "modified") >= text(o, "modified") => {}
            Some(_) => {
                objects.insert(id, o);
            }
            None => {
                objects.insert(id, o);
                order.push(id);
            }
        }
    }
    // Refuse unknown markings before anything else.
    for id in &order {
        let o = objects[id];
        if text(o, "type") == Some("marking-definition") && known_marking(id).is_none() {
            return Err(DraftError::UnknownMarking {
                marking: (*id).to_owned(),
                by: "defined in the bundle".to_owned(),
            });
        }
        if let Some(m) = marking_refs(o).find(|m| known_marking(m).is_none()) {
            return Err(DraftError::UnknownMarking {
                marking: m.to_owned(),
                by: format!("referenced by {id}"),
            });
        }
    }
    let reports: Vec<&str> = order
        .iter()
        .copied()
        .filter(|id| text(objects[id], "type") == Some("report"))
        .collect();
    let chosen = match (report, reports.as_slice()) {
        (Some(r), _) if reports.contains(&r) => r,
        (Some(r), _) => return Err(DraftError::NoSuchReport(r.to_owned())),
        (None, []) => return Err(DraftError::NoReport),
        (None, [one]) => one,
        (None, many) => {
            return Err(DraftError::SeveralReports(
                many.iter().map(|s| (*s).to_owned()).collect(),
            ));
        }
    };
    let r = objects[chosen];
    let mut b = Builder {
        objects: objects.clone(),
        todo: Vec::new(),
        dropped: Vec::new(),
        used: HashSet::from([chosen]),
        marking: None,
        sources: Vec::new(),
        source_ids: BTreeMap::new(),
        reliability: Vec::new(),
        questions: Vec::new(),
        claims: Vec::new(),
        relations: Vec::new(),
        assessments: Vec::new(),
        claim_ids: HashMap::new(),
    };
    b.mark(r);
    let ext = dossier_ext(r);
    let rid =
        dossier_id(r).map_or_else(|| format!("report:stix/{}", uuid_of(chosen)), str::to_owned);
    let report_text = text(r, "description");
    let content_hash = ext.and_then(|e| e.get("content_hash")?.as_str());
    let publisher = ext
        .and_then(|e| e.get("publisher")?.as_str())
        .map(str::to_owned)
        .or_else(|| {
            let by = text(r, "created_by_ref")?;
            b.source(by)?;
            Some(b.name_of(by))
        });
    let mut rep = json!({"id": rid});
    rep["publisher"] = publisher.map_or_else(
        || {
            b.fill(
                "/report/publisher".into(),
                "the report's publisher (the STIX report names no creator)",
            )
        },
        Value::from,
    );
    rep["title"] = Value::from(text(r, "name").unwrap_or(chosen));
    rep["published"] = text(r, "published").map_or_else(
        || {
            b.fill(
                "/report/published".into(),
                "when the report was published (RFC 3339)",
            )
        },
        Value::from,
    );
    rep["retrieved"] = Value::from(retrieved);
    let urls: Vec<(&str, &str)> = r
        .get("external_references")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| Some((text(e, "url")?, text(e, "source_name").unwrap_or(""))))
        .filter(|(u, _)| u.starts_with("https://") || u.starts_with("http://"))
        .collect();
    if let Some((url, _)) = urls.first() {
        rep["url"] = Value::from(*url);
    }
    for (url, name) in urls.iter().skip(1) {
        b.drop(
            chosen,
            format!("external reference `{name}` ({url}): a dossier report has one url, the first"),
        );
    }
    rep["language"] = Value::from(text(r, "lang").unwrap_or("en"));
    rep["marking"] = match Builder::marking_of(r) {
        Some(m) => Value::from(m.as_str()),
        None => b.fill(
            "/report/marking".into(),
            "the report's TLP marking (the STIX report carries none)",
        ),
    };
    rep["text"] = match report_text {
        Some(t) if !t.trim().is_empty() => Value::from(t),
        _ => {
            let what = content_hash.map_or_else(
                || "the report's full text (STIX carries only a description, and this report has none)".to_owned(),
                |h| format!("the report's full text, whose BLAKE3 is {h} (a STIX export does not carry texts)"),
            );
            b.fill("/report/text".into(), &what)
        }
    };
    let report_text = report_text.filter(|t| !t.trim().is_empty());
    let refs: Vec<&str> = r
        .get("object_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    // Claims first (statements and dossier claims), then relationships between them.
    let mut missing = Vec::new();
    for id in &refs {
        let Some(o) = objects.get(id).copied() else {
            missing.push(*id);
            continue;
        };
        match text(o, "type").unwrap_or_default() {
            "identity" => {
                b.source(id);
            }
            "x-dossier-claim" => {
                let other = text(o, "report_ref").filter(|rr| *rr != chosen);
                if let Some(other) = other {
                    b.used.insert(id);
                    b.drop(id, format!("a claim of another report ({other})"));
                } else {
                    b.dossier_claim(o, report_text);
                }
            }
            "indicator" => {
                let pattern = text(o, "pattern");
                let name = text(o, "name");
                let what = o
                    .get("indicator_types")
                    .and_then(Value::as_array)
                    .map(|t| {
                        t.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(" or ")
                            .replace('-', " ")
                    })
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "malicious activity".to_owned());
                let q = match (pattern, name) {
                    (Some(p), _) => format!("Does the pattern {p} indicate {what}?"),
                    (None, Some(n)) => format!("Does {n} indicate {what}?"),
                    (None, None) => format!("Does the indicator {id} indicate {what}?"),
                };
                b.statement(
                    o,
                    r,
                    report_text,
                    q,
                    &[name, pattern, text(o, "description")],
                    (text(o, "valid_from"), text(o, "valid_until")),
                );
            }
            _ => {}
        }
    }
    // The report's relationships, and dossier's relations from this report or its claims,
    // which a dossier export does not list in `object_refs`.
    let relations: Vec<&str> = order
        .iter()
        .copied()
        .filter(|id| {
            let o = objects[id];
            text(o, "type") == Some("relationship")
                && !refs.contains(id)
                && matches!(
                    text(o, "relationship_type"),
                    Some("supersedes" | "disputes" | "corroborates" | "retracts")
                )
                && text(o, "source_ref").is_some_and(|s| s == chosen || b.claim_ids.contains_key(s))
        })
        .collect();
    for id in refs.iter().chain(&relations) {
        let Some(o) = objects.get(id).copied() else {
            continue;
        };
        match text(o, "type").unwrap_or_default() {
            "relationship" => {
                let kind = text(o, "relationship_type").unwrap_or_default();
                let (Some(src), Some(dst)) = (text(o, "source_ref"), text(o, "target_ref")) else {
                    b.used.insert(id);
                    b.drop(id, "a relationship without source_ref and target_ref");
                    continue;
                };
                let ends = [src, dst].into_iter().find(|e| !objects.contains_key(e));
                if let Some(gone) = ends {
                    b.used.insert(id);
                    b.drop(id, format!("relates {gone}, which is not in the bundle"));
                    continue;
                }
                if matches!(
                    kind,
                    "supersedes" | "disputes" | "corroborates" | "retracts"
                ) {
                    let from = b
                        .claim_ids
                        .get(src)
                        .cloned()
                        .or_else(|| (src == chosen).then(|| rid.clone()));
                    match (from, b.claim_ids.get(dst).cloned()) {
                        (Some(from), Some(to)) => {
                            b.used.insert(id);
                            b.mark(o);
                            let mut rel = json!({"kind": kind, "from": from, "to": to});
                            if kind == "corroborates" {
                                let n = b.relations.len();
                                rel["independence"] = dossier_ext(o)
                                    .and_then(|e| e.get("independence").cloned())
                                    .unwrap_or_else(|| {
                                        b.fill(
                                            format!("/relations/{n}/independence"),
                                            "independent, same_primary_source or unknown",
                                        )
                                    });
                            }
                            if let Some(d) = text(o, "description") {
                                rel["note"] = Value::from(d);
                            }
                            b.relations.push(rel);
                            continue;
                        }
                        _ => {
                            b.used.insert(id);
                            b.drop(id, format!("a `{kind}` relationship between objects that are not claims of this draft"));
                            continue;
                        }
                    }
                }
                let q = format!(
                    "Is it true that {} {} {}?",
                    b.name_of(src),
                    kind.replace('-', " "),
                    b.name_of(dst)
                );
                b.statement(
                    o,
                    r,
                    report_text,
                    q,
                    &[text(o, "description")],
                    (text(o, "start_time"), text(o, "stop_time")),
                );
            }
            "note" if dossier_ext(o).is_some_and(|e| e.contains_key("analytic_confidence")) => {
                let e = dossier_ext(o).cloned().unwrap_or_default();
                b.used.insert(id);
                b.mark(o);
                let based_on: Vec<String> = o
                    .get("object_refs")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter_map(|c| b.claim_ids.get(c).cloned())
                    .collect();
                let mut a = json!({
                    "id": e.get("dossier_id").cloned().unwrap_or_else(|| Value::from(format!("assessment:stix/{}", uuid_of(id)))),
                    "question": e.get("question").cloned().unwrap_or(Value::Null),
                });
                if let Some(v) = e.get("value") {
                    a["value"] = v.clone();
                }
                if let Some(l) = e.get("likelihood_band") {
                    a["likelihood"] = l.clone();
                }
                a["confidence"] = e.get("analytic_confidence").cloned().unwrap_or(Value::Null);
                a["rationale"] = o.get("content").cloned().unwrap_or(Value::Null);
                if !based_on.is_empty() {
                    a["based_on"] = json!(based_on);
                }
                b.assessments.push(a);
            }
            _ => {}
        }
    }
    // What is left: say why, in input order.
    let named: HashSet<&str> = refs
        .iter()
        .filter_map(|id| objects.get(id))
        .filter(|o| text(o, "type") == Some("relationship"))
        .flat_map(|o| [text(o, "source_ref"), text(o, "target_ref")])
        .flatten()
        .collect();
    for id in &order {
        if b.used.contains(id) {
            continue;
        }
        let o = objects[id];
        let t = text(o, "type").unwrap_or_default();
        let in_report = refs.contains(id);
        let reason = match t {
            "marking-definition" => continue,
            "extension-definition" => "an extension definition describes properties; there is nothing to record".to_owned(),
            "report" => format!("another report: draft it with --report {id}"),
            _ if !in_report => format!("not referenced by the report {chosen}"),
            "note" => "a note is commentary on objects, not a statement of the report's author: dossier has no entity for it".to_owned(),
            "opinion" => "an opinion is a reader's judgement of objects: dossier has no entity for it".to_owned(),
            _ if named.contains(id) => format!("dossier has no entity for a {t}; it is named in the questions of the claims made of its relationships"),
            _ => format!("dossier has no entity for a {t}, and no relationship of the report names it"),
        };
        b.drop(id, reason);
    }
    for id in missing {
        b.drop(id, "referenced by the report but not in the bundle");
    }
    let mut bundle = json!({"version": 1});
    bundle["marking"] = match b.marking {
        Some(m) => Value::from(m.as_str()),
        None => b.fill(
            "/marking".into(),
            "the TLP marking of the draft's entities (no STIX object carries one)",
        ),
    };
    bundle["report"] = rep;
    for (key, list) in [
        ("sources", std::mem::take(&mut b.sources)),
        ("reliability", std::mem::take(&mut b.reliability)),
        ("questions", std::mem::take(&mut b.questions)),
        ("claims", std::mem::take(&mut b.claims)),
        ("relations", std::mem::take(&mut b.relations)),
        ("assessments", std::mem::take(&mut b.assessments)),
    ] {
        if !list.is_empty() {
            bundle[key] = Value::Array(list);
        }
    }
    Ok(Draft {
        report: chosen.to_owned(),
        bundle,
        todo: b.todo,
        dropped: b.dropped,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn known_markings_are_the_tlp_ones() {
        for m in Marking::ALL {
            assert_eq!(known_marking(tlp_marking_id(m)), Some(m));
        }
        assert_eq!(
            known_marking("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"),
            Some(Marking::Clear),
            "TLP 1.0 WHITE is CLEAR"
        );
        assert_eq!(
            known_marking("marking-definition--00000000-0000-4000-8000-000000000000"),
            None
        );
    }

    #[test]
    fn confidence_inverts_the_export_table() {
        for grade in 1..=5 {
            let c = crate::stix::credibility_confidence(grade).unwrap();
            assert_eq!(credibility_of_confidence(u64::from(c)), grade);
        }
        assert_eq!(credibility_of_confidence(0), 6);
        assert_eq!(credibility_of_confidence(100), 1);
    }

    #[test]
    fn spans_count_characters() {
        assert_eq!(char_span("신원식 장관 6,700개", "6,700개"), Some((7, 13)));
        assert_eq!(char_span("abc", "d"), None);
    }

    #[test]
    fn not_a_bundle_is_refused() {
        assert!(matches!(
            draft(b"{\"type\":\"report\"}", None, "2024-01-01T00:00:00Z"),
            Err(DraftError::NotABundle(_))
        ));
        assert_eq!(
            draft(
                b"{\"type\":\"bundle\",\"id\":\"bundle--1\",\"objects\":[]}",
                None,
                "2024-01-01T00:00:00Z"
            ),
            Err(DraftError::NoReport)
        );
    }
}
