//! Streaming verification of a stored ledger.

use std::collections::HashMap;
use std::fmt;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::builder::seal_message;
use crate::hash::{GENESIS_PREV, Hash, event_id};
use crate::keys::{KeyRegistered, KeyRevoked, KeyRole, key_id, parse_public_hex, verify_signature};
use crate::record::{
    FORMAT_VERSION, GenesisBody, Head, MAX_BATCH_RECORDS, MAX_RECORD_BYTES, RecordView, SealBody,
    StoredRecord, control,
};
use crate::time_fmt::{looks_like_recorded, parse_recorded};

mod resume;

/// The TLP 2.0 labels a record's `marking` may carry.
pub const MARKINGS: [&str; 5] = [
    "TLP:CLEAR",
    "TLP:GREEN",
    "TLP:AMBER",
    "TLP:AMBER+STRICT",
    "TLP:RED",
];

/// A record's `id` as a number, if it is 32 lowercase hex digits.
fn parse_id(text: &str) -> Option<u128> {
    if !is_lower_hex(text, 32) {
        return None;
    }
    u128::from_str_radix(text, 16).ok()
}

/// The `duplicate_event_id` failures among (event id, position) pairs (docs/FORMAT.md §6.3,
/// step 13): every pair whose id an earlier position carries, reported at its own position and
/// naming the first. Sorts `pairs` in place; the result is in position order. The caller
/// hands in every pair of one id together (all of them, or one hash partition of them).
#[must_use]
pub fn duplicate_event_ids(pairs: &mut [(u128, u64)]) -> Vec<Failure> {
    pairs.sort_unstable();
    let mut out = Vec::new();
    let mut i = 0;
    while i < pairs.len() {
        let (id, first) = pairs[i];
        let mut j = i + 1;
        while j < pairs.len() && pairs[j].0 == id {
            out.push(Failure {
                seq: pairs[j].1,
                kind: FailureKind::DuplicateEventId,
                detail: format!(
                    "event id {id:032x} was already recorded at position {first}: the event is recorded twice"
                ),
            });
            j += 1;
        }
        i = j;
    }
    out.sort_by_key(|f| f.seq);
    out
}

impl VerifyReport {
    /// Adds failures found after the streaming pass (such as `duplicate_event_id`), keeping at
    /// most [`Verifier::MAX_FAILURES`] and counting the rest; the kept ones stay in position
    /// order among themselves.
    pub fn add_failures(&mut self, failures: impl IntoIterator<Item = Failure>) {
        for f in failures {
            if self.failures.len() < Verifier::MAX_FAILURES {
                self.failures.push(f);
            } else {
                self.more_failures += 1;
            }
        }
    }
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `text` is exactly the lowercase hex form of `bytes` (no allocation: this runs for
/// every record).
fn is_hex_of(text: &str, bytes: &[u8]) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let t = text.as_bytes();
    t.len() == bytes.len() * 2
        && bytes.iter().zip(t.chunks_exact(2)).all(|(b, pair)| {
            pair[0] == DIGITS[usize::from(b >> 4)] && pair[1] == DIGITS[usize::from(b & 0xf)]
        })
}

/// What verification trusts as the ledger's root.
#[derive(Clone, Debug)]
pub enum TrustRoot {
    /// The founding key is pinned: a genesis registering any other key fails.
    Pinned(VerifyingKey),
    /// Nothing pinned: the genesis's founding key is accepted as it is (the report says so).
    /// A ledger re-chained and re-signed by a forger verifies in this mode.
    Unpinned,
}

/// The kinds of verification failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The bytes are not a record of this format (bad JSON, missing or unknown field, wrong version, oversized).
    Malformed,
    /// The stored bytes no longer hash to the hash the backend recorded at append time.
    ChangedBytes,
    /// `prev` does not equal the hash of the record before it.
    BrokenLink,
    /// Records are missing: storage skips positions, or the record at a position carries a
    /// later sequence number than the chain expects there.
    Gap,
    /// A record is stored twice: storage returns a position again, or a position holds an
    /// exact copy of the record before it.
    Duplicate,
    /// A record carries an earlier sequence number than the chain expects at its position
    /// (it was moved later, or renumbered).
    Reordered,
    /// The record belongs to another ledger (a foreign record in the middle of a ledger is
    /// reported and skipped).
    WrongLedger,
    /// The event id does not derive from the type and entity.
    BadEventId,
    /// Recorded time decreased.
    TimeWentBackwards,
    /// The genesis does not register the pinned founding key, or is missing.
    UntrustedRoot,
    /// A record or seal names a key that was never registered.
    UnknownKey,
    /// A seal is signed by a key revoked before it.
    RevokedKey,
    /// A seal's signature does not verify.
    BadSignature,
    /// A seal does not match its batch (count, head, or a record signed by another key).
    BadSeal,
    /// A key event is invalid (wrong id, re-registration, revoking an unknown key).
    BadKeyEvent,
    /// A seal's key has no authority for its batch under the key roles (docs/FORMAT.md §5.3):
    /// a log key sealing a batch, a producer key sealing key or access events, the founding key
    /// revoked by another key, the last admin key revoked by a key other than the founding key,
    /// or a ledger left without a key able to administer it.
    RoleViolation,
    /// Records after the last seal: a batch that was never completed.
    IncompleteBatch,
    /// Where batches are carried framed (docs/FORMAT.md §7.2): a blob fails the framing's
    /// checks, or the carrier's index of it disagrees with it.
    BadFrame,
    /// A record carries the event id of an earlier record of the ledger (an event recorded
    /// twice: idempotency was bypassed); reported at the later occurrence.
    DuplicateEventId,
    /// Where the carrier stores values derived from the records beside them (docs/FORMAT.md
    /// §7.1): such a value disagrees with the record bytes.
    DerivedMismatch,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

/// One verification failure, located at a sequence number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The storage position where the failure shows (equal to the sequence number the record
    /// there should carry, unless storage was renumbered).
    pub seq: u64,
    /// What failed.
    pub kind: FailureKind,
    /// Details for a person.
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}: {}: {}", self.seq, self.kind, self.detail)
    }
}

