//! `migrate`: converting a ledger to the current storage layout, verified before and after.
//!
//! SQLite: a per-record (layout 1) `ledger.db` is copied batch by batch into
//! `ledger.db.migrating` beside it (layout 2, docs/FORMAT.md §7.1), refusing a batch too large
//! for the framing at its first seq. Both are then verified with the
//! same trust root and must agree on the head hash, the last verified seal, the checkpoint root
//! (the Merkle root over every record hash, as `dossier-proofs` computes it) and the beliefs
//! digest (the projector's rebuild of the full view). Only then is the old file kept as
//! `ledger.db.per-record` (a hard link) and the new one renamed over `ledger.db`, in one step.
//! Killed at any point before that rename, the old ledger is untouched and a second run starts
//! over; after it, the ledger is migrated. The ledger must not be in use by another process.
//!
//! JetStream: a per-record (layout 1) stream is copied batch by batch, with its report texts,
//! into a new ledger stream of the batch layout (layout 2, docs/FORMAT.md §7.3) under the name
//! given (`--to`), refusing a batch too large for the framing at its first seq. Both are then
//! verified and compared as above. The old stream is only ever read: it stays as it was, read
//! only, and producers and services move to the new ledger name. A failed run leaves the new
//! stream behind (an admin deletes it, or a second run is given another name).
//!
//! JetStream texts (`--texts`): a texts stream created before redaction existed denies message
//! deletes, so its texts cannot be erased. [`migrate_texts`] recreates it without `deny_delete`
//! (purges stay denied) through `dossier_jetstream::retext`: every text copied aside and checked
//! against its hash, the old stream deleted, the stream created again and the texts copied back
//! and checked; texts whose redaction is recorded are left out. A run killed at any point is
//! finished by the next. Producers must not append while it runs.

use std::path::{Path, PathBuf};

use dossier_chain::{Hash, TrustRoot};
use dossier_jetstream::{JetStreamConfig, JetStreamError, JetStreamLog, Layout};
use dossier_log::migrate::{MigrateError, copy_per_record};
use dossier_log::{EventLog, SqliteLayout, SqliteLog, for_each_record, verify_log};
use dossier_model::Marking;
use serde::Serialize;

use crate::{AppError, AppResult, Home};

/// What a ledger looked like on both sides of a migration (they are equal).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LedgerSums {
    /// Records.
    pub records: u64,
    /// The hash of the last record (hex).
    pub head: String,
    /// The last verified seal.
    pub last_sealed: u64,
    /// The Merkle root over every record hash (hex).
    pub root: String,
    /// The beliefs digest of the full view.
    pub beliefs: Option<String>,
}

/// A finished migration.
#[derive(Clone, Debug, Serialize)]
pub struct Migrated {
    /// The ledger file (now of the batch layout).
    pub ledger: PathBuf,
    /// Where the old file is kept.
    pub kept: PathBuf,
    /// What both verified to.
    pub sums: LedgerSums,
}

/// Why a migration did not happen (the old ledger is untouched).
#[derive(Debug, thiserror::Error)]
pub enum MigrateProblem {
    /// The ledger already has the current layout.
    #[error("it already has the batch layout")]
    AlreadyMigrated,
    /// A JetStream ledger is migrated into a new stream, whose ledger name must be given.
    #[error(
        "give the ledger name to copy it into with --to NAME (a new stream of the batch layout; the old stream is kept, read only)"
    )]
    NeedsTarget,
    /// The name given is the ledger's own.
    #[error("--to must name another ledger than the one migrated")]
    SameTarget,
    /// The old ledger does not verify (first failure given): nothing to carry over faithfully.
    #[error("the ledger does not verify: {0}")]
    DoesNotVerify(String),
    /// The new file does not verify, or verifies to something else than the old one.
    #[error("the migrated copy differs: {0}")]
    Differs(String),
    /// The copy failed.
    #[error(transparent)]
    Copy(#[from] MigrateError),
    /// The stream named by `--to` exists already (another ledger's, or one an interrupted
    /// migration left): nothing is copied into a stream that may hold anything.
    #[error(
        "stream {0} already exists; a migration copies only into a new stream (if an interrupted migration left it, remove it and its _TEXTS and _CHECKPOINTS streams as an admin, or give another --to)"
    )]
    TargetExists(String),
    /// The migration failed after creating its target, and removing the target failed too.
    #[error("{failure}; removing the new stream failed too ({removing}): remove it as an admin")]
    Abandoned {
        /// Why the migration failed.
        failure: String,
        /// Why the removal failed.
        removing: String,
    },
    /// Only a JetStream ledger keeps its texts in a stream to recreate.
    #[error(
        "only a JetStream ledger has a texts stream to recreate (SQLite erases texts in place)"
    )]
    NoTextsStream,
}

fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_there(path: &Path) -> AppResult<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(AppError::io(format!("removing {}", path.display()), e)),
    }
}

fn remove_db(path: &Path) -> AppResult<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        remove_if_there(&beside(path, suffix))?;
    }
    Ok(())
}

fn problem(home: &Home, problem: impl Into<MigrateProblem>) -> AppError {
    AppError::Migrate {
        ledger: home.db_path(),
        problem: problem.into(),
    }
}

