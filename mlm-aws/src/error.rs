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
use aws_types::request_id::RequestId;
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
/// | `ValidationException`, `InvalidParameterValue`, `InvalidParameterCombination`, `MissingParameter`, `SerializationException`, `InvalidNextToken`, `InvalidFormat`, `InvalidParameterInput` | other | `InvalidArgument` |
/// | `ResourceNotFound`, `ResourceNotFoundException`, `ObjectNotFoundException`, `NoSuchKey`, `NoSuchBucket` (S3) | | `NotFound` |
/// | `ResourceInUse` | | `FailedPrecondition` |
/// | `ResourceLimitExceeded`, `LimitExceeded` (CloudWatch: alarms per account) | | `FailedPrecondition` (a quota: retrying does not help until something is deleted or the quota raised) |
/// | `ThrottlingException`, `Throttling`, `TooManyRequestsException`, `RequestLimitExceeded`, `LimitExceededException` | | `Throttled` |
/// | `AccessDenied`, `AccessDeniedException` | | `PermissionDenied` |
/// | `UnrecognizedClientException`, `InvalidClientTokenId`, `ExpiredToken`, `ExpiredTokenException`, `InvalidSignatureException`, `SignatureDoesNotMatch`, `MissingAuthenticationToken`, `IncompleteSignature` | | `Unauthenticated` |
/// | `ConflictException`, `ResourceConflict`, `ConcurrentModificationException`, `PreconditionFailed` (S3 conditional write) | | `Conflict` |
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
                Error::failed_precondition(described)
            } else if lower.contains("already exist") {
                match target {
                    Some(t) => Error::already_exists(t.kind, &t.name),
                    None => Error::conflict(described),
                }
            } else {
                Error::invalid(described)
            }
        }
        "InvalidParameterValue"
        | "InvalidParameterValueException"
        | "InvalidParameterCombination"
        | "MissingParameter"
        | "SerializationException"
        | "InvalidNextToken"
        | "InvalidFormat"
        | "InvalidParameterInput" => Error::invalid(described),
        "ResourceNotFound"
        | "ResourceNotFoundException"
        | "ObjectNotFoundException"
        | "NoSuchKey"
        | "NoSuchBucket" => not_found(),
        "ResourceInUse" => Error::failed_precondition(described),
        "ResourceLimitExceeded" | "LimitExceeded" => Error::failed_precondition(format!(
            "an AWS quota is exhausted: {described}; delete unused resources or ask AWS for a \
             higher quota"
        )),
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "LimitExceededException" => Error::throttled(described, None),
        "AccessDenied" | "AccessDeniedException" => Error::permission_denied(described),
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "MissingAuthenticationToken"
        | "IncompleteSignature" => Error::unauthenticated(described),
        "ConflictException"
        | "ResourceConflict"
        | "ConcurrentModificationException"
        | "PreconditionFailed" => Error::conflict(described),
        "ModelNotReadyException" => Error::failed_precondition(described),
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
///
/// Whatever the kind, the result keeps the SDK error as its source and, when AWS answered, the
/// request id AWS gave the call (`x-amzn-RequestId`, or the `aws_request_id` of the error's
/// metadata): what AWS support asks for.
pub(crate) fn from_sdk<E, R>(err: SdkError<E, R>, target: Option<&Target>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static + HttpStatus,
{
    let request_id = match &err {
        SdkError::ServiceError(s) => s
            .raw()
            .aws_request_id()
            .or_else(|| s.err().meta().request_id())
            .map(str::to_string),
        SdkError::ResponseError(r) => r.raw().aws_request_id().map(str::to_string),
        _ => None,
    };
    let mapped = match &err {
        SdkError::TimeoutError(_) => {
            Error::timeout(format!("the AWS call timed out: {}", render(&err)))
        }
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            Error::timeout(format!("the AWS call timed out: {}", render(&err)))
        }
        SdkError::DispatchFailure(_) => {
            Error::provider_msg(format!("could not reach AWS: {}", render(&err)), true)
        }
        SdkError::ResponseError(r) => Error::provider_msg(
            format!(
                "AWS sent a response that could not be read (HTTP {}): {}",
                r.raw().status_code(),
                render(&err)
            ),
            r.raw().status_code() >= 500,
        ),
        SdkError::ServiceError(s) => {
            let meta = s.err();
            classify(
                target,
                meta.code(),
                meta.message(),
                Some(s.raw().status_code()),
            )
        }
        _ => Error::provider_msg(
            format!("the AWS request could not be built: {}", render(&err)),
            false,
        ),
    };
    let mapped = mapped.with_source(err);
    match request_id {
        Some(id) => mapped.with_request_id(id),
        None => mapped,
    }
}

