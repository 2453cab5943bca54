//! AWS errors → [`mlm_core::Error`], in one place.
//!
//! SageMaker reports most failures as `ValidationException` with a human sentence ("Could not
//! find endpoint ...", "Cannot update in-progress endpoint ..."), not as modeled errors, so the
//! mapping looks at the error **code and the message**. [`classify`] is the single table; every
//! row has a unit test below, so a wording change on AWS's side shows up as a failing test here
//! rather than as a wrong error kind in production.

use std::fmt::Debug;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use mlm_core::{Error, ResourceKind};

/// What an AWS call was about, so `NotFound`/`AlreadyExists` can name it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub kind: ResourceKind,
    pub name: String,
}

impl Target {
    pub(crate) fn new(kind: ResourceKind, name: impl std::fmt::Display) -> Self {
        Self {
            kind,
            name: name.to_string(),
        }
    }
}

/// Maps an error code and message (as AWS sent them) to mlm's error.
///
/// | code | message | kind |
/// | --- | --- | --- |
/// | `ValidationException`/`ValidationError` | "Could not find", "does not exist", "not found" | `NotFound` |
/// | `ValidationException` | "Cannot update in-progress", "in-progress" | `FailedPrecondition` |
/// | `ValidationException` | "already exist" | `AlreadyExists` |
/// | `ValidationException`, `InvalidParameterValue`, `InvalidParameterCombination`, `MissingParameter`, `SerializationException` | other | `InvalidArgument` |
/// | `ResourceNotFound`, `ResourceNotFoundException`, `ObjectNotFoundException` | | `NotFound` |
/// | `ResourceInUse` | | `FailedPrecondition` |
/// | `ResourceLimitExceeded` | | `FailedPrecondition` (a quota: retrying does not help until something is deleted or the quota raised) |
/// | `ThrottlingException`, `Throttling`, `TooManyRequestsException`, `RequestLimitExceeded`, `LimitExceededException` | | `Throttled` |
/// | `AccessDenied`, `AccessDeniedException` | | `PermissionDenied` |
/// | `UnrecognizedClientException`, `InvalidClientTokenId`, `ExpiredToken`, `ExpiredTokenException`, `InvalidSignatureException`, `SignatureDoesNotMatch`, `MissingAuthenticationToken`, `IncompleteSignature` | | `Unauthenticated` |
/// | `ConflictException` | | `Conflict` |
/// | `ModelNotReadyException` | | `FailedPrecondition` |
/// | `ModelError` | | `Provider` (not retryable: the model itself failed) |
/// | `ServiceUnavailable`, `InternalFailure`, `InternalServerError`, `InternalServiceError`, `InternalFailureException`, any 5xx | | `Provider` (retryable) |
/// | anything else | | `Provider` (not retryable) |
pub(crate) fn classify(
    target: Option<&Target>,
    code: Option<&str>,
    message: Option<&str>,
    status: Option<u16>,
) -> Error {
    let message = message.unwrap_or("").trim();
    let code = code.unwrap_or("");
    let lower = message.to_ascii_lowercase();
    let described = if message.is_empty() {
        code.to_string()
    } else {
        format!("{message} ({code})")
    };
    let not_found = || match target {
        Some(t) => Error::not_found(t.kind, &t.name),
        None => Error::provider_msg(format!("not found: {described}"), false),
    };
    match code {
        "ValidationException" | "ValidationError" => {
            if lower.contains("could not find")
                || lower.contains("does not exist")
                || lower.contains("not found")
            {
                not_found()
            } else if lower.contains("cannot update in-progress") || lower.contains("in-progress") {
                Error::FailedPrecondition(described)
            } else if lower.contains("already exist") {
                match target {
                    Some(t) => Error::already_exists(t.kind, &t.name),
                    None => Error::Conflict(described),
                }
            } else {
                Error::InvalidArgument(described)
            }
        }
        "InvalidParameterValue"
        | "InvalidParameterValueException"
        | "InvalidParameterCombination"
        | "MissingParameter"
        | "SerializationException" => Error::InvalidArgument(described),
        "ResourceNotFound" | "ResourceNotFoundException" | "ObjectNotFoundException" => not_found(),
        "ResourceInUse" => Error::FailedPrecondition(described),
        "ResourceLimitExceeded" => Error::FailedPrecondition(format!(
            "an AWS quota is exhausted: {described}; delete unused resources or ask AWS for a \
             higher quota"
        )),
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "LimitExceededException" => Error::Throttled {
            message: described,
            retry_after: None,
        },
        "AccessDenied" | "AccessDeniedException" => Error::PermissionDenied(described),
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "MissingAuthenticationToken"
        | "IncompleteSignature" => Error::Unauthenticated(described),
        "ConflictException" => Error::Conflict(described),
        "ModelNotReadyException" => Error::FailedPrecondition(described),
        "ModelError" => Error::provider_msg(
            format!("the model answered with an error: {described}"),
            false,
        ),
        "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "InternalFailure"
        | "InternalServerError"
        | "InternalServiceError"
        | "InternalFailureException" => Error::provider_msg(described, true),
        _ => {
            let retryable = status.is_some_and(|s| s >= 500);
            let what = if code.is_empty() && message.is_empty() {
                format!(
                    "AWS answered HTTP {} with no error code",
                    status.map_or_else(|| "?".to_string(), |s| s.to_string())
                )
            } else {
                described
            };
            Error::provider_msg(what, retryable)
        }
    }
}

