"""The exception tree: every error mlm raises is an :class:`MlmError`.

Errors from the Rust core are mapped to these classes exactly once, by their kind
(``mlm_core::ErrorKind``), in the native module; the same kinds are the ``type`` of the
REST API's problem documents, so a caller sees the same error whichever client it uses.

Catch the specific class when you can act on it::

    try:
        client.create_model("news")
    except mlm.AlreadyExistsError:
        pass  # names are the idempotency key

``InvalidArgumentError`` is also a :class:`ValueError`, and ``mlm.TimeoutError`` is also the
builtin :class:`TimeoutError`, so generic handlers catch them too.
"""

from __future__ import annotations

import builtins
from typing import Any, Dict, Optional

__all__ = [
    "MlmError",
    "NotFoundError",
    "AlreadyExistsError",
    "InvalidArgumentError",
    "FailedPreconditionError",
    "ConflictError",
    "PermissionDeniedError",
    "UnauthenticatedError",
    "ThrottledError",
    "TimeoutError",
    "UnsupportedError",
    "RolledBackError",
    "DeploymentFailedError",
    "ProviderError",
]


class MlmError(Exception):
    """Base class of every mlm error.

    Attributes:
        message: what went wrong, written for the person who has to act on it.
        kind: the core error kind (``"not_found"``, ``"invalid_argument"``, ...).
        retryable: whether the same call may succeed later.
        retry_after: seconds to wait before retrying, when the backend said (throttling).
        resource_kind: for not-found/already-exists errors, what kind of resource
            (``"model"``, ``"model version"``, ``"endpoint"``, ...).
        resource_name: for not-found/already-exists errors, its name.
        detail: the underlying cause of a provider error, for logs.
        request_id: the id the model provider (AWS: ``x-amzn-RequestId``) gave the failed
            call, when it answered; quote it to AWS support.
    """

    #: The core error kind this class stands for.
    KIND = "provider"

    def __init__(
        self,
        message: str,
        *,
        kind: Optional[str] = None,
        retryable: bool = False,
        retry_after: Optional[float] = None,
        resource_kind: Optional[str] = None,
        resource_name: Optional[str] = None,
        detail: Optional[str] = None,
        request_id: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind if kind is not None else self.KIND
        self.retryable = retryable
        self.retry_after = retry_after
        self.resource_kind = resource_kind
        self.resource_name = resource_name
        self.detail = detail
        self.request_id = request_id

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Any:
        # Keyword-only fields survive pickling (multiprocessing, notebooks' caches).
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type, message: str, state: Dict[str, Any]) -> MlmError:
    error: MlmError = cls(message)
    error.__dict__.update(state)
    return error


class NotFoundError(MlmError):
    """The model, version, endpoint, variant or instance does not exist."""

    KIND = "not_found"


class AlreadyExistsError(MlmError):
    """A resource with that name exists already (names are the idempotency key)."""

    KIND = "already_exists"


class InvalidArgumentError(MlmError, ValueError):
    """The request is malformed; the message names the field and why."""

    KIND = "invalid_argument"


class FailedPreconditionError(MlmError):
    """The request is valid, but the resource's state does not allow it now (for example
    the endpoint is ``Updating``, or a version is still deployed)."""

    KIND = "failed_precondition"


class ConflictError(MlmError):
    """A concurrent change won."""

    KIND = "conflict"


class PermissionDeniedError(MlmError):
    """The caller is known but may not do this (for example a read-only token)."""

    KIND = "permission_denied"


class UnauthenticatedError(MlmError):
    """The caller did not prove who they are (missing or wrong token/credentials)."""

    KIND = "unauthenticated"


class ThrottledError(MlmError):
    """The backend is rate limiting; retry after :attr:`retry_after` seconds if set."""

    KIND = "throttled"


class TimeoutError(MlmError, builtins.TimeoutError):  # noqa: A001 - deliberately shadows
    """An operation or a wait did not finish in time (also the builtin TimeoutError)."""

    KIND = "timeout"


class UnsupportedError(MlmError):
    """The backend (or this build of mlm) does not support the operation or option."""

    KIND = "unsupported"


class RolledBackError(MlmError):
    """An endpoint's latest deployment was rolled back (a rollback alarm fired, or a user
    stopped it): the previous configuration serves. Raised by waits
    (``update_endpoint(..., wait=True)``, ``wait_until_ready``)."""

    KIND = "rolled_back"


class DeploymentFailedError(MlmError):
    """An endpoint's latest deployment could not finish (the new fleet never became healthy,
    or its rollback failed). Raised by waits."""

    KIND = "deployment_failed"


class ProviderError(MlmError):
    """The backend failed in a way with no better classification; see :attr:`retryable`."""

    KIND = "provider"