/// The outcome of verifying a ledger.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// Records read.
    pub records: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Storage position of the last record read.
    pub last_seq: u64,
    /// Hash of the last record read.
    pub head: String,
    /// Sequence number of the last seal that verified (readers expose records up to here).
    pub last_sealed: u64,
    /// Failures, in order (at most [`Verifier::MAX_FAILURES`]).
    pub failures: Vec<Failure>,
    /// Failures beyond the ones kept.
    pub more_failures: u64,
    /// The founding key id, and whether it was pinned.
    pub founding_key: Option<String>,
    /// Whether the founding key was checked against a pinned root.
    pub pinned: bool,
}

impl VerifyReport {
    /// True when nothing failed.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

/// What the verifier knows of a key: its role, public key and revocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyStatus {
    /// What the key may do.
    pub role: KeyRole,
    /// Its Ed25519 public key.
    pub public: VerifyingKey,
    /// The position of the seal of the batch that revoked it, if it was revoked.
    pub revoked_at: Option<u64>,
}

#[derive(Debug)]
enum KeyChange {
    Register {
        key: String,
        public: VerifyingKey,
        role: KeyRole,
    },
    Revoke {
        key: String,
        at: u64,
    },
}

#[derive(Debug)]
struct Batch {
    first: u64,
    count: u64,
    actor: String,
    changes: Vec<KeyChange>,
    /// The position of the batch's first key or access event, if it has one.
    administrative: Option<u64>,
}

/// Verifies records one at a time, in storage order, with constant memory.
///
/// Feed every record from sequence 1 with [`Verifier::push`], then call [`Verifier::finish`].
/// After a failure, verification resynchronises on the record just read and goes on, so one
/// pass reports every independent failure.
///
/// # Examples
/// ```
/// use dossier_chain::{Genesis, Signer, StoredRecord, TrustRoot, Verifier};
/// let founder = Signer::from_secret([1; 32], "founder");
/// let records = Genesis::build(uuid::Uuid::nil(), "demo", &founder, time::OffsetDateTime::UNIX_EPOCH).unwrap();
/// let mut v = Verifier::new(TrustRoot::Pinned(founder.public()));
/// for r in &records {
///     v.push(&StoredRecord { position: r.seq, stored_hash: Some(r.hash), bytes: r.bytes.clone() });
/// }
/// assert!(v.finish().ok());
/// ```
#[derive(Debug)]
pub struct Verifier {
    trust: TrustRoot,
    /// The storage position the next record must be at.
    expected: u64,
    /// The sequence number the next record of the chain must carry.
    next_seq: u64,
    /// Whether a record was accepted into the chain yet.
    started: bool,
    prev: Hash,
    prev_recorded: String,
    last_correlation: String,
    ledger: Option<(String, uuid::Uuid)>,
    keys: HashMap<String, KeyStatus>,
    /// Whether the ledger adopted key roles (a verified batch registered a key with a role):
    /// from that batch on, the founding and last-admin rules hold (docs/FORMAT.md §5.3).
    roles: bool,
    batch: Option<Batch>,
    last_sealed: u64,
    records: u64,
    bytes: u64,
    failures: Vec<Failure>,
    more_failures: u64,
    founding_key: Option<String>,
    link_already_reported: bool,
    /// The event ids of the records accepted so far and not yet taken (`None`: not collected).
    ids: Option<Vec<(u128, u64)>>,
}

