"""What the recorded use would cost on AWS Lambda, per function and version.

From the usage rows (``MetricStore.usage``): requests, billed duration (every invocation
rounded up to the millisecond, as AWS bills it), GB-seconds (billed seconds times the
memory size in GB, 1 GB = 1024 MB) and their price by the dated public price list in
``prices.json``. The right-sizing hint compares the memory size with the highest Max
Memory Used the REPORT lines showed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from lambox.metrics.store import Usage

STEP_MB = 64
MIN_MB = 128
HEADROOM = 1.3


@cache
def price_list() -> dict[str, Any]:
    """The dated price list shipped with lambox."""
    document: dict[str, Any] = json.loads((Path(__file__).parent / "prices.json").read_text())
    return document


@dataclass(frozen=True, slots=True)
class CostLine:
    """One function version's use in the window and its AWS price."""

    function: str
    version: str
    architecture: str
    memory_mb: int
    requests: int
    billed_ms: int
    gb_seconds: float
    max_memory_used_mb: int
    request_cost: float
    duration_cost: float
    total: float
    hint: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def hint(memory_mb: int, max_used_mb: int) -> str:
    """A right-sizing suggestion from the memory size and the most memory ever used."""
    if max_used_mb <= 0:
        return "no Max Memory Used recorded"
    if max_used_mb >= memory_mb * 0.9:
        return f"raise: Max Memory Used {max_used_mb} MB is near the {memory_mb} MB size"
    wanted = max(MIN_MB, -(-int(max_used_mb * HEADROOM) // STEP_MB) * STEP_MB)
    if wanted <= memory_mb * 0.75:
        return (
            f"lower to {wanted} MB: Max Memory Used {max_used_mb} MB"
            " (less memory also means less CPU)"
        )
    return "ok"


def cost_lines(usage: Iterable[Usage], architecture: Callable[[str], str]) -> list[CostLine]:
    """One line per (function, version, memory size), priced."""
    prices = price_list()
    grouped: dict[tuple[str, str, int], list[int]] = {}
    for u in usage:
        found = grouped.setdefault((u.function, u.version, u.memory), [0, 0, 0])
        found[0] += u.requests
        found[1] += u.billed_ms
        found[2] = max(found[2], u.max_memory)
    lines = []
    for (function, version, memory), (requests, billed_ms, max_used) in sorted(grouped.items()):
        arch = architecture(function)
        rate = prices["gb_second"].get(arch, prices["gb_second"]["x86_64"])
        gb_seconds = billed_ms / 1000 * memory / 1024
        request_cost = requests * prices["requests_per_million"] / 1_000_000
        duration_cost = gb_seconds * rate
        lines.append(
            CostLine(
                function,
                version,
                arch,
                memory,
                requests,
                billed_ms,
                gb_seconds,
                max_used,
                request_cost,
                duration_cost,
                request_cost + duration_cost,
                hint(memory, max_used),
            )
        )
    return lines
