//! Projector kills: the projector (`dossier serve` on SQLite, `dossier projector` on a real
//! `nats-server`), a reader catching the views up itself (`dossier beliefs`) and `dossier views
//! rebuild` are killed with SIGKILL at random instants — in the first milliseconds of the
//! process, while the store is being created (no `views.db` yet), during a catch-up, while
//! following live publishes, during a rebuild and inside a rebuild's swap with a projector
//! running beside it — and restarted, with bundles published between some kills. Every restart
//! must recover by itself, and the store the runs leave must answer exactly as a store rebuilt
//! cleanly from the same ledger.
//!
//! What the tally counts (`N runs, X lost, Y duplicated, Z undetected`):
//!
//! * **runs**: SIGKILLs sent to a projector, a reader or a rebuild.
//! * **lost**: a restart that did not recover without a manual step — a projector that exited
//!   by itself (a store refused, an error), did not reach the ledger's head in time, or a
//!   store that `views status` cannot read; a checkpoint that moved back (committed pages
//!   lost); and at the end, fewer stored events or history entries than the clean rebuild has.
//! * **duplicated**: an event applied twice — at the end, more stored events or history
//!   entries than the clean rebuild has, or a question's history listing one seq twice.
//! * **undetected**: an answer that differs from the clean rebuild's although every restart
//!   said it had caught up — the digest, `beliefs --json`, `beliefs --json --as-of T` for
//!   every distinct recorded time T of the ledger, or `history --json` or `why --json` of a
//!   question (each differing answer counts once).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    Dossier, NoLine, Rng, Running, Tally, copy_dir, follow_up_bundle, remove_if_present,
    report_bundle, scale, seed, temp_dir, write_bundle,
};

/// Questions and claims per generated report bundle: 3 + 40 + 790 = 833 events and a seal.
const QUESTIONS: usize = 40;
const CLAIMS: usize = 790;

/// Where a kill lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// 0–5 ms after the process is started: before it opened anything.
    AtSpawn,
    /// With no store yet, while the projector creates it, before its first page: 0–5 ms after
    /// it says it starts, or paused inside the transaction that creates the store.
    StoreCreation,
    /// At a random instant of a catch-up of at least 1,000 records (the whole ledger if the
    /// store is nearer the head than that), from the end of the refold to past its expected
    /// end.
    CatchUp,
    /// Following live: a bundle is published to the running projector, which is killed
    /// 0–300 ms later.
    Live,
    /// A reader (`dossier beliefs`) catching an unserved store up itself, at a random instant
    /// of that catch-up (from no store if the store is near the head).
    Reader,
    /// `views rebuild` at a random instant of its run.
    Rebuild,
    /// `views rebuild` inside its swap, holding the old store's lock before or after the
    /// rename (paused there), or at a random instant around its expected end; a projector runs
    /// beside it, must then apply a new bundle on whichever store the kill left, and is
    /// killed too.
    RebuildSwap,
}

/// The kills of a bounded run, per backend; [`scale`] multiplies them.
const SQLITE_PHASES: &[(Phase, usize)] = &[
    (Phase::StoreCreation, 2),
    (Phase::AtSpawn, 2),
    (Phase::CatchUp, 4),
    (Phase::Live, 2),
    (Phase::Reader, 1),
    (Phase::Rebuild, 1),
    (Phase::RebuildSwap, 2),
];
const JETSTREAM_PHASES: &[(Phase, usize)] = &[
    (Phase::StoreCreation, 1),
    (Phase::AtSpawn, 1),
    (Phase::CatchUp, 2),
    (Phase::Live, 1),
    (Phase::Reader, 1),
    (Phase::RebuildSwap, 1),
];

/// A campaign on one ledger.
struct Campaign {
    d: Dossier,
    /// `serve` or `projector`.
    service: &'static str,
    views: PathBuf,
    /// Where follow-up bundles are written (outside the data directory).
    bundles: tempfile::TempDir,
    base: Vec<String>,
    rng: Rng,
    tally: Tally,
    follow_ups: u64,
    /// Questions the follow-ups assessed.
    assessed: Vec<String>,
    /// The last checkpoint seen; it may only grow (unless the campaign removed the store).
    checkpoint: u64,
    /// Time per record of a catch-up after the refold, as last measured.
    per_record: Duration,
    /// How long an uninterrupted rebuild took.
    rebuild: Duration,
}

