"""Resource policies and function URL configurations are durable: they survive a kill -9 of
the server, and they go with the function, version or alias they belong to."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, make_zip, start_server, stop_server, unique

HANDLER = "def handler(event, context):\n    return event\n"


def _lambda(url: str) -> Any:
    import boto3

    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def _create(client: Any, name: str) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": HANDLER})},
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)


def _no_policy(client: Any, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        client.get_policy(**kwargs)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_policies_and_urls_survive_kill_9_and_go_with_their_function(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"LAMBOX_SANDBOX": "process"}
    server = start_server(data, env)
    fn = unique("policy")
    try:
        client = _lambda(server.url)
        _create(client, fn)
        version = client.publish_version(FunctionName=fn)["Version"]
        client.create_alias(FunctionName=fn, Name="live", FunctionVersion=version)
        for qualifier in (None, version, "live"):
            extra = {"Qualifier": qualifier} if qualifier else {}
            client.add_permission(
                FunctionName=fn,
                StatementId="s3",
                Action="lambda:InvokeFunction",
                Principal="s3.amazonaws.com",
                SourceArn="arn:aws:s3:::bucket",
                **extra,
            )
        before = {
            q: client.get_policy(FunctionName=fn, Qualifier=q) for q in ("$LATEST", version, "live")
        }
        url = client.create_function_url_config(
            FunctionName=fn, Qualifier="live", AuthType="AWS_IAM", InvokeMode="RESPONSE_STREAM"
        )
    finally:
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
    server = start_server(data, env)
    try:
        client = _lambda(server.url)
        for qualifier, answer in before.items():
            after = client.get_policy(FunctionName=fn, Qualifier=qualifier)
            assert after["Policy"] == answer["Policy"]
            assert after["RevisionId"] == answer["RevisionId"]
        kept = client.get_function_url_config(FunctionName=fn, Qualifier="live")
        # The same URL id, on the port the server listens on now.
        assert kept["FunctionUrl"].split(".")[0] == url["FunctionUrl"].split(".")[0]
        assert kept["FunctionUrl"].endswith(f":{server.url.rsplit(':', 1)[1]}/")
        assert (kept["AuthType"], kept["InvokeMode"]) == ("AWS_IAM", "RESPONSE_STREAM")
        resource = json.loads(before["live"]["Policy"])["Statement"][0]["Resource"]
        assert resource.endswith(f":function:{fn}:live")
        client.delete_alias(FunctionName=fn, Name="live")
        client.create_alias(FunctionName=fn, Name="live", FunctionVersion=version)
        _no_policy(client, FunctionName=fn, Qualifier="live")
        with pytest.raises(ClientError):  # the URL went with the alias
            client.get_function_url_config(FunctionName=fn, Qualifier="live")
        client.get_policy(FunctionName=fn, Qualifier=version)
        client.delete_function(FunctionName=fn)
        _create(client, fn)
        _no_policy(client, FunctionName=fn)
    finally:
        stop_server(server)
