"""``lambox cost`` and ``lambox top``: the server's usage and live figures as tables.

``cost`` reads ``/lambox/v1/cost``; ``top`` scrapes the Prometheus ``/metrics`` endpoint
every interval and shows per function what changed since the previous scrape
(invocations/s, errors, throttles, p50/p99 duration interpolated within the histogram's
buckets, as PromQL's ``histogram_quantile`` does) beside the concurrency now.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def since_seconds(text: str, now: float) -> float:
    """``--since``: a duration back from now (``30m``, ``24h``, ``7d``), an ISO 8601 time
    (UTC when it names no zone) or epoch seconds."""
    found = _RELATIVE.match(text.strip())
    if found:
        return now - float(found[1]) * _UNITS[found[2]]
    try:
        return float(text)
    except ValueError:
        pass
    stamp = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.timestamp()


def cost_table(body: dict[str, Any]) -> Any:
    """The Rich table of a ``/lambox/v1/cost`` answer."""
    from rich.table import Table

    prices = body["PriceList"]
    since = dt.datetime.fromtimestamp(body["Since"], dt.UTC).strftime("%Y-%m-%d %H:%M")
    table = Table(
        "Function",
        "Version",
        "Memory",
        "Requests",
        "Billed duration",
        "GB-s",
        "Max used",
        "AWS cost",
        "Right-sizing",
        title=f"Use since {since} UTC, priced as AWS Lambda {prices['region']}"
        f" (price list of {prices['as_of']})",
    )
    for line in body["Functions"]:
        table.add_row(
            line["function"],
            line["version"],
            f"{line['memory_mb']} MB",
            f"{line['requests']:,}",
            f"{line['billed_ms']:,} ms",
            f"{line['gb_seconds']:.3f}",
            f"{line['max_memory_used_mb']} MB",
            f"${line['total']:.6f}",
            line["hint"],
        )
    table.add_section()
    table.add_row("Total", "", "", "", "", "", "", f"${body['Total']:.6f}", "")
    return table


@dataclass
class Snapshot:
    """One scrape of ``/metrics``, summed per function."""

    at: float
    invocations: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    errors: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    throttles: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    buckets: dict[str, dict[float, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    concurrency: dict[str, float] = field(default_factory=dict)


def parse_scrape(text: str, at: float) -> Snapshot:
    from prometheus_client.parser import text_string_to_metric_families

    snap = Snapshot(at)
    by_name = {
        "lambox_invocations_total": snap.invocations,
        "lambox_errors_total": snap.errors,
        "lambox_throttles_total": snap.throttles,
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            fn = sample.labels.get("function_name", "")
            if sample.name in by_name:
                by_name[sample.name][fn] += sample.value
            elif sample.name == "lambox_duration_milliseconds_bucket":
                snap.buckets[fn][float(sample.labels["le"])] += sample.value
            elif sample.name == "lambox_concurrent_executions":
                snap.concurrency[fn] = sample.value
    return snap


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """``histogram_quantile`` over cumulative (le, count) pairs; None without samples."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= rank:
            if le == float("inf"):
                return lower
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower


def top_table(before: Snapshot, after: Snapshot) -> Any:
    from rich.table import Table

    seconds = max(after.at - before.at, 1e-6)
    table = Table(
        "Function", "Invocations/s", "p50 ms", "p99 ms", "Errors", "Throttles", "Concurrency",
        title=f"lambox top: the last {seconds:.1f} s",
    )  # fmt: skip
    names = sorted(set(after.invocations) | set(after.throttles) | set(after.concurrency))
    for fn in names:
        delta = {
            le: after.buckets[fn][le] - before.buckets.get(fn, {}).get(le, 0.0)
            for le in after.buckets.get(fn, {})
        }
        p50, p99 = quantile(0.5, delta), quantile(0.99, delta)
        table.add_row(
            fn,
            f"{(after.invocations[fn] - before.invocations.get(fn, 0.0)) / seconds:.1f}",
            "-" if p50 is None else f"{p50:.2f}",
            "-" if p99 is None else f"{p99:.2f}",
            f"{after.errors[fn] - before.errors.get(fn, 0.0):.0f}",
            f"{after.throttles[fn] - before.throttles.get(fn, 0.0):.0f}",
            f"{after.concurrency.get(fn, 0.0):.0f}",
        )
    return table


def run_top(
    scrape: Callable[[], str], interval: float, frames: int | None, show: Callable[[Any], None]
) -> None:
    """Scrape, wait, scrape again and ``show`` the table of the difference; ``frames``
    tables at most (None: until interrupted)."""
    before = parse_scrape(scrape(), time.time())
    shown = 0
    while frames is None or shown < frames:
        time.sleep(interval)
        after = parse_scrape(scrape(), time.time())
        show(top_table(before, after))
        before = after
        shown += 1