impl Verifier {
    /// The most failures a report keeps (later ones are only counted).
    pub const MAX_FAILURES: usize = 1000;

    /// A verifier for a ledger read from sequence 1.
    #[must_use]
    pub fn new(trust: TrustRoot) -> Verifier {
        Verifier {
            trust,
            expected: 1,
            next_seq: 1,
            started: false,
            prev: GENESIS_PREV,
            prev_recorded: String::new(),
            last_correlation: String::new(),
            ledger: None,
            keys: HashMap::new(),
            roles: false,
            batch: None,
            last_sealed: 0,
            records: 0,
            bytes: 0,
            failures: Vec::new(),
            more_failures: 0,
            founding_key: None,
            link_already_reported: false,
            ids: None,
        }
    }

    /// Also collects the event id of every record accepted into the chain, with its position,
    /// for a uniqueness check outside the verifier ([`Verifier::take_ids`],
    /// [`duplicate_event_ids`]): the verifier itself keeps constant memory, so the caller drains
    /// the ids as it goes.
    #[must_use]
    pub fn collecting_ids(mut self) -> Verifier {
        self.ids = Some(Vec::new());
        self
    }

    /// The (event id, position) pairs collected since the last call (empty unless
    /// [`Verifier::collecting_ids`]).
    pub fn take_ids(&mut self) -> Vec<(u128, u64)> {
        self.ids.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Moves the (event id, position) pairs collected since the last call to the end of `out`
    /// (nothing unless [`Verifier::collecting_ids`]); unlike [`Verifier::take_ids`], neither
    /// side allocates once both buffers have grown, which matters when it runs per record.
    pub fn take_ids_into(&mut self, out: &mut Vec<(u128, u64)>) {
        if let Some(ids) = &mut self.ids {
            out.append(ids);
        }
    }

    /// Failures found so far.
    #[must_use]
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// The head after the records pushed so far.
    #[must_use]
    pub fn head(&self) -> Head {
        Head {
            seq: self.next_seq - 1,
            hash: self.prev,
            recorded: (!self.prev_recorded.is_empty()).then(|| self.prev_recorded.clone()),
        }
    }

    /// Sequence number of the last verified seal.
    #[must_use]
    pub fn last_sealed(&self) -> u64 {
        self.last_sealed
    }

    /// What the ledger verified so far says of key `id` (`None`: not registered).
    #[must_use]
    pub fn key_status(&self, id: &str) -> Option<&KeyStatus> {
        self.keys.get(id)
    }

    /// Whether the ledger verified so far adopted key roles (docs/FORMAT.md §5.3).
    #[must_use]
    pub fn roles_adopted(&self) -> bool {
        self.roles
    }

    /// The keys that may sign a checkpoint of the ledger verified so far (docs/PROOFS.md §5,
    /// [`crate::checkpoint_key_ids`]), sorted by key id.
    #[must_use]
    pub fn checkpoint_keys(&self) -> Vec<(String, VerifyingKey)> {
        let mut ids = crate::keys::checkpoint_key_ids(
            self.keys
                .iter()
                .map(|(id, k)| (id.as_str(), k.role, k.revoked_at.is_some())),
        );
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| self.keys.get(id).map(|k| (id.to_owned(), k.public)))
            .collect()
    }

    fn fail(&mut self, seq: u64, kind: FailureKind, detail: impl Into<String>) {
        if self.failures.len() < Self::MAX_FAILURES {
            self.failures.push(Failure {
                seq,
                kind,
                detail: detail.into(),
            });
        } else {
            self.more_failures += 1;
        }
    }

    /// Reports a `bad_frame` failure at `position`: a framed batch (docs/FORMAT.md §7.2) fails
    /// the framing's checks there, or its carrier's index disagrees with it.
    ///
    /// With `resume_at`, the rest of the blob is lost: verification resumes at that position (the
    /// next blob's first) as after a gap, without reporting the gap again (the chain expects
    /// that sequence number next, or the one it expected if later), and the batch the blob left
    /// open is dropped (its records are never sealed). Without it, this only reports.
    pub fn bad_frame(&mut self, position: u64, resume_at: Option<u64>, detail: impl Into<String>) {
        self.fail(position, FailureKind::BadFrame, detail);
        if let Some(next) = resume_at
            && next > self.expected
        {
            // The lost entries are numbered like their positions (a blob cut short), unless
            // the chain already went further (entries moved within the blob).
            self.next_seq = self.next_seq.max(next);
            self.expected = next;
            self.link_already_reported = true;
            self.batch = None;
        }
    }

