"""Authentication at the edge: every request's signature, before any service sees it.

``Authenticator.authenticate`` reads a request's SigV4 Authorization header or presigned
query (and S3's Signature Version 2 forms), finds the key in the keyring, checks the time
(15 minutes of skew; a presigned URL's expiry), the session token of a temporary key, and
the signature, and answers the ``Principal`` with the ``receive`` the service must read the
body through. A body whose hash is signed is read whole first (Lambda, IAM, STS...: their
bodies are small) or, for S3, checked as it streams (``edge.bodies``).

Two postures. *Open* (the loopback default): a request with no signature, or signed with a
key lambox does not know, is the account's root, as lambox always treated local requests;
a known key must still sign correctly. *Strict*: every request needs a valid signature by a
known key, except the few requests ``public`` lets through as anonymous (the health check,
SNS's confirmation links, a webhook's ingest with its token: ``edge.public``).

A request on a connection a sandbox made (the connection marks its scope ``SANDBOXED``:
``api.connection`` asks the kernel who owns the client socket) is held to the strict
posture in either one, and signed only with the keys of ``sandbox_keyring`` (IAM's users
and sessions, a function's role credentials among them; never the root's): a function's
code on the same machine must not act as the root by dropping its credentials, or by
signing with ``test``/``test``, as the developer's own tools may.
"""

from __future__ import annotations

import calendar
import email.utils
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import Message, Receive, Scope

from lambox.edge import bodies, sigv2, sigv4
from lambox.edge.identity import (
    Credential,
    Keyring,
    Principal,
    anonymous_principal,
    root_principal,
)
from lambox.edge.sigv4 import AuthFailure, Reason, Signed

SKEW = 15 * 60
MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600
BODY_LIMIT = 96 << 20
_PUBLIC_PATHS = frozenset({"/lambox/v1/health"})
SANDBOXED = "lambox.sandboxed"
"""The scope key of a request whose connection a sandbox made (its value is True)."""
Public = Callable[[Scope, str], bool]
"""(scope, service) -> whether an unsigned request may pass as anonymous (``edge.public``)."""


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    raw_path: bytes
    raw_query: bytes
    headers: list[tuple[bytes, bytes]]
    wanted: dict[bytes, str]
    sandboxed: bool
    open: bool  # an unsigned request or an unknown key is the root


def _request(scope: Scope, open_posture: bool) -> _Request:
    wanted: dict[bytes, str] = {}
    for key, value in scope["headers"]:
        if key in (
            b"authorization",
            b"x-amz-date",
            b"date",
            b"x-amz-content-sha256",
            b"x-amz-security-token",
        ):
            wanted[key] = value.decode("latin-1")
    raw_path = scope.get("raw_path") or scope["path"].encode()
    sandboxed = SANDBOXED in scope
    return _Request(
        scope["method"],
        raw_path.split(b"?", 1)[0],
        scope.get("query_string") or b"",
        scope["headers"],
        wanted,
        sandboxed,
        open_posture and not sandboxed,
    )


def _iso(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def _parse_amz_date(text: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(text, "%Y%m%dT%H%M%SZ")))
    except ValueError as exc:
        raise AuthFailure(Reason.MALFORMED, f"Invalid X-Amz-Date {text!r}") from exc


