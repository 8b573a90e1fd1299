"""The durable loop that fires schedules: EventBridge scheduled rules and Scheduler schedules.

A ``Timetable`` keeps each schedule's next slot in its store. For a slot that is due, the
ticker asks the timetable to ``advance`` it: in one transaction the slot moves to the first
one after now (never one per missed slot) and the deliveries it causes are returned. Only
then are they handed to ``deliver`` (an asynchronous Invoke, itself durable once accepted).
So a slot fires at most once across a crash, a restart or a clock stepped back: the record
of the fire is committed before the invoke that carries it, and ``advance`` does nothing
when the slot already moved (compare-and-set on the stored slot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from lambox.errors import LamboxError, TooManyRequests
from lambox.events.clock import Clock
from lambox.events.delivery import Policy

log = logging.getLogger(__name__)

BATCH = 500
MAX_WAIT = 30.0  # seconds of the clock between passes with nothing due (a safety net)
DELIVERY_TRIES = 5
RETRY_DELAY = 0.5


@dataclass(frozen=True)
class Due:
    """One schedule whose stored slot has come: its key and that slot (epoch seconds)."""

    key: str
    slot: float


@dataclass(frozen=True)
class Delivery:
    """One event to hand to a target, with the target's delivery policy (RetryPolicy,
    DeadLetterConfig and a queue's MessageGroupId: ``events/delivery.py``)."""

    target: str
    payload: bytes
    policy: Policy | None = None


class Timetable(Protocol):
    """Schedules and their next slots, durably."""

    def earliest(self) -> float | None:
        """The earliest stored slot of any enabled schedule (None: nothing scheduled)."""
        ...

    def due(self, now: float, limit: int) -> Sequence[Due]:
        """Up to ``limit`` schedules whose slot is at or before ``now``, earliest first."""
        ...

    def advance(self, item: Due, now: float) -> Sequence[Delivery]:
        """Commit the move of ``item``'s schedule past ``now`` (only if its slot is still
        ``item.slot``), and return what the slot delivers: nothing when it was already moved,
        or when the slot is older than the schedule's window allows."""
        ...


class Ticker:
    """One loop per timetable: fires what is due, then sleeps until the next slot or a kick."""

    def __init__(
        self,
        name: str,
        timetable: Timetable,
        clock: Clock,
        deliver: Callable[[Delivery], Awaitable[None]],
    ) -> None:
        self._name = name
        self._timetable = timetable
        self._clock = clock
        self._deliver = deliver
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.fired = 0
        self._failing = False
        self.lateness: list[float] = []  # clock seconds between a slot and its fire (recent)

    def kick(self) -> None:
        """A schedule changed: look again at what is due and when."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            started = time.monotonic()
            try:
                await self.run_once()
            except Exception:  # the loop never dies; what is due stays due for the next pass
                log.exception("%s ticker pass failed", self._name)
            log.debug("%s ticker pass took %.3fs", self._name, time.monotonic() - started)
            await self._wait()

    async def _wait(self) -> None:
        earliest = self._timetable.earliest()
        wait = MAX_WAIT if earliest is None else min(MAX_WAIT, earliest - self._clock.now())
        if self._failing:
            wait = max(wait, RETRY_DELAY)  # a schedule that cannot fire is not a busy loop
        if wait <= 0:
            return
        sleeper = asyncio.ensure_future(self._clock.sleep(wait))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    async def run_once(self) -> int:
        """Fire everything due now; the number of slots fired. A schedule whose ``advance``
        fails is logged and left for the next pass, without holding up the others."""
        fired = 0
        failed: set[str] = set()
        now = self._clock.now()
        while True:
            due = self._timetable.due(now, BATCH + len(failed))
            items = [item for item in due if item.key not in failed]
            if not items:
                break
            for item in items:
                try:
                    deliveries = self._timetable.advance(item, now)
                except Exception:
                    log.exception("%s: schedule %s could not fire", self._name, item.key)
                    failed.add(item.key)
                    continue
                if deliveries:
                    fired += 1
                    self._note(self._clock.now() - item.slot)
                for delivery in deliveries:
                    await self._send(delivery)
            now = self._clock.now()
        self.fired += fired
        self._failing = bool(failed)
        return fired

    def _note(self, late: float) -> None:
        self.lateness.append(late)
        if len(self.lateness) > 100_000:
            del self.lateness[:50_000]

    async def _send(self, delivery: Delivery) -> None:
        for attempt in range(DELIVERY_TRIES):
            try:
                await self._deliver(delivery)
                return
            except TooManyRequests:
                await asyncio.sleep(RETRY_DELAY * (2**attempt))
            except LamboxError as exc:
                log.warning("%s: event for %s dropped: %s", self._name, delivery.target, exc)
                return
        log.warning("%s: event for %s dropped: throttled", self._name, delivery.target)
