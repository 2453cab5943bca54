"""Guarded rollouts: an UpdateEndpoint with a DeploymentConfig, phase by phase.

With deployment guardrails SageMaker moves an update through phases that
DescribeEndpoint shows while the endpoint is ``Updating``, in
``PendingDeploymentSummary.ProductionVariants[].VariantStatus[]``:

* ``Creating`` while the new fleet is provisioned (``updating_seconds``);
* per traffic step, ``ActivatingTraffic`` (``traffic_step_seconds``) and then
  ``Baking`` for the config's ``WaitIntervalInSeconds`` (blue/green: canary
  step, then the final bake at 100 %; linear: one bake per step; all at once:
  one bake; rolling: one bake per batch);
* ``Deleting`` while the old fleet is kept for ``TerminationWaitInSeconds``;

then the endpoint is ``InService`` on the new config. The config's seconds are
multiplied by ``deployment_time_scale`` (default 0: no waiting), so a test can
run a 20 s bake in 1 s.

If an alarm of ``AutoRollbackConfiguration`` is in ``ALARM`` while traffic
shifts or bakes, the endpoint goes ``RollingBack`` (``rolling_back_seconds``)
and then ``InService`` on the **old** config, with a ``FailureReason`` naming
the alarm(s), as SageMaker does. Alarm states are read from moto's CloudWatch
backend of the same account and region each time the emulator settles (before
every request), so ``SetAlarmState`` is the switch. A silent failure queued
with ``/_mlm/fail-next-update`` rolls back once the new fleet is provisioned.
``MaximumExecutionTimeoutInSeconds`` is not enforced.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.utils import utcnow


@dataclass
class Segment:
    """A stretch of a rollout with one variant status."""

    seconds: float
    variant_status: str
    message: str
    watched: bool = False  # rollback alarms are checked during it
    failure: str | None = None  # a queued failure: roll back with this reason


def capacity_percent(size: dict | None, instances: int) -> int:
    """A ``CapacitySize`` as a share of the new fleet, in percent."""
    if not size:
        return 100
    value = int(size.get("Value") or 0)
    if size.get("Type") == "INSTANCE_COUNT":
        return min(100, math.ceil(100 * value / max(instances, 1)))
    return min(100, value)


def cumulative(step: int) -> list[int]:
    """Shares of traffic after each step of ``step`` percent: 30 -> [30, 60, 90, 100]."""
    step = max(step, 1)
    return [min(100, k * step) for k in range(1, math.ceil(100 / step) + 1)]


def traffic_plan(config: dict, instances: int) -> tuple[list[int], float, float]:
    """(share of traffic after each step, seconds baked after each, termination wait)."""
    rolling = config.get("RollingUpdatePolicy")
    if rolling:
        batch = capacity_percent(rolling.get("MaximumBatchSize"), instances)
        return cumulative(batch), float(rolling.get("WaitIntervalInSeconds") or 0), 0.0
    blue_green = config.get("BlueGreenUpdatePolicy") or {}
    routing = blue_green.get("TrafficRoutingConfiguration") or {}
    wait = float(routing.get("WaitIntervalInSeconds") or 0)
    termination = float(blue_green.get("TerminationWaitInSeconds") or 0)
    kind = routing.get("Type", "ALL_AT_ONCE")
    if kind == "CANARY":
        # The canary bakes, then everything shifts and the final bake follows.
        return [capacity_percent(routing.get("CanarySize"), instances), 100], wait, termination
    if kind == "LINEAR":
        step = capacity_percent(routing.get("LinearStepSize"), instances)
        return cumulative(step), wait, termination
    return [100], wait, termination


def plan_segments(
    config: dict, instances: int, settings: dict[str, float], failure: str | None
) -> list[Segment]:
    """The segments of a rollout under ``config``, with the account's timing settings."""
    provisioning = Segment(settings["updating_seconds"], "Creating", "Provisioning the new fleet")
    if failure is not None:
        return [provisioning, Segment(0, "Creating", "Health checks failed", failure=failure)]
    scale = settings["deployment_time_scale"]
    shares, wait, termination = traffic_plan(config, instances)
    segments = [provisioning]
    for share in shares:
        segments.append(
            Segment(
                settings["traffic_step_seconds"],
                "ActivatingTraffic",
                f"Activating traffic on {share}% of the new fleet's capacity",
                watched=True,
            )
        )
        segments.append(
            Segment(wait * scale, "Baking", f"Baking for {wait:g} seconds", watched=True)
        )
    if termination:
        segments.append(
            Segment(
                termination * scale,
                "Deleting",
                f"Terminating the old fleet after {termination:g} seconds",
            )
        )
    return segments


