//! Recreating a ledger's texts stream without `deny_delete` (`dossier migrate --texts`): texts
//! streams created before redaction existed deny message deletes, which JetStream cannot undo,
//! so their texts cannot be erased (docs/FORMAT.md §5.5, §7.3).
//!
//! The texts are copied into a stream of their own, `<TEXTS>_MIGRATING` on the subjects
//! `dossier.<ledger>.migrating.texts.>`, each read back and checked against its hash; only then
//! is the old stream deleted, the texts stream created again (deletes allowed, purges still
//! denied) and the texts copied back, each checked again, and the copy deleted. A run killed at
//! any point leaves the texts whole in one of the two streams, and running it again finishes
//! it: a copy beside a stream that still denies deletes is started afresh; a copy beside a
//! missing or recreated texts stream is copied back. Texts named in `skip` (those whose
//! redaction is recorded) are not copied. Producers must not append while it runs.

use std::collections::HashSet;

use async_nats::jetstream::{self, stream};
use dossier_chain::Hash;
use dossier_log::{AppendError, LogError};
use futures::StreamExt as _;
use serde::Serialize;

use crate::JetStreamError;
use crate::config::JetStreamConfig;
use crate::texts::Texts;

/// What [`recreate_texts_stream`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Recreated {
    /// The texts stream already allowed deletes (and no interrupted run was left): nothing done.
    pub already: bool,
    /// Texts copied into the recreated stream, each checked against its hash.
    pub texts: u64,
    /// Texts left out because they were to be skipped (redacted).
    pub skipped: u64,
}

fn api(what: &str, e: impl std::fmt::Display) -> JetStreamError {
    JetStreamError::Api(format!("{what}: {e}"))
}

/// The name of the stream holding the copy while the texts stream is recreated.
fn copy_stream(cfg: &JetStreamConfig) -> String {
    format!("{}_MIGRATING", cfg.texts_stream())
}

/// The ledger name whose texts subjects the copy uses (`dossier.<ledger>.migrating.texts.…`).
fn copy_ledger(cfg: &JetStreamConfig) -> String {
    format!("{}.migrating", cfg.ledger)
}

async fn stream_if_there(
    js: &jetstream::Context,
    name: &str,
) -> Result<Option<(stream::Stream, stream::Info)>, JetStreamError> {
    match js.get_stream(name).await {
        Ok(mut s) => {
            let info = s.info().await.map_err(|e| api(name, e))?.clone();
            Ok(Some((s, info)))
        }
        Err(e) if crate::log::is_not_found(&e) => Ok(None),
        Err(e) => Err(api(name, e)),
    }
}

/// The hashes of the texts stored whole in `stream` (those whose chunk 0 is there), under the
/// subjects of `ledger`.
async fn hashes(stream: &stream::Stream, ledger: &str) -> Result<Vec<Hash>, JetStreamError> {
    let prefix = format!("dossier.{ledger}.texts.");
    let mut found = Vec::new();
    let mut subjects = stream
        .info_with_subjects(format!("{prefix}*.0"))
        .await
        .map_err(|e| api("listing texts", e))?;
    while let Some(s) = subjects.next().await {
        let (subject, _) = s.map_err(|e| api("listing texts", e))?;
        let hex = subject
            .strip_prefix(&prefix)
            .and_then(|s| s.strip_suffix(".0"))
            .unwrap_or_default();
        let hash = Hash::from_hex(hex).map_err(|_| {
            JetStreamError::Index(LogError::Corrupt(format!(
                "text subject {subject} is not named by a hash"
            )))
        })?;
        found.push(hash);
    }
    found.sort_unstable_by_key(|h| h.0);
    Ok(found)
}

fn texts(
    js: &jetstream::Context,
    s: &stream::Stream,
    ledger: &str,
    cfg: &JetStreamConfig,
) -> Texts {
    Texts::new(
        [js.clone(), js.clone()],
        [s.clone(), s.clone()],
        ledger,
        cfg.ride_out,
    )
}

/// Copies every text of `from` (subjects of `from_ledger`) not in `skip` into `to`, reading
/// each back from `to` and checking it against its hash. Returns (copied, skipped).
async fn copy(
    from: &Texts,
    from_hashes: &[Hash],
    to: &Texts,
    skip: &HashSet<Hash>,
) -> Result<(u64, u64), JetStreamError> {
    let (mut copied, mut skipped) = (0, 0);
    for hash in from_hashes {
        if skip.contains(hash) {
            skipped += 1;
            continue;
        }
        let text = from.get(hash).await?.ok_or_else(|| {
            LogError::Corrupt(format!("report text {hash} is listed but not stored whole"))
        })?;
        to.put(&text).await.map_err(|e| match e {
            AppendError::Log(l) => JetStreamError::Index(l),
            other => api("copying a text", other),
        })?;
        if to.get(hash).await?.as_deref() != Some(&text[..]) {
            return Err(JetStreamError::Index(LogError::Corrupt(format!(
                "report text {hash} does not read back as copied"
            ))));
        }
        copied += 1;
    }
    Ok((copied, skipped))
}

