"""Group commit of sends: every send that arrives during one event-loop iteration is stored
in one transaction, and each sender is answered only after that commit. Under concurrent
clients a commit carries many messages, so sends per second are not bounded by commits per
second; a lone client pays one loop iteration more than a direct commit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from lambox.services.sqs.store import NewMessage, QueueStore, Sent


class GroupCommit:
    def __init__(self, store: QueueStore) -> None:
        self._store = store
        self._pending: list[tuple[str, Sequence[NewMessage], asyncio.Future[list[Sent]]]] = []

    async def send(self, queue: str, messages: Sequence[NewMessage]) -> list[Sent]:
        """Store ``messages`` durably; returns once they are committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Sent]] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((queue, messages, future))
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            answers = self._store.send_many(
                [(queue, messages) for queue, messages, _ in batch], int(time.time() * 1000)
            )
        except Exception as exc:  # every sender of the batch gets the failure
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (*_, future), sent in zip(batch, answers, strict=True):
            if not future.done():
                future.set_result(sent)
