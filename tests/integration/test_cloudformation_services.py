"""CloudFormation resource types backed by lambox's other services (function URLs, SNS,
EventBridge, CloudWatch Logs, Scheduler, IAM policies, HTTP API routes), each created,
updated and deleted through boto3 and checked through its own service's API."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.conftest import LamboxServer, aws_client, start_server, stop_server, unique
from tests.integration.test_cloudformation import ACCOUNT, FAST


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    server = start_server(tmp_path_factory.mktemp("cfns") / "data", {"LAMBOX_SANDBOX": "process"})
    yield server
    stop_server(server)


def deploy(cfn: Any, name: str, template: dict[str, Any], update: bool = False) -> dict[str, str]:
    """Create (or update) the stack and wait; its outputs by key."""
    try:
        return _deploy(cfn, name, template, update)
    except WaiterError:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
        reasons = [e.get("ResourceStatusReason") for e in events if "FAILED" in e["ResourceStatus"]]
        raise AssertionError(reasons) from None


def _deploy(cfn: Any, name: str, template: dict[str, Any], update: bool) -> dict[str, str]:
    body = json.dumps(template)
    caps = ["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
    if update:
        cfn.update_stack(StackName=name, TemplateBody=body, Capabilities=caps)
        cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    else:
        cfn.create_stack(StackName=name, TemplateBody=body, Capabilities=caps)
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
    cfn, lam = aws_client(srv, "cloudformation"), aws_client(srv, "lambda")
    name = unique("cfnurl")
    template: dict[str, Any] = {
        "Resources": {
            "Fn": function(name),
            "Url": {
                "Type": "AWS::Lambda::Url",
                "Properties": {
                    "TargetFunctionArn": {"Fn::GetAtt": ["Fn", "Arn"]},
                    "AuthType": "NONE",
                },
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
    cfn, sns = aws_client(srv, "cloudformation"), aws_client(srv, "sns")
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


def test_events_rule_log_group_and_schedule(srv: LamboxServer) -> None:
    cfn = aws_client(srv, "cloudformation")
    events, logs, scheduler = (
        aws_client(srv, "events"),
        aws_client(srv, "logs"),
        aws_client(srv, "scheduler"),
    )
    name = unique("cfnev")
    fn_arn = {"Fn::GetAtt": ["Fn", "Arn"]}
    role = f"arn:aws:iam::{ACCOUNT}:role/scheduler"
    template: dict[str, Any] = {
        "Resources": {
            "Fn": function(name),
            "Rule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": {"source": ["my.app"]},
                    "Targets": [{"Id": "one", "Arn": fn_arn}],
                },
            },
            "Timer": {
                "Type": "AWS::Events::Rule",
                "Properties": {"Name": name + "-timer", "ScheduleExpression": "rate(1 day)"},
            },
            "Logs": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": f"/app/{name}", "RetentionInDays": "7"},
            },
            "Schedule": {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {
                    "ScheduleExpression": "rate(1 day)",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Target": {"Arn": fn_arn, "RoleArn": role},
                },
            },
        },
        "Outputs": {
            "Rule": {"Value": {"Ref": "Rule"}},
            "RuleArn": {"Value": {"Fn::GetAtt": ["Rule", "Arn"]}},
            "Logs": {"Value": {"Ref": "Logs"}},
            "LogsArn": {"Value": {"Fn::GetAtt": ["Logs", "Arn"]}},
            "Schedule": {"Value": {"Ref": "Schedule"}},
            "ScheduleArn": {"Value": {"Fn::GetAtt": ["Schedule", "Arn"]}},
        },
    }
    out = deploy(cfn, name, template)
    rule = events.describe_rule(Name=out["Rule"])
    assert rule["Arn"] == out["RuleArn"] and json.loads(rule["EventPattern"]) == {
        "source": ["my.app"]
    }
    targets = events.list_targets_by_rule(Rule=out["Rule"])["Targets"]
    assert [t["Id"] for t in targets] == ["one"]
    assert events.describe_rule(Name=name + "-timer")["ScheduleExpression"] == "rate(1 day)"
    group = logs.describe_log_groups(logGroupNamePrefix=f"/app/{name}")["logGroups"][0]
    assert out["Logs"] == f"/app/{name}" and group["retentionInDays"] == 7
    assert group["arn"] == out["LogsArn"]
    schedule = scheduler.get_schedule(Name=out["Schedule"])
    assert schedule["Arn"] == out["ScheduleArn"] and schedule["State"] == "ENABLED"

    resources = template["Resources"]
    resources["Rule"]["Properties"]["Targets"] = [{"Id": "two", "Arn": fn_arn}]
    resources["Logs"]["Properties"]["RetentionInDays"] = 30
    resources["Schedule"]["Properties"]["State"] = "DISABLED"
    deploy(cfn, name, template, update=True)
    targets = events.list_targets_by_rule(Rule=out["Rule"])["Targets"]
    assert [t["Id"] for t in targets] == ["two"]
    group = logs.describe_log_groups(logGroupNamePrefix=f"/app/{name}")["logGroups"][0]
    assert group["retentionInDays"] == 30
    assert scheduler.get_schedule(Name=out["Schedule"])["State"] == "DISABLED"

    remove(cfn, name)
    for rule_name in (out["Rule"], name + "-timer"):
        with pytest.raises(ClientError):
            events.describe_rule(Name=rule_name)
    assert logs.describe_log_groups(logGroupNamePrefix=f"/app/{name}")["logGroups"] == []
    with pytest.raises(ClientError):
        scheduler.get_schedule(Name=out["Schedule"])


def test_iam_policies(srv: LamboxServer) -> None:
    cfn, iam = aws_client(srv, "cloudformation"), aws_client(srv, "iam")
    name = unique("cfniam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}],
    }
    template: dict[str, Any] = {
        "Resources": {
            "A": {
                "Type": "AWS::IAM::Role",
                "Properties": {"RoleName": name + "-a", "AssumeRolePolicyDocument": trust},
            },
            "B": {
                "Type": "AWS::IAM::Role",
                "Properties": {"RoleName": name + "-b", "AssumeRolePolicyDocument": trust},
            },
            "Inline": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "send",
                    "PolicyDocument": document,
                    "Roles": [{"Ref": "A"}],
                },
            },
            "Managed": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": document, "Roles": [{"Ref": "A"}]},
            },
        },
        "Outputs": {
            "Managed": {"Value": {"Ref": "Managed"}},
            "ManagedArn": {"Value": {"Fn::GetAtt": ["Managed", "PolicyArn"]}},
        },
    }
    out = deploy(cfn, name, template)
    assert out["Managed"] == out["ManagedArn"]
    assert iam.get_policy(PolicyArn=out["Managed"])["Policy"]["Arn"] == out["Managed"]
    got = iam.get_role_policy(RoleName=name + "-a", PolicyName="send")
    assert got["PolicyDocument"] == document
    attached = iam.list_attached_role_policies(RoleName=name + "-a")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [out["Managed"]]

    resources = template["Resources"]
    resources["Inline"]["Properties"]["Roles"] = [{"Ref": "B"}]
    resources["Managed"]["Properties"]["Roles"] = [{"Ref": "B"}]
    deploy(cfn, name, template, update=True)
    assert iam.list_role_policies(RoleName=name + "-a")["PolicyNames"] == []
    assert iam.list_role_policies(RoleName=name + "-b")["PolicyNames"] == ["send"]
    assert iam.list_attached_role_policies(RoleName=name + "-a")["AttachedPolicies"] == []
    attached = iam.list_attached_role_policies(RoleName=name + "-b")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [out["Managed"]]

    remove(cfn, name)
    with pytest.raises(ClientError):
        iam.get_policy(PolicyArn=out["Managed"])
    with pytest.raises(ClientError):
        iam.get_role(RoleName=name + "-b")


def test_http_api_routes_and_integrations(srv: LamboxServer) -> None:
    cfn, apis = aws_client(srv, "cloudformation"), aws_client(srv, "apigatewayv2")
    name = unique("cfnroute")
    template: dict[str, Any] = {
        "Resources": {
            "Fn": function(name),
            "Api": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {"Name": name, "ProtocolType": "HTTP"},
            },
            "Integration": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": {"Fn::GetAtt": ["Fn", "Arn"]},
                    "PayloadFormatVersion": "2.0",
                },
            },
            "Route": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "RouteKey": "GET /hello",
                    "Target": {"Fn::Join": ["/", ["integrations", {"Ref": "Integration"}]]},
                },
            },
        },
        "Outputs": {
            "Api": {"Value": {"Ref": "Api"}},
            "Route": {"Value": {"Ref": "Route"}},
            "Integration": {"Value": {"Ref": "Integration"}},
        },
    }
    out = deploy(cfn, name, template)
    route = apis.get_route(ApiId=out["Api"], RouteId=out["Route"])
    assert route["RouteKey"] == "GET /hello"
    assert route["Target"] == f"integrations/{out['Integration']}"
    integration = apis.get_integration(ApiId=out["Api"], IntegrationId=out["Integration"])
    assert integration["IntegrationType"] == "AWS_PROXY"

    template["Resources"]["Route"]["Properties"]["RouteKey"] = "POST /hello"
    new = deploy(cfn, name, template, update=True)
    routes = apis.get_routes(ApiId=out["Api"])["Items"]
    assert [r["RouteKey"] for r in routes] == ["POST /hello"]
    assert new["Route"] != out["Route"]

    remove(cfn, name)
    with pytest.raises(ClientError):
        apis.get_api(ApiId=out["Api"])


def test_sam_events_and_function_url(srv: LamboxServer) -> None:
    """What SAM's SNS, Schedule and EventBridgeRule events and FunctionUrlConfig expand to."""
    cfn, lam = aws_client(srv, "cloudformation"), aws_client(srv, "lambda")
    sns, events = aws_client(srv, "sns"), aws_client(srv, "events")
    name = unique("cfnsam")
    template: dict[str, Any] = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "FunctionName": name,
                    "Runtime": "python3.11",
                    "Handler": "index.handler",
                    "InlineCode": "def handler(e, c):\n    return 1\n",
                    "FunctionUrlConfig": {"AuthType": "NONE"},
                    "Events": {
                        "Note": {"Type": "SNS", "Properties": {"Topic": {"Ref": "Topic"}}},
                        "Tick": {
                            "Type": "Schedule",
                            "Properties": {"Schedule": "rate(1 hour)"},
                        },
                        "Bus": {
                            "Type": "EventBridgeRule",
                            "Properties": {"Pattern": {"source": ["my.app"]}},
                        },
                    },
                },
            },
        },
        "Outputs": {
            "Topic": {"Value": {"Ref": "Topic"}},
            "Url": {"Value": {"Fn::GetAtt": ["FnUrl", "FunctionUrl"]}},
        },
    }
    out = deploy(cfn, name, template)
    assert lam.get_function_url_config(FunctionName=name)["FunctionUrl"] == out["Url"]
    subs = sns.list_subscriptions_by_topic(TopicArn=out["Topic"])["Subscriptions"]
    assert [s["Endpoint"] for s in subs] == [f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"]
    rules = events.list_rule_names_by_target(
        TargetArn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    )["RuleNames"]
    assert len(rules) == 2
    expressions = {events.describe_rule(Name=r).get("ScheduleExpression") for r in rules}
    assert expressions == {"rate(1 hour)", None}
    remove(cfn, name)
    assert (
        events.list_rule_names_by_target(
            TargetArn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
        )["RuleNames"]
        == []
    )


def test_fifo_queue_name_and_permission_removal(srv: LamboxServer) -> None:
    """A FIFO queue's generated name keeps room for ".fifo" within SQS's 80 characters, and
    a changed permission's statement (under its generated id, the Ref) is replaced."""
    cfn, lam, sqs = (
        aws_client(srv, "cloudformation"),
        aws_client(srv, "lambda"),
        aws_client(srv, "sqs"),
    )
    name = unique("cfnfifo") + "-" + "x" * 70  # stack-Logical is longer than a name may be
    template: dict[str, Any] = {
        "Resources": {
            "Fn": function(name[:60]),
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"FifoQueue": "true", "ContentBasedDeduplication": True},
            },
            "Invoke": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": {"Ref": "Fn"},
                    "Action": "lambda:InvokeFunction",
                    "Principal": "sqs.amazonaws.com",
                },
            },
        },
        "Outputs": {
            "Name": {"Value": {"Fn::GetAtt": ["Queue", "QueueName"]}},
            "Url": {"Value": {"Ref": "Queue"}},
            "Sid": {"Value": {"Ref": "Invoke"}},
        },
    }
    out = deploy(cfn, name, template)
    assert out["Name"].endswith(".fifo") and len(out["Name"]) == 80
    assert out["Name"].startswith(f"{name}-Queue"[:62] + "-")
    assert out["Url"].endswith("/" + out["Name"])
    attributes = sqs.get_queue_attributes(QueueUrl=out["Url"], AttributeNames=["All"])
    assert attributes["Attributes"]["FifoQueue"] == "true"
    assert attributes["Attributes"]["ContentBasedDeduplication"] == "true"
    policy = json.loads(lam.get_policy(FunctionName=name[:60])["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == [out["Sid"]]
    assert out["Sid"].startswith(f"{name}-Invoke"[:87])
    template["Resources"]["Invoke"]["Properties"]["Principal"] = "s3.amazonaws.com"
    deploy(cfn, name, template, update=True)  # a changed permission is replaced
    policy = json.loads(lam.get_policy(FunctionName=name[:60])["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Sid"] != out["Sid"]
    remove(cfn, name)
    with pytest.raises(ClientError):
        sqs.get_queue_attributes(QueueUrl=out["Url"])


def test_http_api_from_body_and_stage_typed_by_the_model(srv: LamboxServer) -> None:
    """An HTTP API named by its body's title gets a route per proxy operation; a stage's
    ``AutoDeploy: "false"`` (a template string) is the boolean false, as on AWS."""
    cfn, apis = aws_client(srv, "cloudformation"), aws_client(srv, "apigatewayv2")
    name = unique("cfnhttp")
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    proxy = {"x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": uri}}
    template: dict[str, Any] = {
        "Resources": {
            "Fn": function(name),
            "Api": {
                "Type": "AWS::ApiGatewayV2::Api",
                "DependsOn": "Fn",
                "Properties": {
                    "Body": {
                        "openapi": "3.0.1",
                        "info": {"title": name},
                        "paths": {"/items": {"get": proxy}, "$default": {ANY: proxy}},
                    }
                },
            },
            "Stage": {
                "Type": "AWS::ApiGatewayV2::Stage",
                "Properties": {"ApiId": {"Ref": "Api"}, "StageName": "v1", "AutoDeploy": "false"},
            },
        },
        "Outputs": {"Api": {"Value": {"Ref": "Api"}}, "Stage": {"Value": {"Ref": "Stage"}}},
    }
    out = deploy(cfn, name, template)
    assert apis.get_api(ApiId=out["Api"])["Name"] == name
    routes = apis.get_routes(ApiId=out["Api"])["Items"]
    assert sorted(r["RouteKey"] for r in routes) == ["$default", "GET /items"]
    assert out["Stage"] == "v1"
    assert apis.get_stage(ApiId=out["Api"], StageName="v1")["AutoDeploy"] is False
    remove(cfn, name)
    with pytest.raises(ClientError):
        apis.get_api(ApiId=out["Api"])


ANY = "x-amazon-apigateway-any-method"


def test_role_policies_trust_and_generated_name(srv: LamboxServer) -> None:
    """A role's inline policies and trust follow its template on update; a managed policy
    lambox does not know is skipped; its policies go with it."""
    cfn, iam = aws_client(srv, "cloudformation"), aws_client(srv, "iam")
    name = unique("cfnrole")

    def trust(service: str) -> dict[str, Any]:
        allow = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        return {"Version": "2012-10-17", "Statement": [allow]}

    def policy(action: str) -> dict[str, Any]:
        allow = {"Effect": "Allow", "Action": action, "Resource": "*"}
        return {"PolicyName": action.replace(":", "-"), "PolicyDocument": {"Statement": [allow]}}

    props: dict[str, Any] = {
        "AssumeRolePolicyDocument": trust("lambda.amazonaws.com"),
        "MaxSessionDuration": "7200",
        "Policies": [policy("sqs:SendMessage")],
        "ManagedPolicyArns": ["arn:aws:iam::aws:policy/NotKnownToLambox"],
    }
    template: dict[str, Any] = {
        "Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": props}},
        "Outputs": {"Name": {"Value": {"Ref": "Role"}}},
    }
    role = deploy(cfn, name, template)["Name"]
    assert role.startswith(f"{name}-Role-")
    got = iam.get_role(RoleName=role)["Role"]
    assert got["MaxSessionDuration"] == 7200
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["sqs-SendMessage"]
    props["AssumeRolePolicyDocument"] = trust("states.amazonaws.com")
    props["Policies"] = [policy("sns:Publish")]
    deploy(cfn, name, template, update=True)
    got = iam.get_role(RoleName=role)["Role"]
    principal = got["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "states.amazonaws.com"}
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["sns-Publish"]
    remove(cfn, name)
    with pytest.raises(ClientError):
        iam.get_role(RoleName=role)


def failure(cfn: Any, name: str, resource: dict[str, Any]) -> str:
    """The reason the stack's only resource failed to create with."""
    cfn.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": {"R": resource}}))
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    (reason,) = [
        e["ResourceStatusReason"] for e in events if e["ResourceStatus"] == "CREATE_FAILED"
    ]
    return str(reason)


def test_function_and_layer_code_failures_say_why(srv: LamboxServer) -> None:
    cfn, s3 = aws_client(srv, "cloudformation"), aws_client(srv, "s3")
    name = unique("cfncode")
    bucket = name.lower()
    s3.create_bucket(Bucket=bucket)
    fn = function(name)
    fn["Properties"]["Code"] = {"S3Bucket": bucket, "S3Key": "missing.zip"}
    # Lambda reads the code, as for the API, and says what S3 answered.
    assert "Error occurred while GetObject. S3 Error Code: NoSuchKey." in failure(
        cfn, name + "-a", fn
    )
    fn["Properties"]["Code"] = {"ImageUri": "example.com/image:1"}
    reason = failure(cfn, name + "-b", fn)
    assert "lambox deploys function code from ZipFile or S3 only" in reason
    layer = {"Type": "AWS::Lambda::LayerVersion", "Properties": {"Content": {"S3Bucket": bucket}}}
    assert "Content needs S3Bucket and S3Key" in failure(cfn, name + "-c", layer)


def test_version_alias_weights_and_layer(srv: LamboxServer) -> None:
    """An alias's routing weights are set, and cleared when the template drops them; the
    versions and the layer version go with the stack."""
    cfn, lam, s3 = (
        aws_client(srv, "cloudformation"),
        aws_client(srv, "lambda"),
        aws_client(srv, "s3"),
    )
    name = unique("cfnalias")
    bucket = name.lower()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="layer.zip", Body=_zip({"python/shared.py": "X = 1\n"}))
    alias: dict[str, Any] = {
        "FunctionName": {"Ref": "Fn"},
        "Name": "live",
        "FunctionVersion": {"Fn::GetAtt": ["V1", "Version"]},
    }
    resources: dict[str, Any] = {
        "Fn": function(name),
        "V1": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
        "Live": {"Type": "AWS::Lambda::Alias", "Properties": alias},
        "Layer": {
            "Type": "AWS::Lambda::LayerVersion",
            "Properties": {"Content": {"S3Bucket": bucket, "S3Key": "layer.zip"}},
        },
    }
    template: dict[str, Any] = {
        "Resources": resources,
        "Outputs": {
            "Alias": {"Value": {"Ref": "Live"}},
            "V1": {"Value": {"Ref": "V1"}},
            "Layer": {"Value": {"Ref": "Layer"}},
        },
    }
    out = deploy(cfn, name, template)
    assert out["V1"].endswith(f":function:{name}:1")
    layer = lam.get_layer_version_by_arn(Arn=out["Layer"])
    assert layer["LayerVersionArn"].startswith(
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:{name}-Layer-"
    )
    resources["Fn"]["Properties"]["Code"] = {"ZipFile": "def handler(e, c):\n    return 2\n"}
    resources["V2"] = {
        "Type": "AWS::Lambda::Version",
        "Properties": {"FunctionName": {"Ref": "Fn"}},
    }
    resources["V2"]["Properties"]["Description"] = {"Fn::GetAtt": ["Fn", "Arn"]}
    alias["FunctionVersion"] = {"Fn::GetAtt": ["V2", "Version"]}
    weight = {"FunctionVersion": {"Fn::GetAtt": ["V1", "Version"]}, "FunctionWeight": "0.25"}
    alias["RoutingConfig"] = {"AdditionalVersionWeights": [weight]}
    deploy(cfn, name, template, update=True)
    got = lam.get_alias(FunctionName=name, Name="live")
    assert out["Alias"] == got["AliasArn"]
    assert got["FunctionVersion"] == "2"
    assert got["RoutingConfig"]["AdditionalVersionWeights"] == {"1": 0.25}
    del alias["RoutingConfig"]
    deploy(cfn, name, template, update=True)
    got = lam.get_alias(FunctionName=name, Name="live")
    assert got.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}) == {}
    remove(cfn, name)
    with pytest.raises(ClientError):
        lam.get_layer_version_by_arn(Arn=out["Layer"])
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=name)


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, source in files.items():
            zf.writestr(path, source)
    return buf.getvalue()


