"""A zygote: a warm, single-threaded interpreter that forks sandboxes on request.

``python -m lambox.runtime.zygote`` starts a *base* zygote for one interpreter: it imports
the lambox runtime, builds the sandbox view (``jail.build_view``) and waits for requests on
a control socket (``LAMBOX_ZYGOTE_FD``, a SOCK_SEQPACKET socket; one JSON object per message,
file descriptors attached with SCM_RIGHTS). A base zygote can fork a *version* zygote, which
binds one function's code at /var/task, imports the libraries that function's init imported
(learned from a first init: standard library and installed packages only) and compiles the
function's own modules without running them (``codecache``), so its children skip both
costs. Both kinds fork sandboxes the same way.

Host -> zygote:
    {"op": "spawn", "id", "cgroup", "tmp_mb", "network", "code", "learn", "fd_env", "argv"?}
        + [wire fd, then one more fd per name in fd_env: the sandbox finds it in that
           environment variable; the last, ``LAMBOX_ENV_FD``, is a memory file holding the
           sandbox's environment, read by the sandbox only (``forkserver.ENV_FD_ENV``)]
        With "argv" the sandbox runs no Python function: it execs argv (a Runtime API
        runtime) under a tiny init, the wire fd being its stdout/stderr (``execinit``).
    {"op": "spare", "id", "cgroup"} + [claim fd]
    {"op": "zygote", "id", "code", "fd_env"} + [control fd of the new zygote, then a memory
        file holding {"modules", "sources"} (``LAMBOX_LEARNED_FD``): what one function's
        init imported never passes through the base zygote's memory]        (base only)
Host -> spare, on its claim socket, once:
    {"env", "tmp_mb", "network", "code", "learn"} + [wire fd, log pipe fd]
Zygote -> host:
    {"op": "ready", "pid", "loaded"?, "failed"?, "error"?}   once, when it can serve
    {"op": "spawned", "id", "pid"} | {"op": "failed", "id", "error"}
    {"op": "exit", "pid", "code"}  for every child it reaped (code < 0: killed by signal)

A *spare* is a sandbox forked ahead of need: it does the function-independent part of its
isolation at once (``jail.prepare``: cgroup, namespaces, /proc) and then waits on its claim
socket; a claim completes it (``jail.finish``) and it runs like any sandbox. EOF on the claim
socket tells an unclaimed spare to exit.

Invariants: the zygote never runs function code (no module from a function's package is
ever imported here, and requested names that a package would shadow are skipped); it holds
no per-function secret (the environment arrives beside each spawn request, in a file only
the child reads, and lives only in the child); it stays single-threaded, so fork is safe;
it reaps every child and reports every sandbox that ends. Each sandbox is forked into a
fresh pid namespace (unshare before fork, setns back after) whose pid 1 is a small init
forked just before it (``runtime.init``), so the function is never pid 1; when the sandbox
ends the zygote kills that init, which kills everything the sandbox started. EOF on the
control socket means the host is gone: the zygote kills its sandboxes and exits.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import signal
import socket
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from lambox.runtime import bootstrap, codecache, environ, execinit, init, jail, traceenv
from lambox.runtime import namespaces as ns
from lambox.runtime.context import FunctionInfo
from lambox.runtime.forkserver import (
    ENV_FD_ENV,
    LEARNED_FD_ENV,
    SPAWNED,
    ForkServer,
    take_env,
    take_json,
)
from lambox.runtime.logs import Capture

MAX_MESSAGE = 1 << 20
MAX_PRELOAD = 2000
SETUP_FAILED = 127
# Never imported into a zygote even when a function's init did: they act on import.
DENY = frozenset(
    {"__main__", "__mp_main__", "lambox", "this", "antigravity", "idlelib", "tkinter",
     "turtle", "turtledemo", "pydoc", "webbrowser", "ensurepip", "venv", "lib2to3"}
)  # fmt: skip


def _say(message: str) -> None:
    os.write(2, f"lambox zygote {os.getpid()}: {message}\n".encode(errors="replace"))


def learned_modules(
    before: set[str], task_root: str = jail.TASK_ROOT
) -> tuple[list[str], list[str]]:
    """What init imported since ``before``: (modules a version zygote may hold, source files
    of the function's own modules and of its layers', which it may only compile). A zygote
    holds nothing from the function's package, its layers or /tmp, nothing of lambox's,
    nothing on the deny list: it runs as root, so it runs no code a user uploaded."""
    own = (os.path.join(task_root, ""), os.path.join(jail.OPT_ROOT, ""))
    modules: list[str] = []
    sources: list[str] = []
    for name, module in list(sys.modules.items()):
        if name in before or module is None or name.partition(".")[0] in DENY:
            continue
        file = getattr(module, "__file__", None)
        if not isinstance(file, str):
            continue
        if file.startswith(own):
            sources.append(file)
        elif not file.startswith("/tmp/"):
            modules.append(name)
    return modules[:MAX_PRELOAD], sources[: codecache.MAX_FILES]


def preload(names: list[str], task_root: str = jail.TASK_ROOT) -> tuple[int, list[str]]:
    """Import what a version zygote should hold; (imported, failed). ``task_root`` is not
    on sys.path here, and a top-level name the function's package provides is skipped, so
    only the interpreter's own libraries are ever imported."""
    try:
        shadowed = {entry.partition(".")[0] for entry in os.listdir(task_root)}
    except OSError:
        shadowed = set()
    loaded = 0
    failed: list[str] = []
    for name in names[:MAX_PRELOAD]:
        top = name.partition(".")[0]
        if name in sys.modules or top in DENY or top in shadowed:
            continue
        if not all(part.isidentifier() for part in name.split(".")):
            continue
        try:
            importlib.import_module(name)
            loaded += 1
        except BaseException:
            failed.append(name)
    return loaded, failed


