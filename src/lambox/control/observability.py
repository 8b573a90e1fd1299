"""A function's TracingConfig and LoggingConfig, as Create/UpdateFunctionConfiguration take them.

LoggingConfig's members are merged into what the function has (an update naming only the
LogGroup keeps the format), then made whole as Lambda makes them: a JSON function gets
INFO for each level it does not name; a Text function has no levels, and naming one with
Text is refused, since a text log cannot be filtered by level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambox.errors import InvalidParameterValue
from lambox.model import FunctionConfig

DEFAULT_LEVEL = "INFO"


def tracing_mode(params: Mapping[str, Any], current: str = "PassThrough") -> str:
    """``TracingConfig.Mode`` of a request (the model checked its value), else ``current``."""
    given = params.get("TracingConfig")
    if not isinstance(given, Mapping) or given.get("Mode") is None:
        return current
    return str(given["Mode"])


def logging_changes(
    params: Mapping[str, Any], current: FunctionConfig | None = None
) -> dict[str, Any]:
    """The FunctionConfig fields a request's LoggingConfig sets (none without one)."""
    given = params.get("LoggingConfig")
    if not isinstance(given, Mapping):
        return {}
    log_format = str(given.get("LogFormat") or (current.log_format if current else "Text"))
    app = given.get("ApplicationLogLevel")
    system = given.get("SystemLogLevel")
    group = given.get("LogGroup")
    if log_format != "JSON":
        if app is not None or system is not None:
            raise InvalidParameterValue(
                "ApplicationLogLevel and SystemLogLevel can only be set when LogFormat is JSON."
            )
        app_level = system_level = ""
    else:
        keep_app = current.application_log_level if current else ""
        keep_system = current.system_log_level if current else ""
        app_level = str(app or keep_app or DEFAULT_LEVEL)
        system_level = str(system or keep_system or DEFAULT_LEVEL)
    log_group = current.log_group if current else ""
    if group is not None:
        log_group = "" if current is not None and group == f"/aws/lambda/{current.name}" else group
    return {
        "log_format": log_format,
        "application_log_level": app_level,
        "system_log_level": system_level,
        "log_group": str(log_group),
    }


def logging_view(config: FunctionConfig) -> dict[str, str]:
    """LoggingConfig as GetFunctionConfiguration shows it."""
    view = {"LogFormat": config.log_format, "LogGroup": config.log_group_name}
    if config.log_format == "JSON":
        view["ApplicationLogLevel"] = config.application_log_level or DEFAULT_LEVEL
        view["SystemLogLevel"] = config.system_log_level or DEFAULT_LEVEL
    return view
