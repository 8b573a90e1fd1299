"""A request line that botocore's Lambda model names but no route of lambox serves is
answered UnsupportedOperationException naming the operation; one the model does not name
stays UnknownOperationException. Every operation is served today, so the app is built here
with no routes at all: each model operation is then one lambox "does not serve"."""

from __future__ import annotations

from starlette.testclient import TestClient

from lambox.api.app import LamboxApp
from lambox.api.invoke import InvokeEndpoint


class _NoInvoke:
    """Stands in for the invoke service: these requests never reach it."""


def _client() -> TestClient:
    return TestClient(LamboxApp(InvokeEndpoint(_NoInvoke()), []))  # type: ignore[arg-type]


def test_a_model_operation_without_a_route_is_named() -> None:
    r = _client().get("/2025-11-30/capacity-providers/x")
    assert r.status_code == 400
    assert r.headers["x-amzn-ErrorType"] == "UnsupportedOperationException"
    assert "GetCapacityProvider" in r.json()["message"]


def test_a_path_of_no_operation_stays_unknown() -> None:
    for path in ("/2025-11-30/capacity-providers/x/", "/2099-01-01/nothing"):
        r = _client().get(path)
        assert r.status_code == 404
        assert r.headers["x-amzn-ErrorType"] == "UnknownOperationException"
