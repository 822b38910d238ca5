//! Grants made and revoked through a real SQLite ledger, folded back, and authenticated.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use dossier_access::{
    AccessError, AccessErrorKind, AuthError, CredentialRequest, Expiry, GrantRequest, GrantState,
    Grants, Role, grant, record, revoke, spki_sha256_from_pem,
};
use dossier_chain::Signer;
use dossier_log::{EventLog as _, SqliteLog, conformance, seal_batch};
use dossier_model::{Marking, Timestamp};

struct Ledger {
    log: SqliteLog,
    _dir: tempfile::TempDir,
}

async fn ledger() -> Ledger {
    let dir = tempfile::tempdir().unwrap();
    let log = SqliteLog::open(&dir.path().join("ledger.db")).unwrap();
    conformance::init(&log).await;
    Ledger { log, _dir: dir }
}

/// A new ledger and its id.
async fn ledger_and_id() -> (Ledger, uuid::Uuid) {
    let l = ledger().await;
    let id = dossier_log::ledger::ledger_id(&l.log)
        .await
        .unwrap()
        .unwrap();
    (l, id)
}

fn now() -> Timestamp {
    Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc()).unwrap()
}

fn reader(name: &str, clearance: Marking) -> GrantRequest {
    GrantRequest {
        principal: name.to_owned(),
        role: Role::Reader,
        clearance,
        expiry: Expiry::default(),
        credential: CredentialRequest::Token,
    }
}

async fn folded(log: &SqliteLog) -> Grants {
    let mut g = Grants::new();
    g.catch_up(log).await.unwrap();
    g
}

#[tokio::test]
async fn a_token_grant_authenticates_its_token_only_and_the_ledger_verifies() {
    let l = ledger().await;
    let founder = conformance::founder();
    let made = grant(&l.log, &founder, &reader("alice", Marking::Amber), now())
        .await
        .unwrap();
    let token = made.token.clone().unwrap();
    assert!(token.starts_with(record::TOKEN_PREFIX));
    assert_eq!(token.len(), record::TOKEN_PREFIX.len() + 64);
    assert_eq!(made.info.seq, 3, "genesis and its seal come first");
    // Default expiry: 90 days from now, in whole seconds.
    let expires = made.info.expires.unwrap();
    let days = (expires.unix_nanos() - now().unix_nanos()) / 1_000_000_000 / 86_400;
    assert!((89..=90).contains(&days), "{days}");

    let grants = folded(&l.log).await;
    assert_eq!(grants.seq(), 4);
    let p = grants.authenticate_token(&token, now()).unwrap();
    assert_eq!(p.name, "alice");
    assert_eq!(p.role, Role::Reader);
    assert_eq!(p.clearance, Marking::Amber);
    assert_eq!(p.grant, made.info.grant);
    assert_eq!(
        grants.authenticate_token("dossier_0000", now()),
        Err(AuthError::Unknown)
    );
    // A token is never in the ledger: only its hash.
    let all = l.log.read(1, 100).await.unwrap();
    assert!(
        all.iter()
            .all(|r| !String::from_utf8_lossy(&r.bytes).contains(&token[8..]))
    );
    let stored = String::from_utf8(all[2].bytes.clone()).unwrap();
    assert!(stored.contains(r#""type":"access.granted""#), "{stored}");
    assert!(stored.contains(r#""marking":"TLP:RED""#), "{stored}");
    assert_eq!(grants.list(), vec![made.info]);
    // The verifier accepts access records (they are sealed like any batch).
    assert_eq!(conformance::verify_all(&l.log).await, 4);
}

#[tokio::test]
async fn revocation_is_recorded_once_and_refuses_the_token() {
    let l = ledger().await;
    let founder = conformance::founder();
    let made = grant(&l.log, &founder, &reader("bob", Marking::Green), now())
        .await
        .unwrap();
    let id = made.info.grant.clone();
    let r = revoke(&l.log, &founder, &id, "left the team")
        .await
        .unwrap();
    assert!(!r.already_recorded);
    assert_eq!(r.seq, 5);
    // The same revocation again: nothing appended, the same record named.
    let head = l.log.head().await.unwrap().seq;
    let again = revoke(&l.log, &founder, &id, "left the team")
        .await
        .unwrap();
    assert!(again.already_recorded);
    assert_eq!(again.seq, 5);
    assert_eq!(l.log.head().await.unwrap().seq, head);
    // Another reason is a conflict; an unknown grant is not found; nothing appended.
    let e = revoke(&l.log, &founder, &id, "another reason")
        .await
        .unwrap_err();
    assert!(
        matches!(e, AccessError::AlreadyRevoked { seq: 5, .. }),
        "{e}"
    );
    assert_eq!(e.kind(), AccessErrorKind::Conflict);
    let e = revoke(&l.log, &founder, &"ab".repeat(16), "x")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), AccessErrorKind::NotFound, "{e}");
    let e = revoke(&l.log, &founder, "not-a-grant", "x")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), AccessErrorKind::Invalid, "{e}");
    assert_eq!(l.log.head().await.unwrap().seq, head);

    let grants = folded(&l.log).await;
    assert_eq!(
        grants.authenticate_token(made.token.as_deref().unwrap(), now()),
        Err(AuthError::Revoked)
    );
    let info = grants.get(&id).unwrap();
    assert_eq!(info.state(now()), GrantState::Revoked);
    assert_eq!(info.revoked.as_ref().unwrap().reason, "left the team");
    assert!(grants.rejected().is_empty(), "{:?}", grants.rejected());
    conformance::verify_all(&l.log).await;
}

