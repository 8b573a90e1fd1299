"""Warm pools per function version: acquire a sandbox, give it back, reclaim idle ones.

Invariants:
- a pool belongs to one snapshot generation; a newer snapshot of the same version key
  replaces the pool, and sandboxes of the old one are destroyed when they come back;
- a sandbox is in at most one place: a pool's idle stack, or leased to exactly one caller;
- ``busy`` counts leases, and never exceeds the account concurrency limit (excess callers
  get TooManyRequests at once, never a hang).
Idle stacks are LIFO, so the most recently used (hottest) sandbox serves next and the
oldest ones age out under the keep-alive.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from lambox.errors import TooManyRequests
from lambox.model import FunctionVersion
from lambox.sandbox.api import SandboxFactory
from lambox.sandbox.safe import SafeSandbox
from lambox.watch import Change, Removed

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Pool:
    """The warm sandboxes of one snapshot generation of one function version."""

    version: FunctionVersion
    idle: collections.deque[SafeSandbox] = field(default_factory=collections.deque)
    busy: int = 0


@dataclass(slots=True)
class Lease:
    """A sandbox held by one invocation. ``discard`` keeps it out of the pool on release."""

    sandbox: SafeSandbox
    cold: bool
    discard: bool = False


class Scheduler:
    """Hands out sandboxes for snapshots, scales pools up on demand and down when idle."""

    def __init__(
        self, factory: SandboxFactory, *, keep_alive: float, concurrency_limit: int
    ) -> None:
        self._factory = factory
        self._keep_alive = keep_alive
        self._limit = concurrency_limit
        self._pools: dict[tuple[str, str], Pool] = {}
        self._busy = 0
        self._closing = False
        self._background: set[asyncio.Task[None]] = set()

    @property
    def busy(self) -> int:
        return self._busy

    def counts(self) -> dict[str, int]:
        """Sandboxes idle and busy across all pools (for metrics and benchmarks)."""
        idle = sum(len(p.idle) for p in self._pools.values())
        return {"idle": idle, "busy": self._busy, "pools": len(self._pools)}

    def on_change(self, change: Change) -> None:
        """Change-feed subscriber: drop pools whose snapshot is outdated or removed."""
        if isinstance(change, Removed):
            for key in [k for k in self._pools if k[0] == change.name]:
                self._retire(self._pools.pop(key))
            return
        pool = self._pools.get(change.key)
        if pool is not None and pool.version.generation < change.generation:
            self._retire(self._pools.pop(change.key))

    @contextlib.asynccontextmanager
    async def acquire(self, version: FunctionVersion) -> AsyncIterator[Lease]:
        """A started sandbox for ``version``: a warm one if idle, else a new one (cold)."""
        if self._busy >= self._limit:
            raise TooManyRequests("Rate Exceeded.")
        pool = self._pool(version)
        self._busy += 1
        pool.busy += 1
        try:
            if pool.idle:
                lease = Lease(pool.idle.pop(), cold=False)
            else:
                sandbox = SafeSandbox(self._factory.create(version))
                await sandbox.start()
                lease = Lease(sandbox, cold=True)
            try:
                yield lease
            finally:
                self._release(pool, lease)
        finally:
            self._busy -= 1
            pool.busy -= 1

    def _pool(self, version: FunctionVersion) -> Pool:
        pool = self._pools.get(version.key)
        if pool is None or pool.version.generation < version.generation:
            if pool is not None:
                self._retire(pool)
            pool = self._pools[version.key] = Pool(version)
        return pool

    def _release(self, pool: Pool, lease: Lease) -> None:
        sandbox = lease.sandbox
        current = self._pools.get(pool.version.key) is pool
        if sandbox.alive and current and not lease.discard and not self._closing:
            pool.idle.append(sandbox)
        elif sandbox.alive:
            self._spawn(sandbox.destroy())

    def _retire(self, pool: Pool) -> None:
        while pool.idle:
            self._spawn(pool.idle.popleft().destroy())

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def reap(self, now: float | None = None) -> int:
        """Destroy sandboxes idle for longer than the keep-alive; returns how many."""
        now = time.monotonic() if now is None else now
        reaped = 0
        for key, pool in list(self._pools.items()):
            while pool.idle and now - pool.idle[0].idle_since > self._keep_alive:
                self._spawn(pool.idle.popleft().destroy())
                reaped += 1
            if not pool.idle and pool.busy == 0:
                del self._pools[key]
        return reaped

    async def run_reaper(self) -> None:
        """Control loop: reap idle sandboxes forever; a failed pass is logged, never fatal."""
        period = max(0.05, min(1.0, self._keep_alive / 4))
        while not self._closing:
            await asyncio.sleep(period)
            started = time.perf_counter()
            try:
                reaped = self.reap()
            except Exception:
                log.exception("reaper pass failed")
                continue
            if reaped:
                log.info(
                    "reaped %d idle sandboxes in %.2f ms",
                    reaped,
                    (time.perf_counter() - started) * 1000,
                )

    async def close(self) -> None:
        """Destroy every sandbox; leases still out are destroyed when released."""
        self._closing = True
        for pool in list(self._pools.values()):
            self._retire(pool)
        self._pools.clear()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self._factory.close()
