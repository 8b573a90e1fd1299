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
