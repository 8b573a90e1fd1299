"""The event pattern language of EventBridge rules, SQS FilterCriteria and SNS filter policies.

A pattern is a JSON object mirroring the event: each leaf is a list of match values, any of
which may match (exact strings, numbers, ``true``/``false``/``null``, and operator objects:
``prefix``, ``suffix``, ``anything-but``, ``numeric``, ``exists``, ``cidr``,
``equals-ignore-case``, ``wildcard``); every leaf must match (AND), and ``$or`` lists
sub-patterns of which one must match. Keys join with dots on both sides, so
``{"detail": {"state.status": [...]}}`` and ``{"detail.state": {"status": [...]}}`` both name
the event's ``detail.state.status``. An array in the event matches when any element does.

Compiling validates the pattern and raises ``InvalidPattern`` with the reason in EventBridge's
own words (the recorded TestEventPattern/PutRule answers); matching never raises.

EventBridge rules, Lambda's SQS FilterCriteria and SNS filter policies all compile here. The
one thing only SNS needs is ``attribute_view``: message attributes carry their type beside a
string value, and a policy on attributes sees them typed (a ``Number`` as a number, a
``String.Array`` as its elements).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lambox.errors import InvalidPattern

Values = list[Any]
Test = Callable[[Values], bool]
Flat = Mapping[str, Values]

NUMERIC_LIMIT = 5e9  # EventBridge compares numbers in [-5e9, 5e9], with six decimals
_LOWER = (">", ">=")
_UPPER = ("<", "<=")
_MAX_WILDCARDS = 5  # more than this many "*" is "too complex" for EventBridge


@dataclass(frozen=True)
class Pattern:
    """A compiled pattern: every field test must pass, and one branch of each ``$or``."""

    fields: tuple[tuple[str, Test], ...]
    alternatives: tuple[tuple[Pattern, ...], ...]
    exact: Mapping[str, frozenset[str]]

    def matches(self, flat: Flat) -> bool:
        """Whether an event, flattened with ``flatten``, matches."""
        for path, test in self.fields:
            if not test(flat.get(path, [])):
                return False
        return all(any(p.matches(flat) for p in group) for group in self.alternatives)

    def matches_event(self, event: Any) -> bool:
        """Whether a decoded JSON event matches."""
        return self.matches(flatten(event))

    def exact_values(self, path: str) -> frozenset[str] | None:
        """The strings ``path`` must equal for a match, when the pattern names only exact
        strings there (what a rule index keys on); None when anything else could match."""
        return self.exact.get(path)


def flatten(event: Any) -> dict[str, Values]:
    """Every leaf of ``event`` by its dotted path; an array's elements share the path, an
    empty array or object contributes nothing."""
    out: dict[str, Values] = {}
    _flatten(event, "", out)
    return out


def _flatten(value: Any, path: str, out: dict[str, Values]) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _flatten(child, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list):
        for child in value:
            _flatten(child, path, out)
    elif path:
        out.setdefault(path, []).append(value)


def parse(text: str) -> Pattern:
    """A pattern from its JSON text."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidPattern(_json_reason(text, exc)) from exc
    except RecursionError as exc:
        raise InvalidPattern("Filter is too deeply nested") from exc
    return compile_document(document, text)


def compile_document(document: Any, text: str = "") -> Pattern:
    """A pattern from its decoded JSON."""
    if not isinstance(document, dict):
        where = f'\n at [Source: (String)"{text}"; line: 1, column: 2]' if text else ""
        raise InvalidPattern(f"Filter is not an object{where}")
    return _compile(document, "")


