//! The permission model of `deploy/nats-accounts.conf` against real dossier ledgers, through
//! the CLI: what a role the model does not trust to write can still do, and what catches it.

use std::path::Path;
use std::time::{Duration, Instant};

use dossier_testkit::{NatsServer, workspace_root};
use serde_json::{Value, json};

use crate::support::{Out, example_paths, gen_bundle, run_in};

const ADMIN: (&str, &str) = ("admin", "EXAMPLE-admin-password-REPLACE-ME");
const PRODUCER: (&str, &str) = ("producer", "EXAMPLE-producer-password-REPLACE-ME");
const READER: (&str, &str) = ("reader", "EXAMPLE-reader-password-REPLACE-ME");

fn on(dir: &Path, url: &str, ledger: &str, (user, pass): (&str, &str), args: &[&str]) -> Out {
    let mut all = vec![
        "--nats",
        url,
        "--ledger",
        ledger,
        "--nats-user",
        user,
        "--nats-password",
        pass,
    ];
    all.extend_from_slice(args);
    run_in(dir, &all)
}

/// A reader may create consumers (dossier reads through ordered consumers), and a consumer may
/// be given a deliver subject, where the server then publishes the stream's messages without
/// checking the creator's publish permissions (deploy/README.md, "Consumers and deliver
/// subjects"). Nothing in the subject of the consumer-create request names the deliver
/// subject, so no permission can forbid it while allowing consumers. This pins what happens
/// when a reader copies ledger T's records into ledger U's subject: they land in U's stream,
/// `dossier verify` on U reports each as another ledger's record (exit 5), the auditor raises
/// an alarm, and U's producers stop, refusing to build on a head that does not continue U's
/// chain.
#[test]
fn a_reader_copying_records_into_another_ledger_is_caught_by_verify() {
    let server = NatsServer::builder()
        .config_file(workspace_root().join("deploy/nats-single.conf"))
        .store_dir_env("DOSSIER_NATS_STORE_DIR")
        .start()
        .expect("start with deploy/nats-single.conf");
    let url = server.url();
    let t_dir = tempfile::tempdir().expect("tempdir");
    let u_dir = tempfile::tempdir().expect("tempdir");
    let files: Vec<String> = example_paths();
    on(t_dir.path(), &url, "t", ADMIN, &["init"]).expect_code(0);
    on(u_dir.path(), &url, "u", ADMIN, &["init"]).expect_code(0);
    let mut publish = vec!["publish"];
    publish.extend(files.iter().map(String::as_str));
    on(t_dir.path(), &url, "t", PRODUCER, &publish).expect_code(0);
    let u_verified = on(u_dir.path(), &url, "u", READER, &["verify", "--json"]);
    u_verified.expect_code(0);
    let u_head = u_verified.json()["last_seq"].as_u64().expect("last_seq");
    assert_eq!(u_head, 2, "U holds its genesis batch only");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let copied = rt.block_on(async {
        let reader =
            async_nats::ConnectOptions::with_user_and_password(READER.0.into(), READER.1.into())
                .connect(url.as_str())
                .await
                .expect("connect as reader");
        let config = json!({"stream_name": "DOSSIER_T",
            "config": {"ack_policy": "none", "deliver_policy": "all",
                       "deliver_subject": "dossier.u.records"}});
        let reply = reader
            .request(
                "$JS.API.CONSUMER.CREATE.DOSSIER_T",
                config.to_string().into(),
            )
            .await
            .expect("the reader may create a consumer");
        let reply: Value = serde_json::from_slice(&reply.payload).expect("json");
        let admin =
            async_nats::ConnectOptions::with_user_and_password(ADMIN.0.into(), ADMIN.1.into())
                .connect(url.as_str())
                .await
                .expect("connect as admin");
        let js = async_nats::jetstream::new(admin);
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut last = 0;
        loop {
            let n = js
                .get_stream("DOSSIER_U")
                .await
                .expect("stream")
                .get_info()
                .await
                .expect("info")
                .state
                .last_sequence;
            if n == last && n > u_head || Instant::now() > deadline {
                return (reply, n);
            }
            last = n;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let (consumer, u_last) = copied;
    assert!(consumer.get("error").is_none(), "{consumer}");
    let t_head = on(t_dir.path(), &url, "t", READER, &["verify", "--json"]).json()["last_seq"]
        .as_u64()
        .expect("last_seq");
    // Deliveries keep their headers, so each of T's atomic batches lands in U only if its
    // `Nats-Expected-Last-Sequence` equals U's last sequence at that moment. T's genesis batch
    // (expected 0) is refused, U then holds 2 records, just as T after its genesis batch: every
    // later batch of T lands, in lockstep. (A reader can aim this way at any ledger, choosing
    // the consumer's start sequence so that a batch's expected sequence matches.)
    assert_eq!(
        u_last,
        u_head + t_head - 2,
        "the copies into U changed: a server that checks deliver subjects, or headers no longer \
         kept; update deploy/README.md (\"Consumers and deliver subjects\")"
    );

    // `dossier verify` on U: exit 5, every copied record reported as another ledger's, U's own
    // records intact.
    let verify = on(u_dir.path(), &url, "u", READER, &["verify", "--json"]);
    verify.expect_code(5);
    let report = verify.json();
    assert_eq!(report["ok"], false, "{report}");
    let failures = report["failures"].as_array().expect("failures");
    assert!(!failures.is_empty());
    for f in failures {
        assert_eq!(f["kind"], "wrong_ledger", "{f}");
        assert!(f["seq"].as_u64().expect("seq") > u_head, "{f}");
    }
    let text = on(u_dir.path(), &url, "u", READER, &["verify"]);
    text.expect_code(5);
    assert!(
        text.stdout
            .contains(&format!("FAIL seq {}: wrong_ledger", u_head + 1)),
        "{}",
        text.stdout
    );

    // The auditor raises an alarm.
    let audit = on(u_dir.path(), &url, "u", ADMIN, &["auditor", "--once"]);
    audit.expect_code(5);
    assert!(audit.stdout.contains("ALARM"), "{}", audit.stdout);

    // U's producers stop: their backend refuses to build on a head that does not continue the
    // chain, and nothing more is appended.
    let more = u_dir.path().join("more.json");
    std::fs::write(&more, gen_bundle("u", 1, 1).bytes()).expect("write");
    let refused = on(
        u_dir.path(),
        &url,
        "u",
        PRODUCER,
        &["publish", more.to_str().expect("utf-8")],
    );
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("does not continue the chain"),
        "{}",
        refused.stderr
    );
    let after = on(u_dir.path(), &url, "u", READER, &["verify", "--json"]);
    assert_eq!(after.json()["last_seq"].as_u64(), Some(u_last));
}