impl Campaign {
    fn status(&self) -> Result<Value, String> {
        self.d.run(&["views", "status", "--json"]).json()
    }

    fn publish_follow_up(&mut self) {
        self.follow_ups += 1;
        let n = self.follow_ups;
        let of = self.base[self.rng.below(self.base.len() as u64) as usize].clone();
        let tag = format!("f{n}");
        let what = self.rng.next_u64();
        let path = write_bundle(
            self.bundles.path(),
            &format!("{tag}.json"),
            &follow_up_bundle(&tag, &of, QUESTIONS, CLAIMS, what),
        );
        self.assessed
            .push(format!("question:gen/{of}/q{}", what % QUESTIONS as u64));
        self.d.run(&["publish", &path]).ok();
    }

    /// After a kill: how the process ended (a projector never ends by itself; a rebuild or a
    /// reader, `may_finish`, may have finished before the kill), and whether the store still
    /// reads and its checkpoint did not move back.
    fn after_kill(
        &mut self,
        what: &str,
        ended: Option<std::process::ExitStatus>,
        p: &mut Running,
        may_finish: bool,
    ) {
        self.tally.runs += 1;
        let how = match ended {
            None => "killed",
            Some(status) if status.success() && may_finish => "finished before the kill",
            Some(status) => {
                self.tally.lost(format!(
                    "{what}: ended by itself ({status}) instead of running: {}",
                    p.tail()
                ));
                "ended by itself"
            }
        };
        match self.status() {
            Ok(s) => {
                let seq = s["seq"].as_u64().unwrap_or(0);
                if seq < self.checkpoint {
                    self.tally.lost(format!(
                        "{what}: the checkpoint went back from {} to {seq}",
                        self.checkpoint
                    ));
                }
                self.checkpoint = seq;
                self.tally.note(format!(
                    "{what}: {how}; store at seq {seq} of {}",
                    s["head"]
                ));
            }
            Err(e) => self
                .tally
                .lost(format!("{what}: views status fails after the kill: {e}")),
        }
    }

    /// The store's lag behind the head; if it is less than `records`, the store is removed
    /// first (a catch-up from nothing, as a new deployment would make), and the lag is the
    /// whole ledger.
    fn lag_of_at_least(&mut self, records: u64) -> u64 {
        let lag = self
            .status()
            .ok()
            .and_then(|s| s["lag"].as_u64())
            .unwrap_or(0);
        if lag >= records {
            return lag;
        }
        self.remove_store();
        self.status()
            .ok()
            .and_then(|s| s["head"].as_u64())
            .unwrap_or(0)
    }

    fn remove_store(&mut self) {
        remove_if_present(&self.views);
        let mut journal = self.views.clone().into_os_string();
        journal.push("-journal");
        remove_if_present(&PathBuf::from(journal));
        self.checkpoint = 0;
    }

    /// Waits for a line of a process that must keep running; a process that ends or stays
    /// silent is a failed restart (lost), and `None` is returned.
    fn expect_line(
        &mut self,
        what: &str,
        p: &mut Running,
        needle: &str,
        wait: Duration,
    ) -> Option<String> {
        match p.wait_for(needle, wait) {
            Ok(line) => Some(line),
            Err(NoLine::Ended(e) | NoLine::TimedOut(e)) => {
                let ended = p.kill();
                self.tally.runs += 1;
                self.tally
                    .lost(format!("{what}: did not recover ({ended:?}): {e}"));
                None
            }
        }
    }

