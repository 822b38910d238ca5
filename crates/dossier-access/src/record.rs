//! The `access.granted` and `access.revoked` records: their bodies, their entity keys and
//! event ids, and the checks every writer and reader applies to them (`docs/FORMAT.md` §5.4).

use std::fmt;
use std::str::FromStr;

use dossier_chain::{EventId, event_id};
use dossier_log::PendingEvent;
use dossier_model::{Marking, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::AccessError;

/// Event type of a grant.
pub const GRANTED: &str = "access.granted";
/// Event type of a revocation.
pub const REVOKED: &str = "access.revoked";
/// Body schema version of both types.
pub const SCHEMA: u32 = 1;
/// The marking of every access record: grants name principals and credentials.
pub const MARKING: Marking = Marking::Red;
/// Prefix of a grant's entity key: `grant:<grant id>`.
pub const ENTITY_PREFIX: &str = "grant:";
/// Prefix of every bearer token this crate issues.
pub const TOKEN_PREFIX: &str = "dossier_";
/// Longest principal name, in characters.
pub const MAX_PRINCIPAL_CHARS: usize = 200;
/// Longest revocation reason, in characters.
pub const MAX_REASON_CHARS: usize = 1_000;

/// What a principal may do. `producer`, `auditor` and `admin` see everything (their clearance
/// is always `TLP:RED`); a `reader` sees what its clearance allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads beliefs, history, records and proofs up to its clearance.
    Reader,
    /// Publishes bundles (validation and conflicts reveal whether ids exist, hence `TLP:RED`).
    Producer,
    /// Reads everything, including the verification status and the auditor's alarms.
    Auditor,
    /// Manages grants and reads the access log.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Reader, Role::Producer, Role::Auditor, Role::Admin];

    /// The name as written in a body, e.g. `"reader"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Producer => "producer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// Whether the role requires clearance `TLP:RED`.
    #[must_use]
    pub const fn requires_red(self) -> bool {
        !matches!(self, Role::Reader)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AccessError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                AccessError::Invalid(format!(
                    "unknown role {s:?}: expected reader, producer, auditor or admin"
                ))
            })
    }
}

/// How a grant's holder proves who they are: the SHA-256 of a bearer token, or of a client
/// certificate's SubjectPublicKeyInfo (mutual TLS). Written as one member, e.g.
/// `{"token_sha256":"<64 hex>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Credential {
    /// SHA-256 of the bearer token's UTF-8 bytes, 64 lowercase hex digits.
    TokenSha256(String),
    /// SHA-256 of the DER SubjectPublicKeyInfo of the client certificate, 64 lowercase hex.
    CertSpkiSha256(String),
}

impl Credential {
    /// `"token"` or `"certificate"`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::TokenSha256(_) => "token",
            Credential::CertSpkiSha256(_) => "certificate",
        }
    }

    /// The hash, as hex.
    #[must_use]
    pub fn hash_hex(&self) -> &str {
        match self {
            Credential::TokenSha256(h) | Credential::CertSpkiSha256(h) => h,
        }
    }

    /// The hash as bytes, if it is 64 lowercase hex digits.
    #[must_use]
    pub fn hash(&self) -> Option<[u8; 32]> {
        let text = self.hash_hex();
        if !is_lower_hex(text, 64) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(out)
    }
}

/// Body of an `access.granted` record. Members in this order, exactly these; `expires` is
/// `null` for a grant that never expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// The grant id: 16 random bytes, 32 lowercase hex digits.
    pub grant: String,
    /// Who holds it (a display name; several grants may name one principal).
    pub principal: String,
    /// What it allows.
    pub role: Role,
    /// The most restrictive marking its holder may see.
    pub clearance: Marking,
    /// When it stops authenticating (exclusive), or `null`.
    pub expires: Option<Timestamp>,
    /// The credential's hash.
    pub credential: Credential,
}

/// Body of an `access.revoked` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// The grant id revoked.
    pub grant: String,
    /// Why (free text).
    pub reason: String,
}

/// The entity key of a grant and of its revocation: `grant:<grant id>`.
#[must_use]
pub fn entity_key(grant: &str) -> String {
    format!("{ENTITY_PREFIX}{grant}")
}

/// The event id of a grant: `event_id("access.granted", "grant:<id>")`.
#[must_use]
pub fn grant_event_id(grant: &str) -> EventId {
    event_id(GRANTED, &entity_key(grant))
}

/// The event id of a grant's revocation: `event_id("access.revoked", "grant:<id>")`. A grant
/// has at most one: revoking it again with the same reason is recorded once.
#[must_use]
pub fn revoke_event_id(grant: &str) -> EventId {
    event_id(REVOKED, &entity_key(grant))
}

