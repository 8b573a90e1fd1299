"""The init of a Runtime API sandbox: pid 1 of its pid namespace, parent of the runtime.

Standard library only (it runs in a zygote's child). A spawn message carrying ``argv``
(see ``lambox.runtime.zygote``) ends here instead of in ``bootstrap.main``, once
``jail.finish`` made the child the sandbox user inside its namespaces, cgroup, /var/task and
/tmp. The child stays pid 1 and forks the runtime, which execs ``argv`` with the message's
environment, stdin ``/dev/null`` and stdout/stderr on the log pipe (the spawn's descriptor).

Why a pid 1 of our own instead of exec'ing the runtime as pid 1: the kernel drops signals
sent to a namespace's init from inside it unless it handles them (``kill -9 $$`` in a
bootstrap must kill it, as on Lambda), and an init must reap orphans. This one only waits:
when the runtime exits it reports the exit status and exits, and the kernel kills whatever
else runs in the namespace.

The init channel (``INIT_FD_ENV``, a SOCK_SEQPACKET socket to the host; JSON messages):

    {"listen": "127.0.0.1:9001"} + [listening socket]   network "none" only, before the exec
    {"exec_error": "permission denied"}                 from the runtime's child when execve fails
    {"status": code}                                    the runtime's exit (< 0: signal), last

With ``network: none`` the sandbox has only its own loopback, which the host's Runtime API
server cannot be reached on; so the init makes the listening socket there (on ``API_PORT``,
as Lambda's runtimes know it) and hands it to the host, which serves the API on it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Mapping
from typing import Any, NoReturn

INIT_FD_ENV = "LAMBOX_INIT_FD"
API_HOST = "127.0.0.1"
API_PORT = 9001
EXEC_FAILED = 127
_RESET = ("SIGPIPE", "SIGXFSZ", "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def _send(channel: socket.socket, message: Mapping[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    try:
        if fds:
            socket.send_fds(channel, [data], fds)
        else:
            channel.send(data)
    except OSError:
        pass  # the host is gone: nobody is left to tell


def _default_signals() -> None:
    """Default dispositions (Python ignores SIGPIPE and SIGXFSZ and handles SIGINT); for
    pid 1 a default disposition also means the namespace's processes cannot signal it."""
    for name in _RESET:
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _exec(argv: list[str], env: dict[str, str], log_fd: int, channel: socket.socket) -> NoReturn:
    """In the runtime's process: point stdio where it belongs, keep nothing else, exec."""
    try:
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        keep = channel.fileno()
        os.set_inheritable(keep, False)
        os.closerange(3, keep)
        os.closerange(keep + 1, 1 << 16)
        os.execve(argv[0], argv, env)
    except OSError as exc:
        _send(channel, {"exec_error": (exc.strerror or str(exc)).lower()})
    os._exit(EXEC_FAILED)


def _wait(pid: int) -> int:
    """Reap every child (orphans are re-parented to us) until ``pid`` exits; its status."""
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return EXEC_FAILED
        if reaped == pid:
            return os.waitstatus_to_exitcode(status)


def run(message: Mapping[str, Any], log_fd: int, extra: Mapping[str, int]) -> NoReturn:
    """Be the init of a Runtime API sandbox (see the module docstring); never returns."""
    channel = socket.socket(fileno=extra[INIT_FD_ENV])
    argv = [str(arg) for arg in message["argv"]]
    env = {str(k): str(v) for k, v in (message.get("env") or {}).items()}
    if message.get("network") == "none":
        with socket.create_server((API_HOST, API_PORT), backlog=64) as listener:
            _send(channel, {"listen": f"{API_HOST}:{API_PORT}"}, [listener.fileno()])
    _default_signals()
    pid = os.fork()
    if pid == 0:
        _exec(argv, env, log_fd, channel)
    os.close(log_fd)
    code = _wait(pid)
    _send(channel, {"status": code})
    os._exit(code if code >= 0 else 128 - code)
