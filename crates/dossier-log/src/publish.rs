//! The backend-agnostic writer: idempotent, optimistic, sealed batches.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dossier_chain::{
    BatchBuilder, BuildError, EncodedRecord, Hash, Head, Signer, control, event_id,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{AppendError, AppendReceipt, EventLog, LogError};

/// One event to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEvent {
    /// Event type, e.g. `claim.recorded`.
    pub event_type: String,
    /// Body schema version.
    pub schema: u32,
    /// Entity key the event id derives from.
    pub entity_key: String,
    /// TLP marking.
    pub marking: String,
    /// The body: a JSON document, stored byte for byte.
    pub body: Vec<u8>,
}

impl PendingEvent {
    /// Its [`content_digest`](dossier_chain::content_digest): equal for an identical re-publish.
    #[must_use]
    pub fn digest(&self) -> Hash {
        dossier_chain::content_digest(&self.marking, &self.body)
    }
}

/// Chains `events` onto `head` as one batch recorded now, under a new correlation id, and
/// seals it with `signer`.
///
/// # Errors
/// [`BuildError`] if the batch is too large, a body is not JSON, or a record is too large.
pub fn seal_batch<'e>(
    ledger: Uuid,
    head: &Head,
    signer: &Signer,
    events: impl IntoIterator<Item = &'e PendingEvent>,
) -> Result<Vec<EncodedRecord>, BuildError> {
    let mut batch = BatchBuilder::new(
        ledger,
        head,
        OffsetDateTime::now_utc(),
        signer,
        Uuid::new_v4(),
    );
    for e in events {
        batch.push(&e.event_type, e.schema, &e.entity_key, &e.marking, &e.body)?;
    }
    batch.seal()
}

/// What a publish did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishOutcome {
    /// A batch was appended.
    Appended {
        /// First sequence number.
        first: u64,
        /// Last sequence number (the seal).
        last: u64,
        /// Events appended (the seal not counted).
        appended: usize,
        /// Events skipped because identical ones are already recorded.
        already_recorded: usize,
        /// Conflicts with other producers that were retried.
        retries: u32,
    },
    /// Every event is already recorded with identical content: nothing was appended.
    AlreadyRecorded {
        /// Number of events.
        events: usize,
    },
}

/// A publish failed; nothing was appended.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// An entity with the same id but different content is already recorded.
    #[error("{entity} is already recorded at seq {seq} with different content; {hint}")]
    ContentConflict {
        /// The entity key.
        entity: String,
        /// Where the recorded version is.
        seq: u64,
        /// What to publish instead.
        hint: &'static str,
    },
    /// The producer's key is not registered in the ledger.
    #[error(
        "key {key} is not registered in this ledger; register it with `dossier keys register` signed by a trusted key"
    )]
    KeyNotRegistered {
        /// Key id.
        key: String,
    },
    /// The producer's key was revoked.
    #[error("key {key} was revoked at seq {seq}; publish with a current key")]
    KeyRevoked {
        /// Key id.
        key: String,
        /// The revocation.
        seq: u64,
    },
    /// The ledger is empty (no genesis).
    #[error("the ledger has no genesis record; run `dossier init` first")]
    NotInitialized,
    /// Other producers kept winning the race for the head.
    #[error("gave up after {attempts} attempts: other producers kept appending first")]
    TooManyConflicts {
        /// Attempts made.
        attempts: u32,
    },
    /// The batch could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The backend refused the append for another reason.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The backend failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// What to publish instead of changing a recorded entity.
#[must_use]
pub fn correction_hint(event_type: &str) -> &'static str {
    match event_type {
        "claim.recorded" => {
            "claims are immutable: publish a new claim id with a `supersedes` relation (same speaker) or a `retracts` relation"
        }
        "report.recorded" => {
            "reports are immutable: publish the corrected report under a new report id"
        }
        "source.registered" => {
            "sources are immutable: record reliability changes as new `reliability` entries, or use a new source id"
        }
        "source.reliability_assessed" => {
            "assessments are immutable: publish a new `reliability` entry with a new id"
        }
        "question.posed" => "questions are immutable: pose the revised question under a new id",
        "claim.related" => "relations are immutable: add a new relation (for example `retracts`)",
        "assessment.recorded" => {
            "assessments are immutable: publish a new assessment with a new id"
        }
        "forecast.resolved" => {
            "the forecast is already resolved differently; record an assessment explaining the correction"
        }
        _ => "records are immutable: publish a correction event instead",
    }
}

/// Publishes batches for one producer.
#[derive(Debug)]
pub struct Publisher<'a, L> {
    log: &'a L,
    signer: &'a Signer,
    ledger: Uuid,
    max_attempts: u32,
    optimistic: bool,
}

impl<'a, L: EventLog> Publisher<'a, L> {
    /// A publisher for `ledger` (its id, read from the genesis record) signing with `signer`.
    #[must_use]
    pub fn new(log: &'a L, signer: &'a Signer, ledger: Uuid) -> Self {
        Publisher {
            log,
            signer,
            ledger,
            max_attempts: 100,
            optimistic: false,
        }
    }

