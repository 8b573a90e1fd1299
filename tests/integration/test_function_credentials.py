"""Each function acts as its execution role: its sandbox holds temporary credentials of a
session of that role (never the root key), and boto3 inside it signs as
``assumed-role/<role>/<function>``. A missing role is created in the open posture and
refused in the strict one, as on AWS."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import LamboxServer, make_zip, unique
from tests.integration.test_auth import client, error_of, root_keys, strict  # noqa: F401

WHOAMI = """
import os
import boto3

def handler(event, context):
    return {
        "arn": boto3.client("sts").get_caller_identity()["Arn"],
        "key": os.environ["AWS_ACCESS_KEY_ID"],
        "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
    }
"""
LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def create(lam: Any, role: str) -> str:
    name = unique("whoami")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": make_zip({"index.py": WHOAMI})},
        Timeout=60,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def invoke(lam: Any, name: str) -> dict[str, Any]:
    out = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    return dict(body)


def test_open_posture_creates_a_missing_role_and_the_function_acts_as_it(
    server: LamboxServer,
) -> None:
    lam = client("lambda", server.url, "test", "test", read_timeout=120)
    iam = client("iam", server.url, "test", "test")
    role_name = unique("made-for-me")
    role = f"arn:aws:iam::000000000000:role/{role_name}"
    name = create(lam, role)
    made = iam.get_role(RoleName=role_name)["Role"]
    assert made["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }
    attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AWSLambdaBasicExecutionRole"]
    assert f"execution role {role} did not exist" in server.output()
    body = invoke(lam, name)
    assert body["arn"] == f"arn:aws:sts::000000000000:assumed-role/{role_name}/{name}"
    assert body["key"].startswith("ASIA") and body["secret"] != "test"


def test_strict_posture_role_must_exist_and_trust_lambda(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    lam = client("lambda", strict.url, *root_keys, read_timeout=120)
    iam = client("iam", strict.url, *root_keys)
    missing = f"arn:aws:iam::000000000000:role/{unique('absent')}"
    err = error_of(
        lam.create_function,
        FunctionName=unique("refused"),
        Runtime="python3.11",
        Role=missing,
        Handler="index.handler",
        Code={"ZipFile": make_zip({"index.py": WHOAMI})},
    )
    assert err["Error"]["Code"] == "InvalidParameterValueException"
    assert err["Error"]["Message"] == (
        "The role defined for the function cannot be assumed by Lambda."
    )
    role_name = unique("exec")
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]
    name = create(lam, role["Arn"])
    body = invoke(lam, name)
    assert body["arn"] == f"arn:aws:sts::000000000000:assumed-role/{role_name}/{name}"
    assert body["key"] != root_keys[0] and body["secret"] != root_keys[1]
    err = error_of(lam.update_function_configuration, FunctionName=name, Role=missing)
    assert err["Error"]["Code"] == "InvalidParameterValueException"
    assert lam.get_function_configuration(FunctionName=name)["Role"] == role["Arn"]


def test_sandboxes_are_renewed_before_their_session_expires(
    tmp_path: Any,
) -> None:
    """With 6-second role sessions, a function invoked again and again for longer than a
    session keeps valid credentials: its sandboxes are retired half a session old and new
    ones get a fresh session."""
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT, start_server, stop_server

    srv = start_server(tmp_path / "data", {"LAMBOX_AUTH": "strict", "LAMBOX_ROLE_SESSION": "6"})
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "lambox.cli.main",
                "credentials",
                "--data-dir",
                str(srv.data_dir),
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
        values = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
        keys = (values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"])
        lam = client("lambda", srv.url, *keys, read_timeout=120)
        iam = client("iam", srv.url, *keys)
        role = iam.create_role(RoleName=unique("short"), AssumeRolePolicyDocument=LAMBDA_TRUST)
        name = create(lam, role["Role"]["Arn"])
        seen: list[str] = []
        deadline = time.monotonic() + 14
        while time.monotonic() < deadline:
            body = invoke(lam, name)  # GetCallerIdentity inside: fails on expired credentials
            assert body["arn"].endswith(f"/{name}")
            if not seen or seen[-1] != body["key"]:
                seen.append(body["key"])
            time.sleep(0.3)
        assert len(seen) >= 2, seen
    finally:
        stop_server(srv)
