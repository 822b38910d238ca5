//! Producer kills: `dossier publish --json` of several bundle files, killed with SIGKILL at a
//! random instant, on SQLite and on a JetStream ledger of a real `nats-server`.
//!
//! A file is *acknowledged* when its JSON line reached the caller before the kill (the
//! definition the whole project uses: a line is an acknowledgement). After each kill:
//!
//! - **lost**: an acknowledged file with any of its events missing; a file present only in part
//!   (a batch is all or nothing); a ledger that no longer verifies;
//! - **duplicated**: any event recorded twice, before or after publishing every file again;
//! - **undetected**: publishing every file again does not end with each file present exactly
//!   once (the re-publish is idempotent: what was committed is `unchanged`, the rest appended).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Dossier, Rng, Tally, scale, seed, temp_dir, write_bundle};

/// Bundle files per publish: each one batch of 3 + 2 + CLAIMS events and a seal.
const FILES: usize = 6;
const CLAIMS: usize = 20;
/// Kills per backend in the bounded run.
const RUNS: usize = 20;

/// The entity keys of every recorded domain event, with how many times each occurs.
pub(crate) fn recorded(d: &Dossier) -> BTreeMap<String, usize> {
    // On a loaded machine a JetStream request can time out (exit 1): read again, as an operator
    // would; any other failure is final.
    let mut out = d.run(&["log", "--json"]);
    for _ in 0..5 {
        if out.code != 1 {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
        out = d.run(&["log", "--json"]);
    }
    let out = out.ok();
    let mut seen = BTreeMap::new();
    for line in out.stdout.lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON line per record");
        let ty = v["event_type"].as_str().unwrap_or_default();
        if ty.contains("seal") || ty.starts_with("key.") || ty.starts_with("ledger.") {
            continue;
        }
        *seen
            .entry(v["entity"].as_str().unwrap_or_default().to_owned())
            .or_insert(0) += 1;
    }
    seen
}

/// `publish --json` of `files`, killed `after` its start (or left to finish if it ends first);
/// returns the files acknowledged before the kill.
fn publish_killed(d: &Dossier, files: &[String], after: Duration) -> BTreeSet<String> {
    publish_with_fault(d, files, after, || {}, Duration::ZERO)
}

/// `publish --json` of `files`; `after` its start (unless it ended first) `fault` runs, and
/// the publish is then given `grace` to end by itself before it is killed. Returns the files
/// acknowledged (their JSON lines received) by then.
pub(crate) fn publish_with_fault(
    d: &Dossier,
    files: &[String],
    after: Duration,
    fault: impl FnOnce(),
    grace: Duration,
) -> BTreeSet<String> {
    publish_with_fault_timed(d, files, after, fault, grace).acked
}

/// What a publish under a fault acknowledged, and when.
pub(crate) struct Acknowledged {
    /// The files acknowledged.
    pub acked: BTreeSet<String>,
    /// When each acknowledgement reached the caller, in order.
    pub times: Vec<Instant>,
    /// What the publish wrote to its standard error (why it failed, if it did).
    pub stderr: String,
}

impl Acknowledged {
    /// The publisher's stall after `from` (a kill, or a restart): how long until its next
    /// acknowledgement. `None` if it had acknowledged every one of `files` by then (nothing was
    /// left to stall); `Some(Err(()))` if it acknowledged nothing more.
    pub(crate) fn stall_after(&self, from: Instant, files: usize) -> Option<Result<Duration, ()>> {
        let before = self.times.iter().filter(|t| **t < from).count();
        if before >= files {
            return None;
        }
        Some(
            self.times
                .iter()
                .find(|t| **t >= from)
                .map(|t| *t - from)
                .ok_or(()),
        )
    }
}

/// How long the publisher asks again through a broker outage before it reports a failure
/// (`JetStreamConfig::ride_out`): a publish that acknowledged nothing after a fault from which
/// the cluster was back sooner than this is a failure of the campaign.
pub(crate) const RIDE_OUT: Duration = Duration::from_secs(30);

/// Percentile `p` (0–1, nearest rank) of `stalls`; zero if there is none.
pub(crate) fn percentile(stalls: &[Duration], p: f64) -> Duration {
    let mut sorted = stalls.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Percentiles 50 and 99 and the maximum of `stalls`, for a campaign's report.
pub(crate) fn stall_summary(stalls: &mut [Duration]) -> String {
    if stalls.is_empty() {
        return "no stall measured (every publish had ended before its fault)".into();
    }
    stalls.sort_unstable();
    let at = |p: f64| percentile(stalls, p).as_secs_f64();
    format!(
        "p50 {:.2} s, p99 {:.2} s, max {:.2} s over {} faults",
        at(0.5),
        at(0.99),
        at(1.0),
        stalls.len()
    )
}

/// [`publish_with_fault`], with when each acknowledgement came.
pub(crate) fn publish_with_fault_timed(
    d: &Dossier,
    files: &[String],
    after: Duration,
    fault: impl FnOnce(),
    grace: Duration,
) -> Acknowledged {
    let mut args = vec!["publish", "--json"];
    args.extend(files.iter().map(String::as_str));
    let mut cmd = d.command(&args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    // The publish's log filter (RUST_LOG of the publish alone), to see where a stall went.
    if let Ok(filter) = std::env::var("CAMPAIGN_PUBLISH_LOG") {
        cmd.env("RUST_LOG", filter);
    }
    let mut child = cmd.spawn().expect("dossier publish starts");
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + after;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    fault();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let stderr = errors.join().unwrap_or_default();
    let mut acked = BTreeSet::new();
    let mut times = Vec::new();
    for (at, line) in rx.try_iter() {
        if let Some(file) = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v["file"].as_str().map(str::to_owned))
        {
            acked.insert(file);
            times.push(at);
        }
    }
    Acknowledged {
        acked,
        times,
        stderr,
    }
}

/// Writes the bundle files of one publish; returns them with each file's entity keys.
pub(crate) fn bundle_files(
    dir: &std::path::Path,
    prefix: &str,
) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    let mut files = Vec::new();
    let mut entities: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..FILES {
        let tag = format!("{prefix}-{i}");
        let g = crate::bundles::gen_bundle_with(&tag, 2, CLAIMS, Some(5));
        let path = write_bundle(dir, &format!("{tag}.json"), &g.json);
        entities.insert(path.clone(), g.entities);
        files.push(path);
    }
    (files, entities)
}

