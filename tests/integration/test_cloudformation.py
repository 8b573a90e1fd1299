"""CloudFormation through boto3 against a real server: stacks provisioned into Lambda and S3,
intrinsics, conditions, change sets, the SAM transform, updates, replacements, rollbacks."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.conftest import LamboxServer, aws_client, make_zip, start_server, stop_server, unique

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def cfn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    srv = start_server(tmp_path_factory.mktemp("cfn") / "data", {"LAMBOX_SANDBOX": "process"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def cfn(cfn_server: LamboxServer) -> Any:
    return aws_client(cfn_server, "cloudformation")


@pytest.fixture(scope="module")
def lam(cfn_server: LamboxServer) -> Any:
    return aws_client(cfn_server, "lambda")


@pytest.fixture(scope="module")
def s3(cfn_server: LamboxServer) -> Any:
    return aws_client(cfn_server, "s3")


FAST = {"Delay": 1, "MaxAttempts": 120}

PLAIN = {
    "Parameters": {
        "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
        "Greeting": {"Type": "String"},
    },
    "Mappings": {"Memory": {"dev": {"Size": "128"}, "prod": {"Size": "256"}}},
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
    },
    "Resources": {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            },
        },
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.11",
                "Handler": "index.handler",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "MemorySize": {"Fn::FindInMap": ["Memory", {"Ref": "Stage"}, "Size"]},
                "Environment": {
                    "Variables": {
                        "GREETING": {"Fn::Sub": "${Greeting} from ${AWS::StackName}"},
                        "ZONE": {"Fn::Select": [1, {"Fn::GetAZs": ""}]},
                        "PARTS": {"Fn::Join": ["+", {"Fn::Split": [",", "a,b,c"]}]},
                        "MODE": {"Fn::If": ["IsProd", "loud", {"Ref": "AWS::NoValue"}]},
                    }
                },
                "Code": {
                    "ZipFile": "import os\ndef handler(event, context):\n"
                    "    return {k: os.environ.get(k) for k in"
                    " ('GREETING', 'ZONE', 'PARTS', 'MODE')}\n"
                },
            },
        },
        "ProdOnly": {
            "Type": "AWS::S3::Bucket",
            "Condition": "IsProd",
        },
    },
    "Outputs": {
        "FunctionArn": {"Value": {"Fn::GetAtt": ["Fn", "Arn"]}},
        "FunctionName": {"Value": {"Ref": "Fn"}},
        "DevOnly": {"Condition": "IsDev", "Value": "yes"},
    },
}


def outputs(cfn: Any, stack: str) -> dict[str, str]:
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def status(cfn: Any, stack: str) -> str:
    return str(cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])


def test_stack_with_intrinsics_conditions_and_outputs(cfn: Any, lam: Any, s3: Any) -> None:
    name = unique("plain")
    params = [{"ParameterKey": "Greeting", "ParameterValue": "hello"}]
    with pytest.raises(ClientError) as exc:  # it has an IAM role
        cfn.create_stack(StackName=name, TemplateBody=json.dumps(PLAIN), Parameters=params)
    assert exc.value.response["Error"] == {
        "Type": "Sender",
        "Code": "InsufficientCapabilitiesException",
        "Message": "Requires capabilities : [CAPABILITY_IAM]",
    }
    created = cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(PLAIN),
        Parameters=params,
        Capabilities=["CAPABILITY_IAM"],
    )
    assert created["StackId"].startswith(f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/")
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    out = outputs(cfn, name)
    assert out["DevOnly"] == "yes"
    function = out["FunctionName"]
    assert function.startswith(f"{name}-Fn-")
    assert out["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}"
    config = lam.get_function_configuration(FunctionName=function)
    assert config["MemorySize"] == 128
    assert config["Role"].startswith(f"arn:aws:iam::{ACCOUNT}:role/{name}-Role-")
    got = json.loads(lam.invoke(FunctionName=function)["Payload"].read())
    assert got == {
        "GREETING": f"hello from {name}",
        "ZONE": "us-east-1b",
        "PARTS": "a+b+c",
        "MODE": None,
    }
    resources = cfn.describe_stack_resources(StackName=name)["StackResources"]
    assert sorted(r["LogicalResourceId"] for r in resources) == ["Fn", "Role"]
    assert all(r["ResourceStatus"] == "CREATE_COMPLETE" for r in resources)
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    assert events[0]["ResourceStatus"] == "CREATE_COMPLETE"
    assert events[0]["LogicalResourceId"] == name
    summaries = cfn.list_stacks()["StackSummaries"]
    assert any(s["StackName"] == name for s in summaries)
    assert cfn.get_template(StackName=name)["TemplateBody"] == PLAIN  # boto3 parses JSON

    # An update that switches the condition: prod memory, the conditional bucket appears.
    cfn.update_stack(
        StackName=name,
        UsePreviousTemplate=True,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[
            {"ParameterKey": "Greeting", "UsePreviousValue": True},
            {"ParameterKey": "Stage", "ParameterValue": "prod"},
        ],
    )
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert lam.get_function_configuration(FunctionName=function)["MemorySize"] == 256
    got = json.loads(lam.invoke(FunctionName=function)["Payload"].read())
    assert got["MODE"] == "loud" and got["GREETING"] == f"hello from {name}"
    assert "DevOnly" not in outputs(cfn, name)
    bucket = [
        r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=name)["StackResources"]
        if r["LogicalResourceId"] == "ProdOnly"
    ]
    assert len(bucket) == 1
    s3.head_bucket(Bucket=bucket[0])

    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=function)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=bucket[0])
    with pytest.raises(ClientError) as exc:
        cfn.describe_stacks(StackName=name)
    assert exc.value.response["Error"]["Code"] == "ValidationError"
    assert f"Stack with id {name} does not exist" in exc.value.response["Error"]["Message"]


def test_unserved_resource_type_rolls_the_create_back(cfn: Any, lam: Any) -> None:
    name = unique("rollback")
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": name + "-fn",
                    "Runtime": "python3.11",
                    "Handler": "index.handler",
                    "Role": f"arn:aws:iam::{ACCOUNT}:role/r",
                    "Code": {"ZipFile": "def handler(e, c):\n    return 1\n"},
                },
            },
            "Queue": {
                "Type": "AWS::DynamoDB::Table",
                "DependsOn": "Fn",
            },
        }
    }
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    with pytest.raises(WaiterError):  # the waiter fails on ROLLBACK_COMPLETE
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    assert status(cfn, name) == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed[0]["LogicalResourceId"] == "Queue"
    assert failed[0]["ResourceStatusReason"] == (
        "lambox does not serve resource type AWS::DynamoDB::Table yet"
    )
    rolling = [e for e in events if e["ResourceStatus"] == "ROLLBACK_IN_PROGRESS"]
    assert rolling[0]["ResourceStatusReason"] == (
        "The following resource(s) failed to create: [Queue]. Rollback requested by user."
    )
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=name + "-fn")  # the function was deleted again


def function_template(function_name: str, timeout: int, extra: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {
            "Resources": {
                "Fn": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "FunctionName": function_name,
                        "Runtime": "python3.11",
                        "Handler": "index.handler",
                        "Timeout": timeout,
                        "Role": f"arn:aws:iam::{ACCOUNT}:role/r",
                        "Code": {"ZipFile": "def handler(e, c):\n    return 'v1'\n"},
                    },
                },
                **(extra or {}),
            },
            "Outputs": {"Name": {"Value": {"Ref": "Fn"}}},
        }
    )


def test_update_replaces_and_a_failed_update_rolls_back(cfn: Any, lam: Any) -> None:
    name = unique("upd")
    first, second = f"{name}-a", f"{name}-b"
    cfn.create_stack(StackName=name, TemplateBody=function_template(first, 5))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)

    # A new FunctionName replaces the function: the new one exists, the old one is gone.
    cfn.update_stack(StackName=name, TemplateBody=function_template(second, 5))
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert outputs(cfn, name)["Name"] == second
    lam.get_function(FunctionName=second)
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=first)

    # An update that changes the timeout and adds an unserved resource fails and rolls back:
    # the timeout goes back, the stack keeps its template.
    bad = function_template(
        second, 9, {"Table": {"Type": "AWS::DynamoDB::Table", "DependsOn": "Fn"}}
    )
    cfn.update_stack(StackName=name, TemplateBody=bad)
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert status(cfn, name) == "UPDATE_ROLLBACK_COMPLETE"
    assert lam.get_function_configuration(FunctionName=second)["Timeout"] == 5
    assert cfn.get_template(StackName=name)["TemplateBody"] == json.loads(
        function_template(second, 5)
    )
    statuses = [
        e["ResourceStatus"] for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
    ]
    assert "UPDATE_ROLLBACK_IN_PROGRESS" in statuses

    with pytest.raises(ClientError) as exc:
        cfn.update_stack(StackName=name, TemplateBody=function_template(second, 5))
    assert exc.value.response["Error"]["Message"] == "No updates are to be performed."


def test_a_function_s_tenancy_config_is_set_at_creation_and_replaces_it(cfn: Any, lam: Any) -> None:
    name = unique("tenancy")
    template = json.loads(function_template(f"{name}-fn", 5))
    props = template["Resources"]["Fn"]["Properties"]
    del props["FunctionName"]  # generated: a change of TenancyConfig replaces the function
    props["TenancyConfig"] = {"TenantIsolationMode": "PER_TENANT"}
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    first = outputs(cfn, name)["Name"]
    assert lam.get_function_configuration(FunctionName=first)["TenancyConfig"] == {
        "TenantIsolationMode": "PER_TENANT"
    }
    del props["TenancyConfig"]
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    second = outputs(cfn, name)["Name"]
    assert second != first
    assert "TenancyConfig" not in lam.get_function_configuration(FunctionName=second)
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=first)


def test_template_errors_are_validation_errors(cfn: Any) -> None:
    cases = [
        ("{", "Template format error"),
        (json.dumps({"Resources": {}}), "At least one Resources member must be defined"),
        (
            json.dumps({"Resources": {"A": {"Type": "AWS::S3::Bucket", "DependsOn": "Nope"}}}),
            "Unresolved resource dependencies [Nope]",
        ),
        (
            json.dumps(
                {
                    "Resources": {
                        "A": {"Type": "AWS::S3::Bucket", "DependsOn": "B"},
                        "B": {"Type": "AWS::S3::Bucket", "DependsOn": "A"},
                    }
                }
            ),
            "Circular dependency between resources: [A, B]",
        ),
    ]
    for body, message in cases:
        with pytest.raises(ClientError) as exc:
            cfn.create_stack(StackName=unique("bad"), TemplateBody=body)
        assert exc.value.response["Error"]["Code"] == "ValidationError"
        assert message in exc.value.response["Error"]["Message"]
    checked = cfn.validate_template(
        TemplateBody=json.dumps(
            {
                "Description": "d",
                "Parameters": {"P": {"Type": "String", "Default": "x", "Description": "p"}},
                "Resources": {"A": {"Type": "AWS::S3::Bucket"}},
            }
        )
    )
    assert checked["Description"] == "d"
    assert checked["Parameters"] == [
        {"ParameterKey": "P", "DefaultValue": "x", "NoEcho": False, "Description": "p"}
    ]


SAM_TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: a function and a layer
Parameters:
  Word:
    Type: String
    Default: layered
Resources:
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: s3://BUCKET/layer.zip
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://BUCKET/code.zip
      Handler: app.handler
      Runtime: python3.11
      Layers: [!Ref Deps]
      AutoPublishAlias: live
      Environment:
        Variables:
          WORD: !Sub '${Word}-${AWS::Region}'
Outputs:
  Fn:
    Value: !Ref Fn
  Alias:
    Value: !Ref FnAliaslive
"""


