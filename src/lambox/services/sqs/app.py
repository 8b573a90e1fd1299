"""SQS on the edge: the json protocol (boto3: ``X-Amz-Target: AmazonSQS.<Op>``) and the
query protocol (the AWS CLI v2's older botocore: a form with ``Action=<Op>``), each parsed
by the protocol layer into one ``SqsService`` call.

The query protocol's member names (``MessageAttribute.1.Name``, ``Attribute.1.Value``) come
from the query-era model of SQS that such clients carry (``query-model.json``: botocore's
``sqs/2012-11-05/service-2.json`` from before SQS moved to json, documentation stripped);
operations newer than it are read with the json model's names.
"""

from __future__ import annotations

import json
import logging
import random
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from starlette.types import Receive, Scope, Send

from lambox import lineage
from lambox.edge import awsjson, query
from lambox.edge.authorize import Authorizer
from lambox.edge.models import service_model
from lambox.errors import LamboxError, ServiceFault
from lambox.services.sqs.actions import action_of
from lambox.services.sqs.calls import Call
from lambox.services.sqs.errors import json_type
from lambox.services.sqs.service import SqsService

log = logging.getLogger(__name__)

NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"
BODY_LIMIT = 4 << 20
_ACCESS_KEY = re.compile(rb"Credential=([A-Za-z0-9]+)/")


@cache
def query_model() -> Any:
    from botocore.model import ServiceModel

    document = json.loads((Path(__file__).parent / "query-model.json").read_text())
    return ServiceModel(document, "sqs")


def _internal() -> ServiceFault:
    return ServiceFault("InternalError", "The request processing has failed.", 500)


class SqsApp:
    """ASGI app for every SQS request the edge routes here."""

    def __init__(
        self,
        service: SqsService,
        account: str,
        authorizer: Authorizer | None = None,
        region: str = "us-east-1",
    ) -> None:
        self._service = service
        self._account = account
        self._authorizer = authorizer
        self._region = region
        self._json = service_model("sqs")
        self._query = query_model()
        # botocore builds ``operation_names`` anew on each access: looked up once here.
        self._json_ops = frozenset(self._json.operation_names)
        self._query_ops = frozenset(self._query.operation_names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = f"{random.getrandbits(128):032x}"
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        target = headers.get("x-amz-target", b"").decode("latin-1")
        protocol = "json" if target else "query"
        try:
            body = await _read(receive)
            if protocol == "json":
                operation = awsjson.operation_of(target, "AmazonSQS")
                if operation is None or operation not in self._json_ops:
                    raise ServiceFault("InvalidAction", f"Unknown operation {target}", 400)
                op = self._json.operation_model(operation)
                params = awsjson.parse_body(op.input_shape, body)
            else:
                form = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                form.update(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
                operation = (form.get("Action") or [""])[0]
                if operation in self._query_ops:
                    op = self._query.operation_model(operation)
                elif operation in self._json_ops:
                    op = self._json.operation_model(operation)
                else:
                    raise ServiceFault(
                        "InvalidAction",
                        f"The action {operation} is not valid for this endpoint.",
                        400,
                    )
                params = query.parse(op.input_shape, form)
            path = scope["path"].strip("/").split("/")
            if "QueueUrl" not in params and len(path) == 2 and path[0] == self._account:
                params["QueueUrl"] = "/".join(path)
            trace = headers.get(lineage.HEADER)
            if trace and operation in ("SendMessage", "SendMessageBatch"):
                params = traced_message(params, unquote(trace.decode("latin-1")))
            self._authorize(scope, operation, params)
            handler = self._service.operations.get(operation)
            if handler is None:
                raise ServiceFault(
                    "UnsupportedOperation", f"lambox does not serve {operation} yet.", 400
                )
            output = await handler(Call(params, _endpoint(scope, headers), self._sender(headers)))
        except ServiceFault as fault:
            await _fault(send, fault, rid, protocol)
            return
        except LamboxError as exc:
            log.warning("sqs request failed: %s", exc)
            await _fault(send, _internal(), rid, protocol)
            return
        except Exception:
            log.exception("sqs request failed")
            await _fault(send, _internal(), rid, protocol)
            return
        if protocol == "json":
            out_headers, payload = awsjson.response(op.output_shape, output, "1.0")
        else:
            out_headers, payload = (
                [("Content-Type", "text/xml")],
                query.response(op, output, rid, NAMESPACE),
            )
        await _send(send, 200, [*out_headers, ("x-amzn-RequestId", rid)], payload)

    def _authorize(self, scope: Scope, operation: str, params: dict[str, Any]) -> None:
        if self._authorizer is None:
            return
        action, resource = action_of(operation, params, self._region, self._account)
        denial = self._authorizer.denial_in(scope, action, resource)
        if denial is not None:
            raise ServiceFault("AccessDenied", denial, 403)

    def _sender(self, headers: dict[str, bytes]) -> str:
        found = _ACCESS_KEY.search(headers.get("authorization", b""))
        return found.group(1).decode() if found else self._account


def traced_message(params: dict[str, Any], trace: str | None) -> dict[str, Any]:
    """A send whose messages carry the caller's trace header as their ``AWSTraceHeader``
    (unless a message names its own), as SQS keeps the header of a send from a function:
    the consumer's invocation continues the chain (recursive loop detection)."""
    if not trace:
        return params
    header = {"DataType": "String", "StringValue": trace}

    def with_trace(entry: Any) -> Any:
        if not isinstance(entry, dict):
            return entry
        system = dict(entry.get("MessageSystemAttributes") or {})
        system.setdefault("AWSTraceHeader", header)
        return {**entry, "MessageSystemAttributes": system}

    if isinstance(params.get("Entries"), list):
        return {**params, "Entries": [with_trace(e) for e in params["Entries"]]}
    return dict(with_trace(params))


def _endpoint(scope: Scope, headers: dict[str, bytes]) -> str:
    host = headers.get("host", b"").decode("latin-1")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


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
            raise ServiceFault(
                "AWS.SimpleQueueService.BatchRequestTooLong", "The request is too long.", 400
            )
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def _fault(send: Send, fault: ServiceFault, rid: str, protocol: str) -> None:
    side = "Sender" if fault.status < 500 else "Receiver"
    if protocol == "json":
        typed = ServiceFault(json_type(fault.aws_type), fault.message, fault.status)
        headers, body = awsjson.error(typed, "1.0")
        headers.append(("x-amzn-query-error", f"{fault.aws_type};{side}"))
    else:
        headers = [("Content-Type", "text/xml")]
        body = query.error(fault, rid, NAMESPACE)
    await _send(send, fault.status, [*headers, ("x-amzn-RequestId", rid)], body)


async def _send(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(k.lower().encode(), v.encode("latin-1", "replace")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
