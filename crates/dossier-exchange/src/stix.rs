//! STIX 2.1 bundles of what a reader may see, written one object at a time (docs/STIX.md).
//!
//! [`StixWriter::start`] writes the bundle's opening, the producing identities and the
//! extension definitions; [`StixWriter::question`] writes one question's objects (the claims
//! in scope with their speakers, outlets, reports, relationships and the assessment), each
//! object once however many questions refer to it (the writer keeps the ids it wrote: 16
//! bytes per identity, report and marking, never the objects); [`StixWriter::finish`] closes
//! the bundle. Ids are UUIDv5 of the dossier entity ids ([`crate::ids`]), so a re-export
//! names the same objects the same way.

use std::collections::HashSet;
use std::io::{self, Write};

use dossier_beliefs::{ClaimView, EventRef, RelationView, ReportView, SourceView};
use dossier_model::{
    Confidence, EntityId, Icd203Band, Marking, RelationKind, SourceKind, Timestamp,
};
use serde::Serialize;
use serde_json::Value;

use crate::ids::{stix_id, stix_time, uuid5};
use crate::{Answered, Cut, claims};

/// The version of the mapping in docs/STIX.md (the extension definitions' `version`).
pub const STIX_FORMAT_VERSION: &str = "1.0.0";

/// The TLP 2.0 extension definition published by OASIS.
pub const TLP_2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// The creation time of the TLP 2.0 marking-definition objects, as OASIS published them.
pub const TLP_2_CREATED: &str = "2022-10-01T00:00:00.000Z";

/// The marking-definition id OASIS published for each TLP 2.0 marking.
#[must_use]
pub const fn tlp_marking_id(m: Marking) -> &'static str {
    match m {
        Marking::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Marking::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Marking::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Marking::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Marking::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    }
}

/// The `tlp_2_0` value of a marking in the TLP 2.0 extension.
const fn tlp_2_0(m: Marking) -> &'static str {
    match m {
        Marking::Clear => "clear",
        Marking::Green => "green",
        Marking::Amber => "amber",
        Marking::AmberStrict => "amber+strict",
        Marking::Red => "red",
    }
}

/// The creation time of dossier's own identity and extension definitions (fixed: they are
/// part of the format, not of a ledger).
const FORMAT_CREATED: &str = "2026-12-05T00:00:00.000Z";

/// Dossier's identity, which defines the extensions.
#[must_use]
pub fn dossier_identity() -> String {
    stix_id("identity", "dossier")
}

/// The extension definition of the claim object `x-dossier-claim`.
#[must_use]
pub fn claim_extension() -> String {
    stix_id("extension-definition", "dossier:x-dossier-claim")
}

/// The property extension carrying dossier's properties on standard objects.
#[must_use]
pub fn property_extension() -> String {
    stix_id("extension-definition", "dossier:properties")
}

/// The identity of one ledger, which creates the objects exported from it.
#[must_use]
pub fn ledger_identity(ledger: &str) -> String {
    stix_id("identity", &format!("ledger:{ledger}"))
}

/// The STIX `confidence` (0–100) of an Admiralty information credibility (docs/STIX.md §4):
/// `None` for 6, "truth cannot be judged", which is unknown, not worst.
#[must_use]
pub const fn credibility_confidence(grade: u8) -> Option<u8> {
    match grade {
        1 => Some(90),
        2 => Some(70),
        3 => Some(50),
        4 => Some(30),
        5 => Some(10),
        _ => None,
    }
}

/// The STIX `confidence` of an analytic confidence (the STIX Low/Med/High scale).
#[must_use]
pub const fn analytic_confidence(c: Confidence) -> u8 {
    match c {
        Confidence::Low => 15,
        Confidence::Moderate => 50,
        Confidence::High => 85,
    }
}

/// Which claims of a question an export holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every claim (a whole-ledger or one-question export).
    All,
    /// The claims appearing in one report.
    Report(EntityId),
}

