//! Bundle checking (problems, conflicts and warnings as data) and the publish flow, against a
//! real SQLite ledger created in a temporary data directory, with the example bundles.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use dossier_app::{
    AppError, Backend, BundleResult, BundleStatus, Checked, ConflictWith, ErrorKind, Home, Input,
    check, create, publish,
};
use dossier_log::EventLog as _;
use serde_json::{Value, json};

fn examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "the four example bundles");
    files
}

fn example_json(i: usize) -> Value {
    let text = std::fs::read_to_string(&examples()[i]).expect("example");
    serde_json::from_str(&text).expect("example JSON")
}

fn input(name: &str, doc: &Value) -> Input {
    Input::bytes(name, serde_json::to_vec(doc).expect("encode"))
}

fn example_inputs() -> Vec<Input> {
    examples()
        .iter()
        .map(|p| Input::read(&p.display().to_string()))
        .collect()
}

/// The records of a new ledger: the genesis and its seal.
const GENESIS: u64 = 2;

/// A data directory holding a new ledger, and the ledger opened.
async fn ledger() -> (tempfile::TempDir, Home, Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::at(dir.path().join("data"));
    create(&home, "test", "producer", time::OffsetDateTime::now_utc())
        .await
        .expect("create the ledger");
    let log = home.open_log().await.expect("open the ledger");
    assert_eq!(log.head().await.expect("head").seq, GENESIS);
    (dir, home, log)
}

/// Publishes checked bundles with the directory's producer key, collecting each result.
async fn publish_all(
    home: &Home,
    log: &Backend,
    checked: &[Checked],
    stop: bool,
) -> (Result<usize, AppError>, Vec<(usize, BundleResult)>) {
    let signer = home.producer(None).expect("producer key");
    let stop = AtomicBool::new(stop);
    let mut heard = Vec::new();
    let run = publish(log, &signer, checked, &stop, |i, r| heard.push((i, r))).await;
    (run, heard)
}

/// Checks and publishes one valid bundle.
async fn publish_one(home: &Home, log: &Backend, name: &str, doc: &Value) {
    let checked = check(Some(log), [input(name, doc)])
        .await
        .expect("check")
        .accept()
        .expect("valid");
    publish_all(home, log, &checked, false)
        .await
        .0
        .expect("published");
}

#[tokio::test]
async fn problems_come_back_as_data_with_file_and_pointer() {
    let (_dir, _home, log) = ledger().await;
    let mut bad = example_json(0);
    bad["claims"][0]["colour"] = json!("blue");
    let report = check(
        Some(&log),
        [
            input("bad.json", &bad),
            Input::bytes("empty.json", Vec::new()),
            Input::read("/nonexistent/bundle.json"),
        ],
    )
    .await
    .expect("the ledger is readable");
    assert!(report.passed.is_empty(), "{:?}", report.passed);
    let files: Vec<_> = report.problems.iter().map(|p| p.file.as_str()).collect();
    assert!(files.contains(&"bad.json"), "{files:?}");
    assert!(files.contains(&"empty.json"), "{files:?}");
    assert!(files.contains(&"/nonexistent/bundle.json"), "{files:?}");
    let unknown = report
        .problems
        .iter()
        .find(|p| p.file == "bad.json")
        .expect("the unknown field");
    assert_eq!(unknown.pointer, "/claims/0/colour", "{unknown:?}");
    // The JSON shape a face returns: file, pointer, message.
    let doc = serde_json::to_value(unknown).expect("serialize");
    assert_eq!(doc["file"], "bad.json");
    assert_eq!(doc["pointer"], "/claims/0/colour");
    assert!(doc["message"].as_str().is_some_and(|m| !m.is_empty()));

    let n = report.problems.len();
    let err = report.accept().expect_err("problems refuse the run");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(
        matches!(&err, AppError::Invalid { problems, .. } if problems.len() == n),
        "{err:?}"
    );
    assert_eq!(
        log.head().await.expect("head").seq,
        GENESIS,
        "nothing appended"
    );
}

