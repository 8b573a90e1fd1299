"""CloudWatch Logs filter patterns: terms, phrases, alternatives, exclusions, JSON selectors."""

from __future__ import annotations

import pytest

from lambox.errors import ServiceFault
from lambox.services.logs.filters import compile_pattern


@pytest.mark.parametrize(
    ("pattern", "message", "matches"),
    [
        ("", "anything", True),
        ("ERROR", "an ERROR here", True),
        ("ERROR", "an error here", False),
        ("ERROR disk", "ERROR: the disk", True),
        ("ERROR disk", "ERROR: the net", False),
        ('"disk full"', "the disk full now", True),
        ('"disk full"', "full disk", False),
        ("?WARN ?ERROR", "a WARN", True),
        ("?WARN ?ERROR", "an INFO", False),
        ("ERROR -retry", "ERROR, will retry", False),
        ("ERROR -retry", "ERROR, giving up", True),
        ('{ $.level = "ERROR" }', '{"level": "ERROR"}', True),
        ('{ $.level = "ERROR" }', '{"level": "INFO"}', False),
        ('{ $.level = "ERROR" }', "ERROR not json", False),
        ('{ $.level = "ERR*" }', '{"level": "ERROR"}', True),
        ('{ $.level != "ERROR" }', '{"level": "INFO"}', True),
        ("{ $.a.b[1] = 7 }", '{"a": {"b": [1, 7]}}', True),
        ("{ $.ms >= 100 }", '{"ms": 100}', True),
        ("{ $.ms < 100 }", '{"ms": "50"}', False),
        ('{ ($.ms > 1 || $.x = "y") && $.ok = true }', '{"x": "y", "ok": true}', True),
        ('{ ($.ms > 1 || $.x = "y") && $.ok = true }', '{"x": "y", "ok": false}', False),
        ("{ $.gone NOT EXISTS }", '{"here": 1}', True),
        ("{ $.here EXISTS }", '{"here": null}', True),
        ("{ $.here = NULL }", '{"here": null}', True),
        ('{ $.level = "ERROR" }', '2024-01-01T00:00:00Z id {"level": "ERROR"}', True),
    ],
)
def test_patterns(pattern: str, message: str, matches: bool) -> None:
    compiled = compile_pattern(pattern)
    assert compiled.match(message) is matches
    if matches and compiled.hints:  # a hint never hides a match
        assert any(h in message.encode() for h in compiled.hints)


@pytest.mark.parametrize(
    "pattern", ["{ $.a = }", "{ $.a", '{ $.a > "x" }', "[ip, user]", "{ a = 1 }"]
)
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(ServiceFault) as exc:
        compile_pattern(pattern)
    assert exc.value.aws_type == "InvalidParameterException"
