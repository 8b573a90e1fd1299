"""The scheduler's sandboxes of a function with tenant isolation: one tenant per sandbox,
for its whole life, with the machine's limit, the reaper and retirement as for any other."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from lambox.model import FunctionVersion
from lambox.sandbox.fake import FakeSandboxFactory
from lambox.sandbox.safe import SafeSandbox
from lambox.scheduler.pools import Scheduler
from tests.unit.test_scheduler import request, version


def tenanted(generation: int = 1, name: str = "t") -> FunctionVersion:
    fv = version(generation, name)
    return replace(fv, config=replace(fv.config, tenant_isolation="PER_TENANT"))


async def use(
    scheduler: Scheduler, fv: FunctionVersion, tenant: str | None, hold: float = 0.0
) -> SafeSandbox:
    """One invocation through the invoke path's calls; the sandbox that ran it."""
    pool, lease, unreserved = scheduler.enter(fv, tenant)
    if lease is None:
        lease = await scheduler.lease_cold(pool, unreserved, tenant)
    try:
        await lease.sandbox.invoke(request(), 3.0)
        await asyncio.sleep(hold)
        return lease.sandbox
    finally:
        scheduler.exit(pool, lease, unreserved)


def test_each_tenant_reuses_only_its_own_sandboxes() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=10)
        fv = tenanted()
        blue = await use(scheduler, fv, "blue")
        green = await use(scheduler, fv, "green")
        assert green is not blue
        assert (blue.tenant, green.tenant) == ("blue", "green")
        assert await use(scheduler, fv, "blue") is blue
        assert await use(scheduler, fv, "green") is green
        assert len(factory.made) == 2
        assert scheduler.counts() == {"idle": 2, "busy": 0, "pools": 1, "live": 2}

    asyncio.run(main())


def test_concurrent_invocations_of_one_tenant_scale_out_within_it() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=10)
        fv = tenanted()
        first = await asyncio.gather(*(use(scheduler, fv, "blue", 0.05) for _ in range(3)))
        assert len({id(s) for s in first}) == 3
        again = await asyncio.gather(*(use(scheduler, fv, "blue", 0.05) for _ in range(3)))
        assert {id(s) for s in again} == {id(s) for s in first}
        other = await use(scheduler, fv, "green")
        assert other not in first
        assert len(factory.made) == 4

    asyncio.run(main())


def test_an_untenanted_sandbox_never_serves_a_tenant() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=10)
        fv = tenanted()
        plain = await use(scheduler, fv, None)  # e.g. a destination's event without a tenant
        assert await use(scheduler, fv, "blue") is not plain
        assert await use(scheduler, fv, None) is plain

    asyncio.run(main())


def test_the_machine_limit_evicts_another_tenants_idle_sandbox() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(
            factory, keep_alive=60, concurrency_limit=10, sandbox_limit=2, wait_queue=1
        )
        fv = tenanted()
        a = await use(scheduler, fv, "a")
        b = await use(scheduler, fv, "b")
        c = await use(scheduler, fv, "c")
        assert c not in (a, b)
        await asyncio.sleep(0)
        assert factory.made[0].destroyed  # a's, the longest idle
        assert scheduler.counts()["live"] == 2
        assert await use(scheduler, fv, "b") is b
        assert await use(scheduler, fv, "c") is c

    asyncio.run(main())


def test_idle_tenant_sandboxes_are_reaped_and_retired() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=10, concurrency_limit=10)
        await use(scheduler, tenanted(), "blue")
        await use(scheduler, tenanted(), "green")
        assert scheduler.reap(now=time.monotonic() + 5) == 0
        assert scheduler.reap(now=time.monotonic() + 11) == 2
        assert scheduler.counts() == {"idle": 0, "busy": 0, "pools": 0, "live": 0}
        await use(scheduler, tenanted(), "blue")
        scheduler.on_change(tenanted(generation=2))
        await asyncio.sleep(0)
        assert scheduler.counts()["live"] == 0
        assert all(s.destroyed for s in factory.made)

    asyncio.run(main())
