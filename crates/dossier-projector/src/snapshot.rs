//! A snapshot of the projector's engines, so that a restart folds only the records after it.
//!
//! [`Projector::open`](crate::Projector::open) must hold, in memory, the fold of the ledger up
//! to the store's checkpoint (every clearance level's engine and the effective markings). The
//! snapshot file `views.db.engines`, beside the store, keeps that state as of some record `seq`:
//! a restart reads it and folds only records `seq + 1 ..= checkpoint`.
//!
//! The state is a pure function of the ledger's records `1..=seq` (and of this build's code),
//! not of the store: so the file is trusted when, and only when,
//!
//! - its magic, snapshot format ([`FORMAT`]), build (the crate's version) and belief policy
//!   ([`dossier_beliefs::POLICY_VERSION`]) are this build's;
//! - the ledger's record at `seq` has the hash the snapshot names (the chain then makes the
//!   whole prefix `1..=seq` the one folded: another ledger, or one rewritten, fails here), and
//!   `seq` is at most the store's checkpoint;
//! - its body has the length and BLAKE3 checksum its header states, and decodes.
//!
//! Anything else is a [`Fallback`]: the projector refolds the ledger as if there were no
//! snapshot, and says why in a log line. The file is written to a temporary file in the same
//! directory, synced, and renamed into place, so that a crash leaves the old snapshot or the new
//! one, each valid for its own `seq`; it needs no transaction with the store's checkpoint.
//!
//! File layout: the magic `dossier engines\n`, the body (the levels and markings, postcard),
//! then the header ([`Header`], postcard) and its length as a little-endian `u32`: the header
//! comes last so that the body can be streamed to the file as it is encoded, hashed on the way.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use dossier_chain::Hash;
use dossier_log::EventLog;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::levels::{Levels, Markings};
use crate::store::beside;

/// The snapshot's own format; bump it whenever a serialized type of the engine or the levels
/// changes (a snapshot of another format is never read).
pub const FORMAT: u32 = 1;

const MAGIC: &[u8; 16] = b"dossier engines\n";

/// The build that writes and reads snapshots: another version never reads this one's.
const BUILD: &str = env!("CARGO_PKG_VERSION");

/// The snapshot of the store at `store`: `views.db.engines` next to `views.db`.
#[must_use]
pub fn snapshot_path(store: &Path) -> PathBuf {
    beside(store, ".engines")
}

/// What the snapshot says of itself.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: u32,
    build: String,
    policy: String,
    /// The last record folded into the state.
    seq: u64,
    /// That record's hash.
    hash: [u8; 32],
    /// The body's length and BLAKE3 hash.
    body_len: u64,
    checksum: [u8; 32],
}

/// The state as written (borrowed).
#[derive(Serialize)]
struct StateRef<'a> {
    levels: &'a Levels,
    markings: &'a Markings,
}

/// The state as read.
#[derive(Deserialize)]
pub(crate) struct State {
    pub(crate) levels: Levels,
    pub(crate) markings: Markings,
}

/// How a projector's engines were restored at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restored {
    /// Nothing to restore: the store's checkpoint is 0.
    Empty,
    /// From the snapshot at `seq`; records after it were refolded.
    Snapshot {
        /// The last record the snapshot held.
        seq: u64,
    },
    /// By refolding the ledger from record 1, because the snapshot could not be used.
    Refold(Fallback),
}

