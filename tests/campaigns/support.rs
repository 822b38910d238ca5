//! What every campaign shares: the scale and the seed, a seeded random number generator, the
//! tally each campaign prints, the `dossier` binary run on a data directory (SQLite or a
//! JetStream ledger), processes killed at chosen instants, and generated bundles.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How many times the bounded counts each campaign runs: `CAMPAIGN_SCALE` (a positive
/// integer; 1, the bounded run of the test command, when unset).
pub fn scale() -> usize {
    match std::env::var("CAMPAIGN_SCALE") {
        Err(_) => 1,
        Ok(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("CAMPAIGN_SCALE must be a positive integer, not {v:?}")),
    }
}

/// The seed of a campaign: `CAMPAIGN_SEED` (decimal or `0x` hex) to replay a run, otherwise
/// taken from the clock. Campaigns print it first.
pub fn seed() -> u64 {
    if let Ok(v) = std::env::var("CAMPAIGN_SEED") {
        let v = v.trim();
        let parsed = match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => v.parse(),
        };
        return parsed.unwrap_or_else(|_| panic!("CAMPAIGN_SEED must be a u64, not {v:?}"));
    }
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// SplitMix64: small, seeded, and the same sequence on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A duration in `from..=to`, to the microsecond.
    pub fn between(&mut self, from: Duration, to: Duration) -> Duration {
        let span = to.saturating_sub(from).as_micros();
        let span = u64::try_from(span).unwrap_or(u64::MAX);
        from + Duration::from_micros(self.below(span.saturating_add(1)))
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// What a campaign counts, and prints as `N runs, X lost, Y duplicated, Z undetected`.
/// Each campaign says what the three words mean for its fault (see tests/campaigns/README.md);
/// every finding keeps a line of detail, printed with the verdict.
#[derive(Debug)]
pub struct Tally {
    name: String,
    seed: u64,
    started: Instant,
    /// Faults injected (one per kill).
    pub runs: usize,
    lost: Vec<String>,
    duplicated: Vec<String>,
    undetected: Vec<String>,
    notes: Vec<String>,
    /// Whether the verdict goes past the test harness's capture (not for the self-tests).
    loud: bool,
}

impl Tally {
    /// A tally for the campaign `name`, run with `seed`; prints the seed at once, so that a
    /// run that hangs or panics can still be replayed.
    pub fn new(name: &str, seed: u64) -> Tally {
        eprintln!(
            "{name}: seed {seed:#x} (CAMPAIGN_SEED={seed:#x} replays it), scale {}",
            scale()
        );
        Tally {
            name: name.to_owned(),
            seed,
            started: Instant::now(),
            runs: 0,
            lost: Vec::new(),
            duplicated: Vec::new(),
            undetected: Vec::new(),
            notes: Vec::new(),
            loud: true,
        }
    }

    /// Records something lost (see the campaign's definition).
    pub fn lost(&mut self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("{}: LOST: {what}", self.name);
        self.lost.push(what);
    }

    /// Records something duplicated.
    pub fn duplicated(&mut self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("{}: DUPLICATED: {what}", self.name);
        self.duplicated.push(what);
    }

    /// Records a divergence nothing reported.
    pub fn undetected(&mut self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("{}: UNDETECTED: {what}", self.name);
        self.undetected.push(what);
    }

    /// A line of the campaign's log (what each run did), printed as it happens.
    pub fn note(&mut self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("{}: {what}", self.name);
        self.notes.push(what);
    }

    /// The verdict line.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} runs, {} lost, {} duplicated, {} undetected (seed {:#x}, {:.1} s)",
            self.name,
            self.runs,
            self.lost.len(),
            self.duplicated.len(),
            self.undetected.len(),
            self.seed,
            self.started.elapsed().as_secs_f64()
        )
    }

    /// Prints the verdict (always, even when the test harness captures output) and fails on
    /// any finding, or on fewer runs than `at_least`.
    #[track_caller]
    pub fn finish(self, at_least: usize) {
        let summary = self.summary();
        // Written to the process's standard error directly, past the test harness's capture,
        // so that the test command shows every campaign's verdict, passed or not.
        if self.loud {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "{summary}");
        } else {
            eprintln!("{summary}");
        }
        let findings: Vec<&String> = self
            .lost
            .iter()
            .chain(&self.duplicated)
            .chain(&self.undetected)
            .collect();
        assert!(
            findings.is_empty(),
            "{summary}\nfindings:\n  {}\nreplay with CAMPAIGN_SEED={:#x}",
            findings
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  "),
            self.seed
        );
        assert!(
            self.runs >= at_least,
            "{summary}: fewer than the {at_least} runs this campaign must make"
        );
    }
}

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_dossier")
}

