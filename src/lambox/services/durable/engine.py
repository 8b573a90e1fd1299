"""The loop that runs durable executions: start one on Invoke, invoke its function with
the SDK's payload whenever it is due, and record how each invocation ended.

The ticker (``events/ticker.py``) is the scheduler: an execution is due when its stored
``wake`` comes (a new execution, a wait's end, a step's retry, a callback's answer or
timeout). ``advance`` takes it (compare-and-set, in the store), and only then is the
function invoked, in a task of its own so that one slow function holds up no other
execution. Between invocations an execution holds no sandbox, only rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lambox.errors import LamboxError, TooManyRequests
from lambox.events.clock import Clock
from lambox.events.ticker import Delivery, Due, Ticker
from lambox.services.durable.store import DurableStore, Execution, error_object

log = logging.getLogger(__name__)

PURGE_EVERY = 3600.0  # seconds between passes that forget executions past their retention

Invoker = Callable[[str, str | None, bytes], Awaitable[tuple[bytes, str | None]]]
"""Invoke ``function_name`` at ``qualifier`` synchronously with a payload: (payload,
function error or None). ``server.py`` wires it to the invoke service."""


@dataclass(frozen=True)
class Started:
    """What Invoke answers for a durable function."""

    execution: Execution
    created: bool


def to_millis(op: dict[str, Any]) -> dict[str, Any]:
    """An operation as the invocation payload carries it: timestamps in epoch millis."""
    out = dict(op)
    for key in ("StartTimestamp", "EndTimestamp"):
        if out.get(key) is not None:
            out[key] = int(out[key] * 1000)
    for details, key in (
        ("StepDetails", "NextAttemptTimestamp"),
        ("WaitDetails", "ScheduledEndTimestamp"),
    ):
        if isinstance(out.get(details), dict) and out[details].get(key) is not None:
            out[details] = {**out[details], key: int(out[details][key] * 1000)}
    return out


class DurableTimetable:
    """The store's due executions as the ticker's ``Timetable``."""

    def __init__(self, store: DurableStore, ended: Callable[[Execution], None]) -> None:
        self._store = store
        self._ended = ended

    def earliest(self) -> float | None:
        return self._store.earliest()

    def due(self, now: float, limit: int) -> Sequence[Due]:
        return [Due(arn, wake) for arn, wake in self._store.due(now, limit)]

    def advance(self, item: Due, now: float) -> Sequence[Delivery]:
        if self._store.advance(item.key, item.slot, now):
            return [Delivery(item.key, b"")]
        try:
            execution = self._store.get(item.key)
        except LamboxError:  # deleted meanwhile
            return []
        if execution.ended is not None:  # it timed out (ExecutionTimeout) rather than ran
            self._ended(execution)
        return []


class DurableEngine:
    """Starts executions and drives their invocations."""

    def __init__(
        self, store: DurableStore, invoke: Invoker, clock: Clock, chain: Invoker | None = None
    ) -> None:
        self._store = store
        self._invoke = invoke
        # An Invoke as a client makes it (a durable target starts its own execution): what
        # context.invoke's chained invocations run through.
        self._chain = chain or invoke
        self._chaining: set[tuple[str, str]] = set()
        self._purger: asyncio.Task[None] | None = None
        self._clock = clock
        self.ticker = Ticker("durable", DurableTimetable(store, self.ended), clock, self._deliver)
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiters: dict[str, list[asyncio.Future[Execution]]] = {}
        self.invocations = 0

    def start(self) -> None:
        recovered = self._store.recover(self._clock.now())
        if recovered:
            log.info("durable: %d execution(s) were mid-invocation; invoking them again", recovered)
        self.ticker.start()
        self.dispatch()
        self._purger = asyncio.get_running_loop().create_task(self._purge())

    async def _purge(self) -> None:
        """Forget ended executions past their RetentionPeriodInDays, hourly."""
        while True:
            try:
                gone = self._store.purge(self._clock.now())
                if gone:
                    log.info("durable: %d execution(s) past their retention forgotten", gone)
            except LamboxError as exc:
                log.warning("durable: purging ended executions failed: %s", exc)
            await self._clock.sleep(PURGE_EVERY)

    async def close(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
        await self.ticker.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def begin(
        self,
        *,
        name: str,
        function_name: str,
        function_arn: str,
        qualifier: str | None,
        version: str,
        payload: bytes,
        timeout: int,
        retention: int,
    ) -> Started:
        """Store a new execution (due now) and wake the ticker; idempotent by name."""
        text = payload.decode("utf-8", "replace") if payload else "{}"
        execution, created = self._store.create(
            name=name,
            function_name=function_name,
            function_arn=function_arn,
            qualifier=qualifier,
            version=version,
            payload=text,
            timeout=timeout,
            retention=retention,
            now=self._clock.now(),
        )
        if created:
            log.info("durable execution %s started", execution.arn)
            self.ticker.kick()
        return Started(execution, created)

    async def outcome(self, arn: str) -> Execution:
        """The execution once it has ended (for a synchronous Invoke)."""
        execution = self._store.get(arn)
        if execution.ended is not None:
            return execution
        future: asyncio.Future[Execution] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(arn, []).append(future)
        return await future

    def dispatch(self) -> None:
        """Run the chained invokes that are started and not running (all of them after a
        restart: a chained invoke is at least once)."""
        for arn, op_id, function_name, payload in self._store.chained():
            if (arn, op_id) in self._chaining:
                continue
            self._chaining.add((arn, op_id))
            task = asyncio.get_running_loop().create_task(
                self._chained(arn, op_id, function_name, payload)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _chained(self, arn: str, op_id: str, function_name: str, payload: str | None) -> None:
        try:
            status, result, error = "FAILED", None, None
            try:
                body, function_error = await self._chain(
                    function_name, None, (payload or "{}").encode()
                )
            except LamboxError as exc:
                error = {"ErrorType": exc.aws_type, "ErrorMessage": exc.message}
            else:
                if function_error is None:
                    status, result = "SUCCEEDED", body.decode("utf-8", "replace")
                else:
                    error = _function_error(body, function_error)
            log.info(
                "durable execution %s: chained invoke %s of %s %s",
                arn,
                op_id,
                function_name,
                status,
            )
            if self._store.complete_chained(arn, op_id, status, result, error, self._clock.now()):
                self.ticker.kick()
        except Exception:
            log.exception("durable execution %s: chained invoke %s failed", arn, op_id)
        finally:
            self._chaining.discard((arn, op_id))

    def changed(self) -> None:
        """Something made an execution due (a callback's answer): look again now."""
        self.ticker.kick()

    def ended(self, execution: Execution) -> None:
        for future in self._waiters.pop(execution.arn, []):
            if not future.done():
                future.set_result(execution)

    async def _deliver(self, delivery: Delivery) -> None:
        task = asyncio.get_running_loop().create_task(self._run(delivery.target))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, arn: str) -> None:
        try:
            execution = await self._invocation(arn)
        except Exception:
            log.exception("durable execution %s: invocation could not be recorded", arn)
            return
        if execution is None:
            return
        if execution.ended is not None:
            log.info("durable execution %s %s", arn, execution.status)
            self.ended(execution)
        else:
            self.ticker.kick()

    async def _invocation(self, arn: str) -> Execution | None:
        begun = self._store.begin(arn, self._clock.now())
        if begun is None:
            return None
        execution = begun.execution
        payload = json.dumps(
            {
                "DurableExecutionArn": arn,
                "CheckpointToken": begun.token,
                "InitialExecutionState": {
                    "Operations": [to_millis(op) for op in begun.operations],
                    "NextMarker": "",
                },
            }
        ).encode()
        self.invocations += 1
        log.info(
            "durable execution %s: invocation %s (%d operations)",
            arn,
            execution.invocation,
            len(begun.operations),
        )
        outcome, result, error = "RETRY", None, None
        call = asyncio.ensure_future(
            self._invoke(execution.function_name, execution.qualifier, payload)
        )
        # The ExecutionTimeout holds while an invocation runs too: at its end the execution
        # times out at once, and what the invocation still checkpoints or answers is refused
        # (its token is dead); the invocation itself ends at the function's own Timeout.
        left = execution.started + execution.timeout - self._clock.now()
        timer = asyncio.ensure_future(self._clock.sleep(left))
        try:
            await asyncio.wait({call, timer}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            call.cancel()
            raise
        finally:
            timer.cancel()
        if not call.done():
            expired = self._store.expire(arn, self._clock.now())
            if expired is not None:
                log.info("durable execution %s TIMED_OUT mid-invocation", arn)
                self.ended(expired)
            try:
                await asyncio.wait({call})
            except asyncio.CancelledError:
                call.cancel()
                raise
        try:
            body, function_error = call.result()
            outcome, result, error = _read_output(body, function_error)
        except TooManyRequests:
            outcome = "THROTTLED"
        except LamboxError as exc:
            error = {"ErrorType": exc.aws_type, "ErrorMessage": exc.message}
        if outcome == "RETRY":
            log.warning("durable execution %s: invocation failed: %s", arn, error)
        return self._store.settle(
            arn,
            execution.invocation,
            execution.external,
            outcome,
            result,
            error,
            self._clock.now(),
        )


def _function_error(body: bytes, function_error: str) -> dict[str, Any]:
    """The ErrorObject of a function's error answer (``errorType``, ``errorMessage``)."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return {
            "ErrorType": str(data.get("errorType") or function_error),
            "ErrorMessage": str(data.get("errorMessage") or ""),
        }
    return {"ErrorType": function_error, "ErrorMessage": body.decode("utf-8", "replace")[:4096]}


def _read_output(
    body: bytes, function_error: str | None
) -> tuple[str, str | None, dict[str, Any] | None]:
    """(outcome, result, error) of the SDK's ``DurableExecutionInvocationOutput``; an
    unhandled error or an answer that is not one is a failed invocation (RETRY)."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if function_error is not None or not isinstance(data, dict) or "Status" not in data:
        error: dict[str, Any] = {
            "ErrorType": "Invocation.Failed",
            "ErrorMessage": body.decode("utf-8", "replace")[:4096],
        }
        if isinstance(data, dict) and "errorType" in data:
            error = {
                "ErrorType": str(data.get("errorType")),
                "ErrorMessage": str(data.get("errorMessage", "")),
            }
        return "RETRY", None, error
    status = data.get("Status")
    if status == "SUCCEEDED":
        result = data.get("Result")
        return "SUCCEEDED", result if isinstance(result, str) else None, None
    if status == "FAILED":
        return "FAILED", None, error_object(data.get("Error"))
    if status == "PENDING":
        return "PENDING", None, None
    return (
        "RETRY",
        None,
        {"ErrorType": "Invocation.Failed", "ErrorMessage": f"Unknown Status {status!r}"},
    )