    /// Reports a `derived_mismatch` failure at `position`: a value the carrier stores beside
    /// the records, derived from them, disagrees with them (docs/FORMAT.md §7.1).
    pub fn derived_mismatch(&mut self, position: u64, detail: impl Into<String>) {
        self.fail(position, FailureKind::DerivedMismatch, detail);
    }

    /// Checks one record.
    ///
    /// Failures are located at storage positions. Two kinds of bookkeeping run side by side:
    /// the storage position (`rec.position`, which must run 1, 2, 3, ...) and the chain (the
    /// sequence number the next record must carry and the hash it must link to). After a
    /// failure the verifier resynchronises so that one damaged spot is reported once, not at
    /// every later record: an exact copy of the record before is skipped; a record that does
    /// not link but carries a later sequence number is taken as the new chain position (the
    /// records between are missing); a record that does not link and carries an earlier
    /// sequence number, or belongs to another ledger, is reported and skipped.
    pub fn push(&mut self, rec: &StoredRecord) {
        self.push_hashed(rec, Hash::of_record(&rec.bytes));
    }

    /// Checks one record whose hash the caller has already computed with
    /// [`Hash::of_record`] (so hashing can run on another thread than checking).
    pub fn push_hashed(&mut self, rec: &StoredRecord, hash: Hash) {
        let pos = rec.position;
        self.records += 1;
        self.bytes += rec.bytes.len() as u64;
        let mut suppress_link = std::mem::take(&mut self.link_already_reported);
        if pos > self.expected {
            let detail = if pos - self.expected == 1 {
                format!("record {} is missing", self.expected)
            } else {
                format!("records {}..={} are missing", self.expected, pos - 1)
            };
            self.fail(self.expected, FailureKind::Gap, detail);
            self.next_seq += pos - self.expected;
            suppress_link = true;
        } else if pos < self.expected {
            self.fail(
                pos,
                FailureKind::Duplicate,
                format!("position {pos} was already read; storage returned it again"),
            );
            return;
        }
        self.expected = pos + 1;
        if let Some(stored) = rec.stored_hash
            && stored != hash
        {
            self.fail(
                pos,
                FailureKind::ChangedBytes,
                format!("stored bytes hash to {hash}, but {stored} was recorded at append time"),
            );
            self.link_already_reported = true;
        }
        self.check(pos, &rec.bytes, hash, suppress_link);
    }

    /// Advances the chain past a record that was accepted at chain position `seq`.
    fn advance(&mut self, seq: u64, hash: Hash) {
        self.prev = hash;
        self.next_seq = seq + 1;
        self.started = true;
    }

