//! One question's belief with its provenance as W3C PROV-JSON (docs/PROV.md).
//!
//! Claims, reports, the question, the assessment and the belief are entities; speakers and
//! outlets are agents; a claim's utterance and a report's publication are activities. A claim
//! quotes its report (`wasDerivedFrom`, `prov:Quotation`), supersedes an earlier claim
//! (`wasDerivedFrom`, `prov:Revision`), is withdrawn by a retraction (`wasInvalidatedBy` the
//! retracting utterance or publication). Every statement an event recorded sits in the PROV
//! bundle of the sealed batch that holds the event (`batch:SEQ`, the seal's seq), and carries
//! the event's seq, record hash, recorded time and marking; the belief itself, derived from
//! its claims, is at the top level.

use std::collections::BTreeMap;

use dossier_beliefs::{ClaimView, EventRef, RelationView, SourceView};
use dossier_model::{EntityId, EntityKind, RelationKind, SourceKind};
use serde::Serialize;

use crate::{Answered, BatchRef, Cut, claims};

/// The version of the mapping in docs/PROV.md, stated in every document (`dossier:format`).
pub const PROV_FORMAT: &str = "dossier-prov/1";

/// A PROV-JSON attribute value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// A string.
    Text(String),
    /// A whole number.
    Int(u64),
    /// A typed literal or qualified name: `{"$": value, "type": datatype}`.
    Typed {
        /// The lexical form.
        #[serde(rename = "$")]
        value: String,
        /// The datatype (`xsd:dateTime`, `prov:QUALIFIED_NAME`, ...).
        #[serde(rename = "type")]
        datatype: String,
    },
}

impl Value {
    fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }

    fn qname(s: &str) -> Value {
        Value::Typed {
            value: s.to_owned(),
            datatype: "prov:QUALIFIED_NAME".to_owned(),
        }
    }

    fn time(t: impl ToString) -> Value {
        Value::Typed {
            value: t.to_string(),
            datatype: "xsd:dateTime".to_owned(),
        }
    }

    fn boolean(b: bool) -> Value {
        Value::Typed {
            value: b.to_string(),
            datatype: "xsd:boolean".to_owned(),
        }
    }
}

/// The attributes of one element or relation, by qualified name.
pub type Attrs = BTreeMap<String, Value>;

/// Declares [`Statements`]: one group of elements or relations per PROV-JSON member, each a
/// map by identifier, left out when empty.
macro_rules! statements {
    ($($(#[doc = $doc:literal])* $field:ident => $name:literal,)*) => {
        /// Elements and relations, by identifier, as PROV-JSON groups them.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct Statements {
            $(
                $(#[doc = $doc])*
                #[serde(rename = $name, skip_serializing_if = "BTreeMap::is_empty")]
                pub $field: BTreeMap<String, Attrs>,
            )*
        }
    };
}

statements! {
    /// Entities.
    entity => "entity",
    /// Agents.
    agent => "agent",
    /// Activities.
    activity => "activity",
    /// Generation.
    was_generated_by => "wasGeneratedBy",
    /// Association.
    was_associated_with => "wasAssociatedWith",
    /// Attribution.
    was_attributed_to => "wasAttributedTo",
    /// Derivation (quotation, revision, and the belief from its evidence).
    was_derived_from => "wasDerivedFrom",
    /// Invalidation (retraction).
    was_invalidated_by => "wasInvalidatedBy",
    /// Influence (disputes, corroboration, forecast resolution).
    was_influenced_by => "wasInfluencedBy",
}

/// A PROV-JSON document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Document {
    /// Namespace prefixes.
    pub prefix: BTreeMap<String, String>,
    /// The top-level statements.
    #[serde(flatten)]
    pub statements: Statements,
    /// One bundle per sealed batch, by its identifier (`batch:SEQ`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub bundle: BTreeMap<String, Statements>,
}

/// The prefixes a document declares: `dossier` for attributes and types, one per kind of id.
fn prefixes() -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    p.insert("dossier".to_owned(), "urn:dossier:".to_owned());
    p.insert(
        "xsd".to_owned(),
        "http://www.w3.org/2001/XMLSchema#".to_owned(),
    );
    let kinds = EntityKind::ALL.iter().map(|k| k.as_str());
    for kind in kinds.chain(["utterance", "publication", "batch", "belief"]) {
        p.insert(kind.to_owned(), format!("urn:dossier:{kind}:"));
    }
    p
}

