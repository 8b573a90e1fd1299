"""Reading the parts of a management request: the FunctionName path, paging, a JSON body."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request

from lambox.errors import InvalidRequestContent, RequestEntityTooLarge


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
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequestContent("Could not parse request body into json: not an object")
    return data


def path_name(request: Request) -> str:
    """The FunctionName path parameter (a name or an ARN, URL-decoded)."""
    return unquote(request.path_params["name"])


def max_items(query: Mapping[str, str]) -> int | None:
    value = query.get("MaxItems", "")
    return int(value) if value.isdigit() else None