#[tokio::test]
async fn publishing_the_examples_reports_each_batch_then_republishing_is_unchanged() {
    let (_dir, home, log) = ledger().await;
    let checked = check(Some(&log), example_inputs())
        .await
        .expect("check")
        .accept()
        .expect("the examples are valid");
    assert_eq!(checked.len(), 4);
    assert!(checked.iter().all(|c| c.already_recorded == 0));

    let (run, heard) = publish_all(&home, &log, &checked, false).await;
    assert_eq!(run.expect("published"), 4);
    assert_eq!(heard.len(), 4, "one acknowledgement per bundle");
    let mut next = GENESIS + 1;
    for (i, (at, r)) in heard.iter().enumerate() {
        assert_eq!(*at, i, "acknowledged in order");
        assert_eq!(r.status, Some(BundleStatus::Published), "{r:?}");
        assert_eq!(r.new, checked[i].events.len());
        let (first, last) = (r.first_seq.expect("first"), r.last_seq.expect("last"));
        assert_eq!(first, next, "batches follow each other");
        assert_eq!(last - first, r.new as u64, "events and the seal");
        next = last + 1;
    }
    assert_eq!(log.head().await.expect("head").seq, next - 1);
    // The shape `dossier publish --json` prints per file.
    let doc = serde_json::to_value(&heard[0].1).expect("serialize");
    assert_eq!(doc["status"], "published");
    assert!(doc["first_seq"].is_u64() && doc["last_seq"].is_u64());

    let again = check(Some(&log), example_inputs())
        .await
        .expect("check")
        .accept()
        .expect("identical events are no conflict");
    assert!(again.iter().all(|c| c.already_recorded == c.events.len()));
    let head = log.head().await.expect("head").seq;
    let (run, heard) = publish_all(&home, &log, &again, false).await;
    assert_eq!(run.expect("published"), 4);
    assert!(
        heard
            .iter()
            .all(|(_, r)| r.status == Some(BundleStatus::Unchanged) && r.first_seq.is_none()),
        "{heard:?}"
    );
    assert_eq!(
        log.head().await.expect("head").seq,
        head,
        "nothing appended"
    );
}

#[tokio::test]
async fn a_changed_recorded_claim_is_a_conflict_naming_it() {
    let (_dir, home, log) = ledger().await;
    publish_one(&home, &log, "01.json", &example_json(0)).await;
    let head = log.head().await.expect("head").seq;

    let mut changed = example_json(0);
    let claim = "claim:rok-mnd/containers-2024-02";
    assert_eq!(changed["claims"][0]["id"], claim);
    changed["claims"][0]["value"]["quantity"]["value"] = json!(6800);
    let report = check(Some(&log), [input("changed.json", &changed)])
        .await
        .expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.conflicts.len(), 1, "{:?}", report.conflicts);
    let c = &report.conflicts[0];
    assert_eq!(c.file, "changed.json");
    assert_eq!(c.entity, claim);
    assert_eq!(c.event_type, "claim.recorded");
    assert_eq!(
        c.event_id,
        dossier_chain::event_id("claim.recorded", claim).to_string()
    );
    assert!(
        matches!(c.with, ConflictWith::Ledger { seq } if seq > GENESIS && seq <= head),
        "{c:?}"
    );
    let doc = serde_json::to_value(c).expect("serialize");
    assert_eq!(doc["with"]["in"], "ledger");

    let err = report.accept().expect_err("a conflict refuses the run");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        log.head().await.expect("head").seq,
        head,
        "nothing appended"
    );
}

#[tokio::test]
async fn bundles_of_one_run_defining_an_id_differently_conflict_without_a_ledger() {
    let mut changed = example_json(0);
    changed["claims"][0]["value"]["quantity"]["value"] = json!(6800);
    let report = check(
        None::<&Backend>,
        [input("a.json", &example_json(0)), input("b.json", &changed)],
    )
    .await
    .expect("check");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.conflicts.len(), 1, "{:?}", report.conflicts);
    assert_eq!(
        report.conflicts[0].with,
        ConflictWith::Bundle {
            file: "a.json".to_owned()
        }
    );
    assert_eq!(report.conflicts[0].file, "b.json");
}

#[tokio::test]
async fn a_set_stop_flag_commits_nothing() {
    let (_dir, home, log) = ledger().await;
    let checked = check(Some(&log), example_inputs())
        .await
        .expect("check")
        .accept()
        .expect("valid");
    let (run, heard) = publish_all(&home, &log, &checked, true).await;
    assert_eq!(run.expect("stopped, not failed"), 0);
    assert!(heard.is_empty(), "{heard:?}");
    assert_eq!(log.head().await.expect("head").seq, GENESIS);
}

#[tokio::test]
async fn a_directory_without_a_ledger_is_not_found_without_advice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::at(dir.path().to_path_buf());
    let err = home.open_log().await.expect_err("no ledger");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let message = err.to_string();
    assert!(message.starts_with("no ledger in "), "{message}");
    assert!(!message.contains("dossier init"), "{message}");
    assert!(home.open_log_if_exists().await.expect("readable").is_none());

    let err = home.producer(None).expect_err("no producer key");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(!err.to_string().contains("--key"), "{err}");
}

