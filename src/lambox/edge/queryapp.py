"""An ASGI app for a query-protocol service (IAM, STS): parse the form with the protocol
layer, make one handler call, answer ``<Op>Response`` or ``<ErrorResponse>``.

A handler gets a ``QueryCall`` (who asks, the typed input, where from) and returns the
output members; it raises ``ServiceFault`` for the service's errors.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from lambox.edge import query
from lambox.edge.authorize import Authorizer
from lambox.edge.identity import Principal, root_principal
from lambox.edge.models import service_model
from lambox.errors import LamboxError, ServiceFault

log = logging.getLogger(__name__)
FORM_LIMIT = 1 << 20


@dataclass(frozen=True, slots=True)
class QueryCall:
    """One operation's call: the caller, its input members, and the caller's address."""

    principal: Principal
    params: dict[str, Any]
    source_ip: str
    request_id: str


Handler = Callable[[QueryCall], dict[str, Any]]
Resource = Callable[[str, dict[str, Any]], str]
"""The resource ARN an operation acts on, from its input (for authorization)."""
# Operations AWS lets every authenticated caller make.
UNAUTHORIZED = frozenset({"GetCallerIdentity"})


class QueryApp:
    """ASGI app of one query-protocol service; ``handlers`` maps operation names."""

    def __init__(
        self,
        service: str,
        handlers: Mapping[str, Handler],
        account: str,
        authorizer: Authorizer | None = None,
        resource: Resource | None = None,
    ) -> None:
        self._service = service
        self._authorizer = authorizer
        self._resource = resource or (lambda operation, params: "*")
        self._model = service_model(service)
        self._namespace = str(self._model.metadata.get("xmlNamespace", ""))
        self._handlers = dict(handlers)
        self._anonymous = root_principal(account)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = secrets.token_hex(16)
        try:
            body = await _read(receive)
            form = parse_qs(scope.get("query_string", b"").decode("latin-1"), True)
            if body:
                form.update(parse_qs(body.decode("utf-8", "replace"), True))
            action = form.get("Action", [""])[0]
            handler = self._handlers.get(action)
            if handler is None or action not in self._model.operation_names:
                raise ServiceFault(
                    "InvalidAction",
                    f"Could not find operation {action} for version {self._model.api_version}",
                    400,
                )
            op = self._model.operation_model(action)
            params = query.parse(op.input_shape, form)
            client = scope.get("client") or ("127.0.0.1", 0)
            principal = scope.get("lambox.principal") or self._anonymous
            if self._authorizer is not None and action not in UNAUTHORIZED:
                denial = self._authorizer.denial(
                    principal,
                    f"{self._service}:{action}",
                    self._resource(action, params),
                    str(client[0]),
                )
                if denial is not None:
                    raise ServiceFault("AccessDenied", denial, 403)
            output = handler(QueryCall(principal, params, str(client[0]), rid))
            status, body = 200, query.response(op, output, rid, self._namespace)
        except LamboxError as exc:
            fault = exc if isinstance(exc, ServiceFault) else _internal()
            if not isinstance(exc, ServiceFault):
                log.warning("query request failed: %s", exc)
            status, body = fault.status, query.error(fault, rid, self._namespace)
        except Exception:
            log.exception("query request failed")
            fault = _internal()
            status, body = fault.status, query.error(fault, rid, self._namespace)
        headers = [
            (b"content-type", b"text/xml"),
            (b"x-amzn-requestid", rid.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _internal() -> ServiceFault:
    return ServiceFault("ServiceFailure", "An internal error occurred.", 500)


async def _read(receive: Receive) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > FORM_LIMIT:
            raise ServiceFault("RequestEntityTooLarge", "Request is too large", 413)
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)
