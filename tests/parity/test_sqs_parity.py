"""SQS's errors as AWS answered them over the json protocol (``aws-parity/sqs``): code,
message, QueryErrorCode, type and status, for each error lambox can be driven into the same
way; and the shape of an SQS event source mapping."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import LamboxServer, unique
from tests.integration.test_sqs import sqs_client
from tests.parity.snapshot import call, parity_dir

PREFIX = "tests/aws/services/sqs/"


def recording(file: str, test: str, key: str) -> dict[str, Any]:
    data = json.loads((parity_dir() / "sqs" / file).read_text())
    content: dict[str, Any] = data[PREFIX + test]["recorded-content"][key]
    return content


def _queue(sqs: Any, **attributes: str) -> tuple[str, str]:
    name = unique("par")
    return name, sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def _purge_twice(sqs: Any) -> tuple[str, dict[str, Any]]:
    name, url = _queue(sqs)
    sqs.purge_queue(QueueUrl=url)
    return name, call(sqs.purge_queue, QueueUrl=url)


def _conflict(sqs: Any) -> tuple[str, dict[str, Any]]:
    name, _ = _queue(sqs, DelaySeconds="1")
    return name, call(sqs.create_queue, QueueName=name, Attributes={"DelaySeconds": "2"})


def _plain(action: Callable[[Any, str], dict[str, Any]]) -> Callable[[Any], Any]:
    def run(sqs: Any) -> tuple[str, dict[str, Any]]:
        name, url = _queue(sqs)
        return name, action(sqs, url)

    return run


CASES: list[tuple[str, str, str, Callable[[Any], tuple[str, dict[str, Any]]]]] = [
    ("queues-attributes-tags.snapshot.json",
     "test_sqs.py::TestSqsProvider::test_non_existent_queue", "queue-does-not-exist",
     lambda sqs: ("", call(sqs.get_queue_url, QueueName=unique("missing")))),
    ("queues-attributes-tags.snapshot.json",
     "test_sqs.py::TestSqsProvider::test_successive_purge_calls_fail[sqs]", "purge_queue_error",
     _purge_twice),
    ("queues-attributes-tags.snapshot.json",
     "test_sqs.py::TestSqsProvider::test_create_queue_with_different_attributes_raises_exception[sqs]",
     "create_queue_01", _conflict),
    ("queues-attributes-tags.snapshot.json",
     "test_sqs.py::TestSqsProvider::test_set_unsupported_attribute_standard[sqs]",
     "invalid-attr-name-1",
     _plain(lambda sqs, url: call(sqs.set_queue_attributes, QueueUrl=url,
                                  Attributes={"FifoQueue": "true"}))),
    ("messages.snapshot.json", "test_sqs.py::TestSqsProvider::test_send_oversized_message[sqs]",
     "send_oversized_message",
     _plain(lambda sqs, url: call(sqs.send_message, QueueUrl=url,
                                  MessageBody="a" * (1048576 + 1)))),
    ("messages.snapshot.json",
     "test_sqs.py::TestSqsProvider::test_too_many_entries_in_batch_request[sqs]",
     "test_too_many_entries_in_batch_request",
     _plain(lambda sqs, url: call(sqs.send_message_batch, QueueUrl=url, Entries=[
         {"Id": f"id-{i}", "MessageBody": "x"} for i in range(20)]))),
    ("messages.snapshot.json", "test_sqs.py::TestSqsProvider::test_invalid_batch_id[sqs]",
     "test_invalid_batch_id",
     _plain(lambda sqs, url: call(sqs.send_message_batch, QueueUrl=url, Entries=[
         {"Id": "foo:bar", "MessageBody": "x"}]))),
    ("messages.snapshot.json",
     "test_sqs.py::TestSqsProvider::test_send_receive_max_number_of_messages[sqs]",
     "send_max_number_of_messages",
     _plain(lambda sqs, url: call(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11))),
    ("messages.snapshot.json",
     "test_sqs.py::TestSqsProvider::test_send_message_with_empty_string_attribute[sqs]",
     "empty-string-attr",
     _plain(lambda sqs, url: call(sqs.send_message, QueueUrl=url, MessageBody="x",
                                  MessageAttributes={"ErrorDetails": {
                                      "DataType": "String", "StringValue": ""}}))),
    ("queues-attributes-tags.snapshot.json",
     "test_sqs.py::TestSqsProvider::test_sqs_permission_lifecycle[sqs]",
     "get-queue-policy-attribute-second-account-same-label",
     _plain(lambda sqs, url: [
         sqs.add_permission(QueueUrl=url, Label="crossaccountpermission",
                            AWSAccountIds=["000000000000"], Actions=["ReceiveMessage"]),
         call(sqs.add_permission, QueueUrl=url, Label="crossaccountpermission",
              AWSAccountIds=["000000000000"], Actions=["ReceiveMessage"])][1])),
    ("queues-attributes-tags.snapshot.json",
     "test_sqs.py::TestSqsProvider::test_sqs_permission_lifecycle[sqs]",
     "get-queue-policy-attribute-delete-non-existent-label",
     _plain(lambda sqs, url: call(sqs.remove_permission, QueueUrl=url,
                                  Label="crossaccountpermission2"))),
]  # fmt: skip


def test_permissions_edit_the_policy(sqs: Any) -> None:
    _, url = _queue(sqs)
    sqs.add_permission(
        QueueUrl=url, Label="one", AWSAccountIds=["111111111111"], Actions=["ReceiveMessage"]
    )
    sqs.add_permission(
        QueueUrl=url, Label="two", AWSAccountIds=["222222222222"], Actions=["SendMessage"]
    )
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    assert [s["Sid"] for s in policy["Statement"]] == ["one", "two"]
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::111111111111:root"}
    assert policy["Statement"][0]["Action"] == "SQS:ReceiveMessage"
    sqs.remove_permission(QueueUrl=url, Label="one")
    sqs.remove_permission(QueueUrl=url, Label="two")
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
    assert "Attributes" not in got


@pytest.fixture(scope="module")
def sqs(server: LamboxServer) -> Any:
    return sqs_client(server)


@pytest.mark.parametrize(("file", "test", "key", "scenario"), CASES, ids=[c[2] for c in CASES])
def test_sqs_error_matches_aws(
    sqs: Any, file: str, test: str, key: str, scenario: Callable[[Any], Any]
) -> None:
    expected = recording(file, test, key)
    name, actual = scenario(sqs)
    want = dict(expected["Error"])
    want["Message"] = want["Message"].replace("<queue-name>", name)
    got = {k: v for k, v in actual["Error"].items() if k in want}
    assert got == want
    assert (
        actual["ResponseMetadata"]["HTTPStatusCode"]
        == expected["ResponseMetadata"]["HTTPStatusCode"]
    )


def test_event_source_mapping_has_aws_members(server: LamboxServer, lambda_client: Any) -> None:
    data = json.loads((parity_dir() / "event-source-mappings-sqs.snapshot.json").read_text())
    test = (
        "tests/aws/services/lambda_/event_source_mapping/test_lambda_integration_sqs.py"
        "::TestSQSEventSourceMapping::test_event_source_mapping_default_batch_size"
    )
    expected = data[test]["recorded-content"]["create-event-source-mapping"]
    from tests.integration.test_event_sources import consumer

    sqs = sqs_client(server)
    _, url = _queue(sqs)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    fn = consumer(lambda_client, url)
    created = lambda_client.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn)
    assert set(created) == set(expected)
    for member in ("BatchSize", "FunctionResponseTypes", "MaximumBatchingWindowInSeconds",
                   "State", "StateTransitionReason"):  # fmt: skip
        assert created[member] == expected[member]
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    lambda_client.delete_event_source_mapping(UUID=created["UUID"])
