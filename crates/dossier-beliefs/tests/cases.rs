//! The worked examples of `docs/BELIEFS.md` §3: every directory under `tests/cases/` holds bundles
//! (`01.json`, `02.json`, …) and an `expected.json` written by hand from the rules.
//!
//! `expected.json` is `{"checks": [...]}`; each check folds the first `after` bundles (bundle n
//! recorded at 2024-06-0nT12:00:00Z) and compares the belief on `question` (at `valid_at`, a
//! date meaning the end of that day, if given) with every other key present: `value`,
//! `evidence_value`, `flags`, `summary`, `best_claim`, `likelihood`, `confidence` (JSON of the
//! view), `supporting`, `contradicting`, `other`, `superseded`, `retracted` (claim ids in order),
//! `sources` (independent supporting sources), `reliability` (claim id → speaker's Admiralty
//! grade), `interest` (claim id → the designation of its speaker as an interested party to the
//! question, or null), `history` (all reasons),
//! `history_values` (the value after each change) and `history_last` (the last reason).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use dossier_beliefs::{Belief, ClaimView, Engine};
use dossier_model::{EntityId, Timestamp};
use serde_json::Value;

/// JSON equality with numbers compared as f64 (6700 == 6700.0).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn ids(list: &[ClaimView]) -> Value {
    Value::Array(
        list.iter()
            .map(|c| Value::String(c.id.to_string()))
            .collect(),
    )
}

fn find_claim<'a>(b: &'a Belief, id: &str) -> Option<&'a ClaimView> {
    b.provenance.claims().find(|c| c.id.as_str() == id)
}

fn check(case: &str, n: usize, check: &Value, engine: &Engine) -> Vec<String> {
    let mut failures = Vec::new();
    let question = EntityId::parse(check["question"].as_str().unwrap()).unwrap();
    let valid_at = check
        .get("valid_at")
        .map(|v| Timestamp::parse_as_of(v.as_str().unwrap()).unwrap());
    let Some(belief) = engine.belief(&question, valid_at) else {
        return vec![format!("{case} check {n}: no belief on {question}")];
    };
    let mut expect = |key: &str, actual: Value| {
        if let Some(expected) = check.get(key)
            && !json_eq(expected, &actual)
        {
            failures.push(format!(
                    "{case} check {n} ({question}, after {}, valid_at {:?}): `{key}`\n  expected {expected}\n  actual   {actual}",
                    check["after"], check.get("valid_at")
                ));
        }
    };
    let to = |v: &dyn erased::Ser| v.to_json();
    expect("value", to(&belief.value));
    expect("evidence_value", to(&belief.evidence_value));
    expect("flags", to(&belief.status.flags));
    expect("summary", to(&belief.status.summary));
    expect("best_claim", to(&belief.best_claim));
    expect("likelihood", to(&belief.likelihood));
    expect("confidence", to(&belief.confidence));
    expect("sources", to(&belief.sources));
    let p = &belief.provenance;
    expect("supporting", ids(&p.supporting));
    expect("contradicting", ids(&p.contradicting));
    expect("other", ids(&p.other));
    expect("superseded", ids(&p.superseded));
    expect("retracted", ids(&p.retracted));
    let history = engine.history(&question);
    expect(
        "history",
        Value::Array(
            history
                .iter()
                .map(|c| Value::String(c.reason.clone()))
                .collect(),
        ),
    );
    expect(
        "history_values",
        Value::Array(history.iter().map(|c| to(&c.after.value)).collect()),
    );
    expect(
        "history_last",
        history
            .last()
            .map_or(Value::Null, |c| Value::String(c.reason.clone())),
    );
    if let Some(map) = check.get("reliability").and_then(Value::as_object) {
        for (claim, grade) in map {
            let actual = find_claim(&belief, claim)
                .and_then(|c| c.speaker.reliability.as_ref())
                .map_or(Value::Null, |r| to(&r.rating));
            if !json_eq(grade, &actual) {
                failures.push(format!(
                    "{case} check {n}: reliability of {claim}'s speaker: expected {grade}, actual {actual}"
                ));
            }
        }
    }
    if let Some(map) = check.get("interest").and_then(Value::as_object) {
        for (claim, designation) in map {
            let actual = find_claim(&belief, claim)
                .and_then(|c| c.speaker.interest.as_ref())
                .map_or(Value::Null, |d| to(&d.designation));
            if !json_eq(designation, &actual) {
                failures.push(format!(
                    "{case} check {n}: interest of {claim}'s speaker: expected {designation}, actual {actual}"
                ));
            }
        }
    }
    failures
}

/// Serialization to `Value` for heterogeneous fields.
mod erased {
    pub trait Ser {
        fn to_json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap()
        }
    }
}

#[test]
fn worked_examples_match_hand_written_expectations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 7,
        "expected the seven worked examples, found {dirs:?}"
    );
    let mut failures = Vec::new();
    let mut checks_run = 0;
    for dir in dirs {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let files = common::json_files(&dir);
        let times: Vec<Timestamp> = (1..=files.len())
            .map(|i| common::ts(&format!("2024-06-0{i}T12:00:00Z")))
            .collect();
        let events = common::load(&files, &times);
        let expected: Value =
            serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
        for (n, c) in expected["checks"].as_array().unwrap().iter().enumerate() {
            let after = usize::try_from(c["after"].as_u64().unwrap()).unwrap();
            let engine = common::fold(events.iter().filter(|e| e.bundle < after));
            let stale = engine.stale_views();
            if !stale.is_empty() {
                failures.push(format!(
                    "{case} check {n}: the incremental judgment differs from the reference on {stale:?}"
                ));
            }
            failures.extend(check(&case, n, c, &engine));
            checks_run += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checks_run >= 25, "only {checks_run} checks ran");
}
