"""Reserved and provisioned concurrency over HTTP."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lambox.api import views
from lambox.api.params import function_path, json_body, path_name
from lambox.api.responses import json_response
from lambox.arns import Arns
from lambox.control.concurrency import ConcurrencyService
from lambox.invoke.service import InvokeService
from lambox.model import ProvisionedConfig


class ConcurrencyApi:
    """Put/Get/DeleteFunctionConcurrency and the ProvisionedConcurrencyConfig operations."""

    def __init__(self, concurrency: ConcurrencyService, invoke: InvokeService, arns: Arns) -> None:
        self._concurrency = concurrency
        self._invoke = invoke
        self._arns = arns

    def _ready(self, config: ProvisionedConfig) -> int:
        version = self._concurrency.version_of(config.function, config.qualifier)
        return self._invoke.provisioned_ready(config.function, version) if version else 0

    async def put_reserved(self, request: Request) -> Response:
        params = await json_body(request, 1 << 16, "PutFunctionConcurrency")
        value = self._concurrency.put_reserved(path_name(request), params)
        return json_response({"ReservedConcurrentExecutions": value})

    async def get_reserved(self, request: Request) -> Response:
        value = self._concurrency.get_reserved(path_name(request))
        return json_response({} if value is None else {"ReservedConcurrentExecutions": value})

    async def delete_reserved(self, request: Request) -> Response:
        self._concurrency.delete_reserved(path_name(request))
        return Response(status_code=204)

    async def put_provisioned(self, request: Request) -> Response:
        params = await json_body(request, 1 << 16, "PutProvisionedConcurrencyConfig")
        qualifier = request.query_params.get("Qualifier")
        config = self._concurrency.put_provisioned(path_name(request), qualifier, params)
        return json_response(views.provisioned(config, self._ready(config)), status=202)

    async def get_provisioned(self, request: Request) -> Response:
        q = request.query_params
        if q.get("List") == "ALL":
            configs = self._concurrency.list_provisioned(path_name(request))
            items = [views.provisioned(c, self._ready(c), self._arns) for c in configs]
            return json_response({"ProvisionedConcurrencyConfigs": items})
        config = self._concurrency.get_provisioned(path_name(request), q.get("Qualifier"))
        return json_response(views.provisioned(config, self._ready(config)))

    async def delete_provisioned(self, request: Request) -> Response:
        qualifier = request.query_params.get("Qualifier")
        self._concurrency.delete_provisioned(path_name(request), qualifier)
        return Response(status_code=204)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(
                function_path("/2017-10-31/functions/{name}/concurrency"),
                self.put_reserved,
                methods=["PUT"],
            ),
            Route(
                function_path("/2017-10-31/functions/{name}/concurrency"),
                self.delete_reserved,
                methods=["DELETE"],
            ),
            Route(
                function_path("/2019-09-30/functions/{name}/concurrency"),
                self.get_reserved,
                methods=["GET"],
            ),
            Route(
                function_path("/2019-09-30/functions/{name}/provisioned-concurrency"),
                self.put_provisioned,
                methods=["PUT"],
            ),
            Route(
                function_path("/2019-09-30/functions/{name}/provisioned-concurrency"),
                self.get_provisioned,
                methods=["GET"],
            ),
            Route(
                function_path("/2019-09-30/functions/{name}/provisioned-concurrency"),
                self.delete_provisioned,
                methods=["DELETE"],
            ),
        ]
