//! A network partition: on a 3-node cluster whose routes go through proxies the test kit can
//! cut ([`dossier_testkit::NatsClusterBuilder::partitionable`]), the node leading the ledger's
//! R3 stream is cut off from the other two. Six files are published through it (the minority:
//! it must refuse them) and six through a node of the majority (which elects a new leader and
//! may accept them); the partition is then healed.
//!
//! - **lost**: an acknowledged file (through either side) with an event missing after the heal;
//!   a file in the ledger only in part; a ledger that no longer verifies;
//! - **duplicated**: an event recorded twice (the two sides wrote diverging histories);
//! - **undetected**: the minority acknowledged a file (a write without a quorum), or publishing
//!   every file again does not leave each exactly once.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::producer_kills::{bundle_files, check_run, publish_with_fault};
use crate::support::{Dossier, Tally, scale, seed, temp_dir};

/// The ledger's stream.
const STREAM: &str = "DOSSIER_PART";

/// Partitions in the bounded run.
const RUNS: usize = 1;

#[test]
fn a_partitioned_leader_refuses_writes_and_nothing_acknowledged_is_lost() {
    let mut cluster = dossier_testkit::NatsCluster::builder(3)
        .partitionable()
        .start()
        .expect("a partitionable cluster starts");
    let dir = temp_dir("dossier-campaign-partition-");
    let d = Dossier::jetstream(dir.path(), &cluster.url(), "part");
    d.init_replicated();
    let seed = seed();
    let mut tally = Tally::new("partition (JetStream, 3 nodes, R3)", seed);
    let work = temp_dir("dossier-campaign-partition-bundles-");
    for run in 0..RUNS * scale() {
        let leader =
            crate::leader_kills::stream_leader(&cluster, STREAM).expect("the stream has a leader");
        let other = (leader + 1) % cluster.len();
        let via = |i: usize| Dossier::jetstream(dir.path(), &cluster.node(i).url(), "part");
        let (minority_files, mut entities) = bundle_files(work.path(), &format!("m{seed:x}-{run}"));
        let (majority_files, majority_entities) =
            bundle_files(work.path(), &format!("j{seed:x}-{run}"));
        entities.extend(majority_entities);
        cluster.partition(leader);
        let minority_acked = publish_with_fault(
            &via(leader),
            &minority_files,
            Duration::from_secs(20),
            || {},
            Duration::ZERO,
        );
        for f in &minority_acked {
            tally.undetected(format!(
                "run {run}: the cut-off node {leader} acknowledged {f} without a quorum"
            ));
        }
        let majority_acked = publish_with_fault(
            &via(other),
            &majority_files,
            Duration::from_secs(30),
            || {},
            Duration::ZERO,
        );
        cluster.heal();
        cluster
            .wait_for_meta_leader()
            .expect("the healed cluster agrees on a leader");
        // Until the cut-off node is back in step it can answer for the stream from its older
        // replica (a prefix of the ledger): read back only once every node holds the same.
        cluster
            .wait_for_stream_in_step(STREAM, Duration::from_secs(60))
            .expect("the healed cluster's replicas come back in step");
        tally.runs += 1;
        let files: Vec<String> = minority_files
            .iter()
            .chain(&majority_files)
            .cloned()
            .collect();
        let acked = minority_acked.union(&majority_acked).cloned().collect();
        let entities: BTreeMap<String, Vec<String>> = entities;
        check_run(&d, &mut tally, run, &files, &entities, &acked);
        tally.note(format!(
            "run {run}: leader node {leader} cut off; minority acknowledged {}, majority {} of {}",
            minority_acked.len(),
            majority_acked.len(),
            majority_files.len()
        ));
    }
    tally.finish(RUNS);
}
