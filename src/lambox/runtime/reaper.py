"""Reaping the orphans a function leaves behind in its sandbox's pid namespace.

A Linux sandbox is pid 1 of its own pid namespace, so a process the function double-forks
(a daemonizing library, a shell's background job) becomes the runtime's child when its
parent exits, and a zombie when it exits itself. Nobody waits for it, and each zombie holds
one of the sandbox's pids (``pids.max``) for as long as the sandbox lives.

``Reaper.sweep`` runs after each RESULT is sent, so it is off the latency path. It reaps
only exited children the function cannot name; it leaves the exit status of

- a child the function forked itself with ``os.fork`` (wrapped to note the pid it returns),
  or one alive when the serve loop began (forked during init);
- a ``subprocess.Popen`` not yet waited for (also what asyncio's subprocesses wrap);
- a ``multiprocessing`` child not yet joined.

Anything else among the runtime's exited children is an adopted orphan, as a pid the
function was never given cannot be waited for by it except with ``os.wait()`` on any child.
Known gaps, where a status the function could still ask for is reaped: a child made by
``os.posix_spawn``, through a reference to ``os.fork`` taken before serving began, or by C
code, and waited for only in a later invocation; a ``Popen`` child that exits before its
constructor, running in another thread while the sweep does, has stored the pid.

Cost with no exited children: one ``waitid`` that reaps nothing (WNOHANG | WNOWAIT). The
children lists in /proc are read only when a child has exited, and the gc heap is searched
for ``Popen`` objects only when an exited child is not one already found to be kept.
"""

from __future__ import annotations

import functools
import gc
import os
import sys

_PEEK = os.WEXITED | os.WNOHANG | os.WNOWAIT


class Reaper:
    """Reaps adopted orphans between invocations; one per process, made by the serve loop."""

    def __init__(self) -> None:
        self._own = _children()
        self._kept: set[int] = set()
        _note_forks(self._own)

    def sweep(self) -> int:
        """Reap the orphans that have exited; how many. Never raises: a failed sweep only
        leaves zombies behind, which the next one (or the sandbox's end) takes."""
        try:
            if os.waitid(os.P_ALL, 0, _PEEK) is None:
                return 0
        except ChildProcessError:
            self._own.clear()
            return 0
        except OSError:
            return 0
        try:
            return self._reap()
        except Exception:
            return 0

    def _reap(self) -> int:
        children = _children()
        self._own &= children
        exited = {pid for pid in children - self._own if _has_exited(pid)}
        if not exited or exited <= self._kept:
            return 0
        kept = exited & _tracked()
        self._kept = kept
        reaped = 0
        for pid in exited - kept:
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    reaped += 1
            except ChildProcessError:
                pass
        return reaped


def _note_forks(own: set[int]) -> None:
    """Wrap ``os.fork`` and ``os.forkpty`` (which ``multiprocessing`` and ``pty`` call) so
    each child's pid lands in ``own``. Only the return value names the child exactly: the
    children list read around a fork also holds orphans its child made and left meanwhile."""
    fork, forkpty = os.fork, os.forkpty

    @functools.wraps(fork)
    def noted_fork() -> int:
        pid = fork()
        if pid:
            own.add(pid)
        return pid

    @functools.wraps(forkpty)
    def noted_forkpty() -> tuple[int, int]:
        pid, fd = forkpty()
        if pid:
            own.add(pid)
        return pid, fd

    os.fork = noted_fork
    os.forkpty = noted_forkpty


def _thread_children(tid: int) -> set[int]:
    try:
        fd = os.open(f"/proc/self/task/{tid}/children", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return set()
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return {int(pid) for pid in b"".join(chunks).split()}


def _children() -> set[int]:
    """The process's children, over all its threads (orphans join the main thread's)."""
    pids: set[int] = set()
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return pids
    for tid in tids:
        pids |= _thread_children(int(tid))
    return pids


def _has_exited(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, _PEEK) is not None
    except ChildProcessError:
        return False


def _tracked() -> set[int]:
    """Pids the function can still wait for through a Popen or a multiprocessing child."""
    pids: set[int] = set()
    subprocess = sys.modules.get("subprocess")
    if subprocess is not None:
        for popen in _instances(subprocess.Popen):
            pid = getattr(popen, "pid", None)
            if isinstance(pid, int) and getattr(popen, "returncode", 0) is None:
                pids.add(pid)
    process = sys.modules.get("multiprocessing.process")
    if process is not None:
        for child in list(getattr(process, "_children", ())):
            pid = getattr(getattr(child, "_popen", None), "pid", None)
            if isinstance(pid, int):
                pids.add(pid)
    return pids


def _instances(cls: type) -> list[object]:
    """Live instances of ``cls`` and its subclasses: an instance of a class defined in Python
    refers to its type, so one C-level pass over the gc heap per class finds them."""
    found: list[object] = []
    types = [cls]
    while types:
        kind = types.pop()
        found.extend(obj for obj in gc.get_referrers(kind) if type(obj) is kind)
        types.extend(kind.__subclasses__())
    return found
