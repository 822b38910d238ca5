//! The checked-in OpenAPI document is the one the code generates.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

/// Regenerate with: `DOSSIER_WRITE_OPENAPI=1 cargo test -p dossier-http --test openapi`.
#[test]
fn checked_in_document_matches_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = dossier_http::openapi_json();
    if std::env::var_os("DOSSIER_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi.json differs from the document the code generates; regenerate it with \
         `DOSSIER_WRITE_OPENAPI=1 cargo test -p dossier-http --test openapi` and review the diff"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}