def _await_claim(claim_fd: int) -> tuple[dict[str, Any], int, int]:
    """Block until the host claims this spare: (the rest of its spec, its wire fd, its log
    pipe). An unclaimed spare whose host hangs up just exits."""
    with socket.socket(fileno=claim_fd) as claim:
        data, fds, _, _ = socket.recv_fds(claim, MAX_MESSAGE, 2)
    if not data or len(fds) != 2:
        os._exit(0)
    return json.loads(data), fds[0], fds[1]


_REHEARSAL = (
    '{"env":{"AWS_REGION":"us-east-1","_HANDLER":"app.handler","TZ":":UTC"},'
    '"code":null,"tmp_mb":512,"network":"host","learn":false}'
)


def _rehearse() -> None:
    """Run once, with nothing kept, the function-independent paths a claimed spare is about
    to take (receive and decode a claim, environment), so the pages they write (allocator
    pools, type and module objects) are copied from the zygote while the spare waits
    instead of on the cold path, at ~4 us a fault. The logging handler and the encoder
    are not rehearsed: the zygote built them (``bootstrap.prepare``), and building or
    using others here only made a spare 0.2 MiB larger than the sandbox it becomes."""
    a, b = socket.socketpair()
    with a, b:
        socket.send_fds(a, [_REHEARSAL.encode()], [a.fileno()])
        data, fds, _, _ = socket.recv_fds(b, MAX_MESSAGE, 1)
        for fd in fds:
            os.close(fd)
    env = {**os.environ, **json.loads(data)["env"]}
    FunctionInfo.from_env(env)


