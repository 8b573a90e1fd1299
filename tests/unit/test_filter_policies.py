"""SQS FilterCriteria and SNS filter policies run through EventBridge's pattern module: the
operators they use, lists in events, refusals in AWS's words, and SNS's typed attributes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambox.errors import InvalidPattern
from lambox.events import patterns
from lambox.services.sns.notifications import check_policy

EVENT = {
    "source": "shop",
    "detail": {
        "state": "OK",
        "price": 12.5,
        "ip": "10.0.3.4",
        "tags": ["red", "blue"],
        "name": "Order-42.json",
    },
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["shop"]}, True),
        ({"source": ["other"]}, False),
        ({"detail": {"tags": ["blue"]}}, True),
        ({"detail": {"name": [{"prefix": "Order"}]}}, True),
        ({"detail": {"name": [{"suffix": ".json"}]}}, True),
        ({"detail": {"name": [{"prefix": {"equals-ignore-case": "order"}}]}}, True),
        ({"detail": {"state": [{"equals-ignore-case": "ok"}]}}, True),
        ({"detail": {"name": [{"wildcard": "Order-*.json"}]}}, True),
        ({"detail": {"name": [{"wildcard": "Order-*.xml"}]}}, False),
        ({"detail": {"state": [{"anything-but": ["OK", "KO"]}]}}, False),
        ({"detail": {"state": [{"anything-but": {"prefix": "X"}}]}}, True),
        ({"detail": {"price": [{"numeric": [">", 10, "<=", 12.5]}]}}, True),
        ({"detail": {"price": [{"numeric": ["<", 10]}]}}, False),
        ({"detail": {"price": [12.5]}}, True),
        ({"detail": {"missing": [{"exists": False}]}}, True),
        ({"detail": {"state": [{"exists": True}]}}, True),
        ({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}, True),
        ({"detail": {"ip": [{"cidr": "192.168.0.0/16"}]}}, False),
        ({"$or": [{"source": ["x"]}, {"detail": {"state": ["OK"]}}]}, True),
        ({"$or": [{"source": ["x"]}, {"detail": {"state": ["KO"]}}]}, False),
    ],
)
def test_operators(pattern: dict[str, Any], expected: bool) -> None:
    assert patterns.parse(json.dumps(pattern)).matches_event(EVENT) is expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("simple string", "Unrecognized token 'simple'"),
        ("[1]", "Filter is not an object"),
        ('{"a": 1}', '"a" must be an object or an array'),
        ('{"a": []}', "Empty arrays are not allowed"),
        ('{"a": [{"nope": 1}]}', "Unrecognized match type nope"),
        ('{"a": [{"numeric": [">"]}]}', "Value of > must be numeric"),
        ('{"a": [{"numeric": ["!=", 1]}]}', "Unrecognized numeric range operator: !="),
        ('{"a": [{"cidr": "x"}]}', "Malformed CIDR, one '/' required"),
    ],
)
def test_invalid_patterns_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidPattern) as info:
        patterns.parse(text)
    assert info.value.reason.startswith(reason)


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        ('{"key":[["value"]]}', "Match value must be String, number, true, false, or null"),
        ('{"key":[{"wrong-operator":true}]}', "Unrecognized match type wrong-operator"),
        ('{"key":[{"suffix":100}]}', "suffix match pattern must be a string"),
        ('{"key":{"suffix":"value"}}', '"suffix" must be an object or an array'),
        ('{"key":[{"exists":"no"}]}', "exists match pattern must be either true or false."),
    ],
)
def test_sns_refuses_a_policy_in_the_recorded_words(policy: str, reason: str) -> None:
    """The reasons of /work/shared/aws-parity/sns/filter-policies (test_validate_policy*)."""
    with pytest.raises(ValueError, match="^" + reason.replace("(", r"\(").replace(")", r"\)")):
        check_policy(policy)


def test_attributes_are_seen_as_their_data_type() -> None:
    view = patterns.attribute_view(
        {
            "price": {"DataType": "Number", "StringValue": "210.75"},
            "code": {"DataType": "String", "StringValue": "42"},
            "tags": {"DataType": "String.Array", "StringValue": '["a", 3]'},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00"},
            "bad": {"DataType": "Number", "StringValue": "many"},
            "custom": {"DataType": "Number.float", "StringValue": "1.5"},
        }
    )
    assert view == {"price": 210.75, "code": "42", "tags": ["a", 3], "custom": 1.5}
    numeric = patterns.parse('{"code": [{"numeric": [">", 1]}]}')
    assert not numeric.matches_event(view)  # a String never compares as a number
    assert patterns.parse('{"tags": [{"numeric": ["=", 3]}]}').matches_event(view)
    assert patterns.parse('{"blob": [{"exists": false}]}').matches_event(view)


def test_an_escaped_star_in_a_wildcard_is_literal() -> None:
    pattern = patterns.parse(r'{"name": [{"wildcard": "a\\*b*"}]}')
    assert pattern.matches_event({"name": "a*bc"})
    assert not pattern.matches_event({"name": "axbc"})
