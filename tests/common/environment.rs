//! What the end-to-end tests and the fault campaigns clear from the environment of every
//! `dossier` they start, so that a developer's settings never reach a test.

/// Every variable `dossier` reads (besides its flags), and `RUST_LOG` and `XDG_DATA_HOME`.
pub const DOSSIER_VARIABLES: &[&str] = &[
    "DOSSIER_HOME",
    "DOSSIER_CONFIG",
    "DOSSIER_FAULT_PAUSE",
    "DOSSIER_LEDGER",
    "DOSSIER_REPLICAS",
    "DOSSIER_PASSPHRASE",
    "DOSSIER_PASSPHRASE_FILE",
    "RUST_LOG",
    "XDG_DATA_HOME",
    "NATS_URL",
    "NATS_USER",
    "NATS_PASSWORD",
    "NATS_TOKEN",
    "NATS_NKEY",
    "NATS_CREDS",
    "NATS_CA",
    "NATS_CERT",
    "NATS_KEY",
];
