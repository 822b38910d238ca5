//! Test support: turns bundle files into recorded events the way the ledger would, and folds them.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use dossier_beliefs::{Engine, Recorded};
use dossier_model::{DomainEvent, KnownEntities, Timestamp, parse_bundle, validate};

/// One recorded event, owned.
#[derive(Clone, Debug)]
pub struct Event {
    /// Sequence number, from 1.
    pub seq: u64,
    /// A fake record hash: BLAKE3 of seq, type and body.
    pub hash: String,
    /// The recorded time of the event's bundle.
    pub recorded: Timestamp,
    /// Which bundle (0-based) the event came from.
    pub bundle: usize,
    /// The event.
    pub event: DomainEvent,
}

impl Event {
    /// Borrows the event as the engine takes it.
    pub fn recorded(&self) -> Recorded<'_> {
        Recorded {
            seq: self.seq,
            hash: &self.hash,
            recorded: self.recorded,
            event: &self.event,
        }
    }
}

/// Parses `s` as a timestamp or panics.
pub fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// A fake but deterministic record hash.
pub fn fake_hash(seq: u64, event: &DomainEvent) -> String {
    let mut h = blake3::Hasher::new();
    h.update(format!("{seq}|{}|", event.event_type()).as_bytes());
    h.update(&event.encode_body());
    h.finalize().to_hex().to_string()
}

/// Parses and validates bundle files in order, threading the known entities from earlier
/// bundles, and assigns seq 1.., a fake hash, and `times[i]` as the recorded time of bundle i.
pub fn load(files: &[PathBuf], times: &[Timestamp]) -> Vec<Event> {
    assert_eq!(files.len(), times.len(), "one recorded time per bundle");
    let mut known = KnownEntities::default();
    let mut out = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let bundle = parse_bundle(&name, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let validated = validate(&name, bundle, &known).unwrap_or_else(|e| panic!("{e}"));
        known.remember(&validated);
        for marked in validated.events {
            let seq = out.len() as u64 + 1;
            out.push(Event {
                seq,
                hash: fake_hash(seq, &marked.event),
                recorded: times[i],
                bundle: i,
                event: marked.event,
            });
        }
    }
    out
}

/// Folds events into a fresh engine.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Engine {
    let mut engine = Engine::new();
    for e in events {
        engine.apply(e.recorded());
    }
    engine
}

/// Folds the events recorded at or before `t` ("as of t").
pub fn fold_as_of(events: &[Event], t: Timestamp) -> Engine {
    fold(events.iter().take_while(|e| e.recorded <= t))
}

/// The `examples/*.json` bundles in file-name order.
pub fn example_files() -> Vec<PathBuf> {
    json_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples"))
}

/// The `*.json` files of a directory except `expected.json`, sorted by name.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| p.file_name().is_some_and(|n| n != "expected.json"))
        .collect();
    files.sort();
    files
}
