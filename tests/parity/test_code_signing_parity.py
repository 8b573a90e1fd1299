"""Code signing configs against AWS's recorded answers (layers-codesigning-snapstart:
TestCodeSigningConfig)."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import unique
from tests.parity.snapshot import (
    LAMBOX_ACCOUNT,
    LAMBOX_REGION,
    Normaliser,
    assert_match,
    call,
    create_function,
    recorded,
)

CSC = "tests/aws/services/lambda_/test_lambda_api.py::TestCodeSigningConfig"
PROFILE = f"arn:aws:signer:{LAMBOX_REGION}:{LAMBOX_ACCOUNT}:/signing-profiles/test"
MISSING_FUNCTION = "csc-test-doesnotexist"


def new_config(client: Any, norm: Normaliser) -> dict[str, Any]:
    response = client.create_code_signing_config(
        Description="Testing CodeSigning Config",
        AllowedPublishers={"SigningProfileVersionArns": [PROFILE]},
        CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"},
    )
    norm.name(response["CodeSigningConfig"]["CodeSigningConfigId"], "<resource:1>")
    return dict(response)


def new_function(client: Any, norm: Normaliser) -> str:
    name = unique("fn-csc")
    norm.name(name)
    create_function(client, name)
    return name


def test_function_code_signing_config(lambda_client: Any) -> None:
    norm = Normaliser()
    name = new_function(lambda_client, norm)
    c = lambda_client
    got: dict[str, Any] = {"create_code_signing_config": new_config(c, norm)}
    arn = got["create_code_signing_config"]["CodeSigningConfig"]["CodeSigningConfigArn"]
    got["update_code_signing_config"] = c.update_code_signing_config(
        CodeSigningConfigArn=arn, CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Warn"}
    )
    got["get_code_signing_config"] = c.get_code_signing_config(CodeSigningConfigArn=arn)
    got["put_function_code_signing_config"] = c.put_function_code_signing_config(
        CodeSigningConfigArn=arn, FunctionName=name
    )
    got["get_function_code_signing_config"] = c.get_function_code_signing_config(FunctionName=name)
    listed = c.list_code_signing_configs()["CodeSigningConfigs"]
    (got["list_code_signing_configs"],) = [x for x in listed if x["CodeSigningConfigArn"] == arn]
    got["list_functions_by_code_signing_config"] = c.list_functions_by_code_signing_config(
        CodeSigningConfigArn=arn
    )
    got["delete_function_code_signing_config"] = c.delete_function_code_signing_config(
        FunctionName=name
    )
    got["delete_code_signing_config"] = c.delete_code_signing_config(CodeSigningConfigArn=arn)
    assert_match(recorded(f"{CSC}::test_function_code_signing_config"), norm(got))


def test_code_signing_not_found_excs(lambda_client: Any) -> None:
    c = lambda_client
    created = new_config(c, Normaliser())
    arn = created["CodeSigningConfig"]["CodeSigningConfigArn"]
    invalid = f"{arn[:-1]}{'y' if arn.endswith('x') else 'x'}"
    # The recorded test replaced its made-up ARN by "<csc_arn_invalid>".
    norm = Normaliser(regexes=[(re.escape(invalid), "<csc_arn_invalid>")])
    norm.name(created["CodeSigningConfig"]["CodeSigningConfigId"], "<resource:1>")
    name = new_function(c, norm)
    got: dict[str, Any] = {"create_code_signing_config": created}
    got["delete_csc_notfound"] = call(c.delete_code_signing_config, CodeSigningConfigArn=invalid)
    got["nothing_to_delete_response"] = c.delete_function_code_signing_config(FunctionName=name)
    got["delete_function_csc_fnnotfound"] = call(
        c.delete_function_code_signing_config, FunctionName=MISSING_FUNCTION
    )
    got["put_function_csc_invalid_fnname"] = call(
        c.put_function_code_signing_config, CodeSigningConfigArn=arn, FunctionName=MISSING_FUNCTION
    )
    got["put_function_csc_invalid_csc_arn"] = call(
        c.put_function_code_signing_config, CodeSigningConfigArn=invalid, FunctionName=name
    )
    got["put_function_csc_invalid_both"] = call(
        c.put_function_code_signing_config,
        CodeSigningConfigArn=invalid,
        FunctionName=MISSING_FUNCTION,
    )
    got["update_csc_invalid_csc_arn"] = call(
        c.update_code_signing_config,
        CodeSigningConfigArn=invalid,
        Description="new-description",
        AllowedPublishers={"SigningProfileVersionArns": [PROFILE]},
        CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"},
    )
    got["update_csc_noupdates"] = call(c.update_code_signing_config, CodeSigningConfigArn=invalid)
    got["update_csc_noupdate_response"] = c.update_code_signing_config(CodeSigningConfigArn=arn)
    got["get_csc_invalid"] = call(c.get_code_signing_config, CodeSigningConfigArn=invalid)
    got["get_function_csc_fnwithoutcsc"] = c.get_function_code_signing_config(FunctionName=name)
    got["get_function_csc_nonexistingfn"] = call(
        c.get_function_code_signing_config, FunctionName=MISSING_FUNCTION
    )
    got["list_functions_by_csc_fnwithoutcsc"] = c.list_functions_by_code_signing_config(
        CodeSigningConfigArn=arn
    )
    got["list_functions_by_csc_invalid_cscarn"] = call(
        c.list_functions_by_code_signing_config, CodeSigningConfigArn=invalid
    )
    assert_match(recorded(f"{CSC}::test_code_signing_not_found_excs"), norm(got))