/// `utterance:NAME` for a claim, `publication:NAME` for a report: the activity that brought it.
fn activity_of(id: &EntityId) -> String {
    match id.kind() {
        EntityKind::Report => format!("publication:{}", id.name()),
        _ => format!("utterance:{}", id.name()),
    }
}

fn text_of<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn relation(pairs: &[(&str, Value)]) -> Attrs {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

struct Builder<'a> {
    answered: &'a Answered<'a>,
    batches: &'a BTreeMap<u64, BatchRef>,
    doc: Document,
    next: usize,
}

impl Builder<'_> {
    /// A fresh identifier for a relation.
    fn rel_id(&mut self) -> String {
        self.next += 1;
        format!("_:r{}", self.next)
    }

    /// The statements of the batch holding `event` (declaring that bundle at the top level),
    /// or the top level when the batch is not known.
    fn place(&mut self, event: Option<&EventRef>) -> &mut Statements {
        let Some(batch) = event.and_then(|e| self.batches.get(&e.seq)) else {
            return &mut self.doc.statements;
        };
        let id = format!("batch:{}", batch.seal);
        self.doc
            .statements
            .entity
            .entry(id.clone())
            .or_insert_with(|| {
                let mut a = Attrs::new();
                a.insert("prov:type".into(), Value::qname("prov:Bundle"));
                a.insert("dossier:firstSeq".into(), Value::Int(batch.first));
                a.insert("dossier:sealSeq".into(), Value::Int(batch.seal));
                a.insert("dossier:sealHash".into(), Value::text(&batch.seal_hash));
                a.insert("dossier:recorded".into(), Value::time(batch.recorded));
                a
            });
        self.doc.bundle.entry(id).or_default()
    }

    /// The attributes every statement an event made carries.
    fn event_attrs(&self, attrs: &mut Attrs, event: &EventRef) {
        attrs.insert("dossier:seq".into(), Value::Int(event.seq));
        attrs.insert("dossier:recordHash".into(), Value::text(&event.hash));
        attrs.insert("dossier:recorded".into(), Value::time(event.recorded));
        attrs.insert(
            "dossier:marking".into(),
            Value::text(self.answered.marking_of(event).as_str()),
        );
    }

    fn source(&mut self, s: &SourceView) {
        let mut a = Attrs::new();
        match s.kind {
            Some(SourceKind::Person) => {
                a.insert("prov:type".into(), Value::qname("prov:Person"));
            }
            Some(SourceKind::Organisation | SourceKind::Government | SourceKind::Outlet) => {
                a.insert("prov:type".into(), Value::qname("prov:Organization"));
            }
            Some(SourceKind::Other) | None => {}
        }
        if let Some(kind) = &s.kind {
            a.insert("dossier:kind".into(), Value::text(text_of(kind)));
        }
        if let Some(name) = &s.name {
            a.insert("prov:label".into(), Value::text(name));
        }
        if let Some(r) = &s.reliability {
            a.insert("dossier:reliability".into(), Value::text(r.rating.as_str()));
            a.insert("dossier:reliabilityKnown".into(), Value::boolean(r.known));
            a.insert(
                "dossier:reliabilityAssessment".into(),
                Value::text(r.assessment.as_str()),
            );
            a.insert("dossier:reliabilitySeq".into(), Value::Int(r.event.seq));
            a.insert(
                "dossier:reliabilityRecordHash".into(),
                Value::text(&r.event.hash),
            );
            if let Some(scope) = &r.scope {
                a.insert("dossier:reliabilityScope".into(), Value::text(scope));
            }
        }
        if let Some(e) = &s.event {
            self.event_attrs(&mut a, e);
        }
        let id = s.id.as_str().to_owned();
        let place = self.place(s.event.as_ref());
        place.agent.entry(id).or_insert(a);
    }

    fn claim(&mut self, c: &ClaimView) {
        let mut a = Attrs::new();
        a.insert("prov:type".into(), Value::qname("dossier:Claim"));
        a.insert("prov:value".into(), Value::text(&c.quote.text));
        a.insert("dossier:question".into(), Value::text(c.question.as_str()));
        a.insert("dossier:state".into(), Value::text(text_of(&c.state)));
        a.insert("dossier:stance".into(), Value::text(c.stance.as_str()));
        if let Some(v) = &c.value {
            a.insert("dossier:value".into(), Value::text(text_of(v)));
        }
        if let Some(vt) = &c.valid_time {
            if let Some(from) = &vt.from {
                a.insert("dossier:validFrom".into(), Value::text(from.to_string()));
            }
            if let Some(until) = &vt.until {
                a.insert("dossier:validUntil".into(), Value::text(until.to_string()));
            }
        }
        a.insert("dossier:quoteStart".into(), Value::Int(c.quote.start));
        a.insert("dossier:quoteEnd".into(), Value::Int(c.quote.end));
        a.insert(
            "dossier:credibility".into(),
            Value::Int(u64::from(c.credibility.grade)),
        );
        if let Some(l) = &c.likelihood {
            a.insert("dossier:likelihood".into(), Value::text(&l.wording));
            if let Some(band) = l.band {
                a.insert("dossier:likelihoodBand".into(), Value::text(band.as_str()));
            }
        }
        self.event_attrs(&mut a, &c.event);

        let claim = c.id.as_str().to_owned();
        let utterance = activity_of(&c.id);
        let mut act = Attrs::new();
        act.insert("prov:type".into(), Value::qname("dossier:Utterance"));
        if let Some(t) = c.uttered {
            act.insert("prov:startTime".into(), Value::time(t));
        }
        let gen_id = self.rel_id();
        let assoc_id = self.rel_id();
        let attr_id = self.rel_id();
        let via_id = c.via.as_ref().map(|_| self.rel_id());
        let quote_id = c.report.as_ref().map(|_| self.rel_id());
        let speaker = c.speaker.id.as_str().to_owned();
        let place = self.place(Some(&c.event));
        place.entity.insert(claim.clone(), a);
        place.activity.insert(utterance.clone(), act);
        place.was_generated_by.insert(
            gen_id,
            relation(&[
                ("prov:entity", Value::text(&claim)),
                ("prov:activity", Value::text(&utterance)),
            ]),
        );
        place.was_associated_with.insert(
            assoc_id,
            relation(&[
                ("prov:activity", Value::text(&utterance)),
                ("prov:agent", Value::text(&speaker)),
                ("prov:role", Value::qname("dossier:speaker")),
            ]),
        );
        place.was_attributed_to.insert(
            attr_id,
            relation(&[
                ("prov:entity", Value::text(&claim)),
                ("prov:agent", Value::text(&speaker)),
            ]),
        );
        if let (Some(id), Some(via)) = (via_id, &c.via) {
            place.was_associated_with.insert(
                id,
                relation(&[
                    ("prov:activity", Value::text(&utterance)),
                    ("prov:agent", Value::text(via.id.as_str())),
                    ("prov:role", Value::qname("dossier:outlet")),
                ]),
            );
        }
        if let (Some(id), Some(report)) = (quote_id, &c.report) {
            place.was_derived_from.insert(
                id,
                relation(&[
                    ("prov:generatedEntity", Value::text(&claim)),
                    ("prov:usedEntity", Value::text(report.id.as_str())),
                    ("prov:type", Value::qname("prov:Quotation")),
                ]),
            );
        }
        self.source(&c.speaker);
        if let Some(via) = &c.via {
            self.source(via);
        }
        if let Some(r) = &c.report {
            let mut e = Attrs::new();
            e.insert("prov:type".into(), Value::qname("dossier:Report"));
            if let Some(t) = &r.title {
                e.insert("prov:label".into(), Value::text(t));
            }
            if let Some(p) = &r.publisher {
                e.insert("dossier:publisher".into(), Value::text(p));
            }
            if let Some(h) = &r.content_hash {
                e.insert("dossier:contentHash".into(), Value::text(h));
            }
            if let Some(ev) = &r.event {
                self.event_attrs(&mut e, ev);
            }
            let mut act = Attrs::new();
            act.insert("prov:type".into(), Value::qname("dossier:Publication"));
            if let Some(t) = r.published {
                act.insert("prov:startTime".into(), Value::time(t));
            }
            let report = r.id.as_str().to_owned();
            let publication = activity_of(&r.id);
            let gen_id = (!self.known_activity(&publication)).then(|| self.rel_id());
            let place = self.place(r.event.as_ref());
            place.entity.entry(report.clone()).or_insert(e);
            place.activity.entry(publication.clone()).or_insert(act);
            if let Some(id) = gen_id {
                place.was_generated_by.insert(
                    id,
                    relation(&[
                        ("prov:entity", Value::text(&report)),
                        ("prov:activity", Value::text(&publication)),
                    ]),
                );
            }
        }
    }

    /// Whether an activity is already described anywhere in the document.
    fn known_activity(&self, id: &str) -> bool {
        self.doc.statements.activity.contains_key(id)
            || self
                .doc
                .bundle
                .values()
                .any(|b| b.activity.contains_key(id))
    }

    fn relation(&mut self, r: &RelationView) {
        let mut a = Attrs::new();
        self.event_attrs(&mut a, &r.event);
        if let Some(note) = &r.note {
            a.insert("prov:label".into(), Value::text(note));
        }
        let id = self.rel_id();
        let from = r.from.as_str().to_owned();
        let to = r.to.as_str().to_owned();
        let retracting = activity_of(&r.from);
        let declare = r.kind == RelationKind::Retracts && !self.known_activity(&retracting);
        let place = self.place(Some(&r.event));
        match r.kind {
            RelationKind::Supersedes => {
                a.insert("prov:generatedEntity".into(), Value::text(from));
                a.insert("prov:usedEntity".into(), Value::text(to));
                a.insert("prov:type".into(), Value::qname("prov:Revision"));
                place.was_derived_from.insert(id, a);
            }
            RelationKind::Retracts => {
                if declare {
                    let mut act = Attrs::new();
                    let kind = if r.from.kind() == EntityKind::Report {
                        "dossier:Publication"
                    } else {
                        "dossier:Utterance"
                    };
                    act.insert("prov:type".into(), Value::qname(kind));
                    place.activity.insert(retracting.clone(), act);
                }
                a.insert("prov:entity".into(), Value::text(to));
                a.insert("prov:activity".into(), Value::text(retracting));
                a.insert("prov:type".into(), Value::qname("dossier:Retraction"));
                place.was_invalidated_by.insert(id, a);
            }
            RelationKind::Disputes | RelationKind::Corroborates => {
                a.insert("prov:influencee".into(), Value::text(from));
                a.insert("prov:influencer".into(), Value::text(to));
                let kind = if r.kind == RelationKind::Disputes {
                    "dossier:Dispute"
                } else {
                    "dossier:Corroboration"
                };
                a.insert("prov:type".into(), Value::qname(kind));
                if let Some(i) = &r.independence {
                    a.insert("dossier:independence".into(), Value::text(text_of(i)));
                }
                place.was_influenced_by.insert(id, a);
            }
        }
    }
}

