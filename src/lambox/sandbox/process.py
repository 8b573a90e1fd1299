"""The plain-process backend: each sandbox is a fresh interpreter running lambox.runtime.

No namespaces or cgroups: isolation is that of a separate process in its own session
(process group), killed as a group. It is the portable fallback and the reference for the
isolating backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time

from lambox.errors import SandboxDead, SandboxError
from lambox.model import FunctionVersion
from lambox.runtime import wire
from lambox.runtime.snapstart import SNAPSHOT_FD_ENV
from lambox.sandbox.api import InitReport, InvokeRequest, RawResult
from lambox.sandbox.environment import log_stream_name, sandbox_env
from lambox.sandbox.snapshots import (
    INIT_TYPE,
    Snapshot,
    SnapshotOwner,
    Snapshots,
    applies,
    fork_restored,
    restored_report,
)
from lambox.sandbox.wire_client import Frame, WireClient

INIT_TIMEOUT = 10.0


class ProcessSandbox:
    """One interpreter process speaking the internal wire over a socketpair."""

    def __init__(
        self, version: FunctionVersion, init_type: str = "on-demand", snapshot_fd: int = -1
    ) -> None:
        self.version = version
        self._init_type = init_type
        # With a descriptor here the sandbox becomes a SnapStart snapshot after its init.
        self._snapshot_fd = snapshot_fd
        self._proc: subprocess.Popen[bytes] | None = None
        self._wire: WireClient | None = None
        self._destroyed = False

    async def start(self) -> InitReport:
        fv = self.version
        if not fv.interpreter:
            raise SandboxError(f"no interpreter for runtime {fv.config.runtime}")
        loop = asyncio.get_running_loop()
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        stream = log_stream_name(fv.config.version)
        env = sandbox_env(fv, stream, self._init_type)
        env["LAMBOX_WIRE_FD"] = str(child.fileno())
        keep = [child.fileno()]
        if self._snapshot_fd >= 0:
            env[SNAPSHOT_FD_ENV] = str(self._snapshot_fd)
            keep.append(self._snapshot_fd)
        started = time.perf_counter()
        try:
            self._proc = subprocess.Popen(
                [fv.interpreter, "-m", "lambox.runtime"],
                env=env,
                cwd=fv.code_dir,
                pass_fds=keep,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            host.close()
            raise SandboxError(f"cannot start {fv.interpreter}: {exc}") from exc
        finally:
            child.close()
        _, self._wire = await loop.create_connection(WireClient, sock=host)
        _, meta, body = await self._expect(
            self._wire, wire.READY, max(INIT_TIMEOUT, fv.config.timeout)
        )
        error = meta.get("init_error")
        # Init Duration is the whole init phase, as on Lambda: runtime start-up included.
        init_ms = (time.perf_counter() - started) * 1000
        return InitReport(
            init_ms=init_ms,
            error=None if error is None else _json_bytes(error),
            log=body,
            log_stream=stream,
        )

    @property
    def pid(self) -> int:
        """The sandbox's process id (0 before it started)."""
        return self._proc.pid if self._proc is not None else 0

    @property
    def alive(self) -> bool:
        """False once destroyed or once the wire saw EOF (the process ended: a sandbox's
        wire has no other holder). EOF closes the transport, so no system call is made."""
        if self._destroyed:
            return False
        wire = self._wire
        transport = wire.transport if wire is not None else None
        return transport is None or not transport.is_closing()

    async def invoke(self, request: InvokeRequest, timeout: float) -> RawResult:
        client = self._wire
        if client is None or self._destroyed:
            raise SandboxDead("sandbox is not running")
        meta = {
            "id": request.request_id,
            "deadline_ms": int(request.deadline * 1000),
            "arn": request.invoked_arn,
            "version": self.version.config.version,
            "client_context": request.client_context,
            "trace_id": request.trace_id,
        }
        client.send(wire.encode(wire.INVOKE, meta, request.payload))
        _, rmeta, body = await self._expect(client, wire.RESULT, timeout)
        log_len = int(rmeta.get("log_len", 0))
        return RawResult(
            payload=body[log_len:],
            error=rmeta.get("error"),
            log=body[:log_len],
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
            await self.destroy()
            raise SandboxDead(str(exc), exit_code=code) from None
        except SandboxError:
            await self.destroy()
            raise
        if frame[0] != kind:
            await self.destroy()
            raise SandboxDead(f"sandbox sent frame {frame[0]} where {kind} was due")
        return frame

    async def destroy(self) -> None:
        if self._destroyed:
            return
        self._destroyed = True
        if self._wire is not None and self._wire.transport is not None:
            self._wire.transport.close()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.to_thread(proc.wait)

    async def _exit_code(self) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        try:
            return await asyncio.to_thread(proc.wait, 2.0)
        except subprocess.TimeoutExpired:
            return None


def _json_bytes(obj: object) -> bytes:
    return json.dumps(obj).encode()


class RestoredProcessSandbox(ProcessSandbox):
    """A plain-process sandbox forked from its version's SnapStart snapshot; when the
    version has no snapshot it starts the ordinary way, with ``init_type``."""

    def __init__(self, snapshots: Snapshots, version: FunctionVersion, init_type: str) -> None:
        super().__init__(version, init_type)
        self._snapshots = snapshots
        self._snapshot: Snapshot | None = None
        self._pid = 0

    @property
    def pid(self) -> int:
        return self._pid or super().pid

    async def start(self) -> InitReport:
        snapshot = await self._snapshots.get(self.version)
        if snapshot is None:
            return await super().start()
        self._snapshot = snapshot
        self._pid, host, started = await fork_restored(snapshot, {})
        loop = asyncio.get_running_loop()
        _, self._wire = await loop.create_connection(WireClient, sock=host)
        self._wire.send(wire.encode(wire.RESUME, {}))
        timeout = max(INIT_TIMEOUT, self.version.config.timeout)
        _, meta, body = await self._expect(self._wire, wire.READY, timeout)
        stream = log_stream_name(self.version.config.version)
        return restored_report(snapshot, started, meta, body, stream)

    async def _exit_code(self) -> int | None:
        if self._snapshot is None:
            return await super()._exit_code()
        return await self._snapshot.board.wait(self._pid, 2.0)

    async def destroy(self) -> None:
        snapshot, pid = self._snapshot, self._pid
        if snapshot is None or self._destroyed:
            await super().destroy()
            return
        await super().destroy()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        snapshot.board.forget(pid)


class ProcessSandboxFactory:
    """SandboxFactory for the plain-process backend."""

    name = "process"

    def __init__(self) -> None:
        self.snapshots = Snapshots(self._start_snapshot)

    def create(self, version: FunctionVersion, init_type: str = "on-demand") -> ProcessSandbox:
        if applies(version):
            return RestoredProcessSandbox(self.snapshots, version, init_type)
        return ProcessSandbox(version, init_type)

    def prepare(self, version: FunctionVersion) -> None:
        """A version was published: take its SnapStart snapshot now if it has SnapStart."""
        self.snapshots.prepare(version)

    async def _start_snapshot(
        self, version: FunctionVersion, control_fd: int
    ) -> tuple[SnapshotOwner, InitReport]:
        owner = ProcessSandbox(version, INIT_TYPE, control_fd)
        return owner, await owner.start()

    async def close(self) -> None:
        await self.snapshots.close()