    /// Publishes `events` as one sealed batch, with the report texts `contents`.
    ///
    /// Events already recorded with identical bodies are skipped; if all are, nothing is
    /// appended. On a conflict with another producer the head is re-read, the idempotency
    /// check repeated and the batch rebuilt, with jittered backoff.
    ///
    /// # Errors
    /// [`PublishError`]; in every case nothing was appended.
    pub async fn publish(
        &self,
        events: &[PendingEvent],
        contents: &[Vec<u8>],
    ) -> Result<PublishOutcome, PublishError> {
        let ids: Vec<_> = events
            .iter()
            .map(|e| event_id(&e.event_type, &e.entity_key))
            .collect();
        let mut retries = 0;
        // First try optimistically, as if every event were new: the backend's unique event-id
        // index refuses the whole batch if one is not, and then the index is consulted. This
        // saves a lookup per event in the common case.
        let mut optimistic = self.optimistic;
        loop {
            let head = self.log.head().await?;
            if head.seq == 0 {
                return Err(PublishError::NotInitialized);
            }
            self.check_key().await?;
            let fresh: Vec<&PendingEvent> = if optimistic {
                events.iter().collect()
            } else {
                self.fresh(events, &ids).await?
            };
            if fresh.is_empty() {
                return Ok(PublishOutcome::AlreadyRecorded {
                    events: events.len(),
                });
            }
            let records = seal_batch(self.ledger, &head, self.signer, fresh.iter().copied())?;
            match self.log.append(head.seq, &records, contents).await {
                Ok(receipt) => {
                    tracing::debug!(
                        first = receipt.first,
                        last = receipt.last,
                        retries,
                        "appended batch"
                    );
                    return Ok(PublishOutcome::Appended {
                        first: receipt.first,
                        last: receipt.last,
                        appended: fresh.len(),
                        already_recorded: events.len() - fresh.len(),
                        retries,
                    });
                }
                Err(AppendError::DuplicateEvent(_)) if optimistic => {
                    optimistic = false;
                }
                Err(e) if e.is_conflict() => {
                    retries += 1;
                    if retries >= self.max_attempts {
                        return Err(PublishError::TooManyConflicts { attempts: retries });
                    }
                    tracing::debug!(retries, "head moved; retrying");
                    tokio::time::sleep(backoff(retries)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Publishes several bundles' batches in order, each one sealed batch, building the next
    /// batch on another thread while the previous one is being appended.
    ///
    /// Only in optimistic mode (see [`Publisher::optimistic`]), where the backend refuses a
    /// repeated event id: the pipeline chains each batch on the head the previous one will
    /// leave, and stops at the first append that is refused (another producer appended, or an
    /// event is already recorded). From that batch on, the rest is published one by one with
    /// [`Publisher::publish`], which re-reads the head and the index. Without optimistic mode
    /// this is exactly a loop over [`Publisher::publish`].
    ///
    /// # Errors
    /// As [`Publisher::publish`], for the first batch that fails; earlier batches stay
    /// appended (each batch is atomic on its own, not the whole list).
    pub async fn publish_all(
        &self,
        batches: Vec<(Vec<PendingEvent>, Vec<Vec<u8>>)>,
    ) -> Result<Vec<PublishOutcome>, PublishError> {
        let mut outcomes = Vec::with_capacity(batches.len());
        self.publish_each(batches, &AtomicBool::new(false), |_, outcome| {
            outcomes.push(outcome);
        })
        .await?;
        Ok(outcomes)
    }

    /// [`Publisher::publish_all`], telling `done` of each batch as soon as it is committed:
    /// its index in `batches` and its outcome, in order. On JetStream a batch is committed when
    /// the server confirmed it, which is after every batch before it. Once `stop` is set, no
    /// further batch is committed: the batch being appended is finished (or, if the backend has
    /// not committed it yet, abandoned whole), and the run ends.
    ///
    /// Returns how many batches were published (all of them unless stopped): exactly those
    /// `done` heard of.
    ///
    /// # Errors
    /// As [`Publisher::publish_all`]; `done` has heard of every batch appended before it.
    pub async fn publish_each(
        &self,
        batches: Vec<(Vec<PendingEvent>, Vec<Vec<u8>>)>,
        stop: &AtomicBool,
        mut done: impl FnMut(usize, PublishOutcome) + Send,
    ) -> Result<usize, PublishError> {
        let stopped = || stop.load(Ordering::SeqCst);
        if !self.optimistic || batches.len() < 2 {
            for (i, (events, contents)) in batches.iter().enumerate() {
                if stopped() {
                    return Ok(i);
                }
                done(i, self.publish(events, contents).await?);
            }
            return Ok(batches.len());
        }
        let head = self.log.head().await?;
        if head.seq == 0 {
            return Err(PublishError::NotInitialized);
        }
        self.check_key().await?;
        // Up to this many built batches go to the backend at once (JetStream keeps them in
        // flight together; ADR-50 allows 50 per stream). The builder may run as far ahead, so
        // that each hand-over is a full group: a backend pays its fixed costs (catching up,
        // checking ids) once per group, with a pause in its pipeline.
        const IN_FLIGHT: usize = 8;
        let batches = std::sync::Arc::new(batches);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<
            Result<Vec<dossier_chain::EncodedRecord>, BuildError>,
        >(IN_FLIGHT);
        let mut expected = head.seq;
        let builder = {
            let (batches, signer, ledger) = (
                std::sync::Arc::clone(&batches),
                self.signer.clone(),
                self.ledger,
            );
            std::thread::spawn(move || {
                let mut head = head;
                for (events, _) in batches.iter() {
                    let built = seal_batch(ledger, &head, &signer, events);
                    if let Ok(records) = &built {
                        let last = &records[records.len() - 1];
                        head = Head {
                            seq: last.seq,
                            hash: last.hash,
                            recorded: Some(last.recorded.clone()),
                        };
                    }
                    let failed = built.is_err();
                    if tx.blocking_send(built).is_err() || failed {
                        return;
                    }
                }
            })
        };
        let mut next = 0;
        'pipeline: while let Some(built) = rx.recv().await {
            if stopped() {
                break;
            }
            let mut group = vec![(built?, batches[next].1.clone())];
            while group.len() < IN_FLIGHT {
                match rx.try_recv() {
                    Ok(more) => {
                        let contents = batches[next + group.len()].1.clone();
                        group.push((more?, contents));
                    }
                    Err(_) => break,
                }
            }
            let on = expected;
            let mut stored = |receipt: AppendReceipt| {
                expected = receipt.last;
                done(
                    next,
                    PublishOutcome::Appended {
                        first: receipt.first,
                        last: receipt.last,
                        appended: batches[next].0.len(),
                        already_recorded: 0,
                        retries: 0,
                    },
                );
                next += 1;
                if stopped() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            };
            let (_, error) = self.log.append_all(on, &group, &mut stored).await;
            match error {
                None => {}
                Some(e) if e.is_conflict() || matches!(e, AppendError::DuplicateEvent(_)) => {
                    break 'pipeline;
                }
                Some(e) => return Err(e.into()),
            }
        }
        drop(rx);
        let _ = builder.join();
        for (i, (events, contents)) in batches.iter().enumerate().skip(next) {
            if stopped() {
                return Ok(i);
            }
            done(i, self.publish(events, contents).await?);
        }
        Ok(batches.len())
    }

    /// The events not yet recorded; fails on an id recorded with different content.
    async fn fresh<'e>(
        &self,
        events: &'e [PendingEvent],
        ids: &[dossier_chain::EventId],
    ) -> Result<Vec<&'e PendingEvent>, PublishError> {
        let found = self.log.lookup(ids).await?;
        let mut fresh = Vec::new();
        for (event, entry) in events.iter().zip(&found) {
            match entry {
                None => fresh.push(event),
                Some(e) if e.digest == event.digest() => {}
                Some(e) => {
                    return Err(PublishError::ContentConflict {
                        entity: event.entity_key.clone(),
                        seq: e.seq,
                        hint: correction_hint(&event.event_type),
                    });
                }
            }
        }
        Ok(fresh)
    }

    /// Skips the per-event index lookup on the first attempt when `true` (see
    /// [`Publisher::publish`]); use it when the caller has just checked the index itself.
    #[must_use]
    pub fn optimistic(mut self, on: bool) -> Self {
        self.optimistic = on;
        self
    }

    async fn check_key(&self) -> Result<(), PublishError> {
        let key = self.signer.id();
        let ids = [
            event_id(control::KEY_REGISTERED, key),
            event_id(control::KEY_REVOKED, key),
        ];
        let found = self.log.lookup(&ids).await?;
        if let Some(revoked) = found[1] {
            return Err(PublishError::KeyRevoked {
                key: key.to_owned(),
                seq: revoked.seq,
            });
        }
        if found[0].is_none() && !self.is_founding_key().await? {
            return Err(PublishError::KeyNotRegistered {
                key: key.to_owned(),
            });
        }
        Ok(())
    }

    async fn is_founding_key(&self) -> Result<bool, LogError> {
        let genesis = crate::ledger::genesis(self.log).await?;
        Ok(genesis.is_some_and(|g| g.founding_key.key == self.signer.id()))
    }
}

/// Jittered exponential backoff: 1 ms doubling to at most 128 ms, times a random 0.5–1.5.
fn backoff(attempt: u32) -> Duration {
    let base = 1u64 << attempt.min(7);
    let jitter = 0.5 + f64::from(Uuid::new_v4().as_bytes()[0]) / 255.0;
    Duration::from_micros((base as f64 * 1000.0 * jitter) as u64)
}
