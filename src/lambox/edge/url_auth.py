"""Function URLs with ``AuthType: AWS_IAM``: who may call them.

A function URL is a public endpoint, so the edge does not refuse its unsigned requests; it
only verifies a request that carries a SigV4 signature (service ``lambda``) and leaves the
principal, or the failure, in the scope. The URL's endpoint then asks ``UrlGuard`` when its
AuthType is AWS_IAM: the request must be signed by a known key (any key acting as the
account's root in the open posture, as every signed request there) and, where IAM policies
are enforced, the principal must be allowed ``lambda:InvokeFunctionUrl`` on the function
(qualified by the URL's alias) by an identity policy or by the function's resource policy,
with ``lambda:FunctionUrlAuthType`` = ``AWS_IAM`` in the request context (AddPermission's
``FunctionUrlAuthType`` condition). Refusals are AWS's 403.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambox.edge import denials
from lambox.edge.authorize import Authorizer
from lambox.edge.identity import Principal
from lambox.edge.sigv4 import AuthFailure

PRINCIPAL = "lambox.principal"
AUTH_FAILURE = "lambox.auth_failure"
"""The scope key of a signature that did not verify (a function URL request only)."""
ACTION = "lambda:InvokeFunctionUrl"
_KEY = re.compile(r"Credential=([^/,\s]+)/")


def is_signed(scope: Mapping[str, Any]) -> bool:
    """Whether a request carries a SigV4 signature (header or presigned query)."""
    for key, value in scope["headers"]:
        if key == b"authorization":
            return bool(value.startswith(b"AWS4-HMAC-SHA256"))
    query: bytes = scope.get("query_string") or b""
    return b"X-Amz-Signature=" in query


@dataclass(frozen=True, slots=True)
class Refusal:
    """AWS's answer to a refused function URL request."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class UrlGuard:
    """``refusal(scope, function, qualifier)``: None when the caller may invoke the URL."""

    def __init__(self, authorizer: Authorizer, region: str, account: str) -> None:
        self._authorizer = authorizer
        self._prefix = f"arn:aws:lambda:{region}:{account}:function:"

    def public_refusal(self, function: str, qualifier: str) -> Refusal | None:
        """An ``AuthType: NONE`` URL: where policies are enforced, the function's resource
        policy must allow everyone (``Principal: "*"``) ``lambda:InvokeFunctionUrl`` with
        ``lambda:FunctionUrlAuthType`` = ``NONE``, as AWS requires (the statement
        CreateFunctionUrlConfig's console flow adds as ``FunctionURLAllowPublicAccess``)."""
        if self._authorizer.public_permits(
            ACTION, self._arn(function, qualifier), {"lambda:FunctionUrlAuthType": "NONE"}
        ):
            return None
        return _FORBIDDEN

    def _arn(self, function: str, qualifier: str) -> str:
        arn = self._prefix + function
        return f"{arn}:{qualifier}" if qualifier and qualifier != "$LATEST" else arn

    def refusal(self, scope: Mapping[str, Any], function: str, qualifier: str) -> Refusal | None:
        failure: AuthFailure | None = scope.get(AUTH_FAILURE)
        if failure is not None:
            status, headers, body = denials.answer("lambda", failure)
            return Refusal(status, headers, body)
        principal: Principal | None = scope.get(PRINCIPAL)
        if principal is None or principal.kind == "anonymous":
            return _FORBIDDEN
        client = scope.get("client") or ("", 0)
        denial = self._authorizer.denial(
            principal,
            ACTION,
            self._arn(function, qualifier),
            str(client[0]),
            {"lambda:FunctionUrlAuthType": "AWS_IAM"},
        )
        return None if denial is None else _FORBIDDEN

    @staticmethod
    def caller(scope: Mapping[str, Any]) -> dict[str, Any] | None:
        """The ``requestContext.authorizer.iam`` of the event, as AWS fills it in."""
        principal: Principal | None = scope.get(PRINCIPAL)
        if principal is None:
            return None
        access_key = ""
        for key, value in scope["headers"]:
            if key == b"authorization":
                found = _KEY.search(value.decode("latin-1"))
                access_key = found.group(1) if found else ""
        return {
            "accessKey": access_key,
            "accountId": principal.account,
            "callerId": principal.user_id,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": principal.arn,
            "userId": principal.user_id,
        }


_FORBIDDEN = Refusal(
    403,
    [(b"content-type", b"application/json"), (b"x-amzn-errortype", b"AccessDeniedException")],
    b'{"Message":"Forbidden. For troubleshooting Function URL authorization issues, see:'
    b' https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"}',
)
