//! Decentralized authentication for tests: an operator, accounts and users as NATS JWTs, the
//! server configuration that trusts them, and user `.creds` files.
//!
//! A NATS JWT is `base64url(header).base64url(claims).base64url(signature)` (no padding), the
//! signature being the issuer's Ed25519 nkey signature over the first two parts; the header is
//! `{"typ":"JWT","alg":"ed25519-nkey"}`. The claims follow `nats-io/jwt` v2: `jti`, `iat`, `iss`
//! (the issuer's public nkey), `sub` (the subject's public nkey), `name`, and a `nats` object
//! with `type` (`operator`, `account` or `user`), `version: 2` and the type's fields. An
//! operator signs itself and its accounts; an account signs its users. A `.creds` file holds a
//! user's JWT and its nkey seed between `-----BEGIN NATS USER JWT-----` style markers.
//!
//! The server runs in operator mode with the accounts preloaded into a memory resolver
//! ([`Operator::server_config`]), so nothing but `nats-server` is needed.
//!
//! ```no_run
//! use dossier_testkit::{NatsServer, jwt::Operator};
//! let operator = Operator::new("test")?;
//! let account = operator.account("DOSSIER", true)?;
//! let user = account.user("producer", None)?;
//! let server = NatsServer::builder().config_text(operator.server_config(&[&account])).start()?;
//! std::fs::write("producer.creds", user.creds()?).expect("write");
//! # Ok::<(), dossier_testkit::Error>(())
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha512_256};

use crate::{Error, Result};

const HEADER: &str = r#"{"typ":"JWT","alg":"ed25519-nkey"}"#;

fn key_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("{what}: {e}"))
}

/// Encodes and signs a JWT with `issuer`'s key. `nats` is the claim type's own object;
/// `jti` is a hash of the claims (hex of SHA-512/256, where the Go library uses base32: the
/// server only needs it to be unique).
fn encode(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> Result<String> {
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut claims = json!({
        "iat": iat,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let jti = hex::encode_upper(Sha512_256::digest(claims.to_string().as_bytes()));
    claims["jti"] = Value::String(jti);
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = issuer
        .sign(signed.as_bytes())
        .map_err(|e| key_error("signing a JWT", e))?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// `Debug` that shows the public key only: the seeds are secrets, and a JWT says nothing a
/// test failure needs.
macro_rules! debug_by_public_key {
    ($($t:ident),+) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("public_key", &self.key.public_key())
                    .finish_non_exhaustive()
            }
        }
    )+};
}

debug_by_public_key!(Operator, Account, User);

/// An operator: the root of trust of a server in operator mode, with its system account.
pub struct Operator {
    key: KeyPair,
    jwt: String,
    system: Account,
}

impl Operator {
    /// A new operator key, its system account `SYS`, and the operator JWT naming it.
    ///
    /// # Errors
    /// If signing fails.
    pub fn new(name: &str) -> Result<Operator> {
        let key = KeyPair::new_operator();
        let system = Account::issue(&key, "SYS", false)?;
        let jwt = encode(
            &key,
            &key.public_key(),
            name,
            json!({
                "type": "operator",
                "version": 2,
                "system_account": system.public_key(),
            }),
        )?;
        Ok(Operator { key, jwt, system })
    }

    /// The operator JWT.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    /// The system account.
    pub fn system_account(&self) -> &Account {
        &self.system
    }

    /// A new account signed by this operator, with JetStream enabled (unlimited storage,
    /// streams and consumers) if `jetstream`.
    ///
    /// # Errors
    /// If signing fails.
    pub fn account(&self, name: &str, jetstream: bool) -> Result<Account> {
        Account::issue(&self.key, name, jetstream)
    }

    /// Server configuration text for operator mode: this operator, its system account, and a
    /// memory resolver preloaded with the system account and `accounts`. Add `jetstream`
    /// settings or let the harness pass `-js`.
    pub fn server_config(&self, accounts: &[&Account]) -> String {
        let preload: String = std::iter::once(&self.system)
            .chain(accounts.iter().copied())
            .map(|a| format!("    {}: \"{}\"\n", a.public_key(), a.jwt))
            .collect();
        format!(
            "operator: \"{}\"\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{\n{preload}}}\n",
            self.jwt,
            self.system.public_key()
        )
    }
}

/// An account: signed by an operator, signs its users.
pub struct Account {
    key: KeyPair,
    jwt: String,
}

/// Publish and subscribe permissions of a user, as subject lists (NATS wildcards allowed).
#[derive(Debug, Clone, Default)]
pub struct Permissions {
    /// Subjects the user may publish to (empty: any, unless denied).
    pub publish_allow: Vec<String>,
    /// Subjects the user may not publish to.
    pub publish_deny: Vec<String>,
    /// Subjects the user may subscribe to (empty: any, unless denied).
    pub subscribe_allow: Vec<String>,
    /// Subjects the user may not subscribe to.
    pub subscribe_deny: Vec<String>,
}

impl Account {
    fn issue(operator: &KeyPair, name: &str, jetstream: bool) -> Result<Account> {
        let key = KeyPair::new_account();
        let mut limits = json!({
            "subs": -1, "data": -1, "payload": -1,
            "imports": -1, "exports": -1, "wildcards": true, "conn": -1, "leaf": -1,
        });
        if jetstream {
            for field in ["mem_storage", "disk_storage", "streams", "consumer"] {
                limits[field] = json!(-1);
            }
        }
        let jwt = encode(
            operator,
            &key.public_key(),
            name,
            json!({
                "type": "account",
                "version": 2,
                "limits": limits,
                "default_permissions": {"pub": {}, "sub": {}},
            }),
        )?;
        Ok(Account { key, jwt })
    }

    /// The account's public nkey (`A…`).
    pub fn public_key(&self) -> String {
        self.key.public_key()
    }

    /// The account JWT.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    /// A new user of this account, with `permissions` (none: everything in the account).
    ///
    /// # Errors
    /// If signing fails.
    pub fn user(&self, name: &str, permissions: Option<&Permissions>) -> Result<User> {
        let key = KeyPair::new_user();
        let list = |allow: &[String], deny: &[String]| {
            let mut p = json!({});
            if !allow.is_empty() {
                p["allow"] = json!(allow);
            }
            if !deny.is_empty() {
                p["deny"] = json!(deny);
            }
            p
        };
        let mut nats = json!({
            "type": "user", "version": 2,
            "subs": -1, "data": -1, "payload": -1,
            "pub": {}, "sub": {},
        });
        if let Some(p) = permissions {
            nats["pub"] = list(&p.publish_allow, &p.publish_deny);
            nats["sub"] = list(&p.subscribe_allow, &p.subscribe_deny);
        }
        let jwt = encode(&self.key, &key.public_key(), name, nats)?;
        Ok(User { key, jwt })
    }
}

/// A user: a JWT signed by its account, and the nkey it proves itself with.
pub struct User {
    key: KeyPair,
    jwt: String,
}

impl User {
    /// The user JWT.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    /// The user's `.creds` file: the JWT and the nkey seed, in the layout `nsc` writes.
    ///
    /// # Errors
    /// If the seed cannot be encoded.
    pub fn creds(&self) -> Result<String> {
        let seed = self
            .key
            .seed()
            .map_err(|e| key_error("encoding a user seed", e))?;
        Ok(format!(
            "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n",
            self.jwt
        ))
    }
}
