"""``lambox serve`` with one layer of the warm Invoke replaced by a stub, for attribution by
elimination (``instructions.py --stub``): what a run loses with the stub is what that layer
costs. Never a way to serve users.

- ``service``: the invoke service answers every Invoke with its payload at once (what is
  left is the HTTP front: connection, edge, endpoint);
- ``wire``: the sandbox's answer is made in the server (what is left is everything but the
  round trip to the sandbox process: framing, the socket, the log pipe).

Run: ``python bench/stubbed_serve.py STUB serve --port P ...``.
"""

from __future__ import annotations

import runpy
import sys
from typing import Any


def stub_service() -> None:
    from lambox.invoke.service import InvokeService
    from lambox.model import Invocation, InvocationResult

    async def invoke(self: Any, name: str, invocation: Invocation) -> InvocationResult:
        return InvocationResult(payload=invocation.payload, executed_version="$LATEST")

    InvokeService.invoke = invoke  # type: ignore[method-assign]


def stub_wire() -> None:
    from lambox.sandbox.api import InvokeRequest, RawResult
    from lambox.sandbox.wired import WireSandbox

    async def _invoke(self: Any, request: InvokeRequest, timeout: float) -> RawResult:
        return RawResult(request.payload, None, b"", 0.1, self._peak_kb(0))

    WireSandbox._invoke = _invoke  # type: ignore[method-assign]


STUBS = {"service": stub_service, "wire": stub_wire}


def main() -> None:
    STUBS[sys.argv[1]]()
    sys.argv = ["lambox", *sys.argv[2:]]
    runpy.run_module("lambox.cli.main", run_name="__main__")


if __name__ == "__main__":
    main()
