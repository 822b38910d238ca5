//! The witness's HTTP face (axum): `POST /add-checkpoint` as C2SP `tlog-witness` specifies.
//! 200 with the cosignature line; 400 malformed; 403 not signed by the log's key; 404 unknown
//! log; 409 with `text/x.tlog.size` when the old size is not the witness's, 409 `text/plain`
//! for a fork; 422 for a consistency proof that does not verify; 500 if the store fails.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::witness::{Refusal, Witness, WitnessError};

/// The largest request body accepted: a 1 MiB note and 63 proof lines.
pub const MAX_BODY: usize = (1 << 20) + 64 * 46;

/// The media type of the 409 answer's size.
pub const SIZE_MEDIA_TYPE: &str = "text/x.tlog.size";

/// The witness's router.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(witness)
}

/// Serves the witness on a bound listener until `shutdown` resolves.
///
/// # Errors
/// I/O errors of the server.
pub async fn serve(
    listener: tokio::net::TcpListener,
    witness: Arc<Witness>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(witness))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A witness served on a loopback port of its own, for embedding and tests.
#[derive(Debug)]
pub struct Spawned {
    /// The `add-checkpoint` URL.
    pub url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Spawned {
    /// Serves `witness` on `127.0.0.1:0` in a task of the current runtime.
    ///
    /// # Errors
    /// If the port cannot be bound.
    pub async fn start(witness: Arc<Witness>) -> std::io::Result<Spawned> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/add-checkpoint", listener.local_addr()?);
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, witness, async {
            let _ = rx.await;
        }));
        Ok(Spawned { url, stop, task })
    }

    /// Stops serving and waits for the server to finish.
    ///
    /// # Errors
    /// The server's I/O error.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        self.task.await.map_err(std::io::Error::other)?
    }
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    let result = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body)).await;
    let text = |status: StatusCode, msg: String| {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            msg + "\n",
        )
            .into_response()
    };
    match result {
        Ok(Ok(sig)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            sig.to_line(),
        )
            .into_response(),
        Ok(Err(WitnessError::Refused(r))) => match &r {
            Refusal::OldSize { current, .. } => (
                StatusCode::CONFLICT,
                [(header::CONTENT_TYPE, SIZE_MEDIA_TYPE)],
                format!("{current}\n"),
            )
                .into_response(),
            Refusal::Malformed(_) => text(StatusCode::BAD_REQUEST, r.to_string()),
            Refusal::UnknownLog(_) => text(StatusCode::NOT_FOUND, r.to_string()),
            Refusal::Unsigned(_) => text(StatusCode::FORBIDDEN, r.to_string()),
            Refusal::Fork { .. } => text(StatusCode::CONFLICT, r.to_string()),
            Refusal::BadProof { .. } => text(StatusCode::UNPROCESSABLE_ENTITY, r.to_string()),
        },
        Ok(Err(e @ WitnessError::Store(_))) => {
            text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
