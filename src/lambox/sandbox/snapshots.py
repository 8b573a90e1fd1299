"""SnapStart on the host: one snapshot per published version, sandboxes restored from it.

A version published with ``SnapStart: {ApplyOn: PublishedVersions}`` gets a *snapshot*: a
sandbox of the backend started with ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`` and a
control socket, which runs the whole init and the before-snapshot hooks and then only
forks (``runtime.snapstart``). Its sandboxes are *restored*: forked from it with init
already done, they run the after-restore hooks and serve; the REPORT line of their first
invocation has Restore Duration (fork to ready, as the host saw it) and Billed Restore
Duration (the hooks) instead of Init Duration.

The snapshot is taken when the version is published (``prepare``, from the change feed)
or on first need, once per (version, generation). When it cannot be taken (init failed,
or the process would fork holding threads or sockets) the version's sandboxes start the
ordinary way and the log says why. A snapshot that died is taken again on next use; one
unused for ``idle_seconds`` is stopped. The backends supply how a snapshot process is
started (``SnapshotStarter``) and how a restored child is placed (in their sandboxes).

Each live snapshot keeps ``SPARES`` restored sandboxes forked and placed ahead of need
(made by the backend's ``Restorer`` and ``place``d: on the Linux backend, in their own
cgroup, a move that waits for an RCU grace period on cgroup v1); ``restored`` hands one
out and makes the next in the background, so a restore on the cold path is only the RESUME
and the after-restore hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, cast

from lambox.errors import SandboxError
from lambox.model import LATEST, FunctionVersion
from lambox.sandbox.api import InitReport
from lambox.sandbox.zygote import START_TIMEOUT, ExitBoard, ZygoteProcess, unsafe_reason

log = logging.getLogger(__name__)

INIT_TYPE = "snap-start"
IDLE_SECONDS = 900.0


class Restored(Protocol):
    """A backend's restored sandbox, as far as snapshots need it: ``place`` forks it from a
    snapshot (placed, waiting for its RESUME), which also makes it a spare."""

    version: FunctionVersion

    @property
    def alive(self) -> bool: ...

    async def place(self, snapshot: Snapshot) -> None: ...

    async def destroy(self) -> None: ...


R = TypeVar("R", bound=Restored)


class SnapshotOwner(Protocol):
    """The sandbox whose process became the snapshot (destroying it ends the snapshot)."""

    @property
    def pid(self) -> int: ...

    async def destroy(self) -> None: ...


SnapshotStarter = Callable[[FunctionVersion, int], Awaitable[tuple[SnapshotOwner, InitReport]]]
Restorer = Callable[[FunctionVersion, str], R]  # (version, init type) -> a restored sandbox
SPARES = 1


def applies(fv: FunctionVersion) -> bool:
    """Whether sandboxes of ``fv`` restore from a snapshot: SnapStart on, a published
    version (``$LATEST`` never is, as on AWS)."""
    return fv.config.snap_start and fv.config.version != LATEST


@dataclass(eq=False)
class Snapshot:
    """A live snapshot: the process, its control connection and its init's report."""

    version: FunctionVersion
    owner: SnapshotOwner
    control: ZygoteProcess
    board: ExitBoard
    init: InitReport
    last_used: float = field(default_factory=time.monotonic)
    spares: list[Restored] = field(default_factory=list)
    making: int = 0
    closed: bool = False
    _init_log: bytes | None = None

    def __post_init__(self) -> None:
        self._init_log = self.init.log

    @property
    def pid(self) -> int:
        return self.owner.pid

    @property
    def alive(self) -> bool:
        return self.control.alive

    def take_init_log(self) -> bytes:
        """What the snapshot's init wrote, for the first sandbox restored from it only."""
        text, self._init_log = self._init_log or b"", None
        return text

    async def close(self) -> None:
        self.closed = True
        spares, self.spares = self.spares, []
        for spare in spares:
            await spare.destroy()
        await self.control.close()
        await self.owner.destroy()


_Entry = tuple[int, str, "asyncio.Future[Snapshot | None]"]


