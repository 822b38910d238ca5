//! `dossier notify` (the notifier as a long-running service, and its dead letters) and
//! `dossier watch` (watches), over `dossier-notify`.

use std::time::Duration;

use anyhow::Context as _;
use dossier_access::{GrantState, Grants, Principal};
use dossier_log::EventLog as _;
use dossier_notify::{
    Event, NotifyError, NotifyErrorKind, Options, Store, Threshold, Trigger, WatchError, WatchSpec,
    WebhookPolicy,
};
use serde::Serialize;

use crate::cli::{NotifyArgs, NotifyCommand, TriggerArg, WatchCommand};
use crate::exit::{CliError, CliResult, FAILURE, INVALID_INPUT};
use crate::home::Home;

fn cli_error(e: NotifyError) -> CliError {
    let code = match e.kind() {
        NotifyErrorKind::Invalid => INVALID_INPUT,
        NotifyErrorKind::NotFound | NotifyErrorKind::Internal => FAILURE,
    };
    if matches!(e, NotifyError::Invalid(WatchError::NotAllowed { .. })) {
        return CliError::new(
            code,
            anyhow::anyhow!(
                "{e}; nothing was added (`dossier notify allow` shows the allowed prefixes; an admin sets them)"
            ),
        );
    }
    CliError::new(code, anyhow::Error::new(e))
}

fn open_store(home: &Home) -> Result<Store, CliError> {
    let path = home.notify_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Store::open(&path).map_err(cli_error)
}

fn json_out(value: &impl Serialize) -> CliResult {
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(value).context("encoding JSON")?
    )?;
    Ok(())
}

/// `dossier notify …`.
pub async fn run(home: &Home, args: &NotifyArgs) -> CliResult {
    match &args.command {
        Some(NotifyCommand::DeadLetters { replay, json }) => dead_letters(home, *replay, *json),
        Some(NotifyCommand::Allow {
            prefixes,
            clear,
            json,
        }) => allow(home, prefixes, *clear, *json),
        None => service(home, args).await,
    }
}

/// The options of a notifier run from the command line.
pub(super) fn options(max_attempts: u32, retry_base_ms: u64) -> Options {
    Options {
        max_attempts,
        base_delay: Duration::from_millis(retry_base_ms),
        ..Options::default()
    }
}

/// Runs the notifier on `log` until `stop`, printing what it does (dead letters and waits even
/// when `quiet`).
pub(super) async fn notifier(
    home: &Home,
    log: &crate::backend::Backend,
    options: &Options,
    quiet: bool,
    stop: tokio::sync::watch::Receiver<bool>,
) -> CliResult {
    let store = open_store(home)?;
    // Deliveries of TLP:RED material go into the data directory's access log, as the API's
    // answers do.
    let mut options = options.clone();
    options.access_log = Some(home.dir_path().join(dossier_access::ACCESS_LOG_FILE));
    let sources = dossier_query::Sources {
        views: home.views_path(),
        auditor: Some(home.auditor_path()),
        wait: Duration::ZERO,
    };
    let on = move |e: Event| match e {
        Event::Started { seq } if !quiet => {
            eprintln!("notify: started at seq {seq}");
        }
        Event::Queued {
            from,
            to,
            deliveries,
        } if !quiet && deliveries > 0 => {
            eprintln!(
                "notify: queued {deliveries} deliveries for seqs {}..={to}",
                from + 1
            );
        }
        Event::Delivered { webhook_id } if !quiet => {
            eprintln!("notify: delivered {webhook_id}");
        }
        Event::Retrying {
            webhook_id,
            attempts,
            error,
        } if !quiet => {
            eprintln!("notify: attempt {attempts} of {webhook_id} failed ({error}); retrying");
        }
        Event::DeadLetter {
            id,
            webhook_id,
            error,
        } => eprintln!(
            "notify: {webhook_id} failed for the last time ({error}); dead letter {id} (`dossier notify dead-letters --replay {id}`)"
        ),
        Event::Waiting { reason } => eprintln!("notify: waiting: {reason}"),
        Event::Resumed => eprintln!("notify: resumed"),
        _ => {}
    };
    dossier_notify::run(log, &sources, &store, &options, stop, &on)
        .await
        .map_err(|e| {
            CliError::new(
                FAILURE,
                anyhow::Error::new(e).context("the notifier failed"),
            )
        })
}

