//! TLS, and mutual TLS for services: the server's certificate, and optionally a CA whose client
//! certificates are verified. A verified client certificate is matched to an access grant by
//! the SHA-256 of its SubjectPublicKeyInfo ([`ClientCert`], then
//! [`Authenticator::authenticate_cert`](crate::Authenticator::authenticate_cert)); clients
//! without a certificate may still present a bearer token.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The SHA-256 of the SubjectPublicKeyInfo of the client certificate the connection presented
/// and the configured CA verified, if any (a request extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientCert(pub Option<[u8; 32]>);

/// The service's TLS settings.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    server: Arc<rustls::ServerConfig>,
}

/// Why the TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file holds no certificate or key, or a malformed one.
    #[error("{what}: {reason}")]
    Pem {
        /// Which input.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the settings.
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client CA cannot verify certificates.
    #[error("client CA: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn certs(what: &'static str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            reason: "no certificate".into(),
        });
    }
    Ok(certs)
}

impl TlsConfig {
    /// TLS with the server's certificate chain and key (PEM); with `client_ca` (PEM), client
    /// certificates signed by that CA are verified and identify their holder (mutual TLS);
    /// a client presenting none is still served, and must then present a bearer token.
    ///
    /// # Errors
    /// Malformed PEM, a key that does not fit the certificate, a CA rustls cannot use.
    pub fn new(
        cert_chain: &[u8],
        key: &[u8],
        client_ca: Option<&[u8]>,
    ) -> Result<TlsConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certs("server certificate", cert_chain)?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| TlsError::Pem {
            what: "server key",
            reason: e.to_string(),
        })?;
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?;
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in certs("client CA", ca)? {
                    roots.add(c)?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .allow_unauthenticated()
                        .build()?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut server = builder.with_single_cert(chain, key)?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig {
            server: Arc::new(server),
        })
    }
}

/// How long a TLS handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// How long requests in flight may take to finish after shutdown.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `router` over TLS on `listener` until `shutdown` resolves, then lets the connections
/// finish (up to a bound).
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    tls: TlsConfig,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(%peer, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => return,
            };
            let cert = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| dossier_access::spki_sha256_from_der(c).ok());
            let service = tower::ServiceExt::map_request(
                router,
                move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ClientCert(cert));
                    req
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
}
