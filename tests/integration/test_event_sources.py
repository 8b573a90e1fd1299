"""SQS event source mappings: the Lambda API's CRUD with AWS's states and errors, and the
pollers: SQS's event shape, deletes after success, ReportBatchItemFailures, the dead-letter
queue after maxReceiveCount, filters."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import LamboxServer, execution_role, make_zip, unique
from tests.integration.test_sqs import new_queue, receive_until, sqs_client

# Forwards each event it gets to the RESULTS queue (through lambox's SQS, with the boto3
# every Python function has), and reports the records whose body says "fail".
CONSUMER = """
import json, os
import boto3

sqs = boto3.client("sqs")

def handler(event, context):
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=json.dumps(event))
    failed = []
    for record in event["Records"]:
        if json.loads(record["body"]).get("fail"):
            failed.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failed}
"""


@pytest.fixture(scope="module")
def sqs(server: LamboxServer) -> Any:
    return sqs_client(server)


def sender_role(lam: Any) -> str:
    """The consumers' role: they send what they got to the results queue."""
    return execution_role(lam.meta.endpoint_url, "esm-consumer", ["sqs:SendMessage"])


def arn_of(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def consumer(lambda_client: Any, results_url: str) -> str:
    name = unique("consumer")
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=sender_role(lambda_client),
        Code={"ZipFile": make_zip({"app.py": CONSUMER})},
        Environment={"Variables": {"RESULTS": results_url}},
        Timeout=30,
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def wait_state(lambda_client: Any, uuid: str, state: str) -> dict[str, Any]:
    for _ in range(100):
        got: dict[str, Any] = lambda_client.get_event_source_mapping(UUID=uuid)
        if got["State"] == state:
            return got
        time.sleep(0.05)
    raise AssertionError(f"mapping never reached {state}: {got['State']}")


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    r = exc.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def test_mapping_lifecycle_states_and_errors(lambda_client: Any, sqs: Any) -> None:
    results = new_queue(sqs)
    fn = consumer(lambda_client, results)
    source = arn_of(sqs, new_queue(sqs))
    created = lambda_client.create_event_source_mapping(EventSourceArn=source, FunctionName=fn)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert created["State"] == "Creating"
    assert created["BatchSize"] == 10
    assert created["MaximumBatchingWindowInSeconds"] == 0
    assert created["FunctionResponseTypes"] == []
    assert created["StateTransitionReason"] == "USER_INITIATED"
    assert created["FunctionArn"].endswith(f":function:{fn}")
    assert created["EventSourceMappingArn"].endswith(f":event-source-mapping:{created['UUID']}")
    uuid = created["UUID"]
    wait_state(lambda_client, uuid, "Enabled")
    listed = lambda_client.list_event_source_mappings(FunctionName=fn)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [uuid]
    with pytest.raises(ClientError) as exc:
        lambda_client.create_event_source_mapping(EventSourceArn=source, FunctionName=fn)
    assert error_of(exc) == (
        "ResourceConflictException",
        f'An event source mapping with SQS arn (" {source} ") and function (" {fn} ") already'
        f" exists. Please update or delete the existing mapping with UUID {uuid}",
        409,
    )
    updated = lambda_client.update_event_source_mapping(UUID=uuid, Enabled=False)
    assert updated["State"] == "Disabling"
    wait_state(lambda_client, uuid, "Disabled")
    updated = lambda_client.update_event_source_mapping(
        UUID=uuid, Enabled=True, BatchSize=100, MaximumBatchingWindowInSeconds=1
    )
    assert updated["State"] == "Enabling" and updated["BatchSize"] == 100
    wait_state(lambda_client, uuid, "Enabled")
    with pytest.raises(ClientError) as exc:
        lambda_client.update_event_source_mapping(
            UUID=uuid, BatchSize=20, MaximumBatchingWindowInSeconds=0
        )
    assert error_of(exc)[1] == (
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is"
        " greater than 10"
    )
    deleted = lambda_client.delete_event_source_mapping(UUID=uuid)
    assert deleted["State"] == "Deleting"
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    for _ in range(100):
        try:
            lambda_client.get_event_source_mapping(UUID=uuid)
        except ClientError as gone:
            assert gone.response["Error"]["Code"] == "ResourceNotFoundException"
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the mapping was never deleted")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"FunctionName": "nope"}, "Function does not exist"),
        (
            {"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:missing-queue"},
            "Error occurred while ReceiveMessage. SQS Error Code:"
            " AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue"
            " does not exist.",
        ),
        (
            {"FilterCriteria": {"Filters": [{"Pattern": "simple string"}]}},
            "Invalid filter pattern definition.",
        ),
        (
            {"BatchSize": 20},
            "Maximum batch window in seconds must be greater than 0 if maximum"
            " batch size is greater than 10",
        ),
    ],
)
def test_create_refusals(
    lambda_client: Any, sqs: Any, params: dict[str, Any], message: str
) -> None:
    fn = consumer(lambda_client, new_queue(sqs)) if "FunctionName" not in params else ""
    base = {"EventSourceArn": arn_of(sqs, new_queue(sqs)), "FunctionName": fn}
    with pytest.raises(ClientError) as exc:
        lambda_client.create_event_source_mapping(**{**base, **params})
    assert error_of(exc) == ("InvalidParameterValueException", message, 400)


