"""The event pattern language, table-driven from the examples of EventBridge's documentation
(eb-event-patterns*.html: content filtering, arrays, null values, $or) and the error words
EventBridge answers with (the recorded InvalidEventPatternException messages)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambox.errors import InvalidPattern
from lambox.events import patterns

EC2 = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {
        "instance-id": "i-1234567890abcdef0",
        "state": "terminated",
        "c-count": 5,
        "d-count": 3.5,
        "x-limit": 301.8,
        "source-ip": "10.0.0.123",
        "v6": "2001:db8:1234:1a00::7",
        "location": "eu-central-1",
        "filename": "image.PNG",
        "flag": True,
        "nothing": None,
        "empty": "",
        "tags": ["prod", "web"],
        "state.reason": "user",
        "nested": {"state": {"status": "running"}},
        "items": [{"kind": "a", "n": 1}, {"kind": "b", "n": 7}],
    },
}

MATCHES: list[tuple[str, dict[str, Any], bool]] = [
    # exact values: strings, numbers (compared as numbers), booleans, null, the empty string
    ("source exact", {"source": ["aws.ec2"]}, True),
    ("source other", {"source": ["aws.s3"]}, False),
    ("any of several values", {"source": ["aws.s3", "aws.ec2"]}, True),
    ("nested exact", {"detail": {"state": ["terminated"]}}, True),
    ("case sensitive", {"detail": {"state": ["Terminated"]}}, False),
    ("key case sensitive", {"Source": ["aws.ec2"]}, False),
    ("number equals", {"detail": {"c-count": [5]}}, True),
    ("int matches float", {"detail": {"c-count": [5.0]}}, True),
    ("string never matches a number", {"detail": {"c-count": ["5"]}}, False),
    ("boolean", {"detail": {"flag": [True]}}, True),
    ("boolean other", {"detail": {"flag": [False]}}, False),
    ("null value", {"detail": {"nothing": [None]}}, True),
    ("null is not missing", {"detail": {"absent": [None]}}, False),
    ("empty string", {"detail": {"empty": [""]}}, True),
    ("empty string is not null", {"detail": {"nothing": [""]}}, False),
    # arrays: any element
    ("array element", {"detail": {"tags": ["web"]}}, True),
    ("array none", {"detail": {"tags": ["dev"]}}, False),
    ("resources array", {"resources": [{"prefix": "arn:aws:ec2:"}]}, True),
    ("array of objects", {"detail": {"items": {"kind": ["b"]}}}, True),
    # dots join keys on both sides
    ("dotted pattern key", {"detail": {"nested.state": {"status": ["running"]}}}, True),
    ("dotted event key", {"detail": {"state": {"reason": ["user"]}}}, True),
    # prefix, suffix, with and without equals-ignore-case
    ("prefix", {"detail": {"location": [{"prefix": "eu-"}]}}, True),
    ("prefix miss", {"detail": {"location": [{"prefix": "us-"}]}}, False),
    ("prefix empty", {"detail": {"location": [{"prefix": ""}]}}, True),
    (
        "prefix ignore case",
        {"detail": {"location": [{"prefix": {"equals-ignore-case": "EU-"}}]}},
        True,
    ),
    ("suffix", {"detail": {"filename": [{"suffix": ".PNG"}]}}, True),
    ("suffix case", {"detail": {"filename": [{"suffix": ".png"}]}}, False),
    (
        "suffix ignore case",
        {"detail": {"filename": [{"suffix": {"equals-ignore-case": ".png"}}]}},
        True,
    ),
    (
        "equals-ignore-case",
        {"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]},
        True,
    ),
    ("equals-ignore-case miss", {"detail-type": [{"equals-ignore-case": "ec2 instance"}]}, False),
    # anything-but
    ("anything-but string", {"detail": {"state": [{"anything-but": "running"}]}}, True),
    ("anything-but string same", {"detail": {"state": [{"anything-but": "terminated"}]}}, False),
    (
        "anything-but list",
        {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}},
        True,
    ),
    (
        "anything-but list hit",
        {"detail": {"state": [{"anything-but": ["stopped", "terminated"]}]}},
        False,
    ),
    ("anything-but number", {"detail": {"c-count": [{"anything-but": 0}]}}, True),
    ("anything-but number list", {"detail": {"c-count": [{"anything-but": [100, 5]}]}}, False),
    ("anything-but missing field", {"detail": {"absent": [{"anything-but": "x"}]}}, False),
    ("anything-but null value", {"detail": {"nothing": [{"anything-but": "x"}]}}, True),
    ("anything-but prefix", {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}, True),
    (
        "anything-but prefix hit",
        {"detail": {"state": [{"anything-but": {"prefix": "term"}}]}},
        False,
    ),
    (
        "anything-but prefix list",
        {"detail": {"state": [{"anything-but": {"prefix": ["a", "ter"]}}]}},
        False,
    ),
    (
        "anything-but prefix number",
        {"detail": {"c-count": [{"anything-but": {"prefix": "init"}}]}},
        True,
    ),
    ("anything-but suffix", {"detail": {"filename": [{"anything-but": {"suffix": ".txt"}}]}}, True),
    (
        "anything-but suffix hit",
        {"detail": {"filename": [{"anything-but": {"suffix": "PNG"}}]}},
        False,
    ),
    (
        "anything-but ignore case",
        {"detail": {"state": [{"anything-but": {"equals-ignore-case": "TERMINATED"}}]}},
        False,
    ),
    (
        "anything-but ignore case list",
        {"detail": {"state": [{"anything-but": {"equals-ignore-case": ["A", "B"]}}]}},
        True,
    ),
    (
        "anything-but wildcard",
        {"detail": {"filename": [{"anything-but": {"wildcard": "*.txt"}}]}},
        True,
    ),
    (
        "anything-but wildcard hit",
        {"detail": {"filename": [{"anything-but": {"wildcard": "image.*"}}]}},
        False,
    ),
    # numeric
    ("numeric range", {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, True),
    ("numeric range out", {"detail": {"c-count": [{"numeric": [">", 5]}]}}, False),
    ("numeric equals", {"detail": {"d-count": [{"numeric": ["=", 3.5]}]}}, True),
    ("numeric float", {"detail": {"x-limit": [{"numeric": ["<", 302]}]}}, True),
    ("numeric string value", {"detail": {"state": [{"numeric": [">", 0]}]}}, False),
    ("numeric null value", {"detail": {"nothing": [{"numeric": [">", 0]}]}}, False),
    ("numeric over an array", {"detail": {"items": {"n": [{"numeric": [">", 5]}]}}}, True),
    # exists
    ("exists", {"detail": {"state": [{"exists": True}]}}, True),
    ("exists missing", {"detail": {"absent": [{"exists": True}]}}, False),
    ("exists false", {"detail": {"absent": [{"exists": False}]}}, True),
    ("exists false present", {"detail": {"state": [{"exists": False}]}}, False),
    ("exists null value", {"detail": {"nothing": [{"exists": True}]}}, True),
    # cidr
    ("cidr v4", {"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, True),
    ("cidr v4 out", {"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}, False),
    ("cidr v6", {"detail": {"v6": [{"cidr": "2001:db8:1234:1a00::/64"}]}}, True),
    ("cidr number value", {"detail": {"c-count": [{"cidr": "10.0.0.0/24"}]}}, False),
    # wildcard
    ("wildcard", {"detail": {"filename": [{"wildcard": "image.*"}]}}, True),
    ("wildcard middle", {"resources": [{"wildcard": "arn:aws:ec2:*:instance/*"}]}, True),
    ("wildcard whole", {"detail": {"filename": [{"wildcard": "*.png"}]}}, False),
    ("wildcard escaped star", {"detail": {"filename": [{"wildcard": "image\\*"}]}}, False),
    # $or
    (
        "$or second branch",
        {"$or": [{"detail": {"state": ["running"]}}, {"detail": {"c-count": [5]}}]},
        True,
    ),
    (
        "$or no branch",
        {"$or": [{"detail": {"state": ["running"]}}, {"detail": {"c-count": [6]}}]},
        False,
    ),
    (
        "$or beside a field",
        {"source": ["aws.s3"], "$or": [{"detail": {"state": ["terminated"]}}, {"account": ["x"]}]},
        False,
    ),
    (
        "$or nested",
        {"detail": {"$or": [{"state": ["x"]}, {"location": [{"prefix": "eu"}]}]}},
        True,
    ),
    (
        "$or with exists false",
        {"detail": {"x": {"$or": [{"y": [{"anything-but": "a"}]}, {"y": [{"exists": False}]}]}}},
        True,
    ),
    # several fields: all must match
    (
        "all fields",
        {"source": ["aws.ec2"], "detail": {"state": ["terminated"], "c-count": [5]}},
        True,
    ),
    ("one field fails", {"source": ["aws.ec2"], "detail": {"state": ["running"]}}, False),
    # more than one test in a list: any
    ("mixed list", {"detail": {"state": [{"prefix": "run"}, "terminated"]}}, True),
]


@pytest.mark.parametrize(("name", "pattern", "expected"), MATCHES, ids=[m[0] for m in MATCHES])
def test_pattern_matches_as_documented(name: str, pattern: dict[str, Any], expected: bool) -> None:
    assert patterns.parse(json.dumps(pattern)).matches_event(EC2) is expected


def test_an_empty_array_holds_no_value() -> None:
    event = {**EC2, "resources": []}
    assert not patterns.parse('{"resources": [{"exists": true}]}').matches_event(event)
    assert not patterns.parse('{"resources": [null]}').matches_event(event)
    assert patterns.parse('{"resources": [{"exists": false}]}').matches_event(event)


INVALID: list[tuple[Any, str]] = [
    ({"int": 42}, '"int" must be an object or an array'),
    ({"string": "my-value"}, '"string" must be an object or an array'),
    ({"resources": []}, "Empty arrays are not allowed"),
    ({"my_key": [{"EXISTS": True}]}, "Unrecognized match type EXISTS"),
    ({"detail": {"equal": [{"NUMERIC": ["=", 5]}]}}, "Unrecognized match type NUMERIC"),
    ({"detail": {"c-count": [{"numeric": [">", 0, ">", 0]}]}}, "Bad numeric range operator: >"),
    ({"detail": {"c-count": [{"numeric": [">", 0, "<"]}]}}, "Value of < must be numeric"),
    ({"detail": {"c-count": [{"numeric": 10}]}}, "Value of numeric must be an array."),
    ({"time": [{"prefix": 123}]}, "prefix match pattern must be a string"),
    ({"time": [{"prefix": ["2022-07-13"]}]}, "prefix match pattern must be a string"),
    ({"FileName": [{"suffix": 123}]}, "suffix match pattern must be a string"),
    (
        {"detail-type": [{"equals-ignore-case": ["x"]}]},
        "equals-ignore-case match pattern must be a string",
    ),
    ({"EventBusArn": [{"wildcard": 123}]}, "wildcard match pattern must be a string"),
    (
        {"EventBusArn": [{"wildcard": "arn:aws:events:x:**:event-bus/*"}]},
        "Consecutive wildcard characters at pos 18",
    ),
    (
        {"a": [{"wildcard": "*:*:*:*:*:event-bus/*"}]},
        "Rule is too complex - try using fewer wildcard characters or fewer repeating"
        " character sequences after a wildcard character",
    ),
    ({"ip": [{"cidr": "10.0.0.0"}]}, "Malformed CIDR, one '/' required"),
    ({"ip": [{"cidr": "10.0.0.0/xx"}]}, "Malformed CIDR, mask bits must be an integer"),
    ({"ip": [{"cidr": "xx.11.xx/24"}]}, "Nonstandard IP address: xx.11.xx"),
    ({"ip": [{"cidr": ["bad-type"]}]}, "prefix match pattern must be a string"),
    (
        {"s": [{"anything-but": None}]},
        "Value of anything-but must be an array or single string/number value.",
    ),
    (
        {"s": [{"anything-but": ["stopped", None]}]},
        "Inside anything but list, start|null|boolean is not supported.",
    ),
    ({"s": [{"anything-but": {"prefix": ""}}]}, "Null prefix/suffix not allowed"),
    ({"s": [{"anything-but": {"prefix": 123}}]}, "prefix/suffix match pattern must be a string"),
    (
        {"s": [{"anything-but": {"suffix": [None, ".txt"]}}]},
        "prefix/suffix match pattern must be a string",
    ),
    (
        {"s": [{"anything-but": {"prefix": {"equals-ignore-case": "f"}}}]},
        "Value of anything-but must be an array or single string/number value.",
    ),
    (
        {"s": [{"anything-but": {"equals-ignore-case": 123}}]},
        "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
    ),
    (
        {"s": [{"anything-but": {"wildcard": [123, "*/dir/*"]}}]},
        "wildcard match pattern must be a string",
    ),
]


@pytest.mark.parametrize(("pattern", "reason"), INVALID, ids=[r for _, r in INVALID])
def test_invalid_pattern_is_refused_in_eventbridge_words(pattern: Any, reason: str) -> None:
    with pytest.raises(InvalidPattern) as info:
        patterns.parse(json.dumps(pattern))
    assert info.value.reason == reason
    assert info.value.message == f"Event pattern is not valid. Reason: {reason}"


def test_a_pattern_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidPattern) as info:
        patterns.parse('["not", "a", "dict"]')
    assert info.value.reason.startswith("Filter is not an object")


def test_unparsable_json_is_described_as_the_parser_does() -> None:
    with pytest.raises(InvalidPattern) as info:
        patterns.parse("this is not json")
    assert info.value.reason.startswith("Unrecognized token 'this': was expecting")
    assert info.value.reason.endswith("line: 1, column: 5]")
    with pytest.raises(InvalidPattern) as info:
        patterns.parse("{'bad': 'quotation'}")
    assert info.value.reason.startswith("Unexpected character (''' (code 39))")


def test_exact_strings_are_offered_to_an_index() -> None:
    pattern = patterns.parse('{"source": ["a", "b"], "detail": {"n": [{"numeric": [">", 1]}]}}')
    assert pattern.exact_values("source") == frozenset({"a", "b"})
    assert pattern.exact_values("detail.n") is None
