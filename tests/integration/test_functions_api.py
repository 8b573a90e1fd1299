"""Function lifecycle through boto3 against a real server: shapes, states, waiters, errors."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, make_zip, unique

CODE = make_zip({"app.py": "def handler(event, context):\n    return event\n"})


def create(client, name: str, code: bytes = CODE, **kw):  # type: ignore[no-untyped-def]
    params = {
        "FunctionName": name,
        "Runtime": "python3.11",
        "Handler": "app.handler",
        "Role": ROLE,
        "Code": {"ZipFile": code},
        **kw,
    }
    return client.create_function(**params)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    e = exc.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def test_create_answers_pending_then_waiter_sees_active(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = unique("lifecycle")
    created = create(
        lambda_client,
        name,
        MemorySize=256,
        Timeout=5,
        Description="d",
        Environment={"Variables": {"ENV_A": "1"}},
        Tags={"team": "x"},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["State"] == "Pending"
    assert created["StateReasonCode"] == "Creating"
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(CODE).digest()).decode()
    assert created["CodeSize"] == len(CODE)
    assert created["MemorySize"] == 256 and created["Timeout"] == 5
    assert created["Environment"] == {"Variables": {"ENV_A": "1"}}
    assert created["Version"] == "$LATEST"
    lambda_client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 10}
    )
    got = lambda_client.get_function(FunctionName=name)
    assert got["Configuration"]["State"] == "Active"
    assert got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert got["Tags"] == {"team": "x"}
    assert got["Code"]["RepositoryType"] == "S3"
    downloaded = httpx.get(got["Code"]["Location"]).content
    assert downloaded == CODE
    conf = lambda_client.get_function_configuration(FunctionName=name)
    assert conf["RevisionId"] == got["Configuration"]["RevisionId"]


def test_update_configuration_and_code_go_in_progress_then_successful(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = unique("update")
    create(lambda_client, name)
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    before = lambda_client.get_function_configuration(FunctionName=name)
    dlq = "arn:aws:lambda:us-east-1:000000000000:function:some-dlq"
    updated = lambda_client.update_function_configuration(
        FunctionName=name,
        MemorySize=512,
        Timeout=10,
        Environment={"Variables": {"ENV_B": "2"}},
        DeadLetterConfig={"TargetArn": dlq},
    )
    assert updated["DeadLetterConfig"] == {"TargetArn": dlq}
    assert updated["LastUpdateStatus"] == "InProgress"
    assert updated["MemorySize"] == 512
    assert updated["RevisionId"] != before["RevisionId"]
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    new_code = make_zip({"app.py": "def handler(event, context):\n    return 'v2'\n"})
    code = lambda_client.update_function_code(FunctionName=name, ZipFile=new_code)
    assert code["LastUpdateStatus"] == "InProgress"
    assert code["CodeSha256"] == base64.b64encode(hashlib.sha256(new_code).digest()).decode()
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    out = lambda_client.invoke(FunctionName=name, Payload=b"{}")
    assert out["Payload"].read() == b'"v2"'
    after = lambda_client.get_function_configuration(FunctionName=name)
    assert after["LastUpdateStatus"] == "Successful"
    assert after["Environment"] == {"Variables": {"ENV_B": "2"}}


def test_stale_revision_id_is_a_precondition_failure(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = unique("revision")
    create(lambda_client, name)
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lambda_client.update_function_configuration(
            FunctionName=name, Timeout=4, RevisionId="not-the-revision"
        )
    assert error_of(exc)[0] == "PreconditionFailedException"
    assert error_of(exc)[2] == 412


def test_list_functions_paginates_with_marker(lambda_client) -> None:  # type: ignore[no-untyped-def]
    prefix = unique("page")
    names = {f"{prefix}-{i}" for i in range(5)}
    for name in names:
        create(lambda_client, name)
    seen: list[str] = []
    marker = None
    while True:
        kw = {"MaxItems": 2, **({"Marker": marker} if marker else {})}
        page = lambda_client.list_functions(**kw)
        assert len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert names <= set(seen)
    assert len(seen) == len(set(seen))
    paginated = [
        f["FunctionName"]
        for p in lambda_client.get_paginator("list_functions").paginate()
        for f in p["Functions"]
    ]
    assert names <= set(paginated)


def test_delete_then_not_found(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = unique("delete")
    create(lambda_client, name)
    lambda_client.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_function(FunctionName=name)
    code, message, status = error_of(exc)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message == f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}"
    with pytest.raises(ClientError) as exc:
        lambda_client.invoke(FunctionName=name, Payload=b"{}")
    assert error_of(exc)[0] == "ResourceNotFoundException"


def test_function_addressed_by_arn_and_partial_arn(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = unique("arn")
    created = create(lambda_client, name)
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    by_arn = lambda_client.get_function(FunctionName=created["FunctionArn"])
    assert by_arn["Configuration"]["FunctionName"] == name
    partial = lambda_client.get_function(FunctionName=f"000000000000:function:{name}")
    assert partial["Configuration"]["FunctionName"] == name
    out = lambda_client.invoke(FunctionName=created["FunctionArn"], Payload=b'{"x":1}')
    assert out["Payload"].read() == b'{"x": 1}'
    with pytest.raises(ClientError) as exc:
        lambda_client.get_function(
            FunctionName=f"arn:aws:lambda:eu-west-1:000000000000:function:{name}"
        )
    assert error_of(exc)[1] == (
        "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"
    )


def test_account_settings_count_functions(lambda_client) -> None:  # type: ignore[no-untyped-def]
    settings = lambda_client.get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] >= 1
    assert settings["AccountLimit"]["CodeSizeZipped"] == 52428800
    assert settings["AccountUsage"]["FunctionCount"] >= 0


def test_tags_round_trip(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = unique("tags")
    arn = create(lambda_client, name, Tags={"a": "1"})["FunctionArn"]
    lambda_client.tag_resource(Resource=arn, Tags={"b": "2"})
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"a": "1", "b": "2"}
    lambda_client.untag_resource(Resource=arn, TagKeys=["a"])
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"b": "2"}


# -- bad input ---------------------------------------------------------------------------


def test_duplicate_name_is_a_conflict(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = unique("dup")
    create(lambda_client, name)
    with pytest.raises(ClientError) as exc:
        create(lambda_client, name)
    assert error_of(exc)[0] == "ResourceConflictException"
    assert error_of(exc)[2] == 409


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"MemorySize": 64}, "ValidationException"),
        ({"MemorySize": 10241}, "ValidationException"),
        ({"Timeout": 0}, "ValidationException"),
        ({"Timeout": 901}, "ValidationException"),
        ({"Runtime": "python2.7"}, "InvalidParameterValueException"),
        ({"Runtime": "cobol85"}, "InvalidParameterValueException"),
        ({"Handler": "has space"}, "ValidationException"),
        ({"Role": "r1"}, "ValidationException"),
        ({"Architectures": ["sparc"]}, "ValidationException"),
    ],
)
def test_invalid_parameters_are_rejected(lambda_client, overrides, code) -> None:  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config

    # botocore validates some of these itself; send them raw so the server is what answers.
    client = boto3.client(
        "lambda",
        endpoint_url=lambda_client.meta.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
        config=Config(parameter_validation=False, retries={"max_attempts": 0}),
    )
    with pytest.raises(ClientError) as exc:
        create(client, unique("bad"), **overrides)
    got_code, message, status = error_of(exc)
    assert (got_code, status) == (code, 400), message
    assert message


def test_invalid_function_name_is_rejected(lambda_client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        create(lambda_client, "a" * 65)
    assert error_of(exc)[2] == 400


def test_corrupt_zip_is_rejected_and_server_keeps_serving(lambda_client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        create(lambda_client, unique("corrupt"), code=b"PK\x03\x04 this is not a zip")
    assert error_of(exc) == (
        "InvalidParameterValueException",
        "Could not unzip uploaded file. Please check your file, then try to upload again.",
        400,
    )
    assert lambda_client.list_functions()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_path_escaping_zip_is_rejected_and_nothing_written(lambda_client, server) -> None:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
        zf.writestr("../../escaped-by-zip.txt", "gotcha")
    with pytest.raises(ClientError) as exc:
        create(lambda_client, unique("escape"), code=buf.getvalue())
    assert error_of(exc)[0] == "InvalidParameterValueException"
    assert not list(server.data_dir.parent.rglob("escaped-by-zip.txt"))
    assert not list(server.data_dir.rglob("escaped-by-zip.txt"))


def test_zip_bomb_is_rejected(lambda_client) -> None:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("zeros.bin", "w", force_zip64=True) as f,
    ):
        chunk = b"\0" * (1 << 20)
        for _ in range(300):
            f.write(chunk)
    with pytest.raises(ClientError) as exc:
        create(lambda_client, unique("bomb"), code=buf.getvalue())
    assert error_of(exc) == (
        "InvalidParameterValueException",
        "Unzipped size must be smaller than 262144000 bytes",
        400,
    )


def test_malformed_json_body_is_an_aws_error(server) -> None:  # type: ignore[no-untyped-def]
    r = httpx.post(
        f"{server.url}/2015-03-31/functions",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.headers["x-amzn-ErrorType"]
    assert set(r.json()) >= {"Type", "message"}


def test_unknown_route_is_an_aws_error(server) -> None:  # type: ignore[no-untyped-def]
    r = httpx.get(f"{server.url}/2099-01-01/nothing")
    assert r.status_code == 404
    assert r.headers["x-amzn-ErrorType"] == "UnknownOperationException"


def test_reserved_environment_keys_are_rejected(lambda_client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        create(lambda_client, unique("env"), Environment={"Variables": {"AWS_REGION": "x"}})
    assert error_of(exc)[0] == "InvalidParameterValueException"
    assert "AWS_REGION" in error_of(exc)[1]


def test_update_code_changes_the_architecture(lambda_client) -> None:  # type: ignore[no-untyped-def]
    """UpdateFunctionCode is where an existing function changes its Architectures; without
    the member the function keeps the one it has."""
    name = unique("arch")
    create(lambda_client, name, Architectures=["arm64"])
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    lambda_client.update_function_code(FunctionName=name, ZipFile=CODE)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert lambda_client.get_function_configuration(FunctionName=name)["Architectures"] == ["arm64"]
    changed = lambda_client.update_function_code(
        FunctionName=name, ZipFile=CODE, Architectures=["x86_64"]
    )
    assert changed["Architectures"] == ["x86_64"]
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert lambda_client.get_function_configuration(FunctionName=name)["Architectures"] == [
        "x86_64"
    ]
