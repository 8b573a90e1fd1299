"""What the REST protocols (rest-xml, rest-json) share: members bound to the path, the query
string and headers, the payload member, and how scalars are written in each place."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping, Sequence
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from lambox.errors import ServiceFault


def scalar_in(shape: Any, text: str) -> Any:
    """A scalar written as text (a header, a query parameter, an XML element) as ``shape``."""
    kind = shape.type_name
    if kind in ("integer", "long"):
        return int(text)
    if kind in ("float", "double"):
        return float(text)
    if kind == "boolean":
        return text.strip().lower() == "true"
    if kind == "timestamp":
        return parse_timestamp(text)
    if kind == "blob":
        return base64.b64decode(text)
    return text


def parse_timestamp(text: str) -> dt.datetime:
    """An ISO 8601 or HTTP-date timestamp, as clients send either."""
    text = text.strip()
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return parsedate_to_datetime(text)


def parse_input(
    op: Any,
    labels: Mapping[str, str],
    query: Mapping[str, Sequence[str]],
    headers: Mapping[str, str],
) -> dict[str, Any]:
    """Every non-payload input member of operation ``op`` from the request line and headers."""
    shape = op.input_shape
    out: dict[str, Any] = {}
    if shape is None:
        return out
    for member_name, member in shape.members.items():
        ser = member.serialization
        where = ser.get("location")
        name = ser.get("name", member_name)
        try:
            if where == "uri" and name in labels:
                out[member_name] = labels[name]
            elif where == "querystring" and name in query:
                values = query[name]
                if member.type_name == "list":
                    out[member_name] = [scalar_in(member.member, v) for v in values]
                else:
                    out[member_name] = scalar_in(member, values[0])
            elif where == "header" and name.lower() in headers:
                out[member_name] = scalar_in(member, headers[name.lower()])
            elif where == "headers":
                prefix = name.lower()
                found = {k[len(prefix) :]: v for k, v in headers.items() if k.startswith(prefix)}
                if found:
                    out[member_name] = found
        except (ValueError, TypeError, OverflowError) as exc:
            raise ServiceFault("InvalidArgument", f"Invalid value for {name}") from exc
    return out


def payload_member(shape: Any) -> tuple[str, Any] | None:
    """The payload member's name and shape, when the model names one."""
    if shape is None:
        return None
    name = shape.serialization.get("payload")
    return (name, shape.members[name]) if name else None


def scalar_out(shape: Any, value: Any, in_header: bool) -> str:
    """A scalar as text: timestamps as HTTP dates in headers, ISO 8601 elsewhere."""
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        stamp = (
            value if isinstance(value, dt.datetime) else dt.datetime.fromtimestamp(value, dt.UTC)
        )
        stamp = stamp.astimezone(dt.UTC)
        if in_header and shape.serialization.get("timestampFormat") != "iso8601":
            return format_datetime(stamp, usegmt=True)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
    if kind == "blob":
        return base64.b64encode(value).decode()
    return str(value)


def output_headers(shape: Any, output: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The header members of an output, as response headers."""
    headers: list[tuple[str, str]] = []
    if shape is None:
        return headers
    for member_name, member in shape.members.items():
        value = output.get(member_name)
        if value is None:
            continue
        ser = member.serialization
        where = ser.get("location")
        name = ser.get("name", member_name)
        if where == "header":
            headers.append((name, scalar_out(member, value, in_header=True)))
        elif where == "headers":
            headers.extend((name + k, str(v)) for k, v in value.items())
    return headers
