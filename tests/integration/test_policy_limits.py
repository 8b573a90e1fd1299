"""Groups, permissions boundaries and session policies in the strict posture: a user may do
what its groups' policies allow; a boundary or AssumeRole's session policy caps what the
identity policies allow, and a refusal names what capped it."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from botocore.exceptions import ClientError

from tests.conftest import CLIENT_ENV, LamboxServer, unique
from tests.integration.test_auth import client, error_of, root_keys, strict  # noqa: F401

ACCOUNT = "000000000000"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def keyed_user(iam: Any) -> tuple[str, str, str]:
    name = unique("u")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key["AccessKeyId"], key["SecretAccessKey"]


def denied(call: Any, **kwargs: Any) -> str:
    err = error_of(call, **kwargs)
    assert err["Error"]["Code"] in ("AccessDeniedException", "AccessDenied"), err
    return str(err["Error"]["Message"])


def test_groups_grant_their_members(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    iam = client("iam", strict.url, *root_keys)
    name, key, secret = keyed_user(iam)
    lam = client("lambda", strict.url, key, secret)
    assert "because no identity-based policy allows" in denied(lam.list_functions)
    group = unique("g")
    env = {
        **os.environ,
        **CLIENT_ENV,
        "AWS_ACCESS_KEY_ID": root_keys[0],
        "AWS_SECRET_ACCESS_KEY": root_keys[1],
    }
    for args in (
        ["iam", "create-group", "--group-name", group],
        ["iam", "add-user-to-group", "--group-name", group, "--user-name", name],
        [
            "iam",
            "put-group-policy",
            "--group-name",
            group,
            "--policy-name",
            "list",
            "--policy-document",
            doc({"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"}),
        ],
    ):
        out = subprocess.run(
            ["/usr/bin/aws", "--endpoint-url", strict.url, *args],
            env=env,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
    got = iam.get_group(GroupName=group)
    assert [u["UserName"] for u in got["Users"]] == [name]
    assert got["Group"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/{group}"
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]] == [group]
    assert iam.list_group_policies(GroupName=group)["PolicyNames"] == ["list"]
    lam.list_functions()
    # An attached managed policy of the group counts too.
    s3 = client("s3", strict.url, key, secret)
    denied(s3.list_buckets)
    iam.attach_group_policy(GroupName=group, PolicyArn=S3_READ)
    s3.list_buckets()
    # A group with members or policies is not deleted; out of the group, nothing is left.
    assert error_of(iam.delete_group, GroupName=group)["Error"]["Code"] == "DeleteConflict"
    iam.remove_user_from_group(GroupName=group, UserName=name)
    denied(lam.list_functions)
    denied(s3.list_buckets)
    iam.delete_group_policy(GroupName=group, PolicyName="list")
    iam.detach_group_policy(GroupName=group, PolicyArn=S3_READ)
    iam.delete_group(GroupName=group)
    assert error_of(iam.get_group, GroupName=group)["Error"]["Code"] == "NoSuchEntity"


def test_a_permissions_boundary_caps_a_user(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    iam = client("iam", strict.url, *root_keys)
    name, key, secret = keyed_user(iam)
    iam.attach_user_policy(UserName=name, PolicyArn=ADMIN)
    lam = client("lambda", strict.url, key, secret)
    s3 = client("s3", strict.url, key, secret)
    lam.list_functions()
    iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=S3_READ)
    assert iam.get_user(UserName=name)["User"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": S3_READ,
    }
    s3.list_buckets()  # allowed by both
    message = denied(lam.list_functions)
    assert message == (
        f"User: arn:aws:iam::{ACCOUNT}:user/{name} is not authorized to perform:"
        " lambda:ListFunctions on resource: * because no permissions boundary allows the"
        " lambda:ListFunctions action"
    )
    # A boundary allows nothing by itself.
    bare, bare_key, bare_secret = keyed_user(iam)
    iam.put_user_permissions_boundary(UserName=bare, PermissionsBoundary=S3_READ)
    denied(client("s3", strict.url, bare_key, bare_secret).list_buckets)
    missing = f"arn:aws:iam::{ACCOUNT}:policy/{unique('absent')}"
    err = error_of(iam.put_user_permissions_boundary, UserName=bare, PermissionsBoundary=missing)
    assert err["Error"]["Code"] == "NoSuchEntity"
    iam.delete_user_permissions_boundary(UserName=name)
    lam.list_functions()
    # Set at creation, on a role: its sessions are capped.
    role = unique("r")
    trust = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        }
    )
    created = iam.create_role(
        RoleName=role, AssumeRolePolicyDocument=trust, PermissionsBoundary=S3_READ
    )
    assert created["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == S3_READ
    iam.attach_role_policy(RoleName=role, PolicyArn=ADMIN)
    creds = client("sts", strict.url, *root_keys).assume_role(
        RoleArn=created["Role"]["Arn"], RoleSessionName="ss"
    )["Credentials"]
    session = (creds["AccessKeyId"], creds["SecretAccessKey"])
    token = creds["SessionToken"]
    s3_session = _session_client("s3", strict.url, *session, token)
    s3_session.list_buckets()
    denied(_session_client("lambda", strict.url, *session, token).list_functions)


def _session_client(service: str, url: str, key: str, secret: str, token: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 0}),
    )


def test_session_policies_cap_an_assumed_role(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    iam = client("iam", strict.url, *root_keys)
    role = unique("r")
    trust = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        }
    )
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn=ADMIN)
    sts = client("sts", strict.url, *root_keys)
    inline = doc({"Effect": "Allow", "Action": "lambda:List*", "Resource": "*"})
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="capped", Policy=inline)["Credentials"]
    parts = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    _session_client("lambda", strict.url, *parts).list_functions()
    message = denied(_session_client("s3", strict.url, *parts).list_buckets)
    assert "because no session policy allows the s3:ListAllMyBuckets action" in message
    # Managed session policies (PolicyArns) the same way; the role alone is uncapped.
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="managed", PolicyArns=[{"arn": S3_READ}])[
        "Credentials"
    ]
    parts = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    _session_client("s3", strict.url, *parts).list_buckets()
    denied(_session_client("lambda", strict.url, *parts).list_functions)
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="plain")["Credentials"]
    parts = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    _session_client("lambda", strict.url, *parts).list_functions()
    _session_client("s3", strict.url, *parts).list_buckets()
    try:
        sts.assume_role(RoleArn=arn, RoleSessionName="bad", Policy="not json")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "MalformedPolicyDocument"
    else:
        raise AssertionError("a malformed session policy was accepted")
