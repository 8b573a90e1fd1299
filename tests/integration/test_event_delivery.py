"""What EventBridge and EventBridge Scheduler do when a delivery fails: a target's
RetryPolicy (retries of a throttled target, stored in the outbox) and DeadLetterConfig (the
event in an SQS queue with the attributes AWS documents); Scheduler's templated SQS and SNS
targets and its universal ``aws-sdk`` targets. boto3 and the AWS CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import (
    CLIENT_ENV,
    ROLE,
    LamboxServer,
    aws_client,
    make_zip,
    start_server,
    stop_server,
    unique,
)

ROLE_ARN = "arn:aws:iam::000000000000:role/scheduler"
OFF = {"Mode": "OFF"}


def _queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, str(got["Attributes"]["QueueArn"])


def _receive(sqs: Any, url: str, count: int = 1) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    for _ in range(20):
        answer = sqs.receive_message(
            QueueUrl=url,
            WaitTimeSeconds=5,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        got += answer.get("Messages", [])
        if len(got) >= count:
            break
    assert len(got) >= count, f"{len(got)} of {count} messages arrived"
    return got


def _attributes(message: dict[str, Any]) -> dict[str, str]:
    return {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}


def test_a_missing_target_sends_the_event_to_the_dead_letter_queue(server: LamboxServer) -> None:
    events, sqs = (
        aws_client(server, "events", retries=True),
        aws_client(server, "sqs", retries=True),
    )
    dlq, dlq_arn = _queue(sqs, unique("eb-dlq"))
    gone = f"arn:aws:sqs:us-east-1:000000000000:{unique('gone')}"
    rule = unique("eb-dlq-rule")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["shop"]}))["RuleArn"]
    # The AWS CLI sets the target, with its retry policy and dead-letter queue.
    targets = [
        {
            "Id": "gone",
            "Arn": gone,
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
            "DeadLetterConfig": {"Arn": dlq_arn},
        }
    ]
    done = subprocess.run(
        ["/usr/bin/aws", "--endpoint-url", server.url, "--output", "json", "events",
         "put-targets", "--rule", rule, "--targets", json.dumps(targets)],
        capture_output=True, text=True, env={**os.environ, **CLIENT_ENV}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["FailedEntryCount"] == 0
    listed = events.list_targets_by_rule(Rule=rule)["Targets"][0]
    assert listed["DeadLetterConfig"] == {"Arn": dlq_arn}
    event_id = events.put_events(
        Entries=[{"Source": "shop", "DetailType": "order", "Detail": json.dumps({"id": 9})}]
    )["Entries"][0]["EventId"]
    (dead,) = _receive(sqs, dlq)
    assert json.loads(dead["Body"])["id"] == event_id
    attributes = _attributes(dead)
    assert attributes.pop("ERROR_MESSAGE")
    # A target that does not exist is not retried (AWS: sent to the DLQ directly).
    assert attributes == {
        "RULE_ARN": rule_arn,
        "TARGET_ARN": gone,
        "ERROR_CODE": "NO_RESOURCE",
        "RETRY_ATTEMPTS": "0",
    }


def test_retry_policy_limits_are_validated(server: LamboxServer) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    events = boto3.client(
        "events",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(parameter_validation=False),  # the check is the server's
    )
    rule = unique("eb-retry-rule")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["x"]}))
    fn = "arn:aws:lambda:us-east-1:000000000000:function:x"
    try:
        events.put_targets(
            Rule=rule,
            Targets=[{"Id": "t", "Arn": fn, "RetryPolicy": {"MaximumEventAgeInSeconds": 5}}],
        )
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ValidationException"
        assert exc.response["Error"]["Message"] == (
            "1 validation error detected: Value '5' at"
            " 'targets.1.member.retryPolicy.maximumEventAgeInSeconds' failed to satisfy"
            " constraint: Member must have value greater than or equal to 60"
        )
    else:
        raise AssertionError("a 5-second event age was accepted")


SLEEPER = """
import time

def handler(event, context):
    time.sleep(30)