#[tokio::test]
async fn an_expired_grant_does_not_authenticate() {
    let l = ledger().await;
    let t0 = now();
    let mut req = reader("carol", Marking::Clear);
    req.expiry = "1h".parse().unwrap();
    let made = grant(&l.log, &conformance::founder(), &req, t0)
        .await
        .unwrap();
    let token = made.token.unwrap();
    let grants = folded(&l.log).await;
    let later =
        |secs: i128| Timestamp::from_unix_nanos(t0.unix_nanos() + secs * 1_000_000_000).unwrap();
    assert!(grants.authenticate_token(&token, later(3_500)).is_ok());
    assert_eq!(
        grants.authenticate_token(&token, later(3_601)),
        Err(AuthError::Expired)
    );
    assert_eq!(grants.list()[0].state(later(3_601)), GrantState::Expired);
}

#[tokio::test]
async fn roles_other_than_reader_require_red_and_nothing_is_appended_otherwise() {
    let l = ledger().await;
    let founder = conformance::founder();
    for role in [Role::Producer, Role::Auditor, Role::Admin] {
        let mut req = reader("dave", Marking::Amber);
        req.role = role;
        let e = grant(&l.log, &founder, &req, now()).await.unwrap_err();
        assert_eq!(e.kind(), AccessErrorKind::Invalid);
        assert!(e.to_string().contains("implies clearance TLP:RED"), "{e}");
        req.clearance = Marking::Red;
        grant(&l.log, &founder, &req, now()).await.unwrap();
    }
    let mut req = reader("   ", Marking::Red);
    assert_eq!(
        grant(&l.log, &founder, &req, now())
            .await
            .unwrap_err()
            .kind(),
        AccessErrorKind::Invalid
    );
    req.principal = "erin".into();
    req.expiry = Expiry::At(Timestamp::parse("2001-01-01T00:00:00Z").unwrap());
    let e = grant(&l.log, &founder, &req, now()).await.unwrap_err();
    assert!(e.to_string().contains("not in the future"), "{e}");
    // Three grants of two records each after the genesis batch.
    assert_eq!(l.log.head().await.unwrap().seq, 2 + 3 * 2);
}

