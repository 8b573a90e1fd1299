"""Authorization in the strict posture: users and functions' roles may do what their
policies allow, nothing else, and are refused in each service's access-denied shape."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import LamboxServer, make_zip, unique
from tests.integration.test_auth import client, error_of, root_keys, strict  # noqa: F401
from tests.integration.test_function_credentials import LAMBDA_TRUST

ACCOUNT = "000000000000"
PEEK = """
import json, os
import boto3

def handler(event, context):
    lam = boto3.client("lambda")
    out = {}
    try:
        got = lam.get_function(FunctionName=event["other"])
        out["env"] = got["Configuration"].get("Environment")
    except Exception as exc:
        out["get"] = getattr(exc, "response", {}).get("Error", {}).get("Code", repr(exc))
    try:
        lam.delete_function(FunctionName=event["other"])
        out["deleted"] = True
    except Exception as exc:
        out["delete"] = getattr(exc, "response", {}).get("Error", {}).get("Code", repr(exc))
    r = lam.invoke(FunctionName=event["other"], Payload=b"{}")
    out["invoke"] = json.loads(r["Payload"].read())
    # lambox's own log path, signed with the function's credentials
    import urllib.error, urllib.request
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    url = os.environ["AWS_ENDPOINT_URL"] + "/lambox/v1/logs/" + event["other"]
    request = AWSRequest("GET", url)
    creds = boto3.Session().get_credentials().get_frozen_credentials()
    SigV4Auth(creds, "lambda", os.environ["AWS_REGION"]).add_auth(request)
    try:
        urllib.request.urlopen(urllib.request.Request(url, headers=dict(request.headers)))
        out["logs"] = "read"
    except urllib.error.HTTPError as exc:
        out["logs"] = exc.headers.get("x-amzn-ErrorType")
    return out
"""
SECRET_ECHO = "def handler(event, context):\n    return {'ok': True}\n"


def user_with(iam: Any, url: str, *statements: dict[str, Any]) -> tuple[str, str, str]:
    name = unique("u")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    if statements:
        document = {"Version": "2012-10-17", "Statement": list(statements)}
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return arn, key["AccessKeyId"], key["SecretAccessKey"]


def test_lambda_policies_allow_deny_and_default_deny(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    url = strict.url
    iam = client("iam", url, *root_keys)
    root_lambda = client("lambda", url, *root_keys, read_timeout=120)
    fn = unique("guarded")
    root_lambda.create_function(
        FunctionName=fn,
        Runtime="python3.11",
        Role=iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"][
            "Arn"
        ],
        Handler="index.handler",
        Code={"ZipFile": make_zip({"index.py": SECRET_ECHO})},
    )
    fn_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{fn}"

    arn, key, secret = user_with(iam, url)
    nobody = client("lambda", url, key, secret)
    err = error_of(nobody.list_functions)
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err["Error"]["Code"] == "AccessDeniedException"
    assert err["Error"]["Message"] == (
        f"User: {arn} is not authorized to perform: lambda:ListFunctions on resource: *"
        " because no identity-based policy allows the lambda:ListFunctions action"
    )

    arn, key, secret = user_with(
        iam,
        url,
        {"Effect": "Allow", "Action": ["lambda:Get*", "lambda:List*"], "Resource": "*"},
        {"Effect": "Deny", "Action": "lambda:GetFunction", "Resource": fn_arn},
    )
    reader = client("lambda", url, key, secret)
    assert any(f["FunctionName"] == fn for f in reader.list_functions()["Functions"])
    assert reader.get_function_configuration(FunctionName=fn)["FunctionName"] == fn
    err = error_of(reader.get_function, FunctionName=fn)
    assert "with an explicit deny in an identity-based policy" in err["Error"]["Message"]
    err = error_of(reader.invoke, FunctionName=fn, Payload=b"{}")
    assert f"lambda:InvokeFunction on resource: {fn_arn}" in err["Error"]["Message"]
    err = error_of(reader.delete_function, FunctionName=fn)
    assert err["Error"]["Code"] == "AccessDeniedException"
    assert root_lambda.get_function(FunctionName=fn)


def test_s3_and_iam_policies(strict: LamboxServer, root_keys: tuple[str, str]) -> None:  # noqa: F811
    url = strict.url
    iam = client("iam", url, *root_keys)
    bucket = unique("authz").lower()
    root_s3 = client("s3", url, *root_keys, s3={"addressing_style": "path"})
    root_s3.create_bucket(Bucket=bucket)
    root_s3.put_object(Bucket=bucket, Key="public/a", Body=b"a")
    root_s3.put_object(Bucket=bucket, Key="private/b", Body=b"b")
    arn, key, secret = user_with(
        iam,
        url,
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/public/*",
        },
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        },
    )
    s3 = client("s3", url, key, secret, s3={"addressing_style": "path"})
    assert s3.get_object(Bucket=bucket, Key="public/a")["Body"].read() == b"a"
    err = error_of(s3.get_object, Bucket=bucket, Key="private/b")
    assert err["Error"]["Code"] == "AccessDenied"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"s3:GetObject on resource: arn:aws:s3:::{bucket}/private/b" in err["Error"]["Message"]
    # the condition does not hold from 127.0.0.1
    assert error_of(s3.list_objects_v2, Bucket=bucket)["Error"]["Code"] == "AccessDenied"
    err = error_of(s3.put_object, Bucket=bucket, Key="public/c", Body=b"c")
    assert err["Error"]["Code"] == "AccessDenied"
    assert root_s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 2  # never stored
    user_iam = client("iam", url, key, secret)
    err = error_of(user_iam.create_user, UserName=unique("x"))
    assert err["Error"]["Code"] == "AccessDenied"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"User: {arn} is not authorized to perform: iam:CreateUser" in err["Error"]["Message"]
    assert client("sts", url, key, secret).get_caller_identity()["Arn"] == arn


def test_a_function_without_permissions_cannot_touch_another(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    url = strict.url
    iam = client("iam", url, *root_keys)
    lam = client("lambda", url, *root_keys, read_timeout=120)
    victim = unique("victim")
    plain_role = iam.create_role(RoleName=unique("plain"), AssumeRolePolicyDocument=LAMBDA_TRUST)
    lam.create_function(
        FunctionName=victim,
        Runtime="python3.11",
        Role=plain_role["Role"]["Arn"],
        Handler="index.handler",
        Code={"ZipFile": make_zip({"index.py": SECRET_ECHO})},
        Environment={"Variables": {"SECRET": "s3cr3t"}},
    )
    role_name = unique("peeker")
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="invoke-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "lambda:InvokeFunction",
                        "Resource": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{victim}",
                    }
                ],
            }
        ),
    )
    peeker = unique("peeker")
    lam.create_function(
        FunctionName=peeker,
        Runtime="python3.11",
        Role=role["Arn"],
        Handler="index.handler",
        Code={"ZipFile": make_zip({"index.py": PEEK})},
        Timeout=60,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=peeker)
    out = lam.invoke(FunctionName=peeker, Payload=json.dumps({"other": victim}).encode())
    body = json.loads(out["Payload"].read())
    assert body == {
        "get": "AccessDeniedException",
        "delete": "AccessDeniedException",
        "invoke": {"ok": True},
        "logs": "AccessDeniedException",
    }, body
    assert lam.get_function(FunctionName=victim)["Configuration"]["Environment"] == {
        "Variables": {"SECRET": "s3cr3t"}
    }
