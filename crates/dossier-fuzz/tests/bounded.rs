//! The bounded fuzz run of the test command: every target, its whole corpus, then mutants
//! (`DOSSIER_FUZZ_INPUTS` per target; by default 100,000 in an optimized build, which is how
//! `scripts/test.sh` runs it, and 2,000 in a debug build, where signature checks are two orders
//! of magnitude slower) from a seed printed first (`DOSSIER_FUZZ_SEED` replays one). Any panic,
//! hang or unbounded allocation fails the test, with the input saved under
//! `target/fuzz-findings/`.

#![allow(clippy::unwrap_used)]

#[global_allocator]
static ALLOC: dossier_fuzz::Allocator = dossier_fuzz::allocator();

/// Bounds what one input may allocate (see `dossier_fuzz::MAX_ALLOCATION`).
fn bound() {
    dossier_fuzz::bound(&ALLOC);
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// One test per target, so that the harness runs them side by side.
fn run(name: &str) {
    let target = dossier_fuzz::targets()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap();
    let default = if cfg!(debug_assertions) {
        2_000
    } else {
        100_000
    };
    let inputs = env_u64("DOSSIER_FUZZ_INPUTS").unwrap_or(default);
    let seed = env_u64("DOSSIER_FUZZ_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let repo = dossier_fuzz::repo_root();
    let corpus = dossier_fuzz::corpus(name, &repo);
    assert!(
        corpus.len() >= 2,
        "{name}: the corpus has {} seed(s)",
        corpus.len()
    );
    let start = std::time::Instant::now();
    let report = dossier_fuzz::fuzz(&target, &corpus, inputs, seed, &bound);
    println!(
        "fuzz {name} ({}): {} inputs from {} seeds in {:.1?}, seed {seed}, slowest {:?}",
        target.about,
        report.inputs,
        report.seeds,
        start.elapsed(),
        report.slowest
    );
    let mut lines = Vec::new();
    for f in &report.findings {
        let saved = dossier_fuzz::save(&repo.join("target/fuzz-findings"), f)
            .map_or_else(|e| format!("not saved: {e}"), |p| p.display().to_string());
        lines.push(format!("{}: {} (input: {saved})", f.target, f.what));
    }
    assert!(
        lines.is_empty(),
        "seed {seed}: {}; replay with cargo run -p dossier-fuzz -- --replay FILE --target {name}",
        lines.join("; ")
    );
    assert_eq!(report.inputs, inputs + corpus.len() as u64);
}

#[test]
fn bundle() {
    run("bundle");
}

#[test]
fn record() {
    run("record");
}

#[test]
fn verify() {
    run("verify");
}

#[test]
fn frames() {
    run("frames");
}

#[test]
fn export() {
    run("export");
}

#[test]
fn note() {
    run("note");
}

#[test]
fn proof() {
    run("proof");
}

#[test]
fn http() {
    run("http");
}
