"""The json protocol (awsJson 1.0 / 1.1: SQS, EventBridge, CloudWatch Logs ...) and the JSON
documents rest-json bodies share, driven by botocore's model.

A request is ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>`` and a JSON body of
the input shape; timestamps travel as epoch seconds and blobs as base64. An error is
``{"__type": code, "message": ...}`` with ``x-amzn-ErrorType``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from lambox.errors import ServiceFault

MAX_DEPTH = 64
_NON_FINITE = frozenset({"NaN", "Infinity", "-Infinity"})


def _invalid(message: str) -> ServiceFault:
    return ServiceFault("SerializationException", message, 400)


def from_json(shape: Any, value: Any, depth: int = 0) -> Any:
    """A decoded JSON value read as ``shape`` (unknown members are dropped, as AWS does)."""
    if value is None:
        return None
    if depth > MAX_DEPTH:
        raise _invalid("Request is nested too deeply")
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _invalid(f"Expected an object for {shape.name}")
        out = {}
        for name, member in shape.members.items():
            # The wire name (locationName) as botocore's serializers write it, for json and
            # rest-json alike (apigatewayv2's ``protocolType``, ``corsConfiguration``...).
            key = member.serialization.get("name", name)
            if key in value and value[key] is not None:
                out[name] = from_json(member, value[key], depth + 1)
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise _invalid(f"Expected a list for {shape.name}")
        return [from_json(shape.member, v, depth + 1) for v in value]
    if kind == "map":
        if not isinstance(value, dict):
            raise _invalid(f"Expected an object for {shape.name}")
        return {str(k): from_json(shape.value, v, depth + 1) for k, v in value.items()}
    return _scalar(shape, value)


def _scalar(shape: Any, value: Any) -> Any:
    kind = shape.type_name
    try:
        if kind == "timestamp":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return dt.datetime.fromtimestamp(value, dt.UTC)
            return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if kind == "blob":
            return base64.b64decode(value, validate=True)
        if kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(value)
            return value
        if kind in ("float", "double"):
            # Smithy's JSON protocols send the non-finite numbers as strings.
            if isinstance(value, str) and value in _NON_FINITE:
                return float(value)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(value)
            return float(value)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise ValueError(value)
            return value
        if kind == "string" and not isinstance(value, str):
            raise ValueError(value)
    except (ValueError, TypeError, OverflowError, binascii.Error) as exc:
        raise _invalid(f"Invalid value for {shape.name}: {str(value)[:100]}") from exc
    return value


def to_json(shape: Any, value: Any) -> Any:
    """``value`` of ``shape`` as a JSON-ready value."""
    kind = shape.type_name
    if kind == "structure":
        return {
            member.serialization.get("name", name): to_json(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None and not member.serialization.get("location")
        }
    if kind == "list":
        return [to_json(shape.member, v) for v in value]
    if kind == "map":
        return {str(k): to_json(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        stamp = (
            value if isinstance(value, dt.datetime) else dt.datetime.fromtimestamp(value, dt.UTC)
        )
        return stamp.timestamp()
    if kind == "blob":
        return base64.b64encode(value).decode()
    return value


def parse_body(shape: Any, body: bytes) -> dict[str, Any]:
    """A JSON request body as ``shape``."""
    if shape is None or not body.strip():
        return {}
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise _invalid("Start of structure or map found where not expected.") from exc
    value = from_json(shape, document)
    return value if isinstance(value, dict) else {}


def operation_of(target: str, prefix: str) -> str | None:
    """The operation an ``X-Amz-Target`` names, when it has the service's prefix."""
    head, dot, operation = target.partition(".")
    return operation if dot and head == prefix and operation else None


def response(
    shape: Any, output: dict[str, Any], version: str
) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of a json-protocol answer."""
    body = json.dumps(to_json(shape, output) if shape is not None else {}).encode()
    return [("Content-Type", f"application/x-amz-json-{version}")], body


def error(fault: ServiceFault, version: str) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of a json-protocol error."""
    document: dict[str, Any] = {"__type": fault.aws_type, "message": fault.message}
    document.update(fault.fields)
    return (
        [
            ("Content-Type", f"application/x-amz-json-{version}"),
            ("x-amzn-ErrorType", fault.aws_type),
        ],
        json.dumps(document).encode(),
    )
