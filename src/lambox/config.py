"""Settings: one frozen object built once from the environment (or a mapping in tests).

Every field is documented in ``docs/settings.md`` and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

PREFIX = "LAMBOX_"


def _runtime_map(text: str) -> Mapping[str, str]:
    pairs = (item.split("=", 1) for item in text.replace(";", ",").split(",") if "=" in item)
    return {k.strip(): v.strip() for k, v in pairs}


# How a variable's text becomes a field's value, by the field's annotation.
_PARSERS: Mapping[str, Callable[[str], object]] = {
    "str": str,
    "int": int,
    "float": float,
    "Path": Path,
    "Mapping[str, str]": _runtime_map,
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an operator can set. Names map to ``LAMBOX_<UPPER_NAME>`` variables."""

    host: str = field(default="127.0.0.1", metadata={"doc": "Address the API listens on."})
    port: int = field(default=9000, metadata={"doc": "Port the API listens on."})
    data_dir: Path = field(
        default=Path(".lambox"),
        metadata={"doc": "Directory for state (SQLite), code and logs; created if missing."},
    )
    region: str = field(default="us-east-1", metadata={"doc": "Region used in ARNs."})
    account_id: str = field(
        default="000000000000", metadata={"doc": "12-digit account id used in ARNs."}
    )
    runtime_map: Mapping[str, str] = field(
        default_factory=dict,
        metadata={
            "doc": "Runtime aliases, e.g. `python3.12=python3.11,python3.13=python3.11`: "
            "run functions of the left runtime on the interpreter of the right one."
        },
    )
    keep_alive: float = field(
        default=300.0,
        metadata={"doc": "Seconds an idle warm sandbox is kept before it is reclaimed."},
    )
    role_session: float = field(
        default=43200.0,
        metadata={
            "doc": "Seconds a function's execution-role session lasts (AWS's 12 hours). A"
            " session is shared by a function's new sandboxes while more than three quarters"
            " of it is left, and a sandbox is retired (when idle, provisioned ones replaced)"
            " once it is half that old, so its credentials never expire in use."
        },
    )
    init_timeout: float = field(
        default=10.0,
        metadata={
            "doc": "Seconds an on-demand init may take (Lambda's 10 s init phase); past it the"
            " init is retried in the first invocation, within the function's timeout."
        },
    )
    concurrency_limit: int = field(
        default=1000,
        metadata={"doc": "Account-wide concurrent executions (sandboxes busy at once)."},
    )
    sandbox_limit: int = field(
        default=0,
        metadata={
            "doc": "Most sandboxes alive on this machine; beyond it idle ones of other functions"
            " are evicted, then callers wait (bounded) for one to free up. 0: one per 16 MiB"
            " of the machine's memory, at most the concurrency limit."
        },
    )
    wait_queue: int = field(
        default=32,
        metadata={"doc": "Callers per function that may wait for sandbox capacity; more get 429."},
    )
    log_retention_bytes: int = field(
        default=8 << 20,
        metadata={"doc": "Per-function log file size after which the oldest half is dropped."},
    )
    otlp_endpoint: str = field(
        default="",
        metadata={
            "doc": "OpenTelemetry collector (OTLP/HTTP) that Active-tracing functions' spans"
            " are exported to; empty: none."
        },
    )
    metrics_flush_interval: float = field(
        default=10.0,
        metadata={
            "doc": "Seconds between writes of the open metric minutes to `metrics.db` (a"
            " query writes them first too); what a kill -9 can lose."
        },
    )
    metrics_retention_days: float = field(
        default=15.0,
        metadata={"doc": "Days metric datapoints and usage (cost) rows are kept."},
    )
    public_url: str = field(
        default="",
        metadata={
            "doc": "Base URL clients reach lambox at (Code.Location); default from host/port."
        },
    )
    async_concurrency: int = field(
        default=8,
        metadata={
            "doc": "Asynchronous events of one function run at once (at most its reserved"
            " concurrency)."
        },
    )
    async_retry_delay: float = field(
        default=60.0,
        metadata={
            "doc": "Seconds from a function error to the first retry of an asynchronous event;"
            " the second retry waits twice as long (AWS: 1 and 2 minutes)."
        },
    )
    sns_http_retry_delay: float = field(
        default=20.0,
        metadata={
            "doc": "Seconds between the tries of an SNS delivery to an http/https subscriber"
            " (SNS's default delivery policy: 3 retries, 20 seconds apart)."
        },
    )
    async_throttle_backoff: float = field(
        default=1.0,
        metadata={
            "doc": "Seconds before a throttled asynchronous event is tried again; doubles on"
            " every throttle up to 5 minutes."
        },
    )
    async_queue_limit: int = field(
        default=1_000_000,
        metadata={"doc": "Asynchronous events stored at most; beyond it Event invokes get 429."},
    )
    events_synchronous: str = field(
        default="NORMAL",
        metadata={
            "doc": "SQLite synchronous mode of the event queue: NORMAL survives a crash of"
            " lambox, FULL also an operating-system crash or power loss."
        },
    )
    clock_speed: float = field(
        default=1.0,
        metadata={
            "doc": "How fast the clock of schedules runs (tests only): at 60 a rate(1 minute)"
            " rule fires every real second."
        },
    )
    clock_offset: float = field(
        default=0.0,
        metadata={
            "doc": "Seconds added to the clock of schedules (tests only): a restart an hour"
            " late is a restart with 3600."
        },
    )
    header_timeout: float = field(
        default=10.0,
        metadata={
            "doc": "Seconds a client has to send a request's line and headers, from its"
            " connection or the first byte of the request; then 408 and the connection closes."
        },
    )
    header_limit_bytes: int = field(
        default=16 * 1024,
        metadata={"doc": "Most bytes of a request's line and headers; beyond it 431."},
    )
    header_limit_count: int = field(
        default=100,
        metadata={"doc": "Most header fields in a request; beyond it 431."},
    )
    idle_timeout: int = field(
        default=75,
        metadata={"doc": "Seconds an idle keep-alive connection is kept open between requests."},
    )
    sandbox: str = field(
        default="auto",
        metadata={
            "doc": "Sandbox backend: linux (zygotes, namespaces, cgroups), process (plain"
            " processes), or auto: linux where the machine allows it, else process, loudly."
        },
    )
    cpu_mode: str = field(
        default="shares",
        metadata={
            "doc": "CPU of a sandbox after its init (linux backend): shares, a weight in"
            " proportion to MemorySize with no cap (idle cores serve any function, busy ones"
            " are shared by memory), or quota, Lambda's hard limit (MemorySize / 1769 MB of a"
            " core) to test latency under the CPU a function gets on AWS."
        },
    )

    stream_response_limit: int = field(
        default=200 * 1024 * 1024,
        metadata={
            "doc": "Most bytes of a streamed response (InvokeWithResponseStream, RESPONSE_STREAM"
            " function URLs); the rest is dropped and the stream ends with"
            " Function.ResponseSizeTooLarge. Lambda's default maximum, a soft limit (200 MB"
            " since July 2025; 20 MB before)."
        },
    )

    auth: str = field(
        default="auto",
        metadata={
            "doc": "Authentication posture: auto (open on a loopback address, strict on any"
            " other), or strict."
        },
    )

    enforce_iam: str = field(
        default="auto",
        metadata={
            "doc": "Whether IAM policies authorize requests: auto (users', roles' and"
            " functions' execution roles' requests in both postures, the root and, on"
            " loopback, unsigned requests excepted; triggers' resource policies, public"
            " function URLs and the roles services act with in the strict posture only), on"
            " (all of it in both postures), off (authentication only: any signed request"
            " may do anything its key's account may, an explicit opt-out on loopback)."
        },
    )

    @property
    def iam_enforced(self) -> bool:
        """Whether users' and roles' requests (functions' included) are checked against
        their policies: unless ``off``, in both postures."""
        return self.enforce_iam != "off"

    @property
    def service_grants_enforced(self) -> bool:
        """Whether services are held to their grants: triggers need a resource policy
        statement, an ``AuthType: NONE`` URL a public one, and a role a service acts with
        (an event source mapping's, a schedule's) its policies. ``auto``: in the strict
        posture only, so local tutorials that never call AddPermission keep working."""
        if self.enforce_iam == "auto":
            return self.strict_auth
        return self.enforce_iam == "on"

    @property
    def strict_auth(self) -> bool:
        """Whether every request needs a valid signature (see docs/security.md)."""
        if self.auth == "strict":
            return True
        host = self.host.strip("[]").lower()
        return not (host == "localhost" or host == "::1" or host.startswith("127."))

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> Settings:
        """Settings from ``LAMBOX_*`` variables; explicit overrides (CLI flags) win."""
        values: dict[str, object] = {}
        for f in fields(cls):
            name = PREFIX + f.name.upper()
            raw = env.get(name)
            if raw is None:
                continue
            parse = _PARSERS[str(f.type)]
            try:
                values[f.name] = parse(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a valid {f.type}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
