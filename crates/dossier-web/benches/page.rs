//! The web page on a large generated ledger, in headless Chromium: time to first render and to
//! fully loaded for the beliefs page and for a question of about 100 claims, and the page weight
//! (HTML + CSS + JS, gzip-compressed). Targets (issue 11): the question page fully rendered
//! ≤ 300 ms, the beliefs page's first screen ≤ 500 ms, page weight ≤ 200 KB compressed.
//!
//! The ledger is the projector bench's (`crates/dossier-projector/benches/projector.rs`), made
//! first with `DOSSIER_BENCH_CACHE=DIR cargo bench -p dossier-projector --bench projector --
//! --events N [--mixed]`; then `DOSSIER_BENCH_CACHE=DIR cargo bench -p dossier-web --bench page --
//! --events N [--mixed]`
//! rebuilds its views into a temporary directory, serves the page on a free port (a reader
//! cleared for TLP:RED, signed in with a fixed token: the bench ledger holds no access grants),
//! and loads each page `--runs` times (default 7) in Chromium (`CHROMIUM_BIN`,
//! `CHROMEDRIVER_BIN`), reporting the median and the worst of the Navigation Timing figures:
//! first contentful paint, DOMContentLoaded and load, measured from the start of navigation
//! (-1: Chromium reported no paint within 3 s of the load).

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dossier_http::{AuthError, AuthFuture, Authenticator, Config, Principal, Role, Server};
use dossier_log::SqliteLog;
use dossier_model::Marking;
use fantoccini::{ClientBuilder, Locator};

const TOKEN: &str = "dossier_bench";

/// Accepts the one bench token, as a reader cleared for TLP:RED.
struct BenchReader;

impl Authenticator for BenchReader {
    fn authenticate_token<'a>(&'a self, token: &'a str) -> AuthFuture<'a> {
        Box::pin(async move {
            if token == TOKEN {
                Ok(Principal {
                    name: "bench-reader".into(),
                    role: Role::Reader,
                    clearance: Marking::Red,
                    grant: "bench".into(),
                })
            } else {
                Err(AuthError::Unknown)
            }
        })
    }

    fn authenticate_cert<'a>(&'a self, _: &'a [u8; 32]) -> AuthFuture<'a> {
        Box::pin(async { Err(AuthError::Unknown) })
    }
}

