//! `dossier init`: a new ledger with its founding key.

use time::OffsetDateTime;

use crate::cli::InitArgs;
use crate::exit::CliResult;
use crate::home::Home;

/// `dossier init`.
pub async fn run(home: &Home, args: &InitArgs) -> CliResult {
    let c =
        dossier_app::create(home, &args.name, &args.producer, OffsetDateTime::now_utc()).await?;
    crate::outln!(
        "created ledger {} ({}) in {}",
        c.ledger,
        args.name,
        home.describe()
    )?;
    crate::outln!(
        "founding key {} ({}), public key {}",
        c.founder.id(),
        c.founder.name(),
        c.founder.public_hex()
    )?;
    crate::outln!(
        "the founding public key is pinned in root.pub; give it to auditors for `dossier verify --trust`"
    )?;
    Ok(())
}
