//! Keeps `docs/bundle.schema.json` identical to the schema generated from the types.
//!
//! Run `DOSSIER_BLESS=1 cargo test -p dossier-model --test schema` to rewrite the file after an
//! intended change to the bundle format.

use std::path::PathBuf;

#[test]
fn committed_schema_matches_generated() {
    let generated = dossier_model::bundle_json_schema();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/bundle.schema.json");
    dossier_testkit::golden::compare_or_bless(
        &path,
        generated.as_bytes(),
        "The bundle schema",
        "cargo test -p dossier-model --test schema",
    );
}

#[test]
fn schema_is_valid_json_with_custom_formats() {
    let schema: serde_json::Value =
        serde_json::from_str(&dossier_model::bundle_json_schema()).expect("schema is JSON");
    let defs = &schema["$defs"];
    assert_eq!(defs["EntityId"]["type"], "string");
    assert!(defs["EntityId"]["pattern"].is_string());
    assert_eq!(defs["Timestamp"]["format"], "date-time");
    assert!(defs["TimePoint"]["pattern"].is_string());
    assert_eq!(defs["Credibility"]["minimum"], 1);
    assert_eq!(defs["Credibility"]["maximum"], 6);
    assert_eq!(schema["additionalProperties"], false);
    assert!(schema["properties"]["$schema"].is_object());
    let interests = &schema["properties"]["interests"];
    assert_eq!(interests["type"], "array");
    let required = defs["InterestDesignation"]["required"]
        .as_array()
        .expect("required list");
    for field in ["id", "source", "question", "rationale"] {
        assert!(required.iter().any(|f| f == field), "{field} is required");
    }
    assert_eq!(defs["InterestDesignation"]["additionalProperties"], false);
}
