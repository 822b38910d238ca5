//! The checkers other people wrote, run from the project's Python virtual environment
//! (`scripts/install-py-tools.sh`, run by `scripts/test.sh`): stix2-validator, pymisp, prov,
//! schemathesis, openapi-spec-validator. A missing tool is a failure, never a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::workspace_root;

/// The directory of the project's Python tools: `DOSSIER_PY_TOOLS`, else the workspace's
/// `.venv/bin`. Panics, saying how to install them, when one of `needed` is not there.
#[must_use]
pub fn py_tools(needed: &[&str]) -> PathBuf {
    let dir = std::env::var_os("DOSSIER_PY_TOOLS")
        .map_or_else(|| workspace_root().join(".venv/bin"), PathBuf::from);
    for tool in needed {
        assert!(
            dir.join(tool).is_file(),
            "{tool} is not in {}: run scripts/install-py-tools.sh (or set DOSSIER_PY_TOOLS to \
             the bin directory of a virtual environment holding {})",
            dir.display(),
            needed.join(", ")
        );
    }
    dir
}

/// Runs a checking tool; panics with its output unless it succeeds. Returns its standard
/// output.
pub fn run_tool(command: &mut Command, what: &str) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} refused it:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `tests/exchange/check.py KIND FILES` (stix2-validator strict, pymisp, prov); returns
/// its standard output, one line per file checked.
pub fn check_exchange(kind: &str, files: &[&Path]) -> String {
    let python = py_tools(&["python", "stix2_validator"]).join("python");
    run_tool(
        Command::new(python)
            .arg(workspace_root().join("tests/exchange/check.py"))
            .arg(kind)
            .args(files),
        &format!("check.py {kind} {files:?}"),
    )
}
