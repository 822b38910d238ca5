//! MISP events, one per report (docs/STIX.md §8): the report's claims as `dossier-claim`
//! objects (template in `docs/misp/objects/dossier-claim/definition.json`), Admiralty ratings
//! as `admiralty-scale` taxonomy tags, markings as `tlp` taxonomy tags, and the ledger seq and
//! record hash of every event as attributes.

use dossier_beliefs::{ClaimView, EventRef, ReportView, SourceView};
use dossier_model::Marking;
use serde_json::{Value, json};

use crate::ids::uuid5;
use crate::{Answered, Cut};

/// The uuid of the `dossier-claim` object template shipped in the repository.
pub const CLAIM_TEMPLATE_UUID: &str = "80d1ae2f-1f02-4b2a-adf6-53c25bd55ea9";
/// Its version.
pub const CLAIM_TEMPLATE_VERSION: u32 = 1;

/// The MISP `tlp` taxonomy tag of a marking.
#[must_use]
pub const fn tlp_tag(m: Marking) -> &'static str {
    match m {
        Marking::Clear => "tlp:clear",
        Marking::Green => "tlp:green",
        Marking::Amber => "tlp:amber",
        Marking::AmberStrict => "tlp:amber+strict",
        Marking::Red => "tlp:red",
    }
}

/// The `admiralty-scale` tag of a source's reliability, if assessed.
fn reliability_tag(s: &SourceView) -> Option<String> {
    s.reliability.as_ref().map(|r| {
        format!(
            "admiralty-scale:source-reliability=\"{}\"",
            r.rating.as_str().to_ascii_lowercase()
        )
    })
}

fn tags(names: impl IntoIterator<Item = String>) -> Value {
    Value::Array(names.into_iter().map(|n| json!({ "name": n })).collect())
}

fn epoch(e: &EventRef) -> String {
    (e.recorded.unix_nanos() / 1_000_000_000).to_string()
}

fn attribute(
    uuid_name: &str,
    relation: Option<&str>,
    kind: &str,
    value: String,
    comment: &str,
    tag_names: Vec<String>,
    e: &EventRef,
) -> Value {
    let mut a = json!({
        "uuid": uuid5(uuid_name).to_string(),
        "type": kind,
        "category": "Other",
        "value": value,
        "to_ids": false,
        "distribution": "5",
        "timestamp": epoch(e),
        "comment": comment,
        "Tag": tags(tag_names),
    });
    if let (Some(r), Some(obj)) = (relation, a.as_object_mut()) {
        obj.insert("object_relation".into(), Value::from(r));
    }
    a
}

