"""Put/GetFunctionRecursionConfig and Put/GetRuntimeManagementConfig over HTTP."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lambox.api.params import function_path, json_body, path_name
from lambox.api.responses import json_response
from lambox.control.function_settings import FunctionSettingsService


class FunctionSettingsApi:
    """The recursion and runtime management configs of a function."""

    def __init__(self, settings: FunctionSettingsService) -> None:
        self._settings = settings

    async def put_recursion(self, request: Request) -> Response:
        params = await json_body(request, 1 << 16, "PutFunctionRecursionConfig")
        loop = self._settings.put_recursion(path_name(request), params)
        return json_response({"RecursiveLoop": loop})

    async def get_recursion(self, request: Request) -> Response:
        return json_response({"RecursiveLoop": self._settings.get_recursion(path_name(request))})

    async def put_runtime(self, request: Request) -> Response:
        params = await json_body(request, 1 << 16, "PutRuntimeManagementConfig")
        qualifier = request.query_params.get("Qualifier")
        return json_response(self._settings.put_runtime(path_name(request), qualifier, params))

    async def get_runtime(self, request: Request) -> Response:
        qualifier = request.query_params.get("Qualifier")
        return json_response(self._settings.get_runtime(path_name(request), qualifier))

    def routes(self) -> list[BaseRoute]:
        recursion = function_path("/2024-08-31/functions/{name}/recursion-config")
        runtime = function_path("/2021-07-20/functions/{name}/runtime-management-config")
        return [
            Route(recursion, self.put_recursion, methods=["PUT"]),
            Route(recursion, self.get_recursion, methods=["GET"]),
            Route(runtime, self.put_runtime, methods=["PUT"]),
            Route(runtime, self.get_runtime, methods=["GET"]),
        ]
