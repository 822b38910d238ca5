//! The auditor loop: read, verify, hash into the tree, checkpoint, check, alarm.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use dossier_chain::{FailureKind, Hash, RecordView, Signer, StoredRecord, TrustRoot, Verifier};
use dossier_log::EventLog;
use dossier_proofs::{Checkpoint, RootBuilder, TreeHead, TreeVersion};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::announce::{Announcement, DynAnnounce};
use crate::store::{CheckpointWrite, Store};
use crate::witnessing::{WitnessConfig, Witnessing};
use crate::{Alarm, Announce, Error, NoAnnounce, StoredCheckpoint};

/// How the auditor paces itself.
#[derive(Clone, Debug)]
pub struct Options {
    /// Sign a checkpoint once this many records were verified since the last one (at the next
    /// batch boundary).
    pub every: u64,
    /// Sign a checkpoint when this much time passed since the last one and there are new
    /// records (at a batch boundary).
    pub interval: Duration,
    /// While idle, check this often that the ledger still holds the verified head.
    pub check_interval: Duration,
    /// On start, re-read the records up to the last checkpoint and compare their root with it.
    pub rescan_on_start: bool,
    /// Re-read and compare the checkpointed prefix this often (`None`: never while running).
    pub rescan_interval: Option<Duration>,
    /// Records read per page.
    pub page: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            every: 1000,
            interval: Duration::from_secs(60),
            check_interval: Duration::from_secs(5),
            rescan_on_start: false,
            rescan_interval: None,
            page: 4096,
        }
    }
}

/// Progress, for whoever runs the auditor (the CLI prints it).
#[derive(Clone, Debug)]
pub enum Event {
    /// Resumed from its last checkpoint of this size (no records re-read).
    Resumed {
        /// Records covered by the checkpoint.
        size: u64,
    },
    /// Started on a ledger it had not checkpointed before.
    Fresh,
    /// Verified records up to this position.
    Verified {
        /// The last verified position.
        size: u64,
    },
    /// Signed and stored a checkpoint.
    Checkpointed(StoredCheckpoint),
    /// Re-read the checkpointed prefix: it still matches.
    Rescanned {
        /// Records re-read.
        size: u64,
    },
    /// Raised an alarm.
    Alarm(Alarm),
    /// The ledger's server stopped answering: the auditor waits and tries again, backing off,
    /// until it answers or the run is shut down.
    Unavailable {
        /// What failed.
        reason: String,
    },
    /// The ledger's server answers again after [`Event::Unavailable`].
    Reconnected,
}

/// The outcome of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// No alarm in this run and none recorded before.
    pub healthy: bool,
    /// The ledger id, once known.
    pub ledger: Option<String>,
    /// Records verified in total (the auditor's position in the ledger).
    pub verified: u64,
    /// The checkpoint size this run resumed from (0 for a fresh start).
    pub resumed_from: u64,
    /// Records read from the ledger in this run (including the one re-read to check the head).
    pub records_read: u64,
    /// Checkpoints signed in this run.
    pub checkpoints_signed: u64,
    /// The last checkpoint (of this or an earlier run).
    pub last_checkpoint: Option<StoredCheckpoint>,
    /// Alarms raised in this run.
    pub alarms: Vec<Alarm>,
    /// Alarms recorded in `auditor.db` by earlier runs.
    pub earlier_alarms: u64,
}

/// What `auditor.db` says, without touching the ledger.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// No alarm was ever recorded.
    pub healthy: bool,
    /// Checkpoints signed.
    pub checkpoints: u64,
    /// The last one.
    pub last_checkpoint: Option<StoredCheckpoint>,
    /// Alarms recorded.
    pub alarm_count: u64,
    /// The latest alarms (at most 100), newest first.
    pub alarms: Vec<Alarm>,
}

/// Reads the auditor's health and last checkpoint from its store.
///
/// # Errors
/// [`Error::NoStore`] if the auditor never ran with this store; database errors.
pub fn status(store: &Path) -> Result<Status, Error> {
    let s = Store::open_existing(store)?;
    let alarm_count = s.alarm_count()?;
    Ok(Status {
        healthy: alarm_count == 0,
        checkpoints: s.checkpoint_count()?,
        last_checkpoint: s.last_checkpoint()?,
        alarm_count,
        alarms: s.alarms(100)?,
    })
}