def test_sam_template_through_a_change_set(cfn: Any, lam: Any, s3: Any) -> None:
    bucket = unique("artifacts").lower()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(
        Bucket=bucket,
        Key="layer.zip",
        Body=make_zip({"python/helper.py": "def shout(w):\n    return w.upper() + '!'\n"}),
    )
    handler = (
        "import os, helper\n"
        "def handler(event, context):\n    return helper.shout(os.environ['WORD'])\n"
    )
    s3.put_object(Bucket=bucket, Key="code.zip", Body=make_zip({"app.py": handler}))
    name = unique("sam")
    created = cfn.create_change_set(
        StackName=name,
        ChangeSetName="first",
        ChangeSetType="CREATE",
        TemplateBody=SAM_TEMPLATE.replace("BUCKET", bucket),
        Capabilities=["CAPABILITY_IAM"],
    )
    cfn.get_waiter("change_set_create_complete").wait(
        ChangeSetName=created["Id"], StackName=name, WaiterConfig=FAST
    )
    described = cfn.describe_change_set(ChangeSetName="first", StackName=name)
    assert described["ExecutionStatus"] == "AVAILABLE"
    added = {c["ResourceChange"]["ResourceType"] for c in described["Changes"]}
    assert added == {
        "AWS::Lambda::Function",
        "AWS::Lambda::Version",
        "AWS::Lambda::Alias",
        "AWS::Lambda::LayerVersion",
        "AWS::IAM::Role",
    }
    assert status(cfn, name) == "REVIEW_IN_PROGRESS"
    cfn.execute_change_set(ChangeSetName="first", StackName=name)
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    out = outputs(cfn, name)
    function = out["Fn"]
    assert out["Alias"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}:live"
    result = lam.invoke(FunctionName=function, Qualifier="live")
    assert json.loads(result["Payload"].read()) == "LAYERED-US-EAST-1!"
    assert result["ExecutedVersion"] == "1"
    assert len(lam.get_function_configuration(FunctionName=function)["Layers"]) == 1

    # A change set with nothing to change fails as CloudFormation's does.
    again = cfn.create_change_set(
        StackName=name,
        ChangeSetName="same",
        TemplateBody=SAM_TEMPLATE.replace("BUCKET", bucket),
        Capabilities=["CAPABILITY_IAM"],
    )
    same = cfn.describe_change_set(ChangeSetName=again["Id"])
    assert same["Status"] == "FAILED"
    assert "didn't contain changes" in same["StatusReason"]
    cfn.delete_change_set(ChangeSetName=again["Id"])
    processed = cfn.get_template(StackName=name, TemplateStage="Processed")["TemplateBody"]
    assert "AWS::Serverless::Function" not in json.dumps(processed)


