"""Request validation answers the way AWS answered the same requests.

Every ``Recorded`` case below replays a request whose answer from real AWS is kept in the parity
snapshots (LocalStack's AWS-validated recordings, Apache-2.0) and expects that answer: the same
error code and the same message. The expected messages are copied here as recorded, placeholders
included (``<partition>``, ``<region>``, ``<a:len(65)>`` ...), and both sides are instantiated the
same way; ``test_copies_match_the_snapshots`` checks the copies against the snapshot files when
they are present (``LAMBOX_AWS_PARITY``, default ``/work/shared/aws-parity``).

Two normalisations only: enum lists compare as sets (AWS's order is not the model's), and the
runtime list AWS prints must be contained in lambox's (the model has gained runtimes since the
recording) while lambox's must hold no deprecated runtime.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lambox.control import shapes
from lambox.errors import InvalidParameterValue, LamboxError, ValidationError

SNAPSHOTS = Path(os.environ.get("LAMBOX_AWS_PARITY", "/work/shared/aws-parity"))
CRUD = "function-crud-and-validation.snapshot.json"
TEST_PREFIX = "tests/aws/services/lambda_/"
API = "test_lambda_api.py::TestLambdaFunction::"

ROLE = "arn:<partition>:iam::111111111111:role/lambda-role"
NS = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
CR = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
QUALIFIER = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"
RUNTIMES_SEEN = (
    "nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x,"
    " java25, python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9,"
    " java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2"
)
DEPRECATION = (
    "The runtime parameter of {} is no longer supported for creating or updating AWS Lambda"
    " functions. We recommend you use a supported runtime while creating or updating functions."
)


@dataclass(frozen=True)
class Recorded:
    """One request and AWS's recorded answer to it."""

    file: str
    test: str
    key: str
    operation: str
    params: dict[str, Any]
    code: str
    message: str
    subs: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.test.rsplit('::', 1)[-1]}:{self.key}"


def create(**changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "FunctionName": "invalid-function",
        "Handler": "index.handler",
        "Code": {"ZipFile": b"PK\x05\x06" + bytes(18)},
        "PackageType": "Zip",
        "Role": ROLE,
        "Runtime": "python3.9",
    }
    params.update(changes)
    return params


def summary(errors: list[str]) -> str:
    noun = "error" if len(errors) == 1 else "errors"
    return f"{len(errors)} validation {noun} detected: " + "; ".join(errors)


def bad_name(value: str, pattern: str) -> str:
    return (
        f"Value '{value}' at 'functionName' failed to satisfy constraint:"
        f" Member must satisfy regular expression pattern: {pattern}"
    )


def too_long(value: str, location: str, limit: int) -> str:
    return (
        f"Value '{value}' at '{location}' failed to satisfy constraint:"
        f" Member must have length less than or equal to {limit}"
    )


def bad_runtime(value: str) -> str:
    return (
        f"Value {value} at 'runtime' failed to satisfy constraint: Member must satisfy enum"
        f" value set: [{RUNTIMES_SEEN}] or be a valid ARN"
    )


ROLE_R1 = summary(
    [
        "Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular"
        r" expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
    ]
)

