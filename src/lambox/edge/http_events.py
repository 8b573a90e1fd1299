"""The HTTP shapes of function URLs and API Gateway HTTP APIs: the request event (payload
format 2.0) and the mapping of a function's answer back to an HTTP response, as AWS does them.

Request: header names lower-cased, repeated headers joined with commas, cookies moved out of
the headers into ``cookies``, query parameters joined with commas, a body base64-encoded
unless its content type is text, ``requestContext.accountId`` "anonymous" for AuthType NONE.
Members with nothing to say (``cookies``, ``queryStringParameters``, ``body``) are left
out, as AWS leaves them out.

Response: a JSON object with a ``statusCode`` is read as statusCode, headers, cookies, body
and isBase64Encoded; any other valid JSON is the body of a 200 ``application/json`` answer
(a JSON string is its text, unquoted); something else is the function failing (502), as
is a header that cannot be written (a name that is not an HTTP token, a control character
in a value). The headers that frame the message or describe the connection
(``Content-Length``, ``Transfer-Encoding``, ``Connection`` and the other hop-by-hop ones)
are lambox's to write: a function's are dropped, so that its answer cannot frame itself
differently from the body lambox sends (two ``Content-Length`` values, or one beside
``Transfer-Encoding``, would let a client or proxy read the rest of the body as another
response).
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

_TEXT_TYPES = ("text/", "json", "xml", "javascript", "ecmascript", "yaml")
# What may be a header's (lower-cased) name, and what may not be in its value: RFC 9110's
# token, and the control characters but for HTAB (what uvicorn refuses to write).
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9a-z-]+")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# Framing and hop-by-hop headers (RFC 9110 7.6.1, 8.6, RFC 9112 6.1): lambox frames the answer.
_FRAMING = frozenset(
    (
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"upgrade",
    )
)
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What the event is built from: the request as the HTTP server parsed it."""

    method: str
    raw_path: str
    query: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    source_ip: str
    port: int


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A response to write: status, headers (repeatable) and body bytes."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def is_text(content_type: str) -> bool:
    """Whether AWS passes a body of this type as text (else base64)."""
    lowered = content_type.lower()
    return any(marker in lowered for marker in _TEXT_TYPES)


_CLF_CACHE: list[tuple[int, str]] = [(-1, "")]


def _clf_time(epoch: float) -> str:
    """requestContext.time: ``07/Dec/2026:09:30:00 +0000`` (one formatting per second)."""
    second = int(epoch)
    cached = _CLF_CACHE[0]
    if cached[0] == second:
        return cached[1]
    t = time.gmtime(second)
    text = (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )
    _CLF_CACHE[0] = (second, text)
    return text


def trace_id(epoch: float) -> str:
    """An X-Ray trace header value, as AWS adds to every function URL request (an id, not a
    secret: the process's PRNG is enough and costs no system call)."""
    return f"Root=1-{int(epoch):08x}-{random.getrandbits(96):024x}"


