//! The body of a C2SP `tlog-witness` `add-checkpoint` request: `old <size>\n`, zero to 63
//! consistency proof lines (base64 of 32-byte hashes), an empty line, then the signed
//! checkpoint note. The first three lines of the checkpoint text are its origin, size and root
//! (C2SP `tlog-checkpoint`); further lines are extensions the witness signs but does not read.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dossier_chain::Hash;
use dossier_proofs::SignedNote;

/// The most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// A parsed `add-checkpoint` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the previous checkpoint the client believes the witness holds.
    pub old: u64,
    /// The consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub note: SignedNote,
    /// The checkpoint's origin line.
    pub origin: String,
    /// The checkpoint's tree size.
    pub size: u64,
    /// The checkpoint's root hash.
    pub root: Hash,
}

/// Parses a decimal size without sign or leading zeros (`0` alone allowed).
fn parse_size(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn hash_b64(s: &str) -> Option<Hash> {
    let raw = STANDARD.decode(s).ok()?;
    if STANDARD.encode(&raw) != s {
        return None;
    }
    Some(Hash(raw.try_into().ok()?))
}

impl AddCheckpoint {
    /// Parses a request body.
    ///
    /// # Errors
    /// A message saying what is malformed.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, String> {
        let body = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
        let (first, mut rest) = body
            .split_once('\n')
            .ok_or("the body must start with an old size line")?;
        let old = first
            .strip_prefix("old ")
            .and_then(parse_size)
            .ok_or("the first line must be old <size> (decimal, no leading zeros)")?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or("no empty line before the checkpoint")?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(format!(
                    "more than {MAX_PROOF_LINES} consistency proof lines"
                ));
            }
            proof.push(
                hash_b64(line)
                    .ok_or("a consistency proof line must be canonical base64 of 32 bytes")?,
            );
        }
        let note = SignedNote::parse(rest).map_err(|e| format!("checkpoint: {e}"))?;
        let mut lines = note.text.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err("a checkpoint has an origin, a size and a root line".to_owned());
        };
        if origin.is_empty() {
            return Err("the checkpoint's origin line is empty".to_owned());
        }
        let size = parse_size(size).ok_or("the checkpoint's size is not a decimal size")?;
        let root = hash_b64(root).ok_or("the checkpoint's root is not base64 of 32 bytes")?;
        if old > size {
            return Err(format!(
                "the old size {old} is larger than the checkpoint's size {size}"
            ));
        }
        Ok(AddCheckpoint {
            old,
            proof,
            origin: origin.to_owned(),
            size,
            root,
            note,
        })
    }
}
