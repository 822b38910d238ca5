//! [`JetStreamLog`]: the `EventLog` over a JetStream stream.
//!
//! Layout 2 (new ledgers): one message per sealed batch ([`crate::carrier`]). Layout 1 (streams
//! written by earlier versions): one message per record; read, never appended to.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{
    self, context::PublishAckFuture, context::PublishErrorKind, object_store::ObjectStore, stream,
};
use bytes::Bytes;
use dossier_chain::{EncodedRecord, EventId, Hash, Head, RecordView, StoredRecord};
use dossier_log::{AppendError, AppendReceipt, EventLog, IndexEntry, LogError, ReadItem};
use futures::StreamExt as _;
use tokio::io::AsyncReadExt as _;

use crate::carrier::{
    BATCHES_LAYOUT, Carried, FRAMING_KEY, LAYOUT_KEY, Layout, MAX_MESSAGE_BYTES, Outgoing, Place,
    Positions,
};
use crate::config::{Credentials, JetStreamConfig};
use crate::error::JetStreamError;
use crate::index::{Index, Watermark};
use crate::retry::{self, ATTEMPT_WAIT, PROBE_WAIT};
use crate::texts::Texts;

/// Bytes asked for per batched direct get (the server sends at least one message).
const READ_BYTES: usize = 8 * 1024 * 1024;
/// Messages asked for per batched direct get.
const READ_MESSAGES: usize = 1024;
/// How long a batch message's answer is awaited before it is sent again.
const ACK_WAIT: Duration = ATTEMPT_WAIT;

/// What became of a batch message published on its own.
enum Sent {
    /// Stored at this stream sequence.
    Stored(u64),
    /// No stream took it (nothing stored).
    Unheard,
    /// The stream's last message was not the one expected: another producer appended.
    Conflict,
    /// Refused; nothing stored.
    Refused(AppendError),
    /// No answer: it may or may not have been stored.
    Unknown(AppendError),
}

impl Sent {
    /// What the server's answer to a batch message says.
    fn of(
        answer: Result<jetstream::publish::PublishAck, jetstream::context::PublishError>,
        out: &Outgoing,
    ) -> Sent {
        match answer {
            // A duplicate (the same seal hash within the duplicate window) is the same batch,
            // stored where the answer says.
            Ok(ack) => Sent::Stored(ack.sequence),
            Err(e) => match e.kind() {
                PublishErrorKind::WrongLastSequence | PublishErrorKind::WrongLastMessageId => {
                    Sent::Conflict
                }
                PublishErrorKind::StreamNotFound => Sent::Unheard,
                PublishErrorKind::MaxPayloadExceeded => {
                    Sent::Refused(AppendError::InvalidBatch(format!(
                        "the batch from seq {} is {} bytes framed, more than the server accepts in one message",
                        out.first,
                        out.body.len()
                    )))
                }
                PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe => {
                    Sent::Unknown(api(e).into())
                }
                _ => Sent::Refused(api(format!("the server refused the batch: {e}")).into()),
            },
        }
    }
}

/// A batch message of a pipelined run: sent, its answer awaited later; or already answered.
enum Pending {
    Sent(Result<PublishAckFuture, AppendError>),
    Answered(Sent),
}

/// A stored message as read back.
struct Raw {
    stream_seq: u64,
    headers: Option<HeaderMap>,
    body: Bytes,
}

/// Where a ledger's report texts are.
enum TextStore {
    /// Layout 2: the ledger's texts stream, read by direct gets.
    Stream(Box<Texts>),
    /// Layout 1: the object store bucket of earlier versions (read only; its reads use the
    /// object store's consumers), if there is one.
    Objects(Option<Box<ObjectStore>>),
}

/// A ledger kept in a JetStream stream.
pub struct JetStreamLog {
    client: async_nats::Client,
    /// The context batch messages are published through: its shorter wait for an answer lets
    /// a publish whose answer was lost (a server restarted, a stream leader killed) be sent
    /// again promptly.
    publish_js: jetstream::Context,
    /// The same with [`PROBE_WAIT`]: for the attempts after an outage began.
    probe_js: jetstream::Context,
    stream: stream::Stream,
    /// The stream's handle on `probe_js`.
    probe: stream::Stream,
    stream_name: String,
    subject: String,
    texts: TextStore,
    /// Shared with the blocking threads that look ids up and index appended batches.
    index: Arc<Index>,
    layout: Layout,
    /// Batch messages a pipelined run keeps in flight.
    in_flight: usize,
    /// How long a request is asked again through an outage ([`JetStreamConfig::ride_out`]).
    ride_out: Duration,
    catch_up: tokio::sync::Mutex<()>,
    unsafe_settings: Vec<String>,
    /// Where batches are in the stream, as far as read.
    positions: Mutex<Positions>,
    /// The head, and the stream sequence of the message it was read from.
    last_head: Mutex<Option<(u64, Head)>>,
    /// The settings it was opened with (for [`JetStreamLog::announcer`]).
    cfg: JetStreamConfig,
}

impl std::fmt::Debug for JetStreamLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamLog")
            .field("subject", &self.subject)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

