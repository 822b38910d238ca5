//! The permission model of `deploy/nats-accounts.conf` against real dossier ledgers, through
//! the CLI: what a role the model does not trust to write can still do, and what catches it.

use std::path::Path;
use std::time::Duration;

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

/// No role but admin may create consumers (dossier reads by direct gets), which closes the
/// consumer-copy hazard (deploy/README.md, "Consumers and deliver subjects"): a consumer may be
/// given a deliver subject, where the server publishes the stream's messages without checking
/// its creator's publish permissions. A reader replays ledger T (`verify`, `log`) without a
/// consumer, but can neither create one that would copy T's records into ledger U's subject,
/// nor publish; U is unchanged and still verifies.
#[test]
fn a_reader_replays_without_consumers_and_cannot_copy_records_into_another_ledger() {
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

    // The reader replays T whole, with no consumer.
    let r_dir = tempfile::tempdir().expect("tempdir");
    let t_verified = on(r_dir.path(), &url, "t", READER, &["verify", "--json"]);
    t_verified.expect_code(0);
    let t_head = t_verified.json()["last_seq"].as_u64().expect("last_seq");
    assert!(t_head > 2, "{t_head}");
    on(r_dir.path(), &url, "t", READER, &["log", "--json"]).expect_code(0);

    // It may not publish a bundle...
    let more = r_dir.path().join("more.json");
    std::fs::write(&more, gen_bundle("r", 1, 1).bytes()).expect("write");
    let refused = on(
        r_dir.path(),
        &url,
        "t",
        READER,
        &["publish", more.to_str().expect("utf-8")],
    );
    assert_ne!(refused.code, 0, "{}", refused.stderr);

    // ...nor create a consumer delivering T's records into U's subject, nor a pull consumer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (consumers, u_messages) = rt.block_on(async {
        let reader =
            async_nats::ConnectOptions::with_user_and_password(READER.0.into(), READER.1.into())
                .request_timeout(Some(Duration::from_secs(2)))
                .connect(url.as_str())
                .await
                .expect("connect as reader");
        for (subject, config) in [
            (
                "$JS.API.CONSUMER.CREATE.DOSSIER_T",
                json!({"stream_name": "DOSSIER_T", "config": {"ack_policy": "none",
                    "deliver_policy": "all", "deliver_subject": "dossier.u.records"}}),
            ),
            (
                "$JS.API.CONSUMER.CREATE.DOSSIER_T",
                json!({"stream_name": "DOSSIER_T", "config": {"ack_policy": "none",
                    "deliver_policy": "all"}}),
            ),
        ] {
            let answer = reader.request(subject, config.to_string().into()).await;
            if let Ok(reply) = answer {
                let reply: Value = serde_json::from_slice(&reply.payload).unwrap_or(Value::Null);
                assert!(
                    reply.get("error").is_some(),
                    "the reader created a consumer: {reply}"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let admin =
            async_nats::ConnectOptions::with_user_and_password(ADMIN.0.into(), ADMIN.1.into())
                .connect(url.as_str())
                .await
                .expect("connect as admin");
        let js = async_nats::jetstream::new(admin);
        let info = |name: &'static str| {
            let js = js.clone();
            async move {
                js.get_stream(name)
                    .await
                    .expect("stream")
                    .get_info()
                    .await
                    .expect("info")
                    .state
            }
        };
        (
            info("DOSSIER_T").await.consumer_count,
            info("DOSSIER_U").await.messages,
        )
    });
    assert_eq!(consumers, 0, "no consumer on T");
    assert_eq!(u_messages, 1, "U holds its genesis batch only");
    let u_verified = on(u_dir.path(), &url, "u", READER, &["verify", "--json"]);
    u_verified.expect_code(0);
    assert_eq!(u_verified.json()["last_seq"].as_u64(), Some(2));
}
