"""SQS on lambox's one endpoint, driven by boto3's sqs client (json protocol) and the AWS CLI
v2 (query protocol)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import CLIENT_ENV, LamboxServer, unique

AWS_CLI = "/usr/bin/aws"


def sqs_client(server: LamboxServer) -> Any:
    import boto3

    return boto3.client(
        "sqs",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=60),
    )


@pytest.fixture(scope="module")
def sqs(server: LamboxServer) -> Any:
    return sqs_client(server)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def new_queue(sqs: Any, fifo: bool = False, **attributes: str) -> str:
    name = unique("q") + (".fifo" if fifo else "")
    if fifo:
        attributes["FifoQueue"] = "true"
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url


def receive_until(sqs: Any, url: str, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    """Receive until ``count`` messages arrived (long polls; never a sleep)."""
    got: list[dict[str, Any]] = []
    for _ in range(30):
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2, **kwargs
        )
        got += answer.get("Messages", [])
        if len(got) >= count:
            break
    return got


def test_queue_lifecycle_urls_attributes_and_tags(sqs: Any, server: LamboxServer) -> None:
    name = unique("life")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "20"})["QueueUrl"]
    assert url == f"{server.url}/000000000000/{name}"
    assert (
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "20"})["QueueUrl"] == url
    )
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "21"})
    assert error_of(exc) == ("QueueAlreadyExists", 400)
    assert exc.value.response["Error"]["QueryErrorCode"] == "QueueNameExists"
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert url in sqs.list_queues(QueueNamePrefix=name)["QueueUrls"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "20"
    assert attributes["MaximumMessageSize"] == "1048576"
    assert attributes["MessageRetentionPeriod"] == "345600"
    assert attributes["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{name}"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "420"})
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])
    assert got["Attributes"] == {"DelaySeconds": "420"}
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "true"})
    assert error_of(exc) == ("InvalidAttributeName", 400)
    sqs.tag_queue(QueueUrl=url, Tags={"tag1": "value1", "tag2": "value2", "tag3": ""})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {
        "tag1": "value1",
        "tag2": "value2",
        "tag3": "",
    }
    sqs.untag_queue(QueueUrl=url, TagKeys=["tag1", "tag3"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"tag2": "value2"}
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as exc:
        sqs.get_queue_url(QueueName=name)
    assert error_of(exc) == ("AWS.SimpleQueueService.NonExistentQueue", 400)
    assert exc.value.response["Error"]["QueryErrorCode"] == "QueueDoesNotExist"


def test_list_queues_pages(sqs: Any) -> None:
    prefix = unique("page")
    urls = [sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5)]
    first = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    assert first["QueueUrls"] == urls[:2]
    rest = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=10, NextToken=first["NextToken"])
    assert rest["QueueUrls"] == urls[2:]


def test_send_receive_delete_with_attributes_and_digests(sqs: Any) -> None:
    url = new_queue(sqs)
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="msg",
        MessageAttributes={
            "Foo": {"DataType": "String", "StringValue": "Bar"},
            "Bin": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
            "Num": {"DataType": "Number", "StringValue": "12.5"},
        },
        MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}
        },
    )
    assert sent["MD5OfMessageBody"] == "6e2baaf3b97dbeef01c0043275f9a0e7"
    assert "MD5OfMessageSystemAttributes" in sent
    (message,) = receive_until(
        sqs, url, 1, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == "msg"
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["MessageAttributes"]["Bin"]["BinaryValue"] == b"\x00\x01\xff"
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert message["Attributes"]["AWSTraceHeader"] == "Root=1-abc"
    assert set(message["Attributes"]) >= {"SenderId", "SentTimestamp"}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "0"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_attribute_name_filters(sqs: Any) -> None:
    url = new_queue(sqs)
    sqs.send_message(
        QueueUrl=url,
        MessageBody="msg",
        MessageAttributes={
            "Foo": {"DataType": "String", "StringValue": "Bar"},
            "Other.x": {"DataType": "String", "StringValue": "y"},
        },
    )
    (m,) = receive_until(
        sqs,
        url,
        1,
        VisibilityTimeout=0,
        AttributeNames=["SenderId"],
        MessageAttributeNames=["Other.*"],
    )
    assert list(m["Attributes"]) == ["SenderId"]
    assert list(m["MessageAttributes"]) == ["Other.x"]
    (m,) = receive_until(sqs, url, 1, VisibilityTimeout=0)
    assert "Attributes" not in m and "MessageAttributes" not in m


def test_batches_and_their_limits(sqs: Any) -> None:
    url = new_queue(sqs)
    entries = [{"Id": f"m{i}", "MessageBody": f"body {i}"} for i in range(10)]
    entries[3]["MessageAttributes"] = {"E": {"DataType": "String", "StringValue": ""}}
    answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert len(answer["Successful"]) == 9
    (failed,) = answer["Failed"]
    assert failed["Id"] == "m3" and failed["Code"] == "InvalidParameterValue"
    assert failed["SenderFault"] is True
    got = receive_until(sqs, url, 9)
    assert sorted(m["Body"] for m in got) == sorted(
        e["MessageBody"] for e in entries if e["Id"] != "m3"
    )
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        + [{"Id": "bad", "ReceiptHandle": "garbage"}],
    )
    assert len(deleted["Successful"]) == 9
    assert deleted["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    too_many = [{"Id": f"m{i}", "MessageBody": "x"} for i in range(20)]
    with pytest.raises(ClientError) as exc:
        sqs.send_message_batch(QueueUrl=url, Entries=too_many)
    assert error_of(exc) == ("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400)
    assert exc.value.response["Error"]["Message"] == (
        "Maximum number of entries per request are 10. You have sent 20."
    )
    with pytest.raises(ClientError) as exc:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a:b", "MessageBody": "x"}])
    assert error_of(exc) == ("AWS.SimpleQueueService.InvalidBatchEntryId", 400)
    with pytest.raises(ClientError) as exc:
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}],
        )
    assert error_of(exc) == ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400)


def test_message_limits_and_errors(sqs: Any) -> None:
    url = new_queue(sqs, MaximumMessageSize="1024")
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="a" * 1025)
    assert error_of(exc) == ("InvalidParameterValue", 400)
    assert exc.value.response["Error"]["Message"] == (
        "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes."
    )
    with pytest.raises(ClientError) as exc:
        sqs.send_message(
            QueueUrl=url,
            MessageBody="x",
            MessageAttributes={"ErrorDetails": {"DataType": "String", "StringValue": ""}},
        )
    assert exc.value.response["Error"]["Message"] == (
        "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type 'String'."
    )
    with pytest.raises(ClientError) as exc:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert exc.value.response["Error"]["Message"] == (
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and"
        " 10, if provided."
    )
    with pytest.raises(ClientError) as exc:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert error_of(exc) == ("ReceiptHandleIsInvalid", 400)
    sqs.purge_queue(QueueUrl=url)
    with pytest.raises(ClientError) as exc:
        sqs.purge_queue(QueueUrl=url)
    assert error_of(exc) == ("AWS.SimpleQueueService.PurgeQueueInProgress", 403)


def test_a_received_message_comes_back_after_its_visibility_timeout(sqs: Any) -> None:
    url = new_queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="again")
    (first,) = receive_until(sqs, url, 1, VisibilityTimeout=1)
    (second,) = receive_until(sqs, url, 1, AttributeNames=["ApproximateReceiveCount"])
    assert second["MessageId"] == first["MessageId"]
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    # The first receive's handle is stale: the message stays.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0
    )
    (third,) = receive_until(sqs, url, 1)
    assert third["MessageId"] == first["MessageId"]


def test_delayed_messages_are_counted_and_not_received(sqs: Any) -> None:
    url = new_queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=900)
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesDelayed"] == "1"
    assert counts["ApproximateNumberOfMessages"] == "0"


def test_a_long_poll_is_answered_by_a_send(sqs: Any, server: LamboxServer) -> None:
    url = new_queue(sqs)
    other = sqs_client(server)
    got: list[Any] = []
    poller = threading.Thread(
        target=lambda: got.append(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20))
    )
    poller.start()
    other.send_message(QueueUrl=url, MessageBody="wake")
    poller.join(30)
    assert not poller.is_alive()
    if "Messages" not in got[0]:  # the send may land before the poll: then it is queued
        got[0] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)
    assert got[0]["Messages"][0]["Body"] == "wake"


def test_fifo_order_groups_and_deduplication(sqs: Any) -> None:
    url = new_queue(sqs, fifo=True, ContentBasedDeduplication="true")
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"a{i}", MessageGroupId="A")
        sqs.send_message(QueueUrl=url, MessageBody=f"b{i}", MessageGroupId="B")
    again = sqs.send_message(QueueUrl=url, MessageBody="a0", MessageGroupId="A")
    first = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"], VisibilityTimeout=30
    )["Messages"][0]
    assert first["Body"] == "a0" and first["MessageId"] == again["MessageId"]
    assert first["Attributes"]["MessageGroupId"] == "A"
    # Group A has a message in flight: only group B is served.
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in rest] == ["b0", "b1", "b2"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    tail = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in tail] == ["a1", "a2"]
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="x")
    assert error_of(exc) == ("MissingParameter", 400)
    plain = new_queue(sqs, fifo=True)
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=plain, MessageBody="x", MessageGroupId="g")
    assert exc.value.response["Error"]["Message"] == (
        "The queue should either have ContentBasedDeduplication enabled or"
        " MessageDeduplicationId provided explicitly"
    )


def test_redrive_to_a_dead_letter_queue_and_move_back(sqs: Any) -> None:
    dlq = new_queue(sqs)
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url = new_queue(sqs, RedrivePolicy=policy)
    source_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        assert len(receive_until(sqs, url, 1, VisibilityTimeout=0)) == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    (dead,) = receive_until(sqs, dlq, 1, VisibilityTimeout=0)
    assert dead["Body"] == "poison"
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]
    with pytest.raises(ClientError) as exc:
        sqs.start_message_move_task(SourceArn=source_arn)
    assert exc.value.response["Error"]["Message"] == (
        "Source queue must be configured as a Dead Letter Queue."
    )
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    assert handle
    (back,) = receive_until(sqs, url, 1)
    assert back["Body"] == "poison"
    tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert tasks[0]["Status"] == "COMPLETED"
    assert tasks[0]["ApproximateNumberOfMessagesMoved"] == 1


def aws(server: LamboxServer, *args: str) -> Any:
    env = {**os.environ, **CLIENT_ENV}
    done = subprocess.run(
        [AWS_CLI, "--endpoint-url", server.url, "--output", "json", "sqs", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_the_aws_cli_speaks_the_query_protocol(server: LamboxServer, sqs: Any) -> None:
    name = unique("cli")
    url = aws(
        server,
        "create-queue",
        "--queue-name",
        name,
        "--attributes",
        "VisibilityTimeout=7",
        "--tags",
        "team=a",
    )["QueueUrl"]
    assert url.endswith(f"/000000000000/{name}")
    attrs = aws(server, "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")
    assert attrs["Attributes"]["VisibilityTimeout"] == "7"
    assert aws(server, "list-queue-tags", "--queue-url", url)["Tags"] == {"team": "a"}
    sent = aws(
        server,
        "send-message",
        "--queue-url",
        url,
        "--message-body",
        "from the cli",
        "--message-attributes",
        '{"A":{"DataType":"String","StringValue":"x"},'
        '"B":{"DataType":"Binary","BinaryValue":"AAE="}}',
    )
    batch = aws(
        server,
        "send-message-batch",
        "--queue-url",
        url,
        "--entries",
        "Id=one,MessageBody=first",
        "Id=two,MessageBody=second",
    )
    assert sorted(e["Id"] for e in batch["Successful"]) == ["one", "two"]
    got = aws(
        server,
        "receive-message",
        "--queue-url",
        url,
        "--max-number-of-messages",
        "10",
        "--attribute-names",
        "All",
        "--message-attribute-names",
        "All",
    )["Messages"]
    bodies = {m["Body"]: m for m in got}
    assert set(bodies) == {"from the cli", "first", "second"}
    mine = bodies["from the cli"]
    assert mine["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert mine["MessageAttributes"]["A"]["StringValue"] == "x"
    # boto3 reads what the CLI sent, attributes and digests alike.
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    aws(server, "delete-message", "--queue-url", url, "--receipt-handle", mine["ReceiptHandle"])
    entries = [
        {"Id": f"d{i}", "ReceiptHandle": bodies[b]["ReceiptHandle"]}
        for i, b in enumerate(["first", "second"])
    ]
    deleted = aws(
        server, "delete-message-batch", "--queue-url", url, "--entries", json.dumps(entries)
    )
    assert len(deleted["Successful"]) == 2
    attrs = aws(server, "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
    env = {**os.environ, **CLIENT_ENV}
    missing = subprocess.run(
        [
            AWS_CLI,
            "--endpoint-url",
            server.url,
            "sqs",
            "get-queue-url",
            "--queue-name",
            unique("none"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert missing.returncode != 0
    assert "AWS.SimpleQueueService.NonExistentQueue" in missing.stderr
    aws(server, "delete-queue", "--queue-url", url)
