"""Sending one EventBridge or Scheduler event to its target: a function (an asynchronous
Invoke), an SQS queue (a message, with a FIFO queue's MessageGroupId) or an SNS topic (a
published message), and Scheduler's universal targets for the same two services
(``arn:aws:scheduler:::aws-sdk:sqs:sendMessage`` and ``...:sns:publish``, whose Input is
the API's request). A refusal becomes ``DeliveryFailed``, retriable or not as AWS treats
its kind (a missing target or an invalid request is never retried; a throttle or an
internal error is).

The services are reached only through the callables ``server.py`` passes in.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from lambox.errors import LamboxError, ResourceNotFound, ServiceFault, TooManyRequests
from lambox.events.delivery import DeliveryFailed

UNIVERSAL_SQS = "arn:aws:scheduler:::aws-sdk:sqs:sendMessage"
UNIVERSAL_SNS = "arn:aws:scheduler:::aws-sdk:sns:publish"
_MISSING = {"AWS.SimpleQueueService.NonExistentQueue", "NotFound", "QueueDoesNotExist"}

# (SQS SendMessage params, caller service) / (SNS Publish params) / (function ARN, payload)
SendMessage = Callable[[dict[str, Any]], Awaitable[Any]]
Publish = Callable[[dict[str, Any]], Awaitable[Any]]
Invoke = Callable[[str, bytes], Awaitable[None]]


def is_sendable(arn: str) -> bool:
    """Whether lambox can deliver to ``arn``."""
    return (
        arn.startswith("arn:aws:sqs:")
        or arn.startswith("arn:aws:sns:")
        or (":lambda:" in arn and ":function:" in arn)
        or arn in (UNIVERSAL_SQS, UNIVERSAL_SNS)
    )


def _upper_first(params: Mapping[str, Any]) -> dict[str, Any]:
    """A universal target's Input spells the API's members in the SDK's camelCase or in
    the API's PascalCase; the services take PascalCase."""
    return {k[:1].upper() + k[1:]: v for k, v in params.items()}


class TargetSender:
    """``send(arn, payload, params)``: ``params`` holds a queue target's MessageGroupId."""

    def __init__(
        self, account: str, send_message: SendMessage, publish: Publish, invoke: Invoke
    ) -> None:
        self._account = account
        self._send_message = send_message
        self._publish = publish
        self._invoke = invoke

    async def send(self, arn: str, payload: bytes, params: Mapping[str, Any]) -> None:
        try:
            await self._send(arn, payload, params)
        except DeliveryFailed:
            raise
        except ServiceFault as fault:
            missing = fault.aws_type in _MISSING or fault.status == 404
            category = "NO_RESOURCE" if missing else "INVALID_PARAMETER"
            raise DeliveryFailed(fault.aws_type, category, fault.message, False) from fault
        except ResourceNotFound as exc:
            raise DeliveryFailed(exc.aws_type, "NO_RESOURCE", exc.message, False) from exc
        except TooManyRequests as exc:
            raise DeliveryFailed(exc.aws_type, "THROTTLING", exc.message, True) from exc
        except LamboxError as exc:
            retriable = exc.status >= 500
            category = "INTERNAL_ERROR" if retriable else "INVALID_PARAMETER"
            raise DeliveryFailed(exc.aws_type, category, exc.message, retriable) from exc

    async def _send(self, arn: str, payload: bytes, params: Mapping[str, Any]) -> None:
        if arn in (UNIVERSAL_SQS, UNIVERSAL_SNS):
            try:
                request = _upper_first(json.loads(payload))
            except (ValueError, AttributeError) as exc:
                raise DeliveryFailed(
                    "ValidationException", "INVALID_JSON", "Input is not a JSON object", False
                ) from exc
            if arn == UNIVERSAL_SQS:
                await self._send_message(request)
            else:
                await self._publish(request)
            return
        if arn.startswith("arn:aws:sqs:"):
            name = arn.rsplit(":", 1)[1]
            message: dict[str, Any] = {
                "QueueUrl": f"/{self._account}/{name}",
                "MessageBody": payload.decode(),
            }
            if params.get("MessageGroupId"):
                message["MessageGroupId"] = params["MessageGroupId"]
            await self._send_message(message)
        elif arn.startswith("arn:aws:sns:"):
            await self._publish({"TopicArn": arn, "Message": payload.decode()})
        else:
            await self._invoke(arn, payload)
