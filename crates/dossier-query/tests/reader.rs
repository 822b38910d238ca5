//! The reader on a real SQLite ledger of the example story: typed answers that read back from
//! their JSON, not-posed questions, and views refused over a ledger that changed under them.

#![allow(clippy::unwrap_used, missing_docs)]

const RED: dossier_model::Marking = dossier_model::Marking::Red;

use std::time::Duration;

use dossier_chain::{Genesis, Signer};
use dossier_log::{EventLog as _, Publisher, SqliteLog, ledger};
use dossier_model::{KnownEntities, parse_bundle, validate};
use dossier_query::{
    Answer, BeliefList, Beliefs, Freshness, History, QueryErrorKind, Reader, Sources, Staleness,
    Why,
};

const CONTAINERS: &str = "question:dprk-russia/containers-shipped";

async fn examples(dir: &std::path::Path) -> SqliteLog {
    examples_marked(dir, |_| None).await
}

/// The examples, the `i`-th (from 0) re-marked (bundle and report) as `marking(i)` says.
async fn examples_marked(
    dir: &std::path::Path,
    marking: impl Fn(usize) -> Option<&'static str>,
) -> SqliteLog {
    let log = SqliteLog::open(&dir.join("ledger.db")).unwrap();
    let signer = Signer::from_secret([9; 32], "reader tests");
    let id = uuid::Uuid::new_v4();
    let genesis =
        Genesis::build(id, "reader tests", &signer, time::OffsetDateTime::now_utc()).unwrap();
    log.append(0, &genesis, &[]).await.unwrap();
    let mut known = KnownEntities::default();
    let mut files: Vec<_> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
    files.sort();
    for (i, f) in files.into_iter().enumerate() {
        let mut bytes = std::fs::read(&f).unwrap();
        if let Some(m) = marking(i) {
            let mut doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            doc["marking"] = serde_json::json!(m);
            doc["report"]["marking"] = serde_json::json!(m);
            bytes = serde_json::to_vec(&doc).unwrap();
        }
        let name = f.display().to_string();
        let v = validate(&name, parse_bundle(&name, &bytes).unwrap(), &known).unwrap();
        ledger::remember(&mut known, &v);
        let (events, texts) = ledger::pending_events(&v);
        Publisher::new(&log, &signer, id)
            .publish(&events, &texts)
            .await
            .unwrap();
    }
    log
}

fn sources(dir: &std::path::Path) -> Sources {
    Sources {
        views: dir.join("views.db"),
        auditor: Some(dir.join("auditor.db")),
        wait: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn answers_are_typed_and_read_back_from_their_json() {
    let dir = tempfile::tempdir().unwrap();
    let log = examples(dir.path()).await;
    let reader = Reader::open(&log, &sources(dir.path()), Staleness::Refused)
        .await
        .unwrap();
    assert_eq!(reader.freshness(), &Freshness::Fresh);
    let head = log.head().await.unwrap().seq;

    let beliefs = reader.beliefs(RED, None, None).unwrap();
    assert_eq!((beliefs.seq, beliefs.lag), (head, 0));
    let BeliefList::Lines(lines) = &beliefs.answer.beliefs else {
        panic!("lines expected");
    };
    assert_eq!(lines.len(), 7);
    let back: Answer<Beliefs> =
        serde_json::from_str(&serde_json::to_string(&beliefs).unwrap()).unwrap();
    assert_eq!(back, beliefs);

    let why = reader.why(RED, CONTAINERS, None, None).unwrap();
    assert_eq!(why.digest, beliefs.digest);
    let back: Answer<Why> = serde_json::from_str(&serde_json::to_string(&why).unwrap()).unwrap();
    assert_eq!(back, why);

    let history = reader.history(RED, CONTAINERS, None).unwrap();
    assert_eq!(history.answer.changes.len(), 7);
    let back: Answer<History> =
        serde_json::from_str(&serde_json::to_string(&history).unwrap()).unwrap();
    assert_eq!(back, history);

    let at = dossier_model::Timestamp::parse_as_of("2024-02-29").unwrap();
    let folded = reader.beliefs(RED, None, Some(at)).unwrap();
    assert!(matches!(folded.answer.beliefs, BeliefList::AtValidTime(ref b) if b.len() == 7));
    assert_eq!(folded.digest, None);
    // Both shapes read back as what they are (a belief holds every field of a line).
    let back: Answer<Beliefs> =
        serde_json::from_str(&serde_json::to_string(&folded).unwrap()).unwrap();
    assert_eq!(back, folded);

    for err in [
        reader
            .why(RED, "question:nobody/asked", None, None)
            .unwrap_err(),
        reader
            .history(RED, "question:nobody/asked", None)
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), QueryErrorKind::NotFound, "{err}");
    }
}

