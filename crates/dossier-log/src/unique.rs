//! The event-id uniqueness check of verification (docs/FORMAT.md §6.3 step 13), in memory that
//! does not grow with the ledger: (event id, position) pairs are spread over temporary files by
//! the id's leading bits (event ids are BLAKE3 output, so the partitions come out even), and
//! each partition is then read, sorted and scanned alone. A partition that came out larger than
//! the bound is split again by the next bits of the id.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use dossier_chain::{Failure, Verifier, duplicate_event_ids};

/// Pairs checked in memory at once (32 bytes each in memory: 2 MiB).
const PARTITION: u64 = 1 << 16;

/// At most this many partition files are open at once.
const MAX_FANOUT: u64 = 256;

/// Bytes per pair on disk: the 16-byte id, then the position (both big-endian).
const PAIR: usize = 24;

/// Writes pairs into partitions and checks each one at the end.
pub(crate) struct IdPartitions {
    files: Vec<BufWriter<File>>,
    counts: Vec<u64>,
    /// Leading id bits that pick the partition.
    bits: u32,
    /// Bits of the id already used by the partitions above this one.
    shift: u32,
}

impl IdPartitions {
    /// Partitions for about `expected` pairs.
    pub(crate) fn new(expected: u64) -> io::Result<IdPartitions> {
        let fanout = expected
            .div_ceil(PARTITION)
            .clamp(1, MAX_FANOUT)
            .next_power_of_two();
        IdPartitions::with_fanout(fanout, 0)
    }

    fn with_fanout(fanout: u64, shift: u32) -> io::Result<IdPartitions> {
        let bits = fanout.trailing_zeros();
        let mut files = Vec::new();
        for _ in 0..fanout {
            files.push(BufWriter::with_capacity(16 * 1024, tempfile::tempfile()?));
        }
        Ok(IdPartitions {
            counts: vec![0; files.len()],
            files,
            bits,
            shift,
        })
    }

    fn partition_of(&self, id: u128) -> usize {
        if self.bits == 0 {
            return 0;
        }
        // Truncation intended: at most 8 bits are left after the shift.
        #[allow(clippy::cast_possible_truncation)]
        {
            ((id << self.shift) >> (128 - self.bits)) as usize
        }
    }

    pub(crate) fn push(&mut self, id: u128, position: u64) -> io::Result<()> {
        let p = self.partition_of(id);
        let mut pair = [0u8; PAIR];
        pair[..16].copy_from_slice(&id.to_be_bytes());
        pair[16..].copy_from_slice(&position.to_be_bytes());
        self.files[p].write_all(&pair)?;
        self.counts[p] += 1;
        Ok(())
    }

    /// Checks every partition: the `duplicate_event_id` failures with the lowest positions (at
    /// most [`Verifier::MAX_FAILURES`]), in position order, and how many more there are.
    pub(crate) fn finish(self) -> io::Result<(Vec<Failure>, u64)> {
        let mut found = Vec::new();
        let mut more = 0;
        self.check_into(&mut found, &mut more)?;
        Ok((found, more))
    }

    fn check_into(self, found: &mut Vec<Failure>, more: &mut u64) -> io::Result<()> {
        let shift = self.shift + self.bits;
        for (file, count) in self.files.into_iter().zip(self.counts) {
            if count == 0 {
                continue;
            }
            let mut file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
            file.seek(SeekFrom::Start(0))?;
            let mut reader = BufReader::with_capacity(64 * 1024, file);
            if count > 2 * PARTITION && shift + 8 <= 128 {
                // Larger than the bound (many more records than expected): split it again.
                let mut sub = IdPartitions::with_fanout(MAX_FANOUT, shift)?;
                for _ in 0..count {
                    let (id, pos) = read_pair(&mut reader)?;
                    sub.push(id, pos)?;
                }
                sub.check_into(found, more)?;
                continue;
            }
            let mut pairs = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
            for _ in 0..count {
                pairs.push(read_pair(&mut reader)?);
            }
            found.extend(duplicate_event_ids(&mut pairs));
            found.sort_by_key(|f| f.seq);
            if found.len() > Verifier::MAX_FAILURES {
                *more += (found.len() - Verifier::MAX_FAILURES) as u64;
                found.truncate(Verifier::MAX_FAILURES);
            }
        }
        Ok(())
    }
}

fn read_pair(r: &mut impl Read) -> io::Result<(u128, u64)> {
    let mut pair = [0u8; PAIR];
    r.read_exact(&mut pair)?;
    let mut id = [0u8; 16];
    id.copy_from_slice(&pair[..16]);
    let mut pos = [0u8; 8];
    pos.copy_from_slice(&pair[16..]);
    Ok((u128::from_be_bytes(id), u64::from_be_bytes(pos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(failures: &[Failure]) -> Vec<u64> {
        failures.iter().map(|f| f.seq).collect()
    }

    #[test]
    fn finds_later_occurrences_across_partitions_and_splits() {
        // Few partitions expected, many more pairs written: the oversized partitions are split
        // again, and every duplicate is still found at its later position.
        let mut p = IdPartitions::new(10).expect("partitions");
        let n = 3 * PARTITION;
        let id_of = |i: u64| u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        for i in 1..=n {
            p.push(id_of(i), i).expect("push");
        }
        p.push(id_of(7), n + 1).expect("push");
        p.push(id_of(n), n + 2).expect("push");
        p.push(id_of(7), n + 3).expect("push");
        let (found, more) = p.finish().expect("finish");
        assert_eq!(positions(&found), vec![n + 1, n + 2, n + 3]);
        assert_eq!(more, 0);
        assert!(
            found[0].detail.contains("position 7"),
            "{}",
            found[0].detail
        );
        assert!(
            found[2].detail.contains("position 7"),
            "{}",
            found[2].detail
        );
    }

    #[test]
    fn no_failures_for_distinct_ids() {
        let mut p = IdPartitions::new(1000).expect("partitions");
        for i in 1..=1000u64 {
            p.push(u128::from(i) << 100 | u128::from(i), i)
                .expect("push");
        }
        assert_eq!(p.finish().expect("finish").0, vec![]);
    }
}
