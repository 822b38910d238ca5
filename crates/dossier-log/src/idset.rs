//! Event id → seq in memory, for idempotency without a per-event index write: a sorted run
//! (binary search) plus a small map of the ids added since the run was last rebuilt, 24 bytes
//! per event in the run. Both backends keep their event ids in batch-sized rows (the SQLite
//! ledger's `batches.ids`, the JetStream backend's local index) and load them into an
//! [`IdSet`]; the rows are the durable record, the set is rebuilt from them.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Event ids are BLAKE3 output: their low bits are already uniform, so the map hashes nothing.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u128(&mut self, i: u128) {
        // Truncation intended: the low 64 bits of a uniform hash.
        #[allow(clippy::cast_possible_truncation)]
        {
            self.0 = i as u64;
        }
    }
}

/// Every recorded event id with the seq it was first recorded at.
#[derive(Default)]
pub struct IdSet {
    sorted: Vec<(u128, u64)>,
    recent: HashMap<u128, u64, BuildHasherDefault<IdHasher>>,
}

impl std::fmt::Debug for IdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdSet")
            .field("sorted", &self.sorted.len())
            .field("recent", &self.recent.len())
            .finish()
    }
}

/// An event id as the set keys it.
#[must_use]
pub fn id_key(id: &[u8; 16]) -> u128 {
    u128::from_be_bytes(*id)
}

/// The ids of a batch-sized row: 16 bytes each, in record order (a trailing part of an id is
/// ignored; callers check the length against the row's count first).
pub fn ids_in(blob: &[u8]) -> impl Iterator<Item = u128> + '_ {
    blob.chunks_exact(16)
        .map(|id| u128::from_be_bytes(<[u8; 16]>::try_from(id).unwrap_or([0; 16])))
}

impl IdSet {
    /// The seq `id` was first recorded at, if it was.
    #[must_use]
    pub fn get(&self, id: u128) -> Option<u64> {
        if let Some(seq) = self.recent.get(&id) {
            return Some(*seq);
        }
        self.sorted
            .binary_search_by(|(k, _)| k.cmp(&id))
            .ok()
            .map(|i| self.sorted[i].1)
    }

    /// Records `id` at `seq` (an id already held keeps its first seq).
    pub fn insert(&mut self, id: u128, seq: u64) {
        if self.get(id).is_some() {
            return;
        }
        self.recent.insert(id, seq);
        if self.recent.len() > (self.sorted.len() / 8).max(65_536) {
            self.merge();
        }
    }

    fn merge(&mut self) {
        self.sorted.extend(self.recent.drain());
        self.sorted.sort_unstable();
        self.sorted.dedup_by_key(|(id, _)| *id);
        self.recent.shrink_to(65_536);
    }

    /// Starts a bulk load of about `events` ids into an empty set (exactly the room needed:
    /// growing by doubling would peak at twice the run).
    #[must_use]
    pub fn bulk(events: usize) -> BulkLoad {
        BulkLoad {
            sorted: Vec::with_capacity(events),
        }
    }

    /// How many ids it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    /// Whether it holds none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Ids pushed in any order, sorted once at the end ([`BulkLoad::finish`]).
#[derive(Debug)]
pub struct BulkLoad {
    sorted: Vec<(u128, u64)>,
}

impl BulkLoad {
    /// Adds `id` recorded at `seq`.
    pub fn push(&mut self, id: u128, seq: u64) {
        self.sorted.push((id, seq));
    }

    /// The set: sorted in place (no buffer), by id then seq, so the first seq of an id pushed
    /// twice is kept.
    #[must_use]
    pub fn finish(mut self) -> IdSet {
        self.sorted.sort_unstable();
        self.sorted.dedup_by_key(|(id, _)| *id);
        IdSet {
            sorted: self.sorted,
            recent: HashMap::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_keeps_its_first_seq_through_merges_and_bulk_loads() {
        let mut bulk = IdSet::bulk(4);
        bulk.push(7, 3);
        bulk.push(5, 1);
        bulk.push(7, 2);
        let mut set = bulk.finish();
        assert_eq!(set.get(7), Some(2));
        assert_eq!(set.get(5), Some(1));
        assert_eq!(set.get(6), None);
        for i in 0..70_000u64 {
            set.insert(u128::from(i) << 64 | 1, 10 + i);
        }
        // Past the merge threshold: the run was rebuilt, and nothing moved.
        set.insert(7, 99);
        assert_eq!(set.get(7), Some(2));
        assert_eq!(set.get(u128::from(69_999u64) << 64 | 1), Some(70_009));
        assert_eq!(set.len(), 70_002);
    }
}