/// Verifies `log` and computes what must be equal across the migration; `views` is a scratch
/// path for the beliefs rebuild (removed after).
async fn sums<L: EventLog>(
    home: &Home,
    log: &L,
    trust: TrustRoot,
    views: &Path,
) -> AppResult<Result<LedgerSums, String>> {
    let report = verify_log(log, trust, |_| {})
        .await
        .map_err(|e| AppError::log("verifying the ledger", e))?;
    if let Some(first) = report.failures.first() {
        return Ok(Err(first.to_string()));
    }
    let mut hashes = Vec::new();
    for_each_record(log, 1, |r| {
        hashes.push(Hash::of_record(&r.bytes));
        Ok::<_, dossier_log::LogError>(())
    })
    .await
    .map_err(|e| AppError::log("reading the ledger", e))?;
    let root = dossier_proofs::root_of(hashes);
    remove_db(views)?;
    let beliefs = dossier_projector::rebuild(log, views)
        .await
        .and_then(|_| dossier_projector::ViewStore::open(views)?.digest(Marking::Red))
        .map_err(|e| {
            problem(
                home,
                MigrateProblem::Differs(format!("rebuilding beliefs: {e}")),
            )
        })?;
    remove_db(views)?;
    Ok(Ok(LedgerSums {
        records: report.records,
        head: report.head,
        last_sealed: report.last_sealed,
        root: root.to_hex(),
        beliefs,
    }))
}

/// Migrates the data directory's ledger to the current layout (see the module documentation).
///
/// # Errors
/// [`AppError::Migrate`] when the ledger is already migrated, does not verify, holds a batch
/// too large for the framing, or the copy differs; [`AppError::NoLedger`]; storage failures.
pub async fn migrate(home: &Home, trust: TrustRoot, to: Option<&str>) -> AppResult<Migrated> {
    if let Some(cfg) = home.nats_config() {
        return migrate_stream(home, cfg, trust, to).await;
    }
    let db = home.db_path();
    if !home.has_ledger() {
        return Err(AppError::NoLedger {
            place: home.dir_path().display().to_string(),
            backend: crate::BackendKind::Sqlite,
        });
    }
    let old =
        SqliteLog::open(&db).map_err(|e| AppError::log(format!("opening {}", db.display()), e))?;
    if old.layout() == SqliteLayout::Batches {
        return Err(problem(home, MigrateProblem::AlreadyMigrated));
    }
    let views = beside(&db, ".migrating-views");
    // The copy first: it refuses an oversized batch at its seq before any long check.
    let new_path = beside(&db, ".migrating");
    remove_db(&new_path)?;
    let new = SqliteLog::open(&new_path)
        .map_err(|e| AppError::log(format!("creating {}", new_path.display()), e))?;
    copy_per_record(&old, &new, |_| {})
        .await
        .map_err(|e| problem(home, e))?;
    let before = sums(home, &old, trust.clone(), &views)
        .await?
        .map_err(|first| problem(home, MigrateProblem::DoesNotVerify(first)))?;
    let after = sums(home, &new, trust, &views).await?.map_err(|first| {
        problem(
            home,
            MigrateProblem::Differs(format!("it does not verify: {first}")),
        )
    })?;
    if after != before {
        return Err(problem(
            home,
            MigrateProblem::Differs(format!("before {before:?}, after {after:?}")),
        ));
    }
    new.checkpoint_wal()
        .map_err(|e| AppError::log(format!("writing back {}", new_path.display()), e))?;
    drop(new);
    // The old file alone must hold the ledger: nothing of it may stay in a WAL beside it.
    old.checkpoint_wal()
        .map_err(|e| AppError::log(format!("writing back {}", db.display()), e))?;
    drop(old);

    let kept = beside(&db, ".per-record");
    remove_db(&kept)?;
    std::fs::hard_link(&db, &kept)
        .map_err(|e| AppError::io(format!("keeping {} as {}", db.display(), kept.display()), e))?;
    for suffix in ["-wal", "-shm"] {
        remove_if_there(&beside(&new_path, suffix))?;
    }
    // The one step that switches: before it the old ledger is in place, after it the new one.
    std::fs::rename(&new_path, &db).map_err(|e| {
        AppError::io(
            format!("renaming {} to {}", new_path.display(), db.display()),
            e,
        )
    })?;
    if let Some(dir) = db.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    for suffix in ["-wal", "-shm"] {
        remove_if_there(&beside(&db, suffix))?;
    }
    Ok(Migrated {
        ledger: db,
        kept,
        sums: after,
    })
}

