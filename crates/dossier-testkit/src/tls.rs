//! A private certificate authority for TLS tests: a CA, a server certificate for
//! `127.0.0.1`/`localhost`, and a client certificate, written as PEM files into a directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

use crate::{Error, Result};

/// PEM files of a private PKI: [`Pki::new`] writes `ca.pem`, `server.pem`, `server-key.pem`,
/// `client.pem` and `client-key.pem`.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA certificate clients and servers trust.
    pub ca: PathBuf,
    /// The server certificate (for `127.0.0.1` and `localhost`), signed by the CA.
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
    /// A client certificate (common name `dossier-client`), signed by the CA.
    pub client_cert: PathBuf,
    /// The client's private key.
    pub client_key: PathBuf,
}

fn tls_error(what: &str, e: rcgen::Error) -> Error {
    Error::Config(format!("{what}: {e}"))
}

impl Pki {
    /// Creates a CA, a server and a client certificate, and writes them into `dir`.
    ///
    /// # Errors
    /// If generating or writing them fails.
    pub fn new(dir: &Path) -> Result<Pki> {
        let ca_key = KeyPair::generate().map_err(|e| tls_error("CA key", e))?;
        let mut ca_params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| tls_error("CA", e))?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "dossier test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params
            .self_signed(&ca_key)
            .map_err(|e| tls_error("CA certificate", e))?;
        let issuer = Issuer::from_params(&ca_params, &ca_key);

        let server_key = KeyPair::generate().map_err(|e| tls_error("server key", e))?;
        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .map_err(|e| tls_error("server certificate", e))?;
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = server_params
            .signed_by(&server_key, &issuer)
            .map_err(|e| tls_error("server certificate", e))?;

        let client_key = KeyPair::generate().map_err(|e| tls_error("client key", e))?;
        let mut client_params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| tls_error("client certificate", e))?;
        client_params
            .distinguished_name
            .push(DnType::CommonName, "dossier-client");
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = client_params
            .signed_by(&client_key, &issuer)
            .map_err(|e| tls_error("client certificate", e))?;

        let write = |name: &str, text: String| -> Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
            Ok(path)
        };
        Ok(Pki {
            ca: write("ca.pem", ca.pem())?,
            server_cert: write("server.pem", server.pem())?,
            server_key: write("server-key.pem", server_key.serialize_pem())?,
            client_cert: write("client.pem", client.pem())?,
            client_key: write("client-key.pem", client_key.serialize_pem())?,
        })
    }

    /// A server `tls` block with these files; `verify` requires every client to present a
    /// certificate signed by the CA (mutual TLS).
    pub fn server_config(&self, verify: bool) -> String {
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: {verify}\n  timeout: 5\n}}\n",
            self.server_cert.display(),
            self.server_key.display(),
            self.ca.display()
        )
    }
}
