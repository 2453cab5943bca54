"""The exception tree and the one mapping from the core's error kinds."""

from __future__ import annotations

import builtins
import pickle

import pytest

import mlm
from mlm import _mlm

EXPECTED = {
    "not_found": mlm.NotFoundError,
    "already_exists": mlm.AlreadyExistsError,
    "invalid_argument": mlm.InvalidArgumentError,
    "failed_precondition": mlm.FailedPreconditionError,
    "conflict": mlm.ConflictError,
    "permission_denied": mlm.PermissionDeniedError,
    "unauthenticated": mlm.UnauthenticatedError,
    "throttled": mlm.ThrottledError,
    "timeout": mlm.TimeoutError,
    "unsupported": mlm.UnsupportedError,
    "rolled_back": mlm.RolledBackError,
    "deployment_failed": mlm.DeploymentFailedError,
    "provider": mlm.ProviderError,
}


def test_every_core_kind_has_a_class() -> None:
    # ERROR_KINDS is the core's ErrorKind::ALL: a kind added there fails here until mapped.
    assert sorted(_mlm.ERROR_KINDS) == sorted(EXPECTED)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_kind_maps_to_its_class(kind: str) -> None:
    with pytest.raises(mlm.MlmError) as info:
        _mlm.raise_error_kind(kind, "something")
    error = info.value
    assert type(error) is EXPECTED[kind]
    assert error.kind == kind == type(error).KIND
    assert "something" in str(error)
    assert error.message == str(error)


def test_structured_fields() -> None:
    with pytest.raises(mlm.NotFoundError) as nf:
        _mlm.raise_error_kind("not_found", "churn")
    assert (nf.value.resource_kind, nf.value.resource_name) == ("model", "churn")
    assert str(nf.value) == "model 'churn' not found"
    assert nf.value.retryable is False

    with pytest.raises(mlm.ThrottledError) as th:
        _mlm.raise_error_kind("throttled", "slow down")
    assert th.value.retry_after == pytest.approx(1.5)
    assert th.value.retryable is True

    with pytest.raises(mlm.ProviderError) as pe:
        _mlm.raise_error_kind("provider", "backend broke")
    assert pe.value.detail == "disk on fire"
    assert pe.value.request_id == "req-0000-test"
    assert nf.value.request_id is None

    with pytest.raises(mlm.TimeoutError) as to:
        _mlm.raise_error_kind("timeout", "too slow")
    assert to.value.retryable is True


def test_builtin_bases() -> None:
    assert issubclass(mlm.InvalidArgumentError, ValueError)
    assert issubclass(mlm.TimeoutError, builtins.TimeoutError)
    for cls in EXPECTED.values():
        assert issubclass(cls, mlm.MlmError)
    with pytest.raises(ValueError):
        _mlm.raise_error_kind("invalid_argument", "bad")
    with pytest.raises(builtins.TimeoutError):
        _mlm.raise_error_kind("timeout", "slow")


def test_errors_pickle_with_their_fields() -> None:
    with pytest.raises(mlm.NotFoundError) as info:
        _mlm.raise_error_kind("not_found", "churn")
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is mlm.NotFoundError
    assert again.resource_name == "churn"
    assert str(again) == str(info.value)


def test_unknown_kind_is_a_plain_value_error() -> None:
    with pytest.raises(ValueError, match="not an error kind"):
        _mlm.raise_error_kind("nope", "x")


def test_argument_type_errors_are_type_errors() -> None:
    with pytest.raises(TypeError, match="cannot send a value of type object"):
        mlm.Client.local("/nonexistent", {"artifact_roots": [object()]})
