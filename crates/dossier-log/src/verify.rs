//! Replaying a whole log through the chain verifier, whatever the backend.

use std::sync::mpsc;

use dossier_chain::{Hash, StoredRecord, TrustRoot, Verifier, VerifyReport};

use crate::{EventLog, LogError};

/// Records read per page while verifying.
pub const PAGE: usize = 4096;

/// Pages in flight between the reading and the checking thread (bounds memory).
const PAGES_IN_FLIGHT: usize = 2;

/// Reads every record from sequence 1 and verifies it, calling `progress` with the number of
/// records read after each page.
///
/// Two threads share the work: this task reads pages and hashes their records (BLAKE3 is
/// about a third of the cost), a blocking thread parses and checks them in order. Memory
/// stays constant: at most [`PAGES_IN_FLIGHT`] pages are held at once.
///
/// # Errors
/// Only if the backend fails; verification failures are in the report.
pub async fn verify_log<L: EventLog>(
    log: &L,
    trust: TrustRoot,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, LogError> {
    let (tx, rx) = mpsc::sync_channel::<(Vec<StoredRecord>, Vec<Hash>)>(PAGES_IN_FLIGHT);
    let checker = std::thread::spawn(move || {
        let mut v = Verifier::new(trust);
        for (page, hashes) in rx {
            for (r, h) in page.iter().zip(hashes) {
                v.push_hashed(r, h);
            }
        }
        v.finish()
    });
    let mut from = 1;
    let mut read = 0u64;
    let mut result = Ok(());
    loop {
        let page = match log.read(from, PAGE).await {
            Ok(p) => p,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let Some(last) = page.last() else { break };
        from = last.position + 1;
        read += page.len() as u64;
        let hashes = page.iter().map(|r| Hash::of_record(&r.bytes)).collect();
        if tx.send((page, hashes)).is_err() {
            break;
        }
        progress(read);
    }
    drop(tx);
    let report = checker
        .join()
        .map_err(|_| LogError::Corrupt("the verification thread panicked".into()))?;
    result.map(|()| report)
}
