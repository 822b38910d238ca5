//! The STIX export of a generated ledger's questions (docs/STIX.md), against reading the same
//! answers and writing them as JSON (what `dossier why --json` prints, question by question):
//! time, and peak memory to show that the export is streamed.
//!
//! The ledger is the projector bench's (realistic mix, 10,000 questions per 1M events):
//!
//! ```sh
//! DOSSIER_BENCH_CACHE=/tmp/sbench cargo bench -p dossier-projector --bench projector -- --events 100000 --queries 10
//! cargo bench -p dossier-app --bench stix -- /tmp/sbench/ledger-100000.db [--clearance TLP:GREEN]
//! ```
//!
//! The views are brought up to date once (a `Reader` catching up a fresh store), then each
//! measure runs in a child process of its own doing nothing else (peak RSS = VmHWM, which
//! counts the ledger pages SQLite maps; peak anonymous memory sampled every 20 ms), writing to
//! a byte counter: `baseline` (every question's `why` answer and the markings of its events,
//! encoded as JSON) and `stix` (`dossier_app::exchange::stix` of all questions).

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dossier_app::exchange::{Selection, stix};
use dossier_log::SqliteLog;
use dossier_model::Marking;
use dossier_query::{Reader, Sources, Staleness};
use dossier_testkit::{peak_rss_kib, run_self_child};

/// The allocator the `dossier` binary uses (see crates/dossier-cli/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Counts the bytes written to it.
#[derive(Default)]
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn open(ledger: &Path, views: &Path) -> (SqliteLog, Reader) {
    let log = SqliteLog::open(ledger).unwrap();
    log.map_reads().unwrap();
    let sources = Sources {
        views: views.to_owned(),
        auditor: None,
        wait: Duration::from_secs(10),
    };
    let reader = rt()
        .block_on(Reader::open(&log, &sources, Staleness::Refused))
        .unwrap();
    (log, reader)
}

/// In the child: runs one measure, prints `seconds questions bytes peak_kib peak_anon_kib`.
fn child(what: &str, ledger: &Path, views: &Path, clearance: Marking) {
    let sampler = dossier_testkit::AnonPeak::start();
    let (log, reader) = open(ledger, views);
    let started = Instant::now();
    let (questions, bytes) = match what {
        "baseline" => {
            let mut out = Counter::default();
            let questions = reader.line_index(clearance, None).unwrap();
            for q in &questions {
                let answer = reader.why(clearance, &q.question, None, None).unwrap();
                let seqs = dossier_exchange::event_seqs(&answer.answer.belief);
                let markings = reader.event_markings(seqs).unwrap();
                serde_json::to_writer(&mut out, &answer).unwrap();
                serde_json::to_writer(&mut out, &markings).unwrap();
                out.write_all(b"\n").unwrap();
            }
            (questions.len() as u64, out.0)
        }
        "stix" => {
            let (out, written) = rt()
                .block_on(stix(
                    &log,
                    &reader,
                    clearance,
                    &Selection::All,
                    None,
                    Counter::default(),
                    |_, _| {},
                ))
                .unwrap();
            (written.questions, out.0)
        }
        other => panic!("unknown measure {other}"),
    };
    let secs = started.elapsed().as_secs_f64();
    let anon = sampler.stop();
    println!("{secs} {questions} {bytes} {} {anon}", peak_rss_kib());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let clearance: Marking = args
        .iter()
        .position(|a| a == "--clearance")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(Marking::Red);
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(
            &args[i + 1],
            Path::new(&args[i + 2]),
            Path::new(&args[i + 3]),
            clearance,
        );
        return;
    }
    let Some(ledger) = args
        .iter()
        .skip(1)
        .find(|a| a.ends_with(".db"))
        .map(PathBuf::from)
    else {
        eprintln!(
            "usage: cargo bench -p dossier-app --bench stix -- LEDGER.db [--clearance M] \
             (make the ledger with the projector bench: see this bench's header)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let views = dir.path().join("views.db");
    let started = Instant::now();
    drop(open(&ledger, &views));
    println!(
        "views of {} brought up to date in {:.1} s; clearance {clearance}",
        ledger.display(),
        started.elapsed().as_secs_f64()
    );
    let mut results = Vec::new();
    for what in ["baseline", "stix"] {
        let out = run_self_child(&[
            "--child",
            what,
            ledger.to_str().unwrap(),
            views.to_str().unwrap(),
            "--clearance",
            clearance.as_str(),
        ]);
        let f: Vec<f64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
        println!(
            "{what:>8}: {:.2} s, {:.0} questions/s, {:.1} MB written, peak RSS {:.1} MiB (anon {:.1} MiB)",
            f[0],
            f[1] / f[0],
            f[2] / 1e6,
            f[3] / 1024.0,
            f[4] / 1024.0
        );
        results.push(f);
    }
    println!(
        "stix / baseline: time {:.2}x, peak anon memory {:.2}x",
        results[1][0] / results[0][0],
        results[1][4] / results[0][4]
    );
}
