"""Every documented property of AWS::Lambda::Function either takes effect, through the
operation the Lambda API has for it, on create and on update (a dropped one going back to
Lambda's default), or fails the resource with its reason; and a Version update that
publishes nothing new never deletes the version it stood for."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.conftest import (
    ROLE,
    LamboxServer,
    aws_client,
    make_zip,
    start_server,
    stop_server,
    unique,
)

FAST = {"Delay": 1, "MaxAttempts": 120}
PINNED = "arn:aws:lambda:us-east-1::runtime:" + "ab" * 32
PROFILE = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/stacks"
SOURCE = "def handler(event, context):\n    return 'v1'\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    srv = start_server(tmp_path_factory.mktemp("props") / "data", {"LAMBOX_SANDBOX": "process"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def cfn(server: LamboxServer) -> Any:
    return aws_client(server, "cloudformation")


@pytest.fixture(scope="module")
def lam(server: LamboxServer) -> Any:
    return aws_client(server, "lambda")


def status(cfn: Any, stack: str) -> str:
    return str(cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])


def failures(cfn: Any, stack: str) -> dict[str, str]:
    """The reason of each resource's CREATE_FAILED / UPDATE_FAILED event."""
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return {
        e["LogicalResourceId"]: e.get("ResourceStatusReason", "")
        for e in events
        if e["ResourceStatus"] in ("CREATE_FAILED", "UPDATE_FAILED")
    }


def function(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": name,
            "Runtime": "python3.12",
            "Handler": "index.handler",
            "Role": ROLE,
            "Code": {"ZipFile": SOURCE},
            **extra,
        },
    }


def signing_config(lam: Any) -> str:
    made = lam.create_code_signing_config(
        AllowedPublishers={"SigningProfileVersionArns": [PROFILE]},
        CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Warn"},
    )
    return str(made["CodeSigningConfig"]["CodeSigningConfigArn"])


def settings_of(lam: Any, name: str) -> dict[str, Any]:
    """What the Lambda API says of the function's settings kept outside its configuration."""
    runtime = lam.get_runtime_management_config(FunctionName=name)
    config = lam.get_function_configuration(FunctionName=name)
    return {
        "reserved": lam.get_function_concurrency(FunctionName=name).get(
            "ReservedConcurrentExecutions"
        ),
        "loop": lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"],
        "runtime": {
            k: v for k, v in runtime.items() if k not in ("FunctionArn", "ResponseMetadata")
        },
        "signing": lam.get_function_code_signing_config(FunctionName=name).get(
            "CodeSigningConfigArn"
        ),
        "tags": lam.list_tags(Resource=config["FunctionArn"])["Tags"],
        "architectures": config["Architectures"],
        "vpc": config.get("VpcConfig", {}).get("SubnetIds", []),
        "storage": config["EphemeralStorage"]["Size"],
        "description": config["Description"],
    }