RECORDED: list[Recorded] = [
    Recorded(CRUD, API + "test_create_lambda_exceptions", "invalid_role_arn_exc",
             "CreateFunction", create(Role="r1"), "ValidationException", ROLE_R1),
    Recorded(CRUD, API + "test_create_lambda_exceptions", "invalid_runtime_exc",
             "CreateFunction", create(Runtime="non-existent-runtime"),
             "InvalidParameterValueException", bad_runtime("non-existent-runtime")),
    Recorded(CRUD, API + "test_create_lambda_exceptions", "uppercase_runtime_exc",
             "CreateFunction", create(Runtime="PYTHON3.9"),
             "InvalidParameterValueException", bad_runtime("PYTHON3.9")),
    Recorded(CRUD, API + "test_create_lambda_exceptions", "multiple_architectures",
             "CreateFunction", create(Architectures=["x86_64", "arm64"]), "ValidationException",
             summary([too_long("[x86_64, arm64]", "architectures", 1)])),
    Recorded(CRUD, API + "test_create_lambda_exceptions", "uppercase_architecture",
             "CreateFunction", create(Architectures=["X86_64"]), "ValidationException",
             summary(["Value '[X86_64]' at 'architectures' failed to satisfy constraint: Member"
                      " must satisfy constraint: [Member must satisfy enum value set: [x86_64,"
                      " arm64], Member must not be null]"])),
    Recorded(CRUD, API + "test_update_lambda_exceptions", "invalid_role_arn_exc",
             "UpdateFunctionConfiguration", {"FunctionName": "invalid-function", "Role": "r1"},
             "ValidationException", ROLE_R1),
    Recorded(CRUD, API + "test_update_lambda_exceptions", "invalid_runtime_exc",
             "UpdateFunctionConfiguration",
             {"FunctionName": "invalid-function", "Runtime": "non-existent-runtime"},
             "InvalidParameterValueException", bad_runtime("non-existent-runtime")),
    Recorded(CRUD, API + "test_update_lambda_exceptions", "uppercase_runtime_exc",
             "UpdateFunctionConfiguration",
             {"FunctionName": "invalid-function", "Runtime": "PYTHON3.9"},
             "InvalidParameterValueException", bad_runtime("PYTHON3.9")),
    Recorded(CRUD, API + "test_list_functions", "list_functions_invalid_functionversion",
             "ListFunctions", {"FunctionVersion": "invalid"}, "ValidationException",
             summary(["Value 'invalid' at 'functionVersion' failed to satisfy constraint:"
                      " Member must satisfy enum value set: [ALL]"])),
    Recorded(CRUD, API + "test_function_arns", "invalid_function_name_exc", "CreateFunction",
             create(FunctionName="invalid:function:name"), "ValidationException",
             summary([bad_name("invalid:function:name", CR)])),
    Recorded(CRUD, API + "test_function_arns", "long_function_name_exc", "CreateFunction",
             create(FunctionName="a" * 65), "InvalidParameterValueException",
             summary([too_long("a" * 65, "functionName", 64)])),
    Recorded(CRUD, API + "test_function_arns", "long_function_arn_exc", "CreateFunction",
             create(FunctionName="arn:<partition>:lambda:<region>:111111111111:function:"
                                 "<function-name>"),
             "ValidationException",
             summary([too_long("arn:<partition>:lambda:<region>:111111111111:function:"
                               "<function-name>", "functionName", 140)]),
             subs={"<function-name>": "a" * 94}),
    Recorded(CRUD, API + "test_invalid_invoke", "invoke_function_name_pattern_exc", "Invoke",
             {"FunctionName": "arn:<partition>:lambda:<region>:123400000000@function:myfn",
              "Payload": b"{}"},
             "ValidationException",
             summary([bad_name("arn:<partition>:lambda:<region>:123400000000@function:myfn",
                               NS)])),
    Recorded(CRUD, API + "test_invalid_vpc_config_subnet",
             "create-response-invalid-format-subnet-id", "CreateFunction",
             create(VpcConfig={"SubnetIds": ["<subnet_id_2>"], "SecurityGroupIds": []}),
             "ValidationException",
             summary(["Value '[<subnet_id_2>]' at 'vpcConfig.subnetIds' failed to satisfy"
                      " constraint: Member must satisfy constraint: [Member must have length"
                      " less than or equal to 1024, Member must have length greater than or"
                      " equal to 0, Member must satisfy regular expression pattern:"
                      " subnet-[0-9a-z]*]"]),
             subs={"<subnet_id_2>": "subnet_0123456789abcdef0"}),
    Recorded(CRUD, API + "test_invalid_vpc_config_security_group",
             "create-response-invalid-format-security-group", "CreateFunction",
             create(VpcConfig={"SubnetIds": [], "SecurityGroupIds": ["<security_group_id_2>"]}),
             "ValidationException",
             summary(["Value '[<security_group_id_2>]' at 'vpcConfig.securityGroupIds' failed"
                      " to satisfy constraint: Member must satisfy constraint: [Member must"
                      " have length less than or equal to 1024, Member must have length"
                      " greater than or equal to 0, Member must satisfy regular expression"
                      " pattern: sg-[0-9a-zA-Z]*]"]),
             subs={"<security_group_id_2>": "sg_0123456789abcdef0"}),
    Recorded(CRUD, "test_lambda_api.py::TestLambdaRecursion::"
             "test_put_function_recursion_config_invalid_value",
             "put_recursion_invalid_value_error", "PutFunctionRecursionConfig",
             {"FunctionName": "fn", "RecursiveLoop": "InvalidValue"}, "ValidationException",
             summary(["Value 'InvalidValue' at 'recursiveLoop' failed to satisfy constraint:"
                      " Member must satisfy enum value set: [Terminate, Allow]"])),
    *[
        Recorded(CRUD, "test_lambda_api.py::TestRuntimeValidation::"
                 f"test_create_deprecated_function_runtime_with_validation_enabled[{runtime}]",
                 "deprecation_error", "CreateFunction", create(Runtime=runtime),
                 "InvalidParameterValueException", DEPRECATION.format(runtime))
        for runtime in ("java8", "go1.x", "provided", "ruby2.7", "nodejs14.x", "python3.7",
                        "dotnetcore3.1", "nodejs12.x")
    ],
    Recorded("layers-codesigning-snapstart.snapshot.json",
             "test_lambda_api.py::TestLambdaLayer::test_layer_function_exceptions",
             "add_layer_arn_without_version_exc", "CreateFunction",
             create(Layers=["arn:<partition>:lambda:<region>:111111111111:layer:<resource:1>"]),
             "ValidationException",
             summary(["Value '[arn:<partition>:lambda:<region>:111111111111:layer:<resource:1>]'"
                      " at 'layers' failed to satisfy constraint: Member must satisfy"
                      " constraint: [Member must have length less than or equal to 2048, Member"
                      " must have length greater than or equal to 1, Member must satisfy"
                      " regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]"
                      r"{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:layer:[a-zA-Z0-9-_]+:"
                      "[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+), Member must"
                      " not be null]"]),
             subs={"<resource:1>": "my-layer"}),
    Recorded("layers-codesigning-snapstart.snapshot.json",
             "test_lambda_api.py::TestLambdaSnapStart::test_snapstart_exceptions",
             "create_function_invalid_snapstart_apply", "CreateFunction",
             create(SnapStart={"ApplyOn": "invalidOption"}), "ValidationException",
             summary(["Value 'invalidOption' at 'snapStart.applyOn' failed to satisfy"
                      " constraint: Member must satisfy enum value set: [PublishedVersions,"
                      " None]"])),
    Recorded("layers-codesigning-snapstart.snapshot.json",
             "test_lambda_api.py::TestLambdaLayer::test_layer_exceptions",
             "publish_layer_version_exc_invalid_runtime_arch", "PublishLayerVersion",
             {"LayerName": "layer", "Content": {"ZipFile": b"PK"},
              "CompatibleRuntimes": ["invalidruntime"], "CompatibleArchitectures": ["invalidarch"]},
             "ValidationException",
             summary([f"Value '[invalidruntime]' at 'compatibleRuntimes' failed to satisfy"
                      f" constraint: Member must satisfy enum value set: [{RUNTIMES_SEEN}]",
                      "Value '[invalidarch]' at 'compatibleArchitectures' failed to satisfy"
                      " constraint: Member must satisfy constraint: [Member must satisfy enum"
                      " value set: [x86_64, arm64], Member must not be null]"])),
    Recorded("versions-aliases-revisions.snapshot.json",
             "test_lambda_api.py::TestLambdaAlias::test_notfound_and_invalid_routingconfigs",
             "routing_config_exc_toohigh", "CreateAlias",
             {"FunctionName": "fn", "Name": "alias", "FunctionVersion": "1",
              "RoutingConfig": {"AdditionalVersionWeights": {"2": 2.0}}},
             "ValidationException",
             summary(["Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' failed to"
                      " satisfy constraint: Map value must satisfy constraint: [Member must"
                      " have value less than or equal to 1.0, Member must have value greater"
                      " than or equal to 0.0, Member must not be null]"])),
    Recorded("versions-aliases-revisions.snapshot.json",
             "test_lambda_api.py::TestLambdaAlias::test_notfound_and_invalid_routingconfigs",
             "routing_config_exc_version_latest", "CreateAlias",
             {"FunctionName": "fn", "Name": "alias", "FunctionVersion": "1",
              "RoutingConfig": {"AdditionalVersionWeights": {"$LATEST": 0.5}}},
             "ValidationException",
             summary(["Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' failed"
                      " to satisfy constraint: Map keys must satisfy constraint: [Member must"
                      " have length less than or equal to 1024, Member must have length greater"
                      " than or equal to 1, Member must satisfy regular expression pattern:"
                      " [0-9]+]"])),
    Recorded("versions-aliases-revisions.snapshot.json",
             "test_lambda_api.py::TestLambdaAlias::test_alias_naming",
             "create_alias_number_exception", "CreateAlias",
             {"FunctionName": "fn", "Name": "2024", "FunctionVersion": "1"},
             "ValidationException",
             summary(["Value '2024' at 'name' failed to satisfy constraint: Member must satisfy"
                      " regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"])),
    Recorded("concurrency-account.snapshot.json",
             "test_lambda_api.py::TestLambdaProvisionedConcurrency::"
             "test_provisioned_concurrency_exceptions",
             "put_provisioned_invalid_param_0", "PutProvisionedConcurrencyConfig",
             {"FunctionName": "fn", "Qualifier": "1", "ProvisionedConcurrentExecutions": 0},
             "ValidationException",
             summary(["Value '0' at 'provisionedConcurrentExecutions' failed to satisfy"
                      " constraint: Member must have value greater than or equal to 1"])),
    Recorded("permissions-urls-tags.snapshot.json",
             "test_lambda_api.py::TestLambdaTags::test_tag_exceptions", "untag_empty_keys",
             "UntagResource",
             {"Resource": "arn:<partition>:lambda:<region>:111111111111:function:fn",
              "TagKeys": []},
             "ValidationException",
             summary(["Value null at 'tagKeys' failed to satisfy constraint: Member must not"
                      " be null"])),
    Recorded("permissions-urls-tags.snapshot.json",
             "test_lambda_api.py::TestLambdaUrl::test_url_config_exceptions",
             "get_function_url_config_qualifier_latest", "GetFunctionUrlConfig",
             {"FunctionName": "fn", "Qualifier": "$LATEST"}, "ValidationException",
             summary(["Value '$LATEST' at 'qualifier' failed to satisfy constraint: Member must"
                      r" satisfy regular expression pattern: ((?!^\d+$)^[0-9a-zA-Z-_]+$)"])),
    Recorded("permissions-urls-tags.snapshot.json",
             "test_lambda.py::TestLambdaURL::test_lambda_url_invalid_invoke_mode",
             "invoke_function_invalid_invoke_type", "CreateFunctionUrlConfig",
             {"FunctionName": "fn", "AuthType": "NONE", "InvokeMode": "UNKNOWN"},
             "ValidationException",
             summary(["Value 'UNKNOWN' at 'invokeMode' failed to satisfy constraint: Member"
                      " must satisfy enum value set: [RESPONSE_STREAM, BUFFERED]"])),
    Recorded("async-eventinvokeconfig-destinations.snapshot.json",
             "test_lambda_api.py::TestLambdaEventInvokeConfig::"
             "test_lambda_eventinvokeconfig_exceptions",
             "put_destination_invalid_arn_pattern", "PutFunctionEventInvokeConfig",
             {"FunctionName": "fn", "DestinationConfig": {"OnFailure": {"Destination":
              "arn:<partition>:_-/!lambda:<region>:111111111111:function:<function-name:1>"}}},
             "ValidationException",
             summary(["Value 'arn:<partition>:_-/!lambda:<region>:111111111111:function:"
                      "<function-name:1>' at 'destinationConfig.onFailure.destination' failed"
                      " to satisfy constraint: Member must satisfy regular expression pattern:"
                      r" $|kafka://([^.]([a-zA-Z0-9\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):"
                      r"([a-zA-Z0-9\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?"
                      r":(\d{12})?:(.*)"]),
             subs={"<function-name:1>": "fn"}),
]  # fmt: skip

