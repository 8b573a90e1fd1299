"""CloudWatch Logs filter patterns, compiled once into a predicate over a message.

Two forms, as CloudWatch Logs has them:

- terms: ``ERROR`` and ``"quoted phrase"`` must all occur (case-sensitive substrings),
  ``?WARN ?ERROR`` needs at least one of the ``?`` terms, ``-DEBUG`` none of the ``-``
  terms; an empty pattern matches every event.
- JSON selectors: ``{ $.level = "ERROR" }``, ``{ $.ms > 100 && $.user.id != "x" }``,
  with ``=``/``!=`` on strings (``*`` a wildcard), numbers, ``true``/``false``/``NULL``,
  ``<``/``<=``/``>``/``>=`` on numbers, ``EXISTS``/``NOT EXISTS``, ``&&``/``||`` and
  parentheses. Messages that are not JSON objects never match.

The space-delimited form (``[ip, user, ...]``) is not supported: it is refused as invalid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambox.errors import ServiceFault

Predicate = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Compiled:
    """A pattern's predicate, and its hints: a matching message contains at least one of
    them (none: no such bytes are known, every message must be tested)."""

    match: Predicate
    hints: tuple[bytes, ...] = ()


_Json = Callable[[Any], bool]
_MISSING = object()
_TOKEN = re.compile(
    r"""\s*(?:(?P<sel>\$(?:\.[A-Za-z0-9_$@-]+|\[\d+\])+)|(?P<str>"(?:[^"\\]|\\.)*")
    |(?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))|(?P<word>[^\s()&|=<>!"]+))""",
    re.VERBOSE,
)


def invalid() -> ServiceFault:
    return ServiceFault("InvalidParameterException", "Invalid filter pattern")


def compile_pattern(pattern: str) -> Compiled:
    """``pattern`` compiled; an unparsable pattern is InvalidParameterException."""
    text = pattern.strip()
    if not text:
        return Compiled(lambda _message: True)
    if text.startswith("{"):
        if not text.endswith("}"):
            raise invalid()
        parser = _JsonParser(text[1:-1])
        test = parser.parse()
        hints: tuple[bytes, ...] = (b"{",)  # only a message with an object can match
        if parser.literals and not parser.top_or:
            # The value as JSON spells it, or any escape (which may spell it otherwise).
            literal = max(parser.literals, key=len)
            hints = (json.dumps(literal, ensure_ascii=False)[1:-1].encode(), b"\\")
        return Compiled(lambda message: _json_match(test, message), hints)
    if text.startswith("["):
        raise invalid()
    return _terms(text)


def _terms(text: str) -> Compiled:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    for m in re.finditer(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))', text):
        sign, quoted, bare = m.group(1), m.group(2), m.group(3)
        term = quoted.replace('\\"', '"') if quoted is not None else bare
        {"": required, "?": optional, "-": excluded}[sign].append(term)

    def match(message: str) -> bool:
        if any(t in message for t in excluded):
            return False
        if not all(t in message for t in required):
            return False
        return not optional or any(t in message for t in optional)

    if required:
        hints: tuple[str, ...] = (max(required, key=len),)
    else:
        hints = tuple(optional)
    return Compiled(match, tuple(h.encode() for h in hints if h))


def _json_match(test: _Json, message: str) -> bool:
    start = message.find("{")
    if start < 0:
        return False
    try:
        doc = json.loads(message[start:])
    except ValueError:
        return False
    return isinstance(doc, dict) and test(doc)


def _select(doc: Any, path: str) -> Any:
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        if name:
            if not isinstance(doc, dict) or name not in doc:
                return _MISSING
            doc = doc[name]
        else:
            if not isinstance(doc, list) or int(index) >= len(doc):
                return _MISSING
            doc = doc[int(index)]
    return doc


