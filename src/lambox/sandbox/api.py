"""The sandbox protocol: what the scheduler may ask of any isolation backend.

Lifecycle of one sandbox (enforced by ``SafeSandbox``):

    STARTING --start() ok--> IDLE --invoke()--> BUSY --result--> IDLE
        |                      |                  |
        +--any failure---------+----destroy()-----+--------------> DEAD

- ``start`` spawns the environment and runs the function's init; it returns an
  ``InitReport`` even when the *function's* init failed (that is the function's error,
  reported on invoke); it raises ``SandboxError`` only when the *sandbox* failed.
- ``invoke`` runs one invocation; never called concurrently on one sandbox. It raises
  ``SandboxTimeout`` past the deadline and ``SandboxDead`` when the environment died; after
  either, the sandbox is DEAD and must not be reused.
- ``destroy`` releases every resource; idempotent; safe from any state.
- ``alive`` is False once the environment is known to have ended (destroyed, or its process
  died on its own, e.g. killed while idle). It must cost next to nothing (no system call: it
  reports what the backend already learned, such as EOF on the wire), as it is read each
  time a sandbox is handed out; True is a hint, not a promise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from lambox.model import FunctionVersion, ResponseSink


class SandboxState(Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class InitReport:
    """The outcome of a sandbox's init phase."""

    init_ms: float
    error: bytes | None
    log: bytes
    log_stream: str
    # Set for a sandbox restored from a SnapStart snapshot: its REPORT line then shows
    # Restore Duration (the whole restore) and Billed Restore Duration (the hooks' time).
    restore_ms: float | None = None
    billed_restore_ms: int = 0
    # The init passed Lambda's init limit: the log gets an INIT_REPORT line saying so and
    # the sandbox runs the init again in its first invocation (``init_ms`` is the limit).
    timed_out: bool = False
    # Part of the init's output went to the function's log while it ran (the factory's init
    # spill, which began it with INIT_START): ``log`` is the rest.
    spilled: bool = False


@dataclass(frozen=True, slots=True)
class PrepareFailure:
    """Why a newly published version cannot run at all (its SnapStart snapshot failed
    because of the function): a StateReasonCode of botocore's model and a StateReason."""

    reason_code: str
    reason: str


@dataclass(slots=True)
class RawResult:
    """One invocation's answer as the sandbox produced it. Not frozen, like
    ``InvokeRequest``: one is made on every invocation, and a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__`` (twice the cost); nothing
    changes one once made (``dataclasses.replace`` makes another)."""

    payload: bytes
    error: str | None
    log: bytes
    duration_ms: float
    max_rss_kb: int


@dataclass(slots=True)
class InvokeRequest:
    """What a sandbox needs to run one invocation (already resolved by the invoke layer).
    Not frozen: one is made on every invocation (see ``RawResult``); nothing changes it."""

    request_id: str
    payload: bytes
    deadline: float
    invoked_arn: str
    client_context: str | None
    trace_id: str
    sink: ResponseSink | None = None
    """Where a streamed response goes as it is produced (backends that cannot stream
    ignore it and answer the whole payload)."""
    log_spill: Callable[[bytes], None] | None = None
    """Where the invocation's log goes once it outgrows what a sandbox keeps in memory
    (``LogPipe``), whole lines at a time; None: the oldest part is dropped instead."""
    trace_made: bool = False
    """True when lambox made ``trace_id`` whole (the invocation had no caller's trace
    header): it has no character that needs escaping in the sandbox's INVOKE frame."""
    tenant_id: str | None = None
    """The tenant of an invocation of a function with tenant isolation (the context's
    ``tenant_id``); None for any other function."""


class Sandbox(Protocol):
    """One isolated execution environment for one function snapshot."""

    version: FunctionVersion

    @property
    def alive(self) -> bool: ...

    async def start(self) -> InitReport: ...

    async def invoke(self, request: InvokeRequest, timeout: float) -> RawResult: ...

    async def destroy(self) -> None: ...


class SandboxFactory(Protocol):
    """Makes sandboxes of one backend. ``close`` destroys what the factory still holds."""

    name: str

    def create(self, version: FunctionVersion, init_type: str = "on-demand") -> Sandbox:
        """A new, unstarted sandbox. ``init_type`` is AWS_LAMBDA_INITIALIZATION_TYPE
        (``on-demand`` or ``provisioned-concurrency``)."""
        ...

    async def prepare(self, version: FunctionVersion) -> PrepareFailure | None:
        """Get ready for the sandboxes of ``version``, newly published, if the backend has
        anything to do ahead of need (a SnapStart snapshot); returns once it is ready or
        found impossible: None when the version can run (if the snapshot could not be taken
        for a reason of lambox's, its sandboxes start the ordinary way), the failure when
        the function itself made it fail (its init raised or exited). Never raises."""
        ...

    def retire(self, name: str, qualifier: str | None) -> None:
        """Function ``name`` (or only its version ``qualifier``) was deleted: let go of
        whatever was prepared for it."""
        ...

    def start(self) -> None:
        """The server listens (called from the event loop): begin the work ahead of need
        that was left out of start-up so that the first request is answered sooner."""
        ...

    async def close(self) -> None: ...