/// A JetStream request that failed or went unanswered: the server's condition, not the ledger's.
fn api(e: impl std::fmt::Display) -> LogError {
    LogError::Server(format!("JetStream: {e}"))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A read item that is not a record, as an error of a plain read.
fn damaged(item: &ReadItem) -> LogError {
    let detail = match item {
        ReadItem::BadFrame { detail, .. } | ReadItem::Derived { detail, .. } => detail.clone(),
        _ => String::new(),
    };
    LogError::Corrupt(format!(
        "seq {}: {detail} (run `dossier verify`)",
        item.position()
    ))
}

impl JetStreamLog {
    /// Connects, then creates the ledger's stream (layout 2) and content bucket or checks the
    /// existing ones, and opens the local index.
    ///
    /// # Errors
    /// [`JetStreamError`]: unreachable server, bad credentials, an unsafe existing stream, a
    /// layout this version does not read, …
    pub async fn open(cfg: &JetStreamConfig) -> Result<JetStreamLog, JetStreamError> {
        cfg.check_ledger_name().map_err(JetStreamError::Config)?;
        let client = connect(cfg).await?;
        // Every request waits at most ACK_WAIT for its answer and is asked again through an
        // outage (creating a stream, which can take longer on a cluster, waits the request
        // timeout: `create_stream_ready`).
        let mut js = jetstream::new(client.clone());
        js.set_timeout(cfg.request_timeout.min(ACK_WAIT));
        let name = cfg.stream();
        let wanted = stream_config(cfg);
        let mut problems = Vec::new();
        let mut stream = match get_stream_riding_out(&js, &name, cfg.ride_out).await {
            Ok(mut s) => {
                let info = info_riding_out(&mut s, cfg.ride_out).await?;
                if !info.config.subjects.contains(&cfg.subject()) {
                    // Ledger names that differ only in '-' and '_' share a stream name.
                    return Err(JetStreamError::Config(format!(
                        "stream {name} holds subjects {:?}, not the ledger {}'s {}: it is \
                         another ledger's (ledger names that differ only in '-' and '_', or end \
                         in -texts or -checkpoints, share stream names); choose another ledger \
                         name",
                        info.config.subjects,
                        cfg.ledger,
                        cfg.subject()
                    )));
                }
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
                cfg.check_new_ledger_name()
                    .map_err(JetStreamError::Config)?;
                // The auditor's checkpoint stream and the texts stream are created with the
                // ledger, by whoever may create streams, so that the auditor's and the
                // producers' roles need no right to create any; first, so that one that holds
                // another ledger's subjects is refused before the ledger stream exists.
                crate::texts::ensure_texts_stream(&js, cfg).await?;
                crate::announce::ensure_checkpoint_stream(&js, cfg).await?;
                create_stream_ready(&js, wanted, cfg.request_timeout).await?
            }
            Err(e) => return Err(JetStreamError::Api(format!("stream {name}: {e}"))),
        };
        let info = info_riding_out(&mut stream, cfg.ride_out).await?;
        let layout = Layout::of(&info.config.metadata)
            .map_err(|e| JetStreamError::Layout(format!("stream {name}: {e}")))?;
        let publish_js = js.clone();
        let mut probe_js = js.clone();
        probe_js.set_timeout(cfg.request_timeout.min(PROBE_WAIT));
        let texts = match layout {
            Layout::Batches => {
                crate::texts::ensure_texts_stream(&js, cfg).await?;
                // Its requests, too, are asked again promptly when unanswered.
                let texts = get_stream_riding_out(&publish_js, &cfg.texts_stream(), cfg.ride_out)
                    .await
                    .map_err(|e| JetStreamError::Api(format!("texts stream: {e}")))?;
                let probe = get_stream_riding_out(&probe_js, &cfg.texts_stream(), cfg.ride_out)
                    .await
                    .map_err(|e| JetStreamError::Api(format!("texts stream: {e}")))?;
                TextStore::Stream(Box::new(Texts::new(
                    [publish_js.clone(), probe_js.clone()],
                    [texts, probe],
                    &cfg.ledger,
                    cfg.ride_out,
                )))
            }
            Layout::PerRecord => {
                TextStore::Objects(js.get_object_store(cfg.bucket()).await.ok().map(Box::new))
            }
        };
        let index = Arc::new(Index::open(&cfg.index_path)?);
        // The handle whose state requests are asked again promptly when unanswered.
        let stream = get_stream_riding_out(&publish_js, &name, cfg.ride_out)
            .await
            .map_err(|e| JetStreamError::Api(format!("stream {name}: {e}")))?;
        let probe = get_stream_riding_out(&probe_js, &name, cfg.ride_out)
            .await
            .map_err(|e| JetStreamError::Api(format!("stream {name}: {e}")))?;
        let log = JetStreamLog {
            client,
            publish_js,
            probe_js,
            stream,
            probe,
            stream_name: name,
            subject: cfg.subject(),
            texts,
            index,
            layout,
            in_flight: cfg.in_flight,
            ride_out: cfg.ride_out,
            catch_up: tokio::sync::Mutex::new(()),
            unsafe_settings: problems,
            positions: Mutex::new(Positions::default()),
            last_head: Mutex::new(None),
            cfg: cfg.clone(),
        };
        log.check_index_identity().await?;
        Ok(log)
    }

    /// The stream's settings through which records could be lost (empty for a safe stream; only
    /// non-empty when opened with `allow_unsafe_stream`).
    #[must_use]
    pub fn unsafe_settings(&self) -> &[String] {
        &self.unsafe_settings
    }

    /// How the stream lays out the ledger's records.
    #[must_use]
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The stream's name.
    #[must_use]
    pub fn stream_name(&self) -> &str {
        &self.stream_name
    }

    /// An [`Announcer`](crate::Announcer) for this ledger's checkpoints and alarms, on the same
    /// connection (its stream is created if missing).
    ///
    /// # Errors
    /// As [`Announcer::open`](crate::Announcer::open).
    pub async fn announcer(&self) -> Result<crate::Announcer, JetStreamError> {
        crate::Announcer::with_client(self.client.clone(), &self.cfg).await
    }

    /// Copies every report text of `old`'s object store (a per-record stream's texts) into this
    /// ledger's texts stream; returns how many. Listing and reading an object store uses its
    /// consumers: the admin's.
    ///
    /// # Errors
    /// If reading or writing fails, or a text does not hash to its name.
    pub async fn copy_texts_from(&self, old: &JetStreamLog) -> Result<u64, LogError> {
        let (TextStore::Stream(texts), TextStore::Objects(Some(bucket))) =
            (&self.texts, &old.texts)
        else {
            return Ok(0);
        };
        let mut names = Vec::new();
        let mut list = bucket.list().await.map_err(api)?;
        while let Some(info) = list.next().await {
            let info = info.map_err(api)?;
            if !info.deleted {
                names.push(info.name);
            }
        }
        let mut copied = 0;
        for name in names {
            let hash = Hash::from_hex(&name).map_err(|_| {
                LogError::Corrupt(format!("content object {name:?} is not named by a hash"))
            })?;
            let text = old.content(&hash).await?.ok_or_else(|| {
                LogError::Corrupt(format!("content object {name} cannot be read"))
            })?;
            texts.put(&text).await.map_err(|e| match e {
                AppendError::Log(l) => l,
                other => LogError::Server(other.to_string()),
            })?;
            copied += 1;
        }
        Ok(copied)
    }

    /// The stream's handle for an attempt: the probe's once an outage began.
    fn handle(&self, probing: bool) -> &stream::Stream {
        if probing { &self.probe } else { &self.stream }
    }

    /// Appends are refused on a per-record stream: it is read only, until migrated.
    fn writable(&self) -> Result<(), AppendError> {
        match self.layout {
            Layout::Batches => Ok(()),
            Layout::PerRecord => Err(LogError::ReadOnlyLayout {
                path: std::path::PathBuf::from(format!("stream {}", self.stream_name)),
                layout: 1,
            }
            .into()),
        }
    }

    /// The index must have been built from this stream: if record 1 differs, start over.
    async fn check_index_identity(&self) -> Result<(), LogError> {
        let Some(indexed) = self.index.genesis()? else {
            return Ok(());
        };
        let first = self.records(1, 1).await?;
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

    /// The stream's last sequence (0: empty). A request left unanswered within [`ACK_WAIT`] (a
    /// stream leader killed, a server restarting) is asked again, with backoff, for up to
    /// [`JetStreamConfig::ride_out`].
    async fn last_stream(&self) -> Result<u64, LogError> {
        retry::ride_out("stream state", self.ride_out, |probing| async move {
            let mut s = self.handle(probing).clone();
            match s.info().await {
                Ok(info) => Ok(info.state.last_sequence),
                Err(e) => Err(retry::request(&e)),
            }
        })
        .await
    }

    /// The seq of the ledger's last record.
    async fn last_seq(&self) -> Result<u64, LogError> {
        match self.layout {
            Layout::PerRecord => self.last_stream().await,
            Layout::Batches => {
                let last = self.last_stream().await?;
                if last == 0 {
                    return Ok(0);
                }
                if let Some((first, count)) = lock(&self.positions).at(last) {
                    return Ok(first + count - 1);
                }
                Ok(self.head_at(last).await?.seq)
            }
        }
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
                .records(mark.seq + 1, ((last - mark.seq) as usize).min(4096))
                .await?;
            if page.is_empty() {
                break;
            }
            mark = self.index.extend(mark, &page)?;
        }
        Ok(mark)
    }

    /// One message by stream sequence, without a consumer: a direct get (answered by any
    /// replica), or, when that finds nothing or the stream has no direct access, the stream
    /// leader's message get. `None` if it is not stored. Asked again through an outage.
    async fn fetch_one(&self, stream_seq: u64) -> Result<Option<Raw>, LogError> {
        retry::ride_out("message get", self.ride_out, |probing| async move {
            let stream = self.handle(probing);
            let message = match stream.direct_get(stream_seq).await {
                Ok(m) => m,
                Err(_) => match stream.get_raw_message(stream_seq).await {
                    Ok(m) => m,
                    Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => {
                        return Ok(None);
                    }
                    Err(e) => return Err(retry::raw_get(&e)),
                },
            };
            Ok(Some(Raw {
                stream_seq: message.sequence,
                headers: Some(message.headers),
                body: message.payload,
            }))
        })
        .await
    }

    /// The messages from stream sequence `from` on, up to `last` and at most `most` of them,
    /// as many as one batched direct get returns (at least one if any is stored there). A
    /// replica that has not yet stored what the leader has, or a stream without direct access,
    /// is made up for by the leader's message get.
    async fn fetch_many(&self, from: u64, last: u64, most: usize) -> Result<Vec<Raw>, LogError> {
        if from > last {
            return Ok(Vec::new());
        }
        let want = usize::try_from(last - from + 1)
            .unwrap_or(usize::MAX)
            .min(READ_MESSAGES)
            .min(most.max(1));
        let mut out = match self.direct_batch(from, want).await {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "batched direct get failed; reading one message");
                Vec::new()
            }
        };
        if out.first().is_none_or(|m| m.stream_seq != from) {
            // Nothing, or not the message asked for: ask the leader for it.
            if let Some(m) = self.fetch_one(from).await? {
                out.retain(|r| r.stream_seq > m.stream_seq);
                out.insert(0, m);
            }
        }
        out.retain(|m| m.stream_seq <= last);
        Ok(out)
    }

    /// One batched direct get (`$JS.API.DIRECT.GET.<stream>` with `batch` and `max_bytes`):
    /// the server answers with each message and ends with an empty status-204 message.
    async fn direct_batch(&self, from: u64, n: usize) -> Result<Vec<Raw>, LogError> {
        let subject = format!("$JS.API.DIRECT.GET.{}", self.stream_name);
        let inbox = self.client.new_inbox();
        let mut sub = self.client.subscribe(inbox.clone()).await.map_err(api)?;
        let request = serde_json::json!({"seq": from, "batch": n, "max_bytes": READ_BYTES});
        self.client
            .publish_with_reply(subject, inbox, Bytes::from(request.to_string()))
            .await
            .map_err(api)?;
        let mut out = Vec::new();
        loop {
            // An answer that stops (a lost connection, a restarting server) ends the read: what
            // came is used, and the rest is asked for again (`fetch_many` falls back to
            // `fetch_one`, which rides the outage out).
            let message = match tokio::time::timeout(ACK_WAIT, sub.next()).await {
                Ok(Some(m)) => m,
                Ok(None) => return Err(api("the connection closed during a read")),
                Err(_) if !out.is_empty() => break,
                Err(_) => {
                    return Err(LogError::Server(format!(
                        "timed out reading stream message {} on",
                        from + out.len() as u64
                    )));
                }
            };
            if let Some(status) = message.status {
                match status.as_u16() {
                    // End of the batch; nothing stored at or after `from`; a timeout.
                    204 | 404 | 408 => break,
                    code => {
                        return Err(api(format!(
                            "direct get: status {code} {}",
                            message.description.unwrap_or_default()
                        )));
                    }
                }
            }
            let stream_seq = message
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Sequence"))
                .and_then(|v| v.as_str().parse::<u64>().ok())
                .ok_or_else(|| api("a direct get answer without Nats-Sequence"))?;
            out.push(Raw {
                stream_seq,
                headers: message.headers,
                body: message.payload,
            });
        }
        Ok(out)
    }

    /// The head, read from the batch message at stream sequence `stream_seq` (the last).
    async fn head_at(&self, stream_seq: u64) -> Result<Head, LogError> {
        if let Some((s, head)) = lock(&self.last_head).as_ref()
            && *s == stream_seq
        {
            return Ok(head.clone());
        }
        let raw = self.fetch_one(stream_seq).await?.ok_or_else(|| {
            LogError::Corrupt(format!(
                "the stream's last message {stream_seq} cannot be read"
            ))
        })?;
        let carried = Carried::new(raw.stream_seq, raw.headers.as_ref(), raw.body);
        let (items, _) = carried.items(0, usize::MAX, 0);
        let mut last = None;
        for item in &items {
            match item {
                ReadItem::Record(r) => last = Some(r),
                other => return Err(damaged(other)),
            }
        }
        let r = last.ok_or_else(|| {
            LogError::Corrupt(format!(
                "the stream's last message {stream_seq} holds no record"
            ))
        })?;
        let view = RecordView::parse(&r.bytes)
            .map_err(|e| LogError::Corrupt(format!("seq {}: {e}", r.position)))?;
        let head = Head {
            seq: r.position,
            hash: Hash::of_record(&r.bytes),
            recorded: Some(view.recorded.to_owned()),
        };
        if let (Some(first), Some(count)) = (carried.first, carried.count) {
            lock(&self.positions).learn(stream_seq, first, count as u64);
        }
        *lock(&self.last_head) = Some((stream_seq, head.clone()));
        Ok(head)
    }

    /// What the batch message at `stream_seq` declares (first, count), read if not known.
    async fn probe(&self, stream_seq: u64) -> Result<Option<(u64, u64)>, LogError> {
        if let Some(known) = lock(&self.positions).at(stream_seq) {
            return Ok(Some(known));
        }
        let Some(raw) = self.fetch_one(stream_seq).await? else {
            return Ok(None);
        };
        let c = Carried::new(raw.stream_seq, raw.headers.as_ref(), Bytes::new());
        let (Some(first), Some(count)) = (c.first, c.count) else {
            return Ok(None);
        };
        lock(&self.positions).learn(stream_seq, first, count as u64);
        Ok(Some((first, count as u64)))
    }

    /// The stream sequence of the batch message holding record `seq` (or, if it is missing,
    /// of the first one after it), up to `last`: from the positions learned, else by binary
    /// search over the stream sequences, reading the first-seq and count headers of the
    /// messages probed. `None` past the end.
    async fn locate(&self, seq: u64, last: u64) -> Result<Option<u64>, LogError> {
        let place = lock(&self.positions).place(seq);
        let (mut lo, mut hi) = match place {
            Place::At(s) => return Ok(Some(s)),
            Place::Next(s) => return Ok((s <= last).then_some(s)),
            Place::Between(lo, hi) => (lo, hi.unwrap_or(last).min(last)),
        };
        let mut found = None;
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            match self.probe(mid).await? {
                Some((first, count)) if first + count > seq => {
                    found = Some(mid);
                    hi = mid - 1;
                }
                _ => lo = mid + 1,
            }
        }
        Ok(found)
    }

    /// Up to `max` records from position `from` on, and what is wrong with how the stream holds
    /// them ([`ReadItem::BadFrame`]), in order.
    async fn items(&self, from: u64, max: usize) -> Result<Vec<ReadItem>, LogError> {
        let from = from.max(1);
        if max == 0 {
            return Ok(Vec::new());
        }
        match self.layout {
            Layout::PerRecord => {
                let last = self.last_stream().await?;
                let to = last.min(from.saturating_add(max as u64 - 1));
                let mut out = Vec::new();
                let mut next = from;
                while next <= to {
                    let page = self.fetch_many(next, to, READ_MESSAGES).await?;
                    let Some(end) = page.last().map(|m| m.stream_seq) else {
                        break;
                    };
                    next = end + 1;
                    out.extend(page.into_iter().map(|m| {
                        ReadItem::Record(StoredRecord {
                            position: m.stream_seq,
                            stored_hash: None,
                            bytes: m.body.to_vec(),
                        })
                    }));
                }
                Ok(out)
            }
            Layout::Batches => self.batch_items(from, max).await,
        }
    }

    /// [`Self::items`] on a stream of batch messages. Each message's records are at the
    /// positions its first-seq header says; a message that declares a start before the end of
    /// the one read before it (a batch stored again, or renumbered) is reported as a bad frame
    /// where the next batch was expected, and its records are not passed on.
    async fn batch_items(&self, from: u64, max: usize) -> Result<Vec<ReadItem>, LogError> {
        let last = self.last_stream().await?;
        if last == 0 {
            return Ok(Vec::new());
        }
        let next_to_known = matches!(lock(&self.positions).place(from), Place::Next(_));
        let Some(mut at) = self.locate(from, last).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut taken = 0usize;
        // Where the next message should start, once known.
        let mut expected = next_to_known.then_some(from);
        // The bad frame of a message whose rest is lost, waiting for where the next starts.
        let mut resume_pending: Option<usize> = None;
        'messages: while taken < max && at <= last {
            // Every message holds at least one record: no more are needed than records.
            let page = self.fetch_many(at, last, max - taken).await?;
            if page.is_empty() {
                break;
            }
            for raw in page {
                at = raw.stream_seq + 1;
                let c = Carried::new(raw.stream_seq, raw.headers.as_ref(), raw.body);
                if let Some(e) = expected
                    && let Some(first) = c.first
                    && first < e
                {
                    if e >= from {
                        resume_pending = None;
                        out.push(ReadItem::BadFrame {
                            position: e,
                            resume_at: None,
                            detail: format!(
                                "stream message {}: it declares first seq {first}, but the batch before it ends at seq {}: a batch stored again, or renumbered",
                                c.stream_seq,
                                e - 1
                            ),
                        });
                    }
                    continue;
                }
                if let Some(i) = resume_pending.take()
                    && let Some(first) = c.first
                    && let Some(ReadItem::BadFrame { resume_at, .. }) = out.get_mut(i)
                {
                    *resume_at = Some(first);
                }
                if let (Some(first), Some(count)) = (c.first, c.count) {
                    lock(&self.positions).learn(c.stream_seq, first, count as u64);
                }
                let (items, whole) = c.items(from, max - taken, expected.unwrap_or(from));
                for item in items {
                    match &item {
                        ReadItem::Record(_) => taken += 1,
                        ReadItem::BadFrame { .. } => resume_pending = Some(out.len()),
                        _ => {}
                    }
                    out.push(item);
                }
                expected = c.end().or(expected);
                if !whole || taken >= max {
                    break 'messages;
                }
            }
        }
        Ok(out)
    }

    /// Up to `max` records from `from` on, in order; a damaged batch message is an error.
    async fn records(&self, from: u64, max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let mut out = Vec::new();
        for item in self.items(from, max).await? {
            match item {
                ReadItem::Record(r) => out.push(r),
                other => return Err(damaged(&other)),
            }
        }
        Ok(out)
    }

    /// Publishes one batch message, after the message at `expected_stream`. A message whose
    /// answer did not come within [`ACK_WAIT`] (the connection was lost, a server restarted, the
    /// stream's leader changed) or that no stream took yet is sent again, with backoff, for up
    /// to [`JetStreamConfig::ride_out`]: the same message id (the seal's hash) and precondition
    /// make that safe — a copy of a stored batch is answered as a duplicate at its stream
    /// sequence, and nothing is ever stored twice or out of place.
    async fn publish_plain(&self, out: &Outgoing, expected_stream: u64) -> Sent {
        let deadline = Instant::now() + self.ride_out;
        let mut wait = Duration::from_millis(25);
        let mut told = false;
        loop {
            // Once unanswered, the message is sent again with the shorter wait of a probe.
            let js = if told {
                &self.probe_js
            } else {
                &self.publish_js
            };
            let sent = match js
                .publish_with_headers(
                    self.subject.clone(),
                    out.headers(expected_stream),
                    out.body.clone(),
                )
                .await
            {
                Ok(ack) => Sent::of(ack.await, out),
                Err(e) => Sent::Unknown(api(e).into()),
            };
            let again = matches!(sent, Sent::Unknown(_) | Sent::Unheard);
            if !again || Instant::now() >= deadline {
                if told {
                    tracing::info!(
                        first = out.first,
                        "batch message: the server answered again"
                    );
                }
                return sent;
            }
            if !told {
                tracing::info!(
                    first = out.first,
                    "batch message: no answer from the server; sending it again"
                );
                told = true;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(500));
        }
    }

    /// Notes a batch this process stored: where it is, and the new head.
    fn note_stored(&self, stream_seq: u64, out: &Outgoing, records: &[EncodedRecord]) {
        lock(&self.positions).learn(stream_seq, out.first, out.count as u64);
        if let Some(last) = records.last() {
            *lock(&self.last_head) = Some((
                stream_seq,
                Head {
                    seq: last.seq,
                    hash: last.hash,
                    recorded: Some(last.recorded.clone()),
                },
            ));
        }
    }

    /// The stream sequence of the batch message that ends with record `head` (0 for none).
    async fn message_ending_at(&self, head: u64) -> Result<u64, AppendError> {
        if head == 0 {
            return Ok(0);
        }
        let last = self.last_stream().await?;
        let at = self.locate(head, last).await?;
        let known = at.and_then(|s| lock(&self.positions).at(s).map(|fc| (s, fc)));
        match known {
            Some((s, (first, count))) if first + count - 1 == head => Ok(s),
            _ => Err(LogError::Corrupt(format!(
                "no batch message of the stream ends at seq {head} (run `dossier verify`)"
            ))
            .into()),
        }
    }

    /// After an unanswered publish: is the batch the message at `stream_seq`?
    /// Asked of the stream's leader, again through an outage.
    async fn landed(&self, stream_seq: u64, out: &Outgoing) -> Result<bool, LogError> {
        let got = retry::ride_out("message get", self.ride_out, |probing| async move {
            match self.handle(probing).get_raw_message(stream_seq).await {
                Ok(m) => Ok(Some(m)),
                Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => Ok(None),
                Err(e) => Err(retry::raw_get(&e)),
            }
        })
        .await?;
        Ok(got.is_some_and(|m| {
            let c = Carried::new(m.sequence, Some(&m.headers), Bytes::new());
            c.first == Some(out.first) && c.seal == Some(out.seal)
        }))
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
        let TextStore::Stream(texts) = &self.texts else {
            return self.writable();
        };
        for (_, contents) in batches {
            for c in *contents {
                texts.put(c).await?;
            }
        }
        Ok(())
    }

    /// After appending `records` on the watermark `mark`, indexes them without reading them back.
    fn index_own(&self, mark: Watermark, records: &[EncodedRecord]) -> Result<(), LogError> {
        self.index.extend_own(mark, &Index::own_entries(records))?;
        Ok(())
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
    index: Arc<Index>,
    pending: Option<tokio::task::JoinHandle<Result<Watermark, LogError>>>,
    /// The first failure: nothing more is indexed after it.
    failed: Option<LogError>,
}

