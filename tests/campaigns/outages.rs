//! Services through an outage of the ledger's server: `dossier projector`, `dossier auditor`
//! and `dossier notify` on a JetStream ledger keep running while the single `nats-server` is
//! stopped for 10 s and started again on its store, say so once each way, and end where a clean
//! run ends (the projector at a clean rebuild's digest, the auditor at a healthy checkpoint of
//! the head, the notifier having delivered the changes published after the outage).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::principals;
use crate::support::{Dossier, report_bundle, temp_dir, write_bundle};

/// Publishes `file`, retrying while the server is coming back.
fn publish(d: &Dossier, file: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = d.run(&["publish", file]);
        if out.code == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "publish {file} failed: {}",
            out.stderr
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits for a line containing `needle`, unless one already arrived.
fn seen_or_wait(p: &mut crate::support::Running, needle: &str, what: &str) {
    if p.arrived(needle).is_some() {
        return;
    }
    p.wait_for(needle, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{what}: {e:?}"));
}

fn head(d: &Dossier) -> u64 {
    let out = d.run(&["verify", "--json"]).ok();
    let v: Value = serde_json::from_str(&out.stdout).expect("verify --json");
    v["records"].as_u64().expect("records")
}

#[test]
fn the_projector_the_auditor_and_the_notifier_ride_out_a_server_restart() {
    let mut server = dossier_testkit::NatsServer::start();
    let dir = temp_dir("dossier-outage-");
    let d = Dossier::jetstream(dir.path(), &server.url(), "outage");
    d.run(&["init", "--producer", "analyst"]).ok();
    let work = temp_dir("dossier-outage-bundles-");
    let first = write_bundle(work.path(), "a.json", &report_bundle("outage-a", 3, 30));
    publish(&d, &first);

    // A watch on every change, delivered to a receiver here.
    let granted = d
        .run(&principals::grant("watcher", "reader", "TLP:RED"))
        .ok()
        .json()
        .unwrap();
    let (url, got) = crate::webhook::receiver("/hook");
    let watch = d
        .run(&principals::watch(granted["grant"].as_str().unwrap(), &url))
        .ok()
        .json()
        .unwrap();
    let secret = watch["secret"].as_str().unwrap().to_owned();

    let mut projector = d.spawn(&["projector"]);
    let mut auditor = d.spawn(&["auditor", "--every", "1", "--interval", "1"]);
    let mut notifier = d.spawn(&["notify"]);
    let wait = Duration::from_secs(60);
    let at = head(&d);
    projector
        .wait_for(&format!("caught up at seq {at}"), wait)
        .expect("the projector catches up");
    auditor
        .wait_for(&format!("signed checkpoint at seq {at}"), wait)
        .expect("the auditor checkpoints the head");

    notifier
        .wait_for("notify: started", wait)
        .expect("the notifier starts");

    server.stop();
    for (name, p) in [("projector", &mut projector), ("auditor", &mut auditor)] {
        p.wait_for("server is unavailable", Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("the {name} said nothing of the outage: {e:?}"));
    }
    notifier
        .wait_for("notify: waiting", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("the notifier said nothing of the outage: {e:?}"));
    std::thread::sleep(Duration::from_secs(10));
    server.restart().expect("nats-server restarts on its store");

    let second = write_bundle(work.path(), "b.json", &report_bundle("outage-b", 3, 30));
    publish(&d, &second);
    let at = head(&d);
    for p in [&mut projector, &mut auditor] {
        seen_or_wait(p, "answers again", "reconnecting");
    }
    seen_or_wait(&mut notifier, "notify: resumed", "the notifier goes on");
    // The changes published after the outage reach the receiver, signed.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let after: Vec<_> = got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| String::from_utf8_lossy(&g.body).contains("question:gen/outage-b/"))
            .cloned()
            .collect();
        if !after.is_empty() {
            assert!(after.iter().all(|g| crate::webhook::signed(&secret, g)));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the notifier delivered nothing published after the outage: {}",
            notifier.tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    seen_or_wait(
        &mut projector,
        &format!("caught up at seq {at}"),
        "the projector applies what was published after the outage",
    );
    seen_or_wait(
        &mut auditor,
        &format!("signed checkpoint at seq {at}"),
        "the auditor checkpoints the new head",
    );
    for (name, p) in [
        ("projector", &mut projector),
        ("auditor", &mut auditor),
        ("notifier", &mut notifier),
    ] {
        let status = p
            .terminate(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("the {name} did not stop on SIGTERM"));
        assert!(status.success(), "the {name} ended with {status}");
    }

    // The views equal those a clean catch-up builds in another data directory.
    let served = d.run(&["beliefs", "--json"]).ok().json().expect("JSON");
    let clean_dir = temp_dir("dossier-outage-clean-");
    let clean = d
        .in_dir(clean_dir.path())
        .run(&["beliefs", "--json"])
        .ok()
        .json()
        .expect("JSON");
    assert_eq!(served["seq"], at);
    assert_eq!(served["digest"], clean["digest"]);
    let status = d
        .run(&["auditor", "status", "--json"])
        .ok()
        .json()
        .expect("JSON");
    assert_eq!(status["healthy"], true, "{status}");
    assert_eq!(status["last_checkpoint"]["size"], at, "{status}");
}
