"""A restarted server restores what the data plane needs from the store in one pass:
versions, aliases, reserved and provisioned concurrency (only functions that have any)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import make_zip, start_server, stop_server

ROLE = "arn:aws:iam::000000000000:role/restore"
CODE = make_zip(
    {"app.py": "import time\ndef handler(event, context):\n"
               "    time.sleep(event.get('sleep', 0))\n    return 'ok'\n"}
)  # fmt: skip


NEW_CODE = make_zip({"app.py": "def handler(event, context):\n    return 'new'\n"})


def client_for(url: str) -> Any:
    return boto3.client(
        "lambda", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=60),
    )  # fmt: skip


def create(client: Any, name: str) -> None:
    client.create_function(
        FunctionName=name, Runtime="python3.11", Handler="app.handler", Role=ROLE,
        Code={"ZipFile": CODE},
    )  # fmt: skip
    client.get_waiter("function_active_v2").wait(FunctionName=name)


def invoke(client: Any, name: str, event: dict[str, Any] | None = None) -> str:
    out = client.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    return str(json.loads(out["Payload"].read()))


def test_a_restart_restores_versions_aliases_and_concurrency(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        client = client_for(srv.url)
        for i in range(20):
            create(client, f"plain-{i}")
        create(client, "limited")
        version = client.publish_version(FunctionName="limited")["Version"]
        client.create_alias(FunctionName="limited", Name="live", FunctionVersion=version)
        client.put_function_concurrency(FunctionName="limited", ReservedConcurrentExecutions=1)
        create(client, "versioned")
        client.publish_version(FunctionName="versioned")
        client.create_alias(FunctionName="versioned", Name="live", FunctionVersion="1")
        create(client, "ready")
        ready_version = client.publish_version(FunctionName="ready")["Version"]
        client.put_provisioned_concurrency_config(
            FunctionName="ready", Qualifier=ready_version, ProvisionedConcurrentExecutions=1
        )
    finally:
        srv.proc.kill()
        srv.proc.wait()
    srv = start_server(data)
    try:
        client = client_for(srv.url)
        assert invoke(client, "plain-13") == "ok"
        assert invoke(client, "limited:live") == "ok"
        assert invoke(client, "limited") == "ok"  # warm: the slow call below starts at once
        # Reserved concurrency 1 still holds: a second call while one runs is throttled.
        slow = threading.Thread(target=invoke, args=(client, "limited", {"sleep": 3}))
        slow.start()
        time.sleep(1.0)
        with pytest.raises(ClientError) as exc:
            invoke(client, "limited")
        slow.join()
        assert exc.value.response["Error"]["Code"] == "TooManyRequestsException"
        deadline = time.monotonic() + 30
        status = ""
        while time.monotonic() < deadline and status != "READY":
            status = client.get_provisioned_concurrency_config(
                FunctionName="ready", Qualifier=ready_version
            )["Status"]
            time.sleep(0.2)
        assert status == "READY"
        # Updated before anything invoked it since the restart: the new $LATEST runs, and
        # the version and alias stored before the restart still answer.
        client.update_function_code(FunctionName="versioned", ZipFile=NEW_CODE)
        client.get_waiter("function_updated_v2").wait(FunctionName="versioned")
        assert invoke(client, "versioned") == "new"
        assert invoke(client, "versioned:1") == "ok"
        assert invoke(client, "versioned:live") == "ok"
        with pytest.raises(ClientError) as missing:
            invoke(client, "versioned:7")
        assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
        names = [f["FunctionName"] for f in client.list_functions(MaxItems=5)["Functions"]]
        assert names == ["limited", "plain-0", "plain-1", "plain-10", "plain-11"]
    finally:
        stop_server(srv)
