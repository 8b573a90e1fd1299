"""A sandbox whose environment ended while idle is never handed out again."""

from __future__ import annotations

import asyncio
import time

from lambox.model import Limits, frozen_map
from lambox.sandbox.fake import FakeSandboxFactory
from lambox.scheduler.pools import Scheduler
from tests.unit.test_scheduler import request, use, version


def test_a_sandbox_that_died_while_idle_is_replaced_by_a_cold_start() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=10)
        await use(scheduler, version())
        factory.made[0].exited = True
        async with scheduler.acquire(version()) as lease:
            result = await lease.sandbox.invoke(request(), 3.0)
            assert lease.cold
        assert result.payload == b"{}"
        await asyncio.sleep(0)
        assert factory.made[0].destroyed
        assert scheduler.counts() == {"idle": 1, "busy": 0, "pools": 1, "live": 1}

    asyncio.run(main())


def test_a_dead_idle_sandbox_is_skipped_for_a_live_one() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=10)
        await asyncio.gather(*(use(scheduler, version(), hold=0.05) for _ in range(2)))
        factory.made[1].exited = True
        assert await use(scheduler, version()) is False
        assert len(factory.made) == 2
        assert scheduler.counts()["live"] == 1

    asyncio.run(main())


def test_the_reaper_discards_dead_idle_sandboxes_before_their_keep_alive() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=10)
        await use(scheduler, version())
        factory.made[0].exited = True
        assert scheduler.reap(now=time.monotonic()) == 1
        await asyncio.sleep(0)
        assert factory.made[0].destroyed
        assert scheduler.counts()["live"] == 0

    asyncio.run(main())


def test_a_dead_provisioned_sandbox_is_replaced() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=10)
        fv = version(number="1")
        scheduler.on_change(fv)
        scheduler.on_change(Limits("f", provisioned=frozen_map({"1": 1})))
        for _ in range(5):
            await asyncio.sleep(0)
        assert scheduler.provisioned("f", "1") == (1, 1)
        factory.made[0].exited = True
        assert await use(scheduler, fv) is True
        for _ in range(5):
            await asyncio.sleep(0)
        assert scheduler.provisioned("f", "1") == (1, 1)
        assert factory.made[0].destroyed

    asyncio.run(main())
