//! [`JetStreamLog`]: the `EventLog` over a JetStream stream.

use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, object_store::ObjectStore, stream};
use bytes::Bytes;
use dossier_chain::{EncodedRecord, EventId, Hash, Head, RecordView, StoredRecord};
use dossier_log::{AppendError, AppendReceipt, EventLog, IndexEntry, LogError};
use futures::StreamExt as _;
use serde::Deserialize;
use tokio::io::AsyncReadExt as _;

use crate::config::{Credentials, JetStreamConfig};
use crate::error::JetStreamError;
use crate::index::{Index, Watermark};

/// How batches reach the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchMode {
    /// ADR-50 atomic batches: a batch is stored whole or not at all.
    Atomic,
    /// One message per record (a stream without `allow_atomic_publish`): a batch cut short
    /// leaves records after the last seal, which verification reports as incomplete.
    Sequential,
}

/// A batch whose messages were sent, all but its commit.
struct Staged {
    id: String,
    start: Option<async_nats::Subscriber>,
    expected: u64,
}

/// A batch whose commit was sent, awaiting the server's answer.
struct Committing {
    start: Option<async_nats::Subscriber>,
    commit: async_nats::Subscriber,
}

/// Whether a server version string (`2.15.1`) is at least `major.minor`.
fn server_at_least(version: &str, major: u64, minor: u64) -> bool {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

fn batch_headers(id: &str, i: usize, expected: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("Nats-Batch-Id", id);
    h.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
    if i == 0 {
        h.insert("Nats-Expected-Last-Sequence", expected.to_string().as_str());
    }
    h
}

/// JetStream's error code for a failed `Nats-Expected-Last-Sequence` check.
const WRONG_LAST_SEQUENCE: u64 = 10071;

/// A ledger kept in a JetStream stream.
pub struct JetStreamLog {
    client: async_nats::Client,
    stream: stream::Stream,
    subject: String,
    bucket: ObjectStore,
    /// Shared with the blocking threads that look ids up and index appended batches.
    index: std::sync::Arc<Index>,
    mode: BatchMode,
    timeout: Duration,
    catch_up: tokio::sync::Mutex<()>,
    unsafe_settings: Vec<String>,
    /// Whether the server accepts `Nats-Msg-Id` inside atomic batches (2.14 and later; 2.12
    /// refuses it with error 10177).
    msg_ids_in_batches: bool,
    /// An ordered consumer left positioned after the last range read, with the position it
    /// will deliver next: sequential reads (replay, verification) reuse it.
    reader: tokio::sync::Mutex<Option<(u64, consumer::pull::Ordered)>>,
    /// The settings it was opened with (for [`JetStreamLog::announcer`]).
    cfg: JetStreamConfig,
}

impl std::fmt::Debug for JetStreamLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamLog")
            .field("subject", &self.subject)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// A JetStream request that failed or went unanswered: the server's condition, not the ledger's.
fn api(e: impl std::fmt::Display) -> LogError {
    LogError::Server(format!("JetStream: {e}"))
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    err_code: u64,
    #[serde(default)]
    description: String,
}

/// The code of the answer a server gives when nothing took the publish ("no responders"):
/// nothing was stored.
const NO_RESPONDERS: u64 = 503;

#[derive(Deserialize)]
struct Ack {
    #[serde(default)]
    error: Option<ApiError>,
    #[serde(default)]
    seq: u64,
}

impl Ack {
    /// No stream took the batch ("no responders"): nothing of it was stored. On a cluster, a
    /// stream created moments ago may not yet be known to the server this connection publishes
    /// through.
    fn unheard(&self) -> bool {
        self.error
            .as_ref()
            .is_some_and(|e| e.err_code == NO_RESPONDERS)
    }
}

impl JetStreamLog {
    /// Connects, then creates the ledger's stream and content bucket or checks the existing
    /// ones, and opens the local index.
    ///
    /// # Errors
    /// [`JetStreamError`]: unreachable server, bad credentials, an unsafe existing stream, …
    pub async fn open(cfg: &JetStreamConfig) -> Result<JetStreamLog, JetStreamError> {
        cfg.check_ledger_name().map_err(JetStreamError::Config)?;
        let client = connect(cfg).await?;
        let js = jetstream::new(client.clone());
        let name = cfg.stream();
        let wanted = stream_config(cfg);
        let mut problems = Vec::new();
        let stream = match js.get_stream(&name).await {
            Ok(mut s) => {
                let info = s
                    .info()
                    .await
                    .map_err(|e| JetStreamError::Api(e.to_string()))?;
                problems = unsafe_settings(&info.config, &cfg.subject());
                if !problems.is_empty() && !cfg.allow_unsafe_stream {
                    return Err(JetStreamError::UnsafeStream {
                        stream: name,
                        problems: problems.join(", "),
                    });
                }
                s
            }
            Err(e) if is_not_found(&e) && !cfg.create => {
                return Err(JetStreamError::NoLedger { stream: name });
            }
            Err(e) if is_not_found(&e) => {
                let created = create_stream_ready(&js, wanted, cfg.request_timeout).await?;
                // The auditor's checkpoint stream is created with the ledger, by whoever may
                // create streams, so that the auditor's role needs no right to create any.
                crate::announce::ensure_checkpoint_stream(&js, cfg).await?;
                created
            }
            Err(e) => return Err(JetStreamError::Api(format!("stream {name}: {e}"))),
        };
        let mode = {
            let mut s = stream.clone();
            let info = s
                .info()
                .await
                .map_err(|e| JetStreamError::Api(e.to_string()))?;
            if info.config.allow_atomic_publish {
                BatchMode::Atomic
            } else {
                BatchMode::Sequential
            }
        };
        let bucket = match js.get_object_store(cfg.bucket()).await {
            Ok(b) => b,
            Err(_) => {
                let bucket = js
                    .create_object_store(jetstream::object_store::Config {
                        bucket: cfg.bucket(),
                        description: Some("dossier report texts, named by BLAKE3 hash".into()),
                        num_replicas: cfg.replicas,
                        storage: stream::StorageType::File,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| {
                        JetStreamError::Api(format!("content bucket {}: {e}", cfg.bucket()))
                    })?;
                // An object store is the stream `OBJ_<bucket>`.
                wait_until_ready(&js, &format!("OBJ_{}", cfg.bucket()), cfg.request_timeout)
                    .await?;
                bucket
            }
        };
        let index = std::sync::Arc::new(Index::open(&cfg.index_path)?);
        let log = JetStreamLog {
            client,
            stream,
            subject: cfg.subject(),
            bucket,
            index,
            mode,
            timeout: cfg.request_timeout,
            catch_up: tokio::sync::Mutex::new(()),
            unsafe_settings: problems,
            reader: tokio::sync::Mutex::new(None),
            msg_ids_in_batches: false,
            cfg: cfg.clone(),
        };
        let mut log = log;
        log.msg_ids_in_batches = server_at_least(&log.client.server_info().version, 2, 14);
        log.check_index_identity().await?;
        Ok(log)
    }

    /// The stream's settings through which records could be lost (empty for a safe stream; only
    /// non-empty when opened with `allow_unsafe_stream`).
    #[must_use]
    pub fn unsafe_settings(&self) -> &[String] {
        &self.unsafe_settings
    }

    /// Whether records carry `Nats-Msg-Id` (their event id) inside atomic batches: the stream's
    /// duplicate window then also refuses a record seen in it (servers 2.14 and later).
    #[must_use]
    pub fn msg_ids_in_batches(&self) -> bool {
        self.msg_ids_in_batches
    }

    /// An [`Announcer`](crate::Announcer) for this ledger's checkpoints and alarms, on the same
    /// connection (its stream is created if missing).
    ///
    /// # Errors
    /// As [`Announcer::open`](crate::Announcer::open).
    pub async fn announcer(&self) -> Result<crate::Announcer, JetStreamError> {
        crate::Announcer::with_client(self.client.clone(), &self.cfg).await
    }

    /// How batches are published on this stream.
    #[must_use]
    pub fn mode(&self) -> BatchMode {
        self.mode
    }

    /// The index must have been built from this stream: if record 1 differs, start over.
    async fn check_index_identity(&self) -> Result<(), LogError> {
        let Some(indexed) = self.index.genesis()? else {
            return Ok(());
        };
        let first = self.read_range(1, 1).await?;
        let same = first
            .first()
            .is_some_and(|r| Hash::of_record(&r.bytes) == indexed);
        if !same {
            tracing::warn!("the local index was built from another ledger; rebuilding it");
            self.index.reset()?;
            return Ok(());
        }
        // An index missing entries would let an event be appended twice: never trust one.
        if let Some(missing) = self.index.missing_entries()? {
            tracing::warn!(
                missing,
                "the local event-id index lacks entries for records it claims to cover; rebuilding it from the stream"
            );
            self.index.reset()?;
        }
        Ok(())
    }

    async fn last_seq(&self) -> Result<u64, LogError> {
        let mut s = self.stream.clone();
        Ok(s.info().await.map_err(api)?.state.last_sequence)
    }

    /// Brings the local index up to the stream's head, checking links as it goes.
    async fn catch_up(&self) -> Result<Watermark, LogError> {
        let _guard = self.catch_up.lock().await;
        let mut mark = self.index.watermark()?;
        let last = self.last_seq().await?;
        if last < mark.seq {
            return Err(LogError::Corrupt(format!(
                "the stream ends at {last}, but records up to {} were seen before: records were removed (run `dossier verify`)",
                mark.seq
            )));
        }
        while mark.seq < last {
            let page = self
                .read_range(mark.seq + 1, ((last - mark.seq) as usize).min(4096))
                .await?;
            if page.is_empty() {
                break;
            }
            mark = self.index.extend(mark, &page)?;
        }
        Ok(mark)
    }

    /// One record by sequence number, without creating a consumer (direct get, or the
    /// message-get API on streams without direct access); `None` if it is not stored.
    async fn get_one(&self, seq: u64) -> Result<Option<StoredRecord>, LogError> {
        let message = match self.stream.direct_get(seq).await {
            Ok(m) => m,
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => return Ok(None),
            Err(_) => match self.stream.get_raw_message(seq).await {
                Ok(m) => m,
                Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => {
                    return Ok(None);
                }
                Err(e) => return Err(api(e)),
            },
        };
        Ok(Some(StoredRecord {
            position: message.sequence,
            stored_hash: None,
            bytes: message.payload.to_vec(),
        }))
    }

    /// The records stored at positions `from ..= from + n - 1`, in order (fewer if some are
    /// missing: positions tell the verifier where).
    async fn read_range(&self, from: u64, n: usize) -> Result<Vec<StoredRecord>, LogError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if n == 1 {
            return Ok(self.get_one(from).await?.into_iter().collect());
        }
        let to = from + n as u64 - 1;
        let mut cached = self.reader.lock().await;
        let mut messages = match cached.take() {
            Some((next, messages)) if next == from => messages,
            _ => {
                let consumer = self
                    .stream
                    .create_consumer(consumer::pull::OrderedConfig {
                        deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                            start_sequence: from,
                        },
                        ..Default::default()
                    })
                    .await
                    .map_err(api)?;
                consumer.messages().await.map_err(api)?
            }
        };
        let mut out: Vec<StoredRecord> = Vec::with_capacity(n);
        while out.last().is_none_or(|r| r.position < to) {
            // Messages usually wait in the consumer's buffer: take them without arming a timer.
            let next = match futures::FutureExt::now_or_never(messages.next()) {
                Some(ready) => Ok(ready),
                None => tokio::time::timeout(self.timeout, messages.next()).await,
            };
            let msg = match next {
                Ok(Some(Ok(m))) => m,
                Ok(Some(Err(e))) => return Err(api(e)),
                Ok(None) => break,
                Err(_) => {
                    return Err(LogError::Server(format!(
                        "timed out reading record {} from the stream",
                        from + out.len() as u64
                    )));
                }
            };
            let position = msg.info().map_err(api)?.stream_sequence;
            if position > to {
                // Past a gap: this consumer has gone beyond the range, so it is not kept.
                return Ok(out);
            }
            out.push(StoredRecord {
                position,
                stored_hash: None,
                bytes: msg.payload.to_vec(),
            });
        }
        if out.last().is_some_and(|r| r.position == to) {
            *cached = Some((to + 1, messages));
        }
        Ok(out)
    }

    /// Sends every message of an ADR-50 atomic batch but the last (the commit). The server
    /// holds them until the commit; a batch never committed is abandoned and leaves nothing.
    async fn stage_atomic(
        &self,
        expected: u64,
        records: &[EncodedRecord],
    ) -> Result<Staged, AppendError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut start = None;
        for (i, r) in records.iter().enumerate().take(records.len() - 1) {
            let mut h = batch_headers(&id, i, expected);
            if self.msg_ids_in_batches {
                h.insert("Nats-Msg-Id", r.event_id.to_hex().as_str());
            }
            let payload = Bytes::copy_from_slice(&r.bytes);
            if i == 0 {
                // ADR-50 starts a batch with a request; its answer is read after the commit so
                // that a batch costs one round trip, not two.
                let inbox = self.client.new_inbox();
                start = Some(self.client.subscribe(inbox.clone()).await.map_err(api)?);
                self.client
                    .publish_with_reply_and_headers(self.subject.clone(), inbox, h, payload)
                    .await
                    .map_err(api)?;
            } else {
                self.client
                    .publish_with_headers(self.subject.clone(), h, payload)
                    .await
                    .map_err(api)?;
            }
        }
        Ok(Staged {
            id,
            start,
            expected,
        })
    }

    /// Sends the commit message of a staged batch; its answer is awaited with [`Self::answer`].
    async fn commit_atomic(
        &self,
        staged: Staged,
        records: &[EncodedRecord],
    ) -> Result<Committing, AppendError> {
        let i = records.len() - 1;
        let mut h = batch_headers(&staged.id, i, staged.expected);
        h.insert("Nats-Batch-Commit", "1");
        if self.msg_ids_in_batches {
            h.insert("Nats-Msg-Id", records[i].event_id.to_hex().as_str());
        }
        let inbox = self.client.new_inbox();
        let commit = self.client.subscribe(inbox.clone()).await.map_err(api)?;
        self.client
            .publish_with_reply_and_headers(
                self.subject.clone(),
                inbox,
                h,
                Bytes::copy_from_slice(&records[i].bytes),
            )
            .await
            .map_err(api)?;
        Ok(Committing {
            start: staged.start,
            commit,
        })
    }

    /// The server's answer to a commit.
    async fn answer(&self, mut c: Committing) -> Result<Ack, AppendError> {
        let reply = tokio::time::timeout(self.timeout, c.commit.next())
            .await
            .map_err(|_| api("no answer to the batch commit"))?
            .ok_or_else(|| api("the connection closed before the batch commit was answered"))?;
        if reply.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            return Ok(Ack {
                error: Some(ApiError {
                    err_code: NO_RESPONDERS,
                    description: "no stream took the batch (no responders)".into(),
                }),
                seq: 0,
            });
        }
        let ack: Ack = serde_json::from_slice(&reply.payload)
            .map_err(|e| api(format!("batch answer: {e}")))?;
        // The start of the batch was answered before its commit; a refusal there (for example,
        // atomic publish not enabled) also fails the commit, and is the more precise error. A
        // committed batch had no refusal, so its start's answer is not awaited.
        if ack.error.is_none() {
            return Ok(ack);
        }
        if let Some(mut start) = c.start.take()
            && let Ok(Some(m)) =
                tokio::time::timeout(Duration::from_millis(100), start.next()).await
            && let Ok(Ack { error: Some(e), .. }) = serde_json::from_slice::<Ack>(&m.payload)
        {
            return Ok(Ack {
                error: Some(e),
                seq: 0,
            });
        }
        Ok(ack)
    }

    /// Publishes the records as one ADR-50 atomic batch; returns the server's answer to the commit.
    async fn publish_atomic(
        &self,
        expected: u64,
        records: &[EncodedRecord],
    ) -> Result<Ack, AppendError> {
        let staged = self.stage_atomic(expected, records).await?;
        let committing = self.commit_atomic(staged, records).await?;
        self.answer(committing).await
    }

    /// Turns a commit answer into a receipt (or the error), for a batch of `len` records on `expected`.
    async fn receipt(
        &self,
        expected: u64,
        len: usize,
        ack: Ack,
    ) -> Result<AppendReceipt, AppendError> {
        if let Some(err) = ack.error {
            if err.err_code == WRONG_LAST_SEQUENCE {
                let actual = self.last_seq().await?;
                return Err(AppendError::Conflict { expected, actual });
            }
            return Err(api(format!(
                "the server refused the batch: {} (code {})",
                err.description, err.err_code
            ))
            .into());
        }
        let last = expected + len as u64;
        if ack.seq != last {
            return Err(LogError::Corrupt(format!(
                "JetStream stored the batch ending at {} instead of {last}",
                ack.seq
            ))
            .into());
        }
        Ok(AppendReceipt {
            first: expected + 1,
            last,
        })
    }

    /// Checks that `batches` chain from `expected`, the index is at `expected`, and no event id
    /// is recorded; stores the report texts. Returns the index watermark.
    async fn prepare(
        &self,
        expected: u64,
        batches: &[(&[EncodedRecord], &[Vec<u8>])],
    ) -> Result<Watermark, AppendError> {
        let mark = self.check_head(expected, batches).await?;
        refuse_recorded(&self.index, &event_ids(batches))?;
        self.store_contents(batches).await?;
        Ok(mark)
    }

    /// Checks that `batches` chain from `expected` and that the index, caught up with the
    /// stream, is at `expected`. Returns the index watermark.
    async fn check_head(
        &self,
        expected: u64,
        batches: &[(&[EncodedRecord], &[Vec<u8>])],
    ) -> Result<Watermark, AppendError> {
        let mut next = expected + 1;
        for (records, _) in batches {
            if records.is_empty() {
                return Err(AppendError::InvalidBatch("no records".into()));
            }
            for (i, r) in records.iter().enumerate() {
                if r.seq != next {
                    return Err(AppendError::InvalidBatch(format!(
                        "record {i} has seq {}, expected {next}",
                        r.seq
                    )));
                }
                next += 1;
            }
        }
        let mark = self.catch_up().await?;
        if mark.seq != expected {
            return Err(AppendError::Conflict {
                expected,
                actual: mark.seq,
            });
        }
        Ok(mark)
    }

    /// Stores the report texts of `batches` not yet in the content store.
    async fn store_contents(
        &self,
        batches: &[(&[EncodedRecord], &[Vec<u8>])],
    ) -> Result<(), AppendError> {
        for (_, contents) in batches {
            for c in *contents {
                let name = Hash::of_bytes(c).to_hex();
                if self.bucket.info(&name).await.is_err() {
                    self.put_content(&name, c).await?;
                }
            }
        }
        Ok(())
    }

    /// Puts one text into the content store. On a cluster, a bucket created moments ago (by
    /// `dossier init` on another connection) may not yet be known to the server this
    /// connection publishes through, which then answers that no stream takes the subject; such
    /// a refused publish is retried a few times, for about 3 s in all. The put is idempotent:
    /// the object's name is its content hash.
    async fn put_content(&self, name: &str, content: &[u8]) -> Result<(), AppendError> {
        use jetstream::object_store::PutErrorKind;
        let mut wait = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            let mut data: &[u8] = content;
            match self.bucket.put(name, &mut data).await {
                Ok(_) => return Ok(()),
                Err(e)
                    if attempt < 6
                        && matches!(
                            e.kind(),
                            PutErrorKind::PublishChunks | PutErrorKind::PublishMetadata
                        ) =>
                {
                    tracing::debug!(error = %e, attempt, "content store refused a put; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(api(e).into()),
            }
        }
    }

    /// Awaits a pipelined batch's commit and turns it into a receipt; the batch is then indexed
    /// on a blocking thread by `indexing` (once the batch before is), while the next batch
    /// commits.
    async fn settle(
        &self,
        committing: Committing,
        records: &[EncodedRecord],
        on: u64,
        mark: &mut Watermark,
        indexing: &mut Indexing,
    ) -> Result<Option<AppendReceipt>, AppendError> {
        let ack = self.answer(committing).await?;
        if ack.unheard() {
            return Ok(None);
        }
        let receipt = self.receipt(on, records.len(), ack).await?;
        indexing.after(*mark, records).await;
        *mark = Watermark {
            seq: receipt.last,
            hash: records[records.len() - 1].hash,
        };
        Ok(Some(receipt))
    }

    /// After appending `records` on the watermark `mark`, indexes them without reading them back.
    fn index_own(&self, mark: Watermark, records: &[EncodedRecord]) -> Result<(), LogError> {
        self.index.extend_own(mark, &Index::own_entries(records))?;
        Ok(())
    }

    /// Publishes the records one by one, each expecting the one before; the seal comes last.
    async fn publish_sequential(
        &self,
        expected: u64,
        records: &[EncodedRecord],
    ) -> Result<Ack, AppendError> {
        let js = jetstream::new(self.client.clone());
        let mut acks = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let mut h = HeaderMap::new();
            h.insert(
                "Nats-Expected-Last-Sequence",
                (expected + i as u64).to_string().as_str(),
            );
            h.insert("Nats-Msg-Id", r.event_id.to_hex().as_str());
            acks.push(
                js.publish_with_headers(self.subject.clone(), h, Bytes::copy_from_slice(&r.bytes))
                    .await
                    .map_err(api)?,
            );
        }
        let mut last = Ack {
            error: None,
            seq: expected,
        };
        for ack in acks {
            match ack.await {
                Ok(a) => last.seq = a.sequence,
                Err(e) => {
                    let text = e.to_string();
                    let code = if text.contains("10071") || text.contains("wrong last sequence") {
                        WRONG_LAST_SEQUENCE
                    } else {
                        0
                    };
                    return Ok(Ack {
                        error: Some(ApiError {
                            err_code: code,
                            description: text,
                        }),
                        seq: 0,
                    });
                }
            }
        }
        Ok(last)
    }

    /// After an unanswered commit: did our batch land?
    async fn landed(&self, expected: u64, records: &[EncodedRecord]) -> Result<bool, LogError> {
        let got = self.read_range(expected + 1, 1).await;
        Ok(got
            .ok()
            .and_then(|v| v.into_iter().next())
            .is_some_and(|r| r.bytes == records[0].bytes))
    }
}

