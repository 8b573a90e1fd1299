"""The safety layer around any backend: an explicit lifecycle and destroy-on-error.

Every transition goes through ``_move``; an illegal one raises IllegalTransition. Any
backend error destroys the sandbox, so a sandbox that failed once is never handed out again.
"""

from __future__ import annotations

import time

from lambox.errors import IllegalTransition, SandboxDead
from lambox.logs import stream_name
from lambox.model import FunctionVersion
from lambox.sandbox.api import InitReport, InvokeRequest, RawResult, Sandbox, SandboxState

STARTING, IDLE, BUSY, DEAD = (
    SandboxState.STARTING,
    SandboxState.IDLE,
    SandboxState.BUSY,
    SandboxState.DEAD,
)
# Tuples, not sets: membership by identity runs twice per invocation, and hashing an Enum
# member is a Python-level call.
_ALLOWED = {
    STARTING: (IDLE, DEAD),
    IDLE: (BUSY, DEAD),
    BUSY: (IDLE, DEAD),
    DEAD: (DEAD,),
}


class SafeSandbox:
    """A sandbox with a checked state machine; what the scheduler pools hold."""

    def __init__(self, inner: Sandbox) -> None:
        self._inner = inner
        self.state = SandboxState.STARTING
        self.init: InitReport | None = None
        self.invocations = 0
        self.idle_since = time.monotonic()
        self.born = self.idle_since  # retired past the scheduler's max_age (credentials)
        self.provisioned = False
        # The one tenant this sandbox serves (a function with tenant isolation), set when
        # the scheduler starts it for an invocation of that tenant; None for any other.
        self.tenant: str | None = None
        # The CloudWatch log stream of this sandbox, named as Lambda names one.
        self.log_stream = stream_name(inner.version.config.version)

    @property
    def version(self) -> FunctionVersion:
        return self._inner.version

    @property
    def alive(self) -> bool:
        """Not destroyed, and the backend has not seen its environment end (a process that
        died while idle); what the scheduler checks before handing a sandbox out."""
        return self.state is not DEAD and self._inner.alive

    def _move(self, to: SandboxState) -> None:
        if to not in _ALLOWED[self.state]:
            raise IllegalTransition(f"sandbox cannot go from {self.state.value} to {to.value}")
        self.state = to

    async def start(self) -> InitReport:
        try:
            self.init = await self._inner.start()
        except BaseException:
            await self.destroy()
            raise
        self._move(SandboxState.IDLE)
        return self.init

    async def invoke(self, request: InvokeRequest, timeout: float) -> RawResult:
        state = self.state
        if state is DEAD:
            raise SandboxDead("sandbox is dead")
        if state is IDLE:  # the usual move, without ``_move``'s lookup
            self.state = BUSY
        else:
            self._move(BUSY)
        try:
            result = await self._inner.invoke(request, timeout)
        except BaseException:  # a SandboxError or not: the sandbox is not used again
            await self.destroy()
            raise
        self.invocations += 1
        self.idle_since = time.monotonic()
        if self.state is BUSY:
            self.state = IDLE
        else:
            self._move(IDLE)
        return result

    async def destroy(self) -> None:
        self.state = SandboxState.DEAD
        await self._inner.destroy()
