//! `dossier auditor`: checkpoints kept in auditor.db, restarts from them, the service loop, and
//! ledgers rewritten behind the auditor's back (a record changed, the tail truncated, the
//! history forked and re-grown with valid signatures), each caught by the auditor and by
//! `dossier verify --checkpoint` against the auditor's last checkpoint.

use std::time::Duration;

use serde_json::Value;

use crate::support::{
    Ledger, example_files, example_paths, gen_bundle, run_in, stderr_lines, wait_for_line,
};

fn publish(l: &Ledger, files: &[std::path::PathBuf]) {
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["publish"];
    args.extend(names.iter().map(String::as_str));
    l.run(&args).expect_code(0);
}

fn status(l: &Ledger) -> (i32, Value) {
    let out = l.run(&["auditor", "status", "--json"]);
    (out.code, out.json())
}

/// A ledger with the examples, audited once; returns it and the auditor's checkpoint file.
fn audited() -> (Ledger, String) {
    let l = Ledger::init();
    publish(&l, &example_files());
    let out = l.run(&["auditor", "--once", "--every", "10"]);
    out.expect_code(0);
    assert!(out.stdout.contains("ok: healthy"), "{}", out.stdout);
    let cp = l.file("auditor-checkpoint.txt").display().to_string();
    l.run(&["auditor", "checkpoint", "--out", &cp])
        .expect_code(0);
    l.run(&["verify", "--checkpoint", &cp]).expect_code(0);
    (l, cp)
}

/// Sequence number of the last seal before the head (a batch boundary).
fn boundary_before_last_batch(l: &Ledger) -> u64 {
    let head = l.head().seq;
    l.log_with(&["--seals"])
        .iter()
        .filter(|r| r.event_type == "batch.seal" && r.seq < head)
        .map(|r| r.seq)
        .max()
        .expect("a seal")
}

/// Deletes the records after `keep` straight from the SQLite file (triggers dropped).
fn truncate(l: &Ledger, keep: u64) {
    let db = dossier_log::tamper::open(&l.db());
    dossier_log::tamper::truncate_after(&db, keep);
}

#[track_caller]
fn expect_alarm(l: &Ledger, args: &[&str], kind: &str) {
    let out = l.run(args);
    out.expect_code(5);
    assert!(
        out.stdout.contains(&format!("ALARM {kind}")),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stderr.contains("UNHEALTHY"), "{}", out.stderr);
    let (code, s) = status(l);
    assert_eq!(code, 5, "{s}");
    assert_eq!(s["healthy"], false);
    assert!(
        s["alarms"]
            .as_array()
            .expect("alarms")
            .iter()
            .any(|a| a["kind"].as_str().unwrap_or_default().starts_with(kind)),
        "{s}"
    );
}

#[test]
fn the_auditor_checkpoints_and_resumes_from_its_checkpoint() {
    let l = Ledger::init();
    let files = example_files();
    l.run(&["auditor", "status"]).expect_code(1);
    publish(&l, &files[..2]);
    let first = l.run(&["auditor", "--once", "--every", "5"]);
    first.expect_code(0);
    assert!(
        first.stderr.contains("no checkpoint yet"),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("signed checkpoint at seq"),
        "{}",
        first.stderr
    );
    let (code, s) = status(&l);
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["healthy"], true);
    let size = s["last_checkpoint"]["size"].as_u64().expect("size");
    assert_eq!(size, l.head().seq);
    assert!(
        s["checkpoints"].as_u64().expect("count") >= 2,
        "every 5 records and at the end: {s}"
    );
    assert!(l.dir().join("auditor.db").is_file());

    publish(&l, &files[2..]);
    let second = l.run(&["auditor", "--once"]);
    second.expect_code(0);
    assert!(
        second
            .stderr
            .contains(&format!("resuming from its checkpoint at seq {size}")),
        "{}",
        second.stderr
    );
    let new = l.head().seq - size;
    // The checkpoint's own record is read to check it, the new ones once, the new head twice.
    assert!(
        second.stdout.contains(&format!(
            "({} read in this run, resumed from {size})",
            new + 2
        )),
        "{}",
        second.stdout
    );
    let (_, s) = status(&l);
    assert_eq!(s["last_checkpoint"]["size"].as_u64(), Some(l.head().seq));

    // The checkpoint it exports verifies offline-style against the ledger, and is a C2SP note.
    let out = l.run(&["auditor", "checkpoint"]);
    out.expect_code(0);
    assert!(out.stdout.starts_with("dossier."), "{}", out.stdout);
    // As JSON: the stored checkpoint, as `auditor status` and the HTTP route show it.
    let json = l.run(&["auditor", "checkpoint", "--json"]);
    json.expect_code(0);
    assert_eq!(json.json(), s["last_checkpoint"]);
    assert_eq!(json.json()["note"], out.stdout);
    let cp = l.file("cp.txt").display().to_string();
    l.run(&["auditor", "checkpoint", "--out", &cp])
        .expect_code(0);
    let v = l.run(&["verify", "--checkpoint", &cp]);
    v.expect_code(0);
    assert!(
        v.stdout.contains("extends the signed checkpoint"),
        "{}",
        v.stdout
    );
}

