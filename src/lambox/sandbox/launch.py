"""How a Runtime API sandbox's process is started: a plain process, or jailed by a zygote.

``RuntimeApiSandbox`` owns the Runtime API endpoint and the log pipe; a ``Launcher`` owns the
process: where it runs, how it is killed, how its exit status, peak memory and OOM kills are
learned. Two implementations:

- ``ProcessLauncher`` (``LAMBOX_SANDBOX=process``): ``subprocess.Popen`` in a session of its
  own, killed as a process group, with lambox's privileges; peak memory is the process's
  VmHWM.
- ``LinuxLauncher`` (the Linux backend): the base zygote of lambox's interpreter forks the
  sandbox exactly as it forks a Python one (``runtime.jail``: pid, mount, ipc, uts and
  cgroup namespaces; the function's code read-only at /var/task; a private tmpfs /tmp of
  EphemeralStorage; the sandbox user with no_new_privs; an empty network namespace for
  ``lambox:network=none``) into a cgroup of the ``LinuxSandboxFactory``'s pool (memory =
  MemorySize, the pids limit, and the CPU limit of ``LAMBOX_CPU_MODE`` once init is over).
  There, instead of the Python runtime, a tiny pid 1 (``runtime.execinit``) execs the
  runtime. Killing it kills the pid namespace; Max Memory Used is the cgroup's peak and a
  death after the cgroup's OOM killer fired is an out-of-memory death.

A ``Runtime`` is one started process. Contract: ``kill`` is idempotent, synchronous and
releases everything (cgroup included); ``exit_code`` is asked once the process has exited;
``out_of_memory`` and ``max_rss_kb`` are meaningful until ``kill``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from lambox.errors import SandboxError
from lambox.model import FunctionVersion
from lambox.runtime.execinit import API_HOST, API_PORT, INIT_FD_ENV
from lambox.runtime.jail import OPT_ROOT
from lambox.sandbox.api import SandboxFactory
from lambox.sandbox.cgroups import Cgroup
from lambox.sandbox.linux import EXIT_WAIT, NETWORK_TAG, TASK_ROOT, LinuxSandboxFactory
from lambox.sandbox.peers import Gate
from lambox.sandbox.runtime_api_server import ApiServer, Handler, HttpConnection
from lambox.sandbox.zygote import code_key

log = logging.getLogger(__name__)


class Runtime(Protocol):
    """One started runtime process (see the module docstring for the contract)."""

    pid: int  # on the host; the caller watches it with a pidfd
    exec_error: str | None  # why execve failed inside the sandbox, once it exited

    def initialized(self) -> None:
        """The runtime finished its init: the init boost ends (the CPU limit applies)."""
        ...

    async def listener(self, timeout: float) -> socket.socket | None:
        """The socket the sandbox made for its Runtime API endpoint (``api_address`` was
        not None), or None when the host serves it on a port of its own."""
        ...

    async def exit_code(self) -> int | None:
        """The exit status of the exited runtime (< 0: killed by that signal)."""
        ...

    def out_of_memory(self) -> bool:
        """Whether the memory limit's OOM killer fired in this sandbox."""
        ...

    def max_rss_kb(self) -> int:
        """Peak memory of the sandbox so far (0 if unknown)."""
        ...

    def kill(self) -> None:
        """Kill the runtime and everything it started; release its resources. Idempotent."""
        ...

    async def wait(self) -> None:
        """Return once the killed process is reaped."""
        ...


class Launcher(Protocol):
    """Starts the processes of Runtime API sandboxes."""

    def api_address(self, version: FunctionVersion) -> str | None:
        """The address the sandbox itself will listen on for its Runtime API (then given
        by ``Runtime.listener``), or None when the host serves it on an ephemeral port."""
        ...

    async def launch(
        self,
        version: FunctionVersion,
        argv: list[str],
        env: dict[str, str],
        log_fd: int,
        gate: Gate,
    ) -> Runtime:
        """Start ``argv`` (paths and ``env`` as on the host) in ``version``'s code
        directory, stdout and stderr on ``log_fd``; ``gate`` (of the Runtime API server on
        the host, if any) is told, before the process starts, whose connections to admit.
        OSError when it cannot be executed, SandboxError when the sandbox cannot be made."""
        ...


