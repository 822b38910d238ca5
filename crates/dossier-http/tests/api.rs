//! The service on a free port with a real HTTP client: every route, clearances, credentials,
//! bad input as precise problems with the ledger unchanged, and live streams resumed.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use dossier_http::{
    ConsistencyProof, InclusionProof, Problem, RecordPage, SingleRecord, ViewsStatus,
};
use dossier_query::{Answer, BeliefList, Beliefs, History, ServedRecord, Why};
use futures::StreamExt as _;
use reqwest::StatusCode;

/// A path segment: ids hold slashes, sent as %2F.
fn enc(id: &str) -> String {
    id.replace('/', "%2F")
}

async fn problem(r: reqwest::Response, status: StatusCode, kind: &str) -> Problem {
    assert_eq!(r.status(), status, "{:?}", r.headers());
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "status {status}"
    );
    let p: Problem = r.json().await.unwrap();
    assert_eq!(p.type_uri, format!("urn:dossier:problem:{kind}"), "{p:?}");
    assert_eq!(p.status, status.as_u16());
    p
}

/// Asserts that `GET hidden` (its path naming `hidden_id`, above the clearance of `token`) is
/// answered exactly as `GET unknown` (naming `unknown_id`, which does not exist): not found, in
/// the same words. Returns the problem.
async fn hidden_like_unknown(
    s: &Service,
    token: &str,
    (hidden, hidden_id): (&str, &str),
    (unknown, unknown_id): (&str, &str),
) -> Problem {
    let got = |path: String| async move { not_found(s, &path, token).await };
    let h = got(hidden.to_owned()).await;
    let u = got(unknown.to_owned()).await;
    assert_eq!(
        h.detail.replace(hidden_id, "ID"),
        u.detail.replace(unknown_id, "ID")
    );
    h
}

/// `GET path` answered `400 bad-parameter`; the problem.
async fn bad_parameter(s: &Service, path: &str, token: &str) -> Problem {
    let r = s.get(path, token).send().await.unwrap();
    problem(r, StatusCode::BAD_REQUEST, "bad-parameter").await
}

async fn not_found(s: &Service, path: &str, token: &str) -> Problem {
    let r = s.get(path, token).send().await.unwrap();
    problem(r, StatusCode::NOT_FOUND, "not-found").await
}

