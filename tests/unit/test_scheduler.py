"""Scheduler behaviour with the fake sandbox backend: reuse, scale out, reap, retire, limit."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from lambox.errors import TooManyRequests
from lambox.model import FunctionConfig, FunctionVersion, Limits, State, frozen_map
from lambox.sandbox.api import InvokeRequest
from lambox.sandbox.fake import FakeSandboxFactory
from lambox.scheduler.pools import Scheduler
from lambox.watch import Removed


def version(generation: int = 1, name: str = "f", number: str = "$LATEST") -> FunctionVersion:
    config = FunctionConfig(
        version=number,
        name=name,
        runtime="python3.11",
        handler="app.handler",
        role="r",
        code_sha256="s",
        code_size=1,
        revision_id="r",
        last_modified="t",
        state=State.ACTIVE,
    )
    return FunctionVersion(f"arn:{name}", config, Path("/tmp"), "python3", "us-east-1", generation)


def request() -> InvokeRequest:
    return InvokeRequest("id", b"{}", time.time() + 3, "arn", None, "trace")


async def use(scheduler: Scheduler, fv: FunctionVersion, hold: float = 0.0) -> bool:
    async with scheduler.acquire(fv) as lease:
        await lease.sandbox.invoke(request(), 3.0)
        await asyncio.sleep(hold)
        return lease.cold


def test_sequential_invocations_reuse_one_warm_sandbox() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=10)
        colds = [await use(scheduler, version()) for _ in range(5)]
        assert colds == [True, False, False, False, False]
        assert len(factory.made) == 1
        assert scheduler.counts()["idle"] == 1

    asyncio.run(main())


def test_concurrent_invocations_scale_out_then_stay_warm() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=10)
        await asyncio.gather(*(use(scheduler, version(), hold=0.05) for _ in range(4)))
        assert len(factory.made) == 4
        assert scheduler.counts() == {"idle": 4, "busy": 0, "pools": 1, "live": 4}
        await asyncio.gather(*(use(scheduler, version(), hold=0.05) for _ in range(4)))
        assert len(factory.made) == 4

    asyncio.run(main())


def test_idle_sandboxes_are_reaped_after_keep_alive() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=10, concurrency_limit=10)
        await use(scheduler, version())
        assert scheduler.reap(now=time.monotonic() + 5) == 0
        assert scheduler.reap(now=time.monotonic() + 11) == 1
        await asyncio.sleep(0)
        assert factory.made[0].destroyed
        assert scheduler.counts() == {"idle": 0, "busy": 0, "pools": 0, "live": 0}

    asyncio.run(main())


def test_new_snapshot_retires_old_sandboxes() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=10)
        await use(scheduler, version(1))
        scheduler.on_change(version(2))
        await asyncio.sleep(0)
        assert factory.made[0].destroyed
        assert await use(scheduler, version(2)) is True
        scheduler.on_change(Removed("f", 3))
        await asyncio.sleep(0)
        assert factory.made[1].destroyed

    asyncio.run(main())


def test_sandbox_leased_during_an_update_is_not_returned_to_the_pool() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=10)
        async with scheduler.acquire(version(1)):
            scheduler.on_change(version(2))
        await asyncio.sleep(0)
        assert factory.made[0].destroyed
        assert scheduler.counts()["idle"] == 0

    asyncio.run(main())


def test_concurrency_limit_throttles_at_once() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=2)
        results = await asyncio.gather(
            *(use(scheduler, version(), hold=0.05) for _ in range(5)), return_exceptions=True
        )
        throttled = [r for r in results if isinstance(r, TooManyRequests)]
        assert len(throttled) == 3
        assert scheduler.busy == 0

    asyncio.run(main())


def test_timed_out_sandbox_is_never_reused() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory(delay=0.2)
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=10)
        async with scheduler.acquire(version()) as lease:
            with pytest.raises(Exception, match="timeout"):
                await lease.sandbox.invoke(request(), 0.05)
        assert scheduler.counts()["idle"] == 0
        factory.delay = 0.0
        assert await use(scheduler, version()) is True

    asyncio.run(main())


def test_reserved_concurrency_throttles_beyond_reservation_only_for_that_function() -> None:
    async def main() -> None:
        scheduler = Scheduler(FakeSandboxFactory(), keep_alive=60, concurrency_limit=100)
        scheduler.on_change(Limits("f", reserved=2))
        results = await asyncio.gather(
            *(use(scheduler, version(), hold=0.05) for _ in range(5)),
            *(use(scheduler, version(name="g"), hold=0.05) for _ in range(5)),
            return_exceptions=True,
        )
        throttled = [r for r in results if isinstance(r, TooManyRequests)]
        assert len(throttled) == 3
        assert {t.reason for t in throttled} == {
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        }

    asyncio.run(main())


def test_reserved_zero_disables_the_function() -> None:
    async def main() -> None:
        scheduler = Scheduler(FakeSandboxFactory(), keep_alive=60, concurrency_limit=100)
        scheduler.on_change(Limits("f", reserved=0))
        with pytest.raises(TooManyRequests):
            await use(scheduler, version())

    asyncio.run(main())


def test_unreserved_functions_share_what_reservations_leave() -> None:
    async def main() -> None:
        scheduler = Scheduler(FakeSandboxFactory(), keep_alive=60, concurrency_limit=4)
        scheduler.on_change(Limits("f", reserved=3))
        results = await asyncio.gather(
            *(use(scheduler, version(name="g"), hold=0.05) for _ in range(3)),
            return_exceptions=True,
        )
        assert sum(isinstance(r, TooManyRequests) for r in results) == 2

    asyncio.run(main())


def test_provisioned_sandboxes_start_ahead_and_are_never_reaped() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=1, concurrency_limit=100)
        v1 = version(number="1")
        scheduler.on_change(v1)
        scheduler.on_change(Limits("f", provisioned=frozen_map({"1": 3})))
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert scheduler.provisioned("f", "1") == (3, 3)
        assert {s.init_type for s in factory.made} == {"provisioned-concurrency"}
        assert await use(scheduler, v1) is False
        assert scheduler.reap(now=time.monotonic() + 100) == 0
        scheduler.on_change(Limits("f"))
        await asyncio.sleep(0.01)
        assert scheduler.provisioned("f", "1") == (0, 0)
        assert sum(s.destroyed for s in factory.made) == 3

    asyncio.run(main())


def test_provisioning_a_version_whose_empty_pool_was_reaped_still_starts() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=1, concurrency_limit=100)
        scheduler.on_change(version(number="1"))
        scheduler.reap()  # a reaper pass between PublishVersion and the provisioning request
        scheduler.on_change(Limits("f", provisioned=frozen_map({"1": 2})))
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert scheduler.provisioned("f", "1") == (2, 2)
        scheduler.on_change(Removed("f", 99))
        scheduler.on_change(Limits("f", provisioned=frozen_map({"1": 2})))
        await asyncio.sleep(0.01)
        assert scheduler.provisioned("f", "1") == (0, 2)  # a deleted function is not revived

    asyncio.run(main())


def test_machine_capacity_evicts_idle_then_queues_then_throttles() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(
            factory, keep_alive=60, concurrency_limit=100, sandbox_limit=2, wait_queue=1
        )
        await use(scheduler, version(name="a"))
        await use(scheduler, version(name="b"))
        assert await use(scheduler, version(name="c")) is True
        assert factory.made[0].destroyed
        results = await asyncio.gather(
            *(use(scheduler, version(name="d"), hold=0.1) for _ in range(4)),
            return_exceptions=True,
        )
        assert sum(isinstance(r, TooManyRequests) for r in results) == 1
        assert scheduler.counts()["live"] <= 2

    asyncio.run(main())


def test_idle_provisioned_sandboxes_serve_before_warm_on_demand_ones() -> None:
    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=100)
        v1 = version(number="1")
        scheduler.on_change(v1)
        await asyncio.gather(*(use(scheduler, v1, hold=0.05) for _ in range(2)))
        assert [s.init_type for s in factory.made] == ["on-demand"] * 2
        scheduler.on_change(Limits("f", provisioned=frozen_map({"1": 2})))
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert scheduler.provisioned("f", "1") == (2, 2)

        async def kind(hold: float) -> str:
            async with scheduler.acquire(v1) as lease:
                await lease.sandbox.invoke(request(), 3.0)
                await asyncio.sleep(hold)
                return "provisioned" if lease.sandbox.provisioned else "on-demand"

        assert [await kind(0) for _ in range(3)] == ["provisioned"] * 3
        # Only what the provisioned sandboxes cannot take spills to on-demand ones.
        kinds = await asyncio.gather(*(kind(0.05) for _ in range(3)))
        assert sorted(kinds) == ["on-demand", "provisioned", "provisioned"]
        assert len(factory.made) == 4  # the spill went to a warm on-demand sandbox
        assert [await kind(0) for _ in range(2)] == ["provisioned"] * 2

    asyncio.run(main())


def test_deployed_versions_get_no_pool_until_used_or_provisioned() -> None:
    """A pool per deployed version made every pass over the pools (reconcile, limits)
    cost as much as the number of functions: 10,000 functions took minutes to restore."""

    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=60, concurrency_limit=10)
        for i in range(200):
            scheduler.on_change(version(name=f"f{i}"))
        scheduler.on_change(Limits("p", None, frozen_map({"$LATEST": 1})))
        scheduler.on_change(version(name="p"))
        assert scheduler.counts()["pools"] == 1
        await asyncio.sleep(0.05)
        assert len(factory.made) == 1  # the provisioned one only
        assert await use(scheduler, version(name="f7")) is True
        assert scheduler.counts()["pools"] == 2

    asyncio.run(main())


def test_reservations_changed_and_removed_leave_the_exact_unreserved_share() -> None:
    async def main() -> None:
        scheduler = Scheduler(FakeSandboxFactory(), keep_alive=60, concurrency_limit=4)
        scheduler.on_change(Limits("a", 2))
        scheduler.on_change(Limits("b", 1))
        scheduler.on_change(Limits("a", 1))  # changed: 2 reserved in all now
        scheduler.on_change(Removed("b", 9))  # removed: 1 reserved in all now
        held = [use(scheduler, version(name=f"u{i}"), hold=0.2) for i in range(3)]
        tasks = [asyncio.create_task(h) for h in held]
        await asyncio.sleep(0.05)
        with pytest.raises(TooManyRequests):
            await use(scheduler, version(name="u9"))
        await asyncio.gather(*tasks)


def test_sandboxes_older_than_max_age_are_retired_and_provisioned_ones_replaced() -> None:
    """Role credentials last a limited time: a sandbox past ``max_age`` is retired when idle
    (on-demand or provisioned), and provisioned concurrency starts a fresh one."""

    async def main() -> None:
        factory = FakeSandboxFactory()
        scheduler = Scheduler(factory, keep_alive=1000, concurrency_limit=100, max_age=50)
        v1 = version(number="1")
        scheduler.on_change(v1)
        scheduler.on_change(Limits("f", provisioned=frozen_map({"1": 2})))
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert scheduler.provisioned("f", "1") == (2, 2)
        await use(scheduler, version())  # one on-demand sandbox of $LATEST
        assert scheduler.reap(now=time.monotonic() + 40) == 0
        assert scheduler.reap(now=time.monotonic() + 60) == 3
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert sum(s.destroyed for s in factory.made) == 3
        assert scheduler.provisioned("f", "1") == (2, 2)  # replaced by fresh ones
        assert len(factory.made) == 5

    asyncio.run(main())
