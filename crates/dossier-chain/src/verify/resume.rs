//! Verification that continues past records held elsewhere: the key context of a range export
//! (docs/FORMAT.md §7.4), whose batches are each proven in a signed checkpoint's tree.

use super::Verifier;
use crate::Hash;

impl Verifier {
    /// Continues verification at storage position `position`, the records from the one expected
    /// next up to `position - 1` being absent here but proven elsewhere (an export of a range
    /// carries only the batches its seals depend on, each with an inclusion proof,
    /// docs/FORMAT.md §7.4): the next record must be at `position`, carry that seq and link to
    /// `prev`. No gap is reported. The keys, key roles, ledger id and last recorded time stay as
    /// the records pushed so far left them (recorded times only grow, so a later record is
    /// still checked against an earlier time); `position - 1` counts as the last sealed record.
    ///
    /// Does nothing unless the genesis was read and `position` lies past the record expected
    /// next: a verifier never skips a record it was given, nor the trust root.
    pub fn resume_at(&mut self, position: u64, prev: Hash) {
        if !self.started || position <= self.expected || self.batch.is_some() {
            return;
        }
        self.expected = position;
        self.next_seq = position;
        self.prev = prev;
        self.last_sealed = position - 1;
        self.link_already_reported = false;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::{Genesis, Signer, StoredRecord, TrustRoot, Verifier};

    fn stored(r: &crate::EncodedRecord) -> StoredRecord {
        StoredRecord {
            position: r.seq,
            stored_hash: None,
            bytes: r.bytes.clone(),
        }
    }

    #[test]
    fn resuming_needs_the_genesis_and_never_goes_back() {
        let founder = Signer::from_secret([1; 32], "founder");
        let records = Genesis::build(
            uuid::Uuid::nil(),
            "demo",
            &founder,
            time::OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        let mut v = Verifier::new(TrustRoot::Pinned(founder.public()));
        v.resume_at(5, crate::Hash([7; 32]));
        assert_eq!(v.head().seq, 0, "no genesis read: nothing to resume from");
        for r in &records {
            v.push(&stored(r));
        }
        v.resume_at(2, crate::Hash([7; 32]));
        assert_eq!(v.head().seq, 2, "a position already read is not resumed at");
        v.resume_at(10, crate::Hash([7; 32]));
        assert_eq!(v.head().seq, 9);
        assert_eq!(v.head().hash, crate::Hash([7; 32]));
        assert_eq!(v.last_sealed(), 9);
        assert!(v.finish().ok(), "resuming reports no gap");
    }
}
