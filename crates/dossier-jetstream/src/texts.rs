//! Report texts of a layout-2 ledger: a stream of their own, `DOSSIER_<LEDGER>_TEXTS`, read by
//! direct gets (no consumer), docs/FORMAT.md §7.3.
//!
//! A text named by its BLAKE3 hash `h` (64 lowercase hex) is stored as chunks of at most
//! [`CHUNK_BYTES`], chunk *i* on the subject `dossier.<ledger>.texts.<h>.<i>`. Chunk 0 carries
//! the headers `Dossier-Chunks` (the number of chunks) and `Dossier-Length` (the text's
//! length) and is written last, so a text whose chunk 0 is stored is whole. Each chunk carries
//! `Nats-Msg-Id` = `<h>.<i>`; a put is idempotent (a text already stored is not written again).

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use dossier_chain::Hash;
use dossier_log::{AppendError, LogError};

use crate::config::JetStreamConfig;
use crate::error::JetStreamError;
use crate::retry::{self, Failure};

/// The largest chunk of a text, in bytes (half the default `max_payload`).
pub const CHUNK_BYTES: usize = 512 * 1024;
/// The header of chunk 0 holding the number of chunks.
pub const CHUNKS_HEADER: &str = "Dossier-Chunks";
/// The header of chunk 0 holding the text's length in bytes.
pub const LENGTH_HEADER: &str = "Dossier-Length";

fn api(e: impl std::fmt::Display) -> LogError {
    LogError::Server(format!("JetStream: {e}"))
}

impl JetStreamConfig {
    /// The stream holding the report texts of a layout-2 ledger.
    #[must_use]
    pub fn texts_stream(&self) -> String {
        format!("{}_TEXTS", self.stream())
    }

    /// The subjects of the texts stream (`dossier.<ledger>.texts.>`).
    #[must_use]
    pub fn texts_subjects(&self) -> String {
        format!("dossier.{}.texts.>", self.ledger)
    }
}

pub(crate) fn texts_stream_config(cfg: &JetStreamConfig) -> stream::Config {
    stream::Config {
        duplicate_window: cfg.duplicate_window,
        // A redaction erases a text's messages (docs/FORMAT.md §5.5); purges stay denied.
        deny_delete: false,
        ..cfg.append_only_stream(
            cfg.texts_stream(),
            "report texts, chunked, named by BLAKE3 hash",
            vec![cfg.texts_subjects()],
        )
    }
}

/// Creates the texts stream of a ledger (by whoever creates the ledger: producers need no
/// right to create streams), or checks that an existing one holds only its subjects.
pub(crate) async fn ensure_texts_stream(
    js: &jetstream::Context,
    cfg: &JetStreamConfig,
) -> Result<stream::Stream, JetStreamError> {
    let name = cfg.texts_stream();
    match crate::log::get_stream_riding_out(js, &name, cfg.ride_out).await {
        Ok(mut s) => {
            let info = crate::log::info_riding_out(&mut s, cfg.ride_out).await?;
            if info.config.subjects != [cfg.texts_subjects()] {
                return Err(JetStreamError::Config(format!(
                    "stream {name} holds subjects {:?}, not the texts subject {}",
                    info.config.subjects,
                    cfg.texts_subjects()
                )));
            }
            Ok(s)
        }
        Err(e) if crate::log::is_not_found(&e) && cfg.create => {
            crate::log::create_stream_ready(js, texts_stream_config(cfg), cfg.request_timeout).await
        }
        Err(e) => Err(JetStreamError::Api(format!("stream {name}: {e}"))),
    }
}

/// The texts of one ledger.
#[derive(Clone, Debug)]
pub(crate) struct Texts {
    /// Writes through the first; attempts after an outage began through the second (its
    /// shorter wait).
    js: [jetstream::Context; 2],
    /// The texts stream on each of `js`.
    stream: [stream::Stream; 2],
    prefix: String,
    /// How long a request is asked again through an outage.
    ride_out: Duration,
}

impl Texts {
    /// The texts of `ledger` in `stream`, written through `js` (whose short request timeout
    /// lets an unanswered write be sent again promptly).
    pub(crate) fn new(
        js: [jetstream::Context; 2],
        stream: [stream::Stream; 2],
        ledger: &str,
        ride_out: Duration,
    ) -> Texts {
        Texts {
            js,
            stream,
            prefix: format!("dossier.{ledger}.texts"),
            ride_out,
        }
    }

    /// The last message of `subject` (`None` if there is none), asked again through an outage.
    async fn last_of(
        &self,
        subject: String,
    ) -> Result<Option<async_nats::jetstream::message::StreamMessage>, LogError> {
        retry::ride_out("text read", self.ride_out, |probing| {
            let subject = subject.clone();
            async move {
                let stream = &self.stream[usize::from(probing)];
                match stream.direct_get_last_for_subject(subject).await {
                    Ok(m) => Ok(Some(m)),
                    Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(None),
                    Err(e) => Err(retry::direct_get(&e)),
                }
            }
        })
        .await
    }

    fn subject(&self, hash: &Hash, chunk: usize) -> String {
        format!("{}.{}.{chunk}", self.prefix, hash.to_hex())
    }

    /// Whether the text is stored whole.
    pub(crate) async fn has(&self, hash: &Hash) -> Result<bool, LogError> {
        Ok(self.last_of(self.subject(hash, 0)).await?.is_some())
    }

