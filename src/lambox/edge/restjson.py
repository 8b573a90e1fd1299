"""The rest-json protocol (API Gateway, EventBridge Scheduler, Lambda), driven by botocore's model.

Members bound to the path, query string and headers are read as every REST protocol reads
them (``rest.py``); the rest of the input is the JSON body, or the payload member when the
model names one. Answers mirror that: header members as headers, ``statusCode`` members as
the status, the remaining members (or the payload) as the JSON body. An error carries
``x-amzn-ErrorType`` and ``{"message": ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from lambox.edge import awsjson, rest
from lambox.errors import ServiceFault


def parse(
    op: Any,
    labels: Mapping[str, str],
    query: Mapping[str, Sequence[str]],
    headers: Mapping[str, str],
    body: bytes,
) -> dict[str, Any]:
    """Every input member of ``op`` from the request."""
    params = rest.parse_input(op, labels, query, headers)
    shape = op.input_shape
    if shape is None:
        return params
    payload = rest.payload_member(shape)
    if payload is not None:
        name, member = payload
        if member.type_name in ("blob", "string"):
            if body:
                params[name] = body if member.type_name == "blob" else body.decode()
        elif body.strip():
            params[name] = awsjson.parse_body(member, body)
        return params
    for name, value in awsjson.parse_body(shape, body).items():
        if not shape.members[name].serialization.get("location"):
            params[name] = value
    return params


def response(op: Any, output: Mapping[str, Any]) -> tuple[int | None, list[tuple[str, str]], bytes]:
    """(status from a statusCode member, headers, body) of an answer."""
    shape = op.output_shape
    if shape is None:
        return None, [], b""
    headers = rest.output_headers(shape, output)
    status = None
    for name, member in shape.members.items():
        if member.serialization.get("location") == "statusCode" and output.get(name) is not None:
            status = int(output[name])
    payload = rest.payload_member(shape)
    if payload is not None:
        name, member = payload
        value = output.get(name)
        if value is None:
            return status, headers, b""
        if member.type_name == "blob":
            return status, headers, bytes(value)
        if member.type_name == "string":
            return status, headers, str(value).encode()
        body = json.dumps(awsjson.to_json(member, value)).encode()
    else:
        body = json.dumps(awsjson.to_json(shape, dict(output))).encode()
    return status, [*headers, ("Content-Type", "application/json")], body


def error(fault: ServiceFault) -> tuple[list[tuple[str, str]], bytes]:
    document: dict[str, Any] = {"message": fault.message, **fault.fields}
    return (
        [("Content-Type", "application/json"), ("x-amzn-ErrorType", fault.aws_type)],
        json.dumps(document).encode(),
    )
