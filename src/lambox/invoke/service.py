"""The only door into the scheduler: synchronous, Event and DryRun invocations.

Works from the snapshots the change feed delivered (``on_change``); never reads the store.
A sandbox failure is the *function's* failure (an ``Unhandled`` result shaped as on AWS),
never an API error: the caller always gets a Lambda-shaped answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from lambox import arns as arns_mod
from lambox import lineage
from lambox.errors import (
    InvalidParameterValue,
    RecursiveInvocation,
    RequestTooLarge,
    ResourceConflict,
    ResourceNotFound,
    SandboxDead,
    SandboxError,
    SandboxOutOfMemory,
    SandboxTimeout,
    TooManyRequests,
)
from lambox.invoke import payloads, records
from lambox.invoke.ids import new_request_id as new_request_id
from lambox.invoke.ids import trace_id
from lambox.logs import LogSink, stream_name
from lambox.metrics.recorder import Recorder
from lambox.model import (
    LATEST,
    Alias,
    FunctionConfig,
    FunctionVersion,
    Invocation,
    InvocationResult,
    InvocationType,
    State,
)
from lambox.sandbox.api import InitReport, InvokeRequest, RawResult
from lambox.scheduler.pools import Scheduler
from lambox.store.events import EventQueue, NewEvent
from lambox.tracing.recorder import Trace, Tracer
from lambox.watch import Change, Removed

log = logging.getLogger(__name__)

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 1024 * 1024
RESPONSE_LIMIT = SYNC_PAYLOAD_LIMIT + 100
TAIL_BYTES = 4096
UNHANDLED = "Unhandled"
# AWS's documented error for a tenant id missing on a PER_TENANT function or given to one
# without tenant isolation (the troubleshooting page of tenant isolation; one text for both).
TENANT_MISMATCH = (
    "Tenant ID configuration not specified or passed to a function when tenant isolation is"
    " not enabled."
)

DurableStarter = Callable[[FunctionVersion, Invocation], Awaitable[InvocationResult]]
"""Starts (or finds) the durable execution an Invoke of a durable function names."""


@dataclass(slots=True)
class Outcome:
    """What one invocation produced, before lambox frames its log (not frozen: a frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__``, and one is made
    on every invocation)."""

    payload: bytes
    error: str | None
    log: bytes = b""
    duration_ms: float = 0.0
    max_memory_mb: int = 0
    timed_out: bool = False


class InvokeService:
    """Runs invocations against the current snapshots of functions."""

    def __init__(
        self,
        scheduler: Scheduler,
        logs: LogSink,
        arns: arns_mod.Arns,
        events: EventQueue,
        tracer: Tracer | None = None,
        metrics: Recorder | None = None,
        loop_allowed: Callable[[str], bool] = lambda _name: False,
    ) -> None:
        # Whether a function's recursion config is ``Allow`` (read only for a chain that
        # already ran it 16 times).
        self.loop_allowed = loop_allowed
        self._scheduler = scheduler
        self._tracer = tracer if tracer is not None else Tracer(new_header=trace_id)
        self._metrics = metrics if metrics is not None else Recorder()
        self._logs = logs
        self._arns = arns
        self._versions: dict[tuple[str, str], FunctionVersion] = {}
        self._aliases: dict[tuple[str, str], Alias] = {}
        self._events = events
        # Set by server.py: Invoke of a function with a DurableConfig starts an execution.
        self.durable: DurableStarter | None = None
        self._loader: Callable[[str], None] | None = None
        self._loaded: set[str] = set()

    def load_with(self, loader: Callable[[str], None]) -> None:
        """``loader(name)`` publishes a function's stored versions on the change feed: the
        control plane hands them over when a function is first invoked, not at start-up."""
        self._loader = loader

    def _load(self, name: str) -> bool:
        """Have the function's versions published, once; whether anything was asked."""
        if self._loader is None or name in self._loaded:
            return False
        self._loaded.add(name)
        self._loader(name)
        return True

    def on_change(self, change: Change) -> None:
        """Change-feed subscriber: keep the newest snapshot of every version and alias."""
        if isinstance(change, Removed):
            if change.qualifier is None:
                self._loaded.discard(change.name)
                for table in (self._versions, self._aliases):
                    for key in [k for k in table if k[0] == change.name]:
                        del table[key]
            else:
                self._versions.pop((change.name, change.qualifier), None)
                self._aliases.pop((change.name, change.qualifier), None)
        elif isinstance(change, Alias):
            self._aliases[(change.function, change.name)] = change
        elif isinstance(change, FunctionVersion):
            current = self._versions.get(change.key)
            if current is None or current.generation < change.generation:
                self._versions[change.key] = change

    def route(
        self, function_name: str, qualifier: str | None
    ) -> tuple[FunctionVersion, str | None]:
        """The snapshot an invocation of ``function_name[:qualifier]`` runs, and the qualifier
        it was addressed by. An alias with a routing configuration picks its additional
        version with the configured weight."""
        name, qualifier = self._arns.parse(function_name, qualifier)
        version = qualifier or LATEST
        if not (version == LATEST or version.isdigit()):
            alias = self._aliases.get((name, version))
            if alias is None and self._load(name):
                alias = self._aliases.get((name, version))
            if alias is None:
                raise ResourceNotFound(f"Function not found: {self._arns.function(name, version)}")
            version = alias.function_version
            if alias.additional_version and random.random() < alias.additional_weight:
                version = alias.additional_version
        fv = self._versions.get((name, version))
        if fv is None and self._load(name):
            fv = self._versions.get((name, version))
        if fv is None:
            raise ResourceNotFound(
                f"Function not found: {self._arns.function(name, qualifier or LATEST)}"
            )
        state = fv.config.state
        if state is not State.ACTIVE:
            raise ResourceConflict(
                "The operation cannot be performed at this time. The function is currently in"
                f" the following state: {state.value}"
            )
        return fv, qualifier

    def provisioned_ready(self, name: str, version: str) -> int:
        """Provisioned sandboxes of a version that are initialized and alive."""
        return self._scheduler.provisioned(name, version)[0]

    def resolve(self, function_name: str, qualifier: str | None) -> FunctionVersion:
        """The snapshot an invocation of ``function_name[:qualifier]`` runs."""
        return self.route(function_name, qualifier)[0]

    async def prepare(
        self, function_name: str, invocation: Invocation, serialized: bool = False
    ) -> tuple[FunctionVersion, Invocation]:
        """The version an invocation runs (an alias routed by weight) and the invocation
        with its qualifier resolved, after the payload checks; raises AWS's error for a
        function that cannot be invoked or a payload that is refused. A ``serialized``
        payload is one lambox wrote itself with ``json.dumps`` (a function URL's event):
        valid JSON by construction, so its size is checked but its text is not read."""
        fv, invocation = self._checked(function_name, invocation)
        payload = invocation.payload
        if not serialized and payload and not payloads.checked_fast(payload):
            await payloads.check_deep(payload)
        return fv, invocation

    def _checked(
        self, function_name: str, invocation: Invocation
    ) -> tuple[FunctionVersion, Invocation]:
        """``prepare`` up to the payload's JSON check: the route, the tenant id (required by a
        function with tenant isolation, refused by any other) and the size limit."""
        fv, qualifier = self.route(function_name, invocation.qualifier)
        if fv.config.tenant_isolation:
            if invocation.tenant_id is None:
                raise InvalidParameterValue(TENANT_MISMATCH)
        elif invocation.tenant_id is not None:
            raise InvalidParameterValue(TENANT_MISMATCH)
        if qualifier != invocation.qualifier:
            invocation = replace(invocation, qualifier=qualifier)
        kind = invocation.invocation_type
        limit = ASYNC_PAYLOAD_LIMIT if kind is InvocationType.EVENT else SYNC_PAYLOAD_LIMIT
        if len(invocation.payload) > limit:
            raise RequestTooLarge(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
            )
        return fv, invocation

    async def invoke(self, function_name: str, invocation: Invocation) -> InvocationResult:
        # ``prepare``, inlined: no coroutine for a payload the C decoder reads.
        fv, invocation = self._checked(function_name, invocation)
        payload = invocation.payload
        if payload and not payloads.checked_fast(payload):
            await payloads.check_deep(payload)
        kind = invocation.invocation_type
        if kind is InvocationType.DRY_RUN:
            return InvocationResult(payload=b"", executed_version=fv.config.version)
        if fv.config.durable is not None and self.durable is not None:
            return await self.durable(fv, invocation)
        if kind is InvocationType.EVENT:
            # 202 only once the event is durable; the queue worker runs it (at least once).
            event = NewEvent(
                invocation.request_id,
                fv.name,
                invocation.qualifier,
                invocation.payload,
                invocation.client_context,
                invocation.trace_header,
                invocation.tenant_id,
            )
            await self._events.put((event,))
            self._metrics.async_received(fv.name, invocation.qualifier)
            return InvocationResult(payload=b"", executed_version=fv.config.version)
        if self.stops_loop(fv.name, invocation.trace_header, invocation.request_id):
            raise RecursiveInvocation(
                "Lambda has detected your function being invoked in a recursive loop with"
                " other AWS resources and stopped your function's invocation."
            )
        return await self.run(fv, invocation)

    async def invoke_direct(
        self, function_name: str, qualifier: str | None, payload: bytes
    ) -> tuple[bytes, str | None]:
        """One synchronous invocation, durable function or not (a durable execution's own
        invocations): (payload, function error or None)."""
        invocation = Invocation(new_request_id(), payload, qualifier=qualifier)
        fv, invocation = await self.prepare(function_name, invocation)
        result = await self.run(fv, invocation)
        return result.payload, result.function_error

    def stops_loop(self, name: str, trace: str | None, request_id: str) -> bool:
        """Whether this run of ``name`` is one a recursive loop detection stops (logged)."""
        if not trace or not lineage.looped(trace, name) or self.loop_allowed(name):
            return False
        log.warning(
            "recursive loop stopped: %s already ran %d times in the chain of request %s"
            " (RecursiveLoop is Terminate)",
            name,
            lineage.hops(trace, name),
            request_id,
        )
        return True

    async def run(self, fv: FunctionVersion, inv: Invocation) -> InvocationResult:
        """Run one invocation to completion and record its log (and its trace, for a
        function with Active tracing)."""
        header, trace = self._tracer.begin(
            fv.config.tracing_mode, inv.trace_header, fv.name, fv.arn, inv.request_id
        )
        scheduler = self._scheduler
        try:
            # ``acquire`` without its ``async with``: no coroutine on a warm lease.
            pool, lease, unreserved = scheduler.enter(fv, inv.tenant_id)
            if lease is None:
                lease = await scheduler.lease_cold(pool, unreserved, inv.tenant_id)
            try:
                report = lease.sandbox.init
                assert report is not None
                init = report if lease.cold else None
                stream = lease.sandbox.log_stream
                if trace is not None:
                    trace.acquired = trace.call_start = trace.call_end = time.time_ns()
                    trace.cold = lease.cold
                    trace.init_ms = report.init_ms if lease.cold else None
                if report.error is not None:
                    lease.discard = True
                    outcome = Outcome(report.error, UNHANDLED)
                    return self._finish(fv, inv, outcome, init, stream, trace)
                head = self._init_head(fv.config, init) if init is not None else b""
                spill = Spill(
                    self._logs, fv.config, inv.request_id, stream, init, head, inv.tenant_id
                )
                # The call itself, inline: no coroutine of its own on every invocation.
                request = self._request(fv, inv, header, spill)
                timeout = fv.config.timeout
                if trace is not None:
                    trace.call_start = time.time_ns()
                started = time.perf_counter()
                try:
                    raw = await lease.sandbox.invoke(request, float(timeout))
                except (SandboxTimeout, SandboxDead) as exc:  # the function's error
                    elapsed = (time.perf_counter() - started) * 1000
                    outcome = _failed(exc, inv.request_id, timeout, elapsed)
                else:
                    elapsed = (time.perf_counter() - started) * 1000
                    outcome = _answered(raw, elapsed)
                finally:
                    if trace is not None:
                        trace.call_end = time.time_ns()
                return self._finish(fv, inv, outcome, init, stream, trace, spill)
            finally:
                scheduler.exit(pool, lease, unreserved)
        except TooManyRequests:
            self._metrics.throttled(fv.config.name, inv.qualifier, fv.config.version)
            raise
        except SandboxError as exc:
            log.warning("sandbox for %s failed to start: %s", fv.name, exc)
            payload = records.exit_payload(inv.request_id, getattr(exc, "exit_code", None))
            log_ = exc.log + records.exit_log(inv.request_id, payload)
            outcome = Outcome(payload, UNHANDLED, log_)
            stream = stream_name(fv.config.version)
            return self._finish(fv, inv, outcome, None, stream, trace)

    def _request(
        self, fv: FunctionVersion, inv: Invocation, header: str, spill: Spill
    ) -> InvokeRequest:
        """What the sandbox gets for ``inv``: its deadline, invoked ARN and trace header."""
        config = fv.config
        return InvokeRequest(
            inv.request_id,
            inv.payload,
            time.time() + config.timeout,
            self._arns.function(config.name, inv.qualifier),
            inv.client_context,
            lineage.extended(header, inv.trace_header, config.name),
            inv.sink,
            spill,
            not inv.trace_header,  # without a caller's header, lambox made all of it
            inv.tenant_id,
        )

    def _finish(
        self,
        fv: FunctionVersion,
        inv: Invocation,
        outcome: Outcome,
        init: InitReport | None,
        stream: str,
        trace: Trace | None = None,
        spill: Spill | None = None,
    ) -> InvocationResult:
        """Log the invocation (after the init's log when it started the sandbox) and make
        its result. ``init`` is the report of a cold start, None for a warm one."""
        config = fv.config
        init_ms: float | None = None
        restore: tuple[float, int] | None = None
        started = spill is not None and spill.started  # START went out with an earlier part
        prefix = b""
        if init is not None and not started:
            prefix = init_prefix(init, self._init_head(config, init))
        if init is not None:
            if init.timed_out:
                pass  # the init ran again in this invocation: its time is in Duration
            elif init.restore_ms is None:
                init_ms = init.init_ms
            else:
                restore = (init.restore_ms, init.billed_restore_ms)
        if config.log_format == "JSON":
            status = "success" if outcome.error is None else "error"
            if outcome.timed_out:
                status = "timeout"
            text = records.framed_json(
                inv.request_id,
                config.version,
                outcome.log,
                outcome.duration_ms,
                config.memory_size,
                outcome.max_memory_mb,
                init_ms,
                restore,
                status,
                config.system_log_level,
                not started,
                inv.tenant_id,
            )
        else:
            text = records.framed(
                inv.request_id,
                config.version,
                outcome.log,
                outcome.duration_ms,
                config.memory_size,
                outcome.max_memory_mb,
                init_ms,
                restore,
                not started,
            )
        self._logs.append(config.name, prefix + text if prefix else text, stream)
        if trace is not None:
            trace.error = outcome.error
            self._tracer.finish(trace)
        self._metrics.invoked(
            config.name,
            inv.qualifier,
            config.version,
            outcome.duration_ms,
            outcome.error is not None,
            config.memory_size,
            outcome.max_memory_mb,
            self._scheduler.load(fv),
        )
        if outcome.log.find(b'"_aws"') != -1:  # not ``in``: see ``LogSink.append``
            self._metrics.embedded(config.name, outcome.log)
        return InvocationResult(
            outcome.payload,
            config.version,
            outcome.error,
            text[-TAIL_BYTES:] if inv.tail_logs else b"",
            outcome.duration_ms,
            init_ms,
            outcome.max_memory_mb,
        )

    def _init_head(self, config: FunctionConfig, init: InitReport) -> bytes:
        """INIT_START (``platform.initStart``) of a cold start's log; nothing after a
        SnapStart restore or when the init's spilled output already began with it."""
        if init.restore_ms is not None or init.spilled:
            return b""
        return init_start(self._arns, config)

    async def close(self) -> None:
        """Send the traces still queued; Event invocations live in the queue, not here."""
        await asyncio.to_thread(self._tracer.close)


