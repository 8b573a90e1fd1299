"""SNS on lambox's endpoint (query protocol, boto3 and the AWS CLI): topics, subscriptions
to queues (envelope or raw) and functions (SNS's Lambda event), filter policies."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import CLIENT_ENV, LamboxServer, execution_role, make_zip, unique
from tests.integration.test_sqs import new_queue, receive_until, sqs_client

FORWARDER = """
import json, os
import boto3

sqs = boto3.client("sqs")

def handler(event, context):
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=json.dumps(event))
"""


@pytest.fixture(scope="module")
def sns(server: LamboxServer) -> Any:
    import boto3

    return boto3.client(
        "sns",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}),
    )


@pytest.fixture(scope="module")
def sqs(server: LamboxServer) -> Any:
    return sqs_client(server)


def queue_arn(sqs: Any, url: str) -> str:
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(got["Attributes"]["QueueArn"])


def test_topics_and_subscriptions(sns: Any, sqs: Any) -> None:
    name = unique("topic")
    arn = sns.create_topic(Name=name)["TopicArn"]
    assert arn == f"arn:aws:sns:us-east-1:000000000000:{name}"
    assert sns.create_topic(Name=name)["TopicArn"] == arn
    assert {"TopicArn": arn} in sns.list_topics()["Topics"]
    endpoint = queue_arn(sqs, new_queue(sqs))
    sub = sns.subscribe(
        TopicArn=arn,
        Protocol="sqs",
        Endpoint=endpoint,
        Attributes={"RawMessageDelivery": "true"},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    assert sub.startswith(arn + ":")
    attributes = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attributes["RawMessageDelivery"] == "true"
    assert attributes["Protocol"] == "sqs" and attributes["Endpoint"] == endpoint
    listed = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in listed] == [sub]
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["SubscriptionsConfirmed"] == "1"
    sns.unsubscribe(SubscriptionArn=sub)
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []
    sns.delete_topic(TopicArn=arn)
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=endpoint)
    error = exc.value.response
    assert (error["Error"]["Code"], error["Error"]["Message"]) == (
        "NotFound",
        "Topic does not exist",
    )
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_publish_to_queues_envelope_raw_and_filtered(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(Name=unique("pub"))["TopicArn"]
    wrapped, raw, filtered = new_queue(sqs), new_queue(sqs), new_queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(sqs, wrapped))
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn(sqs, raw),
        Attributes={"RawMessageDelivery": "true"},
    )
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn(sqs, filtered),
        Attributes={
            "FilterPolicy": json.dumps({"color": ["red"], "size": [{"numeric": [">", 3]}]})
        },
    )
    attributes = {
        "color": {"DataType": "String", "StringValue": "blue"},
        "size": {"DataType": "Number", "StringValue": "5"},
    }
    published = sns.publish(
        TopicArn=topic, Message="hello", Subject="greeting", MessageAttributes=attributes
    )
    (m,) = receive_until(sqs, wrapped, 1)
    note = json.loads(m["Body"])
    assert note["Type"] == "Notification"
    assert note["MessageId"] == published["MessageId"]
    assert note["TopicArn"] == topic and note["Message"] == "hello"
    assert note["Subject"] == "greeting"
    assert note["MessageAttributes"]["size"] == {"Type": "Number", "Value": "5"}
    assert {
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
        "UnsubscribeURL",
    } <= set(note)
    (m,) = receive_until(sqs, raw, 1, MessageAttributeNames=["All"])
    assert m["Body"] == "hello"
    assert m["MessageAttributes"]["color"]["StringValue"] == "blue"
    # blue does not pass the filter; red does
    attributes["color"]["StringValue"] = "red"
    sns.publish(TopicArn=topic, Message="for red", MessageAttributes=attributes)
    (m,) = receive_until(sqs, filtered, 1)
    assert json.loads(m["Body"])["Message"] == "for red"
    batch = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[{"Id": "a", "Message": "one"}, {"Id": "b", "Message": "two"}],
    )
    assert sorted(e["Id"] for e in batch["Successful"]) == ["a", "b"]
    got = receive_until(sqs, raw, 3)
    assert {m["Body"] for m in got} >= {"one", "two"}


def test_a_lambda_subscriber_gets_sns_event(sns: Any, sqs: Any, lambda_client: Any) -> None:
    results = new_queue(sqs)
    fn = unique("snsfn")
    lambda_client.create_function(
        FunctionName=fn,
        Runtime="python3.11",
        Handler="app.handler",
        Role=execution_role(lambda_client.meta.endpoint_url, "sns-fwd", ["sqs:SendMessage"]),
        Code={"ZipFile": make_zip({"app.py": FORWARDER})},
        Environment={"Variables": {"RESULTS": results}},
        Timeout=30,
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=fn)
    function_arn = lambda_client.get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
    topic = sns.create_topic(Name=unique("fn"))["TopicArn"]
    sub = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn)["SubscriptionArn"]
    published = sns.publish(TopicArn=topic, Message="Hello world.", Subject="Test subject")
    (m,) = receive_until(sqs, results, 1)
    (record,) = json.loads(m["Body"])["Records"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == sub
    note = record["Sns"]
    assert note["MessageId"] == published["MessageId"]
    assert note["Message"] == "Hello world." and note["Subject"] == "Test subject"
    assert note["MessageAttributes"] == {}
    assert set(note) == {
        "Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
        "Signature", "SigningCertUrl", "UnsubscribeUrl", "MessageAttributes",
    }  # fmt: skip


def test_the_aws_cli_publishes(server: LamboxServer, sqs: Any) -> None:
    env = {**os.environ, **CLIENT_ENV}

    def aws(*args: str) -> Any:
        done = subprocess.run(
            ["/usr/bin/aws", "--endpoint-url", server.url, "--output", "json", "sns", *args],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    topic = aws("create-topic", "--name", unique("cli"))["TopicArn"]
    queue = new_queue(sqs)
    aws("subscribe", "--topic-arn", topic, "--protocol", "sqs", "--notification-endpoint",
        queue_arn(sqs, queue), "--attributes", "RawMessageDelivery=true")  # fmt: skip
    aws("publish", "--topic-arn", topic, "--message", "from the cli")
    (m,) = receive_until(sqs, queue, 1)
    assert m["Body"] == "from the cli"


class _Subscriber:
    """An HTTP endpoint on loopback that keeps what SNS POSTs to it."""

    def __init__(self, answers: tuple[int, ...] = ()) -> None:
        """``answers``: the statuses of the first POSTs (200 after them)."""
        import http.server
        import queue
        import threading

        self.received: queue.Queue[tuple[dict[str, str], str]] = queue.Queue()
        self.answers = list(answers)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                status = outer.answers.pop(0) if outer.answers else 200
                outer.received.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self) -> tuple[dict[str, str], str]:
        return self.received.get(timeout=30)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_http_subscribers_confirm_then_get_notifications(sns: Any) -> None:
    import httpx

    subscriber = _Subscriber()
    try:
        topic = sns.create_topic(Name=unique("http"))["TopicArn"]
        answer = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
        assert answer["SubscriptionArn"] == "pending confirmation"
        headers, body = subscriber.next()
        confirmation = json.loads(body)
        assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        assert headers["x-amz-sns-topic-arn"] == topic
        assert headers["user-agent"] == "Amazon Simple Notification Service Agent"
        assert confirmation["Type"] == "SubscriptionConfirmation"
        assert confirmation["TopicArn"] == topic
        # Nothing is delivered before the subscriber confirms.
        sns.publish(TopicArn=topic, Message="too early")
        confirmed = httpx.get(confirmation["SubscribeURL"], timeout=30)
        assert confirmed.status_code == 200
        assert "<SubscriptionArn>" in confirmed.text
        published = sns.publish(TopicArn=topic, Message="on time", Subject="s")
        headers, body = subscriber.next()
        note = json.loads(body)
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert note["Message"] == "on time"
        assert note["MessageId"] == published["MessageId"]
        assert headers["x-amz-sns-message-id"] == published["MessageId"]
        subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        attributes = sns.get_subscription_attributes(SubscriptionArn=subs[0]["SubscriptionArn"])
        assert attributes["Attributes"]["PendingConfirmation"] == "false"
        assert "Token" not in attributes["Attributes"]
    finally:
        subscriber.close()


def test_a_fifo_queue_subscriber_gets_the_group_and_order(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(
        Name=unique("fifo") + ".fifo",
        Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"},
    )["TopicArn"]
    queue = new_queue(sqs, fifo=True)
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn(sqs, queue),
        Attributes={"RawMessageDelivery": "true"},
    )
    for i in range(3):
        sns.publish(TopicArn=topic, Message=f"m{i}", MessageGroupId="g")
    got = receive_until(sqs, queue, 3, AttributeNames=["MessageGroupId"])
    assert [m["Body"] for m in got] == ["m0", "m1", "m2"]
    assert {m["Attributes"]["MessageGroupId"] for m in got} == {"g"}


def test_fifo_topics_deduplicate_for_five_minutes_and_keep_the_group(
    server: LamboxServer, sns: Any, sqs: Any
) -> None:
    import hashlib

    topic = sns.create_topic(Name=unique("ft") + ".fifo", Attributes={"FifoTopic": "true"})[
        "TopicArn"
    ]
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert (attributes["FifoTopic"], attributes["ContentBasedDeduplication"]) == ("true", "false")
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint="arn:aws:lambda:x")
    assert exc.value.response["Error"]["Message"] == (
        "Invalid parameter: Invalid protocol type: lambda"
    )
    fifo_queue, plain_queue = new_queue(sqs, fifo=True), new_queue(sqs)
    for url in (fifo_queue, plain_queue):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(sqs, url))
    first = sns.publish(
        TopicArn=topic, Message="one", MessageGroupId="g", MessageDeduplicationId="d"
    )
    again = sns.publish(
        TopicArn=topic, Message="two", MessageGroupId="g", MessageDeduplicationId="d"
    )
    assert again == {
        **again,
        "MessageId": first["MessageId"],
        "SequenceNumber": first["SequenceNumber"],
    }
    assert len(first["SequenceNumber"]) == 20
    (m,) = receive_until(sqs, fifo_queue, 1, AttributeNames=["All"])
    assert m["Attributes"]["MessageGroupId"] == "g"
    assert m["Attributes"]["MessageDeduplicationId"] == "d"
    body = json.loads(m["Body"])
    assert body["Message"] == "one"
    assert body["SequenceNumber"] == first["SequenceNumber"]
    assert "Signature" not in body
    (plain,) = receive_until(sqs, plain_queue, 1)
    assert json.loads(plain["Body"])["MessageId"] == first["MessageId"]
    # Content-based deduplication: the SHA-256 of the message is the deduplication id.
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="ContentBasedDeduplication", AttributeValue="true"
    )
    batch = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "a", "Message": "same", "MessageGroupId": "g"},
            {"Id": "b", "Message": "same", "MessageGroupId": "g"},
        ],
    )["Successful"]
    assert batch[0]["MessageId"] == batch[1]["MessageId"]
    assert int(batch[0]["SequenceNumber"]) > int(first["SequenceNumber"])
    sqs.delete_message(QueueUrl=fifo_queue, ReceiptHandle=m["ReceiptHandle"])
    got = receive_until(sqs, fifo_queue, 1, AttributeNames=["All"])
    assert [json.loads(g["Body"])["Message"] for g in got] == ["same"]
    assert got[0]["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"same").hexdigest()
    # The AWS CLI publishes to a FIFO topic with its group and deduplication ids.
    env = {**os.environ, **CLIENT_ENV}
    done = subprocess.run(
        ["/usr/bin/aws", "--endpoint-url", server.url, "--output", "json", "sns", "publish",
         "--topic-arn", topic, "--message", "cli", "--message-group-id", "g",
         "--message-deduplication-id", "d"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["MessageId"] == first["MessageId"]