def test_bucket_attributes_notifications_and_failures(srv: LamboxServer) -> None:
    """A bucket's generated name is lower-case, its attributes AWS's; its notification is
    rewritten on update; a notification S3 refuses leaves no bucket behind."""
    cfn, s3 = aws_client(srv, "cloudformation"), aws_client(srv, "s3")
    name = unique("CfnBucket")
    rule = {"Event": "s3:ObjectCreated:*", "Function": {"Fn::GetAtt": ["Fn", "Arn"]}}
    props: dict[str, Any] = {"NotificationConfiguration": {"LambdaConfigurations": [rule]}}
    template: dict[str, Any] = {
        "Resources": {
            "Fn": function(name),
            "Store": {"Type": "AWS::S3::Bucket", "Properties": props},
        },
        "Outputs": {
            key: {"Value": {"Fn::GetAtt": ["Store", key]}}
            for key in ("Arn", "DomainName", "RegionalDomainName")
        }
        | {"Name": {"Value": {"Ref": "Store"}}},
    }
    out = deploy(cfn, name, template)
    bucket = out["Name"]
    assert bucket.startswith(f"{name}-Store-".lower()) and bucket == bucket.lower()
    assert out["Arn"] == f"arn:aws:s3:::{bucket}"
    assert out["DomainName"] == f"{bucket}.s3.amazonaws.com"
    assert out["RegionalDomainName"] == f"{bucket}.s3.us-east-1.amazonaws.com"
    config = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert len(config["LambdaFunctionConfigurations"]) == 1
    del props["NotificationConfiguration"]
    deploy(cfn, name, template, update=True)
    config = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert "LambdaFunctionConfigurations" not in config
    remove(cfn, name)
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=bucket)

    queue = {"QueueConfigurations": [{"Event": "s3:ObjectCreated:*", "Queue": "arn"}]}
    store = {"Type": "AWS::S3::Bucket", "Properties": {"NotificationConfiguration": queue}}
    reason = failure(cfn, name + "-q", store)
    assert "lambox does not serve bucket notifications to QueueConfigurations yet" in reason
    missing = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}-none"
    rule = {"Event": "s3:ObjectCreated:*", "Function": missing}
    named = {"BucketName": name.lower() + "-n", "NotificationConfiguration": {}}
    named["NotificationConfiguration"]["LambdaConfigurations"] = [rule]
    failure(cfn, name + "-n", {"Type": "AWS::S3::Bucket", "Properties": named})
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name.lower() + "-n")