def _reseed() -> None:
    """State a fork would otherwise share between sandboxes: the random generators.
    ``random`` reseeds itself in every forked child (its own at-fork hook); numpy's global
    generator does not."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        try:
            numpy_random.seed()
        except Exception as exc:
            _say(f"numpy.random not reseeded: {exc}")


class Zygote(ForkServer):
    """The request loop of one zygote; see the module docstring."""

    def __init__(
        self, ctl: socket.socket, cgroup_fds: list[int], pidns: int, uid: int, gid: int
    ) -> None:
        super().__init__(ctl, MAX_MESSAGE, 4)
        self.cgroup_fds = cgroup_fds
        self.pidns = pidns
        self.uid = uid
        self.gid = gid
        # sandbox pid -> its init's pid (0 for a Runtime API sandbox, its own init)
        self.sandboxes: dict[int, int] = {}
        self.inits: set[int] = set()

    def serve(self) -> int:
        """Answer requests until the host hangs up; the exit status of the zygote."""
        self.listen()
        self.reap()
        while (request := self.next_request()) is not None:
            self.handle(*request)
        return self.shutdown()

    def handle(self, data: bytes, fds: list[int], flags: int) -> None:
        request_id = None
        try:
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                raise ValueError("request truncated")
            message = json.loads(data)
            request_id = message.get("id")
            op = message.get("op")
            named_ops = ("spawn", "zygote")
            extra = [str(name) for name in message.get("fd_env") or ()] if op in named_ops else []
            if len(fds) != 1 + len(extra):
                raise ValueError(f"expected {1 + len(extra)} descriptors, got {len(fds)}")
            named = dict(zip(extra, fds[1:], strict=True))
            if op in ("spawn", "spare"):
                pid = self.spawn(message, fds[0], spare=op == "spare", extra=named)
            elif op == "zygote":
                pid = self.fork_zygote(message, fds[0], named.get(LEARNED_FD_ENV))
            else:
                raise ValueError(f"unknown op {op!r}")
            if type(request_id) is int:
                self.ctl.sendall(SPAWNED % (request_id, pid))
            else:
                self.send({"op": "spawned", "id": request_id, "pid": pid})
        except Exception as exc:
            self.send({"op": "failed", "id": request_id, "error": f"{type(exc).__name__}: {exc}"})
        finally:
            for fd in fds:
                os.close(fd)

    def spawn(
        self,
        message: Mapping[str, Any],
        fd: int,
        spare: bool = False,
        extra: Mapping[str, int] | None = None,
    ) -> int:
        """Fork one sandbox (or a spare: ``fd`` is then its claim socket) into a new pid
        namespace: its init (``runtime.init``) as pid 1, then the sandbox as pid 2 (a
        Runtime API sandbox as pid 1: it is its own init). ``extra`` names more descriptors
        the sandbox keeps, by the environment variable that tells it their number. The
        sandbox's pid; the zygote kills its init when it reaps it."""
        ns.unshare(ns.CLONE_NEWPID)
        first = 0
        try:
            if not message.get("argv"):  # a Runtime API sandbox is its own init (execinit)
                first = init.spawn()  # pid 1 of the new namespace
                self.children.add(first)
                self.inits.add(first)
            pid = os.fork()
        except BaseException:
            ns.setns(self.pidns, ns.CLONE_NEWPID)
            if first:
                os.kill(first, signal.SIGKILL)
            raise
        if pid == 0:
            try:
                self._sandbox(message, fd, spare, extra or {})
            finally:
                os._exit(SETUP_FAILED)  # a child never returns into the zygote's loop
        ns.setns(self.pidns, ns.CLONE_NEWPID)
        self.children.add(pid)
        self.sandboxes[pid] = first
        return pid

    def _sandbox(
        self, message: Mapping[str, Any], fd: int, spare: bool, extra: Mapping[str, int]
    ) -> None:
        capture: Capture | None = None
        try:
            self.close_in_child()
            jail.prepare(self.cgroup_fds, str(message.get("cgroup") or ""))
            for inherited in (*self.cgroup_fds, self.pidns):
                os.close(inherited)
            wire_fd = fd
            if spare:
                # Everything that does not depend on the function happens before the
                # claim: every page it touches is one fault less on the cold path.
                capture = Capture()
                try:
                    _rehearse()
                except Exception:
                    capture.fatal("lambox spare: rehearsal failed:\n" + traceback.format_exc())
                message, wire_fd, log_fd = _await_claim(fd)
                capture.renew(log_fd)
            jail.finish(message, self.uid, self.gid)
            extra = dict(extra)
            env_fd = extra.pop(ENV_FD_ENV, None)
            env = take_env(env_fd) if env_fd is not None else dict(message.get("env") or {})
            if message.get("argv"):  # a Runtime API sandbox: never returns
                execinit.run({**message, "env": env}, wire_fd, extra)
            env[bootstrap.WIRE_FD_ENV] = str(wire_fd)
            for name, extra_fd in extra.items():
                os.set_inheritable(extra_fd, False)
                env[name] = str(extra_fd)
            settings = bootstrap.runtime_settings(env)
            environ.replace(env)
            _reseed()
            before = set(sys.modules) if message.get("learn") else None
        except BaseException:
            report = "sandbox setup failed:\n" + traceback.format_exc()
            if capture is None:
                _say(report)
            else:
                capture.fatal(f"lambox sandbox {os.getpid()}: {report}\n")
            os._exit(SETUP_FAILED)

        def on_init(ok: bool) -> dict[str, Any]:
            if not ok or before is None:
                return {}
            modules, sources = learned_modules(before)
            return {"preload": modules, "sources": sources}

        os._exit(bootstrap.main(on_init, capture, settings))

    def fork_zygote(self, message: Mapping[str, Any], ctl_fd: int, learned_fd: int | None) -> int:
        """Fork a version zygote for one function's code; it reports on its own socket. What
        it preloads and compiles is in the file ``learned_fd``, which only it reads."""
        pid = os.fork()
        if pid == 0:
            try:
                self._version_zygote(message, ctl_fd, learned_fd)
            finally:
                os._exit(SETUP_FAILED)  # a child never returns into the zygote's loop
        self.children.add(pid)
        return pid

    def _version_zygote(
        self, message: Mapping[str, Any], ctl_fd: int, learned_fd: int | None
    ) -> None:
        """In the forked child: become the version zygote of one function's code."""
        try:
            self.close_in_child()
            learned = take_json(learned_fd) if learned_fd is not None else message
            child = Zygote(
                socket.socket(fileno=ctl_fd), self.cgroup_fds, self.pidns, self.uid, self.gid
            )
            ns.unshare(ns.CLONE_NEWNS)
            jail.bind_code(str(message["code"]))
            loaded, failed = preload([str(m) for m in learned.get("modules") or []])
            sources = [str(p) for p in learned.get("sources") or []]
            compiled = codecache.compile_sources(sources, jail.TASK_ROOT)
            codecache.install(jail.TASK_ROOT)
            codecache.find_ahead(jail.TASK_ROOT)
            if "+" in str(message["code"]):  # it has layers: their sources too
                compiled += codecache.compile_sources(sources, jail.OPT_ROOT)
                for entry in bootstrap.layer_path():
                    if os.path.isdir(entry):
                        codecache.install(entry)
            gc.collect()
            gc.freeze()
            ready = {"op": "ready", "pid": os.getpid(), "loaded": loaded, "failed": failed}
            child.send({**ready, "compiled": compiled})
        except BaseException:
            _say("version zygote setup failed:\n" + traceback.format_exc())
            os._exit(SETUP_FAILED)
        os._exit(child.serve())

    def reaped(self, pid: int) -> bool:
        """A sandbox ended: its init goes too, and with it everything left in its pid
        namespace (orphans). An init's own end is not reported: the host knows sandboxes
        only."""
        if pid in self.inits:
            self.inits.discard(pid)
            return False
        first = self.sandboxes.pop(pid, 0)
        if first:
            with contextlib.suppress(ProcessLookupError):
                os.kill(first, signal.SIGKILL)
        return True

    def shutdown(self) -> int:
        """The host is gone: no sandbox of ours may outlive it. Version zygotes see their
        own host socket close and do the same for theirs."""
        for pid, first in list(self.sandboxes.items()):
            for target in (first, pid) if first else (pid,):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(target, signal.SIGKILL)
        return 0


