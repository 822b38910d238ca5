//! TLS and mutual TLS: a client certificate verified against the configured CA and matched to
//! an access grant by its public key; refused when not granted, after revocation, or when
//! signed by another CA; bearer tokens still accepted over TLS.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use dossier_model::Marking;
use dossier_query::{Answer, Beliefs};
use dossier_testkit::tls::Pki;

fn client(pki: &Pki, identity_of: Option<&Pki>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&pki.ca).unwrap()).unwrap(),
        );
    if let Some(who) = identity_of {
        let mut pem = std::fs::read(&who.client_cert).unwrap();
        pem.extend(std::fs::read(&who.client_key).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

#[tokio::test]
async fn client_certificates_authenticate_by_their_grant() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path()).unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let other = Pki::new(other_dir.path()).unwrap();
    let tls = dossier_http::TlsConfig::new(
        &std::fs::read(&pki.server_cert).unwrap(),
        &std::fs::read(&pki.server_key).unwrap(),
        Some(&std::fs::read(&pki.ca).unwrap()),
    )
    .unwrap();
    let s = service_with(|c| c.tls = Some(tls)).await;
    assert!(s.base.starts_with("https://"));
    let url = s.url("/beliefs");

    // Verified, but not granted yet: the same 401 as any refused credential.
    let with_cert = client(&pki, Some(&pki));
    let r = with_cert.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let cert = std::fs::read(&pki.client_cert).unwrap();
    let grant = grant_cert(&s.log, "service", Marking::Green, &cert).await;
    let a: Answer<Beliefs> = with_cert
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a.clearance, Marking::Green);

    // A bearer token over TLS, without a certificate.
    let plain = client(&pki, None);
    let a: Answer<Beliefs> = plain
        .get(&url)
        .bearer_auth(&s.tokens.red)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a.clearance, Marking::Red);
    assert_eq!(plain.get(&url).send().await.unwrap().status(), 401);

    // A certificate from another CA never completes the handshake.
    let stranger = client(&pki, Some(&other));
    assert!(stranger.get(&url).send().await.is_err());

    // Revoked: refused from the next request on.
    dossier_access::revoke(&*s.log, &founder(), &grant, "tests")
        .await
        .unwrap();
    let fresh = client(&pki, Some(&pki));
    assert_eq!(fresh.get(&url).send().await.unwrap().status(), 401);
    s.stop().await;
}