def trace_header(event: dict[str, Any]) -> str | None:
    """The X-Amzn-Trace-Id an HTTP event carries (the caller's, or the one AWS adds)."""
    headers = event.get("headers") or {}
    value = headers.get("x-amzn-trace-id")
    return str(value) if value else None


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for key, value in pairs:
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def request_event(
    req: HttpRequest,
    url_id: str,
    request_id: str,
    account: str | None,
    route_key: str = "$default",
    stage: str = "$default",
    path_parameters: dict[str, str] | None = None,
    stage_variables: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event of one request to a function URL (``url_id``) or to an
    HTTP API (the API id, its route key, stage, path parameters and stage variables)."""
    now = time.time()
    cookies: list[str] = []
    pairs: list[tuple[str, str]] = []
    host = user_agent = content_type = ""
    for raw_key, raw_value in req.headers:
        key, value = raw_key.decode("latin-1").lower(), raw_value.decode("latin-1")
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        if key == "host":
            host = value
        elif key == "user-agent":
            user_agent = value
        elif key == "content-type":
            content_type = value
        pairs.append((key, value))
    if not any(key == "x-amzn-trace-id" for key, _ in pairs):  # else the caller's goes on
        pairs.append(("x-amzn-trace-id", trace_id(now)))
    pairs += [
        ("x-forwarded-for", req.source_ip),
        ("x-forwarded-port", str(req.port)),
        ("x-forwarded-proto", "http"),
    ]
    domain = host.rsplit(":", 1)[0] if host else f"{url_id}.lambda-url"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": req.raw_path,
        "rawQueryString": req.query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = _joined(pairs)
    if req.query:
        event["queryStringParameters"] = _joined(parse_qsl(req.query, keep_blank_values=True))
    event["requestContext"] = {
        "accountId": account or "anonymous",
        "apiId": url_id,
        "domainName": domain,
        "domainPrefix": url_id,
        "http": {
            "method": req.method,
            "path": req.raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": req.source_ip,
            "userAgent": user_agent,
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": stage,
        "time": _clf_time(now),
        "timeEpoch": int(now * 1000),
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if stage_variables:
        event["stageVariables"] = stage_variables
    encoded = False
    if req.body:
        text = None
        if is_text(content_type):
            try:
                text = req.body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        encoded = text is None
        event["body"] = base64.b64encode(req.body).decode() if encoded else text
    event["isBase64Encoded"] = encoded
    return event


class BadResponse(Exception):
    """The function answered something a function URL cannot turn into HTTP."""


def _header_name(key: Any) -> bytes:
    """A header name as it goes on the wire: lower-cased, and an HTTP token (a name that
    is not one would end the head early or be refused by the client)."""
    name = str(key).lower().encode("latin-1", errors="replace")
    if not _TOKEN.fullmatch(name):
        raise BadResponse(f"header name {key!r}")
    return name


def _header_value(value: Any) -> bytes:
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, str | int | float):
        data = str(value).encode("latin-1", errors="replace")
        if _CONTROL.search(data):
            raise BadResponse(f"header value {value!r}")
        return data
    raise BadResponse(f"header value {value!r}")


def response(payload: bytes) -> HttpAnswer:
    """The HTTP answer of a function URL for the function's returned payload."""
    json_type = (b"content-type", b"application/json")
    try:
        value = json.loads(payload) if payload else None
    except ValueError as exc:
        raise BadResponse("not JSON") from exc
    if not isinstance(value, dict) or "statusCode" not in value:
        if isinstance(value, str):
            return HttpAnswer(200, [json_type], value.encode())
        return HttpAnswer(200, [json_type], payload)
    status = value["statusCode"]
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise BadResponse(f"statusCode {status!r}")
    headers: list[tuple[bytes, bytes]] = []
    given = value.get("headers") or {}
    if not isinstance(given, dict):
        raise BadResponse("headers")
    for key, item in given.items():
        name = _header_name(key)
        if name not in _FRAMING:
            headers.append((name, _header_value(item)))
    if not any(k == b"content-type" for k, _ in headers):
        headers.append(json_type)
    cookies = value.get("cookies") or []
    if not isinstance(cookies, list):
        raise BadResponse("cookies")
    headers += [(b"set-cookie", _header_value(c)) for c in cookies]
    body = value.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        data = body.encode()
        if value.get("isBase64Encoded") is True:
            try:
                data = base64.b64decode(body, validate=True)
            except binascii.Error as exc:
                raise BadResponse("body is not base64") from exc
    else:
        data = json.dumps(body).encode()
    return HttpAnswer(status, headers, data)


def request_event_v1(
    req: HttpRequest,
    api_id: str,
    request_id: str,
    account: str,
    route_key: str,
    stage: str,
    path_parameters: dict[str, str] | None,
    stage_variables: dict[str, str] | None,
) -> dict[str, Any]:
    """The payload format 1.0 event of an HTTP API request (REST API's proxy shape, with the
    multi-value maps)."""
    now = time.time()
    headers: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    host = user_agent = content_type = ""
    for raw_key, raw_value in req.headers:
        key, value = raw_key.decode("latin-1").lower(), raw_value.decode("latin-1")
        host = value if key == "host" else host
        user_agent = value if key == "user-agent" else user_agent
        content_type = value if key == "content-type" else content_type
        headers[key] = value
        multi.setdefault(key, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for key, value in parse_qsl(req.query, keep_blank_values=True):
        query[key] = value
        multi_query.setdefault(key, []).append(value)
    method = req.method
    resource = route_key.split(" ", 1)[1] if " " in route_key else route_key
    body: str | None = None
    encoded = False
    if req.body:
        try:
            body = req.body.decode("utf-8") if is_text(content_type) else None
        except UnicodeDecodeError:
            body = None
        encoded = body is None
        if encoded:
            body = base64.b64encode(req.body).decode()
    path = req.raw_path
    return {
        "version": "1.0",
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": multi,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "requestContext": {
            "accountId": account,
            "apiId": api_id,
            "domainName": host.rsplit(":", 1)[0],
            "domainPrefix": api_id,
            "extendedRequestId": request_id,
            "httpMethod": method,
            "identity": {"sourceIp": req.source_ip, "userAgent": user_agent},
            "path": path,
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": _clf_time(now),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": route_key,
            "resourcePath": resource,
            "stage": stage,
        },
        "pathParameters": path_parameters or None,
        "stageVariables": stage_variables or None,
        "body": body,
        "isBase64Encoded": encoded,
    }


def response_v1(payload: bytes) -> HttpAnswer:
    """The HTTP answer for payload format 1.0: the function must return a statusCode."""
    try:
        value = json.loads(payload) if payload else None
    except ValueError as exc:
        raise BadResponse("not JSON") from exc
    if not isinstance(value, dict) or "statusCode" not in value:
        raise BadResponse("format 1.0 needs a statusCode")
    multi = value.pop("multiValueHeaders", None) or {}
    answer = response(json.dumps(value).encode())
    if not isinstance(multi, dict):
        raise BadResponse("multiValueHeaders")
    for key, values in multi.items():
        name = _header_name(key)
        for item in values if isinstance(values, list) else [values]:
            if name not in _FRAMING:
                answer.headers.append((name, _header_value(item)))
    return answer


class Cors:
    """The CORS answer of a ``Cors`` configuration (a function URL's, an HTTP API's
    CorsConfiguration: the same members) for one request's Origin."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._origins = [o.lower() for o in config.get("AllowOrigins") or []]
        self._methods = [m.upper() for m in config.get("AllowMethods") or []]
        self._headers = config.get("AllowHeaders") or []
        self._expose = config.get("ExposeHeaders") or []
        self._max_age = config.get("MaxAge")
        self._credentials = bool(config.get("AllowCredentials"))

    def _origin(self, origin: str) -> bytes | None:
        if origin.lower() in self._origins:
            return origin.encode("latin-1")
        if "*" in self._origins:
            return origin.encode("latin-1") if self._credentials else b"*"
        return None

    def headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        """Headers added to an actual response (none for an origin not allowed)."""
        allowed = self._origin(origin)
        if allowed is None:
            return []
        out = [(b"access-control-allow-origin", allowed), (b"vary", b"Origin")]
        if self._expose:
            out.append((b"access-control-expose-headers", ",".join(self._expose).encode()))
        if self._credentials:
            out.append((b"access-control-allow-credentials", b"true"))
        return out

    def preflight(self, origin: str, method: str, rid: str) -> HttpAnswer:
        """The answer to an OPTIONS preflight."""
        headers = [(b"x-amzn-requestid", rid.encode())]
        allowed = self._origin(origin)
        if allowed is not None and ("*" in self._methods or method.upper() in self._methods):
            headers += self.headers(origin)
            headers.append((b"access-control-allow-methods", ",".join(self._methods).encode()))
            if self._headers:
                headers.append((b"access-control-allow-headers", ",".join(self._headers).encode()))
            if self._max_age is not None:
                headers.append((b"access-control-max-age", str(self._max_age).encode()))
        return HttpAnswer(200, headers, b"")