    fn check(&mut self, pos: u64, bytes: &[u8], hash: Hash, suppress_link: bool) {
        let expected_seq = self.next_seq;
        if bytes.len() > MAX_RECORD_BYTES {
            self.fail(
                pos,
                FailureKind::Malformed,
                format!(
                    "record is {} bytes; the limit is {MAX_RECORD_BYTES}",
                    bytes.len()
                ),
            );
            self.count_in_batch(pos, None);
            self.advance(expected_seq, hash);
            return;
        }
        let parsed = if bytes.first() == Some(&b'{') && bytes.last() == Some(&b'}') {
            RecordView::parse(bytes).map_err(|e| e.to_string())
        } else {
            Err("a record is a JSON object with nothing before its `{` or after its `}`".to_owned())
        };
        let view = match parsed {
            Ok(v) => v,
            Err(e) => {
                self.fail(
                    pos,
                    FailureKind::Malformed,
                    format!("not a dossier record: {e}"),
                );
                self.count_in_batch(pos, None);
                self.advance(expected_seq, hash);
                return;
            }
        };
        if view.dossier != FORMAT_VERSION {
            self.fail(
                pos,
                FailureKind::Malformed,
                format!("unknown record format version {}", view.dossier),
            );
        }
        if self.started && hash == self.prev {
            let detail = format!(
                "a copy of record {} is stored again at position {pos}",
                expected_seq - 1
            );
            self.fail(pos, FailureKind::Duplicate, detail);
            return;
        }
        let links = is_hex_of(view.prev, &self.prev.0);
        let continues = links || (suppress_link && view.seq == expected_seq);
        let other_ledger = matches!(&self.ledger, Some((text, _)) if text != view.ledger);
        // The chain position this record is accepted at.
        let mut seq = expected_seq;
        if continues {
            if view.seq != expected_seq {
                // It links to the record before, so it is the next record, but its own number
                // is wrong: its `seq` was altered (or written wrongly).
                let kind = if view.seq > expected_seq {
                    FailureKind::Gap
                } else {
                    FailureKind::Reordered
                };
                let detail = format!(
                    "the record at position {pos} links to record {} but says it is record {}",
                    expected_seq - 1,
                    view.seq
                );
                self.fail(pos, kind, detail);
            }
        } else if other_ledger {
            let ours = self
                .ledger
                .as_ref()
                .map(|(t, _)| t.clone())
                .unwrap_or_default();
            let detail = format!(
                "record {} of ledger {} is stored here; this ledger is {ours} (skipped)",
                view.seq, view.ledger
            );
            self.fail(pos, FailureKind::WrongLedger, detail);
            return;
        } else if view.seq == expected_seq {
            match Hash::from_hex(view.prev) {
                Ok(prev) => {
                    let before = expected_seq.saturating_sub(1);
                    let detail = format!(
                        "prev is {prev}, but record {before} hashes to {} (record {before} was altered, or this link was)",
                        self.prev
                    );
                    self.fail(pos, FailureKind::BrokenLink, detail);
                }
                Err(_) => self.fail(
                    pos,
                    FailureKind::Malformed,
                    "prev is not 64 lowercase hex digits",
                ),
            }
        } else if view.seq > expected_seq {
            let detail = if view.seq - expected_seq == 1 {
                format!(
                    "record {expected_seq} is missing: position {pos} holds record {}",
                    view.seq
                )
            } else {
                format!(
                    "records {expected_seq}..={} are missing: position {pos} holds record {}",
                    view.seq - 1,
                    view.seq
                )
            };
            self.fail(pos, FailureKind::Gap, detail);
            seq = view.seq;
        } else {
            let detail = format!(
                "record {} is stored at position {pos}, after record {} (skipped)",
                view.seq,
                expected_seq - 1
            );
            self.fail(pos, FailureKind::Reordered, detail);
            // It still belongs to the batch being read (two records swapped within a batch
            // leave the batch's count right); a seal out of place closes nothing.
            if view.event_type != control::SEAL {
                self.count_in_batch(pos, Some(view.actor.key));
            }
            return;
        }
        if continues && !links && !is_lower_hex(view.prev, 64) {
            self.fail(
                pos,
                FailureKind::Malformed,
                "prev is not 64 lowercase hex digits",
            );
        }
        match &self.ledger {
            None => match uuid::Uuid::parse_str(view.ledger) {
                Ok(id) if id.hyphenated().to_string() == view.ledger => {
                    self.ledger = Some((view.ledger.to_owned(), id))
                }
                _ => self.fail(
                    pos,
                    FailureKind::Malformed,
                    "ledger is not a lowercase hyphenated UUID",
                ),
            },
            Some((text, _)) if text != view.ledger => {
                let detail = format!("record belongs to ledger {}, not {text}", view.ledger);
                self.fail(pos, FailureKind::WrongLedger, detail);
            }
            Some(_) => {}
        }
        if !is_hex_of(view.id, &event_id(view.event_type, &view.entity).0) {
            self.fail(
                pos,
                FailureKind::BadEventId,
                format!(
                    "id {} does not derive from type {} and entity {}",
                    view.id, view.event_type, view.entity
                ),
            );
        }
        if let Some(ids) = &mut self.ids
            && let Some(id) = parse_id(view.id)
        {
            ids.push((id, pos));
        }
        // Records of one batch share their recorded time: only a new value needs parsing.
        if view.recorded != self.prev_recorded {
            if !looks_like_recorded(view.recorded) || parse_recorded(view.recorded).is_none() {
                self.fail(
                    pos,
                    FailureKind::Malformed,
                    format!(
                        "recorded time {:?} is not in the fixed UTC form",
                        view.recorded
                    ),
                );
            } else {
                if view.recorded < self.prev_recorded.as_str() {
                    let detail = format!(
                        "recorded {} is earlier than the previous record's {}",
                        view.recorded, self.prev_recorded
                    );
                    self.fail(pos, FailureKind::TimeWentBackwards, detail);
                }
                // Resynchronise on it either way: each step back is reported once.
                view.recorded.clone_into(&mut self.prev_recorded);
            }
        }
        if !MARKINGS.contains(&view.marking.as_ref()) {
            self.fail(
                pos,
                FailureKind::Malformed,
                format!("marking {:?} is not a TLP 2.0 label", view.marking),
            );
        }
        // Records of one batch share their correlation id: only a new value needs checking.
        if view.correlation != self.last_correlation {
            if uuid::Uuid::parse_str(view.correlation)
                .is_ok_and(|c| c.hyphenated().to_string() == view.correlation)
            {
                view.correlation.clone_into(&mut self.last_correlation);
            } else {
                self.fail(
                    pos,
                    FailureKind::Malformed,
                    "correlation is not a lowercase hyphenated UUID",
                );
            }
        }
        self.check_kind(pos, seq, &view);
        self.advance(seq, hash);
    }

