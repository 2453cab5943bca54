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

pub use mlm_client::protocol::{
    PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, Problem, ProblemType, REQUEST_ID_HEADER,
};

/// Whether the body's detail is replaced by a generic text (server-side failures whose
/// messages may carry internals).
fn hides_detail(problem_type: ProblemType) -> bool {
    matches!(
        problem_type,
        ProblemType::Kind(ErrorKind::Provider)
            | ProblemType::Internal
            | ProblemType::NotReady
            | ProblemType::Unavailable
    ) || (matches!(problem_type, ProblemType::Kind(_))
        && problem_type.status() == StatusCode::INTERNAL_SERVER_ERROR)
}

/// An error answer of the API: a problem type, a detail, and what the log should say.
#[derive(Debug)]
pub struct ApiError {
    problem_type: ProblemType,
    detail: String,
    /// Boxed, like the request id, to keep `Result<_, ApiError>` small.
    resource: Option<Box<(String, String)>>,
    retry_after: Option<Duration>,
    retryable: Option<bool>,
    invalid_token: bool,
    /// The provider's id of the failed call (sent as `aws_request_id`, and logged).
    aws_request_id: Option<Box<str>>,
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
            aws_request_id: None,
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
            if hides_detail(self.problem_type) {
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
            aws_request_id: self.aws_request_id.as_deref().map(str::to_string),
            resource_kind: self.resource.as_ref().map(|r| r.0.clone()),
            resource_name: self.resource.as_ref().map(|r| r.1.clone()),
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

fn resource_kind_slug(kind: mlm_core::ResourceKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| kind.to_string())
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let kind = error.kind();
        // The whole chain (message and every source) goes to the log, never to the body of a
        // server error.
        let log = mlm_core::error_chain(&error);
        let aws_request_id = error.request_id().map(Box::from);
        let mut api = match error {
            Error::NotFound { kind: rk, name, .. }
            | Error::AlreadyExists { kind: rk, name, .. } => {
                let detail = if kind == ErrorKind::NotFound {
                    format!("{rk} '{name}' not found")
                } else {
                    format!("{rk} '{name}' already exists")
                };
                let mut e = Self::new(ProblemType::Kind(kind), detail);
                e.resource = Some(Box::new((resource_kind_slug(rk), name)));
                e
            }
            Error::InvalidArgument(m)
            | Error::FailedPrecondition(m)
            | Error::Conflict(m)
            | Error::PermissionDenied(m)
            | Error::Timeout(m)
            | Error::Unsupported(m)
            | Error::RolledBack(m)
            | Error::DeploymentFailed(m) => Self::new(ProblemType::Kind(kind), m.as_str()),
            Error::Unauthenticated(m) => Self::unauthenticated(m.as_str(), false),
            Error::Throttled {
                message,
                retry_after,
                ..
            } => {
                let mut e = Self::new(ProblemType::Kind(kind), message);
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
                let mut e = Self::new(ProblemType::Unavailable, message);
                e.retryable = Some(true);
                e.retry_after = Some(Duration::from_secs(1));
                e
            }
            Error::Provider {
                message, retryable, ..
            } => {
                let mut e = Self::new(ProblemType::Kind(kind), message);
                e.retryable = Some(retryable);
                e
            }
            other => Self::new(ProblemType::Kind(other.kind()), other.to_string()),
        };
        api.log = Some(log);
        api.aws_request_id = aws_request_id;
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
            aws_request_id = problem.aws_request_id.as_deref().unwrap_or_default(),
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
            aws_request_id = problem.aws_request_id.as_deref().unwrap_or_default(),
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
    fn provider_errors_log_the_chain_and_send_only_the_request_id() {
        let error = Error::provider("SECRET-MESSAGE", std::io::Error::other("SECRET-SOURCE"))
            .with_request_id("aws-req-1");
        let api = ApiError::from(error);
        let problem = api.to_problem();
        assert_eq!(problem.aws_request_id.as_deref(), Some("aws-req-1"));
        let body = serde_json::to_string(&problem).unwrap();
        assert!(!body.contains("SECRET"), "{body}");
        assert!(body.contains(r#""aws_request_id":"aws-req-1""#), "{body}");
        let log = api.log_message();
        assert!(log.contains("SECRET-MESSAGE"), "{log}");
        assert!(
            log.contains("SECRET-SOURCE"),
            "the log has the whole chain: {log}"
        );
    }

    #[test]
    fn every_kind_logs_its_source() {
        let error = Error::not_found(mlm_core::ResourceKind::Endpoint, "e")
            .with_source(std::io::Error::other("ValidationException: Could not find"))
            .with_request_id("aws-req-2");
        let api = ApiError::from(error);
        assert!(api.log_message().contains("Could not find"));
        let problem = api.to_problem();
        assert_eq!(problem.detail, "endpoint 'e' not found");
        assert_eq!(problem.aws_request_id.as_deref(), Some("aws-req-2"));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
