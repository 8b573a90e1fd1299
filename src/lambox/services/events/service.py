"""EventBridge's operations: event buses, rules, targets, PutEvents and TestEventPattern.

Each handler takes the request's members (parsed by the json protocol layer) and returns the
response's. Rules live in the store and, compiled, in a ``RuleSet``; PutEvents matches each
entry's envelope against the index and writes every delivery to the outbox in one
transaction before it answers; scheduled rules are the ticker's (``schedule.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from lambox.errors import InvalidPattern, InvalidSchedule, ServiceFault
from lambox.events import cron, patterns
from lambox.events.delivery import Policy
from lambox.services.events import targets as target_rules
from lambox.services.events.archives import Archives
from lambox.services.events.permissions import BusPermissions
from lambox.services.events.rules import Rule, RuleSet
from lambox.services.events.store import EventsStore, StoredRule

log = logging.getLogger(__name__)

DEFAULT_BUS = "default"
MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024
Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _not_found(message: str) -> ServiceFault:
    return ServiceFault("ResourceNotFoundException", message)


def _validation(message: str) -> ServiceFault:
    return ServiceFault("ValidationException", message)


def stamp(epoch: float) -> str:
    """EventBridge's envelope time: whole seconds, UTC, ``Z``."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_function(arn: str) -> bool:
    return arn.startswith("arn:") and ":lambda:" in arn and ":function:" in arn


def delivery_policy(target: dict[str, Any], rule_arn: str, now: float) -> Policy:
    """How an event for ``target`` is retried and dead-lettered (first tried at ``now``)."""
    return Policy.of_target(target, {"RULE_ARN": rule_arn}, now, "events")


def is_deliverable(arn: str) -> bool:
    """A target lambox delivers to: a function, an SQS queue or an SNS topic."""
    return is_function(arn) or arn.startswith(("arn:aws:sqs:", "arn:aws:sns:"))


_RULE_KEYS = {
    "PutRule": "Name",
    "DescribeRule": "Name",
    "EnableRule": "Name",
    "DisableRule": "Name",
    "DeleteRule": "Name",
    "PutTargets": "Rule",
    "RemoveTargets": "Rule",
    "ListTargetsByRule": "Rule",
}


