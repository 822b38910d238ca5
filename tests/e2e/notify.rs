//! The notifier inside `dossier serve --listen`: a watch made through the API and one through
//! `dossier watch add`, a publish by another process, and each change delivered to a receiver
//! in the test, signed; `watch list`, `watch remove`, `notify dead-letters`; a clean stop.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Ledger, Served, http};
use crate::webhook::{receiver, signed};

#[test]
fn serve_listen_delivers_the_changes_of_a_publish_to_watches_made_through_the_api_and_the_cli() {
    let l = Ledger::with_examples();
    let granted = l.grant("analyst", "reader", "TLP:GREEN");
    let token = granted["token"].as_str().unwrap().to_owned();
    let grant = granted["grant"].as_str().unwrap().to_owned();
    let (api_url, got) = receiver("/api");
    let cli_url = api_url.replace("/api", "/cli");
    let mut cmd = l.command();
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    let served = Served::start(cmd);
    let addr = served.addr.clone();
    let ledger = l.run(&["log", "--json"]).json_lines()[0]["entity"]
        .as_str()
        .unwrap()
        .to_owned();

    // Through the API: the principal's own watch on every question.
    let body = serde_json::to_vec(&json!({ "url": api_url })).unwrap();
    let (status, text) = http(
        &addr,
        "POST",
        &format!("/v1/ledgers/{ledger}/watches"),
        Some(&token),
        Some(&body),
    );
    assert_eq!(status, 201, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    let api_secret = created["secret"].as_str().unwrap().to_owned();
    let api_watch = created["watch"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["watch"]["clearance"], "TLP:GREEN");
    assert_eq!(created["watch"]["since"], l.head().seq);

    // Through the CLI, for the same grant, on one of the coming questions.
    let question = "question:gen/n1/q0";
    let added = l
        .run(&[
            "watch",
            "add",
            "--grant",
            &grant,
            "--url",
            &cli_url,
            "--question",
            question,
            "--json",
        ])
        .ok()
        .json();
    let cli_secret = added["secret"].as_str().unwrap().to_owned();
    let cli_watch = added["watch"]["id"].as_str().unwrap().to_owned();
    let listed = l.run(&["watch", "list", "--json"]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(
        !listed.to_string().contains("whsec_"),
        "secrets are shown once"
    );

    // Another process publishes; the service's notifier delivers.
    let bundle = crate::bundles::gen_bundle("n1", 3, 9);
    let path = l.write_bytes("n1.json", &bundle.bytes());
    l.run(&["publish", &path]).ok();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (api, cli) = loop {
        let all = got.lock().unwrap().clone();
        let api: Vec<_> = all.iter().filter(|g| g.path == "/api").cloned().collect();
        let cli: Vec<_> = all.iter().filter(|g| g.path == "/cli").cloned().collect();
        // 3 questions posed and their claims: at least one delivery per question's posing.
        if (api.len() >= 3 && !cli.is_empty()) || Instant::now() > deadline {
            break (api, cli);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        api.len() >= 3,
        "{} deliveries to the API's watch",
        api.len()
    );
    assert!(!cli.is_empty(), "no delivery to the CLI's watch");
    for (g, secret, watch) in api
        .iter()
        .map(|g| (g, &api_secret, &api_watch))
        .chain(cli.iter().map(|g| (g, &cli_secret, &cli_watch)))
    {
        assert!(signed(secret, g), "{}: bad signature", g.id);
        let note: Value = serde_json::from_slice(&g.body).unwrap();
        assert_eq!(note["type"], "belief.changed");
        assert_eq!(note["ledger"], ledger.as_str());
        assert_eq!(note["watch"], watch.as_str());
        assert_eq!(g.id, format!("{watch}_{}", note["seq"]));
        for c in note["changes"].as_array().unwrap() {
            assert!(
                matches!(c["marking"].as_str(), Some("TLP:CLEAR" | "TLP:GREEN")),
                "{c}"
            );
            if watch == &cli_watch {
                assert_eq!(c["question"], question);
            }
        }
    }

    // Removal, through the CLI; the API lists what is left.
    l.run(&["watch", "remove", &cli_watch]).ok();
    let (status, text) = http(
        &addr,
        "GET",
        &format!("/v1/ledgers/{ledger}/watches"),
        Some(&token),
        None,
    );
    assert_eq!(status, 200, "{text}");
    let left: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(left["watches"].as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left["watches"][0]["id"], api_watch.as_str());
    l.run(&["watch", "remove", &cli_watch]).expect_code(1);

    let dead = l.run(&["notify", "dead-letters", "--json"]).ok().json();
    assert_eq!(dead, json!([]));
    l.run(&["notify", "dead-letters", "--replay", "1"])
        .expect_code(1);
    served.terminate();
}

/// `dossier notify allow` and `dossier watch add`: the default refuses a private address, an
/// allow-list refuses anything off it, a bad prefix changes nothing, `--clear` restores the
/// default; each refusal exits 3 naming the URL and why.
#[test]
fn watch_urls_are_checked_against_the_webhook_allow_list() {
    let l = Ledger::init();
    let grant = l.grant("analyst", "reader", "TLP:GREEN")["grant"]
        .as_str()
        .unwrap()
        .to_owned();
    let add = |url: &str| l.run(&["watch", "add", "--grant", &grant, "--url", url, "--json"]);
    let shown = l.run(&["notify", "allow"]).ok().stdout.clone();
    assert!(shown.contains("no allow-list"), "{shown}");
    let private = add("http://10.0.0.1/hook");
    private.expect_code(3);
    assert!(
        private.stderr.contains("10.0.0.1 is a private address")
            && private.stderr.contains("dossier notify allow"),
        "{}",
        private.stderr
    );
    l.run(&["notify", "allow", "https://hooks.example.org/dossier/"])
        .ok();
    add("http://127.0.0.1:9/hook").expect_code(3);
    add("https://hooks.example.org/other").expect_code(3);
    add("https://hooks.example.org/dossier/analyst").ok();
    l.run(&["notify", "allow", "ftp://hooks.example.org/"])
        .expect_code(3);
    let listed = l.run(&["notify", "allow", "--json"]).ok().json();
    assert_eq!(
        listed,
        json!({"policy": "listed", "allow": ["https://hooks.example.org/dossier/"]})
    );
    l.run(&["notify", "allow", "--clear"]).ok();
    add("http://127.0.0.1:9/hook").ok();
    let watches = l.run(&["watch", "list", "--json"]).ok().json();
    assert_eq!(watches.as_array().unwrap().len(), 2, "{watches}");
}