impl Indexing {
    fn new(index: Arc<Index>) -> Indexing {
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
        let (index, entries) = (Arc::clone(&self.index), Index::own_entries(records));
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

/// `get_stream`, asked again for up to `limit` while unanswered or while the cluster is
/// between leaders.
pub(crate) async fn get_stream_riding_out(
    js: &jetstream::Context,
    name: &str,
    limit: Duration,
) -> Result<stream::Stream, jetstream::context::GetStreamError> {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(25);
    loop {
        match js.get_stream(name).await {
            Err(e) if retry::get_stream(&e) && Instant::now() + pause < deadline => {
                tracing::debug!(error = %e, "stream {name}: no answer; asking again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

/// A stream's info, asked again through an outage for up to `limit`.
pub(crate) async fn info_riding_out(
    s: &mut stream::Stream,
    limit: Duration,
) -> Result<stream::Info, JetStreamError> {
    let s = &*s;
    retry::ride_out("stream info", limit, |_| {
        let mut s = s.clone();
        async move { s.info().await.cloned().map_err(|e| retry::request(&e)) }
    })
    .await
    .map_err(|e| JetStreamError::Api(e.to_string()))
}

/// Waits between reconnection attempts: at once, then 25 ms doubling to 250 ms, so that a
/// server back from a restart is reached within a quarter of a second (the client library's
/// default doubles up to 4 s).
fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exp = u32::try_from(attempts - 2).unwrap_or(u32::MAX).min(4);
    Duration::from_millis(25 * 2_u64.pow(exp)).min(Duration::from_millis(250))
}

/// Connects; a server that refuses or drops the connection (one restarting) is tried again for
/// up to [`JetStreamConfig::connect_ride_out`]. Authentication and TLS failures are final.
pub(crate) async fn connect(cfg: &JetStreamConfig) -> Result<async_nats::Client, JetStreamError> {
    let deadline = Instant::now() + cfg.connect_ride_out;
    let mut pause = Duration::from_millis(50);
    loop {
        match connect_once(cfg).await {
            Err((JetStreamError::Connect { url, reason }, true))
                if Instant::now() + pause < deadline =>
            {
                tracing::debug!(url, reason, "cannot connect yet; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            Err((e, _)) => return Err(e),
            Ok(client) => return Ok(client),
        }
    }
}

/// One connection attempt; on failure, whether it is worth another (the server refused or
/// dropped the connection, or did not answer in time).
async fn connect_once(cfg: &JetStreamConfig) -> Result<async_nats::Client, (JetStreamError, bool)> {
    let mut opts = async_nats::ConnectOptions::new()
        .name("dossier")
        .request_timeout(Some(cfg.request_timeout))
        .reconnect_delay_callback(reconnect_delay)
        .connection_timeout(Duration::from_secs(5));
    opts = match &cfg.credentials {
        Credentials::None => opts,
        Credentials::UserPassword { user, password } => {
            opts.user_and_password(user.clone(), password.clone())
        }
        Credentials::Token(t) => opts.token(t.clone()),
        Credentials::NkeySeed(seed) => opts.nkey(seed.clone()),
        Credentials::CredsFile(path) => opts.credentials_file(path).await.map_err(|e| {
            (
                JetStreamError::Connect {
                    url: cfg.url.clone(),
                    reason: format!("reading credentials {}: {e}", path.display()),
                },
                false,
            )
        })?,
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
    opts.connect(servers).await.map_err(|e| {
        let again = matches!(
            e.kind(),
            async_nats::ConnectErrorKind::Io | async_nats::ConnectErrorKind::TimedOut
        );
        (
            JetStreamError::Connect {
                url: cfg.url.clone(),
                reason: with_tls_hint(e.to_string(), cfg),
            },
            again,
        )
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
    // Creating a replicated stream can take longer than one attempt of another request.
    let mut js = js.clone();
    js.set_timeout(limit);
    let js = &js;
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
        duplicate_window: cfg.duplicate_window,
        max_message_size: MAX_MESSAGE_BYTES,
        metadata: [
            (LAYOUT_KEY.to_owned(), BATCHES_LAYOUT.to_owned()),
            (
                FRAMING_KEY.to_owned(),
                dossier_chain::BATCH_FRAMING.to_owned(),
            ),
        ]
        .into_iter()
        .collect(),
        ..cfg.append_only_stream(
            cfg.stream(),
            "hash-chained records, append only",
            vec![cfg.subject()],
        )
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
        match self.layout {
            Layout::Batches => {
                let last = self.last_stream().await?;
                if last == 0 {
                    return Ok(Head::empty());
                }
                self.head_at(last).await
            }
            Layout::PerRecord => {
                let last = self.last_stream().await?;
                if last == 0 {
                    return Ok(Head::empty());
                }
                let r = self.records(last, 1).await?;
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
        }
    }

    async fn append(
        &self,
        expected: u64,
        records: &[EncodedRecord],
        contents: &[Vec<u8>],
    ) -> Result<AppendReceipt, AppendError> {
        self.writable()?;
        // Refused before anything else (nothing is stored for it): a batch over the budget.
        let out = Outgoing::frame(records)?;
        let mark = self.prepare(expected, &[(records, contents)]).await?;
        let after = self.message_ending_at(expected).await?;
        dossier_log::fault::point("before-commit");
        // On a cluster, a stream created moments ago may not yet be known to the server this
        // connection publishes through; it answers "no responders" and stores nothing. Such a
        // batch is published again, a few times over about 3 s (the precondition would refuse
        // it if anything had been stored).
        let mut wait = Duration::from_millis(50);
        let stored = loop {
            match self.publish_plain(&out, after).await {
                Sent::Stored(s) => break s,
                Sent::Unheard if wait < Duration::from_secs(2) => {
                    tracing::debug!("no stream took the batch yet; publishing it again");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Sent::Unheard => {
                    return Err(api("no stream took the batch (no responders)").into());
                }
                Sent::Conflict => {
                    // A resend of a batch stored by an earlier send (its answer lost) can be
                    // refused by the precondition: the batch is then the message after `after`.
                    if self.landed(after + 1, &out).await? {
                        tracing::info!(
                            first = out.first,
                            "the batch was stored by an earlier send"
                        );
                        break after + 1;
                    }
                    let actual = self.last_seq().await?;
                    return Err(AppendError::Conflict { expected, actual });
                }
                Sent::Refused(e) => return Err(e),
                Sent::Unknown(e) => {
                    // No answer: the batch may or may not have been stored.
                    if self.landed(after + 1, &out).await? {
                        break after + 1;
                    }
                    return Err(e);
                }
            }
        };
        self.note_stored(stored, &out, records);
        self.index_own(mark, records)?;
        dossier_log::fault::point("after-commit");
        Ok(AppendReceipt {
            first: out.first,
            last: out.first + out.count as u64 - 1,
        })
    }

    /// Publishes batch messages in order, each on the message before it
    /// (`Nats-Expected-Last-Sequence`). With [`JetStreamConfig::in_flight`] of 1 (the default)
    /// batch *k+1* is sent once *k* is confirmed and `stored` heard of it: no batch is stored
    /// after one that failed, nor after `stored` answered `Break`. With more in flight, each
    /// message also names the message id of the batch before it
    /// (`Nats-Expected-Last-Msg-Id`), so none is ever stored behind a batch that failed; a
    /// `Break` then stops sending, and the batches already sent are awaited and reported too.
    /// A batch that no stream took ("no responders", nothing stored) and those after it go on
    /// one by one through [`EventLog::append`], which publishes such a batch again for a while.
    /// `stored` hears of a batch when the server confirmed it, which is after every batch
    /// before it.
    async fn append_all(
        &self,
        expected: u64,
        batches: &[(Vec<EncodedRecord>, Vec<Vec<u8>>)],
        stored: &mut dossier_log::OnStored<'_>,
    ) -> (Vec<AppendReceipt>, Option<AppendError>) {
        if let Err(e) = self.writable() {
            return (Vec::new(), Some(e));
        }
        if batches.len() < 2 {
            return dossier_log::append_one_by_one(self, expected, batches, stored).await;
        }
        // Every batch is framed first: one over the budget is refused before anything is
        // stored.
        let mut outs = Vec::with_capacity(batches.len());
        for (records, _) in batches {
            match Outgoing::frame(records) {
                Ok(o) => outs.push(o),
                Err(e) => return (Vec::new(), Some(e)),
            }
        }
        let refs: Vec<(&[EncodedRecord], &[Vec<u8>])> = batches
            .iter()
            .map(|(r, c)| (r.as_slice(), c.as_slice()))
            .collect();
        let mut mark = match self.prepare(expected, &refs).await {
            Ok(m) => m,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let base = match self.message_ending_at(expected).await {
            Ok(s) => s,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let depth = self.in_flight.max(1);
        let mut indexing = Indexing::new(Arc::clone(&self.index));
        let mut receipts = Vec::with_capacity(batches.len());
        let mut pending: std::collections::VecDeque<(usize, Pending)> =
            std::collections::VecDeque::with_capacity(depth);
        let mut failure = None;
        // The first batch no stream took, and the head it was to go on.
        let mut unheard: Option<(usize, u64)> = None;
        // `stored` asked for no further batch.
        let mut stopped = false;
        let mut next = 0;
        loop {
            let room = pending.len() < depth;
            if room && next < batches.len() && !stopped && failure.is_none() && unheard.is_none() {
                let mut headers = outs[next].headers(base + next as u64);
                if depth > 1 && next > 0 {
                    headers.insert(
                        "Nats-Expected-Last-Msg-Id",
                        outs[next - 1].seal.to_hex().as_str(),
                    );
                }
                dossier_log::fault::point("before-commit");
                let sent = if depth == 1 {
                    Pending::Answered(self.publish_plain(&outs[next], base + next as u64).await)
                } else {
                    Pending::Sent(
                        self.publish_js
                            .publish_with_headers(
                                self.subject.clone(),
                                headers,
                                outs[next].body.clone(),
                            )
                            .await
                            .map_err(|e| AppendError::from(api(e))),
                    )
                };
                pending.push_back((next, sent));
                next += 1;
                continue;
            }
            let Some((k, sent)) = pending.pop_front() else {
                break;
            };
            let on = outs[k].first - 1;
            let after = base + k as u64;
            if failure.is_some() || unheard.is_some() {
                // Sent behind a batch that failed: refused by its preconditions; awaited only.
                if let Pending::Sent(Ok(ack)) = sent {
                    let _ = ack.await;
                }
                continue;
            }
            let mut outcome = match sent {
                Pending::Answered(outcome) => outcome,
                Pending::Sent(Ok(ack)) => Sent::of(ack.await, &outs[k]),
                Pending::Sent(Err(e)) => Sent::Unknown(e),
            };
            if matches!(outcome, Sent::Unknown(_)) && depth > 1 {
                // Sent ahead without waiting: unanswered (a lost connection, a restarted
                // server, a new stream leader). Stored, or sent again as a plain publish,
                // which rides the outage out.
                outcome = match self.landed(after + 1, &outs[k]).await {
                    Ok(true) => Sent::Stored(after + 1),
                    Ok(false) => self.publish_plain(&outs[k], after).await,
                    Err(read) => Sent::Unknown(read.into()),
                };
            }
            let stream_seq = match outcome {
                Sent::Stored(s) => Ok(s),
                Sent::Unknown(e) => match self.landed(after + 1, &outs[k]).await {
                    Ok(true) => Ok(after + 1),
                    Ok(false) => Err(e),
                    Err(read) => Err(read.into()),
                },
                Sent::Unheard => {
                    unheard = Some((k, on));
                    continue;
                }
                // Refused by its precondition: stored by an earlier send whose answer was lost,
                // or another producer appended.
                Sent::Conflict => match self.landed(after + 1, &outs[k]).await {
                    Ok(true) => Ok(after + 1),
                    Ok(false) => match self.last_seq().await {
                        Ok(actual) => Err(AppendError::Conflict {
                            expected: on,
                            actual,
                        }),
                        Err(e) => Err(e.into()),
                    },
                    Err(e) => Err(e.into()),
                },
                Sent::Refused(e) => Err(e),
            };
            let stream_seq = match stream_seq {
                Ok(s) if s == after + 1 => s,
                Ok(s) => {
                    failure = Some(
                        LogError::Corrupt(format!(
                            "JetStream stored the batch message at {s} instead of {}",
                            after + 1
                        ))
                        .into(),
                    );
                    continue;
                }
                Err(e) => {
                    failure = Some(e);
                    continue;
                }
            };
            let records = &batches[k].0;
            self.note_stored(stream_seq, &outs[k], records);
            indexing.after(mark, records).await;
            let last = &records[records.len() - 1];
            mark = Watermark {
                seq: last.seq,
                hash: last.hash,
            };
            let receipt = AppendReceipt {
                first: on + 1,
                last: last.seq,
            };
            receipts.push(receipt);
            if stored(receipt).is_break() {
                stopped = true;
            }
            if indexing.failed() && failure.is_none() {
                // Reported below, after the batches stored so far.
                stopped = true;
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
        self.records(from, max).await
    }

    async fn read_checked(&self, from: u64, max: usize) -> Result<Vec<ReadItem>, LogError> {
        self.items(from, max).await
    }

    async fn lookup(&self, ids: &[EventId]) -> Result<Vec<Option<IndexEntry>>, LogError> {
        self.catch_up().await?;
        let found = self.index.lookup(ids)?;
        // The records found, read by runs of consecutive seqs (the events of one bundle are
        // one run, in one batch message).
        let mut wanted: Vec<u64> = found.iter().flatten().copied().collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut digests = std::collections::HashMap::with_capacity(wanted.len());
        let mut i = 0;
        while i < wanted.len() {
            let start = wanted[i];
            let mut end = start;
            while i + 1 < wanted.len() && wanted[i + 1] == end + 1 && end + 1 - start < 4096 {
                i += 1;
                end = wanted[i];
            }
            i += 1;
            let run = self.records(start, (end - start + 1) as usize).await?;
            for r in run {
                let view = RecordView::parse(&r.bytes)
                    .map_err(|e| LogError::Corrupt(format!("seq {}: {e}", r.position)))?;
                digests.insert(
                    r.position,
                    dossier_chain::content_digest(&view.marking, view.body.get().as_bytes()),
                );
            }
        }
        found
            .into_iter()
            .map(|seq| {
                seq.map(|seq| {
                    digests
                        .get(&seq)
                        .map(|&digest| IndexEntry { seq, digest })
                        .ok_or_else(|| {
                            LogError::Corrupt(format!("seq {seq} is indexed but unreadable"))
                        })
                })
                .transpose()
            })
            .collect()
    }

    async fn content(&self, hash: &Hash) -> Result<Option<Vec<u8>>, LogError> {
        let bucket = match &self.texts {
            TextStore::Stream(texts) => return texts.get(hash).await,
            TextStore::Objects(None) => return Ok(None),
            TextStore::Objects(Some(bucket)) => bucket,
        };
        let mut object = match bucket.get(hash.to_hex()).await {
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

    async fn erase_content(&self, hash: &Hash) -> Result<bool, LogError> {
        match &self.texts {
            TextStore::Stream(texts) => texts.erase(hash).await,
            TextStore::Objects(_) => Err(LogError::Incompatible(
                "this ledger has the per-record layout, whose texts are in an object store \
                 that cannot erase them; migrate it to the batch layout first"
                    .to_owned(),
            )),
        }
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