    /// Waits until the running projector says it caught up at the ledger's head (as
    /// `views status` sees it when the line arrives); returns the digest it printed. A
    /// projector that ends or stays silent is a failed restart (lost), and `None` is returned.
    fn caught_up(&mut self, what: &str, p: &mut Running, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.expect_line(what, p, "caught up at seq ", left)?;
            let seq = line
                .split("caught up at seq ")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.parse::<u64>().ok());
            let head = self.status().ok().and_then(|s| s["head"].as_u64());
            if let (Some(seq), Some(head)) = (seq, head)
                && seq >= head
            {
                return line.split("digest ").nth(1).map(|d| d.trim().to_owned());
            }
        }
    }

    fn run(&mut self, phase: Phase, i: usize) {
        let what = format!("run {i} ({phase:?}, {})", self.service);
        let service = self.service;
        match phase {
            Phase::AtSpawn => {
                let delay = self.rng.between(Duration::ZERO, Duration::from_millis(5));
                let mut p = self.d.spawn(&[service]);
                sleep_until(p.started + delay);
                let ended = p.kill();
                self.after_kill(&format!("{what} at {delay:?}"), ended, &mut p, false);
            }
            Phase::StoreCreation => {
                self.remove_store();
                let delay = self.rng.between(Duration::ZERO, Duration::from_millis(5));
                // Half the time paused inside the transaction creating the store; otherwise
                // wherever the start-up has got to.
                let (mut p, needle) = if self.rng.chance(0.5) {
                    let p = self
                        .d
                        .spawn_with(&[service], &[("DOSSIER_FAULT_PAUSE", "views-create")]);
                    (p, "dossier: paused at views-create")
                } else {
                    (self.d.spawn(&[service]), "projector: keeping")
                };
                if self
                    .expect_line(&what, &mut p, needle, Duration::from_secs(30))
                    .is_none()
                {
                    return;
                }
                std::thread::sleep(delay);
                let ended = p.kill();
                let created = self.views.exists();
                self.after_kill(
                    &format!("{what} {delay:?} after {needle:?} (store file there: {created})"),
                    ended,
                    &mut p,
                    false,
                );
            }
            Phase::CatchUp => {
                let lag = self.lag_of_at_least(1_000);
                let expected = self.per_record * u32::try_from(lag).unwrap_or(u32::MAX);
                let mut p = self.d.spawn(&[service]);
                let Some(_) =
                    self.expect_line(&what, &mut p, "projector: resumed", Duration::from_secs(60))
                else {
                    return;
                };
                let resumed = Instant::now();
                let delay = self.rng.between(Duration::ZERO, expected.mul_f64(1.1));
                sleep_until(resumed + delay);
                let ended = p.kill();
                // Learn the rate: from a catch-up that finished before the kill, or at least
                // as slow as one that had not.
                let lag32 = u32::try_from(lag.max(1)).unwrap_or(u32::MAX);
                if let Some(done) = p.arrived("caught up at seq ") {
                    self.per_record = done.saturating_duration_since(resumed) / lag32;
                } else if delay > expected {
                    self.per_record = delay / lag32;
                }
                self.after_kill(
                    &format!(
                        "{what} {delay:?} into a catch-up of {lag} records (expected {expected:?})"
                    ),
                    ended,
                    &mut p,
                    false,
                );
            }
            Phase::Live => {
                let mut p = self.d.spawn(&[service]);
                if self
                    .caught_up(&what, &mut p, Duration::from_secs(120))
                    .is_none()
                {
                    return;
                }
                self.publish_follow_up();
                let delay = self.rng.between(Duration::ZERO, Duration::from_millis(300));
                std::thread::sleep(delay);
                let ended = p.kill();
                self.after_kill(
                    &format!("{what} {delay:?} after a live publish"),
                    ended,
                    &mut p,
                    false,
                );
            }
            Phase::Reader => {
                let lag = self.lag_of_at_least(1_000);
                let expected = self.per_record * u32::try_from(lag).unwrap_or(u32::MAX);
                // Measured from the start of the process (a reader prints no progress), within
                // the catch-up expected.
                let delay = self.rng.between(Duration::ZERO, expected.mul_f64(0.9));
                let mut p = self.d.spawn(&["beliefs", "--json"]);
                sleep_until(p.started + delay);
                let ended = p.kill();
                self.after_kill(
                    &format!(
                        "{what}: beliefs {delay:?} after start, catching up {lag} records itself"
                    ),
                    ended,
                    &mut p,
                    true,
                );
            }
            Phase::Rebuild => {
                let delay = self.rng.between(Duration::ZERO, self.rebuild.mul_f64(1.1));
                let mut p = self.d.spawn(&["views", "rebuild"]);
                sleep_until(p.started + delay);
                let ended = p.kill();
                self.after_kill(
                    &format!(
                        "{what}: views rebuild {delay:?} after start (a whole one takes {:?})",
                        self.rebuild
                    ),
                    ended,
                    &mut p,
                    true,
                );
            }
            Phase::RebuildSwap => {
                let mut s = self.d.spawn(&[service]);
                if self
                    .caught_up(&what, &mut s, Duration::from_secs(120))
                    .is_none()
                {
                    return;
                }
                // Inside the swap: paused holding the old store's lock before or after the
                // rename, or at a random instant around the end of a whole rebuild.
                let (mut p, at) = match self.rng.below(3) {
                    0 => (
                        self.d.spawn_with(
                            &["views", "rebuild"],
                            &[("DOSSIER_FAULT_PAUSE", "rebuild-swap")],
                        ),
                        Some("rebuild-swap"),
                    ),
                    1 => (
                        self.d.spawn_with(
                            &["views", "rebuild"],
                            &[("DOSSIER_FAULT_PAUSE", "rebuild-swapped")],
                        ),
                        Some("rebuild-swapped"),
                    ),
                    _ => (self.d.spawn(&["views", "rebuild"]), None),
                };
                let delay = match at {
                    Some(point) => {
                        if self
                            .expect_line(
                                &what,
                                &mut p,
                                &format!("dossier: paused at {point}"),
                                Duration::from_secs(120),
                            )
                            .is_none()
                        {
                            return;
                        }
                        let delay = self.rng.between(Duration::ZERO, Duration::from_millis(5));
                        std::thread::sleep(delay);
                        format!("{delay:?} after pausing at {point}")
                    }
                    None => {
                        let delay = self
                            .rng
                            .between(self.rebuild.mul_f64(0.9), self.rebuild.mul_f64(1.1));
                        sleep_until(p.started + delay);
                        format!(
                            "{delay:?} after start (a whole one takes {:?})",
                            self.rebuild
                        )
                    }
                };
                let ended = p.kill();
                self.after_kill(
                    &format!("{what}: views rebuild {delay}, {service} running"),
                    ended,
                    &mut p,
                    true,
                );
                // The projector beside it carries on: it applies a new bundle, on whichever
                // store the rebuild left.
                self.publish_follow_up();
                if self
                    .caught_up(
                        &format!("{what}: {service} after the rebuild's kill"),
                        &mut s,
                        Duration::from_secs(120),
                    )
                    .is_none()
                {
                    return;
                }
                let delay = self.rng.between(Duration::ZERO, Duration::from_millis(5));
                std::thread::sleep(delay);
                let ended = s.kill();
                self.after_kill(
                    &format!("{what}: {service} {delay:?} after catching up"),
                    ended,
                    &mut s,
                    false,
                );
            }
        }
    }

    /// Restarts the projector once more, lets it reach the head, stops it cleanly, and compares
    /// its store with a clean rebuild of the same ledger in a copy of the data directory.
    fn finish(mut self, min_runs: usize) {
        self.publish_follow_up();
        let mut p = self.d.spawn(&[self.service]);
        let Some(digest) = self.caught_up("final restart", &mut p, Duration::from_secs(180)) else {
            self.tally.finish(min_runs);
            return;
        };
        match p.terminate(Duration::from_secs(30)) {
            Some(s) if s.success() => {}
            other => self.tally.lost(format!(
                "final restart: SIGTERM did not stop the projector cleanly ({other:?}): {}",
                p.tail()
            )),
        }
        drop(p);

        let clean_dir = temp_dir("dossier-campaign-clean-");
        copy_dir(self.d.dir(), clean_dir.path(), &["views"]);
        // The JetStream views live in jetstream/<ledger>-views.db, which the copy took.
        let clean = self.d.in_dir(clean_dir.path());
        let clean_views = clean.views_path();
        remove_if_present(&clean_views);
        let rebuilt = clean.run(&["views", "rebuild", "--json"]).json();
        let status = self.status();
        match (status, rebuilt) {
            (Ok(s), Ok(r)) => {
                if s["lag"] != 0 {
                    self.tally
                        .lost(format!("after the final restart the store lags: {s}"));
                }
                if s["digest"] != r["digest"] || r["digest"] != digest.as_str() {
                    self.tally.undetected(format!(
                        "digest: store {} (the projector said {digest}), clean rebuild {}",
                        s["digest"], r["digest"]
                    ));
                }
            }
            (s, r) => self
                .tally
                .lost(format!("final status or rebuild failed: {s:?} / {r:?}")),
        }
        self.compare(&clean);
        self.compare_counts(&clean_views);
        self.tally.finish(min_runs);
    }

    /// Every answer of the run's store against the clean rebuild's.
    fn compare(&mut self, clean: &Dossier) {
        let seals = self.d.run(&["log", "--json", "--type", "batch.seal"]).ok();
        let times: BTreeSet<String> = seals
            .stdout
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).expect("a JSON line")["recorded"]
                    .as_str()
                    .expect("recorded")
                    .to_owned()
            })
            .collect();
        let mut queries: Vec<Vec<String>> = vec![vec!["beliefs".into(), "--json".into()]];
        for t in &times {
            queries.push(vec![
                "beliefs".into(),
                "--json".into(),
                "--as-of".into(),
                t.clone(),
            ]);
        }
        // Three questions that follow-ups assessed (long histories) and three at random.
        let mut questions: BTreeSet<String> = BTreeSet::new();
        for _ in 0..3 {
            if !self.assessed.is_empty() {
                let at = self.rng.below(self.assessed.len() as u64) as usize;
                questions.insert(self.assessed[at].clone());
            }
        }
        for _ in 0..3 {
            let tag = &self.base[self.rng.below(self.base.len() as u64) as usize];
            questions.insert(format!(
                "question:gen/{tag}/q{}",
                self.rng.below(QUESTIONS as u64)
            ));
        }
        for q in &questions {
            queries.push(vec!["history".into(), "--json".into(), q.clone()]);
            queries.push(vec!["why".into(), "--json".into(), q.clone()]);
        }
        let answer = |d: &Dossier| -> Vec<Result<Value, String>> {
            queries
                .iter()
                .map(|q| {
                    d.run(&q.iter().map(String::as_str).collect::<Vec<_>>())
                        .json()
                })
                .collect()
        };
        let (ours, theirs) = std::thread::scope(|s| {
            let ours = s.spawn(|| answer(&self.d));
            let theirs = answer(clean);
            (ours.join().expect("queries"), theirs)
        });
        for ((q, a), b) in queries.iter().zip(&ours).zip(&theirs) {
            if q[0] == "history"
                && let Ok(doc) = a
            {
                let seqs: Vec<u64> = doc["changes"]
                    .as_array()
                    .map(|c| c.iter().filter_map(|c| c["seq"].as_u64()).collect())
                    .unwrap_or_default();
                if seqs.windows(2).any(|w| w[0] >= w[1]) {
                    self.tally.duplicated(format!(
                        "{}: a seq repeats or goes back: {seqs:?}",
                        q.join(" ")
                    ));
                }
            }
            if a != b {
                self.tally.undetected(format!(
                    "`{}` differs from the clean rebuild's: {}",
                    q.join(" "),
                    first_difference(a, b)
                ));
            }
        }
        self.tally.note(format!(
            "compared {} answers ({} as-of times, history and why of {} questions) with a clean rebuild",
            queries.len(),
            times.len(),
            questions.len()
        ));
    }

    /// Rows of stored events and history: as many as the clean rebuild's.
    fn compare_counts(&mut self, clean_views: &std::path::Path) {
        let count = |path: &std::path::Path, table: &str| -> i64 {
            let conn = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .expect("open the views read-only");
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .expect("count rows")
        };
        for table in ["events", "history"] {
            let (ours, theirs) = (count(&self.views, table), count(clean_views, table));
            if ours > theirs {
                self.tally.duplicated(format!(
                    "{table}: {ours} rows, the clean rebuild has {theirs}"
                ));
            } else if ours < theirs {
                self.tally.lost(format!(
                    "{table}: {ours} rows, the clean rebuild has {theirs}"
                ));
            }
        }
    }
}

fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

/// Where two answers part, briefly.
fn first_difference(a: &Result<Value, String>, b: &Result<Value, String>) -> String {
    fn walk(a: &Value, b: &Value, path: &str) -> String {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for (k, v) in x {
                    match y.get(k) {
                        Some(w) if w == v => {}
                        Some(w) => return walk(v, w, &format!("{path}/{k}")),
                        None => return format!("{path}/{k} only in the run's store"),
                    }
                }
                format!("{path}: keys only in the clean rebuild's")
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    if v != w {
                        return walk(v, w, &format!("{path}/{i}"));
                    }
                }
                path.to_owned()
            }
            _ => {
                let short = |v: &Value| {
                    let s = v.to_string();
                    if s.len() > 300 {
                        format!("{}…", &s[..300])
                    } else {
                        s
                    }
                };
                format!(
                    "at {path}: run's store {} / clean rebuild {}",
                    short(a),
                    short(b)
                )
            }
        }
    }
    match (a, b) {
        (Ok(a), Ok(b)) => walk(a, b, ""),
        _ => format!("run's store {a:?} / clean rebuild {b:?}"),
    }
}

/// The kills of one backend's run, shuffled by the seed; a run on a store the campaign
/// removed starts it.
fn schedule(rng: &mut Rng, phases: &[(Phase, usize)]) -> Vec<Phase> {
    let mut all: Vec<Phase> = phases
        .iter()
        .flat_map(|&(p, n)| std::iter::repeat_n(p, n * scale()))
        .collect();
    rng.shuffle(&mut all);
    // The first run meets no store at all: make it a store creation.
    if let Some(at) = all.iter().position(|p| *p == Phase::StoreCreation) {
        all.swap(0, at);
    }
    all
}