READ_OPS = {"get_function": "GetFunction", "delete_function": "DeleteFunction", "invoke": "Invoke"}
QV = API + "test_function_name_and_qualifier_validation"
ARN = "arn:<partition>:lambda:<region>:111111111111:function:"
BAD_REGION = "arn:<partition>:lambda:invalid-region:111111111111:function:"
A129, A170 = "<a:len(129)>", "<a:len(170)>"

NAME_CASES: list[tuple[str, dict[str, str], list[str] | None, str, list[str] | None]] = [
    ("function_name_is_single_invalid", {"FunctionName": "*"}, [bad_name("*", NS)],
     "*", [bad_name("*", CR)]),
    ("invalid_characters_in_function_name", {"FunctionName": "my-function!"},
     [bad_name("my-function!", NS)], "my-function!", [bad_name("my-function!", CR)]),
    ("invalid_characters_in_qualifier", {"FunctionName": "my-function", "Qualifier": "invalid!"},
     ["Value 'invalid!' at 'qualifier' failed to satisfy constraint: Member must satisfy"
      f" regular expression pattern: {QUALIFIER}"],
     "my-function:invalid!", [bad_name("my-function:invalid!", CR)]),
    ("qualifier_too_long0", {"FunctionName": "my-function", "Qualifier": A129},
     [too_long(A129, "qualifier", 128)],
     f"my-function:{A129}", [too_long(f"my-function:{A129}", "functionName", 140)]),
    ("qualifier_too_long", {"FunctionName": "my-function", "Qualifier": A129},
     [too_long(A129, "qualifier", 128)],
     f"my-function:{A129}", [too_long(f"my-function:{A129}", "functionName", 140)]),
    ("invalid_account_id_in_partial_arn",
     {"FunctionName": "invalid-account:function:my-function"},
     [bad_name("invalid-account:function:my-function", NS)],
     "invalid-account:function:my-function",
     [bad_name("invalid-account:function:my-function", CR)]),
    ("invalid_region_in_arn", {"FunctionName": BAD_REGION + "my-function"},
     [bad_name(BAD_REGION + "my-function", NS)],
     BAD_REGION + "my-function", [bad_name(BAD_REGION + "my-function", CR)]),
    ("non_lambda_arn",
     {"FunctionName": "arn:<partition>:ec2:<region>:111111111111:instance:i-1234567890abcdef0"},
     [bad_name("arn:<partition>:ec2:<region>:111111111111:instance:i-1234567890abcdef0", NS)],
     "arn:<partition>:ec2:<region>:111111111111:instance:i-1234567890abcdef0",
     [bad_name("arn:<partition>:ec2:<region>:111111111111:instance:i-1234567890abcdef0", CR)]),
    ("function_name_too_long", {"FunctionName": "<a:len(65)>"}, None, "<a:len(65)>", None),
    ("function_name_too_long_and_invalid_region",
     {"FunctionName": BAD_REGION + "my-function" + A170},
     [bad_name(BAD_REGION + "my-function" + A170, NS)],
     BAD_REGION + "my-function" + A170,
     [too_long(BAD_REGION + "my-function" + A170, "functionName", 140),
      bad_name(BAD_REGION + "my-function" + A170, CR)]),
    ("full_arn_and_qualifier_too_long_and_invalid_region",
     {"FunctionName": BAD_REGION + "my-function-" + A170, "Qualifier": A129},
     [too_long(A129, "qualifier", 128), bad_name(BAD_REGION + "my-function-" + A170, NS)],
     f"{BAD_REGION}my-function-{A170}:{A129}",
     [too_long(f"{BAD_REGION}my-function-{A170}:{A129}", "functionName", 140),
      bad_name(f"{BAD_REGION}my-function-{A170}:{A129}", CR)]),
    ("qualifier_too_long1", {"FunctionName": "my-function", "Qualifier": "<a:len(65)>"},
     None, "", None),
    ("function_name_and_qualifier_too_long",
     {"FunctionName": "my-function", "Qualifier": "<a:len(65)>"}, None, "", None),
    ("full_arn_with_multiple_qualifiers", {"FunctionName": ARN + "my-function:1:2"},
     [bad_name(ARN + "my-function:1:2", NS)],
     ARN + "my-function:1:2", [bad_name(ARN + "my-function:1:2", CR)]),
    ("incomplete_arn", {"FunctionName": "arn:<partition>:lambda:<region>:111111111111:function"},
     None, "", None),
    ("partial_arn_with_extra_qualifier", {"FunctionName": "function:my-function:$LATEST:extra"},
     [bad_name("function:my-function:$LATEST:extra", NS)],
     "function:my-function:$LATEST:extra", [bad_name("function:my-function:$LATEST:extra", CR)]),
    ("latest_version_with_additional_qualifier",
     {"FunctionName": ARN + "my-function:$LATEST", "Qualifier": "1"}, None,
     ARN + "my-function:$LATEST:1", [bad_name(ARN + "my-function:$LATEST:1", CR)]),
    ("lowercase_latest_qualifier", {"FunctionName": ARN + "my-function", "Qualifier": "$latest"},
     None, ARN + "my-function:$latest", [bad_name(ARN + "my-function:$latest", CR)]),
    ("missing_region_in_arn",
     {"FunctionName": "arn:<partition>:lambda::111111111111:function:my-function"},
     [bad_name("arn:<partition>:lambda::111111111111:function:my-function", NS)],
     "arn:<partition>:lambda::111111111111:function:my-function",
     [bad_name("arn:<partition>:lambda::111111111111:function:my-function", CR)]),
    ("missing_account_id_in_arn",
     {"FunctionName": "arn:<partition>:lambda:<region>::function:my-function"},
     [bad_name("arn:<partition>:lambda:<region>::function:my-function", NS)],
     "arn:<partition>:lambda:<region>::function:my-function",
     [bad_name("arn:<partition>:lambda:<region>::function:my-function", CR)]),
    ("misspelled_latest_in_arn", {"FunctionName": ARN + "my-function:$LATES"},
     [bad_name(ARN + "my-function:$LATES", NS)],
     ARN + "my-function:$LATES", [bad_name(ARN + "my-function:$LATES", CR)]),
]  # fmt: skip
"""(case, params of the read operations, their errors or None when AWS's answer came from
later checks, CreateFunction's FunctionName, its errors or None). The one CreateFunction answer
that is not a ValidationException, ``function_name_too_long``'s, is added after the loop."""