def _compile(document: Mapping[str, Any], prefix: str) -> Pattern:
    fields: list[tuple[str, Test]] = []
    alternatives: list[tuple[Pattern, ...]] = []
    exact: dict[str, frozenset[str]] = {}
    for key, value in document.items():
        if key == "$or":
            alternatives.append(_alternatives(value, prefix))
            continue
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            nested = _compile(value, path)
            fields.extend(nested.fields)
            alternatives.extend(nested.alternatives)
            exact.update(nested.exact)
        elif isinstance(value, list):
            if not value:
                raise InvalidPattern("Empty arrays are not allowed")
            tests = [_matcher(item) for item in value]
            fields.append((path, _any_of(tests)))
            if all(isinstance(item, str) for item in value):
                exact[path] = frozenset(value)
        else:
            raise InvalidPattern(f'"{key}" must be an object or an array')
    return Pattern(tuple(fields), tuple(alternatives), exact)


def _alternatives(value: Any, prefix: str) -> tuple[Pattern, ...]:
    if not isinstance(value, list) or len(value) < 2:
        raise InvalidPattern("Or relationship must have at least 2 patterns")
    branches = []
    for branch in value:
        if not isinstance(branch, dict):
            raise InvalidPattern("Or relationship pattern must be an object")
        branches.append(_compile(branch, prefix))
    return tuple(branches)


def _any_of(tests: list[Test]) -> Test:
    if len(tests) == 1:
        return tests[0]
    return lambda values: any(test(values) for test in tests)


def _each(predicate: Callable[[Any], bool]) -> Test:
    """A test that passes when any value at the path satisfies ``predicate``."""
    return lambda values: any(predicate(v) for v in values)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(expected: Any) -> Callable[[Any], bool]:
    if _is_number(expected):
        return lambda v: _is_number(v) and float(v) == float(expected)
    if isinstance(expected, bool) or expected is None:
        return lambda v: v is expected
    return lambda v: isinstance(v, str) and v == expected


def _matcher(item: Any) -> Test:
    if not isinstance(item, dict):
        if isinstance(item, list):
            raise InvalidPattern("Match value must be String, number, true, false, or null")
        return _each(_same(item))
    if len(item) != 1:
        raise InvalidPattern("Only one key allowed in match expression")
    ((kind, arg),) = item.items()
    build = _OPERATORS.get(kind)
    if build is None:
        raise InvalidPattern(f"Unrecognized match type {kind}")
    return build(arg)


def _exists(arg: Any) -> Test:
    if not isinstance(arg, bool):
        raise InvalidPattern("exists match pattern must be either true or false.")
    if arg:
        return lambda values: len(values) > 0
    return lambda values: len(values) == 0


def _string_or_ignore_case(arg: Any, name: str) -> tuple[str, bool]:
    if isinstance(arg, dict) and list(arg) == ["equals-ignore-case"]:
        inner = arg["equals-ignore-case"]
        if not isinstance(inner, str):
            raise InvalidPattern(f"{name} match pattern must be a string")
        return inner, True
    if not isinstance(arg, str):
        raise InvalidPattern(f"{name} match pattern must be a string")
    return arg, False


def _prefix(arg: Any) -> Test:
    text, fold = _string_or_ignore_case(arg, "prefix")
    if fold:
        low = text.casefold()
        return _each(lambda v: isinstance(v, str) and v.casefold().startswith(low))
    return _each(lambda v: isinstance(v, str) and v.startswith(text))


def _suffix(arg: Any) -> Test:
    text, fold = _string_or_ignore_case(arg, "suffix")
    if fold:
        low = text.casefold()
        return _each(lambda v: isinstance(v, str) and v.casefold().endswith(low))
    return _each(lambda v: isinstance(v, str) and v.endswith(text))


def _ignore_case(arg: Any) -> Test:
    if not isinstance(arg, str):
        raise InvalidPattern("equals-ignore-case match pattern must be a string")
    low = arg.casefold()
    return _each(lambda v: isinstance(v, str) and v.casefold() == low)


def _wildcard_regex(arg: Any) -> re.Pattern[str]:
    if not isinstance(arg, str):
        raise InvalidPattern("wildcard match pattern must be a string")
    at = arg.find("**")
    if at >= 0:
        raise InvalidPattern(f"Consecutive wildcard characters at pos {at + 1}")
    if arg.count("*") > _MAX_WILDCARDS:
        raise InvalidPattern(
            "Rule is too complex - try using fewer wildcard characters or fewer repeating"
            " character sequences after a wildcard character"
        )
    # "\*" is a literal star; every other "*" matches any run of characters.
    parts = re.split(r"(?<!\\)\*", arg)
    body = ".*".join(re.escape(part.replace("\\*", "*")) for part in parts)
    return re.compile(body, re.DOTALL)