async def serve_on(sock: socket.socket, handler: Handler, body_limit: int) -> ApiServer:
    """``runtime_api_server.serve`` on a listening socket made elsewhere."""
    live: set[HttpConnection] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpConnection(handler, body_limit, live), sock=sock)
    return ApiServer(server, live)


# -- plain processes --------------------------------------------------------------------------


class PlainRuntime:
    """A runtime started by ``ProcessLauncher``."""

    exec_error: str | None = None

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self.pid = proc.pid

    def initialized(self) -> None:
        return None

    async def listener(self, timeout: float) -> socket.socket | None:
        return None

    async def exit_code(self) -> int | None:
        return self._proc.poll()

    def out_of_memory(self) -> bool:
        return False

    def max_rss_kb(self) -> int:
        """Peak resident memory of the runtime process (VmHWM)."""
        try:
            with open(f"/proc/{self.pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            return 0
        return 0

    def kill(self) -> None:
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            self._proc.poll()

    async def wait(self) -> None:
        if self._proc.returncode is None:
            await asyncio.to_thread(self._proc.wait)


class ProcessLauncher:
    """Plain processes in a session of their own, with lambox's privileges."""

    def api_address(self, version: FunctionVersion) -> str | None:
        return None

    async def launch(
        self,
        version: FunctionVersion,
        argv: list[str],
        env: dict[str, str],
        log_fd: int,
        gate: Gate,
    ) -> Runtime:
        gate.open()  # this backend isolates nothing: any local process may connect
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=version.code_dir,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            start_new_session=True,
        )
        return PlainRuntime(proc)


# -- jailed by a zygote -----------------------------------------------------------------------