fn value_text<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// The `dossier-claim` object of one claim.
fn claim_object(a: &Answered<'_>, c: &ClaimView) -> Value {
    let marking = a.marking_of(&c.event);
    let tlp = || vec![tlp_tag(marking).to_owned()];
    let id = c.id.as_str();
    let key = |rel: &str| format!("misp:{id}|{rel}");
    let e = &c.event;
    let mut attrs = vec![
        attribute(
            &key("dossier-id"),
            Some("dossier-id"),
            "text",
            id.to_owned(),
            "",
            tlp(),
            e,
        ),
        attribute(
            &key("question"),
            Some("question"),
            "text",
            c.question.as_str().to_owned(),
            "",
            tlp(),
            e,
        ),
    ];
    if c.question == a.belief.question.id {
        attrs.push(attribute(
            &key("question-text"),
            Some("question-text"),
            "text",
            a.belief.question.text.clone(),
            "",
            tlp(),
            e,
        ));
    }
    attrs.push(attribute(
        &key("stance"),
        Some("stance"),
        "text",
        c.stance.as_str().to_owned(),
        "",
        tlp(),
        e,
    ));
    if let Some(v) = &c.value {
        attrs.push(attribute(
            &key("value"),
            Some("value"),
            "text",
            value_text(v),
            "",
            tlp(),
            e,
        ));
    }
    if let Some(vt) = &c.valid_time {
        if let Some(f) = &vt.from {
            attrs.push(attribute(
                &key("valid-from"),
                Some("valid-from"),
                "text",
                f.to_string(),
                "",
                tlp(),
                e,
            ));
        }
        if let Some(u) = &vt.until {
            attrs.push(attribute(
                &key("valid-until"),
                Some("valid-until"),
                "text",
                u.to_string(),
                "",
                tlp(),
                e,
            ));
        }
    }
    attrs.push(attribute(
        &key("quote"),
        Some("quote"),
        "text",
        c.quote.text.clone(),
        "",
        tlp(),
        e,
    ));
    attrs.push(attribute(
        &key("quote-start"),
        Some("quote-start"),
        "counter",
        c.quote.start.to_string(),
        "",
        tlp(),
        e,
    ));
    attrs.push(attribute(
        &key("quote-end"),
        Some("quote-end"),
        "counter",
        c.quote.end.to_string(),
        "",
        tlp(),
        e,
    ));
    let mut cred = tlp();
    cred.push(format!(
        "admiralty-scale:information-credibility=\"{}\"",
        c.credibility.grade
    ));
    attrs.push(attribute(
        &key("credibility"),
        Some("credibility"),
        "counter",
        c.credibility.grade.to_string(),
        "",
        cred,
        e,
    ));
    if let Some(l) = &c.likelihood {
        attrs.push(attribute(
            &key("likelihood"),
            Some("likelihood"),
            "text",
            l.wording.clone(),
            "",
            tlp(),
            e,
        ));
        if let Some(b) = l.band {
            attrs.push(attribute(
                &key("likelihood-band"),
                Some("likelihood-band"),
                "text",
                b.as_str().to_owned(),
                "",
                tlp(),
                e,
            ));
        }
    }
    attrs.push(attribute(
        &key("state"),
        Some("state"),
        "text",
        value_text(&c.state),
        "",
        tlp(),
        e,
    ));
    for (rel, s) in
        std::iter::once(("speaker", &c.speaker)).chain(c.via.as_ref().map(|v| ("via", v)))
    {
        let mut t = vec![
            tlp_tag(
                a.marking_over(
                    marking,
                    s.event
                        .iter()
                        .chain(s.reliability.as_ref().map(|r| &r.event)),
                ),
            )
            .to_owned(),
        ];
        t.extend(reliability_tag(s));
        let comment = match &s.reliability {
            Some(r) => format!(
                "{} (reliability {}: {}, seq {})",
                s.id,
                r.rating.as_str(),
                r.assessment,
                r.event.seq
            ),
            None => format!("{} (reliability not assessed)", s.id),
        };
        attrs.push(attribute(
            &key(rel),
            Some(rel),
            "text",
            s.name.clone().unwrap_or_else(|| s.id.as_str().to_owned()),
            &comment,
            t,
            e,
        ));
    }
    attrs.push(attribute(
        &key("ledger-seq"),
        Some("ledger-seq"),
        "counter",
        e.seq.to_string(),
        "",
        tlp(),
        e,
    ));
    attrs.push(attribute(
        &key("record-hash"),
        Some("record-hash"),
        "text",
        e.hash.clone(),
        "BLAKE3 record hash of the claim.recorded event",
        tlp(),
        e,
    ));

    let object_uuid = uuid5(&format!("misp:{id}")).to_string();
    let references: Vec<Value> = c
        .relations
        .iter()
        .filter(|r| r.from == c.id)
        .map(|r| {
            json!({
                "uuid": uuid5(&format!("misp:relation:{}|{}|{}", r.kind, r.from, r.to)).to_string(),
                "object_uuid": object_uuid,
                "referenced_uuid": uuid5(&format!("misp:{}", r.to)).to_string(),
                "relationship_type": r.kind.as_str(),
                "comment": format!("claim.related at seq {} (record hash {})", r.event.seq, r.event.hash),
            })
        })
        .collect();
    let mut obj = json!({
        "name": "dossier-claim",
        "meta-category": "misc",
        "description": "A claim of a dossier ledger",
        "template_uuid": CLAIM_TEMPLATE_UUID,
        "template_version": CLAIM_TEMPLATE_VERSION.to_string(),
        "uuid": object_uuid,
        "distribution": "5",
        "timestamp": epoch(e),
        "comment": format!("{id} ({})", marking),
        "Attribute": attrs,
    });
    if !references.is_empty()
        && let Some(o) = obj.as_object_mut()
    {
        o.insert("ObjectReference".into(), Value::Array(references));
    }
    obj
}

