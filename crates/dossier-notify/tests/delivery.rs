//! The notifier end to end on a real ledger, its projector and a real webhook receiver: what
//! arrives, how it is signed, retries and dead letters, and what a clearance lets through.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{
    AMBER_ONLY, Notifier, amber_bundle, example, publish, remarked, signature_valid, watching,
};
use dossier_model::Marking;
use dossier_notify::{Notification, Options, Trigger, WatchSpec};

fn fast() -> Options {
    Options {
        max_attempts: 3,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        timeout: Duration::from_secs(5),
        ..Options::default()
    }
}

fn spec(url: String, question: Option<&str>, trigger: Trigger) -> WatchSpec {
    WatchSpec {
        question: question.map(str::to_owned),
        trigger,
        url,
    }
}

fn parse(body: &[u8]) -> Notification {
    serde_json::from_slice(body).unwrap()
}

/// Groups the read API's changes by their causing seq.
fn by_seq(
    changes: Vec<dossier_projector::Marked<dossier_beliefs::BeliefChange>>,
) -> BTreeMap<u64, Vec<dossier_projector::Marked<dossier_beliefs::BeliefChange>>> {
    let mut m: BTreeMap<u64, Vec<_>> = BTreeMap::new();
    for c in changes {
        m.entry(c.item.seq).or_default().push(c);
    }
    m
}

