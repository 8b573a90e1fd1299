"""Acknowledged messages survive a kill -9 of the server: queued and in-flight SQS messages
(deleted ones never come back), event source mappings, and SNS messages on their way to a
function."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.conftest import ROLE, make_zip, start_server, stop_server
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
            Role=ROLE,
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