/// How many alarms the auditor's store holds and the latest of them, read alone: what a reader
/// checks before every answer (cheaper than [`status`]).
///
/// # Errors
/// [`Error::NoStore`] if the auditor never ran with this store; database errors.
pub fn alarms(store: &Path) -> Result<(u64, Option<Alarm>), Error> {
    let s = Store::open_to_read(store)?;
    let count = s.alarm_count()?;
    let latest = if count == 0 { None } else { s.alarms(1)?.pop() };
    Ok((count, latest))
}

fn now_text() -> String {
    time::OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Whether a record is a genesis or key event (so its batch must be kept for restarts). Reads
/// the envelope's `type`, which comes before any free text; anything unexpected counts as a
/// key record (keeping a batch too many is harmless).
/// Whether a stored checkpoint is of the current tree version (an unreadable one is not).
fn is_current(cp: &StoredCheckpoint) -> bool {
    cp.tree_version().is_ok_and(|v| v == TreeVersion::CURRENT)
}

fn is_key_record(bytes: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"type\":\"";
    let window = &bytes[..bytes.len().min(1024)];
    match window.windows(NEEDLE.len()).position(|w| w == NEEDLE) {
        Some(i) => {
            let rest = &window[i + NEEDLE.len()..];
            rest.starts_with(b"key.") || rest.starts_with(b"ledger.genesis\"")
        }
        None => true,
    }
}

/// The record hashes of a page; a large page is hashed on two threads (hashing is about a
/// third of the work of verifying, as in `dossier_log::verify_log`, which overlaps it with the
/// checks).
fn hash_page(page: &[StoredRecord]) -> Vec<Hash> {
    let hash_all = |part: &[StoredRecord]| {
        part.iter()
            .map(|r| Hash::of_record(&r.bytes))
            .collect::<Vec<_>>()
    };
    if page.len() < 512 {
        return hash_all(page);
    }
    let (left, right) = page.split_at(page.len() / 2);
    std::thread::scope(|s| {
        let other = s.spawn(|| hash_all(right));
        let mut out = hash_all(left);
        match other.join() {
            Ok(rest) => out.extend(rest),
            Err(_) => out.extend(hash_all(right)),
        }
        out
    })
}

/// A progress callback.
type Progress<'a> = Box<dyn FnMut(&Event) + Send + 'a>;

/// Announcements kept for a retry at most (the oldest are dropped first).
const MAX_PENDING_ANNOUNCEMENTS: usize = 1024;

/// The continuous auditor over one ledger. See the crate documentation.
pub struct Auditor<'a, L: EventLog> {
    log: &'a L,
    store: Store,
    /// The keys it may sign with, in order of preference; each checkpoint is signed by the
    /// first that the verified ledger allows to sign one (docs/PROOFS.md §5).
    signers: Vec<Signer>,
    /// Whether the lack of an allowed key was already reported.
    no_signer_reported: bool,
    trust: TrustRoot,
    options: Options,
    verifier: Verifier,
    /// Failures the verifier reported while being rebuilt (expected gaps), not alarms.
    baseline_failures: usize,
    tree: RootBuilder,
    ledger: Option<String>,
    resumed_from: u64,
    last: Option<StoredCheckpoint>,
    batch: Vec<(u64, Vec<u8>)>,
    batch_has_keys: bool,
    last_batch: Vec<(u64, Vec<u8>)>,
    pending_key_records: Vec<(u64, Vec<u8>)>,
    alarms: Vec<Alarm>,
    earlier_alarms: u64,
    records_read: u64,
    checkpoints_signed: u64,
    last_checkpoint_at: Instant,
    progress: Option<Progress<'a>>,
    announcer: Box<dyn DynAnnounce + 'a>,
    pending_announcements: std::collections::VecDeque<Announcement>,
    witnessing: Option<Witnessing>,
}

impl<L: EventLog> std::fmt::Debug for Auditor<'_, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("ledger", &self.ledger)
            .field("verified", &self.tree.size())
            .field("last_checkpoint", &self.last.as_ref().map(|c| c.size))
            .field("alarms", &self.alarms.len())
            .finish_non_exhaustive()
    }
}