PASSING: list[tuple[str, str, str, dict[str, Any]]] = []
for case, read_params, read_errors, create_name, create_errors in NAME_CASES:
    for client_op, operation in READ_OPS.items():
        test, key = f"{QV}[{case}-{client_op}]", f"{client_op}_exception"
        if read_errors is None:
            PASSING.append((test, key, operation, read_params))
        else:
            RECORDED.append(
                Recorded(CRUD, test, key, operation, read_params, "ValidationException",
                         summary(read_errors))
            )  # fmt: skip
    if create_errors is not None:
        RECORDED.append(
            Recorded(CRUD, f"{QV}[{case}-create_function]", "create_function_exception",
                     "CreateFunction", create(FunctionName=create_name), "ValidationException",
                     summary(create_errors))
        )  # fmt: skip
RECORDED.append(
    Recorded(CRUD, f"{QV}[function_name_too_long-create_function]", "create_function_exception",
             "CreateFunction", create(FunctionName="<a:len(65)>"),
             "InvalidParameterValueException",
             summary([too_long("<a:len(65)>", "functionName", 64)]))
)  # fmt: skip


# -- helpers ---------------------------------------------------------------------------------

LENGTH = re.compile(r"<a:len\((\d+)\)>")
ENUM = re.compile(r"enum value set: \[([^\]]*)\]")


