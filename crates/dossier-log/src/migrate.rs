//! Converting a per-record (layout 1) SQLite ledger into the batch layout (layout 2): the copy.
//! Verifying before and after and swapping the files in is the application's (`dossier-app`).

use dossier_chain::{EncodedRecord, MAX_FRAMED_BATCH_BYTES, control, framed_len};

use crate::{AppendError, EventLog, LogError, SqliteLayout, SqliteLog};

/// Records read from the old file at a time.
const PAGE: usize = 4096;

/// A migration's copy failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The source is not a per-record ledger, or the target is not an empty batch-layout one.
    #[error("{0}")]
    WrongLayout(String),
    /// A legacy batch would exceed the framing's budget: it cannot be carried as one row.
    #[error(
        "the batch starting at seq {first} would be {bytes} bytes framed, more than the {limit} a batch may be (dossier-batch/1)"
    )]
    OversizedBatch {
        /// Its first seq.
        first: u64,
        /// Its framed size.
        bytes: usize,
        /// The budget.
        limit: usize,
    },
    /// Records after the last seal: a batch that was never completed cannot be carried.
    #[error("records from seq {first} on are not sealed")]
    Unsealed {
        /// The first unsealed seq.
        first: u64,
    },
    /// Reading the old file failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Writing the new file failed.
    #[error("appending the batch starting at seq {first}")]
    Append {
        /// Its first seq.
        first: u64,
        /// The cause.
        #[source]
        source: AppendError,
    },
}

/// Regroups the records of a per-record ledger, read in seq order, into their sealed batches
/// and appends each batch whole to the new ledger: what every backend's migration copies with.
#[derive(Debug, Default)]
pub struct Regroup {
    batch: Vec<EncodedRecord>,
    copied: u64,
}

impl Regroup {
    /// Nothing copied yet.
    #[must_use]
    pub fn new() -> Regroup {
        Regroup::default()
    }

    /// Takes the next record; at a seal, appends its batch to `new` and calls `progress` with
    /// the records copied so far.
    ///
    /// # Errors
    /// [`MigrateError::OversizedBatch`] for a batch too large to frame (nothing of it is
    /// appended); [`MigrateError::Append`].
    pub async fn push<L: EventLog + ?Sized>(
        &mut self,
        new: &L,
        record: EncodedRecord,
        progress: &mut impl FnMut(u64),
    ) -> Result<(), MigrateError> {
        let seal = record.event_type == control::SEAL;
        self.batch.push(record);
        if !seal {
            return Ok(());
        }
        let first = self.batch[0].seq;
        let bytes = framed_len(self.batch.iter().map(|r| r.bytes.len()));
        if bytes > MAX_FRAMED_BATCH_BYTES {
            return Err(MigrateError::OversizedBatch {
                first,
                bytes,
                limit: MAX_FRAMED_BATCH_BYTES,
            });
        }
        new.append(first - 1, &self.batch, &[])
            .await
            .map_err(|source| MigrateError::Append { first, source })?;
        self.copied += self.batch.len() as u64;
        self.batch.clear();
        progress(self.copied);
        Ok(())
    }

    /// The records copied, once every record was taken.
    ///
    /// # Errors
    /// [`MigrateError::Unsealed`] if records after the last seal were taken.
    pub fn finish(self) -> Result<u64, MigrateError> {
        match self.batch.first() {
            Some(r) => Err(MigrateError::Unsealed { first: r.seq }),
            None => Ok(self.copied),
        }
    }
}

/// Copies every batch and report text of the per-record ledger `old` into the empty
/// batch-layout ledger `new`, a batch (the records up to and including each seal) per row,
/// calling `progress` with the records copied. Returns the records copied.
///
/// # Errors
/// [`MigrateError::OversizedBatch`] at the first batch too large to frame (nothing after it is
/// copied); [`MigrateError::Unsealed`] for records after the last seal; storage failures.
pub async fn copy_per_record(
    old: &SqliteLog,
    new: &SqliteLog,
    mut progress: impl FnMut(u64),
) -> Result<u64, MigrateError> {
    if old.layout() != SqliteLayout::PerRecord {
        return Err(MigrateError::WrongLayout(format!(
            "{} does not have the per-record layout",
            old.path().display()
        )));
    }
    if new.layout() != SqliteLayout::Batches || new.head().await?.seq != 0 {
        return Err(MigrateError::WrongLayout(format!(
            "{} is not an empty ledger of the batch layout",
            new.path().display()
        )));
    }
    let mut regroup = Regroup::new();
    let mut next = 1;
    loop {
        let page = old.legacy_encoded(next, PAGE)?;
        let Some(last) = page.last() else { break };
        next = last.seq + 1;
        for record in page {
            regroup.push(new, record, &mut progress).await?;
        }
    }
    let copied = regroup.finish()?;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = old.content_page(after.as_deref(), 256)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        let texts: Vec<Vec<u8>> = page.into_iter().map(|(_, bytes)| bytes).collect();
        new.put_contents(&texts)?;
    }
    Ok(copied)
}
