"""The Linux backend: sandboxes forked from zygotes into namespaces and a cgroup each.

A sandbox is one process forked by a zygote (see ``sandbox.zygote`` and ``runtime.zygote``)
as pid 2 of its own pid namespace, whose pid 1 is a small init the zygote forked just before
(``runtime.init``), and isolated by ``runtime.jail``: its code read-only at /var/task, a
private /tmp capped at EphemeralStorage, its own mount, ipc, uts and cgroup namespaces (and
network namespace for functions tagged ``lambox:network=none``), the unprivileged sandbox
user, and a cgroup capping memory at MemorySize and the number of processes, and giving CPU
as ``LAMBOX_CPU_MODE`` says (``cgroups.CpuPolicy``). It speaks the internal wire, so the
invoke path is the one every wire sandbox shares (``sandbox.wired``).

Init runs without any CPU limit (as Lambda boosts init); the policy's limit (a weight in
proportion to memory, or Lambda's quota) applies from READY on. Killing a sandbox kills its
pid namespace (its zygote, reaping it, kills the namespace's init, which also exits by
itself), so everything the function started dies with it; its cgroup is then emptied and
reused. Max Memory Used is the cgroup's peak; when an invocation dies after the cgroup's OOM
killer fired, its SandboxDead says so and carries the exit status (SIGKILL).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from lambox.errors import SandboxDead, SandboxError, SandboxOutOfMemory
from lambox.model import FunctionVersion
from lambox.runtime.jail import LIBS_DIR, OPT_ROOT
from lambox.runtime.logs import LOG_FD_ENV
from lambox.runtime.snapstart import SNAPSHOT_FD_ENV
from lambox.runtime.wire import PEAK_BY_HOST_ENV
from lambox.sandbox.api import InitReport, PrepareFailure
from lambox.sandbox.cgroups import Cgroup, CgroupPool, CgroupTree, CpuPolicy
from lambox.sandbox.environment import (
    NO_CONTEXT,
    RUNTIME_DIR,
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
    host_pid,
)
from lambox.sandbox.spares import SparePool
from lambox.sandbox.watcher import Watcher
from lambox.sandbox.wired import INIT_TIMEOUT, WireSandbox, init_error
from lambox.sandbox.zygote import ExitBoard, ZygoteProcess, Zygotes

log = logging.getLogger(__name__)

TASK_ROOT = "/var/task"
NETWORK_TAG = "lambox:network"
SANDBOX_UID = 993
SANDBOX_GID = 990
PIDS_MAX = 128
EXIT_WAIT = 2.0


class LinuxSandbox(WireSandbox):
    """One isolated sandbox, forked by a zygote; its exit status comes from the zygote
    that reaped it, and killing it kills its pid namespace (its zygote then kills its
    init)."""

    def __init__(
        self,
        factory: LinuxSandboxFactory,
        version: FunctionVersion,
        init_type: str,
        snapshot_fd: int = -1,
    ) -> None:
        super().__init__(version, init_type, factory.init_limit)
        # With a descriptor here the sandbox becomes a SnapStart snapshot after its init.
        self._snapshot_fd = snapshot_fd
        self._factory = factory
        self._pid = 0
        self._pidfd: int | None = None
        self._cgroup: Cgroup | None = None
        # The zygote it forked from, counted there until the sandbox is destroyed.
        self._zygote: ZygoteProcess | None = None
        self.out_of_memory = False

    @property
    def pid(self) -> int:
        """The sandbox's process id on the host (0 before it started)."""
        return self._pid

    async def _start(self) -> InitReport:
        fv = self.version
        factory = self._factory
        if not fv.interpreter:
            raise SandboxError(f"no interpreter for runtime {fv.config.runtime}")
        started = time.perf_counter()
        zygote, code, learn = await factory.zygotes.for_version(fv)
        if self._destroyed:
            raise SandboxError("sandbox destroyed while it was starting")
        # Counted from before the fork request, so that a zygote stopped meanwhile waits
        # for this sandbox instead of failing its fork; ``_release`` uncounts it.
        self._zygote = zygote
        factory.zygotes.forked(zygote)
        stream = log_stream_name(fv.config.version)
        env = sandbox_env(fv, stream, self._init_type, factory.context, opt_root=OPT_ROOT)
        env["LAMBDA_TASK_ROOT"] = TASK_ROOT
        env[PEAK_BY_HOST_ENV] = "1"  # ``_peak_kb`` reads the cgroup's: no getrusage per invoke
        spec = {
            "env": env,
            "code": code,
            "learn": learn,
            "tmp_mb": fv.config.ephemeral_storage,
            "network": fv.config.tags.get(NETWORK_TAG, "host"),
        }
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_fd = self._init_log_pipe(stream, factory.context.init_spill)
        try:
            self._pid = await self._fork(zygote, spec, child.fileno(), log_fd)
        except BaseException:
            host.close()
            await self.destroy()
            raise
        finally:
            child.close()
            self._log_handed()
        with contextlib.suppress(OSError):
            self._pidfd = os.pidfd_open(self._pid)
        await self._connect(host)
        meta, body = await self._ready()
        # The CPU limit ends the init boost. call_soon runs it after this task's current step,
        # which for a cold start has already sent the first INVOKE: the write overlaps the
        # sandbox's work instead of delaying it.
        asyncio.get_running_loop().call_soon(self._apply_cpu_limit)
        error = init_error(meta)
        if learn and error is None and isinstance(meta.get("preload"), list):
            factory.zygotes.learned(fv, meta["preload"], meta.get("sources") or [])
        return InitReport(
            init_ms=(time.perf_counter() - started) * 1000,
            error=error,
            log=body,
            log_stream=stream,
            spilled=self._init_spilled,
        )

    def _apply_cpu_limit(self) -> None:
        cgroup = self._cgroup
        if cgroup is None or self._destroyed:
            return
        try:
            cgroup.set_cpu(self._factory.cpu.after_init(self.version.config.memory_size))
        except OSError as exc:
            log.error("sandbox %d runs without its CPU limit: %s", self._pid, exc)

    async def _fork(
        self, zygote: ZygoteProcess, spec: dict[str, Any], wire_fd: int, log_fd: int
    ) -> int:
        """Claim a spare of ``zygote``, or have it fork a sandbox now; the sandbox's pid.
        The cgroup's limits are set before the child can run any of the function's code."""
        factory = self._factory
        memory = self.version.config.memory_size
        if self._snapshot_fd >= 0:
            cgroup = self._cgroup = factory.cgroups.acquire()
            cgroup.limit(memory, factory.pids_max)
            spec = {**spec, "cgroup": cgroup.name, "fd_env": [SNAPSHOT_FD_ENV, LOG_FD_ENV]}
            extra = (self._snapshot_fd, log_fd)
            return await zygote.request("spawn", spec, wire_fd, extra_fds=extra)
        spare = factory.spares.take(zygote)
        if spare is not None:
            self._cgroup = spare.cgroup
            try:
                spare.cgroup.limit(memory, factory.pids_max)
                spare.claim(spec, wire_fd, log_fd)
                return spare.pid
            except OSError as exc:
                log.info("spare %d of %s unusable (%s); forking anew", spare.pid, zygote.name, exc)
                spare.sock.close()
                factory.board.forget(spare.pid)
                self._cgroup = None
                factory.cgroups.release(spare.cgroup)
        cgroup = self._cgroup = factory.cgroups.acquire()
        try:
            cgroup.limit(memory, factory.pids_max)
        except OSError as exc:
            raise SandboxError(f"cannot set the limits of cgroup {cgroup.name}: {exc}") from exc
        spec = {**spec, "cgroup": cgroup.name, "fd_env": [LOG_FD_ENV]}
        return await zygote.request("spawn", spec, wire_fd, extra_fds=(log_fd,))

    def _death(self, exc: SandboxDead) -> SandboxError:
        """An end the cgroup's OOM killer caused is ``SandboxOutOfMemory``."""
        if not self.out_of_memory:
            return exc
        size = self.version.config.memory_size
        peak = self._cgroup.peak_kb() // 1024 if self._cgroup is not None else size
        oom = SandboxOutOfMemory(
            f"{exc}: out of memory (MemorySize {size} MB)", exc.exit_code, peak
        )
        oom.log = exc.log
        return oom

    def _peak_kb(self, reported: int) -> int:
        """The cgroup's peak, read as the result is built (no second result object)."""
        cgroup = self._cgroup
        return cgroup.peak_kb() if cgroup is not None else reported

    async def _wait_exit(self) -> int | None:
        """The exit status its zygote reported, if one came within ``EXIT_WAIT``."""
        return await self._factory.board.wait(self._pid, EXIT_WAIT) if self._pid else None

    def _forget_exit(self) -> None:
        if self._pid:
            self._factory.board.forget(self._pid)

    async def _exit_code(self) -> int | None:
        code = await self._wait_exit()
        cgroup = self._cgroup
        if cgroup is not None and cgroup.oom_kills() > cgroup.oom_baseline:
            self.out_of_memory = True
        return code

    async def _release(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            os.close(self._pidfd)
            self._pidfd = None
        self._forget_exit()
        if self._cgroup is not None:
            self._factory.cgroups.release(self._cgroup)
            self._cgroup = None
        if self._zygote is not None:
            self._factory.zygotes.ended(self._zygote)
            self._zygote = None


class RestoredLinuxSandbox(LinuxSandbox):
    """A sandbox forked from its version's SnapStart snapshot (``sandbox.snapshots``), whose
    environment says ``snap-start`` as the snapshot's does; when the version has no snapshot
    it starts the ordinary way, with ``init_type``.

    The child shares the snapshot's pid namespace and view; it makes its own /tmp (a copy
    of the snapshot's, ``jail.private_tmp``) and is moved into a cgroup of its own before
    it is told to RESUME, so the function's after-restore hooks already run inside its
    limits. Memory the snapshot had touched before the fork stays charged to the
    snapshot's group; Max Memory Used counts what the sandbox touched since."""

    def __init__(
        self, factory: LinuxSandboxFactory, version: FunctionVersion, init_type: str
    ) -> None:
        super().__init__(factory, version, init_type)
        self._snapshot: Snapshot | None = None
        self._inner = 0
        self._started = 0.0

    def _may_init_again(self) -> bool:
        return self._snapshot is None and super()._may_init_again()

    async def _start(self) -> InitReport:
        snapshot = self._snapshot
        if snapshot is None:
            snapshot = await self._factory.snapshots.get(self.version)
            if snapshot is None:
                return await super()._start()
            await self.place(snapshot)
        else:
            self._started = time.perf_counter()  # placed ahead: its restore begins now
        stream = log_stream_name(self.version.config.version)
        report = await self._resume(snapshot, self._started, stream)
        asyncio.get_running_loop().call_soon(self._apply_cpu_limit)
        return report

    async def place(self, snapshot: Snapshot) -> None:
        """Fork from ``snapshot`` and move the child into a cgroup of its own, limits set;
        it then waits for the RESUME ``start`` sends."""
        factory = self._factory
        self._snapshot = snapshot
        config = self.version.config
        spec = {"tmp_mb": config.ephemeral_storage, "uid": SANDBOX_UID, "gid": SANDBOX_GID}
        try:
            restored = await fork_restored(snapshot, spec, self._log_pipe())
        finally:
            self._log_handed()
        self._inner, host, self._started = restored
        try:
            self._pid = host_pid(snapshot.pid, self._inner)
            self._pidfd = os.pidfd_open(self._pid)
            cgroup = self._cgroup = factory.cgroups.acquire()
            cgroup.limit(config.memory_size, factory.pids_max)
            cgroup.admit(self._pid)
        except (OSError, SandboxError) as exc:
            host.close()  # the child sees EOF instead of RESUME and exits
            await self.destroy()
            where = f"snapshot {snapshot.pid}"
            raise SandboxError(f"cannot place a sandbox restored from {where}: {exc}") from exc
        await self._connect(host)

    async def _wait_exit(self) -> int | None:
        if self._snapshot is None:
            return await super()._wait_exit()
        return await self._snapshot.board.wait(self._inner, EXIT_WAIT)

    def _forget_exit(self) -> None:
        if self._snapshot is None:
            super()._forget_exit()
        else:
            self._snapshot.board.forget(self._inner)


class LinuxSandboxFactory:
    """SandboxFactory of isolated sandboxes. Build it with ``open``; ``close`` stops every
    zygote and removes every cgroup this server made."""

    name = "linux"

    def __init__(
        self,
        zygotes: Zygotes,
        cgroups: CgroupPool,
        spares: SparePool,
        board: ExitBoard,
        pids_max: int = PIDS_MAX,
        cpu: CpuPolicy | None = None,
        context: SandboxContext = NO_CONTEXT,
        watcher: Watcher | None = None,
        init_limit: float = INIT_TIMEOUT,
    ) -> None:
        self.init_limit = init_limit
        self.zygotes = zygotes
        self.context = context
        self.watcher = watcher
        self.cgroups = cgroups
        self.spares = spares
        self.board = board
        self.pids_max = pids_max
        self.cpu = cpu or CpuPolicy(cpus=os.cpu_count() or 1)
        self.snapshots: Snapshots[RestoredLinuxSandbox] = Snapshots(
            self._start_snapshot, lambda v, t: RestoredLinuxSandbox(self, v, t)
        )

    @classmethod
    def open(
        cls,
        tree: CgroupTree,
        data_dir: Path,
        code_root: Path,
        interpreter: str = sys.executable,
        cpu: CpuPolicy | None = None,
        context: SandboxContext = NO_CONTEXT,
        libs: list[str] | None = None,
        init_limit: float = INIT_TIMEOUT,
    ) -> LinuxSandboxFactory:
        """Create the cgroups (sweeping those of dead servers) and start the base zygote of
        ``interpreter``; raises OSError when the machine will not allow it. ``libs`` are
        the Python runtime's libraries (``sandbox.pylibs``), bound at ``LIBS_DIR`` in every
        sandbox and put on its ``sys.path``."""
        swept = tree.sweep_stale()
        if swept:
            log.warning("removed %d cgroup trees left by lambox servers that are gone", swept)
        tree.create()
        # Before any sandbox exists: from here on, none outlives this process.
        watcher: Watcher | None = None
        try:
            watcher = Watcher.start(tree.dir_paths, RUNTIME_DIR, interpreter)
        except OSError as exc:
            log.error(
                "no cgroup watcher (%s): sandboxes may outlive this server if it and its"
                " zygotes are killed together, until the next server's start-up sweep",
                exc,
            )
        # Its leaves are made once the server listens (``start``).
        pool = CgroupPool(tree, pids=PIDS_MAX)
        staging = data_dir / "sandbox" / "root"
        staging.mkdir(parents=True, exist_ok=True)
        code_root.mkdir(parents=True, exist_ok=True)
        config = {
            "code_root": str(code_root.resolve()),
            "staging": str(staging.resolve()),
            "hide": [str(data_dir.resolve())],
            "cgroups": tree.dir_paths,
            "uid": SANDBOX_UID,
            "gid": SANDBOX_GID,
            "libs": libs or [],
        }
        if libs:
            context = dataclasses.replace(context, python_libs=LIBS_DIR)
        board = ExitBoard()
        spares = SparePool(pool, board)
        zygotes = Zygotes(config, board, eager=interpreter, on_ready=spares.refill)
        return cls(
            zygotes,
            pool,
            spares,
            board,
            cpu=cpu,
            context=context,
            watcher=watcher,
            init_limit=init_limit,
        )

    def create(self, version: FunctionVersion, init_type: str = "on-demand") -> LinuxSandbox:
        if applies(version):
            return self.snapshots.restored(version, init_type)
        return LinuxSandbox(self, version, init_type)

    async def prepare(self, version: FunctionVersion) -> PrepareFailure | None:
        """A version was published: take its SnapStart snapshot now if it has SnapStart."""
        return await self.snapshots.prepare(version)

    def retire(self, name: str, qualifier: str | None) -> None:
        """A function or version was deleted: stop its snapshots, and the version zygotes
        no other function version forks from."""
        self.snapshots.retire(name, qualifier)
        self.zygotes.retire(name, qualifier)

    def start(self) -> None:
        """Make the cgroup leaves ahead of need, in a worker thread (``CgroupPool.fill``)."""
        self.cgroups.fill()

    async def _start_snapshot(
        self, version: FunctionVersion, control_fd: int
    ) -> tuple[SnapshotOwner, InitReport]:
        owner = LinuxSandbox(self, version, INIT_TYPE, control_fd)
        return owner, await owner.start()

    async def close(self) -> None:
        await self.snapshots.close()
        await self.spares.close()
        await self.zygotes.close()
        await self.cgroups.close()
        if self.watcher is not None:
            await asyncio.to_thread(self.watcher.close)