    fn count_in_batch(&mut self, pos: u64, actor: Option<&str>) {
        let batch = self.batch.get_or_insert_with(|| Batch {
            first: pos,
            count: 0,
            actor: String::new(),
            changes: Vec::new(),
            administrative: None,
        });
        if batch.actor.is_empty() {
            // A malformed record has no actor; the batch's key is the first one seen.
            if let Some(actor) = actor {
                actor.clone_into(&mut batch.actor);
            }
        }
        batch.count += 1;
    }

    fn check_kind(&mut self, pos: u64, seq: u64, view: &RecordView<'_>) {
        let ty = view.event_type;
        if !self.started {
            if ty == control::GENESIS && seq == 1 {
                self.genesis(pos, view);
            } else {
                self.fail(pos, FailureKind::UntrustedRoot, format!("the ledger starts with record {} (a {ty}), not with record 1, a ledger.genesis", view.seq));
            }
        } else if ty == control::GENESIS {
            self.fail(pos, FailureKind::Malformed, "a second ledger.genesis");
        }
        if ty == control::SEAL {
            self.seal(pos, seq, view);
            return;
        }
        self.count_in_batch(pos, Some(view.actor.key));
        if control::is_administrative(ty)
            && let Some(batch) = &mut self.batch
        {
            batch.administrative.get_or_insert(pos);
        }
        let change = match ty {
            control::KEY_REGISTERED => match serde_json::from_str::<KeyRegistered>(view.body.get())
            {
                Ok(k) if k.schema() != view.schema => {
                    let detail = match view.schema {
                        control::SCHEMA => "a schema-1 key.registered has no role".to_owned(),
                        control::KEY_REGISTERED_ROLES_SCHEMA => {
                            "a schema-2 key.registered needs a role".to_owned()
                        }
                        other => format!("unknown key.registered schema {other}"),
                    };
                    self.fail(pos, FailureKind::BadKeyEvent, detail);
                    None
                }
                Ok(k) if !is_lower_hex(&k.public, 64) => {
                    self.fail(
                        pos,
                        FailureKind::BadKeyEvent,
                        "public key is not 64 lowercase hex digits",
                    );
                    None
                }
                Ok(k) => match parse_public_hex(&k.public) {
                    Ok(public) if key_id(&public) == k.key => Some(KeyChange::Register {
                        key: k.key,
                        public,
                        role: KeyRole::registered(k.role),
                    }),
                    Ok(_) => {
                        self.fail(
                            pos,
                            FailureKind::BadKeyEvent,
                            format!("key id {} does not derive from its public key", k.key),
                        );
                        None
                    }
                    Err(e) => {
                        self.fail(pos, FailureKind::BadKeyEvent, format!("public key: {e}"));
                        None
                    }
                },
                Err(e) => {
                    self.fail(
                        pos,
                        FailureKind::BadKeyEvent,
                        format!("key.registered body: {e}"),
                    );
                    None
                }
            },
            control::KEY_REVOKED => match serde_json::from_str::<KeyRevoked>(view.body.get()) {
                Ok(k) => Some(KeyChange::Revoke {
                    key: k.key,
                    at: pos,
                }),
                Err(e) => {
                    self.fail(
                        pos,
                        FailureKind::BadKeyEvent,
                        format!("key.revoked body: {e}"),
                    );
                    None
                }
            },
            _ => None,
        };
        let actor_mismatch = match &mut self.batch {
            Some(batch) => {
                if let Some(c) = change {
                    batch.changes.push(c);
                }
                (batch.actor != view.actor.key).then(|| batch.actor.clone())
            }
            None => None,
        };
        if let Some(batch_actor) = actor_mismatch {
            let detail = format!(
                "record is published by key {} but its batch by key {batch_actor}",
                view.actor.key
            );
            self.fail(pos, FailureKind::BadSeal, detail);
        }
    }

