"""The event pattern language shared by Lambda's FilterCriteria, SNS filter policies and
EventBridge rules: one compiler, one matcher.

A pattern is a JSON object whose leaves are lists of alternatives; an event matches when
every key of the pattern matches (``$or`` takes a list of sub-patterns, any of which may).
An alternative is a literal (string, number, boolean or null, compared exactly; numbers by
value) or an operator object: ``prefix``, ``suffix`` (each optionally
``{"equals-ignore-case": ...}``), ``equals-ignore-case``, ``wildcard`` (``*``),
``anything-but`` (a value, a list, or ``{"prefix"|"suffix"|"equals-ignore-case"|"wildcard"}``),
``numeric`` (``[">", 0, "<=", 5]``), ``exists`` and ``cidr``. A list in the event matches
when any of its elements does.

``parse`` checks a pattern once (``PatternError`` for what AWS rejects) and answers a
``Pattern`` whose ``matches_event`` runs it against a decoded event: the interface of the
EventBridge pattern module being built beside this one, which is meant to replace it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

_MISSING = object()
_NUMERIC_OPS = {"<", "<=", "=", ">", ">=", "!="}
_OPERATORS = {
    "prefix",
    "suffix",
    "equals-ignore-case",
    "wildcard",
    "anything-but",
    "numeric",
    "exists",
    "cidr",
}


class PatternError(ValueError):
    """A pattern the language does not allow."""


class Pattern:
    """A checked pattern."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def matches_event(self, event: Any) -> bool:
        """Whether ``event`` (decoded JSON) matches."""
        return matches(self.document, event)


def parse(text: str | Mapping[str, Any]) -> Pattern:
    """The pattern ``text`` (JSON, or already decoded), checked."""
    return Pattern(compile_pattern(text))


def compile_pattern(text: str | Mapping[str, Any]) -> dict[str, Any]:
    """The decoded pattern, checked; ``PatternError`` if it is not a valid pattern."""
    if isinstance(text, str):
        try:
            pattern = json.loads(text)
        except ValueError as exc:
            raise PatternError("pattern is not JSON") from exc
    else:
        pattern = dict(text)
    if not isinstance(pattern, dict):
        raise PatternError("a pattern is a JSON object")
    _check(pattern)
    return pattern


def _check(pattern: dict[str, Any]) -> None:
    for key, value in pattern.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise PatternError("$or takes a list of at least two patterns")
            for sub in value:
                if not isinstance(sub, dict):
                    raise PatternError("$or takes patterns")
                _check(sub)
        elif isinstance(value, dict):
            _check(value)
        elif isinstance(value, list):
            if not value:
                raise PatternError(f"empty list of values for {key}")
            for item in value:
                _check_alternative(item)
        else:
            raise PatternError(f"the value of {key} must be a list or an object")


def _check_alternative(item: Any) -> None:
    if not isinstance(item, dict):
        if isinstance(item, list):
            raise PatternError("nested lists are not allowed")
        return
    if len(item) != 1:
        raise PatternError("an operator object has exactly one operator")
    ((op, arg),) = item.items()
    if op not in _OPERATORS:
        raise PatternError(f"unknown operator {op}")
    if op == "numeric":
        if not isinstance(arg, list) or not arg or len(arg) % 2:
            raise PatternError("numeric takes operator and value pairs")
        for i in range(0, len(arg), 2):
            if arg[i] not in _NUMERIC_OPS or not _is_number(arg[i + 1]):
                raise PatternError("bad numeric comparison")
    elif op == "exists":
        if not isinstance(arg, bool):
            raise PatternError("exists takes true or false")
    elif op == "cidr":
        try:
            ipaddress.ip_network(str(arg), strict=False)
        except ValueError as exc:
            raise PatternError("bad cidr") from exc
    elif op in ("prefix", "suffix"):
        if not isinstance(arg, str) and not (
            isinstance(arg, dict) and set(arg) == {"equals-ignore-case"}
        ):
            raise PatternError(f"{op} takes a string")
    elif op in ("equals-ignore-case", "wildcard") and not isinstance(arg, str):
        raise PatternError(f"{op} takes a string")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """Whether ``event`` (decoded JSON) matches the compiled ``pattern``."""
    if not isinstance(event, dict):
        return False
    for key, want in pattern.items():
        if key == "$or":
            if not any(matches(sub, event) for sub in want):
                return False
            continue
        value = event.get(key, _MISSING)
        if isinstance(want, dict):
            if value is _MISSING or not matches(want, value):
                return False
        elif not _leaf(want, value):
            return False
    return True


def _leaf(alternatives: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for alt in alternatives:
        if isinstance(alt, dict) and "exists" in alt:
            present = value is not _MISSING and not (isinstance(value, list) and not value)
            if present == alt["exists"]:
                return True
            continue
        if isinstance(alt, dict) and "anything-but" in alt:
            if value is not _MISSING and all(_anything_but(alt["anything-but"], v) for v in values):
                return True
            continue
        if value is _MISSING:
            continue
        if any(_one(alt, v) for v in values):
            return True
    return False


def _one(alt: Any, value: Any) -> bool:
    if not isinstance(alt, dict):
        if _is_number(alt) and _is_number(value):
            return float(alt) == float(value)
        return bool(alt == value and type(alt) is type(value))
    ((op, arg),) = alt.items()
    if op == "numeric":
        return _is_number(value) and _numeric(arg, float(value))
    if not isinstance(value, str):
        return False
    if op == "prefix":
        if isinstance(arg, dict):
            return value.lower().startswith(str(arg["equals-ignore-case"]).lower())
        return value.startswith(arg)
    if op == "suffix":
        if isinstance(arg, dict):
            return value.lower().endswith(str(arg["equals-ignore-case"]).lower())
        return value.endswith(arg)
    if op == "equals-ignore-case":
        return value.lower() == str(arg).lower()
    if op == "wildcard":
        return _wildcard(str(arg)).fullmatch(value) is not None
    if op == "cidr":
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(str(arg), strict=False)
        except ValueError:
            return False
    return False


def _numeric(spec: list[Any], number: float) -> bool:
    for i in range(0, len(spec), 2):
        op, bound = spec[i], float(spec[i + 1])
        ok = {
            "<": number < bound,
            "<=": number <= bound,
            "=": number == bound,
            ">": number > bound,
            ">=": number >= bound,
            "!=": number != bound,
        }[op]
        if not ok:
            return False
    return True


def _anything_but(arg: Any, value: Any) -> bool:
    """True when ``value`` is none of what ``anything-but`` excludes."""
    if isinstance(arg, dict):
        ((op, inner),) = arg.items()
        excluded = inner if isinstance(inner, list) else [inner]
        return not any(_one({op: e}, value) for e in excluded)
    excluded = arg if isinstance(arg, list) else [arg]
    return not any(_one(e, value) for e in excluded)


def _wildcard(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split("*")), re.S)
