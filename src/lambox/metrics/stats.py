"""A statistic set of one metric in one time bucket: count, sum, min, max and a histogram.

The histogram keeps counts in logarithmic buckets 1% wide (values below ``FLOOR`` share
bucket 0), so percentiles (CloudWatch's ExtendedStatistics such as ``p99``) are answered
within 1% of the true value, and two sets merge by adding counts: a minute's statistics
combine into any period, and rows written by separate flushes combine when read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

GROWTH = 1.01
_LOG_GROWTH = math.log(GROWTH)
FLOOR = 1e-6


def bucket_of(value: float) -> int:
    """The histogram bucket of a value; negative values are kept by their magnitude with a
    negative index, zero and tiny values in bucket 0."""
    magnitude = abs(value)
    if magnitude < FLOOR:
        return 0
    index = int(math.log(magnitude / FLOOR) / _LOG_GROWTH) + 1
    return index if value > 0 else -index


def bucket_value(index: int) -> float:
    """The value a bucket stands for: the middle of its range."""
    if index == 0:
        return 0.0
    magnitude: float = FLOOR * GROWTH ** (abs(index) - 0.5)
    return magnitude if index > 0 else -magnitude


@dataclass(slots=True)
class StatSet:
    """Samples of one metric in one bucket; ``add`` is called per sample, ``merge`` per row."""

    count: float = 0.0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    histogram: dict[int, float] = field(default_factory=dict)

    def add(self, value: float, count: float = 1.0) -> None:
        self.count += count
        self.total += value * count
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high = value
        index = bucket_of(value)
        self.histogram[index] = self.histogram.get(index, 0.0) + count

    def extend(self, values: list[float]) -> None:
        """Many samples at once (a group's durations): the same as ``add`` for each, with
        the sum, minimum and maximum taken by the builtins and the common case (a positive
        value) of ``bucket_of`` inlined, since this runs for every invocation."""
        if not values:
            return
        self.count += len(values)
        self.total += sum(values)
        self.low = min(self.low, min(values))
        self.high = max(self.high, max(values))
        histogram = self.histogram
        log = math.log
        for value in values:
            if value >= FLOOR:
                index = int(log(value / FLOOR) / _LOG_GROWTH) + 1
            else:
                index = bucket_of(value)
            histogram[index] = histogram.get(index, 0.0) + 1.0

    def add_summary(self, count: float, total: float, low: float, high: float) -> None:
        """A pre-aggregated statistic set (PutMetricData's StatisticValues): no histogram
        detail, so its samples count at its average for percentiles."""
        self.count += count
        self.total += total
        self.low = min(self.low, low)
        self.high = max(self.high, high)
        if count > 0:
            index = bucket_of(total / count)
            self.histogram[index] = self.histogram.get(index, 0.0) + count

    def merge(self, other: StatSet) -> None:
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        for index, count in other.histogram.items():
            self.histogram[index] = self.histogram.get(index, 0.0) + count

    def percentile(self, p: float) -> float:
        """The value below which ``p`` percent of the samples fall (within 1%), clamped to
        the observed minimum and maximum."""
        if self.count <= 0:
            return 0.0
        rank = self.count * p / 100.0
        seen = 0.0
        for index in sorted(self.histogram):
            seen += self.histogram[index]
            if seen >= rank:
                return min(max(bucket_value(index), self.low), self.high)
        return self.high

    def statistic(self, name: str) -> float:
        """One of CloudWatch's statistics: SampleCount, Sum, Minimum, Maximum, Average."""
        if name == "SampleCount":
            return self.count
        if name == "Sum":
            return self.total
        if name == "Minimum":
            return self.low
        if name == "Maximum":
            return self.high
        return self.total / self.count if self.count else 0.0

    def to_row(self) -> tuple[float, float, float, float, str]:
        hist = ",".join(f"{k}:{v:g}" for k, v in self.histogram.items())
        return self.count, self.total, self.low, self.high, hist

    @classmethod
    def from_row(cls, count: float, total: float, low: float, high: float, hist: str) -> StatSet:
        histogram: dict[int, float] = {}
        if hist:
            for part in hist.split(","):
                key, _, value = part.partition(":")
                histogram[int(key)] = float(value)
        return cls(count, total, low, high, histogram)
