"""Delivering an event to a rule's or a schedule's target under the target's RetryPolicy
and DeadLetterConfig, as EventBridge and EventBridge Scheduler do.

A failure the target reports as retriable (throttling, an internal error) is tried again
after an exponential back-off (1 s doubling to 5 minutes) while the target's
``MaximumRetryAttempts`` and ``MaximumEventAgeInSeconds`` (185 and 24 hours by default)
allow; the retry is written to a durable outbox (``later``), so it survives a restart. A
failure that no retry can mend (the target does not exist, the request is invalid) is not
retried, as AWS documents. What is given up goes to the target's dead-letter queue, an SQS
queue, as a message with the attributes the service documents (``attributes`` of the
policy, the error, and for an exhausted policy which limit ran out), else it is dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_RETRIES = 185
DEFAULT_MAX_AGE = 86400.0
FIRST_DELAY = 1.0
MAX_DELAY = 300.0


class DeliveryFailed(Exception):
    """A target refused an event. ``code``: the target service's error code; ``category``:
    EventBridge's ERROR_CODE for it (``NO_RESOURCE``, ``THROTTLING``...)."""

    def __init__(self, code: str, category: str, message: str, retriable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.category = category
        self.message = message
        self.retriable = retriable


@dataclass(frozen=True)
class Policy:
    """One event's delivery terms and progress, stored with a retry in the outbox.

    ``style`` is ``events`` (EventBridge's dead-letter attributes: RULE_ARN, TARGET_ARN,
    ERROR_CODE as a category) or ``scheduler`` (SCHEDULE_ARN, TARGET_ARN, EXECUTION_ID,
    ERROR_CODE as the target's error code)."""

    retries: int = DEFAULT_RETRIES
    max_age: float = DEFAULT_MAX_AGE
    dead_letter: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    style: str = "events"
    first: float = 0.0
    attempts: int = 0
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_target(
        cls, target: Mapping[str, Any], attributes: dict[str, str], now: float, style: str
    ) -> Policy:
        """The policy a target's RetryPolicy and DeadLetterConfig spell, for an event first
        tried at ``now``."""
        retry = target.get("RetryPolicy") or {}
        dead = (target.get("DeadLetterConfig") or {}).get("Arn")
        group = (target.get("SqsParameters") or {}).get("MessageGroupId")
        return cls(
            int(retry.get("MaximumRetryAttempts", DEFAULT_RETRIES)),
            float(retry.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE)),
            str(dead) if dead else None,
            attributes,
            style,
            now,
            params={"MessageGroupId": str(group)} if group else {},
        )

    def dump(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def load(cls, text: str | None) -> Policy | None:
        if not text:
            return None
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None


# (target ARN, payload, target parameters): delivers, or raises DeliveryFailed
Send = Callable[[str, bytes, Mapping[str, str]], Awaitable[None]]
# (queue ARN, message body, string message attributes)
DeadLetter = Callable[[str, str, dict[str, str]], Awaitable[None]]
# (target ARN, payload, policy, due epoch seconds): store a retry durably
Later = Callable[[str, bytes, Policy, float], None]


def backoff(attempts: int) -> float:
    """Seconds before retry number ``attempts + 1``."""
    return float(min(MAX_DELAY, FIRST_DELAY * 2 ** min(attempts, 16)))


class Deliverer:
    """``deliver`` one event: send, else retry later or dead-letter it."""

    def __init__(
        self, send: Send, dead_letter: DeadLetter, later: Later, now: Callable[[], float]
    ) -> None:
        self._send = send
        self._dead_letter = dead_letter
        self._later = later
        self._now = now

    async def deliver(self, arn: str, payload: bytes, policy: Policy | None) -> None:
        try:
            await self._send(arn, payload, policy.params if policy else {})
            return
        except DeliveryFailed as failure:
            await self._failed(arn, payload, policy, failure)

    async def _failed(
        self, arn: str, payload: bytes, policy: Policy | None, failure: DeliveryFailed
    ) -> None:
        if policy is None:
            policy = Policy(first=self._now())
        exhausted = None
        if failure.retriable:
            due = self._now() + backoff(policy.attempts)
            if policy.attempts >= policy.retries:
                exhausted = "MaximumRetryAttempts"
            elif due - policy.first > policy.max_age:
                exhausted = "MaximumEventAgeInSeconds"
            else:
                self._later(arn, payload, replace(policy, attempts=policy.attempts + 1), due)
                return
        if policy.dead_letter is None:
            log.warning("event for %s dropped: %s", arn, failure.message)
            return
        attributes = {
            **policy.attributes,
            "TARGET_ARN": arn,
            "ERROR_CODE": failure.category if policy.style == "events" else failure.code,
            "ERROR_MESSAGE": failure.message,
            "RETRY_ATTEMPTS": str(policy.attempts),
        }
        if exhausted is not None:
            attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted
        try:
            await self._dead_letter(policy.dead_letter, payload.decode(), attributes)
        except Exception as exc:  # the dead-letter queue itself failed: the event is lost
            log.warning("event for %s not dead-lettered to %s: %s", arn, policy.dead_letter, exc)