impl<'a, L: EventLog> Auditor<'a, L> {
    /// Opens the auditor's store at `store` and restores its state from its last checkpoint
    /// (without reading the ledger). Checkpoints are signed with `signer`; the chain is verified
    /// against `trust`.
    ///
    /// # Errors
    /// If the store cannot be opened, or its state is inconsistent (for example the trust root
    /// differs from the one the kept records were verified against).
    pub fn open(
        log: &'a L,
        store: &Path,
        signer: Signer,
        trust: TrustRoot,
        options: Options,
    ) -> Result<Auditor<'a, L>, Error> {
        let store = Store::open(store)?;
        let last = store.last_checkpoint()?;
        let earlier_alarms = store.alarm_count()?;
        let mut verifier = Verifier::new(trust.clone()).collecting_ids();
        let mut tree = RootBuilder::new();
        let mut ledger = None;
        let mut baseline_failures = 0;
        let mut resumed_from = 0;
        if let Some(resume) = store.resume()? {
            for (position, bytes) in store.replay_records()? {
                verifier.push(&StoredRecord {
                    position,
                    stored_hash: None,
                    bytes,
                });
            }
            if let Some(f) = verifier
                .failures()
                .iter()
                .find(|f| f.kind != FailureKind::Gap)
            {
                return Err(Error::State(format!(
                    "the records kept to resume from no longer verify ({f}); was the trust root changed?"
                )));
            }
            let head = verifier.head();
            if head.seq != resume.size
                || head.hash != resume.head
                || verifier.last_sealed() != resume.size
            {
                return Err(Error::State(format!(
                    "the records kept to resume from end at seq {} (hash {}), not at the checkpoint's {} ({})",
                    head.seq, head.hash, resume.size, resume.head
                )));
            }
            if verifier.failures().len() >= Verifier::MAX_FAILURES / 2 {
                return Err(Error::State("too many separate key batches to resume from; move auditor.db aside to start over".into()));
            }
            // The replayed records' ids were recorded when they were first verified.
            let _ = verifier.take_ids();
            baseline_failures = verifier.failures().len();
            // A store written before tree version 2 holds a version-1 frontier: the tree is
            // restored in that version and moved to the current one by the rescan `start`
            // runs (docs/PROOFS.md §11).
            let version = last
                .as_ref()
                .map_or(Ok(TreeVersion::CURRENT), StoredCheckpoint::tree_version)?;
            tree = RootBuilder::from_frontier_in(version, resume.size, resume.frontier)?;
            ledger = Some(resume.ledger);
            resumed_from = resume.size;
        }
        Ok(Auditor {
            log,
            store,
            signers: vec![signer],
            no_signer_reported: false,
            trust,
            options,
            verifier,
            baseline_failures,
            tree,
            ledger,
            resumed_from,
            last,
            batch: Vec::new(),
            batch_has_keys: false,
            last_batch: Vec::new(),
            pending_key_records: Vec::new(),
            alarms: Vec::new(),
            earlier_alarms,
            records_read: 0,
            checkpoints_signed: 0,
            last_checkpoint_at: Instant::now(),
            progress: None,
            announcer: Box::new(NoAnnounce),
            pending_announcements: std::collections::VecDeque::new(),
            witnessing: None,
        })
    }

    /// Also offers `signers` (after the one given to [`Auditor::open`]) for signing checkpoints:
    /// each checkpoint is signed by the first key offered that the ledger allows to sign it at
    /// its size — its log key, or its founding key while it has none (docs/PROOFS.md §5).
    #[must_use]
    pub fn with_signers(mut self, signers: impl IntoIterator<Item = Signer>) -> Self {
        self.signers.extend(signers);
        self
    }

    /// Calls `f` with every [`Event`].
    #[must_use]
    pub fn with_progress(mut self, f: impl FnMut(&Event) + Send + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Also publishes every checkpoint and alarm through `announcer`, after storing it in
    /// `auditor.db`.
    #[must_use]
    pub fn with_announcer(mut self, announcer: impl Announce + 'a) -> Self {
        self.announcer = Box::new(announcer);
        self
    }

    /// Also submits every checkpoint to these C2SP tlog-witness witnesses and adds their
    /// cosignatures to it; a refusal, or a witness unreachable for longer than `bound`, is an
    /// alarm. Keeps the ledger's record hashes in memory for the consistency proofs.
    #[must_use]
    pub fn with_witnesses(mut self, witnesses: Vec<WitnessConfig>, bound: Duration) -> Self {
        if !witnesses.is_empty() {
            self.witnessing = Some(Witnessing::new(witnesses, bound));
        }
        self
    }

    /// Submits the last checkpoint to the witnesses that have not cosigned it, stores the
    /// cosignatures collected, and raises an alarm for each refusal.
    async fn witness(&mut self) -> Result<(), Error> {
        let (Some(w), Some(cp)) = (self.witnessing.as_mut(), self.last.clone()) else {
            return Ok(());
        };
        if self.alarms.iter().any(|a| a.kind.starts_with("witness:")) {
            return Ok(());
        }
        if (w.leaves.len() as u64) < cp.size {
            // Resumed from a checkpoint: read the record hashes it covers once.
            let mut from = w.leaves.len() as u64 + 1;
            while from <= cp.size {
                let want = usize::try_from(cp.size + 1 - from)
                    .unwrap_or(usize::MAX)
                    .min(self.options.page.max(1));
                let page = self.log.read(from, want).await?;
                let Some(last) = page.last() else { break };
                from = last.position + 1;
                w.leaves
                    .extend(page.iter().map(|r| Hash::of_record(&r.bytes)));
            }
        }
        let text = dossier_proofs::SignedNote::parse(&cp.note)
            .map_err(|e| Error::State(format!("the stored checkpoint is not a signed note: {e}")))?
            .text;
        let ledger = self.log.head().await?.seq;
        let (lines, alarms) = w.submit(&cp.note, &text, cp.size, ledger).await;
        if !lines.is_empty() {
            let note = dossier_proofs::cosignature::add_cosignatures(&cp.note, &lines)
                .map_err(|e| Error::State(e.to_string()))?;
            self.store.set_checkpoint_note(cp.size, &note)?;
            if let Some(last) = self.last.as_mut() {
                last.note = note;
            }
        }
        for a in alarms {
            self.alarm(a.kind, None, a.detail)?;
        }
        Ok(())
    }

    fn announce_later(&mut self, a: Announcement) {
        if self.pending_announcements.len() >= MAX_PENDING_ANNOUNCEMENTS {
            self.pending_announcements.pop_front();
        }
        self.pending_announcements.push_back(a);
    }

    /// Publishes the pending announcements, in order; on a failure, logs it and keeps the rest
    /// for the next call.
    async fn announce(&mut self) {
        if let Err(e) = self.witness().await {
            tracing::warn!(target: "dossier_auditor", "submitting to the witnesses: {e}");
        }
        while let Some(next) = self.pending_announcements.front() {
            match self.announcer.announce(next).await {
                Ok(()) => {
                    self.pending_announcements.pop_front();
                }
                Err(e) => {
                    tracing::warn!(
                        target: "dossier_auditor",
                        pending = self.pending_announcements.len(),
                        "announcing a checkpoint or alarm failed (will retry): {e}"
                    );
                    return;
                }
            }
        }
    }

    fn emit(&mut self, e: Event) {
        if let Some(p) = &mut self.progress {
            p(&e);
        }
    }

    /// Whether an alarm was raised in this run.
    #[must_use]
    pub fn alarmed(&self) -> bool {
        !self.alarms.is_empty()
    }

    /// Records verified so far.
    #[must_use]
    pub fn verified(&self) -> u64 {
        self.tree.size()
    }

    /// The report so far.
    #[must_use]
    pub fn report(&self) -> Report {
        Report {
            healthy: self.alarms.is_empty() && self.earlier_alarms == 0,
            ledger: self.ledger.clone(),
            verified: self.tree.size(),
            resumed_from: self.resumed_from,
            records_read: self.records_read,
            checkpoints_signed: self.checkpoints_signed,
            last_checkpoint: self.last.clone(),
            alarms: self.alarms.clone(),
            earlier_alarms: self.earlier_alarms,
        }
    }

    fn alarm(&mut self, kind: String, seq: Option<u64>, detail: String) -> Result<(), Error> {
        let a = Alarm {
            raised_at: now_text(),
            kind,
            seq,
            detail,
            checkpoint_size: self.last.as_ref().map(|c| c.size),
        };
        tracing::error!(
            target: "dossier_auditor",
            kind = %a.kind,
            seq = ?a.seq,
            checkpoint = ?a.checkpoint_size,
            "ALARM: {}",
            a.detail
        );
        self.store.insert_alarm(&a)?;
        self.announce_later(Announcement::Alarm(a.clone()));
        self.alarms.push(a.clone());
        self.emit(Event::Alarm(a));
        Ok(())
    }

    /// Startup checks: the ledger still holds the head the auditor resumed from, and (if asked)
    /// the whole checkpointed prefix still hashes to the signed root.
    async fn start(&mut self) -> Result<(), Error> {
        if self.resumed_from > 0 {
            self.emit(Event::Resumed {
                size: self.resumed_from,
            });
            self.check_head().await?;
            let migrate = self.tree.version() != TreeVersion::CURRENT;
            if (self.options.rescan_on_start || migrate) && !self.alarmed() {
                self.rescan().await?;
            }
        } else {
            self.emit(Event::Fresh);
        }
        Ok(())
    }

    /// Checks that the ledger still holds, at the auditor's position, the record it verified
    /// there (one read): a shorter ledger, or another record there, is an alarm.
    ///
    /// # Errors
    /// If the backend or the store fails.
    pub async fn check_head(&mut self) -> Result<(), Error> {
        let r = self.check_head_inner().await;
        self.announce().await;
        r
    }

    async fn check_head_inner(&mut self) -> Result<(), Error> {
        let size = self.tree.size();
        if size == 0 {
            return Ok(());
        }
        let expected = self.verifier.head().hash;
        let head = self.log.head().await?;
        if head.seq < size {
            let detail = format!(
                "the ledger now ends at seq {}, but the auditor verified records up to {size}: records were removed (truncated)",
                head.seq
            );
            return self.alarm("truncated".into(), Some(head.seq + 1), detail);
        }
        let rec = self.log.read(size, 1).await?;
        self.records_read += rec.len() as u64;
        match rec.first() {
            Some(r) if r.position == size && Hash::of_record(&r.bytes) == expected => Ok(()),
            Some(r) => {
                let detail = format!(
                    "record {size} now hashes to {} (stored at position {}), but the auditor verified {expected}: the history was rewritten",
                    Hash::of_record(&r.bytes),
                    r.position
                );
                self.alarm("rewritten".into(), Some(size), detail)
            }
            None => {
                let detail = format!(
                    "record {size} can no longer be read: records were removed (truncated)"
                );
                self.alarm("truncated".into(), Some(size), detail)
            }
        }
    }

    /// Re-reads the records up to the last checkpoint with a fresh verifier and compares their
    /// root (in the checkpoint's tree version) and head with it. If that checkpoint is of an
    /// older tree version, the auditor's tree moves to the current version, so that its next
    /// checkpoint (at the same size if the ledger has not grown) is of the current version.
    ///
    /// # Errors
    /// If the backend or the store fails.
    pub async fn rescan(&mut self) -> Result<(), Error> {
        let r = self.rescan_inner().await;
        self.announce().await;
        r
    }

    async fn rescan_inner(&mut self) -> Result<(), Error> {
        let Some(cp) = self.last.clone() else {
            return Ok(());
        };
        // Also fills in the event ids of records checkpointed before they were recorded (a
        // store written by an earlier version), and alarms on any repeated among them.
        let mut v = Verifier::new(self.trust.clone()).collecting_ids();
        let mut tree = RootBuilder::with_version(cp.tree_version()?);
        let mut current = RootBuilder::new();
        let mut from = 1;
        while tree.size() < cp.size {
            let want = usize::try_from(cp.size - tree.size())
                .unwrap_or(usize::MAX)
                .min(self.options.page.max(1));
            let page = self.log.read(from, want).await?;
            let Some(last) = page.last() else { break };
            from = last.position + 1;
            self.records_read += page.len() as u64;
            for r in &page {
                let h = Hash::of_record(&r.bytes);
                v.push_hashed(r, h);
                tree.push(h);
                if tree.version() != current.version() {
                    current.push(h);
                }
            }
            if let Some(f) = v.failures().first().cloned() {
                let detail = format!("re-reading the checkpointed records: {f}");
                return self.alarm(format!("verify:{}", f.kind), Some(f.seq), detail);
            }
            let ids = v.take_ids();
            self.alarm_repeated_ids(&ids)?;
            if self.alarmed() {
                return Ok(());
            }
        }
        if tree.size() < cp.size {
            let detail = format!(
                "the ledger holds only {} of the {} records of the auditor's checkpoint: records were removed (truncated)",
                tree.size(),
                cp.size
            );
            return self.alarm("truncated".into(), Some(tree.size() + 1), detail);
        }
        if tree.root().to_hex() != cp.root || v.head().hash.to_hex() != cp.head {
            let detail = format!(
                "the first {} records now have root {} and head {}, but the auditor signed root {} and head {}: the history was rewritten",
                cp.size,
                tree.root(),
                v.head().hash,
                cp.root,
                cp.head
            );
            return self.alarm("rewritten".into(), None, detail);
        }
        if self.tree.version() != TreeVersion::CURRENT && self.tree.size() == cp.size {
            tracing::info!(target: "dossier_auditor", size = cp.size, "tree moved to version {}", TreeVersion::CURRENT.number());
            self.tree = current;
        }
        self.emit(Event::Rescanned { size: cp.size });
        Ok(())
    }

    /// Verifies one record (whose hash is `hash`) and adds it to the tree.
    fn ingest(&mut self, rec: StoredRecord, hash: Hash) -> Result<(), Error> {
        let before = self.verifier.failures().len();
        self.verifier.push_hashed(&rec, hash);
        if self.verifier.failures().len() > before {
            let new: Vec<_> =
                self.verifier.failures()[before.max(self.baseline_failures)..].to_vec();
            for f in new {
                self.alarm(format!("verify:{}", f.kind), Some(f.seq), f.detail.clone())?;
            }
            return Ok(());
        }
        if self.ledger.is_none()
            && let Ok(view) = RecordView::parse(&rec.bytes)
        {
            self.ledger = Some(view.ledger.to_owned());
        }
        self.tree.push(hash);
        if let Some(w) = self.witnessing.as_mut()
            && w.leaves.len() as u64 + 1 == self.tree.size()
        {
            w.leaves.push(hash);
        }
        let pos = rec.position;
        if is_key_record(&rec.bytes) {
            self.batch_has_keys = true;
        }
        self.batch.push((pos, rec.bytes));
        if self.verifier.last_sealed() == pos {
            // Before a checkpoint may cover the batch: no event of it was recorded before.
            self.check_event_ids()?;
            if self.alarmed() {
                return Ok(());
            }
            let batch = std::mem::take(&mut self.batch);
            if std::mem::take(&mut self.batch_has_keys) {
                self.pending_key_records.extend(batch.iter().cloned());
            }
            self.last_batch = batch;
            let since = self.tree.size() - self.last.as_ref().map_or(0, |c| c.size);
            if since >= self.options.every.max(1) {
                self.checkpoint()?;
            }
        }
        Ok(())
    }

    /// Records the event ids the verifier accepted since the last call in `auditor.db` and
    /// raises `verify:duplicate_event_id` at each one an earlier record carries
    /// (docs/FORMAT.md §6.3 step 13). On disk, so memory stays flat.
    fn check_event_ids(&mut self) -> Result<(), Error> {
        let ids = self.verifier.take_ids();
        self.alarm_repeated_ids(&ids)
    }

    fn alarm_repeated_ids(&mut self, ids: &[(u128, u64)]) -> Result<(), Error> {
        for (pos, first, id) in self.store.record_event_ids(ids)? {
            let detail = format!(
                "event id {id:032x} was already recorded at position {first}: the event is recorded twice"
            );
            self.alarm(
                format!("verify:{}", FailureKind::DuplicateEventId),
                Some(pos),
                detail,
            )?;
        }
        Ok(())
    }

    /// Reads and verifies one page of new records; returns how many were read.
    async fn poll(&mut self) -> Result<usize, Error> {
        let r = self.poll_inner().await;
        self.announce().await;
        r
    }

    async fn poll_inner(&mut self) -> Result<usize, Error> {
        // Read checked: a stored batch that fails the framing's checks is an alarm at its seq,
        // not a read error that would stop the auditor without one. (The values a carrier
        // stores beside a batch are `verify`'s to compare; the records are checked here.)
        let items = self
            .log
            .read_checked(self.tree.size() + 1, self.options.page.max(1))
            .await?;
        let mut page = Vec::with_capacity(items.len());
        let mut bad_frame = None;
        for item in items {
            match item {
                dossier_log::ReadItem::Record(r) => page.push(r),
                dossier_log::ReadItem::BadFrame {
                    position, detail, ..
                } => {
                    bad_frame = Some((position, detail));
                    break;
                }
                dossier_log::ReadItem::Ids { .. } | dossier_log::ReadItem::Derived { .. } => {}
            }
        }
        let n = page.len();
        self.records_read += n as u64;
        let hashes = hash_page(&page);
        for (rec, hash) in page.into_iter().zip(hashes) {
            self.ingest(rec, hash)?;
            if self.alarmed() {
                return Ok(n);
            }
        }
        // After the records read before it (an index that disagrees with a frame whose records
        // still read comes after them).
        if let Some((position, detail)) = bad_frame {
            self.alarm("verify:bad_frame".into(), Some(position), detail)?;
            return Ok(n);
        }
        if n > 0 {
            self.emit(Event::Verified {
                size: self.tree.size(),
            });
        }
        Ok(n)
    }

    /// Signs and stores a checkpoint at the current position if it is at a batch boundary,
    /// beyond the last checkpoint, and no alarm was raised. Returns whether one was signed.
    ///
    /// # Errors
    /// If signing or the store fails.
    pub fn checkpoint(&mut self) -> Result<bool, Error> {
        let size = self.tree.size();
        if self.alarmed()
            || size == 0
            || self.verifier.last_sealed() != size
            || self
                .last
                .as_ref()
                .is_some_and(|c| c.size > size || (c.size == size && is_current(c)))
        {
            return Ok(false);
        }
        let Some(ledger) = self.ledger.clone() else {
            return Ok(false);
        };
        let allowed = self.verifier.checkpoint_keys();
        let Some(signer) = self
            .signers
            .iter()
            .find(|s| allowed.iter().any(|(id, _)| id == s.id()))
        else {
            if !std::mem::replace(&mut self.no_signer_reported, true) {
                let offered: Vec<&str> = self.signers.iter().map(Signer::id).collect();
                let allowed: Vec<&str> = allowed.iter().map(|(id, _)| id.as_str()).collect();
                tracing::warn!(target: "dossier_auditor", size, ?offered, ?allowed,
                    "not signing checkpoints: none of the keys offered may sign them (register a log key, and give it to the auditor)");
            }
            return Ok(false);
        };
        self.no_signer_reported = false;
        let head = self.verifier.head().hash;
        let root = self.tree.root();
        let tree = TreeHead {
            version: self.tree.version(),
            size,
            root,
            head,
        };
        let note = Checkpoint::new(&ledger, tree).and_then(|c| c.sign_with(signer))?;
        let cp = StoredCheckpoint {
            size,
            ledger,
            root: root.to_hex(),
            head: head.to_hex(),
            note,
            signed_at: now_text(),
        };
        self.store.write_checkpoint(&CheckpointWrite {
            checkpoint: &cp,
            head,
            frontier: self.tree.frontier(),
            key_records: &self.pending_key_records,
            tail_records: &self.last_batch,
        })?;
        self.pending_key_records.clear();
        tracing::info!(target: "dossier_auditor", size, root = %root, "signed checkpoint");
        self.announce_later(Announcement::Checkpoint(cp.clone()));
        self.last = Some(cp.clone());
        self.checkpoints_signed += 1;
        self.last_checkpoint_at = Instant::now();
        self.emit(Event::Checkpointed(cp));
        Ok(true)
    }

    /// Catches up with the ledger, checks its head, signs a checkpoint of everything verified,
    /// and returns the report (for `dossier auditor --once`).
    ///
    /// # Errors
    /// If the backend, signing or the store fails. Alarms are in the report.
    pub async fn once(&mut self) -> Result<Report, Error> {
        self.start().await?;
        while !self.alarmed() {
            if self.poll().await? == 0 {
                break;
            }
        }
        if !self.alarmed() {
            self.check_head().await?;
        }
        self.checkpoint()?;
        self.announce().await;
        Ok(self.report())
    }

    /// Runs until `shutdown` resolves or an alarm is raised: catches up, then follows the
    /// ledger, checkpointing every [`Options::every`] records or [`Options::interval`], checking
    /// the head every [`Options::check_interval`] while idle and rescanning every
    /// [`Options::rescan_interval`]. Signs a last checkpoint on shutdown.
    ///
    /// # Errors
    /// If the backend, signing or the store fails. Alarms are in the report.
    pub async fn run(&mut self, shutdown: impl Future) -> Result<Report, Error> {
        let shutdown = std::pin::pin!(shutdown);
        let mut shutdown = shutdown;
        let mut outage = dossier_log::Outage::default();
        loop {
            let started = tokio::select! {
                biased;
                _ = &mut shutdown => return Ok(self.report()),
                r = self.start() => r,
            };
            match started {
                Ok(()) => break,
                Err(e) => {
                    if !self.ride_out(e, &mut outage, &mut shutdown).await? {
                        return Ok(self.report());
                    }
                }
            }
        }
        let mut next_check = Instant::now() + self.options.check_interval;
        let mut next_rescan = self.options.rescan_interval.map(|d| Instant::now() + d);
        while !self.alarmed() {
            let ticked = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                r = self.tick(&mut next_check, &mut next_rescan) => r,
            };
            match ticked {
                Ok(()) => {
                    if outage.recovered() {
                        tracing::debug!(target: "dossier_auditor", "the ledger server answers again");
                        self.emit(Event::Reconnected);
                    }
                }
                Err(e) => {
                    if !self.ride_out(e, &mut outage, &mut shutdown).await? {
                        break;
                    }
                }
            }
        }
        self.checkpoint()?;
        self.announce().await;
        Ok(self.report())
    }

    /// After a failure: the ledger's server not answering is waited out (said once per outage,
    /// backing off); anything else ends the run. `Ok(false)`: shut down while waiting.
    async fn ride_out(
        &mut self,
        e: Error,
        outage: &mut dossier_log::Outage,
        shutdown: &mut std::pin::Pin<&mut impl Future>,
    ) -> Result<bool, Error> {
        let Error::Log(l) = &e else { return Err(e) };
        if !l.is_transient() {
            return Err(e);
        }
        let (wait, began) = outage.failed();
        if began {
            tracing::debug!(target: "dossier_auditor", error = %e, "the ledger server is unavailable; retrying");
            self.emit(Event::Unavailable {
                reason: e.to_string(),
            });
        }
        Ok(tokio::select! {
            biased;
            _ = shutdown => false,
            () = tokio::time::sleep(wait) => true,
        })
    }

    async fn tick(
        &mut self,
        next_check: &mut Instant,
        next_rescan: &mut Option<Instant>,
    ) -> Result<(), Error> {
        let n = self.poll().await?;
        if self.alarmed() {
            return Ok(());
        }
        if self.last_checkpoint_at.elapsed() >= self.options.interval {
            self.checkpoint()?;
        }
        if n > 0 {
            return Ok(());
        }
        let now = Instant::now();
        if now >= *next_check {
            self.check_head().await?;
            *next_check = Instant::now() + self.options.check_interval;
        }
        if let (Some(at), Some(every)) = (*next_rescan, self.options.rescan_interval)
            && now >= at
            && !self.alarmed()
        {
            self.rescan().await?;
            *next_rescan = Some(Instant::now() + every);
        }
        if self.alarmed() {
            return Ok(());
        }
        let until_cp = self
            .options
            .interval
            .saturating_sub(self.last_checkpoint_at.elapsed());
        let wait = until_cp
            .min(next_check.saturating_duration_since(Instant::now()))
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        self.log.wait_for(self.tree.size(), wait).await?;
        Ok(())
    }
}
