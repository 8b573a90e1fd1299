"""Which service a request is for, and the ASGI app that hands it there.

In order: the Host header (``<bucket>.s3.<domain>`` is S3, virtual-hosted;
``<url-id>.lambda-url.<region>.<domain>`` is a function URL, ``<api-id>.execute-api.<domain>``
an HTTP API), the service
named in the SigV4 credential scope (``Credential=KEY/DATE/REGION/SERVICE/aws4_request``,
in the Authorization header or a presigned query; S3's Signature Version 2 header and
presigned URLs too), ``X-Amz-Target``, SNS's confirm and unsubscribe links (unsigned GETs
with ``Action=ConfirmSubscription`` or ``Action=Unsubscribe``), and last the path: what
names no service is the Lambda API's, as it was before the edge existed. A request for a
service lambox does not serve gets an error in that service's protocol naming it.
Function URLs and API Gateway endpoints are also reached by path
(``/lambox/v1/lambda-url/<url-id>/...``, ``/lambox/v1/execute-api/<api-id>/...``), for
clients that cannot resolve ``*.localhost``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

from lambox import lineage
from lambox.edge import denials
from lambox.edge.auth import Authenticator
from lambox.edge.authorize import Authorizer
from lambox.edge.denials import Answer
from lambox.edge.identity import Principal
from lambox.edge.lambda_actions import LambdaActions
from lambox.edge.sigv4 import AuthFailure, Reason
from lambox.edge.url_auth import AUTH_FAILURE, is_signed

LAMBDA = "lambda"
_SCOPE = re.compile(rb"Credential=[^/,\s]*/\d{8}/[^/]*/([a-z0-9-]+)/aws4_request")
_QUERY_SCOPE = re.compile(
    rb"X-Amz-Credential=[^&]*?(?:%2F|/)\d{8}(?:%2F|/)[^&%/]*(?:%2F|/)([a-z0-9-]+)(?:%2F|/)aws4_request"
)
# X-Amz-Target prefixes that are not the service's signing name (for unsigned requests).
_TARGET_SERVICES = {
    "AWSEvents": "events",
    "AmazonSQS": "sqs",
    "Logs_20140328": "logs",
    "GraniteServiceVersion20100801": "monitoring",
}
_SNS_LINK = re.compile(rb"(?:^|&)Action=(?:ConfirmSubscription|Unsubscribe)(?:&|$)")
_VIRTUAL = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.-]*[a-z0-9])\.s3[.-]")
_FUNCTION_URL = re.compile(r"^(?P<id>[a-z0-9]+)\.lambda-url\.")
_EXECUTE_API = re.compile(r"^(?P<id>[a-z0-9]+)\.execute-api\.")
FUNCTION_URL = "lambda-url"
EXECUTE_API = "execute-api"
HOST_ID = "edge.host_id"
"""The scope key under which a function URL request carries its URL id."""
URL_HOST_MARK = b".lambda-url."
"""What every function URL's Host holds: the connection's cheap test, before any parsing,
of whether a request may be a function URL's (``api/connection.py``)."""
SERVICE = "edge.service"
"""The scope key under which ``Edge.claims`` leaves the service of a request it claimed."""


PATH_STYLE_PREFIX = "/lambox/v1/"
_PATH_STYLE = re.compile(
    r"^/lambox/v1/(?P<kind>execute-api|lambda-url)/(?P<id>[a-z0-9]+)(?P<rest>/.*)?$"
)
"""Function URLs and API Gateway endpoints by path, for clients whose resolver does not map
``*.localhost`` to loopback (glibc's does not; curl and browsers do)."""


