"""What a resource handler is (``Handler``, ``Provisioned``), the names and typed values
every handler shares.

Resource types are rows of the operation table (``service_resources`` and the modules of
its rows), which reach the services through the calls ``stack_wiring.py`` and
``stack_services.py`` wire; this package imports no service. Any error a call raises (an
AWS-shaped ``LamboxError``) fails the resource with that error's message, which the stack's
events then show.

Replacement follows CloudFormation: a change of a property that cannot be updated in place
(``replaces``: a function's name, a bucket's name, a layer's content...) creates the new
resource first and deletes the old one once the whole update has succeeded.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Provisioned:
    physical_id: str
    ref: str
    attributes: Mapping[str, Any]


class Handler(Protocol):
    replaces: frozenset[str]

    async def create(
        self, logical_id: str, props: Mapping[str, Any], stack: str
    ) -> Provisioned: ...

    async def update(
        self,
        current: Provisioned,
        old: Mapping[str, Any],
        props: Mapping[str, Any],
        logical_id: str,
        stack: str,
    ) -> Provisioned: ...

    async def delete(self, current: Provisioned, props: Mapping[str, Any]) -> None: ...


# (bucket, key) -> the object's bytes, or a NoSuchKey ServiceFault
ReadObject = Callable[[str, str], Awaitable[bytes]]


def coerce(shape: Any, value: Any) -> Any:
    """Template values as the API's model types them: CloudFormation passes numbers and
    booleans written as strings ("128", "true") to services as numbers and booleans."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {
            k: coerce(shape.members[k], v) if k in shape.members else v for k, v in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [coerce(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: coerce(shape.value, v) for k, v in value.items()}
    if isinstance(value, str):
        try:
            if kind in ("integer", "long"):
                return int(value)
            if kind in ("float", "double"):
                return float(value)
        except ValueError:
            return value
        if kind == "boolean" and value.lower() in ("true", "false"):
            return value.lower() == "true"
    return value


def physical_name(stack: str, logical_id: str, limit: int = 64) -> str:
    """A generated name as CloudFormation makes them: stack-Logical-RANDOM."""
    suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12))
    head = f"{stack}-{logical_id}"[: limit - len(suffix) - 1]
    return f"{head}-{suffix}"