impl Scope {
    fn holds(&self, c: &ClaimView) -> bool {
        match self {
            Scope::All => true,
            Scope::Report(r) => c.report.as_ref().is_some_and(|rep| rep.id == *r),
        }
    }
}

/// What a finished export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Written {
    /// Objects in the bundle.
    pub objects: u64,
    /// Claims among them.
    pub claims: u64,
    /// Questions whose claims were written.
    pub questions: u64,
}

#[derive(Serialize)]
struct Common<'a> {
    #[serde(rename = "type")]
    stix_type: &'a str,
    spec_version: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by_ref: Option<&'a str>,
    created: String,
    modified: String,
}

/// One object: its common properties, its own, its markings and extensions, in that order.
#[derive(Serialize)]
struct Object<'a, P: Serialize> {
    #[serde(flatten)]
    common: Common<'a>,
    #[serde(flatten)]
    props: P,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<u8>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    object_marking_refs: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extensions: Option<Value>,
}

/// Writes one STIX 2.1 bundle, one object at a time (see the module documentation).
#[derive(Debug)]
pub struct StixWriter<W: Write> {
    out: W,
    ledger: String,
    creator: String,
    written: HashSet<uuid::Uuid>,
    stats: Written,
    scope: Scope,
}

/// The map `{ext-id: {"extension_type": ..., props...}}`.
fn extension(id: String, kind: &str, mut props: serde_json::Map<String, Value>) -> Value {
    props.insert("extension_type".to_owned(), Value::String(kind.to_owned()));
    let mut outer = serde_json::Map::new();
    outer.insert(id, Value::Object(props));
    Value::Object(outer)
}

