"""The asynchronous-invocation worker: drains the durable event queue into the functions.

One *lane* per function with work: a task that claims due events in batches and runs up
to the function's async concurrency of them at once (``Settings.async_concurrency``, capped
by its reserved concurrency). A lane sleeps until the next retry is due or new events
arrive (the queue's ``watch``), and ends when its function has nothing left to do.

Every event ends in exactly one of: removed after a success (and its OnSuccess record
delivered), pending again for a retry, removed after its OnFailure record / dead-letter
message was delivered, or kept as ``failed`` when it has nowhere to go (``lambox events``
lists those, ``--redrive`` queues them again). A crash at any point leaves the event
claimed; the queue makes it claimable again after a restart, so it is run again (at least
once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from lambox.arns import Arns
from lambox.errors import LamboxError, ResourceConflict, ResourceNotFound, TooManyRequests
from lambox.invoke import retries
from lambox.invoke.destinations import Destinations, dead_letter_message, invocation_record
from lambox.invoke.service import InvokeService
from lambox.metrics.recorder import Recorder
from lambox.model import LATEST, FunctionVersion, Invocation, InvocationType, Limits
from lambox.store.event_configs import EventInvokeConfig
from lambox.store.events import Attempt, EventQueue, EventStatus, QueuedEvent
from lambox.watch import Change, Removed

log = logging.getLogger(__name__)

ConfigLookup = Callable[[str, str], EventInvokeConfig | None]
"""(function name, qualifier or $LATEST) -> its EventInvokeConfig, read from memory."""

LEASE_SECONDS = 960.0
"""How long a claim is exclusive: the longest function Timeout (900 s) plus a margin."""

NOT_FOUND = "FunctionNotFound"
"""The condition of a failed event whose function version or alias no longer exists."""


@dataclass
class _Lane:
    """The drain loop of one function: its task, its running deliveries, its wake-up."""

    function: str
    kick: asyncio.Event = field(default_factory=asyncio.Event)
    running: int = 0
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class EventsView:
    """What ``lambox events`` shows: counts per status and the oldest events."""

    counts: dict[EventStatus, int]
    events: list[QueuedEvent]


class AsyncWorker:
    """Runs queued events with AWS's retry, max-age, destination and dead-letter rules."""

    def __init__(
        self,
        queue: EventQueue,
        invoke: InvokeService,
        configs: ConfigLookup,
        destinations: Destinations,
        arns: Arns,
        policy: retries.RetryPolicy,
        concurrency: int,
        metrics: Recorder | None = None,
    ) -> None:
        self._queue = queue
        self._metrics = metrics if metrics is not None else Recorder()
        self._invoke = invoke
        self._configs = configs
        self._destinations = destinations
        self._arns = arns
        self._policy = policy
        self._concurrency = max(1, concurrency)
        self._reserved: dict[str, int] = {}
        self._lanes: dict[str, _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        queue.watch(self.wake)

    async def start(self) -> int:
        """Make claims of a previous run visible again and start a lane for every function
        with events; returns how many events were recovered from dead claims."""
        recovered = await self._queue.recover()
        for name in await self._queue.functions_with_work():
            self.wake(name)
        if recovered:
            log.warning("%d asynchronous events were in flight at the last stop: rerun", recovered)
        return recovered

    def wake(self, function: str) -> None:
        """New events for ``function`` are stored: make sure its lane is running."""
        if self._closing:
            return
        lane = self._lanes.get(function)
        if lane is not None:
            lane.kick.set()
            return
        lane = self._lanes[function] = _Lane(function)
        lane.task = asyncio.get_running_loop().create_task(self._drain(lane))

    def on_change(self, change: Change) -> None:
        """Change-feed subscriber: follow reserved concurrency; drop a deleted function's
        events (as AWS does when a function is deleted)."""
        if isinstance(change, Limits):
            if change.reserved is None:
                self._reserved.pop(change.function, None)
            else:
                self._reserved[change.function] = change.reserved
        elif isinstance(change, Removed) and change.qualifier is None:
            self._reserved.pop(change.name, None)
            self._spawn(self._purge(change.name))

    async def view(self, function: str, limit: int) -> EventsView:
        """The function's events: counts per status and the first ``limit`` of them."""
        return EventsView(
            await self._queue.counts(function), await self._queue.events(function, limit)
        )

    async def redrive(self, function: str) -> int:
        """Queue the function's failed events again, as if they had just been accepted."""
        return await self._queue.redrive(function)

    async def close(self) -> None:
        """Stop claiming and cancel running deliveries; their events stay claimed, and the
        queue hands them out again at the next start (at least once)."""
        self._closing = True
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        tasks += self._tasks
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- lanes ----------------------------------------------------------------------------

    def _limit(self, function: str) -> int:
        reserved = self._reserved.get(function)
        if reserved is None or reserved == 0:  # reserved 0: events fail without running
            return self._concurrency
        return min(self._concurrency, reserved)

    async def _drain(self, lane: _Lane) -> None:
        """Claim and start events while there are any; sleep until the next is due.

        Claims are made once at least half the lane's slots are free, so a busy lane claims
        in batches instead of once per finished event. A failed pass is logged and retried
        a second later; the lane ends only when its function has nothing left to do.
        """
        try:
            while not self._closing:
                try:
                    if await self._pass(lane):
                        return
                except Exception:
                    log.exception("event lane of %s failed a pass", lane.function)
                    await asyncio.sleep(1.0)
        finally:
            if self._lanes.get(lane.function) is lane:
                del self._lanes[lane.function]

    async def _pass(self, lane: _Lane) -> bool:
        """One claim and the wait after it; True when the lane has nothing left to do."""
        lane.kick.clear()
        limit = self._limit(lane.function)
        free = limit - lane.running
        due: float | None = None
        if free > 0 and (lane.running == 0 or 2 * free >= limit):
            claim = await self._queue.claim(lane.function, free, LEASE_SECONDS)
            for event in claim.events:
                self._start(lane, event)
            due = claim.next_due
            idle = not claim.events and due is None and lane.running == 0
            if idle and not lane.kick.is_set():
                return True
        timeout = None if due is None else max(0.0, due - time.time())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lane.kick.wait(), timeout)
        return False

    def _start(self, lane: _Lane, event: QueuedEvent) -> None:
        lane.running += 1
        task = asyncio.get_running_loop().create_task(self._deliver(event))
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            lane.running -= 1
            lane.kick.set()

        task.add_done_callback(done)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _purge(self, function: str) -> None:
        removed = await self._queue.purge(function)
        if removed:
            log.info("dropped %d queued events of deleted function %s", removed, function)

    # -- one delivery ---------------------------------------------------------------------

    async def _deliver(self, event: QueuedEvent) -> None:
        """Run one claimed event and settle it; lambox's own failures back off and retry."""
        try:
            await self._attempt(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event %s of %s: delivery failed", event.request_id, event.function)
            try:
                await self._throttled(event, self._config(event))
            except Exception:
                log.exception("event %s stays claimed until the next start", event.request_id)

    def _config(self, event: QueuedEvent) -> EventInvokeConfig:
        key = event.qualifier or LATEST
        found = self._configs(event.function, key)
        return found if found is not None else EventInvokeConfig(event.function, key, 0.0)

    async def _attempt(self, event: QueuedEvent) -> None:
        config = self._config(event)
        try:
            fv = self._invoke.resolve(event.function, event.qualifier)
        except ResourceNotFound:
            log.warning("event %s: %s no longer exists", event.request_id, self._arn(event))
            await self._queue.fail(event.id, NOT_FOUND, None)
            return
        except ResourceConflict:  # the function is being created or updated
            await self._throttled(event, config)
            return
        if retries.expired(config, event.enqueued_at, time.time()):
            await self._give_up(event, fv, config, retries.EVENT_AGE_EXCEEDED, event.last)
            return
        if self._reserved.get(event.function) == 0:
            await self._give_up(event, fv, config, retries.RETRIES_EXHAUSTED, None)
            return
        if self._invoke.stops_loop(event.function, event.trace_header, event.request_id):
            await self._give_up(event, fv, config, retries.RECURSIVE_LOOP, event.last)
            return
        invocation = Invocation(
            request_id=event.request_id,
            payload=event.payload,
            invocation_type=InvocationType.EVENT,
            client_context=event.client_context,
            qualifier=event.qualifier,
            trace_header=event.trace_header,
            tenant_id=event.tenant_id,
        )
        self._metrics.async_age(
            event.function, event.qualifier, (time.time() - event.enqueued_at) * 1000
        )
        try:
            result = await self._invoke.run(fv, invocation)
        except TooManyRequests:
            await self._throttled(event, config, fv)
            return
        attempts = event.attempts + 1
        last = Attempt(200, result.executed_version, result.function_error, result.payload)
        if result.function_error is None:
            if config.on_success:
                record = self._record(event, fv, retries.SUCCESS, attempts, last)
                await self._send(config.on_success, record)
            await self._queue.complete(event.id)
            return
        decision = retries.after_function_error(
            self._policy, config, attempts, event.enqueued_at, time.time()
        )
        if isinstance(decision, str):
            await self._give_up(event, fv, config, decision, last, attempts)
        else:
            await self._queue.retry(event.id, decision, attempts, 0, last)

    async def _throttled(
        self, event: QueuedEvent, config: EventInvokeConfig, fv: FunctionVersion | None = None
    ) -> None:
        """The function could not be run: back off (not an attempt), or expire the event."""
        throttles = event.throttles + 1
        decision = retries.after_throttle(
            self._policy, config, throttles, event.enqueued_at, time.time()
        )
        if isinstance(decision, str):
            await self._give_up(event, fv, config, decision, event.last)
        else:
            await self._queue.retry(event.id, decision, event.attempts, throttles, None)

    async def _give_up(
        self,
        event: QueuedEvent,
        fv: FunctionVersion | None,
        config: EventInvokeConfig,
        condition: str,
        last: Attempt | None,
        attempts: int | None = None,
    ) -> None:
        """Send the event to its OnFailure destination and dead-letter target; keep it as
        failed only when it has neither. Without a snapshot (the function could not be
        resolved) there is no dead-letter target to read."""
        count = event.attempts if attempts is None else attempts
        self._metrics.async_dropped(event.function, event.qualifier)
        delivered = False
        if config.on_failure:
            record = self._record(event, fv, condition, count, last)
            delivered = await self._send(config.on_failure, record)
        dead_letter = None if fv is None else fv.config.dead_letter_arn
        if dead_letter:
            sent = await self._send(dead_letter, dead_letter_message(event, last))
            delivered = delivered or sent
        if delivered:
            await self._queue.complete(event.id)
        else:
            await self._queue.fail(event.id, condition, last)

    async def _send(self, arn: str, message: bytes) -> bool:
        """Deliver to ``arn``; False when lambox cannot deliver there (logged, not raised:
        the event is then kept as failed). A delivery failure raises (retry later)."""
        try:
            destination = self._destinations.get(arn)
        except LamboxError as exc:
            log.error("cannot deliver to %s: %s", arn, exc.message)
            return False
        await destination.deliver(message)
        return True

    def _arn(self, event: QueuedEvent) -> str:
        return self._arns.function(event.function, event.qualifier or LATEST)

    def _record(
        self,
        event: QueuedEvent,
        fv: FunctionVersion | None,
        condition: str,
        attempts: int,
        last: Attempt | None,
    ) -> bytes:
        arn = self._arn(event)
        version = fv.config.version if fv is not None else (event.qualifier or LATEST)
        return invocation_record(event, arn, condition, attempts, last, version, time.time())
