//! Reference keys: how the store finds, for a question, every stored event its belief depends
//! on, without a row per (question, event) pair for everything a source or report touches.
//!
//! Every stored domain event is filed under a few 64-bit keys (table `refs (key, seq)`), each
//! the first 8 bytes of BLAKE3 over a domain byte and an entity id:
//!
//! | key | events filed under it |
//! |-----|-----------------------|
//! | `view(q)` | question `q` posed; claims on `q`; relations touching a claim on `q`; assessments of `q`; resolutions of forecasts on `q`; designations of interested parties to `q` |
//! | `entity(x)` | `x` itself (question, report, claim); relations touching claim `x`; the resolution of forecast `x` |
//! | `source(s)` | source `s` registered; its reliability assessments; its designations as an interested party |
//!
//! A belief with provenance as of seq `S` is then gathered from `view(q)`, `entity(c)` for every
//! claim reached through relations (transitively), `entity(question)` of foreign claims,
//! `source(s)` of every speaker and outlet and `entity(r)` of every report — all filtered to
//! `seq <= S` — and folded by the engine (see [`crate::ViewStore::belief_view`]). A key collision
//! (two ids with equal 64-bit keys) only adds events, which the fold ignores when they concern
//! other entities.

use dossier_model::{DomainEvent, EntityId, EntityKind};

const VIEW: u8 = b'v';
const ENTITY: u8 = b'e';
const SOURCE: u8 = b's';

fn key(domain: u8, id: &EntityId) -> i64 {
    let mut h = blake3::Hasher::new();
    h.update(&[domain]);
    h.update(id.as_str().as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.finalize().as_bytes()[..8]);
    i64::from_le_bytes(b)
}

/// The key of the events in question `q`'s view.
pub(crate) fn view(q: &EntityId) -> i64 {
    key(VIEW, q)
}

/// The key of entity `x` and of what points at it.
pub(crate) fn entity(x: &EntityId) -> i64 {
    key(ENTITY, x)
}

/// The key of source `s`'s registration, assessments and designations.
pub(crate) fn source(s: &EntityId) -> i64 {
    key(SOURCE, s)
}

/// The keys to file `event` under; `question_of` gives the question of a recorded claim.
pub(crate) fn keys<'a>(
    event: &DomainEvent,
    question_of: impl Fn(&EntityId) -> Option<&'a EntityId>,
) -> Vec<i64> {
    let mut out = Vec::with_capacity(4);
    let claim_end = |out: &mut Vec<i64>, id: &EntityId| {
        out.push(entity(id));
        if id.kind() == EntityKind::Claim
            && let Some(q) = question_of(id)
        {
            out.push(view(q));
        }
    };
    match event {
        DomainEvent::Question(q) => {
            out.push(view(&q.id));
            out.push(entity(&q.id));
        }
        DomainEvent::Source(s) => out.push(source(&s.id)),
        DomainEvent::Reliability(a) => out.push(source(&a.source)),
        DomainEvent::Interest(d) => {
            out.push(view(&d.question));
            out.push(source(&d.source));
        }
        DomainEvent::Report(r) => out.push(entity(&r.id)),
        DomainEvent::Claim(c) => {
            out.push(view(&c.question));
            out.push(entity(&c.id));
        }
        DomainEvent::Relation(r) => {
            claim_end(&mut out, &r.from);
            claim_end(&mut out, &r.to);
        }
        DomainEvent::Assessment(a) => out.push(view(&a.question)),
        DomainEvent::Resolution(r) => claim_end(&mut out, &r.forecast),
    }
    out.sort_unstable();
    out.dedup();
    out
}