/// The event ids of every record of `batches`, in order.
fn event_ids(batches: &[(&[EncodedRecord], &[Vec<u8>])]) -> Vec<EventId> {
    batches
        .iter()
        .flat_map(|(records, _)| records.iter().map(|r| r.event_id))
        .collect()
}

/// Refuses the append if any of `ids` is in `index`.
fn refuse_recorded(index: &Index, ids: &[EventId]) -> Result<(), AppendError> {
    if let Some(dup) = index
        .lookup(ids)?
        .iter()
        .zip(ids)
        .find_map(|(found, id)| found.map(|_| id))
    {
        return Err(AppendError::DuplicateEvent(dup.to_hex()));
    }
    Ok(())
}

/// Indexes pipelined batches one after the other on a blocking thread, off the path of the
/// next commit.
struct Indexing {
    index: std::sync::Arc<Index>,
    pending: Option<tokio::task::JoinHandle<Result<Watermark, LogError>>>,
    /// The first failure: nothing more is indexed after it.
    failed: Option<LogError>,
}

impl Indexing {
    fn new(index: std::sync::Arc<Index>) -> Indexing {
        Indexing {
            index,
            pending: None,
            failed: None,
        }
    }

    /// Finishes indexing the batch before, then starts indexing `records`, appended on `mark`
    /// (unless indexing failed: see [`Indexing::failed`]).
    async fn after(&mut self, mark: Watermark, records: &[EncodedRecord]) {
        self.wait().await;
        if self.failed.is_some() {
            return;
        }
        let (index, entries) = (
            std::sync::Arc::clone(&self.index),
            Index::own_entries(records),
        );
        self.pending = Some(tokio::task::spawn_blocking(move || {
            index.extend_own(mark, &entries)
        }));
    }

