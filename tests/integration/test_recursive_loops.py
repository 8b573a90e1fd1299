"""Recursive loop detection: a chain of events that runs the same function again and again
(through an SQS event source mapping, or its own asynchronous invokes) is stopped after 16
runs, the stopped event goes to the queue's dead-letter queue / the on-failure destination,
and the stop is logged; ``RecursiveLoop: Allow`` lets the chain run on.

The functions call lambox with the boto3 of their runtime, unmodified: the hop count travels
in the X-Ray trace header botocore copies from ``_X_AMZN_TRACE_ID`` into each call."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from typing import Any

import httpx
import pytest

from tests.conftest import CLIENT_ENV, execution_role, make_zip, unique

LOOPER = """
import json
import boto3

sqs = boto3.client("sqs")

def handler(event, context):
    for record in event["Records"]:
        body = json.loads(record["body"])
        tally = sqs.get_queue_url(QueueName=body["tally"])["QueueUrl"]
        sqs.send_message(QueueUrl=tally, MessageBody=json.dumps({"hop": body["hop"]}))
        if body["hop"] < body["stop"]:
            loop = sqs.get_queue_url(QueueName=body["loop"])["QueueUrl"]
            body["hop"] += 1
            sqs.send_message(QueueUrl=loop, MessageBody=json.dumps(body))
"""

SELF_INVOKER = """
import json
import boto3

def handler(event, context):
    sqs = boto3.client("sqs")
    tally = sqs.get_queue_url(QueueName=event["tally"])["QueueUrl"]
    sqs.send_message(QueueUrl=tally, MessageBody=json.dumps({"hop": event["hop"]}))
    if event["hop"] < event["stop"]:
        event["hop"] += 1
        boto3.client("lambda").invoke(
            FunctionName=context.function_name, InvocationType="Event",
            Payload=json.dumps(event).encode())
"""

RECORDER = """
import json
import boto3

