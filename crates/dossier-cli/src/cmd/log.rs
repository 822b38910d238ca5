//! `dossier log` and `dossier show`: reading records.

use anyhow::Context as _;
use dossier_chain::{Hash, RecordView, StoredRecord, control};
use dossier_log::EventLog as _;
use serde::Serialize;

use crate::cli::{LogArgs, ShowArgs};
use crate::exit::{CliError, CliResult, FAILURE};
use crate::home::Home;

#[derive(Serialize)]
struct Line<'a> {
    seq: u64,
    recorded: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    entity: &'a str,
    actor: &'a str,
    key: &'a str,
    marking: &'a str,
    hash: String,
}

fn matches(filters: &[String], event_type: &str) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| {
            event_type == f
                || event_type
                    .strip_prefix(f.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        })
}

/// `dossier log`.
pub async fn log(home: &Home, args: &LogArgs) -> CliResult {
    let log = home.open_log().await?;
    let to = args.to.unwrap_or(u64::MAX);
    let limit = args.limit.unwrap_or(usize::MAX);
    let mut from = args.from.max(1);
    let mut shown = 0usize;
    let mut out = std::io::stdout().lock();
    'pages: while from <= to && shown < limit {
        let page = log.read(from, 1000).await.context("reading records")?;
        let Some(last) = page.last() else { break };
        from = last.position + 1;
        for r in &page {
            if r.position > to || shown >= limit {
                break 'pages;
            }
            let view = RecordView::parse(&r.bytes).with_context(|| {
                format!(
                    "record {} is not readable; run `dossier verify`",
                    r.position
                )
            })?;
            if (view.event_type == control::SEAL && !args.seals && args.event_type.is_empty())
                || !matches(&args.event_type, view.event_type)
            {
                continue;
            }
            shown += 1;
            let line = Line {
                seq: r.position,
                recorded: view.recorded,
                event_type: view.event_type,
                entity: &view.entity,
                actor: &view.actor.name,
                key: view.actor.key,
                marking: &view.marking,
                hash: Hash::of_record(&r.bytes).to_hex(),
            };
            let written = if args.json {
                serde_json::to_writer(&mut out, &line)
                    .map_err(std::io::Error::other)
                    .and_then(|()| {
                        use std::io::Write as _;
                        writeln!(out)
                    })
            } else {
                use std::io::Write as _;
                writeln!(
                    out,
                    "{:>7}  {}  {:<28} {:<48} {:<16} {}",
                    line.seq,
                    &line.recorded[..19],
                    line.event_type,
                    line.entity,
                    line.marking,
                    line.actor
                )
            };
            if let Err(e) = written {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(());
                }
                return Err(anyhow::Error::new(e).context("writing output").into());
            }
        }
    }
    Ok(())
}

async fn fetch(home: &Home, seq: u64) -> CliResult<StoredRecord> {
    let log = home.open_log().await?;
    let rec = log
        .read(seq, 1)
        .await
        .context("reading the record")?
        .into_iter()
        .next();
    match rec {
        Some(r) if r.position == seq => Ok(r),
        _ => {
            let head = log.head().await.context("reading the head")?;
            Err(CliError::new(
                FAILURE,
                anyhow::anyhow!("no record {seq}: the ledger holds 1..={}", head.seq),
            ))
        }
    }
}

/// `dossier show`.
pub async fn show(home: &Home, args: &ShowArgs) -> CliResult {
    let rec = fetch(home, args.seq).await?;
    if args.raw {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        out.write_all(&rec.bytes)
            .and_then(|()| out.flush())
            .context("writing output")?;
        return Ok(());
    }
    let hash = Hash::of_record(&rec.bytes).to_hex();
    let value: serde_json::Value = serde_json::from_slice(&rec.bytes)
        .with_context(|| format!("record {} is not JSON; run `dossier verify`", args.seq))?;
    if args.json {
        let doc = serde_json::json!({ "seq": rec.position, "hash": hash, "record": value });
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&doc).context("encoding JSON")?
        )?;
    } else {
        crate::outln!("seq     {}", rec.position)?;
        crate::outln!("hash    {hash}")?;
        crate::outln!("size    {} bytes", rec.bytes.len())?;
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&value).context("encoding JSON")?
        )?;
    }
    Ok(())
}