/// The PROV-JSON document of one question's belief: its provenance for the reader the answer
/// was read for, each event's statements in the bundle of the batch that holds it (`batches`:
/// the batch of each event seq; an event without one is described at the top level).
#[must_use]
pub fn document(answered: &Answered<'_>, cut: &Cut, batches: &BTreeMap<u64, BatchRef>) -> Document {
    let belief = answered.belief;
    let mut b = Builder {
        answered,
        batches,
        doc: Document {
            prefix: prefixes(),
            statements: Statements::default(),
            bundle: BTreeMap::new(),
        },
        next: 0,
    };

    let q = &belief.question;
    let mut qa = Attrs::new();
    qa.insert("prov:type".into(), Value::qname("dossier:Question"));
    qa.insert("prov:label".into(), Value::text(&q.text));
    qa.insert("dossier:questionKind".into(), Value::text(text_of(&q.kind)));
    b.event_attrs(&mut qa, &q.event);
    b.place(Some(&q.event))
        .entity
        .insert(q.id.as_str().to_owned(), qa);

    let mut seen_relations = std::collections::BTreeSet::new();
    for c in claims(belief) {
        b.claim(c);
    }
    for c in claims(belief) {
        for r in &c.relations {
            if seen_relations.insert((r.kind, r.from.as_str(), r.to.as_str())) {
                b.relation(r);
            }
        }
    }

    let belief_id = format!("belief:{}", q.id.name());
    let mut derived: Vec<(String, &str)> = Vec::new();
    let p = &belief.provenance;
    for (role, list) in [
        ("dossier:supporting", &p.supporting),
        ("dossier:contradicting", &p.contradicting),
        ("dossier:other", &p.other),
        ("dossier:superseded", &p.superseded),
        ("dossier:retracted", &p.retracted),
    ] {
        derived.extend(list.iter().map(|c| (c.id.as_str().to_owned(), role)));
    }
    derived.push((q.id.as_str().to_owned(), "dossier:question"));

    if let Some(asmt) = &p.assessment {
        let mut a = Attrs::new();
        a.insert("prov:type".into(), Value::qname("dossier:Assessment"));
        a.insert("prov:label".into(), Value::text(&asmt.rationale));
        if let Some(v) = &asmt.value {
            a.insert("dossier:value".into(), Value::text(text_of(v)));
        }
        if let Some(l) = asmt.likelihood {
            a.insert("dossier:likelihoodBand".into(), Value::text(l.as_str()));
        }
        a.insert(
            "dossier:confidence".into(),
            Value::text(asmt.confidence.as_str()),
        );
        b.event_attrs(&mut a, &asmt.event);
        let ids: Vec<String> = asmt.based_on.iter().map(|_| b.rel_id()).collect();
        let place = b.place(Some(&asmt.event));
        place.entity.insert(asmt.id.as_str().to_owned(), a);
        for (id, claim) in ids.into_iter().zip(&asmt.based_on) {
            place.was_derived_from.insert(
                id,
                relation(&[
                    ("prov:generatedEntity", Value::text(asmt.id.as_str())),
                    ("prov:usedEntity", Value::text(claim.as_str())),
                ]),
            );
        }
        derived.push((asmt.id.as_str().to_owned(), "dossier:judgment"));
    }
    if let Some(res) = &p.resolution {
        let mut a = Attrs::new();
        a.insert("prov:influencee".into(), Value::text(res.forecast.as_str()));
        a.insert("prov:influencer".into(), Value::text(res.by.as_str()));
        a.insert("prov:type".into(), Value::qname("dossier:Resolution"));
        a.insert("dossier:outcome".into(), Value::boolean(res.outcome));
        if let Some(note) = &res.note {
            a.insert("prov:label".into(), Value::text(note));
        }
        b.event_attrs(&mut a, &res.event);
        let id = b.rel_id();
        b.place(Some(&res.event)).was_influenced_by.insert(id, a);
    }

    let mut ba = Attrs::new();
    ba.insert("prov:type".into(), Value::qname("dossier:Belief"));
    ba.insert("dossier:format".into(), Value::text(PROV_FORMAT));
    ba.insert("dossier:question".into(), Value::text(q.id.as_str()));
    if let Some(v) = &belief.value {
        ba.insert("dossier:value".into(), Value::text(text_of(v)));
    }
    ba.insert(
        "dossier:status".into(),
        Value::text(text_of(&belief.status.summary)),
    );
    if let Some(l) = belief.likelihood {
        ba.insert("dossier:likelihoodBand".into(), Value::text(l.as_str()));
    }
    if let Some(c) = belief.confidence {
        ba.insert("dossier:confidence".into(), Value::text(c.as_str()));
    }
    ba.insert("dossier:sources".into(), Value::Int(belief.sources as u64));
    ba.insert("dossier:policy".into(), Value::text(&belief.policy));
    ba.insert("dossier:ledger".into(), Value::text(&cut.ledger));
    ba.insert("dossier:cutSeq".into(), Value::Int(cut.seq));
    if let Some(as_of) = &cut.as_of {
        ba.insert("dossier:asOf".into(), Value::text(as_of));
    }
    if let Some(t) = belief.valid_at {
        ba.insert("dossier:validAt".into(), Value::time(t));
    }
    ba.insert(
        "dossier:clearance".into(),
        Value::text(cut.clearance.as_str()),
    );
    ba.insert(
        "dossier:marking".into(),
        Value::text(answered.marking.as_str()),
    );
    b.doc.statements.entity.insert(belief_id.clone(), ba);
    for (used, role) in derived {
        let id = b.rel_id();
        b.doc.statements.was_derived_from.insert(
            id,
            relation(&[
                ("prov:generatedEntity", Value::text(&belief_id)),
                ("prov:usedEntity", Value::text(used)),
                ("dossier:role", Value::qname(role)),
            ]),
        );
    }
    b.doc
}
