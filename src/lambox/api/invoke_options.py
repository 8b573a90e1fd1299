"""The options an invocation's request head carries, read for Invoke and for
InvokeWithResponseStream alike.

Both operations take the same headers and query (``X-Amz-Invocation-Type``,
``X-Amz-Log-Type``, ``X-Amz-Client-Context``, ``X-Amzn-Trace-Id``, ``X-Amz-Tenant-Id``,
``?Qualifier=``) and AWS
checks them the same way against each operation's own model; only the invocation types
allowed and ``X-Amz-Durable-Execution-Name`` (Invoke's alone) differ. Those differences are an
``Operation``, so one loop reads both heads and Invoke, the hot path, pays nothing for the
sharing: its ``Operation`` is the default argument, and the per-operation fields are read
only when their header is there. A refusal's words come from the operation's model
(``shapes.validate``, off the hot path), so each operation names its own enum.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import parse_qs

from starlette.types import Scope

from lambox.control import shapes
from lambox.errors import InvalidParameterValue, ValidationError
from lambox.model import InvocationType

CLIENT_CONTEXT_LIMIT = 3583
# The model's TenantId: 1-256 characters of this class. Checked here first, and through the
# model (for AWS's words) only when it fails.
_TENANT_ID = re.compile(r"[a-zA-Z0-9._:/=+\-@ ]{1,256}")


@dataclass(frozen=True, slots=True)
class Operation:
    """What tells one invocation operation's head from another's."""

    name: str
    """The operation in AWS's model, whose input shape words the refusals."""
    types: Mapping[str, InvocationType]
    """``X-Amz-Invocation-Type`` values the operation takes (its model's enum)."""
    durable: bool
    """Whether ``X-Amz-Durable-Execution-Name`` is read (AWS ignores headers an operation
    does not model)."""


INVOKE = Operation(
    "Invoke",
    {t.value: t for t in InvocationType},
    durable=True,
)
STREAM = Operation(
    "InvokeWithResponseStream",
    {t.value: t for t in (InvocationType.REQUEST_RESPONSE, InvocationType.DRY_RUN)},
    durable=False,
)

Options = tuple[InvocationType, bool, str | None, str | None, str | None, str | None, str | None]
"""An invocation's options from its head: (type, tail logs, client context, durable
execution name, trace header, qualifier, tenant id)."""


def options(scope: Scope, operation: Operation = INVOKE) -> Options:
    """The options the request's headers and query give, each checked as AWS checks it."""
    invocation_type = InvocationType.REQUEST_RESPONSE
    tail = False
    client_context: str | None = None
    durable_name: str | None = None
    trace: str | None = None
    tenant: str | None = None
    for key, value in scope["headers"]:
        if key == b"x-amz-invocation-type":
            text = value.decode("latin-1")
            kind = operation.types.get(text)
            if kind is None:
                _refuse(operation, "InvocationType", text)
            invocation_type = kind
        elif key == b"x-amz-log-type":
            tail = value == b"Tail"
            if not tail and value != b"None":
                _refuse(operation, "LogType", value.decode("latin-1"))
        elif key == b"x-amz-client-context":
            client_context = _client_context(value.decode("latin-1"))
        elif key == b"x-amz-durable-execution-name" and operation.durable:
            durable_name = value.decode("latin-1")
            shapes.validate(
                operation.name, {"FunctionName": "f", "DurableExecutionName": durable_name}
            )
        elif key == b"x-amzn-trace-id":
            trace = value.decode("latin-1")
        elif key == b"x-amz-tenant-id":
            tenant = _tenant_id(operation, value.decode("latin-1"))
    qualifier = None
    if scope.get("query_string"):
        query = parse_qs(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        values = query.get("Qualifier")
        qualifier = values[0] if values else None
        if qualifier == "":
            # Would route to $LATEST; AWS refuses it as too short.
            _refuse(operation, "Qualifier", qualifier)
    return invocation_type, tail, client_context, durable_name, trace, qualifier, tenant


def _refuse(operation: Operation, member: str, value: str) -> NoReturn:
    """Raise AWS's ValidationException for one bad member, in the operation model's words.
    The function name is a stand-in: only ``member`` is wrong."""
    shapes.validate(operation.name, {"FunctionName": "f", member: value})
    # Unreachable while ``types`` is the model's enum (a unit test holds them equal).
    raise ValidationError(f"Value '{value}' at '{member}' is not accepted by {operation.name}.")


def _tenant_id(operation: Operation, value: str) -> str:
    """``X-Amz-Tenant-Id`` as the model constrains it (whether the function takes one is
    the invoke service's check, once it knows the function)."""
    if _TENANT_ID.fullmatch(value) is None:
        _refuse(operation, "TenantId", value)
    return value


def _client_context(value: str) -> str:
    """The header is base64 JSON; AWS rejects anything else and anything over 3,583 bytes."""
    if len(value) > CLIENT_CONTEXT_LIMIT:
        raise InvalidParameterValue("Client context must be less than 3583 bytes.")
    try:
        json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise InvalidParameterValue(
            "Client context must be a valid Base64-encoded JSON object."
        ) from exc
    return value
