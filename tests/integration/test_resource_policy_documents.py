"""Put/Get/DeleteResourcePolicy: a function's (or version's, alias's) resource policy as one
document, the same policy AddPermission/GetPolicy/RemovePermission work on, with AWS's
RevisionId preconditions. boto3 only: the AWS CLI on the machine (v2.9) predates them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, make_zip, unique

CODE = make_zip({"app.py": "def handler(e, c):\n    return 1\n"})


def create(client: Any) -> str:
    name = unique("rpol")
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": CODE},
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    arn: str = client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    return arn


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


STATEMENT = {
    "Sid": "s3-invoke",
    "Effect": "Allow",
    "Principal": {"Service": "s3.amazonaws.com"},
    "Action": "lambda:InvokeFunction",
}


def test_a_document_replaces_the_policy_addpermission_made(lambda_client: Any) -> None:
    arn = create(lambda_client)
    lambda_client.add_permission(
        FunctionName=arn,
        StatementId="old",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
    )
    document = {"Version": "2012-10-17", "Statement": [{**STATEMENT, "Resource": arn}]}
    put = lambda_client.put_resource_policy(ResourceArn=arn, Policy=json.dumps(document))
    got = lambda_client.get_resource_policy(ResourceArn=arn)
    assert got["RevisionId"] == put["RevisionId"]
    assert [s["Sid"] for s in json.loads(got["Policy"])["Statement"]] == ["s3-invoke"]
    # GetPolicy sees the same policy.
    old = json.loads(lambda_client.get_policy(FunctionName=arn)["Policy"])
    assert old["Statement"] == [{**STATEMENT, "Resource": arn}]
    with pytest.raises(ClientError) as exc:
        lambda_client.put_resource_policy(
            ResourceArn=arn,
            Policy=json.dumps(document),
            RevisionId="00000000-0000-0000-0000-000000000000",
        )
    assert code_of(exc) == ("PreconditionFailedException", 412)
    lambda_client.delete_resource_policy(ResourceArn=arn, RevisionId=got["RevisionId"])
    with pytest.raises(ClientError) as exc:
        lambda_client.get_resource_policy(ResourceArn=arn)
    assert code_of(exc) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_policy(FunctionName=arn)
    assert code_of(exc) == ("ResourceNotFoundException", 404)


def test_documents_are_checked(lambda_client: Any) -> None:
    arn = create(lambda_client)
    for bad in ("not json", json.dumps({"Statement": []}), json.dumps([STATEMENT])):
        with pytest.raises(ClientError) as exc:
            lambda_client.put_resource_policy(ResourceArn=arn, Policy=bad)
        assert code_of(exc) == ("InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as exc:
        lambda_client.put_resource_policy(
            ResourceArn=arn + "-missing", Policy=json.dumps({"Statement": STATEMENT})
        )
    assert code_of(exc) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc:
        lambda_client.put_resource_policy(ResourceArn="not-an-arn", Policy="{}")
    assert code_of(exc) == ("ValidationException", 400)


def test_a_version_has_its_own_document(lambda_client: Any) -> None:
    arn = create(lambda_client)
    lambda_client.publish_version(FunctionName=arn)
    one = json.dumps({"Statement": {**STATEMENT, "Resource": arn + ":1"}})
    lambda_client.put_resource_policy(ResourceArn=arn + ":1", Policy=one)
    assert json.loads(lambda_client.get_resource_policy(ResourceArn=arn + ":1")["Policy"])[
        "Statement"
    ][0]["Resource"] == (arn + ":1")
    with pytest.raises(ClientError) as exc:
        lambda_client.get_resource_policy(ResourceArn=arn)
    assert code_of(exc) == ("ResourceNotFoundException", 404)
