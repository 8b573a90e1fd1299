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
) -> dict[str, Any]:
    """The notification document; Lambda's spells ``SigningCertUrl`` / ``UnsubscribeUrl``
    and always carries ``Subject`` and ``MessageAttributes``."""
    url_key = "Url" if lambda_spelling else "URL"
    doc: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic,
    }
    if subject is not None or lambda_spelling:
        doc["Subject"] = subject
    doc["Message"] = message
    doc["Timestamp"] = stamp
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


def check_policy(text: str) -> None:
    """A FilterPolicy SNS accepts, else ValueError."""
    try:
        parse(text)
    except InvalidPattern as exc:
        raise ValueError(exc.reason) from exc


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
