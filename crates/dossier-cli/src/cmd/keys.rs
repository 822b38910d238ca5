//! `dossier keys`: the keys a ledger trusts and their roles.

use anyhow::Context as _;
use dossier_app::keys::{self, KeyChange, RevocationPlan};

use crate::cli::KeysCommand;
use crate::exit::{CliError, CliResult, FAILURE};
use crate::home::Home;

pub(crate) use dossier_app::keys::list as list_keys;

fn refuse(message: String) -> CliError {
    CliError::new(FAILURE, anyhow::anyhow!("{message}; nothing was appended"))
}

/// Prints a key change: as JSON, or the lines given.
fn report(change: &KeyChange, json: bool, lines: &[String]) -> CliResult {
    if json {
        crate::output::json(change)?;
        return Ok(());
    }
    for line in lines {
        crate::outln!("{line}")?;
    }
    Ok(())
}

/// Asks on the terminal for the key id to be typed back; refuses without a terminal.
fn confirm_revocation(plan: &RevocationPlan) -> CliResult {
    let (key, name) = (&plan.key, &plan.name);
    crate::confirm::ask(&crate::confirm::Confirmation {
        id: key,
        question: format!(
            "Revoke key {key} ({name})? Seals it signs after this fail verification, for good, and its secret in this directory is destroyed."
        ),
        doing: format!("revoking key {key}"),
        change: format!("revocation of key {key}"),
    })
}

/// Creates `path` (0600, refusing an existing file) holding `bytes`.
pub(crate) fn write_new(path: &std::path::Path, bytes: &[u8]) -> CliResult {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `dossier keys …`.
pub async fn run(home: &Home, cmd: &KeysCommand) -> CliResult {
    let log = home.open_log().await?;
    match cmd {
        KeysCommand::List { json } => {
            let keys = list_keys(home, &log).await?;
            if *json {
                crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&keys).context("encoding JSON")?
                )?;
            } else {
                for k in keys {
                    let state = match k.revoked_seq {
                        Some(s) => format!("revoked at seq {s}"),
                        None => "active".to_owned(),
                    };
                    crate::outln!(
                        "{}  {:<20} {:<12} registered at seq {:<6} {state}{}{}",
                        k.key,
                        k.name,
                        k.role,
                        k.registered_seq,
                        if k.founding { ", founding key" } else { "" },
                        if k.secret_here {
                            ", secret in this directory"
                        } else {
                            ""
                        }
                    )?;
                }
            }
        }
        KeysCommand::Register {
            name,
            public,
            role,
            use_it,
            key,
            json,
            ..
        } => {
            let change = keys::register(
                home,
                &log,
                keys::Registration {
                    name,
                    public: public.as_deref(),
                    role: *role,
                    use_it: *use_it,
                    signer: key.as_deref(),
                },
            )
            .await
            .map_err(hint_refusal)?;
            let key = change.registered.as_deref().unwrap_or_default();
            let mut lines = vec![format!(
                "registered key {key} ({name}) as {role}, signed by {}",
                change.signed_by
            )];
            if *use_it {
                lines.push(format!("this directory now publishes with key {key}"));
            }
            report(&change, *json, &lines)?;
        }
        KeysCommand::Revoke {
            key,
            reason,
            signer,
            yes,
            json,
        } => {
            let plan = keys::plan_revocation(home, &log, key, reason, signer.as_deref())
                .await
                .map_err(hint_refusal)?;
            if !*yes {
                confirm_revocation(&plan)?;
            }
            let change = keys::revoke(home, &log, plan).await?;
            let mut lines = vec![format!("revoked key {key}, signed by {}", change.signed_by)];
            if change.destroyed {
                lines.push("its secret in this directory was destroyed".to_owned());
            }
            report(&change, *json, &lines)?;
        }
        KeysCommand::Backup { out, json } => {
            let (bytes, summary) = home.backup_keys(&log).await?;
            write_new(out, &bytes)?;
            if *json {
                crate::output::json(&summary)?;
                return Ok(());
            }
            crate::outln!(
                "backed up {} key file(s) ({}), the pinned root, the producer choice{} of ledger {} to {} (encrypted)",
                summary.keys.len(),
                summary.keys.join(", "),
                if summary.auditor {
                    " and the auditor's store"
                } else {
                    ""
                },
                summary.ledger,
                out.display()
            )?;
        }
        KeysCommand::Restore { file, json } => {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let restored = home.restore_keys(&log, file, bytes).await?;
            if *json {
                crate::output::json(&restored)?;
                return Ok(());
            }
            crate::outln!(
                "restored {} key file(s) ({}), the pinned root{} of ledger {}",
                restored.keys.len(),
                restored.keys.join(", "),
                if restored.auditor {
                    " and the auditor's store"
                } else {
                    ""
                },
                restored.ledger
            )?;
            if !restored.destroyed.is_empty() {
                crate::outln!(
                    "destroyed at once, revoked since the backup: {}",
                    restored.destroyed.join(", ")
                )?;
            }
        }
        KeysCommand::Rotate {
            name, key, json, ..
        } => {
            let change = keys::rotate(home, &log, key.as_deref(), name.as_deref())
                .await
                .map_err(hint_refusal)?;
            let (new, old) = (
                change.registered.as_deref().unwrap_or_default(),
                change.revoked.as_deref().unwrap_or_default(),
            );
            let mut line = format!(
                "rotated: key {new} replaces {old} (revoked, its secret destroyed), signed by {}",
                change.signed_by
            );
            if change.producer.is_some() {
                line.push_str(&format!("; this directory now publishes with {new}"));
            }
            report(&change, *json, &[line])?;
        }
    }
    Ok(())
}

/// The command line's advice added to a refused key change.
pub(crate) fn hint_refusal(e: dossier_app::AppError) -> CliError {
    use dossier_app::{AppError, keys::KeyRefusal};
    match e {
        AppError::KeyRefused(refusal) => {
            let hint = match &refusal {
                KeyRefusal::NotRegistered { .. } => " (`dossier keys list` shows its keys)",
                KeyRefusal::NoReason => " (--reason TEXT)",
                KeyRefusal::LastTrustedKey { .. } => {
                    "; register another admin key first (`dossier keys register --role admin`)"
                }
                KeyRefusal::LastAdmin { .. } => {
                    "; sign with the founding key (--key), or register another admin key first"
                }
                KeyRefusal::NotAdministrator { .. } | KeyRefusal::NoAdministratorHere => {
                    "; sign with the founding key or an admin key (--key KEY, its secret in this directory)"
                }
                KeyRefusal::LogKeyPublishes { .. } => {
                    " (register it without --use-it; the auditor signs checkpoints with it)"
                }
                KeyRefusal::FoundingKey { .. } => " (sign with the founding key: --key)",
                KeyRefusal::NotCheckpointKey { .. } | KeyRefusal::NoCheckpointKeyHere => {
                    "; register a log key (`dossier keys register --role log`) or sign with it (--key)"
                }
                KeyRefusal::AlreadyRevoked { .. } | KeyRefusal::SignerNotTrusted { .. } => "",
            };
            refuse(format!("{refusal}{hint}"))
        }
        e => CliError::from(e),
    }
}
