//! The views digest (`dossier-digest/2`): a fingerprint of a set of belief lines that can be
//! kept up to date one changed line at a time, so that it can be stored at every cut of the
//! ledger (every recorded time) and an as-of answer can carry the digest of the lines as of
//! its cut without hashing every line per query.
//!
//! Specified in `docs/BELIEFS.md` ("The views digest"):
//!
//! ```text
//! line_hash(L) = BLAKE3("dossier-digest/2 line\0" || policy || "\0" || json(L))
//! sum          = Σ line_hash(L) over the lines, each read as a 256-bit little-endian
//!                unsigned integer, modulo 2^256
//! digest       = hex(BLAKE3("dossier-digest/2\0" || policy || "\0" || sum as 32 bytes,
//!                little-endian))
//! ```
//!
//! `json(L)` is the line exactly as a view store keeps it and `--json` prints it compactly:
//! serde's field order, no whitespace. Adding and removing lines commute, so the sum does not
//! depend on the order lines changed in; replacing a line is removing the old one and adding
//! the new one. The digest compares answers (an as-of answer given today against one recorded
//! back then, a rebuilt store against a running one); it is not a proof — the ledger's signed
//! checkpoints are.

/// The version of the digest defined here.
pub const DIGEST_VERSION: &str = "dossier-digest/2";

/// One line's contribution to a [`LineSum`]: its hash as a 256-bit integer (four little-endian
/// 64-bit limbs, least significant first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LineHash([u64; 4]);

impl LineHash {
    /// The hash of one line, given its JSON exactly as stored, under the belief policy `policy`.
    #[must_use]
    pub fn of(policy: &str, line_json: &[u8]) -> LineHash {
        let mut h = blake3::Hasher::new();
        h.update(b"dossier-digest/2 line\0");
        h.update(policy.as_bytes());
        h.update(b"\0");
        h.update(line_json);
        let bytes = h.finalize();
        let b = bytes.as_bytes();
        let limb = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        LineHash([limb(0), limb(1), limb(2), limb(3)])
    }
}

/// The sum, modulo 2^256, of the [`LineHash`]es of a set of lines, and through it the digest of
/// that set. The empty set sums to zero.
///
/// # Examples
/// ```
/// use dossier_beliefs::{LineHash, LineSum};
/// let (a, b) = (LineHash::of("p", b"{\"a\":1}"), LineHash::of("p", b"{\"b\":2}"));
/// let mut one = LineSum::default();
/// one.add(a);
/// one.add(b);
/// let mut other = LineSum::default();
/// other.add(b);
/// other.add(LineHash::of("p", b"{\"c\":3}"));
/// other.remove(LineHash::of("p", b"{\"c\":3}"));
/// other.add(a);
/// assert_eq!(one.digest("p"), other.digest("p"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineSum([u64; 4]);

impl LineSum {
    /// Adds a line.
    pub fn add(&mut self, line: LineHash) {
        let mut carry = false;
        for (s, l) in self.0.iter_mut().zip(line.0) {
            let (v, c1) = s.overflowing_add(l);
            let (v, c2) = v.overflowing_add(u64::from(carry));
            *s = v;
            carry = c1 || c2;
        }
    }

    /// Removes a line added before.
    pub fn remove(&mut self, line: LineHash) {
        let mut borrow = false;
        for (s, l) in self.0.iter_mut().zip(line.0) {
            let (v, b1) = s.overflowing_sub(l);
            let (v, b2) = v.overflowing_sub(u64::from(borrow));
            *s = v;
            borrow = b1 || b2;
        }
    }

    /// The digest of the set under the belief policy `policy`, 64 hex digits.
    #[must_use]
    pub fn digest(&self, policy: &str) -> String {
        let mut h = blake3::Hasher::new();
        h.update(b"dossier-digest/2\0");
        h.update(policy.as_bytes());
        h.update(b"\0");
        for limb in self.0 {
            h.update(&limb.to_le_bytes());
        }
        h.finalize().to_hex().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_and_removing_commute_and_carry() {
        let max = LineHash([u64::MAX; 4]);
        let one = LineHash([1, 0, 0, 0]);
        let mut s = LineSum::default();
        s.add(max);
        s.add(one); // wraps to zero
        assert_eq!(s, LineSum::default());
        s.remove(one);
        assert_eq!(s, LineSum([u64::MAX; 4]));
        s.add(LineHash([0, 1, 0, 0]));
        assert_eq!(s, LineSum([u64::MAX, 0, 0, 0]));
    }

    /// The vectors of docs/BELIEFS.md, for independent implementations.
    #[test]
    fn documented_vectors() {
        let policy = "dossier-beliefs/3";
        let mut s = LineSum::default();
        assert_eq!(
            s.digest(policy),
            "f5ff3ce8c0d1dacf1ddc3a2bb2cb2a2e6438a06bdcf8fdc64cd8e1c393c6f35b"
        );
        let line = br#"{"best_claim":null,"confidence":null,"likelihood":null,"question":{"id":"question:x/y"},"sources":0,"status":{"flags":["no_active_claim"],"summary":"no_active_claim"},"value":null}"#;
        s.add(LineHash::of(policy, line));
        assert_eq!(
            s.digest(policy),
            "b5f243e8072407b4f5a1bf30e3d00a68a3c937323f303d3255b466b783925c03"
        );
        s.add(LineHash::of(policy, line));
        s.remove(LineHash::of(policy, line));
        assert_eq!(
            s.digest(policy),
            "b5f243e8072407b4f5a1bf30e3d00a68a3c937323f303d3255b466b783925c03"
        );
    }

    /// The empty digest is BLAKE3 of the documented bytes.
    #[test]
    fn golden_vector() {
        let mut s = LineSum::default();
        assert_eq!(
            s.digest("dossier-beliefs/3"),
            blake3::hash(b"dossier-digest/2\0dossier-beliefs/3\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0")
                .to_hex()
                .to_string()
        );
        s.add(LineHash::of("dossier-beliefs/3", b"{}"));
        assert_eq!(s.0, LineHash::of("dossier-beliefs/3", b"{}").0);
    }
}
