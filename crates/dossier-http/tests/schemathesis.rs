//! The OpenAPI document checked by tools that share no code with it: `openapi-spec-validator`
//! validates it, and `schemathesis` generates requests from it against the live service and
//! checks every answer (no 5xx, each body conforming to its documented schema and media type).
//!
//! The tools live in the project's `.venv` (`scripts/install-py-tools.sh`, run by
//! `scripts/test.sh`); `DOSSIER_PY_TOOLS` may name another directory holding them. Without
//! them this test fails, saying how to install them.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn tools() -> PathBuf {
    py_tools(&["st", "openapi-spec-validator"])
}

#[test]
fn the_checked_in_document_is_valid_openapi() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    run_tool(
        Command::new(tools().join("openapi-spec-validator")).arg(&doc),
        "openapi-spec-validator (docs/openapi.json)",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_find_no_server_error_and_no_answer_off_its_schema() {
    let st = tools().join("st");
    let s = service().await;
    // The views are brought up once, so that answers are about the ledger, not its lag.
    let warm = s.get("/status", &s.tokens.green).send().await.unwrap();
    assert_eq!(warm.status(), 200);
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[parameters]\n\"path.ledger\" = \"{}\"\n\"path.id\" = \"{}\"\n",
            s.ledger,
            CONTAINERS.replace('/', "%2F")
        ),
    )
    .unwrap();
    // Every route as a GREEN reader (live streams never end; they have tests of their own),
    // then the publish route as a producer.
    let runs = [
        (s.tokens.green.clone(), ["--exclude-path-regex", "/events/"]),
        (
            s.tokens.producer.clone(),
            ["--include-path-regex", "/bundles$"],
        ),
    ];
    for (token, select) in runs {
        let st = st.clone();
        let config = config.clone();
        let dir = work.path().to_owned();
        let base = s.base.clone();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(st)
                .current_dir(dir)
                .arg("--config-file")
                .arg(&config)
                .arg("--no-color")
                .args(["run", &format!("{base}/openapi.json"), "--url", &base])
                .args(["--header", &format!("Authorization: Bearer {token}")])
                .args([
                    "--checks",
                    "not_a_server_error,response_schema_conformance,content_type_conformance",
                ])
                .args(select)
                .args([
                    "--max-examples",
                    "15",
                    // One worker: with two, hypothesis parses lambda sources on two
                    // threads at once, and CPython 3.11's parser can fail with "AST
                    // constructor recursion depth mismatch", an error of the tool's own.
                    "--workers",
                    "1",
                    "--request-timeout",
                    "10",
                ])
                .args(["--phases", "examples,coverage,fuzzing"])
                .args(["--seed", "1"])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "schemathesis found failures:\n{text}");
    }
    s.stop().await;
}
