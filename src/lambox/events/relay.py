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
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from lambox.errors import ResourceNotFound, TooManyRequests

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
    """One loop per outbox: wakes on ``kick`` (and at start), drains, sleeps."""

    def __init__(
        self,
        outbox: Outbox,
        deliver: Callable[[str, bytes, str | None], Awaitable[None]],
        name: str,
    ) -> None:
        self._outbox = outbox
        self._deliver = deliver
        self._name = name
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """New records are in the outbox."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    async def close(self) -> None:
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
            except Exception:  # the loop never dies; the records stay for the next pass
                log.exception("%s relay pass failed", self._name)
                await asyncio.sleep(RETRY_DELAY)
                self._wake.set()

    async def _drain(self) -> None:
        while records := self._outbox.outgoing(BATCH):
            done: list[int] = []
            for record in records:
                try:
                    await self._deliver(record.target, record.payload, record.trace)
                except ResourceNotFound as exc:
                    log.warning("%s event for %s dropped: %s", self._name, record.target, exc)
                except TooManyRequests:
                    self._outbox.sent(done)
                    await asyncio.sleep(RETRY_DELAY)
                    self._wake.set()
                    return
                done.append(record.id)
            self._outbox.sent(done)
