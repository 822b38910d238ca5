//! Exit codes (documented in the README) and the error type that carries them.

use dossier_app::{AppError, BackendKind, ErrorKind};

/// Something went wrong that is not one of the cases below (I/O, database).
pub const FAILURE: u8 = 1;
// 2 is clap's usage error.
/// A bundle was rejected: nothing was appended.
pub const INVALID_INPUT: u8 = 3;
/// An id is already recorded with different content: nothing was appended.
pub const CONFLICT: u8 = 4;
/// The ledger did not verify.
pub const VERIFY_FAILED: u8 = 5;
/// There is no ledger in the data directory.
pub const NO_LEDGER: u8 = 6;
/// A secret key file is encrypted and no passphrase, or a wrong one, was given.
pub const KEY_LOCKED: u8 = 7;
/// The process could not start.
pub const INTERNAL: u8 = 70;

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    /// Exit code.
    pub code: u8,
    /// What went wrong (printed with its cause chain).
    pub error: anyhow::Error,
    /// Already printed in detail; print only the summary line.
    pub printed: bool,
    /// One line per problem found (each bad bundle, each conflict), printed before the summary
    /// line, or listed as `problems` in the JSON error.
    pub details: Vec<String>,
}

impl CliError {
    /// An error with a specific code.
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> CliError {
        CliError {
            code,
            error: error.into(),
            printed: false,
            details: Vec::new(),
        }
    }

    /// Prints the problems, `dossier: error` and the cause chain to standard error; with
    /// `json`, one line of JSON instead:
    /// `{"error":{"message":…,"causes":[…],"problems":[…],"exit_code":…}}`.
    pub fn report(&self, json: bool) {
        let causes: Vec<String> = if self.printed {
            Vec::new()
        } else {
            self.error
                .chain()
                .skip(1)
                .map(ToString::to_string)
                .collect()
        };
        if json {
            let doc = serde_json::json!({
                "error": {
                    "message": self.error.to_string(),
                    "causes": causes,
                    "problems": self.details,
                    "exit_code": self.code,
                }
            });
            eprintln!("{doc}");
            return;
        }
        for line in &self.details {
            eprintln!("{line}");
        }
        eprintln!("dossier: {}", self.error);
        for cause in causes {
            eprintln!("  caused by: {cause}");
        }
    }
}

impl From<anyhow::Error> for CliError {
    /// [`FAILURE`], unless the error is an [`AppError`] passed on as it was (then as
    /// [`From<AppError>`]: its exit code and hint).
    fn from(error: anyhow::Error) -> CliError {
        // Only the outermost error: `downcast` would also find one under added context, and
        // drop that context.
        let error = if error.chain().next().is_some_and(|e| e.is::<AppError>()) {
            match error.downcast::<AppError>() {
                Ok(app) => return CliError::from(app),
                Err(error) => error,
            }
        } else {
            error
        };
        let read_only = chain_has_read_only_layout(Some(error.as_ref()));
        let error = if read_only {
            let message = format!(
                "{error}; run `dossier migrate` to convert the ledger (the old file is kept)"
            );
            error.context(message)
        } else {
            error
        };
        CliError {
            code: FAILURE,
            error,
            printed: false,
            details: Vec::new(),
        }
    }
}

impl From<AppError> for CliError {
    /// The exit code of an application error ([`NO_LEDGER`], [`INVALID_INPUT`], [`CONFLICT`],
    /// else [`FAILURE`]), and the command line's advice added to its message.
    fn from(error: AppError) -> CliError {
        let mut details = Vec::new();
        let (code, hint) = match &error {
            AppError::NoLedger { backend, .. } => (
                NO_LEDGER,
                match backend {
                    BackendKind::JetStream => {
                        "; run `dossier init` with the same --nats and --ledger"
                    }
                    BackendKind::Sqlite => {
                        "; run `dossier init` (or pass --data-dir / DOSSIER_HOME)"
                    }
                },
            ),
            AppError::NoProducer { .. } => (FAILURE, "; pass --key"),
            AppError::NoPassphrase { .. } => (
                KEY_LOCKED,
                "; set DOSSIER_PASSPHRASE or DOSSIER_PASSPHRASE_FILE (or --passphrase-file), or run on a terminal",
            ),
            AppError::WrongPassphrase { .. } | AppError::Passphrase { .. } => (KEY_LOCKED, ""),
            AppError::LedgerExists { .. } => (FAILURE, ""),
            AppError::Invalid {
                problems,
                conflicts,
            } => {
                details.extend(problems.iter().map(ToString::to_string));
                details.extend(conflicts.iter().map(ToString::to_string));
                (INVALID_INPUT, "")
            }
            AppError::Conflict { conflicts } => {
                details.extend(conflicts.iter().map(ToString::to_string));
                (CONFLICT, "")
            }
            _ if read_only_layout(&error) => (
                FAILURE,
                "; run `dossier migrate` to convert it (the old file is kept)",
            ),
            _ if error.kind() == ErrorKind::Conflict => (CONFLICT, ""),
            AppError::Import { .. } | AppError::Export { .. }
                if error.kind() == ErrorKind::Integrity =>
            {
                (VERIFY_FAILED, "")
            }
            AppError::Import { .. } | AppError::Export { .. }
                if error.kind() == ErrorKind::Invalid =>
            {
                (INVALID_INPUT, "")
            }
            AppError::TileDiffers { .. } => (
                VERIFY_FAILED,
                "; check the ledger against the checkpoint those tiles were written with: `dossier verify --checkpoint DIR/checkpoint`",
            ),
            _ => (FAILURE, ""),
        };
        let message = match &error {
            AppError::NoDataDir => {
                "no data directory: pass --data-dir or set DOSSIER_HOME".to_owned()
            }
            AppError::LedgerExists {
                place,
                source: Some(_),
            } => format!("{place} already holds a ledger (another init won); nothing was changed"),
            e => format!("{e}{hint}"),
        };
        CliError {
            code,
            printed: !details.is_empty(),
            details,
            error: anyhow::Error::new(Hinted { message, error }),
        }
    }
}

