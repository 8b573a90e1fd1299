"""Function URLs with AuthType AWS_IAM: a SigV4-signed request (service ``lambda``) from a
principal allowed ``lambda:InvokeFunctionUrl`` (by an identity policy, or by the function's
resource policy with the FunctionUrlAuthType condition) runs the function; an unsigned,
badly signed or unauthorized one gets AWS's 403."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
from typing import Any
from urllib.parse import urlparse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import CLIENT_ENV, ROLE, LamboxServer, make_zip, unique
from tests.integration.test_auth import client, root_keys, strict  # noqa: F401
from tests.integration.test_authorization import user_with
from tests.integration.test_function_credentials import LAMBDA_TRUST

ACCOUNT = "000000000000"
ECHO = """import json

def handler(event, context):
    return {"statusCode": 200, "body": json.dumps(event["requestContext"])}
"""
FORBIDDEN = (
    "Forbidden. For troubleshooting Function URL authorization issues, see:"
    " https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
)


def call(
    function_url: str,
    keys: tuple[str, str] | None = None,
    body: bytes = b"",
    service: str = "lambda",
) -> tuple[int, dict[str, str], bytes]:
    """POST to a function URL, signed with ``keys`` (SigV4, as botocore signs) or not."""
    parsed = urlparse(function_url)
    target = function_url.rstrip("/") + "/hello?x=1"
    headers = {"Host": parsed.netloc, "Content-Type": "application/json"}
    if keys is not None:
        request = AWSRequest("POST", target, data=body, headers=headers)
        SigV4Auth(Credentials(*keys), service, "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
    conn = http.client.HTTPConnection("127.0.0.1", int(parsed.port or 80), timeout=60)
    try:
        conn.request("POST", "/hello?x=1", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def iam_url(lam: Any, role: str) -> tuple[str, str]:
    name = unique("iamurl")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=role,
        Code={"ZipFile": make_zip({"app.py": ECHO})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    return name, url


def assert_forbidden(answer: tuple[int, dict[str, str], bytes]) -> None:
    status, headers, body = answer
    assert status == 403, body
    assert headers["x-amzn-errortype"] == "AccessDeniedException"
    assert json.loads(body) == {"Message": FORBIDDEN}


def test_open_posture_needs_a_signature(server: LamboxServer, lambda_client: Any) -> None:
    _, url = iam_url(lambda_client, ROLE)
    assert_forbidden(call(url))
    status, _, body = call(url, ("test", "test"), b'{"a": 1}')
    assert status == 200, body
    context = json.loads(body)
    iam = context["authorizer"]["iam"]
    assert iam["userArn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert (iam["accountId"], iam["accessKey"]) == (ACCOUNT, "test")
    # A NONE URL ignores a signature; an AWS_IAM one refuses a bad one.
    status, headers, _ = call(url, ("test", "wrong"))
    assert (status, headers["x-amzn-errortype"]) == (403, "InvalidSignatureException")


def test_strict_identity_and_resource_policies(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
    tmp_path: Any,
) -> None:
    iam = client("iam", strict.url, *root_keys)
    lam = client("lambda", strict.url, *root_keys, read_timeout=120)
    role = iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=LAMBDA_TRUST)
    name, url = iam_url(lam, role["Role"]["Arn"])
    fn_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"

    assert_forbidden(call(url))
    assert call(url, root_keys)[0] == 200
    # No policy: refused.
    _, *nobody = user_with(iam, strict.url)
    assert_forbidden(call(url, (nobody[0], nobody[1])))
    # Allowed lambda:InvokeFunction only (not the URL action): refused.
    _, *invoker = user_with(
        iam, strict.url, {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}
    )
    assert_forbidden(call(url, (invoker[0], invoker[1])))
    # An identity policy allowing lambda:InvokeFunctionUrl on the function: runs.
    arn, *allowed = user_with(
        iam,
        strict.url,
        {"Effect": "Allow", "Action": "lambda:InvokeFunctionUrl", "Resource": fn_arn},
    )
    status, _, body = call(url, (allowed[0], allowed[1]))
    assert status == 200, body
    assert json.loads(body)["authorizer"]["iam"]["userArn"] == arn
    # ... and a signature for another service is not a Lambda signature.
    assert call(url, (allowed[0], allowed[1]), service="s3")[0] == 403

    # The function's resource policy: only with FunctionUrlAuthType AWS_IAM.
    granted_arn, *granted = user_with(iam, strict.url)
    lam.add_permission(
        FunctionName=name,
        StatementId="wrong-type",
        Action="lambda:InvokeFunctionUrl",
        Principal=granted_arn,
        FunctionUrlAuthType="NONE",
    )
    assert_forbidden(call(url, (granted[0], granted[1])))
    env = {
        **os.environ,
        **CLIENT_ENV,
        "AWS_ACCESS_KEY_ID": root_keys[0],
        "AWS_SECRET_ACCESS_KEY": root_keys[1],
    }
    subprocess.run(
        [
            "/usr/bin/aws",
            "--endpoint-url",
            strict.url,
            "lambda",
            "add-permission",
            "--function-name",
            name,
            "--statement-id",
            "iam-url",
            "--action",
            "lambda:InvokeFunctionUrl",
            "--principal",
            granted_arn,
            "--function-url-auth-type",
            "AWS_IAM",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    assert call(url, (granted[0], granted[1]))[0] == 200
    lam.remove_permission(FunctionName=name, StatementId="iam-url")
    assert_forbidden(call(url, (granted[0], granted[1])))

    # An explicit Deny wins over the resource policy's Allow.
    lam.add_permission(
        FunctionName=name,
        StatementId="iam-url-2",
        Action="lambda:InvokeFunctionUrl",
        Principal=granted_arn,
        FunctionUrlAuthType="AWS_IAM",
    )
    assert call(url, (granted[0], granted[1]))[0] == 200
    iam.put_user_policy(
        UserName=granted_arn.rsplit("/", 1)[1],
        PolicyName="deny",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "lambda:*", "Resource": "*"}],
            }
        ),
    )
    assert_forbidden(call(url, (granted[0], granted[1])))


def test_strict_public_url_needs_the_public_access_statement(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    iam = client("iam", strict.url, *root_keys)
    lam = client("lambda", strict.url, *root_keys, read_timeout=120)
    role = iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=LAMBDA_TRUST)
    name = unique("pub")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=role["Role"]["Arn"],
        Code={"ZipFile": make_zip({"app.py": ECHO})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    assert_forbidden(call(url))
    lam.add_permission(
        FunctionName=name,
        StatementId="wrong-type",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="AWS_IAM",
    )
    assert_forbidden(call(url))
    lam.add_permission(
        FunctionName=name,
        StatementId="FunctionURLAllowPublicAccess",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    status, _, body = call(url)
    assert status == 200, body
    assert "authorizer" not in json.loads(body)
