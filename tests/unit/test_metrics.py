"""The metrics core: statistic sets and their percentiles, Embedded Metric Format lines,
and the aggregator's AWS/Lambda dimension sets, throttles, async figures and usage rows."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from lambox.metrics import embedded
from lambox.metrics.aggregator import Aggregator
from lambox.metrics.recorder import Recorder
from lambox.metrics.stats import StatSet
from lambox.metrics.store import MetricStore, merge

IDLE = (1, 1, 1, -1.0)


def test_percentiles_are_within_one_percent() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(3, 1) for _ in range(20_000)]
    stats = StatSet()
    for v in values:
        stats.add(v)
    ordered = sorted(values)
    for p in (50, 90, 99, 99.9):
        exact = ordered[int(len(ordered) * p / 100) - 1]
        assert stats.percentile(p) == pytest.approx(exact, rel=0.011)
    assert stats.statistic("Minimum") == min(values)
    assert stats.statistic("Maximum") == max(values)
    assert stats.statistic("Average") == pytest.approx(sum(values) / len(values))


def test_statistic_sets_merge_and_survive_rows() -> None:
    a, b = StatSet(), StatSet()
    for v in (1.0, 2.0, 3.0):
        a.add(v)
    b.add(0.0, 4)
    b.add(-5.0)
    a.merge(StatSet.from_row(*b.to_row()))
    assert (a.count, a.total, a.low, a.high) == (8, 1.0, -5.0, 3.0)
    assert a.percentile(50) == 0.0


def test_embedded_metric_format_lines() -> None:
    line = {
        "_aws": {
            "Timestamp": 1_700_000_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "shop",
                    "Dimensions": [["Service"], ["Service", "Region"]],
                    "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Hits"}],
                }
            ],
        },
        "Service": "cart",
        "Region": "eu",
        "Latency": [3, 4],
        "Hits": 1,
    }
    log = b"START\n2026-01-01T00:00:00Z\trid\tINFO\t" + json.dumps(line).encode() + b"\nnot json\n"
    got = sorted(embedded.samples(log, 0.0))
    assert got == sorted(
        [
            ("shop", "Latency", (("Service", "cart"),), 1_700_000_000.0, "Milliseconds", 3.0),
            ("shop", "Latency", (("Service", "cart"),), 1_700_000_000.0, "Milliseconds", 4.0),
            ("shop", "Hits", (("Service", "cart"),), 1_700_000_000.0, "None", 1.0),
            (
                "shop",
                "Latency",
                (("Region", "eu"), ("Service", "cart")),
                1_700_000_000.0,
                "Milliseconds",
                3.0,
            ),
            (
                "shop",
                "Latency",
                (("Region", "eu"), ("Service", "cart")),
                1_700_000_000.0,
                "Milliseconds",
                4.0,
            ),
            ("shop", "Hits", (("Region", "eu"), ("Service", "cart")), 1_700_000_000.0, "None", 1.0),
        ]
    )
    # A dimension whose value is missing drops that dimension set, as CloudWatch Logs does.
    broken = {**line, "_aws": {**line["_aws"], "Timestamp": 1}}
    del broken["Region"]
    assert {s[2] for s in embedded.samples(json.dumps(broken).encode(), 0.0)} == {
        (("Service", "cart"),)
    }


def _aggregator(tmp_path: Path) -> tuple[Recorder, Aggregator]:
    recorder = Recorder()
    return recorder, Aggregator(recorder, MetricStore(tmp_path / "metrics.db"), 10.0)


def _sum(agg: Aggregator, metric: str, dims: tuple[tuple[str, str], ...]) -> float:
    rows = agg.store.series("AWS/Lambda", metric, dims, 0, 2**40)
    return sum(s.total for s in merge(rows).values())


def test_alias_invocations_carry_every_dimension_set(tmp_path: Path) -> None:
    recorder, agg = _aggregator(tmp_path)
    recorder.invoked("f", None, "$LATEST", 5.0, False, 128, 40, IDLE)
    recorder.invoked("f", "live", "3", 7.0, True, 128, 60, (2, 3, 3, 0.5))
    recorder.invoked("f", "3", "3", 1.2, False, 128, 50, IDLE)
    recorder.throttled("f", "live", "3")
    agg.settle()
    fn = (("FunctionName", "f"),)
    live = (*fn, ("Resource", "f:live"))
    assert _sum(agg, "Invocations", ()) == 3
    assert _sum(agg, "Invocations", fn) == 3
    assert _sum(agg, "Invocations", live) == 1
    assert _sum(agg, "Errors", (("ExecutedVersion", "3"), *live)) == 1
    assert _sum(agg, "Invocations", (*fn, ("Resource", "f:3"))) == 1
    # A version is its own resource: no ExecutedVersion set for it.
    assert (
        agg.store.series(
            "AWS/Lambda",
            "Invocations",
            (("ExecutedVersion", "3"), *fn, ("Resource", "f:3")),
            0,
            2**40,
        )
        == []
    )
    assert _sum(agg, "Throttles", live) == 1
    assert _sum(agg, "ProvisionedConcurrencyUtilization", live) == 0.5
    usage = sorted((u.version, u.requests, u.billed_ms, u.max_memory) for u in agg.store.usage(0))
    # Billed duration rounds each invocation up to the millisecond: 7 and 2 (1.2 ms).
    assert usage == [("$LATEST", 1, 5, 40), ("3", 2, 9, 60)]


def test_async_figures(tmp_path: Path) -> None:
    recorder, agg = _aggregator(tmp_path)
    recorder.async_received("f", None)
    recorder.async_received("f", None)
    recorder.async_age("f", None, 250.0)
    recorder.async_dropped("f", None)
    agg.settle()
    fn = (("FunctionName", "f"),)
    assert _sum(agg, "AsyncEventsReceived", fn) == 2
    assert _sum(agg, "AsyncEventAge", fn) == 250.0
    assert _sum(agg, "AsyncEventsDropped", ()) == 1


def test_a_full_buffer_counts_what_it_drops(tmp_path: Path) -> None:
    recorder = Recorder(limit=2)
    for _ in range(5):
        recorder.throttled("f", None, "$LATEST")
    assert len(recorder.take()) == 2 and recorder.lost == 3


def test_history_is_read_back_after_reopening(tmp_path: Path) -> None:
    recorder, agg = _aggregator(tmp_path)
    recorder.invoked("f", None, "$LATEST", 5.0, False, 128, 40, IDLE)
    agg.settle()
    agg.store.close()
    again = MetricStore(tmp_path / "metrics.db")
    assert len(again.series("AWS/Lambda", "Duration", (("FunctionName", "f"),), 0, 2**40)) == 1
    again.close()


@pytest.mark.parametrize(
    ("memory", "used", "expected"),
    [
        (1024, 60, "lower to 128 MB"),
        (1024, 300, "lower to 448 MB"),
        (256, 240, "raise"),
        (256, 150, "ok"),
        (128, 0, "no Max Memory Used recorded"),
    ],
)
def test_right_sizing_hint(memory: int, used: int, expected: str) -> None:
    from lambox.metrics.cost import hint

    assert hint(memory, used).startswith(expected)


def test_cost_lines_bill_gb_seconds_at_the_architecture_price(tmp_path: Path) -> None:
    from lambox.metrics.cost import cost_lines, price_list
    from lambox.metrics.store import Usage

    usage = [
        Usage(0, "f", "$LATEST", 2048, 10, 4000, 100),
        Usage(60, "f", "$LATEST", 2048, 5, 1000, 120),
        Usage(0, "g", "1", 512, 1, 1, 30),
    ]
    lines = cost_lines(usage, lambda name: "arm64" if name == "f" else "x86_64")
    f, g = lines
    assert (f.requests, f.billed_ms, f.max_memory_used_mb) == (15, 5000, 120)
    assert f.gb_seconds == 10.0  # 5 s at 2 GB
    prices = price_list()
    assert f.total == pytest.approx(15 * 0.2 / 1e6 + 10.0 * prices["gb_second"]["arm64"])
    assert g.gb_seconds == pytest.approx(0.001 * 0.5)
    assert g.architecture == "x86_64"


def test_histogram_quantile_interpolates_within_buckets() -> None:
    from lambox.cli.observe import quantile

    buckets = {1.0: 0.0, 2.0: 50.0, 5.0: 100.0, float("inf"): 100.0}
    assert quantile(0.5, buckets) == 2.0
    assert quantile(0.25, buckets) == 1.5
    assert quantile(0.99, buckets) == pytest.approx(4.94)
    assert quantile(0.5, {float("inf"): 0.0}) is None


def test_since_accepts_durations_and_times() -> None:
    from lambox.cli.observe import since_seconds

    assert since_seconds("24h", 100_000.0) == 100_000.0 - 86_400
    assert since_seconds("1700000000", 0.0) == 1_700_000_000.0
    assert since_seconds("2023-11-14T22:13:20Z", 0.0) == 1_700_000_000.0


def test_grafana_dashboard_queries_only_exposed_metrics(tmp_path: Path) -> None:
    """Every series the dashboard in docs queries is one /metrics exposes."""
    import re

    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from lambox.metrics.prometheus import LamboxCollector

    recorder, agg = _aggregator(tmp_path)
    recorder.invoked("f", "live", "1", 5.0, True, 128, 40, (1, 1, 1, 0.5))
    recorder.async_received("f", None)
    recorder.async_age("f", None, 10.0)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LamboxCollector(agg, lambda: {"f": 1}))
    text = generate_latest(registry).decode()
    exposed = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    root = Path(__file__).resolve().parents[2]
    dashboard = json.loads((root / "docs/grafana/lambox-dashboard.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"lambox_[a-z_]+", target["expr"])
    }
    assert len(queried) >= 8
    assert queried <= exposed, queried - exposed


@pytest.mark.parametrize(
    ("host", "headers", "ours"),
    [
        (b"127.0.0.1:9000", [], True),
        (b"abc123.lambda-url.us-east-1.localhost:9000", [], False),
        (b"api1.execute-api.localhost:9000", [], False),
        (
            b"127.0.0.1:9000",
            [
                (
                    b"authorization",
                    b"AWS4-HMAC-SHA256 Credential=K/20260101/us-east-1/s3/aws4_request",
                )
            ],
            False,
        ),
    ],
)
def test_only_unsigned_requests_to_lambox_itself_get_the_scrape(
    tmp_path: Path, host: bytes, headers: list[tuple[bytes, bytes]], ours: bool
) -> None:
    import asyncio

    from lambox.metrics.endpoint import PrometheusEndpoint

    passed: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        passed.append(scope["path"])

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    _, agg = _aggregator(tmp_path)
    endpoint = PrometheusEndpoint(app, agg, dict)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "query_string": b"",
        "headers": [(b"host", host), *headers],
    }
    asyncio.run(endpoint(scope, receive, send))
    assert (passed == []) is ours
    assert bool(sent) is ours


def test_compaction_merges_the_rows_of_closed_minutes(tmp_path: Path) -> None:
    recorder, agg = _aggregator(tmp_path)
    for _ in range(3):  # three flushes of the same minute
        recorder.invoked("f", None, "$LATEST", 5.0, False, 128, 40, IDLE)
        agg.settle()
    fn = (("FunctionName", "f"),)
    before = agg.store.series("AWS/Lambda", "Invocations", fn, 0, 2**40)
    assert len(before) == 3
    removed = agg.store.compact(0, 2**40)
    after = agg.store.series("AWS/Lambda", "Invocations", fn, 0, 2**40)
    assert len(after) == 1 and removed > 0
    assert after[0][2].count == 3 and _sum(agg, "Duration", fn) == 15.0
    assert agg.store.compact(0, 2**40) == 0


def test_usage_bills_at_least_a_millisecond_an_invocation(tmp_path: Path) -> None:
    recorder, agg = _aggregator(tmp_path)
    for duration in (0.2, 0.0, 1.0, 2.5):  # billed 1, 1, 1, 3
        recorder.invoked("f", None, "$LATEST", duration, False, 128, 40, IDLE)
    agg.settle()
    usage = [(u.requests, u.billed_ms) for u in agg.store.usage(0)]
    assert usage == [(4, 6)]
