//! `dossier verify`: replay everything and check it.

use std::time::Instant;

use anyhow::Context as _;
use dossier_chain::{Failure, TrustRoot, VerifyReport, parse_public_hex};
use dossier_log::EventLog as _;

use crate::backend::Backend;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::proofs::CheckpointVerdict;
use crate::cli::VerifyArgs;
use crate::exit::{CliError, CliResult, VERIFY_FAILED};
use crate::home::Home;

/// Resolves the trust root: `--trust` (hex or file), else the data directory's root.pub.
pub fn trust_root(home: &Home, trust: Option<&str>) -> anyhow::Result<TrustRoot> {
    let text = match trust {
        Some(t) if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) => Some(t.to_owned()),
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading trust root {path}"))?,
        ),
        None => home.root()?,
    };
    match text {
        None => Ok(TrustRoot::Unpinned),
        Some(t) => Ok(TrustRoot::Pinned(
            parse_public_hex(&t).context("the trust root is not an Ed25519 public key")?,
        )),
    }
}

/// Verifies the whole log, showing progress when `progress` is set.
pub async fn verify_log(
    log: &Backend,
    trust: TrustRoot,
    progress: bool,
) -> anyhow::Result<VerifyReport> {
    let head = log.head().await.context("reading the head")?;
    let bar = if progress && head.seq > 50_000 {
        ProgressBar::with_draw_target(Some(head.seq), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "verifying {bar:40} {pos}/{len} records ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = dossier_log::verify_log(log, trust, |read| bar.set_position(read))
        .await
        .context("reading records")?;
    bar.finish_and_clear();
    Ok(report)
}

#[derive(Serialize)]
struct Summary<'a> {
    /// The chain verified and, when one was given, the ledger extends the checkpoint.
    ok: bool,
    #[serde(flatten)]
    report: &'a VerifyReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<&'a CheckpointVerdict>,
    seconds: f64,
    records_per_second: f64,
}

/// `dossier verify`.
pub async fn run(home: &Home, args: &VerifyArgs) -> CliResult {
    let log = home.open_log().await?;
    if let Backend::JetStream(js) = &log {
        for problem in js.unsafe_settings() {
            eprintln!("WARNING: the stream could lose records: {problem}");
        }
    }
    let trust = trust_root(home, args.trust.as_deref())?;
    let pinned = matches!(trust, TrustRoot::Pinned(_));
    let started = Instant::now();
    let report = verify_log(&log, trust, !args.quiet && !args.json).await?;
    let secs = started.elapsed().as_secs_f64();
    let checkpoint = match &args.checkpoint {
        Some(path) => {
            let file = path.display().to_string();
            Some(if report.ok() {
                let note =
                    std::fs::read_to_string(path).with_context(|| format!("reading {file}"))?;
                let keys = super::keys::list_keys(home, &log).await?;
                let pinned = args
                    .log_key
                    .as_deref()
                    .map(super::proofs::read_key)
                    .transpose()?;
                let mut verdict =
                    super::proofs::check_against(&log, &file, &note, &keys, pinned).await?;
                if verdict.ok {
                    match super::proofs::check_quorum(&note, &args.witnesses) {
                        Ok(names) if !names.is_empty() => {
                            verdict
                                .verdict
                                .push_str(&format!("; cosigned by {}", names.join(", ")));
                        }
                        Ok(_) => {}
                        Err(e) if e.code == crate::exit::VERIFY_FAILED => {
                            verdict.ok = false;
                            verdict.verdict = format!("{:#}", e.error);
                        }
                        Err(e) => return Err(e),
                    }
                }
                verdict
            } else {
                // Its keys come from the ledger, which did not verify.
                CheckpointVerdict {
                    file,
                    ok: false,
                    size: None,
                    ledger_records: report.records,
                    verdict: "not checked: the ledger itself did not verify".to_owned(),
                }
            })
        }
        None => None,
    };
    if args.json {
        let s = Summary {
            ok: report.ok() && checkpoint.as_ref().is_none_or(|c| c.ok),
            report: &report,
            checkpoint: checkpoint.as_ref(),
            seconds: secs,
            records_per_second: report.records as f64 / secs.max(1e-9),
        };
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&s).context("encoding JSON")?
        )?;
    } else {
        print_report(&report, secs, pinned)?;
        if let Some(c) = checkpoint.as_ref().filter(|_| report.ok()) {
            if c.ok {
                crate::outln!("ok: {}", c.verdict)?;
            } else {
                crate::outln!("FAIL checkpoint {}: {}", c.file, c.verdict)?;
            }
        }
    }
    if !report.ok() {
        let first: &Failure = &report.failures[0];
        let mut err = CliError::new(
            VERIFY_FAILED,
            anyhow::anyhow!(
                "verification FAILED: {} failure(s); first at seq {}: {}",
                report.failures.len() as u64 + report.more_failures,
                first.seq,
                first.kind
            ),
        );
        err.printed = true;
        return Err(err);
    }
    match checkpoint {
        Some(c) if !c.ok => Err(CliError::new(
            VERIFY_FAILED,
            anyhow::anyhow!("{}", c.verdict).context("verification FAILED against the checkpoint"),
        )),
        _ => Ok(()),
    }
}

fn print_report(r: &VerifyReport, secs: f64, pinned: bool) -> anyhow::Result<()> {
    for f in &r.failures {
        crate::outln!("FAIL {f}")?;
    }
    if r.more_failures > 0 {
        crate::outln!("... and {} more failures", r.more_failures)?;
    }
    crate::outln!(
        "checked {} records ({:.1} MB) in {:.2}s: {:.0} records/s, {:.1} MB/s",
        r.records,
        r.bytes as f64 / 1e6,
        secs,
        r.records as f64 / secs.max(1e-9),
        r.bytes as f64 / 1e6 / secs.max(1e-9)
    )?;
    crate::outln!(
        "head: seq {} hash {}; last sealed batch ends at seq {}",
        r.last_seq,
        r.head,
        r.last_sealed
    )?;
    match (&r.founding_key, pinned) {
        (Some(k), true) => crate::outln!("founding key {k} matches the pinned trust root")?,
        (Some(k), false) => crate::outln!(
            "WARNING: no trust root pinned; founding key {k} was accepted as found (pass --trust to pin it)"
        )?,
        (None, _) => {}
    }
    if r.ok() {
        crate::outln!("ok: every hash, link, seal, signature and key checks out")?;
    }
    Ok(())
}
