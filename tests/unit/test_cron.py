"""AWS schedule expressions against the dates AWS's documentation gives for its examples,
and the edge cases it describes: month ends, ``L``, ``W``, ``#``, leap days, AWS's
day-of-week numbering and daylight-saving changes."""

from __future__ import annotations

import datetime as dt

import pytest

from lambox.errors import InvalidSchedule
from lambox.events import cron

UTC = dt.UTC


def t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def nxt(expression: str, after: str, zone: str | None = None) -> dt.datetime | None:
    schedule = cron.parse(expression, allow_at=True)
    return cron.next_fire(schedule, t(after), t(after), cron.zone(zone))


NEXT = [
    ("cron(0 10 * * ? *)", "2026-12-07T10:00:00", "2026-12-08T10:00:00"),
    ("cron(15 12 * * ? *)", "2026-12-07T09:00:00", "2026-12-07T12:15:00"),
    ("cron(0 18 ? * MON-FRI *)", "2026-12-11T19:00:00", "2026-12-14T18:00:00"),  # Fri -> Mon
    ("cron(0 8 1 * ? *)", "2026-12-07T00:00:00", "2027-01-01T08:00:00"),
    ("cron(0/15 * * * ? *)", "2026-12-07T09:16:30", "2026-12-07T09:30:00"),
    ("cron(0/5 8-17 ? * MON-FRI *)", "2026-12-07T17:56:00", "2026-12-08T08:00:00"),
    ("cron(5,35 14 * * ? *)", "2026-12-07T14:05:00", "2026-12-07T14:35:00"),
    # the last Friday of each month, 2002-2005 (Jan 31 2002 is a Thursday)
    ("cron(15 10 ? * 6L 2002-2005)", "2002-01-01T00:00:00", "2002-01-25T10:15:00"),
    ("cron(15 10 ? * 6L 2002-2005)", "2005-12-30T10:15:00", None),
    # L: the last day of the month, leap years included
    ("cron(0 12 L * ? *)", "2024-02-10T00:00:00", "2024-02-29T12:00:00"),
    ("cron(0 12 L * ? *)", "2023-02-10T00:00:00", "2023-02-28T12:00:00"),
    ("cron(0 12 L * ? *)", "2026-04-30T12:00:00", "2026-05-31T12:00:00"),
    ("cron(0 12 29 2 ? *)", "2023-03-01T00:00:00", "2024-02-29T12:00:00"),
    ("cron(0 0 31 * ? *)", "2026-04-01T00:00:00", "2026-05-31T00:00:00"),  # April has 30
    # W: the nearest weekday, never leaving the month; LW: the last weekday
    ("cron(0 9 LW * ? *)", "2026-08-01T00:00:00", "2026-08-31T09:00:00"),  # a Monday
    ("cron(0 9 LW * ? *)", "2026-01-01T00:00:00", "2026-01-30T09:00:00"),  # 31st a Saturday
    ("cron(0 9 1W * ? *)", "2026-02-01T00:00:00", "2026-02-02T09:00:00"),  # 1st a Sunday
    ("cron(0 9 1W * ? *)", "2026-08-01T00:00:00", "2026-08-03T09:00:00"),  # 1st a Saturday
    ("cron(0 9 15W * ? *)", "2026-11-01T00:00:00", "2026-11-16T09:00:00"),  # 15th a Sunday
    # #: the nth weekday of the month; days of the week count from 1 = Sunday
    ("cron(0 2 ? * SAT#3 *)", "2026-12-01T00:00:00", "2026-12-19T02:00:00"),
    ("cron(0 10 ? * 2#1 *)", "2026-12-31T00:00:00", "2027-01-04T10:00:00"),
    ("cron(0 0 ? * 1 *)", "2026-12-07T00:00:00", "2026-12-13T00:00:00"),
    ("cron(0 0 ? * 7 *)", "2026-12-07T00:00:00", "2026-12-12T00:00:00"),
    ("cron(0 0 ? * L *)", "2026-12-07T00:00:00", "2026-12-12T00:00:00"),
    # rate() counts from its anchor; at() fires once
    ("rate(5 minutes)", "2026-12-07T09:00:00", "2026-12-07T09:05:00"),
    ("rate(1 day)", "2026-12-07T09:00:00", "2026-12-08T09:00:00"),
    ("at(2026-12-25T08:00:00)", "2026-12-07T09:00:00", "2026-12-25T08:00:00"),
    ("at(2026-12-01T08:00:00)", "2026-12-07T09:00:00", None),
]


@pytest.mark.parametrize(("expression", "after", "expected"), NEXT)
def test_next_fire_is_the_documented_date(
    expression: str, after: str, expected: str | None
) -> None:
    assert nxt(expression, after) == (t(expected) if expected else None)


def test_a_local_time_skipped_by_spring_forward_does_not_fire() -> None:
    # 2026-03-08 02:00 -> 03:00 in New York: 02:30 does not exist that day
    got = nxt("cron(30 2 * * ? *)", "2026-03-07T12:00:00", "America/New_York")
    assert got == t("2026-03-09T06:30:00")


def test_a_local_time_repeated_by_fall_back_fires_once() -> None:
    first = nxt("cron(30 1 * * ? *)", "2026-10-31T12:00:00", "America/New_York")
    assert first == t("2026-11-01T05:30:00")  # 01:30 EDT
    again = nxt("cron(30 1 * * ? *)", first.isoformat()[:19], "America/New_York")
    assert again == t("2026-11-02T06:30:00")  # not 01:30 EST the same night


def test_at_reads_its_time_in_the_schedule_time_zone() -> None:
    got = nxt("at(2026-12-25T08:00:00)", "2026-12-07T00:00:00", "Europe/Paris")
    assert got == t("2026-12-25T07:00:00")


@pytest.mark.parametrize(
    "expression",
    [
        "cron(INVALID)",
        "cron(0 dummy ? * MON-FRI *)",
        "cron(7 20 * * NOT *)",
        "cron(71 8 1 * ? *)",
        "cron(0 1 * * * *)",  # one day field must be "?"
        "cron(0 1 ? * ? *)",
        "cron(0 1 * * ?)",
        "rate(0 minutes)",
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(5 weeks)",
        "at(2026-12-25T08:00:00)",  # EventBridge rules take no at()
    ],
)
def test_invalid_expressions_are_refused(expression: str) -> None:
    with pytest.raises(InvalidSchedule):
        cron.parse(expression)


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(InvalidSchedule):
        cron.zone("Mars/Olympus_Mons")
