//! `dossier export` and `dossier import`: faces over `dossier_app::export`.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal as _, Read};
use std::path::PathBuf;

use anyhow::Context as _;
use dossier_app::Home;
use dossier_app::export::{Exported, Imported};
use dossier_chain::TrustRoot;
use dossier_log::EventLog as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::partial::Partial;
use crate::cli::{ExportArgs, ImportArgs};
use crate::exit::{CliError, CliResult, INVALID_INPUT};

/// Progress is shown for runs longer than this many records.
const PROGRESS_FROM: u64 = 50_000;

fn bar(verb: &str, total: u64, show: bool) -> ProgressBar {
    let bar = if show && total > PROGRESS_FROM {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{verb} {{bar:40}} {{pos}}/{{len}} records ({{per_sec}}, eta {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// `dossier export --format log`.
pub async fn export(home: &Home, args: &ExportArgs) -> CliResult {
    let log = home.open_log().await?;
    let head = log.head().await.context("reading the head")?;
    let first = args.from.unwrap_or(1);
    let total = args
        .to
        .unwrap_or(head.seq)
        .min(head.seq)
        .saturating_sub(first - 1);
    // A range past seq 1 carries a checkpoint of the seqs before it, signed here.
    let signer = if first > 1 {
        let mut signers =
            dossier_app::keys::checkpoint_signers_at(home, &log, args.key.as_deref(), first - 1)
                .await
                .map_err(super::keys::hint_refusal)?;
        Some(signers.swap_remove(0))
    } else {
        None
    };
    let range = (args.from, args.to);
    let bar = bar("exporting", total, !args.quiet);
    let progress = |n| bar.set_position(n);
    let done: Exported = match &args.output {
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                return Err(CliError::new(
                    INVALID_INPUT,
                    anyhow::anyhow!(
                        "the export is binary: give a file with -o FILE, or redirect standard output"
                    ),
                ));
            }
            let out = BufWriter::with_capacity(1 << 20, stdout.lock());
            let (_, done) =
                dossier_app::export::export(&log, range, signer.as_ref(), out, progress).await?;
            done
        }
        Some(path) => {
            let partial = Partial::create(path)?;
            let out = BufWriter::with_capacity(1 << 20, partial.file());
            let (out, done) =
                dossier_app::export::export(&log, range, signer.as_ref(), out, progress).await?;
            out.into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("writing {}", path.display()))?;
            partial.finish()?;
            done
        }
    };
    bar.finish_and_clear();
    let summary = if args.json {
        serde_json::to_string_pretty(&done).context("encoding JSON")?
    } else {
        format!(
            "exported seqs {}..={} of ledger {} ({} records in {} batches, {} texts; head {})",
            done.first, done.last, done.ledger, done.records, done.batches, done.texts, done.head
        )
    };
    if args.output.is_some() {
        crate::outln!("{summary}")?;
    } else {
        eprintln!("{summary}");
    }
    Ok(())
}

/// `dossier import`.
pub async fn import(home: &Home, args: &ImportArgs) -> CliResult {
    if args.output.is_some() || args.report.is_some() {
        return Err(CliError::new(
            INVALID_INPUT,
            anyhow::anyhow!(
                "-o and --report are for a STIX import (--format stix); a raw log import appends to this ledger"
            ),
        ));
    }
    let trust = super::verify::trust_root(home, args.trust.as_deref())?;
    if args.check_only {
        return check_only(args, trust);
    }
    let TrustRoot::Pinned(key) = &trust else {
        return Err(CliError::new(
            INVALID_INPUT,
            anyhow::anyhow!(
                "an import verifies every record against the ledger's founding key: pass --trust KEY (its public key, 64 hex digits, or a file holding it)"
            ),
        ));
    };
    let pinned = hex::encode(key.as_bytes());
    let input = open_input(args)?;
    home.create()?;
    let new_file = !home.is_nats() && !home.has_ledger();
    let log = home.create_log().await?;
    // A data directory without a trust root pins the key given, before anything is appended:
    // an import killed half-way is then completed (and verified) against the same key.
    let new_root = home.root()?.is_none();
    if new_root {
        home.save_root(&pinned)?;
    }
    let show = !args.quiet && !args.json;
    let mut shown = None::<ProgressBar>;
    let result = dossier_app::export::import(&log, input, trust, |seq, last| {
        let b = shown.get_or_insert_with(|| {
            let b = self::bar("importing", last, show);
            b.set_position(0);
            b
        });
        b.set_position(seq);
    })
    .await;
    if let Some(b) = shown {
        b.finish_and_clear();
    }
    if result.is_err() && log.head().await.is_ok_and(|h| h.seq == 0) {
        // A refused import into a new data directory leaves no empty ledger, and no root
        // pinned for a ledger that is not there, behind.
        drop(log);
        if new_root {
            let _ = std::fs::remove_file(home.dir_path().join("root.pub"));
        }
        if new_file {
            let db = home.db_path();
            for suffix in ["", "-wal", "-shm"] {
                let mut name = db.as_os_str().to_owned();
                name.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(name));
            }
        }
    }
    let done: Imported = result?;
    if args.json {
        print_json(&done)?;
    } else {
        crate::outln!(
            "imported seqs {}..={} of ledger {}: {} records appended in {} batches ({} texts), {} already held; head {}",
            done.first,
            done.last,
            done.ledger,
            done.appended,
            done.batches,
            done.texts,
            done.already,
            done.head
        )?;
    }
    Ok(())
}

/// The file to import or check (`-`: standard input), buffered.
fn open_input(args: &ImportArgs) -> anyhow::Result<BufReader<Box<dyn Read + Send>>> {
    let input: Box<dyn Read + Send> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        let file =
            File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
        Box::new(file)
    };
    Ok(BufReader::with_capacity(1 << 20, input))
}

/// `dossier import --check-only`: the file verified offline, nothing written.
fn check_only(args: &ImportArgs, trust: TrustRoot) -> CliResult {
    if matches!(trust, TrustRoot::Unpinned) {
        return Err(CliError::new(
            INVALID_INPUT,
            anyhow::anyhow!(
                "a check verifies every record against the ledger's founding key: pass --trust KEY (its public key, 64 hex digits, or a file holding it)"
            ),
        ));
    }
    let done = dossier_app::export::check(open_input(args)?, trust)?;
    if args.json {
        print_json(&done)?;
    } else {
        let context = if done.first > 1 {
            format!(
                ", with its key context ({} key batches proven in a checkpoint of seqs 1..={})",
                done.key_batches,
                done.first - 1
            )
        } else {
            String::new()
        };
        crate::outln!(
            "verified seqs {}..={} of ledger {} (dossier-export/{}): {} records in {} batches, {} texts{context}; head {}",
            done.first,
            done.last,
            done.ledger,
            done.version,
            done.records,
            done.batches,
            done.texts,
            done.head
        )?;
    }
    Ok(())
}

/// Prints what an import or a check did, as pretty JSON.
fn print_json(done: &impl serde::Serialize) -> CliResult {
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(done).context("encoding JSON")?
    )?;
    Ok(())
}
