"""``GET /lambox/v1/cost?since=<epoch seconds>``: what ``lambox cost`` prints, as JSON.

Usage rows come from the metrics store (written before the answer, so the last
invocations count); each function is priced at the architecture of its current snapshot
(x86_64 once the function is gone).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lambox.api.responses import json_response
from lambox.errors import InvalidParameterValue, LamboxError
from lambox.invoke.service import InvokeService
from lambox.metrics.aggregator import Aggregator
from lambox.metrics.cost import cost_lines, price_list


class CostApi:
    """The cost report of the recorded use since a time."""

    def __init__(self, metrics: Aggregator, invoke: InvokeService) -> None:
        self._metrics = metrics
        self._invoke = invoke

    def _architecture(self, name: str) -> str:
        try:
            return self._invoke.resolve(name, None).config.architectures[0]
        except LamboxError:
            return "x86_64"

    async def cost(self, request: Request) -> Response:
        raw = request.query_params.get("since", "0")
        try:
            since = float(raw)
        except ValueError:
            raise InvalidParameterValue(f"since must be epoch seconds, not {raw!r}") from None
        self._metrics.settle()
        lines = cost_lines(self._metrics.store.usage(int(since)), self._architecture)
        prices = price_list()
        return json_response(
            {
                "Since": since,
                "Until": time.time(),
                "PriceList": {k: prices[k] for k in ("region", "as_of", "source", "currency")},
                "Functions": [line.as_dict() for line in lines],
                "Total": sum(line.total for line in lines),
            }
        )

    def routes(self) -> list[BaseRoute]:
        return [Route("/lambox/v1/cost", self.cost, methods=["GET"])]