/// After a fault in run `run`: every acknowledged file present, no file in part, no event
/// twice, the ledger verifies; then every file published again, each present exactly once.
pub(crate) fn check_run(
    d: &Dossier,
    tally: &mut Tally,
    run: usize,
    files: &[String],
    entities: &BTreeMap<String, Vec<String>>,
    acked: &BTreeSet<String>,
) {
    let seen = recorded(d);
    for (file, ids) in entities {
        let present = ids.iter().filter(|id| seen.contains_key(*id)).count();
        if acked.contains(file) && present < ids.len() {
            tally.lost(format!(
                "run {run}: acknowledged {file} has {present} of {} events",
                ids.len()
            ));
        } else if present != 0 && present != ids.len() {
            tally.lost(format!(
                "run {run}: {file} is in the ledger in part ({present} of {} events)",
                ids.len()
            ));
        }
    }
    for (entity, n) in seen.iter().filter(|(_, n)| **n > 1) {
        tally.duplicated(format!("run {run}: {entity} recorded {n} times"));
    }
    let verify = d.run(&["verify", "--json"]);
    if verify.code != 0 {
        tally.lost(format!(
            "run {run}: the ledger no longer verifies: {}",
            verify.stdout.lines().take(8).collect::<Vec<_>>().join(" ")
        ));
    }
    // Publishing everything again completes the run, idempotently.
    let mut args = vec!["publish", "--json"];
    args.extend(files.iter().map(String::as_str));
    // A cluster still electing a leader may not answer (exit 1, the ledger server): as an
    // operator would, try again a few times. A refusal (3, 4) or a failed check (5) is final.
    let mut again = d.run(&args);
    for _ in 0..5 {
        if again.code != 1 {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
        again = d.run(&args);
    }
    if again.code != 0 {
        tally.undetected(format!(
            "run {run}: publishing again failed ({}): {}",
            again.code, again.stderr
        ));
    }
    let seen = recorded(d);
    for (file, ids) in entities {
        if ids.iter().any(|id| seen.get(id) != Some(&1)) {
            tally.undetected(format!(
                "run {run}: after publishing again, {file} is not present exactly once"
            ));
        }
    }
}

/// How long a whole publish of one set of bundle files takes here (noted in the tally): faults
/// are spread over it.
pub(crate) fn whole_publish(
    d: &Dossier,
    dir: &std::path::Path,
    prefix: &str,
    tally: &mut Tally,
) -> Duration {
    let (files, _) = bundle_files(dir, &format!("{prefix}-calibration"));
    let started = Instant::now();
    let mut args = vec!["publish"];
    args.extend(files.iter().map(String::as_str));
    d.run(&args).ok();
    let whole = started.elapsed();
    tally.note(format!(
        "a whole publish takes {:.0} ms",
        whole.as_secs_f64() * 1e3
    ));
    whole
}

fn campaign(d: &Dossier, name: &str) {
    let seed = seed();
    let mut tally = Tally::new(name, seed);
    let mut rng = Rng::new(seed);
    let work = temp_dir("dossier-campaign-bundles-");
    // How long a whole publish takes here: kills are spread over it (and a little past it).
    let whole = whole_publish(d, work.path(), &format!("k{seed:x}"), &mut tally);
    for run in 0..RUNS * scale() {
        let (files, entities) = bundle_files(work.path(), &format!("k{seed:x}-{run}"));
        // Most kills land inside the publish; some before it wrote anything, a few after.
        let after = rng.between(Duration::ZERO, whole.mul_f64(1.2));
        let acked = publish_killed(d, &files, after);
        tally.runs += 1;
        check_run(d, &mut tally, run, &files, &entities, &acked);
        tally.note(format!(
            "run {run}: killed after {:.0} ms, {} of {FILES} files acknowledged",
            after.as_secs_f64() * 1e3,
            acked.len()
        ));
    }
    tally.finish(RUNS);
}

#[test]
fn producer_kills_on_sqlite() {
    let dir = temp_dir("dossier-campaign-producer-");
    let d = Dossier::sqlite(dir.path());
    d.run(&["init", "--name", "campaign", "--producer", "analyst"])
        .ok();
    campaign(&d, "producer kills (SQLite)");
}

#[test]
fn producer_kills_on_jetstream() {
    let server = dossier_testkit::NatsServer::start();
    let dir = temp_dir("dossier-campaign-producer-js-");
    let d = Dossier::jetstream(dir.path(), &server.url(), "producer");
    d.run(&["init", "--producer", "analyst"]).ok();
    campaign(&d, "producer kills (JetStream)");
}
