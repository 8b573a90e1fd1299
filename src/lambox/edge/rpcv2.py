"""Smithy's rpc-v2-cbor protocol (offered by CloudWatch's model beside json and query),
driven by botocore's model.

A request is ``POST /service/<targetPrefix>/operation/<Operation>`` with the header
``smithy-protocol: rpc-v2-cbor`` and a CBOR body of the input shape (timestamps as tag 1,
blobs as byte strings). The answer is the output shape in CBOR with the same header. An
error is ``{"__type": "<namespace>#<ShapeName>", "message": ...}``; a service whose model is
``awsQueryCompatible`` also says the query-protocol code and fault in
``x-amzn-query-error: <Code>;<Sender|Receiver>``, which botocore reads as the error code.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

from lambox.edge import awsjson, cbor
from lambox.errors import ServiceFault

_PATH = re.compile(r"^/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)$")
CONTENT_TYPE = "application/cbor"


def operation_of(path: str, prefix: str) -> str | None:
    """The operation a request path names, when it names the service of ``prefix``."""
    found = _PATH.match(path)
    if found is None or found["service"] != prefix:
        return None
    return found["operation"]


def _jsonish(value: Any) -> Any:
    """Decoded CBOR in the shapes the json protocol reads (timestamps as epoch seconds,
    blobs as base64), so one reader serves both protocols."""
    if isinstance(value, dict):
        return {k: _jsonish(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonish(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def parse_body(shape: Any, body: bytes) -> dict[str, Any]:
    """A CBOR request body as ``shape``."""
    if shape is None or not body:
        return {}
    document = cbor.decode(body)
    if not isinstance(document, dict):
        raise ServiceFault("SerializationException", "Expected a CBOR map", 400)
    value = awsjson.from_json(shape, _jsonish(document))
    return value if isinstance(value, dict) else {}


def to_cbor(shape: Any, value: Any) -> Any:
    """``value`` of ``shape`` as what ``cbor.encode`` writes."""
    kind = shape.type_name
    if kind == "structure":
        return {
            name: to_cbor(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        return [to_cbor(shape.member, v) for v in value]
    if kind == "map":
        return {str(k): to_cbor(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        stamp = value.timestamp() if isinstance(value, dt.datetime) else float(value)
        return cbor.Epoch(stamp)
    if kind in ("double", "float"):
        return float(value)
    return value


def response(shape: Any, output: dict[str, Any]) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of an rpc-v2-cbor answer."""
    body = cbor.encode(to_cbor(shape, output) if shape is not None else {})
    return [("Content-Type", CONTENT_TYPE), ("smithy-protocol", "rpc-v2-cbor")], body


def error(
    fault: ServiceFault, type_name: str, query_compatible: bool
) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of an error; ``type_name`` is the error's qualified shape name."""
    document: dict[str, Any] = {"__type": type_name, "message": fault.message}
    document.update(fault.fields)
    headers = [("Content-Type", CONTENT_TYPE), ("smithy-protocol", "rpc-v2-cbor")]
    if query_compatible:
        side = "Sender" if fault.status < 500 else "Receiver"
        headers.append(("x-amzn-query-error", f"{fault.aws_type};{side}"))
    return headers, cbor.encode(document)
