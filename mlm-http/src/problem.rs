//! RFC 9457 problem documents: the one mapping of [`mlm_core::Error`] (and of the HTTP layer's
//! own failures) to status codes, `type` URIs and `application/problem+json` bodies.
//!
//! Handlers return [`ApiError`]. Its response carries the [`Problem`] as a response extension;
//! the [`render_problems`] middleware, which runs inside the request-id layer, completes it
//! with the request id and path, writes the body and logs server errors with the request id.

use std::fmt;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mlm_core::{Error, ErrorKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where problem `type` URIs start; the rest is the snake_case slug of [`ProblemType`].
pub const PROBLEM_TYPE_BASE: &str = "https://mlm.dev/problems/";

/// The media type of problem documents.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The request id header every response carries.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// An RFC 9457 problem document, as every error response of the API carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(title = "Problem", example = json!({
    "type": "https://mlm.dev/problems/not_found",
    "title": "Not Found",
    "status": 404,
    "detail": "endpoint 'news' does not exist",
    "instance": "/v1/endpoints/news",
    "request_id": "0b7e0c2e-3f5a-4d53-9d4b-6f1f3a2c9e10",
    "resource_kind": "endpoint",
    "resource_name": "news"
}))]
pub struct Problem {
    /// A stable URI naming the kind of problem, `https://mlm.dev/problems/<slug>`
    /// (see the API description for the slugs).
    #[serde(rename = "type")]
    #[schema(value_type = ProblemType)]
    pub problem_type: String,
    /// A short summary of the kind of problem (the HTTP reason phrase).
    pub title: String,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong with this request, for the person who has to act on it. Server errors
    /// (`provider`, `internal`) carry a generic text: details are in the server log under the
    /// request id.
    pub detail: String,
    /// The path of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The id of the request (also in the `x-request-id` header); quote it when reporting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For `not_found` and `already_exists`: what kind of resource (`model`, `model_version`,
    /// `endpoint`, `variant`, `instance`, `runtime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_kind: Option<String>,
    /// For `not_found` and `already_exists`: the resource's name (`model/version` for
    /// versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// For `provider` and `unavailable` problems: whether retrying the same request may
    /// succeed (always `true` for `unavailable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

/// What kind of problem an [`ApiError`] is; decides the status code and the `type` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemType {
    /// A core [`ErrorKind`], mapped one to one.
    Kind(ErrorKind),
    /// `If-Match` did not match the current `ETag` (412).
    EtagMismatch,
    /// The request body is larger than the route accepts (413).
    PayloadTooLarge,
    /// The request body has the wrong `Content-Type` (415).
    UnsupportedMediaType,
    /// The route exists but not with this method (405).
    MethodNotAllowed,
    /// No route matches the path (404).
    NoRoute,
    /// The provider cannot be reached (503, from `/readyz`).
    NotReady,
    /// Authentication is off and the request's `Host` is not a loopback name (421): a DNS
    /// rebinding attempt, or a name this server was not set up to serve.
    HostNotAllowed,
    /// Authentication is off and the request comes from a browser page of a foreign origin
    /// (403).
    OriginNotAllowed,
    /// The provider cannot serve this right now, and a retry shortly may succeed (503 with
    /// `Retry-After`): a retryable [`Error::Provider`], such as an endpoint with no healthy
    /// instance at the moment.
    Unavailable,
    /// A bug or an unexpected failure in the server itself (500).
    Internal,
}

impl ProblemType {
    /// Every problem type, for exhaustive tests and documentation.
    pub fn all() -> Vec<ProblemType> {
        let mut all: Vec<_> = ErrorKind::ALL.into_iter().map(ProblemType::Kind).collect();
        all.extend([
            ProblemType::EtagMismatch,
            ProblemType::PayloadTooLarge,
            ProblemType::UnsupportedMediaType,
            ProblemType::MethodNotAllowed,
            ProblemType::NoRoute,
            ProblemType::NotReady,
            ProblemType::HostNotAllowed,
            ProblemType::OriginNotAllowed,
            ProblemType::Unavailable,
            ProblemType::Internal,
        ]);
        all
    }