def test_bucket_policy_is_recorded_under_its_bucket(srv: LamboxServer) -> None:
    cfn = aws_client(srv, "cloudformation")
    name = unique("cfnbp")

    def policy(action: str) -> dict[str, Any]:
        allow = {"Effect": "Allow", "Principal": "*", "Action": action, "Resource": "*"}
        return {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {"Bucket": {"Ref": "B"}, "PolicyDocument": {"Statement": [allow]}},
        }

    template: dict[str, Any] = {
        "Resources": {"B": {"Type": "AWS::S3::Bucket"}, "P": policy("s3:GetObject")},
        "Outputs": {"B": {"Value": {"Ref": "B"}}, "P": {"Value": {"Ref": "P"}}},
    }
    out = deploy(cfn, name, template)
    assert out["P"] == out["B"]
    template["Resources"]["P"] = policy("s3:PutObject")
    deploy(cfn, name, template, update=True)
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    updated = [e["ResourceStatus"] for e in events if e["LogicalResourceId"] == "P"]
    assert "UPDATE_COMPLETE" in updated and updated.count("CREATE_COMPLETE") == 1
    remove(cfn, name)


def test_a_replacement_with_the_old_physical_id_is_not_deleted(srv: LamboxServer) -> None:
    """``FifoTopic: false`` written out replaces a named topic (the property is one that
    replaces), and CreateTopic of the same name answers the same topic: the update's
    cleanup must not delete it from under the resource that now stands for it."""
    cfn, sns = aws_client(srv, "cloudformation"), aws_client(srv, "sns")
    name = unique("samearn")
    topic: dict[str, Any] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": name}}
    template = {"Resources": {"T": topic}, "Outputs": {"Arn": {"Value": {"Ref": "T"}}}}
    arn = deploy(cfn, name, template)["Arn"]
    topic["Properties"]["FifoTopic"] = "false"
    assert deploy(cfn, name, template, update=True)["Arn"] == arn
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["TopicArn"] == arn
    remove(cfn, name)
    with pytest.raises(ClientError):
        sns.get_topic_attributes(TopicArn=arn)
