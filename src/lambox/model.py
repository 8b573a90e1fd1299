"""Frozen value types shared by the planes. No I/O; imports nothing of lambox."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Protocol, TypeVar

LATEST = "$LATEST"


class State(StrEnum):
    """Function ``State`` as reported by GetFunction (Pending -> Active on create)."""

    PENDING = "Pending"
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    FAILED = "Failed"


class UpdateStatus(StrEnum):
    """Function ``LastUpdateStatus`` (InProgress -> Successful on an update)."""

    IN_PROGRESS = "InProgress"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"


class InvocationType(StrEnum):
    REQUEST_RESPONSE = "RequestResponse"
    EVENT = "Event"
    DRY_RUN = "DryRun"


V = TypeVar("V")


def frozen_map(items: Mapping[str, V] | None = None) -> Mapping[str, V]:
    """A read-only copy, so snapshots can be shared across tasks without defensive copies."""
    return MappingProxyType(dict(items or {}))


def _no_provisioned() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class VpcConfig:
    """A function's VpcConfig as given: stored and shown, enforced nowhere (docs/vpc.md).

    Empty lists are a configuration too: AWS shows a VpcConfig removed by an update with
    empty lists, and none for a function never given one."""

    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    ipv6_allowed_for_dual_stack: bool = False


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """The desired state of one function version, as the control plane stores it."""

    name: str
    runtime: str
    handler: str
    role: str
    code_sha256: str
    code_size: int
    revision_id: str
    last_modified: str
    memory_size: int = 128
    timeout: int = 3
    description: str = ""
    environment: Mapping[str, str] = field(default_factory=lambda: frozen_map({}))
    ephemeral_storage: int = 512
    architectures: tuple[str, ...] = ("x86_64",)
    tags: Mapping[str, str] = field(default_factory=lambda: frozen_map({}))
    version: str = LATEST
    code_key: str = ""
    dead_letter_arn: str = ""
    # AWS echoes an Environment given empty ({"Variables": {}}) but omits one never given.
    has_environment: bool = False
    # SnapStart ApplyOn PublishedVersions: published versions start from a snapshot.
    snap_start: bool = False
    vpc: VpcConfig | None = None
    state: State = State.PENDING
    last_update_status: UpdateStatus = UpdateStatus.SUCCESSFUL
    # Why a version is Failed (a StateReasonCode of botocore's model and its sentence);
    # empty for a function whose runtime this server lacks (InvalidRuntime).
    state_reason_code: str = ""
    state_reason: str = ""
    # Layers: (LayerVersionArn, CodeSize) in order, and the code store key of the tree
    # they merge into, mounted at /opt ("" for none).
    layers: tuple[tuple[str, int], ...] = ()
    opt_key: str = ""
    # DurableConfig: (ExecutionTimeout seconds, RetentionPeriodInDays); None: not durable.
    durable: tuple[int, int] | None = None
    # TracingConfig.Mode: "Active" records and exports segments; "PassThrough" only carries
    # a caller's trace header on.
    tracing_mode: str = "PassThrough"
    # LoggingConfig: LogFormat "Text" or "JSON"; the levels are set only with JSON (AWS
    # refuses them with Text); "" log group means "/aws/lambda/<name>".
    log_format: str = "Text"
    application_log_level: str = ""
    system_log_level: str = ""
    log_group: str = ""
    # TenancyConfig.TenantIsolationMode: "PER_TENANT" dedicates each sandbox to the tenant
    # of its first invocation; "" for a function without tenant isolation. Set at creation
    # only (AWS cannot change it afterwards).
    tenant_isolation: str = ""

    @property
    def log_group_name(self) -> str:
        """The CloudWatch log group the function's logs go to."""
        return self.log_group or f"/aws/lambda/{self.name}"


