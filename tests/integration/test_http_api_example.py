"""``examples/http-api`` as ``make serve`` deploys it: a function URL that curl reaches by
its ``*.localhost`` name, with the public-access permission AWS's console adds, and an HTTP
API in front of the same function."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT, LamboxServer, serve_examples, stop_server

URL_LINE = re.compile(r"example function URL: curl (http://\S+/)items")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LamboxServer, str]]:
    root = tmp_path_factory.mktemp("http-api")
    examples = root / "examples"
    shutil.copytree(ROOT / "examples" / "http-api", examples / "http-api")
    # The HTTP API is logged after the URL: both are there once it is.
    server = serve_examples(
        root / "data",
        lambda log: "example HTTP API" in log and URL_LINE.search(log) is not None,
        examples,
        wait=60,
    )
    found = URL_LINE.search(server.output())
    assert found is not None
    yield server, found.group(1)
    stop_server(server)


def curl(*args: str) -> bytes:
    return subprocess.run(["curl", "-s", *args], capture_output=True, timeout=60, check=True).stdout


def test_curl_lists_reads_and_adds_items(served: tuple[LamboxServer, str]) -> None:
    _, url = served
    assert json.loads(curl(f"{url}items"))[0] == {"id": "1", "name": "apple"}
    added = json.loads(
        curl(
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
            '{"name": "pear"}',
            f"{url}items",
        )
    )
    assert added["name"] == "pear"
    assert json.loads(curl(f"{url}items/{added['id']}")) == added
    assert json.loads(curl(f"{url}")) == {"hello": "from lambox", "try": "/items"}


def test_the_example_http_api_serves_the_same_function(served: tuple[LamboxServer, str]) -> None:
    server, _ = served
    found = re.search(r"example HTTP API: curl (http://\S+)/items", server.output())
    assert found is not None, server.output()
    assert json.loads(curl(f"{found.group(1)}/items/1")) == {"id": "1", "name": "apple"}


def test_the_example_url_has_its_public_access_permission(served: tuple[LamboxServer, str]) -> None:
    import boto3

    server, _ = served
    client = boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    statement = json.loads(client.get_policy(FunctionName="http-api")["Policy"])["Statement"][0]
    assert statement["Action"] == "lambda:InvokeFunctionUrl"
    assert statement["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
