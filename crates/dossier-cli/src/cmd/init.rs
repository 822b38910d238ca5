//! `dossier init`: a new ledger with its founding key.

use time::OffsetDateTime;

use crate::cli::InitArgs;
use crate::exit::CliResult;
use crate::home::Home;

/// `dossier init`.
pub async fn run(home: &Home, args: &InitArgs) -> CliResult {
    let c =
        dossier_app::create(home, &args.name, &args.producer, OffsetDateTime::now_utc()).await?;
    let roles = if args.roles {
        let log = home.open_log().await?;
        let [producer, log_key] =
            dossier_app::keys::adopt_roles(home, &log, c.founder.id(), &args.producer)
                .await
                .map_err(super::keys::hint_refusal)?;
        Some((
            producer.registered.unwrap_or_default(),
            log_key.registered.unwrap_or_default(),
        ))
    } else {
        None
    };
    if args.json {
        #[derive(serde::Serialize)]
        struct Created<'a> {
            ledger: String,
            name: &'a str,
            place: String,
            founding_key: &'a str,
            founding_key_name: &'a str,
            founding_public_key: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            producer_key: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            log_key: Option<&'a str>,
        }
        let doc = Created {
            ledger: c.ledger.to_string(),
            name: &args.name,
            place: home.describe(),
            founding_key: c.founder.id(),
            founding_key_name: c.founder.name(),
            founding_public_key: c.founder.public_hex(),
            producer_key: roles.as_ref().map(|r| r.0.as_str()),
            log_key: roles.as_ref().map(|r| r.1.as_str()),
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
    if let Some((producer, log_key)) = &roles {
        crate::outln!(
            "producer key {producer} (this directory publishes with it) and log key {log_key} (it signs checkpoints) registered"
        )?;
    }
    Ok(())
}
