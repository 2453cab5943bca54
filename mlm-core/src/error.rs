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
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceKind::Model => "model",
            ResourceKind::ModelVersion => "model version",
            ResourceKind::Endpoint => "endpoint",
            ResourceKind::Variant => "variant",
            ResourceKind::Instance => "instance",
            ResourceKind::Runtime => "runtime",
        })
    }
}

/// Boxed source error of a provider failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in an mlm operation, on any backend.
///
/// Messages are written for the person who has to act on them: they name the resource and,
/// where there is one, the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The resource does not exist.
    #[error("{kind} '{name}' not found")]
    NotFound {
        /// What was looked up.
        kind: ResourceKind,
        /// Its name (for versions `model/version`).
        name: String,
    },
    /// A resource with that name exists already; names are the idempotency key.
    #[error("{kind} '{name}' already exists")]
    AlreadyExists {
        /// What was created.
        kind: ResourceKind,
        /// Its name.
        name: String,
    },
    /// The request is malformed: the message says which field and why.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The request is valid but the resource is not in a state that allows it
    /// (for example the endpoint is `Updating`, or a version is still deployed).
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// A concurrent change won (for example an `If-Match` mismatch).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller is known but may not do this.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The caller did not prove who they are.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The provider is rate limiting; retry after the given delay if known.
    #[error("throttled: {message}")]
    Throttled {
        /// What was throttled.
        message: String,
        /// How long to wait before retrying, when the provider said.
        retry_after: Option<Duration>,
    },
    /// An operation or a wait did not finish in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The backend does not support this operation or option.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The backend failed in a way that has no better classification.
    #[error("provider error: {message}")]
    Provider {
        /// A short description safe to show to users.
        message: String,
        /// Whether retrying the same call may succeed.
        retryable: bool,
        /// The underlying error, for logs.
        #[source]
        source: Option<BoxError>,
    },
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
    /// See [`Error::Provider`].
    Provider,
}

impl ErrorKind {
    /// Every kind, for exhaustive mapping tests in adapters.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::InvalidArgument,
        ErrorKind::FailedPrecondition,
        ErrorKind::Conflict,
        ErrorKind::PermissionDenied,
        ErrorKind::Unauthenticated,
        ErrorKind::Throttled,
        ErrorKind::Timeout,
        ErrorKind::Unsupported,
        ErrorKind::Provider,
    ];

    /// A stable snake_case identifier (used in problem `type` URIs and Python).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::FailedPrecondition => "failed_precondition",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Provider => "provider",
        }
    }
}

impl Error {
    /// The payload-free kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::FailedPrecondition(_) => ErrorKind::FailedPrecondition,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::PermissionDenied(_) => ErrorKind::PermissionDenied,
            Error::Unauthenticated(_) => ErrorKind::Unauthenticated,
            Error::Throttled { .. } => ErrorKind::Throttled,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Provider { .. } => ErrorKind::Provider,
        }
    }

    /// What went wrong, without the kind in front (`model 'x' not found`, or for
    /// `InvalidArgument("name is empty")` just `name is empty`): for adapters whose error
    /// types already say the kind (Python's exception classes, problem titles).
    pub fn message(&self) -> String {
        match self {
            Error::NotFound { .. } | Error::AlreadyExists { .. } => self.to_string(),
            Error::InvalidArgument(m)
            | Error::FailedPrecondition(m)
            | Error::Conflict(m)
            | Error::PermissionDenied(m)
            | Error::Unauthenticated(m)
            | Error::Timeout(m)
            | Error::Unsupported(m) => m.clone(),
            Error::Throttled { message, .. } | Error::Provider { message, .. } => message.clone(),
        }
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Throttled { .. } | Error::Timeout(_) => true,
            Error::Provider { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(kind: ResourceKind, name: impl fmt::Display) -> Self {
        Error::NotFound {
            kind,
            name: name.to_string(),
        }
    }

    /// Shorthand for [`Error::AlreadyExists`].
    pub fn already_exists(kind: ResourceKind, name: impl fmt::Display) -> Self {
        Error::AlreadyExists {
            kind,
            name: name.to_string(),
        }
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument(message.into())
    }

    /// A non-retryable provider error wrapping `source`.
    pub fn provider(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Provider {
            message: message.into(),
            retryable: false,
            source: Some(source.into()),
        }
    }

    /// A provider error with a message only.
    pub fn provider_msg(message: impl Into<String>, retryable: bool) -> Self {
        Error::Provider {
            message: message.into(),
            retryable,
            source: None,
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
        assert!(
            Error::Throttled {
                message: "x".into(),
                retry_after: None
            }
            .is_retryable()
        );
        assert!(Error::Timeout("x".into()).is_retryable());
        assert!(Error::provider_msg("x", true).is_retryable());
        assert!(!Error::provider_msg("x", false).is_retryable());
        assert!(!Error::invalid("x").is_retryable());
        assert!(!Error::not_found(ResourceKind::Model, "m").is_retryable());
    }

    #[test]
    fn kind_strings_are_unique_and_cover_all() {
        let mut seen = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            assert!(seen.insert(kind.as_str()), "duplicate {}", kind.as_str());
        }
        assert_eq!(seen.len(), 11);
    }
}
