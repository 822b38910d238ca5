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
}

impl CliError {
    /// An error with a specific code.
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> CliError {
        CliError {
            code,
            error: error.into(),
            printed: false,
        }
    }

    /// Prints `dossier: error` and the cause chain to standard error.
    pub fn report(&self) {
        eprintln!("dossier: {}", self.error);
        if !self.printed {
            for cause in self.error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> CliError {
        CliError {
            code: FAILURE,
            error,
            printed: false,
        }
    }
}

/// Result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;
