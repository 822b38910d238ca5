//! The Merkle leaves (record hashes) a service proves records against, kept between requests.
//!
//! A proof against a checkpoint of `n` records needs the hashes of the first `n` records. The
//! ledger only grows (and the auditor watches for rewrites), so a service reads them once and
//! extends them as checkpoints grow, instead of reading the whole ledger for every proof. Before
//! a proof is given, the cached hash at the checkpoint's size must be the checkpoint's head; if
//! it is not, every hash is read again once, and if they still disagree the ledger no longer
//! holds what the checkpoint covers ([`QueryError::Distrusted`]).

use dossier_chain::Hash;
use dossier_log::EventLog;
use dossier_projector::Error as ViewsError;
use tokio::sync::Mutex;

use crate::QueryError;

/// How many records one read of the ledger asks for.
const PAGE: u64 = 4096;

/// The record hashes of a ledger from seq 1, shared by the requests of one service.
#[derive(Debug, Default)]
pub struct Leaves {
    hashes: Mutex<Vec<Hash>>,
}

/// The part of a signed checkpoint a proof is given against.
#[derive(Clone, Copy, Debug)]
pub struct Tree<'a> {
    /// Its tree version (a checkpoint made before version 2 is proven against in version 1).
    pub version: dossier_proofs::TreeVersion,
    /// The number of records it covers.
    pub size: u64,
    /// The hash of its last record (hex), as the checkpoint binds it.
    pub head: &'a str,
}

impl<'a> Tree<'a> {
    /// The tree a checkpoint the auditor stored signs.
    ///
    /// # Errors
    /// [`QueryError::Auditor`] if its note is not a dossier checkpoint.
    pub fn of(cp: &'a dossier_auditor::StoredCheckpoint) -> Result<Tree<'a>, QueryError> {
        Ok(Tree {
            version: cp.tree_version().map_err(QueryError::Auditor)?,
            size: cp.size,
            head: &cp.head,
        })
    }
}

impl Leaves {
    /// No hashes read yet.
    #[must_use]
    pub fn new() -> Leaves {
        Leaves::default()
    }

    /// The inclusion proof of the record at `seq` (from 1) in `tree`.
    ///
    /// # Errors
    /// [`QueryError::Distrusted`] if the ledger has a gap below the tree's size or no longer
    /// holds its head; [`QueryError::Proof`] if `seq` is not in the tree; a read failure.
    pub async fn inclusion<L: EventLog + ?Sized>(
        &self,
        log: &L,
        tree: Tree<'_>,
        seq: u64,
    ) -> Result<Vec<Hash>, QueryError> {
        let hashes = self.up_to(log, tree).await?;
        tree.version
            .inclusion_proof(&*hashes, seq.saturating_sub(1), tree.size)
            .map_err(|e| QueryError::Proof(e.to_string()))
    }

    /// The consistency proof from the tree of `from` records to `tree`.
    ///
    /// # Errors
    /// As [`Leaves::inclusion`].
    pub async fn consistency<L: EventLog + ?Sized>(
        &self,
        log: &L,
        from: u64,
        tree: Tree<'_>,
    ) -> Result<Vec<Hash>, QueryError> {
        let hashes = self.up_to(log, tree).await?;
        tree.version
            .consistency_proof(&*hashes, from, tree.size)
            .map_err(|e| QueryError::Proof(e.to_string()))
    }

    /// The bytes of a C2SP tile or entry bundle (`tile` is its path below the log's prefix,
    /// `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`) of `tree`, which must be of tree
    /// version 2. Any tile whose hashes lie within the tree is given, so the partial tiles of
    /// older checkpoints stay available.
    ///
    /// # Errors
    /// [`QueryError::NoTile`] for a path that is not a tile, a tile beyond the tree, or a
    /// version-1 tree; otherwise as [`Leaves::inclusion`].
    pub async fn tile<L: EventLog + ?Sized>(
        &self,
        log: &L,
        tree: Tree<'_>,
        tile: &str,
    ) -> Result<Vec<u8>, QueryError> {
        let tile =
            dossier_proofs::Tile::parse(tile).map_err(|e| QueryError::NoTile(e.to_string()))?;
        if tree.version != dossier_proofs::TreeVersion::V2Sha256 {
            return Err(QueryError::NoTile(
                "the latest checkpoint is of tree version 1; tiles are served once the auditor has signed a version-2 checkpoint (on its next run)".into(),
            ));
        }
        if !tile.within(tree.size) {
            return Err(QueryError::NoTile(format!(
                "the checkpoint's tree of {} records has no {}",
                tree.size,
                tile.path()
            )));
        }
        let hashes = self.up_to(log, tree).await?;
        tile.data(&*hashes, tree.size)
            .map_err(|e| QueryError::NoTile(e.to_string()))
    }

    /// The hashes, at least up to the tree's size, checked against its head.
    async fn up_to<L: EventLog + ?Sized>(
        &self,
        log: &L,
        tree: Tree<'_>,
    ) -> Result<tokio::sync::MutexGuard<'_, Vec<Hash>>, QueryError> {
        let mut hashes = self.hashes.lock().await;
        for attempt in 0..2 {
            if attempt == 1 {
                // The cached hashes disagree with the checkpoint: read them all again once.
                hashes.clear();
            }
            while (hashes.len() as u64) < tree.size {
                let from = hashes.len() as u64 + 1;
                let want = usize::try_from((tree.size - from + 1).min(PAGE)).unwrap_or(1);
                let page = log
                    .read(from, want)
                    .await
                    .map_err(|e| QueryError::Views(ViewsError::Log(e)))?;
                if page.is_empty() {
                    break;
                }
                for rec in page {
                    if rec.position != hashes.len() as u64 + 1 {
                        hashes.clear();
                        return Err(QueryError::Distrusted(
                            "the ledger has a gap below the checkpoint".into(),
                        ));
                    }
                    hashes.push(Hash::of_record(&rec.bytes));
                }
            }
            let at_head = usize::try_from(tree.size)
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| hashes.get(i))
                .is_some_and(|h| h.to_hex() == tree.head);
            if at_head {
                return Ok(hashes);
            }
        }
        hashes.clear();
        Err(QueryError::Distrusted(
            "the ledger no longer holds the records the checkpoint covers".into(),
        ))
    }
}
