"""Which service a request is for, and the ASGI app that hands it there.

In order: the Host header (``<bucket>.s3.<domain>`` is S3, virtual-hosted), the service
named in the SigV4 credential scope (``Credential=KEY/DATE/REGION/SERVICE/aws4_request``,
in the Authorization header or a presigned query; S3's Signature Version 2 header and
presigned URLs too), ``X-Amz-Target``, SNS's confirm and unsubscribe links (unsigned GETs
with ``Action=ConfirmSubscription`` or ``Action=Unsubscribe``), and last the path: what
names no service is the Lambda API's, as it was before the edge existed. A request for a
service lambox does not serve gets an error in that service's protocol naming it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

LAMBDA = "lambda"
_SCOPE = re.compile(rb"Credential=[^/,\s]*/\d{8}/[^/]*/([a-z0-9-]+)/aws4_request")
_QUERY_SCOPE = re.compile(
    rb"X-Amz-Credential=[^&]*?(?:%2F|/)\d{8}(?:%2F|/)[^&%/]*(?:%2F|/)([a-z0-9-]+)(?:%2F|/)aws4_request"
)
_SNS_LINK = re.compile(rb"(?:^|&)Action=(?:ConfirmSubscription|Unsubscribe)(?:&|$)")
_VIRTUAL = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.-]*[a-z0-9])\.s3[.-]")


def service_of(scope: Scope) -> tuple[str, str | None]:
    """(service, bucket of a virtual-hosted S3 request) for one HTTP request."""
    host = b""
    auth = b""
    target = b""
    for key, value in scope["headers"]:
        if key == b"host":
            host = value
        elif key == b"authorization":
            auth = value
        elif key == b"x-amz-target":
            target = value
    if host:
        name = host.decode("latin-1").lower().rsplit(":", 1)[0]
        virtual = _VIRTUAL.match(name)
        if virtual is not None:
            return "s3", virtual["bucket"]
        if name.startswith("s3.") or ".s3." in name:
            return "s3", None
    m = _SCOPE.search(auth) if auth else None
    query = scope.get("query_string") or b""
    if m is None and query:
        m = _QUERY_SCOPE.search(query)
    if m is not None:
        return m.group(1).decode(), None
    # Signature Version 2 survives only in S3: "AWS KEY:SIGNATURE", or a presigned URL.
    if auth.startswith(b"AWS ") or (b"AWSAccessKeyId=" in query and b"Signature=" in query):
        return "s3", None
    if target:
        return target.decode("latin-1").split(".", 1)[0], None
    # The links SNS puts in its messages (SubscribeURL, UnsubscribeURL) are plain GETs.
    if query and _SNS_LINK.search(query):
        return "sns", None
    return LAMBDA, None


class Edge:
    """ASGI: every request to the app of its service; Lambda's app also gets the lifespan."""

    def __init__(self, lambda_app: ASGIApp, services: Mapping[str, ASGIApp]) -> None:
        self._lambda = lambda_app
        self._services = dict(services)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._lambda(scope, receive, send)
            return
        service, bucket = service_of(scope)
        if service == LAMBDA:
            await self._lambda(scope, receive, send)
            return
        app = self._services.get(service)
        if app is None:
            await _unknown_service(send, service)
            return
        if bucket is not None:
            scope = {**scope, "s3.bucket": bucket}
        await app(scope, receive, send)


async def _unknown_service(send: Send, service: str) -> None:
    message = f"lambox does not serve the '{service}' service on this endpoint"
    body = json.dumps({"__type": "UnknownServiceException", "message": message}).encode()
    headers = [
        (b"content-type", b"application/x-amz-json-1.1"),
        (b"x-amzn-errortype", b"UnknownServiceException"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})
