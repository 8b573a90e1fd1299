"""What the invoke path tells metrics: one tuple appended per event, nothing more.

The warm Invoke path must stay within microseconds of what it was, so a call here builds
one tuple and appends it to a list (bounded: past ``limit`` pending records new ones are
counted as lost, never stored). ``Aggregator.collect`` takes the list away off the hot
path and folds it into per-minute statistics. Single-threaded by design: everything runs on
the server's event loop, so the list needs no lock.
"""

from __future__ import annotations

import time
from typing import Any

INVOKE = 0
THROTTLE = 1
ASYNC_RECEIVED = 2
ASYNC_AGE = 3
ASYNC_DROPPED = 4
EMBEDDED = 5
MAPPING = 6

Record = tuple[Any, ...]


class Recorder:
    """Appends records of invocations and events for the aggregator to collect."""

    __slots__ = ("_pending", "limit", "lost")

    def __init__(self, limit: int = 200_000) -> None:
        self._pending: list[Record] = []
        self.limit = limit
        self.lost = 0

    def invoked(
        self,
        name: str,
        qualifier: str | None,
        version: str,
        duration_ms: float,
        error: bool,
        memory_size: int,
        max_memory_mb: int,
        load: tuple[int, int, int, float],
    ) -> None:
        """One finished invocation; ``load`` is the scheduler's concurrency at its end
        (the function's, the account's, the unreserved pool's, and the version's
        provisioned utilization or -1)."""
        pending = self._pending
        if len(pending) < self.limit:
            pending.append(
                (
                    INVOKE,
                    time.time(),
                    name,
                    qualifier,
                    version,
                    duration_ms,
                    error,
                    memory_size,
                    max_memory_mb,
                    load,
                )
            )
        else:
            self.lost += 1

    def throttled(self, name: str, qualifier: str | None, version: str) -> None:
        """An invocation refused for concurrency (not counted in Invocations, as on AWS)."""
        self._add((THROTTLE, time.time(), name, qualifier, version))

    def async_received(self, name: str, qualifier: str | None) -> None:
        """An Event invocation accepted into the queue."""
        self._add((ASYNC_RECEIVED, time.time(), name, qualifier))

    def async_age(self, name: str, qualifier: str | None, age_ms: float) -> None:
        """How long an event waited in the queue before a run of the function."""
        self._add((ASYNC_AGE, time.time(), name, qualifier, age_ms))

    def async_dropped(self, name: str, qualifier: str | None) -> None:
        """An event given up on without a successful run (expired, retries exhausted)."""
        self._add((ASYNC_DROPPED, time.time(), name, qualifier))

    def embedded(self, function: str, log: bytes) -> None:
        """Log text of an invocation that may hold Embedded Metric Format lines; parsed by
        the aggregator, never here."""
        self._add((EMBEDDED, time.time(), function, log))

    def mapping(
        self, uuid: str, polled: int, filtered: int, invoked: int, failed: int, deleted: int
    ) -> None:
        """One batch an event source mapping received and what became of its records."""
        self._add((MAPPING, time.time(), uuid, polled, filtered, invoked, failed, deleted))

    def _add(self, record: Record) -> None:
        if len(self._pending) < self.limit:
            self._pending.append(record)
        else:
            self.lost += 1

    def take(self) -> list[Record]:
        """Everything recorded since the last call (the aggregator owns it from now on)."""
        pending, self._pending = self._pending, []
        return pending
