"""IAM and STS over the edge with boto3 and the AWS CLI: users and their keys, roles and
AssumeRole sessions that then sign requests, policies, and all of it across a kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LamboxServer, start_server, stop_server, unique
from tests.integration.test_auth import client, error_of, root_keys, strict  # noqa: F401

TRUST_ACCOUNT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


@pytest.fixture
def iam(server: LamboxServer) -> Any:
    return client("iam", server.url, "test", "test")


def test_caller_identity_of_root_and_user(strict: LamboxServer, root_keys: Any) -> None:  # noqa: F811
    url = strict.url
    iam = client("iam", url, *root_keys)
    sts = client("sts", url, *root_keys)
    me = sts.get_caller_identity()
    assert me["Arn"] == "arn:aws:iam::000000000000:root" and me["Account"] == "000000000000"
    name = unique("alice")
    user = iam.create_user(UserName=name)["User"]
    assert user["Arn"] == f"arn:aws:iam::000000000000:user/{name}"
    key = iam.create_access_key(UserName=name)["AccessKey"]
    alice = client("sts", url, key["AccessKeyId"], key["SecretAccessKey"])
    identity = alice.get_caller_identity()
    assert identity["Arn"] == user["Arn"] and identity["UserId"] == user["UserId"]
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    err = error_of(iam.delete_user, UserName=name)
    assert err["Error"]["Code"] == "DeleteConflict"
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    err = error_of(alice.get_caller_identity)
    assert err["Error"]["Code"] == "InvalidClientTokenId"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    iam.delete_user(UserName=name)
    err = error_of(iam.get_user, UserName=name)
    assert err["Error"]["Code"] == "NoSuchEntity"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_assume_role_credentials_sign_as_the_session(
    strict: LamboxServer,  # noqa: F811
    root_keys: Any,  # noqa: F811
) -> None:
    url = strict.url
    iam = client("iam", url, *root_keys)
    name = unique("role")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_ACCOUNT)["Role"]
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST_ACCOUNT)
    got = client("sts", url, *root_keys).assume_role(RoleArn=role["Arn"], RoleSessionName="s1")
    creds = got["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"]
    assert got["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::000000000000:assumed-role/{name}/s1"
    import boto3

    session = boto3.client(
        "sts",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    identity = session.get_caller_identity()
    assert identity["Arn"] == got["AssumedRoleUser"]["Arn"]
    assert identity["UserId"] == f"{role['RoleId']}:s1"
    forged = boto3.client(
        "sts",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"] + "x",
    )
    assert error_of(forged.get_caller_identity)["Error"]["Code"] == "InvalidClientTokenId"
    untrusted = unique("untrusted")
    other = iam.create_role(
        RoleName=untrusted,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ]
            }
        ),
    )["Role"]
    err = error_of(client("sts", url, *root_keys).assume_role, RoleArn=other["Arn"],
                   RoleSessionName="xx")  # fmt: skip
    assert err["Error"]["Code"] == "AccessDenied"
    assert "is not authorized to perform: sts:AssumeRole" in err["Error"]["Message"]


def test_inline_and_managed_policies(iam: Any) -> None:
    role = unique("pol-role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_ACCOUNT)
    iam.put_role_policy(RoleName=role, PolicyName="read", PolicyDocument=json.dumps(POLICY))
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["read"]
    assert iam.get_role_policy(RoleName=role, PolicyName="read")["PolicyDocument"] == POLICY
    arn = iam.create_policy(PolicyName=unique("p"), PolicyDocument=json.dumps(POLICY))["Policy"][
        "Arn"
    ]
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    iam.attach_role_policy(
        RoleName=role, PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    )
    attached = {
        p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    }
    assert arn in attached and len(attached) == 2
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert version["Document"] == POLICY
    assert error_of(iam.delete_role, RoleName=role)["Error"]["Code"] == "DeleteConflict"
    assert error_of(iam.delete_policy, PolicyArn=arn)["Error"]["Code"] == "DeleteConflict"
    iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    err = error_of(iam.delete_policy, PolicyArn=arn)
    assert err["Error"]["Code"] == "NoSuchEntity"
    assert err["Error"]["Message"] == f"Policy {arn} was not found."
    err = error_of(iam.create_role, RoleName=unique("bad"), AssumeRolePolicyDocument="{not json")
    assert err["Error"] == {
        "Code": "MalformedPolicyDocument",
        "Message": "This policy contains invalid Json",
        "Type": "Sender",
    }
    err = error_of(iam.create_role, RoleName=role, AssumeRolePolicyDocument=TRUST_ACCOUNT)
    assert err["Error"]["Code"] == "EntityAlreadyExists"


def test_aws_cli_sts_and_iam(server: LamboxServer) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    base = ["/usr/bin/aws", "--endpoint-url", server.url, "--output", "json"]
    me = subprocess.run([*base, "sts", "get-caller-identity"], env=env, capture_output=True,
                        text=True)  # fmt: skip
    assert me.returncode == 0, me.stderr
    assert json.loads(me.stdout)["Arn"] == "arn:aws:iam::000000000000:root"
    name = unique("cli-user")
    made = subprocess.run([*base, "iam", "create-user", "--user-name", name], env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert made.returncode == 0, made.stderr
    listed = subprocess.run([*base, "iam", "list-users"], env=env, capture_output=True, text=True)
    assert name in [u["UserName"] for u in json.loads(listed.stdout)["Users"]]


@pytest.fixture
def own_server(tmp_path: Any) -> Iterator[LamboxServer]:
    srv = start_server(tmp_path / "data", {"LAMBOX_AUTH": "strict"})
    yield srv
    stop_server(srv)


def test_users_keys_and_sessions_survive_kill_9(own_server: LamboxServer) -> None:
    stored = json.loads((own_server.data_dir / "root-credentials.json").read_text())
    root = (stored["AccessKeyId"], stored["SecretAccessKey"])
    iam = client("iam", own_server.url, *root)
    iam.create_user(UserName="durable")
    key = iam.create_access_key(UserName="durable")["AccessKey"]
    iam.create_role(RoleName="durable-role", AssumeRolePolicyDocument=TRUST_ACCOUNT)
    creds = client("sts", own_server.url, *root).assume_role(
        RoleArn="arn:aws:iam::000000000000:role/durable-role", RoleSessionName="ss"
    )["Credentials"]
    os.kill(own_server.proc.pid, signal.SIGKILL)
    own_server.proc.wait()
    again = start_server(own_server.data_dir, {"LAMBOX_AUTH": "strict"})
    try:
        user = client("sts", again.url, key["AccessKeyId"], key["SecretAccessKey"])
        assert user.get_caller_identity()["Arn"].endswith(":user/durable")
        import boto3

        session = boto3.client(
            "sts",
            endpoint_url=again.url,
            region_name="us-east-1",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        assert session.get_caller_identity()["Arn"].endswith("assumed-role/durable-role/ss")
        # the root key is the one generated at first start, not a new one
        assert json.loads((again.data_dir / "root-credentials.json").read_text()) == stored
    finally:
        stop_server(again)
