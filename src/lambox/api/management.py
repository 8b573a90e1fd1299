"""The management operations of the Lambda REST API (2015-03-31 paths) and lambox's own.

Each handler parses path, query and body, makes one service call and renders the result.
The route table at the bottom is the single list of what the API answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from lambox.api import views
from lambox.api.params import count, function_path, json_body, max_items, path_name
from lambox.api.responses import json_response
from lambox.arns import Arns
from lambox.control import shapes
from lambox.control.capacity import CapacityService
from lambox.control.code_signing import UNSIGNED, Checked, CodeSigningService
from lambox.control.concurrency import ConcurrencyService
from lambox.control.deletion import FunctionDeletion
from lambox.control.function_settings import FunctionSettingsService
from lambox.control.functions import FunctionService
from lambox.control.versions import VersionService
from lambox.errors import ResourceNotFound
from lambox.logs import LogSink
from lambox.model import FunctionConfig, State
from lambox.store.code import CodeStore

CREATE_LIMIT = 70_167_211
UPDATE_CODE_LIMIT = 70_167_211
MAX_CODE_SIZE_UNZIPPED = 262_144_000
MAX_CODE_SIZE_ZIPPED = 52_428_800
TOTAL_CODE_SIZE = 80_530_636_800

S3Code = Callable[[str, str, str | None], Awaitable[tuple[bytes, Checked]]]
"""The body of an S3 object (bucket, key, version) in lambox's S3, with what its signature
says about it (InvalidParameterValueException when the object is missing)."""


class ManagementApi:
    """Handlers for function CRUD, account settings, tags, code download and logs."""

    def __init__(
        self,
        functions: FunctionService,
        versions: VersionService,
        concurrency: ConcurrencyService,
        code: CodeStore,
        logs: LogSink,
        arns: Arns,
        base_url: str,
        settings: FunctionSettingsService,
        sign_url: Callable[[str], str] | None = None,
        *,
        deletion: FunctionDeletion,
        code_signing: CodeSigningService,
        layer_storage: Callable[[], int] = lambda: 0,
        capacity: CapacityService | None = None,
        s3_code: S3Code | None = None,
    ) -> None:
        self._functions = functions
        # DeleteFunction, the same operation a stack's delete calls.
        self._deletion = deletion
        # Code given as S3Bucket/S3Key, read from lambox's S3 with its signature checked.
        self._s3_code = s3_code
        # Capacity providers functions attach to with CapacityProviderConfig.
        self._capacity = capacity
        # Bytes of layer code stored, counted in AccountUsage.TotalCodeSize.
        self._layer_storage = layer_storage
        self._settings = settings
        self._code_signing = code_signing
        # Makes Code.Location downloadable without credentials (strict posture: presigned).
        self._sign_url = sign_url
        self._versions = versions
        self._code = code
        self._logs = logs
        self._arns = arns
        self._base_url = base_url
        self._concurrency = concurrency

    async def create_function(self, request: Request) -> Response:
        params = await json_body(request, CREATE_LIMIT, "CreateFunction")
        code, checked = await self._package(params.get("Code") or {})
        if code is not None:
            params = {**params, "Code": code}
        signing = self._code_signing.config_for_create(params, checked)
        attachment = (
            self._capacity.config_for("CreateFunction", str(params.get("FunctionName")), params)
            if self._capacity
            else None
        )
        config = await self._functions.create(params)
        if signing is not None:
            self._code_signing.bind(config.name, signing)
        if attachment is not None and self._capacity is not None:
            self._capacity.attach(config.name, attachment)
        view = self._with_capacity(views.configuration(config, self._arns), config.name)
        if params.get("Publish") is True:
            # AWS answers with $LATEST's configuration (Pending, unqualified ARN) carrying
            # the number of the version it published (recorded: publish_version_on_create).
            view["Version"] = self._versions.release(config, config.description).version
        return json_response(view, status=201)

    async def _package(self, code: Mapping[str, Any]) -> tuple[dict[str, Any] | None, Checked]:
        """Code given by S3 location as ZipFile bytes, with its signature's check; inline
        code (ZipFile) is unsigned, as on AWS, where signed code comes from S3."""
        if "ZipFile" in code or "S3Bucket" not in code or self._s3_code is None:
            return None, UNSIGNED
        version = code.get("S3ObjectVersion")
        data, checked = await self._s3_code(
            str(code["S3Bucket"]), str(code.get("S3Key", "")), str(version) if version else None
        )
        return {"ZipFile": data}, checked

    async def list_functions(self, request: Request) -> Response:
        q = request.query_params
        every_version = q.get("FunctionVersion")
        shapes.validate(
            "ListFunctions",
            {k: q[k] for k in ("MasterRegion", "FunctionVersion", "MaxItems") if k in q},
        )
        page, marker = self._functions.list_page(q.get("Marker"), max_items(q))
        configs = page
        if every_version:
            configs = [v for c in page for v in self._versions.list(c.name, None, 10_000)[0]]
        body: dict[str, Any] = {
            "Functions": [views.configuration(c, self._arns, listing=True) for c in configs]
        }
        if marker:
            body["NextMarker"] = marker
        return json_response(body)

    def _address(self, request: Request, operation: str) -> tuple[str, str | None]:
        """(name, qualifier) of the FunctionName path and Qualifier query, checked against the
        operation's model first: AWS validates before it looks anything up, so a malformed
        name or qualifier is a ValidationException, never a 404."""
        function_name = path_name(request)
        qualifier = request.query_params.get("Qualifier")
        shapes.validate(operation, {"FunctionName": function_name, "Qualifier": qualifier})
        return self._arns.parse(function_name, qualifier)

    async def get_function(self, request: Request) -> Response:
        name, qualifier = self._address(request, "GetFunction")
        config = self._functions.get(name, qualifier)
        reserved = self._concurrency.get_reserved(name)
        pinned = self._settings.pinned_runtime_version(config)
        whole = views.function(
            config, self._arns, self._base_url, qualifier, reserved, self._sign_url, pinned
        )
        self._with_capacity(whole["Configuration"], config.name)
        return json_response(whole)

    async def get_configuration(self, request: Request) -> Response:
        name, qualifier = self._address(request, "GetFunctionConfiguration")
        config = self._functions.get(name, qualifier)
        pinned = self._settings.pinned_runtime_version(config)
        view = views.configuration(config, self._arns, qualifier, runtime_version=pinned)
        return json_response(self._with_capacity(view, config.name))

    async def update_code(self, request: Request) -> Response:
        params = await json_body(request, UPDATE_CODE_LIMIT, "UpdateFunctionCode")
        code, checked = await self._package(params)
        if code is not None:
            params = {**params, **code}
        self._code_signing.check_update(path_name(request), checked)
        config = await self._functions.update_code(path_name(request), params)
        if params.get("Publish") is True:
            # AWS answers with the new version's configuration, still Pending while its
            # code is prepared (recorded: publish_with_update).
            version = self._versions.release(config, "")
            config = replace(version, state=State.PENDING)
        return json_response(views.configuration(config, self._arns))

    async def update_configuration(self, request: Request) -> Response:
        params = await json_body(request, 1 << 20, "UpdateFunctionConfiguration")
        name = path_name(request)
        attachment = (
            self._capacity.config_for("UpdateFunctionConfiguration", name, params)
            if self._capacity
            else None
        )
        config = await self._functions.update_configuration(name, params)
        if attachment is not None and self._capacity is not None:
            self._capacity.attach(config.name, attachment)
        view = views.configuration(config, self._arns)
        return json_response(self._with_capacity(view, config.name))

    def _with_capacity(self, view: dict[str, Any], name: str) -> dict[str, Any]:
        """A configuration view with the function's CapacityProviderConfig, if it has one."""
        attached = self._capacity.attached(name) if self._capacity else None
        if attached is not None:
            view["CapacityProviderConfig"] = attached
        return view

    async def delete_function(self, request: Request) -> Response:
        self._deletion.delete(path_name(request), request.query_params.get("Qualifier"))
        return Response(status_code=204)

    async def account_settings(self, request: Request) -> Response:
        functions, _ = self._functions.list_page(None, 1 << 30)
        unreserved = self._concurrency.unreserved()
        return json_response(
            {
                "AccountLimit": {
                    "TotalCodeSize": TOTAL_CODE_SIZE,
                    "CodeSizeUnzipped": MAX_CODE_SIZE_UNZIPPED,
                    "CodeSizeZipped": MAX_CODE_SIZE_ZIPPED,
                    "ConcurrentExecutions": self._concurrency.account_limit,
                    "UnreservedConcurrentExecutions": unreserved,
                },
                "AccountUsage": {
                    "TotalCodeSize": self._code_storage(functions) + self._layer_storage(),
                    "FunctionCount": len(functions),
                },
            }
        )

    def _code_storage(self, functions: list[FunctionConfig]) -> int:
        """Bytes of code the account stores: every version of every function counts, as on
        AWS (recorded: publishing a version after a configuration update adds its code
        size again; a configuration update adds nothing)."""
        total = 0
        for config in functions:
            try:
                versions, _ = self._versions.list(config.name, None, 1 << 30)
            except ResourceNotFound:  # deleted since it was listed
                continue
            total += sum(v.code_size for v in versions)
        return total

    async def list_tags(self, request: Request) -> Response:
        tags = self._functions.tags(unquote(request.path_params["arn"]))
        return json_response({"Tags": dict(tags)})

    async def tag_resource(self, request: Request) -> Response:
        params = await json_body(request, 1 << 20, "TagResource")
        self._functions.tag(unquote(request.path_params["arn"]), params.get("Tags"))
        return Response(status_code=204)

    async def untag_resource(self, request: Request) -> Response:
        keys = request.query_params.getlist("tagKeys")
        self._functions.untag(unquote(request.path_params["arn"]), keys)
        return Response(status_code=204)

    async def download_code(self, request: Request) -> Response:
        key = request.path_params["key"]
        if not all(c in "0123456789abcdef" for c in key) or len(key) != 64:
            raise ResourceNotFound("The resource you requested does not exist.")
        return FileResponse(self._code.open_zip(key), media_type="application/zip")

    async def read_logs(self, request: Request) -> Response:
        name = self._functions.get(path_name(request)).name
        offset = count(request.query_params, "offset", 0)
        data, next_offset = self._logs.read(name, offset)
        return Response(
            data, media_type="text/plain", headers={"x-lambox-next-offset": str(next_offset)}
        )

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    def routes(self) -> list[BaseRoute]:
        fn = "/2015-03-31/functions"
        return [
            Route(f"{fn}", self.create_function, methods=["POST"]),
            Route(f"{fn}/", self.list_functions, methods=["GET"]),
            Route(f"{fn}", self.list_functions, methods=["GET"]),
            Route(function_path(f"{fn}/{{name}}"), self.get_function, methods=["GET"]),
            Route(function_path(f"{fn}/{{name}}"), self.delete_function, methods=["DELETE"]),
            Route(
                function_path(f"{fn}/{{name}}/configuration"),
                self.get_configuration,
                methods=["GET"],
            ),
            Route(
                function_path(f"{fn}/{{name}}/configuration"),
                self.update_configuration,
                methods=["PUT"],
            ),
            Route(function_path(f"{fn}/{{name}}/code"), self.update_code, methods=["PUT"]),
            Route("/2016-08-19/account-settings/", self.account_settings, methods=["GET"]),
            Route("/2016-08-19/account-settings", self.account_settings, methods=["GET"]),
            Route("/2017-03-31/tags/{arn:path}", self.list_tags, methods=["GET"]),
            Route("/2017-03-31/tags/{arn:path}", self.tag_resource, methods=["POST"]),
            Route("/2017-03-31/tags/{arn:path}", self.untag_resource, methods=["DELETE"]),
            Route("/lambox/v1/code/{key}.zip", self.download_code, methods=["GET"]),
            Route(function_path("/lambox/v1/logs/{name}"), self.read_logs, methods=["GET"]),
            Route("/lambox/v1/health", self.health, methods=["GET"]),
        ]