/// Why a snapshot was not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// There is no snapshot file.
    Missing,
    /// The file is damaged: bad magic, a header or body that does not decode, or a body whose
    /// length or checksum differs from its header's.
    Corrupt(String),
    /// Written by another build (snapshot format or version).
    OtherBuild(String),
    /// Written under another belief policy.
    OtherPolicy(String),
    /// The ledger's record at the snapshot's seq is missing or has another hash: another
    /// ledger, or one rewritten since.
    OtherLedger {
        /// The snapshot's seq.
        seq: u64,
    },
    /// The snapshot is past the store's checkpoint (it belongs to a store further on).
    Ahead {
        /// The snapshot's seq.
        seq: u64,
        /// The store's checkpoint.
        checkpoint: u64,
    },
    /// The file could not be read.
    Unreadable(String),
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fallback::Missing => f.write_str("there is no snapshot"),
            Fallback::Corrupt(why) => write!(f, "the snapshot is corrupt: {why}"),
            Fallback::OtherBuild(why) => write!(f, "the snapshot is of another build: {why}"),
            Fallback::OtherPolicy(p) => write!(f, "the snapshot is of belief policy {p}"),
            Fallback::OtherLedger { seq } => write!(
                f,
                "the ledger's record {seq} is not the one the snapshot folded (another ledger, or a rewritten one)"
            ),
            Fallback::Ahead { seq, checkpoint } => write!(
                f,
                "the snapshot is at record {seq}, past the store's checkpoint {checkpoint}"
            ),
            Fallback::Unreadable(why) => write!(f, "the snapshot cannot be read: {why}"),
        }
    }
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: blake3::Hasher,
    len: u64,
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Encodes the state after record `seq` (of hash `hash`) into `out`.
fn encode_into<W: std::io::Write>(
    mut out: W,
    levels: &Levels,
    markings: &Markings,
    seq: u64,
    hash: Hash,
) -> Result<W, Error> {
    let failed = |e: &dyn std::fmt::Display| Error::Snapshot(e.to_string());
    out.write_all(MAGIC).map_err(|e| failed(&e))?;
    let body = Hashing {
        inner: out,
        hasher: blake3::Hasher::new(),
        len: 0,
    };
    let body = postcard::to_io(&StateRef { levels, markings }, body).map_err(|e| failed(&e))?;
    let header = postcard::to_stdvec(&Header {
        format: FORMAT,
        build: BUILD.to_owned(),
        policy: dossier_beliefs::POLICY_VERSION.to_owned(),
        seq,
        hash: hash.0,
        body_len: body.len,
        checksum: *body.hasher.finalize().as_bytes(),
    })
    .map_err(|e| failed(&e))?;
    let mut out = body.inner;
    let header_len = u32::try_from(header.len()).unwrap_or(u32::MAX);
    out.write_all(&header)
        .and_then(|()| out.write_all(&header_len.to_le_bytes()))
        .map_err(|e| failed(&e))?;
    Ok(out)
}

/// Encodes the state after record `seq` (of hash `hash`) in memory (for [`write`] on another
/// thread).
pub(crate) fn encode(
    levels: &Levels,
    markings: &Markings,
    seq: u64,
    hash: Hash,
) -> Result<Vec<u8>, Error> {
    encode_into(Vec::new(), levels, markings, seq, hash)
}

/// Writes the snapshot of the state after record `seq` (of hash `hash`) for the store at
/// `store`, encoding it straight into the file (see [`write`]).
pub(crate) fn write_state(
    store: &Path,
    levels: &Levels,
    markings: &Markings,
    seq: u64,
    hash: Hash,
) -> Result<(), Error> {
    replace(store, |file| {
        let mut out = encode_into(std::io::BufWriter::new(file), levels, markings, seq, hash)?;
        out.flush().map_err(|source| Error::Io {
            path: snapshot_path(store),
            source,
        })
    })
}

/// Writes encoded snapshot bytes for the store at `store` (see [`replace`]).
pub(crate) fn write(store: &Path, bytes: &[u8]) -> Result<(), Error> {
    replace(store, |mut file| {
        file.write_all(bytes).map_err(|source| Error::Io {
            path: snapshot_path(store),
            source,
        })
    })
}