def main() -> int:
    """Start a base zygote from ``LAMBOX_ZYGOTE`` (JSON: code_root, staging, hide, cgroups,
    uid, gid, libs) and ``LAMBOX_ZYGOTE_FD``; serve until the host hangs up."""
    ctl = socket.socket(fileno=int(os.environ.pop("LAMBOX_ZYGOTE_FD")))
    try:
        config = json.loads(os.environ.pop("LAMBOX_ZYGOTE"))
        if sys.path and sys.path[0] in ("", os.getcwd()):
            del sys.path[0]
        ns.prctl(ns.PR_SET_CHILD_SUBREAPER, 1)
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
        cgroup_fds = [os.open(path, flags) for path in config["cgroups"]]
        pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        uid, gid = int(config["uid"]), int(config["gid"])
        libs = [str(p) for p in config.get("libs") or ()]
        jail.build_view(config["staging"], config["code_root"], config["hide"], uid, gid, libs)
        # What sandboxes import from, and so what a version zygote preloads from: the
        # runtime, the runtime's libraries, the standard library (bootstrap adds /var/task
        # and /opt/python in front).
        sys.path[:] = bootstrap.runtime_path(sys.path, jail.LIBS_DIR if libs else "")
        zygote = Zygote(ctl, cgroup_fds, pidns, uid, gid)
        traceenv.libc_env()  # imports ctypes here, once, not in every sandbox
        environ.empty()  # each sandbox gets exactly its own (``environ.replace``)
        bootstrap.prepare()  # what every sandbox would build alike, built once
        gc.collect()
        gc.freeze()
    except BaseException as exc:
        _say("cannot start:\n" + traceback.format_exc())
        ctl.sendall(json.dumps({"op": "ready", "error": f"{type(exc).__name__}: {exc}"}).encode())
        return 1
    zygote.send({"op": "ready", "pid": os.getpid()})
    return zygote.serve()


if __name__ == "__main__":
    os._exit(main())