def instantiate(value: Any, subs: dict[str, str]) -> Any:
    """A recorded value with its placeholders filled in the way the request filled them."""
    if isinstance(value, str):
        value = LENGTH.sub(lambda m: "a" * int(m.group(1)), value)
        for placeholder, text in {"<partition>": "aws", "<region>": "us-east-1", **subs}.items():
            value = value.replace(placeholder, text)
        return value
    if isinstance(value, dict):
        return {k: instantiate(v, subs) for k, v in value.items()}
    if isinstance(value, list):
        return [instantiate(v, subs) for v in value]
    return value


def answer(operation: str, params: dict[str, Any]) -> LamboxError | None:
    """What lambox answers, checking the runtime the way the function service does."""
    try:
        shapes.validate(operation, params)
        runtime = params.get("Runtime")
        if operation in ("CreateFunction", "UpdateFunctionConfiguration") and runtime:
            shapes.check_runtime_supported(runtime)
    except LamboxError as exc:
        return exc
    return None


def assert_same_message(got: str, want: str) -> None:
    got_skeleton, want_skeleton = (
        ENUM.sub("enum value set: [..]", got),
        ENUM.sub("enum value set: [..]", want),
    )
    assert got_skeleton == want_skeleton
    for got_set, want_set in zip(ENUM.findall(got), ENUM.findall(want), strict=True):
        mine, theirs = set(got_set.split(", ")), set(want_set.split(", "))
        if "python3.12" in theirs:
            assert theirs <= mine
            assert not mine & shapes.DEPRECATED_RUNTIMES
        else:
            assert mine == theirs