    /// The stable snake_case slug at the end of the `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            ProblemType::Kind(kind) => kind.as_str(),
            ProblemType::EtagMismatch => "etag_mismatch",
            ProblemType::PayloadTooLarge => "payload_too_large",
            ProblemType::UnsupportedMediaType => "unsupported_media_type",
            ProblemType::MethodNotAllowed => "method_not_allowed",
            ProblemType::NoRoute => "no_route",
            ProblemType::NotReady => "not_ready",
            ProblemType::HostNotAllowed => "host_not_allowed",
            ProblemType::OriginNotAllowed => "origin_not_allowed",
            ProblemType::Unavailable => "unavailable",
            ProblemType::Internal => "internal",
        }
    }

    /// The problem type with slug `slug`, if there is one.
    pub fn from_slug(slug: &str) -> Option<ProblemType> {
        ProblemType::all().into_iter().find(|t| t.slug() == slug)
    }

    /// The full `type` URI.
    pub fn uri(self) -> String {
        format!("{PROBLEM_TYPE_BASE}{}", self.slug())
    }

    /// The HTTP status code.
    pub fn status(self) -> StatusCode {
        match self {
            ProblemType::Kind(kind) => match kind {
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                ErrorKind::AlreadyExists => StatusCode::CONFLICT,
                ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
                ErrorKind::FailedPrecondition => StatusCode::CONFLICT,
                ErrorKind::Conflict => StatusCode::CONFLICT,
                ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
                ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
                ErrorKind::Throttled => StatusCode::TOO_MANY_REQUESTS,
                ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
                // Asking a backend for a capability it lacks is the client's request to
                // change (see `/v1/capabilities`), not a server fault: a 400, not a 501.
                ErrorKind::Unsupported => StatusCode::BAD_REQUEST,
                ErrorKind::Provider => StatusCode::BAD_GATEWAY,
                // A kind added to the core later: a server error until it is mapped.
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ProblemType::EtagMismatch => StatusCode::PRECONDITION_FAILED,
            ProblemType::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemType::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemType::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemType::NoRoute => StatusCode::NOT_FOUND,
            ProblemType::NotReady | ProblemType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemType::HostNotAllowed => StatusCode::MISDIRECTED_REQUEST,
            ProblemType::OriginNotAllowed => StatusCode::FORBIDDEN,
            ProblemType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem's title: the reason phrase of its status.
    pub fn title(self) -> &'static str {
        self.status().canonical_reason().unwrap_or("Error")
    }

    /// Whether the body's detail is replaced by a generic text (server-side failures whose
    /// messages may carry internals).
    fn hides_detail(self) -> bool {
        matches!(
            self,
            ProblemType::Kind(ErrorKind::Provider)
                | ProblemType::Internal
                | ProblemType::NotReady
                | ProblemType::Unavailable
        ) || (matches!(self, ProblemType::Kind(_))
            && self.status() == StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// The spec's `ProblemType`: every `type` URI the server sends, named for generated clients
/// (`x-enum-varnames`: the slug in capitals).
impl utoipa::PartialSchema for ProblemType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::extensions::ExtensionsBuilder;
        use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
        let all = ProblemType::all();
        let names: Vec<String> = all.iter().map(|t| t.slug().to_uppercase()).collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("uri".into())))
            .description(Some(
                "A stable URI naming the kind of problem, `https://mlm.dev/problems/<slug>` \
                 (the API description says what each slug means).",
            ))
            .enum_values(Some(all.iter().map(|t| t.uri())))
            .examples([ProblemType::Kind(ErrorKind::NotFound).uri()])
            .extensions(Some(
                ExtensionsBuilder::new()
                    .add("x-enum-varnames", names)
                    .build(),
            ))
            .into()
    }
}

impl utoipa::ToSchema for ProblemType {}

impl fmt::Display for ProblemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// An error answer of the API: a problem type, a detail, and what the log should say.
#[derive(Debug)]
pub struct ApiError {
    problem_type: ProblemType,
    detail: String,
    resource: Option<(String, String)>,
    retry_after: Option<Duration>,
    retryable: Option<bool>,
    invalid_token: bool,
    /// The full error, for the log only (never sent for server errors).
    log: Option<String>,
}

impl ApiError {
    /// A problem of type `problem_type` with `detail`.
    pub fn new(problem_type: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            problem_type,
            detail: detail.into(),
            resource: None,
            retry_after: None,
            retryable: None,
            invalid_token: false,
            log: None,
        }
    }

    /// `400 invalid_argument`.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Kind(ErrorKind::InvalidArgument), detail)
    }

    /// `500 internal`, logging `what` but never sending it.
    pub fn internal(what: impl fmt::Display) -> Self {
        let mut e = Self::new(ProblemType::Internal, "");
        e.log = Some(what.to_string());
        e
    }

    /// `401 unauthenticated`; `invalid_token` adds `error="invalid_token"` to the challenge.
    pub fn unauthenticated(detail: impl Into<String>, invalid_token: bool) -> Self {
        let mut e = Self::new(ProblemType::Kind(ErrorKind::Unauthenticated), detail);
        e.invalid_token = invalid_token;
        e
    }

    /// Sets what the log says (server errors never send it).
    pub fn with_log(mut self, log: impl Into<String>) -> Self {
        self.log = Some(log.into());
        self
    }

    /// The problem type.
    pub fn problem_type(&self) -> ProblemType {
        self.problem_type
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.problem_type.status()
    }

    /// The problem document this error is answered with (before the request id and path are
    /// added).
    pub fn to_problem(&self) -> Problem {
        let detail =
            if self.problem_type.hides_detail() {
                match self.problem_type {
                ProblemType::NotReady => {
                    "the model provider cannot be reached; the server log has details under \
                     this request id"
                }
                ProblemType::Kind(ErrorKind::Provider) => {
                    "the model provider failed; the server log has details under this request id"
                }
                ProblemType::Unavailable => {
                    "the model provider is temporarily unavailable; retry shortly (the server \
                     log has details under this request id)"
                }
                _ => "the server failed unexpectedly; the server log has details under this \
                      request id",
            }
            .to_string()
            } else {
                self.detail.clone()
            };
        Problem {
            problem_type: self.problem_type.uri(),
            title: self.problem_type.title().to_string(),
            status: self.status().as_u16(),
            detail,
            instance: None,
            request_id: None,
            resource_kind: self.resource.as_ref().map(|(k, _)| k.clone()),
            resource_name: self.resource.as_ref().map(|(_, n)| n.clone()),
            retryable: self.retryable,
        }
    }

    /// What the log says about this error.
    fn log_message(&self) -> String {
        match &self.log {
            Some(log) => log.clone(),
            None => self.detail.clone(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.problem_type, self.log_message())
    }
}

