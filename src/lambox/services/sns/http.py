"""Deliveries to ``http``/``https`` subscribers: POSTs with SNS's headers, retried as SNS's
default HTTP delivery policy retries (three more tries, 20 seconds apart).

Each delivery is a row of the topic store from the Publish that caused it until it succeeds
or is given up, with its attempt count and the time of its next try: ``start`` resumes the
ones a restart (or a ``kill -9``) interrupted, at their due time. A POST that was in flight
at the crash is tried again (at least once, as SNS delivers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: see _deliver
    import httpx

from lambox.services.sns.store import HttpDelivery, TopicStore

log = logging.getLogger(__name__)

RETRIES = 3
RETRY_DELAY = 20.0
TIMEOUT = 15.0
USER_AGENT = "Amazon Simple Notification Service Agent"


def _now_ms() -> int:
    return int(time.time() * 1000)


class HttpDeliveries:
    def __init__(self, store: TopicStore, retry_delay: float = RETRY_DELAY) -> None:
        self._store = store
        self._retry_delay = retry_delay
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        """Resume the deliveries a restart interrupted (needs the running loop)."""
        for delivery in self._store.deliveries():
            self._spawn(delivery)

    def post(self, url: str, body: str, headers: dict[str, str]) -> None:
        """Deliver ``body`` to ``url`` in the background (recorded first)."""
        sent = {
            "Content-Type": "text/plain; charset=UTF-8",
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "gzip,deflate",
            **headers,
        }
        now = _now_ms()
        id = self._store.add_delivery(url, body, sent, now)
        self._spawn(HttpDelivery(id, url, body, sent, 0, now))

    def _spawn(self, delivery: HttpDelivery) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, d: HttpDelivery) -> None:
        import httpx  # on the first HTTP delivery, not at start-up (a tenth of it)

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT)
        wait = (d.due_ms - _now_ms()) / 1000
        if wait > 0:
            await asyncio.sleep(wait)
        reason = "not tried"
        for attempt in range(d.attempt, RETRIES + 1):
            try:
                response = await self._client.post(
                    d.url, content=d.body.encode(), headers=d.headers
                )
                if response.status_code < 500 and response.status_code != 429:
                    self._store.delivery_done(d.id)
                    return
                reason = f"status {response.status_code}"
            except httpx.HTTPError as exc:
                reason = str(exc) or type(exc).__name__
            if attempt < RETRIES:
                self._store.retry_delivery(
                    d.id, attempt + 1, _now_ms() + int(self._retry_delay * 1000)
                )
                await asyncio.sleep(self._retry_delay)
        self._store.delivery_done(d.id)
        log.warning("sns delivery to %s given up: %s", d.url, reason)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
