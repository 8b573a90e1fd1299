"""Resource policies over HTTP: AddPermission, GetPolicy and RemovePermission, and the
whole-document Put/Get/DeleteResourcePolicy."""

from __future__ import annotations

import json
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lambox.api.params import json_body, path_name
from lambox.api.responses import json_response
from lambox.control.policies import PolicyService
from lambox.store.policies import ResourcePolicy

BODY_LIMIT = 1 << 20


class PolicyApi:
    """Handlers for the ``/2015-03-31/functions/{name}/policy`` operations."""

    def __init__(self, policies: PolicyService) -> None:
        self._policies = policies

    async def add(self, request: Request) -> Response:
        params = await json_body(request, BODY_LIMIT, "AddPermission")
        text = self._policies.add(path_name(request), request.query_params.get("Qualifier"), params)
        return json_response({"Statement": text}, status=201)

    async def get(self, request: Request) -> Response:
        policy = self._policies.get(path_name(request), request.query_params.get("Qualifier"))
        document = json.dumps(policy.document(), separators=(",", ":"))
        return json_response({"Policy": document, "RevisionId": policy.revision_id})

    async def remove(self, request: Request) -> Response:
        q = request.query_params
        self._policies.remove(
            path_name(request),
            unquote(request.path_params["sid"]),
            q.get("Qualifier"),
            q.get("RevisionId"),
        )
        return Response(status_code=204)

    async def put_document(self, request: Request) -> Response:
        params = await json_body(request, BODY_LIMIT, "PutResourcePolicy")
        policy = self._policies.put_document(unquote(request.path_params["arn"]), params)
        return json_response(_answer(policy))

    async def get_document(self, request: Request) -> Response:
        policy = self._policies.get_document(unquote(request.path_params["arn"]))
        return json_response(_answer(policy))

    async def delete_document(self, request: Request) -> Response:
        revision = request.query_params.get("RevisionId")
        self._policies.delete_document(unquote(request.path_params["arn"]), revision)
        return Response(status_code=204)

    def routes(self) -> list[BaseRoute]:
        path = "/2015-03-31/functions/{name}/policy"
        document = "/2026-07-09/resource-policy/{arn:path}"
        return [
            Route(document, self.put_document, methods=["PUT"]),
            Route(document, self.get_document, methods=["GET"]),
            Route(document, self.delete_document, methods=["DELETE"]),
            Route(path, self.add, methods=["POST"]),
            Route(path, self.get, methods=["GET"]),
            Route(f"{path}/{{sid}}", self.remove, methods=["DELETE"]),
        ]


def _answer(policy: ResourcePolicy) -> dict[str, str]:
    document = json.dumps(policy.document(), separators=(",", ":"))
    return {"Policy": document, "RevisionId": policy.revision_id}