impl std::error::Error for ApiError {}

/// Writes an error and its chain of sources on one line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn resource_kind_slug(kind: mlm_core::ResourceKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| kind.to_string())
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let kind = error.kind();
        let log = error_chain(&error);
        let mut api = match error {
            Error::NotFound { kind: rk, name } | Error::AlreadyExists { kind: rk, name } => {
                let detail = if kind == ErrorKind::NotFound {
                    format!("{rk} '{name}' not found")
                } else {
                    format!("{rk} '{name}' already exists")
                };
                let mut e = ApiError::new(ProblemType::Kind(kind), detail);
                e.resource = Some((resource_kind_slug(rk), name));
                e
            }
            Error::InvalidArgument(m)
            | Error::FailedPrecondition(m)
            | Error::Conflict(m)
            | Error::PermissionDenied(m)
            | Error::Timeout(m)
            | Error::Unsupported(m) => ApiError::new(ProblemType::Kind(kind), m),
            Error::Unauthenticated(m) => ApiError::unauthenticated(m, false),
            Error::Throttled {
                message,
                retry_after,
            } => {
                let mut e = ApiError::new(ProblemType::Kind(kind), message);
                e.retry_after = Some(retry_after.unwrap_or(Duration::from_secs(1)));
                e
            }
            // Retryable: the backend cannot serve this right now (e.g. no healthy instance);
            // a 503 with `Retry-After` tells clients and proxies to come back, a 502 would not.
            Error::Provider {
                message,
                retryable: true,
                ..
            } => {
                let mut e = ApiError::new(ProblemType::Unavailable, message);
                e.retryable = Some(true);
                e.retry_after = Some(Duration::from_secs(1));
                e
            }
            Error::Provider {
                message, retryable, ..
            } => {
                let mut e = ApiError::new(ProblemType::Kind(kind), message);
                e.retryable = Some(retryable);
                e
            }
            other => ApiError::new(ProblemType::Kind(other.kind()), other.to_string()),
        };
        api.log = Some(log);
        api
    }
}

/// Seconds for a `Retry-After` header: whole seconds, rounded up, at least 1.
fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

/// The pieces [`render_problems`] needs to finish a problem response.
#[derive(Debug, Clone)]
struct PendingProblem {
    problem: Problem,
    log: String,
}

fn problem_body(problem: &Problem) -> Body {
    match serde_json::to_vec(problem) {
        Ok(bytes) => Body::from(bytes),
        Err(_) => Body::from(
            r#"{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"the problem could not be written"}"#,
        ),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.to_problem();
        let mut response = Response::new(problem_body(&problem));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let Some(after) = self.retry_after {
            headers.insert(header::RETRY_AFTER, retry_after_secs(after).into());
        }
        if self.problem_type == ProblemType::Kind(ErrorKind::Unauthenticated) {
            let challenge = if self.invalid_token {
                r#"Bearer realm="mlm", error="invalid_token""#
            } else {
                r#"Bearer realm="mlm""#
            };
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response.extensions_mut().insert(PendingProblem {
            problem,
            log: self.log_message(),
        });
        response
    }
}

/// Middleware that completes problem responses with the request id and path, and logs them
/// (server errors at `error` with the full internal message, client errors at `debug`).
pub async fn render_problems(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let mut response = next.run(request).await;
    let Some(pending) = response.extensions_mut().remove::<PendingProblem>() else {
        return response;
    };
    let mut problem = pending.problem;
    problem.instance = Some(path.clone());
    problem.request_id = request_id.clone();
    let request_id = request_id.unwrap_or_default();
    if response.status().is_server_error() {
        tracing::error!(
            request_id = %request_id,
            %method,
            path = %path,
            status = problem.status,
            problem = %problem.problem_type,
            error = %pending.log,
            "request failed"
        );
    } else {
        tracing::debug!(
            request_id = %request_id,
            %method,
            path = %path,
            status = problem.status,
            problem = %problem.problem_type,
            detail = %pending.log,
            "request rejected"
        );
    }
    let (parts, _) = response.into_parts();
    let mut response = Response::from_parts(parts, problem_body(&problem));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique_and_round_trip() {
        let all = ProblemType::all();
        let mut seen = std::collections::HashSet::new();
        for t in &all {
            assert!(seen.insert(t.slug()), "duplicate slug {t}");
            assert_eq!(ProblemType::from_slug(t.slug()), Some(*t));
            assert!(t.status().is_client_error() || t.status().is_server_error());
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
