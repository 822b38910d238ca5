//! A producer killed with SIGKILL inside the append: the ledger always verifies and holds each
//! batch wholly or not at all.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt as _;
use std::time::{Duration, Instant};

use crate::support::{
    Generated, Ledger, example_files, gen_bundle, random_u64, stderr_lines, wait_for_line,
};

/// Events present in the ledger, as entity keys.
fn recorded(l: &Ledger) -> BTreeSet<String> {
    l.log().into_iter().map(|r| r.entity).collect()
}

/// How many of the bundle's events are in `present`.
fn present_count(b: &Generated, present: &BTreeSet<String>) -> usize {
    b.entities.iter().filter(|e| present.contains(*e)).count()
}

/// Checks the ledger verifies completely: no failure, every record sealed.
#[track_caller]
fn verifies(l: &Ledger) -> u64 {
    let (code, v) = l.verify_json();
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        v["last_sealed"], v["last_seq"],
        "an incomplete batch is stored: {v}"
    );
    v["last_seq"].as_u64().expect("last_seq")
}

/// A ledger with example 01 and a bundle of about 900 events written next to it.
fn setup(tag: &str) -> (Ledger, Generated, String) {
    let l = Ledger::init();
    l.run(&["publish", &example_files()[0].display().to_string()])
        .ok();
    let g = gen_bundle(tag, 20, 870);
    assert_eq!(g.events(), 893);
    let file = l.write_json(&format!("{tag}.json"), &g.json);
    (l, g, file)
}

/// Publishes `file` with the fault pause at `point`, waits for the pause, and kills the process.
fn kill_at(l: &Ledger, file: &str, point: &str) {
    let mut child = l
        .command()
        .args(["publish", file])
        .env("DOSSIER_FAULT_PAUSE", point)
        .spawn()
        .expect("spawn publish");
    let lines = stderr_lines(&mut child);
    wait_for_line(
        &lines,
        &format!("dossier: paused at {point}"),
        Duration::from_secs(60),
    );
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert_eq!(
        status.signal(),
        Some(9),
        "the producer was not killed but ended with {status}"
    );
}

#[test]
fn killed_before_commit_leaves_nothing_and_republish_appends_all() {
    let (l, g, file) = setup("before-commit");
    let before = l.head();
    kill_at(&l, &file, "before-commit");

    assert_eq!(verifies(&l), before.seq);
    assert_eq!(l.head(), before, "the killed batch left records");
    assert_eq!(present_count(&g, &recorded(&l)), 0);

    let out = l.run(&["publish", &file]);
    let (first, last) = (before.seq + 1, before.seq + 894);
    assert_eq!(
        out.ok().stdout.trim(),
        format!("published {file}: seq {first}..={last} (893 events + seal)")
    );
    assert_eq!(verifies(&l), last);
    assert_eq!(present_count(&g, &recorded(&l)), 893);
}

#[test]
fn killed_after_commit_keeps_everything_and_republish_is_unchanged() {
    let (l, g, file) = setup("after-commit");
    let before = l.head();
    kill_at(&l, &file, "after-commit");

    assert_eq!(
        verifies(&l),
        before.seq + 894,
        "the committed batch is not whole"
    );
    assert_eq!(present_count(&g, &recorded(&l)), 893);
    let head = l.head();
    let out = l.run(&["publish", &file]);
    assert!(
        out.ok()
            .stdout
            .starts_with(&format!("unchanged {file}: all 893 events")),
        "{}",
        out.stdout
    );
    assert_eq!(l.head(), head);
}

#[test]
fn killed_at_random_moments_every_bundle_is_whole_or_absent() {
    let l = Ledger::init();
    let round_bundles = |round: &str| -> Vec<(Generated, String)> {
        (0..4)
            .map(|i| {
                let g = gen_bundle(&format!("{round}-b{i}"), 5, 150);
                let file = l.write_json(&format!("{round}-b{i}.json"), &g.json);
                (g, file)
            })
            .collect()
    };
    let publish = |bundles: &[(Generated, String)]| {
        let mut cmd = l.command();
        cmd.arg("publish");
        for (_, f) in bundles {
            cmd.arg(f);
        }
        cmd
    };

    // Calibrate: how long does an uninterrupted publish of four bundles take here?
    let calibration = round_bundles("calibrate");
    let started = Instant::now();
    let out = publish(&calibration).output().expect("publish");
    let full = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    verifies(&l);

    let mut all = calibration;
    let mut outcomes = Vec::new();
    for round in 0..6 {
        let bundles = round_bundles(&format!("round{round}"));
        // Kill somewhere between process start and (almost) the end of the run.
        let millis = u64::try_from(full.as_millis()).expect("fits").max(20);
        let delay = Duration::from_millis(random_u64() % millis);
        let mut child = publish(&bundles).spawn().expect("spawn publish");
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL");
        child.wait().expect("wait");

        let head = verifies(&l);
        let present = recorded(&l);
        let counts: Vec<usize> = bundles
            .iter()
            .map(|(g, _)| present_count(g, &present))
            .collect();
        for ((g, file), n) in bundles.iter().zip(&counts) {
            assert!(
                *n == 0 || *n == g.events(),
                "round {round}: {file} is partly present ({n} of {})",
                g.events()
            );
        }
        // Bundles are published in order, so the present ones are a prefix.
        let whole: Vec<bool> = counts.iter().map(|n| *n > 0).collect();
        assert!(
            whole.windows(2).all(|w| w[0] || !w[1]),
            "round {round}: not a prefix: {whole:?}"
        );
        outcomes.push(format!(
            "kill after {delay:?}: {} of 4 bundles in, head {head}",
            whole.iter().filter(|w| **w).count()
        ));
        all.extend(bundles);
    }
    eprintln!("uninterrupted run {full:?}; {outcomes:#?}");

    // Publishing everything again completes the interrupted rounds, and nothing is doubled.
    let out = publish(&all).output().expect("publish");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: usize = 2 + all.iter().map(|(g, _)| g.events() + 1).sum::<usize>();
    assert_eq!(verifies(&l), expected as u64);
    let present = recorded(&l);
    for (g, file) in &all {
        assert_eq!(present_count(g, &present), g.events(), "{file}");
    }
}
