"""Settings: one frozen object built once from the environment (or a mapping in tests).

Every field is documented in ``docs/settings.md`` and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

PREFIX = "LAMBOX_"


def _runtime_map(text: str) -> Mapping[str, str]:
    pairs = (item.split("=", 1) for item in text.replace(";", ",").split(",") if "=" in item)
    return {k.strip(): v.strip() for k, v in pairs}


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
    concurrency_limit: int = field(
        default=1000,
        metadata={"doc": "Account-wide concurrent executions (sandboxes busy at once)."},
    )
    sandbox_limit: int = field(
        default=64,
        metadata={
            "doc": "Most sandboxes alive on this machine; beyond it idle ones of other functions"
            " are evicted, then callers wait (bounded) for one to free up."
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
    public_url: str = field(
        default="",
        metadata={
            "doc": "Base URL clients reach lambox at (Code.Location); default from host/port."
        },
    )

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> Settings:
        """Settings from ``LAMBOX_*`` variables; explicit overrides (CLI flags) win."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None:
                continue
            if f.name in (
                "port",
                "concurrency_limit",
                "log_retention_bytes",
                "sandbox_limit",
                "wait_queue",
            ):
                values[f.name] = int(raw)
            elif f.name == "keep_alive":
                values[f.name] = float(raw)
            elif f.name == "data_dir":
                values[f.name] = Path(raw)
            elif f.name == "runtime_map":
                values[f.name] = _runtime_map(raw)
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
