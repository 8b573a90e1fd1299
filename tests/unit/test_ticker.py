"""The schedule ticker with a clock the test moves: slots fire once, a long outage fires a
rule once (within its window) or not at all (past it), a clock stepped back or a restart
never fires a slot twice, and Scheduler's one-time schedules delete themselves."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

from lambox.events.ticker import Delivery, Ticker
from lambox.services.events.schedule import RuleTimetable
from lambox.services.events.service import EventsService
from lambox.services.events.store import EventsStore
from lambox.services.scheduler.service import SchedulerService
from lambox.services.scheduler.store import SchedulerStore
from lambox.services.scheduler.timetable import ScheduleTimetable

FN = "arn:aws:lambda:us-east-1:000000000000:function:f"
T0 = dt.datetime(2026, 12, 7, 10, 0, 30, tzinfo=dt.UTC).timestamp()


class FakeClock:
    """A clock that moves only when the test says."""

    def __init__(self, now: float) -> None:
        self.now_ = now

    def now(self) -> float:
        return self.now_

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []

    async def __call__(self, delivery: Delivery) -> None:
        self.events.append((delivery.target, json.loads(delivery.payload)))


def rules(path: Path, clock: FakeClock) -> tuple[EventsService, Ticker, Sink]:
    store = EventsStore(path)
    service = EventsService(
        store, "us-east-1", "000000000000", clock.now, lambda: None, lambda: None
    )
    sink = Sink()
    return service, Ticker("events", RuleTimetable(store, service), clock, sink), sink


def run(ticker: Ticker) -> int:
    return asyncio.run(ticker.run_once())


def test_a_rate_rule_fires_each_slot_once(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    service, ticker, sink = rules(tmp_path / "e.db", clock)
    service.put_rule({"Name": "r", "ScheduleExpression": "rate(1 minute)"})
    service.put_targets({"Rule": "r", "Targets": [{"Id": "t", "Arn": FN}]})
    assert run(ticker) == 0
    clock.now_ = T0 + 60
    assert run(ticker) == 1
    assert run(ticker) == 0  # the same moment again: the slot has moved
    clock.now_ = T0 + 120.5
    assert run(ticker) == 1
    times = [event["time"] for _, event in sink.events]
    assert times == ["2026-12-07T10:01:30Z", "2026-12-07T10:02:30Z"]
    assert all(event["detail-type"] == "Scheduled Event" for _, event in sink.events)


def test_an_outage_fires_once_within_the_window_and_not_after_it(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    service, ticker, sink = rules(tmp_path / "e.db", clock)
    service.put_rule({"Name": "short", "ScheduleExpression": "rate(1 minute)"})
    service.put_targets(
        {
            "Rule": "short",
            "Targets": [{"Id": "t", "Arn": FN, "RetryPolicy": {"MaximumEventAgeInSeconds": 600}}],
        }
    )
    service.put_rule({"Name": "long", "ScheduleExpression": "rate(1 minute)"})
    service.put_targets({"Rule": "long", "Targets": [{"Id": "t", "Arn": FN}]})
    clock.now_ = T0 + 3600  # an hour later: 60 slots missed
    assert run(ticker) == 1  # "long" fires once; "short"'s slot is older than 600 s
    assert [e["resources"] for _, e in sink.events] == [
        ["arn:aws:events:us-east-1:000000000000:rule/long"]
    ]
    clock.now_ = T0 + 3600 + 61
    assert run(ticker) == 2  # both are back on their minute


def test_a_restart_or_a_clock_stepped_back_never_fires_a_slot_twice(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    service, ticker, _sink = rules(tmp_path / "e.db", clock)
    service.put_rule({"Name": "r", "ScheduleExpression": "cron(* * * * ? *)"})
    service.put_targets({"Rule": "r", "Targets": [{"Id": "t", "Arn": FN}]})
    clock.now_ = T0 + 30
    assert run(ticker) == 1
    clock.now_ = T0 + 10  # stepped back
    assert run(ticker) == 0
    _again, ticker2, sink2 = rules(tmp_path / "e.db", FakeClock(T0 + 40))  # a restart
    assert run(ticker2) == 0 and sink2.events == []


def test_a_one_time_schedule_fires_once_and_deletes_itself(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    store = SchedulerStore(tmp_path / "s.db")
    service = SchedulerService(store, "us-east-1", "000000000000", clock.now, lambda: None)
    sink = Sink()
    ticker = Ticker("scheduler", ScheduleTimetable(store, service), clock, sink)
    service.create_schedule(
        {
            "Name": "once",
            "ScheduleExpression": "at(2026-12-07T11:00:00)",
            "ScheduleExpressionTimezone": "Europe/Paris",  # 10:00 UTC... already past
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": FN, "Input": '{"a": 1}'},
            "ActionAfterCompletion": "DELETE",
        }
    )
    assert store.earliest_slot() is None  # 10:00 UTC was before now: it never fires
    service.create_schedule(
        {
            "Name": "later",
            "ScheduleExpression": "at(2026-12-07T12:00:00)",
            "ScheduleExpressionTimezone": "Europe/Paris",
            "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 5},
            "Target": {"Arn": FN, "Input": '{"a": 2}'},
            "ActionAfterCompletion": "DELETE",
        }
    )
    slot = store.earliest_slot()
    nominal = dt.datetime(2026, 12, 7, 11, 0, tzinfo=dt.UTC).timestamp()
    assert slot is not None and nominal <= slot <= nominal + 300
    clock.now_ = slot
    assert run(ticker) == 1
    assert sink.events == [(FN, {"a": 2})]
    assert [s.name for s in store.schedules()] == ["once"]


def test_a_schedule_that_cannot_fire_holds_up_no_other(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    service, ticker, sink = rules(tmp_path / "e.db", clock)
    for name in ("a", "b"):
        service.put_rule({"Name": name, "ScheduleExpression": "rate(1 minute)"})
        service.put_targets({"Rule": name, "Targets": [{"Id": "t", "Arn": FN}]})
    broken = "arn:aws:events:us-east-1:000000000000:rule/a"
    timetable = ticker._timetable
    real = timetable.advance

    def advance(item, now):  # type: ignore[no-untyped-def]
        if item.key == broken:
            raise RuntimeError("corrupt schedule")
        return real(item, now)

    timetable.advance = advance  # type: ignore[method-assign]
    clock.now_ = T0 + 60
    assert run(ticker) == 1
    assert [e["resources"] for _, e in sink.events] == [
        ["arn:aws:events:us-east-1:000000000000:rule/b"]
    ]
