//! The one mapping from [`mlm_core::Error`] to Python exceptions.
//!
//! The classes live in `mlm/errors.py` (Python, so that `InvalidArgumentError` can also be a
//! `ValueError` and `TimeoutError` the builtin `TimeoutError`); this module only picks the
//! class by [`ErrorKind`] and passes the structured fields along.

use mlm_core::{Error, ErrorKind};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The `mlm.errors` class for each kind.
pub(crate) fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "NotFoundError",
        ErrorKind::AlreadyExists => "AlreadyExistsError",
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::FailedPrecondition => "FailedPreconditionError",
        ErrorKind::Conflict => "ConflictError",
        ErrorKind::PermissionDenied => "PermissionDeniedError",
        ErrorKind::Unauthenticated => "UnauthenticatedError",
        ErrorKind::Throttled => "ThrottledError",
        ErrorKind::Timeout => "TimeoutError",
        ErrorKind::Unsupported => "UnsupportedError",
        ErrorKind::RolledBack => "RolledBackError",
        ErrorKind::DeploymentFailed => "DeploymentFailedError",
        // `ErrorKind` is non-exhaustive: a kind added later is still an `MlmError`.
        _ => "ProviderError",
    }
}

/// The Python exception for `err`.
pub(crate) fn to_py_err(py: Python<'_>, err: Error) -> PyErr {
    build(py, &err).unwrap_or_else(|e| e)
}

fn build(py: Python<'_>, err: &Error) -> PyResult<PyErr> {
    let class = py.import("mlm.errors")?.getattr(class_name(err.kind()))?;
    let fields = PyDict::new(py);
    fields.set_item("kind", err.kind().as_str())?;
    fields.set_item("retryable", err.is_retryable())?;
    match err {
        Error::NotFound { kind, name, .. } | Error::AlreadyExists { kind, name, .. } => {
            fields.set_item("resource_kind", kind.to_string())?;
            fields.set_item("resource_name", name)?;
        }
        Error::Throttled {
            retry_after: Some(after),
            ..
        } => fields.set_item("retry_after", after.as_secs_f64())?,
        _ => {}
    }
    if err.kind() == ErrorKind::Provider
        && let Some(source) = std::error::Error::source(err)
    {
        fields.set_item("detail", mlm_core::error_chain(source))?;
    }
    if let Some(id) = err.request_id() {
        fields.set_item("request_id", id)?;
    }
    // The class says the kind; the message need not say it again.
    let exception = class.call((err.message(),), Some(&fields))?;
    Ok(PyErr::from_value(exception))
}

/// Raises the exception an error of `kind` (an `ERROR_KINDS` string) maps to, with `message`.
/// For the Python tests of the mapping.
#[pyfunction]
pub(crate) fn raise_error_kind(py: Python<'_>, kind: &str, message: &str) -> PyResult<()> {
    let message = message.to_string();
    let err = match kind {
        "not_found" => Error::not_found(mlm_core::ResourceKind::Model, message),
        "already_exists" => Error::already_exists(mlm_core::ResourceKind::Endpoint, message),
        "invalid_argument" => Error::invalid(message),
        "failed_precondition" => Error::failed_precondition(message),
        "conflict" => Error::conflict(message),
        "permission_denied" => Error::permission_denied(message),
        "unauthenticated" => Error::unauthenticated(message),
        "throttled" => Error::throttled(message, Some(std::time::Duration::from_millis(1500))),
        "timeout" => Error::timeout(message),
        "unsupported" => Error::unsupported(message),
        "rolled_back" => Error::RolledBack(message.into()),
        "deployment_failed" => Error::DeploymentFailed(message.into()),
        "provider" => Error::provider(message, std::io::Error::other("disk on fire"))
            .with_request_id("req-0000-test"),
        other => {
            return Err(PyValueError::new_err(format!(
                "'{other}' is not an error kind"
            )));
        }
    };
    Err(to_py_err(py, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_class() {
        let mut seen = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            assert!(seen.insert(class_name(kind)), "{kind:?} shares a class");
        }
    }
}