async fn ok<T: serde::de::DeserializeOwned>(r: reqwest::Response) -> T {
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn belief_routes_answer_typed_json_for_the_clearance() {
    let s = service().await;
    let head = s.head().await;

    let red: Answer<Beliefs> = ok(s.get("/beliefs", &s.tokens.red).send().await.unwrap()).await;
    let green: Answer<Beliefs> = ok(s.get("/beliefs", &s.tokens.green).send().await.unwrap()).await;
    assert_eq!((red.seq, red.lag), (head, 0));
    assert_eq!(red.clearance, dossier_model::Marking::Red);
    assert_eq!(green.clearance, dossier_model::Marking::Green);
    let ids = |a: &Answer<Beliefs>| match &a.answer.beliefs {
        BeliefList::Lines(l) => l
            .iter()
            .map(|x| x.item.question.id.to_string())
            .collect::<Vec<_>>(),
        BeliefList::AtValidTime(b) => b
            .iter()
            .map(|x| x.item.question.id.to_string())
            .collect::<Vec<_>>(),
    };
    assert!(ids(&red).contains(&AMBER_ONLY.to_owned()));
    assert!(!ids(&green).contains(&AMBER_ONLY.to_owned()));
    assert_eq!(ids(&green).len() + 1, ids(&red).len());
    assert_ne!(
        red.digest, green.digest,
        "the digest is of the lines visible"
    );

    let at: Answer<Beliefs> = ok(s
        .get("/beliefs", &s.tokens.green)
        .query(&[("at", "2024-02-29"), ("as_of", "2099-01-01")])
        .send()
        .await
        .unwrap())
    .await;
    // Beliefs at a valid time read back as such (with their provenance), not as lines.
    assert!(at.as_of.is_some() && at.valid_at.is_some() && at.digest.is_none());
    assert!(matches!(at.answer.beliefs, BeliefList::AtValidTime(_)));
    assert_eq!(ids(&at), ids(&green));

    let why: Answer<Why> = ok(s
        .get(&format!("/questions/{}", enc(CONTAINERS)), &s.tokens.red)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(why.answer.belief.question.id.to_string(), CONTAINERS);
    let red_history: Answer<History> = ok(s
        .get(
            &format!("/questions/{}/history", enc(CONTAINERS)),
            &s.tokens.red,
        )
        .send()
        .await
        .unwrap())
    .await;
    let green_history: Answer<History> = ok(s
        .get(
            &format!("/questions/{}/history", enc(CONTAINERS)),
            &s.tokens.green,
        )
        .send()
        .await
        .unwrap())
    .await;
    assert!(
        green_history.answer.changes.len() < red_history.answer.changes.len(),
        "the AMBER report changed this belief, which GREEN does not see"
    );
    assert!(
        green_history
            .answer
            .changes
            .iter()
            .all(|c| c.marking <= dossier_model::Marking::Green)
    );

    // A question posed only above the clearance is exactly an unknown one.
    let unknown_id = "question:test/amber-onlz";
    let hidden = hidden_like_unknown(
        &s,
        &s.tokens.green,
        (&format!("/questions/{}", enc(AMBER_ONLY)), AMBER_ONLY),
        (&format!("/questions/{}", enc(unknown_id)), unknown_id),
    )
    .await;
    let hidden_history = s
        .get(
            &format!("/questions/{}/history", enc(AMBER_ONLY)),
            &s.tokens.green,
        )
        .send()
        .await
        .unwrap();
    problem(hidden_history, StatusCode::NOT_FOUND, "not-found").await;
    let hidden_line = s
        .get(&format!("/beliefs/{}", enc(AMBER_ONLY)), &s.tokens.green)
        .send()
        .await
        .unwrap();
    let hidden_line = problem(hidden_line, StatusCode::NOT_FOUND, "not-found").await;
    assert_eq!(hidden_line.detail, hidden.detail);
    let _: Answer<Why> = ok(s
        .get(&format!("/questions/{}", enc(AMBER_ONLY)), &s.tokens.red)
        .send()
        .await
        .unwrap())
    .await;
    s.stop().await;
}

/// The provenance route answers PROV-JSON, and the STIX route a STIX bundle, for the reader's
/// clearance, which the `prov` package and stix2-validator accept (`tests/exchange/check.py`):
/// a GREEN reader gets nothing of an AMBER event, and a question above the clearance is exactly
/// an unknown one.
#[tokio::test]
async fn provenance_and_stix_are_for_the_clearance() {
    let s = service().await;
    let path = |q: &str, query: &str| format!("/questions/{}/provenance{query}", enc(q));
    let prov = |q: &str, query: &str, token: &str| {
        let request = s.get(&path(q, query), token);
        async move { ok::<serde_json::Value>(request.send().await.unwrap()).await }
    };
    let red = prov(CONTAINERS, "", &s.tokens.red).await;
    let green = prov(CONTAINERS, "?format=prov-json", &s.tokens.green).await;
    // Report 3 (AMBER) holds a claim on the question, by an outlet it registers.
    let amber = [
        "containers-misreported-2024-03",
        "example-gazette",
        "TLP:AMBER",
    ];
    let (red_text, green_text) = (red.to_string(), green.to_string());
    for needle in amber {
        assert!(red_text.contains(needle), "RED sees {needle}");
        assert!(
            !green_text.contains(needle),
            "GREEN sees {needle}: {green_text}"
        );
    }
    assert!(green["bundle"].as_object().is_some_and(|b| !b.is_empty()));

    let dir = tempfile::tempdir().unwrap();
    let files = [dir.path().join("red.json"), dir.path().join("green.json")];
    for (file, doc) in files.iter().zip([&red, &green]) {
        std::fs::write(file, serde_json::to_vec(doc).unwrap()).unwrap();
    }
    check_exchange("prov", &[&files[0], &files[1]]);

    // The question as STIX 2.1, by the same rule, passing stix2-validator strict.
    let stix = |token: &str| {
        let request = s.get(&path(CONTAINERS, "?format=stix"), token);
        async move { ok::<serde_json::Value>(request.send().await.unwrap()).await }
    };
    let (red, green) = (stix(&s.tokens.red).await, stix(&s.tokens.green).await);
    assert_eq!(green["type"], "bundle");
    let (red_text, green_text) = (red.to_string(), green.to_string());
    for needle in amber {
        assert!(red_text.contains(needle), "RED's STIX holds {needle}");
        assert!(!green_text.contains(needle), "GREEN's STIX holds {needle}");
    }
    for (file, doc) in files.iter().zip([&red, &green]) {
        std::fs::write(file, serde_json::to_vec(doc).unwrap()).unwrap();
    }
    check_exchange("stix", &[&files[0], &files[1]]);

    let unknown_id = "question:test/amber-onlz";
    for format in ["", "?format=stix"] {
        hidden_like_unknown(
            &s,
            &s.tokens.green,
            (&path(AMBER_ONLY, format), AMBER_ONLY),
            (&path(unknown_id, format), unknown_id),
        )
        .await;
    }
    prov(AMBER_ONLY, "?as_of=2100-01-01", &s.tokens.red).await;
    bad_parameter(&s, &path(CONTAINERS, "?format=misp"), &s.tokens.red).await;
    bad_parameter(
        &s,
        &path(CONTAINERS, "?format=stix&at=2024-03-01"),
        &s.tokens.red,
    )
    .await;
    s.stop().await;
}

/// A report as STIX or MISP, and the whole ledger as STIX (streamed), are for the reader's
/// clearance and pass stix2-validator strict and pymisp strict (`tests/exchange/check.py`): a
/// GREEN reader's exports hold nothing of the AMBER report 3, whose report is to them exactly an
/// unknown one.
#[tokio::test]
async fn reports_and_the_whole_ledger_as_stix_and_misp_are_for_the_clearance() {
    let s = service().await;
    const CLEAR_REPORT: &str = "report:example-daily/2024-03-19-dprk-arms-to-russia";
    const AMBER_REPORT: &str = "report:example-gazette/2024-04-02-no-satellite-launch";
    let amber = [
        "containers-misreported-2024-03",
        "example-gazette",
        "TLP:AMBER",
    ];
    let report = |r: &str, query: &str| format!("/reports/{}/export{query}", enc(r));
    let text = |path: String, token: String| {
        let request = s.get(&path, &token);
        async move {
            let r = request.send().await.unwrap();
            let status = r.status();
            let streamed = r.headers().get("content-length").is_none();
            let body = r.text().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
            (body, streamed)
        }
    };
    let (red, green) = (s.tokens.red.clone(), s.tokens.green.clone());
    let (red_all, streamed) = text("/stix".to_owned(), red.clone()).await;
    assert!(streamed, "the whole ledger's bundle is streamed");
    let (green_all, _) = text("/stix?as_of=2100-01-01".to_owned(), green.clone()).await;
    let (green_report, _) = text(report(CLEAR_REPORT, ""), green.clone()).await;
    let (green_misp, _) = text(report(CLEAR_REPORT, "?format=misp"), green.clone()).await;
    let (red_misp, _) = text(report(AMBER_REPORT, "?format=misp"), red.clone()).await;
    let (red_report, _) = text(report(AMBER_REPORT, "?format=stix"), red.clone()).await;
    for needle in amber {
        assert!(red_all.contains(needle), "RED's ledger STIX holds {needle}");
        assert!(
            red_misp.contains(needle),
            "RED's MISP of report 3 holds {needle}"
        );
        for (what, doc) in [
            ("ledger STIX", &green_all),
            ("report STIX", &green_report),
            ("report MISP", &green_misp),
        ] {
            assert!(
                !doc.contains(needle),
                "GREEN's {what} holds {needle}: {doc}"
            );
        }
    }
    let all: serde_json::Value = serde_json::from_str(&green_all).unwrap();
    assert_eq!(all["type"], "bundle");
    let event: serde_json::Value = serde_json::from_str(&green_misp).unwrap();
    assert!(event["Event"]["Attribute"].is_array() || event["Event"]["Object"].is_array());

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, doc: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, doc).unwrap();
        path
    };
    let stix = [
        write("red-all.json", &red_all),
        write("green-all.json", &green_all),
        write("green-report.json", &green_report),
        write("red-report.json", &red_report),
    ];
    check_exchange(
        "stix",
        &stix.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    );
    let misp = [
        write("green.misp.jsonl", &green_misp),
        write("red.misp.jsonl", &red_misp),
    ];
    check_exchange(
        "misp",
        &misp.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    );

    // Report 3 is to a GREEN reader exactly an unknown report, in both formats.
    let unknown = "report:example-gazette/2024-04-02-no-satellite-launcz";
    for format in ["", "?format=misp"] {
        hidden_like_unknown(
            &s,
            &s.tokens.green,
            (&report(AMBER_REPORT, format), AMBER_REPORT),
            (&report(unknown, format), unknown),
        )
        .await;
    }
    bad_parameter(&s, &report(CLEAR_REPORT, "?format=prov-json"), &red).await;
    bad_parameter(&s, &report("claim:x", ""), &red).await;
    bad_parameter(&s, "/stix?format=misp", &red).await;
    s.stop().await;
}

