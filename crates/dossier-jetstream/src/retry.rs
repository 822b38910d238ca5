//! Riding out a broker outage: a request that fails because the connection was lost, the server
//! is restarting or the stream's leader is being elected is asked again promptly, with backoff,
//! until an overall deadline ([`JetStreamConfig::ride_out`](crate::JetStreamConfig::ride_out)),
//! instead of waiting out one long timeout. Each attempt waits at most [`ATTEMPT_WAIT`] for its
//! answer. A failure that says something final (a message not stored, a refused request, a
//! damaged record) is reported at once.

use std::future::Future;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use dossier_log::LogError;

/// How long the first attempt of a request waits for its answer before it is asked again.
pub(crate) const ATTEMPT_WAIT: Duration = Duration::from_secs(2);
/// How long each later attempt waits (probing during an outage: a server back, or a new stream
/// leader, is found within this of its return).
pub(crate) const PROBE_WAIT: Duration = Duration::from_millis(750);
/// The first pause between attempts; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(25);
/// The longest pause between attempts.
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// Why an attempt failed, as far as asking again goes.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The broker is out of reach or electing a leader: ask again.
    Outage(LogError),
    /// Final: asking again would get the same answer.
    Final(LogError),
}

/// A failed JetStream request, as a [`LogError::Server`] (the server's condition, not the
/// ledger's).
pub(crate) fn server(e: impl std::fmt::Display) -> LogError {
    LogError::Server(format!("JetStream: {e}"))
}

/// Runs `attempt` until it succeeds, fails finally, or `limit` has passed since the first
/// attempt (then the last outage is reported). `attempt` is told whether it is probing (an
/// attempt after an outage, which should wait [`PROBE_WAIT`] for its answer, not
/// [`ATTEMPT_WAIT`]). A line is logged when an outage begins and when it ends.
pub(crate) async fn ride_out<T, F, Fut>(
    what: &str,
    limit: Duration,
    mut attempt: F,
) -> Result<T, LogError>
where
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let deadline = Instant::now() + limit;
    let mut pause = FIRST_PAUSE;
    let mut since: Option<Instant> = None;
    loop {
        match attempt(since.is_some()).await {
            Ok(v) => {
                if let Some(since) = since {
                    tracing::info!(
                        what,
                        after_ms = since.elapsed().as_millis() as u64,
                        "JetStream answered again"
                    );
                }
                return Ok(v);
            }
            Err(Failure::Final(e)) => return Err(e),
            Err(Failure::Outage(e)) => {
                if Instant::now() + pause >= deadline {
                    return Err(e);
                }
                if since.is_none() {
                    tracing::info!(what, error = %e, "JetStream unavailable; asking again");
                    since = Some(Instant::now());
                } else {
                    tracing::debug!(what, error = %e, "JetStream still unavailable");
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

/// Whether a JetStream API error code says the cluster is between leaders or not yet ready.
fn passing(code: jetstream::ErrorCode) -> bool {
    code == jetstream::ErrorCode::CLUSTER_NOT_AVAILABLE
        || code == jetstream::ErrorCode::CLUSTER_NOT_LEADER
        || code == jetstream::ErrorCode::STREAM_NOT_FOUND
}

/// A failed JetStream API request (stream info and the like): an outage unless the request
/// itself was malformed.
pub(crate) fn request(e: &jetstream::context::RequestError) -> Failure {
    match e.kind() {
        jetstream::context::RequestErrorKind::InvalidSubject => Failure::Final(server(e)),
        _ => Failure::Outage(server(e)),
    }
}

/// A failed direct get (not "not found", which callers handle): timeouts, no responders and
/// lost connections are outages; a malformed request or another status is final.
pub(crate) fn direct_get(e: &stream::DirectGetError) -> Failure {
    match e.kind() {
        stream::DirectGetErrorKind::InvalidSubject => Failure::Final(server(e)),
        stream::DirectGetErrorKind::ErrorResponse(status, _)
            if status.as_u16() != 503 && status.as_u16() != 408 =>
        {
            Failure::Final(server(e))
        }
        _ => Failure::Outage(server(e)),
    }
}

/// A failed message get from the stream's leader (not "no message found", which callers
/// handle).
pub(crate) fn raw_get(e: &stream::RawMessageError) -> Failure {
    match e.kind() {
        stream::RawMessageErrorKind::InvalidSubject => Failure::Final(server(e)),
        stream::RawMessageErrorKind::JetStream(j) if !passing(j.error_code()) => {
            Failure::Final(server(e))
        }
        _ => Failure::Outage(server(e)),
    }
}

/// Whether a publish failed through an outage (no answer, a lost connection, no stream
/// listening on the subject yet), not through a refusal.
pub(crate) fn publish_outage(kind: &PublishErrorKind) -> bool {
    matches!(
        kind,
        PublishErrorKind::TimedOut
            | PublishErrorKind::BrokenPipe
            | PublishErrorKind::StreamNotFound
    )
}

/// A failed stream lookup while opening a ledger: an outage when the request went unanswered
/// or the cluster is between leaders.
pub(crate) fn get_stream(e: &jetstream::context::GetStreamError) -> bool {
    match e.kind() {
        jetstream::context::GetStreamErrorKind::Request => true,
        jetstream::context::GetStreamErrorKind::JetStream(j) => {
            j.error_code() == jetstream::ErrorCode::CLUSTER_NOT_AVAILABLE
                || j.error_code() == jetstream::ErrorCode::CLUSTER_NOT_LEADER
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn outages_are_asked_again_until_an_answer() {
        let tries = AtomicUsize::new(0);
        let got = ride_out("test", Duration::from_secs(5), |_| async {
            if tries.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(Failure::Outage(server("timed out")))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(got.expect("answered"), 7);
        assert_eq!(tries.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_final_failure_is_reported_at_once() {
        let tries = AtomicUsize::new(0);
        let got: Result<(), _> = ride_out("test", Duration::from_secs(5), |_| async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err(Failure::Final(server("refused")))
        })
        .await;
        assert!(matches!(got, Err(LogError::Server(m)) if m.contains("refused")));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_outage_past_the_deadline_is_reported() {
        let started = Instant::now();
        let got: Result<(), _> = ride_out("test", Duration::from_millis(300), |_| async {
            Err(Failure::Outage(server("no responders")))
        })
        .await;
        assert!(matches!(got, Err(LogError::Server(m)) if m.contains("no responders")));
        let took = started.elapsed();
        assert!(took < Duration::from_millis(900), "{took:?}");
    }
}
