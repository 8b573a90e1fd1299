"""Host side of zygotes: start them, ask them to fork, learn what to preload, replace the dead.

One *base* zygote per interpreter (started at once for the server's own interpreter, lazily
for others) forks the first sandboxes of every function. The first of them reports which
modules its init imported; from that list a *version* zygote is forked off the base, per
(interpreter, code, handler), and later sandboxes of that function fork from it. A version
zygote found holding threads or sockets after its imports is not used (logged), and its
function keeps starting from the base zygote. A zygote that died is replaced on next use.

A version zygote is stopped once no function version forks from it any more: each function
version is counted as a user of the zygote its sandboxes last forked from, and loses it when
it is deleted (``retire``) or its code or handler changes (its next sandbox names another
zygote). Several functions and versions with the same code share one zygote, so deleting one
of them leaves it to the others. Zygotes idle for a long time, or beyond ``max_versions``,
are stopped too. Stopping a zygote kills its sandboxes, so a stopped zygote first drains:
it forks nothing more and hangs up once the last sandbox forked from it is destroyed
(``forked`` / ``ended`` count them), so an invocation still running finishes.

The protocol spoken over each control socket is described in ``lambox.runtime.zygote``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from lambox.errors import SandboxError
from lambox.model import FunctionVersion
from lambox.runtime.forkserver import ENV_FD_ENV, env_file
from lambox.sandbox.environment import RUNTIME_DIR

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 10.0
RECV_SIZE = 1 << 16


class ExitBoard:
    """Exit codes of forked processes, posted by whichever zygote reaped them.

    Only expected pids are tracked (a zygote's "spawned" reply registers the pid before any
    exit report of it can be read), and ``forget`` drops one, so the board never grows with
    processes nobody waits for.
    """

    def __init__(self) -> None:
        self._codes: dict[int, asyncio.Future[int]] = {}

    def expect(self, pid: int) -> None:
        if pid not in self._codes:
            self._codes[pid] = asyncio.get_running_loop().create_future()

    def post(self, pid: int, code: int) -> None:
        future = self._codes.get(pid)
        if future is not None and not future.done():
            future.set_result(code)

    async def wait(self, pid: int, timeout: float) -> int | None:
        future = self._codes.get(pid)
        if future is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None

    def forget(self, pid: int) -> None:
        future = self._codes.pop(pid, None)
        if future is not None and not future.done():
            future.cancel()


class ZygoteProcess:
    """A control connection to one zygote. Created on the event loop's thread."""

    def __init__(
        self,
        name: str,
        sock: socket.socket,
        board: ExitBoard,
        proc: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.name = name
        self.pid = proc.pid if proc is not None else 0
        self.alive = True
        # Sandboxes forked from it and not yet destroyed (the host's count, see ``Zygotes``).
        self.sandboxes = 0
        self._sock = sock
        self._board = board
        self._proc = proc
        self._loop = asyncio.get_running_loop()
        self._ready: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self.on_lost: list[Callable[[], None]] = []
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._readable)

    async def ready(self, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        """The zygote's "ready" message; SandboxError if it failed or never came."""
        try:
            info = await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except TimeoutError:
            await self.close()
            raise SandboxError(f"{self.name}: not ready after {timeout:.0f} s") from None
        if info.get("error"):
            await self.close()
            raise SandboxError(f"{self.name}: {info['error']}")
        self.pid = int(info.get("pid") or self.pid)
        return info

    async def request(
        self,
        op: str,
        message: Mapping[str, Any],
        fd: int,
        timeout: float = REQUEST_TIMEOUT,
        extra_fds: tuple[int, ...] = (),
    ) -> int:
        """Ask the zygote to fork (``op`` "spawn" or "zygote"), passing ``fd`` (and, for a
        spawn, ``extra_fds``, named by the message's ``fd_env``) to the child; its pid."""
        if not self.alive:
            raise SandboxError(f"{self.name} is gone")
        env_fd = -1
        if "env" in message:  # beside the request, not in it: see ``ENV_FD_ENV``
            env_fd = env_file(message["env"])
            named = [*message.get("fd_env", ()), ENV_FD_ENV]
            message = {**{k: v for k, v in message.items() if k != "env"}, "fd_env": named}
            extra_fds = (*extra_fds, env_fd)
        try:
            return await self._request(op, message, fd, timeout, extra_fds)
        finally:
            if env_fd >= 0:
                os.close(env_fd)

    async def _request(
        self,
        op: str,
        message: Mapping[str, Any],
        fd: int,
        timeout: float,
        extra_fds: tuple[int, ...],
    ) -> int:
        self._next_id += 1
        request_id = self._next_id
        data = json.dumps({**message, "op": op, "id": request_id}, separators=(",", ":"))
        reply: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._replies[request_id] = reply
        # A timer on the reply itself, not ``asyncio.wait_for``: that wraps the reply in a
        # second future and wakes this task through one more callback, on every fork.
        timer = self._loop.call_later(timeout, _time_out, reply)
        try:
            socket.send_fds(self._sock, [data.encode()], [fd, *extra_fds])
            answer = await reply
        except (OSError, TimeoutError) as exc:
            raise SandboxError(f"{self.name}: fork request failed: {exc!r}") from exc
        finally:
            timer.cancel()
            self._replies.pop(request_id, None)
        if answer.get("op") != "spawned":
            raise SandboxError(f"{self.name}: {answer.get('error', 'fork failed')}")
        return int(answer["pid"])

    def _readable(self) -> None:
        while True:
            try:
                data = self._sock.recv(RECV_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._lost()
                return
            try:
                message = json.loads(data)
            except ValueError:
                log.warning("%s sent a malformed message", self.name)
                continue
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "exit":
            self._board.post(int(message["pid"]), int(message["code"]))
        elif op == "ready":
            if not self._ready.done():
                self._ready.set_result(message)
        elif op in ("spawned", "failed"):
            if op == "spawned":
                self._board.expect(int(message["pid"]))
            reply = self._replies.get(message.get("id", -1))
            if reply is not None and not reply.done():
                reply.set_result(message)

    def _lost(self) -> None:
        if not self.alive:
            return
        self.alive = False
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        gone = SandboxError(f"{self.name} exited")
        for future in (self._ready, *self._replies.values()):
            if not future.done():
                future.set_exception(gone)
                future.exception()  # retrieved here: callers may never await it
        for callback in self.on_lost:
            try:
                callback()
            except Exception:
                log.exception("%s: on_lost callback failed", self.name)

    async def close(self) -> None:
        """Hang up (the zygote then kills its sandboxes and exits) and reap it if it is ours."""
        self._lost()
        self._board.forget(self.pid)
        proc = self._proc
        if proc is not None:
            try:
                await asyncio.to_thread(proc.wait, 5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)


def _time_out(reply: asyncio.Future[dict[str, Any]]) -> None:
    if not reply.done():
        reply.set_exception(TimeoutError())


def unsafe_reason(pid: int) -> str | None:
    """Why a zygote must not fork sandboxes: threads or sockets besides its control socket."""
    try:
        threads = len(os.listdir(f"/proc/{pid}/task"))
        sockets = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                sockets += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    except OSError as exc:
        return f"cannot inspect it ({exc})"
    problems = []
    if threads > 1:
        problems.append(f"{threads - 1} threads besides its main one")
    if sockets > 1:
        problems.append(f"{sockets - 1} open sockets")
    return " and ".join(problems) or None


class State(Enum):
    LEARNING = "learning"  # the next sandbox from the base reports its imports
    STARTING = "starting"
    READY = "ready"
    BASE = "base"  # nothing worth holding, unsafe, or failed: use the base zygote


@dataclass
class VersionZygote:
    """What is known about one (interpreter, code, handler): its zygote, once there is one."""

    name: str
    state: State = State.LEARNING
    modules: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    process: ZygoteProcess | None = None
    last_used: float = field(default_factory=time.monotonic)


ZygoteKey = tuple[str, str, str]
"""(interpreter, code key, handler): what a version zygote holds, shared by every function
version that has the same."""


def code_key(fv: FunctionVersion, code_root: str) -> str:
    """What a sandbox of ``fv`` binds from the code root the zygotes bind: its code tree's
    name, then ``+`` and its merged layers' tree's name when it has layers
    (``jail.bind_code`` reads both)."""
    names = []
    for tree in (fv.code_dir, fv.opt_dir):
        if tree is None:
            continue
        rel = os.path.relpath(tree, code_root)
        if rel.startswith(".") or "/" in rel:
            raise SandboxError(f"code of {fv.arn} is not in the code store ({tree})")
        names.append(rel)
    return "+".join(names)


class Zygotes:
    """Every zygote of one server: base per interpreter, version per function code."""

    def __init__(
        self,
        config: Mapping[str, Any],
        board: ExitBoard,
        *,
        eager: str | None = None,
        on_ready: Callable[[ZygoteProcess], None] | None = None,
        max_versions: int = 32,
        idle_seconds: float = 900.0,
    ) -> None:
        self._config = dict(config)
        self._on_ready = on_ready
        self._board = board
        self._bases: dict[str, ZygoteProcess] = {}
        self._starting: dict[str, asyncio.Future[ZygoteProcess]] = {}
        self._versions: dict[ZygoteKey, VersionZygote] = {}
        # Function version (name, version) -> the snapshot generation its sandboxes last
        # forked from a zygote in, and that zygote.
        self._users: dict[tuple[str, str], tuple[int, ZygoteKey]] = {}
        # Stopped zygotes that still have sandboxes; each hangs up after its last one.
        self._draining: set[ZygoteProcess] = set()
        self._max_versions = max_versions
        self._idle = idle_seconds
        self._tasks: set[asyncio.Task[None]] = set()
        self._eager = (eager, self._popen(eager)) if eager else None

    def _popen(self, interpreter: str) -> tuple[socket.socket, subprocess.Popen[bytes]]:
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONPATH": RUNTIME_DIR,
            "PYTHONDONTWRITEBYTECODE": "1",
            "LAMBOX_ZYGOTE": json.dumps(self._config),
            "LAMBOX_ZYGOTE_FD": str(child.fileno()),
        }
        try:
            proc = subprocess.Popen(
                [interpreter, "-m", "lambox.runtime.zygote"],
                env=env,
                cwd="/",
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            host.close()
            raise SandboxError(f"cannot start a zygote with {interpreter}: {exc}") from exc
        finally:
            child.close()
        return host, proc

    async def base(self, interpreter: str) -> ZygoteProcess:
        """The live base zygote of ``interpreter``, started (or replaced) if need be."""
        zygote = self._bases.get(interpreter)
        if zygote is not None and zygote.alive:
            return zygote
        starting = self._starting.get(interpreter)
        if starting is not None:
            return await asyncio.shield(starting)
        # Registered before the first await, so concurrent callers wait for this start.
        future: asyncio.Future[ZygoteProcess] = asyncio.get_running_loop().create_future()
        self._starting[interpreter] = future
        try:
            if zygote is not None:
                log.warning("%s died; starting a new one", zygote.name)
                del self._bases[interpreter]
                await zygote.close()
            zygote = await self._start_base(interpreter)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            del self._starting[interpreter]
        future.set_result(zygote)
        self._bases[interpreter] = zygote
        if self._on_ready is not None:
            self._on_ready(zygote)
        return zygote

    async def _start_base(self, interpreter: str) -> ZygoteProcess:
        started = time.perf_counter()
        if self._eager is not None and self._eager[0] == interpreter:
            (sock, proc), self._eager = self._eager[1], None
        else:
            sock, proc = self._popen(interpreter)
        zygote = ZygoteProcess(f"base zygote of {interpreter}", sock, self._board, proc)
        await zygote.ready()
        log.info(
            "%s ready (pid %d) in %.1f ms",
            zygote.name,
            zygote.pid,
            (time.perf_counter() - started) * 1000,
        )
        return zygote

    async def for_version(self, fv: FunctionVersion) -> tuple[ZygoteProcess, str | None, bool]:
        """Where the next sandbox of ``fv`` forks from: (zygote, code key the child must bind
        or None when the zygote holds it, whether the child reports its imports)."""
        code = code_key(fv, self._config["code_root"])
        key = (fv.interpreter, code, fv.config.handler)
        self._expire()
        self._use(fv, key)
        entry = self._versions.get(key)
        if entry is None:
            entry = self._versions[key] = VersionZygote(f"zygote of {fv.config.name}")
        entry.last_used = time.monotonic()
        if entry.state is State.READY:
            process = entry.process
            if process is not None and process.alive:
                return process, None, False
            log.warning("%s died; starting a new one", entry.name)
            self._start_version(key, entry)
        return await self.base(fv.interpreter), code, entry.state is State.LEARNING

    def version_ready(self, fv: FunctionVersion) -> bool:
        """Whether sandboxes of ``fv`` now fork from a live version zygote of their own."""
        key = (fv.interpreter, code_key(fv, self._config["code_root"]), fv.config.handler)
        entry = self._versions.get(key)
        return (
            entry is not None
            and entry.state is State.READY
            and entry.process is not None
            and entry.process.alive
        )

    def learned(self, fv: FunctionVersion, modules: list[str], sources: list[str]) -> None:
        """A first sandbox of ``fv`` reported what its init imported (libraries, and the
        source files of its own modules): build its zygote."""
        key = (fv.interpreter, code_key(fv, self._config["code_root"]), fv.config.handler)
        entry = self._versions.get(key)
        if entry is None or entry.state is not State.LEARNING:
            return
        if not modules and not sources:
            entry.state = State.BASE
            return
        entry.modules = [str(m) for m in modules]
        entry.sources = [str(s) for s in sources]
        self._start_version(key, entry)

    def forked(self, zygote: ZygoteProcess) -> None:
        """A sandbox was forked from ``zygote``; ``ended`` must follow when it is destroyed."""
        zygote.sandboxes += 1

    def ended(self, zygote: ZygoteProcess) -> None:
        """A sandbox forked from ``zygote`` was destroyed; a stopped zygote hangs up after
        its last one."""
        zygote.sandboxes -= 1
        if zygote.sandboxes <= 0 and zygote in self._draining:
            self._draining.discard(zygote)
            self._spawn(zygote.close())

    def retire(self, name: str, qualifier: str | None) -> None:
        """Function ``name`` (every version, or only ``qualifier``) was deleted: stop the
        version zygotes no remaining function version forks from."""
        gone = [u for u in self._users if u[0] == name and qualifier in (None, u[1])]
        keys = {self._users.pop(user)[1] for user in gone}
        for key in keys:
            self._stop_if_unused(key)

    def _use(self, fv: FunctionVersion, key: ZygoteKey) -> None:
        """Count the function version of ``fv`` as forking from ``key`` from now on (a
        sandbox of an older snapshot, still starting after an update, changes nothing)."""
        previous = self._users.get(fv.key)
        if previous is not None and previous[0] > fv.generation:
            return
        self._users[fv.key] = (fv.generation, key)
        if previous is not None and previous[1] != key:
            self._stop_if_unused(previous[1])

    def _stop_if_unused(self, key: ZygoteKey) -> None:
        if any(used == key for _, used in self._users.values()):
            return
        entry = self._versions.pop(key, None)
        if entry is not None:
            log.info("%s stopped: no function version uses it any more", entry.name)
            self._close_later(entry)

    def _start_version(self, key: ZygoteKey, entry: VersionZygote) -> None:
        entry.state = State.STARTING
        entry.process = None
        task = asyncio.get_running_loop().create_task(self._run_start_version(key, entry))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_start_version(self, key: ZygoteKey, entry: VersionZygote) -> None:
        interpreter, code, _ = key
        started = time.perf_counter()
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            base = await self.base(interpreter)
            message = {"code": code, "modules": entry.modules, "sources": entry.sources}
            try:
                pid = await base.request("zygote", message, child.fileno(), START_TIMEOUT)
            finally:
                child.close()
            process = ZygoteProcess(entry.name, host, self._board)
            process.pid = pid
            info = await process.ready()
        except SandboxError as exc:
            host.close()
            log.warning("%s not started, sandboxes start from the base zygote: %s", entry.name, exc)
            entry.state = State.BASE
            return
        problem = unsafe_reason(pid)
        if problem is not None:
            log.warning(
                "%s not used: it holds %s after its imports; its sandboxes start from the"
                " base zygote instead",
                entry.name,
                problem,
            )
            await process.close()
            entry.state = State.BASE
            return
        if self._versions.get(key) is not entry:
            await process.close()
            return
        entry.process = process
        entry.state = State.READY
        if self._on_ready is not None:
            self._on_ready(process)
        log.info(
            "%s ready (pid %d) in %.1f ms: %d modules preloaded (%d failed), %d compiled",
            entry.name,
            pid,
            (time.perf_counter() - started) * 1000,
            int(info.get("loaded", 0)),
            len(info.get("failed") or ()),
            int(info.get("compiled", 0)),
        )
        self._evict()

    def _expire(self) -> None:
        """Forget version zygotes not used for ``idle_seconds`` (they hold memory)."""
        cutoff = time.monotonic() - self._idle
        for key, entry in list(self._versions.items()):
            if entry.last_used < cutoff and entry.state is not State.STARTING:
                del self._versions[key]
                self._close_later(entry)

    def _evict(self) -> None:
        live = [(e.last_used, k) for k, e in self._versions.items() if e.process is not None]
        for _, key in sorted(live)[: max(0, len(live) - self._max_versions)]:
            self._close_later(self._versions.pop(key))

    def _close_later(self, entry: VersionZygote) -> None:
        """Stop a zygote no longer in ``_versions``: at once if no sandbox of it is left,
        else after the last one (closing it would kill them)."""
        process = entry.process
        if process is None:
            return
        if process.sandboxes > 0 and process.alive:
            self._draining.add(process)
            process.on_lost.append(lambda: self._draining.discard(process))
            return
        self._spawn(process.close())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop every zygote: version zygotes first (each kills its sandboxes), then bases."""
        for entry in self._versions.values():
            if entry.process is not None:
                await entry.process.close()
        self._versions.clear()
        for process in list(self._draining):
            await process.close()
        self._draining.clear()
        for zygote in self._bases.values():
            await zygote.close()
        self._bases.clear()
        if self._eager is not None:
            sock, proc = self._eager[1]
            sock.close()
            await asyncio.to_thread(proc.wait, 5.0)
            self._eager = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
