//! The JSON Schema of the bundle format, for editors and for `docs/bundle.schema.json`.

use crate::bundle::Bundle;

/// The JSON Schema (draft 2020-12) of a bundle file, pretty-printed with a trailing newline.
///
/// The committed copy lives in `docs/bundle.schema.json`; a test keeps the two identical.
#[must_use]
pub fn bundle_json_schema() -> String {
    let schema = schemars::schema_for!(Bundle);
    format!("{:#}\n", schema.as_value())
}
