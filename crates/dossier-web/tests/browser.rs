//! The web page in a real headless Chromium, driven over WebDriver (chromedriver), against the
//! HTTP service with the page on a free loopback port over a SQLite ledger of the examples
//! (reports 1 and 2 at TLP:CLEAR, report 3 and a question of its own at TLP:AMBER, and a CLEAR
//! question whose text is markup). Everything is checked on the rendered DOM.
//!
//! The browser and driver are Debian's `chromium` and `chromium-driver`
//! (`scripts/install-chromium.sh`, run by `scripts/test.sh`); `CHROMIUM_BIN` and
//! `CHROMEDRIVER_BIN` name them, else they are looked up on PATH. A missing browser fails the
//! test: it is never skipped.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dossier_access::{Expiry, Role};
use dossier_chain::Signer;
use dossier_http::{Authenticator, Config, LedgerGrants, Server};
use dossier_log::{EventLog as _, SqliteLog, ledger};
use dossier_model::Marking;
use fantoccini::{Client, ClientBuilder, Locator};

const CONTAINERS: &str = "question:dprk-russia/containers-shipped";
const TRANSFERS: &str = "question:dprk-russia/arms-transfers";
const XSS_QUESTION: &str = "question:test/markup";
const XSS_TEXT: &str = r#"Is <script>alert("x")</script> & 'this' "escaped"?"#;
/// Appended to report 1's title and to the name of its first source.
const XSS_SUFFIX: &str = r#" <script>alert("t")</script> & 'q' "<b>""#;

/// Report 1 with markup in its title and in a source's name.
fn report_one() -> Vec<u8> {
    let mut b: serde_json::Value =
        serde_json::from_slice(&example("01-late-february-estimate.json")).unwrap();
    let title = format!("{}{XSS_SUFFIX}", b["report"]["title"].as_str().unwrap());
    b["report"]["title"] = serde_json::Value::String(title);
    let name = format!("{}{XSS_SUFFIX}", b["sources"][0]["name"].as_str().unwrap());
    b["sources"][0]["name"] = serde_json::Value::String(name);
    serde_json::to_vec(&b).unwrap()
}

#[path = "../../../tests/common/ledger.rs"]
mod ledger_fixture;
use ledger_fixture::{AMBER_ONLY, amber_bundle, example};

fn founder() -> Signer {
    ledger_fixture::founder("web tests")
}

/// A question posed at TLP:RED.
const RED_ONLY: &str = "question:test/red-only";

fn red_bundle() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "version": 1,
        "marking": "TLP:RED",
        "questions": [{ "id": RED_ONLY, "text": "Posed at RED?", "kind": { "type": "boolean" } }]
    }))
    .unwrap()
}

fn markup_bundle() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "version": 1,
        "marking": "TLP:CLEAR",
        "questions": [{ "id": XSS_QUESTION, "text": XSS_TEXT, "kind": { "type": "boolean" } }]
    }))
    .unwrap()
}

/// A CLEAR bundle posing one question, published while a page is open.
fn live_bundle(id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "version": 1,
        "marking": "TLP:CLEAR",
        "questions": [{ "id": id, "text": "Posed while the page was open", "kind": { "type": "boolean" } }]
    }))
    .unwrap()
}

async fn publish(log: &SqliteLog, bundles: &[Vec<u8>]) {
    ledger_fixture::publish(log, &founder(), bundles).await;
}

async fn grant(log: &SqliteLog, name: &str, clearance: Marking) -> String {
    ledger_fixture::grant_token(
        log,
        &founder(),
        name,
        Role::Reader,
        clearance,
        time::OffsetDateTime::now_utc(),
        Expiry::After(86_400),
    )
    .await
    .token
    .unwrap()
}

struct Ledger {
    dir: tempfile::TempDir,
    base: String,
    green: String,
    red: String,
    /// A recorded time after report 1 and before report 2.
    before_revision: String,
    /// The seqs of the records marked TLP:AMBER, and that of the AMBER report.
    amber: Vec<u64>,
    amber_report: u64,
    log: Arc<SqliteLog>,
    stop: tokio::sync::oneshot::Sender<()>,
}

async fn served_ledger() -> Ledger {
    let dir = tempfile::tempdir().unwrap();
    let log = ledger_fixture::new_ledger(dir.path(), &founder()).await;
    publish(&log, &[report_one()]).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let before_revision = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    publish(
        &log,
        &[
            example("02-march-revision.json"),
            amber_bundle(),
            markup_bundle(),
            red_bundle(),
        ],
    )
    .await;
    let mut amber = Vec::new();
    let mut amber_report = 0;
    for rec in log.read(1, 10_000).await.unwrap() {
        let view = dossier_chain::RecordView::parse(&rec.bytes).unwrap();
        if view.marking == "TLP:AMBER" {
            amber.push(rec.position);
            if view.event_type == "report.recorded" {
                amber_report = rec.position;
            }
        }
    }
    assert!(amber_report > 0 && amber.len() > 3, "{amber:?}");
    let green = grant(&log, "green-reader", Marking::Green).await;
    let red = grant(&log, "red-reader", Marking::Red).await;
    // The auditor verifies the ledger and signs a checkpoint of it (with the founder's key here).
    let mut auditor = dossier_auditor::Auditor::open(
        &log,
        &dir.path().join("auditor.db"),
        founder(),
        dossier_chain::TrustRoot::Pinned(founder().public()),
        dossier_auditor::Options::default(),
    )
    .unwrap();
    let report = auditor.once().await.unwrap();
    drop(auditor);
    assert!(
        report.healthy && report.checkpoints_signed == 1,
        "{report:?}"
    );
    let ledger_id = ledger::genesis(&log).await.unwrap().unwrap().ledger;
    let mut config = Config::new(
        "127.0.0.1:0".parse().unwrap(),
        ledger_id.clone(),
        dir.path().join("views.db"),
    );
    config.auditor = Some(dir.path().join("auditor.db"));
    let log = Arc::new(log);
    let auth: Arc<dyn Authenticator> = Arc::new(LedgerGrants::new(Arc::clone(&log)));
    let mut web = dossier_web::WebConfig::new(dir.path().join("views.db"));
    web.auditor = Some(dir.path().join("auditor.db"));
    web.access_log = Some(dir.path().join("access.db"));
    web.checkpoint_key = Some(
        dossier_proofs::checkpoint_verifier(&ledger_id, founder().public())
            .unwrap()
            .to_vkey(),
    );
    let page = dossier_web::router(web, Arc::clone(&log), Arc::clone(&auth)).unwrap();
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
    Ledger {
        dir,
        base,
        green,
        red,
        before_revision,
        amber,
        amber_report,
        log: Arc::clone(&log),
        stop,
    }
}

