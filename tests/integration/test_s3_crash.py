"""An object answered 200, and the notification it causes, survive a kill -9 of the server."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROLE, make_zip, start_server, stop_server, unique
from tests.integration.test_s3 import s3_client

RECORDER = 'import json\ndef handler(event, context):\n    print("EVENT " + json.dumps(event))\n'


def _lambda(url: str) -> Any:
    import boto3

    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def test_objects_and_their_events_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"LAMBOX_SANDBOX": "process"}
    server = start_server(data, env)
    fn = unique("crash")
    try:
        client = _lambda(server.url)
        client.create_function(
            FunctionName=fn,
            Runtime="python3.11",
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": make_zip({"app.py": RECORDER})},
        )
        client.get_waiter("function_active_v2").wait(FunctionName=fn)
        arn = client.get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
        s3 = s3_client(server)
        s3.create_bucket(Bucket="crash-bucket")
        rule = {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
        s3.put_bucket_notification_configuration(
            Bucket="crash-bucket",
            NotificationConfiguration={"LambdaFunctionConfigurations": [rule]},
        )
        keys = [f"k{i}" for i in range(50)]
        for key in keys:
            s3.put_object(Bucket="crash-bucket", Key=key, Body=key.encode() * 100)
    finally:
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
    server = start_server(data, env)
    try:
        s3 = s3_client(server)
        for key in keys:
            assert (
                s3.get_object(Bucket="crash-bucket", Key=key)["Body"].read() == key.encode() * 100
            )
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not set(keys) <= seen:
            log = httpx.get(f"{server.url}/lambox/v1/logs/{fn}").text
            for line in log.splitlines():
                if "EVENT " in line:
                    seen.add(
                        json.loads(line.split("EVENT ", 1)[1])["Records"][0]["s3"]["object"]["key"]
                    )
            time.sleep(0.2)
        assert set(keys) <= seen
    finally:
        stop_server(server)


def test_an_upload_cut_by_kill_9_is_never_visible(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, {"LAMBOX_SANDBOX": "process"})
    try:
        s3 = s3_client(server)
        s3.create_bucket(Bucket="cut")
        s3.put_object(Bucket="cut", Key="k", Body=b"old")
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"PUT /cut/k HTTP/1.1\r\nHost: s3.localhost\r\nContent-Length: 10485760\r\n\r\n"
            )
            sock.sendall(b"n" * (4 << 20))
            deadline = time.monotonic() + 10
            incoming = data / "s3" / "incoming"
            while time.monotonic() < deadline and not any(incoming.iterdir()):
                time.sleep(0.05)
            assert any(incoming.iterdir()), "the upload never reached the disk"
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
    server = start_server(data, {"LAMBOX_SANDBOX": "process"})
    try:
        assert s3_client(server).get_object(Bucket="cut", Key="k")["Body"].read() == b"old"
        assert not any((data / "s3" / "incoming").iterdir())
    finally:
        stop_server(server)


pytestmark = pytest.mark.slow
