"""Acknowledged messages survive a kill -9 of the server: queued and in-flight SQS messages
(deleted ones never come back), event source mappings, and SNS messages on their way to a
function."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from tests.conftest import execution_role, make_zip, start_server, stop_server
from tests.integration.test_sqs import receive_until, sqs_client


def test_messages_queued_and_in_flight_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, {"LAMBOX_SANDBOX": "process"})
    try:
        sqs = sqs_client(server)
        url = sqs.create_queue(QueueName="crash", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
        sent = set()
        for i in range(20):
            answer = sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": f"m{j}", "MessageBody": f"{i}-{j}"} for j in range(10)],
            )
            sent |= {e["MessageId"] for e in answer["Successful"]}
        in_flight = receive_until(sqs, url, 20)[:20]
        deleted = {m["MessageId"] for m in in_flight[:10]}
        for m in in_flight[:10]:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    finally:
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
    assert len(sent) == 200
    server = start_server(data, {"LAMBOX_SANDBOX": "process"})
    try:
        sqs = sqs_client(server)
        url = sqs.get_queue_url(QueueName="crash")["QueueUrl"]
        got: dict[str, int] = {}
        while len(got) < 190:
            batch = receive_until(sqs, url, 1, VisibilityTimeout=300)
            assert batch, f"only {len(got)} of 190 messages came back"
            for m in batch:
                got[m["MessageId"]] = got.get(m["MessageId"], 0) + 1
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        assert set(got) == sent - deleted
        assert all(n == 1 for n in got.values())
        assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3)
    finally:
        stop_server(server)


def test_a_mapping_survives_kill_9_and_consumes_after_restart(tmp_path: Path) -> None:
    import boto3

    from tests.integration.test_event_sources import consumer, events_in, wait_state

    data = tmp_path / "data"
    server = start_server(data, {"LAMBOX_SANDBOX": "process"})

    def lambda_client(url: str) -> Any:
        return boto3.client(
            "lambda",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    try:
        sqs = sqs_client(server)
        client = lambda_client(server.url)
        results = sqs.create_queue(QueueName="results")["QueueUrl"]
        source = sqs.create_queue(QueueName="source")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        fn = consumer(client, results)
        uuid = client.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn)["UUID"]
        wait_state(client, uuid, "Enabled")
    finally:
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
    server = start_server(data, {"LAMBOX_SANDBOX": "process"})
    try:
        sqs = sqs_client(server)
        client = lambda_client(server.url)
        assert wait_state(client, uuid, "Enabled")["FunctionArn"].endswith(f":function:{fn}")
        url = sqs.get_queue_url(QueueName="source")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody='{"after": "restart"}')
        records = events_in(sqs, sqs.get_queue_url(QueueName="results")["QueueUrl"], 1)
        assert [r["body"] for r in records] == ['{"after": "restart"}']
    finally:
        stop_server(server)


def test_published_messages_reach_their_function_across_kill_9(tmp_path: Path) -> None:
    import boto3

    from tests.integration.test_event_sources import events_in
    from tests.integration.test_sns import FORWARDER

    data = tmp_path / "data"
    server = start_server(data, {"LAMBOX_SANDBOX": "process"})
    try:
        sqs = sqs_client(server)
        client = boto3.client(
            "lambda",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        sns = boto3.client(
            "sns",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        results = sqs.create_queue(QueueName="results")["QueueUrl"]
        client.create_function(
            FunctionName="forward",
            Runtime="python3.11",
            Handler="app.handler",
            Role=execution_role(server.url, "forwarder", ["sqs:SendMessage"]),
            Code={"ZipFile": make_zip({"app.py": FORWARDER})},
            Environment={"Variables": {"RESULTS": results}},
        )
        client.get_waiter("function_active_v2").wait(FunctionName="forward")
        arn = client.get_function(FunctionName="forward")["Configuration"]["FunctionArn"]
        topic = sns.create_topic(Name="crash")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
        published = {sns.publish(TopicArn=topic, Message=f"m{i}")["MessageId"] for i in range(20)}
    finally:
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
    server = start_server(data, {"LAMBOX_SANDBOX": "process"})
    try:
        sqs = sqs_client(server)
        url = sqs.get_queue_url(QueueName="results")["QueueUrl"]
        seen: set[str] = set()
        for _ in range(10):
            seen |= {r["Sns"]["MessageId"] for r in events_in(sqs, url, 20 - len(seen))}
            if seen >= published:
                break
        assert seen == published
    finally:
        stop_server(server)


def _wait(check: Any, what: str) -> Any:
    """Poll ``check`` (a few times a second, 60 s at most) until it answers truthily."""
    import time

    for _ in range(600):
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"never: {what}")


def test_a_message_move_task_resumes_after_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, {"LAMBOX_SANDBOX": "process"})
    try:
        sqs = sqs_client(server)

        def arn(url: str) -> str:
            got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            return str(got["Attributes"]["QueueArn"])

        dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
        source = sqs.create_queue(
            QueueName="source",
            Attributes={
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn(dlq), "maxReceiveCount": 1})
            },
        )["QueueUrl"]
        back = sqs.create_queue(QueueName="back")["QueueUrl"]
        sent = {sqs.send_message(QueueUrl=dlq, MessageBody=f"m{i}")["MessageId"] for i in range(6)}
        sqs.start_message_move_task(
            SourceArn=arn(dlq), DestinationArn=arn(back), MaxNumberOfMessagesPerSecond=1
        )

        def moved() -> int:
            tasks = sqs.list_message_move_tasks(SourceArn=arn(dlq))["Results"]
            return int(tasks[0]["ApproximateNumberOfMessagesMoved"])

        _wait(moved, "a first message moved")
    finally:
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
    assert source
    server = start_server(data, {"LAMBOX_SANDBOX": "process"})
    try:
        sqs = sqs_client(server)
        dlq_arn = sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName="dead")["QueueUrl"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]

        def finished() -> dict[str, Any] | None:
            (task,) = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
            return task if task["Status"] == "COMPLETED" else None

        task = _wait(finished, "the task completed after the restart")
        assert task["ApproximateNumberOfMessagesMoved"] == 6
        assert task["ApproximateNumberOfMessagesToMove"] == 6
        back = sqs.get_queue_url(QueueName="back")["QueueUrl"]
        got = receive_until(sqs, back, 6, VisibilityTimeout=300)
        assert sorted(m["MessageId"] for m in got) == sorted(sent)
        dead = sqs.get_queue_url(QueueName="dead")["QueueUrl"]
        assert "Messages" not in sqs.receive_message(QueueUrl=dead, WaitTimeSeconds=1)
    finally:
        stop_server(server)


def test_an_sns_http_delivery_being_retried_survives_kill_9(tmp_path: Path) -> None:
    import boto3
    import httpx

    from tests.integration.test_sns import _Subscriber

    env = {"LAMBOX_SANDBOX": "process", "LAMBOX_SNS_HTTP_RETRY_DELAY": "1"}
    data = tmp_path / "data"
    subscriber = _Subscriber(answers=(200, 500, 500))

    def sns_client(url: str) -> Any:
        return boto3.client(
            "sns",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    server = start_server(data, env)
    try:
        sns = sns_client(server.url)
        topic = sns.create_topic(Name="hooks")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
        _, body = subscriber.next()
        assert httpx.get(json.loads(body)["SubscribeURL"], timeout=30).status_code == 200
        published = sns.publish(TopicArn=topic, Message="keep trying")["MessageId"]
        headers, _ = subscriber.next()  # the first try, answered 500
        assert headers["x-amz-sns-message-id"] == published
    finally:
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
    server = start_server(data, env)
    try:
        tries = []
        while True:
            headers, body = subscriber.next()  # raises when no retry comes
            tries.append(headers["x-amz-sns-message-id"])
            if not subscriber.answers:  # this one was answered 200
                break
        assert tries and set(tries) == {published}
        assert json.loads(body)["Message"] == "keep trying"
    finally:
        stop_server(server)
        subscriber.close()
