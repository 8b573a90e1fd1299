"""What every sandbox speaking the internal wire shares, whatever made its process.

A backend makes the process (a fresh interpreter, a zygote's child, a snapshot's child) and
hands the host end of its socket to ``_connect``; ``WireSandbox`` then does the rest of the
Sandbox protocol the same way for all of them: READY and RESUME at start, INVOKE and RESULT
per invocation, liveness from the wire, and turning a lost process into ``SandboxDead``
with its exit status. A backend says only how that status is learned (``_exit_code``) and
how its process is killed and its resources given back (``_release``).

Logs: a backend hands the process the write end of a ``LogPipe`` (``_log_pipe``) as its
stdout and stderr; the log of an init or an invocation is what the pipe carried until its
READY or RESULT frame arrived (plus any log bytes the frame itself carries, which only a
runtime without a pipe sends).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from lambox.errors import SandboxDead, SandboxError, SandboxTimeout
from lambox.model import FunctionVersion
from lambox.runtime import wire
from lambox.sandbox.api import InitReport, InvokeRequest, RawResult
from lambox.sandbox.environment import InitSpill, log_stream_name
from lambox.sandbox.logpipe import LogPipe
from lambox.sandbox.snapshots import Snapshot, restored_report
from lambox.sandbox.wire_client import Frame, WireClient

INIT_TIMEOUT = 10.0
ON_DEMAND = "on-demand"
PROVISIONED = "provisioned-concurrency"
UNHANDLED = "Unhandled"


class WireSandbox(ABC):
    """A sandbox whose process speaks the internal wire (``lambox.runtime.wire``).

    Backends implement ``_start`` (make the process, connect, await READY with ``_ready``).
    An on-demand init that passes ``init_limit`` (Lambda's 10 s init phase) is not an error
    of the sandbox: ``start`` reports it timed out, and the first ``invoke`` starts the
    process again and runs the whole init within the invocation's own timeout, as Lambda
    retries a timed-out init during the first invocation."""

    def __init__(
        self, version: FunctionVersion, init_type: str = ON_DEMAND, init_limit: float = INIT_TIMEOUT
    ) -> None:
        self.version = version
        self._init_type = init_type
        self._init_limit = init_limit
        self._ready_timeout = init_limit
        self._init_again = False
        self._wire: WireClient | None = None
        self._log: LogPipe | None = None
        self._init_spilled = False
        self._invocation_spill: Callable[[bytes], None] | None = None
        self._init_sink: Callable[[bytes], None] | None = None
        self._destroyed = False

    @property
    def alive(self) -> bool:
        """False once destroyed or once the wire saw EOF (the process ended: a sandbox's
        wire has no other holder). EOF closes the transport, so no system call is made.
        A sandbox whose init timed out is alive: its first invocation starts it again."""
        if self._init_again:
            return True
        if self._destroyed:
            return False
        client = self._wire
        transport = client.transport if client is not None else None
        return transport is None or not transport.is_closing()

    @property
    def init_timeout(self) -> float:
        """How long init may take: ``init_limit`` on demand; for provisioned concurrency
        and SnapStart snapshots the function's timeout, if longer."""
        if self._init_type == ON_DEMAND:
            return self._init_limit
        return max(self._init_limit, self.version.config.timeout)

    def _may_init_again(self) -> bool:
        """Whether a timed-out start is an init to retry (a backend's restore is not)."""
        return self._init_type == ON_DEMAND

    async def start(self) -> InitReport:
        self._ready_timeout = self.init_timeout
        started = time.perf_counter()
        try:
            return logged_if_provisioned(await self._start(), self._init_type, self._init_sink)
        except SandboxTimeout as exc:
            if not self._may_init_again():
                raise
            log = exc.log
        self._init_again = True
        return InitReport(
            init_ms=(time.perf_counter() - started) * 1000,
            error=None,
            log=log,
            log_stream=log_stream_name(self.version.config.version),
            timed_out=True,
        )

    @abstractmethod
    async def _start(self) -> InitReport:
        """Make the process, ``_connect`` it and await its READY (``_ready``)."""

    def _log_pipe(self) -> int:
        """A new log pipe for the process about to be made: the write end to hand it (the
        caller closes ours with ``_log_handed`` once it is handed over or not)."""
        if self._log is not None:
            self._log.close()
        self._log = LogPipe()
        return self._log.child_fd

    def _init_log_pipe(self, stream: str, init_spill: InitSpill | None) -> int:
        """``_log_pipe`` for an init writing to ``stream``: what outgrows the pipe's memory
        goes to ``init_spill`` as it comes (``_init_spilled`` says it did) until READY."""
        fd = self._log_pipe()
        if self._log is not None and self._invocation_spill is not None:
            self._log.spill = self._invocation_spill  # an init run again in an invocation
        elif init_spill is not None and self._log is not None:
            spill = init_spill(self.version, stream, self._init_type)

            def spilled(data: bytes) -> None:
                self._init_spilled = True
                spill(data)

            self._log.spill = self._init_sink = spilled
        return fd

    def _log_handed(self) -> None:
        if self._log is not None:
            self._log.started()

    async def _connect(self, host: socket.socket) -> WireClient:
        """Speak the wire over ``host``, the host end of the sandbox's socket."""
        loop = asyncio.get_running_loop()
        _, self._wire = await loop.create_connection(WireClient, sock=host)
        return self._wire

    async def _ready(self) -> tuple[dict[str, Any], bytes]:
        """The READY frame that ends init: its metadata and the init's log."""
        assert self._wire is not None
        _, meta, body = await self._expect(self._wire, wire.READY, self._ready_timeout)
        if self._log is None:
            return meta, body
        log = self._log.take_on_result() + body
        self._log.spill = None
        return meta, log

    async def _resume(self, snapshot: Snapshot, started: float, log_stream: str) -> InitReport:
        """Tell a child forked from ``snapshot`` (connected) to RESUME; report its restore."""
        assert self._wire is not None
        self._wire.send(wire.encode(wire.RESUME, {}))
        meta, body = await self._ready()
        return restored_report(snapshot, started, meta, body, log_stream)

    async def invoke(self, request: InvokeRequest, timeout: float) -> RawResult:
        try:
            if self._init_again:
                return await self._init_and_invoke(request, timeout)
            # ``_invoke``, inlined: one coroutine less on every warm invocation.
            pipe = self._log
            client = self._send(request, pipe)
            try:
                try:
                    frame = await client.next_frame(timeout)
                except SandboxError as exc:
                    raise await self._failed(exc) from None
                if frame[0] != wire.RESULT:
                    await self.destroy()
                    raise SandboxDead(f"sandbox sent frame {frame[0]} where {wire.RESULT} was due")
                return self._result(frame, pipe)
            finally:
                if pipe is not None:
                    pipe.spill = None
        except SandboxDead as exc:
            raise self._death(exc) from None

    def _death(self, exc: SandboxDead) -> SandboxError:
        """What the end of the sandbox's process during an invocation is reported as (a
        backend that can tell an out-of-memory kill makes it ``SandboxOutOfMemory``)."""
        return exc

    async def _init_and_invoke(self, request: InvokeRequest, timeout: float) -> RawResult:
        """The first invocation after an init timed out: a new process, its whole init and
        then the call, all within ``timeout``. The retried init's output and time are the
        invocation's; an init error is its error."""
        self._init_again = False
        self._destroyed = False
        self._wire = None
        self._ready_timeout = timeout
        started = time.perf_counter()
        self._invocation_spill = request.log_spill  # its output is the invocation's
        try:
            report = await self._start()
        finally:
            self._invocation_spill = None
        spent = time.perf_counter() - started
        if report.error is not None:
            return RawResult(report.error, UNHANDLED, report.log, spent * 1000, self._peak_kb(0))
        result = await self._invoke(request, timeout - spent)
        return dataclasses.replace(
            result, log=report.log + result.log, duration_ms=result.duration_ms + spent * 1000
        )

    async def _invoke(self, request: InvokeRequest, timeout: float) -> RawResult:
        """INVOKE, then its RESULT (what ``invoke`` does inline for a warm sandbox)."""
        pipe = self._log
        client = self._send(request, pipe)
        try:
            _, meta, body = await self._expect(client, wire.RESULT, timeout)
            return self._result((wire.RESULT, meta, body), pipe)
        finally:
            if pipe is not None:
                pipe.spill = None

    def _send(self, request: InvokeRequest, pipe: LogPipe | None) -> WireClient:
        """Write the INVOKE frame of ``request``; the invocation's log spills as it says."""
        client = self._wire
        if client is None or self._destroyed:
            raise SandboxDead("sandbox is not running")
        frame = wire.encode_invoke(
            request.request_id,
            int(request.deadline * 1000),
            request.invoked_arn,
            self.version.config.version,
            request.client_context,
            request.trace_id,
            request.payload,
            request.trace_made,
            request.tenant_id,
        )
        if pipe is not None:
            pipe.spill = request.log_spill
        client.send(frame)
        return client

    def _result(self, frame: Frame, pipe: LogPipe | None) -> RawResult:
        """The invocation's answer from its RESULT frame and what its log pipe carried."""
        _, meta, body = frame
        log_len = int(meta.get("log_len", 0))
        log = body[:log_len]
        if pipe is not None:
            log = pipe.take_on_result() + log
        return RawResult(
            body[log_len:],
            meta.get("error"),
            log,
            float(meta.get("duration_ms", 0.0)),
            self._peak_kb(int(meta.get("max_rss_kb", 0))),
        )

    def _peak_kb(self, reported: int) -> int:
        """The invocation's Max Memory Used in KiB: what the process reported, unless the
        backend measures the whole sandbox (a cgroup's peak)."""
        return reported

    async def _expect(self, client: WireClient, kind: int, timeout: float) -> Frame:
        """The next frame, which must be of ``kind``; on any failure the sandbox is destroyed
        and the error says how the process ended."""
        try:
            frame = await client.next_frame(timeout)
        except SandboxError as exc:
            raise await self._failed(exc) from None
        if frame[0] != kind:
            await self.destroy()
            raise SandboxDead(f"sandbox sent frame {frame[0]} where {kind} was due")
        return frame

    async def _failed(self, exc: SandboxError) -> SandboxError:
        """``exc`` (the wire closed, or no frame in time) with what the process wrote to
        its log and how it ended; the sandbox is destroyed."""
        if isinstance(exc, SandboxDead):
            code = await self._exit_code()
            dead = SandboxDead(str(exc), exit_code=code)
            dead.log = self._partial_log()
            await self.destroy()
            return dead
        exc.log = self._partial_log()
        await self.destroy()
        return exc

    def _partial_log(self) -> bytes:
        """What the process wrote to its log before it failed (or was given up on)."""
        return self._log.take() if self._log is not None else b""

    async def destroy(self) -> None:
        if self._destroyed:
            return
        self._destroyed = True
        if self._wire is not None and self._wire.transport is not None:
            self._wire.transport.close()
        if self._log is not None:
            self._log.close()
        await self._release()

    @abstractmethod
    async def _exit_code(self) -> int | None:
        """The exit status of the sandbox's process, which has ended or is ending (None
        when it cannot be learned soon); negative for a signal."""

    @abstractmethod
    async def _release(self) -> None:
        """Kill the sandbox's process and everything it started; give back what it held.
        Called once, by ``destroy``."""


def init_error(meta: dict[str, Any]) -> bytes | None:
    """The init error a READY frame reports, as the JSON bytes of an error object."""
    error = meta.get("init_error")
    return None if error is None else json.dumps(error).encode()


def logged_if_provisioned(
    report: InitReport, init_type: str, sink: Callable[[bytes], None] | None
) -> InitReport:
    """A provisioned-concurrency init's log goes to the function's log now (INIT_START
    first): no invocation's log begins with it, as an on-demand init's does."""
    if init_type != PROVISIONED or sink is None:
        return report
    sink(report.log)
    return dataclasses.replace(report, log=b"", spilled=True)
