//! Mutational fuzzing of every parser and checker that takes outside input, on the stable
//! toolchain: report bundles, records (whole, by envelope, and their bodies), verification of a
//! ledger holding a mutated record (with the event-id uniqueness check), the batch framing, the
//! export file (its container and framing),
//! signed notes and checkpoints, proof bundles, and what the HTTP service decodes from a
//! request (query parameters, `Last-Event-ID`, path segments).
//!
//! Each [`Target`] is a function from bytes to nothing: it must return for every input — no
//! panic, no hang, no unbounded allocation. A run ([`fuzz`]) starts from a corpus seeded from
//! the repository's golden vectors (`docs/vectors/`), its example bundles (`examples/`),
//! valid checkpoints and proof bundles built from the golden ledger, and the inputs checked in
//! under `crates/dossier-fuzz/corpus/<target>/`; it mutates them (bit flips, byte edits,
//! insertions, deletions, duplications, splices of two inputs, JSON and note tokens, truncation)
//! and feeds every mutant to the target, catching panics and timing each call. What it finds is
//! returned as [`Finding`]s with the input, so that a failure can be replayed
//! ([`replay`]) and added to the corpus once fixed.
//!
//! The bounded run is a test (`cargo test -p dossier-fuzz`, 100,000 inputs per target); the
//! long run is `cargo run --release -p dossier-fuzz -- --inputs 10000000` (see README).
//! Allocation is bounded by the binaries' allocator (the `cap` crate's `Cap`): before each
//! input the run lets the target allocate at most [`MAX_ALLOCATION`] more than is already
//! allocated ([`Bound`]); an input that asks for more makes the allocation fail, which aborts
//! the process with "memory allocation of N bytes failed" — a finding, reproduced by running
//! the same target with the same seed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dossier_chain::{Declared, Frames, Hash, RecordView, StoredRecord, TrustRoot, Verifier};
use dossier_proofs::{Checkpoint, ProofBundle, SignedNote, open_checkpoint};

mod seeds;

pub use seeds::{founder_key, golden_records};

/// The most memory one input may hold at once (256 MiB): far above anything a valid input of
/// the sizes the corpus grows to needs, far below what would exhaust a machine.
pub const MAX_ALLOCATION: usize = 256 * 1024 * 1024;

/// Called before each input, to bound what it may allocate (see the crate documentation).
pub type Bound<'a> = &'a dyn Fn();

/// The global allocator a binary running [`fuzz`] installs:
/// `#[global_allocator] static ALLOC: Allocator = dossier_fuzz::allocator();`.
pub type Allocator = cap::Cap<std::alloc::System>;

/// An [`Allocator`] with no limit yet ([`bound`] sets one per input).
#[must_use]
pub const fn allocator() -> Allocator {
    cap::Cap::new(std::alloc::System, usize::MAX)
}

/// Lets the next input allocate at most [`MAX_ALLOCATION`] more than is allocated now; pass
/// `&|| dossier_fuzz::bound(&ALLOC)` as the [`Bound`] of a run.
pub fn bound(alloc: &Allocator) {
    let _ = alloc.set_limit(alloc.allocated().saturating_add(MAX_ALLOCATION));
}

/// The longest a target may take on one input before it counts as a hang.
pub const MAX_CALL: Duration = Duration::from_secs(2);

/// The largest input a mutation may grow (twice the largest seed, at most 1 MiB).
const MAX_INPUT: usize = 1024 * 1024;

/// One fuzz target: a name, and the function every input is fed to.
#[derive(Clone, Copy)]
pub struct Target {
    /// Its name (also the corpus folder's).
    pub name: &'static str,
    /// What it exercises.
    pub about: &'static str,
    /// The code under test; it must return for every input.
    pub run: fn(&[u8]),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every target.
#[must_use]
pub fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "bundle",
            about: "report-bundle parsing, then validation against an empty ledger",
            run: bundle,
        },
        Target {
            name: "record",
            about: "record parsing, whole and by envelope, and decoding of its domain body",
            run: record,
        },
        Target {
            name: "verify",
            about: "verification of the golden ledger with one record replaced by the input",
            run: verify,
        },
        Target {
            name: "frames",
            about: "the batch framing dossier-batch/1, checked against a declared count and seal",
            run: frames,
        },
        Target {
            name: "export",
            about: "the export file dossier-export/2 (and /1): its container, each batch's framing and a range's key context",
            run: export,
        },
        Target {
            name: "note",
            about: "signed notes and checkpoints: parsing, and opening with the golden key",
            run: note,
        },
        Target {
            name: "proof",
            about: "proof bundles: parsing and the offline check",
            run: proof,
        },
        Target {
            name: "http",
            about: "what the HTTP service decodes from a request line and headers: the query string, as_of/at times, integer and seq parameters, Last-Event-ID, tile paths",
            run: http,
        },
    ]
}

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

