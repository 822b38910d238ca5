//! The dossier belief engine: a pure, deterministic fold from recorded domain events to
//! current-belief views.
//!
//! A projector feeds every recorded event, in sequence order, to [`Engine::apply`], which
//! returns the [`BeliefChange`]s it caused. [`Engine::belief`] answers one question with full
//! provenance, now or at a valid (world) time; [`Engine::beliefs`] lists all current beliefs;
//! [`Engine::history`] explains every change; [`Engine::digest`] fingerprints the whole view.
//!
//! The rules are specified, numbered and worked through by hand in `docs/BELIEFS.md`, versioned
//! as [`POLICY_VERSION`], which every [`Belief`] carries.
//!
//! `apply` judges only the questions an event can affect, through an incremental current view
//! (interned claims, kept per question in one contiguous list; see `current.rs`), without
//! building provenance: [`Engine::line`] / [`Engine::lines`] give the judgments. Provenance is
//! built on request by the reference computation ([`Engine::belief`]), which stays the
//! specification: [`Engine::stale_views`] compares the two on every question.
//! [`Engine::for_projection`] keeps claims only in the incremental view (for a projector, which
//! builds provenance from stored events with [`Engine::load`]).
//!
//! # Invariants
//!
//! - No I/O, no clock, no randomness, no hash-map iteration: the same events give byte-identical
//!   views and the same digest.
//! - "As of recorded time T" is the fold of the events recorded at or before T; nothing in a
//!   view depends on events after the last one applied (in particular, a source's reliability
//!   is its latest assessment *applied so far*).
//! - Nothing is ever dropped: superseded and retracted claims stay in the provenance.

mod as_json;
mod current;
mod digest;
mod engine;
pub mod view;
pub mod words;

pub use digest::{DIGEST_VERSION, LineHash, LineSum};
pub use engine::{Engine, line_hash};
pub use view::{
    AssessmentView, Belief, BeliefChange, BeliefLine, BeliefSummary, BeliefValue, ClaimState,
    ClaimView, CredibilityView, EventRef, Flag, InterestView, Provenance, QuestionRef,
    QuestionView, RelationView, ReliabilityView, ReportView, ResolutionView, SourceView, Status,
    Summary,
};

use dossier_model::{DomainEvent, Timestamp};

/// The version of the belief rules in `docs/BELIEFS.md`; part of every view and of the digest.
///
/// Any change that can alter a view (a rule, a ranking key, a field of the view) must bump it.
pub const POLICY_VERSION: &str = "dossier-beliefs/3";

/// One recorded event as the ledger delivers it: position, record hash, recorded time and the
/// decoded domain event.
#[derive(Clone, Copy, Debug)]
pub struct Recorded<'a> {
    /// Sequence number of the record.
    pub seq: u64,
    /// Hex record hash of the record.
    pub hash: &'a str,
    /// When the ledger recorded it (transaction time).
    pub recorded: Timestamp,
    /// The domain event.
    pub event: &'a DomainEvent,
}
