"""The event source mapping operations (2015-03-31 paths): parse, one service call, render."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lambox.api.params import json_body, max_items
from lambox.api.responses import json_response
from lambox.control.event_sources import EventSourceService

BODY_LIMIT = 1 << 20
PATH = "/2015-03-31/event-source-mappings/"


class EventSourceApi:
    """Create (202), Get, List, Update (202) and Delete (202) of event source mappings."""

    def __init__(self, mappings: EventSourceService) -> None:
        self._mappings = mappings

    async def create(self, request: Request) -> Response:
        params = await json_body(request, BODY_LIMIT, "CreateEventSourceMapping")
        mapping = self._mappings.create(params)
        return json_response(self._mappings.view(mapping), status=202)

    async def get(self, request: Request) -> Response:
        mapping = self._mappings.get(request.path_params["uuid"])
        return json_response(self._mappings.view(mapping))

    async def list_mappings(self, request: Request) -> Response:
        q = request.query_params
        page, marker = self._mappings.list_page(
            q.get("FunctionName"), q.get("EventSourceArn"), q.get("Marker"), max_items(q)
        )
        body: dict[str, Any] = {"EventSourceMappings": [self._mappings.view(m) for m in page]}
        if marker:
            body["NextMarker"] = marker
        return json_response(body)

    async def update(self, request: Request) -> Response:
        params = await json_body(request, BODY_LIMIT, "UpdateEventSourceMapping")
        mapping = self._mappings.update(request.path_params["uuid"], params)
        return json_response(self._mappings.view(mapping), status=202)

    async def delete(self, request: Request) -> Response:
        mapping = self._mappings.delete(request.path_params["uuid"])
        return json_response(self._mappings.view(mapping), status=202)

    def routes(self) -> list[BaseRoute]:
        one = PATH + "{uuid}"
        # boto3 sends the collection's path with or without its trailing slash.
        return [
            Route(PATH, self.create, methods=["POST"]),
            Route(PATH, self.list_mappings, methods=["GET"]),
            Route(PATH.rstrip("/"), self.create, methods=["POST"]),
            Route(PATH.rstrip("/"), self.list_mappings, methods=["GET"]),
            Route(one, self.get, methods=["GET"]),
            Route(one, self.update, methods=["PUT"]),
            Route(one, self.delete, methods=["DELETE"]),
        ]