class Authenticator:
    """The edge's one door: ``authenticate`` or an ``AuthFailure``."""

    def __init__(
        self,
        keyring: Keyring,
        account: str,
        open_posture: bool,
        clock: Callable[[], float] = time.time,
        public: Public | None = None,
        sandbox_keyring: Keyring | None = None,
    ) -> None:
        self._keyring = keyring
        self._sandbox_keyring = keyring if sandbox_keyring is None else sandbox_keyring
        self._root = root_principal(account)
        self._anonymous = anonymous_principal(account)
        self.open_posture = open_posture
        self._clock = clock
        self._public = public or (lambda scope, service: scope.get("path") in _PUBLIC_PATHS)

    def unsigned(self, scope: Scope, service: str) -> Principal | None:
        """The principal of an unsigned request with nothing in its query (the usual local
        call: the root in the open posture, unless a sandbox sent it, else the anonymous
        one if ``public`` lets it through), decided without awaiting; None for any other
        request, which ``authenticate`` decides (an unsigned one it refuses)."""
        if scope.get("query_string"):
            return None
        for key, _ in scope["headers"]:
            if key == b"authorization":
                return None
        if self.open_posture and SANDBOXED not in scope:
            return self._root
        if self._public(scope, service):
            return self._anonymous
        return None

    async def authenticate(
        self, scope: Scope, receive: Receive, service: str
    ) -> tuple[Principal, Receive]:
        principal = self.unsigned(scope, service)
        if principal is not None:
            return principal, receive
        req = _request(scope, self.open_posture)
        auth = req.wanted.get(b"authorization", "")
        # Unsigned (or carrying a webhook's bearer token): a public request is anonymous.
        if (
            not req.open
            and not auth.startswith(sigv4.ALGORITHM)
            and b"X-Amz-Signature=" not in req.raw_query
            and self._public(scope, service)
        ):
            return self._anonymous, receive
        if auth.startswith(sigv4.ALGORITHM):
            return await self._header_v4(req, receive, service, auth)
        if auth.startswith("AWS ") and service == "s3":
            return self._header_v2(req, receive, auth, scope), receive
        if b"X-Amz-Signature=" in req.raw_query or b"X-Amz-Credential=" in req.raw_query:
            return await self._query_v4(req, receive, service)
        if service == "s3" and b"AWSAccessKeyId=" in req.raw_query:
            return self._query_v2(req, scope), receive
        if auth:
            if req.open:
                return self._root, receive
            raise AuthFailure(Reason.MALFORMED, "Unsupported Authorization header")
        if req.open:
            return self._root, receive
        raise AuthFailure(Reason.MISSING)

    def _credential(self, req: _Request, access_key: str, token: str) -> Credential | None:
        """The key's credential; None means "treat as root" (open posture, unknown key)."""
        keyring = self._sandbox_keyring if req.sandboxed else self._keyring
        cred = keyring.lookup(access_key)
        if cred is None:
            if req.open:
                return None
            raise AuthFailure(Reason.UNKNOWN_KEY, AWSAccessKeyId=access_key)
        if cred.session_token:
            if not hmac.compare_digest(cred.session_token.encode(), token.encode()):
                raise AuthFailure(Reason.BAD_TOKEN)
            if cred.expires and cred.expires <= self._clock():
                raise AuthFailure(Reason.EXPIRED_TOKEN)
        return cred

    def _check_skew(self, when: float, timestamp: str) -> None:
        now = self._clock()
        if abs(now - when) <= SKEW:
            return
        if when < now:
            detail = (
                f"Signature expired: {timestamp} is now earlier than {_iso(now - SKEW)}"
                f" ({_iso(now)} - 15 min.)"
            )
        else:
            detail = (
                f"Signature not yet current: {timestamp} is still later than"
                f" {_iso(now + SKEW)} ({_iso(now)} + 15 min.)"
            )
        raise AuthFailure(
            Reason.SKEWED,
            detail,
            RequestTime=timestamp,
            ServerTime=_iso(now),
            MaxAllowedSkewMilliseconds="900000",
        )

    def _timestamp(self, req: _Request) -> tuple[str, float]:
        amz = req.wanted.get(b"x-amz-date")
        if amz:
            return amz, _parse_amz_date(amz)
        date = req.wanted.get(b"date")
        if date:
            parsed = email.utils.parsedate_tz(date)
            if parsed is not None:
                when = float(email.utils.mktime_tz(parsed))
                return _iso(when), when
        raise AuthFailure(
            Reason.MALFORMED,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )

    async def _header_v4(
        self, req: _Request, receive: Receive, service: str, auth: str
    ) -> tuple[Principal, Receive]:
        signed = sigv4.parse_header(auth)
        cred = self._credential(req, signed.access_key, req.wanted.get(b"x-amz-security-token", ""))
        if cred is None:
            return self._root, receive
        timestamp, when = self._timestamp(req)
        self._check_skew(when, timestamp)
        if timestamp[:8] != signed.date:
            raise AuthFailure(
                Reason.BAD_SIGNATURE, "Date in Credential scope does not match the request date"
            )
        query = sigv4.canonical_query(sigv4.query_pairs(req.raw_query), False)
        return await self._verify(req, receive, service, signed, cred, timestamp, query)

    async def _query_v4(
        self, req: _Request, receive: Receive, service: str
    ) -> tuple[Principal, Receive]:
        pairs = sigv4.query_pairs(req.raw_query)
        params = dict(pairs)
        try:
            signed = sigv4.parse_query(params)
        except AuthFailure as exc:
            exc.fields["query"] = "1"
            raise
        cred = self._credential(req, signed.access_key, params.get("X-Amz-Security-Token", ""))
        if cred is None:
            return self._root, receive
        timestamp = params["X-Amz-Date"]
        when = _parse_amz_date(timestamp)
        try:
            expires = int(params.get("X-Amz-Expires", "900"))
        except ValueError as exc:
            raise AuthFailure(
                Reason.MALFORMED, "X-Amz-Expires must be a number", query="1"
            ) from exc
        if not 0 < expires <= MAX_PRESIGNED_EXPIRES:
            raise AuthFailure(
                Reason.MALFORMED,
                "X-Amz-Expires must be less than a week (in seconds) that is 604800",
                query="1",
            )
        now = self._clock()
        if now > when + expires:
            raise AuthFailure(
                Reason.EXPIRED,
                "Request has expired",
                **{"X-Amz-Expires": str(expires)},
                Expires=_iso(when + expires),
                ServerTime=_iso(now),
            )
        if when > now + SKEW:
            self._check_skew(when, timestamp)
        query = sigv4.canonical_query(pairs, True)
        return await self._verify(req, receive, service, signed, cred, timestamp, query)

    async def _verify(
        self,
        req: _Request,
        receive: Receive,
        service: str,
        signed: Signed,
        cred: Credential,
        timestamp: str,
        query: str,
    ) -> tuple[Principal, Receive]:
        s3 = service == "s3"
        claimed = req.wanted.get(b"x-amz-content-sha256")
        replay: bytes | None = None
        if claimed is not None:
            payload_hash = claimed
        elif s3 and signed.presigned:
            payload_hash = sigv4.UNSIGNED_PAYLOAD
        else:
            replay = await _read(receive)
            payload_hash = hashlib.sha256(replay).hexdigest()
        header_block, absent = sigv4.canonical_headers(req.headers, signed.signed_headers)
        canonical = sigv4.canonical_request(
            req.method,
            sigv4.canonical_path(req.raw_path, s3),
            query,
            header_block,
            signed,
            payload_hash,
        )
        to_sign = sigv4.string_to_sign(timestamp, signed.scope, canonical)
        key = sigv4.signing_key(cred.secret, signed.date, signed.region, signed.service)
        sigv4.check(
            key,
            to_sign,
            signed.signature,
            "",
            AWSAccessKeyId=signed.access_key,
            StringToSign=to_sign,
            SignatureProvided=signed.signature,
            CanonicalRequest=canonical,
        )
        del absent  # an absent signed header is simply an empty value, as AWS reads it
        if replay is None and not s3 and payload_hash != sigv4.UNSIGNED_PAYLOAD:
            replay = await _read(receive)
        if replay is not None:
            computed = hashlib.sha256(replay).hexdigest()
            if claimed not in (None, sigv4.UNSIGNED_PAYLOAD) and not hmac.compare_digest(
                computed, str(claimed)
            ):
                raise AuthFailure(Reason.BAD_PAYLOAD)
            return cred.principal, _replaying(replay, receive)
        if payload_hash == sigv4.STREAMING_PAYLOAD:
            verifier = bodies.ChunkSignatures(key, timestamp, signed.scope, signed.signature)
            return cred.principal, bodies.chunk_signed(receive, verifier)
        if s3 and len(payload_hash) == 64 and payload_hash != sigv4.EMPTY_SHA256:
            return cred.principal, bodies.hashed(receive, payload_hash)
        return cred.principal, receive

    def _header_v2(self, req: _Request, receive: Receive, auth: str, scope: Scope) -> Principal:
        access_key, _, provided = auth[4:].rpartition(":")
        cred = self._credential(
            req, access_key.strip(), req.wanted.get(b"x-amz-security-token", "")
        )
        if cred is None:
            return self._root
        stamp = req.wanted.get(b"x-amz-date") or req.wanted.get(b"date", "")
        parsed = email.utils.parsedate_tz(stamp) if stamp else None
        if parsed is not None:
            when = float(email.utils.mktime_tz(parsed))
            self._check_skew(when, _iso(when))
        to_sign = sigv2.string_to_sign(
            req.method,
            req.headers,
            _resource(req, scope),
            [],
            None,
            req.raw_query.decode("latin-1"),
        )
        if not sigv2.matches(cred.secret, to_sign, provided.strip()):
            raise AuthFailure(
                Reason.BAD_SIGNATURE,
                AWSAccessKeyId=access_key,
                StringToSign=to_sign,
                SignatureProvided=provided,
            )
        return cred.principal

    def _query_v2(self, req: _Request, scope: Scope) -> Principal:
        pairs = sigv4.query_pairs(req.raw_query)
        params = dict(pairs)
        if not all(k in params for k in ("AWSAccessKeyId", "Signature", "Expires")):
            raise AuthFailure(
                Reason.MALFORMED,
                "Query-string authentication requires the Signature, Expires and AWSAccessKeyId"
                " parameters",
                query="1",
            )
        cred = self._credential(
            req, params["AWSAccessKeyId"], params.get("x-amz-security-token", "")
        )
        if cred is None:
            return self._root
        now = self._clock()
        try:
            expires = int(params["Expires"])
        except ValueError as exc:
            raise AuthFailure(Reason.MALFORMED, "Invalid Expires", query="1") from exc
        if now > expires:
            raise AuthFailure(
                Reason.EXPIRED, "Request has expired", Expires=_iso(expires), ServerTime=_iso(now)
            )
        rest = [(k, v) for k, v in pairs if k not in ("AWSAccessKeyId", "Signature", "Expires")]
        to_sign = sigv2.string_to_sign(
            req.method,
            req.headers,
            _resource(req, scope),
            rest,
            params["Expires"],
            req.raw_query.decode("latin-1"),
        )
        if not sigv2.matches(cred.secret, to_sign, params["Signature"]):
            raise AuthFailure(
                Reason.BAD_SIGNATURE,
                AWSAccessKeyId=params["AWSAccessKeyId"],
                StringToSign=to_sign,
                SignatureProvided=params["Signature"],
            )
        return cred.principal


def _resource(req: _Request, scope: Scope) -> str:
    """SigV2's resource: the path with the bucket of a virtual-hosted request in front."""
    path = req.raw_path.decode("latin-1") or "/"
    bucket = scope.get("s3.bucket")
    return f"/{bucket}{path}" if bucket else path


async def _read(receive: Receive) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > BODY_LIMIT:
            raise AuthFailure(Reason.TOO_LARGE)
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` that answers the body already read, then defers to the real one."""
    sent = False

    async def wrapped() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return wrapped
