"""The layer operations of the Lambda REST API (2018-10-31 paths)."""

from __future__ import annotations

from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lambox.api.params import json_body
from lambox.api.responses import json_response
from lambox.control.layers import LayerService

PUBLISH_LIMIT = 70_167_211


def _name(request: Request) -> str:
    return unquote(request.path_params["layer"])


class LayersApi:
    """Handlers for layer versions and their permission policies."""

    def __init__(self, layers: LayerService) -> None:
        self._layers = layers

    async def publish(self, request: Request) -> Response:
        params = await json_body(request, PUBLISH_LIMIT, "PublishLayerVersion")
        return json_response(await self._layers.publish(_name(request), params), status=201)

    async def list_versions(self, request: Request) -> Response:
        query = dict(request.query_params)
        return json_response(self._layers.list_versions(_name(request), query))

    async def list_layers(self, request: Request) -> Response:
        query = dict(request.query_params)
        if query.get("find") == "LayerVersion":
            return json_response(self._layers.get_by_arn(query.get("Arn", "")))
        return json_response(self._layers.list_layers(query))

    async def get(self, request: Request) -> Response:
        view = self._layers.get(_name(request), request.path_params["version"])
        return json_response(view)

    async def delete(self, request: Request) -> Response:
        self._layers.delete(_name(request), request.path_params["version"])
        return Response(status_code=204)

    async def add_permission(self, request: Request) -> Response:
        params = await json_body(request, 1 << 20, "AddLayerVersionPermission")
        answer = self._layers.add_permission(
            _name(request),
            request.path_params["version"],
            params,
            request.query_params.get("RevisionId"),
        )
        return json_response(answer, status=201)

    async def get_policy(self, request: Request) -> Response:
        return json_response(
            self._layers.get_policy(_name(request), request.path_params["version"])
        )

    async def remove_permission(self, request: Request) -> Response:
        self._layers.remove_permission(
            _name(request),
            request.path_params["version"],
            unquote(request.path_params["sid"]),
            request.query_params.get("RevisionId"),
        )
        return Response(status_code=204)

    def routes(self) -> list[BaseRoute]:
        base = "/2018-10-31/layers"
        one = f"{base}/{{layer}}/versions/{{version}}"
        return [
            Route(base, self.list_layers, methods=["GET"]),
            Route(f"{base}/", self.list_layers, methods=["GET"]),
            Route(f"{base}/{{layer}}/versions", self.publish, methods=["POST"]),
            Route(f"{base}/{{layer}}/versions", self.list_versions, methods=["GET"]),
            Route(one, self.get, methods=["GET"]),
            Route(one, self.delete, methods=["DELETE"]),
            Route(f"{one}/policy", self.add_permission, methods=["POST"]),
            Route(f"{one}/policy", self.get_policy, methods=["GET"]),
            Route(f"{one}/policy/{{sid}}", self.remove_permission, methods=["DELETE"]),
        ]