fn gzip_len(bytes: &[u8]) -> usize {
    use std::io::Write as _;
    let mut child = Command::new("gzip")
        .arg("-9c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    child.wait_with_output().unwrap().stdout.len()
}

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "median {:.0} ms, max {:.0} ms",
        v[v.len() / 2],
        v[v.len() - 1]
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1)?.parse::<usize>().ok())
    };
    let n = arg("--events").unwrap_or(1_000_000);
    let runs = arg("--runs").unwrap_or(7);
    let cache =
        PathBuf::from(std::env::var_os("DOSSIER_BENCH_CACHE").expect(
            "set DOSSIER_BENCH_CACHE to the projector bench's cache (see this file's header)",
        ));
    // `--mixed`: the projector bench's ledger with mixed markings (made with `--mixed`).
    let mixed = if args.iter().any(|a| a == "--mixed") {
        "-mixed"
    } else {
        ""
    };
    let ledger = cache.join(format!("ledger-{n}{mixed}.db"));
    assert!(
        ledger.is_file(),
        "{} is missing: run the projector bench with --events {n} {} first",
        ledger.display(),
        if mixed.is_empty() { "" } else { "--mixed" }
    );
    let dir = tempfile::tempdir().unwrap();
    let views = dir.path().join("views.db");
    let log = SqliteLog::open(&ledger).unwrap();
    log.map_reads().unwrap();
    let t0 = Instant::now();
    let progress = dossier_projector::rebuild(&log, &views).await.unwrap();
    println!(
        "ledger {} ({} records): views rebuilt in {:.1} s",
        ledger.display(),
        progress.applied,
        t0.elapsed().as_secs_f64()
    );
    let ledger_id = dossier_log::ledger::genesis(&log)
        .await
        .unwrap()
        .unwrap()
        .ledger;

    // The question with the most claims among the first 200 (about 100 at every size).
    let reader = dossier_query::Reader::open(
        &log,
        &dossier_query::Sources {
            views: views.clone(),
            auditor: None,
            wait: Duration::ZERO,
        },
        dossier_query::Staleness::Refused,
    )
    .await
    .unwrap();
    let lines = reader.beliefs(Marking::Red, None, None).unwrap();
    let dossier_query::BeliefList::Lines(lines) = lines.answer.beliefs else {
        unreachable!()
    };
    let mut best = (String::new(), 0usize);
    for l in lines.iter().take(200) {
        let q = l.item.question.id.as_str();
        let w = reader.why(Marking::Red, q, None, None).unwrap();
        let p = &w.answer.belief.provenance;
        let claims = p.supporting.len()
            + p.contradicting.len()
            + p.other.len()
            + p.superseded.len()
            + p.retracted.len();
        if claims > best.1 {
            best = (q.to_owned(), claims);
        }
    }
    println!(
        "{} questions; the question: {} with {} claims",
        lines.len(),
        best.0,
        best.1
    );
    // The server's share of the beliefs page: the two queries it makes, in this process.
    let median = |f: &dyn Fn()| {
        let mut t: Vec<f64> = (0..7)
            .map(|_| {
                let t0 = Instant::now();
                f();
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[3]
    };
    println!(
        "in process: every line {:.0} ms, the listing index (texts, last changes) {:.0} ms (medians of 7)",
        median(&|| drop(reader.beliefs(Marking::Red, None, None).unwrap())),
        median(&|| drop(reader.line_index(Marking::Red, None).unwrap()))
    );
    drop(reader);

    let log = Arc::new(log);
    let auth: Arc<dyn Authenticator> = Arc::new(BenchReader);
    let config = Config::new("127.0.0.1:0".parse().unwrap(), ledger_id, views.clone());
    let page = dossier_web::router(
        dossier_web::WebConfig::new(views.clone()),
        Arc::clone(&log),
        Arc::clone(&auth),
    )
    .unwrap();
    let server = Server::bind(config, Arc::clone(&log), auth)
        .await
        .unwrap()
        .with_page(page);
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        server
            .serve(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });

    // Chromium.
    let chromium = std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "chromium".into());
    let chromedriver = std::env::var("CHROMEDRIVER_BIN").unwrap_or_else(|_| "chromedriver".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut driver = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let caps: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-dev-shm-usage", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }))
        .unwrap();
    let mut client = None;
    for _ in 0..100 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        if let Ok(c) = ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            client = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = client.expect("chromedriver did not start");
    c.goto(&format!("{base}/sign-in")).await.unwrap();
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(TOKEN)
        .await
        .unwrap();
    c.find(Locator::Css("main form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("beliefs")).await.unwrap();

    let style = include_str!("../assets/style.css");
    let script = include_str!("../assets/page.js");
    let verify = include_str!("../assets/verify.js");
    let pages = [
        ("beliefs (first page of 100)", "/beliefs".to_owned()),
        (
            "beliefs sorted by last change",
            "/beliefs?sort=changed".to_owned(),
        ),
        (
            "question",
            format!("/question?id={}", dossier_web::words::encode(&best.0)),
        ),
    ];
    for (name, path) in &pages {
        let (mut fcp, mut dcl, mut load) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            c.goto(&format!("{base}{path}")).await.unwrap();
            let t = c
                .execute(
                    "const n = performance.getEntriesByType('navigation')[0];
                     // The paint entry can come after the load event: wait for it (up to 3 s).
                     const p = await new Promise(done => {
                       new PerformanceObserver(l => {
                         const e = l.getEntriesByName('first-contentful-paint')[0];
                         if (e) done(e.startTime);
                       }).observe({ type: 'paint', buffered: true });
                       setTimeout(() => done(-1), 3000);
                     });
                     return [p, n.domContentLoadedEventEnd, n.loadEventEnd];",
                    vec![],
                )
                .await
                .unwrap();
            fcp.push(t[0].as_f64().unwrap());
            dcl.push(t[1].as_f64().unwrap());
            load.push(t[2].as_f64().unwrap());
        }
        let html = c
            .execute("return await (await fetch(location.href)).text();", vec![])
            .await
            .unwrap();
        let html = html.as_str().unwrap().as_bytes().to_vec();
        let weight = gzip_len(&html)
            + gzip_len(style.as_bytes())
            + gzip_len(script.as_bytes())
            + gzip_len(verify.as_bytes());
        println!(
            "{name}: first contentful paint {}; DOMContentLoaded {}; load {}; HTML {} KB ({} KB gzip), HTML+CSS+JS {} KB gzip",
            stats(fcp),
            stats(dcl),
            stats(load),
            html.len() / 1024,
            gzip_len(&html) / 1024,
            weight / 1024,
        );
    }
    c.close().await.unwrap();
    let _ = driver.kill();
    let _ = driver.wait();
    let _ = stop.send(());
}