fn event_props(props: &mut serde_json::Map<String, Value>, e: &EventRef) {
    props.insert("ledger_seq".into(), Value::from(e.seq));
    props.insert("record_hash".into(), Value::from(e.hash.clone()));
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl<W: Write> StixWriter<W> {
    /// Opens the bundle of an export cut at `cut` (its id derives from the ledger, the cut,
    /// the clearance and `name`, which says what is exported), writing the identities and the
    /// extension definitions.
    ///
    /// # Errors
    /// Writing fails.
    pub fn start(out: W, cut: &Cut, name: &str, scope: Scope) -> io::Result<Self> {
        let bundle = stix_id(
            "bundle",
            &format!(
                "bundle|{}|{}|{}|{}|{}",
                cut.ledger,
                cut.seq,
                cut.as_of.as_deref().unwrap_or(""),
                cut.clearance,
                name
            ),
        );
        let mut w = StixWriter {
            out,
            ledger: cut.ledger.clone(),
            creator: ledger_identity(&cut.ledger),
            written: HashSet::new(),
            stats: Written::default(),
            scope,
        };
        write!(
            w.out,
            "{{\"type\":\"bundle\",\"id\":\"{bundle}\",\"objects\":["
        )?;
        w.marking(Marking::Clear)?;
        let dossier = dossier_identity();
        w.emit(&Object {
            common: Common {
                stix_type: "identity",
                spec_version: "2.1",
                id: &dossier,
                created_by_ref: None,
                created: FORMAT_CREATED.to_owned(),
                modified: FORMAT_CREATED.to_owned(),
            },
            props: serde_json::json!({
                "name": "dossier",
                "description": "The dossier ledger software, which defines the x-dossier-claim object and dossier's property extension (docs/STIX.md).",
                "identity_class": "system",
            }),
            confidence: None,
            object_marking_refs: vec![tlp_marking_id(Marking::Clear)],
            extensions: None,
        })?;
        let genesis = stix_time(cut.genesis);
        let creator = w.creator.clone();
        w.emit(&Object {
            common: Common {
                stix_type: "identity",
                spec_version: "2.1",
                id: &creator,
                created_by_ref: None,
                created: genesis.clone(),
                modified: genesis,
            },
            props: serde_json::json!({
                "name": format!("dossier ledger {}", cut.ledger),
                "identity_class": "system",
            }),
            confidence: None,
            object_marking_refs: vec![tlp_marking_id(Marking::Clear)],
            extensions: None,
        })?;
        for (id, name, description, kind) in [
            (
                claim_extension(),
                "x-dossier-claim",
                "A claim of a dossier ledger: one statement in one report, attributed to a speaker, on one question, with its stance, value, valid time, quote and character span, Admiralty information credibility, the speaker's likelihood wording and ICD 203 band, its state in the view (active, superseded, retracted), and the ledger seq and record hash of its claim.recorded event (docs/STIX.md §5).",
                "new-sdo",
            ),
            (
                property_extension(),
                "dossier properties",
                "Properties of a dossier ledger on standard objects: the Admiralty reliability of a source as assessed at the export's cut on identities, likelihood and analytic confidence on assessment notes, and the ledger seq and record hash of the event each object comes from (docs/STIX.md §4).",
                "property-extension",
            ),
        ] {
            w.emit(&Object {
                common: Common {
                    stix_type: "extension-definition",
                    spec_version: "2.1",
                    id: &id,
                    created_by_ref: Some(&dossier),
                    created: FORMAT_CREATED.to_owned(),
                    modified: FORMAT_CREATED.to_owned(),
                },
                props: serde_json::json!({
                    "name": name,
                    "description": description,
                    "schema": "https://example.invalid/dossier/docs/STIX.md",
                    "version": STIX_FORMAT_VERSION,
                    "extension_types": [kind],
                }),
                confidence: None,
                object_marking_refs: vec![tlp_marking_id(Marking::Clear)],
                extensions: None,
            })?;
        }
        Ok(w)
    }

    /// Writes one object, after a comma if it is not the first.
    fn emit<P: Serialize>(&mut self, o: &Object<'_, P>) -> io::Result<()> {
        if self.stats.objects > 0 {
            self.out.write_all(b",")?;
        }
        self.out.write_all(b"\n")?;
        serde_json::to_writer(&mut self.out, o).map_err(io::Error::other)?;
        self.stats.objects += 1;
        Ok(())
    }

    /// Writes a data object of the ledger (created by the ledger's identity), marked `mref`,
    /// with `extensions`.
    #[allow(clippy::too_many_arguments)]
    fn data<P: Serialize>(
        &mut self,
        stix_type: &str,
        id: &str,
        (created, modified): (Timestamp, Timestamp),
        props: P,
        confidence: Option<u8>,
        mref: &'static str,
        extensions: Value,
    ) -> io::Result<()> {
        let creator = self.creator.clone();
        self.emit(&Object {
            common: Common {
                stix_type,
                spec_version: "2.1",
                id,
                created_by_ref: Some(&creator),
                created: stix_time(created),
                modified: stix_time(modified),
            },
            props,
            confidence,
            object_marking_refs: vec![mref],
            extensions: Some(extensions),
        })
    }

    /// Whether the object of `key` was written already; marks it written.
    fn first_time(&mut self, key: &str) -> bool {
        self.written.insert(uuid5(key))
    }

    /// Whether the report `id` was written already (a caller gathers its claims once).
    #[must_use]
    pub fn has_report(&self, id: &EntityId) -> bool {
        self.written
            .contains(&uuid5(&format!("stix:{}", id.as_str())))
    }

    /// The TLP 2.0 marking-definition object of `m`, once; returns its id.
    fn marking(&mut self, m: Marking) -> io::Result<&'static str> {
        let id = tlp_marking_id(m);
        if self.first_time(id) {
            let body = serde_json::json!({
                "type": "marking-definition",
                "spec_version": "2.1",
                "id": id,
                "created": TLP_2_CREATED,
                "name": m.as_str(),
                "extensions": {
                    TLP_2_EXTENSION: {
                        "extension_type": "property-extension",
                        "tlp_2_0": tlp_2_0(m),
                    }
                }
            });
            if self.stats.objects > 0 {
                self.out.write_all(b",")?;
            }
            self.out.write_all(b"\n")?;
            serde_json::to_writer(&mut self.out, &body).map_err(io::Error::other)?;
            self.stats.objects += 1;
        }
        Ok(id)
    }

    fn source(&mut self, a: &Answered<'_>, s: &SourceView, floor: Marking) -> io::Result<()> {
        if !self.first_time(&format!("stix:{}", s.id.as_str())) {
            return Ok(());
        }
        let events: Vec<&EventRef> = s
            .event
            .iter()
            .chain(s.reliability.as_ref().map(|r| &r.event))
            .collect();
        let marking = if s.event.is_some() {
            a.marking_over(Marking::Clear, events.iter().copied())
        } else {
            a.marking_over(floor, events.iter().copied())
        };
        let mref = self.marking(marking)?;
        let created = s.event.as_ref().map(|e| e.recorded);
        let modified = events.iter().map(|e| e.recorded).max();
        let (created, modified) = match (created, modified) {
            (Some(c), Some(m)) => (c, m),
            (None, Some(m)) => (m, m),
            _ => (
                a.belief.question.event.recorded,
                a.belief.question.event.recorded,
            ),
        };
        let mut ext = serde_json::Map::new();
        ext.insert("dossier_id".into(), Value::from(s.id.as_str()));
        if let Some(k) = &s.kind {
            ext.insert("source_kind".into(), to_value(k));
        }
        if let Some(r) = &s.reliability {
            ext.insert(
                "admiralty_reliability".into(),
                Value::from(r.rating.as_str()),
            );
            ext.insert("reliability_known".into(), Value::from(r.known));
            ext.insert(
                "reliability_assessment".into(),
                Value::from(r.assessment.as_str()),
            );
            if let Some(scope) = &r.scope {
                ext.insert("reliability_scope".into(), Value::from(scope.clone()));
            }
            ext.insert("reliability_ledger_seq".into(), Value::from(r.event.seq));
            ext.insert(
                "reliability_record_hash".into(),
                Value::from(r.event.hash.clone()),
            );
        }
        if let Some(e) = &s.event {
            event_props(&mut ext, e);
        }
        let identity_class = match s.kind {
            Some(SourceKind::Person) => "individual",
            Some(SourceKind::Organisation | SourceKind::Government | SourceKind::Outlet) => {
                "organization"
            }
            Some(SourceKind::Other) | None => "unknown",
        };
        let id = stix_id("identity", s.id.as_str());
        self.data(
            "identity",
            &id,
            (created, modified),
            serde_json::json!({
                "name": s.name.clone().unwrap_or_else(|| s.id.as_str().to_owned()),
                "identity_class": identity_class,
            }),
            None,
            mref,
            extension(property_extension(), "property-extension", ext),
        )
    }

    /// Writes the report `r` (once) with `claims`, the ids of its claims in the export's scope.
    ///
    /// # Errors
    /// Writing fails.
    pub fn report(
        &mut self,
        a: &Answered<'_>,
        r: &ReportView,
        floor: Marking,
        claims: &[EntityId],
    ) -> io::Result<()> {
        if !self.first_time(&format!("stix:{}", r.id.as_str())) {
            return Ok(());
        }
        let marking = match &r.event {
            Some(e) => a.marking_of(e),
            None => floor,
        };
        let mref = self.marking(marking)?;
        let recorded: Timestamp = r
            .event
            .as_ref()
            .map_or(a.belief.question.event.recorded, |e| e.recorded);
        let mut ext = serde_json::Map::new();
        ext.insert("dossier_id".into(), Value::from(r.id.as_str()));
        if let Some(p) = &r.publisher {
            ext.insert("publisher".into(), Value::from(p.clone()));
        }
        if let Some(h) = &r.content_hash {
            ext.insert("content_hash".into(), Value::from(h.clone()));
        }
        if let Some(e) = &r.event {
            event_props(&mut ext, e);
        }
        let mut refs: Vec<String> = claims
            .iter()
            .map(|c| stix_id("x-dossier-claim", c.as_str()))
            .collect();
        if refs.is_empty() {
            refs.push(self.creator.clone());
        }
        let id = stix_id("report", r.id.as_str());
        self.data(
            "report",
            &id,
            (recorded, recorded),
            serde_json::json!({
                "name": r.title.clone().unwrap_or_else(|| r.id.as_str().to_owned()),
                "published": stix_time(r.published.unwrap_or(recorded)),
                "object_refs": refs,
            }),
            None,
            mref,
            extension(property_extension(), "property-extension", ext),
        )
    }

    fn claim(&mut self, a: &Answered<'_>, c: &ClaimView) -> io::Result<()> {
        let marking = a.marking_of(&c.event);
        let mref = self.marking(marking)?;
        let mut p = serde_json::Map::new();
        p.insert("dossier_id".into(), Value::from(c.id.as_str()));
        p.insert("question".into(), Value::from(c.question.as_str()));
        if c.question == a.belief.question.id {
            p.insert(
                "question_text".into(),
                Value::from(a.belief.question.text.clone()),
            );
        }
        p.insert("stance".into(), Value::from(c.stance.as_str()));
        if let Some(v) = &c.value {
            p.insert("value".into(), to_value(v));
        }
        if let Some(vt) = &c.valid_time {
            if let Some(f) = &vt.from {
                p.insert("valid_from".into(), Value::from(f.to_string()));
            }
            if let Some(u) = &vt.until {
                p.insert("valid_until".into(), Value::from(u.to_string()));
            }
        }
        if let Some(t) = c.uttered {
            p.insert("uttered".into(), Value::from(stix_time(t)));
        }
        p.insert("quote".into(), Value::from(c.quote.text.clone()));
        p.insert("quote_start".into(), Value::from(c.quote.start));
        p.insert("quote_end".into(), Value::from(c.quote.end));
        p.insert("credibility".into(), Value::from(c.credibility.grade));
        if let Some(l) = &c.likelihood {
            p.insert("likelihood".into(), Value::from(l.wording.clone()));
            if let Some(b) = l.band {
                p.insert("likelihood_band".into(), Value::from(b.as_str()));
            }
        }
        p.insert("state".into(), to_value(&c.state));
        p.insert(
            "speaker_ref".into(),
            Value::from(stix_id("identity", c.speaker.id.as_str())),
        );
        if let Some(via) = &c.via {
            p.insert(
                "via_ref".into(),
                Value::from(stix_id("identity", via.id.as_str())),
            );
        }
        if let Some(r) = &c.report {
            p.insert(
                "report_ref".into(),
                Value::from(stix_id("report", r.id.as_str())),
            );
        }
        event_props(&mut p, &c.event);
        let id = stix_id("x-dossier-claim", c.id.as_str());
        self.data(
            "x-dossier-claim",
            &id,
            (c.event.recorded, c.event.recorded),
            Value::Object(p),
            credibility_confidence(c.credibility.grade),
            mref,
            extension(claim_extension(), "new-sdo", serde_json::Map::new()),
        )?;
        self.stats.claims += 1;
        Ok(())
    }

    fn relationship(&mut self, a: &Answered<'_>, r: &RelationView) -> io::Result<()> {
        let key = format!("{}|{}|{}", r.kind, r.from, r.to);
        if !self.first_time(&format!("stix:relation:{key}")) {
            return Ok(());
        }
        let mref = self.marking(a.marking_of(&r.event))?;
        let source = if r.from.kind() == dossier_model::EntityKind::Report {
            stix_id("report", r.from.as_str())
        } else {
            stix_id("x-dossier-claim", r.from.as_str())
        };
        let mut ext = serde_json::Map::new();
        if let Some(i) = &r.independence {
            ext.insert("independence".into(), to_value(i));
        }
        event_props(&mut ext, &r.event);
        let mut props = serde_json::json!({
            "relationship_type": r.kind.as_str(),
            "source_ref": source,
            "target_ref": stix_id("x-dossier-claim", r.to.as_str()),
        });
        if let (Some(note), Some(obj)) = (&r.note, props.as_object_mut()) {
            obj.insert("description".into(), Value::from(note.clone()));
        }
        let id = stix_id("relationship", &format!("relation:{key}"));
        debug_assert!(matches!(
            r.kind,
            RelationKind::Supersedes
                | RelationKind::Disputes
                | RelationKind::Corroborates
                | RelationKind::Retracts
        ));
        self.data(
            "relationship",
            &id,
            (r.event.recorded, r.event.recorded),
            props,
            None,
            mref,
            extension(property_extension(), "property-extension", ext),
        )
    }

    /// Writes one question's objects: the claims in scope, each after its speaker and outlet
    /// (identities) and followed by its relationships; each report of those claims through
    /// `report_claims` (the ids of that report's claims in the export, asked only for a report
    /// not written yet); the assessment as a note.
    ///
    /// # Errors
    /// Writing fails, or `report_claims` does.
    pub fn question(
        &mut self,
        a: &Answered<'_>,
        mut report_claims: impl FnMut(&EntityId) -> io::Result<Vec<EntityId>>,
    ) -> io::Result<()> {
        let mut any = false;
        let in_scope: Vec<&ClaimView> = claims(a.belief).filter(|c| self.scope.holds(c)).collect();
        for c in &in_scope {
            any = true;
            let floor = a.marking_of(&c.event);
            self.source(a, &c.speaker, floor)?;
            if let Some(via) = &c.via {
                self.source(a, via, floor)?;
            }
            self.claim(a, c)?;
            if let Some(r) = &c.report
                && !self.has_report(&r.id)
            {
                let ids = report_claims(&r.id)?;
                self.report(a, r, floor, &ids)?;
            }
        }
        for c in &in_scope {
            for r in &c.relations {
                self.relationship(a, r)?;
            }
        }
        if let Some(asmt) = &a.belief.provenance.assessment
            && self.scope == Scope::All
            && self.first_time(&format!("stix:{}", asmt.id.as_str()))
        {
            let mref = self.marking(a.marking_of(&asmt.event))?;
            let mut refs: Vec<String> = asmt
                .based_on
                .iter()
                .map(|c| stix_id("x-dossier-claim", c.as_str()))
                .collect();
            if refs.is_empty() {
                refs = in_scope
                    .iter()
                    .map(|c| stix_id("x-dossier-claim", c.id.as_str()))
                    .collect();
            }
            if refs.is_empty() {
                refs.push(self.creator.clone());
            }
            let mut ext = serde_json::Map::new();
            ext.insert("dossier_id".into(), Value::from(asmt.id.as_str()));
            ext.insert(
                "question".into(),
                Value::from(a.belief.question.id.as_str()),
            );
            if let Some(v) = &asmt.value {
                ext.insert("value".into(), to_value(v));
            }
            if let Some(l) = asmt.likelihood {
                ext.insert("likelihood_band".into(), Value::from(l.as_str()));
                let (lo, hi) = Icd203Band::percent_range(l);
                ext.insert("likelihood_percent".into(), serde_json::json!([lo, hi]));
            }
            ext.insert(
                "analytic_confidence".into(),
                Value::from(asmt.confidence.as_str()),
            );
            event_props(&mut ext, &asmt.event);
            let id = stix_id("note", asmt.id.as_str());
            self.data(
                "note",
                &id,
                (asmt.event.recorded, asmt.event.recorded),
                serde_json::json!({
                    "abstract": a.belief.question.text,
                    "content": asmt.rationale,
                    "object_refs": refs,
                }),
                Some(analytic_confidence(asmt.confidence)),
                mref,
                extension(property_extension(), "property-extension", ext),
            )?;
        }
        if any {
            self.stats.questions += 1;
        }
        Ok(())
    }

    /// The ledger this bundle exports.
    #[must_use]
    pub fn ledger(&self) -> &str {
        &self.ledger
    }

    /// Closes the bundle; returns the writer and what was written.
    ///
    /// # Errors
    /// Writing fails.
    pub fn finish(mut self) -> io::Result<(W, Written)> {
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()?;
        Ok((self.out, self.stats))
    }
}
