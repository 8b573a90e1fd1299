"""The Prometheus ``/metrics`` endpoint in front of the edge.

Only an unsigned ``GET /metrics`` to lambox's own host is answered here: a signed one is a
request for an S3 bucket named ``metrics``, and one to a function URL or API host is that
function's, so both pass on to the edge. The exposition (``metrics/prometheus.py``, with
prometheus-client) is built on the first scrape, so start-up does not import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from lambox.edge.router import LAMBDA, service_of
from lambox.metrics.aggregator import Aggregator

Live = Callable[[], Mapping[str, int]]
"""Leases held now per function (the scheduler's busy counts)."""


class PrometheusEndpoint:
    """ASGI: answers an unsigned ``GET /metrics``, hands everything else to ``app``."""

    def __init__(self, app: ASGIApp, aggregator: Aggregator, live: Live) -> None:
        self._app = app
        self._aggregator = aggregator
        self._live = live
        self._render: Callable[[], bytes] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/metrics"
            and scope["method"] == "GET"
            and service_of(scope)[0] == LAMBDA
        ):
            if self._render is None:
                from lambox.metrics.prometheus import exposition

                self._render = exposition(self._aggregator, self._live)
            body = self._render()
            headers = [
                (b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self._app(scope, receive, send)
