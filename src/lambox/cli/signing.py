"""The CLI's HTTP client, signing every request with SigV4 when credentials are set.

``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``) from the
environment, as the AWS CLI reads them (``eval "$(lambox credentials)"`` sets them): a
strict lambox refuses unsigned requests. Without them requests go unsigned, which an open
(loopback) lambox accepts as the account's root.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import httpx


class SigV4(httpx.Auth):
    """httpx authentication signing each request as botocore signs Lambda's."""

    requires_request_body = True

    def __init__(self, key: str, secret: str, token: str | None, region: str) -> None:
        self._key, self._secret, self._token, self._region = key, secret, token, region

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        signed = AWSRequest(
            method=request.method,
            url=str(request.url),
            data=request.content,
            headers={"Host": request.headers["host"]},
        )
        credentials = Credentials(self._key, self._secret, self._token)
        SigV4Auth(credentials, "lambda", self._region).add_auth(signed)
        for name, value in signed.headers.items():
            request.headers[name] = value
        yield request


def client(endpoint_url: str, timeout: float = 10) -> httpx.Client:
    key = os.environ.get("AWS_ACCESS_KEY_ID")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    auth = None
    if key and secret:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        auth = SigV4(key, secret, os.environ.get("AWS_SESSION_TOKEN"), region)
    return httpx.Client(base_url=endpoint_url, timeout=timeout, auth=auth)
