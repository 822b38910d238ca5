//! The JetStream backend against the backend conformance suite, on a real `nats-server`.

use dossier_jetstream::{JetStreamConfig, JetStreamLog};
use dossier_log::conformance::Fixture;
use dossier_testkit::NatsServer;

/// A fresh server (with its store) per case, and a local index in a temporary directory.
async fn fresh() -> Fixture<JetStreamLog> {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = JetStreamConfig::new(server.url(), "conformance", dir.path().join("index.db"));
    let log = JetStreamLog::open(&cfg)
        .await
        .expect("open the JetStream ledger");
    assert_eq!(
        log.layout(),
        dossier_jetstream::Layout::Batches,
        "a new ledger stream holds one message per batch"
    );
    Fixture {
        log,
        guard: Box::new((server, dir)),
    }
}

dossier_log::conformance_suite!(fresh);
