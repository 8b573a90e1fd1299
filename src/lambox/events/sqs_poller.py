"""Pollers of SQS event source mappings: receive a batch, filter it, invoke the function
synchronously with SQS's event, delete what succeeded.

Per enabled mapping one worker long-polls the queue; a worker that gets a full batch starts
another, and an extra worker that finds the queue empty, or is throttled, stops: the pollers
scale with the backlog as Lambda's do. They stop growing at the concurrency the function may
use (its reserved concurrency, else the account's unreserved pool, asked of ``capacity`` each
time), or at ``ScalingConfig.MaximumConcurrency`` when that is set and lower.

A batch is deleted only after the function succeeded; with ``ReportBatchItemFailures`` only
the messages not reported failed are deleted, and a malformed report fails the whole batch.
What is not deleted comes back after the queue's visibility timeout (and reaches the
dead-letter queue after ``maxReceiveCount``). Messages no filter matches are deleted without
an invoke. The queue and the invoke are reached only through what ``server.py`` passes in.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from lambox import lineage
from lambox.events.patterns import parse
from lambox.metrics.recorder import Recorder
from lambox.store.event_sources import EventSourceMapping

log = logging.getLogger(__name__)

LONG_POLL = 20.0
RECEIVE_MAX = 10
ERROR_PAUSE = 1.0
# A batch's event stays under the 6 MB of a synchronous invoke (with room for its wrapper).
PAYLOAD_LIMIT = 6 * 1024 * 1024 - 1024


class Message(Protocol):
    """A received message as the queue hands it to a poller."""

    @property
    def message_id(self) -> str: ...
    @property
    def receipt(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def attributes(self) -> dict[str, str]: ...
    @property
    def message_attributes(self) -> dict[str, dict[str, Any]]: ...
    @property
    def md5_of_body(self) -> str: ...
    @property
    def md5_of_attributes(self) -> str | None: ...


class Queues(Protocol):
    """The queue service, by queue ARN."""

    async def receive(self, arn: str, limit: int, wait: float) -> Sequence[Message]:
        """Up to ``limit`` messages, waiting up to ``wait`` seconds for the first."""
        ...

    def delete(self, arn: str, receipts: Sequence[str]) -> None:
        """Delete received messages by their receipt handles."""
        ...


# function name -> how many executions it may run at once (reserved, else the account's pool)
Capacity = Callable[[str], int]

# (function name, qualifier, payload, the batch's AWSTraceHeader) -> (the function succeeded,
# its response payload); throttled invokes raise ``Throttled``.
Invoke = Callable[[str, str | None, bytes, str | None], Awaitable[tuple[bool, bytes]]]


class Throttled(Exception):
    """The function had no concurrency left for this batch."""


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"stringListValues": [], "binaryListValues": []}
    if value.get("BinaryValue") is not None:
        out["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    else:
        out["stringValue"] = value.get("StringValue")
    out["dataType"] = value["DataType"]
    return out


def record(message: Message, source_arn: str, region: str) -> dict[str, Any]:
    """One record of Lambda's SQS event, as AWS sends it."""
    return {
        "messageId": message.message_id,
        "receiptHandle": message.receipt,
        "body": message.body,
        "attributes": message.attributes,
        "messageAttributes": {k: _attribute(v) for k, v in message.message_attributes.items()},
        "md5OfMessageAttributes": message.md5_of_attributes,
        "md5OfBody": message.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": source_arn,
        "awsRegion": region,
    }


def _filtered_view(rec: dict[str, Any]) -> dict[str, Any]:
    """What a filter pattern sees: the record, with a JSON body decoded."""
    view = dict(rec)
    with contextlib.suppress(ValueError):
        view["body"] = json.loads(rec["body"])
    return view


def failed_items(response: bytes, ids: set[str]) -> set[str] | None:
    """The message ids a ``ReportBatchItemFailures`` response names; None when the whole
    batch counts as failed (a malformed report, or an id not in the batch)."""
    if not response.strip():
        return set()
    try:
        document = json.loads(response)
    except ValueError:
        return None
    if document is None or document == {} or not isinstance(document, dict):
        return set() if document in (None, {}) else None
    items = document.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return None
    failed = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in ids:
            return None
        failed.add(identifier)
    return failed


class _Mapping:
    """The running workers of one mapping."""

    def __init__(self, mapping: EventSourceMapping) -> None:
        self.mapping = mapping
        self.patterns = [parse(p) for p in mapping.filters]
        self.workers: set[asyncio.Task[None]] = set()

    def limit(self, capacity: Capacity) -> int:
        """How many workers this mapping may run now."""
        available = max(1, capacity(self.mapping.function))
        cap = self.mapping.max_concurrency
        return available if cap is None else min(cap, available)


