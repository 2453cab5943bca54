//! The REST API's protocol as both ends read it: problem documents and their `type`s, and
//! the headers the API defines. The server (`mlm-http`) writes what the client reads here, so
//! the vocabulary exists once.

use std::fmt;

use http::StatusCode;
use mlm_core::ErrorKind;
use serde::{Deserialize, Serialize};

/// Where problem `type` URIs start; the rest is the snake_case slug of [`ProblemType`].
pub const PROBLEM_TYPE_BASE: &str = "https://mlm.dev/problems/";

/// The media type of problem documents.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The request id header every response carries.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// An RFC 9457 problem document, as every error response of the API carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(title = "Problem", example = json!({
    "type": "https://mlm.dev/problems/not_found",
    "title": "Not Found",
    "status": 404,
    "detail": "endpoint 'news' does not exist",
    "instance": "/v1/endpoints/news",
    "request_id": "0b7e0c2e-3f5a-4d53-9d4b-6f1f3a2c9e10",
    "resource_kind": "endpoint",
    "resource_name": "news"
})))]
pub struct Problem {
    /// A stable URI naming the kind of problem, `https://mlm.dev/problems/<slug>`
    /// (see the API description for the slugs).
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = ProblemType))]
    pub problem_type: String,
    /// A short summary of the kind of problem (the HTTP reason phrase).
    pub title: String,
    /// The HTTP status code.
    #[cfg_attr(feature = "openapi", schema(minimum = 400, maximum = 599))]
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
    /// When the model provider (AWS) answered the failed call: the id it gave that call
    /// (`x-amzn-RequestId`), which AWS support asks for. Only the id is sent, never the
    /// provider's error text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_request_id: Option<String>,
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

/// What kind of problem an error answer is; decides the status code and the `type` URI.
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
    /// `Retry-After`): a retryable [`mlm_core::Error::Provider`], such as an endpoint with no healthy
    /// instance at the moment.
    Unavailable,
    /// A bug or an unexpected failure in the server itself (500).
    Internal,
}

impl ProblemType {
    /// Every problem type, for exhaustive tests and documentation.
    pub fn all() -> Vec<Self> {
        let mut all: Vec<_> = ErrorKind::ALL.into_iter().map(ProblemType::Kind).collect();
        all.extend([
            Self::EtagMismatch,
            Self::PayloadTooLarge,
            Self::UnsupportedMediaType,
            Self::MethodNotAllowed,
            Self::NoRoute,
            Self::NotReady,
            Self::HostNotAllowed,
            Self::OriginNotAllowed,
            Self::Unavailable,
            Self::Internal,
        ]);
        all
    }

    /// The stable snake_case slug at the end of the `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            Self::Kind(kind) => kind.as_str(),
            Self::EtagMismatch => "etag_mismatch",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NoRoute => "no_route",
            Self::NotReady => "not_ready",
            Self::HostNotAllowed => "host_not_allowed",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The problem type with slug `slug`, if there is one.
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::all().into_iter().find(|t| t.slug() == slug)
    }

    /// The full `type` URI.
    pub fn uri(self) -> String {
        format!("{PROBLEM_TYPE_BASE}{}", self.slug())
    }

    /// The HTTP status code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Kind(kind) => match kind {
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
                // The endpoint serves, but not what was asked for: a state to act on.
                ErrorKind::RolledBack | ErrorKind::DeploymentFailed => StatusCode::CONFLICT,
                // A kind added to the core later: a server error until it is mapped.
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::EtagMismatch => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::NotReady | Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::HostNotAllowed => StatusCode::MISDIRECTED_REQUEST,
            Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem's title: the reason phrase of its status.
    pub fn title(self) -> &'static str {
        self.status().canonical_reason().unwrap_or("Error")
    }
}

/// The spec's `ProblemType`: every `type` URI the server sends, named for generated clients
/// (`x-enum-varnames`: the slug in capitals).
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ProblemType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::extensions::ExtensionsBuilder;
        use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
        let all = Self::all();
        let names: Vec<String> = all.iter().map(|t| t.slug().to_uppercase()).collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("uri".into())))
            .description(Some(
                "A stable URI naming the kind of problem, `https://mlm.dev/problems/<slug>` \
                 (the API description says what each slug means).",
            ))
            .enum_values(Some(all.iter().map(|t| t.uri())))
            .examples([Self::Kind(ErrorKind::NotFound).uri()])
            .extensions(Some(
                ExtensionsBuilder::new()
                    .add("x-enum-varnames", names)
                    .build(),
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ProblemType {}

impl fmt::Display for ProblemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// The response header naming the variant that answered an invocation.
pub const VARIANT_HEADER: &str = "x-mlm-variant";

/// The request header asking an invocation to go to one variant.
pub const TARGET_VARIANT_HEADER: &str = "x-mlm-target-variant";