/// Whether the error comes from appending to a ledger file of the read-only per-record layout.
fn read_only_layout(error: &AppError) -> bool {
    chain_has_read_only_layout(Some(error))
}

/// Whether any error of the chain from `cause` on is [`LogError::ReadOnlyLayout`] (also where a
/// transparent wrapper hides it from the chain).
///
/// [`LogError::ReadOnlyLayout`]: dossier_log::LogError::ReadOnlyLayout
fn chain_has_read_only_layout(mut cause: Option<&(dyn std::error::Error + 'static)>) -> bool {
    use dossier_log::{AppendError, LogError, PublishError};
    let is = |e: &LogError| matches!(e, LogError::ReadOnlyLayout { .. });
    while let Some(e) = cause {
        let found = e.downcast_ref::<LogError>().is_some_and(is)
            || matches!(e.downcast_ref::<AppendError>(), Some(AppendError::Log(l)) if is(l))
            || match e.downcast_ref::<PublishError>() {
                Some(PublishError::Log(l) | PublishError::Append(AppendError::Log(l))) => is(l),
                _ => false,
            };
        if found {
            return true;
        }
        cause = e.source();
    }
    false
}

/// An application error with the command line's wording of it: displayed as `message`, with
/// the error's causes as its own (so that the cause chain prints as it did before).
#[derive(Debug)]
struct Hinted {
    message: String,
    error: AppError,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

/// Result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use anyhow::Context as _;
    use dossier_app::{AppError, BackendKind, Problem};

    use super::*;

    fn no_ledger() -> AppError {
        AppError::NoLedger {
            place: "/data".to_owned(),
            backend: BackendKind::Sqlite,
        }
    }

    #[test]
    fn no_ledger_exits_6_with_the_init_hint() {
        let e = CliError::from(no_ledger());
        assert_eq!(e.code, NO_LEDGER);
        assert_eq!(
            e.error.to_string(),
            "no ledger in /data; run `dossier init` (or pass --data-dir / DOSSIER_HOME)"
        );
    }

    #[test]
    fn an_app_error_passed_on_through_anyhow_keeps_its_code_and_hint() {
        let e = CliError::from(anyhow::Error::new(no_ledger()));
        assert_eq!(e.code, NO_LEDGER);
        assert!(
            e.error.to_string().contains("run `dossier init`"),
            "{}",
            e.error
        );
    }

    #[test]
    fn context_added_to_an_app_error_is_kept() {
        let e = CliError::from(
            Err::<(), _>(no_ledger())
                .context("opening the mirror")
                .expect_err("an error"),
        );
        assert_eq!(e.code, FAILURE);
        assert_eq!(e.error.to_string(), "opening the mirror");
    }

    #[test]
    fn problems_become_details_and_exit_3() {
        let e = CliError::from(AppError::Invalid {
            problems: vec![Problem {
                file: "a.json".to_owned(),
                pointer: String::new(),
                message: "empty".to_owned(),
            }],
            conflicts: Vec::new(),
        });
        assert_eq!(e.code, INVALID_INPUT);
        assert!(e.printed);
        assert_eq!(e.details, vec!["a.json: (document): empty".to_owned()]);
        assert_eq!(
            e.error.to_string(),
            "1 error(s) in the input; nothing was appended"
        );
    }

    #[test]
    fn causes_are_the_app_errors_causes() {
        let e = CliError::from(AppError::NoProducer {
            path: "/data/producer".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
        assert_eq!(e.code, FAILURE);
        let chain: Vec<_> = e.error.chain().map(ToString::to_string).collect();
        assert_eq!(
            chain[0],
            "no producer key configured (/data/producer is missing); pass --key"
        );
        assert_eq!(chain.len(), 2, "{chain:?}");
    }
}