def path_style(scope: Scope) -> tuple[str, str, Scope] | None:
    """(service, id, the scope as the host-style URL would have it) of a request to
    ``/lambox/v1/execute-api/<api-id>/...`` or ``/lambox/v1/lambda-url/<url-id>/...``."""
    m = _PATH_STYLE.match(scope["path"])
    if m is None:
        return None
    rest = m["rest"] or "/"
    raw = scope.get("raw_path") or scope["path"].encode()
    prefix = len(b"/lambox/v1/") + len(m["kind"]) + 1 + len(m["id"])
    raw_rest = raw.split(b"?", 1)[0][prefix:] or b"/"
    return m["kind"], m["id"], {**scope, "path": rest, "raw_path": raw_rest}


def service_of(scope: Scope) -> tuple[str, str | None]:
    """(service, the Host's first label when it names the resource: the bucket of a
    virtual-hosted S3 request, the URL id of a function URL) for one HTTP request."""
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
        by_host = _HOSTS.get(host, _UNSEEN)
        if by_host is _UNSEEN:
            by_host = _host_service(host)
        if by_host is not None:
            return by_host  # type: ignore[return-value]
    m = _SCOPE.search(auth) if auth else None
    query = scope.get("query_string") or b""
    if m is None and query:
        m = _QUERY_SCOPE.search(query)
    if m is not None:
        return m.group(1).decode(), None
    # Signature Version 2 survives only in S3: "AWS KEY:SIGNATURE", or a presigned URL.
    if auth.startswith(b"AWS ") or (
        query and b"AWSAccessKeyId=" in query and b"Signature=" in query
    ):
        return "s3", None
    if target:
        prefix = target.decode("latin-1").split(".", 1)[0]
        return _TARGET_SERVICES.get(prefix, prefix), None
    # The links SNS puts in its messages (SubscribeURL, UnsubscribeURL) are plain GETs.
    if query and _SNS_LINK.search(query):
        return "sns", None
    return LAMBDA, None


_UNSEEN = object()
_HOSTS: dict[bytes, tuple[str, str | None] | None] = {}
"""Host headers already read: the service (and resource) each names, None when it names
none. A server sees few Hosts (its own address, a few buckets and URLs): each is read
once rather than lowered and tested on every request."""
_HOSTS_KEPT = 1024


def _host_service(host: bytes) -> tuple[str, str | None] | None:
    """(service, resource) the Host header ``host`` names, if any (remembered in
    ``_HOSTS`` while it has room)."""
    found: tuple[str, str | None] | None = None
    name = host.decode("latin-1").lower().rsplit(":", 1)[0]
    # Each expression is tried only when its label is in the name: most requests name
    # an address or a bare host, and go on to the signature at once.
    if ".lambda-url." in name and (url := _FUNCTION_URL.match(name)) is not None:
        found = FUNCTION_URL, url["id"]
    elif ".execute-api." in name and (api := _EXECUTE_API.match(name)) is not None:
        found = EXECUTE_API, api["id"]
    elif ".s3" in name and (virtual := _VIRTUAL.match(name)) is not None:
        found = "s3", virtual["bucket"]
    elif name.startswith("s3.") or ".s3." in name:
        found = "s3", None
    if len(_HOSTS) >= _HOSTS_KEPT:
        _HOSTS.clear()
    _HOSTS[host] = found
    return found


PRINCIPAL = "lambox.principal"
"""The scope key under which a service finds the authenticated ``identity.Principal``."""


Answerer = Callable[[Scope, Receive], Awaitable[Answer]]
"""A handler that answers a request whole (the synchronous Invoke), instead of through
ASGI's ``send``: the connection can then write the answer itself (``api/exchange.py``)."""

DirectRoute = tuple[Callable[[Scope], bool], Answerer]
"""A route (a test of the scope, its handler) that the edge hands its requests to itself,
once they are authenticated and authorized, past the service app's own dispatch."""


