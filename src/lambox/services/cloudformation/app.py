"""CloudFormation on the edge: the query protocol (a form of ``Action=...`` and flattened
members in, XML out) through the edge's protocol layer and botocore's model."""

from __future__ import annotations

import logging
import secrets
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from lambox.edge import query
from lambox.edge.models import service_model
from lambox.errors import LamboxError, ServiceFault
from lambox.services.cloudformation.service import CloudFormationService

log = logging.getLogger(__name__)

NAMESPACE = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
BODY_LIMIT = 2 << 20  # CreateStack's TemplateBody may be 51,200 bytes; forms are larger


def _request_id() -> str:
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


class CloudFormationApp:
    def __init__(self, service: CloudFormationService) -> None:
        self._service = service
        self._model = service_model("cloudformation")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = _request_id()
        try:
            form = parse_qs((await _body(receive)).decode(), keep_blank_values=True)
            if scope.get("query_string"):
                form = {**parse_qs(scope["query_string"].decode(), keep_blank_values=True), **form}
            action = (form.get("Action") or [""])[0]
            handler = self._service.operations.get(action)
            if handler is None:
                raise ServiceFault(
                    "InvalidAction",
                    f"lambox does not serve CloudFormation's {action or 'that'} action",
                    400,
                )
            op = self._model.operation_model(action)
            output = await handler(query.parse(op.input_shape, form))
            await _send(send, 200, query.response(op, output, rid, NAMESPACE))
        except LamboxError as exc:
            fault = (
                exc
                if isinstance(exc, ServiceFault)
                else ServiceFault("InternalFailure", exc.message, 500)
            )
            await _send(send, fault.status, query.error(fault, rid, NAMESPACE))
        except Exception as exc:
            log.exception("cloudformation request failed")
            fault = ServiceFault("InternalFailure", f"lambox failed: {exc}", 500)
            await _send(send, 500, query.error(fault, rid, NAMESPACE))


async def _body(receive: Receive) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > BODY_LIMIT:
            raise ServiceFault("ValidationError", "Request body too large", 400)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send(send: Send, status: int, body: bytes) -> None:
    headers = [
        (b"content-type", b"text/xml"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
