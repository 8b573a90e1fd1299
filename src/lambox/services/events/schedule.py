"""Scheduled rules as the ticker's timetable: a due slot of an enabled rule moves to the
first slot after now and sends the "Scheduled Event" envelope to each Lambda target.

A slot older than its window (the smallest ``MaximumEventAgeInSeconds`` of the rule's
targets, 24 hours by default) moves on without firing: a restart after a long outage fires
a rule once if its last slot is recent enough, never once per missed slot.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from lambox.events.ticker import Delivery, Due
from lambox.services.events import targets as target_rules
from lambox.services.events.service import (
    EventsService,
    delivery_policy,
    stamp,
)
from lambox.services.events.store import EventsStore

DEFAULT_WINDOW = 86400.0


class RuleTimetable:
    """The ``Timetable`` of EventBridge's scheduled rules."""

    def __init__(self, store: EventsStore, service: EventsService) -> None:
        self._store = store
        self._service = service

    def earliest(self) -> float | None:
        return self._store.earliest_slot()

    def due(self, now: float, limit: int) -> Sequence[Due]:
        return [Due(arn, slot) for arn, slot in self._store.due(now, limit)]

    def advance(self, item: Due, now: float) -> Sequence[Delivery]:
        rule = self._service.rules.get(item.key)
        if rule is None or rule.schedule is None or not rule.enabled:
            self._store.move_slot(item.key, item.slot, None)
            return []
        following = self._service.next_slot(rule, now)
        if not self._store.move_slot(item.key, item.slot, following):
            return []  # fired already (another pass, or before a restart)
        self._service.rules.put(rule.with_slot(following))
        targets = rule.stored.targets
        window = min(
            (
                float(t.get("RetryPolicy", {}).get("MaximumEventAgeInSeconds", DEFAULT_WINDOW))
                for t in targets
            ),
            default=DEFAULT_WINDOW,
        )
        if now - item.slot > window:
            return []
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self._service.account,
            "time": stamp(item.slot),
            "region": self._service.region,
            "resources": [rule.arn],
            "detail": {},
        }
        return [
            Delivery(
                t["Arn"],
                target_rules.payload(t, event, rule.arn),
                delivery_policy(t, rule.arn, time.time()),
            )
            for t in targets
            if self._service.deliverable(t.get("Arn", ""), rule.arn)
        ]
