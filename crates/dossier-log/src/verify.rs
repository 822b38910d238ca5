//! Replaying a whole log through the chain verifier, whatever the backend.

use std::sync::mpsc;

use dossier_chain::{Hash, TrustRoot, Verifier, VerifyReport};

use crate::unique::IdPartitions;
use crate::{EventLog, LogError, ReadItem};

/// Records read per page while verifying.
pub const PAGE: usize = 4096;

/// Pages in flight between the reading and the checking thread (bounds memory).
const PAGES_IN_FLIGHT: usize = 2;

/// Reads every record from sequence 1 and verifies it, calling `progress` with the number of
/// records read after each page.
///
/// Three threads share the work: this task reads pages (on SQLite, splitting each batch row's
/// frame), a second hashes their records (BLAKE3 is about a third of the cost), a third parses
/// and checks them in order. Memory stays constant: at most [`PAGES_IN_FLIGHT`] pages wait
/// between two stages. What the backend
/// reports about a damaged framed batch ([`ReadItem::BadFrame`]) is reported as `bad_frame`
/// at its position; a value it stores beside the records that disagrees with them
/// ([`ReadItem::Ids`], [`ReadItem::Derived`]) as `derived_mismatch`. Every event id is checked
/// to occur once (`duplicate_event_id` at each later occurrence) through hash partitions in
/// temporary files, each checked alone at the end, so memory stays flat there too.
///
/// # Errors
/// Only if the backend fails; verification failures are in the report.
pub async fn verify_log<L: EventLog>(
    log: &L,
    trust: TrustRoot,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, LogError> {
    // The uniqueness check's partitions are sized for the ledger's length as it is now.
    // An estimate only (a damaged file may not even say its head): partitions that come out
    // larger than their bound are split again.
    let expected = log.head().await.map_or(0, |h| h.seq);
    let mut partitions = IdPartitions::new(expected)
        .map_err(|e| LogError::Corrupt(format!("temporary files for the event-id check: {e}")))?;
    let (tx, rx) = mpsc::sync_channel::<Vec<ReadItem>>(PAGES_IN_FLIGHT);
    let (hashed_tx, hashed_rx) = mpsc::sync_channel::<(Vec<ReadItem>, Vec<Hash>)>(PAGES_IN_FLIGHT);
    // Three stages on their own threads: reading (this task), hashing, checking in order.
    let hasher = std::thread::spawn(move || {
        for page in rx {
            let hashes: Vec<Hash> = page
                .iter()
                .filter_map(|i| match i {
                    ReadItem::Record(r) => Some(Hash::of_record(&r.bytes)),
                    _ => None,
                })
                .collect();
            if hashed_tx.send((page, hashes)).is_err() {
                break;
            }
        }
    });
    let checker = std::thread::spawn(move || -> std::io::Result<VerifyReport> {
        let mut v = Verifier::new(trust).collecting_ids();
        // The ids column of the batch being read: (first position, 16 bytes per record).
        let mut claimed: (u64, Vec<u8>) = (0, Vec::new());
        // Derived values found wrong, held until the record they were derived from has been
        // checked: a changed record is reported as such first, the value beside it after.
        let mut derived: Vec<(u64, String)> = Vec::new();
        for (page, hashes) in hashed_rx {
            let mut hashes = hashes.into_iter();
            for item in page {
                match item {
                    ReadItem::Record(r) => {
                        let h = hashes.next().unwrap_or_else(|| Hash::of_record(&r.bytes));
                        v.push_hashed(&r, h);
                        for (position, detail) in derived.extract_if(.., |(p, _)| *p <= r.position)
                        {
                            v.derived_mismatch(position, detail);
                        }
                        for (id, position) in v.take_ids() {
                            check_claimed(&mut v, &claimed, id, position);
                            partitions.push(id, position)?;
                        }
                    }
                    ReadItem::BadFrame {
                        position,
                        resume_at,
                        detail,
                    } => v.bad_frame(position, resume_at, detail),
                    ReadItem::Ids { first, ids } => claimed = (first, ids),
                    ReadItem::Derived { position, detail } => derived.push((position, detail)),
                }
            }
        }
        for (position, detail) in derived {
            v.derived_mismatch(position, detail);
        }
        let mut report = v.finish();
        let (duplicates, more) = partitions.finish()?;
        report.add_failures(duplicates);
        report.more_failures += more;
        Ok(report)
    });
    let mut from = 1;
    let mut read = 0u64;
    let mut result = Ok(());
    loop {
        let page = match log.read_checked(from, PAGE).await {
            Ok(p) => p,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        if !page
            .iter()
            .any(|i| matches!(i, ReadItem::Record(_) | ReadItem::BadFrame { .. }))
        {
            // Nothing at or after `from`: the end of the log.
            break;
        }
        // Always forward: past the last position read, and past a lost blob's rest.
        from = page
            .iter()
            .map(|item| match item {
                ReadItem::BadFrame {
                    resume_at: Some(next),
                    position,
                    ..
                } => (*next).max(position + 1),
                other => other.position() + 1,
            })
            .max()
            .unwrap_or(from)
            .max(from + 1);
        read += page
            .iter()
            .filter(|i| matches!(i, ReadItem::Record(_)))
            .count() as u64;
        if tx.send(page).is_err() {
            break;
        }
        progress(read);
    }
    drop(tx);
    let _ = hasher.join();
    let report = checker
        .join()
        .map_err(|_| LogError::Corrupt("the verification thread panicked".into()))?
        .map_err(|e| LogError::Corrupt(format!("temporary files for the event-id check: {e}")))?;
    result.map(|()| report)
}

/// Compares the id of the record at `position` with the one its batch's ids column stores.
fn check_claimed(v: &mut Verifier, claimed: &(u64, Vec<u8>), id: u128, position: u64) {
    let (first, ids) = claimed;
    let Some(i) = position
        .checked_sub(*first)
        .and_then(|i| usize::try_from(i).ok())
    else {
        return;
    };
    let Some(stored) = ids.get(i * 16..i * 16 + 16) else {
        // A column of the wrong size was reported when it was read.
        return;
    };
    let stored = u128::from_be_bytes(stored.try_into().unwrap_or([0; 16]));
    if stored != id {
        v.derived_mismatch(
            position,
            format!("the stored event id column says {stored:032x}, the record's id is {id:032x}"),
        );
    }
}