/// chromedriver on a free port, ended when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tool(var: &str, name: &str) -> String {
    if let Ok(v) = std::env::var(var)
        && !v.is_empty()
    {
        return v;
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => p.display().to_string(),
        None => panic!(
            "{name} is not installed: run scripts/install-chromium.sh (Debian's chromium and chromium-driver), or set {var}"
        ),
    }
}

async fn browser() -> (Driver, Client) {
    let chromium = tool("CHROMIUM_BIN", "chromium");
    let chromedriver = tool("CHROMEDRIVER_BIN", "chromedriver");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        port,
        _profile: profile,
    };
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "browserName": "chrome",
        "goog:loggingPrefs": { "browser": "ALL" },
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ]
        }
    }))
    .unwrap();
    let url = format!("http://127.0.0.1:{}", driver.port);
    let mut last = None;
    for _ in 0..100 {
        // Plain HTTP to the driver on loopback: no TLS client (and no crypto provider) needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => return (driver, c),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver at {url} did not start a session: {last:?}");
}

/// chromedriver's browser log (its `/se/log` endpoint): what the pages wrote to the console.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// The console messages of level SEVERE (errors) since the last call.
async fn console_errors(c: &Client) -> Vec<String> {
    let log = c.issue_cmd(BrowserLog).await.unwrap();
    log.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn sign_in(c: &Client, base: &str, token: &str) {
    c.goto(&format!("{base}/sign-in")).await.unwrap();
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    c.find(Locator::Css("main form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("beliefs")).await.unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn enc(s: &str) -> String {
    dossier_web::words::encode(s)
}

/// The whole text a reader sees on the page, and its markup.
async fn page(c: &Client) -> (String, String) {
    let body = text(c, "body").await;
    let source = c.source().await.unwrap();
    (body, source)
}

/// The beliefs page sorted by last change: each row's question and the seq of its last change.
async fn changes_by_last(c: &Client, base: &str) -> Vec<(String, u64)> {
    c.goto(&format!("{base}/beliefs?sort=changed"))
        .await
        .unwrap();
    let rows = c
        .execute(
            "return Array.from(document.querySelectorAll('#beliefs tbody tr')).map(r => \
             [r.dataset.question, Number(r.querySelector('td.changed').dataset.seq), \
              r.querySelector('td.changed a').getAttribute('href')]);",
            vec![],
        )
        .await
        .unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let seq = r[1].as_u64().unwrap();
            assert!(
                r[2].as_str()
                    .unwrap()
                    .starts_with(&format!("/records/{seq}")),
                "{r}"
            );
            (r[0].as_str().unwrap().to_owned(), seq)
        })
        .collect()
}

/// What the question page's timeline draws: its counts, each claim's state, the top of its
/// shape on the page, its stroke's dash pattern, whether every shape has a title, the
/// description.
async fn timeline(c: &Client) -> serde_json::Value {
    c.execute(
        r#"const svg = document.getElementById('timeline');
           const g = Array.from(svg.querySelectorAll('g.tl-claim'));
           const states = {}, y = {}, dash = {};
           for (const e of g) {
             states[e.dataset.claim] = e.dataset.state;
             y[e.dataset.claim] = e.getBoundingClientRect().top;
             dash[e.dataset.claim] = getComputedStyle(e.querySelector('line, rect, circle')).strokeDasharray;
           }
           return {
             marks: Number(svg.dataset.marks), bands: Number(svg.dataset.bands),
             drawn: g.map(e => e.dataset.claim), states, y, dash,
             titled: g.every(e => e.querySelector(':scope > title') !== null)
               && svg.getAttribute('role') === 'group'
               && document.getElementById('timeline-title') !== null,
             desc: document.getElementById('timeline-desc').textContent,
           };"#,
        vec![],
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_a_real_browser() {
    let l = served_ledger().await;
    let (_driver, c) = browser().await;
    let base = l.base.as_str();

    // Signing in is required, and a wrong token is refused.
    c.goto(&format!("{base}/beliefs")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/sign-in"));
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys("dossier_0000")
        .await
        .unwrap();
    c.find(Locator::Css("main form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let refused = c.wait().for_element(Locator::Css("p.error")).await.unwrap();
    assert!(refused.text().await.unwrap().contains("not accepted"));

    // A RED reader.
    sign_in(&c, base, &l.red).await;
    assert_eq!(text(&c, "#reader-name").await, "red-reader");
    assert_eq!(text(&c, "#reader-clearance").await, "TLP:RED");
    let rows = c.find_all(Locator::Css("#beliefs tbody tr")).await.unwrap();
    assert!(rows.len() >= 8, "{} rows", rows.len());
    // The page held a TLP:RED line: the read is in the access log before the page was sent.
    let access = dossier_access::AccessLog::open(&l.dir.path().join("access.db")).unwrap();
    let reads = access.list(None, 100).unwrap();
    assert!(
        reads.iter().any(|e| e.principal == "red-reader"
            && e.route == "/beliefs"
            && e.marking == Marking::Red),
        "{reads:?}"
    );

    // Search over question texts: "reconnaissance satellite" is in a question's text only.
    c.goto(&format!("{base}/beliefs?q=Reconnaissance+SATELLITE"))
        .await
        .unwrap();
    let found = c
        .execute(
            "return Array.from(document.querySelectorAll('#beliefs tbody tr')).map(r => r.dataset.question);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        found,
        serde_json::json!(["question:dprk/recon-satellite-launch-2024-03"])
    );
    // Sorted by last change: the latest first, each row's change linked by its seq.
    let red_changes = changes_by_last(&c, base).await;
    assert!(red_changes.len() >= 8, "{red_changes:?}");
    assert!(
        red_changes.windows(2).all(|w| w[0].1 >= w[1].1),
        "{red_changes:?}"
    );
    // At RED the containers question last changed on an AMBER record (the 17,000 claim).
    let red_containers = red_changes.iter().find(|(q, _)| q == CONTAINERS).unwrap().1;
    assert!(l.amber.contains(&red_containers), "{red_changes:?}");

    // The containers question: at RED the AMBER report's 17,000 widens the value to a range;
    // ~6,700 is superseded in its tree (the value at GREEN is checked below).
    c.goto(&format!("{base}/question?id={}", enc(CONTAINERS)))
        .await
        .unwrap();
    let value = text(&c, "#value").await;
    assert_eq!(value, "7,000–17,000 containers");
    let superseded = text(&c, "section#superseded").await;
    assert!(superseded.contains("~6,700"), "superseded: {superseded}");
    assert!(text(&c, "#status").await.contains("superseded history"));
    // Each claim links its record by seq.
    let link = c
        .find(Locator::Css("section#superseded article.claim a.event"))
        .await
        .unwrap();
    let href = link.attr("href").await.unwrap().unwrap();
    assert!(href.starts_with("/records/"), "{href}");

    // The timeline: three claims with a value over a valid time at RED (~6,700 superseded,
    // >=7,000 and the AMBER 17,000 active), drawn as marks, with a title and a description.
    let tl = timeline(&c).await;
    assert_eq!(tl["marks"], 3, "{tl}");
    assert_eq!(tl["bands"], 0, "{tl}");
    assert_eq!(tl["drawn"].as_array().unwrap().len(), 3, "{tl}");
    assert_eq!(
        tl["states"]["claim:rok-mnd/containers-2024-02"], "superseded",
        "{tl}"
    );
    assert_eq!(
        tl["states"]["claim:rok-mnd/containers-2024-03"], "active",
        "{tl}"
    );
    assert!(tl["titled"].as_bool().unwrap(), "{tl}");
    assert!(
        tl["desc"].as_str().unwrap().starts_with("3 claims plotted"),
        "{tl}"
    );
    // Higher values are drawn higher: 17,000 above 7,000 above 6,700 (smaller y is higher).
    let y = |id: &str| tl["y"][id].as_f64().unwrap();
    assert!(
        y("claim:example-gazette/containers-misreported-2024-03")
            < y("claim:rok-mnd/containers-2024-03")
            && y("claim:rok-mnd/containers-2024-03") < y("claim:rok-mnd/containers-2024-02"),
        "{tl}"
    );
    // The superseded claim is told apart by shape (a dashed stroke), not colour alone.
    assert_ne!(
        tl["dash"]["claim:rok-mnd/containers-2024-02"], "none",
        "{tl}"
    );
    assert_eq!(
        tl["dash"]["claim:rok-mnd/containers-2024-03"], "none",
        "{tl}"
    );
    // Beneath it the history: each change with its causing event linked and its reason.
    let history = c
        .execute(
            "return Array.from(document.querySelectorAll('#history tbody tr')).map(r => \
             [r.querySelector('a[href^=\"/records/\"]') !== null, r.cells[3].textContent]);",
            vec![],
        )
        .await
        .unwrap();
    let history = history.as_array().unwrap();
    assert!(history.len() >= 3, "{history:?}");
    assert!(
        history
            .iter()
            .all(|h| h[0] == true && !h[1].as_str().unwrap().is_empty()),
        "{history:?}"
    );
    assert!(
        history
            .iter()
            .any(|h| h[1].as_str().unwrap().contains("superseded")),
        "{history:?}"
    );

    // As of a recorded time before the revision: ~6,700, nothing superseded.
    c.goto(&format!(
        "{base}/question?id={}&as_of={}",
        enc(CONTAINERS),
        enc(&l.before_revision)
    ))
    .await
    .unwrap();
    let value = text(&c, "#value").await;
    assert!(value.contains("~6,700"), "as of before: {value:?}");
    assert_eq!(
        c.find(Locator::Css("section#superseded"))
            .await
            .unwrap()
            .attr("data-count")
            .await
            .unwrap()
            .as_deref(),
        Some("0")
    );
    // The time control carries the as-of time into the page's links.
    let beliefs_link = c
        .find(Locator::Css("header nav a.brand"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(beliefs_link.contains("as_of="), "{beliefs_link}");

    // The transfers question: disputed, with the two denials among the contradicting claims.
    c.goto(&format!("{base}/question?id={}", enc(TRANSFERS)))
        .await
        .unwrap();
    assert_eq!(
        c.find(Locator::Css("#status .badges"))
            .await
            .unwrap()
            .attr("data-summary")
            .await
            .unwrap()
            .as_deref(),
        Some("disputed")
    );
    let against = text(&c, "section#contradicting").await;
    assert!(against.contains("russia-government/denies-cooperation-2024-03"));
    assert!(against.contains("dprk-government/denies-cooperation-2024-03"));
    assert!(against.contains("denies"));

    // The report holding Hangul: the quote is marked at its characters (not bytes).
    c.goto(&format!(
        "{base}/question?id={}&as_of={}",
        enc(CONTAINERS),
        enc(&l.before_revision)
    ))
    .await
    .unwrap();
    let report = c
        .find(Locator::Css(
            "section#supporting article.claim dd a[href^='/reports/']",
        ))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    c.goto(&format!("{base}{report}")).await.unwrap();
    let title = text(&c, "#report-title").await;
    assert!(title.ends_with(XSS_SUFFIX.trim_start()), "title {title:?}");
    assert_eq!(
        c.execute(
            "return document.querySelectorAll('main script, main b').length;",
            vec![]
        )
        .await
        .unwrap(),
        0
    );
    let full = text(&c, "#report-text").await;
    assert!(full.contains("신원식"));
    // Every mark's position is counted in the rendered text itself (characters before it), and
    // the marks of the claim together cover exactly its stored span.
    let checked = c
        .execute(
            r#"const root = document.getElementById('report-text');
               const all = Array.from(root.textContent);
               const marks = Array.from(root.querySelectorAll('mark[data-claims~="claim:rok-mnd/containers-2024-02"]'));
               const spans = marks.map(m => {
                 const r = document.createRange();
                 r.setStart(root, 0);
                 r.setEndBefore(m);
                 const s = Array.from(r.toString()).length;
                 return [s, s + Array.from(m.textContent).length, Number(m.dataset.offset)];
               });
               const start = spans[0][0], end = spans[spans.length - 1][1];
               const joined = marks.map(m => m.textContent).join('');
               return [start, end, joined, all.slice(start, end).join(''), spans];"#,
            vec![],
        )
        .await
        .unwrap();
    let checked = checked.as_array().unwrap();
    assert_eq!(checked[0], 161, "{checked:?}");
    assert_eq!(checked[1], 245, "{checked:?}");
    assert_eq!(checked[2], checked[3]);
    assert!(
        checked[2]
            .as_str()
            .unwrap()
            .starts_with("about 6,700 containers")
    );
    for span in checked[4].as_array().unwrap() {
        assert_eq!(
            span[0], span[2],
            "a mark's stated offset is not where it is: {span}"
        );
    }

    // Markup in user data renders as text.
    c.goto(&format!("{base}/question?id={}", enc(XSS_QUESTION)))
        .await
        .unwrap();
    assert_eq!(text(&c, "#question-text").await, XSS_TEXT);
    // The source's name and the report's title, on a question page, as text.
    c.goto(&format!("{base}/question?id={}", enc(CONTAINERS)))
        .await
        .unwrap();
    let tree = text(&c, "section#superseded").await;
    assert!(tree.contains(XSS_SUFFIX.trim()), "{tree}");
    assert_eq!(
        c.execute(
            "return document.querySelectorAll('main script, main b').length;",
            vec![]
        )
        .await
        .unwrap(),
        0
    );
    let scripts = c
        .execute(
            "return Array.from(document.scripts).map(s => s.getAttribute('src'));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        scripts,
        serde_json::json!(["/assets/page.js", "/assets/verify.js"])
    );
    assert!(c.get_alert_text().await.is_err(), "an alert was opened");
    // Markup in ids and filters given in a URL comes back as text: on the error page of an
    // unknown question, in the search field and the record filters.
    let evil = r#"question:x/<script>alert("i")</script>&'a'"<b>"#;
    c.goto(&format!("{base}/question?id={}", enc(evil)))
        .await
        .unwrap();
    assert!(text(&c, "#problem").await.contains(evil));
    c.goto(&format!("{base}/beliefs?q={}", enc(evil)))
        .await
        .unwrap();
    assert_eq!(
        c.find(Locator::Id("q"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some(evil)
    );
    c.goto(&format!(
        "{base}/records?type={}&entity={}",
        enc(evil),
        enc(evil)
    ))
    .await
    .unwrap();
    assert_eq!(
        c.find(Locator::Id("entity"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some(evil)
    );
    assert_eq!(
        c.execute(
            "return document.querySelectorAll('main script, main b, body > script').length;",
            vec![]
        )
        .await
        .unwrap(),
        0
    );
    assert!(c.get_alert_text().await.is_err(), "an alert was opened");

    // No console error on the pages so far (a refused sign-in is a 401 and the unknown
    // question a 404, which the console reports as failed resources: those are expected).
    let errors: Vec<String> = console_errors(&c)
        .await
        .into_iter()
        .filter(|e| {
            let refused = e.contains(
                "sign-in - Failed to load resource: the server responded with a status of 401",
            );
            let unknown = e.contains("/question?id=question%3Ax%2F%3Cscript")
                && e.contains("the server responded with a status of 404");
            !refused && !unknown
        })
        .collect();
    assert!(errors.is_empty(), "console errors {errors:?}");

    // Status.
    c.goto(&format!("{base}/status")).await.unwrap();
    let applied: u64 = text(&c, "#applied").await.parse().unwrap();
    let head: u64 = text(&c, "#head").await.parse().unwrap();
    assert!(applied > 0 && applied <= head);

    // A GREEN reader sees nothing of the AMBER report, on any page.
    c.find(Locator::Css("form.inline button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("token")).await.unwrap();
    sign_in(&c, base, &l.green).await;
    assert_eq!(text(&c, "#reader-clearance").await, "TLP:GREEN");
    c.goto(&format!("{base}/question?id={}", enc(CONTAINERS)))
        .await
        .unwrap();
    assert_eq!(text(&c, "#value").await, "≥7,000 containers");
    assert!(text(&c, "section#superseded").await.contains("~6,700"));
    let tl = timeline(&c).await;
    assert_eq!(tl["marks"], 2, "{tl}");
    assert_eq!(tl["drawn"].as_array().unwrap().len(), 2, "{tl}");
    assert!(
        tl["states"]
            .get("claim:example-gazette/containers-misreported-2024-03")
            .is_none()
    );
    let amber_words = [
        "amber-only",
        "example-gazette",
        "17,000",
        "TLP:AMBER",
        "visible below AMBER",
        "red-only",
        "Posed at RED",
    ];
    // Its last change is the last one visible at GREEN: never an AMBER record.
    let green_changes = changes_by_last(&c, base).await;
    assert!(
        green_changes.windows(2).all(|w| w[0].1 >= w[1].1),
        "{green_changes:?}"
    );
    let green_containers = green_changes
        .iter()
        .find(|(q, _)| q == CONTAINERS)
        .unwrap()
        .1;
    assert!(green_containers < red_containers, "{green_changes:?}");
    assert!(
        green_changes.iter().all(|(_, s)| !l.amber.contains(s)),
        "{green_changes:?} {:?}",
        l.amber
    );
    let mut pages = vec![
        "/beliefs".to_owned(),
        "/beliefs?q=amber".to_owned(),
        format!("/question?id={}", enc(CONTAINERS)),
        format!("/question?id={}", enc(TRANSFERS)),
        "/records".to_owned(),
        "/records?type=claim.recorded".to_owned(),
        "/status".to_owned(),
        format!("/reports/{}", l.amber_report),
    ];
    // Every AMBER record's own page: seq and hash only.
    pages.extend(l.amber.iter().map(|s| format!("/records/{s}")));
    for path in &pages {
        c.goto(&format!("{base}{path}")).await.unwrap();
        // A page answered 404 (the AMBER question and report, as if unknown) is reported by
        // the console as a failed resource: that one is expected, nothing else.
        let errors: Vec<String> = console_errors(&c)
            .await
            .into_iter()
            .filter(|e| !e.contains("the server responded with a status of 404"))
            .collect();
        assert!(errors.is_empty(), "{path}: console errors {errors:?}");
        let (body, source) = page(&c).await;
        for w in amber_words {
            assert!(!body.contains(w), "{path} shows {w:?} to a GREEN reader");
            assert!(!source.contains(w), "{path} holds {w:?} for a GREEN reader");
        }
    }
    for s in &l.amber {
        c.goto(&format!("{base}/records/{s}")).await.unwrap();
        assert!(
            c.find(Locator::Id("withheld")).await.is_ok(),
            "record {s} is not withheld from a GREEN reader"
        );
        assert!(c.find(Locator::Id("record-bytes")).await.is_err());
    }
    // The AMBER question is answered like an unknown one.
    c.goto(&format!("{base}/question?id={}", enc(AMBER_ONLY)))
        .await
        .unwrap();
    let amber = text(&c, "#problem").await;
    c.goto(&format!(
        "{base}/question?id={}",
        enc("question:test/never-posed")
    ))
    .await
    .unwrap();
    let unknown = text(&c, "#problem").await;
    assert_eq!(
        amber.replace(AMBER_ONLY, "Q"),
        unknown.replace("question:test/never-posed", "Q")
    );
    // The log lists AMBER records only as seq and hash.
    c.goto(&format!("{base}/records?from=1")).await.unwrap();
    let withheld = c
        .find_all(Locator::Css("#records tr[data-served=withheld]"))
        .await
        .unwrap();
    assert!(
        !withheld.is_empty(),
        "no record withheld from a GREEN reader"
    );

    // Nothing the GREEN reader saw was recorded as a read of TLP:RED material.
    let reads = access.list(None, 1000).unwrap();
    assert!(
        reads.iter().all(|e| e.principal == "red-reader"),
        "{reads:?}"
    );
    assert!(!text(&c, "body").await.contains("red-only"));

    // Live: a publish while the beliefs page is open changes it without a reload (a value
    // set in the page survives), and the question page shows a banner.
    c.goto(&format!("{base}/beliefs")).await.unwrap();
    let rows_before = c
        .find_all(Locator::Css("#beliefs tbody tr"))
        .await
        .unwrap()
        .len();
    c.execute("window.notReloaded = true;", vec![])
        .await
        .unwrap();
    // Let the page's stream connect before the publish (it resumes from the rendered seq anyway).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let head = l.log.read(1, 100_000).await.unwrap().len();
    publish(&l.log, &[live_bundle("question:test/live-1")]).await;
    let added = l.log.read(1, 100_000).await.unwrap().len() - head;
    let said = if added == 1 {
        "1 new record".to_owned()
    } else {
        format!("{added} new records")
    };
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(
            "#beliefs tr[data-question='question:test/live-1']",
        ))
        .await
        .unwrap();
    assert_eq!(
        c.execute("return window.notReloaded === true;", vec![])
            .await
            .unwrap(),
        true
    );
    assert_eq!(
        c.find_all(Locator::Css("#beliefs tbody tr"))
            .await
            .unwrap()
            .len(),
        rows_before + 1
    );
    let live = text(&c, "#live").await;
    assert!(live.contains(&format!("Updated with {said}")), "{live:?}");
    c.goto(&format!("{base}/question?id={}", enc(CONTAINERS)))
        .await
        .unwrap();
    c.execute("window.notReloaded = true;", vec![])
        .await
        .unwrap();
    publish(&l.log, &[live_bundle("question:test/live-2")]).await;
    let banner = c
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#live:not([hidden]) a"))
        .await
        .unwrap();
    assert_eq!(
        c.execute("return window.notReloaded === true;", vec![])
            .await
            .unwrap(),
        true
    );
    assert!(
        banner
            .attr("href")
            .await
            .unwrap()
            .unwrap()
            .contains("/question?id=")
    );
    let live = text(&c, "#live").await;
    assert!(live.starts_with(&said), "{live:?}");
    assert!(live.contains("1 change of belief"), "{live:?}");
    // Since the pages checked above: the unknown and the AMBER question answered 404, nothing else.
    let errors: Vec<String> = console_errors(&c)
        .await
        .into_iter()
        .filter(|e| {
            !((e.contains("/question?id=question%3Atest%2Famber-only")
                || e.contains("/question?id=question%3Atest%2Fnever-posed"))
                && e.contains("the server responded with a status of 404"))
        })
        .collect();
    assert!(errors.is_empty(), "live: console errors {errors:?}");

    proof_checks(&c, &l).await;
    accessibility(&c, &l).await;
    redacted_report(&c, &l).await;
    // Last, since it breaks the ledger for anything after it.
    tampered_ledger(&c, &l).await;

    c.close().await.unwrap();
    let _ = l.stop.send(());
}

/// A TCP proxy to `upstream` that alters, in what the server sends back, the byte `skip` bytes
/// after the first occurrence of `pattern` in a read (a hex digit or a letter, swapped for
/// another of its kind): a proof or a record altered in transit.
async fn altering_proxy(upstream: String, pattern: &'static [u8], skip: usize) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                return;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut cr, &mut sw).await;
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let chunk = &mut buf[..n];
                    if let Some(i) = chunk.windows(pattern.len()).position(|w| w == pattern)
                        && let Some(b) = chunk.get_mut(i + pattern.len() + skip)
                    {
                        *b = if *b == b'0' || *b == b'a' {
                            *b + 1
                        } else if b.is_ascii_digit() {
                            b'0'
                        } else {
                            b'a'
                        };
                    }
                    if cw.write_all(chunk).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// The record page's verdict on record `seq` once its script has checked it.
async fn proof_verdict(c: &Client, base: &str, seq: u64) -> (String, String) {
    c.goto(&format!("{base}/records/{seq}")).await.unwrap();
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#proof:not([data-state=checking])"))
        .await
        .unwrap();
    let state = c
        .find(Locator::Id("proof"))
        .await
        .unwrap()
        .attr("data-state")
        .await
        .unwrap()
        .unwrap();
    (state, text(c, "#proof-verdict").await)
}

/// The browser's own proof check: BLAKE3 against the golden vectors and the `blake3` crate,
/// the Merkle and signed-note vectors of docs/vectors/merkle-v2.json (SHA-256 tree) and
/// merkle.json (version 1, BLAKE3 tree), and record pages: verified
/// directly, failed when the proof or the record's bytes are altered in transit.
async fn proof_checks(c: &Client, l: &Ledger) {
    let base = l.base.as_str();
    c.goto(&format!("{base}/sign-in")).await.unwrap();
    // BLAKE3 of inputs across block and chunk boundaries, and the tree of chunks.
    let lengths = [
        0usize, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 2049, 3072, 3073, 5000, 8193, 16_385,
    ];
    let got = c
        .execute(
            "const V = window.dossierVerify; return arguments[0].map(n => \
             V.hex(V.blake3(Uint8Array.from({length: n}, (_, i) => i % 251))));",
            vec![serde_json::json!(lengths)],
        )
        .await
        .unwrap();
    for (i, n) in lengths.iter().enumerate() {
        let input: Vec<u8> = (0..*n).map(|i| (i % 251) as u8).collect();
        assert_eq!(
            got[i].as_str().unwrap(),
            blake3::hash(&input).to_hex().as_str(),
            "BLAKE3 of {n} bytes"
        );
    }
    // The golden vectors in docs/: FORMAT.md's record 1, and merkle.json.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors");
    let record_1 = std::fs::read_to_string(root.join("ledger.jsonl")).unwrap();
    let record_1 = record_1.lines().next().unwrap();
    // Both tree versions: version 2 (SHA-256, WebCrypto) and version 1 (BLAKE3), whose
    // checkpoints the page still checks (docs/PROOFS.md §11).
    for (file, version) in [("merkle-v2.json", 2), ("merkle.json", 1)] {
        let merkle: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join(file)).unwrap()).unwrap();
        let checked = c
            .execute(
                r#"const V = window.dossierVerify, m = arguments[1], v = arguments[2];
               const out = { record: V.hex(V.recordHash(V.utf8(arguments[0]))) };
               const every = async (xs, f) => (await Promise.all(xs.map(f))).every(Boolean);
               const count = async (xs, f) => (await Promise.all(xs.map(f))).filter(Boolean).length;
               out.leaves = await every(m.leaves, async l => V.hex(V.blake3(V.utf8(l.input))) === l.leaf
                 && V.hex(await V.leafHash(V.unhex(l.leaf), v)) === l.leaf_hash);
               const roots = Object.fromEntries(m.roots.map(r => [r.size, V.unhex(r.root)]));
               out.inclusion = m.inclusion.length;
               out.included = await count(m.inclusion, p => V.verifyInclusion(V.unhex(p.leaf), p.index, p.size, p.path.map(V.unhex), roots[p.size], v));
               // Every proof fails with one of its hashes altered, at another index, or in the
               // other tree version.
               out.altered = await count(m.inclusion.filter(p => p.path.length > 0), async p => {
                 const path = p.path.map(V.unhex); path[0] = path[0].slice(); path[0][0] ^= 1;
                 return await V.verifyInclusion(V.unhex(p.leaf), p.index, p.size, path, roots[p.size], v)
                   || await V.verifyInclusion(V.unhex(p.leaf), (p.index + 1) % p.size, p.size, p.path.map(V.unhex), roots[p.size], v)
                   || await V.verifyInclusion(V.unhex(p.leaf), p.index, p.size, p.path.map(V.unhex), roots[p.size], 3 - v);
               });
               const cp = m.checkpoint;
               const key = await V.parseVerifierKey(cp.vkey);
               out.text = await V.openNote(cp.note, key);
               const parsed = V.parseCheckpoint(out.text, cp.key_name);
               out.size = parsed.size; out.root = V.hex(parsed.root); out.version = parsed.version;
               out.last = await V.verifyInclusion(V.unhex(cp.head), cp.size - 1, cp.size, cp.last_leaf_proof.map(V.unhex), parsed.root, parsed.version);
               const forged = cp.note.replace("\n16\n", "\n17\n");
               out.forged = await V.openNote(forged, key).then(() => "opened", e => e.message);
               return out;"#,
                vec![
                    serde_json::json!(record_1),
                    merkle.clone(),
                    serde_json::json!(version),
                ],
            )
            .await
            .unwrap();
        assert_eq!(
            checked["record"], "c47000f16bb8b32031ce797ed22161d268ba48b28a143fe45078abd560075cfc",
            "{checked}"
        );
        assert_eq!(checked["leaves"], true, "{file}: {checked}");
        assert_eq!(checked["inclusion"], 55, "{file}: {checked}");
        assert_eq!(checked["included"], 55, "{file}: {checked}");
        assert_eq!(checked["altered"], 0, "{file}: {checked}");
        assert_eq!(
            checked["text"], merkle["checkpoint"]["text"],
            "{file}: {checked}"
        );
        assert_eq!(checked["size"], 16, "{file}: {checked}");
        assert_eq!(checked["version"], version, "{file}: {checked}");
        assert_eq!(
            checked["root"], merkle["checkpoint"]["root"],
            "{file}: {checked}"
        );
        assert_eq!(checked["last"], true, "{file}: {checked}");
        assert!(
            checked["forged"]
                .as_str()
                .unwrap()
                .contains("does not verify"),
            "{file}: {checked}"
        );
    }

    // A record page: signing in pins the key the sign-in page shows; the page then checks the
    // record against the auditor's checkpoint.
    let key = text(c, "#checkpoint-key").await;
    assert!(key.starts_with("dossier."), "{key}");
    sign_in(c, base, &l.red).await;
    let (state, words) = proof_verdict(c, base, 5).await;
    assert_eq!(state, "verified", "{words}");
    assert!(words.contains("Verified in this browser"), "{words}");
    assert_eq!(text(c, "#proof-key").await, key);
    // The proof altered in transit: one hex digit of its first hash; then the record's bytes:
    // one digit of its ledger id.
    for pattern in [
        b"\"proof\":[\"".as_slice(),
        b"{\"dossier\":1,\"ledger\":\"".as_slice(),
    ] {
        let proxy = altering_proxy(base.trim_start_matches("http://").to_owned(), pattern, 0).await;
        sign_in(c, &proxy, &l.red).await;
        proof_fails(c, &proxy, 5).await;
    }
    // The page shows the bytes as the server sent them; the browser hashed what it received.
    c.goto(&format!("{base}/beliefs")).await.unwrap();
    let errors: Vec<String> = console_errors(c)
        .await
        .into_iter()
        .filter(|e| !e.contains("status of 404"))
        .collect();
    assert!(errors.is_empty(), "proof pages: console errors {errors:?}");
}

/// A record changed in the ledger file behind the server's back: the server serves the bytes
/// the file now holds, and the browser's own check of them against the checkpoint fails.
async fn tampered_ledger(c: &Client, l: &Ledger) {
    let base = l.base.as_str();
    let conn = dossier_log::tamper::open(&l.dir.path().join("ledger.db"));
    let mut bytes = dossier_log::tamper::record(&conn, 5);
    // One digit of the ledger id, as an insider editing the file would change a field.
    let at = bytes
        .windows(10)
        .position(|w| w == b"\"ledger\":\"")
        .unwrap()
        + 10;
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    dossier_log::tamper::set_record(&conn, 5, &bytes);
    drop(conn);
    sign_in(c, base, &l.red).await;
    proof_fails(c, base, 5).await;
}

/// After report 2's text is redacted, its page says so (who, when and why for a RED reader;
/// only that it was below RED) and lists its claims with their quotes; no part of the text
/// outside the quotes is anywhere in the DOM.
async fn redacted_report(c: &Client, l: &Ledger) {
    let base = l.base.as_str();
    let bundle: serde_json::Value =
        serde_json::from_slice(&example("02-march-revision.json")).unwrap();
    let id = bundle["report"]["id"].as_str().unwrap();
    let chars: Vec<char> = bundle["report"]["text"].as_str().unwrap().chars().collect();
    let quotes: Vec<(usize, usize, &str)> = bundle["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let q = &c["quote"];
            let at = |k: &str| usize::try_from(q[k].as_u64().unwrap()).unwrap();
            (at("start"), at("end"), q["text"].as_str().unwrap())
        })
        .collect();
    let seq = l
        .log
        .read(1, 10_000)
        .await
        .unwrap()
        .iter()
        .find(|r| {
            let v = dossier_chain::RecordView::parse(&r.bytes).unwrap();
            v.event_type == "report.recorded" && v.entity == id
        })
        .unwrap()
        .position;
    let path = format!("{base}/reports/{seq}");
    sign_in(c, base, &l.red).await;
    c.goto(&path).await.unwrap();
    // What the page shows besides the text itself (the title, say, repeats its first line).
    let rest = script_string(
        c,
        "const b = document.body.cloneNode(true); b.querySelector('#report-text').remove(); \
         return b.textContent;",
    )
    .await;
    // The text outside every quote, in lines of 20 characters or more not shown elsewhere.
    let quoted = |i: usize| quotes.iter().any(|(s, e, _)| (*s..*e).contains(&i));
    let unquoted: String = chars
        .iter()
        .enumerate()
        .map(|(i, ch)| if quoted(i) { '\n' } else { *ch })
        .collect();
    let secrets: Vec<&str> = unquoted
        .lines()
        .map(str::trim)
        .filter(|s| s.chars().count() >= 20 && !rest.contains(s))
        .collect();
    assert!(secrets.len() >= 5, "{secrets:?}");
    assert!(text(c, "#report-text").await.contains(secrets[0]));

    let reason = "the text names a protected source";
    let done = dossier_redact::redact(&*l.log, &founder(), id, reason)
        .await
        .unwrap();
    let r = &done.redaction;
    for (token, red) in [(&l.red, true), (&l.green, false)] {
        sign_in(c, base, token).await;
        c.goto(&path).await.unwrap();
        let notice = text(c, "#report-redacted").await;
        assert!(notice.contains("redacted"), "{notice}");
        let details = [
            r.key.as_str(),
            r.by.as_str(),
            r.recorded.as_str(),
            reason,
            &format!("seq {}", r.seq),
        ];
        for d in details {
            assert_eq!(notice.contains(d), red, "{d:?} in {notice:?} (RED: {red})");
        }
        assert!(c.find(Locator::Id("report-text")).await.is_err());
        let claims = text(c, "#report-claims").await;
        for (_, _, quote) in &quotes {
            assert!(claims.contains(quote), "{quote:?} not in {claims:?}");
        }
        let dom = script_string(
            c,
            "return document.documentElement.outerHTML + document.documentElement.textContent;",
        )
        .await;
        for s in &secrets {
            assert!(!dom.contains(s), "the redacted text is in the DOM: {s:?}");
        }
    }
}

/// The string a script run in the page returns.
async fn script_string(c: &Client, script: &str) -> String {
    c.execute(script, vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// The record page at `seq` shows its proof check failed: the record's hash and the path do not
/// lead to the checkpoint's root.
async fn proof_fails(c: &Client, base: &str, seq: u64) {
    let (state, words) = proof_verdict(c, base, seq).await;
    assert_eq!(state, "failed", "{words}");
    assert!(
        words.contains("does not lead to the checkpoint's root"),
        "{words}"
    );
}

/// axe-core 4.14.1, checked in (tests/vendor/README.md).
const AXE: &str = include_str!("vendor/axe.min.js");

/// The serious and critical accessibility violations axe-core finds on the page now loaded.
async fn axe_violations(c: &Client) -> Vec<String> {
    c.execute(AXE, vec![]).await.unwrap();
    let found = c
        .execute(
            r#"const r = await window.axe.run(document, { resultTypes: ['violations'] });
               return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`);"#,
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

/// No serious or critical axe-core violation on the main pages.
async fn accessibility(c: &Client, l: &Ledger) {
    let base = l.base.as_str();
    c.goto(&format!("{base}/sign-in")).await.unwrap();
    let mut found = Vec::new();
    for v in axe_violations(c).await {
        found.push(format!("/sign-in: {v}"));
    }
    sign_in(c, base, &l.red).await;
    let pages = [
        "/beliefs".to_owned(),
        "/beliefs?sort=changed&q=containers".to_owned(),
        format!("/question?id={}", enc(CONTAINERS)),
        format!("/question?id={}", enc(TRANSFERS)),
        format!("/reports/{}", l.amber_report),
        "/records".to_owned(),
        "/records/5".to_owned(),
        "/status".to_owned(),
    ];
    for path in &pages {
        c.goto(&format!("{base}{path}")).await.unwrap();
        if path.starts_with("/records/") {
            c.wait()
                .at_most(Duration::from_secs(20))
                .for_element(Locator::Css("#proof:not([data-state=checking])"))
                .await
                .unwrap();
        }
        for v in axe_violations(c).await {
            found.push(format!("{path}: {v}"));
        }
        shoot(c, path).await;
    }
    assert!(
        found.is_empty(),
        "accessibility violations:\n{}",
        found.join("\n")
    );
}

/// With `DOSSIER_SCREENSHOTS=DIR`, saves a PNG of the main pages into DIR (the README's
/// screenshots: `DOSSIER_SCREENSHOTS=docs/img cargo test -p dossier-web --test browser`, run from
/// the repository's root, which the path is taken relative to).
async fn shoot(c: &Client, path: &str) {
    let Some(dir) = std::env::var_os("DOSSIER_SCREENSHOTS") else {
        return;
    };
    let name = match path {
        "/beliefs" => "web-beliefs",
        p if p.starts_with("/question?id=question%3Adprk-russia%2Fcontainers") => "web-question",
        p if p.starts_with("/reports/") => "web-report",
        "/records/5" => "web-record",
        "/status" => "web-status",
        _ => return,
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    if name == "web-question" {
        c.execute(
            "document.getElementById('timeline-section').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
        let png = c.screenshot().await.unwrap();
        std::fs::write(dir.join("web-timeline.png"), png).unwrap();
        c.execute("window.scrollTo(0, 0);", vec![]).await.unwrap();
    }
}