# -- recorded answers ------------------------------------------------------------------------


KNOWN_DIFFERENCES: dict[str, str] = {}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(reason=KNOWN_DIFFERENCES[case.id], strict=True)]
            if case.id in KNOWN_DIFFERENCES
            else [],
        )
        for case in RECORDED
    ],
)
def test_answers_as_aws_recorded(case: Recorded) -> None:
    error = answer(case.operation, instantiate(case.params, case.subs))
    assert error is not None
    assert error.aws_type == case.code
    assert_same_message(error.message, instantiate(case.message, case.subs))


@pytest.mark.parametrize(
    ("operation", "params"),
    [(op, params) for _, _, op, params in PASSING],
    ids=[f"{test.split('[')[-1][:-1]}" for test, _, _, _ in PASSING],
)
def test_requests_aws_let_past_validation_pass(operation: str, params: dict[str, Any]) -> None:
    assert answer(operation, instantiate(params, {})) is None


def _snapshot_answer(file: str, test: str, key: str) -> tuple[str, str] | None:
    record = json.loads((SNAPSHOTS / file).read_text())[TEST_PREFIX + test]["recorded-content"]
    found = record[key]
    if not found:
        return None
    if "Errors" in found:
        assert found["Count"] == len(found["Errors"])
        return found["Code"], summary(found["Errors"])
    error = found.get("Error", found)
    return error["Code"], error["Message"]


