//! End-to-end scenarios: the `dossier` binary driven as a user (or a crashing producer) would.

#![allow(clippy::unwrap_used)]

#[path = "../common/bundles.rs"]
mod bundles;
#[path = "../common/environment.rs"]
mod environment;
mod jetstream;
#[path = "../common/principals.rs"]
mod principals;
mod support;
#[path = "../common/webhook.rs"]
mod webhook;

mod access;
mod acknowledge;
mod auditor;
mod auth;
mod bad_input;
mod beliefs;
mod cli;
mod compose;
mod concurrency;
mod crash;
mod exchange;
mod export;
mod init;
mod keys;
mod markings;
mod migrate;
mod notify;
mod permissions;
mod proofs;
mod publish;
mod redact;
mod roles;
mod secrets;
mod serve_api;
mod snapshots;
mod stix_import;
mod tamper;
mod witness;
