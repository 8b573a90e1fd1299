"""The EventInvokeConfig operations (2019-09-25 paths) and lambox's view of the event queue.

Each handler parses path, query and body, makes one service call and renders the result;
``routes`` is the list mounted beside the management routes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lambox.api.params import count, function_path, json_body, path_name
from lambox.api.responses import json_response
from lambox.arns import Arns
from lambox.control.event_config import EventConfigService
from lambox.control.functions import FunctionService
from lambox.invoke.worker import AsyncWorker
from lambox.store.event_configs import EventInvokeConfig
from lambox.store.events import EventStatus, QueuedEvent

BODY_LIMIT = 1 << 20
EVENTS_SHOWN = 100
EVENTS_LIMIT = 1000


def view(config: EventInvokeConfig, arns: Arns) -> dict[str, Any]:
    """FunctionEventInvokeConfig as AWS renders it (unset members left out)."""
    body: dict[str, Any] = {
        "LastModified": config.last_modified,
        "FunctionArn": arns.function(config.function, config.qualifier),
    }
    if config.maximum_retry_attempts is not None:
        body["MaximumRetryAttempts"] = config.maximum_retry_attempts
    if config.maximum_event_age is not None:
        body["MaximumEventAgeInSeconds"] = config.maximum_event_age
    body["DestinationConfig"] = {
        "OnSuccess": {"Destination": config.on_success} if config.on_success else {},
        "OnFailure": {"Destination": config.on_failure} if config.on_failure else {},
    }
    return body


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def event_view(event: QueuedEvent) -> dict[str, Any]:
    """One queued event as ``GET /lambox/v1/events/{name}`` lists it."""
    body: dict[str, Any] = {
        "Id": event.id,
        "RequestId": event.request_id,
        "Qualifier": event.qualifier,
        "Status": event.status.value,
        "Attempts": event.attempts,
        "EnqueuedAt": _iso(event.enqueued_at),
        "NextAttemptAt": _iso(event.not_before),
        "PayloadSize": len(event.payload),
    }
    if event.condition:
        body["Condition"] = event.condition
    if event.last is not None and event.last.function_error:
        body["FunctionError"] = event.last.function_error
    return body


def _qualifier(request: Request) -> str | None:
    return request.query_params.get("Qualifier")


class EventConfigApi:
    """Handlers for the EventInvokeConfig operations and the lambox event-queue endpoints."""

    def __init__(
        self,
        configs: EventConfigService,
        worker: AsyncWorker,
        functions: FunctionService,
        arns: Arns,
    ) -> None:
        self._configs = configs
        self._worker = worker
        self._functions = functions
        self._arns = arns

    async def put(self, request: Request) -> Response:
        params = await json_body(request, BODY_LIMIT, "PutFunctionEventInvokeConfig")
        config = self._configs.put(path_name(request), _qualifier(request), params)
        return json_response(view(config, self._arns))

    async def update(self, request: Request) -> Response:
        params = await json_body(request, BODY_LIMIT, "UpdateFunctionEventInvokeConfig")
        config = self._configs.update(path_name(request), _qualifier(request), params)
        return json_response(view(config, self._arns))

    async def get(self, request: Request) -> Response:
        config = self._configs.get(path_name(request), _qualifier(request))
        return json_response(view(config, self._arns))

    async def list_configs(self, request: Request) -> Response:
        q = request.query_params
        page, marker = self._configs.list_page(
            path_name(request), q.get("Marker"), q.get("MaxItems")
        )
        body: dict[str, Any] = {"FunctionEventInvokeConfigs": [view(c, self._arns) for c in page]}
        if marker:
            body["NextMarker"] = marker
        return json_response(body)

    async def delete(self, request: Request) -> Response:
        self._configs.delete(path_name(request), _qualifier(request))
        return Response(status_code=204)

    async def events(self, request: Request) -> Response:
        name = self._functions.get(path_name(request)).name
        limit = min(count(request.query_params, "limit", EVENTS_SHOWN), EVENTS_LIMIT)
        shown = await self._worker.view(name, limit)
        counts = shown.counts
        return json_response(
            {
                "FunctionName": name,
                "Pending": counts[EventStatus.PENDING],
                "InFlight": counts[EventStatus.IN_FLIGHT],
                "Failed": counts[EventStatus.FAILED],
                "Events": [event_view(e) for e in shown.events],
            }
        )

    async def redrive(self, request: Request) -> Response:
        name = self._functions.get(path_name(request)).name
        moved = await self._worker.redrive(name)
        return json_response({"FunctionName": name, "Redriven": moved})

    def routes(self) -> list[BaseRoute]:
        path = function_path("/2019-09-25/functions/{name}/event-invoke-config")
        return [
            Route(path, self.put, methods=["PUT"]),
            Route(path, self.update, methods=["POST"]),
            Route(path, self.get, methods=["GET"]),
            Route(path, self.delete, methods=["DELETE"]),
            Route(f"{path}/list", self.list_configs, methods=["GET"]),
            Route(function_path("/lambox/v1/events/{name}"), self.events, methods=["GET"]),
            Route(
                function_path("/lambox/v1/events/{name}/redrive"), self.redrive, methods=["POST"]
            ),
        ]
