"""The clock schedules read: real time, or (for tests) real time sped up and shifted.

Schedules are stored as epoch seconds of this clock, so a test can run a day of ``rate()``
slots in seconds, or restart "an hour later", without waiting: ``LAMBOX_CLOCK_SPEED`` and
``LAMBOX_CLOCK_OFFSET`` (docs/settings.md). Nothing else in lambox reads it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Epoch seconds now, and sleeping for a span of this clock's seconds."""

    def now(self) -> float:
        """Epoch seconds of this clock."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock."""
        ...


class ScaledClock:
    """Real time ``speed`` times as fast from construction, plus ``offset`` seconds."""

    def __init__(self, speed: float = 1.0, offset: float = 0.0) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self._speed = speed
        self._start = time.time()
        self._offset = offset

    def now(self) -> float:
        real = time.time()
        return self._start + self._offset + (real - self._start) * self._speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self._speed)
