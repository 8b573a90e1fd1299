"""Moves notification records from a service's outbox into the durable Event path.

A service writes the records an action causes in the same transaction as the action (S3:
with the object), so they survive whatever the server does next; the relay hands each to
``deliver`` (an asynchronous Invoke: the event queue, retries, destinations and DLQ apply)
and only then removes it. A crash between the two delivers a record twice, never zero
times: at least once, as S3 promises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from lambox.errors import InvalidParameterValue, ResourceNotFound, TooManyRequests

log = logging.getLogger(__name__)

BATCH = 100
RETRY_DELAY = 1.0


class Record(Protocol):
    """One record: the function ARN it goes to and the event."""

    @property
    def id(self) -> int: ...

    @property
    def target(self) -> str: ...

    @property
    def payload(self) -> bytes: ...

    @property
    def trace(self) -> str | None:
        """The trace header of the request that caused it (lambox.lineage)."""
        ...


class Outbox(Protocol):
    """Records waiting for delivery, oldest first."""

    def outgoing(self, limit: int) -> Sequence[Record]:
        """Up to ``limit`` undelivered records, oldest first."""
        ...

    def sent(self, ids: Sequence[int]) -> None:
        """Forget delivered records."""
        ...


class Relay:
    """One loop per outbox: wakes on ``kick`` (and at start), drains, sleeps.

    An outbox whose records carry more than a target and a payload (EventBridge's: the
    delivery policy) passes ``deliver_record``, which gets the whole record; one that holds
    records due later (retries) passes ``next_due``, and the relay wakes itself then."""

    def __init__(
        self,
        outbox: Outbox,
        deliver: Callable[[str, bytes, str | None], Awaitable[None]],
        name: str,
        deliver_record: Callable[[Any], Awaitable[None]] | None = None,
        next_due: Callable[[], float | None] | None = None,
    ) -> None:
        self._outbox = outbox
        self._deliver = deliver
        self._deliver_record = deliver_record
        self._next_due = next_due
        self._name = name
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def kick(self) -> None:
        """New records are in the outbox."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    def _wake_when_due(self) -> None:
        if self._next_due is None:
            return
        due = self._next_due()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if due is not None:
            delay = max(0.0, due - time.time())
            self._timer = asyncio.get_running_loop().call_later(delay, self._wake.set)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._drain()
                self._wake_when_due()
            except Exception:  # the loop never dies; the records stay for the next pass
                log.exception("%s relay pass failed", self._name)
                await asyncio.sleep(RETRY_DELAY)
                self._wake.set()

    async def _drain(self) -> None:
        while records := self._outbox.outgoing(BATCH):
            done: list[int] = []
            for record in records:
                try:
                    if self._deliver_record is not None:
                        await self._deliver_record(record)
                    else:
                        await self._deliver(record.target, record.payload, record.trace)
                except (ResourceNotFound, InvalidParameterValue) as exc:
                    # A function gone, or one that never takes this event (a tenant-isolated
                    # function needs a tenant id no notification carries): retrying would
                    # hold up every record behind it.
                    log.warning("%s event for %s dropped: %s", self._name, record.target, exc)
                except TooManyRequests:
                    self._outbox.sent(done)
                    await asyncio.sleep(RETRY_DELAY)
                    self._wake.set()
                    return
                done.append(record.id)
            self._outbox.sent(done)