pub(crate) fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks a grant id: 32 lowercase hex digits.
///
/// # Errors
/// [`AccessError::Invalid`] otherwise.
pub fn check_grant_id(grant: &str) -> Result<(), AccessError> {
    if is_lower_hex(grant, 32) {
        Ok(())
    } else {
        Err(AccessError::Invalid(format!(
            "grant id {grant:?} is not 32 lowercase hex digits"
        )))
    }
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), AccessError> {
    if text.trim().is_empty() {
        return Err(AccessError::Invalid(format!(
            "the {what} must not be empty or blank"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(AccessError::Invalid(format!(
            "the {what} must not contain control characters"
        )));
    }
    let len = text.chars().count();
    if len > max {
        return Err(AccessError::Invalid(format!(
            "the {what} is {len} characters long; at most {max} are allowed"
        )));
    }
    Ok(())
}

impl GrantBody {
    /// Checks the rules every grant obeys: a well-formed id, a principal name, a clearance of
    /// `TLP:RED` for every role but `reader`, and a credential hash of 64 lowercase hex digits.
    ///
    /// # Errors
    /// [`AccessError::Invalid`] naming the rule broken.
    pub fn check(&self) -> Result<(), AccessError> {
        check_grant_id(&self.grant)?;
        check_text("principal name", &self.principal, MAX_PRINCIPAL_CHARS)?;
        if self.role.requires_red() && self.clearance != Marking::Red {
            return Err(AccessError::Invalid(format!(
                "the {} role implies clearance TLP:RED, not {}",
                self.role, self.clearance
            )));
        }
        if self.credential.hash().is_none() {
            return Err(AccessError::Invalid(format!(
                "the credential hash {:?} is not 64 lowercase hex digits",
                self.credential.hash_hex()
            )));
        }
        Ok(())
    }

    /// The body's bytes: compact JSON, members in declaration order (deterministic).
    ///
    /// # Errors
    /// Never in practice (every member serializes); a failure is [`AccessError::Invalid`].
    pub fn encode(&self) -> Result<Vec<u8>, AccessError> {
        serde_json::to_vec(self).map_err(|e| AccessError::Invalid(format!("encoding: {e}")))
    }

    /// The event to publish, after [`GrantBody::check`].
    ///
    /// # Errors
    /// As [`GrantBody::check`].
    pub fn event(&self) -> Result<PendingEvent, AccessError> {
        self.check()?;
        Ok(PendingEvent {
            event_type: GRANTED.to_owned(),
            schema: SCHEMA,
            entity_key: entity_key(&self.grant),
            marking: MARKING.as_str().to_owned(),
            body: self.encode()?,
        })
    }
}

impl RevokeBody {
    /// Checks the grant id and the reason (not blank, no control characters, at most
    /// [`MAX_REASON_CHARS`]).
    ///
    /// # Errors
    /// [`AccessError::Invalid`].
    pub fn check(&self) -> Result<(), AccessError> {
        check_grant_id(&self.grant)?;
        check_text("reason", &self.reason, MAX_REASON_CHARS)
    }

    /// The event to publish, after [`RevokeBody::check`].
    ///
    /// # Errors
    /// As [`RevokeBody::check`].
    pub fn event(&self) -> Result<PendingEvent, AccessError> {
        self.check()?;
        Ok(PendingEvent {
            event_type: REVOKED.to_owned(),
            schema: SCHEMA,
            entity_key: entity_key(&self.grant),
            marking: MARKING.as_str().to_owned(),
            body: serde_json::to_vec(self)
                .map_err(|e| AccessError::Invalid(format!("encoding: {e}")))?,
        })
    }
}

/// SHA-256 of some bytes.
#[must_use]
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The hash a grant keeps of a bearer token: SHA-256 of its UTF-8 bytes.
#[must_use]
pub fn token_sha256(token: &str) -> [u8; 32] {
    sha256(token.as_bytes())
}

/// Builds a bearer token from 32 random bytes: [`TOKEN_PREFIX`] and 64 lowercase hex digits
/// (256 bits of entropy).
#[must_use]
pub fn token_from_bytes(random: &[u8; 32]) -> String {
    format!("{TOKEN_PREFIX}{}", hex::encode(random))
}

/// SHA-256 of a DER certificate's SubjectPublicKeyInfo (the `cert_spki_sha256` of a grant).
///
/// # Errors
/// [`AccessError::Certificate`] if the bytes are not one X.509 certificate.
pub fn spki_sha256_from_der(der: &[u8]) -> Result<[u8; 32], AccessError> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| AccessError::Certificate(format!("not an X.509 certificate: {e}")))?;
    if !rest.is_empty() {
        return Err(AccessError::Certificate(format!(
            "{} bytes follow the certificate",
            rest.len()
        )));
    }
    Ok(sha256(cert.tbs_certificate.subject_pki.raw))
}

/// SHA-256 of the SubjectPublicKeyInfo of the first certificate in a PEM file.
///
/// # Errors
/// [`AccessError::Certificate`] if the text holds no PEM `CERTIFICATE` block that parses.
pub fn spki_sha256_from_pem(pem: &[u8]) -> Result<[u8; 32], AccessError> {
    for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| AccessError::Certificate(format!("not a PEM file: {e}")))?;
        if block.label == "CERTIFICATE" {
            return spki_sha256_from_der(&block.contents);
        }
    }
    Err(AccessError::Certificate(
        "no PEM CERTIFICATE block found".to_owned(),
    ))
}

