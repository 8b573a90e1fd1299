"""SNS filter policies on message attributes and, with FilterPolicyScope, on the body."""

from __future__ import annotations

import json

from lambox.services.sns.notifications import lambda_event, passes

ATTRIBUTES = {
    "store": {"DataType": "String", "StringValue": "example_corp"},
    "price": {"DataType": "Number", "StringValue": "210.75"},
    "tags": {"DataType": "String.Array", "StringValue": '["a", "b"]'},
}


def test_no_policy_passes_everything() -> None:
    assert passes({}, "anything", {})


def test_attribute_policy() -> None:
    policy = {
        "FilterPolicy": json.dumps({"store": ["example_corp"], "price": [{"numeric": [">", 200]}]})
    }
    assert passes(policy, "m", ATTRIBUTES)
    cheap = {**ATTRIBUTES, "price": {"DataType": "Number", "StringValue": "10"}}
    assert not passes(policy, "m", cheap)
    assert passes({"FilterPolicy": json.dumps({"tags": ["b"]})}, "m", ATTRIBUTES)
    assert not passes({"FilterPolicy": json.dumps({"missing": ["x"]})}, "m", ATTRIBUTES)


def test_body_policy() -> None:
    policy = {
        "FilterPolicy": json.dumps({"order": {"kind": [{"prefix": "gift"}]}}),
        "FilterPolicyScope": "MessageBody",
    }
    assert passes(policy, json.dumps({"order": {"kind": "gift-card"}}), {})
    assert not passes(policy, json.dumps({"order": {"kind": "book"}}), {})
    assert not passes(policy, "not json", {})


def test_lambda_event_wraps_one_record() -> None:
    event = lambda_event("arn:sub", {"Type": "Notification"})
    assert event == {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:sub",
                "Sns": {"Type": "Notification"},
            }
        ]
    }
