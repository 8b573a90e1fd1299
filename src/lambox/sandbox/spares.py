"""Spares: sandboxes forked and half-isolated ahead of need, a few per zygote.

A spare has already done everything that does not depend on the function: it is pid 1 of its
own pid namespace, inside its cgroup, with its own mount, ipc, uts and cgroup namespaces and
/proc (``runtime.jail.prepare``). A cold start claims one (``claim``: the function's spec and
the wire socket) and the spare finishes as a sandbox; a new spare is forked in the
background. Joining a cgroup is the step this exists for: on cgroup v1 the migration waits
for an RCU grace period (5-30 ms measured on a 2-core machine), which would otherwise sit on
every cold start.

A spare holds a cgroup and a little memory, so there are at most ``per_zygote`` per zygote,
and they go when their zygote goes (``drop``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambox.errors import SandboxError
from lambox.sandbox.cgroups import UNLIMITED, Cgroup, CgroupPool
from lambox.sandbox.zygote import ExitBoard, ZygoteProcess

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class Spare:
    """One waiting child: its host pid, the host end of its claim socket, its cgroup."""

    pid: int
    sock: socket.socket
    cgroup: Cgroup

    def claim(self, spec: Mapping[str, Any], wire_fd: int, log_fd: int) -> None:
        """Hand the spare its function, its wire and its log pipe; OSError if it is gone.
        The claim socket is closed either way: a spare is claimed at most once."""
        try:
            data = json.dumps(spec, separators=(",", ":")).encode()
            socket.send_fds(self.sock, [data], [wire_fd, log_fd])
        finally:
            self.sock.close()


class SparePool:
    """Keeps ``per_zygote`` spares forked from every live zygote it is told about."""

    def __init__(self, cgroups: CgroupPool, board: ExitBoard, per_zygote: int = 1) -> None:
        self._cgroups = cgroups
        self._board = board
        self._per_zygote = per_zygote
        self._spares: dict[ZygoteProcess, collections.deque[Spare]] = {}
        self._filling: set[ZygoteProcess] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def take(self, zygote: ZygoteProcess) -> Spare | None:
        """A spare of ``zygote`` if one is ready; a replacement is forked either way."""
        spares = self._spares.get(zygote)
        spare = spares.popleft() if spares else None
        self.refill(zygote)
        return spare

    def refill(self, zygote: ZygoteProcess) -> None:
        """Fork spares off ``zygote`` (in the background) until it has ``per_zygote``."""
        if self._closing or not zygote.alive or zygote in self._filling:
            return
        if zygote not in self._spares:
            self._spares[zygote] = collections.deque()
            zygote.on_lost.append(lambda: self.drop(zygote))
        if len(self._spares[zygote]) >= self._per_zygote:
            return
        self._filling.add(zygote)
        task = asyncio.get_running_loop().create_task(self._fill(zygote))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fill(self, zygote: ZygoteProcess) -> None:
        try:
            spares = self._spares[zygote]
            while len(spares) < self._per_zygote and zygote.alive and not self._closing:
                spare = await self._fork(zygote)
                if spare is None:
                    return
                if zygote.alive and not self._closing and self._spares.get(zygote) is spares:
                    spares.append(spare)
                else:
                    self._discard(spare)
        finally:
            self._filling.discard(zygote)

    async def _fork(self, zygote: ZygoteProcess) -> Spare | None:
        cgroup = self._cgroups.acquire()
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            cgroup.set_cpu(UNLIMITED)
            pid = await zygote.request("spare", {"cgroup": cgroup.name}, child.fileno())
        except (SandboxError, OSError) as exc:
            log.warning("no spare from %s: %s", zygote.name, exc)
            host.close()
            self._cgroups.release(cgroup)
            return None
        finally:
            child.close()
        return Spare(pid, host, cgroup)

    def _discard(self, spare: Spare) -> None:
        """An unclaimed spare exits when its claim socket closes; its cgroup is emptied."""
        spare.sock.close()
        self._board.forget(spare.pid)
        self._cgroups.release(spare.cgroup)

    def drop(self, zygote: ZygoteProcess) -> None:
        """Discard every spare of ``zygote`` (it is gone, or being stopped)."""
        for spare in self._spares.pop(zygote, ()):
            self._discard(spare)

    async def close(self) -> None:
        self._closing = True
        for zygote in list(self._spares):
            self.drop(zygote)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for zygote in list(self._spares):
            self.drop(zygote)