/// When a new grant expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// This many seconds after the grant is made.
    After(u64),
    /// At this instant.
    At(Timestamp),
    /// Never (`expires` is `null`).
    Never,
}

/// Ninety days, the default lifetime of a grant.
pub const DEFAULT_EXPIRY: Expiry = Expiry::After(90 * 86_400);

const NANOS: i128 = 1_000_000_000;

/// The longest relative expiry accepted: 100 years.
const MAX_AFTER_SECS: u64 = 36_500 * 86_400;

impl Default for Expiry {
    fn default() -> Self {
        DEFAULT_EXPIRY
    }
}

impl FromStr for Expiry {
    type Err = AccessError;

    /// `never`; a number followed by `d` (days), `h` (hours) or `m` (minutes), e.g. `90d`;
    /// or an RFC 3339 instant.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "never" {
            return Ok(Expiry::Never);
        }
        let unit = match s.as_bytes().last() {
            Some(b'd') => Some(86_400),
            Some(b'h') => Some(3_600),
            Some(b'm') => Some(60),
            _ => None,
        };
        if let Some(unit) = unit
            && let Ok(n) = s[..s.len() - 1].parse::<u64>()
        {
            return match n.checked_mul(unit) {
                Some(secs) if secs > 0 && secs <= MAX_AFTER_SECS => Ok(Expiry::After(secs)),
                _ => Err(AccessError::Invalid(format!(
                    "expiry {s:?} must be more than 0 and at most 36500d"
                ))),
            };
        }
        Timestamp::parse(s).map(Expiry::At).map_err(|_| {
            AccessError::Invalid(format!(
                "expiry {s:?} is not `never`, a duration such as 90d, 12h or 30m, nor an RFC 3339 instant"
            ))
        })
    }
}

impl Expiry {
    /// The `expires` value of a grant made at `now`.
    ///
    /// # Errors
    /// [`AccessError::Invalid`] if the instant is not after `now` or out of range.
    pub fn resolve(self, now: Timestamp) -> Result<Option<Timestamp>, AccessError> {
        let at = match self {
            Expiry::Never => return Ok(None),
            Expiry::At(t) => t,
            // Whole seconds: `now` truncated, so the body does not carry the clock's nanoseconds.
            Expiry::After(secs) => Timestamp::from_unix_nanos(
                (now.unix_nanos().div_euclid(NANOS) + i128::from(secs)) * NANOS,
            )
            .map_err(|e| AccessError::Invalid(format!("expiry: {e}")))?,
        };
        if at <= now {
            return Err(AccessError::Invalid(format!(
                "expiry {at} is not in the future (now is {now})"
            )));
        }
        Ok(Some(at))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn expiry_forms() {
        assert_eq!("90d".parse::<Expiry>().unwrap(), Expiry::After(90 * 86_400));
        assert_eq!("12h".parse::<Expiry>().unwrap(), Expiry::After(12 * 3_600));
        assert_eq!("30m".parse::<Expiry>().unwrap(), Expiry::After(1_800));
        assert_eq!("never".parse::<Expiry>().unwrap(), Expiry::Never);
        assert!(matches!(
            "2030-01-01T00:00:00Z".parse::<Expiry>().unwrap(),
            Expiry::At(_)
        ));
        for bad in [
            "0d",
            "36501d",
            "90",
            "d",
            "-1d",
            "soon",
            "99999999999999999999d",
        ] {
            assert!(bad.parse::<Expiry>().is_err(), "{bad}");
        }
        let now = Timestamp::parse("2026-01-01T00:00:00.75Z").unwrap();
        assert_eq!(
            Expiry::After(3_600).resolve(now).unwrap(),
            Some(Timestamp::parse("2026-01-01T01:00:00Z").unwrap())
        );
        assert!(Expiry::At(now).resolve(now).is_err());
    }

    #[test]
    fn roles_parse_and_imply_red() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(r.requires_red(), r != Role::Reader);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn body_rules() {
        let ok = GrantBody {
            grant: "0".repeat(32),
            principal: "alice".into(),
            role: Role::Reader,
            clearance: Marking::Green,
            expires: None,
            credential: Credential::TokenSha256("a".repeat(64)),
        };
        ok.check().unwrap();
        let bad = [
            GrantBody {
                grant: "0".repeat(31),
                ..ok.clone()
            },
            GrantBody {
                grant: "A".repeat(32),
                ..ok.clone()
            },
            GrantBody {
                principal: "a\nb".into(),
                ..ok.clone()
            },
            GrantBody {
                principal: "x".repeat(MAX_PRINCIPAL_CHARS + 1),
                ..ok.clone()
            },
            GrantBody {
                role: Role::Admin,
                ..ok.clone()
            },
            GrantBody {
                credential: Credential::CertSpkiSha256("A".repeat(64)),
                ..ok.clone()
            },
        ];
        for b in bad {
            assert!(b.check().is_err(), "{b:?}");
        }
        let revoke = RevokeBody {
            grant: "0".repeat(32),
            reason: " ".into(),
        };
        assert!(revoke.check().is_err());
    }
}
