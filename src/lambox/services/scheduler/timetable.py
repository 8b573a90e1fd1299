"""Schedules as the ticker's timetable: a due slot moves to the next one after now (or to
none, when the schedule is complete: ``ActionAfterCompletion: DELETE`` then deletes it) and
the target gets the schedule's ``Input``, with Scheduler's context attributes filled in:
a function, an SQS queue (SqsParameters' MessageGroupId for a FIFO queue), an SNS topic, or
the universal targets ``aws-sdk:sqs:sendMessage`` and ``aws-sdk:sns:publish``. The target's
RetryPolicy and DeadLetterConfig go with the delivery (``events/delivery.py``).

A slot missed while lambox was down fires once at start-up if its nominal time is within
the schedule's window: the larger of its flexible time window and its target's
``RetryPolicy.MaximumEventAgeInSeconds`` (24 hours by default).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from lambox.events.delivery import Policy
from lambox.events.ticker import Delivery, Due
from lambox.services.events.senders import is_sendable
from lambox.services.scheduler.service import SchedulerService
from lambox.services.scheduler.store import SchedulerStore

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 86400.0


class ScheduleTimetable:
    """The ``Timetable`` of EventBridge Scheduler's schedules."""

    def __init__(
        self,
        store: SchedulerStore,
        service: SchedulerService,
        may_invoke: Callable[[str, str], bool] | None = None,
    ) -> None:
        self._store = store
        self._service = service
        # (function ARN, the target's RoleArn): whether Scheduler, acting as that role, may
        # invoke the function (the role trusts scheduler.amazonaws.com and is allowed
        # lambda:InvokeFunction), as AWS's Scheduler invokes a target
        self._may_invoke = may_invoke or (lambda _arn, _role: True)

    def earliest(self) -> float | None:
        return self._store.earliest_slot()

    def due(self, now: float, limit: int) -> Sequence[Due]:
        return [Due(arn, slot) for arn, slot in self._store.due(now, limit)]

    def advance(self, item: Due, now: float) -> Sequence[Delivery]:
        stored = self._store.get(item.key)
        if stored is None or stored.slot != item.slot:
            return []
        doc = stored.doc
        nominal = stored.nominal if stored.nominal is not None else item.slot
        following = None
        if doc.get("State") == "ENABLED":
            following = self._service.next_nominal(stored, max(now, nominal))
        slot = self._service.slot_for(doc, following)
        if not self._store.move_slot(item.key, item.slot, slot, following):
            return []  # fired already
        if following is None and doc.get("ActionAfterCompletion") == "DELETE":
            self._store.remove(item.key)
        target: dict[str, Any] = doc.get("Target") or {}
        max_age = float(
            (target.get("RetryPolicy") or {}).get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE)
        )
        if now - nominal > max(max_age, self._service.window(doc)):
            return []
        arn = str(target.get("Arn", ""))
        if not is_sendable(arn):
            return []
        if not self._may_invoke(arn, str(target.get("RoleArn", ""))):
            log.warning(
                "schedule %s: role %s may not invoke %s: event dropped",
                stored.arn,
                target.get("RoleArn"),
                arn,
            )
            return []
        execution = str(uuid.uuid4())
        policy = Policy.of_target(
            target,
            {"SCHEDULE_ARN": stored.arn, "EXECUTION_ID": execution},
            time.time(),
            "scheduler",
        )
        payload = self._input(stored.arn, target, nominal, execution).encode()
        return [Delivery(arn, payload, policy)]

    @staticmethod
    def _input(schedule_arn: str, target: dict[str, Any], nominal: float, execution: str) -> str:
        """The target's Input with Scheduler's context attributes; ``{}`` without one."""
        text = str(target.get("Input") or "{}")
        context = {
            "<aws.scheduler.schedule-arn>": schedule_arn,
            "<aws.scheduler.scheduled-time>": dt.datetime.fromtimestamp(nominal, dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "<aws.scheduler.execution-id>": execution,
            "<aws.scheduler.attempt-number>": "1",
        }
        for key, value in context.items():
            text = text.replace(key, value)
        return text
