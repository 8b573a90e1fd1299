"""A long-lived object built on first use instead of at start-up.

Most servers never use most services; building one (importing its modules above all) at
start-up delayed the first answer of every server. ``Deferred`` builds its object the
first time it is asked for, once, from whichever thread asks first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Deferred(Generic[T]):
    """Calls ``build`` once, on the first ``get``, and returns what it built from then on."""

    __slots__ = ("_build", "_built", "_lock")

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._built: list[T] = []  # empty until built (T may itself be None)
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        """Whether the object exists yet (``get`` has been called)."""
        return bool(self._built)

    def get(self) -> T:
        """The object, built now if nothing has asked for it yet."""
        if not self._built:
            with self._lock:
                if not self._built:
                    self._built.append(self._build())
        return self._built[0]