    /// Whether indexing a batch failed (then no further batch should be committed).
    fn failed(&self) -> bool {
        self.failed.is_some()
    }

    async fn wait(&mut self) {
        if let Some(task) = self.pending.take() {
            let done = match task.await {
                Ok(done) => done.map(|_| ()),
                Err(e) => Err(LogError::Corrupt(format!("indexing a batch failed: {e}"))),
            };
            if let Err(e) = done {
                self.failed.get_or_insert(e);
            }
        }
    }

    /// Waits for the batch being indexed; the first failure, if any.
    async fn finish(mut self) -> Result<(), LogError> {
        self.wait().await;
        self.failed.map_or(Ok(()), Err)
    }
}

pub(crate) async fn connect(cfg: &JetStreamConfig) -> Result<async_nats::Client, JetStreamError> {
    let mut opts = async_nats::ConnectOptions::new()
        .name("dossier")
        .request_timeout(Some(cfg.request_timeout))
        .connection_timeout(Duration::from_secs(5));
    opts = match &cfg.credentials {
        Credentials::None => opts,
        Credentials::UserPassword { user, password } => {
            opts.user_and_password(user.clone(), password.clone())
        }
        Credentials::Token(t) => opts.token(t.clone()),
        Credentials::NkeySeed(seed) => opts.nkey(seed.clone()),
        Credentials::CredsFile(path) => {
            opts.credentials_file(path)
                .await
                .map_err(|e| JetStreamError::Connect {
                    url: cfg.url.clone(),
                    reason: format!("reading credentials {}: {e}", path.display()),
                })?
        }
    };
    if let Some(ca) = &cfg.tls_ca {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let Some((cert, key)) = &cfg.tls_client {
        opts = opts
            .add_client_certificate(cert.clone(), key.clone())
            .require_tls(true);
    }
    // async-nats reads one URL from a string; a cluster is given as a comma-separated list.
    let servers: Vec<&str> = cfg
        .url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    opts.connect(servers)
        .await
        .map_err(|e| JetStreamError::Connect {
            url: cfg.url.clone(),
            reason: with_tls_hint(e.to_string(), cfg),
        })
}

/// Names the likely cause of a TLS alert the server sent during the handshake.
fn with_tls_hint(reason: String, cfg: &JetStreamConfig) -> String {
    let hint = if reason.contains("CertificateRequired") {
        "the server requires a client certificate (mutual TLS), and none was presented"
    } else if cfg.tls_client.is_some()
        && ["UnknownCA", "BadCertificate", "CertificateUnknown"]
            .iter()
            .any(|alert| reason.contains(alert))
    {
        "the server did not accept the client certificate: is it signed by a CA the server trusts?"
    } else {
        return reason;
    };
    format!("{reason} ({hint})")
}

/// Creates a stream and waits until it is ready (see [`wait_until_ready`]). A creation that
/// timed out, or found JetStream unavailable (a cluster that has just formed may still be
/// settling its meta leader), is tried again, twice; creating a stream that exists with the
/// same settings succeeds, so a retry after a late success is harmless.
pub(crate) async fn create_stream_ready(
    js: &jetstream::Context,
    wanted: stream::Config,
    limit: Duration,
) -> Result<stream::Stream, JetStreamError> {
    use jetstream::context::CreateStreamErrorKind;
    let name = wanted.name.clone();
    let mut attempt = 0;
    let created = loop {
        match js.create_stream(wanted.clone()).await {
            Ok(s) => break s,
            Err(e)
                if attempt < 2
                    && matches!(
                        e.kind(),
                        CreateStreamErrorKind::TimedOut
                            | CreateStreamErrorKind::JetStreamUnavailable
                    ) =>
            {
                tracing::debug!(error = %e, attempt, "creating stream {name}; retrying");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(250 * attempt)).await;
            }
            Err(e) => {
                return Err(JetStreamError::Api(format!("creating stream {name}: {e}")));
            }
        }
    };
    wait_until_ready(js, &name, limit).await?;
    Ok(created)
}

