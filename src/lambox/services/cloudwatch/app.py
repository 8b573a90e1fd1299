"""CloudWatch on the edge, in each protocol its clients speak: the json protocol (boto3
1.44: ``X-Amz-Target: GraniteServiceVersion20100801.<Op>``), rpc-v2-cbor (clients that
prefer it: ``POST /service/GraniteServiceVersion20100801/operation/<Op>``) and the query
protocol (the AWS CLI v2.9's older model: a form with ``Action=<Op>``). Each is parsed by the
protocol layer into one handler call of ``CloudWatchService``.

CloudWatch's model is ``awsQueryCompatible``: a cbor or json error names its shape
(``com.amazonaws.cloudwatch.v2010_08_01#InvalidParameterValueException``) and says the
query code in ``x-amzn-query-error``, which is what botocore shows as the error code.
"""

from __future__ import annotations

import json
import logging
import secrets
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from lambox.edge import awsjson, query, rpcv2
from lambox.edge.authorize import Authorizer
from lambox.edge.models import service_model
from lambox.errors import LamboxError, ServiceFault
from lambox.services.cloudwatch.service import Handler

log = logging.getLogger(__name__)

BODY_LIMIT = 1 << 20
SHAPE_PREFIX = "com.amazonaws.cloudwatch.v2010_08_01#"


class CloudWatchApp:
    """ASGI app for every CloudWatch request the edge routes here."""

    def __init__(self, operations: Mapping[str, Handler], authorizer: Authorizer | None) -> None:
        self._operations = dict(operations)
        self._authorizer = authorizer
        self._model = service_model("cloudwatch")
        self._prefix = str(self._model.metadata["targetPrefix"])
        self._known = frozenset(self._model.operation_names)
        self._namespace = str(self._model.metadata["xmlNamespace"])
        # Query code -> error shape name (``InvalidParameterValue`` ->
        # ``InvalidParameterValueException``), from the model's error shapes.
        self._shapes: dict[str, str] = {}
        for name in self._model.shape_names:
            error = self._model.shape_for(name).metadata.get("error")
            if error and error.get("code"):
                self._shapes.setdefault(error["code"], name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = secrets.token_hex(16)
        target = ""
        gzipped = False
        for key, value in scope["headers"]:
            if key == b"x-amz-target":
                target = value.decode("latin-1")
            elif key == b"content-encoding":
                gzipped = b"gzip" in value.lower()
        path = scope["path"]
        protocol = "cbor" if path.startswith("/service/") else "json" if target else "query"
        try:
            body = await _read(receive)
            if gzipped:  # botocore compresses PutMetricData bodies of 10 KB or more
                body = _gunzip(body)
            if protocol == "cbor":
                name = rpcv2.operation_of(path, self._prefix)
            elif protocol == "json":
                name = awsjson.operation_of(target, self._prefix)
            else:
                form = parse_qs(scope.get("query_string", b"").decode("latin-1"), True)
                if body:
                    form.update(parse_qs(body.decode("utf-8", "replace"), True))
                name = form.get("Action", [""])[0]
            handler = self._operations.get(name or "")
            if name is None or handler is None:
                if name in self._known:
                    message = f"lambox does not serve the CloudWatch operation {name} yet."
                else:
                    message = f"Could not find operation {name or target or path}"
                raise ServiceFault("InvalidAction", message, 400)
            op = self._model.operation_model(name)
            if protocol == "cbor":
                params = rpcv2.parse_body(op.input_shape, body)
            elif protocol == "json":
                params = awsjson.parse_body(op.input_shape, body)
            else:
                params = query.parse(op.input_shape, form)
            if self._authorizer is not None:
                denial = self._authorizer.denial_in(scope, f"cloudwatch:{name}", "*")
                if denial is not None:
                    raise ServiceFault("AccessDenied", denial, 403)
            output = handler(params)
            status = 200
            if protocol == "cbor":
                headers, answer = rpcv2.response(op.output_shape, output)
            elif protocol == "json":
                headers, answer = awsjson.response(op.output_shape, output, "1.0")
            else:
                headers = [("Content-Type", "text/xml")]
                answer = query.response(op, output, rid, self._namespace)
        except LamboxError as exc:
            fault = _fault(exc)
            if fault.status >= 500:
                log.warning("cloudwatch request failed: %s", exc)
            status = fault.status
            headers, answer = self._error(protocol, fault, rid)
        except Exception:
            log.exception("cloudwatch request failed")
            fault = ServiceFault("InternalServiceError", "Internal service error.", 500)
            status = 500
            headers, answer = self._error(protocol, fault, rid)
        raw = [(k.lower().encode(), v.encode()) for k, v in headers]
        raw.append((b"x-amzn-requestid", rid.encode()))
        raw.append((b"content-length", str(len(answer)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": answer})

    def _error(
        self, protocol: str, fault: ServiceFault, rid: str
    ) -> tuple[list[tuple[str, str]], bytes]:
        if protocol == "query":
            return [("Content-Type", "text/xml")], query.error(fault, rid, self._namespace)
        type_name = SHAPE_PREFIX + self._shapes.get(fault.aws_type, fault.aws_type)
        if protocol == "cbor":
            return rpcv2.error(fault, type_name, True)
        side = "Sender" if fault.status < 500 else "Receiver"
        document: dict[str, Any] = {"__type": type_name, "message": fault.message}
        return [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-query-error", f"{fault.aws_type};{side}"),
        ], json.dumps(document).encode()


def _fault(exc: LamboxError) -> ServiceFault:
    if isinstance(exc, ServiceFault):
        return exc
    return ServiceFault(exc.aws_type, exc.message, exc.status)


def _gunzip(body: bytes) -> bytes:
    """A gzip request body, at most ``BODY_LIMIT`` bytes once inflated."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, BODY_LIMIT + 1)
    except zlib.error as exc:
        raise ServiceFault(
            "SerializationException", "The request body is not valid gzip.", 400
        ) from exc
    if len(out) > BODY_LIMIT or inflater.unconsumed_tail:
        raise ServiceFault("RequestEntityTooLarge", "Request is too large.", 413)
    return out


async def _read(receive: Receive) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > BODY_LIMIT:
            raise ServiceFault("RequestEntityTooLarge", "Request is too large.", 413)
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)
