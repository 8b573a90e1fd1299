"""CloudWatch metrics: GetMetricStatistics, GetMetricData, ListMetrics and PutMetricData
over the metric history (``lambox.metrics``): AWS/Lambda's figures of every invocation,
the Embedded Metric Format lines functions log, and what clients put themselves.

Datapoints are bucketed by ``Period`` from ``StartTime``; a metric put with several units
answers one datapoint per unit in GetMetricStatistics (as CloudWatch does) and one merged
value with a ``MultipleUnits`` message in GetMetricData.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from lambox.errors import ServiceFault
from lambox.metrics.aggregator import Aggregator
from lambox.metrics.stats import StatSet
from lambox.metrics.store import Dimensions, Key, merge
from lambox.services.cloudwatch.expressions import evaluate

MAX_DATAPOINTS = 1440
LIST_PAGE = 500
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _invalid(message: str) -> ServiceFault:
    return ServiceFault("InvalidParameterValue", message, 400)


def _combination(message: str) -> ServiceFault:
    return ServiceFault("InvalidParameterCombination", message, 400)


def _dims(given: list[dict[str, Any]] | None) -> Dimensions:
    return tuple(sorted((d["Name"], d.get("Value", "")) for d in given or ()))


def _seconds(value: dt.datetime) -> float:
    return value.timestamp()


def _value_of(stats: StatSet, stat: str) -> float:
    if stat.startswith("p"):
        try:
            return stats.percentile(float(stat[1:]))
        except ValueError as exc:
            raise _invalid(f"The value {stat} for parameter Stat is invalid.") from exc
    return stats.statistic(stat)


class CloudWatchService:
    """The metric operations; ``operations`` maps names to handlers for the edge app."""

    def __init__(self, aggregator: Aggregator) -> None:
        self._aggregator = aggregator
        self._store = aggregator.store

    @property
    def operations(self) -> Mapping[str, Handler]:
        return {
            "GetMetricStatistics": self.get_metric_statistics,
            "GetMetricData": self.get_metric_data,
            "ListMetrics": self.list_metrics,
            "PutMetricData": self.put_metric_data,
        }

    # -- reading -------------------------------------------------------------------------------

    def _window(self, params: dict[str, Any], period: int) -> tuple[int, int]:
        start, end = _seconds(params["StartTime"]), _seconds(params["EndTime"])
        if start >= end:
            raise _invalid("The parameter StartTime must be less than the parameter EndTime.")
        if period <= 0:
            raise _invalid("The parameter Period must be greater than 0.")
        count = math.ceil((end - start) / period)
        if count > MAX_DATAPOINTS:
            raise _combination(
                f"You have requested up to {count} datapoints, which exceeds the limit of"
                f" {MAX_DATAPOINTS}. You may reduce the datapoints requested by increasing"
                " Period, or decreasing the time range."
            )
        return int(start), math.ceil(end)

    def _buckets(
        self, metric: dict[str, Any], start: int, end: int, period: int, unit: str | None
    ) -> dict[tuple[int, str], StatSet]:
        """(bucket start, unit) -> statistics of one metric in [start, end)."""
        rows = self._store.series(
            metric.get("Namespace", ""),
            metric.get("MetricName", ""),
            _dims(metric.get("Dimensions")),
            start,
            end,
        )
        out: dict[tuple[int, str], StatSet] = {}
        for (ts, row_unit), stats in merge(rows).items():
            if unit is not None and row_unit != unit:
                continue
            key = (start + (ts - start) // period * period, row_unit)
            found = out.get(key)
            if found is None:
                out[key] = stats
            else:
                found.merge(stats)
        return out

    def get_metric_statistics(self, params: dict[str, Any]) -> dict[str, Any]:
        statistics = params.get("Statistics") or []
        extended = params.get("ExtendedStatistics") or []
        if not statistics and not extended:
            raise ServiceFault(
                "MissingParameter",
                "Must specify either the Statistics or the ExtendedStatistics parameter.",
                400,
            )
        if statistics and extended:
            raise _combination(
                "The parameters Statistics and ExtendedStatistics are mutually exclusive and"
                " you have specified both."
            )
        period = int(params.get("Period", 60))
        start, end = self._window(params, period)
        self._aggregator.settle()
        datapoints = []
        for (ts, unit), stats in sorted(
            self._buckets(params, start, end, period, params.get("Unit")).items()
        ):
            point: dict[str, Any] = {
                "Timestamp": dt.datetime.fromtimestamp(ts, dt.UTC),
                "Unit": unit,
            }
            for name in statistics:
                point[name] = stats.statistic(name)
            if extended:
                point["ExtendedStatistics"] = {p: _value_of(stats, p) for p in extended}
            datapoints.append(point)
        return {"Label": params.get("MetricName", ""), "Datapoints": datapoints}

    def get_metric_data(self, params: dict[str, Any]) -> dict[str, Any]:
        queries = params.get("MetricDataQueries") or []
        self._aggregator.settle()
        series: dict[str, dict[int, float]] = {}
        results: list[tuple[dict[str, Any], dict[str, Any]]] = []
        labels = _default_labels(queries)
        for q in queries:
            result: dict[str, Any] = {"Id": q["Id"], "StatusCode": "Complete"}
            stat = q.get("MetricStat")
            if stat is not None:
                values, messages = self._metric_stat(params, stat)
                label = labels[q["Id"]]
                if messages:
                    result["Messages"] = messages
            elif q.get("Expression"):
                values = {
                    t: v for t, v in evaluate(q["Expression"], series).items() if math.isfinite(v)
                }
                label = q["Id"]
            else:
                raise _invalid(
                    f"The parameter MetricDataQueries.member.{len(results) + 1} must hold a"
                    " MetricStat or an Expression."
                )
            series[q["Id"]] = values
            result["Label"] = q.get("Label") or label
            results.append((q, result | {"_values": values}))
        ascending = params.get("ScanBy") == "TimestampAscending"
        out = []
        for q, result in results:
            values = result.pop("_values")
            if q.get("ReturnData", True) is False:
                continue
            stamps = sorted(values, reverse=not ascending)
            result["Timestamps"] = [dt.datetime.fromtimestamp(t, dt.UTC) for t in stamps]
            result["Values"] = [values[t] for t in stamps]
            out.append(result)
        return {"MetricDataResults": out, "Messages": []}

    def _metric_stat(
        self, params: dict[str, Any], stat: dict[str, Any]
    ) -> tuple[dict[int, float], list[dict[str, str]]]:
        period = int(stat.get("Period", 60))
        start, end = self._window(params, period)
        metric = stat.get("Metric", {})
        buckets = self._buckets(metric, start, end, period, stat.get("Unit"))
        merged: dict[int, StatSet] = {}
        units = sorted({unit for _, unit in buckets})
        for (ts, _), stats in buckets.items():
            found = merged.get(ts)
            if found is None:
                merged[ts] = stats
            else:
                found.merge(stats)
        messages = []
        if len(units) > 1:
            listed = ", ".join(units)
            messages.append(
                {"Code": "MultipleUnits", "Value": f"Multiple units returned: '[{listed}]'"}
            )
        name = stat.get("Stat", "Average")
        values = {ts: _value_of(stats, name) for ts, stats in merged.items()}
        return {t: v for t, v in values.items() if math.isfinite(v)}, messages

    def list_metrics(self, params: dict[str, Any]) -> dict[str, Any]:
        self._aggregator.settle()
        since = 0
        if params.get("RecentlyActive") == "PT3H":
            since = int(time.time()) - 3 * 3600
        wanted = [(d["Name"], d.get("Value")) for d in params.get("Dimensions") or ()]
        metrics = []
        for namespace, metric, dims in self._store.metrics(
            params.get("Namespace"), params.get("MetricName"), since
        ):
            present = dict(dims)
            if any(n not in present or (v is not None and present[n] != v) for n, v in wanted):
                continue
            metrics.append(
                {
                    "Namespace": namespace,
                    "MetricName": metric,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in dims],
                }
            )
        token = params.get("NextToken")
        start = 0
        if token is not None:
            if not token.isdigit() or int(token) > len(metrics):
                raise ServiceFault(
                    "InvalidNextToken",
                    "The service couldn't process your request because the NextToken is invalid.",
                    400,
                )
            start = int(token)
        page: dict[str, Any] = {"Metrics": metrics[start : start + LIST_PAGE]}
        if start + LIST_PAGE < len(metrics):
            page["NextToken"] = str(start + LIST_PAGE)
        return page

    # -- writing -------------------------------------------------------------------------------

    def put_metric_data(self, params: dict[str, Any]) -> dict[str, Any]:
        namespace = params.get("Namespace", "")
        if namespace.startswith("AWS/"):
            raise _invalid(f"The value {namespace} for parameter Namespace is invalid.")
        now = time.time()
        points: list[tuple[Key, StatSet]] = []
        for n, datum in enumerate(params.get("MetricData") or [], 1):
            points.append((_key(namespace, datum, now), _stats_of(datum, f"MetricData.member.{n}")))
        self._aggregator.put(points)
        return {}


def _default_labels(queries: list[dict[str, Any]]) -> dict[str, str]:
    """CloudWatch's label of a MetricStat query without one: the metric's name, followed by
    the statistic and the period when queries of the same metric differ in them."""

    def metric_of(q: dict[str, Any]) -> tuple[Any, ...]:
        m = q["MetricStat"].get("Metric", {})
        return (m.get("Namespace"), m.get("MetricName"), _dims(m.get("Dimensions")))

    stats = [q for q in queries if q.get("MetricStat") is not None]
    labels = {}
    for q in stats:
        same = [o["MetricStat"] for o in stats if metric_of(o) == metric_of(q)]
        stat = q["MetricStat"]
        parts = [stat.get("Metric", {}).get("MetricName", "")]
        if len({o.get("Stat") for o in same}) > 1:
            parts.append(str(stat.get("Stat")))
        if len({o.get("Period") for o in same}) > 1:
            parts.append(str(stat.get("Period")))
        labels[q["Id"]] = " ".join(parts)
    return labels


def _key(namespace: str, datum: dict[str, Any], now: float) -> Key:
    stamp = datum.get("Timestamp")
    ts = _seconds(stamp) if stamp is not None else now
    return (
        namespace,
        datum.get("MetricName", ""),
        _dims(datum.get("Dimensions")),
        int(ts),
        datum.get("Unit") or "None",
    )


def _stats_of(datum: dict[str, Any], where: str) -> StatSet:
    """One MetricDatum's samples, after AWS's checks of which members go together."""
    value, values, summary = datum.get("Value"), datum.get("Values"), datum.get("StatisticValues")
    for other, present in (("Values", values), ("StatisticValues", summary)):
        if value is not None and present is not None:
            raise _combination(
                f"The parameters {where}.Value and {where}.{other} are mutually exclusive and"
                " you have specified both."
            )
    counts = datum.get("Counts")
    if counts is not None and (values is None or len(counts) != len(values)):
        raise _invalid(
            f"The parameters {where}.Values and {where}.Counts must be of the same size."
        )
    for member, given in (("Value", value), ("Values", values), ("Counts", counts)):
        numbers = given if isinstance(given, list) else [given]
        for number in numbers:
            if number is not None and not math.isfinite(number):
                raise _invalid(f"The value {number} for parameter {where}.{member} is invalid.")
    if summary is not None and not all(math.isfinite(v) for v in summary.values()):
        raise _invalid(f"The values of parameter {where}.StatisticValues must be finite.")
    stats = StatSet()
    if value is not None:
        stats.add(float(value))
    elif values is not None:
        for i, item in enumerate(values):
            stats.add(float(item), float(counts[i]) if counts is not None else 1.0)
    elif summary is not None:
        stats.add_summary(
            float(summary["SampleCount"]),
            float(summary["Sum"]),
            float(summary["Minimum"]),
            float(summary["Maximum"]),
        )
    else:
        raise ServiceFault(
            "MissingParameter",
            f"The parameter {where}.Value is required.",
            400,
        )
    return stats
