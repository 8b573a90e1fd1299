"""Layers against AWS's recorded answers (layers-codesigning-snapstart): the layer
lifecycle, its permission policy and the errors of a function's ``Layers``."""

from __future__ import annotations

from typing import Any

from tests.conftest import make_zip, unique
from tests.parity.snapshot import (
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

LAYER = "tests/aws/services/lambda_/test_lambda_api.py::TestLambdaLayer"
CONTENT = make_zip({"python/lib.py": "X = 1\n"})


def layer_normaliser(name: str) -> Normaliser:
    norm = Normaliser(fixed={"CreatedDate": "date"})
    norm.resource(name)
    return norm


def publish(client: Any, name: str, **params: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "LayerName": name,
        "Content": {"ZipFile": CONTENT},
        "CompatibleRuntimes": ["python3.12"],
        "CompatibleArchitectures": ["x86_64"],
        **params,
    }
    return dict(client.publish_layer_version(**args))


def normalised(norm: Normaliser, got: dict[str, Any]) -> dict[str, Any]:
    """``norm(got)``, with a layer's content URL named as the recordings name it."""
    out: dict[str, Any] = norm(got)
    for answer in out.values():
        if isinstance(answer, dict) and "LayerVersionArn" in answer and "Content" in answer:
            answer["Content"]["Location"] = "<layer-location>"
    return out


def test_layer_policy_lifecycle(lambda_client: Any) -> None:
    test_id = f"{LAYER}::test_layer_policy_lifecycle"
    name = unique("layer")
    got: dict[str, Any] = {"publish_result": publish(lambda_client, name)}
    permission = {"Action": "lambda:GetLayerVersion", "Principal": "*"}
    got["add_policy_s1"] = lambda_client.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="s1", **permission
    )
    got["get_layer_version_policy"] = lambda_client.get_layer_version_policy(
        LayerName=name, VersionNumber=1
    )
    got["add_policy_s2"] = lambda_client.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="s2", **permission
    )
    got["get_layer_version_policy_postadd2"] = lambda_client.get_layer_version_policy(
        LayerName=name, VersionNumber=1
    )
    got["remove_s2"] = lambda_client.remove_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="s2"
    )
    got["get_layer_version_policy_postdeletes2"] = lambda_client.get_layer_version_policy(
        LayerName=name, VersionNumber=1
    )
    assert_match(recorded(test_id), normalised(layer_normaliser(name), got))


def test_layer_exceptions(lambda_client: Any) -> None:
    test_id = f"{LAYER}::test_layer_exceptions"
    name = unique("layer")
    got: dict[str, Any] = {"publish_result": publish(lambda_client, name)}
    got["list_nonexistent_layer"] = lambda_client.list_layer_versions(LayerName=unique("none"))
    got["get_layer_version_exc_layer_doesnotexist"] = call(
        lambda_client.get_layer_version, LayerName=unique("none"), VersionNumber=1
    )
    for key, version in (("negative", -1), ("zero", 0)):
        got[f"get_layer_version_exc_layer_version_doesnotexist_{key}"] = call(
            lambda_client.get_layer_version, LayerName=name, VersionNumber=version
        )
    got["get_layer_version_exc_layer_version_doesnotexist_2"] = call(
        lambda_client.get_layer_version, LayerName=name, VersionNumber=2
    )
    arn = f"arn:aws:lambda:{LAMBOX_REGION}:{LAMBOX_ACCOUNT}:layer:{name}"
    got["get_layer_version_by_arn_exc_invalidarn"] = call(
        lambda_client.get_layer_version_by_arn, Arn=arn
    )
    got["get_layer_version_by_arn_exc_nonexistentversion"] = call(
        lambda_client.get_layer_version_by_arn, Arn=f"{arn}:2"
    )
    got["delete_nonexistent_version_response"] = lambda_client.delete_layer_version(
        LayerName=name, VersionNumber=2
    )
    got["delete_layer_response"] = lambda_client.delete_layer_version(
        LayerName=name, VersionNumber=1
    )
    got["delete_layer_again_response"] = lambda_client.delete_layer_version(
        LayerName=name, VersionNumber=1
    )
    got["delete_layer_version_exc_layerversion_invalid_version"] = call(
        lambda_client.delete_layer_version, LayerName=name, VersionNumber=-1
    )
    expected = pick(recorded(test_id), *got)
    assert_match(expected, normalised(layer_normaliser(name), got))


