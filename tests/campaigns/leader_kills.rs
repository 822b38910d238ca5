//! Leader kills: on a 3-node cluster with the ledger's stream replicated three times, the node
//! leading the stream killed with SIGKILL at a random instant of a `dossier publish --json`,
//! and restarted after a random pause. The same checks as producer kills
//! ([`crate::producer_kills::check_run`]): acknowledged files present, nothing in part or twice,
//! the chain verifies, publishing again completes it exactly once.

use std::time::{Duration, Instant};

use crate::producer_kills::{
    bundle_files, check_run, publish_with_fault_timed, stall_summary, whole_publish,
};
use crate::support::{Dossier, Rng, Tally, scale, seed, temp_dir};

/// Leader kills in the bounded run.
const RUNS: usize = 3;

/// The index of the node leading `stream`, as the nodes' monitoring endpoints report it.
pub(crate) fn stream_leader(cluster: &dossier_testkit::NatsCluster, stream: &str) -> Option<usize> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for i in 0..cluster.len() {
            let Ok(jsz) = cluster
                .node(i)
                .monitor_json("/jsz?streams=true&accounts=true")
            else {
                continue;
            };
            let accounts = jsz["account_details"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for s in accounts
                .iter()
                .flat_map(|a| a["stream_detail"].as_array().cloned().unwrap_or_default())
            {
                if s["name"] == stream
                    && let Some(leader) = s["cluster"]["leader"].as_str()
                {
                    return cluster.server_names().iter().position(|n| n == leader);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn leader_kills_during_publish() {
    let mut cluster = dossier_testkit::NatsCluster::start(3);
    let dir = temp_dir("dossier-campaign-leader-");
    let d = Dossier::jetstream(dir.path(), &cluster.url(), "leader");
    d.run(&["--replicas", "3", "init", "--producer", "analyst"])
        .ok();
    let seed = seed();
    let mut tally = Tally::new("leader kills (JetStream, 3 nodes, R3)", seed);
    let mut rng = Rng::new(seed);
    let work = temp_dir("dossier-campaign-leader-bundles-");
    let whole = whole_publish(&d, work.path(), &format!("l{seed:x}"), &mut tally);
    let (mut stalls, mut stuck) = (Vec::new(), 0);
    for run in 0..RUNS * scale() {
        let leader = stream_leader(&cluster, "DOSSIER_LEADER").expect("the stream has a leader");
        let (files, entities) = bundle_files(work.path(), &format!("l{seed:x}-{run}"));
        let after = rng.between(Duration::ZERO, whole);
        let pause = rng.between(Duration::ZERO, Duration::from_millis(1500));
        let mut restarted = Ok(());
        let mut killed = std::time::Instant::now();
        let published = publish_with_fault_timed(
            &d,
            &files,
            after,
            || {
                cluster.kill(leader);
                killed = std::time::Instant::now();
                std::thread::sleep(pause);
                restarted = cluster.restart(leader);
            },
            Duration::from_secs(60),
        );
        restarted.expect("the node restarts on its store");
        // The two other nodes elect a leader while the killed one is down: the stall counts
        // from the kill.
        match published.stall_after(killed, files.len()) {
            Some(Ok(stall)) => stalls.push(stall),
            Some(Err(())) => stuck += 1,
            None => {}
        }
        let acked = published.acked;
        tally.runs += 1;
        check_run(&d, &mut tally, run, &files, &entities, &acked);
        tally.note(format!(
            "run {run}: leader node {leader} killed after {:.0} ms, down {:.0} ms; {} of {} files acknowledged",
            after.as_secs_f64() * 1e3,
            pause.as_secs_f64() * 1e3,
            acked.len(),
            files.len()
        ));
    }
    // Issue 17's target (gap 6): p99 ≤ the election time + 2 s from the kill to the next
    // acknowledgement. Measured, not enforced, until the publisher detects a lost connection.
    println!(
        "leader kills: publisher stall after the leader's kill: {}; {stuck} publishes acknowledged nothing after it (failed or hung)",
        stall_summary(&mut stalls)
    );
    tally.finish(RUNS);
}