def test_function_properties_take_effect_change_and_reset(cfn: Any, lam: Any) -> None:
    name = unique("props")
    signing = signing_config(lam)
    props = {
        "ReservedConcurrentExecutions": 5,
        "RecursiveLoop": "Allow",
        "RuntimeManagementConfig": {"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": PINNED},
        "CodeSigningConfigArn": signing,
        "Tags": [{"Key": "team", "Value": "a"}, {"Key": "gone", "Value": "soon"}],
        "Architectures": ["arm64"],
        "VpcConfig": {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
        "EphemeralStorage": {"Size": 1024},
        "Description": "first",
        "MemorySize": 256,
        "Timeout": 9,
        "TracingConfig": {"Mode": "Active"},
        "LoggingConfig": {"LogFormat": "JSON", "LogGroup": f"/stacks/{name}"},
        "Environment": {"Variables": {"GREETING": "hi"}},
    }
    template = {"Resources": {"Fn": function(name, **props)}}
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    assert settings_of(lam, name) == {
        "reserved": 5,
        "loop": "Allow",
        "runtime": {"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": PINNED},
        "signing": signing,
        "tags": {"team": "a", "gone": "soon"},
        "architectures": ["arm64"],
        "vpc": ["subnet-1"],
        "storage": 1024,
        "description": "first",
    }

    # Changed in place: each through its own operation.
    template["Resources"]["Fn"] = function(
        name,
        **{
            **props,
            "ReservedConcurrentExecutions": "7",
            "RecursiveLoop": "Terminate",
            "RuntimeManagementConfig": {"UpdateRuntimeOn": "FunctionUpdate"},
            "Tags": [{"Key": "team", "Value": "b"}],
            "Architectures": ["x86_64"],
        },
    )
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    got = settings_of(lam, name)
    assert got["reserved"] == 7
    assert got["loop"] == "Terminate"
    assert got["runtime"] == {"UpdateRuntimeOn": "FunctionUpdate"}
    assert got["tags"] == {"team": "b"}
    assert got["architectures"] == ["x86_64"]

    # Dropped from the template: back to Lambda's defaults, as CloudFormation resets them.
    template["Resources"]["Fn"] = function(name, RecursiveLoop="Allow")
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert settings_of(lam, name) == {
        "reserved": None,
        "loop": "Allow",
        "runtime": {"UpdateRuntimeOn": "Auto"},
        "signing": None,
        "tags": {},
        "architectures": ["x86_64"],
        "vpc": [],
        "storage": 512,
        "description": "",
    }
    config = lam.get_function_configuration(FunctionName=name)
    assert (config["MemorySize"], config["Timeout"]) == (128, 3)
    assert config["TracingConfig"] == {"Mode": "PassThrough"}
    assert config["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert config.get("Environment", {}).get("Variables", {}) == {}
    template["Resources"]["Fn"] = function(name)
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert settings_of(lam, name)["loop"] == "Terminate"
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (
            {"FileSystemConfigs": [{"Arn": "arn:aws:efs:x", "LocalMountPath": "/mnt/x"}]},
            "lambox has no Amazon EFS file systems to mount (FileSystemConfigs)",
        ),
        (
            {"KmsKeyArn": "arn:aws:kms:us-east-1:000000000000:key/k"},
            "lambox does not encrypt environment variables with a customer managed KMS key"
            " (KmsKeyArn)",
        ),
        ({"ImageConfig": {"Command": ["x"]}}, "container images are not supported"),
        ({"PackageType": "Image"}, "container images are not supported (PackageType)"),
        (
            {"Code": {"ZipFile": SOURCE, "SourceKmsKeyArn": "arn:aws:kms:us-east-1:0:key/k"}},
            "(Code.SourceKmsKeyArn)",
        ),
        ({"Memory": 256}, "Encountered unsupported property Memory"),
    ],
)
def test_a_property_lambox_cannot_honour_fails_the_create(
    cfn: Any, lam: Any, extra: dict[str, Any], reason: str
) -> None:
    name = unique("refused")
    template = {"Resources": {"Fn": function(name, **extra)}}
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    assert status(cfn, name) == "ROLLBACK_COMPLETE"
    assert reason in failures(cfn, name)["Fn"]
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=name)


def test_a_setting_lambda_refuses_rolls_the_function_back(cfn: Any, lam: Any) -> None:
    """A reservation above the account's pool fails the resource with Lambda's own error,
    and the function made before it is deleted by the rollback."""
    name = unique("toomuch")
    template = {"Resources": {"Fn": function(name, ReservedConcurrentExecutions=1_000_000)}}
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    assert status(cfn, name) == "ROLLBACK_COMPLETE"
    assert "UnreservedConcurrentExecution below its minimum" in failures(cfn, name)["Fn"]
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=name)


def test_a_failed_update_puts_back_what_it_had_changed(cfn: Any, lam: Any) -> None:
    """The configuration is updated before the reservation Lambda refuses: the rollback
    puts the failed resource back too, as CloudFormation does."""
    name = unique("partly")
    template = {"Resources": {"Fn": function(name, MemorySize=256, RecursiveLoop="Allow")}}
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    template["Resources"]["Fn"] = function(
        name, MemorySize=512, ReservedConcurrentExecutions=1_000_000
    )
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(template))
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert status(cfn, name) == "UPDATE_ROLLBACK_COMPLETE"
    assert "UnreservedConcurrentExecution" in failures(cfn, name)["Fn"]
    assert lam.get_function_configuration(FunctionName=name)["MemorySize"] == 256
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Allow"
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)


SAM = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: NAME
      Runtime: python3.12
      Handler: index.handler
      InlineCode: "def handler(event, context):\\n    return 'sam'\\n"
      ReservedConcurrentExecutions: 4
      RecursiveLoop: Allow
      RuntimeManagementConfig:
        UpdateRuntimeOn: FunctionUpdate
      CodeSigningConfigArn: SIGNING
