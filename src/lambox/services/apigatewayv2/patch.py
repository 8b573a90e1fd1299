"""The JSON-patch-like ``patchOperations`` of REST APIs' Update* operations (UpdateRestApi,
UpdateResource, UpdateMethod, UpdateStage): which paths each accepts, with which ``op``,
and API Gateway's refusals in its own words (recorded from AWS).

A path is ``/member`` or ``/member/key`` (a key of a map member such as a stage's
``variables``); ``~1`` in a key stands for ``/`` and ``~0`` for ``~``, as in JSON Pointer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lambox.errors import ServiceFault

STAGE_PATHS = (
    "/deploymentId, /description, /cacheClusterEnabled, /cacheClusterSize,"
    " /clientCertificateId, /accessLogSettings, /accessLogSettings/destinationArn,"
    " /accessLogSettings/format, /{resourcePath}/{httpMethod}/metrics/enabled,"
    " /{resourcePath}/{httpMethod}/logging/dataTrace,"
    " /{resourcePath}/{httpMethod}/logging/loglevel,"
    " /{resourcePath}/{httpMethod}/throttling/burstLimit"
    "/{resourcePath}/{httpMethod}/throttling/rateLimit"
    "/{resourcePath}/{httpMethod}/caching/ttlInSeconds,"
    " /{resourcePath}/{httpMethod}/caching/enabled,"
    " /{resourcePath}/{httpMethod}/caching/dataEncrypted,"
    " /{resourcePath}/{httpMethod}/caching/requireAuthorizationForCacheControl,"
    " /{resourcePath}/{httpMethod}/caching/unauthorizedCacheControlHeaderStrategy,"
    " /*/*/metrics/enabled, /*/*/logging/dataTrace, /*/*/logging/loglevel,"
    " /*/*/throttling/burstLimit /*/*/throttling/rateLimit /*/*/caching/ttlInSeconds,"
    " /*/*/caching/enabled, /*/*/caching/dataEncrypted,"
    " /*/*/caching/requireAuthorizationForCacheControl,"
    " /*/*/caching/unauthorizedCacheControlHeaderStrategy, /variables/{variable_name},"
    " /tracingEnabled"
)
"""The paths UpdateStage names when it refuses one (AWS's list, spacing included)."""


def bad_request(message: str) -> ServiceFault:
    return ServiceFault("BadRequestException", message, 400)


def operations(params: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """(op, path, value) of each patch operation, in order."""
    return [
        (str(o.get("op", "")), str(o.get("path", "")), o.get("value"))
        for o in params.get("patchOperations") or []
    ]


def split(path: str) -> tuple[str, str | None]:
    """``/member`` -> (member, None); ``/member/key`` -> (member, unescaped key)."""
    member, sep, key = path.lstrip("/").partition("/")
    return member, key.replace("~1", "/").replace("~0", "~") if sep else None


def boolean(value: Any) -> bool:
    """A patch value is a string; API Gateway reads booleans from "true"/"false"."""
    return str(value).lower() == "true"


def set_member(target: dict[str, Any], op: str, member: str, value: Any) -> None:
    """``replace``/``add`` a plain member, ``remove`` deletes it."""
    if op == "remove":
        target.pop(member, None)
    else:
        target[member] = value


def patch_map(target: dict[str, Any], member: str, op: str, key: str, value: Any) -> None:
    """``add``/``replace`` or ``remove`` one key of a map member (stage variables,
    request parameters)."""
    entries = target.setdefault(member, {})
    if op == "remove":
        entries.pop(key, None)
    else:
        entries[key] = value


def patch_list(target: dict[str, Any], member: str, op: str, key: str, value: Any) -> None:
    """``add``/``remove`` an item of a list member (binary media types); ``replace`` puts
    ``value`` in place of ``key``."""
    items: list[str] = target.setdefault(member, [])
    if op in ("remove", "replace") and key in items:
        items.remove(key)
    if op == "add" and key not in items:
        items.append(key)
    if op == "replace" and value is not None and value not in items:
        items.append(value)
    if not items:
        target.pop(member, None)


def require_ops(ops: Iterable[tuple[str, str, Any]], allowed: tuple[str, ...]) -> None:
    for op, _, _ in ops:
        if op not in allowed:
            raise bad_request(
                f"Invalid patch operation specified. Must be one of: [{', '.join(allowed)}]"
            )
