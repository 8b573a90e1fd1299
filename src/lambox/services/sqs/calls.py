"""What every SQS operation takes: its input members and where the request came from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Call:
    """One request: its members, the endpoint it was sent to (queue URLs are built on it)
    and who sent it."""

    params: Mapping[str, Any]
    endpoint: str
    sender: str


Handler = Callable[[Call], Awaitable[dict[str, Any]]]
