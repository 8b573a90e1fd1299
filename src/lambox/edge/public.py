"""The few unsigned requests the strict posture lets through, as AWS does for their kind.

- ``GET /lambox/v1/health``: the health check.
- SNS's links (``GET /?Action=ConfirmSubscription&TopicArn=...&Token=...`` and
  ``GET /?Action=Unsubscribe&SubscriptionArn=...``), which SNS puts in the messages it sends
  to HTTP subscribers and which those follow without credentials; the token (a secret only
  the subscriber received) or the subscription's ARN is what proves them, as on AWS. The SNS
  app serves nothing else to an anonymous caller.
- ``POST /lambox/v1/s3-events/<function>`` from an object store's webhook (MinIO, Ceph
  RGW), which cannot sign with SigV4, when it carries the data directory's ingest token:
  ``Authorization: Bearer <token>`` (MinIO's ``auth_token``) or ``?token=<token>`` in the
  endpoint URL (Ceph's push-endpoint).

Such a request is the anonymous principal: no policy allows it anything.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

HEALTH = "/lambox/v1/health"
INGEST_PREFIX = "/lambox/v1/s3-events/"
INGEST_TOKEN_FILE = "ingest-token"
_SNS_LINK = re.compile(rb"(?:^|&)Action=(?:ConfirmSubscription|Unsubscribe)(?:&|$)")


def ingest_token(data_dir: Path) -> str:
    """The data directory's ingest token, created (mode 0600, readable by root only) at
    first use; ``lambox credentials`` prints it."""
    path = data_dir / INGEST_TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return token


class PublicRequests:
    """``__call__(scope, service)``: whether an unsigned request may pass as anonymous."""

    def __init__(self, ingest_token: str) -> None:
        self._token = ingest_token.encode()

    def __call__(self, scope: Mapping[str, Any], service: str) -> bool:
        path: str = scope.get("path", "")
        method = scope.get("method", "")
        if path == HEALTH:
            return True
        query: bytes = scope.get("query_string") or b""
        if service == "sns" and method == "GET" and _SNS_LINK.search(query):
            return True
        if service == "lambda" and method == "POST" and path.startswith(INGEST_PREFIX):
            return self._has_token(scope, query)
        return False

    def _has_token(self, scope: Mapping[str, Any], query: bytes) -> bool:
        offered = b""
        for key, value in scope["headers"]:
            if key == b"authorization" and value[:7].lower() == b"bearer ":
                offered = value[7:].strip()
        if not offered:
            for key, text in parse_qsl(query.decode("latin-1")):
                if key == "token":
                    offered = text.encode("latin-1")
        return bool(offered) and hmac.compare_digest(offered, self._token)
