//! Leader kills and step-downs: on a 3-node cluster with the ledger's stream replicated three
//! times, the node leading the stream killed with SIGKILL at a random instant of a
//! `dossier publish --json`, and restarted after a random pause; then, on the same cluster,
//! the stream's leader asked to step down (`$JS.API.STREAM.LEADER.STEPDOWN`) at a random
//! instant of a publish. The same checks as producer kills
//! ([`crate::producer_kills::check_run`]): acknowledged files present, nothing in part or twice,
//! the chain verifies, publishing again completes it exactly once.
//!
//! The publisher's stall is enforced (issue 17, gap 6): after a SIGKILL, p99 of (stall −
//! election time) ≤ 2 s, the election time of each kill measured in the same run from the
//! cluster's own view (from the kill until the info of the ledger's stream and of its texts
//! stream, both of which a publish writes, is answered by a leader other than the killed
//! node); after a step-down, p99 stall ≤ 5 s. A publish that acknowledged nothing after its fault, although
//! the stream had a leader again within the publisher's deadline, fails the campaign.

use std::time::{Duration, Instant};

use crate::producer_kills::{
    Acknowledged, RIDE_OUT, bundle_files, check_run, percentile, publish_with_fault_timed,
    stall_summary, whole_publish,
};
use crate::support::{Dossier, Rng, Tally, scale, seed, temp_dir};

/// Leader kills in the bounded run.
const RUNS: usize = 3;
/// Leader step-downs in the bounded run.
const STEPDOWNS: usize = 3;
/// The stream of the campaign's ledger.
const STREAM: &str = "DOSSIER_LEADER";
/// The stream of its report texts (a publish writes both; each has its own leader and
/// election).
const TEXTS: &str = "DOSSIER_LEADER_TEXTS";
/// Issue 17's targets: the p99 stall beyond the election after a SIGKILL of the leader, and
/// the p99 stall after a step-down.
const BEYOND_ELECTION: Duration = Duration::from_secs(2);
const STEPDOWN_TARGET: Duration = Duration::from_secs(5);

/// A NATS client of the test (not dossier's) on `urls`, to ask the cluster itself.
fn observer(urls: &[String]) -> (tokio::runtime::Runtime, async_nats::Client) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt
        .block_on(
            async_nats::ConnectOptions::new()
                .request_timeout(Some(Duration::from_millis(250)))
                .connect(urls.iter().map(String::as_str).collect::<Vec<_>>()),
        )
        .unwrap();
    (rt, client)
}

