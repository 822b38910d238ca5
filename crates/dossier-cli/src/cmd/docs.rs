//! `dossier completions` and `dossier man`: shell completions and man pages generated from the
//! command line's own definition, so they never drift from it.

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::CliResult;

/// `dossier completions SHELL`.
pub fn completions(a: &CompletionsArgs) -> CliResult {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut command, "dossier", &mut script);
    Ok(crate::output::write(&String::from_utf8_lossy(&script))?)
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
            Ok(crate::output::write(&String::from_utf8_lossy(&page))?)
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            Ok(())
        }
    }
}
