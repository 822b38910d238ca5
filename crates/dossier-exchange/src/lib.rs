//! Exchange formats of dossier's typed answers, for the rest of the intelligence ecosystem:
//!
//! - [`prov`]: one question's belief with its provenance as W3C PROV-JSON (claims as entities,
//!   speakers and outlets as agents, utterances and publications as activities, each sealed
//!   batch as a PROV bundle);
//! - [`stix`]: STIX 2.1 bundles (reports, identities with Admiralty reliability, claims as a
//!   custom object declared by an extension definition, relationships, assessments as notes,
//!   the OASIS TLP 2.0 marking definitions), written one object at a time;
//! - [`misp`]: MISP events, one per report;
//! - [`stix_import`]: the way in: a STIX report (as OpenCTI or a TAXII feed delivers it) as a
//!   draft report bundle for an analyst to complete, never published by itself.
//!
//! Every format is specified in `docs/STIX.md` (STIX and MISP) and `docs/PROV.md` (PROV).
//!
//! The crate is pure: it takes the typed answers of `dossier-query` (a [`Belief`] with the
//! effective marking of each event it holds, read for the reader's clearance) and writes to
//! any [`std::io::Write`]. It decides nothing about visibility: what it is given is what the
//! reader may see, and every object it writes carries the marking of the events it came from.
//! Output is deterministic: the same answers give the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use dossier_beliefs::{Belief, ClaimView, EventRef, SourceView};
use dossier_model::{Marking, Timestamp};

pub mod ids;
pub mod misp;
pub mod prov;
pub mod stix;
pub mod stix_import;

/// The effective marking of each event (by seq) an answer holds, as the views applied it.
pub type Markings = BTreeMap<u64, Marking>;

/// The sealed batch that holds a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRef {
    /// The seq of the batch's first record.
    pub first: u64,
    /// The seq of its seal (its last record).
    pub seal: u64,
    /// The record hash of its seal (hex).
    pub seal_hash: String,
    /// Its recorded time.
    pub recorded: Timestamp,
}

/// Where an export was cut from the ledger and for whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The ledger's id (the genesis entity, a UUID).
    pub ledger: String,
    /// The ledger's recorded time at genesis (the creation time of the ledger's identity).
    pub genesis: Timestamp,
    /// The last record the answers include.
    pub seq: u64,
    /// The recorded time asked for (fixed-width form), if any.
    pub as_of: Option<String>,
    /// The clearance the answers were read for.
    pub clearance: Marking,
}

/// One question's belief as a reader may see it: the belief with its provenance, the marking
/// of its line, and the effective marking of every event it holds.
#[derive(Clone, Copy, Debug)]
pub struct Answered<'a> {
    /// The belief, with its provenance.
    pub belief: &'a Belief,
    /// The marking of the question's line.
    pub marking: Marking,
    /// The effective marking of each event in the belief (see [`event_seqs`]).
    pub markings: &'a Markings,
}

impl Answered<'_> {
    /// The marking of `event`; an event the caller gave no marking for counts as marked like
    /// the question's line.
    #[must_use]
    pub fn marking_of(&self, event: &EventRef) -> Marking {
        self.markings
            .get(&event.seq)
            .copied()
            .unwrap_or(self.marking)
    }

    /// The highest marking of `events`, at least `floor`.
    #[must_use]
    pub fn marking_over<'e>(
        &self,
        floor: Marking,
        events: impl IntoIterator<Item = &'e EventRef>,
    ) -> Marking {
        events
            .into_iter()
            .map(|e| self.marking_of(e))
            .fold(floor, Marking::max)
    }
}

/// Every claim of a belief's provenance, once each: supporting, contradicting, other,
/// superseded, retracted, in that order ([`dossier_beliefs::Provenance::claims`]).
pub fn claims(belief: &Belief) -> impl Iterator<Item = &ClaimView> {
    belief.provenance.claims()
}

/// The seqs of every event a belief holds (the question, claims, their sources, reliability
/// assessments, reports and relations, the assessment and the resolution): the events whose
/// markings and batches an export needs.
#[must_use]
pub fn event_seqs(belief: &Belief) -> BTreeSet<u64> {
    let mut seqs = BTreeSet::new();
    seqs.insert(belief.question.event.seq);
    let source = |s: &SourceView, seqs: &mut BTreeSet<u64>| {
        if let Some(e) = &s.event {
            seqs.insert(e.seq);
        }
        if let Some(r) = &s.reliability {
            seqs.insert(r.event.seq);
        }
        if let Some(i) = &s.interest {
            seqs.insert(i.event.seq);
        }
    };
    for c in claims(belief) {
        seqs.insert(c.event.seq);
        source(&c.speaker, &mut seqs);
        if let Some(via) = &c.via {
            source(via, &mut seqs);
        }
        if let Some(e) = c.report.as_ref().and_then(|r| r.event.as_ref()) {
            seqs.insert(e.seq);
        }
        for r in &c.relations {
            seqs.insert(r.event.seq);
        }
    }
    if let Some(a) = &belief.provenance.assessment {
        seqs.insert(a.event.seq);
    }
    if let Some(r) = &belief.provenance.resolution {
        seqs.insert(r.event.seq);
    }
    seqs
}
