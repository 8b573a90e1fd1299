"""AWS schedule expressions: ``rate()``, ``cron()`` with AWS's six fields, and ``at()``.

AWS's cron differs from Unix cron: six fields (minutes hours day-of-month month day-of-week
year), days of the week numbered 1 (SUN) to 7 (SAT), exactly one of day-of-month and
day-of-week is ``?``, and both day fields take ``L`` (last), day-of-month takes ``W``
(nearest weekday, never leaving the month) and ``LW``, day-of-week takes ``#`` (``3#2``:
the second Tuesday) and ``6L`` (the last Friday). No library implements exactly this, so it
is computed here: the next time is found field by field from the largest down.

Times are computed in the schedule's time zone and answered in UTC. As EventBridge Scheduler
documents for daylight saving: a local time the spring change skips does not fire; a local
time the autumn change repeats fires once (its first occurrence).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lambox.errors import InvalidSchedule

UTC = dt.UTC
YEARS = (1970, 2199)
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


def _invalid() -> InvalidSchedule:
    return InvalidSchedule("Parameter ScheduleExpression is not valid.")


@dataclass(frozen=True)
class Rate:
    """Every ``seconds``, counted from the schedule's anchor (its creation or StartDate)."""

    seconds: int

    def next_after(self, after: dt.datetime, anchor: dt.datetime) -> dt.datetime:
        if after < anchor:
            return anchor
        periods = int((after - anchor).total_seconds() // self.seconds) + 1
        return anchor + dt.timedelta(seconds=periods * self.seconds)


@dataclass(frozen=True)
class At:
    """Once, at a local time."""

    when: dt.datetime

    def next_after(self, after: dt.datetime, zone: dt.tzinfo) -> dt.datetime | None:
        moment = self.when.replace(tzinfo=zone).astimezone(UTC)
        return moment if moment > after else None


@dataclass(frozen=True)
class DaySpec:
    """One day field: a set of plain values, or one of AWS's special forms."""

    values: frozenset[int] = frozenset()
    any: bool = False  # "*" or "?"
    last: bool = False  # DOM "L"; DOW "nL" (with values = {n})
    last_weekday: bool = False  # DOM "LW"
    nearest_weekday: int | None = None  # DOM "nW"
    nth: tuple[int, int] | None = None  # DOW "d#n"


@dataclass(frozen=True)
class Cron:
    """A parsed ``cron(...)``; ``next_after`` finds the first fire strictly after a time."""

    minutes: frozenset[int]
    hours: frozenset[int]
    dom: DaySpec
    months: frozenset[int]
    dow: DaySpec
    years: frozenset[int]

    def next_after(self, after: dt.datetime, zone: dt.tzinfo = UTC) -> dt.datetime | None:
        local = after.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
        start = local + dt.timedelta(minutes=1)
        for candidate in self._local_times(start):
            aware = candidate.replace(tzinfo=zone, fold=0)
            moment = aware.astimezone(UTC)
            if moment.astimezone(zone).replace(tzinfo=None) != candidate:
                continue  # skipped by a spring-forward change: that time does not exist
            if moment > after:
                return moment
        return None

    def _local_times(self, start: dt.datetime) -> Iterator[dt.datetime]:
        for year in sorted(y for y in self.years if y >= start.year):
            for month in sorted(self.months):
                if (year, month) < (start.year, start.month):
                    continue
                for day in self.days(year, month):
                    if (year, month, day) < (start.year, start.month, start.day):
                        continue
                    same_day = (year, month, day) == (start.year, start.month, start.day)
                    for hour in sorted(self.hours):
                        if same_day and hour < start.hour:
                            continue
                        same_hour = same_day and hour == start.hour
                        for minute in sorted(self.minutes):
                            if same_hour and minute < start.minute:
                                continue
                            yield dt.datetime(year, month, day, hour, minute)

    def days(self, year: int, month: int) -> list[int]:
        """The days of ``month`` this expression fires on."""
        length = calendar.monthrange(year, month)[1]
        if self.dom.any:
            return [d for d in range(1, length + 1) if _dow_matches(self.dow, year, month, d)]
        return [d for d in range(1, length + 1) if _dom_matches(self.dom, year, month, d)]


def _weekday(year: int, month: int, day: int) -> int:
    """AWS's day-of-week number: 1 = Sunday ... 7 = Saturday."""
    return (dt.date(year, month, day).weekday() + 1) % 7 + 1


def _dom_matches(spec: DaySpec, year: int, month: int, day: int) -> bool:
    length = calendar.monthrange(year, month)[1]
    if spec.last:
        return day == length
    if spec.last_weekday:
        last = length
        while _weekday(year, month, last) in (1, 7):
            last -= 1
        return day == last
    if spec.nearest_weekday is not None:
        return day == _nearest_weekday(year, month, min(spec.nearest_weekday, length))
    return day in spec.values


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """The weekday nearest ``day`` without leaving the month (AWS's ``W``)."""
    weekday = _weekday(year, month, day)
    length = calendar.monthrange(year, month)[1]
    if weekday == 7:  # Saturday: Friday before, or Monday after on the 1st
        return day - 1 if day > 1 else day + 2
    if weekday == 1:  # Sunday: Monday after, or Friday before on the last day
        return day + 1 if day < length else day - 2
    return day


def _dow_matches(spec: DaySpec, year: int, month: int, day: int) -> bool:
    if spec.any:
        return True
    weekday = _weekday(year, month, day)
    if spec.nth is not None:
        target, n = spec.nth
        return weekday == target and (day - 1) // 7 + 1 == n
    if spec.last:
        length = calendar.monthrange(year, month)[1]
        return weekday in spec.values and day + 7 > length
    return weekday in spec.values


def _number(text: str, names: dict[str, int] | None, low: int, high: int) -> int:
    upper = text.upper()
    if names is not None and upper in names:
        return names[upper]
    if not text.isdigit():
        raise _invalid()
    value = int(text)
    if not low <= value <= high:
        raise _invalid()
    return value


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """A plain field: ``*``, values, ranges (``MON-FRI``), steps (``0/15``, ``*/5``, ``1-5/2``),
    comma-separated."""
    out: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = _number(step_text, None, 1, high) if slash else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            first, last = _number(a, names, low, high), _number(b, names, low, high)
            if first > last:
                raise _invalid()
        else:
            first = _number(base, names, low, high)
            last = high if slash else first
        out.update(range(first, last + 1, step))
    return frozenset(out)


def _dom(text: str) -> DaySpec:
    if text in ("*", "?"):
        return DaySpec(any=True)
    if text == "L":
        return DaySpec(last=True)
    if text == "LW":
        return DaySpec(last_weekday=True)
    if text.endswith("W"):
        return DaySpec(nearest_weekday=_number(text[:-1], None, 1, 31))
    return DaySpec(values=_field(text, 1, 31))


def _dow(text: str) -> DaySpec:
    if text in ("*", "?"):
        return DaySpec(any=True)
    if "#" in text:
        day, _, n = text.partition("#")
        return DaySpec(nth=(_number(day, _DAYS, 1, 7), _number(n, None, 1, 5)))
    if text == "L":
        return DaySpec(values=frozenset({7}))
    if text.endswith("L"):
        return DaySpec(values=frozenset({_number(text[:-1], _DAYS, 1, 7)}), last=True)
    return DaySpec(values=_field(text, 1, 7, _DAYS))


def parse_cron(body: str) -> Cron:
    """The six fields inside ``cron(...)``."""
    fields = body.split()
    if len(fields) != 6:
        raise _invalid()
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise _invalid()  # exactly one of the day fields must be "?"
    return Cron(
        _field(minutes, 0, 59),
        _field(hours, 0, 23),
        _dom(dom),
        _field(month, 1, 12, _MONTHS),
        _dow(dow),
        _field(year, *YEARS),
    )


Schedule = Rate | Cron | At


def parse(expression: str, allow_at: bool = False) -> Schedule:
    """A schedule expression; ``at()`` only where the service takes one (Scheduler)."""
    text = expression
    rate = _RATE.match(text)
    if rate is not None:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            raise _invalid()  # "rate(1 minute)", "rate(5 minutes)": AWS holds to the plural
        return Rate(value * _UNIT[unit.rstrip("s")])
    if text.startswith("cron(") and text.endswith(")"):
        return parse_cron(text[5:-1])
    at = _AT.match(text)
    if at is not None and allow_at:
        try:
            return At(dt.datetime.fromisoformat(at.group(1)))
        except ValueError as exc:
            raise _invalid() from exc
    raise _invalid()


def zone(name: str | None) -> dt.tzinfo:
    """An IANA time zone (UTC when none is named)."""
    if not name or name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidSchedule(f"Invalid ScheduleExpressionTimezone: {name}") from exc


def next_fire(
    schedule: Schedule, after: dt.datetime, anchor: dt.datetime, tz: dt.tzinfo = UTC
) -> dt.datetime | None:
    """The first fire of ``schedule`` strictly after ``after`` (None: it never fires again)."""
    if isinstance(schedule, Rate):
        return schedule.next_after(after, anchor)
    return schedule.next_after(after, tz)
