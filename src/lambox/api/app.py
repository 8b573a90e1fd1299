"""The ASGI application: the fast Invoke path beside the Starlette management routes."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Lifespan, Receive, Scope, Send

from lambox.api.invoke import InvokeEndpoint, is_invoke
from lambox.api.responses import error_response
from lambox.api.streaming import StreamInvokeEndpoint, is_stream_invoke
from lambox.api.unsupported import lambda_operation
from lambox.errors import LamboxError, ServiceError, UnknownOperation, UnsupportedOperation

log = logging.getLogger(__name__)


async def _lambox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LamboxError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        query = {k: request.query_params.getlist(k) for k in request.query_params}
        raw = request.scope.get("raw_path") or request.url.path.encode()
        path = raw.decode("latin-1")
        operation = lambda_operation(request.method, path, query, request.headers)
        if operation is not None:
            return error_response(UnsupportedOperation(operation))
        return error_response(UnknownOperation("Unknown operation"))
    return error_response(ServiceError(str(exc.detail)))


async def _gone(request: Request, exc: Exception) -> Response:
    """The client went away mid-request: nothing to answer, nothing for the server's log."""
    log.debug("client left during %s %s", request.method, request.url.path)
    return Response(status_code=400)  # never sent: the connection is gone


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(ServiceError("Internal error."))


class LamboxApp:
    """Dispatches Invoke and InvokeWithResponseStream to their raw handlers and everything
    else to Starlette."""

    def __init__(
        self,
        invoke: InvokeEndpoint,
        routes: list[BaseRoute],
        stream: StreamInvokeEndpoint | None = None,
    ) -> None:
        self._invoke = invoke
        self._stream = stream
        self._starlette: Starlette = Starlette(
            routes=routes,
            exception_handlers={
                LamboxError: _lambox_error,
                HTTPException: _http_error,
                ClientDisconnect: _gone,
                Exception: _unexpected,
            },
        )
        # AWS has no redirects: a path with a slash too many is an unknown route there.
        self._starlette.router.redirect_slashes = False

    def set_lifespan(self, lifespan: Lifespan[Starlette]) -> None:
        """Start-up and shutdown work of the server (set by the composition root)."""
        self._starlette.router.lifespan_context = lifespan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_invoke(scope):
            await self._invoke(scope, receive, send)
        elif self._stream is not None and scope["type"] == "http" and is_stream_invoke(scope):
            await self._stream(scope, receive, send)
        else:
            await self._starlette(scope, receive, send)
