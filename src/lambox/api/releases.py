"""Versions and aliases over HTTP: PublishVersion, ListVersionsByFunction, *Alias."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lambox.api import views
from lambox.api.params import function_path, json_body, max_items, path_name
from lambox.api.responses import json_response
from lambox.arns import Arns
from lambox.control import shapes
from lambox.control.aliases import AliasService
from lambox.control.versions import VersionService


class ReleasesApi:
    """Handlers for publishing versions and managing aliases."""

    def __init__(self, versions: VersionService, aliases: AliasService, arns: Arns) -> None:
        self._versions = versions
        self._aliases = aliases
        self._arns = arns

    async def publish_version(self, request: Request) -> Response:
        params = await json_body(request, 1 << 20, "PublishVersion")
        config = self._versions.publish(path_name(request), params)
        return json_response(views.configuration(config, self._arns), status=201)

    async def list_versions(self, request: Request) -> Response:
        q = request.query_params
        _validate(request, "ListVersionsByFunction", "Marker", "MaxItems")
        page, marker = self._versions.list(path_name(request), q.get("Marker"), max_items(q))
        body: dict[str, Any] = {
            "Versions": [views.configuration(c, self._arns, c.version, listing=True) for c in page]
        }
        if marker:
            body["NextMarker"] = marker
        return json_response(body)

    async def create_alias(self, request: Request) -> Response:
        params = await json_body(request, 1 << 20, "CreateAlias")
        alias = self._aliases.create(path_name(request), params)
        return json_response(views.alias(alias, self._arns), status=201)

    async def get_alias(self, request: Request) -> Response:
        alias = self._aliases.get(path_name(request), request.path_params["alias"])
        return json_response(views.alias(alias, self._arns))

    async def update_alias(self, request: Request) -> Response:
        params = await json_body(request, 1 << 20, "UpdateAlias")
        alias = self._aliases.update(path_name(request), request.path_params["alias"], params)
        return json_response(views.alias(alias, self._arns))

    async def delete_alias(self, request: Request) -> Response:
        self._aliases.delete(path_name(request), request.path_params["alias"])
        return Response(status_code=204)

    async def list_aliases(self, request: Request) -> Response:
        q = request.query_params
        _validate(request, "ListAliases", "FunctionVersion", "Marker", "MaxItems")
        page, marker = self._aliases.list(
            path_name(request), q.get("FunctionVersion"), q.get("Marker"), max_items(q)
        )
        body: dict[str, Any] = {"Aliases": [views.alias(a, self._arns) for a in page]}
        if marker:
            body["NextMarker"] = marker
        return json_response(body)

    def routes(self) -> list[BaseRoute]:
        fn = function_path("/2015-03-31/functions/{name}")
        return [
            Route(f"{fn}/versions", self.publish_version, methods=["POST"]),
            Route(f"{fn}/versions", self.list_versions, methods=["GET"]),
            Route(f"{fn}/aliases", self.create_alias, methods=["POST"]),
            Route(f"{fn}/aliases", self.list_aliases, methods=["GET"]),
            Route(f"{fn}/aliases/{{alias}}", self.get_alias, methods=["GET"]),
            Route(f"{fn}/aliases/{{alias}}", self.update_alias, methods=["PUT"]),
            Route(f"{fn}/aliases/{{alias}}", self.delete_alias, methods=["DELETE"]),
        ]


def _validate(request: Request, operation: str, *query: str) -> None:
    """The FunctionName path and the given query members against the operation's model:
    AWS validates before it looks anything up (a malformed name is no 404)."""
    q = request.query_params
    params = {k: q[k] for k in query if k in q}
    shapes.validate(operation, {"FunctionName": path_name(request), **params})
