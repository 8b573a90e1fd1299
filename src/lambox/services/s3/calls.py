"""What every S3 operation takes and returns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lambox.services.s3.store import StoredObject


@dataclass(frozen=True)
class Call:
    """One request to S3: its input members, its body (when streamed) and who sent it."""

    params: Mapping[str, Any]
    body: AsyncIterator[bytes]
    request_id: str
    source_ip: str
    region: str


@dataclass
class Result:
    """An operation's output members, and the slice of a stored body to send (GetObject)."""

    output: dict[str, Any] = field(default_factory=dict)
    stream: tuple[StoredObject, int, int] | None = None
    status: int | None = None


Handler = Callable[[Call], Awaitable[Result]]
