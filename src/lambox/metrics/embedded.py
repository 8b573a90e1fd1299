"""The Embedded Metric Format: JSON log lines whose ``_aws.CloudWatchMetrics`` directives
name the metrics (and their dimensions) that the line's own members carry.

A line such as ``{"_aws": {"Timestamp": 1700000000000, "CloudWatchMetrics": [{"Namespace":
"shop", "Dimensions": [["Service"]], "Metrics": [{"Name": "Latency", "Unit":
"Milliseconds"}]}]}, "Service": "cart", "Latency": 12}`` becomes one ``Latency`` sample in
``shop`` with dimension ``Service=cart``. Lines that are not valid EMF are ignored, as
CloudWatch Logs keeps them as plain log events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

Sample = tuple[str, str, tuple[tuple[str, str], ...], float, str, float]
"""(namespace, metric, sorted dimensions, timestamp seconds, unit, value)."""


def samples(log: bytes, now: float) -> Iterator[Sample]:
    """Every metric sample the EMF lines of ``log`` hold."""
    for line in log.split(b"\n"):
        start = line.find(b"{")
        if start < 0 or b'"_aws"' not in line:
            continue
        try:
            document = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(document, dict):
            yield from _document(document, now)


def _document(document: dict[str, Any], now: float) -> Iterator[Sample]:
    meta = document.get("_aws")
    if not isinstance(meta, dict):
        return
    stamp = meta.get("Timestamp")
    ts = stamp / 1000 if isinstance(stamp, int | float) else now
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        return
    for directive in directives:
        if not isinstance(directive, dict):
            continue
        namespace = directive.get("Namespace")
        metrics = directive.get("Metrics")
        if not isinstance(namespace, str) or not isinstance(metrics, list):
            continue
        dimension_sets = directive.get("Dimensions") or [[]]
        for names in dimension_sets if isinstance(dimension_sets, list) else ():
            dims = _dimensions(document, names)
            if dims is None:
                continue
            for metric in metrics:
                if not isinstance(metric, dict) or not isinstance(metric.get("Name"), str):
                    continue
                name: str = metric["Name"]
                given = metric.get("Unit")
                unit = given if isinstance(given, str) else "None"
                for value in _values(document.get(name)):
                    yield namespace, name, dims, ts, unit, value


def _dimensions(document: dict[str, Any], names: Any) -> tuple[tuple[str, str], ...] | None:
    if not isinstance(names, list):
        return None
    pairs = []
    for name in names:
        value = document.get(name) if isinstance(name, str) else None
        if not isinstance(value, str):
            return None
        pairs.append((name, value))
    return tuple(sorted(pairs))


def _values(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, list):
        return [float(v) for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
    return []
