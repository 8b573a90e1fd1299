"""An authentication failure as the request's own service answers it.

AWS's services name the same failure differently: Lambda and the json-protocol services
answer ``UnrecognizedClientException``/``InvalidSignatureException`` with ``x-amzn-ErrorType``;
IAM, STS and the other query services ``InvalidClientTokenId``/``SignatureDoesNotMatch`` in
an ``<ErrorResponse>``; S3 ``InvalidAccessKeyId``/``SignatureDoesNotMatch`` in its
``<Error>`` document with the fields it adds (``AWSAccessKeyId``, ``StringToSign``...).
"""

from __future__ import annotations

import json
import secrets

from lambox.edge import query, restxml
from lambox.edge.models import service_model
from lambox.edge.sigv4 import AuthFailure, Reason
from lambox.errors import ServiceFault

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]

_INVALID_TOKEN = "The security token included in the request is invalid."
_EXPIRED_TOKEN = "The security token included in the request is expired"
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check"
    " your AWS Secret Access Key and signing method. Consult the service documentation for"
    " details."
)

# reason -> (code, status, default message) for Lambda and the json-protocol services
_JSON: dict[Reason, tuple[str, int, str]] = {
    Reason.MISSING: ("MissingAuthenticationTokenException", 403, "Missing Authentication Token"),
    Reason.MALFORMED: ("IncompleteSignatureException", 403, "The request signature is invalid."),
    Reason.UNKNOWN_KEY: ("UnrecognizedClientException", 403, _INVALID_TOKEN),
    Reason.BAD_SIGNATURE: ("InvalidSignatureException", 403, _BAD_SIGNATURE),
    Reason.SKEWED: ("InvalidSignatureException", 403, "Signature expired"),
    Reason.EXPIRED: ("InvalidSignatureException", 403, "Signature expired"),
    Reason.BAD_TOKEN: ("UnrecognizedClientException", 403, _INVALID_TOKEN),
    Reason.EXPIRED_TOKEN: ("ExpiredTokenException", 403, _EXPIRED_TOKEN),
    Reason.BAD_PAYLOAD: ("InvalidSignatureException", 403, _BAD_SIGNATURE),
    Reason.TOO_LARGE: ("RequestEntityTooLargeException", 413, "Request is too large"),
}
_QUERY: dict[Reason, tuple[str, int, str]] = {
    Reason.MISSING: ("MissingAuthenticationToken", 403, "Request is missing Authentication Token"),
    Reason.MALFORMED: ("IncompleteSignature", 400, "The request signature is invalid."),
    Reason.UNKNOWN_KEY: ("InvalidClientTokenId", 403, _INVALID_TOKEN),
    Reason.BAD_SIGNATURE: ("SignatureDoesNotMatch", 403, _BAD_SIGNATURE),
    Reason.SKEWED: ("SignatureDoesNotMatch", 403, "Signature expired"),
    Reason.EXPIRED: ("SignatureDoesNotMatch", 403, "Signature expired"),
    Reason.BAD_TOKEN: ("InvalidClientTokenId", 403, _INVALID_TOKEN),
    Reason.EXPIRED_TOKEN: ("ExpiredToken", 403, _EXPIRED_TOKEN),
    Reason.BAD_PAYLOAD: ("SignatureDoesNotMatch", 403, _BAD_SIGNATURE),
    Reason.TOO_LARGE: ("RequestEntityTooLarge", 413, "Request is too large"),
}
_S3: dict[Reason, tuple[str, int, str]] = {
    Reason.MISSING: ("AccessDenied", 403, "Access Denied"),
    Reason.MALFORMED: (
        "AuthorizationHeaderMalformed",
        400,
        "The authorization header is malformed",
    ),
    Reason.UNKNOWN_KEY: (
        "InvalidAccessKeyId",
        403,
        "The AWS Access Key Id you provided does not exist in our records.",
    ),
    Reason.BAD_SIGNATURE: (
        "SignatureDoesNotMatch",
        403,
        "The request signature we calculated does not match the signature you provided."
        " Check your key and signing method.",
    ),
    Reason.SKEWED: (
        "RequestTimeTooSkewed",
        403,
        "The difference between the request time and the current time is too large.",
    ),
    Reason.EXPIRED: ("AccessDenied", 403, "Request has expired"),
    Reason.BAD_TOKEN: (
        "InvalidToken",
        400,
        "The provided token is malformed or otherwise invalid.",
    ),
    Reason.EXPIRED_TOKEN: ("ExpiredToken", 400, "The provided token has expired."),
    Reason.BAD_PAYLOAD: (
        "XAmzContentSHA256Mismatch",
        400,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
    Reason.TOO_LARGE: (
        "EntityTooLarge",
        400,
        "Your proposed upload exceeds the maximum allowed size",
    ),
}
# Reasons whose message is the failure's own detail when it has one.
_DETAILED = {Reason.MALFORMED, Reason.SKEWED, Reason.EXPIRED}


def s3_fault(failure: AuthFailure) -> ServiceFault:
    """The failure as S3's error (also raised from inside a body S3 is reading)."""
    code, status, message = _S3[failure.reason]
    if failure.reason is Reason.MALFORMED and failure.fields.get("query"):
        code = "AuthorizationQueryParametersError"
        message = failure.detail or message
    fields = {k: v for k, v in failure.fields.items() if k != "query"}
    return ServiceFault(code, message, status, **fields)


def answer(service: str, failure: AuthFailure) -> Answer:
    """Status, headers and body of the failure in ``service``'s protocol."""
    rid = secrets.token_hex(16)
    if service == "s3":
        fault = s3_fault(failure)
        body = restxml.error_document(fault, rid)
        return (
            fault.status,
            [(b"content-type", b"application/xml"), (b"x-amz-request-id", rid.encode())],
            body,
        )
    protocol = "rest-json" if service == "lambda" else _protocol(service)
    table = _QUERY if protocol == "query" else _JSON
    code, status, message = table[failure.reason]
    if failure.reason in _DETAILED and failure.detail:
        message = failure.detail
    if protocol == "query":
        namespace = str(service_model(service).metadata.get("xmlNamespace", ""))
        body = query.error(ServiceFault(code, message, status), rid, namespace)
        return status, [(b"content-type", b"text/xml"), (b"x-amzn-requestid", rid.encode())], body
    document = (
        {"message": message} if protocol == "rest-json" else {"__type": code, "message": message}
    )
    return (
        status,
        [
            (b"content-type", b"application/json"),
            (b"x-amzn-errortype", code.encode()),
            (b"x-amzn-requestid", rid.encode()),
        ],
        json.dumps(document).encode(),
    )


def _protocol(service: str) -> str:
    try:
        return str(service_model(service).metadata.get("protocol", "json"))
    except Exception:  # a service botocore does not model: the json protocols' shape
        return "json"
