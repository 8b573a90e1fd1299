"""S3's Signature Version 2: ``Authorization: AWS KEY:SIGNATURE`` and presigned URLs
(``AWSAccessKeyId``, ``Expires``, ``Signature``), which boto3 still makes for us-east-1.

The string to sign is botocore's ``HmacV1Auth.canonical_string``: the method, Content-MD5,
Content-Type, the Date (a presigned URL's Expires), the ``x-amz-*`` headers sorted, and the
resource: the path with its bucket (virtual-hosted requests add it) and the sub-resources of
the query. The signature is base64 HMAC-SHA1 of that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache
from urllib.parse import unquote


@cache
def subresources() -> frozenset[str]:
    """botocore's sub-resource names, imported on the first SigV2 request (not at start-up)."""
    from botocore.auth import HmacV1Auth

    return frozenset(HmacV1Auth.QSAOfInterest)


def string_to_sign(
    method: str,
    headers: list[tuple[bytes, bytes]],
    resource_path: str,
    pairs: list[tuple[str, str]],
    date: str | None = None,
    raw_query: str = "",
) -> str:
    """``date`` replaces the Date header (a presigned URL's Expires); the ``x-amz-*``
    parameters of a presigned URL's query count as headers."""
    standard = {"content-md5": "", "content-type": "", "date": ""}
    custom: dict[str, list[str]] = {}
    for key, value in headers:
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1").strip()
        if name in standard:
            standard[name] = text
        elif name.startswith("x-amz-"):
            custom.setdefault(name, []).append(text)
    if date is not None:
        standard["date"] = date
        for pname, pvalue in pairs:
            lower = pname.lower()
            if lower.startswith("x-amz-"):
                custom.setdefault(lower, []).append(pvalue.strip())
            elif lower in ("content-md5", "content-type") and not standard[lower]:
                standard[lower] = pvalue.strip()
    lines = [method, standard["content-md5"], standard["content-type"], standard["date"]]
    lines += [f"{name}:{','.join(custom[name])}" for name in sorted(custom)]
    return "\n".join(lines) + "\n" + resource_path + _subresources(raw_query)


def _subresources(raw_query: str) -> str:
    """The query's sub-resources as botocore writes them (names as sent, values decoded)."""
    kept = []
    names = subresources()
    for item in raw_query.split("&") if raw_query else []:
        name, eq, value = item.partition("=")
        if name in names:
            kept.append((name, f"{name}={unquote(value)}" if eq else name))
    if not kept:
        return ""
    kept.sort(key=lambda pair: pair[0])
    return "?" + "&".join(text for _, text in kept)


def signature(secret: str, to_sign: str) -> str:
    digest = hmac.new(secret.encode(), to_sign.encode("utf-8", "surrogateescape"), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode()


def matches(secret: str, to_sign: str, provided: str) -> bool:
    return hmac.compare_digest(signature(secret, to_sign).encode(), provided.encode())
