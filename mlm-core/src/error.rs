//! The one error type every backend maps its failures into.
//!
//! Adapters map it exactly once: `mlm-http` to RFC 9457 problem documents, `mlm-py` to the
//! `mlm.MlmError` exception tree. Backends map their native errors into it exactly once too.

use std::fmt;
use std::time::Duration;

/// What kind of resource an error is about, so messages and HTTP `type`s can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResourceKind {
    /// A registered model (SageMaker: model package group).
    Model,
    /// A numbered version of a model (SageMaker: model package).
    ModelVersion,
    /// An endpoint serving one or more variants.
    Endpoint,
    /// A variant of an endpoint.
    Variant,
    /// One instance of an endpoint variant.
    Instance,
    /// A runtime (container image) the operator configured.
    Runtime,
    /// An alarm on an endpoint's metric.
    Alarm,
    /// One create or update of an endpoint.
    Deployment,
    /// A drift baseline of an endpoint.
    Baseline,
    /// A promotion pipeline.
    Pipeline,
    /// One run of a promotion pipeline (one model version).
    PipelineRun,
    /// The monitoring dashboard of an endpoint.
    Dashboard,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Model => "model",
            Self::ModelVersion => "model version",
            Self::Endpoint => "endpoint",
            Self::Variant => "variant",
            Self::Instance => "instance",
            Self::Runtime => "runtime",
            Self::Alarm => "alarm",
            Self::Deployment => "deployment",
            Self::Baseline => "baseline",
            Self::Pipeline => "pipeline",
            Self::PipelineRun => "pipeline run",
            Self::Dashboard => "dashboard",
        })
    }
}

/// Writes an error and its chain of sources on one line (`a: b: c`), for logs and for
/// messages whose outer text alone would hide the reason.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Boxed source error of a failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What caused an [`Error`], beyond its message: the underlying error and the provider's
/// request id.
///
/// Every variant of [`Error`] carries one (empty unless set with [`Error::with_source`] or
/// [`Error::with_request_id`]); it is for logs and support cases, never part of the message.
/// It is one pointer wide while empty, so errors stay small.
#[derive(Default)]
pub struct Cause(Option<Box<CauseInner>>);

#[derive(Default)]
struct CauseInner {
    source: Option<BoxError>,
    request_id: Option<String>,
}

impl Cause {
    /// An empty cause (what every constructor starts with).
    pub fn new() -> Self {
        Self::default()
    }

    /// The underlying error, if one was kept.
    pub fn source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.0.as_ref()?.source.as_deref()
    }

    /// The provider's id of the failed request (for AWS the `x-amzn-RequestId`), if known.
    pub fn request_id(&self) -> Option<&str> {
        self.0.as_ref()?.request_id.as_deref()
    }

    fn inner(&mut self) -> &mut CauseInner {
        self.0.get_or_insert_with(Box::default)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Cause(None)"),
            Some(inner) => f
                .debug_struct("Cause")
                .field("source", &inner.source)
                .field("request_id", &inner.request_id)
                .finish(),
        }
    }
}

/// The message of a tuple variant of [`Error`] plus its [`Cause`].
///
/// Reads like a string (`Deref<Target = str>`, `Display`); build errors with the constructors
/// ([`Error::invalid`], [`Error::failed_precondition`], ...) or from a `String`/`&str` with
/// `into()`.
#[derive(Default)]
pub struct Message {
    text: String,
    cause: Cause,
}

impl Message {
    /// A message without a cause.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            cause: Cause::new(),
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// What caused the error.
    pub fn cause(&self) -> &Cause {
        &self.cause
    }
}

