//! [`Announce`]: where the auditor also publishes its checkpoints and alarms, besides
//! `auditor.db` (which stays the source of truth).

use std::future::Future;
use std::pin::Pin;

use crate::{Alarm, StoredCheckpoint};

/// Why an announcement failed (it is logged and retried; the auditor goes on).
pub type AnnounceError = Box<dyn std::error::Error + Send + Sync>;

/// A sink for the auditor's checkpoints and alarms (for example the ledger's JetStream server).
///
/// The auditor calls it after a checkpoint is stored in `auditor.db`, or an alarm recorded
/// there, from its next await point. A failed announcement is logged and retried at the next
/// one (a bounded number are kept); it never stops the auditor.
pub trait Announce: Send + Sync {
    /// Publishes a checkpoint the auditor signed and stored.
    fn checkpoint(
        &self,
        checkpoint: &StoredCheckpoint,
    ) -> impl Future<Output = Result<(), AnnounceError>> + Send;
    /// Publishes an alarm the auditor raised and recorded.
    fn alarm(&self, alarm: &Alarm) -> impl Future<Output = Result<(), AnnounceError>> + Send;
}

/// Announces nothing (the default, and what a SQLite ledger uses).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAnnounce;

impl Announce for NoAnnounce {
    async fn checkpoint(&self, _: &StoredCheckpoint) -> Result<(), AnnounceError> {
        Ok(())
    }
    async fn alarm(&self, _: &Alarm) -> Result<(), AnnounceError> {
        Ok(())
    }
}

/// Something to announce.
#[derive(Clone, Debug)]
pub(crate) enum Announcement {
    Checkpoint(StoredCheckpoint),
    Alarm(Alarm),
}

type BoxFuture<'s> = Pin<Box<dyn Future<Output = Result<(), AnnounceError>> + Send + 's>>;

/// [`Announce`] behind a pointer.
pub(crate) trait DynAnnounce: Send + Sync {
    fn announce<'s>(&'s self, what: &'s Announcement) -> BoxFuture<'s>;
}

impl<T: Announce> DynAnnounce for T {
    fn announce<'s>(&'s self, what: &'s Announcement) -> BoxFuture<'s> {
        match what {
            Announcement::Checkpoint(c) => Box::pin(self.checkpoint(c)),
            Announcement::Alarm(a) => Box::pin(self.alarm(a)),
        }
    }
}