fn kills(phases: &[(Phase, usize)]) -> usize {
    phases
        .iter()
        .map(|&(p, n)| n * if p == Phase::RebuildSwap { 2 } else { 1 })
        .sum::<usize>()
        * scale()
}

/// Sets up a campaign on the ledger `d` (initialised, empty): publishes `bundles` report
/// bundles in one call and times an uninterrupted rebuild in a copy of the data directory.
fn set_up(d: Dossier, service: &'static str, bundles: usize, name: &str) -> Campaign {
    let seed = seed();
    let tally = Tally::new(name, seed);
    let dir = temp_dir("dossier-campaign-bundles-");
    let base: Vec<String> = (0..bundles).map(|i| format!("b{i}")).collect();
    let files: Vec<String> = base
        .iter()
        .map(|tag| {
            write_bundle(
                dir.path(),
                &format!("{tag}.json"),
                &report_bundle(tag, QUESTIONS, CLAIMS),
            )
        })
        .collect();
    let started = Instant::now();
    let mut args = vec!["publish"];
    args.extend(files.iter().map(String::as_str));
    d.run(&args).ok();
    let published = started.elapsed();

    let copy = temp_dir("dossier-campaign-calibrate-");
    copy_dir(d.dir(), copy.path(), &["views"]);
    let started = Instant::now();
    d.in_dir(copy.path()).run(&["views", "rebuild"]).ok();
    let rebuild = started.elapsed();
    let views = d.views_path();
    let head = d
        .run(&["views", "status", "--json"])
        .json()
        .expect("status")["head"]
        .as_u64()
        .expect("head");
    let mut campaign = Campaign {
        d,
        service,
        views,
        bundles: dir,
        base,
        rng: Rng::new(seed),
        tally,
        follow_ups: 0,
        assessed: Vec::new(),
        checkpoint: 0,
        // A first guess; measured on the first catch-up that runs to the end.
        per_record: rebuild.mul_f64(1.5) / u32::try_from(head).unwrap_or(1).max(1),
        rebuild,
    };
    campaign.tally.note(format!(
        "ledger of {head} records published in {published:?}; a clean rebuild takes {rebuild:?}"
    ));
    campaign
}

