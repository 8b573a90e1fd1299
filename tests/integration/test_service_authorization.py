"""Authorization of SQS, SNS, EventBridge, Scheduler and API Gateway in the strict posture:
a user without a policy is refused in the service's own access-denied shape, a user whose
policy allows the action on the resource's ARN is let through."""

from __future__ import annotations

from typing import Any

from tests.conftest import LamboxServer, unique
from tests.integration.test_auth import client, error_of, root_keys, strict  # noqa: F401
from tests.integration.test_authorization import ACCOUNT, user_with

REGION = "us-east-1"


def allow(action: str, resource: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def test_sqs_actions_on_the_queue_arn(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    url = strict.url
    iam = client("iam", url, *root_keys)
    queue = unique("q")
    queue_url = client("sqs", url, *root_keys).create_queue(QueueName=queue)["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"

    arn, key, secret = user_with(iam, url)
    nobody = client("sqs", url, key, secret)
    err = error_of(nobody.send_message, QueueUrl=queue_url, MessageBody="x")
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err["Error"]["Code"] == "AccessDenied"
    assert (
        f"User: {arn} is not authorized to perform: sqs:SendMessage on resource: {queue_arn}"
        in err["Error"]["Message"]
    )

    _, key, secret = user_with(iam, url, allow("sqs:SendMessage", queue_arn))
    sender = client("sqs", url, key, secret)
    sender.send_message(QueueUrl=queue_url, MessageBody="one")
    sender.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": "a", "MessageBody": "two"}])
    err = error_of(sender.receive_message, QueueUrl=queue_url)
    assert err["Error"]["Code"] == "AccessDenied"
    assert "sqs:ReceiveMessage" in err["Error"]["Message"]
    err = error_of(sender.create_queue, QueueName=unique("other"))
    assert err["Error"]["Code"] == "AccessDenied"
    got = client("sqs", url, *root_keys).get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert got["Attributes"]["ApproximateNumberOfMessages"] == "2"


def test_eventbridge_actions_on_the_rule_and_bus_arns(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    url = strict.url
    iam = client("iam", url, *root_keys)
    rule = unique("rule")
    rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"
    bus_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    pattern = '{"source": ["shop"]}'

    arn, key, secret = user_with(iam, url)
    nobody = client("events", url, key, secret)
    err = error_of(nobody.put_rule, Name=rule, EventPattern=pattern)
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Code"] == "AccessDeniedException"
    assert (
        f"User: {arn} is not authorized to perform: events:PutRule on resource: {rule_arn}"
        in err["Error"]["Message"]
    )

    _, key, secret = user_with(
        iam,
        url,
        allow("events:PutRule", rule_arn),
        allow("events:DescribeRule", rule_arn),
        allow("events:PutEvents", bus_arn),
    )
    events = client("events", url, key, secret)
    assert events.put_rule(Name=rule, EventPattern=pattern)["RuleArn"] == rule_arn
    assert events.describe_rule(Name=rule)["Arn"] == rule_arn
    sent = events.put_events(Entries=[{"Source": "shop", "DetailType": "t", "Detail": "{}"}])
    assert sent["FailedEntryCount"] == 0
    err = error_of(events.delete_rule, Name=rule)
    assert err["Error"]["Code"] == "AccessDeniedException"
    err = error_of(events.put_rule, Name=unique("other"), EventPattern=pattern)
    assert err["Error"]["Code"] == "AccessDeniedException"
    assert client("events", url, *root_keys).describe_rule(Name=rule)["Name"] == rule


def test_sns_actions_on_the_topic_arn(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    url = strict.url
    iam = client("iam", url, *root_keys)
    root_sns = client("sns", url, *root_keys)
    topic_arn = root_sns.create_topic(Name=unique("t"))["TopicArn"]

    arn, key, secret = user_with(iam, url)
    nobody = client("sns", url, key, secret)
    err = error_of(nobody.publish, TopicArn=topic_arn, Message="x")
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err["Error"]["Code"] == "AuthorizationError"
    assert (
        f"User: {arn} is not authorized to perform: sns:Publish on resource: {topic_arn}"
        in err["Error"]["Message"]
    )

    _, key, secret = user_with(
        iam, url, allow("sns:Publish", topic_arn), allow("sns:GetTopicAttributes", topic_arn)
    )
    sns = client("sns", url, key, secret)
    assert sns.publish(TopicArn=topic_arn, Message="hello")["MessageId"]
    assert sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["TopicArn"] == topic_arn
    assert error_of(sns.delete_topic, TopicArn=topic_arn)["Error"]["Code"] == "AuthorizationError"
    assert error_of(sns.list_topics)["Error"]["Code"] == "AuthorizationError"
    assert root_sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]


def test_scheduler_actions_on_the_schedule_arn(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    url = strict.url
    iam = client("iam", url, *root_keys)
    name = unique("s")
    schedule_arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{name}"
    target = {
        "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:nowhere",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/scheduler",
    }
    spec: dict[str, Any] = {
        "Name": name,
        "ScheduleExpression": "rate(1 day)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": target,
        "State": "DISABLED",
    }

    arn, key, secret = user_with(iam, url)
    nobody = client("scheduler", url, key, secret)
    err = error_of(nobody.create_schedule, **spec)
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err["Error"]["Code"] == "AccessDeniedException"
    assert (
        f"User: {arn} is not authorized to perform: scheduler:CreateSchedule on resource:"
        f" {schedule_arn}" in err["Error"]["Message"]
    )

    _, key, secret = user_with(
        iam,
        url,
        allow("scheduler:CreateSchedule", schedule_arn),
        allow("scheduler:GetSchedule", schedule_arn),
    )
    scheduler = client("scheduler", url, key, secret)
    assert scheduler.create_schedule(**spec)["ScheduleArn"] == schedule_arn
    assert scheduler.get_schedule(Name=name)["Arn"] == schedule_arn
    err = error_of(scheduler.delete_schedule, Name=name)
    assert err["Error"]["Code"] == "AccessDeniedException"
    assert client("scheduler", url, *root_keys).get_schedule(Name=name)["Name"] == name


def test_api_gateway_methods_on_the_resource_path(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    url = strict.url
    iam = client("iam", url, *root_keys)
    apis_arn = f"arn:aws:apigateway:{REGION}::/v2/apis"

    arn, key, secret = user_with(iam, url)
    nobody = client("apigatewayv2", url, key, secret)
    err = error_of(nobody.create_api, Name=unique("api"), ProtocolType="HTTP")
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err["Error"]["Code"] == "AccessDeniedException"
    assert (
        f"User: {arn} is not authorized to perform: apigateway:POST on resource: {apis_arn}"
        in err["Error"]["Message"]
    )
    err = error_of(client("apigateway", url, key, secret).get_rest_apis)
    assert err["Error"]["Code"] == "AccessDeniedException"

    _, key, secret = user_with(
        iam,
        url,
        allow("apigateway:POST", apis_arn),
        allow("apigateway:GET", f"{apis_arn}/*"),
    )
    apis = client("apigatewayv2", url, key, secret)
    api_id = apis.create_api(Name=unique("api"), ProtocolType="HTTP")["ApiId"]
    assert apis.get_api(ApiId=api_id)["ApiId"] == api_id
    err = error_of(apis.delete_api, ApiId=api_id)
    assert err["Error"]["Code"] == "AccessDeniedException"
    assert f"apigateway:DELETE on resource: {apis_arn}/{api_id}" in err["Error"]["Message"]
    assert client("apigatewayv2", url, *root_keys).get_api(ApiId=api_id)["ApiId"] == api_id


def test_cloudwatch_logs_actions_on_the_group_and_stream_arns(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    import os
    import subprocess

    from tests.conftest import CLIENT_ENV

    url = strict.url
    iam = client("iam", url, *root_keys)
    group = f"/app/{unique('g')}"
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    client("logs", url, *root_keys).create_log_group(logGroupName=group)

    arn, key, secret = user_with(iam, url)
    nobody = client("logs", url, key, secret)
    err = error_of(nobody.create_log_stream, logGroupName=group, logStreamName="s")
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Code"] == "AccessDeniedException"
    assert (
        f"User: {arn} is not authorized to perform: logs:CreateLogStream on resource:"
        f" {group_arn}:*" in err["Error"]["Message"]
    )
    env = {**os.environ, **CLIENT_ENV, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    cli = subprocess.run(
        ["/usr/bin/aws", "--endpoint-url", url, "logs", "describe-log-groups"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert cli.returncode != 0 and "AccessDeniedException" in cli.stderr, cli.stderr

    _, key, secret = user_with(
        iam,
        url,
        allow("logs:CreateLogStream", f"{group_arn}:*"),
        allow("logs:PutLogEvents", f"{group_arn}:log-stream:mine"),
        allow("logs:DescribeLogGroups", "*"),
    )
    logs = client("logs", url, key, secret)
    logs.create_log_stream(logGroupName=group, logStreamName="mine")
    logs.put_log_events(
        logGroupName=group, logStreamName="mine", logEvents=[{"timestamp": 1, "message": "m"}]
    )
    assert any(g["logGroupName"] == group for g in logs.describe_log_groups()["logGroups"])
    logs.create_log_stream(logGroupName=group, logStreamName="other")
    err = error_of(
        logs.put_log_events,
        logGroupName=group,
        logStreamName="other",
        logEvents=[{"timestamp": 1, "message": "m"}],
    )
    assert err["Error"]["Code"] == "AccessDeniedException"
    err = error_of(logs.delete_log_group, logGroupName=group)
    assert err["Error"]["Code"] == "AccessDeniedException"
