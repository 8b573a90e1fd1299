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
    provisioned_utilization: float = -1.0
    async_received: int = 0
    async_dropped: int = 0
    async_age: StatSet = field(default_factory=StatSet)


@dataclass(slots=True)
class _Group:
    """One minute of one function version's invocations under one qualifier."""

    invocations: int = 0
    errors: int = 0
    billed_ms: int = 0
    max_memory: int = 0
    duration: StatSet = field(default_factory=StatSet)
    # Concurrency samples are small integers that repeat: counted per value, turned into
    # statistic sets once per group.
    concurrency: dict[int, int] = field(default_factory=dict)
    account: dict[int, int] = field(default_factory=dict)
    unreserved: dict[int, int] = field(default_factory=dict)
    utilization: StatSet = field(default_factory=StatSet)


def _counted(counts: dict[int, int]) -> StatSet:
    stats = StatSet()
    for value, count in counts.items():
        stats.add(float(value), float(count))
    return stats


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
        self._groups: dict[tuple[int, str, str | None, str, int], _Group] = {}
        self._usage: dict[tuple[int, str, str, int], list[int]] = {}
        self.totals: dict[Series, Totals] = {}
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
        self._expand()

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
        """One invocation into its group: per record only a lookup and a few additions;
        the dimension sets are written once per group by ``_expand``."""
        key = (minute, name, qualifier, version, memory)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        group.invocations += 1
        group.errors += error
        group.duration.add(duration)
        group.billed_ms += max(1, math.ceil(duration))
        if max_memory > group.max_memory:
            group.max_memory = max_memory
        function_load, account, unreserved, utilization = load
        counts = group.concurrency
        counts[function_load] = counts.get(function_load, 0) + 1
        counts = group.account
        counts[account] = counts.get(account, 0) + 1
        counts = group.unreserved
        counts[unreserved] = counts.get(unreserved, 0) + 1
        if utilization >= 0:
            group.utilization.add(utilization)

    def _expand(self) -> None:
        """Every group's figures under each of AWS's dimension sets, into the open minutes,
        the running totals and the usage rows."""
        groups, self._groups = self._groups, {}
        for (minute, name, qualifier, version, memory), g in groups.items():
            sets = _resource_sets(name, qualifier, version)
            errors = StatSet()
            if g.errors:
                errors.add(1.0, g.errors)
            if g.invocations > g.errors:
                errors.add(0.0, g.invocations - g.errors)
            for dims in sets:
                self._point("Invocations", dims, minute, "Count").add(1.0, g.invocations)
                self._point("Errors", dims, minute, "Count").merge(errors)
                self._point("Duration", dims, minute, "Milliseconds").merge(g.duration)
            for dims in sets[1:3]:
                self._point("ConcurrentExecutions", dims, minute, "Count").merge(
                    _counted(g.concurrency)
                )
            self._point("ConcurrentExecutions", (), minute, "Count").merge(_counted(g.account))
            self._point("UnreservedConcurrentExecutions", (), minute, "Count").merge(
                _counted(g.unreserved)
            )
            if g.utilization.count and qualifier:
                self._point("ProvisionedConcurrencyUtilization", sets[2], minute, "None").merge(
                    g.utilization
                )
            totals = self._totals(name, qualifier, version)
            totals.invocations += g.invocations
            totals.errors += g.errors
            totals.duration.merge(g.duration)
            if g.utilization.count:
                totals.provisioned_utilization = g.utilization.high
            usage = self._usage.get((minute, name, version, memory))
            if usage is None:
                usage = self._usage[(minute, name, version, memory)] = [0, 0, 0]
            usage[0] += g.invocations
            usage[1] += g.billed_ms
            usage[2] = max(usage[2], g.max_memory)

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
        last_flush = time.monotonic()
        while True:
            # Folding every second keeps each pass short (a second of records), so the
            # event loop is never held for long; the store is written every interval.
            await asyncio.sleep(min(1.0, self._interval))
            try:
                started = time.perf_counter()
                self.collect()
                if time.monotonic() - last_flush >= self._interval:
                    last_flush = time.monotonic()
                    self.flush()
                    passes += 1
                    if passes % 360 == 0:
                        self._store.expire(time.time())
                log.debug("metrics pass took %.1f ms", (time.perf_counter() - started) * 1000)
            except Exception:
                log.exception("metrics pass failed; retrying next pass")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            self.settle()
        finally:
            self._store.close()