def init_start(arns: arns_mod.Arns, config: FunctionConfig, init_type: str = "on-demand") -> bytes:
    """The INIT_START line (or ``platform.initStart`` record) of ``config``'s runtime."""
    version_arn = arns.runtime_version(config.runtime)
    return records.init_start(
        config.runtime, version_arn, config.log_format, config.system_log_level, init_type
    )


class InitSpill:
    """Where an init's output goes once it outgrows what its sandbox keeps in memory (the
    Runtime API factory's ``init_spill``): the sandbox's stream of the function's log as it
    comes, the first part after INIT_START (which the cold start's log then leaves out)."""

    def __init__(self, logs: LogSink, arns: arns_mod.Arns) -> None:
        self._logs = logs
        self._arns = arns

    def __call__(self, fv: FunctionVersion, stream: str, init_type: str) -> Callable[[bytes], None]:
        config = fv.config
        head = [init_start(self._arns, config, init_type)]

        def spill(data: bytes) -> None:
            if head:
                data = head.pop() + data
            self._logs.append(config.name, data, stream)

        return spill


def init_prefix(init: InitReport | None, head: bytes = b"") -> bytes:
    """What a cold start's log puts before the invocation's START: ``head`` (INIT_START),
    the init's output, and INIT_REPORT when the init timed out and ran again within the
    invocation."""
    if init is None:
        return b""
    if init.timed_out:
        return head + init.log + records.init_report_line(init.init_ms, "init", "timeout")
    return head + init.log


