"""How a ReportBatchItemFailures response is read, and the SQS event record's shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from lambox.events.sqs_poller import failed_items, record

IDS = {"a", "b", "c"}


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (b"", set()),
        (b"null", set()),
        (b"{}", set()),
        (b'{"batchItemFailures": []}', set()),
        (b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', {"b"}),
        (b'{"batchItemFailures": [{"itemIdentifier": "zzz"}]}', None),
        (b'{"batchItemFailures": [{"itemIdentifier": null}]}', None),
        (b'{"batchItemFailures": "b"}', None),
        (b"not json", None),
        (b'"a string"', None),
    ],
)
def test_reported_failures(response: bytes, failed: set[str] | None) -> None:
    assert failed_items(response, IDS) == failed


@dataclass
class _Message:
    message_id: str = "m-1"
    receipt: str = "r-1"
    body: str = "hi"
    attributes: dict[str, str] = field(default_factory=lambda: {"ApproximateReceiveCount": "1"})
    message_attributes: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"B": {"DataType": "Binary", "BinaryValue": b"\x01"}}
    )
    md5_of_body: str = "49f68a5c8493ec2c0bf489821c21fc3b"
    md5_of_attributes: str | None = "x"


def test_record_is_lambdas_sqs_record() -> None:
    got = record(_Message(), "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1")
    assert got == {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": "hi",
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {
            "B": {
                "stringListValues": [],
                "binaryListValues": [],
                "binaryValue": "AQ==",
                "dataType": "Binary",
            }
        },
        "md5OfMessageAttributes": "x",
        "md5OfBody": "49f68a5c8493ec2c0bf489821c21fc3b",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
        "awsRegion": "us-east-1",
    }


def test_large_batches_are_split_under_the_payload_limit() -> None:
    from lambox.events.sqs_poller import PAYLOAD_LIMIT, _chunks

    big = [{"body": "x" * (PAYLOAD_LIMIT // 3)} for _ in range(7)]
    chunks = _chunks(big)
    assert [len(c) for c in chunks] == [2, 2, 2, 1]
    assert [r for c in chunks for r in c] == big
    assert _chunks([{"body": "small"}]) == [[{"body": "small"}]]


class _Backlog:
    """A queue holding ``count`` messages, handed out one receive at a time."""

    def __init__(self, count: int) -> None:
        self.left = [_Message(message_id=f"m-{i}", receipt=f"r-{i}") for i in range(count)]
        self.deleted: list[str] = []

    async def receive(self, arn: str, limit: int, wait: float) -> list[_Message]:
        import asyncio

        got, self.left = self.left[:limit], self.left[limit:]
        if not got:
            await asyncio.sleep(min(wait, 0.01))
        return got

    def delete(self, arn: str, receipts: Any) -> None:
        self.deleted += list(receipts)


def _peak(count: int, capacity: int, cap: int | None) -> tuple[int, int]:
    """Run one mapping over a backlog; the most invokes seen at once, and how many were
    deleted."""
    import asyncio

    from lambox.events.sqs_poller import SqsPollers
    from lambox.store.event_sources import EventSourceMapping, MappingState

    queue = _Backlog(count)
    running = peak = 0
    release = asyncio.Event()

    async def invoke(
        name: str, qualifier: str | None, payload: bytes, trace: str | None
    ) -> tuple[bool, bytes]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if peak >= min(capacity, cap or capacity):
            release.set()
        await release.wait()
        running -= 1
        return True, b""

    async def scenario() -> None:
        pollers = SqsPollers(queue, invoke, lambda name: capacity, "us-east-1")
        pollers.start()
        mapping = EventSourceMapping(
            "u",
            "arn:aws:sqs:us-east-1:0:q",
            "f",
            None,
            1,
            0,
            True,
            MappingState.ENABLED,
            0.0,
            max_concurrency=cap,
        )
        pollers.apply(mapping)
        for _ in range(500):
            if len(queue.deleted) == count:
                break
            await asyncio.sleep(0.01)
        await pollers.close()

    asyncio.run(scenario())
    return peak, len(queue.deleted)


def test_pollers_scale_with_the_backlog_up_to_the_functions_concurrency() -> None:
    """Without MaximumConcurrency the pollers grow past five, up to what the function may
    run; with it they stop at it."""
    assert _peak(60, 12, None) == (12, 60)
    assert _peak(60, 12, 3) == (3, 60)
    assert _peak(60, 2, 50) == (2, 60)
