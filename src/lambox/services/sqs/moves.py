"""Message move tasks: messages of a dead-letter queue back to where they came from, or to
another queue (StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask).

A task runs as a background task of the server, in batches. Tasks are rows of the queue
store: each step moves its messages and counts them in one transaction, and ``start``
resumes the tasks a restart (or a ``kill -9``) interrupted, so a task finishes once and
ListMessageMoveTasks still shows it afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from lambox.errors import ServiceFault
from lambox.services.sqs.calls import Call
from lambox.services.sqs.errors import invalid
from lambox.services.sqs.queues import Queues
from lambox.services.sqs.store import MoveRow
from lambox.services.sqs.waiters import Waiters

BATCH = 100


@dataclass
class MoveTask:
    handle: str
    source: str
    destination: str | None
    rate: int | None
    started: int
    to_move: int
    moved: int = 0
    status: str = "RUNNING"
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def row(self) -> MoveRow:
        return (
            self.handle,
            self.source,
            self.destination,
            self.rate,
            self.started,
            self.to_move,
            self.moved,
            self.status,
        )


def _not_found(what: str) -> ServiceFault:
    return ServiceFault(
        "ResourceNotFoundException",
        f"The resource that you specified for the {what} parameter doesn't exist.",
        404,
    )


class Moves:
    def __init__(self, queues: Queues, waiters: Waiters) -> None:
        self._queues = queues
        self._waiters = waiters
        self._tasks: dict[str, MoveTask] = {
            row[0]: MoveTask(*row) for row in queues.store.move_tasks()
        }

    def start(self) -> None:
        """Resume the tasks that were running when the server stopped (needs the loop)."""
        for task in self._tasks.values():
            if task.status == "RUNNING" and task.task is None:
                self._launch(task)

    def _launch(self, task: MoveTask) -> None:
        names = self._queues.name_of_arn
        source = names(task.source)
        destination = names(task.destination) if task.destination else None
        if source is None or self._queues.store.queue(source) is None:
            task.status = "FAILED"
            self._queues.store.set_move_status(task.handle, task.status)
            return
        task.task = asyncio.get_running_loop().create_task(self._run(task, source, destination))

    def _queue_of(self, arn: str, what: str) -> str:
        name = self._queues.name_of_arn(arn)
        if name is None or self._queues.store.queue(name) is None:
            raise _not_found(what)
        return name

    def _is_dead_letter_queue(self, arn: str) -> bool:
        for name in self._queues.store.names():
            queue = self._queues.store.queue(name)
            policy = queue.attributes.get("RedrivePolicy") if queue else None
            if policy and json.loads(policy).get("deadLetterTargetArn") == arn:
                return True
        return False

    async def start_message_move_task(self, call: Call) -> dict[str, Any]:
        source_arn = call.params.get("SourceArn") or ""
        source = self._queue_of(source_arn, "SourceArn")
        if not self._is_dead_letter_queue(source_arn):
            raise invalid("Source queue must be configured as a Dead Letter Queue.")
        destination_arn = call.params.get("DestinationArn")
        destination = self._queue_of(destination_arn, "DestinationArn") if destination_arn else None
        for task in self._tasks.values():
            if task.source == source_arn and task.status == "RUNNING":
                raise ServiceFault("UnsupportedOperation", "There is already a task running.", 400)
        raw = json.dumps({"taskId": str(uuid.uuid4()), "sourceArn": source_arn})
        handle = base64.b64encode(raw.encode()).decode()
        visible, _, _ = self._queues.store.counts(source, int(time.time() * 1000))
        task = MoveTask(
            handle,
            source_arn,
            destination_arn,
            call.params.get("MaxNumberOfMessagesPerSecond"),
            int(time.time() * 1000),
            visible,
        )
        self._tasks[handle] = task
        self._queues.store.put_move_task(task.row())
        task.task = asyncio.get_running_loop().create_task(self._run(task, source, destination))
        return {"TaskHandle": handle}

    async def _run(self, task: MoveTask, source: str, destination: str | None) -> None:
        store = self._queues.store
        try:
            while task.status == "RUNNING" and task.moved < task.to_move:
                batch = min(BATCH, task.rate or BATCH, task.to_move - task.moved)
                moved = store.move_step(
                    task.handle, source, destination, int(time.time() * 1000), batch
                )
                if not moved:
                    break
                task.moved += moved
                for name in (destination,) if destination else store.names():
                    self._waiters.notify(name)
                if task.rate:
                    await asyncio.sleep(moved / task.rate)
                else:
                    await asyncio.sleep(0)
            if task.status == "RUNNING":
                task.status = "COMPLETED"
        except Exception:  # a failed task reports FAILED, the server goes on
            task.status = "FAILED"
        store.set_move_status(task.handle, task.status)

    async def cancel_message_move_task(self, call: Call) -> dict[str, Any]:
        handle = call.params.get("TaskHandle") or ""
        task = self._tasks.get(handle)
        if task is None:
            raise invalid("Value for parameter TaskHandle is invalid.")
        if task.status != "RUNNING":
            raise ServiceFault("UnsupportedOperation", "Only active tasks can be cancelled.", 400)
        task.status = "CANCELLING"
        if task.task is not None:
            task.task.cancel()
        task.status = "CANCELLED"
        self._queues.store.set_move_status(handle, task.status)
        return {"ApproximateNumberOfMessagesMoved": task.moved}

    async def list_message_move_tasks(self, call: Call) -> dict[str, Any]:
        source_arn = call.params.get("SourceArn") or ""
        self._queue_of(source_arn, "SourceArn")
        limit = call.params.get("MaxResults") or 1
        tasks = [t for t in self._tasks.values() if t.source == source_arn][::-1][:limit]
        results = []
        for t in tasks:
            item: dict[str, Any] = {
                "Status": t.status,
                "SourceArn": t.source,
                "ApproximateNumberOfMessagesMoved": t.moved,
                "ApproximateNumberOfMessagesToMove": t.to_move,
                "StartedTimestamp": t.started,
            }
            if t.status == "RUNNING":
                item["TaskHandle"] = t.handle
            if t.destination:
                item["DestinationArn"] = t.destination
            if t.rate:
                item["MaxNumberOfMessagesPerSecond"] = t.rate
            results.append(item)
        return {"Results": results}
