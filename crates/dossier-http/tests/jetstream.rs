//! Two services on one JetStream ledger, each with its own index and views: the same answers at
//! the same seq, and a grant recorded through one node's ledger connection honoured by the other.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use dossier_chain::Genesis;
use dossier_jetstream::{JetStreamConfig, JetStreamLog};
use dossier_log::EventLog as _;
use dossier_model::Marking;
use dossier_query::{Answer, Beliefs, History, Why};

async fn open(url: &str, dir: &std::path::Path, node: &str) -> Arc<JetStreamLog> {
    let cfg = JetStreamConfig::new(url, "http", dir.join(format!("{node}-index.db")));
    Arc::new(JetStreamLog::open(&cfg).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_answer_alike_and_share_grants() {
    let nats = dossier_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let a = open(&nats.url(), dir.path(), "a").await;
    let genesis = Genesis::build(
        uuid::Uuid::new_v4(),
        "http tests",
        &founder(),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    a.append(0, &genesis, &[]).await.unwrap();
    publish(&*a, &story()).await;
    let ledger = dossier_log::ledger::genesis(&*a)
        .await
        .unwrap()
        .unwrap()
        .ledger;
    let b = open(&nats.url(), dir.path(), "b").await;
    let (a_base, a_stop, a_task) = serve(Arc::clone(&a), &a_dir, &ledger).await;
    let (b_base, b_stop, b_task) = serve(Arc::clone(&b), &b_dir, &ledger).await;

    // A grant recorded through node A's connection authenticates at node B.
    let (token, _) = grant(
        &*a,
        "analyst",
        dossier_access::Role::Reader,
        Marking::Amber,
        time::OffsetDateTime::now_utc(),
        dossier_access::Expiry::After(3600),
    )
    .await;
    let client = reqwest::Client::new();
    let get = |base: &str, path: &str| {
        client
            .get(format!("{base}/v1/ledgers/{ledger}{path}"))
            .bearer_auth(&token)
            .send()
    };
    let q = format!("/questions/{}", CONTAINERS.replace('/', "%2F"));
    for path in ["/beliefs".to_owned(), q.clone(), format!("{q}/history")] {
        let from_a: serde_json::Value = get(&a_base, &path).await.unwrap().json().await.unwrap();
        let from_b: serde_json::Value = get(&b_base, &path).await.unwrap().json().await.unwrap();
        assert_eq!(from_a["seq"], from_b["seq"], "{path}");
        assert_eq!(from_a, from_b, "{path}: the same answer at the same seq");
    }
    let a_answer: Answer<Beliefs> = get(&a_base, "/beliefs")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a_answer.clearance, Marking::Amber);
    let _: Answer<Why> = get(&b_base, &q).await.unwrap().json().await.unwrap();
    let _: Answer<History> = get(&b_base, &format!("{q}/history"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    for (stop, task) in [(a_stop, a_task), (b_stop, b_task)] {
        stop.send(()).unwrap();
        task.await.unwrap();
    }
}
