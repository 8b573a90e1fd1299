"""Which route of an HTTP API a request takes, as API Gateway chooses: among the routes whose
method (or ANY) and path template match, the most specific (more literal segments, then a
parameter over a greedy ``{proxy+}``, then a method over ANY); ``$default`` when none does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote


def match_path(template: str, path: str) -> tuple[dict[str, str], int, bool] | None:
    """(path parameters, literal segments, greedy) when ``path`` fits ``template``."""
    want = [s for s in template.split("/") if s]
    have = [s for s in path.split("/") if s]
    params: dict[str, str] = {}
    literal = 0
    for i, part in enumerate(want):
        if part.startswith("{") and part.endswith("+}"):
            if i != len(want) - 1 or len(have) <= i:
                return None
            params[part[1:-2]] = unquote("/".join(have[i:]))
            return params, literal, True
        if i >= len(have):
            return None
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = unquote(have[i])
        elif part != have[i]:
            return None
        else:
            literal += 1
    if len(have) != len(want):
        return None
    return params, literal, False


def choose(
    routes: Iterable[dict[str, Any]], method: str, path: str
) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The route a request takes and its path parameters, or None (API Gateway's 404)."""
    best: tuple[tuple[int, int, int], dict[str, Any], dict[str, str]] | None = None
    default = None
    for route in routes:
        key = route["RouteKey"]
        if key == "$default":
            default = route
            continue
        route_method, _, template = key.partition(" ")
        if route_method not in ("ANY", method):
            continue
        found = match_path(template, path)
        if found is None:
            continue
        params, literal, greedy = found
        rank = (literal, 0 if greedy else 1, 0 if route_method == "ANY" else 1)
        if best is None or rank > best[0]:
            best = (rank, route, params)
    if best is not None:
        return best[1], best[2]
    return (default, {}) if default is not None else None
