//! Tests of the harness itself against the real server.

use std::time::Instant;

use dossier_testkit::{NatsCluster, NatsServer, http_get, server_binary};

#[test]
fn single_server_starts_restarts_on_the_same_store_and_stops() {
    let t = Instant::now();
    let mut server = NatsServer::start();
    assert!(server_binary().version.is_supported());
    assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));
    let first_pid = server.pid().expect("running");
    let jsz = server.jsz().expect("/jsz");
    assert_eq!(
        jsz["config"]["store_dir"].as_str(),
        Some(
            server
                .store_dir()
                .join("jetstream")
                .to_str()
                .expect("utf-8 path")
        ),
        "{jsz}"
    );

    // Something on disk that a restart must find again: the JetStream store directory.
    let store = server.store_dir().join("jetstream");
    assert!(store.is_dir(), "no store at {}", store.display());
    let marker = server.store_dir().join("marker");
    std::fs::write(&marker, b"kept").expect("write marker");

    let port = server.port();
    server.kill();
    assert_eq!(server.pid(), None);
    assert!(!server.is_running());
    assert!(
        http_get(server.monitor_port(), "/healthz").is_err(),
        "killed server still answers"
    );

    server.restart().expect("restart");
    assert_eq!(server.port(), port);
    assert_ne!(server.pid(), Some(first_pid));
    assert!(server.is_running());
    assert_eq!(std::fs::read(&marker).expect("marker survives"), b"kept");
    assert_eq!(
        http_get(server.monitor_port(), "/healthz")
            .expect("healthz")
            .0,
        200
    );

    server.stop();
    assert!(!server.is_running());
    assert!(
        server.log_tail().contains("Server is ready"),
        "{}",
        server.log_tail()
    );
    eprintln!("single server start/kill/restart/stop: {:?}", t.elapsed());
}

#[test]
fn builder_applies_credentials_and_config_text() {
    let server = NatsServer::builder()
        .config_text("max_payload: 65536\n")
        .user_password("alice", "example-password")
        .server_name("harness-test")
        .start()
        .expect("start");
    let varz = server.monitor_json("/varz").expect("/varz");
    assert_eq!(varz["server_name"], "harness-test", "{varz}");
    assert_eq!(varz["max_payload"], 65536, "{varz}");
    assert_eq!(varz["auth_required"], true, "{varz}");
}

#[test]
fn a_broken_config_fails_with_the_server_log() {
    let err = NatsServer::builder()
        .config_text("this is { not valid")
        .start()
        .expect_err("must fail");
    let message = err.to_string();
    assert!(message.contains("exited"), "{message}");
    assert!(message.contains("nats-server.log"), "{message}");
}

#[test]
fn three_node_cluster_elects_a_meta_leader_and_survives_a_node_restart() {
    let t = Instant::now();
    let mut cluster = NatsCluster::start(3);
    assert_eq!(cluster.len(), 3);
    let leader = cluster.meta_leader().expect("meta leader");
    assert!(
        cluster.server_names().contains(&leader),
        "{leader} not in {:?}",
        cluster.server_names()
    );
    assert_eq!(cluster.url().split(',').count(), 3);
    let jsz = cluster.node(0).jsz().expect("/jsz");
    assert_eq!(jsz["meta_cluster"]["cluster_size"], 3, "{jsz}");
    eprintln!("cluster ready: {:?}", t.elapsed());

    // Kill the leader: the other two elect a new one; the restarted node rejoins.
    let i = cluster
        .server_names()
        .iter()
        .position(|n| *n == leader)
        .expect("leader is a node");
    cluster.kill(i);
    let new_leader = cluster.wait_for_meta_leader().expect("new meta leader");
    assert_ne!(new_leader, leader);
    cluster.restart(i).expect("restart");
    assert!(cluster.meta_leader().is_some());
    eprintln!(
        "cluster start, leader kill, re-election, restart: {:?}",
        t.elapsed()
    );
}
