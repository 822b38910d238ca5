//! Replaying a whole log through the chain verifier, whatever the backend.

use std::sync::mpsc;

use dossier_chain::{Hash, TrustRoot, Verifier, VerifyReport};

use crate::unique::IdPartitions;
use crate::{EventLog, LogError, ReadItem};

/// Records read per page while verifying.
pub const PAGE: usize = 1024;

/// Pages waiting at each hand-over between two stages (bounds memory).
const PAGES_IN_FLIGHT: usize = 1;

/// Threads hashing pages side by side (the machine's two cores; pages are independent until
/// the chain check, which takes them back in order).
const HASHERS: usize = 2;

/// Reads every record from sequence 1 and verifies it, calling `progress` with the number of
/// records read after each page.
///
/// The work runs in stages on their own threads: this task reads pages (on SQLite, splitting
/// each batch row's frame), [`HASHERS`] threads hash the records of alternate pages (BLAKE3
/// is about a third of the cost, and pages are independent until the chain check), and one
/// thread takes the hashed pages back in order, parses and checks them. Memory stays
/// constant: at most [`PAGES_IN_FLIGHT`] pages wait at each hand-over. What the backend
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
    // Page k goes to hasher k % HASHERS and comes back from it; the checker takes the hashers'
    // outputs in turn, so pages are checked in the order they were read.
    let mut to_hashers = Vec::with_capacity(HASHERS);
    let mut from_hashers = Vec::with_capacity(HASHERS);
    let mut hashers = Vec::with_capacity(HASHERS);
    for _ in 0..HASHERS {
        let (tx, rx) = mpsc::sync_channel::<Vec<ReadItem>>(PAGES_IN_FLIGHT);
        let (hashed_tx, hashed_rx) =
            mpsc::sync_channel::<(Vec<ReadItem>, Vec<Hash>)>(PAGES_IN_FLIGHT);
        to_hashers.push(tx);
        from_hashers.push(hashed_rx);
        hashers.push(std::thread::spawn(move || {
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
        }));
    }
    let checker = std::thread::spawn(move || -> std::io::Result<VerifyReport> {
        let mut v = Verifier::new(trust).collecting_ids();
        // The ids column of the batch being read: (first position, 16 bytes per record).
        let mut claimed: (u64, Vec<u8>) = (0, Vec::new());
        // Derived values found wrong, held until the record they were derived from has been
        // checked: a changed record is reported as such first, the value beside it after.
        let mut derived: Vec<(u64, String)> = Vec::new();
        let mut ids = Vec::new();
        // A hasher that ends (its channel closed) ends the sequence: the pages after it were
        // never read.
        let pages = from_hashers.iter().cycle().map_while(|rx| rx.recv().ok());
        for (page, hashes) in pages {
            let mut hashes = hashes.into_iter();
            for item in page {
                match item {
                    ReadItem::Record(r) => {
                        let h = hashes.next().unwrap_or_else(|| Hash::of_record(&r.bytes));
                        v.push_hashed(&r, h);
                        if !derived.is_empty() {
                            for (position, detail) in
                                derived.extract_if(.., |(p, _)| *p <= r.position)
                            {
                                v.derived_mismatch(position, detail);
                            }
                        }
                        v.take_ids_into(&mut ids);
                        for (id, position) in ids.drain(..) {
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
    let mut pages_sent = 0usize;
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
        if to_hashers[pages_sent % HASHERS].send(page).is_err() {
            break;
        }
        pages_sent += 1;
        progress(read);
    }
    drop(to_hashers);
    for hasher in hashers {
        let _ = hasher.join();
    }
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
