"""CreateFunction and UpdateFunctionCode with ``Publish``: a version is published in the same
call and the answer names it, as AWS answers (recorded: publish_version_on_create,
publish_with_update); with boto3 and with the AWS CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import ROLE, make_zip, unique
from tests.integration.test_aws_cli import aws, create_function


def code(tag: str) -> bytes:
    return make_zip({"app.py": f"def handler(event, context):\n    return {tag!r}\n"})


def run(client: Any, name: str, qualifier: str) -> object:
    out = client.invoke(FunctionName=name, Qualifier=qualifier, Payload=b"{}")
    return json.loads(out["Payload"].read())


def test_create_with_publish_answers_version_one(lambda_client: Any) -> None:
    name = unique("pub")
    created = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": code("one")},
        Publish=True,
    )
    assert created["Version"] == "1"
    assert created["FunctionArn"].endswith(f":function:{name}")
    assert created["State"] == "Pending"
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]
    one = lambda_client.get_function(FunctionName=name, Qualifier="1")["Configuration"]
    assert one["FunctionArn"].endswith(f":function:{name}:1")
    assert one["CodeSha256"] == created["CodeSha256"]
    assert run(lambda_client, name, "1") == "one"


def test_create_without_publish_answers_latest(lambda_client: Any) -> None:
    name = unique("pub")
    created = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": code("one")},
        Publish=False,
    )
    assert created["Version"] == "$LATEST"
    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST"]


def test_update_code_with_publish_answers_the_new_version(lambda_client: Any) -> None:
    name = unique("pub")
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": code("one")},
        Publish=True,
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    updated = lambda_client.update_function_code(
        FunctionName=name, ZipFile=code("two"), Publish=True
    )
    assert updated["Version"] == "2"
    assert updated["FunctionArn"].endswith(f":function:{name}:2")
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert run(lambda_client, name, "1") == "one"
    assert run(lambda_client, name, "2") == "two"
    assert run(lambda_client, name, "$LATEST") == "two"
    # The same code again publishes nothing new: the newest version is answered.
    again = lambda_client.update_function_code(FunctionName=name, ZipFile=code("two"), Publish=True)
    assert again["Version"] == "2"
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]


def test_the_cli_publish_flags(server: Any, tmp_path: Path, lambda_client: Any) -> None:
    name = unique("pubcli")
    created = json.loads(
        create_function(
            server, tmp_path, name, "def handler(e, c):\n    return 1\n", "--publish"
        ).stdout
    )
    assert created["Version"] == "1"
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    zip_path = tmp_path / "two.zip"
    zip_path.write_bytes(code("two"))
    updated = json.loads(
        aws(
            server,
            "update-function-code",
            "--function-name",
            name,
            "--zip-file",
            f"fileb://{zip_path}",
            "--publish",
        ).stdout
    )
    assert updated["Version"] == "2"
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert run(lambda_client, name, "2") == "two"
