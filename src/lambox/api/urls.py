"""Function URL configurations over HTTP (2021-10-31 paths)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lambox.api.params import json_body, path_name
from lambox.api.responses import json_response
from lambox.control.urls import UrlService
from lambox.store.urls import UrlConfig

BODY_LIMIT = 1 << 20


class UrlApi:
    """Handlers for Create/Get/Update/Delete/ListFunctionUrlConfig(s)."""

    def __init__(self, urls: UrlService) -> None:
        self._urls = urls

    def view(self, config: UrlConfig, read: bool, modified: bool = True) -> dict[str, Any]:
        """A FunctionUrlConfig as AWS renders it: Create and Update show InvokeMode only when
        it was given, Get and List always (BUFFERED by default); Create has no
        LastModifiedTime."""
        body: dict[str, Any] = {
            "FunctionUrl": self._urls.url(config),
            "FunctionArn": self._urls.arn(config),
            "AuthType": config.auth_type,
        }
        if config.cors is not None:
            body["Cors"] = config.cors
        body["CreationTime"] = config.creation_time
        if modified:
            body["LastModifiedTime"] = config.last_modified
        if read or config.invoke_mode is not None:
            body["InvokeMode"] = config.invoke_mode or "BUFFERED"
        return body

    async def create(self, request: Request) -> Response:
        params = await json_body(request, BODY_LIMIT, "CreateFunctionUrlConfig")
        config = self._urls.create(path_name(request), _qualifier(request), params)
        return json_response(self.view(config, read=False, modified=False), status=201)

    async def get(self, request: Request) -> Response:
        config = self._urls.get(path_name(request), _qualifier(request))
        return json_response(self.view(config, read=True))

    async def update(self, request: Request) -> Response:
        params = await json_body(request, BODY_LIMIT, "UpdateFunctionUrlConfig")
        config = self._urls.update(path_name(request), _qualifier(request), params)
        return json_response(self.view(config, read=False))

    async def delete(self, request: Request) -> Response:
        self._urls.delete(path_name(request), _qualifier(request))
        return Response(status_code=204)

    async def list_configs(self, request: Request) -> Response:
        q = request.query_params
        page, marker = self._urls.list_page(path_name(request), q.get("Marker"), q.get("MaxItems"))
        body: dict[str, Any] = {"FunctionUrlConfigs": [self.view(c, read=True) for c in page]}
        if marker:
            body["NextMarker"] = marker
        return json_response(body)

    def routes(self) -> list[BaseRoute]:
        path = "/2021-10-31/functions/{name}/url"
        return [
            Route(path, self.create, methods=["POST"]),
            Route(path, self.get, methods=["GET"]),
            Route(path, self.update, methods=["PUT"]),
            Route(path, self.delete, methods=["DELETE"]),
            Route(f"{path}s", self.list_configs, methods=["GET"]),
        ]


def _qualifier(request: Request) -> str | None:
    return request.query_params.get("Qualifier")
