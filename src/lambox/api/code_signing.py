"""Code signing configs and function code signing configs over HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lambox.api.params import function_path, json_body, max_items, path_name
from lambox.api.responses import json_response
from lambox.control.code_signing import CodeSigningService


def _arn(request: Request) -> str:
    return unquote(request.path_params["arn"])


class CodeSigningApi:
    """The 2020-04-22 code-signing-configs and 2020-06-30 function code-signing-config paths."""

    def __init__(self, service: CodeSigningService) -> None:
        self._service = service

    async def create(self, request: Request) -> Response:
        params = await json_body(request, 1 << 16, "CreateCodeSigningConfig")
        config = self._service.create(params)
        return json_response({"CodeSigningConfig": config}, status=201)

    async def get(self, request: Request) -> Response:
        return json_response({"CodeSigningConfig": self._service.get(_arn(request))})

    async def update(self, request: Request) -> Response:
        params = await json_body(request, 1 << 16, "UpdateCodeSigningConfig")
        return json_response({"CodeSigningConfig": self._service.update(_arn(request), params)})

    async def delete(self, request: Request) -> Response:
        self._service.delete(_arn(request))
        return Response(status_code=204)

    async def list_configs(self, request: Request) -> Response:
        q = request.query_params
        configs, marker = self._service.list_page(q.get("Marker"), max_items(q))
        body: dict[str, Any] = {"CodeSigningConfigs": configs}
        if marker:
            body["NextMarker"] = marker
        return json_response(body)

    async def functions(self, request: Request) -> Response:
        q = request.query_params
        arns, marker = self._service.functions_of(_arn(request), q.get("Marker"), max_items(q))
        body: dict[str, Any] = {"FunctionArns": arns}
        if marker:
            body["NextMarker"] = marker
        return json_response(body)

    async def put_function(self, request: Request) -> Response:
        params = await json_body(request, 1 << 16, "PutFunctionCodeSigningConfig")
        return json_response(self._service.put_function(path_name(request), params))

    async def get_function(self, request: Request) -> Response:
        return json_response(self._service.get_function(path_name(request)))

    async def delete_function(self, request: Request) -> Response:
        self._service.delete_function(path_name(request))
        return Response(status_code=204)

    def routes(self) -> list[BaseRoute]:
        csc = "/2020-04-22/code-signing-configs"
        fn = function_path("/2020-06-30/functions/{name}/code-signing-config")
        return [
            Route(csc, self.create, methods=["POST"]),
            # The AWS CLI's older model spells Create and List with a trailing slash.
            Route(f"{csc}/", self.create, methods=["POST"]),
            Route(csc, self.list_configs, methods=["GET"]),
            Route(f"{csc}/", self.list_configs, methods=["GET"]),
            Route(f"{csc}/{{arn}}/functions", self.functions, methods=["GET"]),
            Route(f"{csc}/{{arn}}", self.get, methods=["GET"]),
            Route(f"{csc}/{{arn}}", self.update, methods=["PUT"]),
            Route(f"{csc}/{{arn}}", self.delete, methods=["DELETE"]),
            Route(fn, self.put_function, methods=["PUT"]),
            Route(fn, self.get_function, methods=["GET"]),
            Route(fn, self.delete_function, methods=["DELETE"]),
        ]