/// The MISP event of one report: its claims (each with the answer it was read in), in the
/// order given. The event's TLP tag is the highest marking of what it holds.
#[must_use]
pub fn event(cut: &Cut, report: &ReportView, claims: &[(Answered<'_>, &ClaimView)]) -> Value {
    let id = report.id.as_str();
    let report_marking = match (&report.event, claims.first()) {
        (Some(e), Some((a, _))) => a.marking_of(e),
        (_, Some((a, c))) => a.marking_of(&c.event),
        _ => Marking::Clear,
    };
    let mut highest = report_marking;
    let mut objects = Vec::new();
    for (a, c) in claims {
        highest = highest.max(a.marking_of(&c.event));
        for s in std::iter::once(&c.speaker).chain(c.via.as_ref()) {
            highest = a.marking_over(
                highest,
                s.event
                    .iter()
                    .chain(s.reliability.as_ref().map(|r| &r.event)),
            );
        }
        objects.push(claim_object(a, c));
    }
    let recorded = report
        .event
        .as_ref()
        .or_else(|| claims.first().map(|(_, c)| &c.event));
    let date = report
        .published
        .or(recorded.map(|e| e.recorded))
        .map(|t| t.to_string()[..10].to_owned())
        .unwrap_or_default();
    let mut attributes = Vec::new();
    if let Some(e) = &report.event {
        let tlp = vec![tlp_tag(report_marking).to_owned()];
        attributes.push(attribute(
            &format!("misp:{id}|dossier-id"),
            None,
            "text",
            id.to_owned(),
            "dossier report id",
            tlp.clone(),
            e,
        ));
        attributes.push(attribute(
            &format!("misp:{id}|ledger-seq"),
            None,
            "counter",
            e.seq.to_string(),
            "ledger seq of the report.recorded event",
            tlp.clone(),
            e,
        ));
        attributes.push(attribute(
            &format!("misp:{id}|record-hash"),
            None,
            "text",
            e.hash.clone(),
            "BLAKE3 record hash of the report.recorded event",
            tlp.clone(),
            e,
        ));
        if let Some(p) = &report.publisher {
            attributes.push(attribute(
                &format!("misp:{id}|publisher"),
                None,
                "text",
                p.clone(),
                "publisher",
                tlp.clone(),
                e,
            ));
        }
        if let Some(h) = &report.content_hash {
            attributes.push(attribute(
                &format!("misp:{id}|content-hash"),
                None,
                "text",
                h.clone(),
                "BLAKE3 hash of the report text",
                tlp,
                e,
            ));
        }
    }
    let timestamp = claims
        .iter()
        .map(|(_, c)| &c.event)
        .chain(report.event.as_ref())
        .max_by_key(|e| e.seq)
        .map(epoch)
        .unwrap_or_default();
    json!({ "Event": {
        "uuid": uuid5(&format!("misp:event|{id}")).to_string(),
        "info": report.title.clone().unwrap_or_else(|| id.to_owned()),
        "date": date,
        "timestamp": timestamp,
        "threat_level_id": "4",
        "analysis": "2",
        "distribution": "0",
        "published": false,
        "Orgc": {
            "name": format!("dossier ledger {}", cut.ledger),
            "uuid": uuid5(&format!("ledger:{}", cut.ledger)).to_string(),
        },
        "Tag": tags([tlp_tag(highest).to_owned()]),
        "Attribute": attributes,
        "Object": objects,
    }})
}
