"""A 128 MB function's warm latency under each ``LAMBOX_CPU_MODE``, beside the HTTP floor.

The main server runs the default mode (``shares``: no cap, a weight by memory); a second
server runs ``quota`` (Lambda's CFS quota: 7% of a core at 128 MB). The same echo function
at Lambda's default memory size is invoked back to back on each, alternating in blocks with
the HTTP echo floor (``invoke.warm_latency``), so the figures show what the quota costs a
trivial handler next to what the machine itself costs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common import (
    HOST,
    PAYLOAD,
    Counts,
    ServerProc,
    check_echo,
    create_function,
    echo_zip,
    invoke_path,
    lambda_client,
)
from httpclient import Connection, build_request
from invoke import warm_latency

DEFAULT_MEMORY_MB = 128


def warm_128(lambox: ServerProc, echo: ServerProc, fn: str, c: Counts) -> dict[str, Any]:
    """Create a 128 MB echo function on ``lambox`` and time its warm Invoke."""
    create_function(lambda_client(lambox.url), fn, echo_zip(), DEFAULT_MEMORY_MB)
    with Connection(HOST, lambox.port, timeout=60) as conn:
        check_echo(conn, build_request(HOST, lambox.port, invoke_path(fn), PAYLOAD))
    return warm_latency(lambox, echo, fn, c)


def measure_modes(
    lambox: ServerProc, echo: ServerProc, start_quota: Callable[[], ServerProc], c: Counts
) -> dict[str, Any]:
    """Both modes; ``start_quota`` starts a lambox server with LAMBOX_CPU_MODE=quota (the
    caller stops it)."""
    out: dict[str, Any] = {"memory_mb": DEFAULT_MEMORY_MB}
    out["shares"] = warm_128(lambox, echo, "bench-cpu-shares", c)
    out["quota"] = warm_128(start_quota(), echo, "bench-cpu-quota", c)
    return out
