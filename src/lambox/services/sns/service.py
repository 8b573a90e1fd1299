"""SNS's operations: topics, subscriptions (``lambda`` and ``sqs``), Publish and
PublishBatch with filter policies, raw delivery and SNS's envelopes."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from lambox.errors import ServiceFault
from lambox.services.sns import notifications as notes
from lambox.services.sns.http import HttpDeliveries
from lambox.services.sns.store import Subscription, Topic, TopicStore

log = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
# (queue ARN, body, SQS message attributes, message group id, deduplication id) -> None;
# the group and deduplication ids matter to FIFO queues only.
ToQueue = Callable[[str, str, dict[str, Any], str | None, str], Awaitable[None]]

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_FIFO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,251}\.fifo$")
PROTOCOLS = ("lambda", "sqs", "http", "https")
SUB_ATTRIBUTES = {"RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy"}
MAX_BATCH = 10
DEDUP_MS = 5 * 60 * 1000
# SNS's sequence numbers are 20-digit strings that grow per topic.
SEQUENCE_BASE = 10_000_000_000_000_000_000


def is_fifo(topic: Topic) -> bool:
    return topic.attributes.get("FifoTopic") == "true"


def invalid(message: str) -> ServiceFault:
    return ServiceFault("InvalidParameter", f"Invalid parameter: {message}", 400)


def not_found(what: str) -> ServiceFault:
    return ServiceFault("NotFound", f"{what} does not exist", 404)


class SnsService:
    """``operations`` maps each served SNS operation to its handler."""

    def __init__(
        self,
        store: TopicStore,
        region: str,
        account: str,
        endpoint: str,
        function_exists: Callable[[str], bool],
        queue_exists: Callable[[str], bool],
        to_queue: ToQueue,
        kick: Callable[[], None],
        http: HttpDeliveries,
    ) -> None:
        self._store = store
        self._region = region
        self._account = account
        self._endpoint = endpoint
        self._function_exists = function_exists
        self._queue_exists = queue_exists
        self._to_queue = to_queue
        self._kick = kick
        self._http = http
        self.operations: dict[str, Handler] = {
            "CreateTopic": self.create_topic,
            "DeleteTopic": self.delete_topic,
            "ListTopics": self.list_topics,
            "GetTopicAttributes": self.get_topic_attributes,
            "SetTopicAttributes": self.set_topic_attributes,
            "Subscribe": self.subscribe,
            "ConfirmSubscription": self.confirm_subscription,
            "Unsubscribe": self.unsubscribe,
            "ListSubscriptions": self.list_subscriptions,
            "ListSubscriptionsByTopic": self.list_subscriptions_by_topic,
            "GetSubscriptionAttributes": self.get_subscription_attributes,
            "SetSubscriptionAttributes": self.set_subscription_attributes,
            "Publish": self.publish,
            "PublishBatch": self.publish_batch,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags_for_resource,
        }

    def resource(self, operation: str, params: dict[str, Any]) -> str:
        """The ARN IAM authorizes ``sns:<operation>`` on: the topic (a subscription's
        operations act on its topic, as in AWS), a Publish's TargetArn, a tagged resource,
        or ``*`` for the listings."""
        if operation == "CreateTopic" and params.get("Name"):
            return f"arn:aws:sns:{self._region}:{self._account}:{params['Name']}"
        for key in ("TopicArn", "TargetArn", "ResourceArn"):
            if params.get(key):
                return str(params[key])
        if params.get("SubscriptionArn"):
            return str(params["SubscriptionArn"]).rsplit(":", 1)[0]
        return "*"

    def _topic(self, arn: str | None) -> Topic:
        topic = self._store.topic(arn or "")
        if topic is None:
            raise not_found("Topic")
        return topic

    # --- topics ---------------------------------------------------------------------------

    async def create_topic(self, p: Mapping[str, Any]) -> dict[str, Any]:
        name = p.get("Name") or ""
        attributes = dict(p.get("Attributes") or {})
        fifo = attributes.get("FifoTopic", "false").lower() == "true"
        if not (_FIFO_NAME if fifo else _TOPIC_NAME).match(name):
            raise invalid(
                "Topic Name"
                if not fifo
                else "Fifo Topic names must end with .fifo and must be made up of only"
                " uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and"
                " must be between 1 and 256 characters long."
            )
        if fifo:
            attributes["FifoTopic"] = "true"
            attributes["ContentBasedDeduplication"] = attributes.get(
                "ContentBasedDeduplication", "false"
            ).lower()
        else:
            attributes.pop("FifoTopic", None)
            if "ContentBasedDeduplication" in attributes:
                raise invalid(
                    "Attributes Reason: ContentBasedDeduplication: Invalid attribute"
                    " for a standard topic"
                )
        arn = f"arn:aws:sns:{self._region}:{self._account}:{name}"
        if self._store.topic(arn) is None:
            tags = {t["Key"]: t["Value"] for t in p.get("Tags") or []}
            self._store.put_topic(Topic(arn, attributes, tags))
        return {"TopicArn": arn}

    async def delete_topic(self, p: Mapping[str, Any]) -> dict[str, Any]:
        self._store.delete_topic(p.get("TopicArn") or "")
        return {}

    async def list_topics(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"Topics": [{"TopicArn": arn} for arn in self._store.topics()]}

    async def get_topic_attributes(self, p: Mapping[str, Any]) -> dict[str, Any]:
        topic = self._topic(p.get("TopicArn"))
        subs = self._store.subscriptions(topic.arn)
        attributes = {
            "DisplayName": "",
            "Owner": self._account,
            "Policy": json.dumps(self._default_policy(topic.arn)),
            "SubscriptionsConfirmed": str(len(subs)),
            "SubscriptionsDeleted": "0",
            "SubscriptionsPending": "0",
            "TopicArn": topic.arn,
            "EffectiveDeliveryPolicy": json.dumps(
                {
                    "http": {
                        "defaultHealthyRetryPolicy": {
                            "minDelayTarget": 20,
                            "maxDelayTarget": 20,
                            "numRetries": 3,
                            "numMaxDelayRetries": 0,
                            "numNoDelayRetries": 0,
                            "numMinDelayRetries": 0,
                            "backoffFunction": "linear",
                        },
                        "disableSubscriptionOverrides": False,
                        "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"},
                    }
                }
            ),
            **topic.attributes,
        }
        return {"Attributes": attributes}

    def _default_policy(self, arn: str) -> dict[str, Any]:
        return {
            "Version": "2008-10-17",
            "Id": "__default_policy_ID",
            "Statement": [
                {
                    "Sid": "__default_statement_ID",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": ["SNS:Publish", "SNS:Subscribe", "SNS:Receive"],
                    "Resource": arn,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": self._account}},
                }
            ],
        }

    async def set_topic_attributes(self, p: Mapping[str, Any]) -> dict[str, Any]:
        topic = self._topic(p.get("TopicArn"))
        name = p.get("AttributeName") or ""
        value = p.get("AttributeValue") or ""
        if name == "FifoTopic":  # fixed at creation
            raise invalid("AttributeName")
        if name == "ContentBasedDeduplication":
            if not is_fifo(topic):
                raise invalid("AttributeName")
            value = value.lower()
        attributes = {**topic.attributes, name: value}
        self._store.put_topic(Topic(topic.arn, attributes, topic.tags))
        return {}

    # --- subscriptions --------------------------------------------------------------------

    async def subscribe(self, p: Mapping[str, Any]) -> dict[str, Any]:
        protocol = (p.get("Protocol") or "").lower()
        endpoint = p.get("Endpoint") or ""
        if protocol not in PROTOCOLS:
            raise invalid(f"Amazon SNS does not support this protocol string: {protocol}")
        topic = self._topic(p.get("TopicArn"))
        if is_fifo(topic) and protocol != "sqs":
            raise invalid(f"Invalid protocol type: {protocol}")
        if protocol == "lambda" and not self._function_exists(endpoint):
            raise invalid("Lambda endpoint ARN")
        if protocol == "sqs" and not endpoint.startswith("arn:aws:sqs:"):
            raise invalid("SQS endpoint ARN")
        if protocol in ("http", "https") and not endpoint.startswith(f"{protocol}://"):
            raise invalid("Endpoint must match the specified protocol")
        if not is_fifo(topic) and protocol == "sqs" and endpoint.endswith(".fifo"):
            raise invalid(
                "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to"
                " standard SNS topics"
            )
        attributes = self._sub_attributes(
            dict(p.get("Attributes") or {}), {}, "Attributes Reason: "
        )
        for sub in self._store.subscriptions(topic.arn):
            if sub.protocol == protocol and sub.endpoint == endpoint:
                if sub.attributes != attributes and attributes:
                    raise invalid(
                        "Attributes Reason: Subscription already exists with different attributes"
                    )
                return {"SubscriptionArn": sub.arn}
        arn = f"{topic.arn}:{uuid.uuid4()}"
        if protocol in ("http", "https"):
            token = f"{random.getrandbits(256):064x}"
            attributes = {**attributes, "PendingConfirmation": "true", "Token": token}
            self._store.put_subscription(
                Subscription(arn, topic.arn, protocol, endpoint, attributes)
            )
            self._confirm_request(topic.arn, endpoint, token)
            shown = arn if p.get("ReturnSubscriptionArn") else "pending confirmation"
            return {"SubscriptionArn": shown}
        self._store.put_subscription(Subscription(arn, topic.arn, protocol, endpoint, attributes))
        return {"SubscriptionArn": arn}

    def _confirm_request(self, topic: str, endpoint: str, token: str) -> None:
        """SNS's SubscriptionConfirmation, POSTed to a new HTTP(S) subscriber."""
        message_id = str(uuid.uuid4())
        document = {
            "Type": "SubscriptionConfirmation",
            "MessageId": message_id,
            "Token": token,
            "TopicArn": topic,
            "Message": f"You have chosen to subscribe to the topic {topic}.\nTo confirm the"
            " subscription, visit the SubscribeURL included in this message.",
            "SubscribeURL": f"{self._endpoint}/?Action=ConfirmSubscription&TopicArn={topic}"
            f"&Token={token}",
            "Timestamp": notes.timestamp(),
            "SignatureVersion": "1",
            "Signature": "",
            "SigningCertURL": f"{self._endpoint}/SimpleNotificationService-lambox.pem",
        }
        headers = {
            "x-amz-sns-message-type": "SubscriptionConfirmation",
            "x-amz-sns-message-id": message_id,
            "x-amz-sns-topic-arn": topic,
        }
        self._http.post(endpoint, json.dumps(document), headers)

    async def confirm_subscription(self, p: Mapping[str, Any]) -> dict[str, Any]:
        topic = self._store.topic(p.get("TopicArn") or "")
        if topic is None:
            raise invalid("Topic")
        token = p.get("Token") or ""
        for sub in self._store.subscriptions(topic.arn):
            if token and sub.attributes.get("Token") == token:
                confirmed = {**sub.attributes, "PendingConfirmation": "false"}
                self._store.put_subscription(
                    Subscription(sub.arn, sub.topic, sub.protocol, sub.endpoint, confirmed)
                )
                return {"SubscriptionArn": sub.arn}
        raise invalid("Token")

    def _sub_attributes(
        self, given: dict[str, str], current: Mapping[str, str], reason: str = ""
    ) -> dict[str, str]:
        """``given`` checked as SNS checks them; ``current``: the subscription's attributes
        (for the scope a new FilterPolicy applies in). Subscribe's refusals say
        ``Attributes Reason:``, SetSubscriptionAttributes' do not, as AWS's do."""
        for name, value in given.items():
            if name not in SUB_ATTRIBUTES:
                raise invalid(f"Attributes Reason: Unknown attribute: {name}")
            if name == "FilterPolicy" and value:
                scope = given.get("FilterPolicyScope") or current.get("FilterPolicyScope")
                try:
                    notes.check_policy(value, scope or "MessageAttributes")
                except notes.NestedPolicy as exc:
                    raise invalid(str(exc)) from None
                except ValueError as exc:
                    raise invalid(f"{reason}FilterPolicy: {exc}") from None
            if name == "RawMessageDelivery":
                given[name] = value.lower()
            if name == "FilterPolicyScope" and value not in ("MessageAttributes", "MessageBody"):
                raise invalid(
                    f"{reason}FilterPolicyScope: Invalid value [{value}]. Please use"
                    " either MessageBody or MessageAttributes"
                )
        return given

    async def unsubscribe(self, p: Mapping[str, Any]) -> dict[str, Any]:
        """Idempotent (an unknown subscription is fine), but the ARN must be one, as
        recorded: the unsigned UnsubscribeURL reaches here too."""
        arn = str(p.get("SubscriptionArn") or "")
        if not arn:
            raise invalid("SubscriptionArn Reason: no value for required parameter")
        parts = arn.split(":")
        if len(parts) < 6:
            raise invalid(
                f"SubscriptionArn Reason: An ARN must have at least 6 elements, not {len(parts)}"
            )
        if len(parts) == 6:
            raise invalid("SubscriptionId")
        self._store.delete_subscription(arn)
        return {}

    def _listed(self, sub: Subscription) -> dict[str, Any]:
        return {
            "SubscriptionArn": sub.arn,
            "Owner": self._account,
            "Protocol": sub.protocol,
            "Endpoint": sub.endpoint,
            "TopicArn": sub.topic,
        }

    async def list_subscriptions(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"Subscriptions": [self._listed(s) for s in self._store.subscriptions()]}

    async def list_subscriptions_by_topic(self, p: Mapping[str, Any]) -> dict[str, Any]:
        topic = self._topic(p.get("TopicArn"))
        return {"Subscriptions": [self._listed(s) for s in self._store.subscriptions(topic.arn)]}

    def _subscription(self, arn: str | None) -> Subscription:
        sub = self._store.subscription(arn or "")
        if sub is None:
            raise not_found("Subscription")
        return sub

    async def get_subscription_attributes(self, p: Mapping[str, Any]) -> dict[str, Any]:
        sub = self._subscription(p.get("SubscriptionArn"))
        attributes = {
            "ConfirmationWasAuthenticated": "true",
            "Endpoint": sub.endpoint,
            "Owner": self._account,
            "PendingConfirmation": "false",
            "Protocol": sub.protocol,
            "RawMessageDelivery": "false",
            "SubscriptionArn": sub.arn,
            "SubscriptionPrincipal": f"arn:aws:iam::{self._account}:user/lambox",
            "TopicArn": sub.topic,
            **{k: v for k, v in sub.attributes.items() if k != "Token"},
        }
        if "FilterPolicy" in sub.attributes and "FilterPolicyScope" not in sub.attributes:
            attributes["FilterPolicyScope"] = "MessageAttributes"
        return {"Attributes": attributes}

    async def set_subscription_attributes(self, p: Mapping[str, Any]) -> dict[str, Any]:
        sub = self._subscription(p.get("SubscriptionArn"))
        name = p.get("AttributeName") or ""
        checked = self._sub_attributes({name: p.get("AttributeValue") or ""}, sub.attributes)
        attributes = {**sub.attributes, **checked}
        if name == "FilterPolicy" and not checked[name]:  # an empty policy removes it
            del attributes[name]
        self._store.put_subscription(
            Subscription(sub.arn, sub.topic, sub.protocol, sub.endpoint, attributes)
        )
        return {}

    # --- tags -----------------------------------------------------------------------------

    async def tag_resource(self, p: Mapping[str, Any]) -> dict[str, Any]:
        topic = self._topic(p.get("ResourceArn"))
        tags = {**topic.tags, **{t["Key"]: t["Value"] for t in p.get("Tags") or []}}
        self._store.put_topic(Topic(topic.arn, topic.attributes, tags))
        return {}

    async def untag_resource(self, p: Mapping[str, Any]) -> dict[str, Any]:
        topic = self._topic(p.get("ResourceArn"))
        drop = set(p.get("TagKeys") or [])
        tags = {k: v for k, v in topic.tags.items() if k not in drop}
        self._store.put_topic(Topic(topic.arn, topic.attributes, tags))
        return {}

    async def list_tags_for_resource(self, p: Mapping[str, Any]) -> dict[str, Any]:
        topic = self._topic(p.get("ResourceArn"))
        return {"Tags": [{"Key": k, "Value": v} for k, v in topic.tags.items()]}

    # --- publish --------------------------------------------------------------------------

    async def publish(self, p: Mapping[str, Any]) -> dict[str, Any]:
        topic = self._topic(p.get("TopicArn") or p.get("TargetArn"))
        message_id, sequence = await self._publish(topic, p)
        answer = {"MessageId": message_id}
        if sequence is not None:
            answer["SequenceNumber"] = sequence
        return answer

    async def publish_batch(self, p: Mapping[str, Any]) -> dict[str, Any]:
        topic = self._topic(p.get("TopicArn"))
        entries = list(p.get("PublishBatchRequestEntries") or [])
        if not entries:
            raise ServiceFault(
                "EmptyBatchRequest", "The batch request doesn't contain any entries", 400
            )
        if len(entries) > MAX_BATCH:
            raise ServiceFault(
                "TooManyEntriesInBatchRequest",
                "The batch request contains more entries than permissible.",
                400,
            )
        if len({e.get("Id") for e in entries}) != len(entries):
            raise ServiceFault(
                "BatchEntryIdsNotDistinct",
                "Two or more batch entries in the request have the same Id.",
                400,
            )
        successful, failed = [], []
        for entry in entries:
            try:
                message_id, sequence = await self._publish(topic, entry)
            except ServiceFault as fault:
                failed.append(
                    {"Id": entry.get("Id"), "Code": fault.aws_type, "Message": fault.message,
                     "SenderFault": True}
                )  # fmt: skip
                continue
            done = {"Id": entry.get("Id"), "MessageId": message_id}
            if sequence is not None:
                done["SequenceNumber"] = sequence
            successful.append(done)
        return {"Successful": successful, "Failed": failed}

    def _fifo_ids(self, topic: Topic, p: Mapping[str, Any], message: str) -> tuple[str, str] | None:
        """A FIFO topic's (message group id, deduplication id) of a publish, checked as SNS
        checks them; None on a standard topic."""
        if not is_fifo(topic):
            if p.get("MessageDeduplicationId"):
                raise invalid(
                    "MessageDeduplicationId Reason: The request includes MessageDeduplicationId"
                    " parameter that is not valid for this topic type"
                )
            return None
        group = p.get("MessageGroupId")
        if not group:
            raise invalid("The MessageGroupId parameter is required for FIFO topics")
        dedup = p.get("MessageDeduplicationId")
        if not dedup:
            if topic.attributes.get("ContentBasedDeduplication") != "true":
                raise invalid(
                    "The topic should either have ContentBasedDeduplication enabled or"
                    " MessageDeduplicationId provided explicitly"
                )
            dedup = hashlib.sha256(message.encode()).hexdigest()
        return str(group), str(dedup)

    async def _publish(self, topic: Topic, p: Mapping[str, Any]) -> tuple[str, str | None]:
        """Publish one message: its id, and its sequence number on a FIFO topic."""
        message = p.get("Message")
        if message is None or message == "":
            raise invalid("Empty message")
        if len(message.encode()) > 262144:
            raise invalid("Message too long")
        fifo = self._fifo_ids(topic, p, message)
        per_protocol: dict[str, Any] = {}
        if p.get("MessageStructure") == "json":
            try:
                per_protocol = json.loads(message)
                default = per_protocol["default"]
            except (ValueError, KeyError, TypeError):
                raise invalid("Message Structure - No default entry in JSON message body") from None
            message = default
        attributes = {
            name: dict(value) for name, value in (p.get("MessageAttributes") or {}).items()
        }
        subject = p.get("Subject")
        message_id = str(uuid.uuid4())
        sequence: str | None = None
        if fifo is not None:
            message_id, number, new = self._store.fifo_publish(
                topic.arn, fifo[1], message_id, int(time.time() * 1000), DEDUP_MS
            )
            sequence = str(SEQUENCE_BASE + number)
            if not new:  # a duplicate within five minutes: accepted, not delivered again
                return message_id, sequence
        stamp = notes.timestamp()
        to_lambda: list[tuple[str, bytes]] = []
        to_queues: list[tuple[Subscription, str]] = []
        for sub in self._store.subscriptions(topic.arn):
            text = per_protocol.get(sub.protocol, message) if per_protocol else message
            if not notes.passes(sub.attributes, text, attributes):
                continue
            if sub.attributes.get("PendingConfirmation") == "true":
                continue
            if sub.protocol in ("http", "https"):
                self._to_http(sub, message_id, topic.arn, text, subject, attributes, stamp)
                continue
            if sub.protocol == "lambda":
                note = notes.envelope(
                    message_id, topic.arn, sub.arn, text, subject, attributes, self._endpoint,
                    stamp, lambda_spelling=True,
                )  # fmt: skip
                event = notes.lambda_event(sub.arn, note)
                to_lambda.append((sub.endpoint, json.dumps(event).encode()))
            else:
                to_queues.append((sub, text))
        self._store.enqueue(to_lambda)
        if to_lambda:
            self._kick()
        for sub, text in to_queues:
            raw = sub.attributes.get("RawMessageDelivery") == "true"
            body = text
            queue_attributes: dict[str, Any] = {}
            if raw:
                queue_attributes = attributes
            else:
                body = json.dumps(
                    notes.envelope(
                        message_id, topic.arn, sub.arn, text, subject, attributes,
                        self._endpoint, stamp, sequence=sequence,
                    )
                )  # fmt: skip
            try:
                await self._to_queue(
                    sub.endpoint,
                    body,
                    queue_attributes,
                    fifo[0] if fifo else p.get("MessageGroupId"),
                    fifo[1] if fifo else message_id,
                )
            except Exception as exc:  # one failing subscriber does not fail the publish
                log.warning("sns delivery to %s failed: %s", sub.endpoint, exc)
        return message_id, sequence

    def _to_http(
        self,
        sub: Subscription,
        message_id: str,
        topic: str,
        text: str,
        subject: str | None,
        attributes: dict[str, dict[str, Any]],
        stamp: str,
    ) -> None:
        headers = {
            "x-amz-sns-message-type": "Notification",
            "x-amz-sns-message-id": message_id,
            "x-amz-sns-topic-arn": topic,
            "x-amz-sns-subscription-arn": sub.arn,
        }
        if sub.attributes.get("RawMessageDelivery") == "true":
            headers["x-amz-sns-rawdelivery"] = "true"
            body = text
        else:
            body = json.dumps(
                notes.envelope(
                    message_id, topic, sub.arn, text, subject, attributes, self._endpoint, stamp
                )
            )
        self._http.post(sub.endpoint, body, headers)
