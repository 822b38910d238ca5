//! Notifier kills: `dossier notify` on a SQLite ledger is killed with SIGKILL at seeded random
//! instants — in the first milliseconds of the process, or while it queues and delivers —
//! while bundles are published beside it (`dossier serve` keeps the views), and restarted.
//! The webhook receiver is an HTTP server in this test; it accepts every request and keeps
//! what it received.
//!
//! What the tally counts (`N runs, X lost, Y duplicated, Z undetected`):
//!
//! * **runs**: SIGKILLs sent to the notifier.
//! * **lost**: a change of belief the read API answers for the watcher's clearance (grouped by
//!   causing record: one delivery per record) that never reached the receiver, a notifier that
//!   ended by itself or did not start, a delivery left queued or dead at the end.
//! * **duplicated**: a delivery received more than (kills + 1) times — at least once means a
//!   kill between a send and its record may repeat it, never more than once per kill.
//! * **undetected**: a delivery that is not the read API's (an unknown record, different
//!   changes), or whose signature does not verify with the watch's secret.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::principals;
use crate::support::{Dossier, Rng, Tally, report_bundle, scale, seed, temp_dir, write_bundle};
use crate::webhook::{receiver, signed};

/// Kills per bounded run; [`scale`] multiplies them.
const KILLS: usize = 12;
/// Bundles published during the run (each changes about 25 beliefs, in as many records).
const BUNDLES: usize = 16;
/// Watches on every change, each with its own secret: each change is delivered once per watch.
const WATCHES: usize = 3;

/// The read API's changes of belief for TLP:RED after `since`, grouped by causing record.
fn expected(dir: &std::path::Path, since: u64) -> BTreeMap<u64, serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let log = dossier_log::SqliteLog::open(&dir.join("ledger.db")).unwrap();
        let sources = dossier_query::Sources {
            views: dir.join("views.db"),
            auditor: None,
            wait: Duration::from_secs(20),
        };
        let r = dossier_query::Reader::open(&log, &sources, dossier_query::Staleness::Refused)
            .await
            .unwrap();
        assert_eq!(r.progress().lag(), 0, "the views reach the head");
        let mut by_seq: BTreeMap<u64, Vec<serde_json::Value>> = BTreeMap::new();
        for c in r
            .changes_since(dossier_model::Marking::Red, since, usize::MAX)
            .unwrap()
        {
            by_seq
                .entry(c.item.seq)
                .or_default()
                .push(serde_json::to_value(&c).unwrap());
        }
        by_seq
            .into_iter()
            .map(|(s, v)| (s, serde_json::Value::Array(v)))
            .collect()
    })
}

