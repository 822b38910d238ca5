//! The HTTP service under load, against the same queries through the library in-process, on a
//! large generated ledger with mixed markings (the targets: provenance p99 ≤ 10 ms at
//! 16 clients; HTTP overhead ≤ 1.3× the in-process figure at 1 client; 100 SSE subscribers
//! each receiving a 100k-record publish with the publisher at ≥ 0.8× its rate without them).
//!
//! - **Ledger**: the projector benchmark's generated ledger with mixed markings (per batch 20%
//!   TLP:CLEAR, 20% TLP:GREEN, 40% TLP:AMBER, 20% TLP:RED), copied into a temporary directory,
//!   plus two access grants (a TLP:GREEN and a TLP:RED reader) recorded through the ordinary
//!   access flow; its views rebuilt beside it. Generate it first:
//!   `DOSSIER_BENCH_CACHE=DIR cargo bench -p dossier-projector --bench projector -- --mixed`.
//! - **Server**: a child process running what `dossier serve --listen` runs (the projector
//!   following the ledger, the auditor, the API with its access log), so that its peak memory
//!   (`VmHWM`) is its own.
//! - **Queries**: one question's line (`beliefs/{id}`), one question with provenance
//!   (`questions/{id}`) and its history (`questions/{id}/history`) on random questions visible
//!   at the clearance, as TLP:GREEN and TLP:RED readers, by 1, 16 and 64 concurrent keep-alive
//!   clients for a fixed time each; the same queries through `dossier_query::Reader` in this
//!   process (a reader opened per query, as the server opens one per request), by as many
//!   threads. p50, p99 and requests/s; the ratio of HTTP to in-process p50.
//! - **Live**: records published through `Publisher::publish_all` into the served ledger
//!   (batches of 999 questions + seal, ~600 B each) with no subscriber, then with `--subscribers`
//!   SSE clients on `events/records`: the publisher's rate both times, and how long after the
//!   publish the last subscriber received the last record (each must receive every record once,
//!   in order).
//!
//! Usage: `DOSSIER_BENCH_CACHE=DIR cargo bench -p dossier-http --bench http [-- --events N]
//! [--seconds S] [--clients 1,16,64] [--live-records N] [--subscribers K] [--live-only]`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dossier_access::{CredentialRequest, Expiry, GrantRequest, Role};
use dossier_log::{EventLog as _, PendingEvent, Publisher, SqliteLog};
use dossier_model::{KnownEntities, Marking, Timestamp};
use dossier_query::{Reader, Sources, Staleness};
use futures::StreamExt as _;

/// The allocator the `dossier` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn founder() -> dossier_chain::Signer {
    dossier_log::conformance::founder()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Query {
    Line,
    Why,
    History,
}

impl Query {
    const ALL: [Query; 3] = [Query::Line, Query::Why, Query::History];

    fn name(self) -> &'static str {
        match self {
            Query::Line => "line",
            Query::Why => "provenance",
            Query::History => "history",
        }
    }

    fn path(self, q: &str) -> String {
        // Entity ids hold slashes: percent-encoded in a path segment.
        let q = q.replace('/', "%2F");
        match self {
            Query::Line => format!("/beliefs/{q}"),
            Query::Why => format!("/questions/{q}"),
            Query::History => format!("/questions/{q}/history"),
        }
    }
}

/// Percentile `p` (0..=100) of sorted durations, in ms.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

struct Run {
    p50: f64,
    p99: f64,
    rate: f64,
}

impl Run {
    fn of(mut d: Vec<Duration>, secs: f64) -> Run {
        d.sort_unstable();
        Run {
            p50: pct(&d, 50.0),
            p99: pct(&d, 99.0),
            rate: d.len() as f64 / secs,
        }
    }
}

// ----- the server, in a child process -----

