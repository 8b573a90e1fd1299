"""An init past the init limit (``LAMBOX_INIT_TIMEOUT``, Lambda's 10 s; 1 s here) is logged
as an INIT_REPORT timeout and retried in the first invocation within the function's
timeout, as on Lambda."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import WaiterError

from tests.conftest import (
    ROLE,
    SNAPSTART_RUNTIME,
    LamboxServer,
    make_zip,
    start_server,
    stop_server,
    unique,
)

APP = """
import os, time
print("init of pid", os.getpid(), flush=True)
time.sleep(float(os.environ["INIT_SECONDS"]))
INITIALIZED = True

def handler(event, context):
    return {"initialized": INITIALIZED}
"""


@pytest.fixture(scope="module")
def short_init(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    data = tmp_path_factory.mktemp("init-timeout") / "data"
    srv = start_server(Path(data), {"LAMBOX_INIT_TIMEOUT": "1"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def client(short_init: LamboxServer) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=short_init.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=60),
    )


def deploy(client: Any, init_seconds: float, timeout: int) -> str:
    name = unique("slow-init")
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": APP})},
        Timeout=timeout,
        Environment={"Variables": {"INIT_SECONDS": str(init_seconds)}},
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def invoke(client: Any, name: str) -> tuple[str | None, Any]:
    out = client.invoke(FunctionName=name, Payload=b"{}")
    return out.get("FunctionError"), json.loads(out["Payload"].read())


def function_log(server: LamboxServer, name: str) -> str:
    return httpx.get(f"{server.url}/lambox/v1/logs/{name}").text


def test_an_init_past_the_limit_is_retried_in_the_first_invocation(
    client: Any, short_init: LamboxServer
) -> None:
    name = deploy(client, init_seconds=2, timeout=20)
    assert invoke(client, name) == (None, {"initialized": True})
    assert invoke(client, name) == (None, {"initialized": True})  # warm: no init again
    log = function_log(short_init, name)
    assert (
        len(
            re.findall(r"INIT_REPORT Init Duration: [\d.]+ ms\tPhase: init\tStatus: timeout\n", log)
        )
        == 1
    )
    # The retried init ran inside the first invocation: its output is between START and END,
    # and its time is Duration, not Init Duration.
    start = log.index("START RequestId:")
    assert log.index("init of pid", start) < log.index("END RequestId:")
    # What the timed-out init wrote comes before its INIT_REPORT line.
    assert log.index("init of pid") < log.index("INIT_REPORT") < start
    assert "Init Duration" not in log.split("REPORT RequestId:")[1].splitlines()[0]


def test_an_init_that_times_out_again_ends_as_a_task_timeout(
    client: Any, short_init: LamboxServer
) -> None:
    name = deploy(client, init_seconds=60, timeout=2)
    error, body = invoke(client, name)
    assert error == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 2.00 seconds")
    log = function_log(short_init, name)
    assert "Phase: init\tStatus: timeout" in log
    assert "Task timed out after 2.00 seconds" in log


def test_a_snapstart_init_that_times_out_fails_its_version(client: Any) -> None:
    name = unique("slow-snap")
    client.create_function(
        FunctionName=name,
        Runtime=SNAPSTART_RUNTIME,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": APP})},
        Timeout=1,
        Environment={"Variables": {"INIT_SECONDS": "60"}},
        SnapStart={"ApplyOn": "PublishedVersions"},
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    version = str(client.publish_version(FunctionName=name)["Version"])
    with pytest.raises(WaiterError):
        client.get_waiter("published_version_active").wait(
            FunctionName=name, Qualifier=version, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
        )
    config = client.get_function_configuration(FunctionName=name, Qualifier=version)
    assert (config["State"], config["StateReasonCode"]) == ("Failed", "FunctionError.InitTimeout")
    assert "timed out" in config["StateReason"]
