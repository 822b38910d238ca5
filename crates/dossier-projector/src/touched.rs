//! Which questions' stored views an event can change, so that a page writes only those
//! instead of comparing every belief.
//!
//! A belief's view shows the claims of its question and the claims related to them
//! (corroborating or disputing claims on other questions), each with its report, speaker and
//! relaying outlet (and their reliability), its relations and its resolution. So an event can
//! change the view of:
//!
//! - its own question (`question.posed`, `claim.recorded`, `assessment.recorded`);
//! - every question whose view shows a claim it touches: the claims of a relation, of a
//!   re-rated or registered source, of a report, of a resolution. A claim is shown in its own
//!   question's view and in the views of the questions of claims related to it; two hops are
//!   followed (a claim disputing a corroborating claim).
//!
//! Changes of judgment further away (a `same_primary_source` relation joining sources) are
//! reported by the engine as belief changes, whose questions are added too.

use std::collections::{BTreeSet, HashMap};

use dossier_model::{DomainEvent, EntityId};

/// The relationships between entities the projector needs to find touched questions.
#[derive(Debug, Default)]
pub(crate) struct Index {
    question_of: HashMap<EntityId, EntityId>,
    related: HashMap<EntityId, BTreeSet<EntityId>>,
    by_source: HashMap<EntityId, BTreeSet<EntityId>>,
    by_report: HashMap<EntityId, BTreeSet<EntityId>>,
}

impl Index {
    /// Records what `event` adds and returns the claims (and questions) whose views it touches.
    pub(crate) fn touch(
        &mut self,
        event: &DomainEvent,
    ) -> (BTreeSet<EntityId>, BTreeSet<EntityId>) {
        let mut claims = BTreeSet::new();
        let mut questions = BTreeSet::new();
        match event {
            DomainEvent::Question(q) => {
                questions.insert(q.id.clone());
            }
            DomainEvent::Claim(c) => {
                self.question_of
                    .entry(c.id.clone())
                    .or_insert_with(|| c.question.clone());
                self.by_source
                    .entry(c.speaker.clone())
                    .or_default()
                    .insert(c.id.clone());
                if let Some(via) = &c.via {
                    self.by_source
                        .entry(via.clone())
                        .or_default()
                        .insert(c.id.clone());
                }
                if let Some(r) = &c.report {
                    self.by_report
                        .entry(r.clone())
                        .or_default()
                        .insert(c.id.clone());
                }
                claims.insert(c.id.clone());
            }
            DomainEvent::Relation(r) => {
                self.related
                    .entry(r.from.clone())
                    .or_default()
                    .insert(r.to.clone());
                self.related
                    .entry(r.to.clone())
                    .or_default()
                    .insert(r.from.clone());
                claims.insert(r.from.clone());
                claims.insert(r.to.clone());
                // A report's retraction touches the claims of the report too (shown as `report`).
                if let Some(of_report) = self.by_report.get(&r.from) {
                    claims.extend(of_report.iter().cloned());
                }
            }
            DomainEvent::Source(s) => {
                claims.extend(self.by_source.get(&s.id).into_iter().flatten().cloned());
            }
            DomainEvent::Reliability(a) => {
                claims.extend(self.by_source.get(&a.source).into_iter().flatten().cloned());
            }
            DomainEvent::Report(r) => {
                claims.extend(self.by_report.get(&r.id).into_iter().flatten().cloned());
            }
            DomainEvent::Assessment(a) => {
                questions.insert(a.question.clone());
            }
            DomainEvent::Resolution(r) => {
                claims.insert(r.forecast.clone());
                claims.insert(r.by.clone());
            }
        }
        // Two hops along relations: a claim is shown in the views of related claims' questions.
        let mut frontier: BTreeSet<EntityId> = claims.clone();
        for _ in 0..2 {
            let mut next = BTreeSet::new();
            for c in &frontier {
                for r in self.related.get(c).into_iter().flatten() {
                    if claims.insert(r.clone()) {
                        next.insert(r.clone());
                    }
                }
            }
            frontier = next;
        }
        for c in &claims {
            if let Some(q) = self.question_of.get(c) {
                questions.insert(q.clone());
            }
        }
        (claims, questions)
    }
}
