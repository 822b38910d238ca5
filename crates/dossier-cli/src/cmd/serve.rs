//! `dossier serve` and `dossier projector`: the projector as a long-running process.

use dossier_projector::RunEvent;

use crate::cli::ServeArgs;
use crate::exit::{CliError, CliResult, FAILURE};
use crate::home::Home;

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub(super) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `dossier serve`: the projector in this process, on whatever backend the data directory
/// (or `--nats`) selects.
pub async fn serve(home: &Home, args: &ServeArgs) -> CliResult {
    let log = home.open_log().await?.for_folding()?;
    let path = home.views_path();
    if !args.quiet {
        eprintln!(
            "projector: keeping {} up to date from {}",
            path.display(),
            home.describe()
        );
    }
    let quiet = args.quiet;
    let progress = dossier_projector::run_with_progress(
        &log,
        &path,
        args.page as usize,
        shutdown_signal(),
        |e| {
            if quiet {
                return;
            }
            match e {
                RunEvent::Resumed(p) => {
                    eprintln!("projector: resumed at seq {} (head {})", p.applied, p.head)
                }
                RunEvent::Applied(p) => {
                    eprintln!("projector: applied up to seq {} of {}", p.applied, p.head)
                }
                RunEvent::CaughtUp { progress, digest } => {
                    eprintln!(
                        "projector: caught up at seq {}, digest {digest}",
                        progress.applied
                    );
                }
                RunEvent::Reopened(p) => eprintln!(
                    "projector: the views were rebuilt; reopened at seq {}",
                    p.applied
                ),
                RunEvent::Unavailable { reason } => {
                    eprintln!("projector: the ledger's server is unavailable ({reason}); retrying")
                }
                RunEvent::Reconnected => eprintln!("projector: the ledger's server answers again"),
            }
        },
    )
    .await
    .map_err(super::beliefs::projector_error)?;
    if !args.quiet {
        eprintln!("projector: stopped at seq {}", progress.applied);
    }
    Ok(())
}

/// `dossier projector`: the same, as a service of the distributed deployment (JetStream).
pub async fn projector(home: &Home, args: &ServeArgs) -> CliResult {
    if !home.is_nats() {
        return Err(CliError::new(
            FAILURE,
            anyhow::anyhow!(
                "`dossier projector` runs against a JetStream ledger: pass --nats URL (or set NATS_URL); for the embedded ledger use `dossier serve`"
            ),
        ));
    }
    serve(home, args).await
}
