//! Replaying a whole log through the chain verifier, whatever the backend.

use std::sync::mpsc;

use dossier_chain::{Hash, TrustRoot, Verifier, VerifyReport};

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
/// at its position.
///
/// # Errors
/// Only if the backend fails; verification failures are in the report.
pub async fn verify_log<L: EventLog>(
    log: &L,
    trust: TrustRoot,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, LogError> {
    let (tx, rx) = mpsc::sync_channel::<Vec<ReadItem>>(PAGES_IN_FLIGHT);
    let (hashed_tx, hashed_rx) = mpsc::sync_channel::<(Vec<ReadItem>, Vec<Hash>)>(PAGES_IN_FLIGHT);
    // Three stages on their own threads: reading (this task), hashing, checking in order.
    let hasher = std::thread::spawn(move || {
        for page in rx {
            let hashes: Vec<Hash> = page
                .iter()
                .filter_map(|i| match i {
                    ReadItem::Record(r) => Some(Hash::of_record(&r.bytes)),
                    ReadItem::BadFrame { .. } => None,
                })
                .collect();
            if hashed_tx.send((page, hashes)).is_err() {
                break;
            }
        }
    });
    let checker = std::thread::spawn(move || {
        let mut v = Verifier::new(trust);
        for (page, hashes) in hashed_rx {
            let mut hashes = hashes.into_iter();
            for item in page {
                match item {
                    ReadItem::Record(r) => {
                        let h = hashes.next().unwrap_or_else(|| Hash::of_record(&r.bytes));
                        v.push_hashed(&r, h);
                    }
                    ReadItem::BadFrame {
                        position,
                        resume_at,
                        detail,
                    } => v.bad_frame(position, resume_at, detail),
                }
            }
        }
        v.finish()
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
        let Some(last) = page.last() else { break };
        // Always forward: past the last position read, and past a lost blob's rest.
        from = match last {
            ReadItem::BadFrame {
                resume_at: Some(next),
                position,
                ..
            } => (*next).max(position + 1),
            other => other.position() + 1,
        };
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
        .map_err(|_| LogError::Corrupt("the verification thread panicked".into()))?;
    result.map(|()| report)
}
