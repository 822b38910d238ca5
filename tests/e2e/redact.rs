//! `dossier redact`: a report's text erased from every file of the data directory (SQLite
//! pages, WAL included) and from the JetStream store directory of a real `nats-server`, while
//! the chain, checkpoints, proofs and beliefs stay valid; the text route says who, when and
//! why; exports never carry the text and imports never bring it back; bad input changes
//! nothing.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Ledger, Out, Served, example_json, example_paths, http, run_in};

/// A string no other part of the ledger holds (not quoted by any claim).
const MARKER: &str = "REDACTION-MARKER-7f3c9e1a-the-name-of-a-protected-source-Kim-Soo-jin-\
                      0b5d24e8c61f4a97b3e2d9c0a1f8e7d6";

/// Example 1 with [`MARKER`] appended to its report's text (the claims' quote spans, counted
/// from the start, still hold); returns the bundle and its report id.
fn marked_bundle() -> (Value, String) {
    let mut b = example_json(0);
    let text = b["report"]["text"].as_str().unwrap().to_owned();
    b["report"]["text"] = Value::String(format!("{text}\n\n{MARKER}\n"));
    let id = b["report"]["id"].as_str().unwrap().to_owned();
    (b, id)
}

/// Every file under `root` (recursively) whose raw bytes contain the marker. The root itself must
/// exist.
fn files_with_marker(root: &Path) -> Vec<PathBuf> {
    assert!(root.is_dir(), "{} is not a directory", root.display());
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        // A running server removes directories and files of its store as it goes: one that
        // vanished between listing and reading holds nothing any more.
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes())
            {
                found.push(path);
            }
        }
    }
    found
}

fn publish_marked(run: &dyn Fn(&[&str]) -> Out, dir: &Path) -> String {
    let (bundle, report) = marked_bundle();
    let file = dir.join("marked.json");
    std::fs::write(&file, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let mut args = vec!["publish".to_owned(), file.display().to_string()];
    args.extend(example_paths().into_iter().skip(1));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args).ok();
    report
}

