//! A field kept as its JSON text inside a binary encoding of the engine (an engine snapshot,
//! see [`Engine`](crate::Engine)'s `Serialize`): the model's entities and the views use
//! internally tagged enums and omit empty fields, which only a self-describing format reads
//! back. Their JSON is their canonical form, so the round trip is exact.

use serde::de::{DeserializeOwned, Error as _};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) fn serialize<T: Serialize, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    let text = serde_json::to_string(value).map_err(S::Error::custom)?;
    s.serialize_str(&text)
}

pub(crate) fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
    d: D,
) -> Result<T, D::Error> {
    let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
    serde_json::from_str(&text).map_err(D::Error::custom)
}
