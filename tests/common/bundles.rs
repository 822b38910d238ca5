//! Report bundles generated for the end-to-end tests and the fault campaigns: valid, with
//! every id prefixed by a tag so that bundles never share an entity.

// Shared by two test targets, each of which uses part of it.
#![allow(dead_code)]

use serde_json::{Value, json};

/// A generated bundle: the JSON and the entity keys of the events it produces.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The bundle document.
    pub json: Value,
    /// Entity keys, in the order the events are appended.
    pub entities: Vec<String>,
}

impl Generated {
    /// The bundle as pretty JSON bytes.
    pub fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.json).expect("encodable")
    }

    /// Number of events the bundle produces (the seal not counted).
    pub fn events(&self) -> usize {
        self.entities.len()
    }
}

/// A valid bundle with one report, 2 sources, `questions` boolean questions and `claims` claims,
/// every id prefixed by `tag` so bundles with different tags never share an entity. The report
/// text mixes Hangul and ASCII, so quote spans (in characters) differ from byte offsets.
pub fn gen_bundle(tag: &str, questions: usize, claims: usize) -> Generated {
    gen_bundle_with(tag, questions, claims, None)
}

/// [`gen_bundle`], with the outlet itself the speaker of every `outlet_speaks_every`-th claim
/// (counting from 1), so that the bundle has claims by two speakers.
pub fn gen_bundle_with(
    tag: &str,
    questions: usize,
    claims: usize,
    outlet_speaks_every: Option<usize>,
) -> Generated {
    assert!(questions > 0);
    let report_id = format!("report:gen/{tag}");
    let speaker = format!("source:gen/{tag}/minister");
    let outlet = format!("source:gen/{tag}/outlet");
    let mut text = format!("Generated report {tag}: 신원식 (Shin Won Sik) briefed the press.\n\n");
    let mut claim_values = Vec::with_capacity(claims);
    let mut entities = vec![report_id.clone(), speaker.clone(), outlet.clone()];
    let question_ids: Vec<String> = (0..questions)
        .map(|q| format!("question:gen/{tag}/q{q}"))
        .collect();
    entities.extend(question_ids.iter().cloned());
    for i in 0..claims {
        let sentence = format!("국방부 said shipment {i} of batch {tag} reached the border.");
        let start = text.chars().count();
        text.push_str(&sentence);
        let end = text.chars().count();
        text.push(' ');
        let id = format!("claim:gen/{tag}/c{i}");
        entities.push(id.clone());
        claim_values.push(json!({
            "id": id,
            "question": question_ids[i % questions],
            "speaker": if outlet_speaks_every.is_some_and(|n| i % n == n - 1) { &outlet } else { &speaker },
            "via": outlet,
            "stance": if i % 7 == 3 { "denies" } else { "asserts" },
            "value": { "boolean": true },
            "valid_time": { "from": "2024-01", "until": "2024-02-29" },
            "quote": { "text": sentence, "start": start, "end": end },
            "credibility": 1 + (i % 6)
        }));
    }
    let json = json!({
        "version": 1,
        "marking": "TLP:GREEN",
        "report": {
            "id": report_id,
            "publisher": format!("Generator {tag}"),
            "title": format!("Generated report {tag}"),
            "published": "2024-03-01T09:00:00+09:00",
            "retrieved": "2024-03-01T01:00:00Z",
            "language": "en",
            "marking": "TLP:GREEN",
            "text": text
        },
        "sources": [
            { "id": speaker, "name": format!("Minister {tag}"), "kind": "person", "aliases": ["신원식"] },
            { "id": outlet, "name": format!("Outlet {tag}"), "kind": "outlet" }
        ],
        "questions": question_ids.iter().map(|q| json!({
            "id": q,
            "text": format!("Did event {q} happen?"),
            "kind": { "type": "boolean" }
        })).collect::<Vec<_>>(),
        "claims": claim_values
    });
    Generated { json, entities }
}

/// A report with one source and one claim quoting it (the quote's offsets found in `text`).
pub struct OneClaim<'a> {
    /// The bundle's `marking` (of the source and the claim).
    pub marking: &'a str,
    /// The report's own marking.
    pub report_marking: &'a str,
    /// The report: id, publisher, title, published (and retrieved) time.
    pub report: [&'a str; 4],
    /// The report's text.
    pub text: &'a str,
    /// The source: id, name, kind.
    pub source: [&'a str; 3],
    /// The claim's id and question.
    pub claim: [&'a str; 2],
    /// The claim's value.
    pub value: Value,
    /// The words quoted (they must occur in `text`).
    pub quote: &'a str,
    /// The claim's credibility.
    pub credibility: u8,
}

impl OneClaim<'_> {
    /// The bundle.
    pub fn bundle(&self) -> Value {
        let [report, publisher, title, published] = self.report;
        let [source, name, kind] = self.source;
        let [claim, question] = self.claim;
        let at = self
            .text
            .find(self.quote)
            .expect("the quote occurs in the text");
        let start = self.text[..at].chars().count();
        json!({
            "version": 1,
            "marking": self.marking,
            "report": {
                "id": report, "publisher": publisher, "title": title,
                "published": published, "retrieved": published,
                "language": "en", "marking": self.report_marking, "text": self.text
            },
            "sources": [{"id": source, "name": name, "kind": kind}],
            "claims": [{
                "id": claim, "question": question, "speaker": source, "stance": "asserts",
                "value": self.value,
                "quote": {"text": self.quote, "start": start, "end": start + self.quote.chars().count()},
                "credibility": self.credibility
            }]
        })
    }
}
