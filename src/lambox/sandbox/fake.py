"""An in-memory sandbox backend for scheduler and invoke unit tests.

Behaves like a real sandbox at the protocol level: ``start`` returns an InitReport,
``invoke`` answers with a payload chosen by the test or raises SandboxTimeout/SandboxDead,
``destroy`` is idempotent. It records what happened so tests can count starts and kills.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from lambox.errors import SandboxDead, SandboxTimeout
from lambox.model import FunctionVersion
from lambox.sandbox.api import InitReport, InvokeRequest, PrepareFailure, RawResult

Behaviour = Callable[[InvokeRequest], RawResult]


def echo(request: InvokeRequest) -> RawResult:
    return RawResult(request.payload, None, b"", 0.1, 1024)


@dataclass
class FakeSandbox:
    version: FunctionVersion
    behaviour: Behaviour
    delay: float = 0.0
    init_type: str = "on-demand"
    started: bool = False
    destroyed: bool = False
    invocations: int = 0
    # Set by a test: the environment ended on its own (killed while idle, say).
    exited: bool = False

    @property
    def alive(self) -> bool:
        return not (self.destroyed or self.exited)

    async def start(self) -> InitReport:
        self.started = True
        return InitReport(init_ms=1.0, error=None, log=b"", log_stream="fake")

    async def invoke(self, request: InvokeRequest, timeout: float) -> RawResult:
        if self.destroyed or self.exited:
            raise SandboxDead("fake sandbox destroyed")
        self.invocations += 1
        if self.delay:
            if self.delay > timeout:
                await asyncio.sleep(timeout)
                self.destroyed = True
                raise SandboxTimeout("fake timeout")
            await asyncio.sleep(self.delay)
        return self.behaviour(request)

    async def destroy(self) -> None:
        self.destroyed = True


@dataclass
class FakeSandboxFactory:
    """SandboxFactory of FakeSandboxes; ``made`` lists every sandbox created."""

    behaviour: Behaviour = echo
    delay: float = 0.0
    name: str = "fake"
    made: list[FakeSandbox] = field(default_factory=list)

    def create(self, version: FunctionVersion, init_type: str = "on-demand") -> FakeSandbox:
        sandbox = FakeSandbox(version, self.behaviour, self.delay, init_type=init_type)
        self.made.append(sandbox)
        return sandbox

    async def prepare(self, version: FunctionVersion) -> PrepareFailure | None:
        return None

    def retire(self, name: str, qualifier: str | None) -> None:
        return None

    def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