/// Replaces the snapshot of the store at `store` with what `fill` writes: to a temporary file
/// in its directory, synced, renamed over [`snapshot_path`], and the directory synced.
fn replace(
    store: &Path,
    fill: impl FnOnce(&std::fs::File) -> Result<(), Error>,
) -> Result<(), Error> {
    let path = snapshot_path(store);
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".engines-")
        .tempfile_in(&dir)
        .map_err(io)?;
    fill(tmp.as_file())?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(&path).map_err(|e| io(e.error))?;
    // Make the rename durable (best effort: not every platform can sync a directory).
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Moves the snapshot of the store at `from` to be that of the store at `to` (after a rebuild
/// renamed `from` over `to`); nothing if `from` has none.
pub(crate) fn rename(from: &Path, to: &Path) -> Result<(), Error> {
    let (from, to) = (snapshot_path(from), snapshot_path(to));
    match std::fs::rename(&from, &to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io { path: to, source }),
    }
}

/// A snapshot that passed every check: the state after record `seq`, of hash `hash`.
pub(crate) struct Loaded {
    pub(crate) state: State,
    pub(crate) seq: u64,
    pub(crate) hash: Hash,
}

/// Reads the snapshot of the store at `store` for a store whose checkpoint is `checkpoint`,
/// checking it against `log` (see the module documentation).
pub(crate) async fn load<L: EventLog>(
    log: &L,
    store: &Path,
    checkpoint: u64,
) -> Result<Loaded, Fallback> {
    let path = snapshot_path(store);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Fallback::Missing),
        Err(e) => return Err(Fallback::Unreadable(e.to_string())),
    };
    let (header, body) = split(&bytes)?;
    if header.format != FORMAT || header.build != BUILD {
        return Err(Fallback::OtherBuild(format!(
            "format {} of version {}, this build reads format {FORMAT} of version {BUILD}",
            header.format, header.build
        )));
    }
    if header.policy != dossier_beliefs::POLICY_VERSION {
        return Err(Fallback::OtherPolicy(header.policy));
    }
    if header.seq > checkpoint {
        return Err(Fallback::Ahead {
            seq: header.seq,
            checkpoint,
        });
    }
    let hash = Hash(header.hash);
    let same = match log.read(header.seq, 1).await {
        Ok(mut page) => page.pop().is_some_and(|rec| {
            rec.position == header.seq
                && Hash::of_record(&rec.bytes) == hash
                && rec.stored_hash.is_none_or(|s| s == hash)
        }),
        Err(e) => return Err(Fallback::Unreadable(format!("reading the ledger: {e}"))),
    };
    if !same {
        return Err(Fallback::OtherLedger { seq: header.seq });
    }
    if body.len() as u64 != header.body_len {
        return Err(Fallback::Corrupt(format!(
            "its body has {} bytes, its header says {}",
            body.len(),
            header.body_len
        )));
    }
    if *blake3::hash(body).as_bytes() != header.checksum {
        return Err(Fallback::Corrupt("its body's checksum differs".into()));
    }
    let state: State =
        postcard::from_bytes(body).map_err(|e| Fallback::Corrupt(format!("its body: {e}")))?;
    Ok(Loaded {
        state,
        seq: header.seq,
        hash,
    })
}

/// The header and the body of a snapshot file.
fn split(bytes: &[u8]) -> Result<(Header, &[u8]), Fallback> {
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| Fallback::Corrupt("it does not start as a snapshot".into()))?;
    let (rest, len) = rest
        .split_last_chunk::<4>()
        .ok_or_else(|| Fallback::Corrupt("it has no header".into()))?;
    let len = usize::try_from(u32::from_le_bytes(*len)).unwrap_or(usize::MAX);
    let Some(at) = rest.len().checked_sub(len) else {
        return Err(Fallback::Corrupt("it has no header".into()));
    };
    let (body, header) = rest.split_at(at);
    let header: Header =
        postcard::from_bytes(header).map_err(|e| Fallback::Corrupt(format!("its header: {e}")))?;
    Ok((header, body))
}
