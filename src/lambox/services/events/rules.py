"""Rules in memory: each with its compiled pattern or schedule, and an index that finds the
rules an event may match without testing every rule.

Most rules name the event's ``source`` exactly; those are kept under each source they name,
and only the rest (no exact source) are tried for every event. An event is tested against
the rules under its own source plus the rest, so 1,000 rules over many sources cost an
event a handful of pattern tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from lambox.events import cron, patterns
from lambox.services.events.store import StoredRule


@dataclass(frozen=True)
class Rule:
    """A stored rule with what its doc means compiled."""

    stored: StoredRule
    pattern: patterns.Pattern | None
    schedule: cron.Schedule | None

    @property
    def arn(self) -> str:
        return self.stored.arn

    @property
    def enabled(self) -> bool:
        return bool(self.stored.doc.get("State", "ENABLED") == "ENABLED")

    def with_slot(self, slot: float | None) -> Rule:
        s = self.stored
        stored = StoredRule(s.arn, s.bus, s.name, s.doc, s.targets, s.created, slot)
        return Rule(stored, self.pattern, self.schedule)

    @classmethod
    def of(cls, stored: StoredRule) -> Rule:
        text = stored.doc.get("EventPattern")
        expression = stored.doc.get("ScheduleExpression")
        return cls(
            stored,
            patterns.parse(text) if text else None,
            cron.parse(expression) if expression else None,
        )


@dataclass
class _BusIndex:
    by_source: dict[str, set[str]] = field(default_factory=dict)
    rest: set[str] = field(default_factory=set)


class RuleSet:
    """Every rule by ARN, and per bus the index of pattern rules by exact source."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._rules: dict[str, Rule] = {}
        self._buses: dict[str, _BusIndex] = {}
        for rule in rules:
            self.put(rule)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules.values())

    def get(self, arn: str) -> Rule | None:
        return self._rules.get(arn)

    def put(self, rule: Rule) -> None:
        self.remove(rule.arn)
        self._rules[rule.arn] = rule
        if rule.pattern is None:
            return
        index = self._buses.setdefault(rule.stored.bus, _BusIndex())
        sources = rule.pattern.exact_values("source")
        if sources is None:
            index.rest.add(rule.arn)
        else:
            for source in sources:
                index.by_source.setdefault(source, set()).add(rule.arn)

    def remove(self, arn: str) -> None:
        old = self._rules.pop(arn, None)
        if old is None or old.pattern is None:
            return
        index = self._buses[old.stored.bus]
        index.rest.discard(arn)
        for source in old.pattern.exact_values("source") or ():
            bucket = index.by_source.get(source)
            if bucket is not None:
                bucket.discard(arn)
                if not bucket:
                    del index.by_source[source]

    def matching(self, bus: str, event: dict[str, object]) -> list[Rule]:
        """The enabled pattern rules of ``bus`` that ``event`` matches."""
        index = self._buses.get(bus)
        if index is None:
            return []
        source = event.get("source")
        candidates = set(index.rest)
        if isinstance(source, str):
            candidates |= index.by_source.get(source, set())
        if not candidates:
            return []
        flat = patterns.flatten(event)
        found = []
        for arn in candidates:
            rule = self._rules[arn]
            if rule.enabled and rule.pattern is not None and rule.pattern.matches(flat):
                found.append(rule)
        return found
