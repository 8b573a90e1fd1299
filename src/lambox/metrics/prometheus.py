"""The same figures on a Prometheus ``/metrics`` endpoint (text exposition format).

A custom collector reads the aggregator's running totals at scrape time, so the invoke
path never touches a prometheus-client object; duration histograms are derived from the
1%-wide buckets the totals keep (``StatSet``), cumulated into Prometheus' ``le`` bounds.
Live concurrency comes from the scheduler through a callable the server wires.

``metrics/endpoint.py`` serves it (and imports this module on the first scrape, not at
lambox's start-up: prometheus-client takes about 60 ms to import).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from lambox.metrics.aggregator import Aggregator
from lambox.metrics.stats import StatSet, bucket_value

BOUNDS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 900000)
LABELS = ("function_name", "resource", "executed_version")
Live = Callable[[], Mapping[str, int]]
"""Leases held now per function (the scheduler's busy counts)."""


def histogram_buckets(stats: StatSet) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs of a statistic set, ending with +Inf."""
    counts = [0.0] * len(BOUNDS_MS)
    for index, count in stats.histogram.items():
        value = bucket_value(index)
        for i, bound in enumerate(BOUNDS_MS):
            if value <= bound:
                counts[i] += count
                break
    out, running = [], 0.0
    for bound, count in zip(BOUNDS_MS, counts, strict=True):
        running += count
        out.append((f"{float(bound)}", running))
    out.append(("+Inf", stats.count))
    return out


class LamboxCollector(Collector):
    """Builds the metric families from the aggregator on each scrape."""

    def __init__(self, aggregator: Aggregator, live: Live) -> None:
        self._aggregator = aggregator
        self._live = live

    def collect(self) -> Iterator[Metric]:
        self._aggregator.collect()
        totals = self._aggregator.totals
        invocations = CounterMetricFamily(
            "lambox_invocations",
            "Invocations that ran the function (AWS/Lambda Invocations).",
            labels=LABELS,
        )
        errors = CounterMetricFamily(
            "lambox_errors", "Invocations that ended in a function error.", labels=LABELS
        )
        throttles = CounterMetricFamily(
            "lambox_throttles", "Invocations refused for concurrency.", labels=LABELS
        )
        duration = HistogramMetricFamily(
            "lambox_duration_milliseconds", "Time the function ran, per invocation.", labels=LABELS
        )
        received = CounterMetricFamily(
            "lambox_async_events_received", "Event invocations queued.", labels=LABELS[:2]
        )
        dropped = CounterMetricFamily(
            "lambox_async_events_dropped",
            "Event invocations given up on without a successful run.",
            labels=LABELS[:2],
        )
        age = HistogramMetricFamily(
            "lambox_async_event_age_milliseconds",
            "Time events waited in the queue before a run.",
            labels=LABELS[:2],
        )
        utilization = GaugeMetricFamily(
            "lambox_provisioned_concurrency_utilization",
            "Busy share of a version's provisioned concurrency at its last invocation.",
            labels=LABELS[:2],
        )
        for (name, resource, version), t in sorted(totals.items()):
            labels = [name, resource, version]
            if t.invocations or t.throttles:
                invocations.add_metric(labels, t.invocations)
                errors.add_metric(labels, t.errors)
                throttles.add_metric(labels, t.throttles)
            if t.duration.count:
                duration.add_metric(labels, histogram_buckets(t.duration), t.duration.total)
            if t.async_received or t.async_dropped or t.async_age.count:
                received.add_metric(labels[:2], t.async_received)
                dropped.add_metric(labels[:2], t.async_dropped)
                age.add_metric(labels[:2], histogram_buckets(t.async_age), t.async_age.total)
            if t.provisioned_utilization >= 0:
                utilization.add_metric(labels[:2], t.provisioned_utilization)
        live = self._live()
        concurrent = GaugeMetricFamily(
            "lambox_concurrent_executions",
            "Invocations running now, per function.",
            labels=["function_name"],
        )
        for name, busy in sorted(live.items()):
            concurrent.add_metric([name], busy)
        account = GaugeMetricFamily(
            "lambox_account_concurrent_executions", "Invocations running now, all functions."
        )
        account.add_metric([], sum(live.values()))
        lost = CounterMetricFamily(
            "lambox_metrics_records_lost", "Metric records dropped because the buffer was full."
        )
        lost.add_metric([], self._aggregator.lost)
        yield from (
            invocations,
            errors,
            throttles,
            duration,
            received,
            dropped,
            age,
            utilization,
            concurrent,
            account,
            lost,
        )


def exposition(aggregator: Aggregator, live: Live) -> Callable[[], bytes]:
    """The text exposition of a registry holding lambox's collector, rendered per call."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LamboxCollector(aggregator, live))
    return lambda: bytes(generate_latest(registry))
