"""Warm pools per function version: acquire a sandbox, give it back, reclaim idle ones.

Invariants:
- a pool belongs to one snapshot generation; a newer snapshot of the same version key
  replaces the pool, and sandboxes of the old one are destroyed when they come back;
- a sandbox is in at most one place: a pool's idle stack, or leased to exactly one caller;
- concurrency is counted per lease: a function with reserved concurrency never has more
  leases than its reservation, and the other functions share what is left of the account
  limit; an invocation beyond either is throttled at once (TooManyRequests), as on AWS;
- the machine holds at most ``sandbox_limit`` live sandboxes. A cold start beyond it first
  evicts the oldest idle on-demand sandbox of any function, else waits in a bounded queue per
  function (at most ``wait_queue`` callers, at most the function's timeout); a caller that
  finds the queue full gets TooManyRequests at once, never a hang;
- provisioned sandboxes (``Limits.provisioned``) are started ahead of traffic by the
  reconcile pass, are never reaped while configured, and are replaced when they die.
- a sandbox whose environment ended while idle (``SafeSandbox.alive`` turned False: it was
  killed, OOM-killed, or crashed by a background thread) is never handed out: it is
  discarded when it would be, or by the next reaper pass, whichever comes first.
- an idle provisioned sandbox serves before any on-demand one, as on AWS: provisioned
  environments take the traffic first and on-demand ones only what spills over, so a pool
  keeps its idle sandboxes in two stacks (``ready``: provisioned, ``idle``: on-demand).
- a sandbox of a function with tenant isolation serves one tenant for its whole life: it is
  started for an invocation of that tenant, and idles in that tenant's own stack
  (``Pool.tenants``), from which only invocations of the same tenant take it. Concurrency
  is counted per lease, tenants or not.
Idle stacks are LIFO, so the hottest sandbox serves next and old ones age out.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from lambox.errors import SandboxError, TooManyRequests
from lambox.model import FunctionVersion, Limits
from lambox.sandbox.api import SandboxFactory
from lambox.sandbox.safe import SafeSandbox
from lambox.watch import Change, Removed

log = logging.getLogger(__name__)

PROVISIONED = "provisioned-concurrency"
RESERVED_EXCEEDED = "ReservedFunctionConcurrentInvocationLimitExceeded"
MACHINE_EXCEEDED = "SandboxLimitExceeded"
"""lambox's own throttle reason: the machine's sandbox limit and wait queue are full, while
the account's concurrency may not be (AWS has no such limit, so no reason of its own)."""


@dataclass(slots=True)
class Pool:
    """The warm sandboxes of one snapshot generation of one function version: idle
    provisioned ones in ``ready``, idle on-demand ones in ``idle``, and for a function with
    tenant isolation the idle ones of each tenant in ``tenants``."""

    version: FunctionVersion
    idle: collections.deque[SafeSandbox] = field(default_factory=collections.deque)
    ready: collections.deque[SafeSandbox] = field(default_factory=collections.deque)
    tenants: dict[str, collections.deque[SafeSandbox]] = field(default_factory=dict)
    busy: int = 0
    target: int = 0
    provisioned: int = 0
    starting: int = 0


@dataclass(slots=True)
class Lease:
    """A sandbox held by one invocation. ``discard`` keeps it out of the pool on release."""

    sandbox: SafeSandbox
    cold: bool
    discard: bool = False


class LeaseScope:
    """The ``async with`` of ``Scheduler.acquire`` (a plain class: it runs on every
    invocation, and a generator-based context manager costs several times as much)."""

    __slots__ = ("_lease", "_pool", "_scheduler", "_unreserved", "_version")

    def __init__(self, scheduler: Scheduler, version: FunctionVersion) -> None:
        self._scheduler = scheduler
        self._version = version

    async def __aenter__(self) -> Lease:
        self._pool, self._lease, self._unreserved = await self._scheduler._enter(self._version)
        return self._lease

    async def __aexit__(self, *exc_info: object) -> None:
        self._scheduler.exit(self._pool, self._lease, self._unreserved)


