"""Function management against AWS's recorded answers (function-crud-and-validation).

Each test replays the calls of one recorded test against lambox and compares the normalised
responses with the recording (``tests/parity/snapshot.py``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import zipfile
from typing import Any

import httpx
import pytest
from botocore.exceptions import ParamValidationError

from tests.conftest import ROLE, make_zip, unique
from tests.parity.snapshot import (
    ECHO_ZIP,
    LAMBOX_ACCOUNT,
    LAMBOX_REGION,
    LAMBOX_RUNTIME,
    Normaliser,
    assert_match,
    call,
    create_function,
    pick,
    recorded,
    wait_until_settled,
)

API = "tests/aws/services/lambda_/test_lambda_api.py"
FUNCTION = f"{API}::TestLambdaFunction"
SIZE_LIMITS = f"{API}::TestLambdaSizeLimits"
ARN_PREFIX = f"arn:aws:lambda:{LAMBOX_REGION}:{LAMBOX_ACCOUNT}:function:"
VERSION_ZIP_HANDLER = """import sys


def handler(event, context):
    return {"version": sys.version}
"""


def version_zip() -> bytes:
    return make_zip({"handler.py": VERSION_ZIP_HANDLER})


INDEX_FUNCTION: dict[str, Any] = {
    "Handler": "index.handler",
    "Code": {"ZipFile": ECHO_ZIP},
    "PackageType": "Zip",
    "Role": ROLE,
    "Runtime": LAMBOX_RUNTIME,
}
"""CreateFunction's parameters but the name, as the recorded tests that spelled them out
passed them (``index.handler``, a Zip package; lambox's runtime for theirs)."""


def refused_create(client: Any, **params: Any) -> dict[str, Any]:
    """The answer to a CreateFunction that should fail, under a fresh name with the parameters
    of the recorded tests that used the echo handler (``handler.handler``), plus ``params``."""
    return call(
        client.create_function,
        FunctionName=unique("fn"),
        Runtime=LAMBOX_RUNTIME,
        Handler="handler.handler",
        Role=ROLE,
        **params,
    )


def test_function_lifecycle(lambda_client: Any) -> None:
    test_id = f"{FUNCTION}::test_function_lifecycle"
    name = unique("fn")
    norm = Normaliser()
    norm.name(name)
    got: dict[str, Any] = {}
    got["create_response"] = create_function(lambda_client, name, MemorySize=256, Timeout=5)
    got["get_function_response"] = lambda_client.get_function(FunctionName=name)
    got["update_func_conf_response"] = lambda_client.update_function_configuration(
        FunctionName=name,
        Runtime=LAMBOX_RUNTIME,
        Description="Changed-Description",
        MemorySize=512,
        Timeout=10,
        Environment={"Variables": {"ENV_A": "a"}},
    )
    wait_until_settled(lambda_client, name)
    got["get_function_response_postupdate"] = lambda_client.get_function(FunctionName=name)
    got["update_code_response"] = lambda_client.update_function_code(
        FunctionName=name, ZipFile=version_zip()
    )
    wait_until_settled(lambda_client, name)
    got["get_function_response_postcodeupdate"] = lambda_client.get_function(FunctionName=name)
    got["delete_response"] = lambda_client.delete_function(FunctionName=name)
    got["delete_postdelete"] = call(lambda_client.delete_function, FunctionName=name)
    assert_match(recorded(test_id), norm(got))


def test_redundant_updates(lambda_client: Any) -> None:
    test_id = f"{FUNCTION}::test_redundant_updates"
    name = unique("fn")
    norm = Normaliser()
    norm.name(name)
    got: dict[str, Any] = {}
    got["create_response"] = create_function(lambda_client, name, Description="Initial description")
    got["first_update_result"] = lambda_client.update_function_configuration(
        FunctionName=name, Description="1st update description"
    )
    wait_until_settled(lambda_client, name)
    got["get_fn_config_result"] = lambda_client.get_function_configuration(FunctionName=name)
    got["get_fn_result"] = lambda_client.get_function(FunctionName=name)
    got["redundant_update_result"] = lambda_client.update_function_configuration(
        FunctionName=name, Description="1st update description"
    )
    wait_until_settled(lambda_client, name)
    got["get_fn_result_after_redundant_update"] = lambda_client.get_function(FunctionName=name)
    assert_match(recorded(test_id), norm(got))


@pytest.mark.parametrize(
    "operation", ["delete_function", "get_function", "get_function_configuration"]
)
def test_ops_with_arn_qualifier_mismatch(lambda_client: Any, operation: str) -> None:
    test_id = f"{FUNCTION}::test_ops_with_arn_qualifier_mismatch[{operation}]"
    method = getattr(lambda_client, operation)
    got = {
        "not_match_exception": call(
            method, FunctionName=f"{ARN_PREFIX}some-function:1", Qualifier="$LATEST"
        ),
        "match_exception": call(
            method, FunctionName=f"{ARN_PREFIX}some-function:$LATEST", Qualifier="$LATEST"
        ),
    }
    assert_match(recorded(test_id), Normaliser()(got))


@pytest.mark.parametrize("operation", ["get_function", "get_function_configuration"])
def test_ops_on_nonexisting_version(lambda_client: Any, operation: str) -> None:
    test_id = f"{FUNCTION}::test_ops_on_nonexisting_version[{operation}]"
    name = unique("i-exist")
    create_function(lambda_client, name, Description="Initial description")
    norm = Normaliser()
    norm.name(name, "<fn-name>")
    method = getattr(lambda_client, operation)
    got = {"version_not_found_exception": call(method, FunctionName=name, Qualifier="1221")}
    assert_match(recorded(test_id), norm(got))


def test_delete_on_nonexisting_version(lambda_client: Any) -> None:
    test_id = f"{FUNCTION}::test_delete_on_nonexisting_version"
    name = unique("i-exist")
    create_function(lambda_client, name, Description="Initial description")
    norm = Normaliser()
    norm.name(name, "<fn-name>")
    # AWS answered these three deletes with success: deleting a version that does not exist
    # is a no-op, and the function itself is only deleted by the third call.
    for qualifier in ("1233", "1233", None):
        extra = {"Qualifier": qualifier} if qualifier else {}
        response = call(lambda_client.delete_function, FunctionName=name, **extra)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204, (qualifier, response)
    got = {
        "delete_function_response_non_existent": call(
            lambda_client.delete_function, FunctionName=name
        ),
        "delete_function_response_non_existent_with_qualifier": call(
            lambda_client.delete_function, FunctionName=name, Qualifier="1233"
        ),
    }
    assert_match(recorded(test_id), norm(got))


@pytest.mark.parametrize(
    "operation", ["delete_function", "get_function", "get_function_configuration"]
)
def test_ops_on_nonexisting_fn(lambda_client: Any, operation: str) -> None:
    test_id = f"{FUNCTION}::test_ops_on_nonexisting_fn[{operation}]"
    name = unique("i-dont-exist")
    norm = Normaliser()
    norm.name(name, "<nonexisting-fn-name>")
    got = {"not_found_exception": call(getattr(lambda_client, operation), FunctionName=name)}
    assert_match(recorded(test_id), norm(got))


@pytest.mark.parametrize(
    "operation", ["get_function", "get_function_configuration", "delete_function", "invoke"]
)
def test_get_function_wrong_region(lambda_client: Any, operation: str) -> None:
    test_id = f"{FUNCTION}::test_get_function_wrong_region[{operation}]"
    name = unique("i-exist")
    create_function(lambda_client, name, Description="Initial description")
    norm = Normaliser(regexes=[("eu-central-1", "<wrong-region>")])
    norm.name(name, "<fn-name>")
    arn = f"arn:aws:lambda:eu-central-1:{LAMBOX_ACCOUNT}:function:{name}"
    got = {"wrong_region_exception": call(getattr(lambda_client, operation), FunctionName=arn)}
    assert_match(recorded(test_id), norm(got))


def test_lambda_code_location_zipfile(lambda_client: Any) -> None:
    test_id = f"{FUNCTION}::test_lambda_code_location_zipfile"
    name = unique("code-function")
    norm = Normaliser()
    norm.name(name)
    got: dict[str, Any] = {}
    got["create-response-zip-file"] = lambda_client.create_function(
        FunctionName=name, **INDEX_FUNCTION
    )
    wait_until_settled(lambda_client, name)
    got["get-function-response"] = lambda_client.get_function(FunctionName=name)
    check_code_location(got["get-function-response"], ECHO_ZIP)
    updated = version_zip()
    got["update-function-response"] = lambda_client.update_function_code(
        FunctionName=name, ZipFile=updated
    )
    # The recorded test read the function straight after the update, while AWS was still
    # applying it ("get-function-response-updated": LastUpdateStatus InProgress); lambox
    # applies a code update within milliseconds, so that answer is a matter of timing and is
    # left out. The downloaded code is still checked.
    check_code_location(lambda_client.get_function(FunctionName=name), updated)
    expected = pick(
        recorded(test_id),
        "create-response-zip-file", "get-function-response", "update-function-response",
    )  # fmt: skip
    assert_match(expected, norm(got))


def check_code_location(response: dict[str, Any], zip_bytes: bytes) -> None:
    """What the recorded test asserted beside the snapshot: the download is the upload."""
    assert httpx.get(response["Code"]["Location"]).content == zip_bytes
    config = response["Configuration"]
    assert config["CodeSha256"] == base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
    assert config["CodeSize"] == len(zip_bytes)


def test_function_arns(lambda_client: Any) -> None:
    test_id = f"{FUNCTION}::test_function_arns"
    name_1, name_2 = unique("test-function-arn"), unique("test-partial-arn")
    long_name = "a" * (140 - len(ARN_PREFIX) + 1)
    norm = Normaliser()
    norm.name(name_1)
    norm.name(name_2)
    # The recording shows the over-long ARN's name part as "<function-name>".
    norm.name(long_name, "<function-name>")
    other = unique("test-function-arn")
    got: dict[str, Any] = {}
    got["create-function-arn-response"] = create_function(lambda_client, ARN_PREFIX + name_1)
    got["create-function-partial-arn-response"] = create_function(
        lambda_client, f"{LAMBOX_ACCOUNT}:function:{name_2}"
    )
    for key, function_name in (
        ("invalid_function_name_exc", "invalid:function:name"),
        ("long_function_name_exc", "a" * 65),
        ("long_function_arn_exc", ARN_PREFIX + long_name),
        (
            "function_arn_other_region_exc",
            f"arn:aws:lambda:ap-southeast-1:{LAMBOX_ACCOUNT}:function:{other}",
        ),
        (
            "function_arn_other_account_exc",
            f"arn:aws:lambda:{LAMBOX_REGION}:123456789012:function:{other}",
        ),
    ):
        got[key] = call(lambda_client.create_function, FunctionName=function_name, **INDEX_FUNCTION)
    assert_match(recorded(test_id), norm(got))


def test_create_lambda_exceptions(lambda_client: Any) -> None:
    test_id = f"{FUNCTION}::test_create_lambda_exceptions"
    name = unique("invalid-function")
    base = {"FunctionName": name, **INDEX_FUNCTION}
    create = lambda_client.create_function
    got: dict[str, Any] = {}
    got["invalid_role_arn_exc"] = call(create, **{**base, "Role": "r1"})
    got["invalid_runtime_exc"] = call(create, **{**base, "Runtime": "non-existent-runtime"})
    got["uppercase_runtime_exc"] = call(create, **{**base, "Runtime": "PYTHON3.9"})
    # boto3 refuses this one itself; the recording holds the exception's text.
    with pytest.raises(ParamValidationError) as exc:
        create(**base, Architectures=[])
    got["empty_architectures"] = str(exc.value)
    got["multiple_architectures"] = call(create, **base, Architectures=["x86_64", "arm64"])
    got["uppercase_architecture"] = call(create, **base, Architectures=["X86_64"])
    got["invalid_zip_exc"] = call(
        create, **{**base, "Code": {"ZipFile": b"this is not a zipfile, just a random string"}}
    )
    expected, actual = recorded(test_id), Normaliser()(got)
    runtime_enums(expected, actual, "invalid_runtime_exc", "uppercase_runtime_exc")
    assert_match(expected, actual)


def test_update_lambda_exceptions(lambda_client: Any) -> None:
    test_id = f"{FUNCTION}::test_update_lambda_exceptions"
    name = unique("invalid-function")
    lambda_client.create_function(FunctionName=name, **INDEX_FUNCTION)
    wait_until_settled(lambda_client, name)
    update = lambda_client.update_function_configuration
    got = {
        "invalid_role_arn_exc": call(update, FunctionName=name, Role="r1"),
        "invalid_runtime_exc": call(update, FunctionName=name, Runtime="non-existent-runtime"),
        "uppercase_runtime_exc": call(update, FunctionName=name, Runtime="PYTHON3.9"),
    }
    expected, actual = recorded(test_id), Normaliser()(got)
    runtime_enums(expected, actual, "invalid_runtime_exc", "uppercase_runtime_exc")
    assert_match(expected, actual)


RUNTIME_ENUM = re.compile(r"(enum value set: \[)([^\]]*)(\] or be a valid ARN)")


def runtime_enums(expected: dict[str, Any], actual: dict[str, Any], *keys: str) -> None:
    """The runtime list of an "unknown runtime" message, compared as a set.

    AWS lists the runtimes it accepts in an order of its own; lambox lists them in the order
    of botocore's service model, which is newer than the recording and names runtimes AWS did
    not list on the recording date (ruby4.0, nodejs26.x, python3.15, java*.al2023, custom).
    Every runtime AWS listed must be in lambox's list; then both lists become "<runtimes>".
    """
    for key in keys:
        aws = RUNTIME_ENUM.search(expected[key]["Error"]["Message"])
        ours = RUNTIME_ENUM.search(actual[key]["Error"]["Message"])
        assert aws is not None and ours is not None, (expected[key], actual[key])
        missing = set(aws.group(2).split(", ")) - set(ours.group(2).split(", "))
        assert not missing, f"{key}: lambox does not list the runtimes {sorted(missing)}"
        for side in (expected[key], actual[key]):
            for holder, field in ((side, "message"), (side["Error"], "Message")):
                if field in holder:
                    holder[field] = RUNTIME_ENUM.sub(r"\1<runtimes>\3", holder[field])


def test_list_functions(lambda_client: Any) -> None:
    test_id = f"{FUNCTION}::test_list_functions"
    name_1, name_2 = unique("list-fn-1"), unique("list-fn-2")
    norm = Normaliser()
    norm.name(name_1)
    norm.name(name_2)
    # AWS's first function was created with Publish=True (Version "1" in create_response_1
    # and an extra entry in list_all); publishing versions is outside this suite, so those
    # two recorded answers are left out and the function is created without publishing.
    create_function(lambda_client, name_1)
    got: dict[str, Any] = {}
    got["create_response_2"] = create_function(lambda_client, name_2)
    got["list_functions_invalid_functionversion"] = call(
        lambda_client.list_functions, FunctionVersion="invalid"
    )
    listed = [
        fn
        for page in lambda_client.get_paginator("list_functions").paginate()
        for fn in page["Functions"]
        if fn["FunctionName"] in (name_1, name_2)
    ]
    got["list_default"] = {"Functions": sorted(listed, key=lambda fn: fn["FunctionArn"])}
    expected = pick(
        recorded(test_id), "create_response_2", "list_functions_invalid_functionversion",
        "list_default",
    )  # fmt: skip
    assert_match(expected, norm(got))


@pytest.mark.parametrize("runtime", ["python3.7", "go1.x", "provided", "nodejs14.x"])
def test_create_deprecated_function_runtime(lambda_client: Any, runtime: str) -> None:
    test_id = (
        f"{API}::TestRuntimeValidation::"
        f"test_create_deprecated_function_runtime_with_validation_enabled[{runtime}]"
    )
    got = {
        "deprecation_error": call(
            lambda_client.create_function,
            FunctionName=unique("fn"),
            **{**INDEX_FUNCTION, "Runtime": runtime},
        )
    }
    assert_match(recorded(test_id), Normaliser()(got))


def measured_value(message: str, key: str) -> str:
    """The value of ``key`` inside the "String measured: {...}" JSON of a recorded message."""
    measured = json.loads(message.split("String measured: ", 1)[1])
    return str(measured[key])


@pytest.mark.parametrize(
    ("test_name", "key", "small"),
    [
        ("test_large_environment_variables_fails", "failed_create_fn_result", {}),
        (
            "test_large_environment_fails_multiple_keys",
            "failured_create_fn_result_multi_key",
            {"SMALL_VAR": "ok"},
        ),
    ],
)
def test_large_environment_fails(
    lambda_client: Any, test_name: str, key: str, small: dict[str, str]
) -> None:
    """An environment one byte over 4 KB, in one variable or beside a small one."""
    test_id = f"{SIZE_LIMITS}::{test_name}"
    expected = recorded(test_id)
    # The large value is taken from the recorded message itself (its exact size).
    large = measured_value(expected[key]["message"], "LARGE_VAR")
    got = {
        key: refused_create(
            lambda_client,
            Code={"ZipFile": ECHO_ZIP},
            Timeout=30,
            Environment={"Variables": {**small, "LARGE_VAR": large}},
            Tags={},
        )
    }
    assert_match(expected, Normaliser()(got))


def test_lambda_envvars_near_limit_succeeds(lambda_client: Any) -> None:
    test_id = f"{SIZE_LIMITS}::test_lambda_envvars_near_limit_succeeds"
    expected = recorded(test_id)
    created = expected["successful_create_fn_result"]["CreateFunctionResponse"]
    variables = created["Environment"]["Variables"]
    name = unique("fn")
    norm = Normaliser()
    norm.name(name)
    got = {
        "successful_create_fn_result": create_function(
            lambda_client, name, Environment={"Variables": variables}
        )
    }
    assert_match(expected, norm(got))


def zip_of_size(size: int, compress: bool) -> bytes:
    """A zip whose one file holds ``size`` bytes: zeros, deflated (tiny), or random, stored."""
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(buf, "w", method) as zf, zf.open("handler.py", "w", force_zip64=True) as f:
        left = size
        while left > 0:
            part = min(left, len(chunk))
            f.write(chunk[:part] if compress else os.urandom(part))
            left -= part
    return buf.getvalue()


@pytest.mark.parametrize(
    ("test_name", "size", "compress"),
    [
        # Unzipped over 250 MB: zeros, which deflate to a small upload.
        ("test_oversized_unzipped_lambda", 262_144_000 + 1, True),
        # Zipped over 50 MB: random bytes, stored.
        ("test_oversized_zipped_create_lambda", 52_428_800 + 1, False),
    ],
)
def test_oversized_code(lambda_client: Any, test_name: str, size: int, compress: bool) -> None:
    test_id = f"{SIZE_LIMITS}::{test_name}"
    got = {
        "invalid_param_exc": refused_create(
            lambda_client, Code={"ZipFile": zip_of_size(size, compress=compress)}
        )
    }
    assert_match(recorded(test_id), Normaliser()(got))


def test_invalid_invoke(lambda_client: Any) -> None:
    test_id = f"{FUNCTION}::test_invalid_invoke"
    got = {
        "invoke_function_name_pattern_exc": call(
            lambda_client.invoke,
            FunctionName=f"arn:aws:lambda:{LAMBOX_REGION}:123400000000@function:myfn",
            Payload=b"{}",
        )
    }
    assert_match(recorded(test_id), Normaliser()(got))


# -- test_function_name_and_qualifier_validation ------------------------------------------------
#
# The recorded answers of this test are reduced to {"Code", "Message"}, or, for validation
# messages ("N validation error(s) detected: a; b"), to {"Code", "Count", "Errors"}; runs of
# 'a' in long names are shown as "<a:len(N)>". Below, a selection of the recorded cases, with
# the inputs their recorded messages state.

FULL = f"arn:aws:lambda:{LAMBOX_REGION}:{LAMBOX_ACCOUNT}:function:"
NAME_CASES: dict[str, tuple[str, str | None]] = {
    "function_name_is_single_invalid": ("*", None),
    "invalid_characters_in_function_name": ("my-function!", None),
    "invalid_characters_in_qualifier": ("my-function", "invalid!"),
    "qualifier_too_long": ("my-function", "a" * 129),
    "qualifier_too_long1": ("my-function", "a" * 65),
    "function_name_too_long": ("a" * 65, None),
    "invalid_account_id_in_partial_arn": ("invalid-account:function:my-function", None),
    "invalid_region_in_arn": (
        f"arn:aws:lambda:invalid-region:{LAMBOX_ACCOUNT}:function:my-function",
        None,
    ),
    "non_lambda_arn": (
        f"arn:aws:ec2:{LAMBOX_REGION}:{LAMBOX_ACCOUNT}:instance:i-1234567890abcdef0",
        None,
    ),
    "full_arn_with_multiple_qualifiers": (f"{FULL}my-function:1:2", None),
    "incomplete_arn": (f"arn:aws:lambda:{LAMBOX_REGION}:{LAMBOX_ACCOUNT}:function", None),
    "partial_arn_with_extra_qualifier": ("function:my-function:$LATEST:extra", None),
    "latest_version_with_additional_qualifier": (f"{FULL}my-function:$LATEST", "1"),
    "lowercase_latest_qualifier": (f"{FULL}my-function", "$latest"),
    "missing_region_in_arn": (f"arn:aws:lambda::{LAMBOX_ACCOUNT}:function:my-function", None),
    "missing_account_id_in_arn": (f"arn:aws:lambda:{LAMBOX_REGION}::function:my-function", None),
    "misspelled_latest_in_arn": (f"{FULL}my-function:$LATES", None),
}
NAME_OPERATIONS = ["get_function", "delete_function", "invoke", "create_function"]


def reduced(response: dict[str, Any]) -> dict[str, Any]:
    code, message = response["Error"]["Code"], response["Error"]["Message"] or ""
    m = re.match(r"^(\d+) validation errors? detected: (.*)$", message, re.DOTALL)
    if m is None:
        return {"Code": code, "Message": message}
    return {"Code": code, "Count": int(m.group(1)), "Errors": m.group(2).split("; ")}


def long_runs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: long_runs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [long_runs(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"a{50,}", lambda m: f"<a:len({len(m.group(0))})>", value)
    return value


@pytest.mark.parametrize(
    ("case", "operation"),
    [
        pytest.param(case, operation, id=f"{case}-{operation}")
        for case in NAME_CASES
        for operation in NAME_OPERATIONS
        # Nothing was recorded for these two: AWS did not refuse the call.
        if (case, operation)
        not in (("incomplete_arn", "create_function"), ("qualifier_too_long1", "create_function"))
    ],
)
def test_function_name_and_qualifier_validation(
    lambda_client: Any, case: str, operation: str
) -> None:
    test_id = f"{FUNCTION}::test_function_name_and_qualifier_validation[{case}-{operation}]"
    expected = recorded(test_id)
    function_name, qualifier = NAME_CASES[case]
    if operation == "create_function":
        params: dict[str, Any] = {
            "FunctionName": f"{function_name}:{qualifier}" if qualifier else function_name,
            "Handler": "handler.handler",
            "Code": {"ZipFile": ECHO_ZIP},
            "Role": ROLE,
            "Runtime": LAMBOX_RUNTIME,
        }
    else:
        params = {"FunctionName": function_name}
        if qualifier:
            params["Qualifier"] = qualifier
    response = call(getattr(lambda_client, operation), **params)
    assert "Error" in response, f"lambox accepted {params!r}: {response!r}"
    key = "invoke_exception" if operation == "invoke" else f"{operation}_exception"
    got = {key: reduced(response)}
    assert_match(expected, long_runs(Normaliser()(got)))