    fn genesis(&mut self, pos: u64, view: &RecordView<'_>) {
        let body: GenesisBody = match serde_json::from_str(view.body.get()) {
            Ok(b) => b,
            Err(e) => {
                self.fail(
                    pos,
                    FailureKind::Malformed,
                    format!("ledger.genesis body: {e}"),
                );
                return;
            }
        };
        if body.ledger != view.ledger {
            self.fail(
                pos,
                FailureKind::WrongLedger,
                "genesis body names another ledger than its envelope",
            );
        }
        if view.correlation != view.ledger {
            self.fail(
                pos,
                FailureKind::Malformed,
                "the genesis's correlation is not the ledger id",
            );
        }
        if body.founding_key.role.is_some() {
            self.fail(
                pos,
                FailureKind::Malformed,
                "ledger.genesis body: the founding key has no role member",
            );
        }
        let public = match parse_public_hex(&body.founding_key.public) {
            Ok(_) if !is_lower_hex(&body.founding_key.public, 64) => {
                self.fail(
                    pos,
                    FailureKind::UntrustedRoot,
                    "founding key is not 64 lowercase hex digits",
                );
                return;
            }
            Ok(p) => p,
            Err(e) => {
                self.fail(
                    pos,
                    FailureKind::UntrustedRoot,
                    format!("founding key: {e}"),
                );
                return;
            }
        };
        let id = key_id(&public);
        if id != body.founding_key.key || id != view.actor.key {
            self.fail(
                pos,
                FailureKind::UntrustedRoot,
                "founding key id does not match its public key or the genesis actor",
            );
            return;
        }
        if let TrustRoot::Pinned(pinned) = &self.trust
            && *pinned != public
        {
            let detail = format!(
                "the genesis registers founding key {id}, but the pinned root is {}",
                key_id(pinned)
            );
            self.fail(pos, FailureKind::UntrustedRoot, detail);
            return;
        }
        self.founding_key = Some(id.clone());
        self.keys.insert(
            id,
            KeyStatus {
                role: KeyRole::Founding,
                public,
                revoked_at: None,
            },
        );
    }

    fn seal(&mut self, pos: u64, seq: u64, view: &RecordView<'_>) {
        let Some(batch) = self.batch.take() else {
            self.fail(
                pos,
                FailureKind::BadSeal,
                "a seal with no records before it",
            );
            return;
        };
        let body: SealBody = match serde_json::from_str(view.body.get()) {
            Ok(b) => b,
            Err(e) => {
                self.fail(pos, FailureKind::Malformed, format!("batch.seal body: {e}"));
                return;
            }
        };
        if batch.count + 1 > MAX_BATCH_RECORDS as u64 {
            let detail = format!(
                "the batch from {} holds {} records with its seal; the limit is {MAX_BATCH_RECORDS}",
                batch.first,
                batch.count + 1
            );
            self.fail(pos, FailureKind::BadSeal, detail);
        }
        if u64::from(body.count) != batch.count {
            let detail = format!(
                "seal counts {} records, but its batch (from {}) has {}",
                body.count, batch.first, batch.count
            );
            self.fail(pos, FailureKind::BadSeal, detail);
        }
        if body.head != self.prev.to_hex() {
            self.fail(
                pos,
                FailureKind::BadSeal,
                format!(
                    "seal covers head {}, but record {} hashes to {}",
                    body.head,
                    seq - 1,
                    self.prev
                ),
            );
        }
        // A batch whose records were all malformed has no key of its own.
        if body.key != view.actor.key || (!batch.actor.is_empty() && body.key != batch.actor) {
            let detail = format!(
                "seal key {} differs from its actor {} or its batch's key {}",
                body.key, view.actor.key, batch.actor
            );
            self.fail(pos, FailureKind::BadSeal, detail);
        }
        let Some(state) = self.keys.get(&body.key) else {
            self.fail(
                pos,
                FailureKind::UnknownKey,
                format!("key {} is not registered in this ledger", body.key),
            );
            return;
        };
        if let Some(at) = state.revoked_at {
            self.fail(
                pos,
                FailureKind::RevokedKey,
                format!("key {} was revoked at seq {at}", body.key),
            );
            return;
        }
        let mut sig = [0u8; 64];
        let ledger = self.ledger.as_ref().map(|(_, id)| *id).unwrap_or_default();
        if !is_lower_hex(&body.sig, 128) {
            // §4: 128 lowercase hex digits; another spelling of the same signature is refused,
            // so that a seal has exactly one valid form.
            self.fail(
                pos,
                FailureKind::BadSignature,
                format!(
                    "signature by key {} is not 128 lowercase hex digits",
                    body.key
                ),
            );
            return;
        }
        let signed = hex::decode_to_slice(&body.sig, &mut sig).is_ok()
            && verify_signature(
                &state.public,
                &seal_message(&ledger, seq, &self.prev, body.count),
                &sig,
            );
        if !signed {
            self.fail(
                pos,
                FailureKind::BadSignature,
                format!("signature by key {} does not verify", body.key),
            );
            return;
        }
        let role = state.role;
        if let Some(detail) = self.role_violation(&body.key, role, &batch) {
            self.fail(pos, FailureKind::RoleViolation, detail);
            return;
        }
        for change in batch.changes {
            match change {
                KeyChange::Register { key, public, role } => match self.keys.entry(key) {
                    std::collections::hash_map::Entry::Occupied(e) => {
                        let detail = format!("key {} is registered again", e.key());
                        self.fail(pos, FailureKind::BadKeyEvent, detail);
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        self.roles |= role != KeyRole::Unrestricted;
                        e.insert(KeyStatus {
                            role,
                            public,
                            revoked_at: None,
                        });
                    }
                },
                KeyChange::Revoke { key, .. } => match self.keys.get_mut(&key) {
                    Some(state) if state.revoked_at.is_none() => state.revoked_at = Some(pos),
                    Some(_) => self.fail(
                        pos,
                        FailureKind::BadKeyEvent,
                        format!("key {key} is revoked twice"),
                    ),
                    None => self.fail(
                        pos,
                        FailureKind::BadKeyEvent,
                        format!("revokes unknown key {key}"),
                    ),
                },
            }
        }
        self.last_sealed = pos;
    }

