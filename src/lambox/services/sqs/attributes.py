"""Queue attributes: which a queue type accepts, their ranges, defaults and what
GetQueueAttributes reports."""

from __future__ import annotations

import json
from collections.abc import Mapping

from lambox.errors import ServiceFault
from lambox.services.sqs.errors import invalid

# name -> (low, high) of the integer attributes
RANGES = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, 1048576),
    "MessageRetentionPeriod": (60, 1209600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43200),
    "KmsDataKeyReusePeriodSeconds": (60, 86400),
}
DEFAULTS = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "SqsManagedSseEnabled": "true",
}
FIFO_DEFAULTS = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}
SETTABLE = {
    *RANGES,
    "Policy",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "SqsManagedSseEnabled",
}
FIFO_ONLY = {"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
COMPUTED = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)
READABLE = {*SETTABLE, *FIFO_ONLY, *COMPUTED, "All"}
_BOOLS = {"true", "false"}


def _unknown(name: str) -> ServiceFault:
    return ServiceFault("InvalidAttributeName", f"Unknown Attribute {name}.", 400)


def _bad(name: str, reason: str) -> ServiceFault:
    return ServiceFault(
        "InvalidAttributeValue", f"Invalid value for the parameter {name}. Reason: {reason}", 400
    )


def validate(attributes: Mapping[str, str], fifo: bool) -> dict[str, str]:
    """``attributes`` checked for a queue of that type, canonical (lower-case booleans)."""
    out: dict[str, str] = {}
    for name, value in attributes.items():
        if name in FIFO_ONLY and not fifo:
            if name in ("DeduplicationScope", "FifoThroughputLimit"):
                raise ServiceFault(
                    "InvalidAttributeName",
                    f"You can specify the {name} only when FifoQueue is set to true.",
                    400,
                )
            raise _unknown(name)
        if name not in SETTABLE and name not in FIFO_ONLY:
            raise _unknown(name)
        if name in RANGES:
            low, high = RANGES[name]
            try:
                number = int(value)
            except ValueError:
                raise _bad(name, "Must be an integer.") from None
            if not low <= number <= high:
                raise _bad(name, f"Must be between {low} and {high}, if provided.")
            value = str(number)
        elif name in ("SqsManagedSseEnabled", "ContentBasedDeduplication", "FifoQueue"):
            if value.lower() not in _BOOLS:
                raise _bad(name, "Must be true or false.")
            value = value.lower()
        elif name == "DeduplicationScope" and value not in ("messageGroup", "queue"):
            raise _bad(name, "Must be messageGroup or queue.")
        elif name == "FifoThroughputLimit" and value not in ("perQueue", "perMessageGroupId"):
            raise _bad(name, "Must be perQueue or perMessageGroupId.")
        elif name == "RedrivePolicy" and value:
            value = _redrive(value)
        out[name] = value
    if out.get("KmsMasterKeyId") and out.get("SqsManagedSseEnabled") == "true":
        raise ServiceFault(
            "InvalidAttributeName",
            "You can use one type of server-side encryption (SSE) at one time. You can either"
            " enable KMS SSE or SQS SSE.",
            400,
        )
    return out


def _redrive(value: str) -> str:
    try:
        policy = json.loads(value)
        target = str(policy["deadLetterTargetArn"])
        count = int(policy["maxReceiveCount"])
    except (ValueError, KeyError, TypeError):
        raise invalid(
            "Value " + value + " for parameter RedrivePolicy is invalid. Reason: Redrive policy"
            " is not a valid JSON map of deadLetterTargetArn and maxReceiveCount."
        ) from None
    if not target.startswith("arn:") or target.count(":") != 5:
        raise invalid(
            f"Value {value} for parameter RedrivePolicy is invalid. Reason: Invalid value for"
            " deadLetterTargetArn."
        )
    if not 1 <= count <= 1000:
        raise invalid(
            f"Value {value} for parameter RedrivePolicy is invalid. Reason: Invalid value for"
            " maxReceiveCount: must be between 1 and 1000."
        )
    return json.dumps({"deadLetterTargetArn": target, "maxReceiveCount": count}).replace(" ", "")


def effective(attributes: Mapping[str, str], fifo: bool) -> dict[str, str]:
    """The stored attributes over the defaults of the queue's type; an empty value (SQS's way
    to unset) drops the attribute."""
    merged = {**DEFAULTS, **(FIFO_DEFAULTS if fifo else {}), **attributes}
    if merged.get("KmsMasterKeyId"):
        merged["SqsManagedSseEnabled"] = "false"
    return {k: v for k, v in merged.items() if v != ""}
