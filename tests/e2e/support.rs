//! Helpers shared by the scenarios: running the binary, ledgers in temporary directories,
//! reading the log and the head, and generated bundles.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_dossier")
}

/// The workspace's `examples/` folder.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The example bundles, in publishing order.
pub fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/ exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        4,
        "expected four example bundles, found {files:?}"
    );
    files
}

/// The example bundles' paths as strings, in order, for command lines.
pub fn example_paths() -> Vec<String> {
    example_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect()
}

/// An example bundle parsed as JSON.
pub fn example_json(index: usize) -> Value {
    let path = &example_files()[index];
    serde_json::from_slice(&std::fs::read(path).expect("example readable"))
        .expect("example is JSON")
}

/// A finished run of the binary.
#[derive(Debug)]
pub struct Out {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output, as bytes.
    pub raw: Vec<u8>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Out {
    /// Collects a finished child's output.
    pub fn from_output(o: std::process::Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            raw: o.stdout,
        }
    }

    /// Asserts the exit code, showing the output if it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Out {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts success.
    #[track_caller]
    pub fn ok(&self) -> &Out {
        self.expect_code(0)
    }

    /// Standard output parsed as JSON Lines (one document per line).
    #[track_caller]
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("a line is not JSON ({e}): {l}\n{}", self.stdout))
            })
            .collect()
    }

    /// Standard output parsed as one JSON document.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// A command for the binary with a clean environment (no inherited `DOSSIER_*`, `RUST_LOG`).
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("--data-dir").arg(dir);
    for var in crate::environment::DOSSIER_VARIABLES {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs the binary with `args` in the data directory `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Out {
    Out::from_output(
        command(dir)
            .args(args)
            .output()
            .expect("the dossier binary runs"),
    )
}

/// Runs the binary with `args`, feeding `stdin`.
pub fn run_in_with_stdin(dir: &Path, args: &[&str], stdin: &[u8]) -> Out {
    let mut child = command(dir)
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("the dossier binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The child may stop reading early (oversized input); a broken pipe is its business.
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().expect("waiting for dossier");
    writer.join().expect("stdin writer");
    Out::from_output(out)
}

/// One line of `dossier log --json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Sequence number.
    pub seq: u64,
    /// Event type.
    pub event_type: String,
    /// Entity key.
    pub entity: String,
    /// Key id that published it.
    pub key: String,
    /// Record hash (hex).
    pub hash: String,
}

/// The head as `verify --json` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadInfo {
    /// Last sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

/// A data directory in a temporary directory (removed on drop), under the build's own
/// temporary directory (`target/tmp`), so that a ledger shared by a whole run (a `static`,
/// never dropped) is left there for `cargo clean`, not in the system's temporary directory.
#[derive(Debug)]
pub struct Ledger {
    tmp: tempfile::TempDir,
}

impl Ledger {
    /// A data directory without a ledger.
    pub fn empty() -> Ledger {
        Ledger {
            tmp: tempfile::Builder::new()
                .prefix("dossier-e2e-")
                .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .expect("temporary directory"),
        }
    }

    /// A data directory with a freshly initialised ledger (genesis + seal).
    pub fn init() -> Ledger {
        let l = Ledger::empty();
        l.run(&["init", "--name", "e2e", "--producer", "analyst"])
            .ok();
        l
    }