fn bundle(data: &[u8]) {
    if let Ok(b) = dossier_model::parse_bundle("fuzz.json", data) {
        let _ = dossier_model::validate("fuzz.json", b, &dossier_model::KnownEntities::default());
    }
}

fn record(data: &[u8]) {
    if let Ok(view) = RecordView::parse(data) {
        let _ = dossier_model::DomainEvent::decode(
            view.event_type,
            view.schema,
            view.body.get().as_bytes(),
        );
    }
    let mut scratch = String::new();
    if let Some((view, body)) = RecordView::parse_envelope(data, &mut scratch) {
        let _ = dossier_model::DomainEvent::decode(view.event_type, view.schema, body.as_bytes());
    }
}

fn verify(data: &[u8]) {
    let records = golden_records();
    // Which record the input replaces, from its length: every position gets inputs.
    let replaced = data.len() % records.len();
    let mut v = Verifier::new(TrustRoot::Pinned(founder_key())).collecting_ids();
    for (i, r) in records.iter().enumerate() {
        let bytes = if i == replaced {
            data.to_vec()
        } else {
            r.clone()
        };
        v.push(&StoredRecord {
            position: i as u64 + 1,
            stored_hash: None,
            bytes,
        });
    }
    let mut ids = v.take_ids();
    let mut report = v.finish();
    report.add_failures(dossier_chain::duplicate_event_ids(&mut ids));
}

fn frames(data: &[u8]) {
    // The first byte picks what the carrier declared: nothing, a count, or a count and a seal.
    let (declared, blob) = match data.split_first() {
        Some((&b, rest)) => {
            let count = (b & 0x3f) as usize;
            let declared = match b >> 6 {
                0 => Declared::default(),
                1 => Declared {
                    count: Some(count),
                    seal: None,
                },
                _ => Declared {
                    count: Some(count),
                    seal: Some(Hash::of_record(rest)),
                },
            };
            (declared, rest)
        }
        None => (Declared::default(), data),
    };
    for record in Frames::new(blob, declared).flatten() {
        let _ = RecordView::parse(record);
    }
}

fn export(data: &[u8]) {
    // The records themselves are the `verify` target's: here, the container and the framing.
    let Ok(mut reader) = dossier_export::Reader::new(data) else {
        return;
    };
    // A key context is checked as an offline verifier would, pinned to the golden ledger's key.
    let mut context = dossier_export::ContextCheck::new(
        *reader.header(),
        dossier_chain::TrustRoot::Pinned(founder_key()),
    );
    while let Ok(Some(section)) = reader.next_section() {
        match section {
            dossier_export::Section::Batch(b) => {
                for record in b.records().flatten() {
                    let _ = RecordView::parse(record);
                }
            }
            dossier_export::Section::Checkpoint { note, last_leaf } => {
                let _ = context.checkpoint(note, &last_leaf);
            }
            dossier_export::Section::KeyBatch { batch, proof } => {
                let _ = context.key_batch(&batch, &proof);
            }
            dossier_export::Section::Text { .. } => {}
        }
    }
    let _ = context.finish();
}

fn note(data: &[u8]) {
    let t = text(data);
    let _ = SignedNote::parse(&t);
    let _ = Checkpoint::parse_body(&t);
    if let Ok(v) = dossier_proofs::checkpoint_verifier(seeds::GOLDEN_LEDGER, founder_key()) {
        let _ = open_checkpoint(&t, &v);
    }
}