/// In the child: serves `dir`'s ledger as `dossier serve --listen` does, prints the address,
/// and runs until its standard input closes; then prints its peak memory.
fn serve_child(dir: &Path, ledger: &str) {
    let rt = rt();
    rt.block_on(async {
        let log = Arc::new(SqliteLog::open(&dir.join("ledger.db")).unwrap());
        log.map_reads().unwrap();
        let views = dir.join("views.db");
        let mut config = dossier_http::Config::new(
            "127.0.0.1:0".parse().unwrap(),
            ledger.to_owned(),
            views.clone(),
        );
        config.auditor = Some(dir.join("auditor.db"));
        config.access_log = Some(dir.join("access.db"));
        config.producer = Some(founder());
        let mut auditor = dossier_auditor::Auditor::open(
            &*log,
            &dir.join("auditor.db"),
            founder(),
            dossier_chain::TrustRoot::Pinned(founder().public()),
            dossier_auditor::Options::default(),
        )
        .unwrap();
        // The first audit of the whole ledger, before the clients come.
        auditor.once().await.unwrap();
        let auth = Arc::new(dossier_http::LedgerGrants::new(Arc::clone(&log)));
        let server = dossier_http::Server::bind(config, Arc::clone(&log), auth)
            .await
            .unwrap();
        println!("listening {}", server.local_addr());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        std::thread::spawn(move || {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let projector = dossier_projector::run(&*log, &views, stopped(stop_rx.clone()));
        let audit = auditor.run(stopped(stop_rx.clone()));
        let (p, s, a) = tokio::join!(projector, server.serve(stopped(stop_rx.clone())), audit);
        p.unwrap();
        s.unwrap();
        a.unwrap();
    });
    println!("peak {}", dossier_testkit::peak_rss_kib());
}

struct Child {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
    base: String,
}

impl Child {
    fn start(dir: &Path, ledger: &str) -> Child {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("--serve-child")
            .arg(dir)
            .arg(ledger)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening ").unwrap().to_owned();
        Child {
            child,
            out,
            base: format!("http://{addr}"),
        }
    }

    /// CPU time (user + system) used so far, seconds.
    fn cpu_s(&self) -> f64 {
        cpu_s(&format!("/proc/{}/stat", self.child.id()))
    }

    /// Peak resident memory so far, KiB.
    fn peak_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        let mut line = String::new();
        while self.out.read_line(&mut line).is_ok_and(|n| n > 0) {}
        self.child.wait().unwrap();
    }
}

// ----- the load -----

struct Bench {
    dir: PathBuf,
    log: Arc<SqliteLog>,
    base: String,
    ledger: String,
    client: reqwest::Client,
    seconds: f64,
}

impl Bench {
    fn url(&self, path: &str) -> String {
        format!("{}/v1/ledgers/{}{path}", self.base, self.ledger)
    }

    fn sources(&self) -> Sources {
        Sources {
            views: self.dir.join("views.db"),
            auditor: Some(self.dir.join("auditor.db")),
            wait: Duration::from_secs(10),
        }
    }

    /// `clients` concurrent keep-alive HTTP clients asking `query` on random questions.
    async fn http(
        &self,
        query: Query,
        token: &str,
        questions: &Arc<Vec<String>>,
        clients: usize,
    ) -> Run {
        let deadline = Instant::now() + Duration::from_secs_f64(self.seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (client, questions) = (self.client.clone(), Arc::clone(questions));
            let (token, prefix) = (token.to_owned(), self.url(""));
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng(0x9e37_79b9 + c as u64);
                let mut d = Vec::new();
                while Instant::now() < deadline {
                    let q = &questions[rng.below(questions.len())];
                    let t0 = Instant::now();
                    let r = client
                        .get(format!("{prefix}{}", query.path(q)))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200, "{}", query.path(q));
                    let body = r.bytes().await.unwrap();
                    std::hint::black_box(body);
                    d.push(t0.elapsed());
                }
                d
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        Run::of(all, started.elapsed().as_secs_f64())
    }

    /// The same queries through the library in this process, by `threads` threads.
    fn in_process(
        &self,
        query: Query,
        clearance: Marking,
        questions: &Arc<Vec<String>>,
        threads: usize,
    ) -> Run {
        let deadline = Instant::now() + Duration::from_secs_f64(self.seconds);
        let started = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|c| {
                let (log, sources, questions) =
                    (Arc::clone(&self.log), self.sources(), Arc::clone(questions));
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    let mut rng = Rng(0x9e37_79b9 + c as u64);
                    let mut d = Vec::new();
                    while Instant::now() < deadline {
                        let q = &questions[rng.below(questions.len())];
                        let t0 = Instant::now();
                        let r = rt
                            .block_on(Reader::open(&*log, &sources, Staleness::Refused))
                            .unwrap();
                        let bytes = match query {
                            Query::Line => serde_json::to_vec(&r.line(clearance, q, None).unwrap()),
                            Query::Why => {
                                serde_json::to_vec(&r.why(clearance, q, None, None).unwrap())
                            }
                            Query::History => {
                                serde_json::to_vec(&r.history(clearance, q, None).unwrap())
                            }
                        };
                        std::hint::black_box(bytes.unwrap());
                        d.push(t0.elapsed());
                    }
                    d
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.join().unwrap());
        }
        Run::of(all, started.elapsed().as_secs_f64())
    }

    /// A typed answer of the service.
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str, token: &str) -> T {
        let r = self.client.get(self.url(path)).bearer_auth(token);
        r.send().await.unwrap().json().await.unwrap()
    }

    /// The ids of the questions a reader with `token` sees.
    async fn questions(&self, token: &str) -> Vec<String> {
        let a: dossier_query::Answer<dossier_query::Beliefs> = self.get("/beliefs", token).await;
        match a.answer.beliefs {
            dossier_query::BeliefList::Lines(l) => l
                .into_iter()
                .map(|x| x.item.question.id.to_string())
                .collect(),
            dossier_query::BeliefList::AtValidTime(_) => unreachable!("no valid time asked"),
        }
    }

    /// Waits until the served views applied `seq`.
    async fn applied(&self, token: &str, seq: u64) {
        loop {
            let a: dossier_query::Answer<dossier_http::ViewsStatus> =
                self.get("/status", token).await;
            if a.answer.applied >= seq {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Grants a reader cleared for `clearance`; returns the token.
async fn grant(log: &SqliteLog, name: &str, clearance: Marking) -> String {
    let request = GrantRequest {
        principal: name.to_owned(),
        role: Role::Reader,
        clearance,
        expiry: Expiry::After(86_400),
        credential: CredentialRequest::Token,
    };
    let now = Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc()).unwrap();
    dossier_access::grant(log, &founder(), &request, now)
        .await
        .unwrap()
        .token
        .unwrap()
}

/// `n` new TLP:CLEAR questions (about 600 B each as records), checked as a publish checks
/// them, in batches of 999 events.
/// CPU time (user + system, seconds) of the process whose `/proc/…/stat` is at `path`.
fn cpu_s(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The fields after the command name (in parentheses, which may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat(5): 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / 100.0
}

fn live_batches(tag: &str, n: usize) -> Vec<(Vec<PendingEvent>, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    for (b, start) in (0..n).step_by(999).enumerate() {
        let questions: Vec<serde_json::Value> = (start..n.min(start + 999))
            .map(|i| {
                serde_json::json!({
                    "id": format!("question:live-{tag}/{i}"),
                    "text": format!("Live question {i} of the fan-out run {tag}: {}?", "a".repeat(420)),
                    "kind": { "type": "boolean" }
                })
            })
            .collect();
        let bundle = serde_json::json!({
            "version": 1, "marking": "TLP:CLEAR", "questions": questions
        });
        let name = format!("live {tag} {b}");
        let parsed =
            dossier_model::parse_bundle(&name, &serde_json::to_vec(&bundle).unwrap()).unwrap();
        let v = dossier_model::validate(&name, parsed, &KnownEntities::default()).unwrap();
        out.push(dossier_log::ledger::pending_events(&v));
    }
    out
}

/// Publishes `batches`; returns records per second.
async fn publish(
    log: &SqliteLog,
    ledger: uuid::Uuid,
    batches: Vec<(Vec<PendingEvent>, Vec<Vec<u8>>)>,
) -> f64 {
    let records: usize = batches.iter().map(|(e, _)| e.len() + 1).sum();
    let signer = founder();
    let t0 = Instant::now();
    Publisher::new(log, &signer, ledger)
        .publish_all(batches)
        .await
        .unwrap();
    records as f64 / t0.elapsed().as_secs_f64()
}

/// One SSE subscriber on `events/records` from `after`: returns how many records it received
/// (checking each arrives once, in order) and when it received `until`.
async fn subscribe(
    client: reqwest::Client,
    url: String,
    token: String,
    after: u64,
    until: Arc<AtomicU64>,
) -> (u64, Instant) {
    let r = client
        .get(url)
        .bearer_auth(token)
        .header("Last-Event-ID", after.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let (mut buf, mut last, mut received) = (Vec::<u8>::new(), after, 0u64);
    let mut last_at = Instant::now();
    loop {
        // Wake now and then to see whether the publish is over and everything arrived.
        if let Ok(chunk) = tokio::time::timeout(Duration::from_millis(50), body.next()).await {
            buf.extend_from_slice(&chunk.unwrap().unwrap());
            while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = buf.drain(..end + 2).collect();
                let text = std::str::from_utf8(&event).unwrap();
                if let Some(id) = text.lines().find_map(|l| l.strip_prefix("id: ")) {
                    let seq: u64 = id.trim().parse().unwrap();
                    assert_eq!(seq, last + 1, "a record missed or repeated");
                    last = seq;
                    received += 1;
                    last_at = Instant::now();
                }
            }
        }
        let target = until.load(Ordering::Acquire);
        if target != 0 && last >= target {
            return (received, last_at);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve-child") {
        serve_child(Path::new(&args[i + 1]), &args[i + 2]);
        return;
    }
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let events: usize = arg("--events").map_or(1_000_000, |s| s.parse().unwrap());
    let seconds: f64 = arg("--seconds").map_or(5.0, |s| s.parse().unwrap());
    let clients: Vec<usize> = arg("--clients").map_or(vec![1, 16, 64], |s| {
        s.split(',').map(|x| x.parse().unwrap()).collect()
    });
    let live_records: usize = arg("--live-records").map_or(100_000, |s| s.parse().unwrap());
    let subscribers: usize = arg("--subscribers").map_or(100, |s| s.parse().unwrap());
    let live_only = args.iter().any(|a| a == "--live-only");
    let cache = PathBuf::from(
        std::env::var_os("DOSSIER_BENCH_CACHE")
            .expect("DOSSIER_BENCH_CACHE: the directory of the projector benchmark's ledgers"),
    );
    let source = cache.join(format!("ledger-{events}-mixed.db"));
    assert!(
        source.is_file(),
        "{} not found: generate it with `DOSSIER_BENCH_CACHE={} cargo bench -p dossier-projector --bench projector -- --events {events} --mixed`",
        source.display(),
        cache.display()
    );

    let dir = tempfile::tempdir_in(&cache).unwrap();
    let t0 = Instant::now();
    std::fs::copy(&source, dir.path().join("ledger.db")).unwrap();
    let log = Arc::new(SqliteLog::open(&dir.path().join("ledger.db")).unwrap());
    log.map_reads().unwrap();
    let rt = rt();
    let (green, red, ledger) = rt.block_on(async {
        let green = grant(&log, "bench-green", Marking::Green).await;
        let red = grant(&log, "bench-red", Marking::Red).await;
        let ledger = dossier_log::ledger::genesis(&*log)
            .await
            .unwrap()
            .unwrap()
            .ledger;
        dossier_projector::rebuild(&*log, &dir.path().join("views.db"))
            .await
            .unwrap();
        // What the served projector does when idle: materialise every level's current
        // provenance, here before the measurements rather than during them.
        let mut p = dossier_projector::Projector::open(&*log, &dir.path().join("views.db"))
            .await
            .unwrap();
        let t0 = Instant::now();
        let rows = p.materialise(usize::MAX).unwrap();
        println!(
            "materialised the provenance of {rows} lines (all levels) in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        (green, red, ledger)
    });
    let head = rt.block_on(log.head()).unwrap().seq;
    println!(
        "ledger of {events} generated events, {head} records, copied and views rebuilt in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let child = Child::start(dir.path(), &ledger);
    let bench = Bench {
        dir: dir.path().to_owned(),
        log: Arc::clone(&log),
        base: child.base.clone(),
        ledger: ledger.clone(),
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .unwrap(),
        seconds,
    };
    let idle_kib = child.peak_kib();

    println!(
        "\n== queries ({seconds} s each; HTTP through a child process serving the ledger, in-process through dossier_query::Reader)"
    );
    println!(
        "{:<11} {:<10} {:>7} | {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9} | {:>10} {:>10}",
        "query",
        "clearance",
        "clients",
        "http p50",
        "http p99",
        "http /s",
        "lib p50",
        "lib p99",
        "lib /s",
        "p50 ratio",
        "rate ratio"
    );
    let clearances = if live_only {
        Vec::new()
    } else {
        vec![(Marking::Green, &green), (Marking::Red, &red)]
    };
    for (clearance, token) in clearances {
        let questions = Arc::new(rt.block_on(bench.questions(token)));
        for query in Query::ALL {
            for &n in &clients {
                let http = rt.block_on(bench.http(query, token, &questions, n));
                let lib = bench.in_process(query, clearance, &questions, n);
                println!(
                    "{:<11} {:<10} {:>7} | {:>6.2} ms {:>6.2} ms {:>9.0} | {:>6.2} ms {:>6.2} ms {:>9.0} | {:>9.2}× {:>9.2}×",
                    query.name(),
                    clearance.as_str(),
                    n,
                    http.p50,
                    http.p99,
                    http.rate,
                    lib.p50,
                    lib.p99,
                    lib.rate,
                    http.p50 / lib.p50,
                    http.rate / lib.rate
                );
            }
        }
    }
    let loaded_kib = child.peak_kib();
    println!(
        "server peak RSS: {:.0} MiB after the first audit, {:.0} MiB after the query runs (VmHWM, counts the ledger's memory-mapped pages)",
        idle_kib as f64 / 1024.0,
        loaded_kib as f64 / 1024.0
    );

    if live_records > 0 {
        println!(
            "\n== live: {live_records} records published into the served ledger, then again with {subscribers} SSE subscribers (TLP:GREEN) on events/records"
        );
        let id: uuid::Uuid = ledger.parse().unwrap();
        let cpu = || (child.cpu_s(), cpu_s("/proc/self/stat"), Instant::now());
        let alone = rt.block_on(async {
            // A first, unmeasured publish: both measured ones find the files grown and warm.
            publish(&log, id, live_batches("warm", live_records / 10)).await;
            bench.applied(&green, log.head().await.unwrap().seq).await;
            let before = cpu();
            let rate = publish(&log, id, live_batches("alone", live_records)).await;
            bench.applied(&green, log.head().await.unwrap().seq).await;
            let after = cpu();
            println!(
                "alone, until the server applied it: {:.1} s wall, server {:.1} CPU s, this process (the publisher) {:.1} CPU s",
                after.2.duration_since(before.2).as_secs_f64(),
                after.0 - before.0,
                after.1 - before.1
            );
            rate
        });
        println!("publisher alone: {alone:.0} records/s");
        let before = cpu();
        let (with, received, delay, after) = rt.block_on(async {
            let after = log.head().await.unwrap().seq;
            let until = Arc::new(AtomicU64::new(0));
            let tasks: Vec<_> = (0..subscribers)
                .map(|_| {
                    tokio::spawn(subscribe(
                        bench.client.clone(),
                        bench.url("/events/records"),
                        green.clone(),
                        after,
                        Arc::clone(&until),
                    ))
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let batches = live_batches("watched", live_records);
            let rate = publish(&log, id, batches).await;
            let published = Instant::now();
            let end = log.head().await.unwrap().seq;
            until.store(end, Ordering::Release);
            let mut received = Vec::new();
            let mut last = published;
            for t in tasks {
                let (n, at) = t.await.unwrap();
                received.push(n);
                last = last.max(at);
            }
            (
                rate,
                received,
                last.saturating_duration_since(published),
                end - after,
            )
        });
        assert!(
            received.iter().all(|&n| n == after),
            "every subscriber receives every record"
        );
        let end = cpu();
        println!(
            "with subscribers, until the last received it: {:.1} s wall, server {:.1} CPU s, this process (the publisher and the subscribers) {:.1} CPU s, on {} cores",
            end.2.duration_since(before.2).as_secs_f64(),
            end.0 - before.0,
            end.1 - before.1,
            std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
        );
        println!(
            "publisher: {alone:.0} records/s alone, {with:.0} records/s with {subscribers} subscribers: {:.2}× (target ≥ 0.8×)",
            with / alone
        );
        println!(
            "every subscriber received all {after} records once, in order; the last one {:.1} s after the publish returned",
            delay.as_secs_f64()
        );
        println!(
            "server peak RSS after the live run: {:.0} MiB",
            child.peak_kib() as f64 / 1024.0
        );
    }
    child.stop();
}
