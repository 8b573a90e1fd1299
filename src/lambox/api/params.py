"""Reading the parts of a management request: the FunctionName path, paging, a JSON body."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request

from lambox import jsontext
from lambox.errors import InvalidParameterValue, InvalidRequestContent, RequestEntityTooLarge

_PARSE_ERROR = "Could not parse request body into json: "


async def json_body(request: Request, limit: int, operation: str) -> dict[str, Any]:
    """The JSON object of a request body, bounded in size, or AWS's error."""
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge(
                f"Request must be smaller than {limit} bytes for the {operation} operation"
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        return {}
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
        try:
            data = jsontext.loads_fast(text)
        except jsontext.NeedsStack:
            # Up to seconds for megabytes nested ~1,000 deep: not on the event loop.
            data = await asyncio.to_thread(jsontext.loads_by_stack, text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestContent(f"{_PARSE_ERROR}{exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequestContent(f"{_PARSE_ERROR}not an object")
    _refuse_lone_surrogates(data)
    return data


def _refuse_lone_surrogates(data: dict[str, Any]) -> None:
    """A string escaping half a surrogate pair (``"\\udc80"``) is valid JSON, but no text:
    lambox could neither store nor measure it, and AWS refuses the body before any model
    validation (no recording shows its words, these follow Jackson's)."""
    for text in jsontext.strings(data):
        lone = jsontext.lone_surrogate(text)
        if lone is not None:
            raise InvalidRequestContent(
                f"{_PARSE_ERROR}Unpaired surrogate character (code 0x{ord(lone):X})"
                " in a JSON String"
            )


class _Segment(Convertor[str]):
    """A path segment that may be empty."""

    regex = "[^/]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


def function_path(path: str) -> str:
    """A route path whose ``{name}`` (the FunctionName) may be empty: AWS validates an empty
    name like any other malformed one, so it must reach its operation, not answer as an
    unknown route. Registers the convertor Starlette reads when it compiles the route."""
    register_url_convertor("segment", _Segment())
    return path.replace("{name}", "{name:segment}")


def path_name(request: Request) -> str:
    """The FunctionName path parameter (a name or an ARN, URL-decoded)."""
    return unquote(request.path_params["name"])


def max_items(query: Mapping[str, str]) -> int | None:
    value = query.get("MaxItems", "")
    return int(value) if _is_count(value) else None


def count(query: Mapping[str, str], key: str, default: int) -> int:
    """A non-negative integer query parameter of lambox's own routes, or its default when
    absent; anything else is the caller's error."""
    value = query.get(key, "")
    if not value:
        return default
    if not _is_count(value):
        raise InvalidParameterValue(f"{key} must be a non-negative integer, not {value!r}.")
    return int(value)


def _is_count(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` refuses."""
    return text.isascii() and text.isdigit()
