"""CloudFormation resource types backed by lambox's other services (function URLs, SNS,
EventBridge, CloudWatch Logs, Scheduler, IAM policies, HTTP API routes), each created,
updated and deleted through boto3 and checked through its own service's API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import LamboxServer, start_server, stop_server, unique
from tests.integration.test_cloudformation import ACCOUNT, FAST, client


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    server = start_server(tmp_path_factory.mktemp("cfns") / "data", {"LAMBOX_SANDBOX": "process"})
    yield server
    stop_server(server)


def deploy(cfn: Any, name: str, template: dict[str, Any], update: bool = False) -> dict[str, str]:
    """Create (or update) the stack and wait; its outputs by key."""
    body = json.dumps(template)
    if update:
        cfn.update_stack(StackName=name, TemplateBody=body)
        cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    else:
        cfn.create_stack(StackName=name, TemplateBody=body)
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def remove(cfn: Any, name: str) -> None:
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)


def function(name: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": name,
            "Runtime": "python3.11",
            "Handler": "index.handler",
            "Role": f"arn:aws:iam::{ACCOUNT}:role/r",
            "Code": {"ZipFile": "def handler(e, c):\n    return 1\n"},
        },
    }


def test_function_url(srv: LamboxServer) -> None:
    cfn, lam = client(srv, "cloudformation"), client(srv, "lambda")
    name = unique("cfnurl")
    template: dict[str, Any] = {
        "Resources": {
            "Fn": function(name),
            "Url": {
                "Type": "AWS::Lambda::Url",
                "Properties": {"TargetFunctionArn": {"Ref": "Fn"}, "AuthType": "NONE"},
            },
        },
        "Outputs": {
            "Url": {"Value": {"Fn::GetAtt": ["Url", "FunctionUrl"]}},
            "Ref": {"Value": {"Ref": "Url"}},
        },
    }
    out = deploy(cfn, name, template)
    got = lam.get_function_url_config(FunctionName=name)
    assert got["FunctionUrl"] == out["Url"]
    assert got["AuthType"] == "NONE"
    assert out["Ref"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    template["Resources"]["Url"]["Properties"]["AuthType"] = "AWS_IAM"
    deploy(cfn, name, template, update=True)
    assert lam.get_function_url_config(FunctionName=name)["AuthType"] == "AWS_IAM"
    remove(cfn, name)
    with pytest.raises(ClientError):
        lam.get_function_url_config(FunctionName=name)


def test_sns_topic_and_subscription(srv: LamboxServer) -> None:
    cfn, sns = client(srv, "cloudformation"), client(srv, "sns")
    name = unique("cfnsns")
    template: dict[str, Any] = {
        "Resources": {
            "Fn": function(name),
            "Topic": {
                "Type": "AWS::SNS::Topic",
                "Properties": {
                    "DisplayName": "first",
                    "Subscription": [
                        {"Protocol": "lambda", "Endpoint": {"Fn::GetAtt": ["Fn", "Arn"]}}
                    ],
                },
            },
            "Other": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": name + "-other"}},
            "Sub": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": {"Ref": "Other"},
                    "Protocol": "lambda",
                    "Endpoint": {"Fn::GetAtt": ["Fn", "Arn"]},
                    "RawMessageDelivery": "true",
                },
            },
        },
        "Outputs": {
            "Topic": {"Value": {"Ref": "Topic"}},
            "TopicName": {"Value": {"Fn::GetAtt": ["Topic", "TopicName"]}},
            "Other": {"Value": {"Ref": "Other"}},
            "Sub": {"Value": {"Ref": "Sub"}},
        },
    }
    out = deploy(cfn, name, template)
    topic = out["Topic"]
    assert topic.endswith(":" + out["TopicName"]) and out["TopicName"].startswith(name + "-Topic-")
    assert out["Other"] == f"arn:aws:sns:us-east-1:{ACCOUNT}:{name}-other"
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["DisplayName"] == "first"
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["Protocol"] for s in subs] == ["lambda"]
    sub = sns.get_subscription_attributes(SubscriptionArn=out["Sub"])["Attributes"]
    assert sub["TopicArn"] == out["Other"] and sub["RawMessageDelivery"] == "true"

    template["Resources"]["Topic"]["Properties"]["DisplayName"] = "second"
    template["Resources"]["Topic"]["Properties"]["Subscription"] = []
    template["Resources"]["Sub"]["Properties"]["RawMessageDelivery"] = "false"
    deploy(cfn, name, template, update=True)
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["DisplayName"] == "second"
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    sub = sns.get_subscription_attributes(SubscriptionArn=out["Sub"])["Attributes"]
    assert sub["RawMessageDelivery"] == "false"

    remove(cfn, name)
    for arn in (topic, out["Other"]):
        with pytest.raises(ClientError):
            sns.get_topic_attributes(TopicArn=arn)
