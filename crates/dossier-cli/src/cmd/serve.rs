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

/// A future resolving once `stop` says so (or its sender is gone).
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// `dossier serve`: the projector in this process, on whatever backend the data directory
/// (or `--nats`) selects; with `--listen`, the auditor and the HTTP API beside it.
pub async fn serve(home: &Home, args: &ServeArgs) -> CliResult {
    let log = std::sync::Arc::new(home.open_log().await?.for_folding()?);
    let path = home.views_path();
    if !args.quiet {
        eprintln!(
            "projector: keeping {} up to date from {}",
            path.display(),
            home.describe()
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal = {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        })
    };
    let quiet = args.quiet;
    let projector = async {
        let r = dossier_projector::run_with_progress(
            &*log,
            &path,
            args.page as usize,
            stopped(stop_rx.clone()),
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
                    RunEvent::Unavailable { reason } => eprintln!(
                        "projector: the ledger's server is unavailable ({reason}); retrying"
                    ),
                    RunEvent::Reconnected => {
                        eprintln!("projector: the ledger's server answers again")
                    }
                }
            },
        )
        .await;
        // Whatever ends the projector ends the rest.
        let _ = stop_tx.send(true);
        r
    };
    let service = async {
        let Some(addr) = args.listen else {
            return Ok(());
        };
        let r = run_api(home, args, addr, &log, stop_rx.clone()).await;
        let _ = stop_tx.send(true);
        r
    };
    let (progress, service) = tokio::join!(projector, service);
    signal.abort();
    let progress = progress.map_err(super::beliefs::projector_error)?;
    service?;
    if !args.quiet {
        eprintln!("projector: stopped at seq {}", progress.applied);
    }
    Ok(())
}

/// A key that is here but locked is an error; any other outcome is kept.
fn locked<T>(r: dossier_app::AppResult<T>) -> dossier_app::AppResult<dossier_app::AppResult<T>> {
    match r {
        Err(
            e @ (dossier_app::AppError::NoPassphrase { .. }
            | dossier_app::AppError::WrongPassphrase { .. }
            | dossier_app::AppError::Passphrase { .. }),
        ) => Err(e),
        other => Ok(other),
    }
}

/// The auditor (when the data directory keeps a key to offer it for signing checkpoints), the notifier and the
/// HTTP API on `addr`, until `stop`.
async fn run_api(
    home: &Home,
    args: &ServeArgs,
    addr: std::net::SocketAddr,
    log: &std::sync::Arc<crate::backend::Backend>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> CliResult {
    use anyhow::Context as _;
    let ledger = dossier_log::ledger::genesis(&**log)
        .await
        .context("reading the ledger's genesis")?
        .context("the ledger is empty: run `dossier init` first")?
        .ledger;
    let mut config = dossier_http::Config::new(addr, ledger.clone(), home.views_path());
    config.auditor = Some(home.auditor_path());
    config.access_log = Some(home.dir_path().join(dossier_access::ACCESS_LOG_FILE));
    config.notify = Some(home.notify_path());
    config.body_limit = args.body_limit;
    config.ready_lag = args.ready_lag;
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let read = |p: &std::path::PathBuf| {
            std::fs::read(p).with_context(|| format!("reading {}", p.display()))
        };
        let ca = args.client_ca.as_ref().map(read).transpose()?;
        config.tls = Some(
            dossier_http::TlsConfig::new(&read(cert)?, &read(key)?, ca.as_deref())
                .context("setting up TLS")?,
        );
    }
    // The producer key signs posted bundles' batches, the log key (or the founding key while the
    // ledger has none) the auditor's checkpoints (docs/PROOFS.md §5). Serving without a key
    // that is here but locked would sign nothing, silently: refuse.
    let producer = locked(dossier_app::keys::publisher(home, log, None).await)?;
    let signers = match super::auditor::offered_signers(home, log, None, "api").await {
        Err(e) if e.code == crate::exit::KEY_LOCKED => return Err(e),
        other => other,
    };
    config.producer = producer.as_ref().ok().cloned();
    let auth: std::sync::Arc<dyn dossier_http::Authenticator> =
        std::sync::Arc::new(dossier_http::LedgerGrants::new(std::sync::Arc::clone(log)));
    let mut page = dossier_web::WebConfig::new(home.views_path());
    page.auditor = Some(home.auditor_path());
    page.secure_cookies = args.tls_cert.is_some();
    page.access_log = Some(home.dir_path().join(dossier_access::ACCESS_LOG_FILE));
    // The key the auditor signs checkpoints with: shown at sign-in, pinned by the browser.
    page.checkpoint_key = signers
        .as_ref()
        .ok()
        .and_then(|s| s.first())
        .and_then(|s| dossier_proofs::checkpoint_verifier(&ledger, s.public()).ok())
        .map(|v| v.to_vkey());
    let page = dossier_web::router(
        page,
        std::sync::Arc::clone(log),
        std::sync::Arc::clone(&auth),
    )
    .context("opening the access log")?;
    let server = dossier_http::Server::bind(config, std::sync::Arc::clone(log), auth)
        .await
        .map_err(|e| CliError::new(FAILURE, anyhow::Error::new(e)))?
        .with_page(page);
    if !args.quiet {
        let scheme = if args.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        eprintln!("api: listening on {scheme}://{}", server.local_addr());
        eprintln!("web: the page at {scheme}://{}/", server.local_addr());
    }
    if let Err(e) = &producer {
        eprintln!("api: warning: not accepting bundles (no producer key: {e})");
    }
    let auditor = match signers {
        Ok(mut signers) => {
            let signer = signers.remove(0);
            let trust = super::verify::trust_root(home, None)?;
            let path = home.auditor_path();
            Some(
                dossier_auditor::Auditor::open(
                    &**log,
                    &path,
                    signer,
                    trust,
                    dossier_auditor::Options::default(),
                )
                .with_context(|| format!("opening {}", path.display()))?
                .with_signers(signers),
            )
        }
        Err(e) => {
            eprintln!(
                "api: warning: not running the auditor (no key: {:#})",
                e.error
            );
            None
        }
    };
    let audit = async {
        match auditor {
            Some(a) => {
                let quiet = args.quiet;
                let mut a = a.with_progress(move |e| {
                    if let dossier_auditor::Event::Alarm(alarm) = e {
                        eprintln!("auditor: ALARM {}: {}", alarm.kind, alarm.detail);
                    } else if !quiet && let dossier_auditor::Event::Checkpointed(cp) = e {
                        eprintln!("auditor: signed checkpoint at seq {}", cp.size);
                    }
                });
                a.run(stopped(stop.clone())).await.map(|_| ())
            }
            None => Ok(()),
        }
    };
    // The notifier, beside them: watches are managed through the API and delivered from here.
    let notify_options = super::notify::options(5, 1000);
    let notify = super::notify::notifier(home, log, &notify_options, args.quiet, stop.clone());
    let (served, audited, notified) =
        tokio::join!(server.serve(stopped(stop.clone())), audit, notify);
    served.map_err(|e| CliError::new(FAILURE, anyhow::Error::new(e)))?;
    audited
        .map_err(|e| CliError::new(FAILURE, anyhow::Error::new(e).context("the auditor failed")))?;
    notified
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
