"""InvokeAsync: the deprecated asynchronous invoke that old tools still call.

AWS answers it 202 once the event is queued, exactly like ``Invoke`` with
``InvocationType=Event``; so does lambox, through the same durable event queue (retries,
DLQ and destinations included). The body is the event itself (``InvokeArgs``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lambox.api.params import function_path, path_name
from lambox.api.responses import json_response
from lambox.control import shapes
from lambox.errors import RequestTooLarge
from lambox.invoke.ids import new_request_id
from lambox.invoke.service import ASYNC_PAYLOAD_LIMIT, InvokeService
from lambox.model import Invocation, InvocationType


class InvokeAsyncApi:
    """``POST /2014-11-13/functions/{name}/invoke-async/``."""

    def __init__(self, invoke: InvokeService) -> None:
        self._invoke = invoke

    async def invoke_async(self, request: Request) -> Response:
        name = path_name(request)
        shapes.validate_address("InvokeAsync", {"FunctionName": name})
        payload = bytearray()
        async for chunk in request.stream():
            payload += chunk
            if len(payload) > ASYNC_PAYLOAD_LIMIT:
                raise RequestTooLarge(
                    f"Request must be smaller than {ASYNC_PAYLOAD_LIMIT} bytes for the"
                    " InvokeFunction operation"
                )
        rid = new_request_id()
        event = Invocation(rid, bytes(payload), InvocationType.EVENT)
        await self._invoke.invoke(name, event)
        return json_response({"Status": 202}, status=202, rid=rid)

    def routes(self) -> list[BaseRoute]:
        path = function_path("/2014-11-13/functions/{name}/invoke-async")
        return [
            Route(path, self.invoke_async, methods=["POST"]),
            Route(f"{path}/", self.invoke_async, methods=["POST"]),
        ]