/// Waits, up to `limit`, until a stream just created has a leader and all its replicas are
/// current. Until then, on a cluster, a server that has not applied the stream's assignment
/// yet answers a publish with "no responders" (seen as an empty answer to the genesis batch,
/// or an object store put refused right after `dossier init`). On a single server the stream is
/// ready at once. After `limit` it returns anyway: the first publish then reports what is wrong.
pub(crate) async fn wait_until_ready(
    js: &jetstream::Context,
    name: &str,
    limit: Duration,
) -> Result<(), JetStreamError> {
    let deadline = Instant::now() + limit;
    loop {
        let mut stream = js
            .get_stream(name)
            .await
            .map_err(|e| JetStreamError::Api(format!("stream {name}: {e}")))?;
        let info = stream
            .info()
            .await
            .map_err(|e| JetStreamError::Api(format!("stream {name}: {e}")))?;
        let ready = info.cluster.as_ref().is_none_or(|c| {
            c.leader.is_some() && c.replicas.iter().all(|p| p.current && !p.offline)
        });
        if ready || Instant::now() >= deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn is_not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(j) if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
}

/// The stream dossier creates: nothing can remove a record.
fn stream_config(cfg: &JetStreamConfig) -> stream::Config {
    stream::Config {
        name: cfg.stream(),
        description: Some(format!(
            "dossier ledger {}: hash-chained records, append only",
            cfg.ledger
        )),
        subjects: vec![cfg.subject()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::New,
        max_messages: -1,
        max_bytes: -1,
        max_messages_per_subject: -1,
        max_age: Duration::ZERO,
        num_replicas: cfg.replicas,
        duplicate_window: cfg.duplicate_window,
        deny_delete: true,
        deny_purge: true,
        allow_rollup: false,
        allow_direct: true,
        allow_atomic_publish: true,
        ..Default::default()
    }
}

/// Every setting of an existing stream through which records could disappear.
fn unsafe_settings(c: &stream::Config, subject: &str) -> Vec<String> {
    let mut p = Vec::new();
    if !c.deny_delete {
        p.push("deny_delete is off".to_owned());
    }
    if !c.deny_purge {
        p.push("deny_purge is off".to_owned());
    }
    if c.allow_rollup {
        p.push("rollup is allowed".to_owned());
    }
    if c.max_messages > 0 || c.max_bytes > 0 || c.max_messages_per_subject > 0 {
        p.push(format!(
            "limits max_msgs={} max_bytes={} max_msgs_per_subject={}",
            c.max_messages, c.max_bytes, c.max_messages_per_subject
        ));
    }
    if !c.max_age.is_zero() {
        p.push(format!("max_age={:?}", c.max_age));
    }
    if c.allow_message_ttl || c.subject_delete_marker_ttl.is_some() {
        p.push("message TTLs are allowed".to_owned());
    }
    if c.retention != stream::RetentionPolicy::Limits {
        p.push(format!("retention {:?}", c.retention));
    }
    if c.storage != stream::StorageType::File {
        p.push("memory storage".to_owned());
    }
    if c.subjects != [subject.to_owned()] {
        p.push(format!(
            "subjects {:?} (only {subject} belongs in a ledger stream)",
            c.subjects
        ));
    }
    if c.mirror.is_some() || c.sources.as_ref().is_some_and(|s| !s.is_empty()) {
        p.push("mirrors or sources".to_owned());
    }
    p
}

impl EventLog for JetStreamLog {
    async fn head(&self) -> Result<Head, LogError> {
        let last = self.last_seq().await?;
        if last == 0 {
            return Ok(Head::empty());
        }
        let r = self.read_range(last, 1).await?;
        let Some(r) = r.into_iter().next() else {
            return Err(LogError::Corrupt(format!(
                "the stream's last record {last} cannot be read"
            )));
        };
        let view = RecordView::parse(&r.bytes)
            .map_err(|e| LogError::Corrupt(format!("seq {last}: {e}")))?;
        Ok(Head {
            seq: r.position,
            hash: Hash::of_record(&r.bytes),
            recorded: Some(view.recorded.to_owned()),
        })
    }

    async fn append(
        &self,
        expected: u64,
        records: &[EncodedRecord],
        contents: &[Vec<u8>],
    ) -> Result<AppendReceipt, AppendError> {
        let mark = self.prepare(expected, &[(records, contents)]).await?;
        dossier_log::fault::point("before-commit");
        // On a cluster, a stream created moments ago may not yet be known to the server this
        // connection publishes through; it answers "no responders" and stores nothing. Such a
        // batch is published again, a few times over about 3 s (the head precondition would
        // refuse it if anything had been stored).
        let mut wait = Duration::from_millis(50);
        let ack = loop {
            let answer = match self.mode {
                BatchMode::Atomic => self.publish_atomic(expected, records).await,
                BatchMode::Sequential => self.publish_sequential(expected, records).await,
            };
            match answer {
                Ok(ack) if ack.unheard() && wait < Duration::from_secs(2) => {
                    tracing::debug!("no stream took the batch yet; publishing it again");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Ok(a) => break a,
                Err(e) => {
                    // No answer: the batch may or may not have been stored.
                    if self.landed(expected, records).await? {
                        break Ack {
                            error: None,
                            seq: expected + records.len() as u64,
                        };
                    }
                    return Err(e);
                }
            }
        };
        let receipt = self.receipt(expected, records.len(), ack).await?;
        self.index_own(mark, records)?;
        dossier_log::fault::point("after-commit");
        Ok(receipt)
    }

    /// Pipelines atomic batches: batch *k+1* is staged (all its messages sent) while batch *k*
    /// commits, and committed only once *k*'s commit succeeded — so no batch can ever be stored
    /// after a batch before it failed (its precondition would otherwise match another
    /// producer's records of the same length, and break the chain). A batch that no stream took
    /// ("no responders", nothing stored) and those after it go on one by one through
    /// [`EventLog::append`], which publishes such a batch again for a while. `stored` hears of a
    /// batch when the server confirmed it, which is after every batch before it; when it
    /// answers `Break`, the batch staged behind it is never committed (the server abandons it).
    async fn append_all(
        &self,
        expected: u64,
        batches: &[(Vec<EncodedRecord>, Vec<Vec<u8>>)],
        stored: &mut dossier_log::OnStored<'_>,
    ) -> (Vec<AppendReceipt>, Option<AppendError>) {
        if self.mode != BatchMode::Atomic || batches.len() < 2 {
            return dossier_log::append_one_by_one(self, expected, batches, stored).await;
        }
        let refs: Vec<(&[EncodedRecord], &[Vec<u8>])> = batches
            .iter()
            .map(|(r, c)| (r.as_slice(), c.as_slice()))
            .collect();
        let mut mark = match self.check_head(expected, &refs).await {
            Ok(m) => m,
            Err(e) => return (Vec::new(), Some(e)),
        };
        // The duplicate check runs on a blocking thread while the first batch is staged; nothing
        // is committed (nor any text stored) before it passed.
        let check = {
            let (index, ids) = (std::sync::Arc::clone(&self.index), event_ids(&refs));
            tokio::task::spawn_blocking(move || refuse_recorded(&index, &ids))
        };
        let mut check = Some(check);
        let mut indexing = Indexing::new(std::sync::Arc::clone(&self.index));
        let mut receipts = Vec::with_capacity(batches.len());
        let mut next = expected;
        let mut in_flight: Option<(Committing, &[EncodedRecord], u64, usize)> = None;
        let mut failure = None;
        // The first batch no stream took, and the head it was to go on.
        let mut unheard: Option<(usize, u64)> = None;
        // `stored` asked for no further batch.
        let mut stopped = false;
        for (i, (records, _)) in batches.iter().enumerate() {
            let staged = self.stage_atomic(next, records).await;
            if let Some(check) = check.take() {
                let passed = match check.await {
                    Ok(result) => result,
                    Err(e) => Err(api(format!("the duplicate check failed: {e}")).into()),
                };
                if let Err(e) = passed {
                    // The staged batch is never committed: the server abandons it.
                    failure = Some(e);
                    break;
                }
                if let Err(e) = self.store_contents(&refs).await {
                    failure = Some(e);
                    break;
                }
            }
            if let Some((committing, done, on, k)) = in_flight.take() {
                match self
                    .settle(committing, done, on, &mut mark, &mut indexing)
                    .await
                {
                    Ok(Some(r)) => {
                        receipts.push(r);
                        if stored(r).is_break() {
                            // The batch just staged is never committed: the server abandons it.
                            stopped = true;
                            break;
                        }
                    }
                    // The batch just staged is never committed: the server abandons it.
                    Ok(None) => {
                        unheard = Some((k, on));
                        break;
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
                if indexing.failed() {
                    // Reported below, after the batches stored so far.
                    break;
                }
            }
            let staged = match staged {
                Ok(s) => s,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            match self.commit_atomic(staged, records).await {
                Ok(c) => in_flight = Some((c, records.as_slice(), next, i)),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            next += records.len() as u64;
        }
        if failure.is_none()
            && unheard.is_none()
            && !stopped
            && let Some((committing, done, on, k)) = in_flight
        {
            match self
                .settle(committing, done, on, &mut mark, &mut indexing)
                .await
            {
                Ok(Some(r)) => {
                    receipts.push(r);
                    // The last batch: nothing is left to stop.
                    let _ = stored(r);
                }
                Ok(None) => unheard = Some((k, on)),
                Err(e) => failure = Some(e),
            }
        }
        // Every stored batch is indexed before returning (the index is only a cache of the
        // stream: if this fails, the next catch-up reads the batches back).
        if let Err(e) = indexing.finish().await {
            failure.get_or_insert(e.into());
        }
        if let (None, Some((k, on))) = (&failure, unheard) {
            tracing::debug!("no stream took batch {k}; appending the rest one by one");
            let (more, error) =
                dossier_log::append_one_by_one(self, on, &batches[k..], stored).await;
            receipts.extend(more);
            failure = error;
        }
        (receipts, failure)
    }

    async fn read(&self, from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let from = from.max(1);
        let last = self.last_seq().await?;
        if from > last {
            return Ok(Vec::new());
        }
        let n = ((last - from + 1) as usize).min(max);
        self.read_range(from, n).await
    }

    async fn lookup(&self, ids: &[EventId]) -> Result<Vec<Option<IndexEntry>>, LogError> {
        self.catch_up().await?;
        let found = self.index.lookup(ids)?;
        let mut out = Vec::with_capacity(ids.len());
        for seq in found {
            let entry = match seq {
                None => None,
                Some(seq) => {
                    let r = self.read_range(seq, 1).await?;
                    let r = r.into_iter().next().ok_or_else(|| {
                        LogError::Corrupt(format!("seq {seq} is indexed but unreadable"))
                    })?;
                    let view = RecordView::parse(&r.bytes)
                        .map_err(|e| LogError::Corrupt(format!("seq {seq}: {e}")))?;
                    Some(IndexEntry {
                        seq,
                        digest: dossier_chain::content_digest(
                            &view.marking,
                            view.body.get().as_bytes(),
                        ),
                    })
                }
            };
            out.push(entry);
        }
        Ok(out)
    }

    async fn content(&self, hash: &Hash) -> Result<Option<Vec<u8>>, LogError> {
        let mut object = match self.bucket.get(hash.to_hex()).await {
            Ok(o) => o,
            Err(e) if e.kind() == jetstream::object_store::GetErrorKind::NotFound => {
                return Ok(None);
            }
            Err(e) => return Err(api(e)),
        };
        let mut bytes = Vec::new();
        object.read_to_end(&mut bytes).await.map_err(api)?;
        if Hash::of_bytes(&bytes) != *hash {
            return Err(LogError::Corrupt(format!(
                "content {hash} does not hash to its name"
            )));
        }
        Ok(Some(bytes))
    }

    async fn wait_for(&self, after: u64, timeout: Duration) -> Result<u64, LogError> {
        let deadline = Instant::now() + timeout;
        loop {
            let seq = self.last_seq().await?;
            if seq > after || Instant::now() >= deadline {
                return Ok(seq);
            }
            tokio::time::sleep(
                Duration::from_millis(20).min(deadline.saturating_duration_since(Instant::now())),
            )
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::server_at_least;

    #[test]
    fn server_versions_compare() {
        assert!(server_at_least("2.15.1", 2, 14));
        assert!(server_at_least("2.14.0", 2, 14));
        assert!(!server_at_least("2.12.8", 2, 14));
        assert!(!server_at_least("2.9.25", 2, 14));
        assert!(server_at_least("3.0.0-beta", 2, 14));
        assert!(!server_at_least("", 2, 14));
    }
}