#[tokio::test]
async fn creating_a_ledger_twice_is_refused_and_changes_nothing() {
    let (_dir, home, log) = ledger().await;
    let producer = std::fs::read_to_string(home.dir_path().join("producer")).expect("producer");
    let err = create(&home, "again", "other", time::OffsetDateTime::now_utc())
        .await
        .expect_err("a ledger exists");
    assert!(
        matches!(err, AppError::LedgerExists { source: None, .. }),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read_to_string(home.dir_path().join("producer")).expect("producer"),
        producer
    );
    assert_eq!(log.head().await.expect("head").seq, GENESIS);
}

fn assert_send<T: Send>(_: &T) {}

/// A server runs checks and publishes on a multi-threaded runtime: their futures must be
/// `Send` (this fails to compile otherwise).
#[tokio::test]
async fn check_and_publish_futures_are_send() {
    let (_dir, home, log) = ledger().await;
    let checking = check(Some(&log), vec![input("01.json", &example_json(0))]);
    assert_send(&checking);
    let checked = checking.await.expect("check").accept().expect("valid");
    let signer = home.producer(None).expect("producer key");
    let stop = AtomicBool::new(false);
    let publishing = publish(&log, &signer, &checked, &stop, |_, _| {});
    assert_send(&publishing);
    assert_eq!(publishing.await.expect("published"), 1);
    let opening = home.open_log();
    assert_send(&opening);
    opening.await.expect("open");
}

/// A redacted text is never stored again: a bundle carrying it (the same report, or another
/// report with the same text) is refused by the check, and a bundle checked before the
/// redaction is refused by the publish; nothing is appended.
#[tokio::test]
async fn a_bundle_carrying_a_redacted_text_is_refused_by_check_and_publish() {
    let (_dir, home, log) = ledger().await;
    let original = example_json(0);
    let report = original["report"]["id"]
        .as_str()
        .expect("report id")
        .to_owned();
    let mut copy = original.clone();
    copy["report"]["id"] = json!("report:copy/same-text");
    for claim in copy["claims"].as_array_mut().expect("claims") {
        let id = claim["id"]
            .as_str()
            .expect("claim id")
            .replace("claim:", "claim:copy-");
        claim["id"] = json!(id);
    }
    copy.as_object_mut().expect("bundle").remove("sources");
    copy.as_object_mut().expect("bundle").remove("reliability");
    copy.as_object_mut().expect("bundle").remove("questions");
    publish_one(&home, &log, "01.json", &original).await;
    // Checked before the redaction, published after it.
    let stale = check(Some(&log), [input("copy.json", &copy)])
        .await
        .expect("check")
        .accept()
        .expect("the copy is valid before the redaction");
    let signer = home.producer(None).expect("producer key");
    let redacted = dossier_redact::redact(&log, &signer, &report, "names a source")
        .await
        .expect("redacted");
    let head = log.head().await.expect("head").seq;
    let at = redacted.redaction.seq;
    assert_eq!(at + 1, head, "the redaction and its seal");

    for (file, doc) in [("01.json", &original), ("copy.json", &copy)] {
        let checked = check(Some(&log), [input(file, doc)]).await.expect("check");
        assert!(checked.passed.is_empty(), "{:?}", checked.passed);
        let [problem] = &checked.problems[..] else {
            panic!("one problem: {:?}", checked.problems);
        };
        assert_eq!(problem.file, file);
        assert_eq!(problem.pointer, "/report/text");
        let named = doc["report"]["id"].as_str().expect("id");
        assert!(
            problem
                .message
                .contains(&format!("the text of {named} was redacted"))
                && problem.message.contains(&format!("seq {at}")),
            "{problem:?}"
        );
        assert!(!problem.message.contains("names a source"), "{problem:?}");
        let err = checked.accept().expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Invalid);
    }
    let (run, heard) = publish_all(&home, &log, &stale, false).await;
    let err = run.expect_err("the text was redacted since the check");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(
        matches!(&err, AppError::Invalid { problems, .. }
            if problems.len() == 1 && problems[0].message.contains("report:copy/same-text")),
        "{err:?}"
    );
    assert!(heard.is_empty());
    assert_eq!(
        log.head().await.expect("head").seq,
        head,
        "nothing appended"
    );
    let hash = dossier_chain::Hash::from_hex(&redacted.redaction.content_hash).expect("hash");
    assert_eq!(log.content(&hash).await.expect("content store"), None);
}