#[test]
fn a_redacted_text_leaves_no_byte_in_the_data_directory_and_everything_still_verifies() {
    let l = Ledger::init();
    let work = tempfile::tempdir().unwrap();
    let report = publish_marked(&|a| l.run(a), work.path());
    assert!(
        !files_with_marker(l.dir()).is_empty(),
        "the text is stored in the data directory before the redaction"
    );
    // Made before the redaction: a checkpoint, an inclusion proof, a raw export, the digest.
    let cp = work.path().join("cp.txt");
    let cp_arg = cp.display().to_string();
    l.run(&["checkpoint", "--out", &cp_arg]).ok();
    let proof = work.path().join("incl.json");
    l.run(&["prove", "5", "--out", &proof.display().to_string()])
        .ok();
    let before_export = work.path().join("before.dossier");
    l.run(&[
        "export",
        "--format",
        "log",
        "-o",
        &before_export.display().to_string(),
    ])
    .ok();
    let digest = l.run(&["beliefs", "--json"]).ok().json()["digest"].clone();
    let head = l.head();

    // Bad input: precise errors, nothing appended, the text still there.
    let unknown = l.run(&["redact", "report:nobody/nothing", "--reason", "x", "--yes"]);
    unknown.expect_code(1);
    assert!(
        unknown.stderr.contains("no report report:nobody/nothing"),
        "{}",
        unknown.stderr
    );
    let empty = l.run(&["redact", &report, "--reason", "  ", "--yes"]);
    empty.expect_code(3);
    assert!(
        empty.stderr.contains("reason must not be empty"),
        "{}",
        empty.stderr
    );
    let not_a_report = l.run(&["redact", "claim:x/y", "--reason", "x", "--yes"]);
    not_a_report.expect_code(3);
    let unconfirmed = l.run(&["redact", &report, "--reason", "a source is named"]);
    unconfirmed.expect_code(1);
    assert!(
        unconfirmed.stderr.contains("pass --yes"),
        "{}",
        unconfirmed.stderr
    );
    assert_eq!(l.head(), head, "refused redactions append nothing");
    assert!(!files_with_marker(l.dir()).is_empty());

    let reason = "the text names a protected source";
    let done = l
        .run(&["redact", &report, "--reason", reason, "--yes", "--json"])
        .ok()
        .json();
    assert_eq!(done["outcome"], "redacted", "{done}");
    assert_eq!(done["reason"], reason);
    assert_eq!(done["seq"].as_u64(), Some(head.seq + 1), "{done}");
    let leaks = files_with_marker(l.dir());
    assert!(leaks.is_empty(), "the text remains in {leaks:?}");

    // The chain, the earlier checkpoint and proof, and the beliefs are untouched.
    let (code, verify) = l.verify_json();
    assert_eq!(code, 0, "{verify}");
    l.run(&["verify", "--checkpoint", &cp_arg]).ok();
    let key = std::fs::read_to_string(l.dir().join("root.pub")).unwrap();
    let checked = l.run(&[
        "check-proof",
        &proof.display().to_string(),
        "--key",
        key.trim(),
    ]);
    checked.ok();
    assert_eq!(l.run(&["beliefs", "--json"]).ok().json()["digest"], digest);

    // `why` keeps the report's claims and quotes and says the text was redacted: who, when
    // and why at TLP:RED, only that below.
    let (bundle, _) = marked_bundle();
    let question = bundle["claims"][0]["question"].as_str().unwrap();
    let quote = bundle["claims"][0]["quote"]["text"].as_str().unwrap();
    let why = l.run(&["why", question]).ok().stdout.clone();
    assert!(
        why.contains(&format!(
            "the text of {report} was redacted at seq {}",
            done["seq"]
        )) && why.contains(reason)
            && why.contains(done["key"].as_str().unwrap())
            && why.contains(done["recorded"].as_str().unwrap()),
        "{why}"
    );
    assert!(why.contains(quote), "the claim's quote stays: {why}");
    let why_json = l.run(&["why", question, "--json"]).ok().json();
    assert_eq!(why_json["redactions"][0]["redaction"]["reason"], reason);
    let why_clear = l
        .run(&["why", question, "--clearance", "TLP:CLEAR"])
        .ok()
        .stdout
        .clone();
    assert!(
        why_clear.contains("was redacted (its claims"),
        "{why_clear}"
    );
    assert!(!why_clear.contains(reason), "{why_clear}");

    // Again: said so, nothing changed.
    let again = l.run(&["redact", &report, "--reason", "another", "--yes"]);
    again.ok();
    assert!(
        again.stdout.contains("already redacted"),
        "{}",
        again.stdout
    );
    assert_eq!(l.head().seq, head.seq + 2);

    // A bundle that would store the redacted text again is refused by `validate` and
    // `publish`, naming the report; nothing is appended or stored.
    refuses_the_redacted_text(&|a| l.run(a), work.path(), &report, l.dir());
    assert_eq!(l.head().seq, head.seq + 2);

    // A raw export after the redaction lacks the text and imports (verified) elsewhere.
    let after_export = work.path().join("after.dossier");
    let exported = l
        .run(&[
            "export",
            "--format",
            "log",
            "-o",
            &after_export.display().to_string(),
            "--json",
        ])
        .ok()
        .json();
    assert!(files_with_marker(work.path()).contains(&before_export));
    assert!(!files_with_marker(work.path()).contains(&after_export));
    let other = tempfile::tempdir().unwrap();
    let imported = run_in(
        other.path(),
        &[
            "import",
            &after_export.display().to_string(),
            "--trust",
            key.trim(),
            "--json",
        ],
    );
    imported.ok();
    assert_eq!(imported.json()["texts"], exported["texts"]);
    run_in(other.path(), &["verify"]).ok();
    // The pre-redaction export brings nothing back into a ledger holding the redaction (it
    // ends before the ledger's head, so it is refused whole).
    for dir in [other.path(), l.dir()] {
        let out = run_in(dir, &["import", &before_export.display().to_string()]);
        assert_ne!(out.code, 0, "{}", out.stdout);
        let leaks = files_with_marker(dir);
        assert!(leaks.is_empty(), "an import restored the text: {leaks:?}");
    }
    // A ledger that got the text from the earlier export loses it when a later export brings
    // the redaction.
    let third = tempfile::tempdir().unwrap();
    run_in(
        third.path(),
        &[
            "import",
            &before_export.display().to_string(),
            "--trust",
            key.trim(),
        ],
    )
    .ok();
    assert!(!files_with_marker(third.path()).is_empty());
    run_in(
        third.path(),
        &["import", &after_export.display().to_string()],
    )
    .ok();
    let leaks = files_with_marker(third.path());
    assert!(
        leaks.is_empty(),
        "the imported redaction left the text in {leaks:?}"
    );
    run_in(third.path(), &["verify"]).ok();

    // The HTTP text route says redacted: who, when and why at TLP:RED, only that below.
    let hash =
        dossier_model::entity::content_hash(marked_bundle().0["report"]["text"].as_str().unwrap());
    let token = |clearance: &str| {
        l.grant("analyst", "reader", clearance)["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (red, clear) = (token("TLP:RED"), token("TLP:CLEAR"));
    let mut cmd = l.command();
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    let served = Served::start(cmd);
    let ledger = l.run(&["log", "--json"]).json_lines()[0]["entity"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/ledgers/{ledger}/texts/{hash}");
    let (status, body) = http(&served.addr, "GET", &path, Some(&red), None);
    assert_eq!(status, 410, "{body}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["type"], "urn:dossier:problem:redacted");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(reason) && detail.contains(&done["key"].as_str().unwrap()[..8]),
        "{detail}"
    );
    assert!(
        detail.contains(done["recorded"].as_str().unwrap()),
        "{detail}"
    );
    let (status, body) = http(&served.addr, "GET", &path, Some(&clear), None);
    assert_eq!(status, 410, "{body}");
    assert!(!body.contains(reason), "the reason is TLP:RED: {body}");
    // `POST bundles` refuses the text too.
    let producer = l.grant("desk", "producer", "TLP:RED")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = l.head();
    let bundle = serde_json::to_vec(&marked_bundle().0).unwrap();
    let (status, body) = http(
        &served.addr,
        "POST",
        &format!("/v1/ledgers/{ledger}/bundles"),
        Some(&producer),
        Some(&bundle),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains(&format!("the text of {report} was redacted")),
        "{body}"
    );
    assert_eq!(l.head(), before, "nothing appended");
    served.terminate();
    assert!(files_with_marker(l.dir()).is_empty());
}

#[test]
fn a_redacted_text_leaves_no_byte_in_the_jetstream_store_directory() {
    let server = dossier_testkit::NatsServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let on_nats = |args: &[&str]| {
        let mut all = vec!["--nats", url.as_str(), "--ledger", "redact"];
        all.extend_from_slice(args);
        run_in(dir.path(), &all)
    };
    on_nats(&["init"]).ok();
    let report = publish_marked(&on_nats, work.path());
    assert!(
        !files_with_marker(server.store_dir()).is_empty(),
        "the text is in the server's store before the redaction"
    );
    let cp = work.path().join("cp.txt");
    on_nats(&["checkpoint", "--out", &cp.display().to_string()]).ok();
    let digest = on_nats(&["beliefs", "--json"]).ok().json()["digest"].clone();

    on_nats(&["redact", "report:nobody/nothing", "--reason", "x", "--yes"]).expect_code(1);
    let done = on_nats(&[
        "redact",
        &report,
        "--reason",
        "legal order 7",
        "--yes",
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(done["outcome"], "redacted", "{done}");
    let leaks = files_with_marker(server.store_dir());
    assert!(leaks.is_empty(), "the text remains in {leaks:?}");
    let leaks = files_with_marker(dir.path());
    assert!(leaks.is_empty(), "the text remains in {leaks:?}");
    on_nats(&["verify"]).ok();
    on_nats(&["verify", "--checkpoint", &cp.display().to_string()]).ok();
    assert_eq!(
        on_nats(&["beliefs", "--json"]).ok().json()["digest"],
        digest
    );
    let again = on_nats(&["redact", &report, "--reason", "legal order 7", "--yes"]);
    again.ok();
    assert!(
        again.stdout.contains("already redacted"),
        "{}",
        again.stdout
    );
    refuses_the_redacted_text(&on_nats, work.path(), &report, server.store_dir());
}

/// `validate` and `publish` of the marked bundle after its text was redacted: refused (exit
/// 3) with a problem naming the report, nothing appended, no byte of the text under `store`.
fn refuses_the_redacted_text(run: &dyn Fn(&[&str]) -> Out, dir: &Path, report: &str, store: &Path) {
    let head = run(&["log", "--json"]).ok().json_lines().len();
    let file = dir.join("again.json");
    std::fs::write(&file, serde_json::to_vec(&marked_bundle().0).unwrap()).unwrap();
    let file = file.display().to_string();
    for command in ["validate", "publish"] {
        let out = run(&[command, &file]);
        out.expect_code(3);
        assert!(
            out.stderr
                .contains(&format!("the text of {report} was redacted"))
                && out.stderr.contains("/report/text"),
            "{command}: {}",
            out.stderr
        );
    }
    assert_eq!(run(&["log", "--json"]).ok().json_lines().len(), head);
    let leaks = files_with_marker(store);
    assert!(leaks.is_empty(), "the text is stored again in {leaks:?}");
}

/// A texts stream created the old way (`deny_delete` on) cannot erase: the redaction is
/// recorded and the erase refused with a hint naming `dossier migrate --texts`, which recreates
/// the stream without `deny_delete` (purges still denied), every other text copied and checked,
/// the redacted one left out; the ledger verifies and stays writable; a second run does nothing.
#[test]
fn a_texts_stream_that_denies_deletes_is_recreated_without_the_redacted_text() {
    use async_nats::jetstream::stream;
    let server = dossier_testkit::NatsServer::start();
    let url = server.url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let texts_config = || {
        rt.block_on(async {
            let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
            let mut s = js.get_stream("DOSSIER_OLDTEXTS_TEXTS").await.unwrap();
            s.info().await.unwrap().config.clone()
        })
    };
    rt.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
        js.create_stream(stream::Config {
            name: "DOSSIER_OLDTEXTS_TEXTS".into(),
            subjects: vec!["dossier.oldtexts.texts.>".into()],
            storage: stream::StorageType::File,
            discard: stream::DiscardPolicy::New,
            deny_delete: true,
            deny_purge: true,
            allow_direct: true,
            ..Default::default()
        })
        .await
        .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let on_nats = |args: &[&str]| {
        let mut all = vec!["--nats", url.as_str(), "--ledger", "oldtexts"];
        all.extend_from_slice(args);
        run_in(dir.path(), &all)
    };
    on_nats(&["init"]).ok();
    assert!(
        texts_config().deny_delete,
        "the stream of an earlier version"
    );
    let report = publish_marked(&on_nats, work.path());
    let export = |name: &str| {
        crate::export::export(&on_nats, &work.path().join(name))["texts"]
            .as_u64()
            .unwrap()
    };
    let texts = export("before.dossier");
    assert!(texts >= 2, "{texts}");

    let refused = on_nats(&["redact", &report, "--reason", "legal order 9", "--yes"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("denies message deletes")
            && refused.stderr.contains("dossier migrate --texts"),
        "{}",
        refused.stderr
    );
    assert!(!files_with_marker(server.store_dir()).is_empty());

    let done = on_nats(&["migrate", "--texts", "--json"]).ok().json();
    assert_eq!(done["already"], false, "{done}");
    assert_eq!(done["skipped"], 1, "{done}");
    assert_eq!(done["texts"].as_u64(), Some(texts - 1), "{done}");
    let leaks = files_with_marker(server.store_dir());
    assert!(leaks.is_empty(), "the text remains in {leaks:?}");
    let config = texts_config();
    assert!(!config.deny_delete && config.deny_purge, "{config:?}");
    on_nats(&["verify"]).ok();
    assert_eq!(
        export("after.dossier"),
        texts - 1,
        "every other text is stored"
    );
    let again = on_nats(&["redact", &report, "--reason", "legal order 9", "--yes"]);
    again.ok();
    assert!(
        again.stdout.contains("already redacted"),
        "{}",
        again.stdout
    );
    let rerun = on_nats(&["migrate", "--texts"]);
    rerun.ok();
    assert!(rerun.stdout.contains("nothing changed"), "{}", rerun.stdout);
    // Still writable: a new report's text is stored in the recreated stream.
    let mut next = example_json(0);
    next["report"]["id"] = Value::String("report:test/after-migration".into());
    next["report"]["text"] = Value::String(format!(
        "{} (a later copy)",
        next["report"]["text"].as_str().unwrap()
    ));
    next.as_object_mut().unwrap().remove("claims");
    let file = work.path().join("next.json");
    std::fs::write(&file, serde_json::to_vec(&next).unwrap()).unwrap();
    on_nats(&["publish", &file.display().to_string()]).ok();
    assert_eq!(export("later.dossier"), texts);
}
