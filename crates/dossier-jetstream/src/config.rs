//! Connection and stream settings.

use std::path::PathBuf;
use std::time::Duration;

/// How to authenticate to the NATS server.
#[derive(Clone, Debug, Default)]
pub enum Credentials {
    /// No credentials (or credentials embedded in the URL as `nats://user:pass@host`).
    #[default]
    None,
    /// User and password.
    UserPassword {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// A token.
    Token(String),
    /// An nkey seed (the private key, starting with `SU`).
    NkeySeed(String),
    /// A `.creds` file (JWT and nkey seed).
    CredsFile(PathBuf),
}

/// Everything needed to open a ledger on JetStream.
#[derive(Clone, Debug)]
pub struct JetStreamConfig {
    /// Server URL(s), comma-separated (`nats://127.0.0.1:4222`).
    pub url: String,
    /// The ledger's name: `[a-z0-9_-]`, 1–64 characters. Stream `DOSSIER_<NAME>`.
    pub ledger: String,
    /// Stream replicas when the stream is created (1 for development, 3 for production).
    pub replicas: usize,
    /// Credentials.
    pub credentials: Credentials,
    /// A CA certificate to trust (PEM), which also turns TLS on.
    pub tls_ca: Option<PathBuf>,
    /// A client certificate and key (PEM) for mutual TLS.
    pub tls_client: Option<(PathBuf, PathBuf)>,
    /// Where the local event-id index lives (a SQLite file; derived data, rebuilt if lost).
    pub index_path: PathBuf,
    /// Use an existing stream even if its configuration could drop records. Dangerous: records
    /// could be deleted behind dossier's back (verification would report them missing).
    pub allow_unsafe_stream: bool,
    /// Create the stream and content bucket if they do not exist (otherwise opening a missing
    /// ledger fails with [`JetStreamError::NoLedger`](crate::JetStreamError::NoLedger)). A
    /// ledger stream created this way gets its auditor's checkpoint stream at the same time.
    pub create: bool,
    /// The stream's duplicate window.
    pub duplicate_window: Duration,
    /// How long to wait for the server's answers.
    pub request_timeout: Duration,
    /// Batch messages a pipelined run (`EventLog::append_all`) keeps in flight. 1 (the
    /// default): each batch is sent once the one before is confirmed, so a run stops exactly
    /// where its caller says. More: sent ahead, each naming the batch before it
    /// (`Nats-Expected-Last-Msg-Id`); a stop then lets the batches already sent finish.
    pub in_flight: usize,
    /// How long a request is asked again through a broker outage (a lost connection, a
    /// restarting server, a stream leader being elected) before its failure is reported. Each
    /// attempt waits at most 2 s for its answer, then is sent again with backoff.
    pub ride_out: Duration,
    /// How long opening a ledger keeps trying to connect to a server that refuses or drops the
    /// connection (one restarting); an authentication or TLS failure is reported at once.
    pub connect_ride_out: Duration,
}

impl JetStreamConfig {
    /// Settings with defaults for everything but the URL, the ledger name and the index path.
    #[must_use]
    pub fn new(
        url: impl Into<String>,
        ledger: impl Into<String>,
        index_path: PathBuf,
    ) -> JetStreamConfig {
        JetStreamConfig {
            url: url.into(),
            ledger: ledger.into(),
            replicas: 1,
            credentials: Credentials::None,
            tls_ca: None,
            tls_client: None,
            index_path,
            allow_unsafe_stream: false,
            create: true,
            duplicate_window: Duration::from_secs(120),
            request_timeout: Duration::from_secs(10),
            in_flight: 1,
            ride_out: Duration::from_secs(30),
            connect_ride_out: Duration::from_secs(5),
        }
    }

    /// The stream name.
    #[must_use]
    pub fn stream(&self) -> String {
        format!(
            "DOSSIER_{}",
            self.ledger.to_ascii_uppercase().replace('-', "_")
        )
    }

    /// The subject records are published on.
    #[must_use]
    pub fn subject(&self) -> String {
        format!("dossier.{}.records", self.ledger)
    }

    /// The object store bucket for report texts.
    #[must_use]
    pub fn bucket(&self) -> String {
        format!("dossier-{}-content", self.ledger)
    }

    /// The rule for a ledger created now, beyond [`check_ledger_name`](Self::check_ledger_name):
    /// a name ending in `-texts`, `_texts`, `-checkpoints` or `_checkpoints` would name its
    /// stream as another ledger's texts or checkpoint stream (`DOSSIER_A_TEXTS` is ledger
    /// `a`'s texts stream and ledger `a-texts`'s stream), so it is refused.
    pub(crate) fn check_new_ledger_name(&self) -> Result<(), String> {
        self.check_ledger_name()?;
        for reserved in ["texts", "checkpoints"] {
            for sep in ['-', '_'] {
                if self.ledger.ends_with(&format!("{sep}{reserved}")) {
                    return Err(format!(
                        "ledger name {:?}: a name ending in \"-{reserved}\" or \"_{reserved}\" would share \
                         its stream's name with another ledger's {reserved} stream; choose another",
                        self.ledger
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn check_ledger_name(&self) -> Result<(), String> {
        let ok = !self.ledger.is_empty()
            && self.ledger.len() <= 64
            && self
                .ledger
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(())
        } else {
            Err(format!(
                "ledger name {:?}: use 1-64 characters of a-z, 0-9, '_' and '-'",
                self.ledger
            ))
        }
    }
}

impl JetStreamConfig {
    /// A file-backed stream of this ledger from which nothing can be removed (no delete, no
    /// purge, no rollup, no limits), readable by direct get: every stream dossier creates.
    pub(crate) fn append_only_stream(
        &self,
        name: String,
        description: &str,
        subjects: Vec<String>,
    ) -> async_nats::jetstream::stream::Config {
        use async_nats::jetstream::stream;
        stream::Config {
            name,
            description: Some(format!("dossier ledger {}: {description}", self.ledger)),
            subjects,
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::New,
            max_messages: -1,
            max_bytes: -1,
            max_messages_per_subject: -1,
            max_age: Duration::ZERO,
            num_replicas: self.replicas,
            deny_delete: true,
            deny_purge: true,
            allow_rollup: false,
            allow_direct: true,
            ..Default::default()
        }
    }
}
