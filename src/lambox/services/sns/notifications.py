"""What a subscriber receives: SNS's Lambda event and its JSON envelope (SQS, HTTP), and
which subscriptions a message passes (FilterPolicy on attributes or on the body).

``Signature`` is a digest of the message, not an RSA signature by an AWS certificate:
subscribers that verify SNS signatures cannot verify lambox's.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from lambox.errors import InvalidPattern
from lambox.events.patterns import attribute_view, parse


def timestamp() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    out = {}
    for name, value in attributes.items():
        shown: Any
        if value.get("BinaryValue") is not None:
            shown = base64.b64encode(value["BinaryValue"]).decode()
        else:
            shown = value.get("StringValue")
        out[name] = {"Type": value["DataType"], "Value": shown}
    return out


def envelope(
    message_id: str,
    topic: str,
    subscription: str,
    message: str,
    subject: str | None,
    attributes: Mapping[str, Mapping[str, Any]],
    endpoint: str,
    stamp: str,
    lambda_spelling: bool = False,
    sequence: str | None = None,
) -> dict[str, Any]:
    """The notification document; Lambda's spells ``SigningCertUrl`` / ``UnsubscribeUrl``
    and always carries ``Subject`` and ``MessageAttributes``. A FIFO topic's carries its
    ``SequenceNumber`` and, as AWS's recordings show, no signature fields."""
    url_key = "Url" if lambda_spelling else "URL"
    doc: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id,
    }
    if sequence is not None:
        doc["SequenceNumber"] = sequence
    doc["TopicArn"] = topic
    if subject is not None or lambda_spelling:
        doc["Subject"] = subject
    doc["Message"] = message
    doc["Timestamp"] = stamp
    if sequence is None:
        doc["SignatureVersion"] = "1"
        doc["Signature"] = base64.b64encode(
            hashlib.sha256(f"{message_id}\n{topic}\n{message}".encode()).digest()
        ).decode()
        doc[f"SigningCert{url_key}"] = f"{endpoint}/SimpleNotificationService-lambox.pem"
    doc[f"Unsubscribe{url_key}"] = f"{endpoint}/?Action=Unsubscribe&SubscriptionArn={subscription}"
    if attributes or lambda_spelling:
        doc["MessageAttributes"] = _attributes(attributes)
    return doc


def lambda_event(subscription: str, notification: dict[str, Any]) -> dict[str, Any]:
    """SNS's event for a Lambda subscriber: one record around the notification."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription,
                "Sns": notification,
            }
        ]
    }


MAX_KEYS = 5
MAX_COMBINATIONS = 150


def _combinations(node: Mapping[str, Any], depth: int = 1) -> int:
    """How many value combinations a policy spells out, as SNS counts them: the product over
    its keys of the number of values times the key's nesting level, ``$or`` branches added
    (AWS's documented examples: 3 x 4 x 2 x 3 x 1 x 3 = 216 for a nested policy)."""
    total = 1
    for key, value in node.items():
        if key == "$or" and isinstance(value, list):
            branches = [_combinations(b, depth) for b in value if isinstance(b, Mapping)]
            total *= sum(branches) or 1
        elif isinstance(value, Mapping):
            total *= _combinations(value, depth + 1)
        elif isinstance(value, list):
            total *= max(1, len(value)) * depth
    return total


def _names(node: Mapping[str, Any]) -> set[str]:
    """The attribute names a policy filters on (a nested policy's parent keys only)."""
    names = set()
    for key, value in node.items():
        if key == "$or" and isinstance(value, list):
            for branch in value:
                if isinstance(branch, Mapping):
                    names |= _names(branch)
        else:
            names.add(key)
    return names


def _nested(node: Mapping[str, Any]) -> bool:
    for key, value in node.items():
        if key == "$or" and isinstance(value, list):
            if any(isinstance(b, Mapping) and _nested(b) for b in value):
                return True
        elif isinstance(value, Mapping):
            return True
    return False


class NestedPolicy(ValueError):
    """A nested policy on a subscription that filters on message attributes."""


def check_policy(text: str, scope: str = "MessageAttributes") -> None:
    """A FilterPolicy SNS accepts, else ValueError with SNS's reason: the pattern language's
    refusals, then SNS's limits (five attribute names, 150 combinations) and, for the
    ``MessageAttributes`` scope, no nesting."""
    try:
        parse(text)
    except InvalidPattern as exc:
        raise ValueError(exc.reason) from exc
    policy = json.loads(text)
    if not isinstance(policy, Mapping):
        return
    if len(_names(policy)) > MAX_KEYS:
        raise ValueError(f"Filter policy can not have more than {MAX_KEYS} keys")
    if _combinations(policy) > MAX_COMBINATIONS:
        raise ValueError("Filter policy is too complex")
    if scope != "MessageBody" and _nested(policy):
        raise NestedPolicy(
            "Filter policy scope MessageAttributes does not support nested filter policy"
        )


def passes(
    sub_attributes: Mapping[str, str],
    message: str,
    attributes: Mapping[str, Mapping[str, Any]],
) -> bool:
    """Whether a message passes a subscription's FilterPolicy."""
    policy_text = sub_attributes.get("FilterPolicy")
    if not policy_text:
        return True
    policy = parse(policy_text)
    if sub_attributes.get("FilterPolicyScope") == "MessageBody":
        try:
            body = json.loads(message)
        except ValueError:
            return False
        return policy.matches_event(body)
    return policy.matches_event(attribute_view(attributes))
