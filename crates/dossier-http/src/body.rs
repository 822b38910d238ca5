//! Request bodies: JSON only, read within the body limit, decoded into a route's typed input
//! with the JSON Pointer of what is wrong.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::problem::{ApiError, ProblemKind};

/// The problem for a body that could not be read.
fn rejection(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ProblemKind::TooLarge,
            "the request body is larger than this service accepts",
        )
    } else {
        ApiError::new(ProblemKind::BadBody, format!("reading the body: {e}"))
    }
}

/// The bytes of a body sent as `application/json` (a `what`, e.g. "bundle"); `415` otherwise.
pub(crate) fn json_bytes(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    what: &str,
) -> Result<Bytes, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::new(
            ProblemKind::UnsupportedMediaType,
            format!("a {what} is sent as application/json"),
        ));
    }
    body.map_err(rejection)
}

/// A JSON body decoded into `T`; a malformed one is a `bad-body` problem whose `pointer` names
/// the offending member.
pub(crate) fn json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    what: &str,
) -> Result<T, ApiError> {
    let body = json_bytes(headers, body, what)?;
    let mut de = serde_json::Deserializer::from_slice(&body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let pointer = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Map { key } => {
                    Some(key.replace('~', "~0").replace('/', "~1"))
                }
                _ => None,
            })
            .fold(String::new(), |acc, s| format!("{acc}/{s}"));
        let mut err = ApiError::new(
            ProblemKind::BadBody,
            format!("the {what} is malformed: {}", e.inner()),
        );
        err.problem.pointer = Some(pointer);
        err
    })
}