/// The store's dead letters once there is one, or none after `timeout`.
async fn dead_letters(
    store: &dossier_notify::Store,
    timeout: Duration,
) -> Vec<dossier_notify::DeadLetter> {
    let start = std::time::Instant::now();
    loop {
        let d = store.dead_letters().unwrap();
        if !d.is_empty() || start.elapsed() > timeout {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_of_a_publish_arrives_once_by_idempotency_key_with_a_valid_signature() {
    let (l, rx, store, since, [red]) = watching([("red", Marking::Red)]).await;
    let (all, all_secret) = store
        .add_watch(&red, &spec(rx.url("/all"), None, Trigger::Change), since)
        .unwrap();
    let question = "question:dprk-russia/containers-shipped";
    let (one, one_secret) = store
        .add_watch(
            &red,
            &spec(rx.url("/one"), Some(question), Trigger::Change),
            since,
        )
        .unwrap();
    let n = Notifier::start(&l, fast());
    publish(
        &l.log,
        &[
            example("01-late-february-estimate.json"),
            example("02-march-revision.json"),
            example("03-follow-up.json"),
        ],
    )
    .await;
    l.settled().await;
    let expected = by_seq(l.changes(Marking::Red, since).await);
    assert!(
        expected.len() >= 3,
        "the story changes beliefs: {expected:?}"
    );
    let got = rx
        .wait("/all", Duration::from_secs(30), |r| {
            r.len() >= expected.len()
        })
        .await;
    // Nothing more arrives afterwards.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_all = rx.received("/all");
    assert_eq!(got_all.len(), got.len(), "more deliveries than changes");
    let mut ids = BTreeSet::new();
    for r in &got_all {
        assert!(ids.insert(r.id.clone()), "{} delivered twice", r.id);
        assert!(signature_valid(&all_secret, r), "bad signature on {}", r.id);
        assert!(
            !signature_valid(&one_secret, r),
            "signed with another watch's secret"
        );
        let age =
            time::OffsetDateTime::now_utc().unix_timestamp() - r.timestamp.parse::<i64>().unwrap();
        assert!(
            (0..60).contains(&age),
            "timestamp {} is not now",
            r.timestamp
        );
        let note = parse(&r.body);
        assert_eq!(r.id, dossier_notify::webhook_id(&all.id, note.seq));
        assert_eq!(note.watch, all.id);
        // Exactly the read API's changes of that record, in its typed form.
        assert_eq!(
            Some(&note.changes),
            expected.get(&note.seq),
            "seq {}",
            note.seq
        );
        assert_eq!(note.hash, note.changes[0].item.hash);
    }
    let seqs: BTreeSet<u64> = got_all.iter().map(|r| parse(&r.body).seq).collect();
    assert_eq!(seqs, expected.keys().copied().collect());
    // In seq order.
    let order: Vec<u64> = got_all.iter().map(|r| parse(&r.body).seq).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");

    // The one-question watch gets only that question's changes.
    let want_one: BTreeSet<u64> = expected
        .iter()
        .filter(|(_, cs)| cs.iter().any(|c| c.item.question.as_str() == question))
        .map(|(s, _)| *s)
        .collect();
    let got_one = rx
        .wait("/one", Duration::from_secs(10), |r| {
            r.len() >= want_one.len()
        })
        .await;
    for r in &got_one {
        assert!(signature_valid(&one_secret, r));
        let note = parse(&r.body);
        assert_eq!(note.watch, one.id);
        assert!(
            note.changes
                .iter()
                .all(|c| c.item.question.as_str() == question)
        );
    }
    let seqs: BTreeSet<u64> = got_one.iter().map(|r| parse(&r.body).seq).collect();
    assert_eq!(seqs, want_one);
    assert_eq!(store.pending().unwrap(), 0);
    n.stop().await;
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_failing_three_times_gets_the_retries_then_a_dead_letter_and_a_replay_delivers()
{
    let (l, rx, store, since, [red]) = watching([("red", Marking::Red)]).await;
    let (w, secret) = store
        .add_watch(
            &red,
            &spec(
                rx.url("/flaky"),
                Some("question:dprk-russia/containers-shipped"),
                Trigger::Change,
            ),
            since,
        )
        .unwrap();
    rx.fail("/flaky", 3);
    let n = Notifier::start(&l, fast());
    publish(&l.log, &[example("01-late-february-estimate.json")]).await;
    let tries = rx
        .wait("/flaky", Duration::from_secs(30), |r| r.len() >= 3)
        .await;
    // Three attempts of the first delivery, the same key and body, each signed afresh (the
    // watch's later deliveries follow once it is a dead letter).
    let tries = &tries[..3];
    assert!(
        tries
            .iter()
            .all(|r| r.id == tries[0].id && r.body == tries[0].body),
        "{tries:?}"
    );
    assert!(
        tries
            .iter()
            .all(|r| r.status == 500 && signature_valid(&secret, r))
    );
    let dead = dead_letters(&store, Duration::from_secs(10)).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].webhook_id, tries[0].id);
    assert_eq!(dead[0].watch, w.id);
    assert_eq!(dead[0].principal.as_deref(), Some("red"));
    assert!(
        dead[0].last_error.as_deref().unwrap().contains("500"),
        "{dead:?}"
    );
    // No fourth attempt by itself.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let of_dead = |r: &[common::Received]| r.iter().filter(|x| x.id == tries[0].id).count();
    assert_eq!(of_dead(&rx.received("/flaky")), 3);
    let events = n.events.lock().unwrap().clone();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, dossier_notify::Event::Retrying { .. }))
            .count(),
        2
    );
    // Replay: delivered once more, accepted, and the list is empty.
    assert_eq!(
        store
            .replay(dead[0].id, dossier_notify::now_ms())
            .unwrap()
            .unwrap()
            .id,
        dead[0].id
    );
    assert!(
        store
            .replay(dead[0].id, dossier_notify::now_ms())
            .unwrap()
            .is_none(),
        "no longer dead"
    );
    let all = rx
        .wait("/flaky", Duration::from_secs(10), |r| of_dead(r) >= 4)
        .await;
    let last = all.iter().rfind(|r| r.id == tries[0].id).unwrap();
    assert_eq!(last.status, 204);
    assert_eq!(last.body, tries[0].body);
    assert!(signature_valid(&secret, last));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(store.dead_letters().unwrap().is_empty());
    assert_eq!(store.pending().unwrap(), 0);
    n.stop().await;
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_green_watcher_never_receives_a_change_caused_by_an_amber_event() {
    let (l, rx, store, since, [green, red]) =
        watching([("green", Marking::Green), ("red", Marking::Red)]).await;
    let (gw, _) = store
        .add_watch(
            &green,
            &spec(rx.url("/green"), None, Trigger::Change),
            since,
        )
        .unwrap();
    store
        .add_watch(&red, &spec(rx.url("/red"), None, Trigger::Change), since)
        .unwrap();
    // A forecast resolved (by the AMBER report): only the RED watcher may hear of it.
    let satellite = "question:dprk/recon-satellite-launch-2024-03";
    store
        .add_watch(
            &green,
            &spec(
                rx.url("/green-resolved"),
                Some(satellite),
                Trigger::Resolved,
            ),
            since,
        )
        .unwrap();
    store
        .add_watch(
            &red,
            &spec(rx.url("/red-resolved"), Some(satellite), Trigger::Resolved),
            since,
        )
        .unwrap();
    let n = Notifier::start(&l, fast());
    // CLEAR, GREEN and AMBER claims, on the same questions, and an AMBER question of its own.
    publish(
        &l.log,
        &[
            example("01-late-february-estimate.json"),
            remarked("02-march-revision.json", "TLP:GREEN"),
            amber_bundle(),
        ],
    )
    .await;
    l.settled().await;
    let want_green = by_seq(l.changes(Marking::Green, since).await);
    let want_red = by_seq(l.changes(Marking::Red, since).await);
    rx.wait("/green", Duration::from_secs(30), |r| {
        r.len() >= want_green.len()
    })
    .await;
    let red_got = rx
        .wait("/red", Duration::from_secs(30), |r| {
            r.len() >= want_red.len()
        })
        .await;
    rx.wait("/red-resolved", Duration::from_secs(10), |r| !r.is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        rx.received("/green-resolved").is_empty(),
        "a GREEN watcher heard of an AMBER resolution"
    );

    // The RED watcher did hear of AMBER-caused changes: the test can tell.
    let red_amber: Vec<u64> = red_got
        .iter()
        .map(|r| parse(&r.body))
        .filter(|n| n.changes.iter().any(|c| c.marking == Marking::Amber))
        .map(|n| n.seq)
        .collect();
    assert!(
        !red_amber.is_empty(),
        "the AMBER report changed no belief the RED watcher heard of"
    );
    assert!(
        red_got.iter().any(|r| parse(&r.body)
            .changes
            .iter()
            .any(|c| c.item.question.as_str() == AMBER_ONLY)),
        "the AMBER question's change reached RED"
    );

    let green_got = rx.received("/green");
    assert_eq!(green_got.len(), want_green.len());
    for r in &green_got {
        let note = parse(&r.body);
        assert_eq!(note.watch, gw.id);
        assert!(
            !red_amber.contains(&note.seq),
            "GREEN got seq {} caused by an AMBER event",
            note.seq
        );
        for c in &note.changes {
            assert!(c.marking <= Marking::Green, "{:?}", c.marking);
            assert_ne!(c.item.question.as_str(), AMBER_ONLY);
        }
        // Exactly the GREEN read API's view of that record.
        assert_eq!(Some(&note.changes), want_green.get(&note.seq));
        let text = String::from_utf8(r.body.clone()).unwrap();
        assert!(
            !text.contains("TLP:AMBER") && !text.contains(AMBER_ONLY),
            "{text}"
        );
    }
    n.stop().await;
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_stops_its_watches_and_a_restart_neither_skips_nor_repeats() {
    let (l, rx, store, since, [red, other]) =
        watching([("red", Marking::Red), ("other", Marking::Red)]).await;
    store
        .add_watch(&red, &spec(rx.url("/kept"), None, Trigger::Change), since)
        .unwrap();
    store
        .add_watch(
            &other,
            &spec(rx.url("/revoked"), None, Trigger::Change),
            since,
        )
        .unwrap();
    dossier_access::revoke(&*l.log, &common::founder(), &other.grant, "left")
        .await
        .unwrap();
    let n = Notifier::start(&l, fast());
    publish(&l.log, &[example("01-late-february-estimate.json")]).await;
    l.settled().await;
    let first = by_seq(l.changes(Marking::Red, since).await);
    rx.wait("/kept", Duration::from_secs(30), |r| r.len() >= first.len())
        .await;
    n.stop().await;
    let stopped_at = store.position().unwrap().seq;
    // Published while the notifier is down: delivered after the restart, and only that.
    publish(&l.log, &[example("02-march-revision.json")]).await;
    let head = l.settled().await;
    let n = Notifier::start(&l, fast());
    let all = by_seq(l.changes(Marking::Red, since).await);
    assert!(all.len() > first.len());
    let got = rx
        .wait("/kept", Duration::from_secs(30), |r| r.len() >= all.len())
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_seqs: Vec<u64> = rx
        .received("/kept")
        .iter()
        .map(|r| parse(&r.body).seq)
        .collect();
    assert_eq!(
        got_seqs,
        all.keys().copied().collect::<Vec<_>>(),
        "after a restart at {stopped_at}"
    );
    assert_eq!(got.len(), all.len());
    assert!(
        rx.received("/revoked").is_empty(),
        "a revoked grant's watch fired"
    );
    assert_eq!(store.position().unwrap().seq, head);
    n.stop().await;
    l.stop().await;
}

/// The number a belief summary's value stands for, read from its JSON: a quantity, or the
/// midpoint of a range.
fn number(summary: &serde_json::Value) -> Option<f64> {
    let v = &summary["value"];
    match v["kind"].as_str()? {
        "single" => {
            let inner = &v["value"];
            if let Some(q) = inner.get("quantity") {
                q["value"].as_f64()
            } else {
                let r = inner.get("range")?;
                Some((r["low"].as_f64()? + r["high"].as_f64()?) / 2.0)
            }
        }
        "range" => Some((v["low"].as_f64()? + v["high"].as_f64()?) / 2.0),
        _ => None,
    }
}

fn flags(summary: &serde_json::Value) -> Vec<String> {
    summary["flags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_watches_fire_exactly_on_disputes_resolutions_and_moves_past_their_threshold() {
    let (l, rx, store, since, [red]) = watching([("red", Marking::Red)]).await;
    let moved = Trigger::Moved {
        threshold: dossier_notify::Threshold::Relative(0.1),
    };
    for (path, trigger) in [
        ("/disputed", Trigger::Disputed),
        ("/resolved", Trigger::Resolved),
        ("/moved", moved),
    ] {
        store
            .add_watch(&red, &spec(rx.url(path), None, trigger), since)
            .unwrap();
    }
    let n = Notifier::start(&l, fast());
    publish(
        &l.log,
        &[
            example("01-late-february-estimate.json"),
            example("02-march-revision.json"),
            example("03-follow-up.json"),
            example("04-correction.json"),
        ],
    )
    .await;
    l.settled().await;
    // What each filter must deliver, worked out here from the read API's JSON.
    let mut want: BTreeMap<&str, BTreeSet<(u64, String)>> = BTreeMap::new();
    for c in l.changes(Marking::Red, since).await {
        let j = serde_json::to_value(&c).unwrap();
        let (before, after) = (&j["before"], &j["after"]);
        let key = (c.item.seq, c.item.question.as_str().to_owned());
        let (fb, fa) = (flags(before), flags(after));
        let has = |f: &[String], x: &str| f.iter().any(|y| y == x);
        if has(&fa, "disputed") && !has(&fb, "disputed") {
            want.entry("/disputed").or_default().insert(key.clone());
        }
        let resolved =
            |f: &[String]| has(f, "forecast_resolved_true") || has(f, "forecast_resolved_false");
        if resolved(&fa) && !resolved(&fb) {
            want.entry("/resolved").or_default().insert(key.clone());
        }
        if let (Some(b), Some(a)) = (number(before), number(after))
            && (a - b).abs() > 0.1 * b.abs()
        {
            want.entry("/moved").or_default().insert(key);
        }
    }
    for path in ["/disputed", "/resolved", "/moved"] {
        assert!(
            want.get(path).is_some_and(|w| !w.is_empty()),
            "the story has no change for {path}: the test could not fail"
        );
    }
    for (path, w) in &want {
        let seqs: BTreeSet<u64> = w.iter().map(|(s, _)| *s).collect();
        rx.wait(path, Duration::from_secs(30), |r| r.len() >= seqs.len())
            .await;
        // Nothing more arrives afterwards.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = rx.received(path);
        assert_eq!(got.len(), seqs.len(), "{path}: {got:?}");
        let delivered: BTreeSet<(u64, String)> = got
            .iter()
            .flat_map(|r| parse(&r.body).changes)
            .map(|c| (c.item.seq, c.item.question.as_str().to_owned()))
            .collect();
        assert_eq!(&delivered, w, "{path}");
    }
    n.stop().await;
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_notifier_on_the_same_store_stands_by_until_the_first_stops() {
    let (l, rx, store, since, [red]) = watching([("red", Marking::Red)]).await;
    store
        .add_watch(&red, &spec(rx.url("/w"), None, Trigger::Change), since)
        .unwrap();
    let first = Notifier::start(&l, fast());
    // Started after the first took the store: it stands by, and says so.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = Notifier::start(&l, fast());
    tokio::time::sleep(Duration::from_millis(300)).await;
    publish(&l.log, &[example("01-late-february-estimate.json")]).await;
    l.settled().await;
    let one = by_seq(l.changes(Marking::Red, since).await);
    rx.wait("/w", Duration::from_secs(30), |r| r.len() >= one.len())
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.received("/w").len(), one.len(), "sent by both");
    let standing_by = |n: &Notifier| {
        n.events.lock().unwrap().iter().any(|e| {
            matches!(e, dossier_notify::Event::Waiting { reason } if reason.contains("another notifier"))
        })
    };
    assert!(standing_by(&second));
    assert!(!standing_by(&first));
    // The first stops; the second takes over and delivers what comes next, once.
    first.stop().await;
    publish(&l.log, &[example("02-march-revision.json")]).await;
    l.settled().await;
    let all = by_seq(l.changes(Marking::Red, since).await);
    rx.wait("/w", Duration::from_secs(30), |r| r.len() >= all.len())
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seqs: Vec<u64> = rx
        .received("/w")
        .iter()
        .map(|r| parse(&r.body).seq)
        .collect();
    assert_eq!(seqs, all.keys().copied().collect::<Vec<_>>());
    assert!(
        second
            .events
            .lock()
            .unwrap()
            .contains(&dossier_notify::Event::Resumed)
    );
    second.stop().await;
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_of_red_material_are_recorded_in_the_access_log() {
    let (l, rx, store, since, [red]) = watching([("red", Marking::Red)]).await;
    store
        .add_watch(&red, &spec(rx.url("/w"), None, Trigger::Change), since)
        .unwrap();
    let access = l.dir.path().join("access.db");
    let options = Options {
        access_log: Some(access.clone()),
        ..fast()
    };
    let n = Notifier::start(&l, options);
    publish(
        &l.log,
        &[
            example("01-late-february-estimate.json"),
            remarked("02-march-revision.json", "TLP:RED"),
        ],
    )
    .await;
    l.settled().await;
    let want = by_seq(l.changes(Marking::Red, since).await);
    let got = rx
        .wait("/w", Duration::from_secs(30), |r| r.len() >= want.len())
        .await;
    let red_ids: BTreeSet<String> = got
        .iter()
        .filter(|r| {
            parse(&r.body)
                .changes
                .iter()
                .any(|c| c.marking == Marking::Red)
        })
        .map(|r| r.id.clone())
        .collect();
    assert!(!red_ids.is_empty(), "the RED report changed no belief");
    assert!(
        red_ids.len() < got.len(),
        "every change was RED: the test could not tell"
    );
    let entries = dossier_access::AccessLog::open(&access)
        .unwrap()
        .list(None, 10_000)
        .unwrap();
    let logged: BTreeSet<String> = entries
        .iter()
        .map(|e| {
            assert_eq!(e.principal, "red");
            assert_eq!(e.grant, red.grant);
            assert_eq!(e.route, "POST webhook");
            assert_eq!(e.marking, Marking::Red);
            let id = e.what.rsplit_once(" (").unwrap().1.trim_end_matches(')');
            id.to_owned()
        })
        .collect();
    assert_eq!(logged, red_ids, "each RED delivery logged, and only those");
    assert_eq!(entries.len(), red_ids.len());
    n.stop().await;
    l.stop().await;
}

/// The webhook allow-list: a watch whose URL is not allowed is refused at creation (the
/// default refuses private addresses; a list allows only its prefixes), and a watch whose URL
/// the list stops allowing is never posted to: its deliveries are dead letters at once, and a
/// replay once the URL is allowed again delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_off_the_allow_list_are_refused_and_never_posted_to() {
    let (l, rx, store, since, [red]) = watching([("red", Marking::Red)]).await;
    let watch = |url: String| spec(url, None, Trigger::Change);
    let private = store
        .add_watch(&red, &watch("http://10.1.2.3/hook".into()), since)
        .unwrap_err();
    assert!(
        private
            .to_string()
            .contains("10.1.2.3 is a private address"),
        "{private}"
    );
    let policy = store
        .set_webhook_allow(&["https://hooks.example.org/dossier/".into()])
        .unwrap();
    assert!(matches!(policy, dossier_notify::WebhookPolicy::Listed(ref l) if l.len() == 1));
    let off_list = store
        .add_watch(&red, &watch(rx.url("/hook")), since)
        .unwrap_err();
    assert!(
        off_list
            .to_string()
            .contains("none of the allowed prefixes"),
        "{off_list}"
    );
    assert!(store.set_webhook_allow(&["ftp://x/".into()]).is_err());
    assert!(store.watches(None).unwrap().is_empty(), "nothing stored");
    // Allowed, then no longer.
    store.set_webhook_allow(&[rx.url("/")]).unwrap();
    let (w, _) = store
        .add_watch(&red, &watch(rx.url("/hook")), since)
        .unwrap();
    store
        .set_webhook_allow(&["https://hooks.example.org/".into()])
        .unwrap();
    let n = Notifier::start(&l, fast());
    publish(&l.log, &[example("01-late-february-estimate.json")]).await;
    let dead = dead_letters(&store, Duration::from_secs(20)).await;
    assert!(!dead.is_empty(), "a dead letter");
    assert!(dead.iter().all(|d| d.watch == w.id && d.attempts == 1));
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("is not allowed"),
        "{dead:?}"
    );
    assert!(rx.received("/hook").is_empty(), "never posted to");
    store.set_webhook_allow(&[]).unwrap();
    store.replay(dead[0].id, dossier_notify::now_ms()).unwrap();
    let got = rx
        .wait("/hook", Duration::from_secs(10), |r| !r.is_empty())
        .await;
    assert_eq!(got[0].id, dead[0].webhook_id);
    n.stop().await;
    l.stop().await;
}
