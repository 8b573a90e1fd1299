"""Folds the recorder's records into per-minute statistics with AWS's dimensions, keeps the
running totals Prometheus reads, and flushes minutes to the store.

Off the hot path: ``collect`` runs from the flush loop and before every query, so what a
client reads always includes every invocation that finished before its request.

AWS/Lambda's dimension sets, as CloudWatch lists them: none (the account), ``FunctionName``,
``FunctionName`` + ``Resource`` (``name:qualifier`` for a qualified invocation), and for an
invocation through an alias also ``ExecutedVersion`` (the version the alias routed to).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from lambox.metrics import embedded
from lambox.metrics.recorder import (
    ASYNC_AGE,
    ASYNC_DROPPED,
    ASYNC_RECEIVED,
    EMBEDDED,
    INVOKE,
    THROTTLE,
    Record,
    Recorder,
)
from lambox.metrics.stats import StatSet
from lambox.metrics.store import Dimensions, Key, MetricStore, Usage

log = logging.getLogger(__name__)

NAMESPACE = "AWS/Lambda"
LATEST = "$LATEST"
Series = tuple[str, str, str]
"""(function, resource, executed version) of Prometheus' labels; '' where not set."""


@dataclass(slots=True)
class Totals:
    """Running figures of one label set since the server started (Prometheus)."""

    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    duration: StatSet = field(default_factory=StatSet)
    concurrency: int = 0
    provisioned_utilization: float = -1.0
    async_received: int = 0
    async_dropped: int = 0
    async_age: StatSet = field(default_factory=StatSet)


def _resource_sets(name: str, qualifier: str | None, version: str) -> list[Dimensions]:
    base = (("FunctionName", name),)
    sets: list[Dimensions] = [(), base]
    if qualifier:
        resource = (("FunctionName", name), ("Resource", f"{name}:{qualifier}"))
        sets.append(resource)
        if qualifier != LATEST and not qualifier.isdigit():
            sets.append((("ExecutedVersion", version), *resource))
    return sets