#[test]
fn notifier_kills_on_sqlite() {
    let seed = seed();
    let mut tally = Tally::new("notifier kills (SQLite)", seed);
    let mut rng = Rng::new(seed);
    let dir = temp_dir("dossier-campaign-notify-");
    let bundles = temp_dir("dossier-campaign-notify-bundles-");
    let d = Dossier::sqlite(dir.path());
    d.run(&["init", "--name", "campaign", "--producer", "analyst"])
        .ok();
    let grant = d
        .run(&principals::grant("watcher", "reader", "TLP:RED"))
        .ok()
        .json()
        .unwrap();
    let grant = grant["grant"].as_str().expect("the grant's id").to_owned();
    let (url, got) = receiver("/hook");
    // (id, secret) of each watch; all made at the same head.
    let mut watches = BTreeMap::new();
    let mut since = 0;
    for _ in 0..WATCHES {
        let watch = d.run(&principals::watch(&grant, &url)).ok().json().unwrap();
        watches.insert(
            watch["watch"]["id"].as_str().unwrap().to_owned(),
            watch["secret"].as_str().unwrap().to_owned(),
        );
        since = watch["watch"]["since"].as_u64().unwrap();
    }

    // The projector keeps the views; it is not killed.
    let mut serve = d.spawn(&["serve"]);
    serve
        .wait_for("caught up", Duration::from_secs(20))
        .expect("the projector starts");

    // Publishing goes on beside the kills.
    let paths: Vec<String> = (0..BUNDLES * scale())
        .map(|i| {
            write_bundle(
                bundles.path(),
                &format!("b{i}.json"),
                &report_bundle(&format!("n{i}"), 8, 24),
            )
        })
        .collect();
    let publisher = {
        let d = d.clone();
        let pause = Duration::from_millis(50 + rng.below(100));
        std::thread::spawn(move || {
            for p in paths {
                d.run(&["publish", &p]).ok();
                std::thread::sleep(pause);
            }
        })
    };

    let kills = KILLS * scale();
    let started = Instant::now();
    for i in 0..kills {
        let mut n = d.spawn(&["notify"]);
        let at_spawn = rng.chance(0.25);
        if at_spawn {
            std::thread::sleep(rng.between(Duration::ZERO, Duration::from_millis(5)));
        } else {
            if let Err(e) = n.wait_for("notify: started", Duration::from_secs(10)) {
                tally.lost(format!("kill {i}: the notifier did not start: {e:?}"));
            }
            std::thread::sleep(rng.between(Duration::from_millis(5), Duration::from_millis(300)));
        }
        match n.kill() {
            None => {}
            Some(status) => tally.lost(format!(
                "kill {i}: the notifier ended by itself ({status}): {}",
                n.tail()
            )),
        }
        tally.runs += 1;
        let received = got.lock().unwrap().len();
        tally.note(format!(
            "kill {i} ({}): {received} requests received so far",
            if at_spawn { "at spawn" } else { "running" }
        ));
    }
    publisher.join().unwrap();

    // The last run delivers everything, and stops cleanly on SIGTERM.
    let mut n = d.spawn(&["notify"]);
    let want = expected(dir.path(), since);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let have: BTreeSet<String> = got.lock().unwrap().iter().map(|g| g.id.clone()).collect();
        let all = watches.keys().all(|w| {
            want.keys()
                .all(|s| have.contains(&dossier_notify::webhook_id(w, *s)))
        });
        if all || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    match n.terminate(Duration::from_secs(10)) {
        Some(s) if s.success() => {}
        other => tally.lost(format!(
            "the notifier did not stop cleanly on SIGTERM: {other:?}"
        )),
    }
    serve.terminate(Duration::from_secs(10));

    let got = got.lock().unwrap().clone();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for g in &got {
        *count.entry(g.id.clone()).or_default() += 1;
        let body: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
        let watch = body["watch"].as_str().unwrap_or_default();
        if !watches.get(watch).is_some_and(|secret| signed(secret, g)) {
            tally.undetected(format!("{}: the signature does not verify", g.id));
        }
        let seq = body["seq"].as_u64().unwrap_or(0);
        if g.id != dossier_notify::webhook_id(watch, seq) {
            tally.undetected(format!("{}: the key is not that of seq {seq}", g.id));
        }
        match want.get(&seq) {
            None => tally.undetected(format!("{}: seq {seq} changed no belief", g.id)),
            Some(changes) if &body["changes"] != changes => {
                tally.undetected(format!("{}: not the read API's changes of seq {seq}", g.id));
            }
            Some(_) => {}
        }
    }
    for w in watches.keys() {
        for s in want.keys() {
            if !count.contains_key(&dossier_notify::webhook_id(w, *s)) {
                tally.lost(format!("the changes of seq {s} never reached watch {w}"));
            }
        }
    }
    let repeated = count.values().filter(|n| **n > 1).count();
    for (id, n) in &count {
        if *n > kills + 1 {
            tally.duplicated(format!("{id} arrived {n} times, after {kills} kills"));
        }
    }
    let dead = d
        .run(&["notify", "dead-letters", "--json"])
        .ok()
        .json()
        .unwrap();
    if dead.as_array().is_some_and(|a| !a.is_empty()) {
        tally.lost(format!("dead letters left: {dead}"));
    }
    tally.note(format!(
        "{} deliveries expected, {} requests received, {repeated} delivered more than once, in {:.1} s of kills",
        want.len() * WATCHES,
        got.len(),
        started.elapsed().as_secs_f64()
    ));
    assert!(
        want.len() >= 50,
        "the publish run changes beliefs: {}",
        want.len()
    );
    tally.finish(kills);
}
