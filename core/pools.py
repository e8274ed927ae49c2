"""In-memory view of each function's queue and containers, rebuilt from the store on start.

The store is the truth for what must not be lost (inputs, outputs); these objects are the
scheduler's working set: which inputs wait, which container runs what, how fast inputs go.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from strato.plugins.provider import ContainerHandle

#: A container that dies while running an input gets it retried this many times.
MAX_CRASHES_PER_INPUT = 3
#: Containers failing at start-up this many times in a row fail the function's queued inputs.
MAX_INIT_FAILURES = 3


@dataclass(eq=False, slots=True)
class QueuedInput:
    """One input waiting for, or assigned to, a container."""

    call_id: str
    idx: int
    method: str | None
    args: bytes
    attempt: int = 0
    crashes: int = 0
    not_before: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.call_id}:{self.idx}"

    def __lt__(self, other: QueuedInput) -> bool:
        return self.not_before < other.not_before


@dataclass(eq=False)
class Container:
    """A container the control plane started, as the scheduler tracks it."""

    id: str
    pool: FunctionPool
    token_hash: str
    provider: str
    handle: ContainerHandle | None = None
    peer: Any = None
    state: str = "starting"  # starting | ready | stopping | stopped
    assigned: dict[str, QueuedInput] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    ready_at: float | None = None
    idle_since: float = field(default_factory=time.monotonic)
    inputs_done: int = 0
    last_polled: float = 0.0
    secret_env: dict[str, str] = field(default_factory=dict, repr=False)
    #: volumes and bucket mounts the container sets up itself (a remote one; may hold secrets)
    sync: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def live(self) -> bool:
        return self.state in ("starting", "ready")


@dataclass(eq=False)
class FunctionPool:
    """A function's queue of inputs and its containers."""

    id: str
    app_id: str
    name: str
    definition: dict[str, Any]
    app_name: str | None = None
    queue: deque[QueuedInput] = field(default_factory=deque)
    delayed: list[QueuedInput] = field(default_factory=list)
    containers: dict[str, Container] = field(default_factory=dict)
    init_failures: int = 0
    avg_seconds: float | None = None
    notices_sent: bool = False
    overrides: dict[str, int] = field(default_factory=dict)
    stopped: bool = False  # its app stopped: start nothing more

    @property
    def options(self) -> dict[str, Any]:
        return self.definition.get("options", {})

    def setting(self, name: str, default: int) -> int:
        """An autoscaler setting: a runtime override, else the decorator's, else ``default``."""
        if name in self.overrides:
            return self.overrides[name]
        value = self.options.get(name)
        return default if value is None else int(value)

    @property
    def max_concurrent(self) -> int:
        return int(self.options.get("max_concurrent_inputs") or 1)

    @property
    def target_concurrent(self) -> int:
        return int(self.options.get("target_concurrent_inputs") or self.max_concurrent)

    def window(self) -> int:
        """How many inputs one container may hold: its concurrency plus a prefetch that grows
        as inputs get shorter, so fast maps are batched and slow ones stay balanced."""
        capacity = self.max_concurrent
        if self.avg_seconds is None:
            return capacity * 2
        if self.avg_seconds < 0.002:
            return capacity * 128
        if self.avg_seconds < 0.05:
            return capacity * 4
        return capacity

    def observe(self, seconds: float) -> None:
        """Fold one input's run time into the moving average."""
        self.avg_seconds = (
            seconds if self.avg_seconds is None else 0.9 * self.avg_seconds + 0.1 * seconds
        )

    def live_containers(self) -> list[Container]:
        return [c for c in self.containers.values() if c.live]

    def active_inputs(self) -> int:
        return (
            len(self.queue)
            + len(self.delayed)
            + sum(len(c.assigned) for c in self.containers.values())
        )

    def desired_containers(self, default_max: int) -> int:
        """Modal's autoscaler rule: enough containers for the work at the target concurrency,
        plus ``buffer_containers`` while active, at least ``min_containers``, at most
        ``max_containers``."""
        active = self.active_inputs()
        needed = math.ceil(active / self.target_concurrent) if active else 0
        if active:
            needed += self.setting("buffer_containers", 0)
        needed = max(needed, self.setting("min_containers", 0))
        return min(needed, self.setting("max_containers", default_max))

    def delay(self, item: QueuedInput, until: float) -> None:
        item.not_before = until
        heapq.heappush(self.delayed, item)

    def release_due(self, now: float) -> None:
        """Move retries whose backoff has passed back to the queue."""
        while self.delayed and self.delayed[0].not_before <= now:
            self.queue.append(heapq.heappop(self.delayed))

    def retry_delay(self, attempt: int) -> float:
        retries = self.options.get("retries") or {}
        initial = float(retries.get("initial_delay", 1.0))
        coefficient = float(retries.get("backoff_coefficient", 2.0))
        maximum = float(retries.get("max_delay", 60.0))
        return min(initial * coefficient ** max(attempt - 1, 0), maximum)

    @property
    def max_retries(self) -> int:
        retries = self.options.get("retries") or {}
        return int(retries.get("max_retries", 0))