#[test]
fn a_record_changed_behind_the_auditors_back_is_caught() {
    let (l, cp) = audited();
    crate::support::rewrite_record(&l, 21, false, crate::support::misname_type);
    expect_alarm(&l, &["auditor", "--once", "--rescan"], "verify:");
    l.run(&["verify", "--checkpoint", &cp]).expect_code(5);
}

#[test]
fn a_truncated_ledger_is_caught() {
    let (l, cp) = audited();
    truncate(&l, boundary_before_last_batch(&l));
    l.run(&["verify"]).expect_code(0);
    expect_alarm(&l, &["auditor", "--once"], "truncated");
    let out = l.run(&["verify", "--checkpoint", &cp]);
    out.expect_code(5);
    assert!(
        out.stdout.contains("records were removed"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_forked_and_regrown_history_is_caught() {
    let (l, cp) = audited();
    let head = l.head().seq;
    truncate(&l, boundary_before_last_batch(&l));
    let mut fork = gen_bundle("fork", 1, 20).json;
    fork["report"]["title"] = serde_json::json!("a different history");
    let f = l.write_json("fork.json", &fork);
    l.run(&["publish", &f]).expect_code(0);
    assert!(
        l.head().seq > head,
        "the fork is longer than the checkpoint"
    );
    l.run(&["verify"]).expect_code(0);
    expect_alarm(&l, &["auditor", "--once"], "rewritten");
    let out = l.run(&["verify", "--checkpoint", &cp]);
    out.expect_code(5);
    assert!(out.stdout.contains("rewritten"), "{}", out.stdout);
}

#[test]
fn the_auditor_service_follows_the_ledger_and_stops_on_sigterm() {
    let l = Ledger::init();
    let files = example_files();
    publish(&l, &files[..1]);
    let mut child = l
        .command()
        .args(["auditor", "--every", "1", "--interval", "1"])
        .spawn()
        .expect("the auditor starts");
    let lines = stderr_lines(&mut child);
    wait_for_line(&lines, "signed checkpoint at seq", Duration::from_secs(20));
    publish(&l, &files[1..]);
    let head = l.head().seq;
    wait_for_line(
        &lines,
        &format!("signed checkpoint at seq {head} "),
        Duration::from_secs(20),
    );
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("the auditor stops");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: healthy"));
    let (code, s) = status(&l);
    assert_eq!(code, 0);
    assert_eq!(s["last_checkpoint"]["size"].as_u64(), Some(head));
}

/// On a real JetStream server, through the CLI: the stream is deleted and a different ledger
/// (another founder, valid signatures) grown in its place; the auditor and `verify
/// --checkpoint` both refuse it. Its checkpoints and the alarm are also published to the
/// ledger's checkpoint stream, outside the ledger's own stream.
#[test]
fn a_jetstream_ledger_replaced_behind_the_auditors_back_is_caught() {
    let server = dossier_testkit::NatsServer::start();
    let url = server.url();
    let on = |dir: &std::path::Path, args: &[&str]| {
        let mut all = vec!["--nats", url.as_str(), "--ledger", "audited"];
        all.extend_from_slice(args);
        run_in(dir, &all)
    };
    let files: Vec<String> = example_paths();
    let honest = tempfile::tempdir().expect("tempdir");
    on(honest.path(), &["init"]).expect_code(0);
    let mut publish = vec!["publish"];
    publish.extend(files[..2].iter().map(String::as_str));
    on(honest.path(), &publish).expect_code(0);
    on(honest.path(), &["auditor", "--once", "--every", "5"]).expect_code(0);
    assert!(honest.path().join("jetstream/audited-auditor.db").is_file());
    let cp = honest.path().join("cp.txt").display().to_string();
    on(honest.path(), &["auditor", "checkpoint", "--out", &cp]).expect_code(0);
    on(honest.path(), &["verify", "--checkpoint", &cp]).expect_code(0);
    let head = on(honest.path(), &["verify", "--json"]).json()["last_seq"]
        .as_u64()
        .expect("last_seq");

    // The checkpoints are in DOSSIER_AUDITED_CHECKPOINTS; the ledger stream holds only batches.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let note = std::fs::read_to_string(&cp).expect("checkpoint file");
    rt.block_on(async {
        let client = async_nats::connect(&url).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let cps = js
            .get_stream("DOSSIER_AUDITED_CHECKPOINTS")
            .await
            .expect("checkpoint stream");
        let last = cps
            .direct_get_last_for_subject("dossier.audited.checkpoints")
            .await
            .expect("a checkpoint");
        assert_eq!(std::str::from_utf8(&last.payload).expect("utf-8"), note);
        assert!(
            cps.get_info().await.expect("info").state.messages >= 2,
            "every 5 records and at the end"
        );
        let mut ledger = js
            .get_stream("DOSSIER_AUDITED")
            .await
            .expect("ledger stream");
        let state = ledger.info().await.expect("info").state.clone();
        assert_eq!(
            (state.first_sequence, state.last_sequence, state.messages),
            (1, 3, 3),
            "one message per batch: the genesis and the two bundles"
        );
        assert!(head > 3, "{head} records in 3 messages");
        // The operator deletes the stream and grows another history in its place.
        js.delete_stream("DOSSIER_AUDITED")
            .await
            .expect("delete the stream");
    });
    let forger = tempfile::tempdir().expect("tempdir");
    on(forger.path(), &["init"]).expect_code(0);
    let mut publish = vec!["publish"];
    publish.extend(files.iter().map(String::as_str));
    on(forger.path(), &publish).expect_code(0);

    let out = on(honest.path(), &["auditor", "--once"]);
    out.expect_code(5);
    assert!(
        out.stdout.contains("ALARM rewritten"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    rt.block_on(async {
        let client = async_nats::connect(&url).await.expect("connect");
        let cps = async_nats::jetstream::new(client)
            .get_stream("DOSSIER_AUDITED_CHECKPOINTS")
            .await
            .expect("stream");
        let alarm = cps
            .direct_get_last_for_subject("dossier.audited.alarms")
            .await
            .expect("an alarm");
        let alarm: serde_json::Value = serde_json::from_slice(&alarm.payload).expect("json");
        assert_eq!(alarm["kind"], "rewritten", "{alarm}");
        let last = cps
            .direct_get_last_for_subject("dossier.audited.checkpoints")
            .await
            .expect("a checkpoint");
        assert_eq!(
            std::str::from_utf8(&last.payload).expect("utf-8"),
            note,
            "nothing signed after the alarm"
        );
    });
    let st = on(honest.path(), &["auditor", "status", "--json"]);
    st.expect_code(5);
    assert_eq!(st.json()["healthy"], false);
    on(honest.path(), &["verify", "--checkpoint", &cp]).expect_code(5);
}
