"""Metrics: what recording adds to one warm Invoke, and what folding costs off the path.

The hot path adds three things to ``InvokeService._finish``: the scheduler's ``load``
(plain lookups, not timed here), one ``Recorder.invoked`` (a tuple appended) and a
``b'"_aws"' in log`` test. The last two are timed here in process, a million times,
beside the floor of a method call with the same arguments that does nothing, because
their few hundred nanoseconds are far below what an end-to-end Invoke on a shared machine
can resolve. The fold (``collect``, off the hot path, on the flush loop) and the flush to
SQLite are timed per invocation too.
The end-to-end warm Invoke figures of ``warm_invoke`` include all of it.

Called from ``run.py``; prints nothing itself.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from lambox.metrics.aggregator import Aggregator
from lambox.metrics.recorder import Recorder
from lambox.metrics.store import MetricStore

LOG = b"2026-01-01T00:00:00.000Z\trid\tINFO\thello world from the handler\n"


class _Nothing:
    def invoked(self, *args: Any) -> None:
        pass


def _per_call_ns(fn: Any, n: int) -> float:
    t0 = time.perf_counter_ns()
    fn(n)
    return (time.perf_counter_ns() - t0) / n


def measure_metrics(quick: bool) -> dict[str, Any]:
    n = 100_000 if quick else 1_000_000
    load = (1, 1, 1, -1.0)
    nothing = _Nothing()

    def floor(count: int) -> None:
        call = nothing.invoked
        for _ in range(count):
            call("bench-fn", None, "$LATEST", 0.42, False, 128, 40, load)
            _ = b'"_aws"' in LOG

    recorder = Recorder(limit=n + 1)

    def record(count: int) -> None:
        call = recorder.invoked
        for _ in range(count):
            call("bench-fn", None, "$LATEST", 0.42, False, 128, 40, load)
            _ = b'"_aws"' in LOG

    floor_ns = min(_per_call_ns(floor, n) for _ in range(3))
    recorder.take()
    record_ns = _per_call_ns(record, n)  # once: the records are what the fold reads next
    with tempfile.TemporaryDirectory() as tmp:
        agg = Aggregator(recorder, MetricStore(Path(tmp) / "metrics.db"), 10.0)
        t0 = time.perf_counter_ns()
        agg.collect()
        fold_ns = (time.perf_counter_ns() - t0) / n
        t0 = time.perf_counter_ns()
        agg.flush()
        flush_ms = (time.perf_counter_ns() - t0) / 1e6
        agg.store.close()
    return {
        "calls": n,
        "floor_call_ns": floor_ns,
        "record_ns": record_ns,
        "added_per_invoke_ns": record_ns - floor_ns,
        "fold_per_invoke_ns": fold_ns,
        "flush_ms": flush_ms,
        "note": "hot path: Recorder.invoked + the EMF test, beside a no-op call with the same"
        " arguments; fold and flush run on the flush loop, not in the request.",
    }
