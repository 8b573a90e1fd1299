"""The relay drops a record no function will ever take, instead of retrying it forever in
front of the records behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from lambox.errors import InvalidParameterValue, LamboxError, ResourceNotFound
from lambox.events.relay import Relay


@dataclass
class Item:
    id: int
    target: str
    payload: bytes
    trace: str | None = None


class Outbox:
    def __init__(self, records: list[Item]) -> None:
        self.records = records

    def outgoing(self, limit: int) -> Sequence[Item]:
        return self.records[:limit]

    def sent(self, ids: Sequence[int]) -> None:
        self.records = [r for r in self.records if r.id not in ids]


@pytest.mark.parametrize(
    "refusal",
    [
        InvalidParameterValue(
            "Tenant ID configuration not specified or passed to a function when tenant"
            " isolation is not enabled."
        ),
        ResourceNotFound("Function not found"),
    ],
)
def test_a_record_its_function_refuses_is_dropped_and_the_rest_delivered(
    refusal: LamboxError,
) -> None:
    async def main() -> None:
        outbox = Outbox([Item(1, "tenanted", b"1"), Item(2, "plain", b"2")])
        delivered: list[str] = []

        async def deliver(target: str, payload: bytes, trace: str | None) -> None:
            if target == "tenanted":
                raise refusal
            delivered.append(target)

        relay = Relay(outbox, deliver, "test")
        relay.start()
        for _ in range(100):
            if not outbox.records:
                break
            await asyncio.sleep(0.01)
        await relay.close()
        assert outbox.records == []
        assert delivered == ["plain"]

    asyncio.run(main())