def handler(event, context):
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=event["requestPayload"]["failures"])["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
"""


LOOP_CALLS = (
    "sqs:GetQueueUrl",
    "sqs:SendMessage",
    "lambda:InvokeFunction",
    "sns:Publish",
    "s3:PutObject",
    "events:PutEvents",
)


def loop_role(lam: Any) -> str:
    """The execution role of the looping functions: the calls they make, nothing more."""
    return execution_role(lam.meta.endpoint_url, "loop-test", LOOP_CALLS)


def lineage_key(function: str) -> str:
    return hashlib.sha256(function.encode()).hexdigest()[:8]


def sqs_client(server: Any) -> Any:
    import boto3

    return boto3.client("sqs", endpoint_url=server.url, region_name="us-east-1", **_credentials())


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CLIENT_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CLIENT_ENV["AWS_SECRET_ACCESS_KEY"],
    }


def create(client: Any, source: str) -> str:
    name = unique("loop")
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=loop_role(client),
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": source})},
        Timeout=30,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def drain(sqs: Any, url: str, until: int, deadline: float = 120.0) -> list[dict[str, Any]]:
    """Every message of a queue, waiting (up to ``deadline`` seconds) until there are at
    least ``until`` of them, then until a long poll finds no more."""
    got: list[dict[str, Any]] = []
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2)
        messages = out.get("Messages", [])
        for m in messages:
            got.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if not messages and len(got) >= until:
            break
    return got


def queue(sqs: Any, **attributes: str) -> tuple[str, str]:
    name = unique("q")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


@pytest.fixture()
def sqs(server: Any) -> Any:
    return sqs_client(server)


def sqs_loop(
    lambda_client: Any, sqs: Any, stop: int, allow: bool = False
) -> tuple[str, list[int], list[Any]]:
    """A function fed by a queue that sends each message back to that queue until its hop
    count reaches ``stop``: (function, hops it ran, what reached the dead-letter queue)."""
    name = create(lambda_client, LOOPER)
    if allow:
        lambda_client.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    dlq_url, dlq_arn = queue(sqs)
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    loop_url, loop_arn = queue(sqs, VisibilityTimeout="1", RedrivePolicy=redrive)
    tally_url, _ = queue(sqs)
    lambda_client.create_event_source_mapping(
        EventSourceArn=loop_arn, FunctionName=name, BatchSize=1
    )
    body = {
        "hop": 1,
        "stop": stop,
        "loop": loop_url.rsplit("/", 1)[1],
        "tally": tally_url.rsplit("/", 1)[1],
    }
    sqs.send_message(QueueUrl=loop_url, MessageBody=json.dumps(body))
    expected = stop if allow else min(stop, 16)
    hops = sorted(m["hop"] for m in drain(sqs, tally_url, expected))
    stopped = stop > 16 and not allow
    dead = drain(sqs, dlq_url, 1 if stopped else 0, deadline=30.0 if stopped else 3.0)
    return name, hops, dead


def test_an_sqs_loop_is_stopped_after_16_runs(lambda_client: Any, sqs: Any, server: Any) -> None:
    name, hops, dead = sqs_loop(lambda_client, sqs, stop=40)
    assert hops == list(range(1, 17))
    assert [m["hop"] for m in dead] == [17]
    assert f"recursive loop stopped: {name} already ran 16 times" in server.output()


def test_allow_lets_an_sqs_chain_run_past_16(lambda_client: Any, sqs: Any) -> None:
    _, hops, dead = sqs_loop(lambda_client, sqs, stop=20, allow=True)
    assert hops == list(range(1, 21))
    assert dead == []


def test_an_async_self_invoke_loop_goes_to_the_on_failure_destination(
    lambda_client: Any, sqs: Any, server: Any
) -> None:
    name = create(lambda_client, SELF_INVOKER)
    recorder = create(lambda_client, RECORDER)
    failures_url, _ = queue(sqs)
    tally_url, _ = queue(sqs)
    arn = lambda_client.get_function(FunctionName=recorder)["Configuration"]["FunctionArn"]
    lambda_client.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": arn}},
    )
    event = {
        "hop": 1,
        "stop": 40,
        "tally": tally_url.rsplit("/", 1)[1],
        "failures": failures_url.rsplit("/", 1)[1],
    }
    lambda_client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event))
    hops = sorted(m["hop"] for m in drain(sqs, tally_url, 16))
    assert hops == list(range(1, 17))
    (record,) = drain(sqs, failures_url, 1)
    assert record["requestContext"]["condition"] == "RecursiveInvocationException"
    assert record["requestPayload"]["hop"] == 17
    assert f"recursive loop stopped: {name} already ran 16 times" in server.output()


def test_a_call_carrying_a_spent_chain_is_refused(lambda_client: Any, server: Any) -> None:
    name = create(lambda_client, "def handler(e, c):\n    return 'ran'\n")
    trace = f"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0;Lineage={lineage_key(name)}:16"
    r = httpx.post(
        f"{server.url}/2015-03-31/functions/{name}/invocations",
        content=b"{}",
        headers={"X-Amzn-Trace-Id": trace},
    )
    assert r.status_code == 400
    assert r.headers["x-amzn-ErrorType"] == "RecursiveInvocationException"
    # One run fewer in the chain still runs.
    below = trace.replace(":16", ":15")
    r = httpx.post(
        f"{server.url}/2015-03-31/functions/{name}/invocations",
        content=b"{}",
        headers={"X-Amzn-Trace-Id": below},
    )
    assert (r.status_code, r.json()) == (200, "ran")
    lambda_client.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    r = httpx.post(
        f"{server.url}/2015-03-31/functions/{name}/invocations",
        content=b"{}",
        headers={"X-Amzn-Trace-Id": trace},
    )
    assert (r.status_code, r.json()) == (200, "ran")


def test_a_message_the_cli_sends_with_a_spent_chain_is_not_consumed(
    lambda_client: Any, server: Any, sqs: Any
) -> None:
    """The AWS CLI (v2.9: its botocore predates the recursion-detection handler, so it sends
    no trace header of its own) sets a message's AWSTraceHeader explicitly: a chain that
    already ran the consumer 16 times is not run again, the message ends in the DLQ; one run
    fewer is consumed."""
    name = create(lambda_client, LOOPER)
    dlq_url, dlq_arn = queue(sqs)
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    loop_url, loop_arn = queue(sqs, VisibilityTimeout="1", RedrivePolicy=redrive)
    tally_url, _ = queue(sqs)
    lambda_client.create_event_source_mapping(
        EventSourceArn=loop_arn, FunctionName=name, BatchSize=1
    )
    root = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"
    for hop, count in ((16, 16), (15, 15)):
        body = {"hop": hop, "stop": 0, "loop": "", "tally": tally_url.rsplit("/", 1)[1]}
        trace = f"{root};Lineage={lineage_key(name)}:{count}"
        attributes = {"AWSTraceHeader": {"DataType": "String", "StringValue": trace}}
        subprocess.run(
            [
                *("/usr/bin/aws", "--endpoint-url", server.url, "--region", "us-east-1"),
                *("sqs", "send-message", "--queue-url", loop_url),
                *("--message-body", json.dumps(body)),
                *("--message-system-attributes", json.dumps(attributes)),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **CLIENT_ENV},
            check=True,
        )
    assert [m["hop"] for m in drain(sqs, dlq_url, 1, deadline=60.0)] == [16]
    assert [m["hop"] for m in drain(sqs, tally_url, 1)] == [15]


def test_a_send_from_a_function_keeps_its_trace(lambda_client: Any, sqs: Any) -> None:
    """SQS keeps the X-Amzn-Trace-Id header of a send as the message's AWSTraceHeader, as
    botocore inside a function sends it."""
    url, _ = queue(sqs)
    source = (
        "import boto3, os\n"
        "def handler(event, context):\n"
        "    boto3.client('sqs').send_message(QueueUrl=event['url'], MessageBody='x')\n"
        "    return os.environ['_X_AMZN_TRACE_ID']\n"
    )
    name = create(lambda_client, source)
    queue_name = url.rsplit("/", 1)[1]
    inner_url = f"/000000000000/{queue_name}"
    out = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"url": inner_url}))
    trace = json.loads(out["Payload"].read())
    assert f"Lineage={lineage_key(name)}:1" in trace
    got = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["AWSTraceHeader"])
    (message,) = got["Messages"]
    assert message["Attributes"]["AWSTraceHeader"] == trace


def test_a_chain_that_spent_another_function_still_runs_this_one(
    lambda_client: Any, server: Any
) -> None:
    name = create(lambda_client, "def handler(e, c):\n    return 'ran'\n")
    other = lineage_key(name + "-other")
    trace = f"Root=1-5759e988-bd862e3fe1be46a994272793;Lineage={other}:16|{lineage_key(name)}:3"
    r = httpx.post(
        f"{server.url}/2015-03-31/functions/{name}/invocations",
        content=b"{}",
        headers={"X-Amzn-Trace-Id": trace},
    )
    assert (r.status_code, r.json()) == (200, "ran")


CHAIN = """
import json, os
import boto3

def hop_of(event):
    mode = os.environ["MODE"]
    if mode == "sns":
        return json.loads(event["Records"][0]["Sns"]["Message"])["hop"]
    if mode == "s3":
        return int(event["Records"][0]["s3"]["object"]["key"].rsplit("-", 1)[1])
    return event["detail"]["hop"]

def handler(event, context):
    hop = hop_of(event)
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=os.environ["TALLY"])["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"hop": hop}))
    if hop >= 40:
        return
    mode, target, nxt = os.environ["MODE"], os.environ["TARGET"], hop + 1
    if mode == "sns":
        boto3.client("sns").publish(TopicArn=target, Message=json.dumps({"hop": nxt}))
    elif mode == "s3":
        boto3.client("s3").put_object(Bucket=target, Key=f"hop-{nxt}", Body=b"x")
    else:
        boto3.client("events").put_events(Entries=[{
            "Source": target, "DetailType": "hop", "Detail": json.dumps({"hop": nxt})}])
"""


def client(server: Any, service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1", **_credentials())


def chain_function(lambda_client: Any, mode: str, target: str, tally: str) -> tuple[str, str]:
    name = unique(f"chain{mode}")
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=loop_role(lambda_client),
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": CHAIN})},
        Timeout=30,
        Environment={"Variables": {"MODE": mode, "TARGET": target, "TALLY": tally}},
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    arn = lambda_client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    return name, arn


def test_a_loop_through_an_sns_topic_is_stopped(lambda_client: Any, sqs: Any, server: Any) -> None:
    sns = client(server, "sns")
    topic = sns.create_topic(Name=unique("looptopic"))["TopicArn"]
    tally_url, _ = queue(sqs)
    name, arn = chain_function(lambda_client, "sns", topic, tally_url.rsplit("/", 1)[1])
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
    sns.publish(TopicArn=topic, Message=json.dumps({"hop": 1}))
    assert sorted(m["hop"] for m in drain(sqs, tally_url, 16)) == list(range(1, 17))
    assert f"recursive loop stopped: {name} already ran 16 times" in server.output()


def test_a_loop_through_an_s3_bucket_is_stopped(lambda_client: Any, sqs: Any, server: Any) -> None:
    s3 = client(server, "s3")
    bucket = unique("loopbucket").lower()
    s3.create_bucket(Bucket=bucket)
    tally_url, _ = queue(sqs)
    name, arn = chain_function(lambda_client, "s3", bucket, tally_url.rsplit("/", 1)[1])
    config = {
        "LambdaFunctionConfigurations": [
            {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
        ]
    }
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    s3.put_object(Bucket=bucket, Key="hop-1", Body=b"x")
    assert sorted(m["hop"] for m in drain(sqs, tally_url, 16)) == list(range(1, 17))
    assert f"recursive loop stopped: {name} already ran 16 times" in server.output()


def test_a_loop_through_an_eventbridge_rule_is_stopped(
    lambda_client: Any, sqs: Any, server: Any
) -> None:
    events = client(server, "events")
    source = unique("loop.source")
    tally_url, _ = queue(sqs)
    name, arn = chain_function(lambda_client, "events", source, tally_url.rsplit("/", 1)[1])
    rule = unique("looprule")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": arn}])
    entry = {"Source": source, "DetailType": "hop", "Detail": json.dumps({"hop": 1})}
    events.put_events(Entries=[entry])
    assert sorted(m["hop"] for m in drain(sqs, tally_url, 16)) == list(range(1, 17))
    assert f"recursive loop stopped: {name} already ran 16 times" in server.output()
