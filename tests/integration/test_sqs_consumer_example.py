"""``examples/sqs-consumer`` as ``make serve`` deploys it: orders sent with the AWS CLI are
consumed in batches; the malformed one is reported as a partial batch failure, retried
alone and ends in the dead-letter queue, while the good ones are done exactly once."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import CLIENT_ENV, LamboxServer, serve_examples, stop_server
from tests.integration.test_sqs import sqs_client


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    data = tmp_path_factory.mktemp("consumer") / "data"
    server = serve_examples(data, lambda log: "function-name order-consumer" in log)
    yield server
    stop_server(server)


def aws_sqs(server: LamboxServer, *args: str) -> dict[str, object]:
    done = subprocess.run(
        ["/usr/bin/aws", "--endpoint-url", server.url, "--output", "json", "sqs", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **CLIENT_ENV},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_orders_are_consumed_and_the_malformed_one_ends_in_the_dlq(served: LamboxServer) -> None:
    base = f"{served.url}/000000000000"
    orders = [{"id": f"A{i}", "quantity": i, "price": 2.5} for i in range(1, 4)]
    entries = [{"Id": o["id"], "MessageBody": json.dumps(o)} for o in orders]
    entries.append({"Id": "broken", "MessageBody": "not an order"})
    sent = aws_sqs(served, "send-message-batch", "--queue-url", f"{base}/lambox-orders",
                   "--entries", json.dumps(entries))  # fmt: skip
    broken_id = next(e["MessageId"] for e in sent["Successful"] if e["Id"] == "broken")  # type: ignore[attr-defined]
    sqs = sqs_client(served)
    done: list[dict[str, object]] = []
    for _ in range(30):
        got = sqs.receive_message(
            QueueUrl=f"{base}/lambox-orders-done", MaxNumberOfMessages=10, WaitTimeSeconds=2
        )
        for m in got.get("Messages", []):
            done.append(json.loads(m["Body"]))
            sqs.delete_message(
                QueueUrl=f"{base}/lambox-orders-done", ReceiptHandle=m["ReceiptHandle"]
            )
        if len(done) >= 3:
            break
    assert sorted(done, key=lambda d: str(d["order"])) == [
        {"order": o["id"], "total": o["quantity"] * 2.5} for o in orders
    ]
    dead: list[dict[str, object]] = []
    for _ in range(30):
        got = sqs.receive_message(
            QueueUrl=f"{base}/lambox-orders-dlq", WaitTimeSeconds=2, AttributeNames=["All"]
        )
        dead += got.get("Messages", [])
        if dead:
            break
    assert [m["MessageId"] for m in dead] == [broken_id]
    assert dead[0]["Body"] == "not an order"
    # The good orders were done once: nothing more arrives.
    again = sqs.receive_message(QueueUrl=f"{base}/lambox-orders-done", WaitTimeSeconds=2)
    assert "Messages" not in again
