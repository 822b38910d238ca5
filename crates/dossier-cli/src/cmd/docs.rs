//! `dossier completions` and `dossier man`: shell completions and man pages generated from the
//! command line's own definition, so they never drift from it.

use std::io::Write as _;

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::CliResult;

/// Writes `bytes` to standard output (a reader that went away is not an error).
fn stdout(bytes: &[u8]) -> CliResult {
    let mut o = std::io::stdout().lock();
    match o.write_all(bytes).and_then(|()| o.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context("writing output").into()),
    }
}

/// `dossier completions SHELL`.
pub fn completions(a: &CompletionsArgs) -> CliResult {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut command, "dossier", &mut script);
    stdout(&script)
}

/// `dossier man [--dir DIR]`.
pub fn man(a: &ManArgs) -> CliResult {
    let command = Cli::command();
    match &a.dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .context("rendering the man page")?;
            stdout(&page)
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            Ok(())
        }
    }
}
