"""Bucket notification configurations: S3's validation, which rules an event matches, and the
event record S3 sends (eventVersion 2.1) for each."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus

from lambox.errors import ServiceFault

ACCOUNT = "000000000000"
OWNER = "A3NL1KOZZKEXAMPLE"
PRINCIPAL = "AWS:AIDAINPONIXQXHT3IKHL2"
_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?$"
)

CREATED = (
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
)
REMOVED = ("s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated")
EVENTS = frozenset(
    {
        *CREATED,
        *REMOVED,
        "s3:ObjectCreated:*",
        "s3:ObjectRemoved:*",
        "s3:ObjectTagging:*",
        "s3:ObjectTagging:Put",
        "s3:ObjectTagging:Delete",
    }
)


def _invalid(message: str, name: str, value: str) -> ServiceFault:
    return ServiceFault("InvalidArgument", message, 400, ArgumentName=name, ArgumentValue=value)


def validate(config: Mapping[str, Any], function_exists: Callable[[str], bool]) -> dict[str, Any]:
    """A NotificationConfiguration as S3 checks it; returned as stored and answered."""
    out: dict[str, Any] = {}
    if config.get("QueueConfigurations") or config.get("TopicConfigurations"):
        raise ServiceFault(
            "InvalidArgument",
            "Queue and topic destinations are not served by this endpoint yet",
            400,
        )
    rules: list[dict[str, Any]] = []
    unreachable: list[str] = []
    for n, rule in enumerate(config.get("LambdaFunctionConfigurations") or []):
        arn = str(rule.get("LambdaFunctionArn", ""))
        if not _ARN.match(arn):
            raise _invalid("The ARN could not be parsed", "CloudFunction", arn)
        events = list(rule.get("Events") or [])
        for event in events:
            if event not in EVENTS:
                raise _invalid("The event is not supported for notifications", "Event", event)
        clean: dict[str, Any] = {
            "Id": str(rule.get("Id") or f"lambox-{n}"),
            "LambdaFunctionArn": arn,
            "Events": events,
        }
        filters = _filters(rule.get("Filter"))
        if filters:
            clean["Filter"] = {"Key": {"FilterRules": filters}}
        if not function_exists(arn):
            unreachable.append(arn)
        rules.append(clean)
    if unreachable:
        fields = {}
        for i, arn in enumerate(unreachable, 1):
            fields[f"ArgumentName{i}"] = f"{arn}, null"
            fields[f"ArgumentValue{i}"] = f"Not authorized to invoke function [{arn}]"
        raise ServiceFault(
            "InvalidArgument",
            "Unable to validate the following destination configurations",
            400,
            **fields,
        )
    _check_overlaps(rules)
    if rules:
        out["LambdaFunctionConfigurations"] = rules
    if "EventBridgeConfiguration" in config:
        out["EventBridgeConfiguration"] = {}
    return out


def _filters(spec: Any) -> list[dict[str, str]]:
    if not spec:
        return []
    rules = ((spec.get("Key") or {}).get("FilterRules")) or []
    seen: set[str] = set()
    out: list[dict[str, str]] = []
    for rule in rules:
        name = str(rule.get("Name", ""))
        if name.lower() not in ("prefix", "suffix"):
            raise _invalid(
                "filter rule name must be either prefix or suffix", "FilterRule.Name", name
            )
        if name.lower() in seen:
            raise _invalid(
                "Cannot specify more than one prefix rule in a filter."
                if name.lower() == "prefix"
                else "Cannot specify more than one suffix rule in a filter.",
                "FilterRule.Name",
                name,
            )
        seen.add(name.lower())
        out.append({"Name": name.capitalize(), "Value": str(rule.get("Value", ""))})
    return out


def _affix(rule: Mapping[str, Any], name: str) -> str:
    for f in rule.get("Filter", {}).get("Key", {}).get("FilterRules", []):
        if f["Name"].lower() == name:
            return str(f["Value"])
    return ""


def _event_types(rule: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()
    for event in rule["Events"]:
        if event.endswith(":*"):
            family = event[:-1]
            out |= {e for e in (*CREATED, *REMOVED) if e.startswith(family)}
        else:
            out.add(event)
    return out


def _check_overlaps(rules: list[dict[str, Any]]) -> None:
    """S3 refuses two rules that could both match one event of one object."""
    for i, a in enumerate(rules):
        for b in rules[i + 1 :]:
            if not _event_types(a) & _event_types(b):
                continue
            pa, pb = _affix(a, "prefix"), _affix(b, "prefix")
            sa, sb = _affix(a, "suffix"), _affix(b, "suffix")
            if (pa.startswith(pb) or pb.startswith(pa)) and (sa.endswith(sb) or sb.endswith(sa)):
                raise ServiceFault(
                    "InvalidArgument",
                    "Configurations overlap. Configurations on the same bucket cannot share a"
                    " common event type.",
                    400,
                    ArgumentName="Event",
                    ArgumentValue=sorted(_event_types(a) & _event_types(b))[0],
                )


def matching(config: Mapping[str, Any], event: str, key: str) -> list[dict[str, Any]]:
    """The rules of ``config`` that ``event`` (``s3:ObjectCreated:Put``) on ``key`` fires."""
    hits = []
    for rule in config.get("LambdaFunctionConfigurations", []):
        if event not in _event_types(rule):
            continue
        if key.startswith(_affix(rule, "prefix")) and key.endswith(_affix(rule, "suffix")):
            hits.append(rule)
    return hits


def record(
    rule: Mapping[str, Any],
    event: str,
    bucket: str,
    key: str,
    sequence: int,
    region: str,
    request_id: str,
    source_ip: str,
    size: int | None = None,
    etag: str | None = None,
) -> bytes:
    """The event S3 sends a function for ``event`` on ``bucket``/``key``."""
    now = dt.datetime.now(dt.UTC)
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/")}
    if size is not None:
        obj["size"] = size
    if etag is not None:
        obj["eTag"] = etag
    obj["sequencer"] = f"{sequence:018X}"
    body = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
                "eventName": event.removeprefix("s3:"),
                "userIdentity": {"principalId": PRINCIPAL},
                "requestParameters": {"sourceIPAddress": source_ip},
                "responseElements": {
                    "x-amz-request-id": request_id,
                    "x-amz-id-2": request_id,
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": rule["Id"],
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": OWNER},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": obj,
                },
            }
        ]
    }
    return json.dumps(body, separators=(",", ":")).encode()
