"""Function settings AWS keeps outside FunctionConfiguration: the recursion config
(Put/GetFunctionRecursionConfig) and the runtime management config
(Put/GetRuntimeManagementConfig).

Both are validated against botocore's model and stored. lambox runs each function on the
runtime its server maps the runtime name to; a runtime version pinned with ``Manual`` is
reported back (in RuntimeVersionConfig too) but does not select another interpreter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambox.arns import Arns
from lambox.control import shapes
from lambox.control.functions import FunctionService
from lambox.errors import InvalidParameterValue
from lambox.model import FunctionConfig
from lambox.store.function_settings import SettingsStore

RECURSION = "recursion"
RUNTIME = "runtime-management"
DEFAULT_RECURSIVE_LOOP = "Terminate"
DEFAULT_UPDATE_RUNTIME_ON = "Auto"
MANUAL = "Manual"


class FunctionSettingsService:
    """Recursion and runtime management configs of functions and their versions."""

    def __init__(self, store: SettingsStore, functions: FunctionService, arns: Arns) -> None:
        self._store = store
        self._functions = functions
        self._arns = arns

    def forget(self, name: str, version: str | None = None) -> None:
        """Drop the settings of a deleted function (or of one deleted version)."""
        self._store.forget(name, version)

    # -- recursion -------------------------------------------------------------------------

    def put_recursion(self, function_name: str, params: Mapping[str, Any]) -> str:
        shapes.validate("PutFunctionRecursionConfig", {**params, "FunctionName": function_name})
        config = self._functions.get(function_name)
        loop = str(params["RecursiveLoop"])
        self._store.put(config.name, "", RECURSION, {"RecursiveLoop": loop})
        return loop

    def get_recursion(self, function_name: str) -> str:
        shapes.validate("GetFunctionRecursionConfig", {"FunctionName": function_name})
        config = self._functions.get(function_name)
        stored = self._store.get(config.name, "", RECURSION)
        return str(stored["RecursiveLoop"]) if stored else DEFAULT_RECURSIVE_LOOP

    def loop_allowed(self, name: str) -> bool:
        """Whether ``name``'s recursive loops run on (``RecursiveLoop: Allow``): the data
        plane asks only for a chain that already ran the function 16 times."""
        stored = self._store.get(name, "", RECURSION)
        return stored is not None and stored.get("RecursiveLoop") == "Allow"

    # -- runtime management ----------------------------------------------------------------

    def put_runtime(
        self, function_name: str, qualifier: str | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        shapes.validate(
            "PutRuntimeManagementConfig",
            {**params, "FunctionName": function_name, "Qualifier": qualifier},
        )
        config = self._functions.get(function_name, qualifier)
        mode = str(params["UpdateRuntimeOn"])
        arn = params.get("RuntimeVersionArn")
        if mode == MANUAL and not arn:
            raise InvalidParameterValue(
                "RuntimeVersionArn is required when UpdateRuntimeOn is Manual."
            )
        if mode != MANUAL and arn:
            raise InvalidParameterValue(
                f"RuntimeVersionArn can be set only when UpdateRuntimeOn is Manual, not {mode}."
            )
        value: dict[str, Any] = {"UpdateRuntimeOn": mode}
        if arn:
            value["RuntimeVersionArn"] = str(arn)
        self._store.put(config.name, config.version, RUNTIME, value)
        return {**value, "FunctionArn": self._arns.function(config.name, config.version)}

    def get_runtime(self, function_name: str, qualifier: str | None) -> dict[str, Any]:
        shapes.validate(
            "GetRuntimeManagementConfig", {"FunctionName": function_name, "Qualifier": qualifier}
        )
        config = self._functions.get(function_name, qualifier)
        stored = self._store.get(config.name, config.version, RUNTIME)
        value = stored or {"UpdateRuntimeOn": DEFAULT_UPDATE_RUNTIME_ON}
        return {**value, "FunctionArn": self._arns.function(config.name, config.version)}

    def pinned_runtime_version(self, config: FunctionConfig) -> str | None:
        """The runtime version ARN a Manual config pins ``config``'s version to, if any."""
        stored = self._store.get(config.name, config.version, RUNTIME)
        if stored and stored.get("UpdateRuntimeOn") == MANUAL:
            return str(stored["RuntimeVersionArn"])
        return None
