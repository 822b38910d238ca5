//! Confirmation of an irreversible change on a terminal: the user types an id back.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::Context as _;

use crate::exit::{CliError, CliResult, FAILURE};

/// An irreversible change to confirm: what `--yes` skips.
pub(crate) struct Confirmation<'a> {
    /// The id the user must type back.
    pub id: &'a str,
    /// The question asked, ending with what the change does.
    pub question: String,
    /// The change, as a gerund phrase for the refusal without a terminal ("revoking key …").
    pub doing: String,
    /// The change, as a noun phrase for the refusal when the id does not match
    /// ("revocation of key …").
    pub change: String,
}

/// Asks on the terminal for `c.id` to be typed back; refuses without a terminal, or when the
/// line typed is not the id. Nothing has been appended when it refuses.
pub(crate) fn ask(c: &Confirmation<'_>) -> CliResult {
    let refuse = |m: String| CliError::new(FAILURE, anyhow::anyhow!("{m}; nothing was appended"));
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(refuse(format!(
            "{} needs confirmation and there is no terminal to ask on: pass --yes",
            c.doing
        )));
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "{}\nType the id to confirm: ", c.question);
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the confirmation")?;
    if line.trim() != c.id {
        return Err(refuse(format!("{} not confirmed", c.change)));
    }
    Ok(())
}
