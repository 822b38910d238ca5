//! Producer keys: register, publish with, rotate, revoke; a revoked key cannot publish.

use serde_json::Value;

use crate::support::{Ledger, gen_bundle};

fn key<'a>(keys: &'a [Value], id: &str) -> &'a Value {
    keys.iter()
        .find(|k| k["key"] == id)
        .unwrap_or_else(|| panic!("key {id} not listed: {keys:?}"))
}

#[test]
fn register_rotate_revoke_and_publish() {
    let l = Ledger::init();
    let founder = l.key_id("analyst");

    // A second key, made this directory's producer key.
    let out = l.run(&["keys", "register", "--name", "second", "--use-it"]);
    let second = l.key_id("second");
    assert!(
        out.ok().stdout.contains(&format!(
            "registered key {second} (second) as producer, signed by {founder}"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("this directory now publishes with key {second}")),
        "{}",
        out.stdout
    );
    let a = gen_bundle("keys-a", 2, 4);
    let fa = l.write_json("a.json", &a.json);
    l.run(&["publish", &fa]).ok();
    let log = l.log();
    let a_records: Vec<_> = log
        .iter()
        .filter(|r| a.entities.contains(&r.entity))
        .collect();
    assert_eq!(a_records.len(), a.events());
    assert!(
        a_records.iter().all(|r| r.key == second),
        "not signed by the second key"
    );
    assert_eq!(
        log.last().map(|r| (r.event_type.as_str(), r.key.as_str())),
        Some(("batch.seal", second.as_str()))
    );

    // Rotation: a new key replaces the second, which is revoked in the same batch.
    let out = l.run(&["keys", "rotate", "--name", "third"]);
    let third = l.key_id("third");
    assert!(
        out.ok().stdout.contains(&format!(
            "rotated: key {third} replaces {second} (revoked, its secret destroyed)"
        )),
        "{}",
        out.stdout
    );
    let b = gen_bundle("keys-b", 2, 4);
    let fb = l.write_json("b.json", &b.json);
    l.run(&["publish", &fb]).ok();
    let log = l.log();
    assert!(
        log.iter()
            .filter(|r| b.entities.contains(&r.entity))
            .all(|r| r.key == third)
    );

    // Another key, registered and then revoked explicitly.
    l.run(&["keys", "register", "--name", "temp"]).ok();
    let temp = l.key_id("temp");
    let out = l.run(&["keys", "revoke", &temp, "--reason", "laptop lost", "--yes"]);
    assert!(
        out.ok()
            .stdout
            .contains(&format!("revoked key {temp}, signed by {founder}")),
        "{}",
        out.stdout
    );

    // The states.
    let keys = l.keys();
    assert_eq!(keys.len(), 4, "{keys:?}");
    let f = key(&keys, &founder);
    assert_eq!(
        (
            f["founding"].as_bool(),
            f["registered_seq"].as_u64(),
            &f["revoked_seq"]
        ),
        (Some(true), Some(1), &Value::Null)
    );
    let s = key(&keys, &second);
    assert_eq!(s["founding"], false);
    assert!(
        s["revoked_seq"].as_u64().is_some(),
        "second is not revoked: {s}"
    );
    let t = key(&keys, &third);
    assert_eq!(t["revoked_seq"], Value::Null);
    assert!(t["registered_seq"].as_u64() > s["registered_seq"].as_u64());
    let tmp = key(&keys, &temp);
    assert!(
        tmp["revoked_seq"].as_u64() > tmp["registered_seq"].as_u64(),
        "{tmp}"
    );
    // The secrets of the revoked keys are destroyed; the others stay.
    for (k, here) in [(f, true), (s, false), (t, true), (tmp, false)] {
        assert_eq!(k["secret_here"], here, "{k}");
    }
    // Text listing says the same.
    let text = l.run(&["keys", "list"]).ok().stdout.clone();
    let line = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} not in {text}"))
            .to_owned()
    };
    assert!(line(&second).contains(&format!("revoked at seq {}", s["revoked_seq"])));
    assert!(line(&third).contains("active"));
    assert!(line(&founder).contains("founding key"));

    let (code, v) = l.verify_json();
    assert_eq!((code, &v["ok"]), (0, &Value::Bool(true)), "{v}");

    // Revoked keys cannot publish (their secrets are gone); nothing is appended.
    let head = l.head();
    let c = gen_bundle("keys-c", 2, 4);
    let fc = l.write_json("c.json", &c.json);
    for revoked in [&second, &temp] {
        let out = l.run(&["publish", "--key", revoked, &fc]);
        assert_ne!(
            out.code, 0,
            "publishing with revoked key {revoked} succeeded:\n{}",
            out.stdout
        );
        assert!(
            out.stderr.contains(&format!("no secret key {revoked}")),
            "{}",
            out.stderr
        );
        assert_eq!(l.head(), head, "a revoked key appended");
    }
    // Revoking a key the ledger does not know, or revoking twice, is refused: such a
    // revocation would be recorded for good and fail verification from then on.
    let out = l.run(&[
        "keys",
        "revoke",
        "0123456789abcdef",
        "--reason",
        "x",
        "--yes",
    ]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("key 0123456789abcdef is not registered in this ledger"),
        "{}",
        out.stderr
    );
    let out = l.run(&["keys", "revoke", &temp, "--reason", "again", "--yes"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains(&format!(
            "key {temp} was already revoked at seq {}",
            tmp["revoked_seq"]
        )),
        "{}",
        out.stderr
    );
    assert_eq!(l.head(), head);
    // An unknown key id cannot publish either.
    let out = l.run(&["publish", "--key", "0123456789abcdef", &fc]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("no secret key 0123456789abcdef"),
        "{}",
        out.stderr
    );
    assert_eq!(l.head(), head);
    // The current key still works.
    l.run(&["publish", &fc]).ok();
    assert_eq!(l.head().seq, head.seq + c.events() as u64 + 1);
    assert_eq!(l.verify_json().0, 0);
}

#[test]
fn a_key_whose_secret_is_elsewhere_can_be_registered_by_public_key() {
    let l = Ledger::init();
    let other = Ledger::init();
    let public = other.keys()[0]["public"]
        .as_str()
        .expect("public")
        .to_owned();
    let out = l.run(&["keys", "register", "--name", "outside", "--public", &public]);
    out.ok();
    let keys = l.keys();
    let k = keys
        .iter()
        .find(|k| k["name"] == "outside")
        .expect("registered");
    assert_eq!(k["public"], public.as_str());
    assert_eq!(k["secret_here"], false);
    assert_eq!(l.verify_json().0, 0);
}