    /// The rule of docs/FORMAT.md §5.3 ("key roles") a batch sealed by `signer` (whose role is
    /// `role`) breaks, if any: checked once its seal's signature verified, before its key
    /// changes apply.
    fn role_violation(&self, signer: &str, role: KeyRole, batch: &Batch) -> Option<String> {
        if !role.seals() {
            return Some(format!(
                "key {signer} is a log key: it signs checkpoints, never a batch"
            ));
        }
        if let Some(at) = batch.administrative
            && !role.administers()
        {
            return Some(format!(
                "key {signer} is a {role} key: it may not seal the key or access event at {at}"
            ));
        }
        let adopts = batch.changes.iter().any(
            |c| matches!(c, KeyChange::Register { role, .. } if *role != KeyRole::Unrestricted),
        );
        if !(self.roles || adopts) {
            return None;
        }
        // The administering keys once the batch's valid changes apply.
        let mut admins: HashMap<&str, KeyRole> = self
            .keys
            .iter()
            .filter(|(_, k)| k.revoked_at.is_none() && k.role.administers())
            .map(|(id, k)| (id.as_str(), k.role))
            .collect();
        let mut revoked_admin = None;
        for change in &batch.changes {
            match change {
                KeyChange::Register { key, role, .. } => {
                    if role.administers() && !self.keys.contains_key(key) {
                        admins.insert(key, *role);
                    }
                }
                KeyChange::Revoke { key, at } => {
                    let Some(k) = self.keys.get(key).filter(|k| k.revoked_at.is_none()) else {
                        continue;
                    };
                    if k.role == KeyRole::Founding && role != KeyRole::Founding {
                        return Some(format!(
                            "the revocation at {at} revokes the founding key {key}; only the founding key may"
                        ));
                    }
                    if k.role.administers() && k.role != KeyRole::Founding {
                        revoked_admin = Some((key, *at));
                    }
                    admins.remove(key.as_str());
                }
            }
        }
        if admins.is_empty() {
            return Some(
                "the batch would leave the ledger without a key able to administer it".to_owned(),
            );
        }
        if let Some((key, at)) = revoked_admin
            && role != KeyRole::Founding
            && !admins.values().any(|r| *r != KeyRole::Founding)
        {
            return Some(format!(
                "the revocation at {at} revokes {key}, the last admin key; only the founding key may"
            ));
        }
        None
    }

    /// Ends verification and reports.
    #[must_use]
    pub fn finish(mut self) -> VerifyReport {
        if self.records == 0 {
            self.fail(
                1,
                FailureKind::UntrustedRoot,
                "the ledger is empty: no genesis record",
            );
        }
        if let Some(batch) = self.batch.take() {
            let last = self.expected - 1;
            self.fail(
                batch.first,
                FailureKind::IncompleteBatch,
                format!("records {}..={last} are not closed by a seal", batch.first),
            );
        }
        VerifyReport {
            records: self.records,
            bytes: self.bytes,
            last_seq: self.expected - 1,
            head: self.prev.to_hex(),
            last_sealed: self.last_sealed,
            failures: self.failures,
            more_failures: self.more_failures,
            founding_key: self.founding_key,
            pinned: matches!(self.trust, TrustRoot::Pinned(_)),
        }
    }
}
