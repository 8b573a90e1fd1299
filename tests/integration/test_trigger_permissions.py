"""In the strict posture, S3 notifications, SNS subscriptions and EventBridge rules invoke a
function only if its resource policy allows their service principal for that source, as on
AWS: S3 refuses the notification configuration, SNS and EventBridge drop the event."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import CLIENT_ENV, LamboxServer, make_zip, unique
from tests.integration.test_auth import client, root_keys, strict  # noqa: F401
from tests.integration.test_function_credentials import LAMBDA_TRUST

ACCOUNT = "000000000000"
MARK = """import json

def handler(event, context):
    print("MARK " + json.dumps(event, sort_keys=True))
    return {}
"""


class Env:
    def __init__(self, server: LamboxServer, keys: tuple[str, str]) -> None:
        self.server = server
        self.keys = keys
        self.iam = client("iam", server.url, *keys)
        self.lam = client("lambda", server.url, *keys, read_timeout=120)
        self.s3 = client("s3", server.url, *keys)
        self.sns = client("sns", server.url, *keys)
        self.events = client("events", server.url, *keys)
        self.logs = client("logs", server.url, *keys)
        self.role = self.iam.create_role(
            RoleName=unique("trig"), AssumeRolePolicyDocument=LAMBDA_TRUST
        )["Role"]["Arn"]

    def function(self) -> tuple[str, str]:
        name = unique("trig")
        arn = self.lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler="app.handler",
            Role=self.role,
            Code={"ZipFile": make_zip({"app.py": MARK})},
        )["FunctionArn"]
        self.lam.get_waiter("function_active_v2").wait(FunctionName=name)
        return name, arn

    def marks(self, name: str, wanted: str, timeout: float = 60) -> list[str]:
        """The events the function logged, once one of them contains ``wanted``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got = self.logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")
            except Exception:  # no group before the first invocation
                got = {"events": []}
            lines = [e["message"] for e in got["events"] if e["message"].startswith("MARK ")]
            if any(wanted in line for line in lines):
                return lines
            time.sleep(0.3)
        raise AssertionError(f"{name} never logged {wanted}")

    def cli(self, *args: str) -> None:
        env = {
            **os.environ,
            **CLIENT_ENV,
            "AWS_ACCESS_KEY_ID": self.keys[0],
            "AWS_SECRET_ACCESS_KEY": self.keys[1],
        }
        out = subprocess.run(
            ["/usr/bin/aws", "--endpoint-url", self.server.url, *args],
            env=env,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr


@pytest.fixture(scope="module")
def env(strict: LamboxServer, root_keys: tuple[str, str]) -> Env:  # noqa: F811
    return Env(strict, root_keys)


def test_s3_notification_needs_the_permission(env: Env) -> None:
    name, arn = env.function()
    bucket = unique("trig").lower()
    env.s3.create_bucket(Bucket=bucket)
    config = {
        "LambdaFunctionConfigurations": [
            {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
        ]
    }
    put = env.s3.put_bucket_notification_configuration
    with pytest.raises(ClientError) as caught:
        put(Bucket=bucket, NotificationConfiguration=config)
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidArgument"
    assert error["Message"] == "Unable to validate the following destination configurations"
    # A statement for another bucket does not do.
    env.lam.add_permission(
        FunctionName=name,
        StatementId="other-bucket",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::some-other-bucket",
    )
    with pytest.raises(ClientError) as caught_again:
        put(Bucket=bucket, NotificationConfiguration=config)
    assert caught_again.value.response["Error"]["Code"] == "InvalidArgument"
    env.cli(
        "lambda",
        "add-permission",
        "--function-name",
        name,
        "--statement-id",
        "s3",
        "--action",
        "lambda:InvokeFunction",
        "--principal",
        "s3.amazonaws.com",
        "--source-arn",
        f"arn:aws:s3:::{bucket}",
        "--source-account",
        ACCOUNT,
    )
    put(Bucket=bucket, NotificationConfiguration=config)
    env.s3.put_object(Bucket=bucket, Key="first", Body=b"1")
    env.marks(name, '"key": "first"')
    # The permission removed, the next event is dropped; one after it is granted again
    # arrives, and the dropped one never did.
    env.lam.remove_permission(FunctionName=name, StatementId="s3")
    env.s3.put_object(Bucket=bucket, Key="dropped", Body=b"2")
    env.lam.add_permission(
        FunctionName=name,
        StatementId="s3-again",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{bucket}",
    )
    env.s3.put_object(Bucket=bucket, Key="third", Body=b"3")
    lines = env.marks(name, '"key": "third"')
    assert not any('"key": "dropped"' in line for line in lines)


def test_sns_delivery_needs_the_permission(env: Env) -> None:
    name, arn = env.function()
    topic = env.sns.create_topic(Name=unique("trig"))["TopicArn"]
    env.sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
    env.sns.publish(TopicArn=topic, Message="dropped")
    # A statement for another topic does not do.
    env.lam.add_permission(
        FunctionName=name,
        StatementId="other",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
        SourceArn=topic + "-other",
    )
    env.sns.publish(TopicArn=topic, Message="dropped-too")
    env.cli(
        "lambda",
        "add-permission",
        "--function-name",
        name,
        "--statement-id",
        "sns",
        "--action",
        "lambda:InvokeFunction",
        "--principal",
        "sns.amazonaws.com",
        "--source-arn",
        topic,
    )
    env.sns.publish(TopicArn=topic, Message="delivered")
    lines = env.marks(name, '"Message": "delivered"')
    assert not any('"Message": "dropped' in line for line in lines)


def test_eventbridge_rule_needs_the_permission(env: Env) -> None:
    name, arn = env.function()
    rule = unique("trig")
    rule_arn = env.events.put_rule(Name=rule, EventPattern=json.dumps({"source": [f"src.{rule}"]}))[
        "RuleArn"
    ]
    env.events.put_targets(Rule=rule, Targets=[{"Id": "f", "Arn": arn}])

    def send(text: str) -> None:
        entry = {"Source": f"src.{rule}", "DetailType": "t", "Detail": json.dumps({"n": text})}
        assert env.events.put_events(Entries=[entry])["FailedEntryCount"] == 0

    send("dropped")
    env.lam.add_permission(
        FunctionName=name,
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )
    send("delivered")
    lines = env.marks(name, '"n": "delivered"')
    assert not any('"n": "dropped"' in line for line in lines)


SCHEDULER_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "scheduler.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def test_scheduler_invokes_as_its_role(env: Env) -> None:
    name, arn = env.function()
    scheduler = client("scheduler", env.server.url, *env.keys)
    allowed = env.iam.create_role(
        RoleName=unique("sched"), AssumeRolePolicyDocument=SCHEDULER_TRUST
    )
    env.iam.put_role_policy(
        RoleName=allowed["Role"]["RoleName"],
        PolicyName="invoke",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": arn}
                ],
            }
        ),
    )
    # trusts Scheduler but may not invoke; may invoke but does not trust Scheduler
    bare = env.iam.create_role(RoleName=unique("sched"), AssumeRolePolicyDocument=SCHEDULER_TRUST)
    untrusted = env.iam.create_role(RoleName=unique("sched"), AssumeRolePolicyDocument=LAMBDA_TRUST)
    env.iam.put_role_policy(
        RoleName=untrusted["Role"]["RoleName"],
        PolicyName="invoke",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}],
            }
        ),
    )
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)).strftime("%Y-%m-%dT%H:%M:%S")
    for role, tag, at in (
        (bare, "dropped-bare", when),
        (untrusted, "dropped-untrusted", when),
        (allowed, "delivered", later),
    ):
        scheduler.create_schedule(
            Name=unique("sched"),
            ScheduleExpression=f"at({at})",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": arn, "RoleArn": role["Role"]["Arn"], "Input": json.dumps({"n": tag})},
        )
    lines = env.marks(name, '"n": "delivered"')
    assert not any('"n": "dropped' in line for line in lines)


