//! One module per command.

mod bundles;
mod demo;
mod init;
mod keys;
mod log;
mod verify;

use crate::cli::{Cli, Command};
use crate::exit::CliResult;
use crate::home::Home;

/// Runs a parsed command line.
pub async fn run(args: Cli) -> CliResult {
    let home = || Home::resolve(args.data_dir.clone());
    match &args.command {
        Command::Init(a) => init::run(&home()?, a).await,
        Command::Validate(a) => bundles::validate(&home()?, a).await,
        Command::Publish(a) => bundles::publish(&home()?, a).await,
        Command::Log(a) => log::log(&home()?, a).await,
        Command::Show(a) => log::show(&home()?, a).await,
        Command::Verify(a) => verify::run(&home()?, a).await,
        Command::Keys(k) => keys::run(&home()?, k).await,
        Command::Demo(a) => demo::run(a).await,
    }
}
