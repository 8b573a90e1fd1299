"""The durable-execution operations of the Lambda API (botocore's 2025-12-01 paths): what
the SDK calls from inside a function (CheckpointDurableExecution, GetDurableExecutionState)
and what users call (Get/List/History/Stop/Delete/Pause/Resume, the callbacks' answers).

Each handler takes the parsed input of its operation and returns its output members.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from lambox.errors import InvalidParameterValue
from lambox.events.clock import Clock
from lambox.services.durable.engine import DurableEngine
from lambox.services.durable.store import DurableStore, Execution, error_object

PAGE = 1000
Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _stamp(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)


def _page(items: list[Any], params: Mapping[str, Any], key: str) -> dict[str, Any]:
    """AWS's Marker/MaxItems paging over a list (the marker is an offset)."""
    start = 0
    marker = params.get("Marker")
    if marker:
        if not str(marker).isdigit():
            raise InvalidParameterValue("Invalid marker")
        start = int(marker)
    size = int(params.get("MaxItems") or PAGE)
    if not 1 <= size <= PAGE:
        raise InvalidParameterValue("MaxItems must be between 1 and 1000")
    out: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        out["NextMarker"] = str(start + size)
    return out


def _summary(execution: Execution) -> dict[str, Any]:
    out: dict[str, Any] = {
        "DurableExecutionArn": execution.arn,
        "DurableExecutionName": execution.name,
        "FunctionArn": execution.function_arn,
        "Status": execution.status,
        "StartTimestamp": execution.started,
    }
    if execution.ended is not None:
        out["EndTimestamp"] = execution.ended
    return out


class DurableService:
    """The operations, over the store and the engine."""

    def __init__(
        self,
        store: DurableStore,
        engine: DurableEngine,
        clock: Clock,
        function_arn: Callable[[str], str],
    ) -> None:
        self._store = store
        self._engine = engine
        self._clock = clock
        # The unqualified ARN of a function named by name or ARN (ListDurableExecutions).
        self._function_arn = function_arn

    def operations(self) -> dict[str, Handler]:
        return {
            "CheckpointDurableExecution": self.checkpoint,
            "GetDurableExecutionState": self.state,
            "GetDurableExecution": self.get,
            "GetDurableExecutionHistory": self.history,
            "ListDurableExecutionsByFunction": self.list_by_function,
            "StopDurableExecution": self.stop,
            "DeleteDurableExecution": self.delete,
            "PauseDurableExecution": self.pause,
            "ResumeDurableExecution": self.resume,
            "SendDurableExecutionCallbackSuccess": self.callback_success,
            "SendDurableExecutionCallbackFailure": self.callback_failure,
            "SendDurableExecutionCallbackHeartbeat": self.callback_heartbeat,
        }

    def checkpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        updates = params.get("Updates") or []
        token, changed = self._store.checkpoint(
            params["DurableExecutionArn"], params["CheckpointToken"], updates, self._clock.now()
        )
        out: dict[str, Any] = {"NewExecutionState": {"Operations": changed}}
        if any(u.get("Type") == "CHAINED_INVOKE" for u in updates):
            self._engine.dispatch()
        if token is not None:
            out["CheckpointToken"] = token
        else:
            self._engine.ended(self._store.get(params["DurableExecutionArn"]))
        return out

    def state(self, params: dict[str, Any]) -> dict[str, Any]:
        ops = self._store.state(params["DurableExecutionArn"], params["CheckpointToken"])
        return _page(ops, params, "Operations")

    def get(self, params: dict[str, Any]) -> dict[str, Any]:
        execution = self._store.get(params["DurableExecutionArn"])
        out = _summary(execution)
        out["Version"] = execution.version
        out["DurableConfig"] = {
            "ExecutionTimeout": execution.timeout,
            "RetentionPeriodInDays": execution.retention,
        }
        out["ExpectedExecutionTimeoutTimestamp"] = execution.started + execution.timeout
        if params.get("IncludeExecutionData", True) is not False:
            out["ExecutionDataIncluded"] = True
            out["InputPayload"] = execution.input
            if execution.result is not None:
                out["Result"] = execution.result
            if execution.error is not None:
                out["Error"] = execution.error
        else:
            out["ExecutionDataIncluded"] = False
        return out

    def history(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["DurableExecutionArn"]
        self._store.get(arn)
        events = self._store.history(arn)
        if params.get("ReverseOrder"):
            events.reverse()
        if params.get("IncludeExecutionData") is False:
            events = [_without_data(event) for event in events]
        return _page(events, params, "Events")

    def list_by_function(self, params: dict[str, Any]) -> dict[str, Any]:
        function_arn = self._function_arn(params["FunctionName"])
        name = function_arn.rsplit(":", 1)[-1]
        executions = self._store.listing(
            name,
            name=params.get("DurableExecutionName"),
            statuses=list(params.get("Statuses") or ()),
            after=_stamp(params.get("StartedAfter")),
            before=_stamp(params.get("StartedBefore")),
            reverse=bool(params.get("ReverseOrder")),
        )
        qualifier = params.get("Qualifier")
        if qualifier is not None:
            executions = [e for e in executions if (e.qualifier or "$LATEST") == qualifier]
        return _page([_summary(e) for e in executions], params, "DurableExecutions")

    def stop(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["DurableExecutionArn"]
        now = self._clock.now()
        error = error_object(params.get("Error")) or {
            "ErrorType": "Execution.Stopped",
            "ErrorMessage": "The execution was stopped.",
        }
        self._store.stop(arn, error, now)
        self._engine.ended(self._store.get(arn))
        return {"StopTimestamp": now}

    def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        self._store.delete(params["DurableExecutionArn"])
        return {"DeletionRequestTimestamp": self._clock.now()}

    def pause(self, params: dict[str, Any]) -> dict[str, Any]:
        self._store.pause(
            params["DurableExecutionArn"], True, params.get("Reason"), self._clock.now()
        )
        return {}

    def resume(self, params: dict[str, Any]) -> dict[str, Any]:
        self._store.pause(
            params["DurableExecutionArn"], False, params.get("Reason"), self._clock.now()
        )
        self._engine.changed()
        return {}

    def callback_success(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("Result")
        result = bytes(raw).decode("utf-8", "replace") if raw is not None else None
        self._store.complete_callback(
            params["CallbackId"], "SUCCEEDED", result, None, self._clock.now()
        )
        self._engine.changed()
        return {}

    def callback_failure(self, params: dict[str, Any]) -> dict[str, Any]:
        error = error_object(params.get("Error"))
        self._store.complete_callback(
            params["CallbackId"], "FAILED", None, error, self._clock.now()
        )
        self._engine.changed()
        return {}

    def callback_heartbeat(self, params: dict[str, Any]) -> dict[str, Any]:
        self._store.heartbeat(params["CallbackId"], self._clock.now())
        return {}


def _without_data(event: dict[str, Any]) -> dict[str, Any]:
    """An event without its payloads (IncludeExecutionData false)."""
    out: dict[str, Any] = {}
    for key, value in event.items():
        if isinstance(value, dict) and key.endswith("Details"):
            value = {k: v for k, v in value.items() if k not in ("Input", "Result", "Error")}
        out[key] = value
    return out
