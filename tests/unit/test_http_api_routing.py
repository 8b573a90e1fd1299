"""Which route of an HTTP API a request takes (API Gateway's most-specific-match rules)."""

from __future__ import annotations

import pytest

from lambox.services.apigatewayv2.routing import choose

ROUTES = [
    {"RouteKey": "$default"},
    {"RouteKey": "ANY /{proxy+}"},
    {"RouteKey": "GET /items/{id}"},
    {"RouteKey": "GET /items/special"},
    {"RouteKey": "ANY /items/{id}"},
    {"RouteKey": "POST /items"},
    {"RouteKey": "GET /files/{path+}"},
]


@pytest.mark.parametrize(
    ("method", "path", "key", "params"),
    [
        ("GET", "/items/special", "GET /items/special", {}),
        ("GET", "/items/7", "GET /items/{id}", {"id": "7"}),
        ("DELETE", "/items/7", "ANY /items/{id}", {"id": "7"}),
        ("POST", "/items", "POST /items", {}),
        ("GET", "/items", "ANY /{proxy+}", {"proxy": "items"}),
        ("GET", "/files/a/b%20c", "GET /files/{path+}", {"path": "a/b c"}),
        ("GET", "/items/7/more", "ANY /{proxy+}", {"proxy": "items/7/more"}),
        ("GET", "/", "$default", {}),
    ],
)
def test_most_specific_route_wins(method: str, path: str, key: str, params: dict[str, str]) -> None:
    chosen = choose(ROUTES, method, path)
    assert chosen is not None
    route, found = chosen
    assert (route["RouteKey"], found) == (key, params)


def test_no_route_and_no_default_is_none() -> None:
    assert choose([{"RouteKey": "GET /a"}], "GET", "/b") is None
    assert choose([{"RouteKey": "GET /a"}], "POST", "/a") is None