fn campaign(mut c: Campaign, phases: &[(Phase, usize)]) {
    let plan = schedule(&mut c.rng, phases);
    let min_runs = kills(phases);
    for (i, phase) in plan.into_iter().enumerate() {
        c.run(phase, i);
        if c.rng.chance(0.4) {
            c.publish_follow_up();
        }
    }
    c.finish(min_runs);
}

#[test]
fn projector_kills_on_sqlite() {
    let dir = temp_dir("dossier-campaign-sqlite-");
    let d = Dossier::sqlite(dir.path());
    d.run(&["init", "--name", "campaign", "--producer", "analyst"])
        .ok();
    // 24 bundles of 834 records: about 20,000 records, a catch-up of a few seconds here.
    let c = set_up(d, "serve", 24, "projector kills (SQLite, serve)");
    campaign(c, SQLITE_PHASES);
}

#[test]
fn projector_kills_on_jetstream() {
    let server = dossier_testkit::NatsServer::start();
    let dir = temp_dir("dossier-campaign-jetstream-");
    let d = Dossier::jetstream(dir.path(), &server.url(), "kills");
    d.run(&["init", "--producer", "analyst"]).ok();
    // 12 bundles: about 10,000 records.
    let c = set_up(d, "projector", 12, "projector kills (JetStream, projector)");
    campaign(c, JETSTREAM_PHASES);
}