#[tokio::test]
async fn a_certificate_grant_authenticates_by_the_public_key_hash() {
    let l = ledger().await;
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["svc".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let spki = spki_sha256_from_pem(cert.pem().as_bytes()).unwrap();
    // Independently: SHA-256 of the key pair's DER SubjectPublicKeyInfo.
    assert_eq!(
        spki,
        record::sha256(&rcgen::PublicKeyData::subject_public_key_info(&key))
    );
    let req = GrantRequest {
        principal: "consumer-service".into(),
        role: Role::Reader,
        clearance: Marking::Green,
        expiry: Expiry::Never,
        credential: CredentialRequest::Certificate { spki_sha256: spki },
    };
    let made = grant(&l.log, &conformance::founder(), &req, now())
        .await
        .unwrap();
    assert!(made.token.is_none());
    assert_eq!(made.info.expires, None);
    let grants = folded(&l.log).await;
    let p = grants.authenticate_cert(&spki, now()).unwrap();
    assert_eq!(p.name, "consumer-service");
    // Not as a token, and no other key.
    assert_eq!(
        grants.authenticate_cert(&[0; 32], now()),
        Err(AuthError::Unknown)
    );
    assert!(spki_sha256_from_pem(b"not pem").is_err());
}

#[tokio::test]
async fn records_sealed_by_an_untrusted_key_or_marked_below_red_are_not_honoured() {
    let (l, ledger_id) = ledger_and_id().await;
    let founder = conformance::founder();
    let (body, token) =
        dossier_access::new_grant(&reader("mallory", Marking::Red), now(), [7; 16], [8; 32])
            .unwrap();
    // Sealed by a key the ledger never registered (appended past the publisher's check).
    let stranger = Signer::generate("stranger");
    let head = l.log.head().await.unwrap();
    let batch = seal_batch(ledger_id, &head, &stranger, [&body.event().unwrap()]).unwrap();
    l.log.append(head.seq, &batch, &[]).await.unwrap();
    // Marked GREEN by a trusted key.
    let (body2, token2) =
        dossier_access::new_grant(&reader("oscar", Marking::Red), now(), [9; 16], [10; 32])
            .unwrap();
    let mut green = body2.event().unwrap();
    green.marking = "TLP:GREEN".into();
    let head = l.log.head().await.unwrap();
    let batch = seal_batch(ledger_id, &head, &founder, [&green]).unwrap();
    l.log.append(head.seq, &batch, &[]).await.unwrap();

    let grants = folded(&l.log).await;
    assert_eq!(
        grants.authenticate_token(&token.unwrap(), now()),
        Err(AuthError::Unknown)
    );
    assert_eq!(
        grants.authenticate_token(&token2.unwrap(), now()),
        Err(AuthError::Unknown)
    );
    let rejected = grants.rejected();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert_eq!(rejected[0].seq, 3);
    assert!(rejected[0].reason.contains("did not trust"), "{rejected:?}");
    assert!(rejected[1].reason.contains("TLP:GREEN"), "{rejected:?}");
    assert!(grants.list().is_empty());
}

/// Once the ledger has key roles, only the founding key or an admin key records access: a grant
/// sealed by a producer key (forged past the CLI) is not honoured.
#[tokio::test]
async fn a_grant_sealed_by_a_producer_key_is_not_honoured() {
    let (l, ledger_id) = ledger_and_id().await;
    let founder = conformance::founder();
    let producer = Signer::generate("producer");
    let registration = dossier_log::PendingEvent {
        event_type: "key.registered".into(),
        schema: 2,
        entity_key: producer.id().to_owned(),
        marking: "TLP:CLEAR".into(),
        body: serde_json::to_vec(&dossier_chain::KeyRegistered {
            key: producer.id().to_owned(),
            public: producer.public_hex(),
            name: "producer".into(),
            role: Some(dossier_chain::Role::Producer),
        })
        .unwrap(),
    };
    let head = l.log.head().await.unwrap();
    let batch = seal_batch(ledger_id, &head, &founder, [&registration]).unwrap();
    l.log.append(head.seq, &batch, &[]).await.unwrap();
    let (body, token) =
        dossier_access::new_grant(&reader("mallory", Marking::Red), now(), [7; 16], [8; 32])
            .unwrap();
    let head = l.log.head().await.unwrap();
    let batch = seal_batch(ledger_id, &head, &producer, [&body.event().unwrap()]).unwrap();
    l.log.append(head.seq, &batch, &[]).await.unwrap();
    let grants = folded(&l.log).await;
    assert_eq!(
        grants.authenticate_token(&token.unwrap(), now()),
        Err(AuthError::Unknown)
    );
    let rejected = grants.rejected();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(
        rejected[0].reason.contains("a producer key"),
        "{rejected:?}"
    );
    // And the verifier reports it at the seal.
    let report = dossier_log::verify_log(
        &l.log,
        dossier_chain::TrustRoot::Pinned(founder.public()),
        |_| {},
    )
    .await
    .unwrap();
    let kinds: Vec<_> = report.failures.iter().map(|f| (f.seq, f.kind)).collect();
    assert_eq!(
        kinds,
        vec![(6, dossier_chain::FailureKind::RoleViolation)],
        "{report:?}"
    );
}

#[tokio::test]
async fn catch_up_reads_only_new_records_and_apply_refuses_a_gap() {
    let l = ledger().await;
    let founder = conformance::founder();
    let mut grants = Grants::new();
    assert_eq!(grants.catch_up(&l.log).await.unwrap(), 2);
    let made = grant(&l.log, &founder, &reader("frank", Marking::Amber), now())
        .await
        .unwrap();
    assert!(
        grants
            .authenticate_token(made.token.as_deref().unwrap(), now())
            .is_err()
    );
    assert_eq!(grants.catch_up(&l.log).await.unwrap(), 2);
    assert!(
        grants
            .authenticate_token(made.token.as_deref().unwrap(), now())
            .is_ok()
    );
    assert_eq!(grants.catch_up(&l.log).await.unwrap(), 0);

    let mut fresh = Grants::new();
    let rec = l.log.read(3, 1).await.unwrap().remove(0);
    let e = fresh.apply(&rec).unwrap_err();
    assert_eq!(e.kind(), AccessErrorKind::Corrupt);
    assert_eq!(fresh.seq(), 0);
}

#[tokio::test]
async fn a_grant_in_a_batch_without_its_seal_yet_has_no_effect() {
    let l = ledger().await;
    let made = grant(
        &l.log,
        &conformance::founder(),
        &reader("gina", Marking::Amber),
        now(),
    )
    .await
    .unwrap();
    let records = l.log.read(1, 100).await.unwrap();
    let mut g = Grants::new();
    for r in &records[..3] {
        g.apply(r).unwrap();
    }
    let token = made.token.unwrap();
    assert_eq!(g.authenticate_token(&token, now()), Err(AuthError::Unknown));
    g.apply(&records[3]).unwrap();
    assert!(g.authenticate_token(&token, now()).is_ok());
}