def test_layer_function_exceptions(lambda_client: Any) -> None:
    test_id = f"{LAYER}::test_layer_function_exceptions"
    name = unique("layer")
    arn = f"arn:aws:lambda:{LAMBOX_REGION}:{LAMBOX_ACCOUNT}:layer:{name}"
    got: dict[str, Any] = {}
    for key in ("publish_result", "publish_result_2", "publish_result_3"):
        got[key] = publish(lambda_client, name, CompatibleRuntimes=[])
    fn = unique("fn")
    norm = layer_normaliser(name)
    norm.name(fn)
    create_function(lambda_client, fn, Runtime=LAMBOX_RUNTIME)
    got["get_fn_result"] = lambda_client.get_function(FunctionName=fn)
    update = lambda_client.update_function_configuration
    got["two_layer_versions_single_function_exc"] = call(
        update, FunctionName=fn, Layers=[f"{arn}:1", f"{arn}:2"]
    )
    got["three_layer_versions_single_function_exc"] = call(
        update, FunctionName=fn, Layers=[f"{arn}:1", f"{arn}:2", f"{arn}:3"]
    )
    got["two_identical_layer_versions_single_function_exc"] = call(
        update, FunctionName=fn, Layers=[f"{arn}:1", f"{arn}:1"]
    )
    got["add_nonexistent_layer_version_exc"] = call(update, FunctionName=fn, Layers=[f"{arn}:9"])
    expected = pick(recorded(test_id), *got)
    assert_match(expected, normalised(norm, got))


def test_layer_lifecycle(lambda_client: Any) -> None:
    test_id = f"{LAYER}::test_layer_lifecycle"
    fn = unique("fn")
    name = unique("layer")
    description, license_info = unique("description"), unique("license")
    norm = Normaliser(fixed={"CreatedDate": "date"})
    norm.name(fn)
    create_function(lambda_client, fn, Runtime=LAMBOX_RUNTIME)
    got: dict[str, Any] = {
        "get_fn_result": lambda_client.get_function(FunctionName=fn),
        "get_fn_config_result": lambda_client.get_function_configuration(FunctionName=fn),
    }
    norm.resource(name)
    norm.name(description, "<description>")
    norm.name(license_info, "<license-info>")
    extra = {"Description": description, "LicenseInfo": license_info}
    got["publish_result"] = publish(lambda_client, name, **extra)
    got["publish_result_2"] = publish(lambda_client, name, **extra)
    arn = got["publish_result"]["LayerVersionArn"]
    got["update_fn_config"] = lambda_client.update_function_configuration(
        FunctionName=fn, Layers=[arn]
    )
    wait_until_settled(lambda_client, fn)
    got["get_fn_config"] = lambda_client.get_function_configuration(FunctionName=fn)
    got["get_layer_ver_result"] = lambda_client.get_layer_version(LayerName=name, VersionNumber=1)
    got["get_layer_by_arn_version"] = lambda_client.get_layer_version_by_arn(Arn=arn)
    got["list_layer_versions_predelete"] = lambda_client.list_layer_versions(LayerName=name)
    got["delete_layer_1"] = lambda_client.delete_layer_version(LayerName=name, VersionNumber=1)
    got["delete_layer_2"] = lambda_client.delete_layer_version(LayerName=name, VersionNumber=2)
    got["list_layer_versions_postdelete"] = lambda_client.list_layer_versions(LayerName=name)
    assert_match(pick(recorded(test_id), *got), normalised(norm, got))