class Aggregator:
    """Owns the open minutes, the running totals and the flush to ``store``."""

    def __init__(self, recorder: Recorder, store: MetricStore, flush_interval: float) -> None:
        self._recorder = recorder
        self._store = store
        self._interval = flush_interval
        self._open: dict[Key, StatSet] = {}
        self._usage: dict[tuple[int, str, str, int], list[int]] = {}
        self.totals: dict[Series, Totals] = {}
        self.account_concurrency = 0
        self.unreserved_concurrency = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def store(self) -> MetricStore:
        return self._store

    @property
    def lost(self) -> int:
        """Records the recorder dropped because its buffer was full."""
        return self._recorder.lost

    # -- folding -------------------------------------------------------------------------------

    def collect(self) -> None:
        """Fold every pending record into the open minutes and the totals."""
        for record in self._recorder.take():
            try:
                self._fold(record)
            except Exception:
                log.exception("a metrics record could not be folded: %r", record[:3])

    def _point(self, metric: str, dims: Dimensions, ts: int, unit: str) -> StatSet:
        key = (NAMESPACE, metric, dims, ts, unit)
        found = self._open.get(key)
        if found is None:
            found = self._open[key] = StatSet()
        return found

    def _totals(self, name: str, qualifier: str | None, version: str) -> Totals:
        series = (name, f"{name}:{qualifier}" if qualifier else "", version)
        found = self.totals.get(series)
        if found is None:
            found = self.totals[series] = Totals()
        return found

    def _fold(self, record: Record) -> None:
        kind = record[0]
        minute = int(record[1]) // 60 * 60
        if kind == INVOKE:
            self._invoked(minute, *record[2:])
        elif kind == THROTTLE:
            _, _, name, qualifier, version = record
            for dims in _resource_sets(name, qualifier, version):
                self._point("Throttles", dims, minute, "Count").add(1.0)
            self._totals(name, qualifier, version).throttles += 1
        elif kind in (ASYNC_RECEIVED, ASYNC_DROPPED):
            name, qualifier = record[2], record[3]
            metric = "AsyncEventsReceived" if kind == ASYNC_RECEIVED else "AsyncEventsDropped"
            for dims in _resource_sets(name, qualifier, "")[:3]:
                self._point(metric, dims, minute, "Count").add(1.0)
            totals = self._totals(name, qualifier, "")
            if kind == ASYNC_RECEIVED:
                totals.async_received += 1
            else:
                totals.async_dropped += 1
        elif kind == ASYNC_AGE:
            name, qualifier, age = record[2], record[3], record[4]
            for dims in _resource_sets(name, qualifier, "")[:3]:
                self._point("AsyncEventAge", dims, minute, "Milliseconds").add(age)
            self._totals(name, qualifier, "").async_age.add(age)
        elif kind == EMBEDDED:
            for ns, metric, dims, ts, unit, value in embedded.samples(record[3], record[1]):
                key = (ns, metric, dims, int(ts), unit)
                found = self._open.get(key)
                if found is None:
                    found = self._open[key] = StatSet()
                found.add(value)

    def _invoked(
        self,
        minute: int,
        name: str,
        qualifier: str | None,
        version: str,
        duration: float,
        error: bool,
        memory: int,
        max_memory: int,
        load: tuple[int, int, int, float],
    ) -> None:
        function_load, account, unreserved, utilization = load
        sets = _resource_sets(name, qualifier, version)
        for dims in sets:
            self._point("Invocations", dims, minute, "Count").add(1.0)
            self._point("Errors", dims, minute, "Count").add(1.0 if error else 0.0)
            self._point("Duration", dims, minute, "Milliseconds").add(duration)
        for dims in sets[:3]:
            self._point("ConcurrentExecutions", dims, minute, "Count").add(
                float(account if not dims else function_load)
            )
        self._point("UnreservedConcurrentExecutions", (), minute, "Count").add(float(unreserved))
        if utilization >= 0 and qualifier:
            self._point("ProvisionedConcurrencyUtilization", sets[2], minute, "None").add(
                utilization
            )
        totals = self._totals(name, qualifier, version)
        totals.invocations += 1
        totals.errors += error
        totals.duration.add(duration)
        totals.concurrency = function_load
        totals.provisioned_utilization = utilization
        self.account_concurrency = account
        self.unreserved_concurrency = unreserved
        usage = self._usage.get((minute, name, version, memory))
        if usage is None:
            usage = self._usage[(minute, name, version, memory)] = [0, 0, 0]
        usage[0] += 1
        usage[1] += max(1, math.ceil(duration))
        usage[2] = max(usage[2], max_memory)

    def put(self, points: Iterable[tuple[Key, StatSet]]) -> None:
        """Samples from outside the invoke path (PutMetricData), stored at once."""
        self.collect()
        self.flush()
        self._store.write(points, ())

    # -- flushing ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the open statistics and usage to the store and start afresh."""
        points, self._open = self._open, {}
        usage, self._usage = self._usage, {}
        rows = [
            Usage(ts, name, version, memory, *figures)
            for (ts, name, version, memory), figures in usage.items()
        ]
        self._store.write(points.items(), rows)

    def settle(self) -> None:
        """Everything recorded so far, readable from the store (before a query)."""
        self.collect()
        self.flush()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        """The flush loop: never dies, each pass logged when it fails."""
        passes = 0
        while True:
            await asyncio.sleep(self._interval)
            try:
                started = time.perf_counter()
                self.settle()
                passes += 1
                if passes % 360 == 0:
                    self._store.expire(time.time())
                log.debug("metrics flush took %.1f ms", (time.perf_counter() - started) * 1000)
            except Exception:
                log.exception("metrics flush failed; retrying next pass")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            self.settle()
        finally:
            self._store.close()