@pytest.mark.skipif(not SNAPSHOTS.is_dir(), reason="parity snapshots not available")
def test_copies_match_the_snapshots() -> None:
    for case in RECORDED:
        recorded = _snapshot_answer(case.file, case.test, case.key)
        assert recorded is not None, case.id
        assert (case.code, instantiate(case.message, case.subs)) == (
            recorded[0],
            instantiate(recorded[1], case.subs),
        ), case.id
    for test, key, _, _ in PASSING:
        recorded = _snapshot_answer(CRUD, test, key)
        assert recorded is None or "validation error" not in recorded[1], test


# -- valid requests --------------------------------------------------------------------------


def test_complete_create_passes() -> None:
    params = instantiate(
        create(
            FunctionName="arn:<partition>:lambda:<region>:111111111111:function:my-fn",
            Runtime="python3.12",
            Description="d" * 256,
            Timeout=900,
            MemorySize=10240,
            Publish=True,
            Environment={"Variables": {"LOG_LEVEL": "debug", "A_1": ""}},
            Tags={"team": "core", "cost center": "Ärger 42"},
            Architectures=["arm64"],
            EphemeralStorage={"Size": 10240},
            VpcConfig={"SubnetIds": ["subnet-0abc"], "SecurityGroupIds": ["sg-0ABC"]},
            Layers=["arn:<partition>:lambda:<region>:111111111111:layer:deps:3"],
            TracingConfig={"Mode": "Active"},
            LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "INFO"},
            ImageConfig={"Command": ["a", "b"]},
        ),
        {},
    )
    assert answer("CreateFunction", params) is None


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("UpdateFunctionConfiguration", {"FunctionName": "fn", "MemorySize": 128, "Timeout": 1}),
        ("GetFunction", {"FunctionName": "fn:live"}),
        ("GetFunction", {"FunctionName": "123456789012:function:fn", "Qualifier": "$LATEST"}),
        ("Invoke", {"FunctionName": "fn", "Qualifier": "7", "InvocationType": "Event"}),
        ("Invoke", {"FunctionName": "fn", "Payload": "e30=", "LogType": "Tail"}),
        ("ListFunctions", {}),
        ("ListFunctions", {"MaxItems": "10", "Marker": "x", "FunctionVersion": "ALL"}),
        ("DeleteFunction", {"FunctionName": "fn", "Qualifier": "1", "Unknown": object()}),
    ],
)
def test_valid_requests_pass(operation: str, params: dict[str, Any]) -> None:
    assert answer(operation, params) is None


# -- counting, wording, types ----------------------------------------------------------------


def test_every_failure_is_counted_and_joined() -> None:
    error = answer(
        "CreateFunction",
        {"FunctionName": "fn", "Role": None, "Timeout": 0, "MemorySize": 64,
         "Code": {}, "EphemeralStorage": {}},
    )  # fmt: skip
    assert isinstance(error, ValidationError)
    assert error.message == (
        "4 validation errors detected: "
        "Value null at 'ephemeralStorage.size' failed to satisfy constraint: Member must not be"
        " null; Value '64' at 'memorySize' failed to satisfy constraint: Member must have value"
        " greater than or equal to 128; Value '0' at 'timeout' failed to satisfy constraint:"
        " Member must have value greater than or equal to 1; Value null at 'role' failed to"
        " satisfy constraint: Member must not be null"
    )


