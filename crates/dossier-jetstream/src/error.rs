//! Errors opening a JetStream ledger.

/// Opening a ledger on JetStream failed.
#[derive(Debug, thiserror::Error)]
pub enum JetStreamError {
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The settings are invalid.
    #[error("invalid JetStream settings: {0}")]
    Config(String),
    /// The existing stream could lose records; dossier refuses to use it.
    #[error(
        "stream {stream} could lose records ({problems}); fix its configuration, or pass the dangerous override \
         --allow-unsafe-stream if you really must"
    )]
    UnsafeStream {
        /// Stream name.
        stream: String,
        /// What is wrong.
        problems: String,
    },
    /// The stream does not exist and was not to be created.
    #[error("no ledger stream {stream} on the server")]
    NoLedger {
        /// Stream name.
        stream: String,
    },
    /// The stream declares a layout or framing this version does not read.
    #[error("{0}")]
    Layout(String),
    /// A JetStream API call failed.
    #[error("JetStream: {0}")]
    Api(String),
    /// The local index failed.
    #[error(transparent)]
    Index(#[from] dossier_log::LogError),
}