def test_unknown_mapping_is_not_found(lambda_client: Any) -> None:
    with pytest.raises(ClientError) as exc:
        lambda_client.get_event_source_mapping(UUID="00000000-0000-0000-0000-000000000000")
    assert error_of(exc) == (
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
        404,
    )


def events_in(sqs: Any, results: str, records: int) -> list[dict[str, Any]]:
    """The records of the events the consumer forwarded, until ``records`` arrived."""
    seen: list[dict[str, Any]] = []
    for _ in range(40):
        for m in receive_until(sqs, results, 1):
            seen += json.loads(m["Body"])["Records"]
            sqs.delete_message(QueueUrl=results, ReceiptHandle=m["ReceiptHandle"])
        if len(seen) >= records:
            break
    return seen


def test_batches_partial_failures_and_the_dead_letter_queue(lambda_client: Any, sqs: Any) -> None:
    results = new_queue(sqs)
    fn = consumer(lambda_client, results)
    dlq = new_queue(sqs)
    policy = json.dumps({"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": 2})
    source = new_queue(sqs, VisibilityTimeout="1", RedrivePolicy=policy)
    source_arn = arn_of(sqs, source)
    sent = sqs.send_message_batch(
        QueueUrl=source,
        Entries=[
            {
                "Id": "ok1",
                "MessageBody": json.dumps({"n": 1}),
                "MessageAttributes": {"Kind": {"DataType": "String", "StringValue": "a"}},
            },
            {"Id": "bad", "MessageBody": json.dumps({"n": 2, "fail": True})},
            {"Id": "ok2", "MessageBody": json.dumps({"n": 3})},
        ],
    )
    ids = {e["Id"]: e["MessageId"] for e in sent["Successful"]}
    lambda_client.create_event_source_mapping(
        EventSourceArn=source_arn,
        FunctionName=fn,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    records = events_in(sqs, results, 4)  # three, then the failed one again
    first = next(r for r in records if r["messageId"] == ids["ok1"])
    assert set(first) == {
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes",
        "md5OfMessageAttributes", "md5OfBody", "eventSource", "eventSourceARN", "awsRegion",
    }  # fmt: skip
    assert first["eventSource"] == "aws:sqs"
    assert first["eventSourceARN"] == source_arn
    assert first["awsRegion"] == "us-east-1"
    assert first["body"] == json.dumps({"n": 1})
    assert first["md5OfBody"] == sent["Successful"][0]["MD5OfMessageBody"]
    assert first["md5OfMessageAttributes"] == sent["Successful"][0]["MD5OfMessageAttributes"]
    assert first["messageAttributes"] == {
        "Kind": {
            "stringValue": "a",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    assert first["attributes"]["ApproximateReceiveCount"] == "1"
    assert set(first["attributes"]) >= {"SentTimestamp", "SenderId"}
    bad = [r for r in records if r["messageId"] == ids["bad"]]
    assert len(bad) >= 2
    assert bad[1]["attributes"]["ApproximateReceiveCount"] == "2"
    (dead,) = receive_until(sqs, dlq, 1)
    assert dead["MessageId"] == ids["bad"]
    # Succeeded messages were deleted once and never delivered again.
    assert sum(r["messageId"] == ids["ok1"] for r in records) == 1
    counts = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "0"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_filtered_out_messages_are_deleted_without_an_invoke(lambda_client: Any, sqs: Any) -> None:
    results = new_queue(sqs)
    fn = consumer(lambda_client, results)
    source = new_queue(sqs)
    pattern = json.dumps({"body": {"kind": ["keep"], "n": [{"numeric": [">", 1]}]}})
    lambda_client.create_event_source_mapping(
        EventSourceArn=arn_of(sqs, source),
        FunctionName=fn,
        FilterCriteria={"Filters": [{"Pattern": pattern}]},
    )
    for body in ({"kind": "drop", "n": 5}, {"kind": "keep", "n": 0}, {"kind": "keep", "n": 2}):
        sqs.send_message(QueueUrl=source, MessageBody=json.dumps(body))
    records = events_in(sqs, results, 1)
    assert [json.loads(r["body"]) for r in records] == [{"kind": "keep", "n": 2}]
    for _ in range(100):
        counts = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["All"])["Attributes"]
        if (
            counts["ApproximateNumberOfMessages"]
            == counts["ApproximateNumberOfMessagesNotVisible"]
            == "0"
        ):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"filtered messages left in the queue: {counts}")
    assert "Messages" not in sqs.receive_message(QueueUrl=results, WaitTimeSeconds=2)


def test_created_disabled_with_scaling_and_filters_shown(lambda_client: Any, sqs: Any) -> None:
    fn = consumer(lambda_client, new_queue(sqs))
    pattern = json.dumps({"body": {"kind": ["keep"]}})
    created = lambda_client.create_event_source_mapping(
        EventSourceArn=arn_of(sqs, new_queue(sqs)),
        FunctionName=fn,
        Enabled=False,
        BatchSize=5,
        ScalingConfig={"MaximumConcurrency": 2},
        FilterCriteria={"Filters": [{"Pattern": pattern}]},
    )
    assert created["State"] == "Disabled"
    assert created["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert created["FilterCriteria"] == {"Filters": [{"Pattern": pattern}]}
    got = lambda_client.get_event_source_mapping(UUID=created["UUID"])
    assert got["State"] == "Disabled" and got["BatchSize"] == 5
    page = lambda_client.list_event_source_mappings(FunctionName=fn, MaxItems=1)
    assert [m["UUID"] for m in page["EventSourceMappings"]] == [created["UUID"]]
    assert "NextMarker" not in page


# Sleeps, then reports which sandbox ran the batch (an id drawn on its first call there).
SLOW = """
import json, os, time, uuid
import boto3

sqs = boto3.client("sqs")
SANDBOX = None

def handler(event, context):
    global SANDBOX
    SANDBOX = SANDBOX or str(uuid.uuid4())
    time.sleep(3)
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=SANDBOX)
"""


def test_pollers_scale_past_five_up_to_the_reserved_concurrency(
    lambda_client: Any, sqs: Any
) -> None:
    """Without ScalingConfig the backlog is worked by as many sandboxes at once as the
    function's reserved concurrency allows (eight here), not a default of five."""
    results, source = new_queue(sqs), new_queue(sqs, VisibilityTimeout="60")
    name = unique("slow")
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=sender_role(lambda_client),
        Code={"ZipFile": make_zip({"app.py": SLOW})},
        Environment={"Variables": {"RESULTS": results}},
        Timeout=30,
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=8)
    for i in range(3):
        sqs.send_message_batch(
            QueueUrl=source,
            Entries=[{"Id": str(j), "MessageBody": f"{i}-{j}"} for j in range(10)],
        )
    uuid = lambda_client.create_event_source_mapping(
        EventSourceArn=arn_of(sqs, source), FunctionName=name, BatchSize=1
    )["UUID"]
    try:
        got = receive_until(sqs, results, 30)
        sandboxes = {m["Body"] for m in got}
        assert 5 < len(sandboxes) <= 8, sandboxes
    finally:
        lambda_client.delete_event_source_mapping(UUID=uuid)
