//! Exit codes (documented in the README) and the error type that carries them.

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
    fn from(error: anyhow::Error) -> CliError {
        CliError {
            code: FAILURE,
            error,
            printed: false,
            details: Vec::new(),
        }
    }
}

/// Result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;
