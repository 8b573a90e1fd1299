"""Wake-ups for long-polling receivers: one event per queue, set when messages may have
become receivable. A receiver takes the event before it looks at the queue, so a message
sent between its look and its wait still wakes it; an idle waiter costs a suspended
coroutine and nothing else (no polling)."""

from __future__ import annotations

import asyncio
import contextlib


class Waiters:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def ticket(self, queue: str) -> asyncio.Event:
        """The event the next ``notify(queue)`` sets."""
        event = self._events.get(queue)
        if event is None:
            event = self._events[queue] = asyncio.Event()
        return event

    def notify(self, queue: str) -> None:
        event = self._events.pop(queue, None)
        if event is not None:
            event.set()

    async def wait(self, ticket: asyncio.Event, timeout: float) -> None:
        """Until the ticket is set or ``timeout`` seconds have passed."""
        if timeout <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ticket.wait(), timeout)
