"""Bucket notification rules as S3 validates and matches them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambox.errors import ServiceFault
from lambox.services.s3 import notifications

ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"


def rule(events: list[str], prefix: str = "", suffix: str = "") -> dict[str, Any]:
    filters = []
    if prefix:
        filters.append({"Name": "prefix", "Value": prefix})
    if suffix:
        filters.append({"Name": "suffix", "Value": suffix})
    out: dict[str, Any] = {"LambdaFunctionArn": ARN, "Events": events}
    if filters:
        out["Filter"] = {"Key": {"FilterRules": filters}}
    return out


def validate(*rules: dict[str, Any]) -> dict[str, Any]:
    return notifications.validate({"LambdaFunctionConfigurations": list(rules)}, lambda _: True)


def test_rules_match_by_event_family_prefix_and_suffix() -> None:
    config = validate(
        rule(["s3:ObjectCreated:*"], "images/", ".jpg"), rule(["s3:ObjectRemoved:Delete"])
    )
    assert len(notifications.matching(config, "s3:ObjectCreated:Put", "images/a.jpg")) == 1
    assert notifications.matching(config, "s3:ObjectCreated:Put", "images/a.png") == []
    assert notifications.matching(config, "s3:ObjectCreated:Put", "docs/a.jpg") == []
    assert len(notifications.matching(config, "s3:ObjectRemoved:Delete", "x")) == 1


def test_overlapping_rules_are_refused() -> None:
    with pytest.raises(ServiceFault) as exc:
        validate(rule(["s3:ObjectCreated:*"], "a/"), rule(["s3:ObjectCreated:Put"], "a/b"))
    assert "overlap" in exc.value.message
    validate(rule(["s3:ObjectCreated:*"], "a/"), rule(["s3:ObjectCreated:*"], "b/"))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"LambdaFunctionArn": "invalid-queue", "Events": []}, "The ARN could not be parsed"),
        (
            {
                **rule(["s3:ObjectCreated:*"]),
                "Filter": {"Key": {"FilterRules": [{"Name": "INVALID", "Value": "x"}]}},
            },
            "filter rule name must be either prefix or suffix",
        ),
    ],
)
def test_invalid_rules_are_refused_in_s3s_words(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ServiceFault) as exc:
        validate(bad)
    assert (exc.value.aws_type, exc.value.message) == ("InvalidArgument", message)


def test_the_record_is_s3s_event_version_2_1_with_an_encoded_key() -> None:
    config = validate(rule(["s3:ObjectCreated:*"]))
    payload = notifications.record(
        config["LambdaFunctionConfigurations"][0],
        "s3:ObjectCreated:Put",
        "b",
        "a b@c.jpg",
        7,
        "us-east-1",
        "RID",
        "127.0.0.1",
        3,
        "abc",
    )
    record = json.loads(payload)["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["object"] == {
        "key": "a+b%40c.jpg",
        "size": 3,
        "eTag": "abc",
        "sequencer": "000000000000000007",
    }
    assert set(record) == {
        "eventVersion",
        "eventSource",
        "awsRegion",
        "eventTime",
        "eventName",
        "userIdentity",
        "requestParameters",
        "responseElements",
        "s3",
    }
