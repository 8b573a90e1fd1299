"""EventBridge rules deliver to SQS queues and SNS topics, not only to functions."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import LamboxServer, aws_client, unique


def _receive(sqs: Any, url: str) -> dict[str, Any]:
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10, MaxNumberOfMessages=1)
    assert got.get("Messages"), "nothing arrived"
    return dict(got["Messages"][0])


def test_a_rule_sends_matching_events_to_a_queue_and_a_topic(server: LamboxServer) -> None:
    events, sqs, sns = (
        aws_client(server, "events", retries=True),
        aws_client(server, "sqs", retries=True),
        aws_client(server, "sns", retries=True),
    )
    direct = sqs.create_queue(QueueName=unique("eb-direct"))["QueueUrl"]
    fanned = sqs.create_queue(QueueName=unique("eb-fanned"))["QueueUrl"]
    arn_of = {
        url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for url in (direct, fanned)
    }
    topic = sns.create_topic(Name=unique("eb-topic"))["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn_of[fanned],
        Attributes={"RawMessageDelivery": "true"},
    )
    rule = unique("eb-rule")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["shop"]}))
    events.put_targets(
        Rule=rule,
        Targets=[{"Id": "queue", "Arn": arn_of[direct]}, {"Id": "topic", "Arn": topic}],
    )
    events.put_events(
        Entries=[
            {"Source": "other", "DetailType": "x", "Detail": "{}"},
            {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"id": 7})},
        ]
    )
    for url in (direct, fanned):
        event = json.loads(_receive(sqs, url)["Body"])
        assert (event["source"], event["detail-type"], event["detail"]) == (
            "shop",
            "order",
            {"id": 7},
        )
