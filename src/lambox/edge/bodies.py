"""Checking a signed body as it streams: a payload hash, or ``aws-chunked`` chunk signatures.

S3 bodies are too large to hold before dispatch, so S3 gets its body as it arrives and these
wrappers of ASGI ``receive`` raise S3's error when the last byte proves the body is not the
one signed: the S3 app is still reading it then, so the object is never stored.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.types import Message, Receive

from lambox.edge import sigv4
from lambox.edge.denials import s3_fault
from lambox.edge.sigv4 import AuthFailure, Reason

_HEADER_LIMIT = 4096


def hashed(receive: Receive, expected: str) -> Receive:
    """``receive`` that fails the last message unless the body's SHA-256 is ``expected``."""
    digest = hashlib.sha256()

    async def wrapped() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            digest.update(message.get("body", b""))
            if not message.get("more_body", False):
                computed = digest.hexdigest()
                if not hmac.compare_digest(computed, expected.lower()):
                    raise s3_fault(
                        AuthFailure(
                            Reason.BAD_PAYLOAD,
                            ClientComputedContentSHA256=expected,
                            S3ComputedContentSHA256=computed,
                        )
                    )
        return message

    return wrapped


class ChunkSignatures:
    """Verifies each chunk of a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` body as it passes:
    ``hex-size;chunk-signature=SIG\\r\\n DATA \\r\\n``, each signature chained to the one
    before, the first to the request's own signature; the final chunk has size 0 (what
    follows it, trailers, is not checked)."""

    def __init__(self, key: bytes, timestamp: str, scope: str, seed: str) -> None:
        self._key = key
        self._timestamp = timestamp
        self._scope = scope
        self._previous = seed
        self._buffer = bytearray()
        self._state = "header"  # header | data | crlf | done
        self._left = 0
        self._claimed = ""
        self._digest = hashlib.sha256()

    @property
    def done(self) -> bool:
        return self._state == "done"

    def feed(self, data: bytes) -> None:
        i, n = 0, len(data)
        while i < n and self._state != "done":
            if self._state == "header":
                take = data[i : i + _HEADER_LIMIT]
                before = len(self._buffer)
                self._buffer += take
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    if len(self._buffer) > _HEADER_LIMIT:
                        raise AuthFailure(Reason.BAD_SIGNATURE)
                    i += len(take)
                    continue
                i += end + 2 - before
                line = bytes(self._buffer[:end])
                self._buffer.clear()
                self._start(line)
            elif self._state == "data":
                k = min(self._left, n - i)
                self._digest.update(data[i : i + k])
                self._left -= k
                i += k
                if self._left == 0:
                    self._verify(self._digest.hexdigest())
                    self._state, self._left = "crlf", 2
            else:
                k = min(self._left, n - i)
                i += k
                self._left -= k
                if self._left == 0:
                    self._state = "header"

    def _start(self, line: bytes) -> None:
        size_text, _, extension = line.partition(b";")
        name, _, signature = extension.partition(b"=")
        try:
            size = int(size_text.strip(), 16)
        except ValueError as exc:
            raise AuthFailure(Reason.BAD_SIGNATURE) from exc
        if name.strip() != b"chunk-signature" or size < 0:
            raise AuthFailure(Reason.BAD_SIGNATURE)
        self._claimed = signature.strip().decode("latin-1")
        if size == 0:
            self._verify(sigv4.EMPTY_SHA256)
            self._state = "done"
        else:
            self._state, self._left = "data", size
            self._digest = hashlib.sha256()

    def _verify(self, data_hash: str) -> None:
        to_sign = sigv4.chunk_string_to_sign(
            self._timestamp, self._scope, self._previous, data_hash
        )
        sigv4.check(self._key, to_sign, self._claimed)
        self._previous = self._claimed


def chunk_signed(receive: Receive, verifier: ChunkSignatures) -> Receive:
    """``receive`` that feeds every body message to ``verifier``: a chunk whose signature
    does not match, or a body that ends before its final chunk, fails with S3's error."""

    async def wrapped() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            try:
                verifier.feed(message.get("body", b""))
                if not message.get("more_body", False) and not verifier.done:
                    raise AuthFailure(Reason.BAD_SIGNATURE)
            except AuthFailure as exc:
                raise s3_fault(exc) from None
        return message

    return wrapped
