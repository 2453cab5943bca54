"""Deployment policies: how an update moves traffic to the new fleet, and which alarms roll
it back (SageMaker's deployment guardrails, on every backend)::

    client.update_endpoint(
        "news", version=3,
        deployment=mlm.canary(10, bake_seconds=60, rollback_alarms=["errors"]),
        wait=True,
    )  # raises mlm.RolledBackError if "errors" fired during the canary

Each helper returns the policy as a plain dict (the REST API's ``DeploymentPolicy``), so a
dict written by hand works too. Limits (checked by the core): canary 1-50 %, linear steps
10-50 %, rolling batches 5-50 % (single-variant, instance-backed endpoints), waits 0-3600 s,
at most 10 rollback alarms.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional

__all__ = ["all_at_once", "canary", "linear", "rolling"]


def _policy(
    traffic: Dict[str, Any], rollback_alarms: Iterable[str], termination_wait_seconds: int
) -> Dict[str, Any]:
    return {
        "traffic": traffic,
        "rollback_alarms": list(rollback_alarms),
        "termination_wait_seconds": int(termination_wait_seconds),
    }


def all_at_once(
    *, rollback_alarms: Iterable[str] = (), termination_wait_seconds: int = 0
) -> Dict[str, Any]:
    """Shift all traffic at once (then watch ``rollback_alarms`` until the old fleet goes)."""
    return _policy({"type": "all_at_once"}, rollback_alarms, termination_wait_seconds)


def canary(
    percent: int,
    bake_seconds: int,
    *,
    rollback_alarms: Iterable[str] = (),
    termination_wait_seconds: int = 0,
) -> Dict[str, Any]:
    """Shift ``percent`` of the traffic, watch it for ``bake_seconds``, then the rest."""
    traffic = {"type": "canary", "percent": int(percent), "bake_seconds": int(bake_seconds)}
    return _policy(traffic, rollback_alarms, termination_wait_seconds)


def linear(
    step_percent: int,
    interval_seconds: int,
    *,
    rollback_alarms: Iterable[str] = (),
    termination_wait_seconds: int = 0,
) -> Dict[str, Any]:
    """Shift ``step_percent`` more of the traffic every ``interval_seconds``."""
    traffic = {
        "type": "linear",
        "step_percent": int(step_percent),
        "interval_seconds": int(interval_seconds),
    }
    return _policy(traffic, rollback_alarms, termination_wait_seconds)


def rolling(
    batch_percent: int,
    interval_seconds: int,
    *,
    rollback_batch_percent: Optional[int] = None,
    rollback_alarms: Iterable[str] = (),
    termination_wait_seconds: int = 0,
) -> Dict[str, Any]:
    """Replace ``batch_percent`` of the instances at a time, ``interval_seconds`` apart."""
    traffic: Dict[str, Any] = {
        "type": "rolling",
        "batch_percent": int(batch_percent),
        "interval_seconds": int(interval_seconds),
    }
    if rollback_batch_percent is not None:
        traffic["rollback_batch_percent"] = int(rollback_batch_percent)
    return _policy(traffic, rollback_alarms, termination_wait_seconds)