class _JsonParser:
    """Recursive descent over ``or := and ('||' and)*``, ``and := atom ('&&' atom)*``,
    ``atom := '(' or ')' | selector op value | selector [NOT] EXISTS``."""

    def __init__(self, text: str) -> None:
        self._tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise invalid()
            kind = m.lastgroup or ""
            self._tokens.append((kind, m.group(kind)))
            pos = m.end()
        self._at = 0
        self._depth = 0
        self.literals: list[str] = []
        """Strings compared with ``=`` (no wildcard) outside parentheses."""
        self.top_or = False

    def _peek(self) -> tuple[str, str]:
        return self._tokens[self._at] if self._at < len(self._tokens) else ("", "")

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if not token[0]:
            raise invalid()
        self._at += 1
        return token

    def parse(self) -> _Json:
        test = self._or()
        if self._at != len(self._tokens):
            raise invalid()
        return test

    def _or(self) -> _Json:
        tests = [self._and()]
        while self._peek() == ("op", "||"):
            self._next()
            tests.append(self._and())
            self.top_or = self.top_or or self._depth == 0
        return tests[0] if len(tests) == 1 else lambda d: any(t(d) for t in tests)

    def _and(self) -> _Json:
        tests = [self._atom()]
        while self._peek() == ("op", "&&"):
            self._next()
            tests.append(self._atom())
        return tests[0] if len(tests) == 1 else lambda d: all(t(d) for t in tests)

    def _atom(self) -> _Json:
        kind, value = self._next()
        if (kind, value) == ("op", "("):
            self._depth += 1
            test = self._or()
            self._depth -= 1
            if self._next() != ("op", ")"):
                raise invalid()
            return test
        if kind != "sel":
            raise invalid()
        path = value
        kind, op = self._next()
        if (kind, op) == ("word", "EXISTS"):
            return lambda d: _select(d, path) is not _MISSING
        if (kind, op) == ("word", "NOT"):
            if self._next() != ("word", "EXISTS"):
                raise invalid()
            return lambda d: _select(d, path) is _MISSING
        if kind != "op" or op in ("(", ")", "&&", "||"):
            raise invalid()
        operand = self._next()
        test = _comparison(path, op, operand)
        if op == "=" and operand[0] == "str" and self._depth == 0:
            value = json.loads(operand[1])
            if "*" not in value:
                self.literals.append(value)
        return test


def _comparison(path: str, op: str, operand: tuple[str, str]) -> _Json:
    kind, raw = operand
    if kind == "str":
        if op not in ("=", "!="):
            raise invalid()
        wanted = json.loads(raw)
        return _equality(path, op, lambda v: isinstance(v, str) and _like(v, wanted))
    if kind != "word":
        raise invalid()
    if raw in ("true", "false"):
        flag = raw == "true"
        return _equality(path, op, lambda v: v is flag)
    if raw == "NULL":
        return _equality(path, op, lambda v: v is None)
    try:
        number = float(raw)
    except ValueError:
        if op not in ("=", "!="):
            raise invalid() from None
        return _equality(path, op, lambda v: isinstance(v, str) and _like(v, raw))
    compare: dict[str, Callable[[float], bool]] = {
        "=": lambda v: v == number,
        "!=": lambda v: v != number,
        "<": lambda v: v < number,
        "<=": lambda v: v <= number,
        ">": lambda v: v > number,
        ">=": lambda v: v >= number,
    }
    check = compare[op]

    def numeric(doc: Any) -> bool:
        v = _select(doc, path)
        return isinstance(v, int | float) and not isinstance(v, bool) and check(float(v))

    return numeric


def _equality(path: str, op: str, same: Callable[[Any], bool]) -> _Json:
    if op == "=":
        return lambda d: (v := _select(d, path)) is not _MISSING and same(v)
    if op == "!=":
        return lambda d: (v := _select(d, path)) is not _MISSING and not same(v)
    raise invalid()


def _like(value: str, wanted: str) -> bool:
    if "*" not in wanted:
        return value == wanted
    return re.fullmatch(re.escape(wanted).replace(r"\*", ".*"), value, re.DOTALL) is not None
