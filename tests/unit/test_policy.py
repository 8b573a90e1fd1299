"""Policy evaluation as AWS documents it: explicit Deny, then Allow, then default deny;
wildcards; NotAction/NotResource; condition operators and their IfExists/set forms; the
Principal of resource policies. And the action and resource of Lambda API request lines."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from lambox.edge.lambda_actions import LambdaActions
from lambox.edge.policy import Decision, Request, combine, evaluate

FN = "arn:aws:lambda:us-east-1:000000000000:function:my-fn"
EXECUTION = f"{FN}:$LATEST/durable-execution/order-1/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def req(action: str = "lambda:InvokeFunction", resource: str = FN, **context: Any) -> Request:
    return Request(action, resource, "arn:aws:iam::000000000000:user/u", "000000000000", "",
                   context)  # fmt: skip


def test_default_deny_allow_and_explicit_deny_wins() -> None:
    assert evaluate([], req()) is Decision.IMPLICIT
    assert evaluate([doc(allow("lambda:InvokeFunction", FN))], req()) is Decision.ALLOW
    both = [doc(allow("lambda:*")), doc(deny("lambda:Invoke*", FN))]
    assert evaluate(both, req()) is Decision.DENY
    assert evaluate(both, req("lambda:GetFunction")) is Decision.ALLOW


def test_action_wildcards_are_case_insensitive_resources_are_not() -> None:
    assert evaluate([doc(allow("LAMBDA:invoke?unction"))], req()) is Decision.ALLOW
    assert evaluate([doc(allow("*", FN.upper()))], req()) is Decision.IMPLICIT
    assert evaluate([doc(allow("*", FN[:-2] + "*"))], req()) is Decision.ALLOW
    assert evaluate([doc(allow("*", FN))], req(resource=FN + ":1")) is Decision.IMPLICIT
    assert evaluate([doc(allow("*", FN + ":*"))], req(resource=FN + ":1")) is Decision.ALLOW


def test_not_action_and_not_resource() -> None:
    everything_but = doc({"Effect": "Allow", "NotAction": "lambda:Delete*", "Resource": "*"})
    assert evaluate([everything_but], req()) is Decision.ALLOW
    assert evaluate([everything_but], req("lambda:DeleteFunction")) is Decision.IMPLICIT
    elsewhere = doc({"Effect": "Deny", "Action": "*", "NotResource": FN}, allow("*"))
    assert evaluate([elsewhere], req()) is Decision.ALLOW
    assert evaluate([elsewhere], req(resource=FN + "-other")) is Decision.DENY


def test_a_statement_without_resource_applies_to_nothing_in_an_identity_policy() -> None:
    assert evaluate([doc({"Effect": "Allow", "Action": "*"})], req()) is Decision.IMPLICIT


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"StringEquals": {"aws:username": "u"}}, {"aws:username": "u"}, True),
        ({"StringEquals": {"aws:username": "u"}}, {"aws:username": "U"}, False),
        ({"StringEqualsIgnoreCase": {"aws:username": "u"}}, {"aws:username": "U"}, True),
        ({"StringNotEquals": {"aws:username": ["a", "b"]}}, {"aws:username": "u"}, True),
        ({"StringNotEquals": {"aws:username": "u"}}, {"aws:username": "u"}, False),
        ({"StringNotEquals": {"aws:username": "u"}}, {}, True),
        ({"StringLike": {"aws:username": "u*"}}, {"aws:username": "user"}, True),
        ({"StringNotLike": {"aws:username": "u*"}}, {"aws:username": "user"}, False),
        ({"StringEquals": {"aws:username": "u"}}, {}, False),
        ({"StringEqualsIfExists": {"aws:username": "u"}}, {}, True),
        ({"StringEqualsIfExists": {"aws:username": "u"}}, {"aws:username": "x"}, False),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::bucket-*"}},
         {"aws:SourceArn": "arn:aws:s3:::bucket-1"}, True),
        ({"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::b"}}, {"aws:SourceArn": "arn:aws:s3:::c"},
         False),
        ({"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::b*"}},
         {"aws:SourceArn": "arn:aws:s3:::c"}, True),
        ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "5"}, True),
        ({"NumericGreaterThanEquals": {"s3:max-keys": 10}}, {"s3:max-keys": 5}, False),
        ({"NumericEquals": {"s3:max-keys": "x"}}, {"s3:max-keys": "5"}, False),
        ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
         {"aws:CurrentTime": "2026-12-07T00:00:00Z"}, True),
        ({"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
         {"aws:CurrentTime": "2026-12-07T00:00:00Z"}, False),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "false"}, True),
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "false"}, False),
        ({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, {"aws:SourceIp": "127.0.0.1"}, True),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "127.0.0.1"}, False),
        ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "127.0.0.1"}, True),
        ({"Null": {"aws:SourceArn": "true"}}, {}, True),
        ({"Null": {"aws:SourceArn": "false"}}, {}, False),
        ({"Null": {"aws:SourceArn": "false"}}, {"aws:SourceArn": "x"}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["b", "c"]},
         True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["b", "c"]},
         False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {}, True),
        ({"StringEquals": {"AWS:USERNAME": "u"}}, {"aws:username": "u"}, True),
        ({"NoSuchOperator": {"aws:username": "u"}}, {"aws:username": "u"}, False),
        ({"StringEquals": {"aws:username": "u"}, "Bool": {"aws:SecureTransport": "true"}},
         {"aws:username": "u", "aws:SecureTransport": "false"}, False),
    ],
)  # fmt: skip
def test_conditions(condition: dict[str, Any], context: dict[str, Any], holds: bool) -> None:
    decision = evaluate([doc(allow("*", Condition=condition))], req(**context))
    assert decision is (Decision.ALLOW if holds else Decision.IMPLICIT)


def test_resource_policy_principals() -> None:
    service = {
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": FN,
        "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::photos"}},
    }
    from_s3 = Request("lambda:InvokeFunction", FN, service="s3.amazonaws.com",
                      context={"aws:SourceArn": "arn:aws:s3:::photos"})  # fmt: skip
    assert evaluate([doc(service)], from_s3, resource_policy=True) is Decision.ALLOW
    other_bucket = Request("lambda:InvokeFunction", FN, service="s3.amazonaws.com",
                           context={"aws:SourceArn": "arn:aws:s3:::other"})  # fmt: skip
    assert evaluate([doc(service)], other_bucket, resource_policy=True) is Decision.IMPLICIT
    account = {**service, "Principal": {"AWS": "000000000000"}}
    del account["Condition"]
    assert evaluate([doc(account)], req(), resource_policy=True) is Decision.ALLOW
    assert evaluate([doc(account)], from_s3, resource_policy=True) is Decision.IMPLICIT


def test_combining_identity_and_resource_decisions() -> None:
    assert combine(Decision.IMPLICIT, Decision.ALLOW) is Decision.ALLOW
    assert combine(Decision.ALLOW, Decision.DENY) is Decision.DENY
    assert combine(Decision.IMPLICIT, Decision.IMPLICIT) is Decision.IMPLICIT


@pytest.mark.parametrize(
    ("method", "path", "query", "named"),
    [
        ("POST", "/2015-03-31/functions/f/invocations", b"",
         ("lambda:InvokeFunction", FN[:-5] + "f")),
        ("POST", "/2015-03-31/functions/f/invocations", b"Qualifier=live",
         ("lambda:InvokeFunction", FN[:-5] + "f:live")),
        ("GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction"
         "%3Amy-fn%3A3", b"", ("lambda:GetFunction", FN + ":3")),
        ("GET", "/2015-03-31/functions/", b"", ("lambda:ListFunctions", "*")),
        ("DELETE", "/2015-03-31/functions/my-fn", b"", ("lambda:DeleteFunction", FN)),
        ("GET", "/lambox/v1/logs/my-fn", b"", ("lambox:logs", "*")),
        (
            "POST",
            "/2025-12-01/durable-executions/" + quote(EXECUTION, safe="") + "/checkpoint",
            b"",
            ("lambda:CheckpointDurableExecution", EXECUTION),
        ),
        ("GET", "/nothing/here", b"", None),
    ],
)  # fmt: skip
def test_lambda_request_lines_name_actions_and_resources(
    method: str, path: str, query: bytes, named: tuple[str, str] | None
) -> None:
    actions = LambdaActions("us-east-1", "000000000000")
    assert actions.of(method, path.encode(), query) == named
