"""The emulator's own state, kept beside moto's backends.

Everything tests can set or read is keyed by account (the ``x-moto-account-id``
header), so tests running in parallel against one emulator do not see each
other's settings, injected failures or request counts.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

# Keys accepted by POST /_mlm/config, with their defaults.
# 0 keeps moto's behaviour: endpoints are InService at once.
CONFIG_DEFAULTS: dict[str, float] = {
    "creating_seconds": 0.0,  # CreateEndpoint -> Creating for N s
    "updating_seconds": 0.0,  # UpdateEndpoint -> Updating for N s (new fleet provisioning)
    "weights_updating_seconds": 0.0,  # UpdateEndpointWeightsAndCapacities
    # Guarded rollouts (UpdateEndpoint with a DeploymentConfig), see rollout.py:
    "deployment_time_scale": 0.0,  # x the config's waits (bake, interval, termination)
    "traffic_step_seconds": 0.0,  # each traffic step shows ActivatingTraffic for N s
    "rolling_back_seconds": 0.0,  # RollingBack for N s before InService on the old config
}


@dataclass
class AccountState:
    config: dict[str, float] = field(default_factory=lambda: dict(CONFIG_DEFAULTS))
    # endpoint name -> FailureReason of the next UpdateEndpoint on it
    failing_updates: dict[str, str] = field(default_factory=dict)
    # endpoint name -> FailureReason of the next CreateEndpoint of it
    failing_creates: dict[str, str] = field(default_factory=dict)
    request_counts: Counter = field(default_factory=Counter)


class Pending(Protocol):
    """Something an endpoint is going through: a status window or a rollout."""

    endpoint: Any  # moto FakeEndpoint, compared by identity

    def advance(self, now: float) -> bool:
        """Brings the endpoint up to time ``now`` (time.monotonic()); True once done."""
        ...

    def complete(self) -> None:
        """Ends at once, as if its time had passed (used by resets)."""
        ...


@dataclass
class Transition:
    """An endpoint in Creating/Updating that will settle at ``deadline``."""

    deadline: float  # time.monotonic()
    endpoint: Any  # moto FakeEndpoint, compared by identity when settling
    finish: Callable[[], None]

    def advance(self, now: float) -> bool:
        if now < self.deadline:
            return False
        self.finish()
        return True

    def complete(self) -> None:
        self.finish()


class EmulatorState:
    def __init__(self) -> None:
        # One lock for our state and for every SageMaker call into moto: moto's
        # in-memory backends are not written for concurrent mutation, and our
        # read-modify-write of its endpoint records must not interleave.
        self.lock = threading.RLock()
        self.accounts: dict[str, AccountState] = {}
        # (account, region, endpoint name) -> pending transition or rollout
        self.transitions: dict[tuple[str, str, str], Pending] = {}
        # (account, region, model package group) -> number of deleted versions;
        # see sagemaker.create_model_package for why this is needed.
        self.deleted_versions: Counter = Counter()

    def account(self, account_id: str) -> AccountState:
        with self.lock:
            return self.accounts.setdefault(account_id, AccountState())

    def count(self, account_id: str, operation: str) -> None:
        with self.lock:
            self.account(account_id).request_counts[operation] += 1

    def settle(self) -> None:
        """Bring every transition and rollout up to now; drop the finished ones.

        Settling lazily, before each request is handled, makes the visible status
        depend only on time (and, for rollouts, on alarm states), without a timer
        thread touching moto's backends.
        """
        now = time.monotonic()
        with self.lock:
            for key, pending in list(self.transitions.items()):
                if pending.advance(now) and self.transitions.get(key) is pending:
                    del self.transitions[key]

    def reset_account(self, account_id: str) -> None:
        with self.lock:
            self.accounts.pop(account_id, None)
            # Finish rather than drop pending transitions: a dropped one would
            # leave its endpoint Creating/Updating for ever.
            for key in [k for k in self.transitions if k[0] == account_id]:
                self.transitions.pop(key).complete()
            for key in [k for k in self.deleted_versions if k[0] == account_id]:
                del self.deleted_versions[key]

    def reset_all(self) -> None:
        with self.lock:
            self.accounts.clear()
            self.transitions.clear()
            self.deleted_versions.clear()