class Spill:
    """An invocation's log past what its sandbox keeps in memory (``InvokeRequest.log_spill``):
    written to the function's log as it comes, the first part after the init's log and the
    START record, so the log reads as it would have in one piece."""

    __slots__ = (
        "_config",
        "_head",
        "_init",
        "_logs",
        "_request_id",
        "_stream",
        "_tenant_id",
        "started",
    )

    def __init__(
        self,
        logs: LogSink,
        config: FunctionConfig,
        request_id: str,
        stream: str,
        init: InitReport | None,
        head: bytes = b"",
        tenant_id: str | None = None,
    ) -> None:
        self._logs = logs
        self._tenant_id = tenant_id
        self._head = head
        self._config = config
        self._request_id = request_id
        self._stream = stream
        self._init = init
        self.started = False

    def __call__(self, data: bytes) -> None:
        if not self.started:
            config = self._config
            head = records.start_record(
                self._request_id,
                config.version,
                config.log_format,
                config.system_log_level,
                self._tenant_id,
            )
            data = init_prefix(self._init, self._head) + head + data
            self.started = True
        self._logs.append(self._config.name, data, self._stream)


def _answered(raw: RawResult, elapsed: float) -> Outcome:
    """The outcome of a call the sandbox answered (a response too large is an error)."""
    memory = -(-raw.max_rss_kb // 1024)
    if len(raw.payload) > RESPONSE_LIMIT:
        return Outcome(_too_large(), UNHANDLED, raw.log, elapsed, memory)
    return Outcome(raw.payload, raw.error, raw.log, elapsed, memory)


def _failed(exc: SandboxTimeout | SandboxDead, rid: str, timeout: int, elapsed: float) -> Outcome:
    """A timeout or a crash of the call as the function's error; what the function wrote
    before it failed comes first, as on Lambda."""
    if isinstance(exc, SandboxTimeout):
        return Outcome(
            records.timeout_payload(rid, timeout),
            UNHANDLED,
            exc.log + records.timeout_log(rid, timeout),
            elapsed,
            timed_out=True,
        )
    if isinstance(exc, SandboxOutOfMemory):
        payload = records.out_of_memory_payload(rid)
        log = exc.log + records.exit_log(rid, payload)
        return Outcome(payload, UNHANDLED, log, elapsed, exc.peak_mb)
    payload = records.exit_payload(rid, exc.exit_code)
    log = exc.log + records.exit_log(rid, payload)
    return Outcome(payload, UNHANDLED, log, elapsed)


def _too_large() -> bytes:
    return json.dumps(
        {
            "errorMessage": "Response payload size exceeded maximum allowed payload size"
            f" ({RESPONSE_LIMIT} bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
    ).encode()


def tail_header(log_bytes: bytes) -> str:
    return base64.b64encode(log_bytes).decode()