    /// Stores a text (chunks after the first, then the first), unless it is stored already.
    /// A chunk that no stream takes yet (a stream created moments ago on a cluster, a leader
    /// being elected) or whose answer is lost (a restarting server) is sent again, with
    /// backoff, through the outage: its message id makes a second copy a duplicate.
    pub(crate) async fn put(&self, text: &[u8]) -> Result<(), AppendError> {
        let hash = Hash::of_bytes(text);
        if self.has(&hash).await? {
            return Ok(());
        }
        let chunks: Vec<&[u8]> = if text.is_empty() {
            vec![&[][..]]
        } else {
            text.chunks(CHUNK_BYTES).collect()
        };
        for (i, chunk) in chunks.iter().enumerate().skip(1) {
            self.publish(&hash, i, HeaderMap::new(), chunk).await?;
        }
        let mut first = HeaderMap::new();
        first.insert(CHUNKS_HEADER, chunks.len().to_string().as_str());
        first.insert(LENGTH_HEADER, text.len().to_string().as_str());
        self.publish(&hash, 0, first, chunks[0]).await
    }

    async fn publish(
        &self,
        hash: &Hash,
        chunk: usize,
        mut headers: HeaderMap,
        bytes: &[u8],
    ) -> Result<(), AppendError> {
        headers.insert("Nats-Msg-Id", format!("{}.{chunk}", hash.to_hex()).as_str());
        let body = Bytes::copy_from_slice(bytes);
        retry::ride_out("text write", self.ride_out, |probing| {
            let (headers, body) = (headers.clone(), body.clone());
            async move {
                let sent = self.js[usize::from(probing)]
                    .publish_with_headers(self.subject(hash, chunk), headers, body)
                    .await;
                let result = match sent {
                    Ok(ack) => ack.await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        let failed = api(format!("storing a report text: {e}"));
                        if retry::publish_outage(&e.kind()) {
                            Err(Failure::Outage(failed))
                        } else {
                            Err(Failure::Final(failed))
                        }
                    }
                }
            }
        })
        .await
        .map_err(AppendError::from)
    }

    /// Erases a text for a redaction: every stored copy of each chunk is deleted with
    /// erasure (`$JS.API.STREAM.MSG.DELETE` without `no_erase`, so the server overwrites the
    /// message where its store holds it — a purge would only unlink it), chunk 0 first, so
    /// the text stops being whole at once. Chunks left by an interrupted erase (chunk 0 gone)
    /// are found by their subjects, in order, until one is absent. Returns whether chunk 0 was
    /// stored.
    ///
    /// # Errors
    /// [`LogError::Incompatible`] if the texts stream denies deletes (streams created before
    /// redaction existed: `deny_delete` cannot be turned off); the server's otherwise.
    pub(crate) async fn erase(&self, hash: &Hash) -> Result<bool, LogError> {
        let info = self.stream[0].cached_info();
        if info.config.deny_delete {
            return Err(LogError::Incompatible(format!(
                "the texts stream {} denies message deletes (it was created before dossier \
                 could redact, and JetStream cannot turn deny_delete off): its texts cannot be \
                 erased",
                info.config.name
            )));
        }
        let chunks = match self.last_of(self.subject(hash, 0)).await? {
            Some(first) => first
                .headers
                .get(CHUNKS_HEADER)
                .and_then(|v| v.as_str().parse::<usize>().ok()),
            None => None,
        };
        let found = self.erase_subject(self.subject(hash, 0)).await?;
        for i in 1.. {
            let erased = self.erase_subject(self.subject(hash, i)).await?;
            if !erased && chunks.is_none_or(|n| i + 1 >= n) {
                break;
            }
        }
        Ok(found)
    }

    /// Erases every message of `subject`, last first; returns whether there was one.
    async fn erase_subject(&self, subject: String) -> Result<bool, LogError> {
        let mut found = false;
        while let Some(m) = self.last_of(subject.clone()).await? {
            found = true;
            let seq = m.sequence;
            retry::ride_out("text erase", self.ride_out, |probing| async move {
                match self.stream[usize::from(probing)].delete_message(seq).await {
                    Ok(_) => Ok(()),
                    Err(e) => match e.kind() {
                        // Erased by an attempt whose answer was lost.
                        stream::DeleteMessageErrorKind::JetStream(j)
                            if j.error_code()
                                == async_nats::jetstream::ErrorCode::SEQUENCE_NOT_FOUND =>
                        {
                            Ok(())
                        }
                        stream::DeleteMessageErrorKind::JetStream(j) => Err(Failure::Final(api(
                            format!("erasing message {seq} of a report text: {j}"),
                        ))),
                        _ => Err(Failure::Outage(api(format!(
                            "erasing message {seq} of a report text: {e}"
                        )))),
                    },
                }
            })
            .await?;
        }
        Ok(found)
    }

    /// A text by its hash, checked against it; `None` if it is not stored (whole).
    pub(crate) async fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, LogError> {
        let Some(first) = self.last_of(self.subject(hash, 0)).await? else {
            return Ok(None);
        };
        let number = |name: &str| {
            first
                .headers
                .get(name)
                .and_then(|v| v.as_str().parse::<usize>().ok())
        };
        let (Some(chunks), Some(length)) = (number(CHUNKS_HEADER), number(LENGTH_HEADER)) else {
            return Err(LogError::Corrupt(format!(
                "report text {hash}: its first chunk lacks {CHUNKS_HEADER} or {LENGTH_HEADER}"
            )));
        };
        let mut text = Vec::with_capacity(length.min(64 * 1024 * 1024));
        text.extend_from_slice(&first.payload);
        for i in 1..chunks {
            let Some(m) = self.last_of(self.subject(hash, i)).await? else {
                return Err(LogError::Corrupt(format!(
                    "report text {hash}: chunk {i} of {chunks} is missing"
                )));
            };
            text.extend_from_slice(&m.payload);
        }
        if text.len() != length || Hash::of_bytes(&text) != *hash {
            return Err(LogError::Corrupt(format!(
                "content {hash} does not hash to its name"
            )));
        }
        Ok(Some(text))
    }
}
