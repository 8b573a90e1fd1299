"""SQS as an event source sees it: receive a batch from a queue named by its ARN (with the
queue's visibility timeout), delete what was handled. Event-source pollers reach it only
through ``server.py``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lambox.services.sqs.digests import md5_of_attributes, md5_of_body
from lambox.services.sqs.errors import no_queue
from lambox.services.sqs.messages import Messages, system_attributes
from lambox.services.sqs.queues import Queues
from lambox.services.sqs.store import Queue, parse_receipt


@dataclass(frozen=True)
class Polled:
    """One received message with what an SQS event record carries."""

    message_id: str
    receipt: str
    body: str
    attributes: dict[str, str]
    message_attributes: dict[str, dict[str, Any]]
    md5_of_body: str
    md5_of_attributes: str | None


class QueueConsumer:
    def __init__(self, queues: Queues, messages: Messages) -> None:
        self._queues = queues
        self._messages = messages

    def _queue(self, arn: str) -> Queue:
        name = self._queues.name_of_arn(arn)
        if name is None:
            raise no_queue()
        return self._queues.by_name(name)

    def exists(self, arn: str) -> bool:
        name = self._queues.name_of_arn(arn)
        return name is not None and self._queues.store.queue(name) is not None

    def is_fifo(self, arn: str) -> bool:
        name = self._queues.name_of_arn(arn)
        queue = self._queues.store.queue(name) if name else None
        return queue is not None and queue.fifo

    async def receive(self, arn: str, limit: int, wait: float) -> list[Polled]:
        queue = self._queue(arn)
        visibility = int(self._queues.settings(queue)["VisibilityTimeout"])
        got = await self._messages.receive(queue, limit, visibility, wait)
        return [
            Polled(
                m.id,
                m.receipt,
                m.body,
                system_attributes(m, queue.fifo),
                m.attributes,
                md5_of_body(m.body),
                md5_of_attributes(m.attributes),
            )
            for m in got
        ]

    def delete(self, arn: str, receipts: Sequence[str]) -> None:
        queue = self._queue(arn)
        handles = []
        for handle in receipts:
            parsed = parse_receipt(handle)
            if parsed is not None and parsed[0] == queue.name:
                handles.append((parsed[1], parsed[2]))
        self._queues.store.delete_many(queue.name, handles)
