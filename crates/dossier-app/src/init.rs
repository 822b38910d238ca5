//! A new ledger with its founding key, in a data directory (and its backend).

use dossier_chain::{BuildError, Genesis, Signer};
use dossier_log::{AppendError, EventLog as _};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::home::Home;

/// What [`create`] created.
#[derive(Debug)]
pub struct Created {
    /// The new ledger's id.
    pub ledger: Uuid,
    /// The founding key (its secret is in the data directory, and it is the producer key).
    pub founder: Signer,
}

/// Creates a ledger named `name` whose founding key is a new key held by `producer`, recorded
/// at `now`; pins the founding public key and makes the founding key the producer key.
///
/// The genesis append is the commit point: of two creations racing in one directory, exactly
/// one appends record 1 and only that one writes the trust root and producer files; the other
/// leaves nothing behind (its key file is removed).
///
/// # Errors
/// [`AppError::LedgerExists`] if the data directory (or stream) already holds a ledger, or
/// another creation won the race; otherwise if the directory or the ledger cannot be written.
pub async fn create(
    home: &Home,
    name: &str,
    producer: &str,
    now: time::OffsetDateTime,
) -> AppResult<Created> {
    let exists = match home.open_log_if_exists().await {
        Ok(found) => found.is_some(),
        // An existing SQLite file that cannot be opened is not ours to overwrite either.
        Err(_) => home.has_ledger(),
    };
    if exists {
        return Err(AppError::LedgerExists {
            place: home.describe(),
            source: None,
        });
    }
    home.create()?;
    let founder = Signer::generate(producer);
    let ledger = Uuid::new_v4();
    let records = Genesis::build(ledger, name, &founder, now)
        .map_err(|source: BuildError| AppError::BuildGenesis { source })?;
    home.save_key(&founder)?;
    let log = match home.create_log().await {
        Ok(log) => log,
        Err(e) => {
            home.remove_key(founder.id());
            return Err(e);
        }
    };
    if let Err(e) = log.append(0, &records, &[]).await {
        home.remove_key(founder.id());
        return Err(if matches!(e, AppendError::Conflict { .. }) {
            AppError::LedgerExists {
                place: home.describe(),
                source: Some(e),
            }
        } else {
            AppError::WriteGenesis { source: e }
        });
    }
    home.save_root(&founder.public_hex())?;
    home.set_producer(founder.id())?;
    Ok(Created { ledger, founder })
}