impl std::ops::Deref for Message {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for Message {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.cause.0.is_none() {
            fmt::Debug::fmt(&self.text, f)
        } else {
            f.debug_struct("Message")
                .field("text", &self.text)
                .field("cause", &self.cause)
                .finish()
        }
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl PartialEq<str> for Message {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Message {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

/// Everything that can go wrong in an mlm operation, on any backend.
///
/// Messages are written for the person who has to act on them: they name the resource and,
/// where there is one, the fix. Every variant also carries a [`Cause`] (the underlying error,
/// which [`std::error::Error::source`] returns, and the provider's request id, see
/// [`Error::request_id`]); it never shows in `Display` or [`Error::message`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The resource does not exist.
    NotFound {
        /// What was looked up.
        kind: ResourceKind,
        /// Its name (for versions `model/version`).
        name: String,
        /// What caused it.
        cause: Cause,
    },
    /// A resource with that name exists already; names are the idempotency key.
    AlreadyExists {
        /// What was created.
        kind: ResourceKind,
        /// Its name.
        name: String,
        /// What caused it.
        cause: Cause,
    },
    /// The request is malformed: the message says which field and why.
    InvalidArgument(Message),
    /// The request is valid but the resource is not in a state that allows it
    /// (for example the endpoint is `Updating`, or a version is still deployed).
    FailedPrecondition(Message),
    /// A concurrent change won (for example an `If-Match` mismatch).
    Conflict(Message),
    /// The caller is known but may not do this.
    PermissionDenied(Message),
    /// The caller did not prove who they are.
    Unauthenticated(Message),
    /// The provider is rate limiting; retry after the given delay if known.
    Throttled {
        /// What was throttled.
        message: String,
        /// How long to wait before retrying, when the provider said.
        retry_after: Option<Duration>,
        /// What caused it.
        cause: Cause,
    },
    /// An operation or a wait did not finish in time.
    Timeout(Message),
    /// The backend does not support this operation or option.
    Unsupported(Message),
    /// A deployment was rolled back (an alarm fired, or a user stopped it): the previous
    /// configuration serves. Reported by waits, not by the call that started the deployment.
    RolledBack(Message),
    /// A deployment could not finish (the new fleet never became healthy, or its rollback
    /// failed). Reported by waits.
    DeploymentFailed(Message),
    /// The backend failed in a way that has no better classification.
    Provider {
        /// A short description safe to show to users.
        message: String,
        /// Whether retrying the same call may succeed.
        retryable: bool,
        /// What caused it: the underlying error, for logs.
        cause: Cause,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { kind, name, .. } => write!(f, "{kind} '{name}' not found"),
            Self::AlreadyExists { kind, name, .. } => write!(f, "{kind} '{name}' already exists"),
            Self::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Self::FailedPrecondition(m) => write!(f, "failed precondition: {m}"),
            Self::Conflict(m) => write!(f, "conflict: {m}"),
            Self::PermissionDenied(m) => write!(f, "permission denied: {m}"),
            Self::Unauthenticated(m) => write!(f, "unauthenticated: {m}"),
            Self::Throttled { message, .. } => write!(f, "throttled: {message}"),
            Self::Timeout(m) => write!(f, "timed out: {m}"),
            Self::Unsupported(m) => write!(f, "unsupported: {m}"),
            Self::RolledBack(m) => write!(f, "rolled back: {m}"),
            Self::DeploymentFailed(m) => write!(f, "deployment failed: {m}"),
            Self::Provider { message, .. } => write!(f, "provider error: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause()
            .source()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// The kind of an [`Error`], without its payload: what adapters map to status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::NotFound`].
    NotFound,
    /// See [`Error::AlreadyExists`].
    AlreadyExists,
    /// See [`Error::InvalidArgument`].
    InvalidArgument,
    /// See [`Error::FailedPrecondition`].
    FailedPrecondition,
    /// See [`Error::Conflict`].
    Conflict,
    /// See [`Error::PermissionDenied`].
    PermissionDenied,
    /// See [`Error::Unauthenticated`].
    Unauthenticated,
    /// See [`Error::Throttled`].
    Throttled,
    /// See [`Error::Timeout`].
    Timeout,
    /// See [`Error::Unsupported`].
    Unsupported,
    /// See [`Error::RolledBack`].
    RolledBack,
    /// See [`Error::DeploymentFailed`].
    DeploymentFailed,
    /// See [`Error::Provider`].
    Provider,
}

impl ErrorKind {
    /// Every kind, for exhaustive mapping tests in adapters.
    pub const ALL: [Self; 13] = [
        Self::NotFound,
        Self::AlreadyExists,
        Self::InvalidArgument,
        Self::FailedPrecondition,
        Self::Conflict,
        Self::PermissionDenied,
        Self::Unauthenticated,
        Self::Throttled,
        Self::Timeout,
        Self::Unsupported,
        Self::RolledBack,
        Self::DeploymentFailed,
        Self::Provider,
    ];

    /// A stable snake_case identifier (used in problem `type` URIs and Python).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::InvalidArgument => "invalid_argument",
            Self::FailedPrecondition => "failed_precondition",
            Self::Conflict => "conflict",
            Self::PermissionDenied => "permission_denied",
            Self::Unauthenticated => "unauthenticated",
            Self::Throttled => "throttled",
            Self::Timeout => "timeout",
            Self::Unsupported => "unsupported",
            Self::RolledBack => "rolled_back",
            Self::DeploymentFailed => "deployment_failed",
            Self::Provider => "provider",
        }
    }
}

impl Error {
    /// The payload-free kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Self::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Self::FailedPrecondition(_) => ErrorKind::FailedPrecondition,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::PermissionDenied(_) => ErrorKind::PermissionDenied,
            Self::Unauthenticated(_) => ErrorKind::Unauthenticated,
            Self::Throttled { .. } => ErrorKind::Throttled,
            Self::Timeout(_) => ErrorKind::Timeout,
            Self::Unsupported(_) => ErrorKind::Unsupported,
            Self::RolledBack(_) => ErrorKind::RolledBack,
            Self::DeploymentFailed(_) => ErrorKind::DeploymentFailed,
            Self::Provider { .. } => ErrorKind::Provider,
        }
    }

