"""The ingest endpoint for S3-format notifications from object stores lambox does not run.

MinIO's webhook target and Ceph RGW's HTTP push endpoint POST S3 event records (MinIO
wraps them as ``{"EventName", "Key", "Records"}``, Ceph sends ``{"Records"}``); pointed at
``/lambox/v1/s3-events/<function>[?Qualifier=...]``, each record becomes one asynchronous
invocation of that function with ``{"Records": [record]}``, as S3 delivers them. The answer
is 200 only once every record is in the durable event queue, so a store that retries on
failure (both do) never loses one.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lambox.api.responses import json_response
from lambox.errors import InvalidRequestContent, RequestTooLarge
from lambox.invoke.ids import new_request_id
from lambox.invoke.service import InvokeService
from lambox.model import Invocation, InvocationType

BODY_LIMIT = 1 << 20


class IngestApi:
    """``POST /lambox/v1/s3-events/{function}``."""

    def __init__(self, invoke: InvokeService) -> None:
        self._invoke = invoke

    async def s3_events(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > BODY_LIMIT:
            raise RequestTooLarge(f"Request must be smaller than {BODY_LIMIT} bytes")
        records = _records(body)
        name = request.path_params["function"]
        qualifier = request.query_params.get("Qualifier") or None
        for record in records:
            payload = json.dumps({"Records": [record]}, separators=(",", ":")).encode()
            event = Invocation(new_request_id(), payload, InvocationType.EVENT, qualifier=qualifier)
            await self._invoke.invoke(name, event)
        return json_response({"Accepted": len(records)})

    def routes(self) -> list[BaseRoute]:
        return [Route("/lambox/v1/s3-events/{function}", self.s3_events, methods=["POST"])]


def _records(body: bytes) -> list[dict[str, object]]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestContent("Could not parse the request body as JSON") from exc
    records = document.get("Records") if isinstance(document, dict) else None
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and isinstance(r.get("s3"), dict) for r in records
    ):
        raise InvalidRequestContent('Expected S3 event records: {"Records": [{"s3": {...}, ...}]}')
    return records
