//! The text the belief commands print, pinned: `beliefs`, `why` and `history` on the example
//! story, now and as of its second bundle, compared with `tests/e2e/snapshots/*.txt`. What
//! differs from run to run — recorded times, record hashes, digests — is replaced by
//! placeholders first. An intended change rewrites the snapshots with
//! `DOSSIER_BLESS=1 cargo test -p dossier-cli --test e2e snapshots` (review the diff).

use std::path::PathBuf;

use crate::support::Ledger;

/// Replaces what changes from run to run: recorded times (fixed width, to the millisecond),
/// abbreviated record hashes and digests.
fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(n) = recorded_time_at(rest) {
            out.push_str("<recorded>");
            rest = &rest[n..];
        } else if let Some(r) = rest
            .strip_prefix("hash ")
            .or_else(|| rest.strip_prefix("digest "))
        {
            let word = if rest.starts_with("hash ") {
                "hash"
            } else {
                "digest"
            };
            let hex = r.bytes().take_while(u8::is_ascii_hexdigit).count();
            out.push_str(word);
            out.push(' ');
            if hex >= 12 {
                out.push_str(&format!("<{word}>"));
                rest = &r[hex..];
            } else {
                rest = r;
            }
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The length of a recorded time (`2026-12-04T15:46:10.502Z`) at the start of `s`, if any.
fn recorded_time_at(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:dd.dddZ";
    (b.len() >= shape.len()
        && shape.iter().zip(b).all(|(want, got)| match want {
            b'd' => got.is_ascii_digit(),
            other => other == got,
        }))
    .then_some(shape.len())
}

fn check(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/e2e/snapshots")
        .join(format!("{name}.txt"));
    let text = redact(text);
    if std::env::var_os("DOSSIER_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &text).expect("write snapshot");
        return;
    }
    let pinned = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        pinned == text,
        "{name}: the output differs from {}:\n--- pinned\n{pinned}\n--- now\n{text}\n\
         If the change is intended: DOSSIER_BLESS=1 cargo test -p dossier-cli --test e2e snapshots",
        path.display()
    );
}

fn output(l: &Ledger, args: &[&str]) -> String {
    let out = l.run(args);
    out.ok();
    out.stdout.clone()
}

#[test]
fn belief_commands_print_what_the_snapshots_pin() {
    let l = Ledger::with_examples();
    let seals = l.run(&["log", "--json", "--type", "batch.seal"]);
    seals.ok();
    let second: serde_json::Value =
        serde_json::from_str(seals.stdout.lines().nth(2).expect("a third seal")).expect("JSON");
    let second = second["recorded"].as_str().expect("recorded").to_owned();
    let q = "dprk-russia/containers-shipped";
    check("beliefs", &output(&l, &["beliefs"]));
    check("why", &output(&l, &["why", q]));
    check("history", &output(&l, &["history", q]));
    check(
        "beliefs-as-of",
        &output(&l, &["beliefs", "--as-of", &second]),
    );
    check("why-as-of", &output(&l, &["why", q, "--as-of", &second]));
    check(
        "beliefs-at",
        &output(&l, &["beliefs", "--at", "2024-02-29"]),
    );
}

#[test]
fn redaction_keeps_everything_but_times_hashes_and_digests() {
    assert_eq!(
        redact(
            "seq 28 hash 627cd352e0be… (2026-12-04T15:46:10.504Z), digest 985bf1b5980a…, hash of"
        ),
        "seq 28 hash <hash>… (<recorded>), digest <digest>…, hash of"
    );
    assert_eq!(
        redact("published 2024-03-19T16:04:00Z"),
        "published 2024-03-19T16:04:00Z"
    );
}