/// Converts any SDK error, naming `target` in `NotFound`/`AlreadyExists`.
pub(crate) fn from_sdk<E, R>(err: SdkError<E, R>, target: Option<&Target>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static + HttpStatus,
{
    match &err {
        SdkError::TimeoutError(_) => {
            Error::Timeout(format!("the AWS call timed out: {}", render(&err)))
        }
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            Error::Timeout(format!("the AWS call timed out: {}", render(&err)))
        }
        SdkError::DispatchFailure(_) => Error::Provider {
            message: format!("could not reach AWS: {}", render(&err)),
            retryable: true,
            source: Some(Box::new(err)),
        },
        SdkError::ResponseError(r) => Error::Provider {
            message: format!(
                "AWS sent a response that could not be read (HTTP {}): {}",
                r.raw().status_code(),
                render(&err)
            ),
            retryable: r.raw().status_code() >= 500,
            source: Some(Box::new(err)),
        },
        SdkError::ServiceError(s) => {
            let status = s.raw().status_code();
            let meta = s.err();
            let mapped = classify(target, meta.code(), meta.message(), Some(status));
            match mapped {
                Error::Provider {
                    message, retryable, ..
                } => Error::Provider {
                    message,
                    retryable,
                    source: Some(Box::new(err)),
                },
                other => other,
            }
        }
        _ => Error::Provider {
            message: format!("the AWS request could not be built: {}", render(&err)),
            retryable: false,
            source: Some(Box::new(err)),
        },
    }
}

