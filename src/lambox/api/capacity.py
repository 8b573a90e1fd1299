"""Capacity providers and function scaling configs over HTTP (the 2025-11-30 paths)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lambox.api.params import function_path, json_body, max_items, path_name
from lambox.api.responses import json_response
from lambox.control.capacity import CapacityService

PROVIDERS = "/2025-11-30/capacity-providers"


def _provider(request: Request) -> str:
    return unquote(request.path_params["provider"])


class CapacityApi:
    """Create/Get/Update/Delete/ListCapacityProviders, ListFunctionVersionsByCapacityProvider
    and Put/GetFunctionScalingConfig."""

    def __init__(self, service: CapacityService) -> None:
        self._service = service

    async def create(self, request: Request) -> Response:
        params = await json_body(request, 1 << 16, "CreateCapacityProvider")
        return json_response({"CapacityProvider": self._service.create(params)}, status=202)

    async def get(self, request: Request) -> Response:
        return json_response({"CapacityProvider": self._service.get(_provider(request))})

    async def update(self, request: Request) -> Response:
        params = await json_body(request, 1 << 16, "UpdateCapacityProvider")
        provider = self._service.update(_provider(request), params)
        return json_response({"CapacityProvider": provider}, status=202)

    async def delete(self, request: Request) -> Response:
        provider = self._service.delete(_provider(request))
        return json_response({"CapacityProvider": provider}, status=202)

    async def list_providers(self, request: Request) -> Response:
        q = request.query_params
        found, marker = self._service.list_page(q.get("State"), q.get("Marker"), max_items(q))
        body: dict[str, Any] = {"CapacityProviders": found}
        if marker:
            body["NextMarker"] = marker
        return json_response(body)

    async def function_versions(self, request: Request) -> Response:
        q = request.query_params
        arn, items, marker = self._service.function_versions(
            _provider(request), q.get("Marker"), max_items(q)
        )
        body: dict[str, Any] = {"CapacityProviderArn": arn, "FunctionVersions": items}
        if marker:
            body["NextMarker"] = marker
        return json_response(body)

    async def put_scaling(self, request: Request) -> Response:
        params = await json_body(request, 1 << 16, "PutFunctionScalingConfig")
        qualifier = request.query_params.get("Qualifier")
        answer = self._service.put_scaling(path_name(request), qualifier, params)
        return json_response(answer, status=202)

    async def get_scaling(self, request: Request) -> Response:
        qualifier = request.query_params.get("Qualifier")
        return json_response(self._service.get_scaling(path_name(request), qualifier))

    def routes(self) -> list[BaseRoute]:
        one = PROVIDERS + "/{provider}"
        scaling = function_path("/2025-11-30/functions/{name}/function-scaling-config")
        return [
            Route(PROVIDERS, self.create, methods=["POST"]),
            Route(PROVIDERS, self.list_providers, methods=["GET"]),
            Route(one, self.get, methods=["GET"]),
            Route(one, self.update, methods=["PUT"]),
            Route(one, self.delete, methods=["DELETE"]),
            Route(one + "/function-versions", self.function_versions, methods=["GET"]),
            Route(scaling, self.put_scaling, methods=["PUT"]),
            Route(scaling, self.get_scaling, methods=["GET"]),
        ]