/// Each of `streams`' leader as its info answers (the info request is answered by the
/// leader only), asked every 20 ms from `from` for up to [`RIDE_OUT`], skipping answers naming
/// `not`: how long after `from` every one of them had a leader again, and the first one's.
/// `None` if one had none by then.
fn leader_back(
    rt: &tokio::runtime::Runtime,
    client: &async_nats::Client,
    streams: &[&str],
    not: Option<&str>,
    from: Instant,
) -> Option<(Duration, String)> {
    let mut first = None;
    for stream in streams {
        let subject = format!("$JS.API.STREAM.INFO.{stream}");
        loop {
            if from.elapsed() >= RIDE_OUT {
                return None;
            }
            let answer = rt.block_on(client.request(subject.clone(), "".into()));
            if let Ok(m) = answer
                && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&m.payload)
                && v.get("error").is_none()
                && let Some(leader) = v["cluster"]["leader"].as_str()
                && Some(leader) != not
            {
                first.get_or_insert_with(|| leader.to_owned());
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    first.map(|leader| (from.elapsed(), leader))
}

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
    d.init_replicated();
    let seed = seed();
    let mut tally = Tally::new("leader kills (JetStream, 3 nodes, R3)", seed);
    let mut rng = Rng::new(seed);
    let work = temp_dir("dossier-campaign-leader-bundles-");
    let whole = whole_publish(&d, work.path(), &format!("l{seed:x}"), &mut tally);
    // Stall after each kill, the election it waited for, and the stall beyond it.
    let (mut stalls, mut elections, mut beyond, mut stuck) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..RUNS * scale() {
        let leader = stream_leader(&cluster, STREAM).expect("the stream has a leader");
        let others: Vec<String> = (0..cluster.len())
            .filter(|&i| i != leader)
            .map(|i| cluster.node(i).url())
            .collect();
        let gone = cluster.server_names()[leader].clone();
        let (files, entities) = bundle_files(work.path(), &format!("l{seed:x}-{run}"));
        let after = rng.between(Duration::ZERO, whole);
        let pause = rng.between(Duration::ZERO, Duration::from_millis(1500));
        let mut restarted = Ok(());
        let mut killed = Instant::now();
        let mut watch = None;
        let published = publish_with_fault_timed(
            &d,
            &files,
            after,
            || {
                cluster.kill(leader);
                killed = Instant::now();
                // The election, from the cluster's view: the surviving nodes are asked for
                // the stream's info until a leader answers.
                let (from, gone) = (killed, gone.clone());
                watch = Some(std::thread::spawn(move || {
                    let (rt, client) = observer(&others);
                    leader_back(&rt, &client, &[STREAM, TEXTS], Some(&gone), from)
                }));
                std::thread::sleep(pause);
                restarted = cluster.restart(leader);
            },
            Duration::from_secs(60),
        );
        restarted.expect("the node restarts on its store");
        let election = watch.and_then(|w| w.join().ok().flatten());
        if let Some((took, _)) = &election {
            elections.push(*took);
        }
        // The two other nodes elect a leader while the killed one is down: the stall counts
        // from the kill.
        match (published.stall_after(killed, files.len()), &election) {
            (Some(Ok(stall)), _) => {
                stalls.push(stall);
                if let Some((took, _)) = &election {
                    let over = stall.saturating_sub(*took);
                    beyond.push(over);
                    if over > BEYOND_ELECTION {
                        // What the publisher said (its log, with CAMPAIGN_PUBLISH_LOG set), to see where
                        // the time went.
                        tally.note(format!(
                            "run {run}: stalled {:.2} s beyond the election; the publish's log:\n{}",
                            over.as_secs_f64(),
                            published.stderr
                        ));
                    }
                }
            }
            // A leader again within the publisher's deadline: it must have ridden it out.
            (Some(Err(())), Some(_)) => {
                stuck.push(format!("kill {run}: {}", published.stderr.trim()));
            }
            (Some(Err(())), None) | (None, _) => {}
        }
        let acked = published.acked;
        tally.runs += 1;
        // The restarted node catches up before the ledger is read back through any node.
        cluster
            .wait_for_stream_in_step(STREAM, Duration::from_secs(60))
            .expect("the replicas come back in step after the restart");
        check_run(&d, &mut tally, run, &files, &entities, &acked);
        tally.note(format!(
            "run {run}: leader node {leader} killed after {:.0} ms, down {:.0} ms, a leader again after {}; {} of {} files acknowledged",
            after.as_secs_f64() * 1e3,
            pause.as_secs_f64() * 1e3,
            election.as_ref().map_or("(none seen)".to_owned(), |(t, _)| format!("{:.0} ms", t.as_secs_f64() * 1e3)),
            acked.len(),
            files.len()
        ));
    }
    // Step-downs: the leader hands over while a publish is under way.
    let mut downs = Vec::new();
    let (rt, client) = observer(&cluster.urls());
    for n in 0..STEPDOWNS * scale() {
        let run = RUNS * scale() + n;
        let leader = stream_leader(&cluster, STREAM).expect("the stream has a leader");
        let old = cluster.server_names()[leader].clone();
        let (files, entities) = bundle_files(work.path(), &format!("l{seed:x}-{run}"));
        // Inside the publish's batches (past its start-up, before its end): a step-down stalls
        // nothing that is not under way.
        let after = rng.between(whole / 4, whole.mul_f64(0.75));
        let mut asked = Instant::now();
        let mut stepped = None;
        let published: Acknowledged = publish_with_fault_timed(
            &d,
            &files,
            after,
            || {
                asked = Instant::now();
                let subject = format!("$JS.API.STREAM.LEADER.STEPDOWN.{STREAM}");
                let answer = rt.block_on(client.request(subject, "".into()));
                stepped = Some(answer.map(|m| String::from_utf8_lossy(&m.payload).into_owned()));
            },
            Duration::from_secs(60),
        );
        let handed = leader_back(&rt, &client, &[STREAM], Some(&old), asked);
        match published.stall_after(asked, files.len()) {
            Some(Ok(stall)) => downs.push(stall),
            Some(Err(())) if handed.is_some() => {
                stuck.push(format!("step-down {n}: {}", published.stderr.trim()));
            }
            Some(Err(())) | None => {}
        }
        let acked = published.acked;
        tally.runs += 1;
        // The restarted node catches up before the ledger is read back through any node.
        cluster
            .wait_for_stream_in_step(STREAM, Duration::from_secs(60))
            .expect("the replicas come back in step after the restart");
        check_run(&d, &mut tally, run, &files, &entities, &acked);
        tally.note(format!(
            "run {run}: leader {old} asked to step down after {:.0} ms ({:?}), new leader {:?}; {} of {} files acknowledged",
            after.as_secs_f64() * 1e3,
            stepped,
            handed,
            acked.len(),
            files.len()
        ));
    }
    let (p99_beyond, p99_down) = (percentile(&beyond, 0.99), percentile(&downs, 0.99));
    println!(
        "leader kills: publisher stall after the leader's kill: {}; election (a leader answering again, from the kill): {}; stall beyond the election: {}",
        stall_summary(&mut stalls),
        stall_summary(&mut elections),
        stall_summary(&mut beyond)
    );
    println!(
        "leader step-downs: publisher stall after the step-down request: {}; {} publishes acknowledged nothing after a fault (failed or hung)",
        stall_summary(&mut downs),
        stuck.len()
    );
    tally.finish(RUNS + STEPDOWNS);
    assert!(
        stuck.is_empty(),
        "publishes that acknowledged nothing after the stream had a leader again: {stuck:?}"
    );
    assert!(
        p99_beyond <= BEYOND_ELECTION,
        "p99 stall beyond the election {p99_beyond:?} after a leader kill exceeds {BEYOND_ELECTION:?}"
    );
    assert!(
        p99_down <= STEPDOWN_TARGET,
        "p99 stall {p99_down:?} after a step-down exceeds {STEPDOWN_TARGET:?}"
    );
}
