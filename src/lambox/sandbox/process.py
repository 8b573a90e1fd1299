"""The plain-process backend: each sandbox is a fresh interpreter running lambox.runtime.

No namespaces or cgroups: isolation is that of a separate process in its own session
(process group), killed as a group. It is the portable fallback and the reference for the
isolating backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time

from lambox.errors import SandboxError
from lambox.model import FunctionVersion
from lambox.runtime.__main__ import PARENT_PID_ENV
from lambox.runtime.logs import LOG_FD_ENV
from lambox.runtime.snapstart import SNAPSHOT_FD_ENV
from lambox.sandbox.api import InitReport, PrepareFailure
from lambox.sandbox.environment import (
    NO_CONTEXT,
    SandboxContext,
    log_stream_name,
    sandbox_env,
)
from lambox.sandbox.snapshots import (
    INIT_TYPE,
    Snapshot,
    SnapshotOwner,
    Snapshots,
    applies,
    fork_restored,
)
from lambox.sandbox.wired import INIT_TIMEOUT, WireSandbox, init_error


class ProcessSandbox(WireSandbox):
    """One interpreter process speaking the internal wire over a socketpair."""

    def __init__(
        self,
        version: FunctionVersion,
        init_type: str = "on-demand",
        snapshot_fd: int = -1,
        context: SandboxContext = NO_CONTEXT,
        init_limit: float = INIT_TIMEOUT,
    ) -> None:
        super().__init__(version, init_type, init_limit)
        self._context = context
        # With a descriptor here the sandbox becomes a SnapStart snapshot after its init.
        self._snapshot_fd = snapshot_fd
        self._proc: subprocess.Popen[bytes] | None = None

    async def _start(self) -> InitReport:
        fv = self.version
        if not fv.interpreter:
            raise SandboxError(f"no interpreter for runtime {fv.config.runtime}")
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        stream = log_stream_name(fv.config.version)
        env = sandbox_env(fv, stream, self._init_type, self._context)
        env["LAMBOX_WIRE_FD"] = str(child.fileno())
        env[PARENT_PID_ENV] = str(os.getpid())  # it dies with this server
        log_fd = self._init_log_pipe(stream, self._context.init_spill)
        env[LOG_FD_ENV] = str(log_fd)
        keep = [child.fileno(), log_fd]
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
            self._log_handed()
        await self._connect(host)
        meta, body = await self._ready()
        # Init Duration is the whole init phase, as on Lambda: runtime start-up included.
        return InitReport(
            init_ms=(time.perf_counter() - started) * 1000,
            error=init_error(meta),
            log=body,
            log_stream=stream,
            spilled=self._init_spilled,
        )

    @property
    def pid(self) -> int:
        """The sandbox's process id (0 before it started)."""
        return self._proc.pid if self._proc is not None else 0

    async def _release(self) -> None:
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


class RestoredProcessSandbox(ProcessSandbox):
    """A plain-process sandbox forked from its version's SnapStart snapshot, now or ahead
    of need (``place``); when the version has no snapshot it starts the ordinary way, with
    ``init_type``."""

    def __init__(
        self,
        snapshots: Snapshots[RestoredProcessSandbox],
        version: FunctionVersion,
        init_type: str,
        context: SandboxContext = NO_CONTEXT,
        init_limit: float = INIT_TIMEOUT,
    ) -> None:
        super().__init__(version, init_type, context=context, init_limit=init_limit)
        self._snapshots = snapshots
        self._snapshot: Snapshot | None = None
        self._pid = 0
        self._started = 0.0

    @property
    def pid(self) -> int:
        return self._pid or super().pid

    async def place(self, snapshot: Snapshot) -> None:
        """Fork from ``snapshot``; the child then waits for the RESUME ``start`` sends."""
        self._snapshot = snapshot
        try:
            restored = await fork_restored(snapshot, {}, self._log_pipe())
        finally:
            self._log_handed()
        self._pid, host, self._started = restored
        await self._connect(host)

    def _may_init_again(self) -> bool:
        return self._snapshot is None and super()._may_init_again()

    async def _start(self) -> InitReport:
        snapshot = self._snapshot
        if snapshot is None:
            snapshot = await self._snapshots.get(self.version)
            if snapshot is None:
                return await super()._start()
            await self.place(snapshot)
        else:
            self._started = time.perf_counter()  # placed ahead: its restore begins now
        stream = log_stream_name(self.version.config.version)
        return await self._resume(snapshot, self._started, stream)

    async def _exit_code(self) -> int | None:
        if self._snapshot is None:
            return await super()._exit_code()
        return await self._snapshot.board.wait(self._pid, 2.0)

    async def _release(self) -> None:
        snapshot, pid = self._snapshot, self._pid
        await super()._release()
        if snapshot is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            snapshot.board.forget(pid)


class ProcessSandboxFactory:
    """SandboxFactory for the plain-process backend; ``context`` goes into every sandbox's
    environment."""

    name = "process"

    def __init__(
        self, context: SandboxContext = NO_CONTEXT, init_limit: float = INIT_TIMEOUT
    ) -> None:
        self._context = context
        self.init_limit = init_limit
        self.snapshots: Snapshots[RestoredProcessSandbox] = Snapshots(
            self._start_snapshot,
            lambda v, t: RestoredProcessSandbox(self.snapshots, v, t, context, init_limit),
        )

    def create(self, version: FunctionVersion, init_type: str = "on-demand") -> ProcessSandbox:
        if applies(version):
            return self.snapshots.restored(version, init_type)
        return ProcessSandbox(version, init_type, context=self._context, init_limit=self.init_limit)

    async def prepare(self, version: FunctionVersion) -> PrepareFailure | None:
        """A version was published: take its SnapStart snapshot now if it has SnapStart."""
        return await self.snapshots.prepare(version)

    def retire(self, name: str, qualifier: str | None) -> None:
        """A function or version was deleted: stop its snapshots."""
        self.snapshots.retire(name, qualifier)

    def start(self) -> None:
        return None

    async def _start_snapshot(
        self, version: FunctionVersion, control_fd: int
    ) -> tuple[SnapshotOwner, InitReport]:
        owner = ProcessSandbox(version, INIT_TYPE, control_fd, self._context, self.init_limit)
        return owner, await owner.start()

    async def close(self) -> None:
        await self.snapshots.close()
