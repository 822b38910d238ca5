//! Converting a per-record (layout 1) stream into the batch layout (layout 2): the copy, into a
//! new ledger stream. Verifying both and comparing them is the application's (`dossier-app`);
//! the old stream is only read.

use dossier_chain::{EncodedRecord, EventId, Hash, RecordView, StoredRecord};
use dossier_log::migrate::{MigrateError, Regroup};
use dossier_log::{EventLog as _, LogError};

use crate::{JetStreamLog, Layout};

/// Records read from the old stream at a time.
const PAGE: usize = 4096;

fn encoded(r: &StoredRecord) -> Result<EncodedRecord, LogError> {
    let v = RecordView::parse(&r.bytes)
        .map_err(|e| LogError::Corrupt(format!("seq {}: {e}", r.position)))?;
    Ok(EncodedRecord {
        seq: v.seq,
        hash: Hash::of_record(&r.bytes),
        event_id: EventId::from_hex(v.id)
            .map_err(|_| LogError::Corrupt(format!("seq {}: bad event id", r.position)))?,
        event_type: v.event_type.to_owned(),
        recorded: v.recorded.to_owned(),
        bytes: r.bytes.clone(),
    })
}

/// Copies every batch and report text of the per-record stream `old` into the empty
/// batch-layout ledger `new`, one message per batch (the records up to and including each
/// seal), calling `progress` with the records copied. Returns the records copied.
///
/// # Errors
/// [`MigrateError::OversizedBatch`] at the first batch too large to frame (nothing after it is
/// copied); [`MigrateError::Unsealed`] for records after the last seal; reading or writing
/// failures.
pub async fn copy_per_record(
    old: &JetStreamLog,
    new: &JetStreamLog,
    mut progress: impl FnMut(u64),
) -> Result<u64, MigrateError> {
    if old.layout() != Layout::PerRecord {
        return Err(MigrateError::WrongLayout(format!(
            "stream {} does not have the per-record layout",
            old.stream_name()
        )));
    }
    if new.layout() != Layout::Batches || new.head().await?.seq != 0 {
        return Err(MigrateError::WrongLayout(format!(
            "stream {} is not an empty ledger of the batch layout",
            new.stream_name()
        )));
    }
    let mut regroup = Regroup::new();
    let mut next = 1;
    loop {
        let page = old.read(next, PAGE).await?;
        let Some(last) = page.last() else { break };
        next = last.position + 1;
        for stored in &page {
            regroup.push(new, encoded(stored)?, &mut progress).await?;
        }
    }
    let copied = regroup.finish()?;
    new.copy_texts_from(old).await?;
    Ok(copied)
}

/// Removes what opening the ledger of `cfg` with `create` made: its ledger stream, texts
/// stream and checkpoint stream, where they exist, and its local index. For undoing a
/// migration that failed after it created its target (a stream that denies deletes and purges
/// can only be removed whole, and only by a user allowed to delete streams: the admin that
/// migrates). Returns the streams removed.
///
/// # Errors
/// If the server cannot be reached or refuses a removal.
pub async fn remove_ledger(
    cfg: &crate::JetStreamConfig,
) -> Result<Vec<String>, crate::JetStreamError> {
    let js = async_nats::jetstream::new(crate::log::connect(cfg).await?);
    let mut removed = Vec::new();
    for name in [cfg.stream(), cfg.texts_stream(), cfg.checkpoint_stream()] {
        match js.delete_stream(&name).await {
            Ok(_) => removed.push(name),
            Err(e) if crate::log::is_not_found(&e) => {}
            Err(e) => {
                return Err(crate::JetStreamError::Api(format!(
                    "removing stream {name}: {e}"
                )));
            }
        }
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut path = cfg.index_path.as_os_str().to_owned();
        path.push(suffix);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(crate::JetStreamError::Api(format!(
                    "removing the local index {}: {e}",
                    std::path::Path::new(&path).display()
                )));
            }
        }
    }
    Ok(removed)
}