/// The HTTP service's decoding of outside input, on the libraries and parsers its routes use:
/// the input is a request's query string, a newline, then a `Last-Event-ID` header value, a
/// newline, then a path segment. The query is decoded as axum's `Query<Vec<(String, String)>>`
/// decodes it (`serde_urlencoded`), every parameter is checked against the known names and
/// for repetition, and its value goes through the parser of its name: `as_of` and `at` through
/// `Timestamp::parse_as_of` (and `as_of` on to the recorded-time form), `after`, `from`,
/// `limit` and the like as non-negative integers; the header through `http::HeaderValue` and
/// the sequence-number rule; the path segment as a seq (1 or more), and as the path of a
/// `tlog/tile/…` route (`dossier_proofs::Tile::parse`), whose tile is computed over a tree of
/// 300 leaves when it lies within it. Bundle bodies posted to the
/// service go through `dossier-app`'s check, whose byte-level part (parsing and validation) is
/// the `bundle` target.
fn http(data: &[u8]) {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let query = parts.next().unwrap_or_default();
    let last_event_id = parts.next().unwrap_or_default();
    let segment = parts.next().unwrap_or_default();
    const KNOWN: [&str; 7] = ["as_of", "at", "after", "from", "limit", "type", "entity"];
    if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(query) {
        for (i, (name, value)) in pairs.iter().enumerate() {
            if !KNOWN.contains(&name.as_str()) || pairs[..i].iter().any(|(n, _)| n == name) {
                break;
            }
            match name.as_str() {
                "as_of" => {
                    if let Ok(t) = dossier_model::Timestamp::parse_as_of(value) {
                        let _ = dossier_chain::format_recorded(t.to_offset_datetime());
                    }
                }
                "at" => {
                    let _ = dossier_model::Timestamp::parse_as_of(value);
                }
                "after" | "from" | "limit" => {
                    let _ = value.parse::<u64>();
                }
                _ => {}
            }
        }
    }
    if let Ok(v) = http::HeaderValue::from_bytes(last_event_id)
        && let Ok(s) = v.to_str()
    {
        let _ = s.trim().parse::<u64>();
    }
    if let Ok(s) = std::str::from_utf8(segment) {
        let _ = s.parse::<u64>().ok().filter(|n| *n >= 1);
        if let Ok(tile) = dossier_proofs::Tile::parse(&format!("tile/{s}")) {
            let leaves: Vec<dossier_chain::Hash> = (0..300u16)
                .map(|i| dossier_chain::Hash([(i % 251) as u8; 32]))
                .collect();
            let _ = tile.path();
            let _ = tile.data(&leaves[..], 300);
        }
    }
}

fn proof(data: &[u8]) {
    if let Ok(b) = ProofBundle::parse(&text(data)) {
        let _ = b.check(founder_key());
    }
}

/// Something a target did that it must not.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The target.
    pub target: &'static str,
    /// What happened: a panic's message, a hang's time, an allocation's size.
    pub what: String,
    /// The input.
    pub input: Vec<u8>,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Inputs fed.
    pub inputs: u64,
    /// Seeds in the corpus.
    pub seeds: usize,
    /// The slowest call.
    pub slowest: Duration,
    /// What went wrong (the run stops at the first few).
    pub findings: Vec<Finding>,
}

/// The corpus of a target: its seeds from the repository (see the crate documentation).
#[must_use]
pub fn corpus(target: &str, repo: &Path) -> Vec<Vec<u8>> {
    seeds::corpus(target, repo)
}

/// The repository's root (this crate is `crates/dossier-fuzz`).
#[must_use]
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A small deterministic generator (xorshift64*), so that a run is reproducible from its seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Tokens a mutation may insert: the syntax of JSON, of signed notes and of numbers at their
/// edges, and field names of records and bundles.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"null",
    b"true",
    b"-0",
    b"1e999",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"0.0000001",
    b"\n",
    b"\n\n",
    b"\xe2\x80\x94 ",
    b"\r",
    b"\0",
    b"\xff",
    b"\xed\xa0\x80",
    b"\"body\":",
    b"\"seq\":",
    b"\"prev\":",
    b"\"type\":\"batch.seal\"",
    b"\"schema\":",
    b"\"kind\":",
    b"\"quote\":",
    b"\"start\":",
    b"\"end\":",
    b"\"valid_time\":",
    b"\"marking\":\"TLP:RED\"",
    b"TLP:AMBER+STRICT",
    b"\"supersedes\"",
    b"\"proof\":[]",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x01",
    b"\x00\x04\x00\x01",
];

