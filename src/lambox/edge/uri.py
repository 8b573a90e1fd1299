"""Which operation of a REST service a request line names, from the model's request URIs.

A model's ``requestUri`` is a path template with labels (``/{Bucket}/{Key+}``, ``+`` for a
label spanning slashes) and optional literal query keys (``?uploads``, ``?list-type=2``).
Several operations often share a method and a path; the one whose query keys and required
headers the request carries, and the most of them, is the operation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

_LABEL = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


@dataclass(frozen=True)
class Route:
    """One operation's request line: method, path pattern, literal query and header needs."""

    operation: str
    method: str
    pattern: re.Pattern[str]
    query: tuple[tuple[str, str | None], ...]
    headers: tuple[str, ...]
    literal: int

    def matches(
        self, method: str, path: str, query: Mapping[str, Sequence[str]], headers: Mapping[str, str]
    ) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        for key, value in self.query:
            if key not in query or (value is not None and value not in query[key]):
                return None
        if any(h not in headers for h in self.headers):
            return None
        return {k: unquote(v) for k, v in found.groupdict().items()}

    @property
    def rank(self) -> tuple[int, int, int]:
        return (len(self.query), len(self.headers), self.literal)


def _compile(template: str) -> tuple[re.Pattern[str], int]:
    parts: list[str] = []
    pos = 0
    literal = 0
    for m in _LABEL.finditer(template):
        parts.append(re.escape(template[pos : m.start()]))
        literal += m.start() - pos
        parts.append(f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    literal += len(template) - pos
    body = "".join(parts)
    if body.endswith("/") and body != "/":
        body = body[:-1]
    return re.compile(body + "/?" if body != "/" else "/"), literal


def routes(model: Any, deprecated: bool = False) -> list[Route]:
    """Every operation of ``model`` as a ``Route``, most specific first (deprecated ones only
    when asked: a service that still answers them, or names them in an error)."""
    out: list[Route] = []
    for name in model.operation_names:
        op = model.operation_model(name)
        if op.deprecated and not deprecated:
            continue
        path, _, qs = op.http["requestUri"].partition("?")
        query: list[tuple[str, str | None]] = []
        for item in filter(None, qs.split("&")):
            key, eq, value = item.partition("=")
            if key != "x-id":
                query.append((key, value if eq else None))
        required: list[str] = []
        shape = op.input_shape
        if shape is not None:
            for member in shape.required_members:
                ser = shape.members[member].serialization
                if ser.get("location") == "header":
                    required.append(ser.get("name", member).lower())
                elif ser.get("location") == "querystring":
                    query.append((ser.get("name", member), None))
        pattern, literal = _compile(path)
        out.append(Route(name, op.http["method"], pattern, tuple(query), tuple(required), literal))
    out.sort(key=lambda r: r.rank, reverse=True)
    return out


def match(
    table: Sequence[Route],
    method: str,
    path: str,
    query: Mapping[str, Sequence[str]],
    headers: Mapping[str, str],
) -> tuple[str, dict[str, str]] | None:
    """The operation a request names and its path labels, or None."""
    for route in table:
        labels = route.matches(method, path, query, headers)
        if labels is not None:
            return route.operation, labels
    return None
