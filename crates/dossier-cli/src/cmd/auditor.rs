//! `dossier auditor`: the continuous auditor (`dossier-auditor`) as a command, and its status.

use std::time::Duration;

use anyhow::Context as _;
use dossier_auditor::{
    Alarm, Announce, AnnounceError, Auditor, Event, Options, Report, Status, StoredCheckpoint,
    status,
};
use dossier_jetstream::Announcer;

use crate::backend::Backend;

use crate::cli::{AuditorArgs, AuditorCommand};
use crate::exit::{CliError, CliResult, FAILURE, VERIFY_FAILED};
use crate::home::Home;

/// `dossier auditor [status|checkpoint]`.
pub async fn run(home: &Home, args: &AuditorArgs) -> CliResult {
    match &args.command {
        Some(AuditorCommand::Status { json }) => show_status(home, *json),
        Some(AuditorCommand::Checkpoint { out, json }) => export(home, out.as_deref(), *json),
        None => audit(home, args).await,
    }
}

fn print_event(e: &Event) {
    match e {
        Event::Fresh => eprintln!("auditor: no checkpoint yet; verifying from seq 1"),
        Event::Resumed { size } => eprintln!("auditor: resuming from its checkpoint at seq {size}"),
        Event::Verified { size } => eprintln!("auditor: verified up to seq {size}"),
        Event::Checkpointed(cp) => eprintln!(
            "auditor: signed checkpoint at seq {} (root {})",
            cp.size, cp.root
        ),
        Event::Rescanned { size } => {
            eprintln!("auditor: re-read records 1..={size}: they still match the checkpoint")
        }
        Event::Alarm(a) => {
            let at = a.seq.map(|s| format!(" at seq {s}")).unwrap_or_default();
            eprintln!("auditor: ALARM {}{at}: {}", a.kind, a.detail);
        }
        Event::Unavailable { reason } => {
            eprintln!("auditor: the ledger's server is unavailable ({reason}); retrying")
        }
        Event::Reconnected => eprintln!("auditor: the ledger's server answers again"),
    }
}

/// On JetStream, checkpoints and alarms are also published to the ledger's checkpoint stream
/// (`DOSSIER_<LEDGER>_CHECKPOINTS`, subjects `dossier.<ledger>.checkpoints` and `.alarms`).
struct JetStreamAnnounce(Announcer);

impl Announce for JetStreamAnnounce {
    async fn checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), AnnounceError> {
        self.0.checkpoint(&cp.note, cp.size).await?;
        Ok(())
    }

    async fn alarm(&self, alarm: &Alarm) -> Result<(), AnnounceError> {
        self.0.alarm(&serde_json::to_string(alarm)?).await?;
        Ok(())
    }
}

/// The keys offered to the auditor for signing checkpoints: `key`, or every key kept here that
/// may sign them now (docs/PROOFS.md §5). With none, it audits without signing (it signs only
/// with a key its own verification allows), offered the producer key, and says so on standard
/// error as `who`.
///
/// # Errors
/// An explicit `key` that may not sign; no key at all; key files.
pub(crate) async fn offered_signers(
    home: &Home,
    log: &Backend,
    key: Option<&str>,
    who: &str,
) -> CliResult<Vec<dossier_chain::Signer>> {
    match dossier_app::keys::checkpoint_signers(home, log, key).await {
        Ok(signers) => Ok(signers),
        Err(dossier_app::AppError::KeyRefused(refusal)) if key.is_none() => {
            eprintln!(
                "{who}: warning: not signing checkpoints until a key it holds may ({refusal}; register a log key with `dossier keys register --role log` and restart)"
            );
            Ok(vec![home.producer(None)?])
        }
        Err(e) => Err(super::keys::hint_refusal(e)),
    }
}