def _wildcard(arg: Any) -> Test:
    regex = _wildcard_regex(arg)
    return _each(lambda v: isinstance(v, str) and regex.fullmatch(v) is not None)


def _numeric(arg: Any) -> Test:
    if not isinstance(arg, list):
        raise InvalidPattern("Value of numeric must be an array.")
    if not arg:
        raise InvalidPattern("Empty arrays are not allowed")
    checks: list[Callable[[float], bool]] = []
    seen_lower = seen_upper = False
    i = 0
    while i < len(arg):
        op = arg[i]
        if not isinstance(op, str) or op not in ("=", *_LOWER, *_UPPER):
            raise InvalidPattern(f"Unrecognized numeric range operator: {op}")
        if i + 1 >= len(arg) or not _is_number(arg[i + 1]):
            raise InvalidPattern(f"Value of {op} must be numeric")
        bound = float(arg[i + 1])
        if abs(bound) > NUMERIC_LIMIT:
            raise InvalidPattern(f"Value of {op} must be numeric")
        if op == "=":
            if len(arg) != 2:
                raise InvalidPattern("Bad numeric range operator: =")
        elif op in _LOWER:
            if seen_lower or seen_upper:
                raise InvalidPattern(f"Bad numeric range operator: {op}")
            seen_lower = True
        else:
            if seen_upper:
                raise InvalidPattern(f"Bad numeric range operator: {op}")
            seen_upper = True
        checks.append(_compare(op, bound))
        i += 2

    def accept(v: Any) -> bool:
        return _is_number(v) and all(check(float(v)) for check in checks)

    return _each(accept)


def _compare(op: str, bound: float) -> Callable[[float], bool]:
    if op == "=":
        return lambda x: x == bound
    if op == ">":
        return lambda x: x > bound
    if op == ">=":
        return lambda x: x >= bound
    if op == "<":
        return lambda x: x < bound
    return lambda x: x <= bound


