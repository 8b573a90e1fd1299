"""SNS on the edge: the query protocol (boto3 and the AWS CLI alike), parsed by the protocol
layer into one ``SnsService`` call."""

from __future__ import annotations

import logging
import secrets
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from lambox.edge import query
from lambox.edge.authorize import Authorizer
from lambox.edge.models import service_model
from lambox.errors import LamboxError, ServiceFault
from lambox.services.sns.service import SnsService

log = logging.getLogger(__name__)

NAMESPACE = "http://sns.amazonaws.com/doc/2010-03-31/"
BODY_LIMIT = 2 << 20


class SnsApp:
    """ASGI app for every SNS request the edge routes here."""

    def __init__(self, service: SnsService, authorizer: Authorizer | None = None) -> None:
        self._service = service
        self._authorizer = authorizer
        self._model = service_model("sns")
        self._operations = frozenset(self._model.operation_names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = secrets.token_hex(16)
        try:
            body = await _read(receive)
            form = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            form.update(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
            operation = (form.get("Action") or [""])[0]
            handler = self._service.operations.get(operation)
            if handler is None or operation not in self._operations:
                raise ServiceFault(
                    "InvalidAction", f"The action {operation} is not valid for this endpoint.", 400
                )
            op = self._model.operation_model(operation)
            params = query.parse(op.input_shape, form)
            principal = scope.get("lambox.principal")
            anonymous = principal is not None and principal.kind == "anonymous"
            if anonymous and operation not in LINK_ACTIONS:
                raise ServiceFault(
                    "MissingAuthenticationToken", "Request is missing Authentication Token", 403
                )
            if self._authorizer is not None and not anonymous:
                action = f"sns:{operation}"
                resource = self._service.resource(operation, params)
                denial = self._authorizer.denial_in(scope, action, resource)
                if denial is not None:
                    raise ServiceFault("AuthorizationError", denial, 403)
            output = await handler(params)
            payload = query.response(op, output, rid, NAMESPACE)
            status = 200
        except ServiceFault as fault:
            payload, status = query.error(fault, rid, NAMESPACE), fault.status
        except LamboxError as exc:
            log.warning("sns request failed: %s", exc)
            payload, status = query.error(_internal(), rid, NAMESPACE), 500
        except Exception:
            log.exception("sns request failed")
            payload, status = query.error(_internal(), rid, NAMESPACE), 500
        headers = [
            (b"content-type", b"text/xml"),
            (b"x-amzn-requestid", rid.encode()),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


LINK_ACTIONS = frozenset({"ConfirmSubscription", "Unsubscribe"})
"""What SNS's links in its messages do, unsigned: the token, or the subscription's ARN,
proves the caller (``edge.public``)."""


def _internal() -> ServiceFault:
    return ServiceFault("InternalError", "The request processing has failed.", 500)


async def _read(receive: Receive) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ServiceFault("IncompleteBody", "The request body terminated unexpectedly")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > BODY_LIMIT:
            raise ServiceFault("InvalidParameter", "Invalid parameter: Request too long", 400)
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)