async fn audit(home: &Home, args: &AuditorArgs) -> CliResult {
    let log = home.open_log().await?;
    let mut signers = offered_signers(home, &log, args.key.as_deref(), "auditor").await?;
    let signer = signers.remove(0);
    let trust = super::verify::trust_root(home, args.trust.as_deref())?;
    let options = Options {
        every: args.every,
        interval: Duration::from_secs(args.interval),
        rescan_on_start: args.rescan,
        rescan_interval: args.rescan_interval.map(Duration::from_secs),
        ..Options::default()
    };
    let path = home.auditor_path();
    let quiet = args.quiet;
    let auditor = Auditor::open(&log, &path, signer, trust, options)
        .with_context(|| format!("opening {}", path.display()))?
        .with_signers(signers);
    let announcer = match &log {
        Backend::JetStream(js) => match js.announcer().await {
            Ok(a) => Some(a),
            Err(e) => {
                eprintln!(
                    "auditor: warning: not publishing checkpoints and alarms to JetStream: {e}"
                );
                None
            }
        },
        Backend::Sqlite(_) => None,
    };
    let auditor = match announcer {
        Some(a) => {
            if !quiet {
                eprintln!(
                    "auditor: publishing checkpoints on {} and alarms on {}",
                    a.checkpoint_subject(),
                    a.alarm_subject()
                );
            }
            auditor.with_announcer(JetStreamAnnounce(a))
        }
        None => auditor,
    };
    let auditor = auditor.with_witnesses(
        args.witnesses.clone(),
        Duration::from_secs(args.witness_bound),
    );
    let mut auditor = auditor.with_progress(move |e| {
        if !quiet || matches!(e, Event::Alarm(_)) {
            print_event(e);
        }
    });
    if !quiet {
        eprintln!(
            "auditor: auditing {} into {}",
            home.describe(),
            path.display()
        );
    }
    let report = if args.once {
        auditor.once().await
    } else {
        auditor.run(super::serve::shutdown_signal()).await
    };
    let report = report
        .map_err(|e| CliError::new(FAILURE, anyhow::Error::new(e).context("the auditor failed")))?;
    print_report(&report)?;
    verdict(
        report.healthy,
        report.alarms.len() as u64 + report.earlier_alarms,
    )
}

fn print_report(r: &Report) -> anyhow::Result<()> {
    let cp = r.last_checkpoint.as_ref().map_or_else(
        || "none".to_owned(),
        |c| format!("seq {} root {}", c.size, c.root),
    );
    crate::outln!(
        "verified {} records ({} read in this run, resumed from {}); {} checkpoint(s) signed; last checkpoint: {cp}",
        r.verified,
        r.records_read,
        r.resumed_from,
        r.checkpoints_signed
    )?;
    for a in &r.alarms {
        crate::outln!(
            "ALARM {} {}: {}",
            a.kind,
            a.seq.map(|s| format!("seq {s}")).unwrap_or_default(),
            a.detail
        )?;
    }
    if r.earlier_alarms > 0 {
        crate::outln!(
            "{} alarm(s) recorded by earlier runs (see `dossier auditor status`)",
            r.earlier_alarms
        )?;
    }
    if r.healthy {
        crate::outln!("ok: healthy")?;
    }
    Ok(())
}

fn verdict(healthy: bool, alarms: u64) -> CliResult {
    if healthy {
        return Ok(());
    }
    let mut e = CliError::new(
        VERIFY_FAILED,
        anyhow::anyhow!("auditor: UNHEALTHY: {alarms} alarm(s)"),
    );
    e.printed = true;
    Err(e)
}

fn load_status(home: &Home) -> CliResult<Status> {
    status(&home.auditor_path()).map_err(|e| CliError::new(FAILURE, e))
}

fn show_status(home: &Home, json: bool) -> CliResult {
    let s = load_status(home)?;
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&s).context("encoding JSON")?
        )?;
    } else {
        match &s.last_checkpoint {
            Some(c) => crate::outln!(
                "last checkpoint: seq {} root {} head {} signed {} ({} checkpoint(s) in all)",
                c.size,
                c.root,
                c.head,
                c.signed_at,
                s.checkpoints
            )?,
            None => crate::outln!("no checkpoint signed yet")?,
        }
        for a in &s.alarms {
            crate::outln!(
                "ALARM {} {} {}: {}",
                a.raised_at,
                a.kind,
                a.seq.map(|s| format!("seq {s}")).unwrap_or_default(),
                a.detail
            )?;
        }
        crate::outln!("{}", if s.healthy { "healthy" } else { "UNHEALTHY" })?;
    }
    verdict(s.healthy, s.alarm_count)
}

fn export(home: &Home, out: Option<&std::path::Path>, json: bool) -> CliResult {
    let s = load_status(home)?;
    let cp = s
        .last_checkpoint
        .context("the auditor has not signed a checkpoint yet")?;
    let text = if json {
        let mut text = serde_json::to_string_pretty(&cp).context("encoding JSON")?;
        text.push('\n');
        text
    } else {
        cp.note
    };
    match out {
        Some(p) => std::fs::write(p, &text).with_context(|| format!("writing {}", p.display()))?,
        None => crate::out!("{text}")?,
    }
    Ok(())
}
