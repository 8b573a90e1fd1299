"""``make serve`` gives each example the execution role its ``role.json`` describes (trust in
Lambda, managed and inline policies), and moves a function deployed before with another role
onto it, so a data directory from an older lambox keeps working with policies enforced."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import BASIC_EXECUTION, LamboxServer, aws_client, serve_examples, stop_server

ROLE_NAME = "demo-example-role"
ROLE_ARN = f"arn:aws:iam::000000000000:role/{ROLE_NAME}"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::x/*"}],
}


def examples(root: Path) -> Path:
    folder = root / "examples" / "demo"
    folder.mkdir(parents=True)
    (folder / "app.py").write_text("def handler(event, context):\n    return 'ok'\n")
    function = {
        "FunctionName": "demo",
        "Runtime": "python3.11",
        "Handler": "app.handler",
        "Role": ROLE_ARN,
    }
    (folder / "function.json").write_text(json.dumps(function))
    role = {
        "RoleName": ROLE_NAME,
        "ManagedPolicyArns": [BASIC_EXECUTION],
        "Policies": [{"PolicyName": "writes", "PolicyDocument": POLICY}],
    }
    (folder / "role.json").write_text(json.dumps(role))
    return folder.parent


def serve(data: Path, root: Path) -> LamboxServer:
    return serve_examples(data, lambda log: "example deployed" in log, root)


def test_an_example_runs_as_its_role_even_if_deployed_before_with_another(
    tmp_path: Path,
) -> None:
    root, data = examples(tmp_path), tmp_path / "data"
    server = serve(data, root)
    try:
        lam, iam = (
            aws_client(server, "lambda", retries=True),
            aws_client(server, "iam", retries=True),
        )
        assert lam.get_function(FunctionName="demo")["Configuration"]["Role"] == ROLE_ARN
        attached = iam.list_attached_role_policies(RoleName=ROLE_NAME)["AttachedPolicies"]
        assert [p["PolicyArn"] for p in attached] == [BASIC_EXECUTION]
        got = iam.get_role_policy(RoleName=ROLE_NAME, PolicyName="writes")["PolicyDocument"]
        assert (json.loads(got) if isinstance(got, str) else got) == POLICY
        trust = iam.get_role(RoleName=ROLE_NAME)["Role"]["AssumeRolePolicyDocument"]
        assert "lambda.amazonaws.com" in json.dumps(trust)
        # As an older lambox left it: the function on a role lambox created, logs only.
        older = "arn:aws:iam::000000000000:role/lambox-example"
        lam.update_function_configuration(FunctionName="demo", Role=older)
        lam.get_waiter("function_updated_v2").wait(FunctionName="demo")
    finally:
        stop_server(server)
    again = serve(data, root)
    try:
        lam = aws_client(again, "lambda", retries=True)
        assert lam.get_function(FunctionName="demo")["Configuration"]["Role"] == ROLE_ARN
        assert lam.invoke(FunctionName="demo")["Payload"].read() == b'"ok"'
    finally:
        stop_server(again)