def test_stacks_survive_a_kill_9(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = tmp_path_factory.mktemp("cfn-crash") / "data"
    env = {"LAMBOX_SANDBOX": "process"}
    first = start_server(data, env)
    name = unique("durable")
    try:
        cfn = aws_client(first, "cloudformation")
        cfn.create_stack(StackName=name, TemplateBody=function_template(f"{name}-fn", 7))
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    finally:
        first.proc.kill()  # SIGKILL: no shutdown of any kind
        first.proc.wait()
    second = start_server(data, env)
    try:
        cfn, lam = aws_client(second, "cloudformation"), aws_client(second, "lambda")
        assert status(cfn, name) == "CREATE_COMPLETE"
        assert outputs(cfn, name) == {"Name": f"{name}-fn"}
        resources = cfn.describe_stack_resources(StackName=name)["StackResources"]
        assert [r["PhysicalResourceId"] for r in resources] == [f"{name}-fn"]
        cfn.update_stack(StackName=name, TemplateBody=function_template(f"{name}-fn", 8))
        cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
        assert lam.get_function_configuration(FunctionName=f"{name}-fn")["Timeout"] == 8
        cfn.delete_stack(StackName=name)
        cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
        with pytest.raises(ClientError):
            lam.get_function(FunctionName=f"{name}-fn")
    finally:
        stop_server(second)


def test_a_deployment_cut_by_a_restart_fails_at_start_up(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A stack whose update was in progress when the server died is marked failed when the
    next server starts, before anything asks CloudFormation about it."""
    data = tmp_path_factory.mktemp("cfn-cut") / "data"
    env = {"LAMBOX_SANDBOX": "process"}
    first = start_server(data, env)
    name = unique("cut")
    try:
        cfn = aws_client(first, "cloudformation")
        cfn.create_stack(StackName=name, TemplateBody=function_template(f"{name}-fn", 7))
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    finally:
        first.proc.kill()
        first.proc.wait()
    db = sqlite3.connect(data / "cloudformation.db")
    with db:  # as a kill -9 in the middle of an update leaves it
        db.execute(
            "UPDATE stacks SET data = json_set(data, '$.status', 'UPDATE_IN_PROGRESS')"
            " WHERE name = ?",
            (name,),
        )
    second = start_server(data, env)
    try:
        with db:
            (stored,) = db.execute("SELECT data FROM stacks WHERE name = ?", (name,)).fetchone()
        assert json.loads(stored)["status"] == "UPDATE_FAILED"
        cfn = aws_client(second, "cloudformation")
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        assert stack["StackStatus"] == "UPDATE_FAILED"
        assert stack["StackStatusReason"] == "lambox restarted during the operation"
    finally:
        db.close()
        stop_server(second)


def test_bucket_notifications_invoke_the_stacks_function(
    cfn: Any, s3: Any, cfn_server: LamboxServer
) -> None:
    import time

    import httpx

    name = unique("notify")
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.11",
                    "Handler": "index.handler",
                    "Role": f"arn:aws:iam::{ACCOUNT}:role/r",
                    "Code": {
                        "ZipFile": "def handler(event, context):\n"
                        "    print('got', event['Records'][0]['s3']['object']['key'])\n"
                    },
                },
            },
            "Uploads": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "NotificationConfiguration": {
                        "LambdaConfigurations": [
                            {
                                "Event": "s3:ObjectCreated:*",
                                "Function": {"Fn::GetAtt": ["Fn", "Arn"]},
                                "Filter": {
                                    "S3Key": {"Rules": [{"Name": "suffix", "Value": ".txt"}]}
                                },
                            }
                        ]
                    }
                },
            },
        },
        "Outputs": {"Bucket": {"Value": {"Ref": "Uploads"}}, "Fn": {"Value": {"Ref": "Fn"}}},
    }
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    out = outputs(cfn, name)
    config = s3.get_bucket_notification_configuration(Bucket=out["Bucket"])
    rules = config["LambdaFunctionConfigurations"]
    assert rules[0]["LambdaFunctionArn"].endswith(f":function:{out['Fn']}")
    s3.put_object(Bucket=out["Bucket"], Key="skip.bin", Body=b"x")
    s3.put_object(Bucket=out["Bucket"], Key="hello.txt", Body=b"x")
    log = ""
    for _ in range(300):
        log = httpx.get(f"{cfn_server.url}/lambox/v1/logs/{out['Fn']}").text
        if "got hello.txt" in log:
            break
        time.sleep(0.1)
    assert "got hello.txt" in log
    assert "skip.bin" not in log


def test_exports_and_imports_between_stacks(cfn: Any, lam: Any) -> None:
    producer, consumer, rival = unique("exp"), unique("imp"), unique("rival")
    export = f"{producer}-bucket"
    exporting = {
        "Resources": {"B": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {"Name": {"Value": {"Ref": "B"}, "Export": {"Name": export}}},
    }
    cfn.create_stack(StackName=producer, TemplateBody=json.dumps(exporting))
    cfn.get_waiter("stack_create_complete").wait(StackName=producer, WaiterConfig=FAST)
    bucket = outputs(cfn, producer)["Name"]
    exports = {e["Name"]: e["Value"] for e in cfn.list_exports()["Exports"]}
    assert exports[export] == bucket

    importing = json.loads(function_template(f"{consumer}-fn", 3))
    importing["Resources"]["Fn"]["Properties"]["Environment"] = {
        "Variables": {"BUCKET": {"Fn::ImportValue": export}}
    }
    cfn.create_stack(StackName=consumer, TemplateBody=json.dumps(importing))
    cfn.get_waiter("stack_create_complete").wait(StackName=consumer, WaiterConfig=FAST)
    env = lam.get_function_configuration(FunctionName=f"{consumer}-fn")["Environment"]
    assert env["Variables"] == {"BUCKET": bucket}
    assert cfn.list_imports(ExportName=export)["Imports"] == [consumer]

    with pytest.raises(ClientError) as exc:
        cfn.delete_stack(StackName=producer)
    assert exc.value.response["Error"]["Message"] == (
        f"Export {export} cannot be deleted as it is in use by {consumer}"
    )
    # A second stack exporting the same name fails and rolls back.
    cfn.create_stack(StackName=rival, TemplateBody=json.dumps(exporting))
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_create_complete").wait(StackName=rival, WaiterConfig=FAST)
    reasons = [
        e.get("ResourceStatusReason", "")
        for e in cfn.describe_stack_events(StackName=rival)["StackEvents"]
    ]
    assert any(f"Export with name {export} is already exported" in r for r in reasons)

    cfn.delete_stack(StackName=consumer)
    cfn.get_waiter("stack_delete_complete").wait(StackName=consumer, WaiterConfig=FAST)
    cfn.delete_stack(StackName=producer)
    cfn.get_waiter("stack_delete_complete").wait(StackName=producer, WaiterConfig=FAST)
    with pytest.raises(ClientError) as exc:
        cfn.create_stack(StackName=consumer, TemplateBody=json.dumps(importing))
    assert exc.value.response["Error"]["Message"] == f"No export named {export} found."


def test_function_tracing_and_logging_config(cfn: Any, lam: Any) -> None:
    name = unique("obs")
    template = json.loads(function_template(name, 5))
    props = template["Resources"]["Fn"]["Properties"]
    props["TracingConfig"] = {"Mode": "Active"}
    props["LoggingConfig"] = {"LogFormat": "JSON", "ApplicationLogLevel": "WARN"}
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    got = lam.get_function_configuration(FunctionName=name)
    assert got["TracingConfig"] == {"Mode": "Active"}
    assert got["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "WARN",
        "SystemLogLevel": "INFO",
        "LogGroup": f"/aws/lambda/{name}",
    }
    props["TracingConfig"] = {"Mode": "PassThrough"}
    props["LoggingConfig"] = {"LogFormat": "Text", "LogGroup": f"/stacks/{name}"}
    cfn.update_stack(StackName=name, TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    got = lam.get_function_configuration(FunctionName=name)
    assert got["TracingConfig"] == {"Mode": "PassThrough"}
    assert got["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/stacks/{name}"}


def test_queue_mapping_and_permission_resources(cfn: Any, lam: Any, cfn_server: Any) -> None:
    """AWS::SQS::Queue, AWS::Lambda::EventSourceMapping and AWS::Lambda::Permission are
    created, updated in place and deleted with their stack."""
    name = unique("evres")
    sqs = aws_client(cfn_server, "sqs")

    def template(batch: int, visibility: int) -> str:
        return json.dumps(
            {
                "Resources": {
                    "Fn": {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "FunctionName": name + "-fn",
                            "Runtime": "python3.11",
                            "Handler": "index.handler",
                            "Role": f"arn:aws:iam::{ACCOUNT}:role/r",
                            "Code": {"ZipFile": "def handler(e, c):\n    return 1\n"},
                        },
                    },
                    "Dlq": {"Type": "AWS::SQS::Queue"},
                    "Queue": {
                        "Type": "AWS::SQS::Queue",
                        "Properties": {
                            "VisibilityTimeout": visibility,
                            "RedrivePolicy": {
                                "deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]},
                                "maxReceiveCount": 3,
                            },
                        },
                    },
                    "Mapping": {
                        "Type": "AWS::Lambda::EventSourceMapping",
                        "Properties": {
                            "FunctionName": {"Ref": "Fn"},
                            "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]},
                            "BatchSize": batch,
                        },
                    },
                    "Invoke": {
                        "Type": "AWS::Lambda::Permission",
                        "Properties": {
                            "FunctionName": {"Fn::GetAtt": ["Fn", "Arn"]},
                            "Action": "lambda:InvokeFunction",
                            "Principal": "s3.amazonaws.com",
                            "SourceAccount": ACCOUNT,
                        },
                    },
                },
                "Outputs": {
                    "QueueUrl": {"Value": {"Ref": "Queue"}},
                    "Mapping": {"Value": {"Ref": "Mapping"}},
                },
            }
        )

    cfn.create_stack(StackName=name, TemplateBody=template(4, 30))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    out = outputs(cfn, name)
    attributes = sqs.get_queue_attributes(QueueUrl=out["QueueUrl"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["VisibilityTimeout"] == "30"
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 3
    mapping = lam.get_event_source_mapping(UUID=out["Mapping"])
    assert (mapping["BatchSize"], mapping["EventSourceArn"]) == (4, attributes["QueueArn"])
    policy = json.loads(lam.get_policy(FunctionName=name + "-fn")["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    cfn.update_stack(StackName=name, TemplateBody=template(7, 45))
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert outputs(cfn, name)["Mapping"] == out["Mapping"]  # updated in place
    assert lam.get_event_source_mapping(UUID=out["Mapping"])["BatchSize"] == 7
    attributes = sqs.get_queue_attributes(
        QueueUrl=out["QueueUrl"], AttributeNames=["VisibilityTimeout"]
    )["Attributes"]
    assert attributes["VisibilityTimeout"] == "45"
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    with pytest.raises(ClientError):
        sqs.get_queue_attributes(QueueUrl=out["QueueUrl"])
    try:  # a deleted mapping is "Deleting" for a moment, then gone, as on AWS
        assert lam.get_event_source_mapping(UUID=out["Mapping"])["State"] == "Deleting"
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ResourceNotFoundException"


CHILD = {
    "Parameters": {"Suffix": {"Type": "String"}},
    "Resources": {
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": {"Fn::Sub": "nested-${Suffix}"},
                "Runtime": "python3.11",
                "Handler": "index.handler",
                "Role": f"arn:aws:iam::{ACCOUNT}:role/r",
                "Code": {"ZipFile": "def handler(e, c):\n    return 'child'\n"},
            },
        }
    },
    "Outputs": {"FunctionArn": {"Value": {"Fn::GetAtt": ["Fn", "Arn"]}}},
}


def test_nested_stacks_deploy_update_and_delete_with_their_parent(
    cfn: Any, lam: Any, s3: Any
) -> None:
    bucket = unique("nested").lower()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="child.json", Body=json.dumps(CHILD).encode())
    url = f"http://s3.amazonaws.com/{bucket}/child.json"
    suffix = unique("n")
    name = unique("parent")

    def parent(value: str, sam: bool) -> str:
        if sam:  # AWS::Serverless::Application, which SAM turns into a nested stack
            child = {
                "Type": "AWS::Serverless::Application",
                "Properties": {"Location": url, "Parameters": {"Suffix": value}},
            }
            head = {"Transform": "AWS::Serverless-2016-10-31"}
        else:
            child = {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"TemplateURL": url, "Parameters": {"Suffix": value}},
            }
            head = {}
        return json.dumps(
            {
                **head,
                "Resources": {"Child": child},
                "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Child", "Outputs.FunctionArn"]}}},
            }
        )

    cfn.create_stack(StackName=name, TemplateBody=parent(suffix, sam=False))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    arn = outputs(cfn, name)["Arn"]
    assert arn.endswith(f":function:nested-{suffix}")
    assert json.loads(lam.invoke(FunctionName=arn)["Payload"].read()) == "child"
    (child,) = cfn.describe_stack_resources(StackName=name)["StackResources"]
    child_id = child["PhysicalResourceId"]
    assert cfn.describe_stacks(StackName=child_id)["Stacks"][0]["StackName"].startswith(
        f"{name}-Child-"
    )
    # A new parameter value updates the child in place: its function is replaced.
    cfn.update_stack(
        StackName=name,
        TemplateBody=parent(suffix + "b", sam=True),
        Capabilities=["CAPABILITY_AUTO_EXPAND"],
    )
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert outputs(cfn, name)["Arn"].endswith(f":function:nested-{suffix}b")
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=f"nested-{suffix}")
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    assert cfn.describe_stacks(StackName=child_id)["Stacks"][0]["StackStatus"] == (
        "DELETE_COMPLETE"
    )
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=f"nested-{suffix}b")


def test_a_failing_nested_stack_rolls_its_parent_back(cfn: Any, s3: Any) -> None:
    bucket = unique("nestedbad").lower()
    s3.create_bucket(Bucket=bucket)
    bad = {"Resources": {"Table": {"Type": "AWS::DynamoDB::Table"}}}
    s3.put_object(Bucket=bucket, Key="bad.json", Body=json.dumps(bad).encode())
    name = unique("badparent")
    child = {
        "Type": "AWS::CloudFormation::Stack",
        "Properties": {"TemplateURL": f"http://s3.amazonaws.com/{bucket}/bad.json"},
    }
    cfn.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": {"Child": child}}))
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    assert status(cfn, name) == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed[0]["LogicalResourceId"] == "Child"
    assert "ROLLBACK_COMPLETE" in failed[0]["ResourceStatusReason"]