class SqsPollers:
    """Every SQS mapping's workers; ``apply`` and ``remove`` follow the control plane."""

    def __init__(
        self,
        queues: Queues,
        invoke: Invoke,
        capacity: Capacity,
        region: str,
        metrics: Recorder | None = None,
    ) -> None:
        self._queues = queues
        self._metrics = metrics if metrics is not None else Recorder()
        self._invoke = invoke
        self._capacity = capacity
        self._region = region
        self._running: dict[str, _Mapping] = {}
        self._started = False
        self._pending: dict[str, EventSourceMapping] = {}

    def start(self) -> None:
        """Start the workers of what was applied before the event loop ran."""
        self._started = True
        for mapping in self._pending.values():
            self.apply(mapping)
        self._pending.clear()

    def apply(self, mapping: EventSourceMapping) -> None:
        """Run ``mapping`` as it now is (restarting its workers), or stop it if disabled."""
        if not self._started:
            self._pending[mapping.uuid] = mapping
            return
        self.remove(mapping.uuid)
        if not mapping.enabled:
            return
        running = _Mapping(mapping)
        self._running[mapping.uuid] = running
        self._spawn(running)

    def remove(self, uuid: str) -> None:
        self._pending.pop(uuid, None)
        running = self._running.pop(uuid, None)
        if running is not None:
            for task in running.workers:
                task.cancel()

    async def close(self) -> None:
        tasks = [t for r in self._running.values() for t in r.workers]
        self._running.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _spawn(self, running: _Mapping) -> None:
        first = not running.workers
        task = asyncio.get_running_loop().create_task(self._work(running, first))
        running.workers.add(task)
        task.add_done_callback(running.workers.discard)

    async def _work(self, running: _Mapping, first: bool) -> None:
        m = running.mapping
        while True:
            try:
                batch = await self._collect(m)
                if not batch:
                    if first:
                        continue
                    return
                if len(batch) >= m.batch_size and len(running.workers) < running.limit(
                    self._capacity
                ):
                    self._spawn(running)
                await self._handle(running, batch)
            except asyncio.CancelledError:
                raise
            except Throttled:
                if not first:
                    return
                await asyncio.sleep(ERROR_PAUSE)
            except Exception as exc:  # the loop never dies; the messages come back
                log.warning("event source mapping %s: %s", m.uuid, exc)
                await asyncio.sleep(ERROR_PAUSE)

    async def _collect(self, m: EventSourceMapping) -> list[Message]:
        """A batch: the first message waits for a long poll, then up to BatchSize messages
        within MaximumBatchingWindowInSeconds."""
        batch = list(
            await self._queues.receive(m.source_arn, min(RECEIVE_MAX, m.batch_size), LONG_POLL)
        )
        if not batch:
            return []
        deadline = time.monotonic() + m.batching_window
        while len(batch) < m.batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = await self._queues.receive(
                m.source_arn, min(RECEIVE_MAX, m.batch_size - len(batch)), min(left, LONG_POLL)
            )
            batch += more
        return batch

    async def _handle(self, running: _Mapping, batch: list[Message]) -> None:
        m = running.mapping
        records = [record(message, m.source_arn, self._region) for message in batch]
        filtered = invoked = failed = deleted = 0
        try:
            if running.patterns:
                kept = [
                    r
                    for r in records
                    if any(p.matches_event(_filtered_view(r)) for p in running.patterns)
                ]
                dropped = [r["receiptHandle"] for r in records if r not in kept]
                if dropped:
                    self._queues.delete(m.source_arn, dropped)
                    filtered = deleted = len(dropped)
                records = kept
            for chunk in _chunks(records) if records else ():
                invoked += len(chunk)
                done = await self._invoke_batch(m, chunk)
                failed += len(chunk) - done
                deleted += done
        finally:
            self._metrics.mapping(m.uuid, len(batch), filtered, invoked, failed, deleted)

    async def _invoke_batch(self, m: EventSourceMapping, records: list[dict[str, Any]]) -> int:
        """Invoke the function with one batch; how many of its records were deleted."""
        payload = json.dumps({"Records": records}).encode()
        # The chain of the batch's longest-running message, so a loop is stopped even when
        # its message shares a batch (the others come back and are retried); the first
        # message's AWSTraceHeader when none ran before, as Lambda continues it.
        traces = [r["attributes"].get("AWSTraceHeader") for r in records]
        trace = max(traces, key=lineage.depth, default=None)
        ok, response = await self._invoke(m.function, m.qualifier, payload, trace)
        if not ok:
            return 0
        done = records
        if m.report_item_failures:
            failed = failed_items(response, {r["messageId"] for r in records})
            if failed is None:
                return 0
            done = [r for r in records if r["messageId"] not in failed]
        if done:
            self._queues.delete(m.source_arn, [r["receiptHandle"] for r in done])
        return len(done)


def _chunks(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The records in invokes whose events stay under Lambda's synchronous payload limit."""
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for r in records:
        length = len(json.dumps(r)) + 2
        if chunks[-1] and size + length > PAYLOAD_LIMIT:
            chunks.append([])
            size = 0
        chunks[-1].append(r)
        size += length
    return chunks