class Snapshots(Generic[R]):
    """The snapshots of one backend; see the module docstring."""

    def __init__(
        self,
        start: SnapshotStarter,
        restorer: Restorer[R],
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self._start = start
        self._restorer = restorer
        self._idle = idle_seconds
        # (name, version) -> (generation, revision, the snapshot or None when it cannot be
        # taken). A newer generation of the same revision (the version became Active) keeps
        # the snapshot; another revision (the function was deleted and made again) does not.
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def restored(self, fv: FunctionVersion, init_type: str) -> R:
        """A restored sandbox of ``fv``: one made ahead of need if one is ready (the next
        is then made in the background), else a new one, which restores when started (or
        starts the ordinary way, with ``init_type``, if ``fv`` has no snapshot)."""
        spare = self.claim(fv)
        return spare if spare is not None else self._restorer(fv, init_type)

    def claim(self, fv: FunctionVersion) -> R | None:
        """A restored sandbox of ``fv`` made ahead of need, if one is ready."""
        entry = self._entries.get(fv.key)
        if entry is None or entry[1] != fv.config.revision_id or not entry[2].done():
            return None
        snapshot = entry[2].result()
        if snapshot is None or not snapshot.alive:
            return None
        spare = None
        while snapshot.spares and spare is None:
            spare = snapshot.spares.pop(0)
            if not spare.alive:
                self._spawn(spare.destroy())
                spare = None
        snapshot.last_used = time.monotonic()
        self._refill(snapshot)
        if spare is None:
            return None
        spare.version = fv  # the newest snapshot of the same revision, as the caller has it
        return cast(R, spare)  # every spare was made by ``self._restorer``

    def _refill(self, snapshot: Snapshot) -> None:
        if snapshot.closed:
            return
        while len(snapshot.spares) + snapshot.making < SPARES:
            snapshot.making += 1
            self._spawn(self._add_spare(snapshot))

    async def _add_spare(self, snapshot: Snapshot) -> None:
        try:
            spare = self._restorer(snapshot.version, INIT_TYPE)
            await spare.place(snapshot)
        except Exception as exc:
            log.info("no spare restored from the snapshot of %s: %s", snapshot.version.arn, exc)
            return
        finally:
            snapshot.making -= 1
        if snapshot.closed or not spare.alive:
            await spare.destroy()
        else:
            snapshot.spares.append(spare)

    async def prepare(self, fv: FunctionVersion) -> None:
        """Take the snapshot of a newly published SnapStart version (``get`` logs why
        when it cannot be taken)."""
        if applies(fv):
            await self.get(fv)

    def retire(self, name: str, qualifier: str | None) -> None:
        """Stop the snapshots of function ``name`` (of its version ``qualifier`` only, when
        given). One still being taken is stopped when it is done (``get`` sees it gone)."""
        for key in [k for k in self._entries if k[0] == name and qualifier in (None, k[1])]:
            _, _, future = self._entries.pop(key)
            self._close_later(future)

    async def get(self, fv: FunctionVersion) -> Snapshot | None:
        """The live snapshot of ``fv``, taken (or taken again) if need be; None when this
        version cannot have one."""
        self._expire()
        entry = self._entries.get(fv.key)
        revision = fv.config.revision_id
        if entry is not None:
            generation, taken_of, future = entry
            if taken_of != revision and generation > fv.generation:
                return None  # a stale snapshot of the function: start the ordinary way
            if taken_of == revision:
                self._entries[fv.key] = (max(generation, fv.generation), revision, future)
                if not future.done():
                    return await asyncio.shield(future)
                snapshot = future.result()
                if snapshot is None or snapshot.alive:
                    if snapshot is not None:
                        snapshot.last_used = time.monotonic()
                    return snapshot
                log.warning("snapshot of %s died; taking it again", fv.arn)
            self._close_later(future)
        future = asyncio.get_running_loop().create_future()
        self._entries[fv.key] = (fv.generation, revision, future)
        try:
            snapshot = await self._take(fv)
        except BaseException as exc:
            future.set_result(None)
            if not isinstance(exc, Exception):
                raise
            log.warning("no snapshot of %s, its sandboxes start from init: %s", fv.arn, exc)
            return None
        future.set_result(snapshot)
        current = self._entries.get(fv.key)
        if current is None or current[2] is not future:
            self._close_later(future)  # the function changed meanwhile
            return None
        self._refill(snapshot)
        return snapshot

    async def _take(self, fv: FunctionVersion) -> Snapshot:
        started = time.perf_counter()
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            owner, report = await self._start(fv, child.fileno())
        except BaseException:
            host.close()
            raise
        finally:
            child.close()
        board = ExitBoard()
        control = ZygoteProcess(f"snapshot of {fv.arn}", host, board)
        snapshot = Snapshot(fv, owner, control, board, report)
        try:
            if report.error is not None:
                raise SandboxError(f"its init failed: {report.error.decode(errors='replace')}")
            await control.ready(max(START_TIMEOUT, float(fv.config.timeout)))
            problem = unsafe_reason(owner.pid)
            if problem is not None:
                raise SandboxError(
                    f"after init and the before-snapshot hooks it holds {problem}"
                    " (close them in a before-snapshot hook)"
                )
        except BaseException:
            await snapshot.close()
            raise
        log.info(
            "snapshot of %s taken in %.1f ms (init %.1f ms)",
            fv.arn,
            (time.perf_counter() - started) * 1000,
            report.init_ms,
        )
        return snapshot

    def _expire(self) -> None:
        cutoff = time.monotonic() - self._idle
        for key, (_, _, future) in list(self._entries.items()):
            snapshot = future.result() if future.done() else None
            if snapshot is not None and snapshot.last_used < cutoff:
                del self._entries[key]
                self._close_later(future)

    def _close_later(self, future: asyncio.Future[Snapshot | None]) -> None:
        if future.done() and (snapshot := future.result()) is not None:
            self._spawn(snapshot.close())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(_quietly(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop every snapshot (their restored sandboxes die with them)."""
        for _, _, future in self._entries.values():
            if not future.done():
                with contextlib.suppress(BaseException):
                    await future
            if future.done() and (snapshot := future.result()) is not None:
                await snapshot.close()
        self._entries.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def fork_restored(
    snapshot: Snapshot, spec: Mapping[str, object], log_fd: int
) -> tuple[int, socket.socket, float]:
    """Have ``snapshot`` fork a restored sandbox writing its log to ``log_fd``: (its pid as
    the snapshot sees it, the host end of its wire, when the restore began by
    ``time.perf_counter``). The child waits for RESUME on the wire before it runs anything
    of the function's."""
    started = time.perf_counter()
    host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        pid = await snapshot.control.request("spawn", spec, child.fileno(), extra_fds=(log_fd,))
    except BaseException:
        host.close()
        raise
    finally:
        child.close()
    snapshot.last_used = time.monotonic()
    return pid, host, started


def restored_report(
    snapshot: Snapshot, started: float, meta: dict[str, object], body: bytes, log_stream: str
) -> InitReport:
    """The InitReport of a restored sandbox from its READY frame."""
    error = meta.get("init_error")
    restore_ms = (time.perf_counter() - started) * 1000
    hooks_ms = meta.get("init_ms")
    billed = math.ceil(hooks_ms) if isinstance(hooks_ms, (int, float)) else 0
    return InitReport(
        init_ms=restore_ms,
        error=None if error is None else json.dumps(error).encode(),
        log=snapshot.take_init_log() + body,
        log_stream=log_stream,
        restore_ms=restore_ms,
        billed_restore_ms=billed,
    )


def host_pid(parent: int, inner: int) -> int:
    """The host pid of ``parent``'s child whose pid in its own pid namespace is ``inner``."""
    try:
        with open(f"/proc/{parent}/task/{parent}/children", encoding="ascii") as f:
            children = f.read().split()
        for child in children:
            with contextlib.suppress(OSError), open(f"/proc/{child}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("NSpid:"):
                        if int(line.split()[-1]) == inner:
                            return int(child)
                        break
    except OSError as exc:
        raise SandboxError(f"cannot read the children of snapshot {parent}: {exc}") from exc
    raise SandboxError(f"snapshot {parent} has no child {inner}")


async def _quietly(coro: Awaitable[None]) -> None:
    try:
        await coro
    except Exception:
        log.exception("snapshot task failed")