class EventsService:
    """The ``events`` service; ``kick`` wakes the outbox relay, ``reschedule`` the ticker."""

    def __init__(
        self,
        store: EventsStore,
        region: str,
        account: str,
        now: Callable[[], float],
        kick: Callable[[], None],
        reschedule: Callable[[], None],
        permits: Callable[[str, str], bool] | None = None,
    ) -> None:
        self._store = store
        # (function ARN, rule ARN): whether the function's resource policy lets EventBridge
        # invoke it for that rule
        self._permits = permits or (lambda _arn, _rule: True)
        self.region = region
        self.account = account
        self._now = now
        self._kick = kick
        self._reschedule = reschedule
        store.add_bus(DEFAULT_BUS, None)
        self.rules = RuleSet(Rule.of(r) for r in store.rules())
        self.permissions = BusPermissions(store, self.bus_arn, self._bus_of, self._bus_exists)
        self.archives = Archives(
            store, region, account, self._bus_of, self._bus_exists, self._deliveries, kick
        )
        self.operations: dict[str, Handler] = {
            "CreateArchive": self.archives.create_archive,
            "DescribeArchive": self.archives.describe_archive,
            "ListArchives": self.archives.list_archives,
            "UpdateArchive": self.archives.update_archive,
            "DeleteArchive": self.archives.delete_archive,
            "StartReplay": self.archives.start_replay,
            "DescribeReplay": self.archives.describe_replay,
            "ListReplays": self.archives.list_replays,
            "CancelReplay": self.archives.cancel_replay,
            "PutPermission": self.permissions.put_permission,
            "RemovePermission": self.permissions.remove_permission,
            "CreateEventBus": self.create_event_bus,
            "DescribeEventBus": self.describe_event_bus,
            "DeleteEventBus": self.delete_event_bus,
            "ListEventBuses": self.list_event_buses,
            "PutRule": self.put_rule,
            "DescribeRule": self.describe_rule,
            "ListRules": self.list_rules,
            "EnableRule": lambda p: self._set_state(p, "ENABLED"),
            "DisableRule": lambda p: self._set_state(p, "DISABLED"),
            "DeleteRule": self.delete_rule,
            "PutTargets": self.put_targets,
            "RemoveTargets": self.remove_targets,
            "ListTargetsByRule": self.list_targets_by_rule,
            "ListRuleNamesByTarget": self.list_rule_names_by_target,
            "PutEvents": self.put_events,
            "TestEventPattern": self.test_event_pattern,
        }

    def deliverable(self, target_arn: str, rule_arn: str) -> bool:
        """A target the rule delivers to: a queue or topic, or a function whose resource
        policy allows ``events.amazonaws.com`` for the rule (a refused one is skipped with
        a warning, as AWS counts a failed invocation)."""
        if not is_deliverable(target_arn):
            return False
        if is_function(target_arn) and not self._permits(target_arn, rule_arn):
            log.warning(
                "rule %s may not invoke %s (no resource policy statement allows"
                " events.amazonaws.com): event dropped",
                rule_arn,
                target_arn,
            )
            return False
        return True

    # -- names -----------------------------------------------------------------------------

    def bus_arn(self, bus: str) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:event-bus/{bus}"

    def rule_arn(self, bus: str, name: str) -> str:
        path = name if bus == DEFAULT_BUS else f"{bus}/{name}"
        return f"arn:aws:events:{self.region}:{self.account}:rule/{path}"

    def resource(self, operation: str, params: dict[str, Any]) -> str:
        """The ARN IAM authorizes ``events:<operation>`` on: the rule for rule and target
        operations, the event bus for bus operations and PutEvents, else ``*``."""
        if operation in _RULE_KEYS:
            name = str(params.get(_RULE_KEYS[operation]) or "")
            return self.rule_arn(self._bus_of(params), name) if name else "*"
        if operation in ("CreateEventBus", "DescribeEventBus", "DeleteEventBus"):
            return self.bus_arn(self._bus_of({"EventBusName": params.get("Name")}))
        if operation in ("PutPermission", "RemovePermission"):
            return self.bus_arn(self._bus_of(params))
        if operation == "PutEvents":
            entries = params.get("Entries") or [{}]
            return self.bus_arn(self._bus_of(entries[0] if isinstance(entries[0], dict) else {}))
        return "*"

    @staticmethod
    def _bus_of(params: dict[str, Any]) -> str:
        name = str(params.get("EventBusName") or DEFAULT_BUS)
        return name.rsplit("/", 1)[-1] if name.startswith("arn:") else name

    def _bus_exists(self, bus: str) -> bool:
        return any(name == bus for name, _, _ in self._store.buses())

    def _rule(self, params: dict[str, Any], key: str = "Name") -> Rule:
        bus = self._bus_of(params)
        rule = self.rules.get(self.rule_arn(bus, str(params.get(key, ""))))
        if rule is None:
            raise _not_found(f"Rule {params.get(key)} does not exist on EventBus {bus}.")
        return rule

    # -- buses -----------------------------------------------------------------------------

    def create_event_bus(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["Name"])
        if not self._store.add_bus(name, params.get("Description")):
            raise ServiceFault(
                "ResourceAlreadyExistsException", f"Event bus {name} already exists."
            )
        return {"EventBusArn": self.bus_arn(name)}

    def _bus_doc(self, name: str, created: float, description: str | None) -> dict[str, Any]:
        stamp_ = dt.datetime.fromtimestamp(created, dt.UTC)
        doc: dict[str, Any] = {"Name": name, "Arn": self.bus_arn(name)}
        if description:
            doc["Description"] = description
        policy = self.permissions.policy(name)
        if policy is not None:
            doc["Policy"] = policy
        if name != DEFAULT_BUS:
            doc.update(CreationTime=stamp_, LastModifiedTime=stamp_)
        return doc

    def describe_event_bus(self, params: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus_of({"EventBusName": params.get("Name")})
        for name, created, description in self._store.buses():
            if name == bus:
                return self._bus_doc(name, created, description)
        raise _not_found(f"Event bus {bus} does not exist.")

    def delete_event_bus(self, params: dict[str, Any]) -> dict[str, Any]:
        bus = str(params["Name"])
        if bus == DEFAULT_BUS:
            raise _validation("Cannot delete event bus default.")
        for rule in [r for r in self.rules if r.stored.bus == bus]:
            self.rules.remove(rule.arn)
        self._store.remove_bus(bus)
        self._reschedule()
        return {}

    def list_event_buses(self, params: dict[str, Any]) -> dict[str, Any]:
        prefix = str(params.get("NamePrefix") or "")
        docs = [self._bus_doc(n, c, d) for n, c, d in self._store.buses() if n.startswith(prefix)]
        page, token = _page(docs, params)
        return {"EventBuses": page, **({"NextToken": token} if token else {})}

    # -- rules -----------------------------------------------------------------------------

    def put_rule(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["Name"])
        bus = self._bus_of(params)
        if not self._bus_exists(bus):
            raise _not_found(f"Event bus {bus} does not exist.")
        pattern_text = params.get("EventPattern")
        expression = params.get("ScheduleExpression")
        if not pattern_text and not expression:
            raise _validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        if expression and bus != DEFAULT_BUS:
            raise _validation("ScheduleExpression is supported only on the default event bus.")
        try:
            if pattern_text:
                patterns.parse(pattern_text)
            if expression:
                cron.parse(expression)
        except InvalidPattern as exc:
            raise ServiceFault("InvalidEventPatternException", exc.message) from exc
        except InvalidSchedule as exc:
            raise _validation("Parameter ScheduleExpression is not valid.") from exc
        arn = self.rule_arn(bus, name)
        old = self.rules.get(arn)
        doc: dict[str, Any] = {
            "Name": name,
            "Arn": arn,
            "State": params.get("State") or "ENABLED",
            "EventBusName": bus,
        }
        for key in ("EventPattern", "ScheduleExpression", "Description", "RoleArn"):
            if params.get(key):
                doc[key] = params[key]
        now = self._now()
        stored = StoredRule(arn, bus, name, doc, old.stored.targets if old else [], now, None)
        self._save(Rule.of(stored))
        return {"RuleArn": arn}

    def _save(self, rule: Rule) -> None:
        """Store a rule with its next slot (scheduled and enabled), and index it."""
        stored = rule.stored
        slot = None
        if rule.schedule is not None and rule.enabled:
            slot = self.next_slot(rule, self._now())
        stored = StoredRule(
            stored.arn, stored.bus, stored.name, stored.doc, stored.targets, stored.created, slot
        )
        self._store.save_rule(stored)
        self.rules.put(Rule(stored, rule.pattern, rule.schedule))
        if rule.schedule is not None:
            self._reschedule()

    def next_slot(self, rule: Rule, after: float) -> float | None:
        """The first slot of a scheduled rule after ``after`` (epoch seconds)."""
        assert rule.schedule is not None
        moment = cron.next_fire(
            rule.schedule,
            dt.datetime.fromtimestamp(after, dt.UTC),
            dt.datetime.fromtimestamp(rule.stored.created, dt.UTC),
        )
        return None if moment is None else moment.timestamp()

    def describe_rule(self, params: dict[str, Any]) -> dict[str, Any]:
        rule = self._rule(params)
        return {**rule.stored.doc, "CreatedBy": self.account}

    def list_rules(self, params: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus_of(params)
        if not self._bus_exists(bus):
            raise _not_found(f"Event bus {bus} does not exist.")
        prefix = str(params.get("NamePrefix") or "")
        docs = [
            r.stored.doc
            for r in sorted(self.rules, key=lambda r: r.stored.name)
            if r.stored.bus == bus and r.stored.name.startswith(prefix)
        ]
        page, token = _page(docs, params)
        return {"Rules": page, **({"NextToken": token} if token else {})}

    def _set_state(self, params: dict[str, Any], state: str) -> dict[str, Any]:
        rule = self._rule(params)
        stored = rule.stored
        now = self._now()
        doc = {**stored.doc, "State": state}
        self._save(
            Rule(
                StoredRule(stored.arn, stored.bus, stored.name, doc, stored.targets, now, None),
                rule.pattern,
                rule.schedule,
            )
        )
        return {}

    def delete_rule(self, params: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus_of(params)
        rule = self.rules.get(self.rule_arn(bus, str(params["Name"])))
        if rule is None:
            return {}
        if rule.stored.targets and not params.get("Force"):
            raise _validation("Rule can't be deleted since it has targets.")
        self._store.remove_rule(rule.arn)
        self.rules.remove(rule.arn)
        self._reschedule()
        return {}

    # -- targets ---------------------------------------------------------------------------

    def put_targets(self, params: dict[str, Any]) -> dict[str, Any]:
        rule = self._rule(params, "Rule")
        new = list(params.get("Targets") or [])
        target_rules.check(new)
        merged = {t["Id"]: t for t in rule.stored.targets}
        merged.update({t["Id"]: t for t in new})
        if len(merged) > target_rules.MAX_TARGETS:
            raise ServiceFault(
                "LimitExceededException",
                "The requested resource exceeds the maximum number allowed.",
            )
        self._replace_targets(rule, list(merged.values()))
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def _replace_targets(self, rule: Rule, targets: list[dict[str, Any]]) -> None:
        s = rule.stored
        stored = StoredRule(s.arn, s.bus, s.name, s.doc, targets, s.created, s.slot)
        self._store.save_rule(stored)
        self.rules.put(Rule(stored, rule.pattern, rule.schedule))

    def remove_targets(self, params: dict[str, Any]) -> dict[str, Any]:
        rule = self._rule(params, "Rule")
        ids = set(params.get("Ids") or [])
        kept = [t for t in rule.stored.targets if t["Id"] not in ids]
        failed = [
            {
                "TargetId": i,
                "ErrorCode": "ResourceNotFoundException",
                "ErrorMessage": f"Target {i} does not exist on rule {rule.stored.name}.",
            }
            for i in sorted(ids - {t["Id"] for t in rule.stored.targets})
        ]
        self._replace_targets(rule, kept)
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def list_targets_by_rule(self, params: dict[str, Any]) -> dict[str, Any]:
        rule = self._rule(params, "Rule")
        page, token = _page(rule.stored.targets, params)
        return {"Targets": page, **({"NextToken": token} if token else {})}

    def list_rule_names_by_target(self, params: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus_of(params)
        arn = params.get("TargetArn")
        names = sorted(
            r.stored.name
            for r in self.rules
            if r.stored.bus == bus and any(t.get("Arn") == arn for t in r.stored.targets)
        )
        page, token = _page(names, params)
        return {"RuleNames": page, **({"NextToken": token} if token else {})}

    # -- events ----------------------------------------------------------------------------

    def envelope(self, entry: dict[str, Any], detail: Any, now: float) -> dict[str, Any]:
        """The event as EventBridge delivers it (and as patterns see it)."""
        when = entry.get("Time")
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": self.account,
            "time": stamp(when.timestamp() if isinstance(when, dt.datetime) else now),
            "region": self.region,
            "resources": list(entry.get("Resources") or []),
            "detail": detail,
        }

    def put_events(self, params: dict[str, Any]) -> dict[str, Any]:
        entries = list(params.get("Entries") or [])
        if len(entries) > MAX_ENTRIES:
            raise _validation(
                "1 validation error detected: Value at 'entries' failed to satisfy constraint:"
                f" Member must have length less than or equal to {MAX_ENTRIES}"
            )
        if sum(_entry_size(e) for e in entries) > MAX_REQUEST_BYTES:
            raise _validation("Total size of the entries in the request is over the limit.")
        results: list[dict[str, Any]] = []
        outbox: list[tuple[str, bytes, str | None]] = []
        archived: list[tuple[str, float, str]] = []
        now = self._now()
        wall = time.time()
        for entry in entries:
            error = _entry_error(entry)
            if error is not None:
                results.append({"ErrorCode": error[0], "ErrorMessage": error[1]})
                continue
            event = self.envelope(entry, json.loads(entry["Detail"]), now)
            results.append({"EventId": event["id"]})
            bus = self._bus_of(entry)
            outbox += self._deliveries(bus, event, None, wall)
            archived += self.archives.archiving(bus, event, wall)
        if outbox or archived:
            self._store.enqueue(outbox, archived)
        if outbox:
            self._kick()
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": results}

    def _deliveries(
        self,
        bus: str,
        event: dict[str, Any],
        allowed: set[str] | None,
        now: float | None = None,
    ) -> list[tuple[str, bytes, str | None]]:
        """The outbox records ``event`` on ``bus`` causes: one per target of each matching
        rule (only the rules ``allowed`` names, for a replay)."""
        wall = time.time() if now is None else now
        records: list[tuple[str, bytes, str | None]] = []
        for rule in self.rules.matching(bus, event):
            if allowed is not None and rule.arn not in allowed:
                continue
            for target in rule.stored.targets:
                if self.deliverable(target.get("Arn", ""), rule.arn):
                    policy = delivery_policy(target, rule.arn, wall)
                    payload = target_rules.payload(target, event, rule.arn)
                    records.append((target["Arn"], payload, policy.dump()))
        return records

    def test_event_pattern(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            event = json.loads(str(params.get("Event", "")))
        except ValueError as exc:
            raise _validation("Parameter Event is not valid.") from exc
        if not isinstance(event, dict):
            raise _validation("Parameter Event is not valid.")
        required = ("id", "account", "source", "time", "region", "detail-type")
        if any(key not in event for key in required):
            raise _validation("Parameter Event is not valid.")
        try:
            pattern = patterns.parse(str(params.get("EventPattern", "")))
        except InvalidPattern as exc:
            raise ServiceFault("InvalidEventPatternException", exc.message) from exc
        return {"Result": pattern.matches_event(event)}


def _entry_size(entry: dict[str, Any]) -> int:
    """AWS's PutEvents entry size: 14 bytes for Time, then the UTF-8 of each field."""
    size = 14 if entry.get("Time") else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(key) or "").encode())
    size += sum(len(str(r).encode()) for r in entry.get("Resources") or [])
    return size


def _entry_error(entry: dict[str, Any]) -> tuple[str, str] | None:
    for key in ("Source", "DetailType", "Detail"):
        if not entry.get(key):
            return (
                "InvalidArgument",
                f"Parameter {key} is not valid. Reason: {key} is a required argument.",
            )
    try:
        detail = json.loads(entry["Detail"])
    except ValueError:
        return ("MalformedDetail", "Detail is malformed.")
    if not isinstance(detail, dict):
        return ("MalformedDetail", "Detail is malformed.")
    return None


def _page(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], str | None]:
    """One page of ``items`` after ``NextToken`` (an offset), at most ``Limit`` long."""
    start = (
        int(params.get("NextToken") or 0) if str(params.get("NextToken") or "0").isdigit() else 0
    )
    limit = int(params.get("Limit") or 100)
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, str(start + limit) if more else None
