"""How many sandboxes this machine holds when ``LAMBOX_SANDBOX_LIMIT`` is not set.

AWS keeps one execution environment per concurrent execution, up to the account's
concurrency limit, and keeps idle ones for minutes whatever their number: a function that
ran recently answers warm. lambox does the same up to what the machine's memory allows. An
idle sandbox costs about 3 MiB of memory it does not share (its zygote's pages are shared)
plus its namespaces and page tables; ``MIB_PER_SANDBOX`` budgets more than that so that the
sandboxes that are busy have room to work. A fixed limit below the number of functions in
use would evict a warm sandbox on every cold start, and traffic spread round robin over more
functions than the limit would run every invocation cold.

Memory is not all a sandbox costs: starting one takes milliseconds of CPU and its runtime's
init tens to hundreds more, and a burst of asynchronous events (or durable executions)
asks for a new sandbox for each event still running. Without a bound by the machine's
cores, 500 events at once started 500 sandboxes on two cores, whose inits then ran past
their functions' timeouts. ``PER_CORE`` bounds the sandboxes alive at once per core the
server may run on; the busy ones are reused as they free up, as a smaller limit always did.
"""

from __future__ import annotations

import os
from pathlib import Path

MIB_PER_SANDBOX = 16
PER_CORE = 64
FALLBACK = 64
"""The limit when the machine's memory cannot be read."""
MEMINFO = Path("/proc/meminfo")


def mem_total_kib(meminfo: Path = MEMINFO) -> int | None:
    """``MemTotal`` of ``/proc/meminfo`` in KiB, or None where there is no such file."""
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0))


def default_sandbox_limit(concurrency_limit: int, mem_kib: int | None, cpus: int = 1) -> int:
    """One sandbox per ``MIB_PER_SANDBOX`` of memory and at most ``PER_CORE`` per core,
    at most one per concurrent execution the account allows (more could never be busy at
    once), at least one."""
    if mem_kib is None:
        return max(1, min(FALLBACK, concurrency_limit))
    by_memory = mem_kib // (MIB_PER_SANDBOX * 1024)
    return max(1, min(concurrency_limit, by_memory, PER_CORE * cpus))