@dataclass(frozen=True, slots=True)
class FunctionVersion:
    """An immutable snapshot the data plane runs from: configuration plus unpacked code.

    ``generation`` increases with every change of the function, so a sandbox built from an
    older snapshot is recognised as stale and never reused.
    """

    arn: str
    config: FunctionConfig
    code_dir: Path
    interpreter: str
    region: str
    generation: int
    # The function's layers merged into one tree, seen at /opt in the sandbox (None: none).
    opt_dir: Path | None = None
    # The function's name, and the identity of a version (its pool): generations of one key
    # replace each other. Made once with the snapshot, since every invocation reads them
    # (a property would be a call each time).
    name: str = field(init=False, repr=False, compare=False)
    key: tuple[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.config.name)
        object.__setattr__(self, "key", (self.config.name, self.config.version))


class Flow(Protocol):
    """The producer side of a stream, which a consumer slows down: stop reading what the
    function writes (its writes then wait in its socket), and read again. An
    ``asyncio.Transport`` is one."""

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class ResponseSink(Protocol):
    """Where a streamed response goes as the function produces it (InvokeWithResponseStream,
    a RESPONSE_STREAM function URL). Called on the event loop, never blocks: ``begin`` once
    with the stream's content type and the ``Flow`` of the function's connection, then
    ``write`` for each chunk. A sink whose reader falls behind pauses the flow instead of
    keeping what it cannot pass on. A function that does not stream never calls it; its
    whole payload is in the invocation's result instead."""

    def begin(self, content_type: str, flow: Flow | None = None) -> None: ...
    def write(self, chunk: bytes) -> None: ...


@dataclass(slots=True)
class Invocation:
    """One call of a function, as parsed at the edge. Not frozen, unlike the snapshots
    here: one is made on every Invoke, and a frozen dataclass's ``__init__`` sets each
    field through ``object.__setattr__``. Nothing changes one once made
    (``dataclasses.replace`` makes another)."""

    request_id: str
    payload: bytes
    invocation_type: InvocationType = InvocationType.REQUEST_RESPONSE
    client_context: str | None = None
    tail_logs: bool = False
    qualifier: str | None = None
    sink: ResponseSink | None = None
    # X-Amz-Durable-Execution-Name of an Invoke of a durable function.
    durable_name: str | None = None
    # The caller's X-Amzn-Trace-Id header (None: lambox starts the trace).
    trace_header: str | None = None
    # X-Amz-Tenant-Id: the tenant a PER_TENANT function's invocation is for.
    tenant_id: str | None = None


@dataclass(slots=True)
class InvocationResult:
    """What came back from a sandbox (or from lambox on its behalf). Not frozen, as
    ``Invocation`` is not (one per Invoke); nothing changes one once made."""

    payload: bytes
    executed_version: str
    function_error: str | None = None
    log: bytes = b""
    duration_ms: float = 0.0
    init_duration_ms: float | None = None
    max_memory_mb: int = 0
    # The durable execution an Invoke of a durable function started (or found by name).
    durable_execution_arn: str | None = None


@dataclass(frozen=True, slots=True)
class Alias:
    """A named pointer to a published version, optionally splitting traffic with one more."""

    function: str
    name: str
    function_version: str
    revision_id: str
    description: str = ""
    additional_version: str | None = None
    additional_weight: float = 0.0


@dataclass(frozen=True, slots=True)
class ProvisionedConfig:
    """Provisioned concurrency requested on a version or alias (``qualifier``)."""

    function: str
    qualifier: str
    requested: int
    last_modified: str


@dataclass(frozen=True, slots=True)
class Limits:
    """Concurrency settings of one function as the data plane needs them.

    ``reserved`` is None for a function drawing from the unreserved pool. ``provisioned``
    maps a published version to the number of sandboxes kept initialized for it (an alias's
    provisioned concurrency is attributed to the version it points to). ``ceilings`` maps a
    published version to the most invocations it may run at once (its scaling config's
    MaxExecutionEnvironments).
    """

    function: str
    reserved: int | None = None
    provisioned: Mapping[str, int] = field(default_factory=_no_provisioned)
    ceilings: Mapping[str, int] = field(default_factory=_no_provisioned)
