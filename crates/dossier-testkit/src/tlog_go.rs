//! Go's transparency-log code as an independent checker: builds `tests/tlog-go/main.go` (which
//! uses `golang.org/x/mod/sumdb/tlog` and `sumdb/note`) once per test process, in GOPATH mode
//! against Debian's x/mod source, nothing fetched, and runs it on a cases file.
//!
//! Go is found through `GO_BIN` and `DOSSIER_GOPATH` (what `scripts/install-go.sh` prints and
//! `scripts/test.sh` exports), else `go` on `PATH` and `/usr/share/gocode`. A missing Go is a
//! failure with the command that installs it, never a skipped test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::workspace_root;

/// The file x/mod's tlog package lives in, under a GOPATH.
const TLOG_SOURCE: &str = "src/golang.org/x/mod/sumdb/tlog/tlog.go";

/// What to run when Go is missing.
pub const GO_HINT: &str = "run scripts/install-go.sh as root (it installs Debian's golang-go and \
     golang-golang-x-mod-dev with apt-get), or set GO_BIN and DOSSIER_GOPATH";

fn find_go() -> Result<(PathBuf, PathBuf), String> {
    let go = std::env::var_os("GO_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join("go"))
                .find(|p| p.is_file())
        })
        .ok_or_else(|| format!("Go is not installed: {GO_HINT}"))?;
    let gopath = std::env::var_os("DOSSIER_GOPATH")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/usr/share/gocode"), PathBuf::from);
    if !gopath.join(TLOG_SOURCE).is_file() {
        return Err(format!(
            "golang.org/x/mod is not under {}: {GO_HINT}",
            gopath.display()
        ));
    }
    Ok((go, gopath))
}

fn build() -> Result<PathBuf, String> {
    let (go, gopath) = find_go()?;
    let root = workspace_root();
    let out_dir = root.join("target/tlog-go");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    // Built under a name of this process and renamed into place, so that test processes
    // building at the same time do not run a half-written file.
    let bin = out_dir.join("tlog-go");
    let part = out_dir.join(format!("tlog-go.{}", std::process::id()));
    let out = Command::new(&go)
        .arg("build")
        .arg("-o")
        .arg(&part)
        .arg(root.join("tests/tlog-go/main.go"))
        .env("GO111MODULE", "off")
        .env("GOPATH", &gopath)
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOCACHE", out_dir.join("cache"))
        .env("CGO_ENABLED", "0")
        .output()
        .map_err(|e| format!("running {}: {e}", go.display()))?;
    if !out.status.success() {
        return Err(format!(
            "go build of tests/tlog-go failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::rename(&part, &bin).map_err(|e| e.to_string())?;
    Ok(bin)
}

/// The built checker, once per process.
///
/// # Panics
/// If Go or x/mod is missing, or the build fails: the test fails loudly.
pub fn tlog_go() -> &'static Path {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BUILT.get_or_init(build) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// Runs the checker on a cases file: `Ok(its summary line)` or `Err(its failure message)`.
///
/// # Panics
/// If the checker cannot be built or started.
pub fn run_tlog_go(cases: &Path) -> Result<String, String> {
    let out = Command::new(tlog_go())
        .arg(cases)
        .output()
        .unwrap_or_else(|e| panic!("running the Go checker: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(stderr)
    }
}
