//! The record format and the hash chain of a dossier ledger.
//!
//! This crate turns domain events into **records** (compact JSON documents with a fixed
//! envelope), links them into a BLAKE3 hash chain, closes every published batch with a
//! **seal** record signed with Ed25519, and verifies a stored ledger record by record.
//!
//! Invariants this crate upholds (and `docs/FORMAT.md` specifies for other implementations):
//!
//! - It does **no I/O**: no files, no network, no clock. Callers pass the current time in.
//! - A record's hash is BLAKE3 over a domain-separation prefix and the record's **exact
//!   stored bytes**; verification never re-serialises anything.
//! - Sequence numbers are contiguous from 1; record 1 links to [`GENESIS_PREV`].
//! - Recorded time never decreases along the sequence.
//! - Every batch ends with a seal whose signature covers the chain head; keys are trusted only
//!   through the pinned founding key and the key events it (transitively) signed.
//! - [`Verifier`] keeps constant memory however long the ledger is (the only state that grows
//!   is the set of registered keys).

mod builder;
mod frame;
mod hash;
mod keys;
mod record;
mod time_fmt;
mod verify;

pub use builder::{BatchBuilder, BuildError, Genesis, seal_message};
pub use frame::{
    BATCH_FRAMING, Declared, ENTRY_OVERHEAD, FrameError, FrameErrorKind, Frames,
    MAX_FRAMED_BATCH_BYTES, frame_batch, framed_len,
};
pub use hash::{EventId, GENESIS_PREV, Hash, content_digest, event_id};
pub use keys::{
    KeyError, KeyId, KeyRegistered, KeyRevoked, KeyRole, Role, Signer, checkpoint_key_ids, key_id,
    parse_public_hex,
};
pub use record::{
    ActorView, EncodedRecord, FORMAT_VERSION, GenesisBody, Head, MAX_BATCH_RECORDS,
    MAX_RECORD_BYTES, RecordView, SealBody, StoredRecord, control,
};
pub use time_fmt::{RECORDED_LEN, format_recorded, parse_recorded};
pub use verify::{
    Failure, FailureKind, KeyStatus, TrustRoot, Verifier, VerifyReport, duplicate_event_ids,
};
