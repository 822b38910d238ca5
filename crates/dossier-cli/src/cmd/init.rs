//! `dossier init`: a new ledger with its founding key.

use anyhow::Context as _;
use dossier_chain::{Genesis, Signer};
use dossier_log::{AppendError, EventLog as _};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::cli::InitArgs;
use crate::exit::{CliError, CliResult, FAILURE};
use crate::home::Home;

/// What `init` created.
pub struct Created {
    pub ledger: Uuid,
    pub founder: Signer,
}

/// Creates the ledger; fails if one exists.
pub async fn create(home: &Home, args: &InitArgs) -> CliResult<Created> {
    let exists = match home.open_log_if_exists().await {
        Ok(found) => found.is_some(),
        // An existing SQLite file that cannot be opened is not ours to overwrite either.
        Err(_) => home.has_ledger(),
    };
    if exists {
        return Err(CliError::new(
            FAILURE,
            anyhow::anyhow!(
                "{} already holds a ledger; nothing was changed",
                home.describe()
            ),
        ));
    }
    home.create()?;
    let founder = Signer::generate(&args.producer);
    let ledger = Uuid::new_v4();
    let records = Genesis::build(ledger, &args.name, &founder, OffsetDateTime::now_utc())
        .context("building the genesis record")?;
    home.save_key(&founder)?;
    let log = match home.create_log().await {
        Ok(log) => log,
        Err(e) => {
            home.remove_key(founder.id());
            return Err(e.into());
        }
    };
    // The genesis append is the commit point: of two `init`s racing in one directory, exactly
    // one appends record 1 and only that one writes the trust root and producer files.
    match log.append(0, &records, &[]).await {
        Ok(_) => {}
        Err(e) => {
            home.remove_key(founder.id());
            let already = matches!(e, AppendError::Conflict { .. });
            let error = anyhow::Error::new(e).context(if already {
                format!(
                    "{} already holds a ledger (another init won); nothing was changed",
                    home.describe()
                )
            } else {
                "writing the genesis record".to_owned()
            });
            return Err(CliError::new(FAILURE, error));
        }
    }
    home.save_root(&founder.public_hex())?;
    home.set_producer(founder.id())?;
    Ok(Created { ledger, founder })
}

/// `dossier init`.
pub async fn run(home: &Home, args: &InitArgs) -> CliResult {
    let c = create(home, args).await?;
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