class JailedRuntime:
    """A runtime forked by a zygote into a jail and a cgroup (``LinuxLauncher``)."""

    def __init__(
        self,
        launcher: LinuxLauncher,
        version: FunctionVersion,
        cgroup: Cgroup,
        channel: socket.socket,
    ) -> None:
        self.pid = 0
        self.exec_error: str | None = None
        self._launcher = launcher
        self._version = version
        self._cgroup: Cgroup | None = cgroup
        self._channel: socket.socket | None = channel
        self._pidfd = -1
        self._status: int | None = None
        self._listener: socket.socket | None = None

    def started(self, pid: int) -> None:
        self.pid = pid
        with contextlib.suppress(OSError):  # already gone: the exit report says so
            self._pidfd = os.pidfd_open(pid)

    def initialized(self) -> None:
        cgroup = self._cgroup
        if cgroup is None:
            return
        factory = self._launcher.factory
        try:
            cgroup.set_cpu(factory.cpu.after_init(self._version.config.memory_size))
        except OSError as exc:
            log.error("runtime sandbox %d runs without its CPU limit: %s", self.pid, exc)

    async def listener(self, timeout: float) -> socket.socket | None:
        channel = self._channel
        if channel is None:
            raise SandboxError("sandbox destroyed")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._listener is None:
            if not self._drain():
                raise SandboxError("the sandbox exited before it made its Runtime API socket")
            if self._listener is not None:
                break
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(channel.fileno(), _settle, ready)
            try:
                await asyncio.wait_for(ready, max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise SandboxError("the sandbox made no Runtime API socket in time") from None
            finally:
                loop.remove_reader(channel.fileno())
        sock, self._listener = self._listener, None
        return sock

    def _drain(self) -> bool:
        """Read what the init channel holds; False once it is closed (the init exited)."""
        channel = self._channel
        if channel is None:
            return False
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(channel, 4096, 1)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                return False
            try:
                message: dict[str, Any] = json.loads(data)
            except ValueError:
                message = {}
            if fds:
                sock = socket.socket(fileno=fds[0])
                if "listen" in message and self._listener is None:
                    self._listener = sock
                else:
                    sock.close()
            if "status" in message:
                self._status = int(message["status"])
            if "exec_error" in message:
                self.exec_error = str(message["exec_error"])

    async def exit_code(self) -> int | None:
        self._drain()
        if self._status is not None:
            return self._status
        if not self.pid:
            return None
        return await self._launcher.factory.board.wait(self.pid, EXIT_WAIT)

    def out_of_memory(self) -> bool:
        cgroup = self._cgroup
        return cgroup is not None and cgroup.oom_kills() > cgroup.oom_baseline

    def max_rss_kb(self) -> int:
        return self._cgroup.peak_kb() if self._cgroup is not None else 0

    def kill(self) -> None:
        if self._pidfd >= 0:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            os.close(self._pidfd)
            self._pidfd = -1
        factory = self._launcher.factory
        if self.pid:
            factory.board.forget(self.pid)
        if self._cgroup is not None:
            factory.cgroups.release(self._cgroup)  # empties it of anything left, then reuses
            self._cgroup = None
        for sock in (self._channel, self._listener):
            if sock is not None:
                sock.close()
        self._channel = self._listener = None

    async def wait(self) -> None:
        return None  # its zygote reaps it


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class LinuxLauncher:
    """Runtimes forked into jails by the base zygote of ``factory`` (see the module
    docstring). ``code_root`` is the code store's tree the zygotes bind."""

    def __init__(
        self, factory: LinuxSandboxFactory, code_root: Path, interpreter: str = sys.executable
    ) -> None:
        self.factory = factory
        self._code_root = str(code_root.resolve())
        self._interpreter = interpreter

    def api_address(self, version: FunctionVersion) -> str | None:
        if version.config.tags.get(NETWORK_TAG) == "none":
            return f"{API_HOST}:{API_PORT}"
        return None

    async def launch(
        self,
        version: FunctionVersion,
        argv: list[str],
        env: dict[str, str],
        log_fd: int,
        gate: Gate,
    ) -> Runtime:
        config = version.config
        host_task = str(version.code_dir)
        host_opt = str(version.opt_dir) if version.opt_dir else None
        user = config.environment
        inside = {k: v if k in user else v.replace(host_task, TASK_ROOT) for k, v in env.items()}
        if host_opt:
            inside = {
                k: v if k in user else v.replace(host_opt, OPT_ROOT) for k, v in inside.items()
            }
        factory = self.factory
        zygote = await factory.zygotes.base(self._interpreter)
        cgroup = factory.cgroups.acquire()
        # On the host's network every sandbox reaches the API's port: only this one's
        # processes (those in its cgroup, which they cannot leave) are served.
        gate.admit_only(cgroup.procs)
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        host.setblocking(False)  # socket.recv_fds ignores its flags before Python 3.12
        runtime = JailedRuntime(self, version, cgroup, host)
        spec = {
            "argv": [arg.replace(host_task, TASK_ROOT) for arg in argv],
            "env": inside,
            "code": code_key(version, self._code_root),
            "learn": False,
            "tmp_mb": config.ephemeral_storage,
            "network": config.tags.get(NETWORK_TAG, "host"),
            "cgroup": cgroup.name,
            "fd_env": [INIT_FD_ENV],
        }
        try:
            cgroup.limit(config.memory_size, factory.pids_max)
            pid = await zygote.request("spawn", spec, log_fd, extra_fds=(child.fileno(),))
        except BaseException as exc:
            runtime.kill()
            if isinstance(exc, OSError):
                raise SandboxError(f"cannot set the limits of cgroup {cgroup.name}: {exc}") from exc
            raise
        finally:
            child.close()
        runtime.started(pid)
        return runtime


def launcher_for(python: SandboxFactory, code_root: Path) -> Launcher:
    """The launcher matching the server's Python backend: jailed when it is the Linux one."""
    if isinstance(python, LinuxSandboxFactory):
        return LinuxLauncher(python, code_root)
    return ProcessLauncher()
