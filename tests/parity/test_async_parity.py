"""EventInvokeConfig operations against responses recorded on AWS.

Replays the calls of the recorded ``TestLambdaEventInvokeConfig`` tests (see
``tests/parity/snapshot.py`` for the recordings and the normaliser) and compares every
response. The PublishVersion / CreateAlias answers those tests also recorded are left out
here: they belong to the versions and aliases parity tests.
"""

from __future__ import annotations

import datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.conftest import LamboxServer, unique
from tests.parity.snapshot import Normaliser, assert_match, call, create_function, recorded

API = "tests/aws/services/lambda_/test_lambda_api.py::TestLambdaEventInvokeConfig"
SETUP_ONLY = ("fn_version_result", "fn_alias_result", "publish_version_result")
"""Recorded answers of PublishVersion / CreateAlias: not EventInvokeConfig operations."""


@pytest.fixture(scope="module")
def unvalidated(server: LamboxServer) -> Any:
    """A client that sends what it is given (the recordings turned botocore's checks off)."""
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(parameter_validation=False, retries={"max_attempts": 0}),
    )


def dates(value: Any) -> Any:
    """boto3 parses LastModified of these operations into a datetime: "datetime" in the
    recordings."""
    if isinstance(value, datetime.datetime):
        return "datetime"
    if isinstance(value, dict):
        return {k: dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [dates(v) for v in value]
    return value


def replay_exceptions(client: Any) -> tuple[dict[str, Any], Normaliser]:
    """The calls of ``test_lambda_eventinvokeconfig_exceptions``, in its order."""
    name, name_2 = unique("fn-eventinvoke"), unique("fn-eventinvoke-2")
    norm = Normaliser()
    norm.name(name)
    norm.name(name_2, "<resource:5>")
    fn_arn = create_function(client, name)["CreateFunctionResponse"]["FunctionArn"]
    fn_arn_2 = create_function(client, name_2)["CreateFunctionResponse"]["FunctionArn"]
    version = client.publish_version(FunctionName=name)["Version"]
    alias = client.create_alias(FunctionName=name, Name="eventinvokealias", FunctionVersion=version)
    alias_name, alias_arn = alias["Name"], alias["AliasArn"]
    fake_arn = fn_arn.replace(name, "doesnotexist")
    put = client.put_function_event_invoke_config
    got: dict[str, Any] = {}

    def record(key: str, method: Any, **kw: Any) -> None:
        got[key] = call(method, **kw)

    record(
        "put_functionname_name_notfound", put, FunctionName="doesnotexist", MaximumRetryAttempts=1
    )
    record("put_functionname_arn_notfound", put, FunctionName=fake_arn, MaximumRetryAttempts=1)
    record("put_functionname_nootherargs", put, FunctionName="doesnotexist")
    for key, destination in (
        ("put_destination_lambda_doesntexist", {"OnSuccess": {"Destination": fake_arn}}),
        ("put_destination_recursive", {"OnSuccess": {"Destination": fn_arn}}),
        ("put_destination_other_lambda", {"OnSuccess": {"Destination": fn_arn_2}}),
        (
            "put_destination_invalid_service_arn",
            {"OnSuccess": {"Destination": fn_arn.replace(":lambda:", ":iam:")}},
        ),
        ("put_destination_success_no_destination_arn", {"OnSuccess": {}}),
        ("put_destination_failure_no_destination_arn", {"OnFailure": {}}),
        (
            "put_destination_invalid_arn_pattern",
            {"OnFailure": {"Destination": fn_arn.replace(":lambda:", ":_-/!lambda:")}},
        ),
    ):
        record(key, put, FunctionName=name, DestinationConfig=destination)
    for key, kw in (
        ("put_destination_latest", {"FunctionName": name}),
        (
            "put_destination_latest_explicit_qualifier",
            {"FunctionName": name, "Qualifier": "$LATEST"},
        ),
        ("put_destination_version", {"FunctionName": name, "Qualifier": version}),
        ("put_alias_functionname_qualifier", {"FunctionName": name, "Qualifier": alias_name}),
        (
            "put_alias_doesnotexist",
            {"FunctionName": name, "Qualifier": f"{alias_name}doesnotexist"},
        ),
        ("put_alias_qualifiedarn", {"FunctionName": alias_arn}),
        ("put_alias_qualifiedarn_qualifier", {"FunctionName": alias_arn, "Qualifier": alias_name}),
        (
            "put_alias_qualifiedarn_qualifierconflict",
            {"FunctionName": alias_arn, "Qualifier": f"{alias_name}doesnotexist"},
        ),
        ("put_alias_shorthand", {"FunctionName": f"{name}:{alias_name}"}),
        (
            "put_alias_shorthand_qualifier",
            {"FunctionName": f"{name}:{alias_name}", "Qualifier": alias_name},
        ),
        (
            "put_alias_shorthand_qualifierconflict",
            {"FunctionName": f"{name}:{alias_name}", "Qualifier": f"{alias_name}doesnotexist"},
        ),
        ("put_version_shorthand", {"FunctionName": f"{name}:{version}"}),
        (
            "put_shorthand_qualifier_match",
            {"FunctionName": f"{name}:$LATEST", "Qualifier": "$LATEST"},
        ),
        (
            "put_shorthand_qualifier_mismatch_1",
            {"FunctionName": f"{name}:{version}", "Qualifier": "$LATEST"},
        ),
        (
            "put_shorthand_qualifier_mismatch_2",
            {"FunctionName": f"{name}:$LATEST", "Qualifier": version},
        ),
        (
            "put_shorthand_qualifier_mismatch_3",
            {"FunctionName": f"{name}:{version}", "Qualifier": alias_name},
        ),
    ):
        record(key, put, MaximumRetryAttempts=1, **kw)
    record(
        "put_maxevent_maxvalue_result",
        put,
        FunctionName=name,
        MaximumRetryAttempts=2,
        MaximumEventAgeInSeconds=21600,
    )
    record(
        "put_pre_overwrite",
        put,
        FunctionName=name,
        MaximumRetryAttempts=2,
        MaximumEventAgeInSeconds=60,
    )
    record("put_post_overwrite", put, FunctionName=name, MaximumRetryAttempts=0)
    record("second_overwrite_existing_response", put, FunctionName=name, MaximumRetryAttempts=0)
    record("get_post_overwrite", client.get_function_event_invoke_config, FunctionName=name)
    assert "MaximumEventAgeInSeconds" not in got["get_post_overwrite"]
    record(
        "pre_update_response",
        put,
        FunctionName=name,
        MaximumRetryAttempts=2,
        MaximumEventAgeInSeconds=60,
    )
    update = client.update_function_event_invoke_config
    record("update_response", update, FunctionName=name, MaximumRetryAttempts=0)
    record("update_response_existing", update, FunctionName=name, MaximumRetryAttempts=0)
    after_update = client.get_function_event_invoke_config(FunctionName=name)
    assert after_update["MaximumRetryAttempts"] == 0
    assert after_update["MaximumEventAgeInSeconds"] == 60
    listing = client.list_function_event_invoke_configs
    record("list_configs", listing, FunctionName=name)
    paged = client.list_function_event_invoke_configs(FunctionName=name, MaxItems=2)
    assert len(paged["FunctionEventInvokeConfigs"]) == 2 and paged["NextMarker"]
    delete = client.delete_function_event_invoke_config
    record("delete_latest", delete, FunctionName=name, Qualifier="$LATEST")
    record("delete_version", delete, FunctionName=name, Qualifier=version)
    record("delete_alias", delete, FunctionName=name, Qualifier=alias_name)
    record("list_configs_postdelete", listing, FunctionName=name)
    record("delete_function_not_found", delete, FunctionName=name)
    record("delete_function_doesnotexist", delete, FunctionName="doesnotexist")
    record("list_function_doesnotexist", listing, FunctionName="doesnotexist")
    get = client.get_function_event_invoke_config
    record("get_function_doesnotexist", get, FunctionName="doesnotexist")
    record("get_qualifier_doesnotexist", get, FunctionName=name, Qualifier="doesnotexist")
    record(
        "update_eventinvokeconfig_function_doesnotexist",
        update,
        FunctionName="doesnotexist",
        MaximumRetryAttempts=0,
    )
    record("get_eventinvokeconfig_doesnotexist", get, FunctionName=alias_arn)
    record(
        "update_eventinvokeconfig_config_doesnotexist_with_qualifier",
        update,
        FunctionName=alias_arn,
        MaximumRetryAttempts=0,
    )
    record(
        "update_eventinvokeconfig_config_doesnotexist_without_qualifier",
        update,
        FunctionName=fn_arn,
        MaximumRetryAttempts=0,
    )
    return got, norm


def test_eventinvokeconfig_exceptions(unvalidated: Any) -> None:
    got, norm = replay_exceptions(unvalidated)
    expected = recorded(f"{API}::test_lambda_eventinvokeconfig_exceptions")
    keys = [k for k in expected if k not in SETUP_ONLY]
    assert_match({k: expected[k] for k in keys}, dates(norm({k: got[k] for k in keys})))


def test_eventinvokeconfig_lifecycle(lambda_client: Any) -> None:
    name = unique("fn-eventinvoke")
    norm = Normaliser()
    norm.name(name)
    create_function(lambda_client, name)
    put = lambda_client.put_function_event_invoke_config
    update = lambda_client.update_function_event_invoke_config
    get = lambda_client.get_function_event_invoke_config
    listing = lambda_client.list_function_event_invoke_configs
    got: dict[str, Any] = {}
    got["put_invokeconfig_retries_0"] = put(FunctionName=name, MaximumRetryAttempts=0)
    got["put_invokeconfig_eventage_60"] = put(FunctionName=name, MaximumEventAgeInSeconds=60)
    got["update_invokeconfig_eventage_nochange"] = update(
        FunctionName=name, MaximumEventAgeInSeconds=60
    )
    got["update_invokeconfig_retries"] = update(FunctionName=name, MaximumRetryAttempts=1)
    got["get_invokeconfig"] = get(FunctionName=name)
    got["get_invokeconfig_latest"] = get(FunctionName=name, Qualifier="$LATEST")
    got["list_single_invokeconfig"] = listing(FunctionName=name)
    version = lambda_client.publish_version(FunctionName=name)["Version"]
    got["get_invokeconfig_postpublish"] = call(get, FunctionName=name, Qualifier=version)
    got["put_published_invokeconfig"] = put(
        FunctionName=name, Qualifier=version, MaximumEventAgeInSeconds=120
    )
    got["get_published_invokeconfig"] = get(FunctionName=name, Qualifier=version)
    single = listing(FunctionName=name, MaxItems=1)
    everything = listing(FunctionName=name)
    assert len(single["FunctionEventInvokeConfigs"]) == 1
    assert len(everything["FunctionEventInvokeConfigs"]) == 2
    rest = listing(FunctionName=name, Marker=single["NextMarker"], MaxItems=1)
    assert {c["FunctionArn"] for c in everything["FunctionEventInvokeConfigs"]} == {
        single["FunctionEventInvokeConfigs"][0]["FunctionArn"],
        rest["FunctionEventInvokeConfigs"][0]["FunctionArn"],
    }
    lambda_client.delete_function_event_invoke_config(FunctionName=name)
    got["list_paging_nolimit_postdelete"] = listing(FunctionName=name)
    expected = recorded(f"{API}::test_lambda_eventinvokeconfig_lifecycle")
    keys = [k for k in expected if k not in SETUP_ONLY]
    assert_match({k: expected[k] for k in keys}, dates(norm({k: got[k] for k in keys})))