/// Hashes of the texts a [`recreate_texts_stream`] would copy (before any `skip`): those of
/// the texts stream while it denies deletes, else those of a copy an interrupted run left;
/// empty when there is nothing to do.
///
/// # Errors
/// Connecting or a JetStream request failed.
pub async fn texts_to_recreate(cfg: &JetStreamConfig) -> Result<Vec<Hash>, JetStreamError> {
    let js = jetstream::new(crate::log::connect(cfg).await?);
    let main = stream_if_there(&js, &cfg.texts_stream()).await?;
    let copy = stream_if_there(&js, &copy_stream(cfg)).await?;
    match (main, copy) {
        (Some((s, info)), _) if info.config.deny_delete => hashes(&s, &cfg.ledger).await,
        (_, Some((s, _))) => hashes(&s, &copy_ledger(cfg)).await,
        _ => Ok(Vec::new()),
    }
}

/// Recreates the texts stream of `cfg`'s ledger without `deny_delete` (see the module
/// documentation), leaving out the texts in `skip`.
///
/// # Errors
/// Connecting or a JetStream request failed, or a text does not hash to its name (nothing is
/// deleted before every text is copied and checked).
pub async fn recreate_texts_stream(
    cfg: &JetStreamConfig,
    skip: &HashSet<Hash>,
) -> Result<Recreated, JetStreamError> {
    let mut js = jetstream::new(crate::log::connect(cfg).await?);
    js.set_timeout(cfg.request_timeout);
    let name = cfg.texts_stream();
    let copy_name = copy_stream(cfg);
    let mut main = stream_if_there(&js, &name).await?;
    let mut copied = stream_if_there(&js, &copy_name).await?.map(|(s, _)| s);
    let mut done = Recreated::default();
    if let Some((old, info)) = &main
        && info.config.deny_delete
    {
        // A copy beside a stream that still denies deletes may be partial: start afresh.
        if copied.take().is_some() {
            js.delete_stream(&copy_name)
                .await
                .map_err(|e| api(&copy_name, e))?;
        }
        let copy_config = stream::Config {
            deny_delete: false,
            ..cfg.append_only_stream(
                copy_name.clone(),
                "report texts, copied while the texts stream is recreated",
                vec![format!("dossier.{}.texts.>", copy_ledger(cfg))],
            )
        };
        let aside = crate::log::create_stream_ready(&js, copy_config, cfg.request_timeout).await?;
        let listed = hashes(old, &cfg.ledger).await?;
        let (n, skipped) = copy(
            &texts(&js, old, &cfg.ledger, cfg),
            &listed,
            &texts(&js, &aside, &copy_ledger(cfg), cfg),
            skip,
        )
        .await?;
        done.skipped = skipped;
        tracing::info!(texts = n, skipped, stream = %copy_name, "texts copied aside and checked");
        // Every text is in the copy, checked: the old stream can go.
        js.delete_stream(&name).await.map_err(|e| api(&name, e))?;
        main = None;
        copied = Some(aside);
    }
    let Some(aside) = copied else {
        return match main {
            Some(_) => Ok(Recreated {
                already: true,
                ..Recreated::default()
            }),
            None => Err(JetStreamError::Config(format!(
                "there is no texts stream {name} (nor a copy {copy_name}) to recreate"
            ))),
        };
    };
    let target = match main {
        Some((s, _)) => s,
        None => {
            crate::log::create_stream_ready(
                &js,
                crate::texts::texts_stream_config(cfg),
                cfg.request_timeout,
            )
            .await?
        }
    };
    let listed = hashes(&aside, &copy_ledger(cfg)).await?;
    let (n, skipped) = copy(
        &texts(&js, &aside, &copy_ledger(cfg), cfg),
        &listed,
        &texts(&js, &target, &cfg.ledger, cfg),
        skip,
    )
    .await?;
    done.texts = n;
    done.skipped += skipped;
    js.delete_stream(&copy_name)
        .await
        .map_err(|e| api(&copy_name, e))?;
    Ok(done)
}
