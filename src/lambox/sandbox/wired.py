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
import json
import socket
from abc import ABC, abstractmethod
from typing import Any

from lambox.errors import SandboxDead, SandboxError
from lambox.model import FunctionVersion
from lambox.runtime import wire
from lambox.sandbox.api import InitReport, InvokeRequest, RawResult
from lambox.sandbox.logpipe import LogPipe
from lambox.sandbox.snapshots import Snapshot, restored_report
from lambox.sandbox.wire_client import Frame, WireClient

INIT_TIMEOUT = 10.0


class WireSandbox(ABC):
    """A sandbox whose process speaks the internal wire (``lambox.runtime.wire``)."""

    def __init__(self, version: FunctionVersion) -> None:
        self.version = version
        self._wire: WireClient | None = None
        self._log: LogPipe | None = None
        self._destroyed = False

    @property
    def alive(self) -> bool:
        """False once destroyed or once the wire saw EOF (the process ended: a sandbox's
        wire has no other holder). EOF closes the transport, so no system call is made."""
        if self._destroyed:
            return False
        client = self._wire
        transport = client.transport if client is not None else None
        return transport is None or not transport.is_closing()

    @property
    def init_timeout(self) -> float:
        """How long init may take: the function's timeout, never less than INIT_TIMEOUT."""
        return max(INIT_TIMEOUT, self.version.config.timeout)

    def _log_pipe(self) -> int:
        """A new log pipe for the process about to be made: the write end to hand it (the
        caller closes ours with ``_log_handed`` once it is handed over or not)."""
        if self._log is not None:
            self._log.close()
        self._log = LogPipe()
        return self._log.child_fd

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
        _, meta, body = await self._expect(self._wire, wire.READY, self.init_timeout)
        return meta, body if self._log is None else self._log.take() + body

    async def _resume(self, snapshot: Snapshot, started: float, log_stream: str) -> InitReport:
        """Tell a child forked from ``snapshot`` (connected) to RESUME; report its restore."""
        assert self._wire is not None
        self._wire.send(wire.encode(wire.RESUME, {}))
        meta, body = await self._ready()
        return restored_report(snapshot, started, meta, body, log_stream)

    async def invoke(self, request: InvokeRequest, timeout: float) -> RawResult:
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
        )
        client.send(frame)
        _, rmeta, body = await self._expect(client, wire.RESULT, timeout)
        log_len = int(rmeta.get("log_len", 0))
        log = body[:log_len]
        if self._log is not None:
            log = self._log.take() + log
        return RawResult(
            payload=body[log_len:],
            error=rmeta.get("error"),
            log=log,
            duration_ms=float(rmeta.get("duration_ms", 0.0)),
            max_rss_kb=int(rmeta.get("max_rss_kb", 0)),
        )

    async def _expect(self, client: WireClient, kind: int, timeout: float) -> Frame:
        """The next frame, which must be of ``kind``; on any failure the sandbox is destroyed
        and the error says how the process ended."""
        try:
            frame = await client.next_frame(timeout)
        except SandboxDead as exc:
            code = await self._exit_code()
            dead = SandboxDead(str(exc), exit_code=code)
            dead.log = self._partial_log()
            await self.destroy()
            raise dead from None
        except SandboxError as exc:
            exc.log = self._partial_log()
            await self.destroy()
            raise
        if frame[0] != kind:
            await self.destroy()
            raise SandboxDead(f"sandbox sent frame {frame[0]} where {kind} was due")
        return frame

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
