//! The dossier projector: keeps the belief views of a ledger in a SQLite file (`views.db`),
//! following the ledger as it grows.
//!
//! The belief engine ([`dossier_beliefs::Engine`], a projection engine) is a pure fold held in
//! memory. The projector feeds it every record in sequence order, checks each record's chain
//! link as it goes, and writes to the store:
//!
//! ```text
//! checkpoint       (seq, hash)                          the last applied record and its hash
//! events           (seq, hash, recorded, type, schema, marking rank, body)
//!                                                       every domain event, once, as recorded
//! refs             (key, seq)                           each event under the keys of what it concerns
//! times            recorded → last seq, digest          the cut of each recorded time: as-of times to seqs, and the digest there
//! beliefs          question → line JSON                 the current judgment (no provenance)
//! belief_versions  (question, seq, recorded, line)      a row whenever a question's line changes
//! history          (question, seq, recorded, reason, change JSON)
//! meta             layout, policy, digest (at the checkpoint it was computed at)
//! provenance       (level, question) → the events its current belief is folded from
//! ```
//!
//! Records are applied in pages, one transaction per page, and the checkpoint is written in the
//! same transaction as the page's writes: a crash leaves the store exactly at the end of some
//! page, so no event is ever applied twice or skipped. Records are decoded on one thread,
//! applied on another and written on a third; during a catch-up page *k* is written while page
//! *k+1* is applied. On (re)start the engines are restored from their snapshot
//! (`views.db.engines`, see `snapshot.rs`) when it holds, and the records after it up to the
//! checkpoint are folded without writing anything (all of `1..=checkpoint` without one); then
//! the projector continues from `checkpoint + 1`.
//!
//! "As of recorded time T" lines come from `belief_versions` (for each question, the latest
//! version recorded at or before T). A belief with provenance, now, as of T or at a valid time,
//! is built by gathering the stored events its view depends on through `refs` and folding them
//! into a fresh engine ([`ViewStore::belief_view`]); the log is never read to answer. A serving
//! projector keeps, for every level's current lines, the events so gathered (`provenance`,
//! filled when idle, removed when an event could change them), so that a current belief reads
//! them directly.
//!
//! Entry points: [`run`] (catch up, then follow live until shutdown), [`catch_up`],
//! [`refresh`] (a reader's catch-up, which leaves a store that a running projector serves to
//! it), [`status`], [`rebuild`] (build a fresh store aside, then swap it in with one rename), and
//! [`ViewStore`] for read-only queries.
//!
//! The store uses SQLite's rollback journal (not WAL), so that the file alone is the whole
//! store and a rename swaps it completely; readers open the file per query and see either the
//! old store or the new one. A projector checks, under the store's write lock, that the file and
//! the checkpoint are still the ones it holds before each transaction, and reloads otherwise:
//! a [`rebuild`] or a [`catch_up`] may run next to a running projector.

mod apply;
mod decode;
mod error;
mod follow;
mod levels;
mod materialised;
mod projector;
mod provenance;
mod rebuild;
mod refs;
mod serving;
mod snapshot;
mod store;
mod write;

pub use error::Error;
pub use follow::{
    Progress, RunEvent, at_head, catch_up, check_checkpoint, refresh, run, run_with_progress,
    status,
};
pub use projector::{PAGE, Projector, SNAPSHOT_IDLE, SNAPSHOT_RECORDS};
pub use rebuild::rebuild;
pub use serving::{is_served, serving_path};
pub use snapshot::{Fallback, Restored, snapshot_path};
pub use store::{
    Checkpoint, Cut, LineIndex, Marked, MarkedHistory, STORE_FILE, ViewStore, rebuild_path,
};