    /// What went wrong, without the kind in front (`model 'x' not found`, or for
    /// `InvalidArgument("name is empty")` just `name is empty`): for adapters whose error
    /// types already say the kind (Python's exception classes, problem titles).
    pub fn message(&self) -> String {
        match self {
            Self::NotFound { .. } | Self::AlreadyExists { .. } => self.to_string(),
            Self::InvalidArgument(m)
            | Self::FailedPrecondition(m)
            | Self::Conflict(m)
            | Self::PermissionDenied(m)
            | Self::Unauthenticated(m)
            | Self::Timeout(m)
            | Self::Unsupported(m)
            | Self::RolledBack(m)
            | Self::DeploymentFailed(m) => m.to_string(),
            Self::Throttled { message, .. } | Self::Provider { message, .. } => message.clone(),
        }
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Throttled { .. } | Self::Timeout(_) => true,
            Self::Provider { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// What caused this error (empty unless a backend kept it).
    pub fn cause(&self) -> &Cause {
        match self {
            Self::NotFound { cause, .. }
            | Self::AlreadyExists { cause, .. }
            | Self::Throttled { cause, .. }
            | Self::Provider { cause, .. } => cause,
            Self::InvalidArgument(m)
            | Self::FailedPrecondition(m)
            | Self::Conflict(m)
            | Self::PermissionDenied(m)
            | Self::Unauthenticated(m)
            | Self::Timeout(m)
            | Self::Unsupported(m)
            | Self::RolledBack(m)
            | Self::DeploymentFailed(m) => &m.cause,
        }
    }

    fn cause_mut(&mut self) -> &mut Cause {
        match self {
            Self::NotFound { cause, .. }
            | Self::AlreadyExists { cause, .. }
            | Self::Throttled { cause, .. }
            | Self::Provider { cause, .. } => cause,
            Self::InvalidArgument(m)
            | Self::FailedPrecondition(m)
            | Self::Conflict(m)
            | Self::PermissionDenied(m)
            | Self::Unauthenticated(m)
            | Self::Timeout(m)
            | Self::Unsupported(m)
            | Self::RolledBack(m)
            | Self::DeploymentFailed(m) => &mut m.cause,
        }
    }

    /// Keeps `source` as the underlying error (returned by [`std::error::Error::source`]);
    /// kind and message are unchanged.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.cause_mut().inner().source = Some(source.into());
        self
    }

    /// Records the provider's id of the failed request (see [`Error::request_id`]).
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.cause_mut().inner().request_id = Some(request_id.into());
        self
    }

    /// The provider's id of the failed request (for AWS the `x-amzn-RequestId` its support
    /// asks for), when the backend knew it; logged, and sent as `aws_request_id` in problem
    /// documents.
    pub fn request_id(&self) -> Option<&str> {
        self.cause().request_id()
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(kind: ResourceKind, name: impl fmt::Display) -> Self {
        Self::NotFound {
            kind,
            name: name.to_string(),
            cause: Cause::new(),
        }
    }

    /// Shorthand for [`Error::AlreadyExists`].
    pub fn already_exists(kind: ResourceKind, name: impl fmt::Display) -> Self {
        Self::AlreadyExists {
            kind,
            name: name.to_string(),
            cause: Cause::new(),
        }
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument(Message::new(message))
    }

    /// Shorthand for [`Error::FailedPrecondition`].
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self::FailedPrecondition(Message::new(message))
    }