#[tokio::test]
async fn records_texts_status_checkpoint_and_proofs() {
    let s = service().await;
    let head = s.head().await;

    let red: Answer<RecordPage> = ok(s
        .get("/records", &s.tokens.red)
        .query(&[("limit", "1000")])
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(red.answer.records.len() as u64, head);
    assert!(
        red.answer
            .records
            .iter()
            .all(|r| matches!(r, ServedRecord::Visible { .. }))
    );
    let green: Answer<RecordPage> = ok(s
        .get("/records", &s.tokens.green)
        .query(&[("limit", "1000")])
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(
        green.answer.records.len() as u64,
        head,
        "every seq is accounted for"
    );
    let withheld: Vec<u64> = green
        .answer
        .records
        .iter()
        .filter_map(|r| match r {
            ServedRecord::Withheld { seq, .. } => Some(*seq),
            ServedRecord::Visible { .. } => None,
        })
        .collect();
    assert!(!withheld.is_empty());

    // Pages, and filters that never match a withheld record.
    let page: Answer<RecordPage> = ok(s
        .get("/records", &s.tokens.green)
        .query(&[("from", "2"), ("limit", "3")])
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(page.answer.records.len(), 3);
    assert_eq!(page.answer.next, Some(5));
    let claims: Answer<RecordPage> = ok(s
        .get("/records", &s.tokens.green)
        .query(&[("type", "claim.recorded"), ("limit", "1000")])
        .send()
        .await
        .unwrap())
    .await;
    assert!(!claims.answer.records.is_empty());
    assert!(claims.answer.records.iter().all(|r| matches!(
        r,
        ServedRecord::Visible { event_type, marking, .. }
            if event_type == "claim.recorded" && *marking <= dossier_model::Marking::Green
    )));
    let entity: Answer<RecordPage> = ok(s
        .get("/records", &s.tokens.red)
        .query(&[("entity", CONTAINERS), ("limit", "1000")])
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(entity.answer.records.len(), 1);

    // One record, and its exact bytes.
    let w = withheld[0];
    let one: Answer<SingleRecord> = ok(s
        .get(&format!("/records/{w}"), &s.tokens.green)
        .send()
        .await
        .unwrap())
    .await;
    assert!(matches!(one.answer.record, ServedRecord::Withheld { seq, .. } if seq == w));
    not_found(&s, &format!("/records/{w}/raw"), &s.tokens.green).await;
    let one: Answer<SingleRecord> = ok(s
        .get(&format!("/records/{w}"), &s.tokens.red)
        .send()
        .await
        .unwrap())
    .await;
    let ServedRecord::Visible { record, hash, .. } = one.answer.record else {
        panic!("visible expected")
    };
    let raw = s
        .get(&format!("/records/{w}/raw"), &s.tokens.red)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::OK);
    let bytes = raw.bytes().await.unwrap();
    assert_eq!(&bytes[..], record.as_bytes());
    assert_eq!(dossier_chain::Hash::of_record(&bytes).to_hex(), hash);
    not_found(&s, &format!("/records/{}", head + 1), &s.tokens.red).await;

    // Texts: the AMBER report's only for AMBER and above.
    let amber: serde_json::Value = serde_json::from_slice(&amber_bundle()).unwrap();
    let amber_hash = dossier_model::entity::content_hash(amber["report"]["text"].as_str().unwrap());
    let text = s
        .get(&format!("/texts/{amber_hash}"), &s.tokens.red)
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), StatusCode::OK);
    assert_eq!(
        text.text().await.unwrap(),
        amber["report"]["text"].as_str().unwrap()
    );
    let unknown = "0".repeat(64);
    hidden_like_unknown(
        &s,
        &s.tokens.green,
        (&format!("/texts/{amber_hash}"), &amber_hash),
        (&format!("/texts/{unknown}"), &unknown),
    )
    .await;

    // Status.
    let status: Answer<ViewsStatus> =
        ok(s.get("/status", &s.tokens.green).send().await.unwrap()).await;
    assert_eq!(
        (status.answer.applied, status.answer.head, status.lag),
        (head, head, 0)
    );
    assert!(status.answer.auditor.is_none(), "no auditor ran yet");

    // No checkpoint before the auditor signs one; then proofs that check offline.
    not_found(&s, "/checkpoint", &s.tokens.red).await;
    s.audit().await;
    let cp: serde_json::Value =
        ok(s.get("/checkpoint", &s.tokens.green).send().await.unwrap()).await;
    assert_eq!(cp["checkpoint"]["size"], head);
    let visible = (1..=head).find(|q| !withheld.contains(q)).unwrap();
    let inc: Answer<InclusionProof> = ok(s
        .get(&format!("/proofs/inclusion/{visible}"), &s.tokens.green)
        .send()
        .await
        .unwrap())
    .await;
    let proven = inc.answer.proof.check(common::founder().public()).unwrap();
    assert!(
        matches!(proven, dossier_proofs::Proven::Inclusion { seq, size, .. } if seq == visible && size == head)
    );
    not_found(&s, &format!("/proofs/inclusion/{w}"), &s.tokens.green).await;
    let con: Answer<ConsistencyProof> = ok(s
        .get("/proofs/consistency", &s.tokens.green)
        .query(&[("from", "3")])
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!((con.answer.from, con.answer.size), (3, head));
    let p = bad_parameter(&s, "/proofs/consistency", &s.tokens.green).await;
    assert_eq!(p.parameter.as_deref(), Some("from"));

    // The same tree as C2SP tlog-tiles, read by any reader, checked by Go's sumdb/tlog.
    let note = s
        .get("/tlog/checkpoint", &s.tokens.green)
        .send()
        .await
        .unwrap();
    assert_eq!(note.status(), StatusCode::OK);
    assert_eq!(note.headers()["content-type"], "text/plain; charset=utf-8");
    let note = note.text().await.unwrap();
    assert_eq!(note, cp["checkpoint"]["note"].as_str().unwrap());
    let tiles = tempfile::tempdir().unwrap();
    for t in dossier_proofs::tiles_of(head) {
        let r = s
            .get(&format!("/tlog/{}", t.path()), &s.tokens.green)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", t.path());
        assert_eq!(r.headers()["content-type"], "application/octet-stream");
        let path = tiles.path().join(t.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, r.bytes().await.unwrap()).unwrap();
    }
    for bad in [
        format!("tile/0/000.p/{}", head + 1),
        "tile/0/001".to_owned(),
        "tile/0/00".to_owned(),
        "tile/entries/x000/000".to_owned(),
        "tile/64/000".to_owned(),
    ] {
        not_found(&s, &format!("/tlog/{bad}"), &s.tokens.green).await;
    }
    let ledger_id = cp["checkpoint"]["ledger"].as_str().unwrap();
    let vkey = dossier_proofs::checkpoint_verifier(ledger_id, common::founder().public())
        .unwrap()
        .to_vkey();
    let dossier_proofs::ProofBundle::Inclusion { record, proof, .. } = &inc.answer.proof else {
        panic!("an inclusion bundle");
    };
    let cases = serde_json::json!({
        "vkey": vkey,
        "trees": [{"note": note, "tiles": tiles.path(), "all_leaves": true}],
        "inclusion": [{"tree": 0, "index": visible - 1, "leaf": dossier_chain::Hash::of_record(record.as_bytes()).to_hex(), "proof": proof}],
        "consistency": [],
    });
    let file = tiles.path().join("cases.json");
    std::fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let summary = dossier_testkit::run_tlog_go(&file).expect("Go accepts the served tiles");
    assert!(
        summary.contains(&format!("{head} entries checked")),
        "{summary}"
    );

    let status: Answer<ViewsStatus> =
        ok(s.get("/status", &s.tokens.green).send().await.unwrap()).await;
    assert_eq!(
        status
            .answer
            .auditor
            .map(|a| (a.healthy, a.checkpoint_size)),
        Some((true, Some(head)))
    );
    s.stop().await;
}

#[tokio::test]
async fn credentials_are_refused_alike_and_roles_are_checked() {
    let s = service().await;
    let mut bodies = Vec::new();
    for token in [
        None,
        Some("not-a-token"),
        Some(s.tokens.expired.as_str()),
        Some(s.tokens.revoked.as_str()),
    ] {
        let mut req = s.client.get(s.url("/beliefs"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        bodies.push(problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await);
    }
    let r = s
        .client
        .get(s.url("/beliefs"))
        .header("authorization", "Basic eDp5")
        .send()
        .await
        .unwrap();
    bodies.push(problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await);
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");

    let head = s.head().await;
    let r = s
        .client
        .post(s.url("/bundles"))
        .bearer_auth(&s.tokens.red)
        .header("content-type", "application/json")
        .body(clear_question_bundle(1))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(s.head().await, head);
    s.stop().await;
}

#[tokio::test]
async fn bad_input_is_a_precise_problem_and_changes_nothing() {
    let s = service_with(|c| c.body_limit = 1024 * 1024).await;
    let head = s.head().await;
    let post = |body: Vec<u8>, content_type: &str| {
        s.client
            .post(s.url("/bundles"))
            .bearer_auth(&s.tokens.producer)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let p = problem(
        post(b"{\"version\": 1,".to_vec(), "application/json")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad-body",
    )
    .await;
    assert!(p.detail.contains("invalid"), "{p:?}");
    let mut unknown: serde_json::Value = serde_json::from_slice(&clear_question_bundle(2)).unwrap();
    unknown["questions"][0]["colour"] = "blue".into();
    let p = problem(
        post(serde_json::to_vec(&unknown).unwrap(), "application/json")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad-body",
    )
    .await;
    assert!(p.detail.contains("colour"), "{p:?}");
    assert_eq!(p.pointer.as_deref(), Some("/questions/0/colour"), "{p:?}");
    let mut bad_utf8 = clear_question_bundle(3);
    let at = bad_utf8.iter().position(|b| *b == b'G').unwrap();
    bad_utf8[at] = 0xff;
    let p = problem(
        post(bad_utf8, "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad-body",
    )
    .await;
    assert!(p.detail.contains(&format!("offset {at}")), "{p:?}");
    problem(
        post(clear_question_bundle(4), "text/plain").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;
    let big = vec![b' '; 50 * 1024 * 1024];
    problem(
        post(big, "application/json").await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
    )
    .await;

    let p = problem(
        s.get("/beliefs", &s.tokens.red)
            .query(&[("as_of", "last tuesday")])
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad-parameter",
    )
    .await;
    assert_eq!(p.parameter.as_deref(), Some("as_of"));
    assert!(
        p.detail.starts_with("as_of: ") && p.detail.contains("last tuesday"),
        "{p:?}"
    );
    let p = problem(
        s.get("/beliefs", &s.tokens.red)
            .query(&[("asof", "2024-01-01")])
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad-parameter",
    )
    .await;
    assert_eq!(p.parameter.as_deref(), Some("asof"));
    let p = bad_parameter(&s, "/records/zero", &s.tokens.red).await;
    assert_eq!(p.parameter.as_deref(), Some("seq"));
    let p = problem(
        s.get("/records", &s.tokens.red)
            .query(&[("limit", "0")])
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad-parameter",
    )
    .await;
    assert_eq!(p.parameter.as_deref(), Some("limit"));

    not_found(&s, "/nowhere", &s.tokens.red).await;
    problem(
        s.client
            .get(format!("{}/v2/anything", s.base))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let other = s
        .client
        .get(format!("{}/v1/ledgers/other/beliefs", s.base))
        .bearer_auth(&s.tokens.red)
        .send()
        .await
        .unwrap();
    let p = problem(other, StatusCode::NOT_FOUND, "not-found").await;
    assert!(p.detail.contains("ledger"), "{p:?}");
    problem(
        s.client
            .delete(s.url("/beliefs"))
            .bearer_auth(&s.tokens.red)
            .send()
            .await
            .unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
    )
    .await;
    problem(
        s.client
            .put(s.url("/bundles"))
            .bearer_auth(&s.tokens.producer)
            .send()
            .await
            .unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
    )
    .await;

    assert_eq!(s.head().await, head, "nothing was appended");
    s.stop().await;
}

#[tokio::test]
async fn operations_routes_and_the_served_openapi_document() {
    let s = service_with(|c| c.ready_lag = 0).await;
    let r = s
        .client
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Nothing brought the views up yet: not ready; a read brings them to the head.
    let r = s
        .client
        .get(format!("{}/readyz", s.base))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let _: Answer<Beliefs> = ok(s.get("/beliefs", &s.tokens.green).send().await.unwrap()).await;
    let r = s
        .client
        .get(format!("{}/readyz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let metrics = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "dossier_http_requests_total{method=\"GET\",route=\"/v1/ledgers/{ledger}/beliefs\",status=\"200\"} 1",
        "dossier_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"503\"} 1",
        "dossier_http_request_duration_seconds_bucket{",
        "dossier_projector_lag_records 0",
        "dossier_auditor_alarms",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from\n{metrics}");
    }
    let served = s
        .client
        .get(format!("{}/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served, dossier_http::openapi_json());
    s.stop().await;
}

/// One SSE event.
#[derive(Debug, Clone, PartialEq)]
struct SseEvent {
    id: u64,
    event: String,
    data: String,
}

/// Reads `n` events from a stream (with `Last-Event-ID` = `after` if given), then drops the
/// connection.
async fn read_events(
    s: &Service,
    path: &str,
    token: &str,
    after: Option<u64>,
    n: usize,
) -> Vec<SseEvent> {
    read_until(s, path, token, after, |v| v.len() >= n).await
}

/// Reads events until `done` says so, then drops the connection.
async fn read_until(
    s: &Service,
    path: &str,
    token: &str,
    after: Option<u64>,
    done: impl Fn(&[SseEvent]) -> bool,
) -> Vec<SseEvent> {
    let mut req = s.get(path, token);
    if let Some(a) = after {
        req = req.header("last-event-id", a.to_string());
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut body = r.bytes_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done(&out) {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("the events within 20 s")
            .unwrap()
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().parse().unwrap());
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if let Some(id) = id
                && !done(&out)
            {
                out.push(SseEvent { id, event, data });
            }
        }
    }
    out
}

#[tokio::test]
async fn live_streams_resume_without_gap_or_duplicate_and_respect_clearance() {
    let s = service().await;
    let head = s.head().await;

    // Records: read part, disconnect, resume from the last id received, while the ledger grows.
    let first = read_events(&s, "/events/records", &s.tokens.green, None, 10).await;
    let grow = {
        let log = std::sync::Arc::clone(&s.log);
        tokio::spawn(async move {
            for n in 0..3 {
                publish(&*log, &[clear_question_bundle(100 + n)]).await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };
    let mut all = first.clone();
    let mut last = first.last().unwrap().id;
    let more = read_events(&s, "/events/records", &s.tokens.green, Some(last), 7).await;
    last = more.last().unwrap().id;
    all.extend(more);
    grow.await.unwrap();
    let end = s.head().await;
    assert!(end > head);
    while last < end {
        let more = read_until(&s, "/events/records", &s.tokens.green, Some(last), |v| {
            v.len() >= 7 || v.last().is_some_and(|e| e.id == end)
        })
        .await;
        last = more.last().unwrap().id;
        all.extend(more);
    }
    let ids: Vec<u64> = all.iter().map(|e| e.id).collect();
    let expected: Vec<u64> = (1..=ids.len() as u64).collect();
    assert_eq!(ids, expected, "each record exactly once, in order");
    let mut withheld = 0;
    for e in &all {
        assert_eq!(e.event, "record");
        let served: ServedRecord = serde_json::from_str(&e.data).unwrap();
        match served {
            ServedRecord::Visible { seq, marking, .. } => {
                assert_eq!(seq, e.id);
                assert!(marking <= dossier_model::Marking::Green);
            }
            ServedRecord::Withheld { seq, .. } => {
                assert_eq!(seq, e.id);
                withheld += 1;
            }
        }
    }
    assert!(
        withheld > 0,
        "the AMBER records are accounted for as withheld"
    );

    // Belief changes: a GREEN follower never receives one caused by an AMBER event.
    let green = read_events(&s, "/events/beliefs", &s.tokens.green, None, 3).await;
    let resumed = read_events(&s, "/events/beliefs", &s.tokens.green, Some(green[2].id), 2).await;
    assert!(resumed[0].id > green[2].id);
    let everything: Vec<serde_json::Value> = green
        .iter()
        .chain(&resumed)
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    for (e, v) in green.iter().chain(&resumed).zip(&everything) {
        assert_eq!(v["seq"], e.id);
        for c in v["changes"].as_array().unwrap() {
            assert!(
                ["TLP:CLEAR", "TLP:GREEN"].contains(&c["marking"].as_str().unwrap()),
                "{c}"
            );
            assert_ne!(c["question"], AMBER_ONLY);
        }
    }
    // RED sees the AMBER changes (the stream would time out otherwise).
    read_until(&s, "/events/beliefs", &s.tokens.red, None, |v| {
        v.last().is_some_and(|e| e.data.contains("TLP:AMBER"))
    })
    .await;

    let p = problem(
        s.get("/events/records", &s.tokens.green)
            .header("last-event-id", "x")
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad-parameter",
    )
    .await;
    assert_eq!(p.parameter.as_deref(), Some("Last-Event-ID"));
    s.stop().await;
}

/// Followers of one feed share the events read for their clearance (one reads, the others take
/// them): every follower still receives each record exactly once, in order, as its own
/// clearance allows, whether it starts at the beginning, in the middle, or while the ledger
/// grows.
#[tokio::test]
async fn concurrent_followers_each_receive_their_own_clearance_exactly_once() {
    let s = std::sync::Arc::new(service().await);
    let start = s.head().await;
    // Three bundles of one question each: a question and a seal apiece.
    let end = start + 3 * 2;
    let follow = |token: String, after: Option<u64>| {
        let s = std::sync::Arc::clone(&s);
        tokio::spawn(async move {
            read_until(&s, "/events/records", &token, after, |v| {
                v.last().is_some_and(|e| e.id >= end)
            })
            .await
        })
    };
    let mut followers = Vec::new();
    for _ in 0..3 {
        followers.push((
            dossier_model::Marking::Green,
            None,
            follow(s.tokens.green.clone(), None),
        ));
        followers.push((
            dossier_model::Marking::Red,
            None,
            follow(s.tokens.red.clone(), None),
        ));
    }
    followers.push((
        dossier_model::Marking::Green,
        Some(start / 2),
        follow(s.tokens.green.clone(), Some(start / 2)),
    ));
    for n in 0..3 {
        publish(&*s.log, &[clear_question_bundle(200 + n)]).await;
    }
    assert_eq!(s.head().await, end);
    let mut by_clearance: std::collections::BTreeMap<_, Vec<String>> = Default::default();
    for (clearance, after, task) in followers {
        let events = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("every follower reaches the head")
            .unwrap();
        let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
        let first = after.unwrap_or(0) + 1;
        assert_eq!(
            ids,
            (first..=end).collect::<Vec<_>>(),
            "exactly once, in order"
        );
        for e in &events {
            if let ServedRecord::Visible { marking, .. } = serde_json::from_str(&e.data).unwrap() {
                assert!(marking <= clearance, "{clearance:?} served {marking:?}");
            }
        }
        if after.is_none() {
            let data: Vec<String> = events.into_iter().map(|e| e.data).collect();
            let seen = by_clearance
                .entry(clearance)
                .or_insert_with(|| data.clone());
            assert_eq!(
                *seen, data,
                "followers of one clearance receive the same events"
            );
        }
    }
    assert_ne!(
        by_clearance[&dossier_model::Marking::Green],
        by_clearance[&dossier_model::Marking::Red],
        "RED sees what GREEN does not"
    );
}

#[tokio::test]
async fn producers_publish_idempotently_and_conflicts_append_nothing() {
    let s = service().await;
    let post = |body: Vec<u8>| {
        s.client
            .post(s.url("/bundles"))
            .bearer_auth(&s.tokens.producer)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let head = s.head().await;
    let first: serde_json::Value = ok(post(clear_question_bundle(7)).await.unwrap()).await;
    assert_eq!(first["status"], "published", "{first}");
    assert_eq!(
        (first["events"].as_u64(), first["new"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(first["first_seq"], head + 1);
    let after = s.head().await;
    assert_eq!(first["last_seq"], after, "a 2xx means committed");
    // Signed with the service's key, on behalf of the principal: both in every record's actor.
    for rec in dossier_log::EventLog::read(&*s.log, head + 1, (after - head) as usize)
        .await
        .unwrap()
    {
        let v: serde_json::Value = serde_json::from_slice(&rec.bytes).unwrap();
        assert_eq!(v["actor"]["key"], founder().id(), "{v}");
        assert_eq!(v["actor"]["name"], "producer (via http tests)", "{v}");
    }

    // The same bundle again: nothing appended.
    let again: serde_json::Value = ok(post(clear_question_bundle(7)).await.unwrap()).await;
    assert_eq!(again["status"], "unchanged", "{again}");
    assert_eq!(again["already_recorded"], 1);
    assert_eq!(s.head().await, after);

    // The same id with other content: a conflict, nothing appended.
    let mut other: serde_json::Value = serde_json::from_slice(&clear_question_bundle(7)).unwrap();
    other["questions"][0]["text"] = "Another text?".into();
    let p = problem(
        post(serde_json::to_vec(&other).unwrap()).await.unwrap(),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(p.detail.contains("question:test/grown-7"), "{p:?}");
    assert_eq!(s.head().await, after);

    // What was published is served, as a line and with provenance.
    let q = format!("/questions/{}", enc("question:test/grown-7"));
    let _: Answer<Why> = ok(s.get(&q, &s.tokens.green).send().await.unwrap()).await;
    let line: Answer<dossier_projector::Marked<dossier_beliefs::BeliefLine>> = ok(s
        .get(
            &format!("/beliefs/{}", enc("question:test/grown-7")),
            &s.tokens.green,
        )
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(
        line.answer.item.question.id.as_str(),
        "question:test/grown-7"
    );
    assert_eq!(line.answer.marking, dossier_model::Marking::Clear);
    assert_eq!(line.seq, after);
    s.stop().await;
}

#[tokio::test]
async fn reads_of_red_material_are_logged_with_who_what_and_when() {
    let s = service().await;
    let log = || dossier_access::AccessLog::open(&s.dir.path().join("access.db")).unwrap();
    // The access grants are TLP:RED records: a GREEN reader is served them withheld.
    let _: Answer<RecordPage> = ok(s
        .get("/records", &s.tokens.green)
        .query(&[("limit", "1000")])
        .send()
        .await
        .unwrap())
    .await;
    let _: Answer<Beliefs> = ok(s.get("/beliefs", &s.tokens.red).send().await.unwrap()).await;
    assert!(
        log().list(None, 100).unwrap().is_empty(),
        "nothing RED was served yet"
    );
    let _: Answer<RecordPage> = ok(s
        .get("/records", &s.tokens.red)
        .query(&[("limit", "1000")])
        .send()
        .await
        .unwrap())
    .await;
    let entries = log().list(None, 100).unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!(
        (e.principal.as_str(), e.marking),
        ("red", dossier_model::Marking::Red)
    );
    assert_eq!(e.route, "GET /v1/ledgers/{ledger}/records");
    assert_eq!(e.what, "records from 1, limit 1000");
    s.stop().await;
}

/// `POST reports/{report}/redaction`: admins only; a bad reason, a bad id or an unknown report
/// is a precise problem that records nothing; the answer is what was recorded; the text route
/// then answers 410; a repeat answers "already redacted" and records nothing.
#[tokio::test]
async fn admins_redact_a_report_through_the_api() {
    let s = service().await;
    let now = time::OffsetDateTime::now_utc();
    let day = dossier_access::Expiry::After(86_400);
    let (admin, _) = grant(
        &*s.log,
        "admin",
        dossier_access::Role::Admin,
        dossier_model::Marking::Red,
        now,
        day,
    )
    .await;
    let story: serde_json::Value = serde_json::from_slice(&story()[0]).unwrap();
    let report = story["report"]["id"].as_str().unwrap();
    let hash = dossier_model::entity::content_hash(story["report"]["text"].as_str().unwrap());
    let path = format!("/reports/{}/redaction", enc(report));
    let post = |token: &str, path: &str, body: &str, json: bool| {
        let mut req = s.client.post(s.url(path)).bearer_auth(token);
        if json {
            req = req.header("content-type", "application/json");
        }
        req.body(body.to_owned()).send()
    };
    let reason = r#"{"reason":"names a protected source"}"#;
    let head = s.head().await;
    for token in [&s.tokens.red, &s.tokens.producer] {
        let r = post(token, &path, reason, true).await.unwrap();
        let p = problem(r, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(p.detail.contains("admin role"), "{p:?}");
    }
    let blank = post(&admin, &path, r#"{"reason":"  "}"#, true)
        .await
        .unwrap();
    let p = problem(blank, StatusCode::BAD_REQUEST, "bad-body").await;
    assert!(p.detail.contains("reason must not be empty"), "{p:?}");
    let unknown_member = post(&admin, &path, r#"{"reason":"x","why":1}"#, true)
        .await
        .unwrap();
    let p = problem(unknown_member, StatusCode::BAD_REQUEST, "bad-body").await;
    assert_eq!(p.pointer.as_deref(), Some("/why"), "{p:?}");
    let not_json = post(&admin, &path, reason, false).await.unwrap();
    problem(
        not_json,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;
    let unknown = post(
        &admin,
        "/reports/report:nobody%2Fnothing/redaction",
        reason,
        true,
    )
    .await
    .unwrap();
    let p = problem(unknown, StatusCode::NOT_FOUND, "not-found").await;
    assert!(p.detail.contains("report:nobody/nothing"), "{p:?}");
    let not_a_report = post(&admin, "/reports/claim:x%2Fy/redaction", reason, true)
        .await
        .unwrap();
    let p = problem(not_a_report, StatusCode::BAD_REQUEST, "bad-parameter").await;
    assert_eq!(p.parameter.as_deref(), Some("report"), "{p:?}");
    assert_eq!(s.head().await, head, "refused requests record nothing");

    let r = post(&admin, &path, reason, true).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let done: serde_json::Value = r.json().await.unwrap();
    assert_eq!(done["outcome"], "redacted", "{done}");
    assert_eq!(done["report"], report);
    assert_eq!(done["content_hash"], hash);
    assert_eq!(done["reason"], "names a protected source");
    assert_eq!(done["by"], "admin (via http tests)", "{done}");
    assert_eq!(done["seq"].as_u64(), Some(head + 1), "{done}");
    assert_eq!(s.head().await, head + 2, "the redaction and its seal");
    let text = s
        .get(&format!("/texts/{hash}"), &s.tokens.red)
        .send()
        .await
        .unwrap();
    let p = problem(text, StatusCode::GONE, "redacted").await;
    assert!(p.detail.contains("names a protected source"), "{p:?}");

    let again: serde_json::Value = ok(post(&admin, &path, r#"{"reason":"another reason"}"#, true)
        .await
        .unwrap())
    .await;
    assert_eq!(again["outcome"], "already_redacted", "{again}");
    assert_eq!(again["seq"], done["seq"]);
    assert_eq!(again["reason"], "names a protected source");
    assert_eq!(s.head().await, head + 2, "a repeat records nothing");
    s.stop().await;
}
