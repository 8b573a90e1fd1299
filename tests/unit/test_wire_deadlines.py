"""A sandbox's wire keeps one deadline timer across invocations (``WireClient``): a frame
that comes in time leaves it armed, so each wait must still time out at its own deadline,
not at an earlier wait's, nor never; on both of asyncio's loops lambox runs."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest
import uvloop

from lambox.errors import SandboxTimeout
from lambox.runtime import wire
from lambox.sandbox.wire_client import WireClient

FRAME = wire.encode(wire.RESULT, {"n": 1}, b"ok")

Case = Callable[[WireClient, socket.socket], Awaitable[None]]


def run(case: Case, loop_kind: str) -> None:
    async def main() -> None:
        host, sandbox = socket.socketpair()
        sandbox.setblocking(False)
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(WireClient, sock=host)
        try:
            await case(client, sandbox)
        finally:
            assert client.transport is not None
            client.transport.close()
            sandbox.close()

    if loop_kind == "uvloop":
        uvloop.run(main())
    else:
        asyncio.run(main())


LOOPS = pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])


async def answer_after(sandbox: socket.socket, seconds: float) -> None:
    await asyncio.sleep(seconds)
    sandbox.send(FRAME)


@LOOPS
def test_a_wait_answered_after_an_earlier_waits_deadline_is_not_timed_out(
    loop_kind: str,
) -> None:
    async def case(client: WireClient, sandbox: socket.socket) -> None:
        sandbox.send(FRAME)
        assert (await client.next_frame(0.3))[0] == wire.RESULT  # arms a timer for 0.3 s
        answer = asyncio.ensure_future(answer_after(sandbox, 0.6))
        assert (await client.next_frame(2.0))[1] == {"n": 1}  # past 0.3 s, before 2 s
        await answer

    run(case, loop_kind)


@LOOPS
def test_a_shorter_deadline_than_the_armed_one_times_out_on_its_own(loop_kind: str) -> None:
    async def case(client: WireClient, sandbox: socket.socket) -> None:
        sandbox.send(FRAME)
        await client.next_frame(60.0)  # the armed timer is a minute away
        with pytest.raises(SandboxTimeout):  # not wait_for's TimeoutError
            await asyncio.wait_for(client.next_frame(0.2), 10.0)

    run(case, loop_kind)


@LOOPS
def test_a_wait_without_a_deadline_is_not_timed_out_by_an_earlier_one(loop_kind: str) -> None:
    async def case(client: WireClient, sandbox: socket.socket) -> None:
        sandbox.send(FRAME)
        await client.next_frame(0.2)
        answer = asyncio.ensure_future(answer_after(sandbox, 0.5))
        assert (await client.next_frame(None))[0] == wire.RESULT
        await answer

    run(case, loop_kind)


@LOOPS
def test_every_wait_that_outlives_its_deadline_times_out(loop_kind: str) -> None:
    async def case(client: WireClient, sandbox: socket.socket) -> None:
        for _ in range(3):
            with pytest.raises(SandboxTimeout):
                await client.next_frame(0.1)
            sandbox.send(FRAME)  # the late answer of the timed-out wait is taken next
            assert (await client.next_frame(0.1))[0] == wire.RESULT

    run(case, loop_kind)
