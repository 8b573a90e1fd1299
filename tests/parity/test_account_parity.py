"""GetAccountSettings against AWS's recorded answers (concurrency-account:
TestLambdaAccountSettings): the full shape, and code storage that counts every version."""

from __future__ import annotations

from typing import Any

from tests.conftest import make_zip, unique
from tests.parity.snapshot import assert_match, create_function, echo_zip, recorded

LAYER_ZIP = make_zip({"python/layer_helper.py": "VALUE = 1\n"})
SETTINGS = "tests/aws/services/lambda_/test_lambda_api.py::TestLambdaAccountSettings"


def code_size(client: Any) -> int:
    return int(client.get_account_settings()["AccountUsage"]["TotalCodeSize"])


def test_account_settings(lambda_client: Any) -> None:
    """The recording keeps the keys only (the values are the account's)."""
    settings = lambda_client.get_account_settings()
    got = {
        "acc_settings_modded": {
            "AccountLimit": sorted(settings["AccountLimit"]),
            "AccountUsage": sorted(settings["AccountUsage"]),
            "ResponseMetadata": settings["ResponseMetadata"],
        }
    }
    got["acc_settings_modded"]["ResponseMetadata"] = {
        "HTTPHeaders": {},
        "HTTPStatusCode": settings["ResponseMetadata"]["HTTPStatusCode"],
    }
    assert_match(recorded(f"{SETTINGS}::test_account_settings"), got)


def test_account_settings_total_code_size(lambda_client: Any) -> None:
    """Creating a function adds its package's size; updating its code and publishing adds
    the size of the package again (the published version keeps it beside $LATEST), as the
    recorded UpdateFunctionCode with Publish did. lambox's UpdateFunctionCode does not
    publish by itself yet, so the replay publishes with PublishVersion. The layer steps of
    the recording follow in ``test_layer_versions_count_in_total_code_size``."""
    expected = recorded(f"{SETTINGS}::test_account_settings_total_code_size")
    name = unique("fn-size")
    first = code_size(lambda_client)
    created = create_function(lambda_client, name)["CreateFunctionResponse"]
    after_create = code_size(lambda_client)
    lambda_client.update_function_code(FunctionName=name, ZipFile=echo_zip(name))
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    lambda_client.publish_version(FunctionName=name)
    after_update = code_size(lambda_client)
    got = {
        "total_code_size_diff_create_function": after_create - first,
        "total_code_size_diff_update_function": after_update - after_create,
    }
    # Both recorded packages were 276 bytes; lambox's is the echo handler's own size.
    assert created["CodeSize"] > 0
    assert got == {k: created["CodeSize"] for k in got}
    assert (
        expected["total_code_size_diff_create_function"]
        == expected["total_code_size_diff_update_function"]
    )


def test_account_settings_total_code_size_config_update(lambda_client: Any) -> None:
    expected = recorded(f"{SETTINGS}::test_account_settings_total_code_size_config_update")
    name = unique("fn-size")
    first = code_size(lambda_client)
    create_function(lambda_client, name)
    after_create = code_size(lambda_client)
    lambda_client.update_function_configuration(FunctionName=name, Timeout=10)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    after_config = code_size(lambda_client)
    lambda_client.publish_version(FunctionName=name)
    after_publish = code_size(lambda_client)
    got = {
        "is_total_code_size_diff_create_function_more_than_200": after_create - first > 200,
        "total_code_size_diff_update_function_configuration": after_config - after_create,
        "is_total_code_size_diff_publish_version_after_config_update_more_than_200": (
            after_publish - after_config > 200
        ),
    }
    assert_match(expected, got)


def test_layer_versions_count_in_total_code_size(lambda_client: Any) -> None:
    """Publishing a layer adds its package's size, publishing another version of it adds it
    again (recorded: 169 bytes both times, the size of the recorded layer package)."""
    expected = recorded(f"{SETTINGS}::test_account_settings_total_code_size")
    layer = unique("layer-size")
    before = code_size(lambda_client)
    first = lambda_client.publish_layer_version(LayerName=layer, Content={"ZipFile": LAYER_ZIP})
    after_layer = code_size(lambda_client)
    second = lambda_client.publish_layer_version(LayerName=layer, Content={"ZipFile": LAYER_ZIP})
    after_version = code_size(lambda_client)
    got = {
        "total_code_size_diff_publish_layer": after_layer - before,
        "total_code_size_diff_publish_layer_version": after_version - after_layer,
    }
    assert got == {
        "total_code_size_diff_publish_layer": first["Content"]["CodeSize"],
        "total_code_size_diff_publish_layer_version": second["Content"]["CodeSize"],
    }
    assert (
        expected["total_code_size_diff_publish_layer"]
        == expected["total_code_size_diff_publish_layer_version"]
    )
