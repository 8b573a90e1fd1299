"""The shared event pattern language: each operator, $or, lists in events, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from lambox.events.filter_patterns import PatternError, compile_pattern, matches, parse

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
    assert matches(compile_pattern(pattern), EVENT) is expected


def test_parse_answers_a_pattern_matching_events() -> None:
    pattern = parse('{"source": ["shop"]}')
    assert pattern.matches_event(EVENT)
    assert not pattern.matches_event({"source": "other"})


@pytest.mark.parametrize(
    "text",
    [
        "simple string",
        "[1]",
        '{"a": 1}',
        '{"a": []}',
        '{"a": [{"nope": 1}]}',
        '{"a": [{"numeric": [">"]}]}',
        '{"a": [{"cidr": "x"}]}',
    ],
)
def test_invalid_patterns_are_refused(text: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(text)
