"""S3 on the edge: an ASGI app that parses a request with the rest-xml protocol layer, makes
one ``S3Service`` call, and writes the answer (XML, headers, or a streamed body)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from lambox.edge import rest, restxml, uri
from lambox.edge.models import service_model
from lambox.errors import LamboxError, ServiceFault
from lambox.services.s3.calls import Call, Result
from lambox.services.s3.errors import not_implemented
from lambox.services.s3.service import S3Service

log = logging.getLogger(__name__)

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_LIMIT = 1 << 20
CHUNK = 1 << 20
# The root element S3 gives each XML response (the model names only payload members).
ROOTS = {
    "ListBuckets": "ListAllMyBucketsResult",
    "ListObjectsV2": "ListBucketResult",
    "ListObjects": "ListBucketResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketNotificationConfiguration": "NotificationConfiguration",
    "GetObjectTagging": "Tagging",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "ListParts": "ListPartsResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
}


def _request_id() -> str:
    return secrets.token_hex(8).upper()


class S3App:
    """ASGI app for S3 requests (path-style, or virtual-hosted with ``scope["s3.bucket"]``)."""

    def __init__(self, service: S3Service, region: str = "us-east-1") -> None:
        self._service = service
        self._model = service_model("s3")
        self._routes = uri.routes(self._model)
        self._region = region

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = _request_id()
        head = scope["method"] == "HEAD"
        try:
            operation, call = await self._parse(scope, receive, rid)
            handler = self._service.operations.get(operation)
            if handler is None:
                raise not_implemented(operation)
            result = await handler(call)
            await self._answer(send, operation, result, rid, head)
        except LamboxError as exc:
            fault = (
                exc
                if isinstance(exc, ServiceFault)
                else ServiceFault(
                    "InternalError", "We encountered an internal error. Please try again.", 500
                )
            )
            if not isinstance(exc, ServiceFault):
                log.warning("s3 request failed: %s", exc)
            await _send_error(send, fault, rid, head)
        except Exception:
            log.exception("s3 request failed")
            fault = ServiceFault(
                "InternalError", "We encountered an internal error. Please try again.", 500
            )
            await _send_error(send, fault, rid, head)

    async def _parse(self, scope: Scope, receive: Receive, rid: str) -> tuple[str, Call]:
        raw = scope.get("raw_path") or scope["path"].encode()
        path = raw.decode("latin-1").split("?", 1)[0]
        bucket = scope.get("s3.bucket")
        if bucket:
            path = f"/{bucket}{path}" if path != "/" else f"/{bucket}"
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        found = uri.match(self._routes, scope["method"], path, query, headers)
        if found is None:
            raise ServiceFault(
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                405,
                Method=scope["method"],
                ResourceType="OBJECT" if path.count("/") > 1 else "BUCKET",
            )
        operation, labels = found
        op = self._model.operation_model(operation)
        params = rest.parse_input(op, labels, query, headers)
        body: AsyncIterator[bytes] = _chunks(receive)
        payload = rest.payload_member(op.input_shape)
        if payload is not None:
            name, member = payload
            if member.type_name == "structure":
                data = await _read(receive, XML_LIMIT)
                params[name] = restxml.parse_document(member, data)
        if headers.get("content-encoding", "").startswith("aws-chunked") or headers.get(
            "x-amz-content-sha256", ""
        ).startswith("STREAMING-"):
            body = _aws_chunked(body)
        client = scope.get("client") or ("127.0.0.1", 0)
        return operation, Call(params, body, rid, str(client[0]), self._region)

    async def _answer(
        self, send: Send, operation: str, result: Result, rid: str, head: bool
    ) -> None:
        op = self._model.operation_model(operation)
        shape = op.output_shape
        headers = [("x-amz-request-id", rid), ("x-amz-id-2", rid)]
        headers += rest.output_headers(shape, result.output)
        body = b""
        payload = rest.payload_member(shape)
        if result.stream is not None:
            pass
        elif operation == "GetBucketLocation":
            body = (
                restxml.XML_DECLARATION
                + (
                    f'<LocationConstraint xmlns="{NAMESPACE}">'
                    f"{result.output.get('LocationConstraint', '')}</LocationConstraint>"
                ).encode()
            )
        elif payload is not None and payload[1].type_name == "structure":
            name, member = payload
            if result.output.get(name) is not None:
                body = restxml.document(member, result.output[name], name, NAMESPACE)
        elif shape is not None and operation in ROOTS and result.status is None:
            body = restxml.document(shape, result.output, ROOTS[operation], NAMESPACE)
        status = result.status or 200
        if body:
            headers.append(("Content-Type", "application/xml"))
        if result.stream is None and not any(k.lower() == "content-length" for k, _ in headers):
            headers.append(("Content-Length", str(len(body))))
        start = {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.lower().encode(), v.encode("latin-1", "replace")) for k, v in headers],
        }
        if result.stream is None or head or status == 304:
            await send(start)
            await send({"type": "http.response.body", "body": b"" if head else body})
            return
        obj, first, end = result.stream
        try:
            f = open(obj.path, "rb")  # noqa: SIM115 - closed below, after the last chunk
        except FileNotFoundError as exc:
            raise ServiceFault(
                "NoSuchKey", "The specified key does not exist.", 404, Key=obj.key
            ) from exc
        with f:
            await send(start)
            f.seek(first)
            left = end - first
            while left > 0:
                chunk = f.read(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
            if left > 0 or end == first:
                await send({"type": "http.response.body", "body": b""})


async def _send_error(send: Send, fault: ServiceFault, rid: str, head: bool) -> None:
    body = b"" if head else restxml.error_document(fault, rid)
    headers = [
        (b"x-amz-request-id", rid.encode()),
        (b"x-amz-id-2", rid.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if body:
        headers.append((b"content-type", b"application/xml"))
    await send({"type": "http.response.start", "status": fault.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ServiceFault(
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP"
                " header",
            )
        chunk: bytes = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _read(receive: Receive, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in _chunks(receive):
        size += len(chunk)
        if size > limit:
            raise ServiceFault("MaxMessageLengthExceeded", "Your request was too big.", 400)
        parts.append(chunk)
    return b"".join(parts)


async def _aws_chunked(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The payload of ``aws-chunked`` encoding: ``hex-size[;chunk-signature=...]\\r\\n data
    \\r\\n`` ... ``0\\r\\n`` then optional trailers (checksums), which are dropped."""
    buffer = bytearray()
    it = source.__aiter__()

    async def fill(n: int) -> bool:
        while len(buffer) < n:
            try:
                buffer.extend(await it.__anext__())
            except StopAsyncIteration:
                return False
        return True

    while True:
        while b"\r\n" not in buffer:
            if not await fill(len(buffer) + 1):
                raise _bad_chunk()
        line = bytes(buffer[: buffer.index(b"\r\n")])
        del buffer[: len(line) + 2]
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise _bad_chunk() from exc
        if size == 0:
            return
        if not await fill(size + 2):
            raise _bad_chunk()
        yield bytes(buffer[:size])
        del buffer[: size + 2]


def _bad_chunk() -> ServiceFault:
    return ServiceFault("IncompleteBody", "The request body terminated unexpectedly")
