"""Deliveries to ``http``/``https`` subscribers: POSTs with SNS's headers, retried as SNS's
default HTTP delivery policy retries (three more tries, 20 seconds apart).

Deliveries run as background tasks of the server and are not stored: a restart forgets the
ones still being retried (unlike Lambda deliveries, which go through the durable outbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: see _deliver
    import httpx

log = logging.getLogger(__name__)

RETRIES = 3
RETRY_DELAY = 20.0
TIMEOUT = 15.0
USER_AGENT = "Amazon Simple Notification Service Agent"


class HttpDeliveries:
    def __init__(self, retry_delay: float = RETRY_DELAY) -> None:
        self._retry_delay = retry_delay
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    def post(self, url: str, body: str, headers: dict[str, str]) -> None:
        """Deliver ``body`` to ``url`` in the background."""
        task = asyncio.get_running_loop().create_task(self._deliver(url, body, headers))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, body: str, headers: dict[str, str]) -> None:
        import httpx  # on the first HTTP delivery, not at start-up (a tenth of it)

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT)
        sent = {
            "Content-Type": "text/plain; charset=UTF-8",
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "gzip,deflate",
            **headers,
        }
        for attempt in range(RETRIES + 1):
            try:
                response = await self._client.post(url, content=body.encode(), headers=sent)
                if response.status_code < 500 and response.status_code != 429:
                    return
                reason = f"status {response.status_code}"
            except httpx.HTTPError as exc:
                reason = str(exc) or type(exc).__name__
            if attempt < RETRIES:
                await asyncio.sleep(self._retry_delay)
        log.warning("sns delivery to %s given up: %s", url, reason)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
