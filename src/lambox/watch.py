"""The change feed: control publishes immutable function snapshots, the data plane follows.

Subscribers are plain callables run synchronously in publish order, so after ``publish``
returns every subscriber has seen the change (no window where the API answered but the
data plane still serves the old code). A subscriber must not block or raise; one that
raises is logged and the others still run.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from lambox.model import Alias, FunctionVersion, Limits

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Removed:
    """The function ``name`` no longer exists (``qualifier`` None), or one of its published
    versions or aliases (``qualifier`` set) does."""

    name: str
    generation: int
    qualifier: str | None = None


Change = FunctionVersion | Alias | Limits | Removed
Subscriber = Callable[[Change], None]


class ChangeFeed:
    """Versioned, in-process publish/subscribe of function snapshots."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._generations = itertools.count(1)

    def next_generation(self) -> int:
        """A number greater than every one handed out before (snapshots order by it)."""
        return next(self._generations)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, change: Change) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(change)
            except Exception:
                log.exception("change-feed subscriber failed on %r", change)
