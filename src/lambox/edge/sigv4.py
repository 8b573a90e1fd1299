"""AWS Signature Version 4, verified: the Authorization header and presigned query strings.

The server rebuilds the canonical request from the bytes on the wire exactly as botocore
builds it before sending (``botocore.auth.SigV4Auth.canonical_request``): the path as sent,
dot segments removed and encoded once more (S3: as sent), the query's pairs decoded,
re-encoded (RFC 3986) and sorted, the signed headers trimmed, and the payload hash. The
signing key (four HMACs) is cached per (secret, date, region, service), so a warm request
costs two SHA-256 and one HMAC; signatures are compared in constant time.

Failures raise ``AuthFailure`` with a ``Reason``; the edge turns a reason into the error of
the request's service (``edge.denials``).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import cast
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_KEY_CACHE_LIMIT = 4096
_keys: dict[tuple[str, str, str, str], bytes] = {}


class Reason(enum.Enum):
    """Why a request is not authenticated; each service names each reason its own way."""

    MISSING = "missing"  # no signature at all, where one is required
    MALFORMED = "malformed"  # an Authorization header or presigned query that does not parse
    UNKNOWN_KEY = "unknown-key"
    BAD_SIGNATURE = "bad-signature"
    SKEWED = "skewed"  # the request's time is more than 15 minutes from the server's
    EXPIRED = "expired"  # a presigned URL past its expiry
    BAD_TOKEN = "bad-token"  # a temporary key without its session token, or a wrong one
    EXPIRED_TOKEN = "expired-token"
    BAD_PAYLOAD = "bad-payload"  # the body does not hash to the signed payload hash
    TOO_LARGE = "too-large"  # a body too large to hash before it is dispatched


class AuthFailure(Exception):
    """A request that fails authentication; ``detail`` completes the service's message and
    ``fields`` are what S3 adds to its error document (``StringToSign``, ``Expires``...)."""

    def __init__(self, reason: Reason, detail: str = "", **fields: str) -> None:
        super().__init__(detail or reason.value)
        self.reason = reason
        self.detail = detail
        self.fields = fields


@dataclass(frozen=True, slots=True)
class Signed:
    """The signature claims of one request, from its Authorization header or query."""

    access_key: str
    date: str  # YYYYMMDD of the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool = False

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """``kSigning`` of the SigV4 derivation, cached (the derivation is four HMACs)."""
    cache_key = (secret, date, region, service)
    key = _keys.get(cache_key)
    if key is None:
        k = _hmac(f"AWS4{secret}".encode(), date)
        k = _hmac(k, region)
        k = _hmac(k, service)
        key = _hmac(k, "aws4_request")
        if len(_keys) >= _KEY_CACHE_LIMIT:
            _keys.clear()
        _keys[cache_key] = key
    return key


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _credential(value: str) -> tuple[str, str, str, str]:
    parts = value.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or len(parts[1]) != 8:
        raise AuthFailure(Reason.MALFORMED, f"the Credential is mal-formed: {value!r}")
    return parts[0], parts[1], parts[2], parts[3]


def parse_header(value: str) -> Signed:
    """``AWS4-HMAC-SHA256 Credential=K/D/R/S/aws4_request, SignedHeaders=a;b, Signature=..``"""
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        raise AuthFailure(Reason.MALFORMED, f"Unsupported algorithm {algorithm!r}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, item = part.strip().partition("=")
        if eq:
            fields[name] = item
    for required in ("Credential", "SignedHeaders", "Signature"):
        if required not in fields:
            raise AuthFailure(
                Reason.MALFORMED, f"Authorization header requires '{required}' parameter."
            )
    key, date, region, service = _credential(fields["Credential"])
    headers = tuple(fields["SignedHeaders"].split(";"))
    return Signed(key, date, region, service, headers, fields["Signature"])


def parse_query(params: dict[str, str]) -> Signed:
    """The ``X-Amz-*`` parameters of a presigned URL (decoded)."""
    missing = [
        name
        for name in (
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Signature",
            "X-Amz-Date",
            "X-Amz-SignedHeaders",
        )
        if name not in params
    ]
    if missing or params["X-Amz-Algorithm"] != ALGORITHM:
        raise AuthFailure(
            Reason.MALFORMED,
            "Query-string authentication version 4 requires the X-Amz-Algorithm,"
            " X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders,"
            " and X-Amz-Expires parameters.",
        )
    key, date, region, service = _credential(params["X-Amz-Credential"])
    headers = tuple(params["X-Amz-SignedHeaders"].split(";"))
    return Signed(key, date, region, service, headers, params["X-Amz-Signature"], True)


def query_pairs(raw: bytes) -> list[tuple[str, str]]:
    """The query's pairs, decoded (``+`` stays a plus, as AWS reads it)."""
    if not raw:
        return []
    out = []
    for pair in raw.decode("latin-1").split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        out.append((unquote(key), unquote(value)))
    return out


def canonical_query(pairs: list[tuple[str, str]], skip_signature: bool) -> str:
    encoded = sorted(
        (quote(k, safe="-_.~"), quote(v, safe="-_.~"))
        for k, v in pairs
        if not (skip_signature and k == "X-Amz-Signature")
    )
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_path(raw_path: bytes, s3: bool) -> str:
    path = raw_path.decode("latin-1") or "/"
    if s3:
        return path
    return quote(_normalize_url_path()(path), safe="/~")


@cache
def _normalize_url_path() -> Callable[[str], str]:
    """botocore's, imported on the first signed request rather than at start-up."""
    from botocore.utils import normalize_url_path

    return cast(Callable[[str], str], normalize_url_path)


def canonical_headers(
    headers: list[tuple[bytes, bytes]], signed: tuple[str, ...]
) -> tuple[str, list[str]]:
    """The canonical header block of the signed headers, and those the request lacks."""
    wanted = {name: [] for name in signed}  # type: dict[str, list[str]]
    for key, value in headers:
        name = key.decode("latin-1").lower()
        values = wanted.get(name)
        if values is not None:
            values.append(" ".join(value.decode("latin-1").split()))
    lines = []
    absent = []
    for name in sorted(wanted):
        if not wanted[name]:
            absent.append(name)
        lines.append(f"{name}:{','.join(wanted[name])}")
    return "\n".join(lines) + "\n", absent


def canonical_request(
    method: str,
    path: str,
    query: str,
    header_block: str,
    signed: Signed,
    payload_hash: str,
) -> str:
    return "\n".join(
        (method, path, query, header_block, ";".join(signed.signed_headers), payload_hash)
    )


def string_to_sign(timestamp: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def signature(key: bytes, to_sign: str) -> str:
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def check(key: bytes, to_sign: str, provided: str, detail: str = "", **fields: str) -> None:
    """Raise BAD_SIGNATURE unless ``provided`` is the signature of ``to_sign``."""
    expected = signature(key, to_sign)
    if not hmac.compare_digest(expected.encode(), provided.encode("latin-1", "replace")):
        raise AuthFailure(Reason.BAD_SIGNATURE, detail, **fields)


def chunk_string_to_sign(timestamp: str, scope: str, previous: str, data_hash: str) -> str:
    """What one chunk of a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` body signs."""
    return (
        f"AWS4-HMAC-SHA256-PAYLOAD\n{timestamp}\n{scope}\n{previous}\n{EMPTY_SHA256}\n{data_hash}"
    )