def test_queue_mapping_needs_an_execution_role_that_may_poll(env: Env) -> None:
    """Lambda polls a queue as the function's execution role: CreateEventSourceMapping
    refuses a role that may not receive, delete and read the queue's attributes."""
    name, _ = env.function()
    sqs = client("sqs", env.server.url, *env.keys)
    queue_url = sqs.create_queue(QueueName=unique("poll"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    with pytest.raises(ClientError) as caught:
        env.lam.create_event_source_mapping(FunctionName=name, EventSourceArn=queue_arn)
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == (
        "The provided execution role does not have permissions to call ReceiveMessage on SQS"
    )
    role_name = env.role.rsplit("/", 1)[1]
    env.iam.put_role_policy(
        RoleName=role_name,
        PolicyName=f"poll-{name}",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
                        "Resource": queue_arn,
                    }
                ],
            }
        ),
    )
    with pytest.raises(ClientError) as caught:
        env.lam.create_event_source_mapping(FunctionName=name, EventSourceArn=queue_arn)
    assert "call GetQueueAttributes on SQS" in caught.value.response["Error"]["Message"]
    env.iam.put_role_policy(
        RoleName=role_name,
        PolicyName=f"attrs-{name}",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sqs:GetQueueAttributes", "Resource": "*"}
                ],
            }
        ),
    )
    mapping = env.lam.create_event_source_mapping(FunctionName=name, EventSourceArn=queue_arn)
    sqs.send_message(QueueUrl=queue_url, MessageBody="polled")
    env.marks(name, "polled")
    env.lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_a_stack_grants_its_bucket_with_a_permission_resource(env: Env) -> None:
    """CloudFormation: AWS::Lambda::Permission adds the statement a stack's bucket
    notification needs (without it the bucket cannot be created, as on AWS), and
    AWS::IAM::Role creates the execution role the strict posture requires."""
    cfn = client("cloudformation", env.server.url, *env.keys)
    bucket = unique("stack").lower()

    def template(with_permission: bool) -> str:
        resources: dict[str, Any] = {
            "Exec": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": json.loads(LAMBDA_TRUST),
                    "ManagedPolicyArns": [
                        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                        "arn:aws:iam::aws:policy/NotKnownToLambox",
                    ],
                    "Policies": [
                        {
                            "PolicyName": "list",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}
                                ],
                            },
                        }
                    ],
                },
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.11",
                    "Handler": "index.handler",
                    "Role": {"Fn::GetAtt": ["Exec", "Arn"]},
                    "Code": {"ZipFile": MARK},
                },
            },
            "Uploads": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": bucket,
                    "NotificationConfiguration": {
                        "LambdaConfigurations": [
                            {
                                "Event": "s3:ObjectCreated:*",
                                "Function": {"Fn::GetAtt": ["Fn", "Arn"]},
                            }
                        ]
                    },
                },
            },
        }
        if with_permission:
            resources["Allow"] = {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": {"Ref": "Fn"},
                    "Action": "lambda:InvokeFunction",
                    "Principal": "s3.amazonaws.com",
                    "SourceArn": f"arn:aws:s3:::{bucket}",
                    "SourceAccount": ACCOUNT,
                },
            }
            resources["Uploads"]["DependsOn"] = "Allow"
        outputs = {"Fn": {"Value": {"Ref": "Fn"}}, "Role": {"Value": {"Ref": "Exec"}}}
        return json.dumps({"Resources": resources, "Outputs": outputs})

    refused = unique("stack")
    cfn.create_stack(
        StackName=refused, TemplateBody=template(False), Capabilities=["CAPABILITY_IAM"]
    )
    deadline = time.monotonic() + 120
    while cfn.describe_stacks(StackName=refused)["Stacks"][0]["StackStatus"].endswith(
        "IN_PROGRESS"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert cfn.describe_stacks(StackName=refused)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [
        e.get("ResourceStatusReason", "")
        for e in cfn.describe_stack_events(StackName=refused)["StackEvents"]
        if e["LogicalResourceId"] == "Uploads"
    ]
    assert any("Unable to validate" in r for r in reasons), reasons

    name = unique("stack")
    cfn.create_stack(StackName=name, TemplateBody=template(True), Capabilities=["CAPABILITY_IAM"])
    cfn.get_waiter("stack_create_complete").wait(
        StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    out = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
    }
    fn, role = out["Fn"], out["Role"]
    # The stack's role is a role of lambox's IAM, with the policies the template gives it.
    assert env.iam.list_role_policies(RoleName=role)["PolicyNames"] == ["list"]
    attached = env.iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AWSLambdaBasicExecutionRole"]
    statements = json.loads(env.lam.get_policy(FunctionName=fn)["Policy"])["Statement"]
    assert [s["Principal"] for s in statements] == [{"Service": "s3.amazonaws.com"}]
    env.s3.put_object(Bucket=bucket, Key="from-stack", Body=b"1")
    env.marks(fn, '"key": "from-stack"')
    env.s3.delete_object(Bucket=bucket, Key="from-stack")
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(
        StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    with pytest.raises(ClientError) as caught:
        env.iam.get_role(RoleName=role)
    assert caught.value.response["Error"]["Code"] == "NoSuchEntity"