"""


def test_sam_function_properties_reach_lambda(cfn: Any, lam: Any) -> None:
    name = unique("samprops")
    signing = signing_config(lam)
    body = SAM.replace("NAME", name).replace("SIGNING", signing)
    cfn.create_stack(
        StackName=name, TemplateBody=body, Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    )
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    got = settings_of(lam, name)
    assert got["reserved"] == 4
    assert got["loop"] == "Allow"
    assert got["runtime"] == {"UpdateRuntimeOn": "FunctionUpdate"}
    assert got["signing"] == signing

    trimmed = "\n".join(
        line
        for line in body.splitlines()
        if not line.strip().startswith(("ReservedConcurrentExecutions", "CodeSigningConfigArn"))
    ).replace("RecursiveLoop: Allow", "RecursiveLoop: Terminate")
    cfn.update_stack(
        StackName=name,
        TemplateBody=trimmed,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    got = settings_of(lam, name)
    assert got["reserved"] is None
    assert got["loop"] == "Terminate"
    assert got["signing"] is None
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)


def version_template(name: str, description: str) -> str:
    return json.dumps(
        {
            "Resources": {
                "Fn": function(name),
                "V": {
                    "Type": "AWS::Lambda::Version",
                    "Properties": {"FunctionName": {"Ref": "Fn"}, "Description": description},
                },
                "Live": {
                    "Type": "AWS::Lambda::Alias",
                    "Properties": {
                        "FunctionName": {"Ref": "Fn"},
                        "Name": "live",
                        "FunctionVersion": {"Fn::GetAtt": ["V", "Version"]},
                    },
                },
            }
        }
    )


def test_a_description_only_version_update_keeps_the_version(cfn: Any, lam: Any) -> None:
    """The code is unchanged, so PublishVersion publishes nothing and answers with version
    1: the update fails as CloudFormation's does and version 1, with the alias on it,
    stays (the replaced resource's cleanup used to delete it)."""
    name = unique("verdesc")
    cfn.create_stack(StackName=name, TemplateBody=version_template(name, "first"))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    cfn.update_stack(StackName=name, TemplateBody=version_template(name, "second"))
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert status(cfn, name) == "UPDATE_ROLLBACK_COMPLETE"
    assert failures(cfn, name)["V"].startswith(
        "A version for this Lambda function exists ( 1 ). Modify the function to create a"
        " new version."
    )
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]
    assert versions[1]["Description"] == "first"
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
    result = lam.invoke(FunctionName=name, Qualifier="live")
    assert json.loads(result["Payload"].read()) == "v1"
    assert result["ExecutedVersion"] == "1"

    # A second Version resource over an unchanged function fails the same way on create,
    # so one stack's two resources never own one version.
    second = json.loads(version_template(name, "first"))
    second["Resources"]["W"] = {
        "Type": "AWS::Lambda::Version",
        "Properties": {"FunctionName": {"Ref": "Fn"}},
        "DependsOn": "V",
    }
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(second))
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert "exists ( 1 )" in failures(cfn, name)["W"]
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == [
        "$LATEST",
        "1",
    ]
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)


def test_code_signing_applies_to_a_stacks_s3_code(server: LamboxServer, cfn: Any, lam: Any) -> None:
    """A stack's function code in S3 is read as the Lambda API reads it, its signature
    checked: under an Enforce config, code signed by an allowed profile deploys and
    updates, unsigned code fails the resource with Lambda's error."""
    signer, s3 = aws_client(server, "signer"), aws_client(server, "s3")
    bucket = unique("signedcode").lower()
    s3.create_bucket(Bucket=bucket)
    profile_name = unique("p").replace("-", "_")
    profile = signer.put_signing_profile(
        profileName=profile_name, platformId="AWSLambda-SHA384-ECDSA"
    )

    def signed(text: str) -> str:
        key = f"src/{unique('k')}.zip"
        source = f"def handler(event, context):\n    return {text!r}\n"
        s3.put_object(Bucket=bucket, Key=key, Body=make_zip({"index.py": source}))
        job = signer.start_signing_job(
            source={"s3": {"bucketName": bucket, "key": key, "version": "1"}},
            destination={"s3": {"bucketName": bucket, "prefix": "signed/"}},
            profileName=profile_name,
        )
        signer.get_waiter("successful_signing_job").wait(jobId=job["jobId"])
        done = signer.describe_signing_job(jobId=job["jobId"])
        return str(done["signedObject"]["s3"]["key"])

    enforce = lam.create_code_signing_config(
        AllowedPublishers={"SigningProfileVersionArns": [profile["profileVersionArn"]]},
        CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"},
    )["CodeSigningConfig"]["CodeSigningConfigArn"]
    name = unique("signedstack")
    code = {"S3Bucket": bucket, "S3Key": signed("one")}
    template = {"Resources": {"Fn": function(name, Code=code, CodeSigningConfigArn=enforce)}}
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == "one"
    assert lam.get_function_code_signing_config(FunctionName=name)["CodeSigningConfigArn"] == (
        enforce
    )
    code["S3Key"] = signed("two")
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == "two"

    # Unsigned code: the update fails and rolls back, the signed code stays.
    code["S3Key"] = "src/unsigned.zip"
    s3.put_object(Bucket=bucket, Key=code["S3Key"], Body=make_zip({"index.py": SOURCE}))
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(template))
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert "CodeVerificationFailedException" in failures(cfn, name)["Fn"]
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == "two"
