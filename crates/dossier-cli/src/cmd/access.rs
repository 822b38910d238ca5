//! `dossier access`: grants (ledger events, through `dossier-access`) and the access log.

use anyhow::Context as _;
use dossier_access::{
    ACCESS_LOG_FILE, AccessError, AccessErrorKind, AccessLog, CredentialRequest, GrantInfo,
    GrantRequest, GrantState, Grants,
};
use dossier_model::{Marking, Timestamp};
use serde::Serialize;

use crate::cli::AccessCommand;
use crate::exit::{CONFLICT, CliError, CliResult, FAILURE, INVALID_INPUT};
use crate::home::Home;

/// The library's error with its exit code (`Invalid` is refused input, nothing appended).
fn cli_error(e: AccessError) -> CliError {
    let code = match e.kind() {
        AccessErrorKind::Invalid => INVALID_INPUT,
        AccessErrorKind::Conflict => CONFLICT,
        AccessErrorKind::NotFound | AccessErrorKind::Storage | AccessErrorKind::Corrupt => FAILURE,
    };
    let hint = match e.kind() {
        AccessErrorKind::NotFound => "; `dossier access list` shows the grants",
        AccessErrorKind::Invalid | AccessErrorKind::Conflict => "; nothing was appended",
        _ => "",
    };
    CliError::new(code, anyhow::anyhow!("{e}{hint}"))
}

fn invalid(message: String) -> CliError {
    CliError::new(
        INVALID_INPUT,
        anyhow::anyhow!("{message}; nothing was appended"),
    )
}

fn now() -> anyhow::Result<Timestamp> {
    Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc())
        .context("the clock is outside the years 0000 to 9999")
}

/// A grant as `access list --json` prints it: the recorded grant and its state now.
#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    info: GrantInfo,
    state: GrantState,
}

fn expires_text(expires: Option<Timestamp>) -> String {
    expires.map_or_else(|| "never".to_owned(), |t| t.to_string())
}

fn json_out(value: &impl Serialize) -> CliResult {
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(value).context("encoding JSON")?
    )?;
    Ok(())
}

/// `dossier access …`.
pub async fn run(home: &Home, cmd: &AccessCommand) -> CliResult {
    match cmd {
        AccessCommand::Grant {
            name,
            role,
            clearance,
            expires,
            cert,
            json,
        } => {
            let role = *role;
            let clearance = match clearance {
                Some(c) => *c,
                None if role.requires_red() => Marking::Red,
                None => {
                    return Err(invalid(
                        "a reader needs --clearance (TLP:CLEAR, TLP:GREEN, TLP:AMBER, TLP:AMBER+STRICT or TLP:RED)"
                            .to_owned(),
                    ));
                }
            };
            let expiry = *expires;
            let credential = match cert {
                None => CredentialRequest::Token,
                Some(path) => {
                    let pem = std::fs::read(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let spki_sha256 = dossier_access::spki_sha256_from_pem(&pem)
                        .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
                    CredentialRequest::Certificate { spki_sha256 }
                }
            };
            let request = GrantRequest {
                principal: name.clone(),
                role,
                clearance,
                expiry,
                credential,
            };
            let log = home.open_log().await?;
            let signer = administrator(home, &log).await?;
            let granted = dossier_access::grant(&log, &signer, &request, now()?)
                .await
                .map_err(cli_error)?;
            if *json {
                return json_out(&granted);
            }
            let g = &granted.info;
            crate::outln!(
                "granted {} to {}: {}, clearance {}, expires {}; recorded at seq {}, signed by {}",
                g.grant,
                g.principal,
                g.role,
                g.clearance,
                expires_text(g.expires),
                g.seq,
                g.by
            )?;
            match &granted.token {
                Some(token) => {
                    crate::outln!("token (shown this once; the ledger keeps only its SHA-256):")?;
                    crate::outln!("{token}")?;
                }
                None => crate::outln!(
                    "authenticates the client certificate whose public key hashes to {}",
                    g.credential.hash_hex()
                )?,
            }
        }
        AccessCommand::Revoke {
            grant,
            reason,
            json,
        } => {
            let log = home.open_log().await?;
            let signer = administrator(home, &log).await?;
            let revoked = dossier_access::revoke(&log, &signer, grant, reason)
                .await
                .map_err(cli_error)?;
            if *json {
                return json_out(&revoked);
            }
            if revoked.already_recorded {
                crate::outln!(
                    "grant {grant} was already revoked at seq {} for the same reason; nothing appended",
                    revoked.seq
                )?;
            } else {
                crate::outln!(
                    "revoked grant {grant} at seq {}, signed by {}",
                    revoked.seq,
                    signer.id()
                )?;
            }
        }
        AccessCommand::List { json } => {
            let log = home.open_log().await?;
            let mut grants = Grants::new();
            grants.catch_up(&log).await.map_err(cli_error)?;
            let now = now()?;
            let listed: Vec<Listed> = grants
                .list()
                .into_iter()
                .map(|info| Listed {
                    state: info.state(now),
                    info,
                })
                .collect();
            if *json {
                return json_out(&listed);
            }
            for r in grants.rejected() {
                eprintln!(
                    "dossier: warning: the access record at seq {} is not honoured: {}",
                    r.seq, r.reason
                );
            }
            for l in &listed {
                let i = &l.info;
                crate::outln!(
                    "{}  {:<24} {:<8} {:<16} {:<11} expires {:<24} {}",
                    i.grant,
                    i.principal,
                    i.role,
                    i.clearance.as_str(),
                    i.credential.kind(),
                    expires_text(i.expires),
                    l.state.as_str()
                )?;
            }
        }
        AccessCommand::Log { since, limit, json } => {
            let path = home.dir_path().join(ACCESS_LOG_FILE);
            // No file: nothing was logged here; do not create one by listing.
            let entries = if path.exists() {
                AccessLog::open(&path)
                    .and_then(|l| l.list(*since, *limit))
                    .map_err(cli_error)?
            } else {
                Vec::new()
            };
            if *json {
                return json_out(&entries);
            }
            for e in &entries {
                crate::outln!(
                    "{}  {:<24} {:<8} {:<16} {}  {}",
                    e.at,
                    e.principal,
                    e.role,
                    e.marking.as_str(),
                    e.route,
                    e.what
                )?;
            }
        }
    }
    Ok(())
}

/// The key that records an access change: one of this directory's able to administer the
/// ledger (docs/FORMAT.md §5.3; a producer key may not).
async fn administrator(
    home: &crate::home::Home,
    log: &crate::backend::Backend,
) -> CliResult<dossier_chain::Signer> {
    let keys = dossier_app::keys::list(home, log).await?;
    dossier_app::keys::administrator(home, &keys, None).map_err(super::keys::hint_refusal)
}
