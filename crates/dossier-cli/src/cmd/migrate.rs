//! `dossier migrate`: a face over `dossier_app::migrate`.

use anyhow::Context as _;
use dossier_app::Home;

use crate::cli::MigrateArgs;
use crate::exit::CliResult;

/// `dossier migrate`.
pub async fn run(home: &Home, args: &MigrateArgs) -> CliResult {
    let trust = super::verify::trust_root(home, args.trust.as_deref())?;
    let done = dossier_app::migrate::migrate(home, trust).await?;
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&done).context("encoding JSON")?
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