def _cidr(arg: Any) -> Test:
    if not isinstance(arg, str):
        raise InvalidPattern("prefix match pattern must be a string")
    if arg.count("/") != 1:
        raise InvalidPattern("Malformed CIDR, one '/' required")
    address, bits = arg.split("/")
    if not bits.isdigit():
        raise InvalidPattern("Malformed CIDR, mask bits must be an integer")
    try:
        network = ipaddress.ip_network(f"{address}/{bits}", strict=False)
    except ValueError as exc:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise InvalidPattern(f"Nonstandard IP address: {address}") from exc
        raise InvalidPattern("Malformed CIDR, mask bits must be an integer") from exc

    def inside(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        try:
            return ipaddress.ip_address(v) in network
        except ValueError:
            return False

    return _each(inside)


_BUT_LIST = "Inside anything but list, start|null|boolean is not supported."
_BUT_SINGLE = "Value of anything-but must be an array or single string/number value."
_BUT_FOLD = (
    "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
)


def _anything_but(arg: Any) -> Test:
    """Passes when a value is present and none of the excluded ones (a null value counts as
    present and different; a missing field never matches)."""
    if isinstance(arg, dict):
        return _anything_but_operator(arg)
    if isinstance(arg, list):
        if not arg:
            raise InvalidPattern("Empty arrays are not allowed")
        if any(isinstance(v, bool) or v is None or isinstance(v, dict | list) for v in arg):
            raise InvalidPattern(_BUT_LIST)
        excluded = [_same(v) for v in arg]
    elif isinstance(arg, str) or _is_number(arg):
        excluded = [_same(arg)]
    else:
        raise InvalidPattern(_BUT_SINGLE)
    return _each(lambda v: not any(same(v) for same in excluded))


def _strings(arg: Any, message: str, empty: str | None = None) -> list[str]:
    items = arg if isinstance(arg, list) else [arg]
    if not items:
        raise InvalidPattern("Empty arrays are not allowed")
    if not all(isinstance(v, str) for v in items):
        raise InvalidPattern(message)
    if empty is not None and any(v == "" for v in items):
        raise InvalidPattern(empty)
    return list(items)


def _anything_but_operator(arg: Mapping[str, Any]) -> Test:
    if len(arg) != 1:
        raise InvalidPattern(_BUT_SINGLE)
    ((kind, value),) = arg.items()
    if isinstance(value, dict):
        raise InvalidPattern(_BUT_SINGLE)
    fixes = "prefix/suffix match pattern must be a string"
    if kind in ("prefix", "suffix"):
        texts = tuple(_strings(value, fixes, "Null prefix/suffix not allowed"))
        if kind == "prefix":
            return _each(lambda v: not (isinstance(v, str) and v.startswith(texts)))
        return _each(lambda v: not (isinstance(v, str) and v.endswith(texts)))
    if kind == "equals-ignore-case":
        folded = {t.casefold() for t in _strings(value, _BUT_FOLD)}
        return _each(lambda v: not (isinstance(v, str) and v.casefold() in folded))
    if kind == "wildcard":
        regexes = [
            _wildcard_regex(t) for t in _strings(value, "wildcard match pattern must be a string")
        ]
        return _each(lambda v: not (isinstance(v, str) and any(r.fullmatch(v) for r in regexes)))
    raise InvalidPattern(f"Unsupported anything-but pattern: {kind}")


_OPERATORS: dict[str, Callable[[Any], Test]] = {
    "prefix": _prefix,
    "suffix": _suffix,
    "anything-but": _anything_but,
    "numeric": _numeric,
    "exists": _exists,
    "cidr": _cidr,
    "equals-ignore-case": _ignore_case,
    "wildcard": _wildcard,
}


def _json_reason(text: str, exc: json.JSONDecodeError) -> str:
    """Python's JSON error in the words of the Jackson parser EventBridge runs."""
    pos = exc.pos
    head = text[pos:]
    token = re.match(r"[A-Za-z0-9_$]+", head)
    where = '\n at [Source: (String)"{}"; line: {}, column: {}]'
    if token is not None:
        column = exc.colno + len(token.group(0))
        return (
            f"Unrecognized token '{token.group(0)}': was expecting (JSON String, Number, Array,"
            " Object or token 'null', 'true' or 'false')" + where.format(text, exc.lineno, column)
        )
    if head[:1] and "property name" in exc.msg:
        char = head[0]
        return (
            f"Unexpected character ('{char}' (code {ord(char)})): was expecting double-quote to"
            " start field name" + where.format(text, exc.lineno, exc.colno)
        )
    return f"{exc.msg}" + where.format(text, exc.lineno, exc.colno)


def attribute_view(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What an SNS filter policy on message attributes matches against: each attribute by
    name, typed as its ``DataType`` says, so ``numeric`` sees a ``Number`` (and never a
    ``String`` that happens to look like one), a ``String.Array`` matches through any of its
    elements, and ``Binary`` attributes (which SNS never filters on) are absent."""
    view: dict[str, Any] = {}
    for name, value in attributes.items():
        kind = str(value.get("DataType", ""))
        text = value.get("StringValue")
        if text is None or kind.startswith("Binary"):
            continue
        if kind.startswith("Number"):
            try:
                view[name] = float(text)
            except ValueError:
                continue
        elif kind.startswith("String.Array"):
            try:
                view[name] = json.loads(text)
            except ValueError:
                continue
        else:
            view[name] = text
    return view


def any_matches(patterns: Iterable[Pattern], event: Any) -> bool:
    """Whether any of ``patterns`` matches ``event`` (SNS and SQS filters: OR of several)."""
    flat = flatten(event)
    return any(p.matches(flat) for p in patterns)