def test_model_validation_comes_before_the_runtime_check() -> None:
    error = answer("CreateFunction", instantiate(create(Role="r1", Runtime="cobol"), {}))
    assert isinstance(error, ValidationError)
    error = answer("CreateFunction", instantiate(create(Runtime="python3.7"), {}))
    assert isinstance(error, InvalidParameterValue)
    assert error.message == DEPRECATION.format("python3.7")


def test_sensitive_values_are_left_out() -> None:
    """AWS's wording as quoted in public bug reports (serverless-secrets#39)."""
    error = answer("CreateFunction", instantiate(create(Environment={"Variables": {"a": "x"}}), {}))
    assert isinstance(error, ValidationError)
    assert error.message == (
        "1 validation error detected: Value at 'environment.variables' failed to satisfy"
        " constraint: Map keys must satisfy constraint: [Member must satisfy regular expression"
        " pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
    )


@pytest.mark.parametrize(
    ("tags", "ok"),
    [({"Name": "web server 1"}, True), ({"名前": "値"}, True), ({"bad!": "x"}, False)],
)
def test_tag_patterns_use_unicode_classes(tags: dict[str, str], ok: bool) -> None:
    resource = "arn:aws:lambda:us-east-1:111111111111:function:f"
    error = answer("TagResource", {"Resource": resource, "Tags": tags})
    messages = [] if error is None else [error.message]
    assert ("at 'tags'" not in " ".join(messages)) is ok


@pytest.mark.parametrize(
    ("params", "location"),
    [
        ({"MemorySize": "abc"}, "memorySize"),
        ({"MemorySize": True}, "memorySize"),
        ({"Timeout": 3.5}, "timeout"),
        ({"Handler": 5}, "handler"),
        ({"Architectures": "x86_64"}, "architectures"),
        ({"Environment": "A=1"}, "environment"),
        ({"Publish": "yes"}, "publish"),
    ],
)
def test_wrong_types_are_validation_errors(params: dict[str, Any], location: str) -> None:
    error = answer("CreateFunction", {**instantiate(create(), {}), **params})
    assert isinstance(error, ValidationError)
    assert error.message.startswith("1 validation error detected: Value")
    assert f"at '{location}' failed to satisfy constraint: Member must be " in error.message


def test_query_text_is_read_as_its_type() -> None:
    error = answer("ListFunctions", {"MaxItems": "0"})
    assert isinstance(error, ValidationError)
    assert "Value '0' at 'maxItems'" in error.message
    error = answer("ListFunctions", {"MaxItems": "many"})
    assert isinstance(error, ValidationError)


def test_create_name_limit_applies_to_the_name_inside_an_arn() -> None:
    name = "b" * 65
    error = answer(
        "CreateFunction", instantiate(create(FunctionName=f"111111111111:function:{name}"), {})
    )
    assert isinstance(error, InvalidParameterValue)
    assert f"Value '{name}' at 'functionName'" in error.message
    assert answer("CreateFunction", instantiate(create(FunctionName="b" * 64), {})) is None


def test_update_names_are_not_held_to_64() -> None:
    assert answer("UpdateFunctionConfiguration", {"FunctionName": "c" * 65}) is None


# -- runtimes and members --------------------------------------------------------------------


def test_runtimes_come_from_the_model() -> None:
    names = shapes.runtimes()
    assert {"python3.12", "python3.7", "provided.al2023"} <= set(names)
    assert set(names) >= shapes.DEPRECATED_RUNTIMES


@pytest.mark.parametrize("runtime", ["python3.12", "python3.8", "provided.al2023", "nodejs22.x"])
def test_supported_runtimes_pass(runtime: str) -> None:
    shapes.check_runtime_supported(runtime)


def test_member_names() -> None:
    names = shapes.member_names("CreateFunction")
    assert {"FunctionName", "Runtime", "Code", "MemorySize", "Architectures"} <= names
    assert "Qualifier" in shapes.member_names("Invoke")
    with pytest.raises(KeyError):
        shapes.member_names("NoSuchOperation")


def test_the_model_is_not_loaded_at_import() -> None:
    code = (
        "import sys; from lambox.control import shapes;"
        " print(shapes._model.cache_info().currsize, 'botocore.loaders' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False"]