/// A finished run of the binary.
#[derive(Debug)]
pub struct Out {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Standard output as one JSON document, or what went wrong.
    pub fn json(&self) -> Result<Value, String> {
        if self.code != 0 {
            return Err(format!("exit {}: {}", self.code, self.stderr.trim()));
        }
        serde_json::from_str(&self.stdout)
            .map_err(|e| format!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Asserts success and returns the output.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(
            self.code, 0,
            "dossier failed\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// The `dossier` binary on one data directory, with the global arguments that select its
/// ledger (none for SQLite; `--nats URL --ledger NAME` for JetStream), in an environment
/// cleared of every `DOSSIER_*` and `NATS_*` variable.
#[derive(Debug, Clone)]
pub struct Dossier {
    dir: PathBuf,
    global: Vec<String>,
}

impl Dossier {
    /// The binary on the SQLite ledger of `dir`.
    pub fn sqlite(dir: &Path) -> Dossier {
        Dossier {
            dir: dir.to_owned(),
            global: Vec::new(),
        }
    }

    /// The binary on the JetStream ledger `ledger` at `url`, with `dir` as its data directory.
    pub fn jetstream(dir: &Path, url: &str, ledger: &str) -> Dossier {
        Dossier {
            dir: dir.to_owned(),
            global: vec![
                "--nats".into(),
                url.into(),
                "--ledger".into(),
                ledger.into(),
            ],
        }
    }

    /// The same ledger seen from another data directory.
    pub fn in_dir(&self, dir: &Path) -> Dossier {
        Dossier {
            dir: dir.to_owned(),
            global: self.global.clone(),
        }
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A command running `args`, its output piped.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.arg("--data-dir")
            .arg(&self.dir)
            .args(&self.global)
            .args(args);
        for var in crate::environment::DOSSIER_VARIABLES {
            cmd.env_remove(var);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `args` to the end.
    pub fn run(&self, args: &[&str]) -> Out {
        let o = self
            .command(args)
            .output()
            .expect("the dossier binary runs");
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// `init` of a ledger of three replicas on a cluster just started: a cluster whose meta
    /// leader is elected may not yet know every peer ("no suitable peers for placement", exit
    /// 1), so it is asked again for a while, as an operator would; any other failure is final.
    pub fn init_replicated(&self) {
        let args = ["--replicas", "3", "init", "--producer", "analyst"];
        let mut out = self.run(&args);
        for _ in 0..20 {
            if out.code != 1 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
            out = self.run(&args);
        }
        out.ok();
    }

    /// Starts `args` as a process whose standard error is read line by line.
    pub fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_with(args, &[])
    }

    /// [`Dossier::spawn`] with environment variables set.
    pub fn spawn_with(&self, args: &[&str], env: &[(&str, &str)]) -> Running {
        let started = Instant::now();
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the dossier binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Running {
            child: Some(child),
            lines: rx,
            seen: Vec::new(),
            started,
        }
    }

    /// The store file of the views, as `views status --json` names it.
    #[track_caller]
    pub fn views_path(&self) -> PathBuf {
        let status = self.run(&["views", "status", "--json"]).ok().json();
        PathBuf::from(
            status.expect("views status is JSON")["store"]
                .as_str()
                .expect("views status names its store"),
        )
    }
}

/// A `dossier` process started by [`Dossier::spawn`]; killed with SIGKILL if dropped running.
#[derive(Debug)]
pub struct Running {
    child: Option<Child>,
    lines: mpsc::Receiver<(Instant, String)>,
    /// Every line of standard error read so far, with when it arrived.
    seen: Vec<(Instant, String)>,
    /// When the process was started.
    pub started: Instant,
}

/// How a wait for a line ended when the line did not come.
#[derive(Debug)]
pub enum NoLine {
    /// The process ended (its standard error closed) first.
    Ended(String),
    /// The time ran out.
    TimedOut(String),
}

impl Running {
    /// Waits for a line of standard error that contains `needle` and returns it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String, NoLine> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) => {
                    self.seen.push((at, line.clone()));
                    if line.contains(needle) {
                        return Ok(line);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(NoLine::TimedOut(format!(
                        "no {needle:?} within {timeout:?}; standard error: {}",
                        self.tail()
                    )));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(NoLine::Ended(format!(
                        "ended before {needle:?}; standard error: {}",
                        self.tail()
                    )));
                }
            }
        }
    }

    /// The last lines of standard error read so far, on one line.
    pub fn tail(&mut self) -> String {
        self.seen.extend(self.lines.try_iter());
        let from = self.seen.len().saturating_sub(8);
        self.seen[from..]
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// When the first line of standard error containing `needle` arrived, among the lines
    /// written so far (after a kill: all of them).
    pub fn arrived(&mut self, needle: &str) -> Option<Instant> {
        self.seen.extend(self.lines.try_iter());
        self.seen
            .iter()
            .find(|(_, l)| l.contains(needle))
            .map(|(at, _)| *at)
    }

    /// Sends SIGKILL and reaps the process. Returns `None` if the signal killed it, or the
    /// status it had ended with on its own before the signal.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        use std::os::unix::process::ExitStatusExt as _;
        let mut child = self.child.take()?;
        let before = child.try_wait().ok().flatten();
        if before.is_some() {
            return before;
        }
        let _ = child.kill();
        let status = child.wait().expect("reap the killed process");
        // It may have ended between the check and the signal.
        (status.signal() != Some(9)).then_some(status)
    }

    /// Stops the process with SIGTERM (a clean stop) and waits up to `timeout` for it to end.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A temporary directory for a campaign's data (removed on drop).
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("a temporary directory")
}

/// Copies a data directory into `to`, leaving out files whose name starts with one of `skip`.
pub fn copy_dir(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("readable dir") {
        let entry = entry.expect("dir entry");
        let name = entry.file_name();
        if skip.iter().any(|s| name.to_string_lossy().starts_with(s)) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target, skip);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Removes a file if it is there.
pub fn remove_if_present(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot remove {}: {e}", path.display()),
    }
}

/// A report bundle with one report, a speaker and an outlet, `questions` questions and
/// `claims` claims on them (boolean, some denials, credibility varying; the outlet speaks every
/// fifth claim), every id prefixed by `tag`. Published, it is one batch of
/// `3 + questions + claims` events and a seal.
pub fn report_bundle(tag: &str, questions: usize, claims: usize) -> Value {
    crate::bundles::gen_bundle_with(tag, questions, claims, Some(5)).json
}

/// A follow-up bundle with no report, on the entities of the report bundle `of` (made by
/// [`report_bundle`] with `questions` questions and `claims` claims): it re-rates the
/// bundle's speaker and relates two of its claims (disputes, corroborates or supersedes), or
/// only relates them, or does neither, and always records an analyst's assessment of one of its questions, all of which
/// change lines of questions recorded at an earlier time. `n` varies what it says; `tag`
/// makes its ids unique.
pub fn follow_up_bundle(tag: &str, of: &str, questions: usize, claims: usize, n: u64) -> Value {
    let pick = |k: u64| (n.wrapping_mul(2_654_435_761).wrapping_add(k) % claims as u64) as usize;
    let (a, b) = (pick(1), pick(7));
    let b = if a == b { (b + 1) % claims } else { b };
    let rating = ["A", "B", "C", "D", "E", "F"][(n / 3 % 6) as usize];
    let kind = ["disputes", "corroborates", "supersedes"][(n / 18 % 3) as usize];
    let mut relation = json!({
        "kind": kind,
        "from": format!("claim:gen/{of}/c{a}"),
        "to": format!("claim:gen/{of}/c{b}"),
    });
    if kind == "corroborates" {
        relation["independence"] = json!("unknown");
    }
    if kind == "supersedes" {
        // Supersession needs the same speaker and question: a claim and the next one on its
        // question (claims go round the questions; the outlet speaks every fifth claim).
        let mut from = a;
        while from % 5 == 4 || from + questions >= claims || (from + questions) % 5 == 4 {
            from = (from + 1) % claims.saturating_sub(questions).max(1);
        }
        relation["from"] = json!(format!("claim:gen/{of}/c{}", from + questions));
        relation["to"] = json!(format!("claim:gen/{of}/c{from}"));
    }
    let confidence = ["low", "moderate", "high"][(n / 54 % 3) as usize];
    // A third of them re-rate the speaker; the others start with the relation, or (another
    // third) hold only the assessment: a first event that changes the line of a question
    // posed at an earlier recorded time.
    let reliability = if n % 3 != 1 {
        json!([])
    } else {
        json!([{
            "id": format!("reliability:gen/{tag}"),
            "source": format!("source:gen/{of}/minister"),
            "rating": rating,
            "rationale": format!("re-rated by follow-up {tag}")
        }])
    };
    json!({
        "version": 1,
        "marking": "TLP:GREEN",
        "reliability": reliability,
        "relations": if n.is_multiple_of(3) { json!([]) } else { json!([relation]) },
        "assessments": [{
            "id": format!("assessment:gen/{tag}"),
            "question": format!("question:gen/{of}/q{}", n % questions as u64),
            "value": { "boolean": (n / 162).is_multiple_of(2) },
            "confidence": confidence,
            "rationale": format!("assessed in follow-up {tag}"),
            "based_on": [format!("claim:gen/{of}/c{a}")]
        }]
    })
}

/// Writes `bundle` as `name` in `dir`; returns its path as a string.
pub fn write_bundle(dir: &Path, name: &str, bundle: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(bundle).expect("encodable")).expect("writable");
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut c = Rng::new(43);
        assert_ne!(xs, (0..8).map(|_| c.next_u64()).collect::<Vec<_>>());
        let d = a.between(Duration::from_millis(2), Duration::from_millis(5));
        assert!(
            d >= Duration::from_millis(2) && d <= Duration::from_millis(5),
            "{d:?}"
        );
    }

    #[test]
    #[should_panic(expected = "1 runs, 0 lost, 1 duplicated, 0 undetected")]
    fn a_campaign_with_a_finding_fails() {
        let mut t = Tally::new("self-test", 7);
        t.loud = false;
        t.runs = 1;
        t.duplicated("an event applied twice");
        t.finish(1);
    }

    #[test]
    #[should_panic(expected = "fewer than the 20 runs")]
    fn a_campaign_with_too_few_runs_fails() {
        let mut t = Tally::new("self-test", 7);
        t.loud = false;
        t.runs = 19;
        t.finish(20);
    }
}