    /// A ledger with the four examples published.
    pub fn with_examples() -> Ledger {
        let l = Ledger::init();
        let files: Vec<String> = example_paths();
        let mut args = vec!["publish"];
        args.extend(files.iter().map(String::as_str));
        l.run(&args).ok();
        l
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The SQLite database.
    pub fn db(&self) -> PathBuf {
        self.dir().join("ledger.db")
    }

    /// A file path inside the temporary directory (next to, not inside, the ledger files).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// A command for the binary on this data directory.
    pub fn command(&self) -> Command {
        command(self.dir())
    }

    /// `dossier access grant NAME --role ROLE --clearance CLEARANCE --json`: the grant's id and
    /// its token (shown this once).
    pub fn grant(&self, name: &str, role: &str, clearance: &str) -> Value {
        self.run(&crate::principals::grant(name, role, clearance))
            .ok()
            .json()
    }

    /// Runs the binary.
    pub fn run(&self, args: &[&str]) -> Out {
        run_in(self.dir(), args)
    }

    /// Runs the binary with standard input.
    pub fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Out {
        run_in_with_stdin(self.dir(), args, stdin)
    }

    /// Writes a bundle (a JSON value) to a file here; returns its path as a string.
    pub fn write_json(&self, name: &str, bundle: &Value) -> String {
        let path = self.file(name);
        std::fs::write(&path, serde_json::to_vec_pretty(bundle).expect("encodable"))
            .expect("writable");
        path.display().to_string()
    }

    /// Writes raw bytes to a file here; returns its path as a string.
    pub fn write_bytes(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.file(name);
        std::fs::write(&path, bytes).expect("writable");
        path.display().to_string()
    }

    /// `verify --json` (exit code and document).
    pub fn verify_json(&self) -> (i32, Value) {
        let out = self.run(&["verify", "--json"]);
        (out.code, out.json())
    }

    /// The head, from `verify --json`; asserts the ledger verifies.
    #[track_caller]
    pub fn head(&self) -> HeadInfo {
        let out = self.run(&["verify", "--json"]);
        let v = out.ok().json();
        assert_eq!(v["ok"], true, "{v}");
        HeadInfo {
            seq: v["last_seq"].as_u64().expect("last_seq"),
            hash: v["head"].as_str().expect("head").to_owned(),
        }
    }

    /// Every record, seals included, from `log --json --seals`.
    #[track_caller]
    pub fn log(&self) -> Vec<LogLine> {
        self.log_with(&["--seals"])
    }

    /// `log --json` with extra arguments.
    #[track_caller]
    pub fn log_with(&self, extra: &[&str]) -> Vec<LogLine> {
        let mut args = vec!["log", "--json"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        out.ok();
        out.stdout
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"));
                LogLine {
                    seq: v["seq"].as_u64().expect("seq"),
                    event_type: v["type"].as_str().expect("type").to_owned(),
                    entity: v["entity"].as_str().expect("entity").to_owned(),
                    key: v["key"].as_str().expect("key").to_owned(),
                    hash: v["hash"].as_str().expect("hash").to_owned(),
                }
            })
            .collect()
    }

    /// Number of records (seals included).
    pub fn count(&self) -> usize {
        self.log().len()
    }

    /// The key id registered under `name`, from `keys list --json`.
    #[track_caller]
    pub fn key_id(&self, name: &str) -> String {
        let keys = self.keys();
        let found: Vec<_> = keys.iter().filter(|k| k["name"] == name).collect();
        assert_eq!(found.len(), 1, "expected one key named {name}: {keys:?}");
        found[0]["key"].as_str().expect("key id").to_owned()
    }

    /// `keys list --json`.
    #[track_caller]
    pub fn keys(&self) -> Vec<Value> {
        match self.run(&["keys", "list", "--json"]).ok().json() {
            Value::Array(a) => a,
            other => panic!("keys list --json is not an array: {other}"),
        }
    }
}

/// Copies a data directory (ledger files, root.pub, producer, keys/) into a new temporary one.
pub fn copy_ledger(from: &Ledger) -> Ledger {
    let to = Ledger::empty();
    copy_dir(from.dir(), to.dir());
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("readable dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Events (`type entity`) that appear more than once among `lines` (seals excluded). An event
/// is identified by its type and entity key (a forecast claim and its resolution share a key).
pub fn duplicate_entities(lines: &[LogLine]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    lines
        .iter()
        .filter(|l| l.event_type != "batch.seal")
        .map(|l| format!("{} {}", l.event_type, l.entity))
        .filter(|key| !seen.insert(key.clone()))
        .collect()
}

pub use crate::bundles::{Generated, gen_bundle};

/// Reads a child's standard error line by line on a thread; lines arrive on the receiver.
pub fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits until a line containing `needle` arrives, or panics after `timeout` (with the lines seen).
#[track_caller]
pub fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no {needle:?} on stderr within {timeout:?}; saw: {seen:#?}"),
        }
    }
}