"""


def test_a_throttled_target_is_retried_then_dead_lettered(tmp_path: Path) -> None:
    """With room for one asynchronous event, the second is throttled: it is retried (once, as
    its policy says) and then goes to the dead-letter queue, which says why."""
    server = start_server(
        tmp_path / "data", {"LAMBOX_SANDBOX": "process", "LAMBOX_ASYNC_QUEUE_LIMIT": "1"}
    )
    try:
        events, sqs, lam = (
            aws_client(server, "events", retries=True),
            aws_client(server, "sqs", retries=True),
            aws_client(server, "lambda", retries=True),
        )
        lam.create_function(
            FunctionName="sleeper",
            Runtime="python3.11",
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": make_zip({"app.py": SLEEPER})},
        )
        lam.get_waiter("function_active_v2").wait(FunctionName="sleeper")
        fn = lam.get_function(FunctionName="sleeper")["Configuration"]["FunctionArn"]
        dlq, dlq_arn = _queue(sqs, "dlq")
        rule_arn = events.put_rule(Name="r", EventPattern=json.dumps({"source": ["s"]}))["RuleArn"]
        events.put_targets(
            Rule="r",
            Targets=[
                {
                    "Id": "fn",
                    "Arn": fn,
                    "RetryPolicy": {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 600},
                    "DeadLetterConfig": {"Arn": dlq_arn},
                }
            ],
        )
        events.put_events(
            Entries=[
                {"Source": "s", "DetailType": "d", "Detail": json.dumps({"n": n})} for n in (1, 2)
            ]
        )
        (dead,) = _receive(sqs, dlq)
        assert json.loads(dead["Body"])["detail"] == {"n": 2}
        attributes = _attributes(dead)
        assert attributes.pop("ERROR_MESSAGE")
        assert attributes == {
            "RULE_ARN": rule_arn,
            "TARGET_ARN": fn,
            "ERROR_CODE": "THROTTLING",
            "RETRY_ATTEMPTS": "1",
            "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        }
    finally:
        stop_server(server)


def _soon(seconds: int = 2) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})"


def test_scheduler_delivers_to_queues_topics_and_universal_targets(server: LamboxServer) -> None:
    scheduler, sqs, sns = (aws_client(server, n, retries=True) for n in ("scheduler", "sqs", "sns"))
    plain, plain_arn = _queue(sqs, unique("sch-q"))
    fifo, fifo_arn = _queue(
        sqs, unique("sch-f") + ".fifo", FifoQueue="true", ContentBasedDeduplication="true"
    )
    fanned, fanned_arn = _queue(sqs, unique("sch-t"))
    topic = sns.create_topic(Name=unique("sch-topic"))["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=fanned_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    targets = {
        "queue": {
            "Arn": plain_arn,
            "Input": '{"to": "queue", "s": "<aws.scheduler.schedule-arn>"}',
        },
        "fifo": {
            "Arn": fifo_arn,
            "Input": '{"to": "fifo"}',
            "SqsParameters": {"MessageGroupId": "g1"},
        },
        "topic": {"Arn": topic, "Input": '{"to": "topic"}'},
        "sdk-sqs": {
            "Arn": "arn:aws:scheduler:::aws-sdk:sqs:sendMessage",
            "Input": json.dumps({"QueueUrl": plain, "MessageBody": "via the sdk"}),
        },
        "sdk-sns": {
            "Arn": "arn:aws:scheduler:::aws-sdk:sns:publish",
            "Input": json.dumps({"TopicArn": topic, "Message": "published by the sdk"}),
        },
    }
    arns = {}
    for name, target in targets.items():
        arns[name] = scheduler.create_schedule(
            Name=unique(f"sch-{name}"),
            ScheduleExpression=_soon(),
            FlexibleTimeWindow=OFF,
            Target={**target, "RoleArn": ROLE_ARN},
        )["ScheduleArn"]
    bodies = sorted(m["Body"] for m in _receive(sqs, plain, 2))
    assert bodies == sorted([json.dumps({"to": "queue", "s": arns["queue"]}), "via the sdk"])
    (grouped,) = _receive(sqs, fifo)
    assert json.loads(grouped["Body"]) == {"to": "fifo"}
    assert grouped["Attributes"]["MessageGroupId"] == "g1"
    fanned_bodies = sorted(m["Body"] for m in _receive(sqs, fanned, 2))
    assert fanned_bodies == sorted(['{"to": "topic"}', "published by the sdk"])


def test_a_failed_schedule_goes_to_its_dead_letter_queue(server: LamboxServer) -> None:
    scheduler, sqs = (
        aws_client(server, "scheduler", retries=True),
        aws_client(server, "sqs", retries=True),
    )
    dlq, dlq_arn = _queue(sqs, unique("sch-dlq"))
    gone = f"arn:aws:sqs:us-east-1:000000000000:{unique('gone')}"
    arn = scheduler.create_schedule(
        Name=unique("sch-dead"),
        ScheduleExpression=_soon(),
        FlexibleTimeWindow=OFF,
        Target={
            "Arn": gone,
            "RoleArn": ROLE_ARN,
            "Input": '{"execution": "<aws.scheduler.execution-id>"}',
            "RetryPolicy": {"MaximumRetryAttempts": 2},
            "DeadLetterConfig": {"Arn": dlq_arn},
        },
    )["ScheduleArn"]
    (dead,) = _receive(sqs, dlq)
    execution = json.loads(dead["Body"])["execution"]
    attributes = _attributes(dead)
    assert attributes.pop("ERROR_MESSAGE")
    assert attributes == {
        "SCHEDULE_ARN": arn,
        "EXECUTION_ID": execution,
        "TARGET_ARN": gone,
        "ERROR_CODE": "AWS.SimpleQueueService.NonExistentQueue",
        "RETRY_ATTEMPTS": "0",
    }