def rollback_alarms(config: dict) -> list[str]:
    alarms = (config.get("AutoRollbackConfiguration") or {}).get("Alarms") or []
    return [a["AlarmName"] for a in alarms if isinstance(a, dict) and a.get("AlarmName")]


def alarms_in_alarm(account: str, region: str, names: list[str]) -> list[str]:
    """Those of ``names`` that moto's CloudWatch has in state ALARM (missing ones are not)."""
    if not names:
        return []
    alarms = cloudwatch_backends[account][region].alarms
    return [n for n in names if getattr(alarms.get(n), "state_value", None) == "ALARM"]


def alarm_failure_reason(fired: list[str]) -> str:
    names = ", ".join(fired)
    return (
        f"Rolled back: CloudWatch alarm(s) {names} went into ALARM state during the "
        "deployment (mlm emulator); the endpoint serves the previous endpoint configuration."
    )


class Rollout:
    """One guarded UpdateEndpoint in progress (the ``Pending`` protocol of state.py)."""

    def __init__(
        self,
        endpoint: Any,
        segments: list[Segment],
        fired_alarms: Callable[[], list[str]],
        finish: Callable[[str | None], None],
        still_current: Callable[[], bool],
        now: float,
        rolling_back_seconds: float,
    ) -> None:
        self.endpoint = endpoint
        self.segments = segments
        self.fired_alarms = fired_alarms
        # finish(None): deployed; finish(reason): rolled back with that FailureReason.
        self.finish = finish
        self.still_current = still_current
        self.rolling_back_seconds = rolling_back_seconds
        self.started = now
        self.started_at = utcnow()
        self.index = 0
        self.segment_start = now
        self.rollback: tuple[float, str] | None = None  # (deadline, reason)

    def advance(self, now: float) -> bool:
        if not self.still_current():
            return True  # deleted meanwhile
        while True:
            if self.rollback is not None:
                deadline, reason = self.rollback
                if now < deadline:
                    return False
                self.finish(reason)
                return True
            if self.index >= len(self.segments):
                self.finish(None)
                return True
            segment = self.segments[self.index]
            reason = segment.failure
            if reason is None and segment.watched:
                fired = self.fired_alarms()
                reason = alarm_failure_reason(fired) if fired else None
            if reason is not None:
                self._start_rollback(now, reason)
                continue
            end = self.segment_start + segment.seconds
            if now < end:
                self._show("Updating", segment.variant_status, segment.message)
                return False
            self.segment_start = end
            self.index += 1

    def complete(self) -> None:
        if self.still_current():
            self.finish(self.rollback[1] if self.rollback else None)

    def _start_rollback(self, now: float, reason: str) -> None:
        self.rollback = (now + self.rolling_back_seconds, reason)
        self.segment_start = now
        self._show("RollingBack", "Deleting", "Rolling back to the previous fleet")

    def _show(self, status: str, variant_status: str, message: str) -> None:
        self.endpoint.endpoint_status = status
        summary = getattr(self.endpoint, "pending_deployment_summary", None)
        if not summary:
            return
        since = self.started_at + timedelta(seconds=self.segment_start - self.started)
        for variant in summary.get("ProductionVariants") or []:
            variant["VariantStatus"] = [
                {"Status": variant_status, "StatusMessage": message, "StartTime": since}
            ]
