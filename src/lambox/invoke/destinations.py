"""Where the outcome of an asynchronous invocation goes: destinations and dead-letter targets.

Two messages leave an event that is finished with:

- the **invocation record** (AWS's format, version 1.0) for an OnSuccess / OnFailure
  destination, and
- the **dead-letter message** for the function's DeadLetterConfig target, when the event
  failed. AWS sends the original payload to an SQS queue or SNS topic with the message
  attributes RequestID, ErrorCode and ErrorMessage. lambox has no queues or topics yet, so
  its dead-letter target is a lambox function, invoked asynchronously with
  ``{"body": "<the original payload, as text>", "attributes": {"RequestID": ...,
  "ErrorCode": "200", "ErrorMessage": ...}}`` (``body`` is what an SQS consumer would read
  as the message body).

A target is a ``Destination``; today the only kind is another lambox function, whose
delivery is an asynchronous invocation (durably enqueued like any other). Queue, topic and
event-bus targets become further ``Destination`` implementations behind ``Destinations.get``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

from lambox.arns import Arns
from lambox.errors import LamboxError, ServiceError
from lambox.store.events import Attempt, EventQueue, NewEvent, QueuedEvent


class Destination(Protocol):
    """A target for the messages of finished events.

    ``deliver`` returns once the message is durably handed over (it survives a crash of
    lambox from then on) and raises a ``LamboxError`` when it could not be; the event then
    stays in the queue and is delivered again later (at least once, so a target may see a
    message twice).
    """

    async def deliver(self, message: bytes) -> None: ...


class FunctionDestination:
    """Invokes a lambox function asynchronously with the message as its event."""

    def __init__(self, queue: EventQueue, function: str, qualifier: str | None) -> None:
        self._queue = queue
        self.function = function
        self.qualifier = qualifier

    async def deliver(self, message: bytes) -> None:
        event = NewEvent(str(uuid.uuid4()), self.function, self.qualifier, message)
        await self._queue.put([event])


class UnsupportedDestination(ServiceError):
    """A destination ARN lambox cannot deliver to (yet)."""


class Destinations:
    """Turns a destination ARN into the ``Destination`` that delivers to it."""

    def __init__(self, queue: EventQueue, arns: Arns) -> None:
        self._queue = queue
        self._arns = arns

    def get(self, arn: str) -> Destination:
        if arn.split(":")[2:3] == ["lambda"]:
            try:
                name, qualifier = self._arns.parse(arn)
            except LamboxError as exc:
                raise UnsupportedDestination(f"not a function ARN: {arn}") from exc
            return FunctionDestination(self._queue, name, qualifier)
        raise UnsupportedDestination(f"lambox cannot deliver to {arn} yet")


def _document(data: bytes) -> Any:
    """A payload as it appears inside a record: its JSON value, else its text."""
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def _timestamp(now: float) -> str:
    """``2019-11-14T18:16:05.568Z``, as AWS writes the record's timestamp."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def invocation_record(
    event: QueuedEvent,
    function_arn: str,
    condition: str,
    attempts: int,
    last: Attempt | None,
    executed_version: str,
    now: float,
) -> bytes:
    """The invocation record of AWS's destinations (keys in AWS's order).

    ``function_arn`` is qualified (``...:function:NAME:$LATEST``). An event that never ran
    (throttled until it expired) has no response payload and status code 429.
    """
    response: dict[str, Any] = {
        "statusCode": 429 if last is None else last.status_code,
        "executedVersion": executed_version if last is None else last.executed_version,
    }
    if last is not None and last.function_error:
        response["functionError"] = last.function_error
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": _timestamp(now),
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": _document(event.payload),
        "responseContext": response,
    }
    if last is not None:
        record["responsePayload"] = _document(last.payload)
    return json.dumps(record).encode()


def dead_letter_message(event: QueuedEvent, last: Attempt | None) -> bytes:
    """The dead-letter message: the original payload and AWS's three message attributes."""
    error_message = "Rate Exceeded." if last is None else ""
    if last is not None:
        document = _document(last.payload)
        if isinstance(document, dict):
            error_message = str(document.get("errorMessage", ""))
    message = {
        "body": event.payload.decode("utf-8", "replace"),
        "attributes": {
            "RequestID": event.request_id,
            "ErrorCode": str(429 if last is None else last.status_code),
            "ErrorMessage": error_message,
        },
    }
    return json.dumps(message).encode()
