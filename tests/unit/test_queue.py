"""The durable event queue: what put, claim, retry, fail, redrive and recover promise."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from lambox.errors import TooManyRequests
from lambox.store.events import Attempt, EventStatus, NewEvent, SqliteEventQueue

T = TypeVar("T")


def run(path: Path, body: Callable[[SqliteEventQueue], Awaitable[T]], **kw: object) -> T:
    """Run ``body`` against a queue on ``path``, closing it afterwards (as a server stop)."""

    async def main() -> T:
        queue = SqliteEventQueue(path, **kw)  # type: ignore[arg-type]
        try:
            return await body(queue)
        finally:
            queue.close()

    return asyncio.run(main())


def event(n: int, function: str = "fn") -> NewEvent:
    return NewEvent(f"req-{n}", function, None, b'{"n": %d}' % n)


def test_claim_hands_out_events_in_order_once(tmp_path: Path) -> None:
    async def body(q: SqliteEventQueue) -> None:
        await q.put([event(i) for i in range(5)])
        first = await q.claim("fn", 3, 60)
        second = await q.claim("fn", 3, 60)
        third = await q.claim("fn", 3, 60)
        assert [e.request_id for e in first.events] == ["req-0", "req-1", "req-2"]
        assert [e.request_id for e in second.events] == ["req-3", "req-4"]
        assert third.events == [] and third.next_due is None
        assert all(e.status is EventStatus.IN_FLIGHT for e in first.events)
        counts = await q.counts("fn")
        assert counts[EventStatus.IN_FLIGHT] == 5 and counts[EventStatus.PENDING] == 0

    run(tmp_path / "events.db", body)


def test_claims_are_per_function(tmp_path: Path) -> None:
    async def body(q: SqliteEventQueue) -> None:
        await q.put([event(1, "a"), event(2, "b")])
        claimed = await q.claim("b", 10, 60)
        assert [e.function for e in claimed.events] == ["b"]
        assert set(await q.functions_with_work()) == {"a", "b"}

    run(tmp_path / "events.db", body)


def test_an_accepted_event_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "events.db"

    async def accept(q: SqliteEventQueue) -> None:
        await q.put([event(7)])

    async def reopen(q: SqliteEventQueue) -> list[str]:
        return [e.request_id for e in (await q.claim("fn", 10, 60)).events]

    run(path, accept)
    assert run(path, reopen) == ["req-7"]


def test_claims_of_a_dead_server_are_recovered_at_start(tmp_path: Path) -> None:
    path = tmp_path / "events.db"

    async def claim_and_die(q: SqliteEventQueue) -> None:
        await q.put([event(1), event(2)])
        assert len((await q.claim("fn", 10, 600)).events) == 2

    async def restart(q: SqliteEventQueue) -> tuple[int, int]:
        before = len((await q.claim("fn", 10, 600)).events)
        recovered = await q.recover()
        after = len((await q.claim("fn", 10, 600)).events)
        return before, recovered * 10 + after

    run(path, claim_and_die)
    assert run(path, restart) == (0, 22)


def test_a_claim_whose_lease_ran_out_is_claimable_again(tmp_path: Path) -> None:
    async def body(q: SqliteEventQueue) -> None:
        await q.put([event(1)])
        assert len((await q.claim("fn", 1, 0.0)).events) == 1
        await asyncio.sleep(0.01)
        again = await q.claim("fn", 1, 60)
        assert [e.request_id for e in again.events] == ["req-1"]

    run(tmp_path / "events.db", body)


def test_complete_removes_the_event(tmp_path: Path) -> None:
    async def body(q: SqliteEventQueue) -> None:
        await q.put([event(1)])
        (claimed,) = (await q.claim("fn", 1, 60)).events
        await q.complete(claimed.id)
        await q.complete(claimed.id)  # idempotent
        assert q.depth == 0
        assert set((await q.counts("fn")).values()) == {0}

    run(tmp_path / "events.db", body)


def test_a_retry_waits_until_due_and_keeps_the_last_answer(tmp_path: Path) -> None:
    async def body(q: SqliteEventQueue) -> None:
        await q.put([event(1)])
        (claimed,) = (await q.claim("fn", 1, 60)).events
        last = Attempt(200, "$LATEST", "Unhandled", b'{"errorMessage": "x"}')
        due = claimed.enqueued_at + 3600
        await q.retry(claimed.id, due, 1, 0, last)
        early = await q.claim("fn", 1, 60)
        assert early.events == [] and early.next_due == pytest.approx(due)
        await q.retry(claimed.id, 0.0, 1, 0, None)  # None keeps the previous answer
        (again,) = (await q.claim("fn", 1, 60)).events
        assert again.attempts == 1 and again.last == last

    run(tmp_path / "events.db", body)


def test_failed_events_stay_until_redriven(tmp_path: Path) -> None:
    woken: list[str] = []

    async def body(q: SqliteEventQueue) -> None:
        q.watch(woken.append)
        await q.put([event(1)])
        (claimed,) = (await q.claim("fn", 1, 60)).events
        await q.fail(claimed.id, "RetriesExhausted", None)
        assert (await q.claim("fn", 1, 60)).events == []
        (listed,) = await q.events("fn", 10)
        assert listed.status is EventStatus.FAILED and listed.condition == "RetriesExhausted"
        woken.clear()
        assert await q.redrive("fn") == 1
        assert woken == ["fn"]
        (again,) = (await q.claim("fn", 1, 60)).events
        assert again.attempts == 0 and again.condition is None

    run(tmp_path / "events.db", body)


def test_put_wakes_the_listener_after_commit(tmp_path: Path) -> None:
    async def body(q: SqliteEventQueue) -> list[str]:
        seen: list[str] = []
        q.watch(seen.append)
        await q.put([event(1, "a"), event(2, "a"), event(3, "b")])
        return sorted(seen)

    assert run(tmp_path / "events.db", body) == ["a", "b"]


def test_concurrent_puts_share_commits_and_all_land(tmp_path: Path) -> None:
    async def body(q: SqliteEventQueue) -> int:
        await asyncio.gather(*(q.put([event(i)]) for i in range(500)))
        return len((await q.claim("fn", 1000, 60)).events)

    assert run(tmp_path / "events.db", body) == 500


def test_a_full_queue_answers_429_at_once(tmp_path: Path) -> None:
    async def body(q: SqliteEventQueue) -> None:
        await q.put([event(1), event(2)])
        with pytest.raises(TooManyRequests):
            await q.put([event(3)])

    run(tmp_path / "events.db", body, limit=2)


def test_purge_drops_a_functions_events(tmp_path: Path) -> None:
    async def body(q: SqliteEventQueue) -> None:
        await q.put([event(1, "gone"), event(2, "kept")])
        assert await q.purge("gone") == 1
        assert q.depth == 1
        assert await q.functions_with_work() == ["kept"]

    run(tmp_path / "events.db", body)


def test_synchronous_mode_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SqliteEventQueue(tmp_path / "events.db", synchronous="OFF")
