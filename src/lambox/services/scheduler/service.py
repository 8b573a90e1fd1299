"""EventBridge Scheduler's operations: schedules and schedule groups.

A schedule is stored as its request members (dates as epoch seconds) with its next slot:
the nominal time (``at()``, ``rate()`` from StartDate or the last change, ``cron()`` in
ScheduleExpressionTimezone; never before StartDate nor after EndDate) and the moment it
fires, a random point of its FlexibleTimeWindow after it (chosen once, stored).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable
from typing import Any

from lambox.errors import InvalidSchedule, ServiceFault
from lambox.events import cron
from lambox.services.scheduler.store import SchedulerStore, StoredSchedule

DEFAULT_GROUP = "default"
_NAME = re.compile(r"^[0-9a-zA-Z\-_.]{1,64}$")
_DATES = ("StartDate", "EndDate")
Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _not_found(message: str) -> ServiceFault:
    return ServiceFault("ResourceNotFoundException", message, 404, Message=message)


def _conflict(message: str) -> ServiceFault:
    return ServiceFault("ConflictException", message, 409, Message=message)


def _validation(message: str) -> ServiceFault:
    return ServiceFault("ValidationException", message, 400, Message=message)


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, dt.datetime) else float(value)


def _when(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


class SchedulerService:
    """The ``scheduler`` service; ``reschedule`` wakes the ticker after a change."""

    def __init__(
        self,
        store: SchedulerStore,
        region: str,
        account: str,
        now: Callable[[], float],
        reschedule: Callable[[], None],
    ) -> None:
        self._store = store
        self.region = region
        self.account = account
        self._now = now
        self._reschedule = reschedule
        store.add_group(DEFAULT_GROUP, now())
        self.operations: dict[str, Handler] = {
            "CreateSchedule": self.create_schedule,
            "UpdateSchedule": self.update_schedule,
            "GetSchedule": self.get_schedule,
            "DeleteSchedule": self.delete_schedule,
            "ListSchedules": self.list_schedules,
            "CreateScheduleGroup": self.create_group,
            "GetScheduleGroup": self.get_group,
            "DeleteScheduleGroup": self.delete_group,
            "ListScheduleGroups": self.list_groups,
        }

    def schedule_arn(self, group: str, name: str) -> str:
        return f"arn:aws:scheduler:{self.region}:{self.account}:schedule/{group}/{name}"

    def resource(self, operation: str, params: dict[str, Any]) -> str:
        """The ARN IAM authorizes ``scheduler:<operation>`` on: the schedule (in its group,
        ``default`` unless named), the schedule group, or ``*`` for the listings."""
        if operation.endswith("ScheduleGroup") and params.get("Name"):
            return self.group_arn(str(params["Name"]))
        if operation.endswith("Schedule") and params.get("Name"):
            group = str(params.get("GroupName") or DEFAULT_GROUP)
            return self.schedule_arn(group, str(params["Name"]))
        return "*"

    def group_arn(self, group: str) -> str:
        return f"arn:aws:scheduler:{self.region}:{self.account}:schedule-group/{group}"

    # -- slots -----------------------------------------------------------------------------

    def next_nominal(self, stored: StoredSchedule, after: float) -> float | None:
        """The first time ``stored`` is for after ``after`` (None: it is complete)."""
        doc = stored.doc
        schedule = cron.parse(doc["ScheduleExpression"], allow_at=True)
        zone = cron.zone(doc.get("ScheduleExpressionTimezone"))
        start, end = doc.get("StartDate"), doc.get("EndDate")
        anchor = float(start) if start is not None else float(doc["Anchor"])
        if start is not None and after < start:
            after = float(start) - 1e-6
        moment = cron.next_fire(schedule, _when(after), _when(anchor), zone)
        if moment is None or (end is not None and moment.timestamp() > float(end)):
            return None
        return moment.timestamp()

    @staticmethod
    def window(doc: dict[str, Any]) -> float:
        """Seconds of the schedule's flexible time window (0 when OFF)."""
        flexible = doc.get("FlexibleTimeWindow") or {}
        if flexible.get("Mode") != "FLEXIBLE":
            return 0.0
        return float(flexible.get("MaximumWindowInMinutes") or 0) * 60

    def slot_for(self, doc: dict[str, Any], nominal: float | None) -> float | None:
        if nominal is None:
            return None
        return nominal + random.uniform(0, self.window(doc))

    # -- schedules -------------------------------------------------------------------------

    def _doc(self, params: dict[str, Any]) -> dict[str, Any]:
        expression = str(params.get("ScheduleExpression") or "")
        try:
            cron.parse(expression, allow_at=True)
        except InvalidSchedule as exc:
            raise _validation(f"Invalid Schedule Expression {expression}.") from exc
        try:
            cron.zone(params.get("ScheduleExpressionTimezone"))
        except InvalidSchedule as exc:
            raise _validation(
                f"Invalid time zone: {params.get('ScheduleExpressionTimezone')}."
            ) from exc
        flexible = params.get("FlexibleTimeWindow") or {}
        if flexible.get("Mode") == "FLEXIBLE" and not flexible.get("MaximumWindowInMinutes"):
            raise _validation(
                "MaximumWindowInMinutes must be provided when FlexibleTimeWindow Mode is FLEXIBLE."
            )
        doc = {
            k: v
            for k, v in params.items()
            if k not in ("Name", "GroupName", "ClientToken", *_DATES) and v is not None
        }
        for key in _DATES:
            if params.get(key) is not None:
                doc[key] = _epoch(params[key])
        if doc.get("StartDate") and doc.get("EndDate") and doc["EndDate"] <= doc["StartDate"]:
            raise _validation("The EndDate must be after the StartDate.")
        doc.setdefault("State", "ENABLED")
        doc.setdefault("ActionAfterCompletion", "NONE")
        doc["Anchor"] = self._now()
        return doc

    def _save(self, arn: str, group: str, name: str, doc: dict[str, Any], created: float) -> None:
        stored = StoredSchedule(arn, group, name, doc, created, self._now(), None, None)
        nominal = None
        if doc.get("State") == "ENABLED":
            nominal = self.next_nominal(stored, self._now())
        slot = self.slot_for(doc, nominal)
        self._store.save(
            StoredSchedule(arn, group, name, doc, created, stored.modified, slot, nominal)
        )
        self._reschedule()

    def _group_of(self, params: dict[str, Any]) -> str:
        group = str(params.get("GroupName") or DEFAULT_GROUP)
        if group not in self._store.groups():
            raise _not_found(f"Schedule group {group} does not exist.")
        return group

    def create_schedule(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["Name"])
        if not _NAME.match(name):
            raise _validation(f"Invalid schedule name {name}.")
        group = self._group_of(params)
        arn = self.schedule_arn(group, name)
        if self._store.get(arn) is not None:
            raise _conflict(f"Schedule {name} already exists.")
        self._save(arn, group, name, self._doc(params), self._now())
        return {"ScheduleArn": arn}

    def _existing(self, params: dict[str, Any]) -> StoredSchedule:
        group = str(params.get("GroupName") or DEFAULT_GROUP)
        stored = self._store.get(self.schedule_arn(group, str(params["Name"])))
        if stored is None:
            raise _not_found(f"Schedule {params['Name']} does not exist.")
        return stored

    def update_schedule(self, params: dict[str, Any]) -> dict[str, Any]:
        old = self._existing(params)
        self._save(old.arn, old.group, old.name, self._doc(params), old.created)
        return {"ScheduleArn": old.arn}

    def get_schedule(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._existing(params)
        out = {k: v for k, v in stored.doc.items() if k != "Anchor"}
        for key in _DATES:
            if key in out:
                out[key] = _when(out[key])
        return {
            **out,
            "Arn": stored.arn,
            "Name": stored.name,
            "GroupName": stored.group,
            "CreationDate": _when(stored.created),
            "LastModificationDate": _when(stored.modified),
        }

    def delete_schedule(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._existing(params)
        self._store.remove(stored.arn)
        self._reschedule()
        return {}

    def list_schedules(self, params: dict[str, Any]) -> dict[str, Any]:
        group, prefix = params.get("GroupName"), str(params.get("NamePrefix") or "")
        state = params.get("State")
        items = [
            {
                "Arn": s.arn,
                "Name": s.name,
                "GroupName": s.group,
                "State": s.doc.get("State"),
                "CreationDate": _when(s.created),
                "LastModificationDate": _when(s.modified),
                "Target": {"Arn": s.doc.get("Target", {}).get("Arn")},
            }
            for s in self._store.schedules()
            if (group is None or s.group == group)
            and s.name.startswith(prefix)
            and (state is None or s.doc.get("State") == state)
        ]
        page, token = _page(items, params)
        return {"Schedules": page, **({"NextToken": token} if token else {})}

    # -- groups ----------------------------------------------------------------------------

    def create_group(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["Name"])
        if not self._store.add_group(name, self._now()):
            raise _conflict(f"Schedule group {name} already exists.")
        return {"ScheduleGroupArn": self.group_arn(name)}

    def _group_doc(self, name: str, created: float) -> dict[str, Any]:
        return {
            "Arn": self.group_arn(name),
            "Name": name,
            "State": "ACTIVE",
            "CreationDate": _when(created),
            "LastModificationDate": _when(created),
        }

    def get_group(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["Name"])
        groups = self._store.groups()
        if name not in groups:
            raise _not_found(f"Schedule group {name} does not exist.")
        return self._group_doc(name, groups[name])

    def delete_group(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["Name"])
        if name == DEFAULT_GROUP:
            raise _validation("You cannot delete the default group.")
        if name not in self._store.groups():
            raise _not_found(f"Schedule group {name} does not exist.")
        self._store.remove_group(name)
        self._reschedule()
        return {}

    def list_groups(self, params: dict[str, Any]) -> dict[str, Any]:
        prefix = str(params.get("NamePrefix") or "")
        items = [
            self._group_doc(n, c)
            for n, c in sorted(self._store.groups().items())
            if n.startswith(prefix)
        ]
        page, token = _page(items, params)
        return {"ScheduleGroups": page, **({"NextToken": token} if token else {})}


def _page(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], str | None]:
    token = str(params.get("NextToken") or "0")
    start = int(token) if token.isdigit() else 0
    limit = int(params.get("MaxResults") or 100)
    more = start + limit < len(items)
    return items[start : start + limit], str(start + limit) if more else None
