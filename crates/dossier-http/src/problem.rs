//! Errors as RFC 9457 problem details (`application/problem+json`), one stable `type` URI per
//! kind of failure (listed in `docs/HTTP.md`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The kinds of failure the service answers with; each has one status and one `type` URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// A query or path parameter is malformed or unknown (400).
    BadParameter,
    /// The request body is not a well-formed document of the expected shape: bad JSON,
    /// invalid UTF-8, unknown or missing fields, or a bundle that does not validate (400).
    BadBody,
    /// Missing, malformed, unknown, expired or revoked credentials; one body for all (401).
    Unauthenticated,
    /// The principal's role may not do this (403).
    Forbidden,
    /// A posted bundle defines an event already recorded with different content; nothing was
    /// appended (409).
    Conflict,
    /// No such route, ledger, question, record, text or checkpoint — or nothing by that name
    /// visible at the principal's clearance: the two are indistinguishable (404).
    NotFound,
    /// The route exists, but not with this method (405).
    MethodNotAllowed,
    /// The text asked for was redacted (a `report.redacted` record); the detail says who,
    /// when and why at clearance `TLP:RED`, only that it was redacted below (410).
    Redacted,
    /// The request body is larger than the service accepts (413).
    TooLarge,
    /// The request body is not `application/json` (415).
    UnsupportedMediaType,
    /// The ledger failed a check (changed under the views, an auditor alarm): nothing is
    /// answered from the views (503).
    Distrusted,
    /// The service cannot do this now: the views are not caught up, the ledger's server cannot
    /// be reached, or there is no producer key to publish with (503).
    Unavailable,
    /// A failure inside the service: storage, I/O (500).
    Internal,
}

impl ProblemKind {
    /// Every kind, for documentation and tests.
    pub const ALL: [ProblemKind; 13] = [
        ProblemKind::BadParameter,
        ProblemKind::BadBody,
        ProblemKind::Unauthenticated,
        ProblemKind::Forbidden,
        ProblemKind::Conflict,
        ProblemKind::NotFound,
        ProblemKind::MethodNotAllowed,
        ProblemKind::Redacted,
        ProblemKind::TooLarge,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::Distrusted,
        ProblemKind::Unavailable,
        ProblemKind::Internal,
    ];

    /// The short, stable name of the kind (the last part of its `type` URI).
    #[must_use]
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::BadParameter => "bad-parameter",
            ProblemKind::BadBody => "bad-body",
            ProblemKind::Unauthenticated => "unauthenticated",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::Conflict => "conflict",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::Redacted => "redacted",
            ProblemKind::TooLarge => "too-large",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::Distrusted => "distrusted",
            ProblemKind::Unavailable => "unavailable",
            ProblemKind::Internal => "internal",
        }
    }

    /// The stable `type` URI: `urn:dossier:problem:<slug>`.
    #[must_use]
    pub fn type_uri(self) -> String {
        format!("urn:dossier:problem:{}", self.slug())
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::BadParameter | ProblemKind::BadBody => StatusCode::BAD_REQUEST,
            ProblemKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ProblemKind::Forbidden => StatusCode::FORBIDDEN,
            ProblemKind::Conflict => StatusCode::CONFLICT,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::Redacted => StatusCode::GONE,
            ProblemKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::Distrusted | ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The human title, the same for every problem of the kind.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::BadParameter => "Bad parameter",
            ProblemKind::BadBody => "Bad request body",
            ProblemKind::Unauthenticated => "Not authenticated",
            ProblemKind::Forbidden => "Not allowed for this role",
            ProblemKind::Conflict => "Conflicts with the ledger",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::Redacted => "Redacted",
            ProblemKind::TooLarge => "Request body too large",
            ProblemKind::UnsupportedMediaType => "Unsupported media type",
            ProblemKind::Distrusted => "The ledger failed a check",
            ProblemKind::Unavailable => "Unavailable",
            ProblemKind::Internal => "Internal error",
        }
    }
}

/// An RFC 9457 problem details document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Problem {
    /// The kind of problem: `urn:dossier:problem:<kind>` (see `docs/HTTP.md`).
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the kind, the same for every occurrence.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// The query or path parameter at fault, for `bad-parameter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// The JSON pointer into the request body at fault, for `bad-body` where one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
}

/// A failed request: the problem to answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The kind.
    pub kind: ProblemKind,
    /// The problem document.
    pub problem: Box<Problem>,
}

impl ApiError {
    /// A problem of `kind` with `detail`.
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            problem: Box::new(Problem {
                type_uri: kind.type_uri(),
                title: kind.title().to_owned(),
                status: kind.status().as_u16(),
                detail: detail.into(),
                parameter: None,
                pointer: None,
            }),
        }
    }

    /// A bad query or path parameter: names it and says why.
    pub fn bad_parameter(name: &str, why: impl std::fmt::Display) -> ApiError {
        let mut e = ApiError::new(ProblemKind::BadParameter, format!("{name}: {why}"));
        e.problem.parameter = Some(name.to_owned());
        e
    }

    /// The one answer to any failed authentication, whatever the reason.
    #[must_use]
    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            ProblemKind::Unauthenticated,
            "a valid bearer token or client certificate is required",
        )
    }

    /// Nothing of that name visible (see [`ProblemKind::NotFound`]).
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(ProblemKind::NotFound, what)
    }

    /// An internal failure; the detail is logged, the answer says only that it happened.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "internal error");
        ApiError::new(
            ProblemKind::Internal,
            "the service failed to answer; see its log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem).unwrap_or_default();
        let mut r = (self.kind.status(), body).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.kind == ProblemKind::Unauthenticated {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}
