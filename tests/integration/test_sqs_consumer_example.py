"""``examples/sqs-consumer`` as ``make serve`` deploys it: orders sent with the AWS CLI are
consumed in batches; the malformed one is reported as a partial batch failure, retried
alone and ends in the dead-letter queue, while the good ones are done exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conftest import CLIENT_ENV, ROOT, LamboxServer, free_port, runtime_fallback
from tests.integration.test_sqs import sqs_client


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    data = tmp_path_factory.mktemp("consumer") / "data"
    data.mkdir()
    port = free_port()
    log_path = data.parent / "server.log"
    env = {**os.environ, **runtime_fallback()}
    argv = [sys.executable, "-m", "lambox.cli.main", "serve", "--port", str(port),
            "--data-dir", str(data), "--examples", str(ROOT / "examples")]  # fmt: skip
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    server = LamboxServer(f"http://127.0.0.1:{port}", data, proc, log_path)
    deadline = time.monotonic() + 90
    while "function-name order-consumer" not in server.output():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(server.output())
        time.sleep(0.2)
    try:
        yield server
    finally:
        proc.terminate()
        proc.wait(15)


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