/// The HTTP status of a raw response (only `HttpResponse` in practice; a trait keeps
/// `from_sdk` generic).
pub(crate) trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn render(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Copies an error so one result can be handed to several waiters (request coalescing).
pub(crate) fn duplicate(err: &Error) -> Error {
    match err {
        Error::NotFound { kind, name } => Error::not_found(*kind, name),
        Error::AlreadyExists { kind, name } => Error::already_exists(*kind, name),
        Error::InvalidArgument(m) => Error::InvalidArgument(m.clone()),
        Error::FailedPrecondition(m) => Error::FailedPrecondition(m.clone()),
        Error::Conflict(m) => Error::Conflict(m.clone()),
        Error::PermissionDenied(m) => Error::PermissionDenied(m.clone()),
        Error::Unauthenticated(m) => Error::Unauthenticated(m.clone()),
        Error::Throttled {
            message,
            retry_after,
        } => Error::Throttled {
            message: message.clone(),
            retry_after: *retry_after,
        },
        Error::Timeout(m) => Error::Timeout(m.clone()),
        Error::Unsupported(m) => Error::Unsupported(m.clone()),
        other => Error::provider_msg(other.to_string(), other.is_retryable()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlm_core::ErrorKind;

    fn kind(code: &str, message: &str) -> ErrorKind {
        let t = Target::new(ResourceKind::Endpoint, "e1");
        classify(Some(&t), Some(code), Some(message), Some(400)).kind()
    }

    #[test]
    fn validation_could_not_find_is_not_found() {
        let e = classify(
            Some(&Target::new(ResourceKind::Endpoint, "prod")),
            Some("ValidationException"),
            Some("Could not find endpoint \"arn:aws:sagemaker:us-east-1:1:endpoint/prod\"."),
            Some(400),
        );
        assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
        assert_eq!(e.to_string(), "endpoint 'prod' not found");
    }

    #[test]
    fn validation_does_not_exist_is_not_found() {
        assert_eq!(
            kind(
                "ValidationException",
                "ModelPackageGroup arn:... does not exist."
            ),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind("ValidationException", "Model package x not found"),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind(
                "ValidationError",
                "Endpoint e1 of account 123456789012 not found."
            ),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn in_progress_is_failed_precondition() {
        assert_eq!(
            kind(
                "ValidationException",
                "Cannot update in-progress endpoint 'arn:aws:sagemaker:...'."
            ),
            ErrorKind::FailedPrecondition
        );
    }

    #[test]
    fn already_exists() {
        assert_eq!(
            kind(
                "ValidationException",
                "Cannot create already existing endpoint \"arn:...\"."
            ),
            ErrorKind::AlreadyExists
        );
    }

    #[test]
    fn other_validation_is_invalid_argument() {
        let e = classify(
            None,
            Some("ValidationException"),
            Some("1 validation error detected: Value 'x' at 'instanceType' failed"),
            Some(400),
        );
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("instanceType"), "{e}");
        assert_eq!(
            kind("InvalidParameterValue", "bad period"),
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn resource_in_use_is_failed_precondition() {
        assert_eq!(
            kind("ResourceInUse", "Endpoint config is in use"),
            ErrorKind::FailedPrecondition
        );
    }

    #[test]
    fn resource_limit_is_failed_precondition_not_retryable() {
        let e = classify(
            None,
            Some("ResourceLimitExceeded"),
            Some("account-level service limit 'ml.m5.large for endpoint usage' is 2"),
            Some(400),
        );
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("quota"), "{e}");
    }

    #[test]
    fn throttling_is_throttled_and_retryable() {
        for code in [
            "ThrottlingException",
            "Throttling",
            "TooManyRequestsException",
            "LimitExceededException",
        ] {
            let e = classify(None, Some(code), Some("Rate exceeded"), Some(400));
            assert_eq!(e.kind(), ErrorKind::Throttled, "{code}");
            assert!(e.is_retryable());
        }
    }

    #[test]
    fn access_denied_is_permission_denied() {
        assert_eq!(
            kind(
                "AccessDeniedException",
                "User is not authorized to perform sagemaker:CreateEndpoint"
            ),
            ErrorKind::PermissionDenied
        );
        assert_eq!(kind("AccessDenied", "no"), ErrorKind::PermissionDenied);
    }

    #[test]
    fn bad_credentials_are_unauthenticated() {
        for code in [
            "UnrecognizedClientException",
            "ExpiredToken",
            "ExpiredTokenException",
            "InvalidClientTokenId",
            "InvalidSignatureException",
        ] {
            assert_eq!(kind(code, "token"), ErrorKind::Unauthenticated, "{code}");
        }
    }

    #[test]
    fn conflict_is_conflict() {
        assert_eq!(
            kind(
                "ConflictException",
                "Model package group m cannot be deleted"
            ),
            ErrorKind::Conflict
        );
    }

    #[test]
    fn not_found_codes() {
        assert_eq!(kind("ResourceNotFound", "x"), ErrorKind::NotFound);
        assert_eq!(kind("ObjectNotFoundException", "x"), ErrorKind::NotFound);
    }

    #[test]
    fn server_errors_are_retryable_provider_errors() {
        let e = classify(None, Some("InternalFailure"), Some("oops"), Some(500));
        assert_eq!(e.kind(), ErrorKind::Provider);
        assert!(e.is_retryable());
        let e = classify(None, Some("Weird"), Some("?"), Some(503));
        assert!(e.is_retryable());
        let e = classify(None, Some("Weird"), Some("?"), Some(400));
        assert!(!e.is_retryable());
        let e = classify(None, None, None, Some(502));
        assert!(e.to_string().contains("HTTP 502"), "{e}");
    }

    #[test]
    fn model_errors_are_not_retryable() {
        let e = classify(None, Some("ModelError"), Some("exit 1"), Some(424));
        assert_eq!(e.kind(), ErrorKind::Provider);
        assert!(!e.is_retryable());
        assert_eq!(
            kind("ModelNotReadyException", "not ready"),
            ErrorKind::FailedPrecondition
        );
    }

    type DescribeError = aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointError;
    type Sdk = SdkError<DescribeError, aws_smithy_runtime_api::http::Response>;

    #[test]
    fn sdk_timeouts_are_timeouts() {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let e = from_sdk(Sdk::timeout_error("operation timeout (all attempts)"), None);
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.is_retryable());
        let e = from_sdk(
            Sdk::dispatch_failure(ConnectorError::timeout("connect timeout".into())),
            None,
        );
        assert_eq!(e.kind(), ErrorKind::Timeout);
    }

    #[test]
    fn sdk_dispatch_failures_are_retryable_provider_errors() {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let e = from_sdk(
            Sdk::dispatch_failure(ConnectorError::io("connection refused".into())),
            None,
        );
        assert_eq!(e.kind(), ErrorKind::Provider);
        assert!(e.is_retryable());
        assert!(e.to_string().contains("could not reach AWS"), "{e}");
    }

    #[test]
    fn sdk_service_errors_go_through_the_table() {
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let service = |code: &str, message: &str, status: u16| {
            let err = DescribeError::generic(
                ErrorMetadata::builder().code(code).message(message).build(),
            );
            let raw = aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
                SdkBody::empty(),
            );
            Sdk::service_error(err, raw)
        };
        let t = Target::new(ResourceKind::Endpoint, "prod");
        let e = from_sdk(
            service(
                "ValidationException",
                "Could not find endpoint \"prod\".",
                400,
            ),
            Some(&t),
        );
        assert_eq!(e.to_string(), "endpoint 'prod' not found");
        let e = from_sdk(service("ThrottlingException", "Rate exceeded", 400), None);
        assert_eq!(e.kind(), ErrorKind::Throttled);
        let e = from_sdk(service("InternalFailure", "boom", 500), None);
        assert!(e.is_retryable());
        assert!(
            std::error::Error::source(&e).is_some(),
            "the SDK error is kept"
        );
    }

    #[test]
    fn duplicate_keeps_kind() {
        for e in [
            Error::not_found(ResourceKind::Endpoint, "a"),
            Error::Timeout("t".into()),
            Error::Throttled {
                message: "m".into(),
                retry_after: None,
            },
            Error::provider_msg("p", true),
        ] {
            let d = duplicate(&e);
            assert_eq!(d.kind(), e.kind());
            assert_eq!(d.is_retryable(), e.is_retryable());
        }
    }
}
