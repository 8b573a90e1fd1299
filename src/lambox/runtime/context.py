"""The context object handed to a Python handler, attribute for attribute as on Lambda.

Per-function values come from the environment once at startup (they cannot change for
the life of a sandbox); per-invocation values come from the INVOKE meta. Construction is
on the hot path of every invocation, hence no environment lookups per call.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from lambox.runtime.logs import write_all


class FunctionInfo(NamedTuple):
    """The function-level attributes of every context, read once from the environment.

    ``memory_limit_in_mb`` is the environment string, not an int: Lambda's Python
    runtime exposes it that way and handlers written against it (``int(...)``,
    string formatting) must see the same type here.
    """

    function_name: str | None
    function_version: str | None
    memory_limit_in_mb: str | None
    log_group_name: str | None
    log_stream_name: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FunctionInfo:
        return cls(
            env.get("AWS_LAMBDA_FUNCTION_NAME"),
            env.get("AWS_LAMBDA_FUNCTION_VERSION"),
            env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
            env.get("AWS_LAMBDA_LOG_GROUP_NAME"),
            env.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        )


class CognitoIdentity:
    """The caller's Cognito identity; lambox has none, so both fields are None."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self) -> None:
        self.cognito_identity_id: str | None = None
        self.cognito_identity_pool_id: str | None = None

    def __repr__(self) -> str:
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class Client:
    """The mobile client block of a client context."""

    __slots__ = (
        "app_package_name",
        "app_title",
        "app_version_code",
        "app_version_name",
        "installation_id",
    )

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.installation_id: Any = data.get("installation_id")
        self.app_title: Any = data.get("app_title")
        self.app_version_name: Any = data.get("app_version_name")
        self.app_version_code: Any = data.get("app_version_code")
        self.app_package_name: Any = data.get("app_package_name")

    def __repr__(self) -> str:
        return (
            f"Client([installation_id={self.installation_id},app_title={self.app_title},"
            f"app_version_name={self.app_version_name},"
            f"app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}])"
        )


class ClientContext:
    """What the caller passed as ClientContext: ``client``, ``custom`` and ``env``."""

    __slots__ = ("client", "custom", "env")

    def __init__(self, data: Mapping[str, Any]) -> None:
        client = data.get("client")
        self.client: Client | None = Client(client) if isinstance(client, Mapping) else None
        self.custom: Any = data.get("custom")
        self.env: Any = data.get("env")

    def __repr__(self) -> str:
        return f"ClientContext([custom={self.custom},env={self.env},client={self.client}])"


class ContextError(Exception):
    """The invocation's client context could not be decoded."""


def decode_client_context(encoded: str | None) -> ClientContext | None:
    """The INVOKE meta carries the caller's base64 JSON untouched; decode it here."""
    if not encoded:
        return None
    try:
        data = json.loads(base64.b64decode(encoded))
    except (ValueError, TypeError) as e:
        raise ContextError(f"Unable to parse Client Context JSON: {e}") from None
    if not isinstance(data, Mapping):
        raise ContextError("Unable to parse Client Context JSON: not a JSON object")
    return ClientContext(data)


class LambdaContext:
    """The second argument of every handler call.

    Deliberately without ``__slots__``: handlers and instrumentation libraries attach
    their own attributes to the context, as Lambda's plain object allows.
    """

    def __init__(
        self,
        info: FunctionInfo,
        request_id: str,
        deadline_ms: int,
        invoked_function_arn: str | None,
        client_context: ClientContext | None = None,
        tenant_id: str | None = None,
        version: str | None = None,
    ) -> None:
        (
            self.function_name,
            self.function_version,
            self.memory_limit_in_mb,
            self.log_group_name,
            self.log_stream_name,
        ) = info
        if version:
            self.function_version = version
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.client_context = client_context
        self.identity = CognitoIdentity()
        self.tenant_id = tenant_id
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the host kills this invocation, never negative."""
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, msg: object) -> None:
        """Write to this invocation's log without a newline, as Lambda's ``context.log``."""
        write_all(1, str(msg).encode("utf-8", "backslashreplace"))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}])"
        )
