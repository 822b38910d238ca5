//! Fault campaigns: the `dossier` binary driven as an outside tester would, with faults
//! injected at random instants (seeded; the seed is printed). Each campaign prints
//! `N runs, X lost, Y duplicated, Z undetected` and fails on any non-zero count. The test
//! command runs them bounded; `CAMPAIGN_SCALE` multiplies their counts (see README.md here).

#![allow(clippy::unwrap_used)]

#[path = "../common/bundles.rs"]
mod bundles;
#[path = "../common/environment.rs"]
mod environment;
#[path = "../common/principals.rs"]
mod principals;
mod support;
#[path = "../common/webhook.rs"]
mod webhook;

mod leader_kills;
mod notifier_kills;
mod outages;
mod partition;
mod producer_kills;
mod projector_kills;
mod server_kills;
mod tamper;
