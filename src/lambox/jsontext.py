"""JSON text of any nesting depth: parsed without recursion where the C decoder gives up.

Python's ``json`` decoder recurses once per nesting level and raises ``RecursionError`` a
little short of 1,000 levels, which is no answer AWS gives: AWS reads request bodies with
Jackson, which refuses documents nested deeper than 1,000 levels (its default
``StreamReadConstraints``) and accepts anything shallower. The C decoder stays the fast path;
only a document it cannot handle is read again here, by an explicit stack, so the result
does not depend on how deep the Python stack already was.

``loads_fast`` and ``check_fast`` are the C decoder. A document too deep for it raises
``NeedsStack`` and is read again by ``loads_by_stack`` (management bodies, at most
``max_depth`` levels) or ``check_by_stack`` (Invoke payloads, passed to the function as
bytes: any depth). The ``loads`` pair refuses ``NaN`` and ``Infinity``, which Python reads
and Jackson does not; the ``check`` pair accepts them, as Invoke always has. Malformed text
raises ``json.JSONDecodeError`` as ``json.loads`` does; ``TooDeep`` and ``NonStandard`` are
``ValueError`` too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

MAX_DEPTH = 1000
"""Jackson's default maximum nesting depth, which AWS's parsers keep."""
_RETRY_BELOW = 900
"""Levels below a value the C decoder could not take before it is tried again (see
``_Builder._fast``); also the most openers taken in one step."""

_TOKEN = re.compile(
    r"[ \t\n\r]*(?:"
    r"(?P<open>[\[{])|(?P<close>[\]}])|(?P<comma>,)|(?P<colon>:)|(?P<string>\")"
    r"|(?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"
    r"|(?P<literal>true|false|null|NaN|Infinity|-Infinity))"
)
_SPACE = re.compile(r"[ \t\n\r]*")
_FLAT = (
    r'[ \t\n\r]*(?:"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'
    r"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
    r"|true|false|null|NaN|-?Infinity|\[[ \t\n\r]*\]|\{[ \t\n\r]*\})[ \t\n\r]*"
)
_KEY = r'[ \t\n\r]*"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"[ \t\n\r]*:'
_OPEN_ARRAYS = re.compile(r"\[[\[ \t\n\r]*")  # a flat class: fast on long runs
_OPENERS = re.compile(rf"(?:\[[ \t\n\r]*|\{{{_KEY}[ \t\n\r]*){{1,{_RETRY_BELOW}}}")
_OPENER = re.compile(rf"(\[)[ \t\n\r]*|\{{{_KEY}[ \t\n\r]*")
_CLOSERS = re.compile(r"[ \t\n\r]*[\]}][\]} \t\n\r]*")  # a flat class: fast on long runs
_NO_SPACE = str.maketrans("", "", " \t\n\r")
_CLOSER_OF = str.maketrans("[{", "]}")
_FLAT_ELEMENTS = re.compile(f"(?:{_FLAT},)+")
_FLAT_MEMBERS = re.compile(f"(?:{_KEY}{_FLAT},)+")
"""Array elements and object members that hold no containers but empty ones, each followed
by its comma: taken in one match when validating, so a wide container deep down costs no
loop per element."""
_LITERALS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "-Infinity": float("-inf"),
}
_SURROGATE = re.compile("[\ud800-\udfff]")
_scanstring: Callable[[str, int, bool], tuple[str, int]] = getattr(json.decoder, "scanstring")  # noqa: B009 - absent from typeshed
_decode = json.JSONDecoder().decode


def decoded(text: str) -> Any:
    """``json.loads(text)``. A text that is one value with nothing around it (a payload,
    a frame's meta) is read by the C scanner alone, without the decoder's two Python calls
    and two whitespace matches around it; any other text (whitespace around the value, or
    no JSON) goes to the whole decoder, which reads it or raises as ``json.loads`` does."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:  # no value at 0: whitespace first, or nothing the scanner reads
        return _decode(text)
    if end != len(text):
        return _decode(text)
    return value


class NonStandard(ValueError):
    """``NaN`` or ``Infinity``, which Python reads and Jackson refuses; the message is
    Jackson's."""

    def __init__(self, token: str) -> None:
        super().__init__(
            f"Non-standard token '{token}': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS`"
            " to allow"
        )


def _refuse_constant(token: str) -> Any:
    raise NonStandard(token)


_decode_standard = json.JSONDecoder(parse_constant=_refuse_constant).decode
_Scan = Callable[[str, int], tuple[Any, int]]
_scan: _Scan = getattr(json.JSONDecoder(), "scan_once")  # noqa: B009 - absent from typeshed
_scan_standard: _Scan = getattr(json.JSONDecoder(parse_constant=_refuse_constant), "scan_once")  # noqa: B009


class TooDeep(ValueError):
    """The document nests deeper than allowed; the message is Jackson's."""

    def __init__(self, depth: int, limit: int) -> None:
        super().__init__(
            f"Document nesting depth ({depth}) exceeds the maximum allowed ({limit}, from"
            " `StreamReadConstraints.getMaxNestingDepth()`)"
        )


class NeedsStack(Exception):
    """The C decoder cannot read this document: it nests too deep for Python's recursion.
    ``loads_by_stack`` and ``check_by_stack`` read it, in up to seconds for megabytes of
    nesting, so a caller on the event loop runs them in a worker thread."""


def loads_fast(text: str) -> Any:
    """The value of ``text`` as Jackson reads it (``NaN`` and ``Infinity`` raise
    ``NonStandard``), read by the C decoder; ``NeedsStack`` if it is too deep for it."""
    try:
        return _decode_standard(text)
    except RecursionError:
        raise NeedsStack from None


def check_fast(text: str) -> None:
    """Raise ``ValueError`` unless ``text`` is one JSON value (``NaN`` and ``Infinity``
    included, as Python reads them); ``NeedsStack`` if it is too deep for the C decoder."""
    try:
        decoded(text)
    except RecursionError:
        raise NeedsStack from None


def loads_by_stack(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """``loads_fast`` for any depth: deeper than ``max_depth`` raises ``TooDeep``."""
    return _Builder(text, max_depth, standard=True).run()


def check_by_stack(text: str) -> None:
    """``check_fast`` for any depth."""
    _Builder(text, None, build=False).run()


def loads(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """``loads_fast``, else ``loads_by_stack`` (in the calling thread)."""
    try:
        return loads_fast(text)
    except NeedsStack:
        return loads_by_stack(text, max_depth)


def check(text: str) -> None:
    """``check_fast``, else ``check_by_stack`` (in the calling thread)."""
    try:
        check_fast(text)
    except NeedsStack:
        check_by_stack(text)


def strings(value: Any) -> Iterator[str]:
    """Every string in a decoded document, object keys included, without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def lone_surrogate(text: str) -> str | None:
    """The first UTF-16 surrogate left unpaired in ``text`` (a decoded ``\\udc80`` escape),
    or None: a pair decodes to one character, so any surrogate code point left is alone."""
    if text.isascii():
        return None
    match = _SURROGATE.search(text)
    return match.group() if match else None


class _Builder:
    """One pass over the text with an explicit stack of open containers.

    When nothing is built, the stack holds opening brackets, and runs of opening brackets
    (with object keys), of closing brackets and of flat elements are each taken in one
    regular-expression match, and values shallow enough by the C decoder: a payload of
    millions of levels costs a few passes in C, not a Python loop per level.
    """

    def __init__(
        self, text: str, max_depth: int | None, build: bool = True, standard: bool = False
    ) -> None:
        self.text = text
        self.max_depth = max_depth
        self.build = build
        self.standard = standard
        self.stack: list[Any] = []  # the open containers (their opening bracket if not built)
        self.keys: list[str] = []  # the pending key of each open object
        self.too_deep_at = -_RETRY_BELOW  # the depth where the C decoder last gave up

    def run(self) -> Any:
        text, pos = self.text, 0
        while True:
            pos, value = self._value(pos)
            while True:  # after a complete value: close containers, or a comma goes on
                self._attach(value)
                if not self.stack:
                    end = _SPACE.match(text, pos)
                    assert end is not None
                    if end.end() != len(text):
                        raise json.JSONDecodeError("Extra data", text, end.end())
                    return value
                if not self.build:
                    closed = self._close_run(pos)
                    if closed != pos:
                        pos, value = closed, None
                        continue
                token = self._token(pos, "Expecting ',' delimiter")
                kind, pos = token.lastgroup, token.end()
                is_list = self._is_list(self.stack[-1])
                if kind == "close" and token.group(kind) == ("]" if is_list else "}"):
                    value = self._pop()
                    continue
                if kind != "comma":
                    raise json.JSONDecodeError("Expecting ',' delimiter", text, token.start())
                if not self.build:
                    flat = (_FLAT_ELEMENTS if is_list else _FLAT_MEMBERS).match(text, pos)
                    pos = flat.end() if flat is not None else pos
                if not is_list:
                    pos = self._key(pos)
                break

    def _value(self, pos: int) -> tuple[int, Any]:
        """The next complete value, opening the containers met on the way."""
        text = self.text
        while True:
            fast = self._fast(pos)
            if fast is not None:
                return fast
            if not self.build:
                brackets = _OPEN_ARRAYS.match(text, pos)
                if brackets is not None and brackets.group().count("[") > 1:
                    # All but the innermost: the C decoder may take that one whole.
                    self._push(["["] * (brackets.group().count("[") - 1))
                    pos = brackets.start() + brackets.group().rindex("[")
                    continue
                run = _OPENERS.match(text, pos)
                if run is not None:
                    group = run.group()
                    if "{" in group:
                        kinds = ["[" if array else "{" for array in _OPENER.findall(group)]
                    else:
                        kinds = ["["] * group.count("[")
                    self._push(kinds)
                    pos = run.end()
                    if kinds[-1] == "[" and text.startswith("]", pos):  # an empty array
                        return pos + 1, self._pop()
                    continue
            token = self._token(pos, "Expecting value")
            kind, pos = token.lastgroup, token.end()
            if kind == "open":
                opener = token.group(kind)
                self._push([opener if not self.build else ([] if opener == "[" else {})])
                after = _SPACE.match(text, pos)
                assert after is not None
                if text.startswith("]" if opener == "[" else "}", after.end()):
                    return after.end() + 1, self._pop()
                if opener == "{":
                    pos = self._key(pos)
                continue
            if kind == "string":
                return _scanstring_at(text, pos)
            if kind == "number":
                number = token.group(kind)
                is_float = any(c in number for c in ".eE")
                return pos, float(number) if is_float else int(number)
            if kind == "literal":
                literal = token.group(kind)
                if self.standard and literal not in ("true", "false", "null"):
                    raise NonStandard(literal)
                return pos, _LITERALS[literal]
            raise json.JSONDecodeError("Expecting value", text, token.start())

    def _fast(self, pos: int) -> tuple[int, Any] | None:
        """The end and value of the value at ``pos``, read by the C decoder if it is shallow
        enough for it; None to read it token by token. After the C decoder gave up on a
        value, it is not tried again for the next ``_RETRY_BELOW`` levels inside it, so a
        deep chain is not rescanned at every level."""
        depth = len(self.stack)
        if self.too_deep_at <= depth < self.too_deep_at + _RETRY_BELOW:
            return None
        start = _SPACE.match(self.text, pos)
        assert start is not None
        try:
            scan = _scan_standard if self.standard else _scan
            value, end = scan(self.text, start.end())
        except RecursionError:
            self.too_deep_at = depth
            return None
        except (StopIteration, ValueError):
            return None  # malformed (or NaN refused): the token path says where and why
        if self.max_depth is not None and depth + _depth(value) > self.max_depth:
            raise TooDeep(self.max_depth + 1, self.max_depth)
        return int(end), value if self.build else None

    def _close_run(self, pos: int) -> int:
        """Close as many containers as a run of closing brackets matches, innermost first
        (validation only); the position after them, ``pos`` if none."""
        run = _CLOSERS.match(self.text, pos)
        if run is None:
            return pos
        closers = run.group().translate(_NO_SPACE)
        count = min(len(closers), len(self.stack))
        expected = "".join(reversed(self.stack[len(self.stack) - count :])).translate(_CLOSER_OF)
        closed = _common_prefix(closers[:count], expected)
        if closed == 0:
            return pos
        del self.stack[len(self.stack) - closed :]
        if closed == len(closers):
            return run.end()
        end = run.start()
        for _ in range(closed):  # whitespace between them: find the last one closed
            while self.text[end] not in "]}":
                end += 1
            end += 1
        return end

    def _key(self, pos: int) -> int:
        """Read ``"key":`` of an object member; its value follows."""
        token = _TOKEN.match(self.text, pos)
        if token is None or token.lastgroup != "string":
            where = token.start() if token is not None else pos
            raise json.JSONDecodeError(
                "Expecting property name enclosed in double quotes", self.text, where
            )
        pos, key = _scanstring_at(self.text, token.end())
        colon = _TOKEN.match(self.text, pos)
        if colon is None or colon.lastgroup != "colon":
            raise json.JSONDecodeError("Expecting ':' delimiter", self.text, pos)
        if self.build:
            self.keys.append(key)
        return colon.end()

    def _token(self, pos: int, expecting: str) -> re.Match[str]:
        token = _TOKEN.match(self.text, pos)
        if token is None:
            space = _SPACE.match(self.text, pos)
            raise json.JSONDecodeError(expecting, self.text, space.end() if space else pos)
        return token

    def _is_list(self, container: Any) -> bool:
        return isinstance(container, list) if self.build else container == "["

    def _push(self, containers: list[Any]) -> None:
        self.stack.extend(containers)
        if self.max_depth is not None and len(self.stack) > self.max_depth:
            raise TooDeep(self.max_depth + 1, self.max_depth)

    def _pop(self) -> Any:
        """Close the innermost container."""
        return self.stack.pop()

    def _attach(self, value: Any) -> None:
        """Add a complete value to the container it is in (the key read for it, if any)."""
        if self.build and self.stack:
            parent = self.stack[-1]
            if isinstance(parent, list):
                parent.append(value)
            else:
                parent[self.keys.pop()] = value


def _depth(value: Any) -> int:
    """How deep a decoded value nests (a scalar 0, ``[]`` 1), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in item if isinstance(child, list | dict))
    return deepest


def _common_prefix(a: str, b: str) -> int:
    """The length of the common prefix of two strings of equal length, by bisection: each
    step compares in C, so a long run is never walked in Python."""
    if a == b:
        return len(a)
    low, high = 0, len(a)  # a[:low] == b[:low], a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle
    return low


def _scanstring_at(text: str, pos: int) -> tuple[int, str]:
    value, end = _scanstring(text, pos, True)
    return end, value