    /// Shorthand for [`Error::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(Message::new(message))
    }

    /// Shorthand for [`Error::PermissionDenied`].
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::PermissionDenied(Message::new(message))
    }

    /// Shorthand for [`Error::Unauthenticated`].
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::Unauthenticated(Message::new(message))
    }

    /// Shorthand for [`Error::Throttled`].
    pub fn throttled(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self::Throttled {
            message: message.into(),
            retry_after,
            cause: Cause::new(),
        }
    }

    /// Shorthand for [`Error::Timeout`].
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::Timeout(Message::new(message))
    }

    /// Shorthand for [`Error::Unsupported`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::Unsupported(Message::new(message))
    }

    /// A non-retryable provider error wrapping `source`.
    pub fn provider(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::provider_msg(message, false).with_source(source)
    }

    /// A provider error with a message only.
    pub fn provider_msg(message: impl Into<String>, retryable: bool) -> Self {
        Self::Provider {
            message: message.into(),
            retryable,
            cause: Cause::new(),
        }
    }
}

/// `Result` with mlm's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_resource() {
        let e = Error::not_found(ResourceKind::ModelVersion, "churn/3");
        assert_eq!(e.to_string(), "model version 'churn/3' not found");
        let e = Error::already_exists(ResourceKind::Endpoint, "prod");
        assert_eq!(e.to_string(), "endpoint 'prod' already exists");
    }

    #[test]
    fn retryable_only_for_transient_kinds() {
        assert!(Error::throttled("x", None).is_retryable());
        assert!(Error::timeout("x").is_retryable());
        assert!(Error::provider_msg("x", true).is_retryable());
        assert!(!Error::provider_msg("x", false).is_retryable());
        assert!(!Error::invalid("x").is_retryable());
        assert!(!Error::not_found(ResourceKind::Model, "m").is_retryable());
    }

    #[test]
    fn every_kind_keeps_its_source_and_request_id() {
        use std::error::Error as _;
        let all = [
            Error::not_found(ResourceKind::Model, "m"),
            Error::already_exists(ResourceKind::Endpoint, "e"),
            Error::invalid("bad"),
            Error::failed_precondition("busy"),
            Error::conflict("lost"),
            Error::permission_denied("no"),
            Error::unauthenticated("who"),
            Error::throttled("slow down", None),
            Error::timeout("late"),
            Error::unsupported("nope"),
            Error::RolledBack("alarm".into()),
            Error::DeploymentFailed("unhealthy".into()),
            Error::provider_msg("boom", true),
        ];
        assert_eq!(all.len(), ErrorKind::ALL.len());
        for e in all {
            let (kind, text, message) = (e.kind(), e.to_string(), e.message());
            assert!(e.source().is_none() && e.request_id().is_none(), "{e:?}");
            let e = e
                .with_source(std::io::Error::other("disk on fire"))
                .with_request_id("req-1");
            assert_eq!(e.kind(), kind);
            assert_eq!(e.to_string(), text, "the cause stays out of the message");
            assert_eq!(e.message(), message);
            assert_eq!(
                e.source().map(|s| s.to_string()).as_deref(),
                Some("disk on fire")
            );
            assert_eq!(e.request_id(), Some("req-1"));
        }
    }

    #[test]
    fn messages_of_tuple_variants_are_unchanged() {
        assert_eq!(Error::invalid("name is empty").message(), "name is empty");
        assert_eq!(
            Error::invalid("name is empty").to_string(),
            "invalid argument: name is empty"
        );
        assert_eq!(Error::timeout("x").to_string(), "timed out: x");
        let e = Error::provider("cannot write", std::io::Error::other("full"));
        assert_eq!(e.to_string(), "provider error: cannot write");
        assert!(size_of::<Error>() <= 48, "{}", size_of::<Error>());
    }

    #[test]
    fn kind_strings_are_unique_and_cover_all() {
        let mut seen = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            assert!(seen.insert(kind.as_str()), "duplicate {}", kind.as_str());
        }
        assert_eq!(seen.len(), 13);
    }
}
