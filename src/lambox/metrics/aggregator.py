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
import collections
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
    MAPPING,
    THROTTLE,
    Record,
    Recorder,
)
from lambox.metrics.stats import StatSet
from lambox.metrics.store import Dimensions, Key, MetricStore, Usage

log = logging.getLogger(__name__)

NAMESPACE = "AWS/Lambda"
LATEST = "$LATEST"
COMPACT_EVERY = 30
"""Flushes between compactions of closed minutes (and expiry of old rows)."""
MAPPING_METRICS = (
    "PolledEventCount",
    "FilteredOutEventCount",
    "InvokedEventCount",
    "FailedInvokeEventCount",
    "DeletedEventCount",
)
"""An event source mapping's figures per batch, in the order ``Recorder.mapping`` takes."""
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

    durations: list[float] = field(default_factory=list)
    loads: list[tuple[int, int, int, float]] = field(default_factory=list)
    errors: int = 0
    max_memory: int = 0


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
        """Fold every pending record into the open minutes and the totals. Invocations,
        the bulk, are only sorted into their groups here (two appends each); the
        statistics are computed per group by ``_expand``."""
        groups = self._groups
        for record in self._recorder.take():
            try:
                if record[0] == INVOKE:
                    _, t, name, qualifier, version, duration, error, memory, used, load = record
                    key = (int(t) // 60 * 60, name, qualifier, version, memory)
                    group = groups.get(key)
                    if group is None:
                        group = groups[key] = _Group()
                    group.durations.append(duration)
                    group.loads.append(load)
                    if error:
                        group.errors += 1
                    if used > group.max_memory:
                        group.max_memory = used
                else:
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
        if kind == THROTTLE:
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
        elif kind == MAPPING:
            dims = (("EventSourceMappingUUID", record[2]),)
            for metric, count in zip(MAPPING_METRICS, record[3:], strict=True):
                self._point(metric, dims, minute, "Count").add(float(count))
        elif kind == EMBEDDED:
            for ns, metric, dims, ts, unit, value in embedded.samples(record[3], record[1]):
                key = (ns, metric, dims, int(ts), unit)
                found = self._open.get(key)
                if found is None:
                    found = self._open[key] = StatSet()
                found.add(value)

    def _expand(self) -> None:
        """Every group's figures under each of AWS's dimension sets, into the open minutes,
        the running totals and the usage rows."""
        groups, self._groups = self._groups, {}
        for (minute, name, qualifier, version, memory), g in groups.items():
            invocations = len(g.durations)
            duration = StatSet()
            duration.extend(g.durations)
            loads = collections.Counter(g.loads)
            concurrency: dict[int, int] = collections.Counter()
            account: dict[int, int] = collections.Counter()
            unreserved: dict[int, int] = collections.Counter()
            utilization = StatSet()
            for (function_load, everyone, free, used), count in loads.items():
                concurrency[function_load] += count
                account[everyone] += count
                unreserved[free] += count
                if used >= 0:
                    utilization.add(used, count)
            sets = _resource_sets(name, qualifier, version)
            errors = StatSet()
            if g.errors:
                errors.add(1.0, g.errors)
            if invocations > g.errors:
                errors.add(0.0, invocations - g.errors)
            for dims in sets:
                self._point("Invocations", dims, minute, "Count").add(1.0, invocations)
                self._point("Errors", dims, minute, "Count").merge(errors)
                self._point("Duration", dims, minute, "Milliseconds").merge(duration)
            for dims in sets[1:3]:
                self._point("ConcurrentExecutions", dims, minute, "Count").merge(
                    _counted(concurrency)
                )
            self._point("ConcurrentExecutions", (), minute, "Count").merge(_counted(account))
            self._point("UnreservedConcurrentExecutions", (), minute, "Count").merge(
                _counted(unreserved)
            )
            if utilization.count and qualifier:
                self._point("ProvisionedConcurrencyUtilization", sets[2], minute, "None").merge(
                    utilization
                )
            totals = self._totals(name, qualifier, version)
            totals.invocations += invocations
            totals.errors += g.errors
            totals.duration.merge(duration)
            if utilization.count:
                totals.provisioned_utilization = utilization.high
            usage = self._usage.get((minute, name, version, memory))
            if usage is None:
                usage = self._usage[(minute, name, version, memory)] = [0, 0, 0]
            usage[0] += invocations
            # AWS bills each invocation's duration rounded up to the millisecond, at least
            # 1 ms. A loop, not ``sum(max(1, ...))``: the builtin ``max`` costs about 800
            # instructions a call, and this runs once for every invocation.
            billed = 0
            for d in g.durations:
                ms = math.ceil(d)
                billed += ms if ms > 1 else 1
            usage[1] += billed
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
        compacted = 0
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
                    if passes % COMPACT_EVERY == 1:
                        # Minutes closed two minutes ago get no more rows: one row each.
                        closed = int(time.time()) // 60 * 60 - 120
                        self._store.compact(compacted, closed)
                        compacted = closed
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
