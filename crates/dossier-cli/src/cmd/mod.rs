//! One module per command.

mod access;
mod auditor;
mod beliefs;
mod bundles;
mod demo;
mod docs;
mod exchange;
mod export;
mod init;
mod keys;
mod log;
mod migrate;
mod notify;
mod partial;
mod proofs;
mod redact;
mod render;
mod serve;
mod verify;
mod witness;

use dossier_jetstream::{Credentials, JetStreamConfig};

use crate::cli::{Cli, Command, KeysCommand, NatsArgs};
use crate::exit::CliResult;
use crate::home::Home;

fn nats_config(url: &str, a: &NatsArgs) -> JetStreamConfig {
    // The index path is set by `Home::with_nats`, under the data directory.
    let ledger = a.ledger.clone().unwrap_or_else(|| "default".to_owned());
    let mut cfg = JetStreamConfig::new(url, ledger, std::path::PathBuf::new());
    cfg.replicas = a.replicas.unwrap_or(1);
    cfg.allow_unsafe_stream = a.allow_unsafe_stream;
    cfg.credentials = if let (Some(user), Some(password)) = (&a.nats_user, &a.nats_password) {
        Credentials::UserPassword {
            user: user.clone(),
            password: password.clone(),
        }
    } else if let Some(t) = &a.nats_token {
        Credentials::Token(t.clone())
    } else if let Some(seed) = &a.nats_nkey {
        Credentials::NkeySeed(seed.clone())
    } else if let Some(file) = &a.nats_creds {
        Credentials::CredsFile(file.clone())
    } else {
        Credentials::None
    };
    cfg.tls_ca.clone_from(&a.nats_ca);
    if let (Some(cert), Some(key)) = (&a.nats_cert, &a.nats_key) {
        cfg.tls_client = Some((cert.clone(), key.clone()));
    }
    cfg
}

/// Runs a parsed command line.
pub async fn run(mut args: Cli) -> CliResult {
    // Generated from the command line's definition alone: no data directory, no configuration.
    match &args.command {
        Command::Completions(a) => return docs::completions(a),
        Command::Witness(a) => {
            let encrypt = matches!(
                a.command,
                crate::cli::WitnessCommand::Init {
                    encrypt_keys: true,
                    ..
                }
            );
            let keys = crate::passphrase::key_files(
                args.passphrase_file.as_deref(),
                encrypt,
                args.insecure_keys,
            );
            return witness::run(args.data_dir.clone(), &keys, a).await;
        }
        Command::Man(a) => return docs::man(a),
        _ => {}
    }
    let dir = Home::resolve(args.data_dir.clone())?.dir_path();
    crate::config::FileConfig::load(args.config.as_deref(), &dir.join("config.toml"))?
        .fill(&mut args);
    let encrypt = match &args.command {
        Command::Init(a) => a.encrypt_keys,
        Command::Keys(
            KeysCommand::Register { encrypt_keys, .. } | KeysCommand::Rotate { encrypt_keys, .. },
        ) => *encrypt_keys,
        _ => false,
    };
    let keys =
        crate::passphrase::key_files(args.passphrase_file.as_deref(), encrypt, args.insecure_keys);
    let home = || -> anyhow::Result<Home> {
        let home = Home::resolve(args.data_dir.clone())?.with_keys(keys.clone());
        Ok(match &args.nats_url {
            Some(url) => home.with_nats(nats_config(url, &args.nats)),
            None => home,
        })
    };
    match &args.command {
        Command::Init(a) => init::run(&home()?, a).await,
        Command::Validate(a) => bundles::validate(&home()?, a).await,
        Command::Publish(a) => bundles::publish(&home()?, a).await,
        Command::Log(a) => log::log(&home()?, a).await,
        Command::Show(a) => log::show(&home()?, a).await,
        Command::Verify(a) => verify::run(&home()?.for_audit(), a).await,
        Command::Export(a) if a.format == crate::cli::ExportFormat::Log => {
            export::export(&home()?.for_audit(), a).await
        }
        Command::Export(a) => exchange::export(&home()?, a).await,
        Command::Import(a) if a.format == crate::cli::ImportFormat::Stix => {
            exchange::import_stix(a)
        }
        Command::Import(a) => export::import(&home()?, a).await,
        Command::Migrate(a) => migrate::run(&home()?, a).await,
        Command::Redact(a) => redact::run(&home()?, a).await,
        Command::Keys(k) => keys::run(&home()?, k).await,
        Command::Access(a) => access::run(&home()?, a).await,
        Command::Beliefs(a) => beliefs::beliefs(&home()?, a).await,
        Command::Why(a) => beliefs::why(&home()?, a).await,
        Command::History(a) => beliefs::history(&home()?, a).await,
        Command::Serve(a) => serve::serve(&home()?, a).await,
        Command::Projector(a) => serve::projector(&home()?.for_service(), a).await,
        Command::Notify(a) => notify::run(&home()?.for_service(), a).await,
        Command::Watch(w) => notify::watch(&home()?, w).await,
        Command::Views(v) => beliefs::views(&home()?, v).await,
        Command::Demo(a) => demo::run(a).await,
        Command::Checkpoint(a) => proofs::checkpoint(&home()?, a).await,
        Command::Tiles(a) => proofs::tiles(&home()?, a).await,
        Command::Prove(a) => proofs::prove(&home()?, a).await,
        Command::CheckProof(a) => proofs::check_proof(a),
        Command::ForkEvidence(a) => proofs::fork_evidence(&home()?, a).await,
        Command::CheckFork(a) => proofs::check_fork(a),
        Command::Auditor(a) => auditor::run(&home()?.for_audit().for_service(), a).await,
        Command::Completions(_) | Command::Man(_) | Command::Witness(_) => Ok(()),
    }
}