class Scheduler:
    """Hands out sandboxes for snapshots, scales pools up on demand and down when idle."""

    def __init__(
        self,
        factory: SandboxFactory,
        *,
        keep_alive: float,
        concurrency_limit: int,
        sandbox_limit: int = 64,
        wait_queue: int = 32,
        max_age: float = float("inf"),
    ) -> None:
        self._factory = factory
        self._keep_alive = keep_alive
        # A sandbox older than this is retired when idle (provisioned ones replaced): its
        # role credentials were issued for a limited time.
        self._max_age = max_age
        self._limit = concurrency_limit
        self._sandbox_limit = sandbox_limit
        self._wait_queue = wait_queue
        self._pools: dict[tuple[str, str], Pool] = {}
        # The newest snapshot of every version, pooled or not: an empty pool is reaped,
        # and provisioning its version later must still find what to start.
        self._versions: dict[tuple[str, str], FunctionVersion] = {}
        self._limits: dict[str, Limits] = {}
        self._total_reserved = 0
        self._busy = 0
        self._busy_unreserved = 0
        self._busy_by_function: collections.Counter[str] = collections.Counter()
        self._live = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._waiting: collections.Counter[str] = collections.Counter()
        self._closing = False
        self._background: set[asyncio.Task[Any]] = set()
        self._reconcile_pending = False

    # -- observation -------------------------------------------------------------------------

    @property
    def busy(self) -> int:
        return self._busy

    def counts(self) -> dict[str, int]:
        """Sandboxes idle, busy and alive across all pools (for metrics and benchmarks)."""
        idle = sum(
            len(p.idle) + len(p.ready) + sum(len(t) for t in p.tenants.values())
            for p in self._pools.values()
        )
        return {"idle": idle, "busy": self._busy, "pools": len(self._pools), "live": self._live}

    def load(self, version: FunctionVersion) -> tuple[int, int, int, float]:
        """Leases now held by the function, by the account, by the unreserved share, and the
        version's provisioned utilization (busy / configured, -1.0 when it has none); read
        on every invocation by metrics, so plain lookups only."""
        pool = self._pools.get(version.key)
        utilization = -1.0
        if pool is not None and pool.target:
            utilization = min(pool.busy, pool.target) / pool.target
        name = version.config.name
        return self._busy_by_function[name], self._busy, self._busy_unreserved, utilization

    def busy_by_function(self) -> dict[str, int]:
        """Leases held now per function (Prometheus' live concurrency)."""
        return {name: busy for name, busy in self._busy_by_function.items() if busy}

    def provisioned(self, name: str, version: str) -> tuple[int, int]:
        """(ready, requested) provisioned sandboxes of a published version."""
        pool = self._pools.get((name, version))
        if pool is None:
            limits = self._limits.get(name)
            return 0, (limits.provisioned.get(version, 0) if limits else 0)
        return pool.provisioned, pool.target

    # -- change feed ---------------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """Change-feed subscriber: replace outdated pools, follow concurrency settings."""
        if isinstance(change, Removed):
            for key in [k for k in self._versions if k[0] == change.name]:
                if change.qualifier in (None, key[1]):
                    del self._versions[key]
            for key in [k for k in self._pools if k[0] == change.name]:
                if change.qualifier in (None, key[1]):
                    self._retire(self._pools.pop(key))
            if change.qualifier is None:
                self._set_limits(Limits(change.name))
        elif isinstance(change, Limits):
            self._set_limits(change)
        elif isinstance(change, FunctionVersion):
            known = self._versions.get(change.key)
            if known is None or known.generation < change.generation:
                self._versions[change.key] = change
            pool = self._pools.get(change.key)
            if pool is not None and pool.version.generation < change.generation:
                self._retire(pool)
                self._pools[change.key] = self._new_pool(change)
                self._reconcile_soon()
            elif pool is None and self._new_pool(change).target:
                # Only a version with provisioned sandboxes gets a pool ahead of traffic:
                # an empty pool is reaped anyway, and one per deployed version would make
                # every pass over the pools cost as much as the number of functions.
                self._pools[change.key] = self._new_pool(change)
                self._reconcile_soon()

    def _set_limits(self, limits: Limits) -> None:
        old = self._limits.get(limits.function)
        self._limits[limits.function] = limits
        self._total_reserved += (limits.reserved or 0) - ((old.reserved or 0) if old else 0)
        for version, count in limits.provisioned.items():
            key = (limits.function, version)
            if count and key not in self._pools and key in self._versions:
                self._pools[key] = self._new_pool(self._versions[key])
        # A pool's target only ever comes from its function's provisioned map: the pools
        # to update are those named in the old map or the new one.
        versions = set(limits.provisioned) | set(old.provisioned if old else ())
        for version in versions:
            pool = self._pools.get((limits.function, version))
            if pool is not None:
                pool.target = limits.provisioned.get(version, 0)
        if versions:
            self._reconcile_soon()

    def _new_pool(self, version: FunctionVersion) -> Pool:
        limits = self._limits.get(version.config.name)
        target = limits.provisioned.get(version.config.version, 0) if limits else 0
        return Pool(version, target=target)

    # -- leases ------------------------------------------------------------------------------

    def _admit(self, name: str) -> bool:
        """Count one lease against the function's concurrency; False if it is reserved."""
        limits = self._limits.get(name)
        reserved = limits.reserved if limits else None
        if reserved is not None:
            if self._busy_by_function[name] >= reserved:
                raise TooManyRequests("Rate Exceeded.", reason=RESERVED_EXCEEDED)
            return False
        if self._busy_unreserved >= self._limit - self._total_reserved:
            raise TooManyRequests("Rate Exceeded.")
        return True

    def acquire(self, version: FunctionVersion) -> LeaseScope:
        """``async with scheduler.acquire(v) as lease``: a started sandbox for ``v``, a warm
        one if idle, else a new one (cold); given back when the block ends."""
        return LeaseScope(self, version)

    async def _enter(self, version: FunctionVersion) -> tuple[Pool, Lease, bool]:
        pool, lease, unreserved = self.enter(version)
        if lease is None:
            lease = await self.lease_cold(pool, unreserved)
        return pool, lease, unreserved

    def enter(
        self, version: FunctionVersion, tenant: str | None = None
    ) -> tuple[Pool, Lease | None, bool]:
        """The synchronous half of ``acquire`` (the invoke path's, without a coroutine):
        admit one lease (TooManyRequests beyond the concurrency) and take an idle sandbox,
        of ``tenant`` only when there is one (a function with tenant isolation).
        The lease is None when there is none: ``lease_cold`` then makes one. Every entry
        that returns is given back with ``exit`` (the last item: counted as unreserved)."""
        name = version.config.name
        limits = self._limits.get(name)
        if limits is not None and limits.ceilings:
            ceiling = limits.ceilings.get(version.config.version)
            if ceiling is not None and self._pool(version).busy >= ceiling:
                raise TooManyRequests("Rate Exceeded.")
        unreserved = self._admit(name)
        pool = self._pool(version)
        self._count(pool, name, unreserved, 1)
        try:
            sandbox = self._pop_idle(pool) if tenant is None else self._pop_tenant(pool, tenant)
        except BaseException:
            self._count(pool, name, unreserved, -1)
            raise
        return pool, (None if sandbox is None else Lease(sandbox, cold=False)), unreserved

    async def lease_cold(self, pool: Pool, unreserved: bool, tenant: str | None = None) -> Lease:
        """The lease of an ``enter`` that found no idle sandbox; on failure the entry is
        given back (uncounted) here, so the caller does not ``exit`` it."""
        try:
            if tenant is not None:
                return await self._lease_tenant(pool, tenant)
            return await self._lease(pool)
        except BaseException:
            self._count(pool, pool.version.config.name, unreserved, -1)
            raise

    def exit(self, pool: Pool, lease: Lease, unreserved: bool) -> None:
        """Give back what ``enter`` (and ``lease_cold``) handed out."""
        try:
            self._release(pool, lease)
        finally:
            self._count(pool, pool.version.config.name, unreserved, -1)

    def _count(self, pool: Pool, name: str, unreserved: bool, delta: int) -> None:
        self._busy += delta
        self._busy_by_function[name] += delta
        if unreserved:
            self._busy_unreserved += delta
        pool.busy += delta

    async def _lease(self, pool: Pool) -> Lease:
        sandbox = self._pop_idle(pool)
        if sandbox is not None:
            return Lease(sandbox, cold=False)
        await self._make_room(pool)
        sandbox = self._pop_idle(pool)
        if sandbox is not None:
            return Lease(sandbox, cold=False)
        sandbox = await self._start(pool.version, provisioned=False)
        return Lease(sandbox, cold=True)

    async def _lease_tenant(self, pool: Pool, tenant: str) -> Lease:
        """``_lease`` for one tenant: its own idle sandbox, else a new one dedicated to it."""
        sandbox = self._pop_tenant(pool, tenant)
        if sandbox is not None:
            return Lease(sandbox, cold=False)
        await self._make_room(pool, tenant)
        sandbox = self._pop_tenant(pool, tenant)
        if sandbox is not None:
            return Lease(sandbox, cold=False)
        sandbox = await self._start(pool.version, provisioned=False)
        sandbox.tenant = tenant
        return Lease(sandbox, cold=True)

    def _pop_tenant(self, pool: Pool, tenant: str) -> SafeSandbox | None:
        """The hottest idle sandbox of ``tenant`` still alive (never another tenant's, nor
        one started without a tenant); dead ones met on the way are discarded."""
        stack = pool.tenants.get(tenant)
        while stack:
            sandbox = stack.pop()
            if sandbox.alive:
                if not stack:
                    del pool.tenants[tenant]
                return sandbox
            self._discard(sandbox, pool)
        if stack is not None:
            del pool.tenants[tenant]
        return None

    def _pop_idle(self, pool: Pool) -> SafeSandbox | None:
        """The hottest idle provisioned sandbox still alive, else the hottest on-demand one;
        dead ones met on the way are discarded."""
        ready = pool.ready
        while ready:
            sandbox = ready.pop()
            if sandbox.alive:
                return sandbox
            self._discard(sandbox, pool)
        idle = pool.idle
        while idle:
            sandbox = idle.pop()
            if sandbox.alive:
                return sandbox
            self._discard(sandbox, pool)
        return None

    async def _start(self, version: FunctionVersion, *, provisioned: bool) -> SafeSandbox:
        init_type = PROVISIONED if provisioned else "on-demand"
        sandbox = SafeSandbox(self._factory.create(version, init_type))
        sandbox.provisioned = provisioned
        self._live += 1
        try:
            await sandbox.start()
        except BaseException:
            self._gone(sandbox)
            raise
        return sandbox

    async def _make_room(self, pool: Pool, tenant: str | None = None) -> None:
        """Block (bounded) until one more sandbox may be started (or one of the caller's
        own, ``tenant``'s for a tenant, is idle again)."""
        name = pool.version.config.name
        deadline = time.monotonic() + max(1.0, float(pool.version.config.timeout))
        while self._live >= self._sandbox_limit and not self._has_idle(pool, tenant):
            victim = self._oldest_idle()
            if victim is not None:
                self._discard(victim)
                continue
            if self._waiting[name] >= self._wait_queue:
                raise TooManyRequests("Rate Exceeded.", reason=MACHINE_EXCEEDED)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TooManyRequests("Rate Exceeded.", reason=MACHINE_EXCEEDED)
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            self._waiting[name] += 1
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                raise TooManyRequests("Rate Exceeded.", reason=MACHINE_EXCEEDED) from None
            finally:
                self._waiting[name] -= 1

    @staticmethod
    def _has_idle(pool: Pool, tenant: str | None) -> bool:
        """Whether an idle sandbox of ``pool`` could serve a caller of ``tenant``."""
        if tenant is not None:
            return bool(pool.tenants.get(tenant))
        return bool(pool.idle or pool.ready)

    def _oldest_idle(self) -> SafeSandbox | None:
        """The longest-idle on-demand sandbox of any pool (of any tenant), removed from its
        pool."""
        best: tuple[float, collections.deque[SafeSandbox], SafeSandbox] | None = None
        for pool in self._pools.values():
            for stack in (pool.idle, *pool.tenants.values()):
                for sandbox in stack:
                    if best is None or sandbox.idle_since < best[0]:
                        best = (sandbox.idle_since, stack, sandbox)
        if best is None:
            return None
        best[1].remove(best[2])
        return best[2]

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _pool(self, version: FunctionVersion) -> Pool:
        pool = self._pools.get(version.key)
        if pool is None or pool.version.generation < version.generation:
            if pool is not None:
                self._retire(pool)
            pool = self._pools[version.key] = self._new_pool(version)
        return pool

    def _release(self, pool: Pool, lease: Lease) -> None:
        sandbox = lease.sandbox
        current = self._pools.get(pool.version.key) is pool
        if sandbox.alive and current and not lease.discard and not self._closing:
            tenant = sandbox.tenant
            if tenant is not None:
                stack = pool.tenants.get(tenant)
                if stack is None:
                    stack = pool.tenants[tenant] = collections.deque()
                stack.append(sandbox)
            else:
                (pool.ready if sandbox.provisioned else pool.idle).append(sandbox)
            self._wake()
        else:
            self._discard(sandbox, pool)

    def _discard(self, sandbox: SafeSandbox, pool: Pool | None = None) -> None:
        """Destroy a sandbox that is in no pool's idle stack any more."""
        if pool is None:
            pool = self._pools.get(sandbox.version.key)
        if sandbox.provisioned and pool is not None and pool.version is sandbox.version:
            pool.provisioned -= 1
            self._reconcile_soon()
        self._spawn(sandbox.destroy())
        self._gone(sandbox)

    def _gone(self, sandbox: SafeSandbox) -> None:
        self._live -= 1
        self._wake()

    def _retire(self, pool: Pool) -> None:
        stacks = (pool.ready, pool.idle, *pool.tenants.values())
        pool.tenants = {}
        for stack in stacks:
            while stack:
                sandbox = stack.popleft()
                self._spawn(sandbox.destroy())
                self._gone(sandbox)
        pool.provisioned = 0

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- control loops -------------------------------------------------------------------------

    def reap(self, now: float | None = None) -> int:
        """Destroy on-demand sandboxes idle for longer than the keep-alive, and idle ones of
        any kind whose environment ended or that are older than ``max_age``; returns how
        many."""
        now = time.monotonic() if now is None else now
        reaped = 0
        for key, pool in list(self._pools.items()):
            ready: collections.deque[SafeSandbox] = collections.deque()
            for sandbox in pool.ready:
                if sandbox.alive and now - sandbox.born <= self._max_age:
                    ready.append(sandbox)
                else:
                    self._discard(sandbox, pool)
                    reaped += 1
            pool.ready = ready
            pool.idle, gone = self._reap_stack(pool.idle, pool, now)
            reaped += gone
            if pool.tenants:
                reaped += self._reap_tenants(pool, now)
            if (
                not pool.idle
                and not pool.ready
                and not pool.tenants
                and pool.busy == 0
                and pool.target == 0
                and not pool.starting
            ):
                del self._pools[key]
        return reaped

    def _reap_stack(
        self, stack: collections.deque[SafeSandbox], pool: Pool, now: float
    ) -> tuple[collections.deque[SafeSandbox], int]:
        """An idle stack of ``pool`` without its dead, too old and kept-alive-too-long
        sandboxes (those are discarded or destroyed), and how many went."""
        keep: collections.deque[SafeSandbox] = collections.deque()
        reaped = 0
        for sandbox in stack:
            if not sandbox.alive or now - sandbox.born > self._max_age:
                self._discard(sandbox, pool)
                reaped += 1
            elif now - sandbox.idle_since > self._keep_alive:
                self._spawn(sandbox.destroy())
                self._gone(sandbox)
                reaped += 1
            else:
                keep.append(sandbox)
        return keep, reaped

    def _reap_tenants(self, pool: Pool, now: float) -> int:
        """``reap`` for the idle stacks of each tenant of ``pool``; empty stacks go."""
        reaped = 0
        for tenant, stack in list(pool.tenants.items()):
            keep, gone = self._reap_stack(stack, pool, now)
            reaped += gone
            if keep:
                pool.tenants[tenant] = keep
            else:
                del pool.tenants[tenant]
        return reaped

    def reconcile(self) -> int:
        """Start or stop provisioned sandboxes until every pool matches its target."""
        started = 0
        for pool in self._pools.values():
            missing = pool.target - pool.provisioned - pool.starting
            for _ in range(max(0, missing)):
                pool.starting += 1
                self._spawn(self._provision(pool))
                started += 1
            while pool.provisioned > pool.target and pool.ready:
                self._discard(pool.ready.popleft(), pool)
        return started

    async def _provision(self, pool: Pool) -> None:
        try:
            sandbox = await self._start(pool.version, provisioned=True)
        except SandboxError as exc:
            log.warning("provisioned sandbox for %s failed: %s", pool.version.arn, exc)
            return
        finally:
            pool.starting -= 1
        if self._pools.get(pool.version.key) is not pool or self._closing:
            self._spawn(sandbox.destroy())
            self._gone(sandbox)
            return
        pool.provisioned += 1
        pool.ready.appendleft(sandbox)
        self._wake()

    def _reconcile_soon(self) -> None:
        """One reconcile pass after the current burst of changes (not one per change)."""
        if self._reconcile_pending:
            return
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_soon(self._safe_reconcile)
            self._reconcile_pending = True

    def _safe_reconcile(self) -> None:
        self._reconcile_pending = False
        if self._closing:
            return
        try:
            self.reconcile()
        except Exception:
            log.exception("reconcile pass failed")

    async def run_reaper(self) -> None:
        """Control loop: reap idle sandboxes and reconcile provisioned ones, forever; a failed
        pass is logged, never fatal."""
        period = max(0.05, min(1.0, self._keep_alive / 4))
        while not self._closing:
            await asyncio.sleep(period)
            started = time.perf_counter()
            try:
                reaped = self.reap()
                self.reconcile()
            except Exception:
                log.exception("scheduler pass failed")
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