async fn service(home: &Home, args: &NotifyArgs) -> CliResult {
    let log = home.open_log().await?;
    if !args.quiet {
        eprintln!(
            "notify: delivering the changes of belief of {} ({})",
            home.describe(),
            home.notify_path().display()
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal = tokio::spawn(async move {
        super::serve::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let r = notifier(
        home,
        &log,
        &options(args.max_attempts, args.retry_base_ms),
        args.quiet,
        stop_rx,
    )
    .await;
    signal.abort();
    r?;
    if !args.quiet {
        eprintln!("notify: stopped");
    }
    Ok(())
}

fn allow(home: &Home, prefixes: &[String], clear: bool, json: bool) -> CliResult {
    let store = open_store(home)?;
    let policy = if clear || !prefixes.is_empty() {
        store.set_webhook_allow(prefixes).map_err(cli_error)?
    } else {
        store.webhook_policy().map_err(cli_error)?
    };
    if json {
        return json_out(&policy);
    }
    match policy {
        WebhookPolicy::Default => crate::outln!(
            "no allow-list: watches may deliver to any http(s) URL except addresses inside private networks (private, link-local, shared, unspecified, multicast)"
        )?,
        WebhookPolicy::Listed(entries) => {
            crate::outln!("watches may deliver only under:")?;
            for e in entries {
                crate::outln!("  {}", e.as_str())?;
            }
        }
    }
    Ok(())
}

fn dead_letters(home: &Home, replay: Option<i64>, json: bool) -> CliResult {
    let store = open_store(home)?;
    if let Some(id) = replay {
        let Some(d) = store
            .replay(id, dossier_notify::now_ms())
            .map_err(cli_error)?
        else {
            return Err(CliError::new(
                FAILURE,
                anyhow::anyhow!("no dead letter {id}; `dossier notify dead-letters` lists them"),
            ));
        };
        if json {
            return json_out(&d);
        }
        crate::outln!(
            "queued {} again (dead letter {id}, watch {}, seq {}); the running notifier delivers it",
            d.webhook_id,
            d.watch,
            d.seq
        )?;
        return Ok(());
    }
    let list = store.dead_letters().map_err(cli_error)?;
    if json {
        return json_out(&list);
    }
    if list.is_empty() {
        crate::outln!("no dead letters")?;
    }
    for d in list {
        crate::outln!(
            "{}  {}  seq {}  watch {} ({})  {} attempts, queued {}: {}",
            d.id,
            d.webhook_id,
            d.seq,
            d.watch,
            d.principal.as_deref().unwrap_or("removed"),
            d.attempts,
            d.queued,
            d.last_error.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

fn threshold(by: &str) -> Result<Threshold, CliError> {
    let bad = || {
        CliError::new(
            INVALID_INPUT,
            anyhow::anyhow!(
                "--by {by:?}: expected a number (units) or a percentage, e.g. 5 or 10%"
            ),
        )
    };
    match by.trim().strip_suffix('%') {
        Some(p) => p
            .trim()
            .parse::<f64>()
            .map(|p| Threshold::Relative(p / 100.0))
            .map_err(|_| bad()),
        None => by
            .trim()
            .parse::<f64>()
            .map(Threshold::Absolute)
            .map_err(|_| bad()),
    }
}

/// A watch as `watch add --json` prints it: the watch and its secret (shown this once).
#[derive(Serialize)]
struct Created<'a> {
    watch: &'a dossier_notify::Watch,
    secret: &'a str,
}

/// `dossier watch …`.
pub async fn watch(home: &Home, cmd: &WatchCommand) -> CliResult {
    match cmd {
        WatchCommand::Add {
            grant,
            url,
            question,
            on,
            by,
            json,
        } => {
            let trigger = match on {
                TriggerArg::Change => Trigger::Change,
                TriggerArg::Disputed => Trigger::Disputed,
                TriggerArg::Resolved => Trigger::Resolved,
                TriggerArg::Moved => Trigger::Moved {
                    threshold: threshold(by.as_deref().unwrap_or_default())?,
                },
            };
            if by.is_some() && *on != TriggerArg::Moved {
                return Err(CliError::new(
                    INVALID_INPUT,
                    anyhow::anyhow!("--by goes with --on moved"),
                ));
            }
            let spec = WatchSpec {
                question: question.clone(),
                trigger,
                url: url.clone(),
            };
            spec.check()
                .map_err(|e| CliError::new(INVALID_INPUT, anyhow::Error::new(e)))?;
            let log = home.open_log().await?;
            let mut grants = Grants::new();
            grants
                .catch_up(&log)
                .await
                .context("reading the access grants")?;
            let now =
                dossier_model::Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc())
                    .context("the clock is outside the years 0000 to 9999")?;
            let Some(info) = grants.get(grant) else {
                return Err(CliError::new(
                    INVALID_INPUT,
                    anyhow::anyhow!(
                        "no grant {grant} in this ledger; `dossier access list` shows them"
                    ),
                ));
            };
            let state = info.state(now);
            if state != GrantState::Active {
                return Err(CliError::new(
                    INVALID_INPUT,
                    anyhow::anyhow!("grant {grant} is {}: it cannot watch", state.as_str()),
                ));
            }
            let principal = Principal {
                name: info.principal.clone(),
                role: info.role,
                clearance: info.clearance,
                grant: info.grant.clone(),
            };
            let head = log.head().await.context("reading the ledger's head")?.seq;
            let store = open_store(home)?;
            let (w, secret) = store
                .add_watch(&principal, &spec, head)
                .map_err(cli_error)?;
            if *json {
                return json_out(&Created {
                    watch: &w,
                    secret: &secret,
                });
            }
            crate::outln!(
                "watch {} for {} ({}), on changes after seq {}",
                w.id,
                w.principal,
                w.clearance,
                w.since
            )?;
            crate::outln!("secret (shown once; verifies webhook-signature): {secret}")?;
            Ok(())
        }
        WatchCommand::List { principal, json } => {
            let store = open_store(home)?;
            let list = store.watches(principal.as_deref()).map_err(cli_error)?;
            if *json {
                return json_out(&list);
            }
            if list.is_empty() {
                crate::outln!("no watches")?;
            }
            for w in list {
                let what = w.spec.question.as_deref().unwrap_or("every question");
                let on = match w.spec.trigger {
                    Trigger::Change => "any change".to_owned(),
                    Trigger::Disputed => "became disputed".to_owned(),
                    Trigger::Resolved => "forecast resolved".to_owned(),
                    Trigger::Moved {
                        threshold: Threshold::Absolute(b),
                    } => format!("value moved by more than {b}"),
                    Trigger::Moved {
                        threshold: Threshold::Relative(b),
                    } => format!("value moved by more than {}%", b * 100.0),
                };
                crate::outln!(
                    "{}  {} ({})  {what}: {on}  -> {}  since seq {}",
                    w.id,
                    w.principal,
                    w.clearance,
                    w.spec.url,
                    w.since
                )?;
            }
            Ok(())
        }
        WatchCommand::Remove { id } => {
            let store = open_store(home)?;
            if !store.remove_watch(id, None).map_err(cli_error)? {
                return Err(CliError::new(
                    FAILURE,
                    anyhow::anyhow!("no watch {id}; `dossier watch list` shows them"),
                ));
            }
            crate::outln!("removed watch {id}")?;
            Ok(())
        }
    }
}
