//! The watches and dead-letters routes on a real service with a real client: authentication,
//! create (the secret once), list (one's own only), remove, bad bodies as precise problems
//! with nothing stored, and the admin's dead letters.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use dossier_http::{CreatedWatch, DeadLetterList, Problem, WatchList};
use dossier_model::Marking;
use reqwest::StatusCode;

async fn problem(r: reqwest::Response, status: StatusCode, kind: &str) -> Problem {
    assert_eq!(r.status(), status, "{:?}", r.headers());
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Problem = r.json().await.unwrap();
    assert_eq!(p.type_uri, format!("urn:dossier:problem:{kind}"), "{p:?}");
    p
}

async fn list(s: &Service, token: &str) -> WatchList {
    let r = s.get("/watches", token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn post(s: &Service, token: &str, body: serde_json::Value) -> reqwest::RequestBuilder {
    s.client
        .post(s.url("/watches"))
        .bearer_auth(token)
        .json(&body)
}

/// Creates a watch: `201` and the watch with its secret.
async fn create(s: &Service, token: &str, body: serde_json::Value) -> CreatedWatch {
    let r = post(s, token, body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_are_created_listed_and_removed_by_their_own_principal_only() {
    let s = service().await;
    let (green, red) = (s.tokens.green.clone(), s.tokens.red.clone());

    // Without credentials, or with revoked ones: 401 on every watches route.
    for r in [
        s.client.get(s.url("/watches")).send().await.unwrap(),
        s.client
            .post(s.url("/watches"))
            .json(&serde_json::json!({"url": "http://127.0.0.1:9/x"}))
            .send()
            .await
            .unwrap(),
        s.client.delete(s.url("/watches/x")).send().await.unwrap(),
        s.get("/watches", &s.tokens.revoked).send().await.unwrap(),
    ] {
        problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }

    let created = create(
        &s,
        &green,
        serde_json::json!({
            "question": CONTAINERS,
            "trigger": {"on": "moved", "threshold": {"kind": "relative", "by": 0.1}},
            "url": "http://127.0.0.1:9/green"
        }),
    )
    .await;
    assert!(created.secret.starts_with("whsec_"), "{}", created.secret);
    let w = &created.watch;
    assert_eq!(w.principal, "green");
    assert_eq!(
        w.clearance,
        Marking::Green,
        "the principal's clearance is stored"
    );
    assert_eq!(w.spec.question.as_deref(), Some(CONTAINERS));
    assert_eq!(
        w.since,
        s.head().await,
        "fires on what comes after its creation"
    );

    let red_watch = create(
        &s,
        &red,
        serde_json::json!({"url": "https://example.invalid/red"}),
    )
    .await;
    assert_eq!(red_watch.watch.clearance, Marking::Red);
    assert_eq!(
        red_watch.watch.spec.trigger,
        dossier_notify::Trigger::Change
    );
    assert_ne!(red_watch.secret, created.secret);

    // Each sees its own only, and never a secret again.
    let mine = list(&s, &green).await;
    assert_eq!(mine.watches, vec![w.clone()]);
    let text = s
        .get("/watches", &green)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !text.contains(&created.secret) && !text.contains("whsec_"),
        "{text}"
    );
    assert_eq!(list(&s, &red).await.watches, vec![red_watch.watch.clone()]);

    // Another principal cannot remove it: answered as an unknown one, and it stays.
    let r = s
        .client
        .delete(s.url(&format!("/watches/{}", w.id)))
        .bearer_auth(&red)
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::NOT_FOUND, "not-found").await;
    assert_eq!(list(&s, &green).await.watches.len(), 1);

    let r = s
        .client
        .delete(s.url(&format!("/watches/{}", w.id)))
        .bearer_auth(&green)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(list(&s, &green).await.watches.is_empty());
    let r = s
        .client
        .delete(s.url(&format!("/watches/{}", w.id)))
        .bearer_auth(&green)
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::NOT_FOUND, "not-found").await;
    assert_eq!(list(&s, &red).await.watches.len(), 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_watch_definitions_are_precise_problems_and_store_nothing() {
    let s = service().await;
    let green = s.tokens.green.clone();
    let cases = [
        (
            serde_json::json!({"url": "http://127.0.0.1:9/x", "colour": "red"}),
            "",
        ),
        (serde_json::json!({"url": "ftp://127.0.0.1/x"}), ""),
        (
            serde_json::json!({"url": "http://127.0.0.1:9/x", "question": "claim:x"}),
            "",
        ),
        (
            serde_json::json!({"url": "http://127.0.0.1:9/x", "trigger": {"on": "moved", "threshold": {"kind": "absolute", "by": -1}}}),
            "",
        ),
        (
            serde_json::json!({"url": "http://127.0.0.1:9/x", "trigger": {"on": "sometimes"}}),
            "/trigger/on",
        ),
        (serde_json::json!({"question": CONTAINERS}), ""),
    ];
    for (body, pointer) in cases {
        let r = post(&s, &green, body.clone()).send().await.unwrap();
        let p = problem(r, StatusCode::BAD_REQUEST, "bad-body").await;
        if !pointer.is_empty() {
            assert_eq!(p.pointer.as_deref(), Some(pointer), "{body}: {p:?}");
        }
    }
    let r = s
        .client
        .post(s.url("/watches"))
        .bearer_auth(&green)
        .header("content-type", "text/plain")
        .body("url=http://x")
        .send()
        .await
        .unwrap();
    problem(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;
    // URLs the webhook policy refuses: a private address by default, then anything off the
    // admin's allow-list.
    let refused = |url: &str, why: &'static str| {
        let body = serde_json::json!({ "url": url });
        let s = &s;
        let green = &green;
        async move {
            let r = post(s, green, body).send().await.unwrap();
            let p = problem(r, StatusCode::BAD_REQUEST, "bad-body").await;
            assert!(
                p.detail.contains("is not allowed") && p.detail.contains(why),
                "{p:?}"
            );
        }
    };
    refused(
        "http://192.168.0.7/hook",
        "192.168.0.7 is a private address",
    )
    .await;
    let store = dossier_notify::Store::open(&s.dir.path().join("notify.db")).unwrap();
    store
        .set_webhook_allow(&["https://hooks.example.org/".into()])
        .unwrap();
    refused("http://127.0.0.1:9/x", "none of the allowed prefixes").await;
    create(
        &s,
        &green,
        serde_json::json!({"url": "https://hooks.example.org/a"}),
    )
    .await;
    assert_eq!(
        list(&s, &green).await.watches.len(),
        1,
        "only the allowed one"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_for_admins() {
    let s = service().await;
    let (admin, _) = grant(
        &*s.log,
        "admin",
        dossier_access::Role::Admin,
        Marking::Red,
        time::OffsetDateTime::now_utc(),
        dossier_access::Expiry::After(3600),
    )
    .await;
    for token in [&s.tokens.green, &s.tokens.red, &s.tokens.producer] {
        let r = s.get("/dead-letters", token).send().await.unwrap();
        problem(r, StatusCode::FORBIDDEN, "forbidden").await;
        let r = s
            .client
            .post(s.url("/dead-letters/1/replay"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let r = s.get("/dead-letters", &admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list: DeadLetterList = r.json().await.unwrap();
    assert!(list.dead_letters.is_empty());
    let replay = |id: &str| {
        s.client
            .post(s.url(&format!("/dead-letters/{id}/replay")))
            .bearer_auth(&admin)
            .send()
    };
    problem(
        replay("7").await.unwrap(),
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let p = problem(
        replay("seven").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad-parameter",
    )
    .await;
    assert_eq!(p.parameter.as_deref(), Some("id"));
    s.stop().await;
}