class Edge:
    """ASGI: every request authenticated, then to the app of its service; Lambda's app also
    gets the lifespan. Without an authenticator every request passes unauthenticated.

    ``direct`` routes are the hot ones (the synchronous Invoke): a request one of them
    claims skips the path-style test (their paths are never ``/lambox/v1/...``) and the
    layers of the Lambda app in front of its handler (each an ASGI hop with its own test
    of the path), and nothing else: its service is still found from the Host header and
    the signature, and it is authenticated and authorized exactly as any Lambda request.

    ``hosted`` routes answer whole the requests of a service reached by its Host (a
    function URL whose answer is buffered), for the connection only (``claims``): through
    ``__call__`` those requests go to their service's app, which answers them the same."""

    def __init__(
        self,
        lambda_app: ASGIApp,
        services: Mapping[str, ASGIApp],
        authenticator: Authenticator | None = None,
        authorizer: Authorizer | None = None,
        lambda_actions: LambdaActions | None = None,
        direct: Sequence[DirectRoute] = (),
        hosted: Mapping[str, DirectRoute] | None = None,
    ) -> None:
        self._lambda = lambda_app
        self._services = dict(services)
        self._auth = authenticator
        self._authorizer = authorizer
        self._lambda_actions = lambda_actions
        self._direct = tuple(direct)
        self._hosted = dict(hosted or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._lambda(scope, receive, send)
            return
        direct: Answerer | None = None
        for claims, handler in self._direct:
            if claims(scope):
                direct = handler
                by_path = None
                break
        else:
            by_path = path_style(scope)
        bucket: str | None
        if by_path is not None:
            service, bucket, scope = by_path
        else:
            service, bucket = service_of(scope)
        if service == LAMBDA:
            app = self._lambda
        else:
            direct = None
            found = self._services.get(service)
            if found is None:
                await _unknown_service(send, service)
                return
            app = found
        if bucket is not None:
            key = "s3.bucket" if service == "s3" else HOST_ID
            scope = {**scope, key: bucket}
        if service != LAMBDA:
            _carry_lineage(scope)
        # API Gateway stages are public endpoints: their own authorizers decide.
        if self._auth is not None and service != EXECUTE_API:
            scope, receive, refusal = await self._admit(scope, receive, service)
            if refusal is not None:
                await _send(send, refusal)
                return
        if direct is not None:
            await _send(send, await direct(scope, receive))
            return
        await app(scope, receive, send)

    def claims(self, scope: Scope) -> Answerer | None:
        """The route that answers ``scope`` (a request whose head the connection has just
        parsed) whole: a direct route of Lambda's, or the hosted route of the service its
        Host names when that route takes it; else None. A claimed scope gains its service
        (``SERVICE``) and, when the Host names its resource, the resource (``HOST_ID``)."""
        service, resource = service_of(scope)
        if service == LAMBDA:
            for claims, handler in self._direct:
                if claims(scope):
                    scope[SERVICE] = LAMBDA
                    return handler
            return None
        route = self._hosted.get(service)
        # A path-style request is routed by its path, not its Host (``__call__``).
        if route is None or resource is None or scope["path"].startswith(PATH_STYLE_PREFIX):
            return None
        scope[HOST_ID] = resource
        claims, handler = route
        if not claims(scope):
            return None
        scope[SERVICE] = service
        return handler

    def answer(self, scope: Scope, receive: Receive, direct: Answerer) -> Awaitable[Answer]:
        """A request ``claims`` gave ``direct`` for, answered whole: admitted exactly as
        ``__call__`` admits a request of its service, then handed to ``direct``.

        An unsigned Lambda request (the usual local call) is admitted without a coroutine
        of its own: the scope, this request's own, gains its principal in place, and what
        is awaited is ``direct``'s."""
        service: str = scope[SERVICE]
        auth = self._auth
        if service == LAMBDA and auth is not None:
            principal = auth.unsigned(scope, LAMBDA)
            if principal is not None:
                scope[PRINCIPAL] = principal
                refusal = self._authorized(scope, principal)
                if refusal is not None:
                    return _given(refusal)
                return direct(scope, receive)
        return self._admitted(scope, receive, direct, service)

    async def _admitted(
        self, scope: Scope, receive: Receive, direct: Answerer, service: str
    ) -> Answer:
        if service != LAMBDA:
            _carry_lineage(scope)
        if self._auth is not None:
            scope, receive, refusal = await self._admit(scope, receive, service)
            if refusal is not None:
                return refusal
        return await direct(scope, receive)

    async def _admit(
        self, scope: Scope, receive: Receive, service: str
    ) -> tuple[Scope, Receive, Answer | None]:
        """Authenticate (the scope gains its principal) and, for Lambda's API where IAM
        policies are enforced, authorize; the refusal's answer when either fails. A
        function URL is a public endpoint: its own AuthType decides, so its request is never
        refused here; a signed one is verified, and the URL's endpoint weighs the outcome
        (the principal, or the failure) when its AuthType is AWS_IAM."""
        assert self._auth is not None
        if service == FUNCTION_URL:
            if not is_signed(scope):
                return scope, receive, None
            try:
                _scoped_to_lambda(scope)
                principal, receive = await self._auth.authenticate(scope, receive, LAMBDA)
            except AuthFailure as failure:
                return {**scope, AUTH_FAILURE: failure}, receive, None
            return {**scope, PRINCIPAL: principal}, receive, None
        try:
            principal, receive = await self._auth.authenticate(scope, receive, service)
        except AuthFailure as failure:
            return scope, receive, _denied(service, failure)
        scope = {**scope, PRINCIPAL: principal}
        if service == LAMBDA:
            return scope, receive, self._authorized(scope, principal)
        return scope, receive, None

    def _authorized(self, scope: Scope, principal: Principal) -> Answer | None:
        """The refusal of a Lambda API request its principal's IAM policies deny, where
        policies are enforced; None when it may go on."""
        if (
            self._authorizer is not None
            and self._authorizer.enforced
            and self._lambda_actions is not None
            and principal.kind not in ("anonymous", "root")
        ):
            raw_path = scope.get("raw_path") or scope["path"].encode()
            named = self._lambda_actions.of(
                scope["method"], raw_path.split(b"?", 1)[0], scope.get("query_string", b"")
            )
            if named is not None:
                client = scope.get("client") or ("", 0)
                denial = self._authorizer.denial(principal, *named, str(client[0]))
                if denial is not None:
                    return _forbidden(denial)
        return None


async def _given(answer: Answer) -> Answer:
    return answer


def _carry_lineage(scope: Scope) -> None:
    """What a service's request causes (S3, SNS and EventBridge outbox records, a function
    URL's invocation) goes on in the caller's chain: recursive loop detection
    (lambox.lineage)."""
    for name, value in scope["headers"]:
        if name == b"x-amzn-trace-id":
            lineage.CURRENT.set(unquote(value.decode("latin-1")))
            break


def _scoped_to_lambda(scope: Scope) -> None:
    """A function URL's signature must be scoped to ``lambda``, as AWS requires."""
    auth = b""
    for key, value in scope["headers"]:
        if key == b"authorization":
            auth = value
    m = _SCOPE.search(auth) if auth else _QUERY_SCOPE.search(scope.get("query_string") or b"")
    if m is not None and m.group(1) != b"lambda":
        raise AuthFailure(
            Reason.BAD_SIGNATURE, "Credential should be scoped to correct service: 'lambda'. "
        )


def _forbidden(message: str) -> Answer:
    """Lambda's AccessDeniedException."""
    body = json.dumps({"Message": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"x-amzn-errortype", b"AccessDeniedException"),
        (b"content-length", str(len(body)).encode()),
    ]
    return 403, headers, body


def _denied(service: str, failure: AuthFailure) -> Answer:
    status, headers, body = denials.answer(service, failure)
    headers.append((b"content-length", str(len(body)).encode()))
    return status, headers, body


async def _send(send: Send, answer: Answer) -> None:
    status, headers, body = answer
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
