//! Entity identifiers.
//!
//! Every source, report, question, claim, assessment, reliability assessment and interest
//! designation carries a stable,
//! human-readable id chosen by the analyst, of the form `<kind>:<name>`, for example
//! `claim:rok-mnd/containers-2024-03` or `source:shin-won-sik`. Later bundles cite entities by
//! these ids, and event ids are derived from them, never from a file's formatting.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The longest allowed name part of an [`EntityId`], in characters.
pub const MAX_ID_NAME_CHARS: usize = 200;

/// The regular expression (JSON Schema dialect) that every [`EntityId`] matches.
pub const ENTITY_ID_PATTERN: &str =
    "^(source|report|question|claim|assessment|reliability|interest):[A-Za-z0-9._/-]{1,200}$";

/// The kind of entity an [`EntityId`] names; it is the part of the id before the colon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    /// A source: a person, organisation, government or outlet that speaks (`source:`).
    Source,
    /// An ingested report (`report:`).
    Report,
    /// A question analysts want answered (`question:`).
    Question,
    /// One statement in one report (`claim:`).
    Claim,
    /// An analyst's own judgment on a question (`assessment:`).
    Assessment,
    /// An Admiralty reliability assessment of a source (`reliability:`).
    Reliability,
    /// A designation of a source as an interested party to a question (`interest:`).
    Interest,
}

impl EntityKind {
    /// All kinds, in the order used for documentation and error messages.
    pub const ALL: [EntityKind; 7] = [
        EntityKind::Source,
        EntityKind::Report,
        EntityKind::Question,
        EntityKind::Claim,
        EntityKind::Assessment,
        EntityKind::Reliability,
        EntityKind::Interest,
    ];

    /// The id prefix of this kind, without the colon (`"claim"`, `"source"`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EntityKind::Source => "source",
            EntityKind::Report => "report",
            EntityKind::Question => "question",
            EntityKind::Claim => "claim",
            EntityKind::Assessment => "assessment",
            EntityKind::Reliability => "reliability",
            EntityKind::Interest => "interest",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntityKind {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| IdError::UnknownKind(s.to_owned()))
    }
}

/// Why a string is not a valid [`EntityId`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id has no `:` separating kind and name.
    #[error("id `{0}` must have the form `<kind>:<name>`, e.g. `claim:rok-mnd/containers-2024-03`")]
    MissingColon(String),
    /// The part before the colon is not a known kind.
    #[error(
        "unknown id kind `{0}`: expected one of source, report, question, claim, assessment, reliability, interest"
    )]
    UnknownKind(String),
    /// The name part is empty.
    #[error("id `{0}` has an empty name after the colon")]
    EmptyName(String),
    /// The name part is longer than [`MAX_ID_NAME_CHARS`].
    #[error("id name is {len} characters long; at most {MAX_ID_NAME_CHARS} are allowed")]
    NameTooLong {
        /// Length of the name part, in characters.
        len: usize,
    },
    /// The name part contains a character outside `[A-Za-z0-9._/-]`.
    #[error(
        "id `{id}` contains {ch:?}; names may only use letters A-Z a-z, digits and `.` `_` `/` `-`"
    )]
    InvalidChar {
        /// The offending id.
        id: String,
        /// The first character that is not allowed.
        ch: char,
    },
}

/// A validated entity id of the form `<kind>:<name>`.
///
/// `kind` is one of `source`, `report`, `question`, `claim`, `assessment`, `reliability`,
/// `interest`, and
/// `name` is 1 to 200 characters of `[A-Za-z0-9._/-]` (no colon, no spaces). The id serializes as
/// the plain string; deserialization validates it, so a bad id is a parse error with its path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntityId(String);

