//! The ledger's storage: the embedded SQLite file, or a NATS JetStream stream.

use std::time::Duration;

use dossier_chain::{EncodedRecord, EventId, Hash, Head, StoredRecord};
use dossier_jetstream::JetStreamLog;
use dossier_log::{
    AppendError, AppendReceipt, EventLog, IndexEntry, LogError, ReadItem, SqliteLog,
};

use crate::error::{AppError, AppResult};

/// Either backend, behind one [`EventLog`].
#[derive(Debug)]
pub enum Backend {
    /// `ledger.db` in the data directory.
    Sqlite(SqliteLog),
    /// A JetStream stream (`--nats` / `NATS_URL`).
    JetStream(Box<JetStreamLog>),
}

macro_rules! each {
    ($self:ident, $log:ident => $body:expr) => {
        match $self {
            Backend::Sqlite($log) => $body,
            Backend::JetStream($log) => $body,
        }
    };
}

impl Backend {
    /// Prepares the backend for a reader that folds the whole ledger (the projector): the
    /// SQLite file is read through a memory map ([`SqliteLog::map_reads`]); nothing changes on
    /// JetStream.
    ///
    /// # Errors
    /// If SQLite refuses the setting.
    pub fn for_folding(self) -> AppResult<Self> {
        if let Backend::Sqlite(log) = &self {
            log.map_reads()
                .map_err(|e| AppError::log("setting up memory-mapped reads of the ledger", e))?;
        }
        Ok(self)
    }
}

impl EventLog for Backend {
    async fn head(&self) -> Result<Head, LogError> {
        each!(self, log => log.head().await)
    }

    async fn append(
        &self,
        expected: u64,
        records: &[EncodedRecord],
        contents: &[Vec<u8>],
    ) -> Result<AppendReceipt, AppendError> {
        each!(self, log => log.append(expected, records, contents).await)
    }

    async fn read(&self, from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError> {
        each!(self, log => log.read(from, max).await)
    }

    async fn read_checked(&self, from: u64, max: usize) -> Result<Vec<ReadItem>, LogError> {
        each!(self, log => log.read_checked(from, max).await)
    }

    async fn lookup(&self, ids: &[EventId]) -> Result<Vec<Option<IndexEntry>>, LogError> {
        each!(self, log => log.lookup(ids).await)
    }

    async fn content(&self, hash: &Hash) -> Result<Option<Vec<u8>>, LogError> {
        each!(self, log => log.content(hash).await)
    }

    async fn erase_content(&self, hash: &Hash) -> Result<bool, LogError> {
        each!(self, log => log.erase_content(hash).await)
    }

    async fn wait_for(&self, after: u64, timeout: Duration) -> Result<u64, LogError> {
        each!(self, log => log.wait_for(after, timeout).await)
    }

    async fn append_all(
        &self,
        expected: u64,
        batches: &[(Vec<EncodedRecord>, Vec<Vec<u8>>)],
        stored: &mut dossier_log::OnStored<'_>,
    ) -> (Vec<AppendReceipt>, Option<AppendError>) {
        each!(self, log => log.append_all(expected, batches, stored).await)
    }
}
