"""JWT authorizers of HTTP APIs: a bearer token checked as API Gateway checks it, with the
standard library only.

- The issuer's keys come from ``<Issuer>/.well-known/openid-configuration``'s ``jwks_uri``
  (fetched once, kept for ``KEYS_TTL``, fetched again for an unknown ``kid``). lambox reaches
  whatever issuer URL it is given; on a machine without outside network only issuers on
  loopback answer, and a token of an issuer that cannot be reached is refused (401).
- Only RSA keys, as API Gateway: RS256, RS384 and RS512 (PKCS#1 v1.5 signatures, checked
  with ``pow``; nothing here signs, so no private-key arithmetic needs to be constant-time).
- Claims: ``iss`` equals the Issuer, ``aud`` (or ``client_id``) is one of the Audience,
  ``exp`` is in the future, ``nbf`` and ``iat`` are not; a route's AuthorizationScopes
  need one of the token's ``scope`` / ``scp`` values, else 403.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

KEYS_TTL = 3600.0
FETCH_TIMEOUT = 5.0
_DIGESTS: dict[str, tuple[Callable[[bytes], Any], bytes]] = {
    "RS256": (hashlib.sha256, bytes.fromhex("3031300d060960864801650304020105000420")),
    "RS384": (hashlib.sha384, bytes.fromhex("3041300d060960864801650304020205000430")),
    "RS512": (hashlib.sha512, bytes.fromhex("3051300d060960864801650304020305000440")),
}


class InvalidToken(Exception):
    """The token is not one this authorizer accepts (API Gateway's 401)."""


def _b64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("not base64url") from None


def _int(text: str) -> int:
    return int.from_bytes(_b64(text), "big")


def rsa_verifies(key: dict[str, Any], alg: str, signed: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``key``'s PKCS#1 v1.5 signature of ``signed``."""
    digest, prefix = _DIGESTS[alg]
    n, e = _int(str(key.get("n", ""))), _int(str(key.get("e", "")))
    size = (n.bit_length() + 7) // 8
    if n == 0 or len(signature) != size:
        return False
    value = int.from_bytes(signature, "big")
    if value >= n:
        return False
    encoded = pow(value, e, n).to_bytes(size, "big")
    body = prefix + digest(signed).digest()
    expected = b"\x00\x01" + b"\xff" * (size - 3 - len(body)) + b"\x00" + body
    return hmac.compare_digest(encoded, expected)


def decode(token: str, keys: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any]]:
    """(the header's kid, the claims) of a token whose signature one of ``keys`` checks;
    a token with a kid none of ``keys`` has answers (kid, {}) so the keys can be fetched
    again."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("not a JWT")
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
    except ValueError:
        raise InvalidToken("not JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken("not a JWT")
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in _DIGESTS:
        raise InvalidToken(f"unsupported algorithm {alg}")
    candidates = [k for k in keys if k.get("kty") == "RSA" and (kid is None or k.get("kid") == kid)]
    if not candidates:
        return kid, {}
    signed = f"{parts[0]}.{parts[1]}".encode()
    signature = _b64(parts[2])
    if not any(rsa_verifies(k, str(alg), signed, signature) for k in candidates):
        raise InvalidToken("bad signature")
    return kid, claims


def check_claims(claims: dict[str, Any], issuer: str, audience: list[str], now: float) -> None:
    if claims.get("iss") != issuer:
        raise InvalidToken("issuer")
    aud = claims.get("aud", claims.get("client_id"))
    auds = aud if isinstance(aud, list) else [aud]
    if not any(a in audience for a in auds):
        raise InvalidToken("audience")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp <= now:
        raise InvalidToken("expired")
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, (int, float)) or value > now + 60):
            raise InvalidToken(name)


def scopes_of(claims: dict[str, Any]) -> list[str]:
    value = claims.get("scope", claims.get("scp"))
    if isinstance(value, str):
        return value.split()
    return [str(v) for v in value] if isinstance(value, list) else []


def _fetch_json(url: str) -> Any:
    import urllib.request  # on the first key fetch: not with every server's start-up

    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as answer:
        return json.loads(answer.read(1 << 20))


class KeySets:
    """The issuers' keys, fetched in a thread and kept for ``KEYS_TTL``."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    async def keys(self, issuer: str, fresh: bool = False) -> list[dict[str, Any]]:
        cached = self._keys.get(issuer)
        if cached is not None and not fresh and cached[0] > time.monotonic():
            return cached[1]
        try:
            config = await asyncio.to_thread(
                _fetch_json, issuer.rstrip("/") + "/.well-known/openid-configuration"
            )
            jwks = await asyncio.to_thread(_fetch_json, str(config["jwks_uri"]))
            keys = [k for k in jwks.get("keys", []) if isinstance(k, dict)]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise InvalidToken("the issuer's keys cannot be fetched") from None
        self._keys[issuer] = (time.monotonic() + KEYS_TTL, keys)
        return keys

    async def verify(self, token: str, issuer: str, audience: list[str]) -> dict[str, Any]:
        """The claims of a valid token, else ``InvalidToken``."""
        kid, claims = decode(token, await self.keys(issuer))
        if not claims:  # a key the cached set lacks: the issuer may have rotated its keys
            kid, claims = decode(token, await self.keys(issuer, fresh=True))
            if not claims:
                raise InvalidToken(f"no key {kid}")
        check_claims(claims, issuer, audience, time.time())
        return claims