/// One mutant of `input`, with `other` (another corpus input) for splices.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut d = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = d.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                d[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                d.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                d.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let piece = d[i..i + n].to_vec();
                let at = rng.below(len + 1);
                d.splice(at..at, piece);
            }
            5 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                d.truncate(cut);
                d.extend_from_slice(&other[from..]);
            }
            6 | 7 => {
                let i = rng.below(len + 1);
                let token = TOKENS[rng.below(TOKENS.len())];
                d.splice(i..i, token.iter().copied());
            }
            8 if len > 0 => {
                let cut = rng.below(len);
                d.truncate(cut);
            }
            _ if len > 1 => {
                // Swap two bytes far apart (reorders fields, digits, brackets).
                let (i, j) = (rng.below(len), rng.below(len));
                d.swap(i, j);
            }
            _ => d.push(rng.next() as u8),
        }
    }
    d.truncate(MAX_INPUT);
    d
}

/// Feeds one input to a target, catching a panic and timing the call; `None` if all went well.
fn call(target: &Target, input: &[u8], bound: Bound<'_>) -> (Option<String>, Duration) {
    bound();
    let start = Instant::now();
    let outcome = std::panic::catch_unwind(|| (target.run)(input));
    let took = start.elapsed();
    let what = match outcome {
        Err(p) => Some(format!(
            "panicked: {}",
            p.downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into())
        )),
        Ok(()) if took > MAX_CALL => Some(format!("took {took:?} (hang bound {MAX_CALL:?})")),
        Ok(()) => None,
    };
    (what, took)
}

/// Runs `target` on its corpus and then on `inputs` mutants of it, from `seed`. Stops after
/// the fifth finding. `bound` is called before each input (see [`Bound`]).
#[must_use]
pub fn fuzz(
    target: &Target,
    corpus: &[Vec<u8>],
    inputs: u64,
    seed: u64,
    bound: Bound<'_>,
) -> Report {
    let mut report = Report {
        seeds: corpus.len(),
        ..Report::default()
    };
    let note = |input: &[u8], what: String, report: &mut Report| {
        report.findings.push(Finding {
            target: target.name,
            what,
            input: input.to_vec(),
        });
    };
    // Panics are caught and reported as findings; the default hook would print each one.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for input in corpus {
        let (what, took) = call(target, input, bound);
        report.inputs += 1;
        report.slowest = report.slowest.max(took);
        if let Some(what) = what {
            note(input, what, &mut report);
        }
    }
    let mut rng = Rng::new(seed);
    let empty = Vec::new();
    for _ in 0..inputs {
        if report.findings.len() >= 5 {
            break;
        }
        let base = corpus.get(rng.below(corpus.len())).unwrap_or(&empty);
        let other = corpus.get(rng.below(corpus.len())).unwrap_or(&empty);
        let input = mutate(&mut rng, base, other);
        let (what, took) = call(target, &input, bound);
        report.inputs += 1;
        report.slowest = report.slowest.max(took);
        if let Some(what) = what {
            note(&input, what, &mut report);
        }
    }
    std::panic::set_hook(hook);
    report
}

/// Feeds one saved input to a target again (a finding's reproduction).
///
/// # Errors
/// What went wrong, as the run reported it.
pub fn replay(target: &Target, input: &[u8], bound: Bound<'_>) -> Result<Duration, String> {
    match call(target, input, bound) {
        (None, took) => Ok(took),
        (Some(what), _) => Err(what),
    }
}

/// Writes a finding's input where a person can replay it: `dir/<target>-<hash>.bin`.
///
/// # Errors
/// The file could not be written.
pub fn save(dir: &Path, f: &Finding) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = format!(
        "{}-{}.bin",
        f.target,
        &Hash::of_record(&f.input).to_hex()[..16]
    );
    let path = dir.join(name);
    std::fs::write(&path, &f.input)?;
    Ok(path)
}
