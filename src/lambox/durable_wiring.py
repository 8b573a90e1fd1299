"""How durable functions are wired into a server (called by ``server.py``): the store and
engine of ``services/durable``, the invoke service's hook that turns an Invoke of a
function with a DurableConfig into an execution, and the engine's own invocations.

An Event Invoke answers 202 with the execution's ARN once the execution is stored; a
RequestResponse Invoke waits for the execution to end and answers with its result (or its
error, as the function's ``Unhandled`` error), as Lambda does.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp

from lambox.arns import Arns
from lambox.control import shapes
from lambox.control.functions import FunctionService
from lambox.events.clock import Clock
from lambox.invoke.ids import new_request_id
from lambox.invoke.records import timeout_payload
from lambox.invoke.service import UNHANDLED, InvokeService
from lambox.model import LATEST, FunctionVersion, Invocation, InvocationResult, InvocationType
from lambox.services.durable.app import DurableApp
from lambox.services.durable.engine import DurableEngine
from lambox.services.durable.service import DurableService
from lambox.services.durable.store import DurableStore

SYNC_LIMIT = 900  # seconds a RequestResponse Invoke of a durable function may wait


@dataclass
class Durable:
    """The durable-function objects of one server."""

    store: DurableStore
    engine: DurableEngine
    service: DurableService

    def app(self, lambda_app: ASGIApp) -> DurableApp:
        """The durable operations' app in front of the Lambda API's, validated by its model."""
        return DurableApp(self.service.operations(), lambda_app, shapes.validate)


def build_durable(
    data: Path, invoke: InvokeService, functions: FunctionService, arns: Arns, clock: Clock
) -> Durable:
    store = DurableStore(data / "durable.db")

    async def chain(
        function_name: str, qualifier: str | None, payload: bytes
    ) -> tuple[bytes, str | None]:
        request = Invocation(new_request_id(), payload, qualifier=qualifier)
        result = await invoke.invoke(function_name, request)
        return result.payload, result.function_error

    engine = DurableEngine(store, invoke.invoke_direct, clock, chain)

    def function_arn(function_name: str) -> str:
        name = functions.get(function_name).name  # ResourceNotFound as AWS says it
        return arns.function(name)

    service = DurableService(store, engine, clock, function_arn)

    async def start(fv: FunctionVersion, invocation: Invocation) -> InvocationResult:
        assert fv.config.durable is not None
        timeout, retention = fv.config.durable
        # An execution is pinned to the version it started on (an alias routes only its
        # first invocation), and its ARN names that version, as the model's pattern says.
        version = fv.config.version
        started = engine.begin(
            name=invocation.durable_name or str(uuid.uuid4()),
            function_name=fv.name,
            function_arn=arns.function(fv.name, version),
            qualifier=None if version == LATEST else version,
            version=version,
            payload=invocation.payload,
            timeout=timeout,
            retention=retention,
        )
        arn = started.execution.arn
        if invocation.invocation_type is InvocationType.EVENT:
            return InvocationResult(b"", version, durable_execution_arn=arn)
        # A synchronous Invoke waits at most 15 minutes, less when the function's Timeout
        # or the ExecutionTimeout is lower (AWS's limit); then it answers as a timed-out
        # invocation while the execution goes on (its ARN is in the answer; the same name
        # again answers its result once it has one).
        limit = min(SYNC_LIMIT, fv.config.timeout, timeout)
        try:
            execution = await asyncio.wait_for(engine.outcome(arn), limit)
        except TimeoutError:
            execution = store.get(arn)
            if execution.ended is None:
                late = timeout_payload(invocation.request_id, limit)
                return InvocationResult(late, version, UNHANDLED, durable_execution_arn=arn)
        if execution.status == "SUCCEEDED":
            payload = (execution.result or "null").encode()
            return InvocationResult(payload, version, durable_execution_arn=arn)
        error = execution.error or {}
        body = {
            "errorType": error.get("ErrorType") or f"Execution.{execution.status}",
            "errorMessage": error.get("ErrorMessage") or f"The execution {execution.status}.",
        }
        return InvocationResult(
            json.dumps(body).encode(), version, UNHANDLED, durable_execution_arn=arn
        )

    invoke.durable = start
    return Durable(store, engine, service)