impl EntityId {
    /// Parses and validates an id such as `claim:rok-mnd/containers-2024-03`.
    ///
    /// # Errors
    /// Returns an [`IdError`] describing the first problem found.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        Self::try_from(s.to_owned())
    }

    /// Builds an id from a kind and a name, validating the name.
    ///
    /// # Errors
    /// Returns an [`IdError`] if the name is empty, too long or has a forbidden character.
    pub fn new(kind: EntityKind, name: &str) -> Result<Self, IdError> {
        Self::try_from(format!("{kind}:{name}"))
    }

    /// The kind of entity this id names.
    #[must_use]
    pub fn kind(&self) -> EntityKind {
        // Invariant: the prefix was validated at construction.
        let prefix = self.0.split_once(':').map_or("", |(kind, _)| kind);
        EntityKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == prefix)
            .unwrap_or(EntityKind::Source)
    }

    /// The name part, after the colon.
    #[must_use]
    pub fn name(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, name)| name)
    }

    /// The whole id as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the id, returning the underlying string.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl TryFrom<String> for EntityId {
    type Error = IdError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        let Some((kind, name)) = s.split_once(':') else {
            return Err(IdError::MissingColon(s));
        };
        kind.parse::<EntityKind>()?;
        if name.is_empty() {
            return Err(IdError::EmptyName(s));
        }
        if let Some(ch) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')))
        {
            return Err(IdError::InvalidChar { id: s, ch });
        }
        // All remaining characters are ASCII, so bytes == chars.
        if name.len() > MAX_ID_NAME_CHARS {
            return Err(IdError::NameTooLong { len: name.len() });
        }
        Ok(EntityId(s))
    }
}

impl FromStr for EntityId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<EntityId> for String {
    fn from(id: EntityId) -> Self {
        id.0
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EntityId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for EntityId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl JsonSchema for EntityId {
    fn schema_name() -> Cow<'static, str> {
        "EntityId".into()
    }

    fn schema_id() -> Cow<'static, str> {
        concat!(module_path!(), "::EntityId").into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": ENTITY_ID_PATTERN,
            "description": "An entity id `<kind>:<name>`: kind is source, report, question, claim, assessment, reliability or interest; name is 1-200 characters of A-Z a-z 0-9 . _ / -",
            "examples": ["claim:rok-mnd/containers-2024-03", "source:shin-won-sik"]
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_ids() {
        let id = EntityId::parse("claim:rok-mnd/containers-2024-03").unwrap();
        assert_eq!(id.kind(), EntityKind::Claim);
        assert_eq!(id.name(), "rok-mnd/containers-2024-03");
        assert_eq!(id.to_string(), "claim:rok-mnd/containers-2024-03");
        for kind in EntityKind::ALL {
            let id = EntityId::new(kind, "a.b_c/d-e9").unwrap();
            assert_eq!(id.kind(), kind);
        }
        let longest = format!("source:{}", "x".repeat(200));
        assert!(EntityId::parse(&longest).is_ok());
    }

    #[test]
    fn rejects_invalid_ids() {
        assert!(matches!(
            EntityId::parse("claim"),
            Err(IdError::MissingColon(_))
        ));
        assert!(
            matches!(EntityId::parse("person:x"), Err(IdError::UnknownKind(k)) if k == "person")
        );
        assert!(matches!(
            EntityId::parse("claim:"),
            Err(IdError::EmptyName(_))
        ));
        assert!(matches!(
            EntityId::parse("claim:a b"),
            Err(IdError::InvalidChar { ch: ' ', .. })
        ));
        assert!(matches!(
            EntityId::parse("claim:a:b"),
            Err(IdError::InvalidChar { ch: ':', .. })
        ));
        assert!(matches!(
            EntityId::parse("source:신원식"),
            Err(IdError::InvalidChar { ch: '신', .. })
        ));
        let too_long = format!("source:{}", "x".repeat(201));
        assert!(matches!(
            EntityId::parse(&too_long),
            Err(IdError::NameTooLong { len: 201 })
        ));
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let id: EntityId = serde_json::from_str("\"source:shin-won-sik\"").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"source:shin-won-sik\""
        );
        let err = serde_json::from_str::<EntityId>("\"source:shin won sik\"").unwrap_err();
        assert!(err.to_string().contains("names may only use"), "{err}");
    }
}