#[tokio::test]
async fn views_over_a_changed_ledger_are_refused_unless_staleness_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let log = examples(dir.path()).await;
    drop(
        Reader::open(&log, &sources(dir.path()), Staleness::Refused)
            .await
            .unwrap(),
    );
    let head = log.head().await.unwrap().seq;
    let db = dossier_log::tamper::open(&dir.path().join("ledger.db"));
    dossier_log::tamper::set_record(&db, head, b"{}");
    drop(db);
    let err = Reader::open(&log, &sources(dir.path()), Staleness::Refused)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), QueryErrorKind::Integrity, "{err}");
    let stale = Reader::open(&log, &sources(dir.path()), Staleness::Accepted)
        .await
        .unwrap();
    assert!(
        matches!(stale.freshness(), Freshness::Distrusted(why) if why.contains(&format!("seq {head}")))
    );
    assert_eq!(stale.beliefs(RED, None, None).unwrap().seq, head);
}

/// Records above a reader's clearance are served as their seq and hash only (seals and key
/// events, marked TLP:CLEAR, always whole), and the changes of belief a follower receives at a
/// clearance are exactly those of the events it may see, resumable from any seq with nothing
/// missed or repeated.
#[tokio::test]
async fn records_and_changes_are_served_for_the_clearance() {
    use dossier_model::Marking;
    use dossier_query::ServedRecord;
    let dir = tempfile::tempdir().unwrap();
    // The follow-up and the correction (which relates to the follow-up's claims) are AMBER.
    let log = examples_marked(dir.path(), |i| (i >= 2).then_some("TLP:AMBER")).await;
    let reader = Reader::open(&log, &sources(dir.path()), Staleness::Refused)
        .await
        .unwrap();
    let records = log.read(1, 10_000).await.unwrap();
    let mut withheld = 0;
    for r in &records {
        let view = dossier_chain::RecordView::parse(&r.bytes).unwrap();
        let green = reader.served_record(Marking::Green, r).unwrap();
        let red = reader.served_record(RED, r).unwrap();
        assert!(
            matches!(red, ServedRecord::Visible { .. }),
            "seq {}",
            r.position
        );
        match green {
            ServedRecord::Visible {
                marking,
                ref record,
                ..
            } => {
                assert!(marking <= Marking::Green);
                assert_eq!(record.as_bytes(), r.bytes.as_slice());
            }
            ServedRecord::Withheld { seq, ref hash } => {
                assert_eq!(view.marking, "TLP:AMBER", "seq {seq}");
                assert_eq!(seq, r.position);
                assert_eq!(hash, &dossier_chain::Hash::of_record(&r.bytes).to_hex());
                // Nothing but seq and hash.
                let json = serde_json::to_value(&green).unwrap();
                assert_eq!(json.as_object().unwrap().len(), 3, "{json}");
                withheld += 1;
            }
        }
    }
    assert!(withheld > 5, "{withheld} withheld");

    let amber_seqs: std::collections::BTreeSet<u64> = records
        .iter()
        .filter(|r| dossier_chain::RecordView::parse(&r.bytes).unwrap().marking == "TLP:AMBER")
        .map(|r| r.position)
        .collect();
    for clearance in [Marking::Green, RED] {
        let all = reader.changes_since(clearance, 0, usize::MAX).unwrap();
        assert!(!all.is_empty());
        let leaked = all
            .iter()
            .filter(|c| amber_seqs.contains(&c.item.seq))
            .count();
        if clearance == Marking::Green {
            assert_eq!(
                leaked, 0,
                "a GREEN follower got a change caused by an AMBER event"
            );
        } else {
            assert!(leaked > 0);
        }
        // Followed in small steps from the last seq received: the same changes, once each.
        let (mut followed, mut after) = (Vec::new(), 0);
        loop {
            let page = reader.changes_since(clearance, after, 3).unwrap();
            let Some(last) = page.last() else { break };
            after = last.item.seq;
            followed.extend(page);
        }
        assert_eq!(followed, all, "{clearance}");
    }
}
