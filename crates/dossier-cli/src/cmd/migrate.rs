//! `dossier migrate`: a face over `dossier_app::migrate`.

use anyhow::Context as _;
use dossier_app::Home;

use crate::cli::MigrateArgs;
use crate::exit::CliResult;

/// `dossier migrate`.
pub async fn run(home: &Home, args: &MigrateArgs) -> CliResult {
    if args.texts {
        return texts(home, args).await;
    }
    let trust = super::verify::trust_root(home, args.trust.as_deref())?;
    let done = dossier_app::migrate::migrate(home, trust, args.to.as_deref()).await?;
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&done).context("encoding JSON")?
        )?;
    } else if home.is_nats() {
        crate::outln!(
            "copied {} ({} records, head {}, last seal {}) into {} in the batch layout, both verified; the old stream is kept, read only: use --ledger {} from now on",
            done.kept.display(),
            done.sums.records,
            done.sums.head,
            done.sums.last_sealed,
            done.ledger.display(),
            args.to.as_deref().unwrap_or_default()
        )?;
    } else {
        crate::outln!(
            "migrated {} ({} records, head {}, last seal {}) to the batch layout; the old file is kept as {}",
            done.ledger.display(),
            done.sums.records,
            done.sums.head,
            done.sums.last_sealed,
            done.kept.display()
        )?;
    }
    Ok(())
}

/// `dossier migrate --texts`.
async fn texts(home: &Home, args: &MigrateArgs) -> CliResult {
    let done = dossier_app::migrate::migrate_texts(home).await?;
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&done).context("encoding JSON")?
        )?;
    } else if done.already {
        crate::outln!(
            "the texts stream already allows the deletes a redaction needs; nothing changed"
        )?;
    } else {
        crate::outln!(
            "recreated the texts stream without deny_delete (purges still denied): {} texts copied and checked against their hashes, {} redacted texts left out",
            done.texts,
            done.skipped
        )?;
    }
    Ok(())
}
