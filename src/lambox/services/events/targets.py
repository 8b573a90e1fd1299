"""What a target receives: the event itself, ``Input`` (constant JSON), ``InputPath`` (a
JSONPath into the event) or ``InputTransformer`` (values picked by ``InputPathsMap``, put
into ``InputTemplate``'s ``<name>`` placeholders), and the validation PutTargets does."""

from __future__ import annotations

import json
import re
from typing import Any

from lambox.errors import ServiceFault

MAX_TARGETS = 5
_ID = re.compile(r"^[\.\-_A-Za-z0-9]+$")
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
_PREDEFINED = (
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event",
    "aws.events.event.json",
    "aws.events.event.ingestion-time",
)


def _validation(message: str) -> ServiceFault:
    return ServiceFault("ValidationException", message)


_RETRY_LIMITS = {
    "MaximumRetryAttempts": ("maximumRetryAttempts", 0, 185),
    "MaximumEventAgeInSeconds": ("maximumEventAgeInSeconds", 60, 86400),
}


def _check_retry(index: int, retry: dict[str, Any]) -> None:
    """A RetryPolicy within the model's ranges, refused as AWS's validation words it."""
    for key, (member, low, high) in _RETRY_LIMITS.items():
        value = retry.get(key)
        if value is None:
            continue
        where = f"'targets.{index}.member.retryPolicy.{member}'"
        if value < low:
            raise _validation(
                f"1 validation error detected: Value '{value}' at {where} failed to satisfy"
                f" constraint: Member must have value greater than or equal to {low}"
            )
        if value > high:
            raise _validation(
                f"1 validation error detected: Value '{value}' at {where} failed to satisfy"
                f" constraint: Member must have value less than or equal to {high}"
            )


def check(targets: list[dict[str, Any]]) -> None:
    """PutTargets' validation of each target, in AWS's words."""
    for index, target in enumerate(targets, start=1):
        tid = target.get("Id", "")
        if len(tid) > 64:
            raise _validation(
                f"1 validation error detected: Value '{tid}' at 'targets.{index}.member.id'"
                " failed to satisfy constraint: Member must have length less than or equal to 64"
            )
        if not _ID.match(tid):
            raise _validation(
                f"1 validation error detected: Value '{tid}' at 'targets.{index}.member.id'"
                " failed to satisfy constraint: Member must satisfy regular expression pattern:"
                " [\\.\\-_A-Za-z0-9]+"
            )
        given = [k for k in ("Input", "InputPath", "InputTransformer") if target.get(k)]
        if len(given) > 1:
            raise _validation(
                f"Only one of Input, InputPath, or InputTransformer must be provided for"
                f" target {tid}."
            )
        if target.get("Input"):
            try:
                json.loads(target["Input"])
            except ValueError as exc:
                raise _validation("Input is not valid JSON text.") from exc
        _check_retry(index, target.get("RetryPolicy") or {})
        transformer = target.get("InputTransformer")
        if transformer:
            names = set(transformer.get("InputPathsMap", {})) | set(_PREDEFINED)
            for name in _PLACEHOLDER.findall(transformer.get("InputTemplate", "")):
                if name not in names:
                    raise _validation(
                        f"InputTemplate for target {tid} contains invalid placeholder {name}."
                    )


def json_path(document: Any, path: str) -> Any:
    """The value at a simple JSONPath (``$``, ``$.a.b``, ``$.a[0]``); None when absent."""
    if path in ("$", ""):
        return document
    value = document
    for part in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", path[1:] if path.startswith("$") else path):
        key, index = part
        if key:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                return None
            value = value[int(index)]
    return value


def payload(target: dict[str, Any], event: dict[str, Any], rule_arn: str) -> bytes:
    """The bytes ``target`` receives for ``event``."""
    if target.get("Input"):
        return str(target["Input"]).encode()
    if target.get("InputPath"):
        return json.dumps(json_path(event, target["InputPath"])).encode()
    transformer = target.get("InputTransformer")
    if transformer:
        return _transform(transformer, event, rule_arn).encode()
    return json.dumps(event).encode()


def _transform(transformer: dict[str, Any], event: dict[str, Any], rule_arn: str) -> str:
    values: dict[str, Any] = {
        "aws.events.rule-arn": rule_arn,
        "aws.events.rule-name": rule_arn.rsplit("/", 1)[-1],
        "aws.events.event": {
            "id": event.get("id"),
            "account": event.get("account"),
            "detailType": event.get("detail-type"),
            "time": event.get("time"),
            "source": event.get("source"),
            "region": event.get("region"),
            "resources": event.get("resources", []),
            "version": event.get("version"),
        },
        "aws.events.event.json": event,
        "aws.events.event.ingestion-time": event.get("time"),
    }
    for name, path in transformer.get("InputPathsMap", {}).items():
        values[name] = json_path(event, path)
    template = str(transformer.get("InputTemplate", ""))
    out: list[str] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        out.append(template[pos : match.start()])
        pos = match.end()
        name = match.group(1)
        if name not in values:
            out.append(match.group(0))
        elif _inside_string(template, match.start()):
            out.append(_in_text(values[name]))
        else:
            out.append(json.dumps(values[name]))
    out.append(template[pos:])
    return "".join(out)


def _inside_string(template: str, at: int) -> bool:
    """Whether position ``at`` of a template is inside a JSON string (odd unescaped quotes)."""
    quotes = 0
    escaped = False
    for char in template[:at]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quotes += 1
    return quotes % 2 == 1


def _in_text(value: Any) -> str:
    """A value written inside a template's string, as EventBridge writes it: strings as they
    are (escaped for JSON), a missing value as nothing, objects and lists without quotes."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)[1:-1]
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_in_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_in_text(v) for v in value) + "]"
    return json.dumps(value)