/// Migrates a per-record JetStream ledger into a new stream of the batch layout (see the module
/// documentation).
async fn migrate_stream(
    home: &Home,
    cfg: &JetStreamConfig,
    trust: TrustRoot,
    to: Option<&str>,
) -> AppResult<Migrated> {
    let stream_problem = |problem: MigrateProblem| AppError::Migrate {
        ledger: PathBuf::from(format!("stream {}", cfg.stream())),
        problem,
    };
    let to = to.ok_or_else(|| stream_problem(MigrateProblem::NeedsTarget))?;
    let open = |cfg: JetStreamConfig| async move {
        JetStreamLog::open(&cfg)
            .await
            .map_err(|source| AppError::JetStream {
                what: format!("opening the JetStream ledger {}", cfg.ledger),
                source,
            })
    };
    let mut old_cfg = cfg.clone();
    old_cfg.create = false;
    let old = open(old_cfg).await?;
    if old.layout() == Layout::Batches {
        return Err(stream_problem(MigrateProblem::AlreadyMigrated));
    }
    let mut new_cfg = cfg.clone();
    new_cfg.ledger = to.to_owned();
    new_cfg.create = true;
    let jetstream_dir = home.dir_path().join("jetstream");
    new_cfg.index_path = jetstream_dir.join(format!("{to}-index.db"));
    if new_cfg.stream() == cfg.stream() {
        return Err(stream_problem(MigrateProblem::SameTarget));
    }
    let views = jetstream_dir.join(format!("{to}.migrating-views"));
    let mut probe_cfg = new_cfg.clone();
    probe_cfg.create = false;
    match JetStreamLog::open(&probe_cfg).await {
        Err(JetStreamError::NoLedger { .. }) => {}
        Err(source @ (JetStreamError::Connect { .. } | JetStreamError::Api(_))) => {
            return Err(AppError::JetStream {
                what: format!("looking for the stream of {to}"),
                source,
            });
        }
        Ok(_) | Err(_) => {
            return Err(stream_problem(MigrateProblem::TargetExists(
                new_cfg.stream(),
            )));
        }
    }
    let new = open(new_cfg.clone()).await?;
    let copied = async {
        dossier_jetstream::migrate::copy_per_record(&old, &new, |_| {})
            .await
            .map_err(|e| stream_problem(e.into()))?;
        let before = sums(home, &old, trust.clone(), &views)
            .await?
            .map_err(|first| stream_problem(MigrateProblem::DoesNotVerify(first)))?;
        let after = sums(home, &new, trust, &views).await?.map_err(|first| {
            stream_problem(MigrateProblem::Differs(format!(
                "it does not verify: {first}"
            )))
        })?;
        if after != before {
            return Err(stream_problem(MigrateProblem::Differs(format!(
                "before {before:?}, after {after:?}"
            ))));
        }
        Ok(after)
    }
    .await;
    let after = match copied {
        Ok(after) => after,
        Err(e) => {
            // Undo what this run created, so that the same command can run again; the old
            // stream was only read.
            drop(new);
            return Err(
                match dossier_jetstream::migrate::remove_ledger(&new_cfg).await {
                    Ok(_) => e,
                    Err(removing) => stream_problem(MigrateProblem::Abandoned {
                        failure: e.to_string(),
                        removing: removing.to_string(),
                    }),
                },
            );
        }
    };
    Ok(Migrated {
        ledger: PathBuf::from(format!("stream {}", new_cfg.stream())),
        kept: PathBuf::from(format!("stream {}", cfg.stream())),
        sums: after,
    })
}

/// What [`migrate_texts`] did.
pub type TextsMigrated = dossier_jetstream::retext::Recreated;

/// Recreates the JetStream texts stream without `deny_delete` (see the module documentation),
/// leaving out the texts whose redaction is recorded.
///
/// # Errors
/// [`AppError::Migrate`] for a SQLite ledger; [`AppError::NoLedger`]; JetStream failures (a
/// text that does not hash to its name stops the run before anything is deleted).
pub async fn migrate_texts(home: &Home) -> AppResult<TextsMigrated> {
    let Some(cfg) = home.nats_config() else {
        return Err(problem(home, MigrateProblem::NoTextsStream));
    };
    let jetstream = |what: &str| {
        let what = what.to_owned();
        move |source| AppError::JetStream { what, source }
    };
    let listed = dossier_jetstream::retext::texts_to_recreate(cfg)
        .await
        .map_err(jetstream("listing the report texts"))?;
    let log = match home.open_log().await {
        Ok(log) => log,
        // An interrupted run deleted the old texts stream: opening the ledger creates it again
        // (the ledger's own stream exists, or the error would say there is no ledger).
        Err(AppError::JetStream { .. }) if !listed.is_empty() => {
            let mut reopen = cfg.clone();
            reopen.create = true;
            crate::Backend::JetStream(Box::new(
                JetStreamLog::open(&reopen)
                    .await
                    .map_err(jetstream("opening the JetStream ledger"))?,
            ))
        }
        Err(e) => return Err(e),
    };
    let ids: Vec<_> = listed
        .iter()
        .map(|h| dossier_redact::redaction_event_id(&h.to_hex()))
        .collect();
    let found = log
        .lookup(&ids)
        .await
        .map_err(|e| AppError::log("reading the ledger index", e))?;
    let redacted = listed
        .iter()
        .zip(found)
        .filter_map(|(h, f)| f.map(|_| *h))
        .collect();
    drop(log);
    dossier_jetstream::retext::recreate_texts_stream(cfg, &redacted)
        .await
        .map_err(jetstream("recreating the texts stream"))
}
