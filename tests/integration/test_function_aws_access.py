"""A function calls AWS services with no configuration, as on AWS: boto3 is in the Python
runtimes (after the function's own code, so a bundled boto3 wins), and every function's
environment holds the region, credentials and ``AWS_ENDPOINT_URL`` pointing at lambox."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import execution_role, make_zip, unique

CALLER = """
import json, os, sys
import boto3

def handler(event, context):
    out = boto3.client("lambda").invoke(
        FunctionName=event["target"], Payload=json.dumps(event["payload"]).encode()
    )
    return {
        "status": out["StatusCode"],
        "result": json.loads(out["Payload"].read()),
        "boto3": boto3.__file__,
        "task": os.environ["LAMBDA_TASK_ROOT"],
    }

def env(event, context):
    names = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
             "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    return {name: os.environ.get(name) for name in names}

def path(event, context):
    found = {}
    for name in ("starlette", "uvicorn", "httpx", "botocore", "urllib3"):
        try:
            found[name] = __import__(name).__file__
        except ImportError as exc:
            found[name] = type(exc).__name__
    version = "python%d.%d" % sys.version_info[:2]
    return {"sys_path": sys.path, "found": found, "version": version,
            "task": os.environ["LAMBDA_TASK_ROOT"]}
"""
ECHO = "def handler(event, context):\n    return {'echoed': event}\n"
FAKE_BOTO3 = "BUNDLED = True\n__version__ = '0.0.0-bundled'\n"
BUNDLED = """
import os, time
import boto3

def handler(event, context):
    time.sleep(event.get("hold", 0))
    return {"file": boto3.__file__, "bundled": getattr(boto3, "BUNDLED", False),
            "version": boto3.__version__}
"""


@pytest.fixture(scope="module")
def deploy(lambda_client: Any) -> Iterator[Callable[..., str]]:
    made: list[str] = []

    def create(runtime: str, handler: str, files: dict[str, str], **extra: Any) -> str:
        name = unique("aws-access")
        modes = {"bootstrap": 0o755} if "bootstrap" in files else None
        lambda_client.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=execution_role(
                lambda_client.meta.endpoint_url, "aws-access", ["lambda:InvokeFunction"]
            ),
            Handler=handler,
            Code={"ZipFile": make_zip(files, modes)},
            Timeout=60,
            **extra,
        )
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
        made.append(name)
        return name

    yield create
    for name in made:
        lambda_client.delete_function(FunctionName=name)


def call(client: Any, name: str, event: object = None) -> Any:
    out = client.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    return body


def test_a_function_invokes_another_with_boto3_and_no_configuration(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    callee = deploy("python3.11", "app.handler", {"app.py": ECHO})
    caller = deploy("python3.11", "app.handler", {"app.py": CALLER})
    out = call(lambda_client, caller, {"target": callee, "payload": {"n": 7}})
    assert out["status"] == 200
    assert out["result"] == {"echoed": {"n": 7}}
    assert not out["boto3"].startswith(out["task"])  # the runtime's boto3


def test_every_function_environment_reaches_lambox_as_the_account(
    lambda_client: Any, deploy: Callable[..., str], server: Any
) -> None:
    env = call(lambda_client, deploy("python3.11", "app.env", {"app.py": CALLER}))
    assert env["AWS_ENDPOINT_URL"] == server.url
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert env["AWS_SECRET_ACCESS_KEY"] and env["AWS_SESSION_TOKEN"]


def test_the_runtime_provides_boto3_but_not_lambox_dependencies(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    seen = call(lambda_client, deploy("python3.11", "app.path", {"app.py": CALLER}))
    path, found = seen["sys_path"], seen["found"]
    assert found["starlette"] == found["uvicorn"] == found["httpx"] == "ModuleNotFoundError"
    layers = [f"/opt/python/lib/{seen['version']}/site-packages", "/opt/python"]
    assert path[:3] == [seen["task"], *layers]
    libs = found["botocore"].rsplit("/botocore/", 1)[0]
    assert libs == found["urllib3"].rsplit("/urllib3/", 1)[0]
    assert path.index(libs) > 2  # after the function's code and layers
    assert not any("site-packages" in p for p in path if p != layers[0])


def test_a_bundled_boto3_wins_over_the_runtimes(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    files = {"app.py": BUNDLED, "boto3/__init__.py": FAKE_BOTO3}
    name = deploy("python3.11", "app.handler", files)
    first = call(lambda_client, name)
    assert first["bundled"] is True
    assert first["version"] == "0.0.0-bundled"
    # Later sandboxes fork from a zygote that learned the first one's imports: still its own.
    with ThreadPoolExecutor(3) as pool:
        later = list(pool.map(lambda _: call(lambda_client, name, {"hold": 0.5}), range(3)))
    assert all(out == first for out in later)


def test_custom_runtime_functions_reach_lambox_with_boto3(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    pytest.importorskip("awslambdaric", reason="awslambdaric (dev extra) is not installed")
    callee = deploy("python3.11", "app.handler", {"app.py": ECHO})
    bootstrap = "#!/bin/sh\nexec python3 -m awslambdaric app.handler\n"
    caller = deploy("provided.al2023", "app.handler", {"bootstrap": bootstrap, "app.py": CALLER})
    out = call(lambda_client, caller, {"target": callee, "payload": ["x"]})
    assert out["result"] == {"echoed": ["x"]}


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")
def test_node_functions_get_the_same_aws_variables(
    lambda_client: Any, deploy: Callable[..., str], server: Any
) -> None:
    code = (
        "exports.handler = async () => ({endpoint: process.env.AWS_ENDPOINT_URL,"
        " region: process.env.AWS_REGION, key: process.env.AWS_ACCESS_KEY_ID,"
        " token: process.env.AWS_SESSION_TOKEN});\n"
    )
    out = call(lambda_client, deploy("nodejs20.x", "index.handler", {"index.js": code}))
    assert out["endpoint"] == server.url
    assert out["region"] == "us-east-1"
    assert out["key"].startswith("ASIA") and out["token"]
