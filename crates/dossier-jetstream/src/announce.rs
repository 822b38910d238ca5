//! [`Announcer`]: publishes the auditor's signed checkpoints and alarms next to a ledger.
//!
//! Checkpoints go to `dossier.<ledger>.checkpoints` and alarms to `dossier.<ledger>.alarms`,
//! both kept in a stream of their own, `DOSSIER_<LEDGER>_CHECKPOINTS` (never in the ledger's
//! stream, whose sequence must stay the record sequence). Alarms are stored too, not only
//! sent as core NATS messages: an alarm raised while nobody listens must not be lost, and it is
//! delivered live to every subscriber of the subject all the same. The stream is created with
//! the ledger's stream ([`JetStreamLog::open`](crate::JetStreamLog::open) creating a ledger,
//! that is `dossier init`), with the same guarantees (file storage, no deletes, no purges, no
//! limits, the ledger's replicas), so the auditor needs no right to create streams; an
//! [`Announcer`] creates it if it is missing (a ledger created before) and its user may. An
//! existing stream must hold exactly these two subjects.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};

use crate::config::JetStreamConfig;
use crate::error::JetStreamError;

/// The header carrying a checkpoint's tree size.
pub const CHECKPOINT_SIZE_HEADER: &str = "Dossier-Checkpoint-Size";

/// Publishes checkpoints and alarms of one ledger to JetStream.
#[derive(Clone)]
pub struct Announcer {
    client: async_nats::Client,
    js: jetstream::Context,
    stream: stream::Stream,
    checkpoints: String,
    alarms: String,
}

impl std::fmt::Debug for Announcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Announcer")
            .field("checkpoints", &self.checkpoints)
            .field("alarms", &self.alarms)
            .finish_non_exhaustive()
    }
}

fn api(e: impl std::fmt::Display) -> JetStreamError {
    JetStreamError::Api(e.to_string())
}

impl JetStreamConfig {
    /// The stream holding the auditor's checkpoints and alarms.
    #[must_use]
    pub fn checkpoint_stream(&self) -> String {
        format!("{}_CHECKPOINTS", self.stream())
    }

    /// The subject signed checkpoints are published on.
    #[must_use]
    pub fn checkpoint_subject(&self) -> String {
        format!("dossier.{}.checkpoints", self.ledger)
    }

    /// The subject alarms are published on.
    #[must_use]
    pub fn alarm_subject(&self) -> String {
        format!("dossier.{}.alarms", self.ledger)
    }
}

fn checkpoint_stream_config(cfg: &JetStreamConfig) -> stream::Config {
    cfg.append_only_stream(
        cfg.checkpoint_stream(),
        "the auditor's signed checkpoints and alarms",
        vec![cfg.checkpoint_subject(), cfg.alarm_subject()],
    )
}

/// Opens the checkpoint stream of `cfg`'s ledger, creating it if missing; an existing stream
/// must hold exactly the checkpoint and alarm subjects.
pub(crate) async fn ensure_checkpoint_stream(
    js: &jetstream::Context,
    cfg: &JetStreamConfig,
) -> Result<stream::Stream, JetStreamError> {
    let name = cfg.checkpoint_stream();
    let wanted = checkpoint_stream_config(cfg);
    let stream = match js.get_stream(&name).await {
        Ok(mut s) => {
            let info = s.info().await.map_err(api)?;
            let mut have = info.config.subjects.clone();
            have.sort();
            let mut want = wanted.subjects.clone();
            want.sort();
            if have != want {
                return Err(JetStreamError::Config(format!(
                    "stream {name} holds subjects {have:?}, not the checkpoint and alarm subjects {want:?}"
                )));
            }
            s
        }
        Err(e) if crate::log::is_not_found(&e) => {
            crate::log::create_stream_ready(js, wanted, cfg.request_timeout).await?
        }
        Err(e) => return Err(JetStreamError::Api(format!("stream {name}: {e}"))),
    };
    Ok(stream)
}

impl Announcer {
    /// Connects and opens (creating if missing) the checkpoint stream of `cfg`'s ledger.
    ///
    /// # Errors
    /// An unreachable server, a refused stream creation, or an existing stream with other
    /// subjects.
    pub async fn open(cfg: &JetStreamConfig) -> Result<Announcer, JetStreamError> {
        cfg.check_ledger_name().map_err(JetStreamError::Config)?;
        let client = crate::log::connect(cfg).await?;
        Announcer::with_client(client, cfg).await
    }

    pub(crate) async fn with_client(
        client: async_nats::Client,
        cfg: &JetStreamConfig,
    ) -> Result<Announcer, JetStreamError> {
        let mut js = jetstream::new(client.clone());
        js.set_timeout(cfg.request_timeout);
        let stream = ensure_checkpoint_stream(&js, cfg).await?;
        Ok(Announcer {
            client,
            js,
            stream,
            checkpoints: cfg.checkpoint_subject(),
            alarms: cfg.alarm_subject(),
        })
    }

    /// The subject checkpoints are published on.
    #[must_use]
    pub fn checkpoint_subject(&self) -> &str {
        &self.checkpoints
    }

    /// The subject alarms are published on.
    #[must_use]
    pub fn alarm_subject(&self) -> &str {
        &self.alarms
    }

    /// The underlying connection (to subscribe to the alarm subject, for example).
    #[must_use]
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    async fn publish(
        &self,
        subject: &str,
        headers: HeaderMap,
        payload: String,
    ) -> Result<u64, JetStreamError> {
        let ack = self
            .js
            .publish_with_headers(subject.to_owned(), headers, payload.into())
            .await
            .map_err(|e| JetStreamError::Api(format!("publishing on {subject}: {e}")))?
            .await
            .map_err(|e| JetStreamError::Api(format!("publishing on {subject}: {e}")))?;
        Ok(ack.sequence)
    }

    /// Publishes a signed checkpoint note of tree size `size` and waits for the stream's
    /// acknowledgement; returns its sequence in the checkpoint stream.
    ///
    /// # Errors
    /// If the server does not store it.
    pub async fn checkpoint(&self, note: &str, size: u64) -> Result<u64, JetStreamError> {
        let mut h = HeaderMap::new();
        h.insert(CHECKPOINT_SIZE_HEADER, size.to_string().as_str());
        self.publish(&self.checkpoints, h, note.to_owned()).await
    }

    /// Publishes an alarm (JSON) on the alarm subject, stored in the checkpoint stream and
    /// delivered to its live subscribers; returns its sequence in the checkpoint stream.
    ///
    /// # Errors
    /// If the server does not store it.
    pub async fn alarm(&self, json: &str) -> Result<u64, JetStreamError> {
        self.publish(&self.alarms, HeaderMap::new(), json.to_owned())
            .await
    }

    /// The last checkpoint note published (direct get of the last message on the checkpoint
    /// subject); `None` if there is none or it cannot be read.
    pub async fn last_checkpoint(&self) -> Option<String> {
        match self
            .stream
            .direct_get_last_for_subject(self.checkpoints.as_str())
            .await
        {
            Ok(m) => String::from_utf8(m.payload.to_vec()).ok(),
            Err(e) => {
                if e.kind() != stream::DirectGetErrorKind::NotFound {
                    tracing::warn!("reading the last checkpoint on {}: {e}", self.checkpoints);
                }
                None
            }
        }
    }
}