/// A pseudo-random number from the clock and a counter (no extra dependency needed).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Changes a stored record in place, behind the ledger's back (the immutability trigger
/// dropped): `change` gets its bytes and returns the new ones; with `rehash` the stored hash
/// follows them (a consistent forgery), otherwise it stays as appended.
pub fn rewrite_record(l: &Ledger, seq: u64, rehash: bool, change: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    use dossier_log::tamper;
    let db = tamper::open(&l.db());
    let first = tamper::batch_of(&db, seq);
    let mut all = tamper::entries(&db, first);
    let i = usize::try_from(seq - first).expect("index");
    let changed = change(all[i].0.clone());
    assert_ne!(changed, all[i].0, "the change changes nothing");
    if rehash {
        let hash = dossier_chain::Hash::of_record(&changed);
        all[i].1 = hash;
        // A seal's hash is also its batch row's seal column.
        if i + 1 == all.len() {
            db.execute(
                "UPDATE batches SET seal = ?1 WHERE first = ?2",
                rusqlite::params![hash.0.to_vec(), first],
            )
            .expect("update the seal column");
        }
    }
    all[i].0 = changed;
    tamper::set_entries(&db, first, &all);
}

/// Renames the event type of a record's envelope (`claim.recorded` → `claim.recordex`).
pub fn misname_type(bytes: Vec<u8>) -> Vec<u8> {
    String::from_utf8(bytes)
        .expect("utf-8")
        .replacen("claim.recorded", "claim.recordex", 1)
        .into_bytes()
}

/// One HTTP/1.1 request on its own connection, with an optional bearer token and JSON body:
/// (status, body).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, String) {
    use std::io::Read as _;
    let mut s = std::net::TcpStream::connect(addr).expect("connecting to the API");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let content = body.map_or_else(String::new, |b| {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        )
    });
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}{content}Connection: close\r\n\r\n"
    )
    .unwrap();
    if let Some(b) = body {
        s.write_all(b).unwrap();
    }
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// `dossier serve --listen` started from a prepared command, once it listens and is ready.
pub struct Served {
    child: Child,
    /// The address it listens on (`host:port`).
    pub addr: String,
}

impl Served {
    /// Starts `cmd` (standard error piped), reads the address from its `api: listening on`
    /// line and waits until `/readyz` answers 200.
    pub fn start(mut cmd: Command) -> Served {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the dossier binary runs");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
        let mut seen = String::new();
        let addr = loop {
            let mut line = String::new();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "serve ended before listening:\n{seen}"
            );
            seen.push_str(&line);
            if let Some(a) = line.trim().strip_prefix("api: listening on http://") {
                break a.to_owned();
            }
        };
        // Drain the rest of standard error so that the process never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while http(&addr, "GET", "/readyz", None, None).0 != 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "not ready within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Served { child, addr }
    }

    /// SIGTERM, then a clean exit within 20 s.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "serve exited with {status}");
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that a key file's text is an ASCII-armored age file with no hex secret in the clear.
#[track_caller]
pub fn assert_encrypted_key_file(text: &str) {
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{text}"
    );
    let hex_run = text
        .lines()
        .any(|line| line.len() >= 64 && line.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!hex_run, "a hex secret in the clear: {text}");
}

/// Asserts that a command needing the encrypted key file `file` was refused (exit 7) without a
/// passphrase (`none`) and with a wrong one (`wrong`).
#[track_caller]
pub fn assert_needs_passphrase(none: &Out, wrong: &Out, file: &Path) {
    none.expect_code(7);
    assert!(
        none.stderr.contains(&format!(
            "{} is encrypted and no passphrase was given; set DOSSIER_PASSPHRASE",
            file.display()
        )),
        "{}",
        none.stderr
    );
    wrong.expect_code(7);
    assert!(
        wrong
            .stderr
            .contains(&format!("wrong passphrase for {}", file.display())),
        "{}",
        wrong.stderr
    );
}
