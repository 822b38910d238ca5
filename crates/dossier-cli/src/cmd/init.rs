//! `dossier init`: a new ledger with its founding key.

use time::OffsetDateTime;

use crate::cli::InitArgs;
use crate::exit::CliResult;
use crate::home::Home;

/// `dossier init`.
pub async fn run(home: &Home, args: &InitArgs) -> CliResult {
    let c =
        dossier_app::create(home, &args.name, &args.producer, OffsetDateTime::now_utc()).await?;
    if args.json {
        #[derive(serde::Serialize)]
        struct Created<'a> {
            ledger: String,
            name: &'a str,
            place: String,
            founding_key: &'a str,
            founding_key_name: &'a str,
            founding_public_key: String,
        }
        let doc = Created {
            ledger: c.ledger.to_string(),
            name: &args.name,
            place: home.describe(),
            founding_key: c.founder.id(),
            founding_key_name: c.founder.name(),
            founding_public_key: c.founder.public_hex(),
        };
        return Ok(crate::output::json(&doc)?);
    }
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
