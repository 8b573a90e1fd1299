"""The delivery of rule and schedule events under a target's RetryPolicy and
DeadLetterConfig: what is retried, when the policy runs out, what the dead-letter message
says, and that a retry waits in the EventBridge store across a reopen."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from pathlib import Path

from lambox.events.delivery import Deliverer, DeliveryFailed, Policy, backoff
from lambox.services.events.store import EventsStore

NOW = 1_000_000.0
ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"
DLQ = "arn:aws:sqs:us-east-1:000000000000:dlq"


class _Harness:
    def __init__(self, failure: DeliveryFailed | None) -> None:
        self.failure = failure
        self.sent: list[tuple[str, bytes, Mapping[str, str]]] = []
        self.dead: list[tuple[str, str, dict[str, str]]] = []
        self.later: list[tuple[str, bytes, Policy, float]] = []
        self.deliverer = Deliverer(self._send, self._dead, self._later, lambda: NOW)

    async def _send(self, arn: str, payload: bytes, params: Mapping[str, str]) -> None:
        self.sent.append((arn, payload, params))
        if self.failure is not None:
            raise self.failure

    async def _dead(self, queue: str, body: str, attributes: dict[str, str]) -> None:
        self.dead.append((queue, body, attributes))

    def _later(self, arn: str, payload: bytes, policy: Policy, due: float) -> None:
        self.later.append((arn, payload, policy, due))

    def deliver(self, policy: Policy | None) -> None:
        asyncio.run(self.deliverer.deliver(ARN, b'{"e": 1}', policy))


def _policy(**changes: object) -> Policy:
    target = {
        "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 600},
        "DeadLetterConfig": {"Arn": DLQ},
        "SqsParameters": {"MessageGroupId": "g"},
    }
    base = Policy.of_target(target, {"RULE_ARN": "arn:rule"}, NOW, "events")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


THROTTLED = DeliveryFailed("TooManyRequestsException", "THROTTLING", "slow down", True)
MISSING = DeliveryFailed("ResourceNotFoundException", "NO_RESOURCE", "no such function", False)


def test_a_delivered_event_passes_the_targets_parameters() -> None:
    h = _Harness(None)
    h.deliver(_policy())
    assert h.sent == [(ARN, b'{"e": 1}', {"MessageGroupId": "g"})]
    assert (h.dead, h.later) == ([], [])


def test_a_missing_target_is_dead_lettered_without_a_retry() -> None:
    h = _Harness(MISSING)
    h.deliver(_policy())
    assert h.later == []
    assert h.dead == [
        (
            DLQ,
            '{"e": 1}',
            {
                "RULE_ARN": "arn:rule",
                "TARGET_ARN": ARN,
                "ERROR_CODE": "NO_RESOURCE",
                "ERROR_MESSAGE": "no such function",
                "RETRY_ATTEMPTS": "0",
            },
        )
    ]


def test_a_throttle_is_retried_until_the_attempts_run_out() -> None:
    h = _Harness(THROTTLED)
    h.deliver(_policy())
    ((_, _, policy, due),) = h.later
    assert (policy.attempts, due) == (1, NOW + backoff(0))
    h.later.clear()
    h.deliver(_policy(attempts=2))
    assert h.later == []
    ((_, _, attributes),) = h.dead
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert (attributes["ERROR_CODE"], attributes["RETRY_ATTEMPTS"]) == ("THROTTLING", "2")


def test_a_throttle_past_the_event_age_is_given_up() -> None:
    h = _Harness(THROTTLED)
    h.deliver(_policy(first=NOW - 599, attempts=1))
    assert h.later == []
    ((_, _, attributes),) = h.dead
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"


def test_a_schedules_dead_letter_names_the_schedule_and_the_error_code() -> None:
    h = _Harness(MISSING)
    target = {"DeadLetterConfig": {"Arn": DLQ}}
    policy = Policy.of_target(target, {"SCHEDULE_ARN": "s", "EXECUTION_ID": "x"}, NOW, "scheduler")
    h.deliver(policy)
    ((_, _, attributes),) = h.dead
    assert attributes["ERROR_CODE"] == "ResourceNotFoundException"
    assert (attributes["SCHEDULE_ARN"], attributes["EXECUTION_ID"]) == ("s", "x")


def test_without_a_dead_letter_queue_the_event_is_dropped() -> None:
    h = _Harness(MISSING)
    h.deliver(_policy(dead_letter=None))
    assert (h.dead, h.later) == ([], [])


def test_a_retry_waits_in_the_store_across_a_reopen(tmp_path: Path) -> None:
    import time

    store = EventsStore(tmp_path / "events.db")
    policy = _policy(attempts=1)
    later = time.time() + 3600
    store.retry_later(ARN, b"{}", policy.dump(), later)
    assert store.outgoing(10) == []  # not due yet
    store.close()
    store = EventsStore(tmp_path / "events.db")
    assert store.next_due() == later
    store.retry_later(ARN, b"{}", policy.dump(), 1.0)  # long due
    (record,) = store.outgoing(10)
    assert Policy.load(record.meta) == policy
    store.close()
