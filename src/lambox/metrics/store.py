"""Metric history in SQLite (``metrics.db`` in the data dir), so restarts keep it.

``datapoints`` holds one statistic set per (namespace, metric, dimensions, second, unit)
and flush: several rows of the same key (one per flush of a minute) are merged when read,
so a flush is a plain insert and never a read-modify-write. ``usage`` holds what cost
needs per minute, function and version: requests, billed milliseconds and memory.
Rows older than the retention are dropped on flush.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambox.metrics.stats import StatSet
from lambox.store.sqlite import Guarded, connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS datapoints (
    namespace TEXT NOT NULL,
    metric TEXT NOT NULL,
    dims TEXT NOT NULL,
    ts INTEGER NOT NULL,
    unit TEXT NOT NULL,
    count REAL NOT NULL,
    total REAL NOT NULL,
    low REAL NOT NULL,
    high REAL NOT NULL,
    hist TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS datapoints_key ON datapoints (namespace, metric, dims, ts);
CREATE TABLE IF NOT EXISTS usage (
    ts INTEGER NOT NULL,
    function TEXT NOT NULL,
    version TEXT NOT NULL,
    memory INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    billed_ms INTEGER NOT NULL,
    max_memory INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_ts ON usage (ts);
"""

Dimensions = tuple[tuple[str, str], ...]
"""Dimension (name, value) pairs, sorted by name: the identity of a metric's series."""
Key = tuple[str, str, Dimensions, int, str]
"""(namespace, metric, dimensions, timestamp second, unit)."""


def dims_text(dims: Dimensions) -> str:
    return json.dumps([list(pair) for pair in dims], separators=(",", ":"))


def dims_of(text: str) -> Dimensions:
    return tuple((str(n), str(v)) for n, v in json.loads(text))


@dataclass(frozen=True, slots=True)
class Usage:
    """One minute of one function version's billable use."""

    ts: int
    function: str
    version: str
    memory: int
    requests: int
    billed_ms: int
    max_memory: int


class MetricStore:
    """Datapoints and usage rows; every call is one short transaction."""

    def __init__(self, path: Path, retention_days: float = 15.0) -> None:
        self._db = connect(path)
        self._db.executescript(SCHEMA)
        self._guard = Guarded(self._db, "metrics")
        self._retention = retention_days * 86400

    def close(self) -> None:
        self._db.close()

    def write(self, points: Iterable[tuple[Key, StatSet]], usage: Iterable[Usage]) -> None:
        rows = [
            (ns, metric, dims_text(dims), ts, unit, *stats.to_row())
            for (ns, metric, dims, ts, unit), stats in points
        ]
        used = [
            (u.ts, u.function, u.version, u.memory, u.requests, u.billed_ms, u.max_memory)
            for u in usage
        ]
        if not rows and not used:
            return
        with self._guard:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO datapoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
            self._db.executemany("INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?, ?)", used)
            self._db.execute("COMMIT")

    def expire(self, now: float) -> None:
        cutoff = int(now - self._retention)
        with self._guard:
            self._db.execute("DELETE FROM datapoints WHERE ts < ?", (cutoff,))
            self._db.execute("DELETE FROM usage WHERE ts < ?", (cutoff,))

    def compact(self, start: int, end: int) -> int:
        """Merge the rows of each key with a timestamp in [start, end) into one (a closed
        minute is written by several flushes); returns how many rows were removed."""
        with self._guard:
            rows = self._db.execute(
                "SELECT rowid, namespace, metric, dims, ts, unit, count, total, low, high, hist"
                " FROM datapoints WHERE ts >= ? AND ts < ?"
                " AND (namespace, metric, dims, ts, unit) IN ("
                "  SELECT namespace, metric, dims, ts, unit FROM datapoints"
                "  WHERE ts >= ? AND ts < ? GROUP BY namespace, metric, dims, ts, unit"
                "  HAVING COUNT(*) > 1)",
                (start, end, start, end),
            ).fetchall()
            if not rows:
                return 0
            merged: dict[tuple[str, str, str, int, str], StatSet] = {}
            for row in rows:
                stats = StatSet.from_row(*row[6:])
                found = merged.get(row[1:6])
                if found is None:
                    merged[row[1:6]] = stats
                else:
                    found.merge(stats)
            self._db.execute("BEGIN")
            self._db.executemany(
                "DELETE FROM datapoints WHERE rowid = ?", [(row[0],) for row in rows]
            )
            self._db.executemany(
                "INSERT INTO datapoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*key, *stats.to_row()) for key, stats in merged.items()],
            )
            self._db.execute("COMMIT")
            return len(rows) - len(merged)

    def series(
        self, namespace: str, metric: str, dims: Dimensions, start: int, end: int
    ) -> list[tuple[int, str, StatSet]]:
        """(second, unit, statistics) rows of one series in [start, end)."""
        with self._guard:
            rows = self._db.execute(
                "SELECT ts, unit, count, total, low, high, hist FROM datapoints"
                " WHERE namespace = ? AND metric = ? AND dims = ? AND ts >= ? AND ts < ?",
                (namespace, metric, dims_text(dims), start, end),
            ).fetchall()
        return [(r[0], r[1], StatSet.from_row(*r[2:])) for r in rows]

    def metrics(
        self, namespace: str | None, metric: str | None, since: int
    ) -> list[tuple[str, str, Dimensions]]:
        """Distinct (namespace, metric, dimensions) with a datapoint since ``since``."""
        sql = "SELECT DISTINCT namespace, metric, dims FROM datapoints WHERE ts >= ?"
        args: list[object] = [since]
        if namespace is not None:
            sql += " AND namespace = ?"
            args.append(namespace)
        if metric is not None:
            sql += " AND metric = ?"
            args.append(metric)
        with self._guard:
            rows = self._db.execute(sql + " ORDER BY namespace, metric, dims", args).fetchall()
        return [(r[0], r[1], dims_of(r[2])) for r in rows]

    def usage(self, since: int) -> list[Usage]:
        with self._guard:
            rows = self._db.execute(
                "SELECT ts, function, version, memory, requests, billed_ms, max_memory"
                " FROM usage WHERE ts >= ?",
                (since,),
            ).fetchall()
        return [Usage(*r) for r in rows]


def merge(rows: Sequence[tuple[int, str, StatSet]]) -> dict[tuple[int, str], StatSet]:
    """Rows of the same second and unit as one statistic set."""
    out: dict[tuple[int, str], StatSet] = {}
    for ts, unit, stats in rows:
        found = out.get((ts, unit))
        if found is None:
            out[(ts, unit)] = StatSet(
                stats.count, stats.total, stats.low, stats.high, dict(stats.histogram)
            )
        else:
            found.merge(stats)
    return out
