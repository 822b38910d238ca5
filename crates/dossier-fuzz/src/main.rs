//! The long fuzz run: `cargo run --release -p dossier-fuzz -- [--inputs N] [--seed S]
//! [--target NAME]` feeds N mutants (default 1,000,000) to each target, prints a line per
//! target, saves any finding's input under `target/fuzz-findings/`, and exits 1 if there was
//! one. `--replay FILE --target NAME` feeds one saved input again.

use std::process::ExitCode;

/// Bounds what one input may allocate (see `dossier_fuzz::MAX_ALLOCATION`).
#[global_allocator]
static ALLOC: dossier_fuzz::Allocator = dossier_fuzz::allocator();

/// Bounds what one input may allocate (see `dossier_fuzz::MAX_ALLOCATION`).
fn bound() {
    dossier_fuzz::bound(&ALLOC);
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let inputs: u64 = value("--inputs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = value("--seed")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs())
        });
    let only = value("--target");
    let targets: Vec<_> = dossier_fuzz::targets()
        .into_iter()
        .filter(|t| only.as_deref().is_none_or(|o| o == t.name))
        .collect();
    if targets.is_empty() {
        eprintln!("dossier-fuzz: no target named {only:?}");
        return ExitCode::from(2);
    }
    if let Some(file) = value("--replay") {
        let input = match std::fs::read(&file) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("dossier-fuzz: {file}: {e}");
                return ExitCode::from(2);
            }
        };
        let mut failed = false;
        for t in &targets {
            match dossier_fuzz::replay(t, &input, &bound) {
                Ok(took) => println!("{}: ok in {took:?}", t.name),
                Err(what) => {
                    println!("{}: {what}", t.name);
                    failed = true;
                }
            }
        }
        return if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    let repo = dossier_fuzz::repo_root();
    let findings_dir = repo.join("target/fuzz-findings");
    println!("seed {seed}; {inputs} inputs per target");
    let mut found = 0;
    for t in &targets {
        let corpus = dossier_fuzz::corpus(t.name, &repo);
        let start = std::time::Instant::now();
        let report = dossier_fuzz::fuzz(t, &corpus, inputs, seed, &bound);
        println!(
            "{}: {} inputs from {} seeds in {:.1?}, slowest {:?}, {} finding(s)",
            t.name,
            report.inputs,
            report.seeds,
            start.elapsed(),
            report.slowest,
            report.findings.len()
        );
        for f in &report.findings {
            found += 1;
            match dossier_fuzz::save(&findings_dir, f) {
                Ok(path) => println!(
                    "  {}: {} (input saved as {})",
                    f.target,
                    f.what,
                    path.display()
                ),
                Err(e) => println!("  {}: {} (input not saved: {e})", f.target, f.what),
            }
        }
    }
    if found > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
