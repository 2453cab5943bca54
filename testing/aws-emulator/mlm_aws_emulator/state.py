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
from typing import Any

# Keys accepted by POST /_mlm/config, with their defaults (seconds).
# 0 keeps moto's behaviour: endpoints are InService at once.
CONFIG_DEFAULTS: dict[str, float] = {
    "creating_seconds": 0.0,  # CreateEndpoint -> Creating for N s
    "updating_seconds": 0.0,  # UpdateEndpoint -> Updating for N s
    "weights_updating_seconds": 0.0,  # UpdateEndpointWeightsAndCapacities
}


@dataclass
class AccountState:
    config: dict[str, float] = field(default_factory=lambda: dict(CONFIG_DEFAULTS))
    # endpoint name -> FailureReason of the next UpdateEndpoint on it
    failing_updates: dict[str, str] = field(default_factory=dict)
    request_counts: Counter = field(default_factory=Counter)


@dataclass
class Transition:
    """An endpoint in Creating/Updating that will settle at ``deadline``."""

    deadline: float  # time.monotonic()
    endpoint: Any  # moto FakeEndpoint, compared by identity when settling
    finish: Callable[[], None]


class EmulatorState:
    def __init__(self) -> None:
        # One lock for our state and for every SageMaker call into moto: moto's
        # in-memory backends are not written for concurrent mutation, and our
        # read-modify-write of its endpoint records must not interleave.
        self.lock = threading.RLock()
        self.accounts: dict[str, AccountState] = {}
        # (account, region, endpoint name) -> pending transition
        self.transitions: dict[tuple[str, str, str], Transition] = {}
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
        """Finish every transition whose window has passed.

        Settling lazily, before each request is handled, makes the visible status
        depend only on time, without a timer thread touching moto's backends.
        """
        now = time.monotonic()
        with self.lock:
            due = [key for key, t in self.transitions.items() if t.deadline <= now]
            for key in due:
                self.transitions.pop(key).finish()

    def reset_account(self, account_id: str) -> None:
        with self.lock:
            self.accounts.pop(account_id, None)
            # Finish rather than drop pending transitions: a dropped one would
            # leave its endpoint Creating/Updating for ever.
            for key in [k for k in self.transitions if k[0] == account_id]:
                self.transitions.pop(key).finish()
            for key in [k for k in self.deleted_versions if k[0] == account_id]:
                del self.deleted_versions[key]

    def reset_all(self) -> None:
        with self.lock:
            self.accounts.clear()
            self.transitions.clear()
            self.deleted_versions.clear()