/// What `from_sdk` needs of a raw response (only `HttpResponse` in practice; a trait keeps
/// `from_sdk` generic).
pub(crate) trait HttpStatus {
    fn status_code(&self) -> u16;
    /// The request id AWS sent in the headers, if any.
    fn aws_request_id(&self) -> Option<&str>;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }

    fn aws_request_id(&self) -> Option<&str> {
        RequestId::request_id(self.headers())
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
///
/// The copy keeps the request id; its source is the original's source chain as text (an SDK
/// error cannot be cloned).
pub(crate) fn duplicate(err: &Error) -> Error {
    let copy = match err {
        Error::NotFound { kind, name, .. } => Error::not_found(*kind, name),
        Error::AlreadyExists { kind, name, .. } => Error::already_exists(*kind, name),
        Error::InvalidArgument(m) => Error::invalid(m.as_str()),
        Error::FailedPrecondition(m) => Error::failed_precondition(m.as_str()),
        Error::Conflict(m) => Error::conflict(m.as_str()),
        Error::PermissionDenied(m) => Error::permission_denied(m.as_str()),
        Error::Unauthenticated(m) => Error::unauthenticated(m.as_str()),
        Error::Throttled {
            message,
            retry_after,
            ..
        } => Error::throttled(message.as_str(), *retry_after),
        Error::Timeout(m) => Error::timeout(m.as_str()),
        Error::Unsupported(m) => Error::unsupported(m.as_str()),
        Error::Provider {
            message, retryable, ..
        } => Error::provider_msg(message.as_str(), *retryable),
        other => Error::provider_msg(other.to_string(), other.is_retryable()),
    };
    let copy = match std::error::Error::source(err) {
        Some(source) => copy.with_source(render(source)),
        None => copy,
    };
    match err.request_id() {
        Some(id) => copy.with_request_id(id),
        None => copy,
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
        for (code, message) in [
            (
                "ResourceLimitExceeded",
                "account-level service limit 'ml.m5.large for endpoint usage' is 2",
            ),
            // CloudWatch's alarm quota.
            (
                "LimitExceeded",
                "The maximum number of alarms for this account has been reached",
            ),
        ] {
            let e = classify(None, Some(code), Some(message), Some(400));
            assert_eq!(e.kind(), ErrorKind::FailedPrecondition, "{code}");
            assert!(!e.is_retryable());
            assert!(e.to_string().contains("quota"), "{e}");
        }
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
        // CloudWatch: DeleteAlarms racing another change, tags changed concurrently.
        assert_eq!(kind("ResourceConflict", "busy"), ErrorKind::Conflict);
        assert_eq!(
            kind("ConcurrentModificationException", "tags"),
            ErrorKind::Conflict
        );
        // S3: a conditional write lost (If-Match / If-None-Match), as pipeline runs use it.
        assert_eq!(
            kind("PreconditionFailed", "At least one of the pre-conditions"),
            ErrorKind::Conflict
        );
    }

    #[test]
    fn cloudwatch_bad_input_is_invalid_argument() {
        for code in ["InvalidNextToken", "InvalidFormat", "InvalidParameterInput"] {
            assert_eq!(kind(code, "bad"), ErrorKind::InvalidArgument, "{code}");
        }
    }

    #[test]
    fn not_found_codes() {
        assert_eq!(kind("ResourceNotFound", "x"), ErrorKind::NotFound);
        assert_eq!(kind("ObjectNotFoundException", "x"), ErrorKind::NotFound);
        assert_eq!(kind("NoSuchKey", "x"), ErrorKind::NotFound);
        assert_eq!(kind("NoSuchBucket", "x"), ErrorKind::NotFound);
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

    /// A service error as the SDK hands it over: `code`/`message` in the metadata, the request
    /// id in the `x-amzn-RequestId` header when `request_id` is given.
    fn service(code: &str, message: &str, status: u16, request_id: Option<&'static str>) -> Sdk {
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let err =
            DescribeError::generic(ErrorMetadata::builder().code(code).message(message).build());
        let mut raw = aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
            SdkBody::empty(),
        );
        if let Some(id) = request_id {
            raw.headers_mut().insert("x-amzn-requestid", id);
        }
        Sdk::service_error(err, raw)
    }

    #[test]
    fn sdk_service_errors_go_through_the_table() {
        let service = |code: &str, message: &str, status: u16| service(code, message, status, None);
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
    fn sdk_errors_keep_the_request_id_and_the_sdk_error_for_every_kind() {
        let t = Target::new(ResourceKind::Endpoint, "prod");
        let e = from_sdk(
            service(
                "ValidationException",
                "Could not find endpoint \"prod\".",
                400,
                Some("11111111-not-found"),
            ),
            Some(&t),
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "endpoint 'prod' not found",
            "message unchanged"
        );
        assert_eq!(e.request_id(), Some("11111111-not-found"));
        let source = std::error::Error::source(&e).expect("the SDK error is the source");
        assert!(
            source.downcast_ref::<Sdk>().is_some(),
            "the source is the SDK error itself: {source:?}"
        );

        let e = from_sdk(
            service(
                "ThrottlingException",
                "Rate exceeded",
                400,
                Some("22222222-throttled"),
            ),
            None,
        );
        assert_eq!(e.kind(), ErrorKind::Throttled);
        assert!(e.is_retryable());
        assert_eq!(e.request_id(), Some("22222222-throttled"));
        assert!(std::error::Error::source(&e).is_some());

        let e = from_sdk(
            service("InternalFailure", "boom", 500, Some("33333333-provider")),
            None,
        );
        assert_eq!(e.kind(), ErrorKind::Provider);
        assert_eq!(e.request_id(), Some("33333333-provider"));

        // Every row of the table, not only those three.
        for (code, message) in [
            ("ValidationException", "1 validation error detected"),
            ("ResourceInUse", "in use"),
            ("AccessDeniedException", "no"),
            ("ExpiredTokenException", "expired"),
            ("ConflictException", "race"),
            ("ResourceLimitExceeded", "quota"),
            ("LimitExceeded", "alarms"),
            ("ResourceConflict", "busy"),
            ("ModelError", "exit 1"),
            ("Weird", "?"),
        ] {
            let e = from_sdk(service(code, message, 400, Some("req-x")), None);
            assert_eq!(e.request_id(), Some("req-x"), "{code}");
            assert!(std::error::Error::source(&e).is_some(), "{code}");
        }
    }

    #[test]
    fn sdk_errors_without_a_response_have_no_request_id() {
        let e = from_sdk(Sdk::timeout_error("operation timeout (all attempts)"), None);
        assert_eq!(e.request_id(), None);
        assert!(
            std::error::Error::source(&e).is_some(),
            "timeouts keep the SDK error too"
        );
        let e = from_sdk(
            service("ThrottlingException", "Rate exceeded", 400, None),
            None,
        );
        assert_eq!(e.request_id(), None);
    }

    #[test]
    fn duplicate_keeps_kind() {
        for e in [
            Error::not_found(ResourceKind::Endpoint, "a"),
            Error::timeout("t"),
            Error::throttled("m", None),
            Error::provider_msg("p", true),
            Error::provider_msg("p", false)
                .with_source(std::io::Error::other("inner"))
                .with_request_id("req-9"),
        ] {
            let d = duplicate(&e);
            assert_eq!(d.kind(), e.kind());
            assert_eq!(d.is_retryable(), e.is_retryable());
            assert_eq!(d.to_string(), e.to_string());
            assert_eq!(d.request_id(), e.request_id());
            assert_eq!(
                std::error::Error::source(&d).map(|s| s.to_string()),
                std::error::Error::source(&e).map(|s| s.to_string())
            );
        }
    }
}
